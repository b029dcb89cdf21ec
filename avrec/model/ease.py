"""EASE (Steck 2019): a closed-form item-item model, score(u, i) = sum_j w_uj B[j, i].

B = -P / diag(P) with a zero diagonal, P = (W'W + lam I)^-1 and W the (binary or BM25-weighted) training
interactions. One dense n_items x n_items inverse: the model fits in memory up to `EASE_MAX_ITEMS` items
(B alone is 4 bytes x n_items^2: 1.6 GB at 20,000 items); above that use ALS (`mf`, `hybrid`).

An EASE score is a sum over the user's history items, so `explain` is exact: history item j contributes
w_uj B[j, i].

The penalty lam is given as a multiple of the mean diagonal of W'W (the mean squared weight an item
collects), so one factor carries across datasets of different size and weighting. With `regularization`
None and `weighting` "auto" (the defaults), both are chosen at fit time on a validation split carved from
the training data (20% of each user's events), never on a test split.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.linalg import blas, lapack

from avrec.model.base import ModelExplanation, Recommender, as_history, register, sorted_contributions
from avrec.model.data import TrainData
from avrec.model.weighting import BM25, binary

#: Largest catalog EASE is fitted on (the dense inverse is O(n_items^3) time; float32, about 12 x n_items^2
#: bytes at its peak).
EASE_MAX_ITEMS = 20_000
#: Penalty factors (times the mean diagonal of W'W) tried on validation when `regularization` is None.
REGULARIZATION_GRID = (2.0, 4.0, 8.0, 16.0, 32.0)
WEIGHTINGS = ("binary", "bm25")
#: `ease_weights` forms W'W by dense products of row blocks where the sparse product's work (the sum over users
#: of their events squared) is at least n_users x n_items^2 / this: on MovieLens 100K's 943 users x 970 items
#: (3.7M) dense takes 16 ms against 35 ms single-threaded, and the two cost the same near 1 / 960.
DENSE_GRAM_RATIO = 512
#: ... in blocks of rows of at most this many cells (64 MB of float32).
DENSE_GRAM_BLOCK_CELLS = 1 << 24


def ease_weights(w: sp.csr_matrix, penalty: float) -> np.ndarray:
    """B (float32, n_items x n_items, zero diagonal) for weighted interactions `w` and absolute penalty.

    Items without events are left out of the inverse: their rows of the penalised Gram matrix are penalty x
    the unit vector, so their rows and columns of B are zero whether they take part or not. Single precision
    throughout: the penalty bounds the condition number (by about n_items / 8 with the default factors), and
    on MovieLens 100K float32 and float64 give B within 3e-7 of each other and the same rankings.
    """
    n = w.shape[1]
    if n > EASE_MAX_ITEMS:
        raise ValueError(
            f"EASE needs a dense {n} x {n} matrix; it is limited to {EASE_MAX_ITEMS} items "
            "(use the hybrid or mf model, which factorise instead)"
        )
    used = np.flatnonzero(np.diff(sp.csc_matrix(w).indptr) > 0)
    if len(used) == 0:
        return np.zeros((n, n), np.float32)
    if len(used) < n:
        return _scattered(ease_weights(sp.csr_matrix(w[:, used]), penalty), used, n)
    gram = _upper_gram(sp.csr_matrix(w))
    gram[np.diag_indices_from(gram)] += penalty
    # the inverse of a symmetric positive definite matrix through its Cholesky factor: half the work of a
    # general inverse
    factor, info = lapack.spotrf(gram, lower=False, overwrite_a=True)
    if info == 0:
        p, info = lapack.spotri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise ValueError(f"EASE's penalised Gram matrix is not positive definite (info {info}); try a larger penalty")
    # spotri fills the upper triangle: B[j, i] = -P[j, i] / P[i, i] off the diagonal, P symmetric. p is in
    # Fortran order, so its upper triangle is the lower one of the C-ordered p.T (a faster copy)
    lower = np.tril(p.T, -1)
    b = lower + lower.T
    b /= -np.diag(p)
    return np.asarray(b, np.float32)


def _upper_gram(w: sp.csr_matrix) -> np.ndarray:
    """W'W (float32; the upper triangle and the diagonal, all that the Cholesky factor reads): by dense
    products of blocks of rows (BLAS syrk) where the interactions are dense enough that they cost less than
    the sparse product, by the sparse product otherwise. Equal either way on binary or integer weights
    (exact sums), within float32 rounding on others."""
    n_users, n = w.shape
    pairs = int(np.square(np.diff(w.indptr), dtype=np.int64).sum())  # the sparse product's work
    if pairs * DENSE_GRAM_RATIO < n_users * n * n:
        # symmetric: the transpose is the same matrix in Fortran order, which LAPACK takes without a copy
        return np.asarray((w.T @ w).toarray(), dtype=np.float32).T
    rows = max(1, DENSE_GRAM_BLOCK_CELLS // max(n, 1))
    gram = np.zeros((n, n), np.float32, order="F")
    for start in range(0, n_users, rows):
        block = w[start : start + rows].toarray().astype(np.float32, copy=False)
        # block.T is a Fortran-ordered n x rows view: syrk reads it without a copy
        gram = blas.ssyrk(1.0, block.T, beta=1.0, c=gram, overwrite_c=True)
    return gram


def _scattered(b: np.ndarray, used: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((n, n), np.float32)
    out[np.ix_(used, used)] = b
    return out


def mean_gram_diagonal(w: sp.csr_matrix) -> float:
    """Mean over items with events of sum_u w_ui^2: the scale the penalty factor multiplies."""
    sq = np.asarray(w.multiply(w).sum(axis=0)).ravel()
    used = sq > 0
    return float(sq[used].mean()) if used.any() else 1.0


def bm25() -> BM25:
    """BM25 weights as implicit's users apply them (K1 = 100, B = 0.8), statistics frozen at fit time, so a
    folded-in history is weighted exactly as the training histories were."""
    return BM25(100.0, 0.8, dtype=np.float32)


@register
class EaseModel(Recommender):
    """EASE: `regularization` is the penalty factor (x mean diagonal of W'W; None: chosen on validation),
    `weighting` "binary", "bm25" or "auto" (chosen on validation)."""

    kind = "ease"

    def __init__(
        self,
        regularization: float | None = None,
        weighting: str = "auto",
        random_state: int | None = 42,
    ) -> None:
        super().__init__()
        if regularization is not None and (not np.isfinite(regularization) or regularization <= 0):
            raise ValueError(f"regularization must be a finite number > 0 (try 4-16), or None, got {regularization}")
        if weighting not in (*WEIGHTINGS, "auto"):
            raise ValueError(f"weighting must be 'binary', 'bm25' or 'auto', got {weighting!r}")
        self.regularization_param = regularization
        self.weighting_param = weighting
        self.regularization = float(regularization) if regularization is not None else float("nan")
        self.weighting = weighting
        self.random_state = random_state
        self.weights = np.zeros((0, 0), np.float32)
        self.item_counts = np.zeros(0, np.float32)
        self.bm25 = bm25()

    def get_params(self) -> dict[str, Any]:
        return {
            "regularization": self.regularization if self.fitted_ else self.regularization_param,
            "weighting": self.weighting if self.fitted_ else self.weighting_param,
            "random_state": self.random_state,
        }

    def _weigh(self, h: sp.csr_matrix) -> sp.csr_matrix:
        if self.weighting == "bm25":
            return sp.csr_matrix(self.bm25.transform(h))
        return binary(h)

    def _fit(self, data: TrainData) -> None:
        x = sp.csr_matrix(data.interactions, dtype=np.float32)
        x.eliminate_zeros()
        if self.regularization_param is None or self.weighting_param == "auto":
            self.regularization, self.weighting = self._validate(x)
        self.bm25 = bm25().fit(x)
        w = self._weigh(x)
        self.weights = ease_weights(w, self.regularization * mean_gram_diagonal(w))
        self.item_counts = np.diff(sp.csc_matrix(x).indptr).astype(np.float32)

    def _validate(self, x: sp.csr_matrix) -> tuple[float, str]:
        """(penalty factor, weighting) with the best NDCG@10 on 20% of each training user's events."""
        from avrec.model.metrics import ndcg_at_k, top_k
        from avrec.model.splits import random_holdout

        split = random_holdout(x, 0.2, 5, 0 if self.random_state is None else int(self.random_state))
        users = split.test_users
        weigh = bm25().fit(split.train)
        factors = REGULARIZATION_GRID if self.regularization_param is None else (self.regularization,)
        weightings = WEIGHTINGS if self.weighting_param == "auto" else (self.weighting_param,)
        best: tuple[float, float, str] = (-1.0, factors[0], weightings[0])
        for weighting in weightings:
            w = weigh.transform(split.train) if weighting == "bm25" else binary(split.train)
            scale = mean_gram_diagonal(w)
            for factor in factors:
                b = ease_weights(w, factor * scale)
                scores = np.asarray(w[users] @ b)
                ndcg = ndcg_at_k(top_k(scores, 10, exclude=split.train[users]), split.test[users], 10)
                if ndcg > best[0]:
                    best = (ndcg, factor, weighting)
        return best[1], best[2]

    def score(
        self, histories: sp.csr_matrix, users: np.ndarray, user_features: sp.csr_matrix | None = None
    ) -> np.ndarray:
        """w_u @ B for each history row (weighted as in training)."""
        self._require_fitted()
        h = as_history(histories, self.n_items)
        self._check_users(users, h.shape[0])
        return np.asarray(self._weigh(h) @ self.weights, dtype=np.float32)

    def explain(
        self, history: sp.csr_matrix, user: int, item: int, user_features: sp.csr_matrix | None = None
    ) -> ModelExplanation:
        """Exact: history item j adds w_uj B[j, item]; the parts are all collaborative."""
        self._require_fitted()
        i = self._check_item(item)
        h = self._weigh(as_history(history, self.n_items))
        if h.shape[0] != 1:
            raise ValueError("explain takes the history of exactly one user (1 x n_items)")
        self._check_users(np.array([user]), 1)
        items = h.indices.astype(np.int64)
        terms = h.data.astype(np.float64) * self.weights[items, i].astype(np.float64)
        contributions = sorted_contributions(items, terms)
        total = float(terms.sum())
        return ModelExplanation(
            score=total,
            parts={"collaborative": total},
            history=contributions,
            per_modality_history={"collaborative": contributions},
            cold_item=bool(self.item_counts[i] == 0),
        )

    def _state(self) -> dict[str, np.ndarray]:
        return {
            "weights": self.weights,
            "item_counts": self.item_counts,
            "item_idf": self.bm25.idf,
            "bm25_stats": self.bm25.stats,
        }

    def _set_state(self, state: Mapping[str, np.ndarray]) -> None:
        self.weights = state["weights"]
        self.item_counts = state["item_counts"]
        self.bm25.idf = state["item_idf"]
        self.bm25.stats = state["bm25_stats"]
