"""Implicit-feedback alternating least squares, vectorised over all users at once (numpy/scipy, no loops
over interactions).

The loss is Hu, Koren & Volinsky's: sum over all (u, i) of c_ui (p_ui - x_u.y_i)^2 + reg (|x_u|^2 + |y_i|^2)
with p_ui = 1 on observed pairs, c_ui = 1 + alpha * r_ui there and 1 elsewhere. Each half-step runs a few
conjugate-gradient iterations for every user (or item) simultaneously, warm-started from the previous factors
(as implicit's CG solver does); dense products go through multi-threaded BLAS.
`solve_exact` is the closed-form least-squares solution for given histories: the fold-in of new users, the
final user step of a fit (so that stored user factors are exactly the fold-in of the training history), and
the decomposition `explain` reports.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any, Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp

from avrec.config import usable_cores

FINAL_CG_STEPS = 10
#: `solve_users` solves long histories in blocks of rows holding about this many events (memory bound).
EXACT_BLOCK_EVENTS = 1 << 21
BATCH_USERS = 64
#: `solve_users` solves histories of up to this many events per factor by `solve_short` (the rest by `solve_exact`).
SHORT_HISTORY = 0.75


def half_step(
    x: np.ndarray,
    y: np.ndarray,
    conf: sp.csr_matrix,
    reg: float | np.ndarray,
    cg_steps: int,
    tol: float = 0.0,
) -> np.ndarray:
    """Update every row of `x` (users) against fixed `y` (items) with `cg_steps` CG iterations.

    `conf` is rows(x) x rows(y) CSR holding c - 1 = alpha * r on observed pairs. With `tol` > 0 the
    iterations stop early once every row's residual norm fell below `tol` times the norm of its right side.
    """
    gram = y.T @ y
    reg_rows = np.broadcast_to(np.asarray(reg, dtype=y.dtype), (conf.shape[0],))[:, None]
    rows = np.repeat(np.arange(conf.shape[0]), np.diff(conf.indptr))
    cols = conf.indices
    yg = y[cols]  # (nnz x k), fixed for this half-step
    c_minus_1 = conf.data.astype(y.dtype)

    # One CSR matrix with the pattern of `conf`, whose values are refilled on every product (no rebuild).
    w = sp.csr_matrix((c_minus_1.copy(), cols, conf.indptr), shape=conf.shape)

    def matvec(p: np.ndarray) -> np.ndarray:
        dots = np.einsum("ij,ij->i", np.take(p, rows, axis=0), yg)
        np.multiply(c_minus_1, dots, out=w.data)
        return p @ gram + reg_rows * p + w @ y

    # b_u = sum_j c_uj y_j
    b = sp.csr_matrix((c_minus_1 + 1, cols, conf.indptr), shape=conf.shape) @ y
    r = b - matvec(x)
    p = r.copy()
    rs_old = np.einsum("ij,ij->i", r, r)
    stop_at = (tol**2) * np.einsum("ij,ij->i", b, b)
    for _ in range(cg_steps):
        if tol > 0 and np.all(rs_old <= stop_at):
            break
        ap = matvec(p)
        denom = np.einsum("ij,ij->i", p, ap)
        step = np.divide(rs_old, denom, out=np.zeros_like(rs_old), where=denom > 1e-20)
        x = x + step[:, None] * p
        r = r - step[:, None] * ap
        rs_new = np.einsum("ij,ij->i", r, r)
        beta = np.divide(rs_new, rs_old, out=np.zeros_like(rs_new), where=rs_old > 1e-20)
        p = r + beta[:, None] * p
        rs_old = rs_new
    return x


def solve_exact(
    y: np.ndarray, conf: sp.csr_matrix, reg: float, prior: np.ndarray | None = None, chunk: int = 1 << 18
) -> np.ndarray:
    """Closed-form x_u = (Y'Y + Y'(C_u - I)Y + reg I)^-1 (Y' C_u p_u + reg prior_u) for every row of `conf`.

    `conf` holds c - 1 on observed pairs (rows are users, columns rows of `y`). float64 throughout.
    `prior` (optional, rows x k) is the vector each solution is shrunk towards instead of zero.
    Rows are taken in order of history length and padded to the longest in their batch, so each user's
    normal matrix comes from one batched BLAS product over just the items that user touched; `chunk`
    bounds the padded (users x items) cells per batch, and with it the memory.
    """
    y64 = np.asarray(y, dtype=np.float64)
    n, k = conf.shape[0], y64.shape[1]
    conf = sp.csr_matrix(conf, dtype=np.float64)
    conf.sort_indices()
    base = y64.T @ y64 + reg * np.eye(k)
    b = sp.csr_matrix((conf.data + 1.0, conf.indices, conf.indptr), shape=conf.shape) @ y64
    if prior is not None:
        b = b + reg * np.asarray(prior, dtype=np.float64)
    x = np.zeros((n, k))
    lengths = np.diff(conf.indptr)
    order = np.argsort(lengths, kind="stable")
    padded = np.vstack([y64, np.zeros((1, k))])  # row len(y) is the padding: contributes nothing
    start = 0
    while start < n:
        # Neighbours in `order` have similar lengths, so little is padded; `chunk` caps the padded cells.
        longest = max(int(lengths[order[min(start + BATCH_USERS, n) - 1]]), 1)
        stop = min(n, start + max(1, min(BATCH_USERS, chunk // longest)))
        users = order[start:stop]
        longest = max(int(lengths[users].max()), 1)
        lens = lengths[users]
        idx = np.full((len(users), longest), y64.shape[0], dtype=np.int64)
        w = np.zeros((len(users), longest))
        rows = np.repeat(np.arange(len(users)), lens)
        offsets = np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens)
        src = np.repeat(conf.indptr[users], lens) + offsets
        idx[rows, offsets] = conf.indices[src]
        w[rows, offsets] = conf.data[src]
        yg = padded[idx] * np.sqrt(w)[:, :, None]  # (batch, longest, k)
        a = np.matmul(yg.transpose(0, 2, 1), yg) + base
        x[users] = np.linalg.solve(a, b[users][:, :, None])[:, :, 0]
        start = stop
    return x


def solve_users(y: np.ndarray, conf: sp.csr_matrix, reg: float, threads: int = 1) -> np.ndarray:
    """`solve_exact` for every row of `conf` (float64): rows of up to `SHORT_HISTORY` events per factor (most
    users) by `solve_short`, the others by `solve_exact` in blocks of rows so memory stays bounded. `threads`
    workers take batches of rows side by side (numpy lets go of the GIL); each row's answer is the same
    whatever their number."""
    lengths = np.diff(conf.indptr)
    short = lengths <= SHORT_HISTORY * y.shape[1]
    x = np.zeros((conf.shape[0], y.shape[1]))
    x[short] = solve_short(y, conf, reg, np.flatnonzero(short), threads=threads)
    rest = np.flatnonzero(~short)
    events = np.cumsum(lengths[rest])
    blocks = []
    start = 0
    while start < len(rest):
        before = int(events[start] - lengths[rest[start]])
        stop = max(start + 1, int(np.searchsorted(events, before + EXACT_BLOCK_EVENTS, side="right")))
        blocks.append(rest[start:stop])
        start = stop
    for rows, solved in zip(blocks, _map(lambda r: solve_exact(y, conf[r], reg, chunk=1 << 16), blocks, threads)):
        x[rows] = solved
    return x


def _map(fn: Callable[[Any], np.ndarray], tasks: list[Any], threads: int) -> Iterator[np.ndarray]:
    """`map(fn, tasks)`, by `threads` worker threads when there are more than one (results in task order)."""
    if threads <= 1 or len(tasks) <= 1:
        return map(fn, tasks)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(min(threads, len(tasks))) as pool:
        return iter(list(pool.map(fn, tasks)))


def solve_short(
    y: np.ndarray, conf: sp.csr_matrix, reg: float, rows: np.ndarray, chunk: int = 1 << 16, threads: int = 1
) -> np.ndarray:
    """`solve_exact` of the rows `rows` of `conf` (each with at most a few dozen events), through the
    Woodbury identity: with B = Y'Y + reg I (one factorisation for everyone), U_u the rows of Y the user
    touched and D_u their c - 1,

        x_u = x0 - (B^-1 U_u') s,   x0 = B^-1 Y' C_u p_u,   (I + D_u U_u B^-1 U_u') s = D_u U_u x0,

    so each user solves an n_u x n_u system instead of a factors x factors one, and the work is batched
    products over users of equal history length (no padding: a row's answer depends on its events alone).
    Equal to `solve_exact` to float64 rounding. `chunk` caps the (users x events) gathered per batch;
    `threads` workers take batches side by side."""
    y64 = np.asarray(y, dtype=np.float64)
    k = y64.shape[1]
    yb = np.linalg.solve(y64.T @ y64 + reg * np.eye(k), y64.T).T  # row j: B^-1 y_j
    x = np.zeros((len(rows), k))
    lengths = np.diff(conf.indptr)[rows]
    batches = []
    for n in np.unique(lengths).tolist():
        if n == 0:
            continue  # no events: x is zero
        same = np.flatnonzero(lengths == n)
        step = max(1, chunk // n)
        batches += [same[start : start + step] for start in range(0, len(same), step)]

    def solve(sel: np.ndarray) -> np.ndarray:
        n = int(lengths[sel[0]])
        pos = conf.indptr[rows[sel]][:, None] + np.arange(n)
        cols, d = conf.indices[pos], conf.data[pos].astype(np.float64)  # (batch, n)
        u, w = y64[cols], yb[cols]  # (batch, n, k): U_u and U_u B^-1
        x0 = np.einsum("bn,bnk->bk", d + 1.0, w)
        m = np.matmul(u, w.transpose(0, 2, 1)) * d[:, :, None]
        m[:, np.arange(n), np.arange(n)] += 1.0
        t = d * np.einsum("bnk,bk->bn", u, x0)
        s = np.linalg.solve(m, t[:, :, None])[:, :, 0]
        return x0 - np.einsum("bnk,bn->bk", w, s)

    for sel, solved in zip(batches, _map(solve, batches, threads)):
        x[sel] = solved
    return x


def user_system(y: np.ndarray, items: np.ndarray, c_minus_1: np.ndarray, reg: float) -> np.ndarray:
    """One user's normal matrix A = Y'Y + sum_j (c_j - 1) y_j y_j' + reg I (float64)."""
    y64 = np.asarray(y, dtype=np.float64)
    yh = y64[items]
    return y64.T @ y64 + (yh.T * c_minus_1) @ yh + reg * np.eye(y64.shape[1])


def row_regularization(conf: sp.csr_matrix, reg: float, reg_exponent: float) -> np.ndarray:
    """Per-row regularization reg * (n_row / mean n)^reg_exponent (frequency-scaled, as in iALS++)."""
    n = np.diff(conf.indptr).astype(np.float64) + 1.0
    return (reg * (n / n.mean()) ** reg_exponent).astype(np.float64)


def fit_als(
    conf: sp.csr_matrix,
    factors: int,
    reg: float,
    iterations: int,
    cg_steps: int,
    rng: np.random.Generator,
    reg_exponent: float = 0.0,
    exact_users: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Alternate CG half-steps; returns (user_factors, item_factors) with the user side solved exactly last
    (or left at the last CG step with `exact_users=False`, for a caller that solves the users itself).

    `conf` is users x items CSR of c - 1 (= alpha * weight) on observed pairs.
    """
    n_users, n_items = conf.shape
    conf = sp.csr_matrix(conf, dtype=np.float32)
    conf_t = sp.csr_matrix(conf.T)
    reg_u = row_regularization(conf, reg, reg_exponent)
    reg_i = row_regularization(conf_t, reg, reg_exponent)
    x = (rng.standard_normal((n_users, factors)) * 0.01).astype(np.float32)
    y = (rng.standard_normal((n_items, factors)) * 0.01).astype(np.float32)
    for _ in range(iterations):
        x = half_step(x, y, conf, reg_u, cg_steps)
        y = half_step(y, x, conf_t, reg_i, cg_steps)
    # Final user step solved exactly (Cholesky per user, float64), so that each stored user vector is the
    # least-squares fold-in of that user's training history, which `explain` decomposes and which a fold-in
    # of the same history reproduces. Blocks of users bound the memory of the per-user normal matrices.
    if not exact_users:
        return x, y
    if reg_exponent == 0.0:
        x64 = solve_users(y, conf, reg)
    else:
        x64 = half_step(x.astype(np.float64), y.astype(np.float64), conf, reg_u, FINAL_CG_STEPS)
    return x64.astype(np.float32), y


@runtime_checkable
class ALSBackend(Protocol):
    """Where a factor model's two ALS kernels run. `LocalALS` (this module, in process) is the default;
    `avrec.engines.spark.SparkALS` runs them on Spark. The model holds one and calls it; nothing is patched."""

    def fit_als(
        self,
        conf: sp.csr_matrix,
        factors: int,
        reg: float,
        iterations: int,
        cg_steps: int,
        rng: np.random.Generator,
        reg_exponent: float = 0.0,
        exact_users: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(user_factors, item_factors) of `conf` (users x items, c - 1 on observed pairs); see `fit_als`."""
        ...

    def solve_users(self, y: np.ndarray, conf: sp.csr_matrix, reg: float) -> np.ndarray:
        """Every row's exact least-squares factors against item factors `y` (float64); see `solve_users`."""
        ...


class LocalALS:
    """The ALS kernels of this module, run in this process (multi-threaded BLAS)."""

    fit_als = staticmethod(fit_als)
    solve_users = staticmethod(solve_users)


LOCAL = LocalALS()


def _implicit_kernels() -> ModuleType | None:
    """implicit's compiled CPU ALS kernels (`implicit.cpu._als`), or None when the package is missing or
    does not load (then the kernels of this module do the same work)."""
    try:
        from implicit.cpu import _als
    except ImportError:
        return None
    return _als


def _confidence(conf: sp.csr_matrix) -> sp.csr_matrix:
    """implicit's input: the confidence c = 1 + (c - 1) on observed pairs, float32 CSR with sorted indices."""
    c = sp.csr_matrix(conf, dtype=np.float32, copy=True)
    c.sort_indices()
    c.data += np.float32(1.0)
    return c


class ImplicitALS:
    """The same two kernels run by implicit's compiled CPU code (benfred/implicit, OpenMP over users):
    its conjugate-gradient half-step is `half_step`'s algorithm (warm start, `cg_steps` iterations, the same
    loss), one row at a time, so it needs none of the (nnz x factors) gathered copies `half_step` makes; its
    exact user solve is this module's `solve_users` (batched numpy, threaded: it agrees with implicit's
    per-user Cholesky `least_squares` to float rounding in about 60% of its time at 5M events, most users'
    histories being short). Both agree with this module's kernels to float rounding
    (tests/model/test_als_backends.py), so fold-in and `explain` stay exact.

    `threads`: OpenMP threads for both kernels; None uses implicit's default (`OMP_NUM_THREADS`, else every
    core). Per-row regularization (`reg_exponent` != 0) is not in implicit's kernels: that fit runs locally.
    """

    def __init__(self, threads: int | None = None) -> None:
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be a positive integer or None, got {threads}")
        self.threads = threads

    @property
    def _num_threads(self) -> int:
        return self.threads or 0  # 0: implicit's (OpenMP's) default

    def fit_als(
        self,
        conf: sp.csr_matrix,
        factors: int,
        reg: float,
        iterations: int,
        cg_steps: int,
        rng: np.random.Generator,
        reg_exponent: float = 0.0,
        exact_users: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        kernels = _implicit_kernels()
        if kernels is None or reg_exponent != 0.0:
            return fit_als(conf, factors, reg, iterations, cg_steps, rng, reg_exponent, exact_users)
        n_users, n_items = conf.shape
        cui = _confidence(conf)
        ciu = cui.T.tocsr()
        # The same start as `fit_als`, so the two back-ends follow the same path from the same seed.
        x = (rng.standard_normal((n_users, factors)) * 0.01).astype(np.float32)
        y = (rng.standard_normal((n_items, factors)) * 0.01).astype(np.float32)
        for _ in range(iterations):
            kernels.least_squares_cg(cui, x, y, float(reg), num_threads=self._num_threads, cg_steps=cg_steps)
            kernels.least_squares_cg(ciu, y, x, float(reg), num_threads=self._num_threads, cg_steps=cg_steps)
        if not exact_users:
            return x, y
        return self.solve_users(y, conf, reg).astype(np.float32), y

    def solve_users(self, y: np.ndarray, conf: sp.csr_matrix, reg: float) -> np.ndarray:
        return solve_users(y, conf, reg, threads=self.threads or usable_cores())


def default_backend(threads: int | None = None) -> ALSBackend:
    """implicit's kernels when the package is installed (faster, and memory in proportion to the data),
    else this module's; `threads` as `ImplicitALS` takes it (the local kernels follow the BLAS limit)."""
    if importlib.util.find_spec("implicit") is not None:
        return ImplicitALS(threads)
    return LOCAL
