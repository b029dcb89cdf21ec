"""How raw interaction weights become the weights a model learns from: magnitude scaling and BM25.

Both are fitted on the training data and then applied unchanged to any history (a folded-in user, a block
scored at `recommend` time), so a history is weighted exactly as the training histories were; `extend`
carries the statistics over to a catalog that has grown since (`fit --incremental`).
"""

from __future__ import annotations

import copy

import numpy as np
import scipy.sparse as sp

#: Above this max/median ratio of training weights they are treated as heavy-tailed counts and log-scaled.
HEAVY_TAIL_RATIO = 10.0


class BM25:
    """BM25 weighting of a users x items matrix, items as terms and users as documents, as implicit's
    `bm25_weight`: an event on a rare item counts more (idf), each event of a user with a long history a
    little less (length normalisation with `k1`, `b`).

    With `normalise`, weights are divided by their mean over the training data, so a typical event still
    weighs about 1 and a model's other hyperparameters keep their meaning. `dtype` is the precision of the
    stored statistics (a saved model keeps float32).
    """

    def __init__(self, k1: float = 1.2, b: float = 0.75, *, normalise: bool = False, dtype: type = np.float64):
        self.k1 = float(k1)
        self.b = float(b)
        self.normalise = normalise
        self.dtype = dtype
        self.idf: np.ndarray = np.zeros(0, dtype)
        #: [mean history length, mean weighted value (1 without `normalise`)] of the training data
        self.stats: np.ndarray = np.ones(2, dtype)

    def fit(self, m: sp.csr_matrix) -> BM25:
        n_users = max(m.shape[0], 1)
        counts = np.bincount(m.indices, minlength=m.shape[1])
        self.idf = (np.log(n_users) - np.log1p(counts)).clip(min=0.0).astype(self.dtype)
        self.stats = np.array([float(m.sum()) / n_users, 1.0], self.dtype)
        if self.normalise:
            self.stats[1] = float(self.transform(m).data.mean()) if m.nnz else 1.0
        return self

    def transform(self, h: sp.csr_matrix) -> sp.csr_matrix:
        out = sp.csr_matrix(h, dtype=np.float64, copy=True)
        if out.nnz == 0 or self.idf.size == 0:
            return sp.csr_matrix(out, dtype=self.dtype)
        k1, b = self.k1, self.b
        lengths = np.asarray(out.sum(axis=1)).ravel()
        norm = (1.0 - b) + b * lengths / max(float(self.stats[0]), 1e-12)
        rows = np.repeat(np.arange(out.shape[0]), np.diff(out.indptr))
        out.data = out.data * (k1 + 1.0) / (k1 * norm[rows] + out.data) * self.idf[out.indices]
        out.data /= max(float(self.stats[1]), 1e-12)
        return sp.csr_matrix(out, dtype=self.dtype)

    def extend(self, rows: np.ndarray, n_train_users: int) -> BM25:
        """A copy for a new item list: `rows[j]` is item j's column in the training data, -1 for an item new
        since; a new item was rare in the training data, so it gets the largest idf."""
        new = copy.copy(self)
        idf: np.ndarray = np.full(len(rows), np.log(max(n_train_users, 1)), self.dtype)
        if self.idf.size:
            kept = rows >= 0
            idf[kept] = self.idf[rows[kept]]
        new.idf = idf
        return new


def binary(h: sp.csr_matrix) -> sp.csr_matrix:
    """Every stored event as 1 (float32), whatever its weight."""
    out = sp.csr_matrix(h, dtype=np.float32, copy=True)
    out.data[:] = 1.0
    return out


def bm25_weight(m: sp.csr_matrix, k1: float = 1.2, b: float = 0.75) -> sp.csr_matrix:
    """BM25-weight a users x items matrix with statistics from itself (float64)."""
    return BM25(k1, b).fit(sp.csr_matrix(m, dtype=np.float64)).transform(m)


class Confidence:
    """Interaction weights as the hybrid uses them: magnitudes (`scaling`), then BM25 confidence (`bm25`).

    With "log" scaling a weight w counts log2(1 + w / m), m the median training weight: 1 for a typical event
    (so 0/1 data is unchanged) and only logarithmically more for heavy play counts, which would otherwise
    swamp the confidences. "auto" picks "log" when the training weights are heavy-tailed (max / median above
    `HEAVY_TAIL_RATIO`: play counts) and "linear" otherwise (events, ratings). BM25 uses K1 = 100, B = 0.8,
    as implicit's users apply it before ALS, normalised to a mean of 1.
    """

    def __init__(self, scaling: str = "auto", bm25: bool = True) -> None:
        self.scaling_param = scaling
        self.scaling = scaling  # resolved by `fit` when "auto"
        self.unit = np.ones(1, np.float32)  # the median training weight
        self.bm25 = BM25(100.0, 0.8, normalise=True, dtype=np.float32) if bm25 else None

    def fit(self, inter: sp.csr_matrix) -> Confidence:
        """Statistics from the training interactions (float32, explicit zeros removed)."""
        self.unit = np.array([np.median(inter.data) if inter.nnz else 1.0], np.float32)
        if self.scaling_param == "auto":
            top = float(inter.data.max()) if inter.nnz else 1.0
            self.scaling = "log" if top > HEAVY_TAIL_RATIO * float(self.unit[0]) else "linear"
        if self.bm25 is not None:
            self.bm25.fit(self.magnitude(inter))
        return self

    def magnitude(self, h: sp.csr_matrix) -> sp.csr_matrix:
        if self.scaling == "linear":
            return h
        out = sp.csr_matrix(h, dtype=np.float32, copy=True)
        out.data = (np.log1p(out.data / float(self.unit[0])) / np.log(2.0)).astype(np.float32)
        return out

    def transform(self, h: sp.csr_matrix) -> sp.csr_matrix:
        scaled = self.magnitude(h)
        return self.bm25.transform(scaled) if self.bm25 is not None else scaled

    def extend(self, rows: np.ndarray, n_train_users: int) -> Confidence:
        """A copy for a new item list (see `BM25.extend`)."""
        new = copy.copy(self)
        if self.bm25 is not None:
            new.bm25 = self.bm25.extend(rows, n_train_users)
        return new

    # The arrays a saved model keeps (names from the model file format).
    def state(self) -> dict[str, np.ndarray]:
        bm25 = self.bm25
        return {
            "weight_unit": self.unit,
            "item_idf": bm25.idf if bm25 is not None else np.zeros(0, np.float32),
            "bm25_stats": bm25.stats if bm25 is not None else np.ones(2, np.float32),
        }

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        self.unit = state.get("weight_unit", np.ones(1, np.float32))
        if self.bm25 is not None:
            self.bm25.idf = state.get("item_idf", np.zeros(0, np.float32))
            self.bm25.stats = state.get("bm25_stats", np.ones(2, np.float32))
