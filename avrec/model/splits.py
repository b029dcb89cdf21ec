"""Offline evaluation splits over a users x items interaction matrix.

Every split keeps the full index space (all users and items keep their rows and columns), so a model fitted on
`Split.train` scores items by the same indices the test matrix uses. Held-out interactions are removed from
`train`; held-out items or users keep empty columns or rows there, which is exactly what a cold item or a
cold user looks like to a model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

SPLITS = ("random", "temporal", "cold_items", "cold_users")


@dataclass
class Split:
    """A train/test partition of one interaction matrix.

    `test_users` are the rows to evaluate (each has at least one test interaction). `candidates`, when set,
    restricts ranking to those items (cold items are ranked among themselves). `cold_users` marks a split
    whose test users have no training history: they are scored from user attributes alone.
    """

    kind: str
    train: sp.csr_matrix
    test: sp.csr_matrix
    test_users: np.ndarray
    candidates: np.ndarray | None = None
    cold_users: bool = False


def _check(interactions: sp.spmatrix, frac: float) -> sp.csr_matrix:
    if not 0.0 < frac < 1.0:
        raise ValueError(f"holdout fraction must be in (0, 1), got {frac}")
    m = sp.csr_matrix(interactions, dtype=np.float32)
    m.eliminate_zeros()
    m.sort_indices()
    return m


def _from_mask(m: sp.csr_matrix, test_mask: np.ndarray) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    coo = m.tocoo()
    keep = ~test_mask
    train = sp.csr_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=m.shape, dtype=np.float32)
    test = sp.csr_matrix(
        (coo.data[test_mask], (coo.row[test_mask], coo.col[test_mask])), shape=m.shape, dtype=np.float32
    )
    return train, test


def _users_with_test(test: sp.csr_matrix) -> np.ndarray:
    return np.flatnonzero(np.diff(test.indptr) > 0).astype(np.int64)


def random_holdout(
    interactions: sp.spmatrix, frac: float = 0.2, min_interactions: int = 5, seed: int = 42
) -> Split:
    """Hold out `frac` of each user's interactions (rounded, at least one) for users with enough of them."""
    m = _check(interactions, frac)
    rng = np.random.default_rng(seed)
    counts = np.diff(m.indptr)
    rows = np.repeat(np.arange(m.shape[0]), counts)
    # A random key per interaction; within each user the smallest keys are held out (vectorised shuffle).
    keys = rng.random(m.nnz)
    order = np.lexsort((keys, rows))
    rank_in_user = np.empty(m.nnz, dtype=np.int64)
    rank_in_user[order] = np.arange(m.nnz) - np.repeat(m.indptr[:-1], counts)
    n_test = np.where(counts >= min_interactions, np.maximum(1, np.rint(counts * frac)), 0).astype(np.int64)
    test_mask = rank_in_user < n_test[rows]
    train, test = _from_mask(m, test_mask)
    return Split("random", train, test, _users_with_test(test))


def temporal_last_n(
    interactions: sp.spmatrix, timestamps: sp.spmatrix, n: int = 5, min_interactions: int = 5
) -> Split:
    """Hold out each user's last `n` interactions by time (users with at least `min_interactions`).

    `timestamps` has the sparsity pattern of `interactions` (seconds since the epoch as values).
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    m = _check(interactions, 0.5)
    ts = sp.csr_matrix(timestamps, dtype=np.float64)
    ts.sort_indices()
    if ts.shape != m.shape or ts.nnz != m.nnz or not np.array_equal(ts.indices, m.indices):
        raise ValueError("timestamps must have the same shape and non-zero pattern as the interactions")
    counts = np.diff(m.indptr)
    rows = np.repeat(np.arange(m.shape[0]), counts)
    order = np.lexsort((-ts.data, rows))  # newest first within each user
    rank_in_user = np.empty(m.nnz, dtype=np.int64)
    rank_in_user[order] = np.arange(m.nnz) - np.repeat(m.indptr[:-1], counts)
    n_test = np.where(counts >= min_interactions, np.minimum(n, counts - 1), 0)
    test_mask = rank_in_user < n_test[rows]
    train, test = _from_mask(m, test_mask)
    return Split("temporal", train, test, _users_with_test(test))


def cold_items(interactions: sp.spmatrix, frac: float = 0.2, seed: int = 42) -> Split:
    """Hold out `frac` of the items entirely; the test ranks only those items, among themselves."""
    m = _check(interactions, frac)
    rng = np.random.default_rng(seed)
    n_items = m.shape[1]
    held = np.sort(rng.choice(n_items, size=max(1, int(round(n_items * frac))), replace=False))
    is_held = np.zeros(n_items, dtype=bool)
    is_held[held] = True
    test_mask = is_held[m.indices]
    train, test = _from_mask(m, test_mask)
    return Split("cold_items", train, test, _users_with_test(test), candidates=held.astype(np.int64))


def cold_users(interactions: sp.spmatrix, frac: float = 0.2, seed: int = 42) -> Split:
    """Hold out `frac` of the users entirely; they are served with no history (from attributes, if any)."""
    m = _check(interactions, frac)
    rng = np.random.default_rng(seed)
    n_users = m.shape[0]
    with_data = np.flatnonzero(np.diff(m.indptr) > 0)
    held = np.sort(rng.choice(with_data, size=max(1, int(round(len(with_data) * frac))), replace=False))
    is_held = np.zeros(n_users, dtype=bool)
    is_held[held] = True
    rows = np.repeat(np.arange(n_users), np.diff(m.indptr))
    train, test = _from_mask(m, is_held[rows])
    return Split("cold_users", train, test, _users_with_test(test), cold_users=True)


def make_split(
    kind: str,
    interactions: sp.spmatrix,
    timestamps: sp.spmatrix | None = None,
    frac: float = 0.2,
    seed: int = 42,
    last_n: int = 5,
    min_interactions: int = 5,
) -> Split:
    """Build the split named `kind` (one of `SPLITS`)."""
    if kind == "random":
        return random_holdout(interactions, frac, min_interactions, seed)
    if kind == "temporal":
        if timestamps is None:
            raise ValueError("the temporal split needs timestamps")
        return temporal_last_n(interactions, timestamps, last_n, min_interactions)
    if kind == "cold_items":
        return cold_items(interactions, frac, seed)
    if kind == "cold_users":
        return cold_users(interactions, frac, seed)
    raise ValueError(f"unknown split {kind!r}; choose one of {', '.join(SPLITS)}")
