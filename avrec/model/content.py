"""The hybrid's content side in one place: how content vectors are normalised, and how an item without
interactions gets item factors from its content (the cold-item projection).

Content vectors c_i^m of each modality m are centred on the mean of the items that have one and
L2-normalised; the centre is kept with the model so items that arrive later are normalised the same way.
The projection is a ridge regression from the concatenated normalised content of the warm items to their
learned factors, y_i = sum_m c_i^m W_m, applied to cold items only. It shares its factorisation
(`ContentRidge`) with the hybrid's other content regressions: the map from content to taste and the
popularity predicted from content.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.linalg import blas, cho_factor, cho_solve, lapack

from avrec.model.data import TrainData

MODALITIES = ("text", "visual", "audio")


def content_mean(vectors: np.ndarray, present: np.ndarray) -> np.ndarray:
    """The centre `normalise_content` subtracts: the mean of the present rows, returned as float64 but summed
    in float32 by one matrix-vector product (no copy of the rows; within 1e-7 of a float64 sum here)."""
    v = np.asarray(vectors, dtype=np.float32)
    mask = np.asarray(present, bool)
    count = int(mask.sum())
    return (mask.astype(np.float32) @ v).astype(np.float64) / count if count else np.zeros(v.shape[1])


def normalise_content(vectors: np.ndarray, present: np.ndarray, mean: np.ndarray | None = None) -> np.ndarray:
    """Centre on the mean of the present rows (or on `mean`) and L2-normalise; absent rows stay zero
    (float32, as the vectors are stored)."""
    v = np.asarray(vectors, dtype=np.float32)
    mask = np.asarray(present, bool)
    if not mask.any():
        return np.zeros_like(v)
    centre = content_mean(v, mask) if mean is None else mean
    out = v - np.asarray(centre, dtype=np.float32)
    norms = np.sqrt(np.einsum("ij,ij->i", out, out))
    # one pass: absent rows are multiplied by zero
    out *= np.where(mask, 1.0 / np.maximum(norms, np.float32(1e-12)), 0.0).astype(np.float32)[:, None]
    return out


def normalised_modalities(
    data: TrainData, modalities: tuple[str, ...] = MODALITIES
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(normalised vectors, centre) of each of `modalities` that some item of `data` has."""
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for m in modalities:
        cm = data.content.get(m)
        if cm is not None and cm.present.any():
            present = np.asarray(cm.present, bool)
            mean = content_mean(cm.vectors, present)
            out[m] = (normalise_content(cm.vectors, present, mean), mean)
    return out


def extend_modalities(
    data: TrainData,
    rows: np.ndarray,
    means: Mapping[str, np.ndarray],
    stored: Mapping[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """Normalised content over `data`'s items for every modality in `means`, for a model extended to them
    (`rows[j]`: item j's row in the fitted model, -1 if new). Items the model had keep their `stored`
    vectors; the others are normalised with the fit-time centres."""
    kept = rows >= 0
    out: dict[str, np.ndarray] = {}
    for m, mean in means.items():
        block = np.zeros((len(rows), mean.shape[0]), np.float32)
        if m in stored:
            block[kept] = stored[m][rows[kept]]
        cm = data.content.get(m)
        if cm is not None and cm.vectors.shape[1] == mean.shape[0]:
            present = np.asarray(cm.present, bool)
            fresh = present & ~kept if m in stored else present
            block[fresh] = normalise_content(cm.vectors, fresh, mean)[fresh]
        out[m] = block
    return out


def project_cold(
    blocks: Mapping[str, np.ndarray], weights: Mapping[str, np.ndarray], cold: np.ndarray, item_factors: np.ndarray
) -> dict[str, np.ndarray]:
    """Add each modality's projection to the `cold` rows of `item_factors` (in place) and return the
    projections (zero outside `cold`), which `explain` reports under each modality."""
    projections: dict[str, np.ndarray] = {}
    for m, w in weights.items():
        proj = np.zeros_like(item_factors)
        if m in blocks:
            proj[cold] = (blocks[m][cold] @ w).astype(np.float32)
        projections[m] = proj
        item_factors[cold] += proj[cold]
    return projections


def nearest(
    vectors: np.ndarray, rows: np.ndarray, candidates: np.ndarray, k: int, chunk: int = 2048
) -> tuple[np.ndarray, np.ndarray]:
    """Each of `rows`' `k` nearest `candidates` by the inner product of their (normalised) `vectors`:
    (candidate positions, similarities), each len(rows) x k, best first. Only positive similarities count:
    the rest (a row without a vector, too few candidates) are position -1, similarity 0."""
    v = np.asarray(vectors, np.float32)
    k = min(k, len(candidates))
    index = np.full((len(rows), k), -1, np.int64)
    sims = np.zeros((len(rows), k), np.float32)
    if k == 0:
        return index, sims
    cand = v[candidates].T
    for start in range(0, len(rows), chunk):
        s = v[rows[start : start + chunk]] @ cand
        top = np.argpartition(-s, k - 1, axis=1)[:, :k]
        best = np.take_along_axis(s, top, axis=1)
        order = np.argsort(-best, axis=1, kind="stable")
        top, best = np.take_along_axis(top, order, axis=1), np.take_along_axis(best, order, axis=1)
        positive = best > 0
        index[start : start + chunk] = np.where(positive, top, -1)
        sims[start : start + chunk] = np.where(positive, best, 0.0)
    return index, sims


def kernel_ridge_map(
    vectors: np.ndarray, rows: np.ndarray, basis: np.ndarray, sharpness: float, reg: float
) -> np.ndarray:
    """Kernel ridge from the `basis` items to `rows` (len(rows) x len(basis), float32): row r is
    (K + reg I)^-1 k_r, with K[a, b] = exp(sharpness (c_a . c_b - 1)) over the basis items' normalised
    `vectors` and k_r the same kernel between row r and each basis item.

    For a user whose taste over the basis items is t_u, t_u . map[r] is the kernel ridge regression of t_u
    on the basis items' content, evaluated at item r: near-duplicates in the basis share one weight instead
    of counting twice, and a large `reg` leaves a kernel-weighted sum over the basis (nearest neighbours
    with soft weights). A row or basis item without a vector (all zeros) gets no weight.

    Single precision, as `ContentRidge`: the kernel's entries lie in (0, 1], so the penalty bounds the
    condition number by 1 + len(basis) / reg; it halves the time of the factor (most of the block's fit)."""
    v = np.asarray(vectors, np.float32)
    have = np.linalg.norm(v, axis=1) > 0
    basis_v = v[basis]
    # the upper triangle only (all the factor reads), in Fortran order (factored in place, no copy)
    gram = _kernel(blas.ssyrk(1.0, basis_v.T, trans=1), sharpness, have[basis], have[basis])
    gram[np.diag_indices_from(gram)] += np.float32(reg)
    cross = _kernel(v[rows] @ basis_v.T, sharpness, have[rows], have[basis])
    factor = cho_factor(gram, overwrite_a=True, check_finite=False)
    return np.asarray(cho_solve(factor, cross.T, overwrite_b=True, check_finite=False).T, np.float32)


def _kernel(cos: np.ndarray, sharpness: float, row_has: np.ndarray, col_has: np.ndarray) -> np.ndarray:
    """exp(sharpness (cos - 1)) in place on the float32 products `cos`, zero where a row or column has no
    vector (in place: these are the block's largest temporaries)."""
    cos -= np.float32(1.0)
    cos *= np.float32(sharpness)
    np.exp(cos, out=cos)
    if not (row_has.all() and col_has.all()):
        cos *= np.outer(row_has, col_has)
    return cos


def principal_basis(vectors: np.ndarray, rank: int, rng: np.random.Generator) -> np.ndarray:
    """An orthonormal basis (dim x rank, float32) of about the top `rank` principal directions of the rows of
    `vectors` (already centred): a randomized range finder with one power step (Halko, Martinsson & Tropp
    2011), two products with the rows instead of a dim x dim Gram matrix and its eigendecomposition."""
    x = np.asarray(vectors, np.float32)
    sketch = x.T @ (x @ rng.standard_normal((x.shape[1], rank)).astype(np.float32))
    basis, _ = np.linalg.qr(sketch)
    return np.asarray(basis, np.float32)


def concatenated(blocks: Mapping[str, np.ndarray], scales: Mapping[str, float]) -> np.ndarray:
    """The modalities' normalised vectors side by side (float32), each multiplied by its scale."""
    return np.hstack([np.float32(scales.get(m, 1.0)) * np.asarray(b, np.float32) for m, b in blocks.items()])


class ContentRidge:
    """Ridge regressions from content (rows: items) fitted on the `warm` items, all sharing one Cholesky
    factor of C_w'C_w + reg I: the cold projection, the taste map and the content popularity solve
    against the same matrix, so it is formed and factorised once.

    Single precision: the rows are (scaled) unit vectors, so the penalty bounds the condition number by
    1 + trace(C_w'C_w) / reg, well inside float32's range; it halves the time of the Gram matrix, its
    factor and the solves."""

    def __init__(self, content: np.ndarray, warm: np.ndarray, reg: float) -> None:
        self.content = np.asarray(content, np.float32)
        self.warm = np.asarray(warm, bool)
        cw = self.content[self.warm]
        gram = cw.T @ cw
        gram[np.diag_indices_from(gram)] += np.float32(reg)
        # gram is symmetric: its transpose is the same matrix in Fortran order, factored in place without a copy
        self.factor = cho_factor(gram.T, overwrite_a=True, check_finite=False)
        self._inverse: np.ndarray | None = None

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """(C_w'C_w + reg I)^-1 rhs."""
        return np.asarray(cho_solve(self.factor, np.asarray(rhs, np.float32), check_finite=False))

    def fit(self, targets: np.ndarray) -> np.ndarray:
        """Ridge weights (one column per target column) from content to `targets` of the warm items."""
        return self.solve(self.content[self.warm].T @ np.asarray(targets, np.float32))

    def taste_map(self) -> np.ndarray:
        """Item side of the bilinear ridge map from content to taste: V = C (C_w'C_w + reg I)^-1 (float32).

        A user whose taste over the warm items is the row t_u (their history, or its EASE completion) scores
        item i as (t_u C) . V_i: per user, the closed-form ridge regression of t_u on the warm items'
        content, evaluated at c_i. It is a sum over history items, and it reaches items nobody has
        interacted with."""
        return np.asarray(self.content @ self.inverse(), np.float32)

    def inverse(self) -> np.ndarray:
        """(C_w'C_w + reg I)^-1 (float32), from the Cholesky factor. `taste_map` multiplies the content by it:
        one product instead of two triangular solves per item (half the time at 1,682 items x 448 columns),
        within 2e-6 of the solves (the penalty bounds the condition number, see the class docstring)."""
        if self._inverse is None:
            # the upper factor (cho_factor's default); spotri fills the upper triangle only
            inv, _ = lapack.spotri(self.factor[0])
            self._inverse = np.asarray(np.triu(inv) + np.triu(inv, 1).T, np.float32)
        return self._inverse

    def popularity(self, counts: np.ndarray) -> tuple[np.ndarray, float]:
        """Ridge from content to log(1 + events) over the warm items: (weights per column, intercept).

        What an item without events would likely collect, judged from items whose content is like it."""
        target = np.log1p(np.asarray(counts, np.float64)[self.warm])
        intercept = float(target.mean()) if target.size else 0.0
        return self.fit(target - intercept).astype(np.float64), intercept
