"""Item-based collaborative filtering: k nearest neighbours per item by cosine over (BM25-weighted) users."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp

from avrec.model.base import ModelExplanation, Recommender, as_history, register, sorted_contributions
from avrec.model.data import TrainData
from avrec.model.weighting import bm25_weight


@register
class ItemKNNModel(Recommender):
    """score(u, i) = sum_j h_uj S[j, i], S = cosine similarity between item columns, top `neighbours` kept.

    `weighting` is "cosine" (raw interactions) or "bm25" (BM25-weighted before the cosine).
    """

    kind = "itemknn"

    def __init__(
        self,
        neighbours: int = 100,
        weighting: str = "bm25",
        shrink: float = 10.0,
        random_state: int | None = None,
    ) -> None:
        super().__init__()
        if neighbours < 1:
            raise ValueError(f"neighbours must be at least 1, got {neighbours}")
        if weighting not in ("cosine", "bm25"):
            raise ValueError(f"weighting must be 'cosine' or 'bm25', got {weighting!r}")
        if not np.isfinite(shrink) or shrink < 0:
            raise ValueError(f"shrink must be >= 0, got {shrink}")
        self.neighbours = int(neighbours)
        self.weighting = weighting
        self.shrink = float(shrink)
        self.random_state = random_state
        self.similarity = sp.csr_matrix((0, 0), dtype=np.float32)

    def get_params(self) -> dict[str, Any]:
        return {
            "neighbours": self.neighbours,
            "weighting": self.weighting,
            "shrink": self.shrink,
            "random_state": self.random_state,
        }

    def _fit(self, data: TrainData) -> None:
        m = sp.csr_matrix(data.interactions, dtype=np.float64)
        if self.weighting == "bm25":
            m = bm25_weight(m)
        cols = sp.csc_matrix(m)
        norms = np.sqrt(np.asarray(cols.multiply(cols).sum(axis=0)).ravel())
        sim = (cols.T @ cols).toarray()
        np.fill_diagonal(sim, 0.0)
        sim /= np.outer(norms, norms) + self.shrink + 1e-12
        k = min(self.neighbours, sim.shape[1])
        if k < sim.shape[1]:
            # keep each item's k most similar neighbours (row j: contribution of j to its neighbours)
            cut = np.argpartition(-sim, k - 1, axis=1)[:, k:]
            np.put_along_axis(sim, cut, 0.0, axis=1)
        self.similarity = sp.csr_matrix(sim.astype(np.float32))

    def score(
        self, histories: sp.csr_matrix, users: np.ndarray, user_features: sp.csr_matrix | None = None
    ) -> np.ndarray:
        """h_u @ S: every history item votes for its neighbours with its similarity."""
        self._require_fitted()
        h = as_history(histories, self.n_items)
        self._check_users(users, h.shape[0])
        return np.asarray((h @ self.similarity).todense(), dtype=np.float32)

    def explain(
        self, history: sp.csr_matrix, user: int, item: int, user_features: sp.csr_matrix | None = None
    ) -> ModelExplanation:
        self._require_fitted()
        i = self._check_item(item)
        h = as_history(history, self.n_items)
        self._check_users(np.array([user]), 1)
        items = h.indices.astype(np.int64)
        terms = h.data.astype(np.float64) * self.similarity[items, i].toarray().ravel()
        contributions = sorted_contributions(items, terms)
        score = float(terms.sum())
        return ModelExplanation(
            score=score,
            parts={"collaborative": score},
            history=contributions,
            per_modality_history={"collaborative": contributions},
            cold_item=bool(self.similarity[:, i].nnz == 0),
        )

    def _state(self) -> dict[str, np.ndarray]:
        s = self.similarity
        return {
            "data": s.data,
            "indices": s.indices,
            "indptr": s.indptr,
            "shape": np.array(s.shape, np.int64),
        }

    def _set_state(self, state: Mapping[str, np.ndarray]) -> None:
        shape = tuple(int(x) for x in state["shape"])
        self.similarity = sp.csr_matrix((state["data"], state["indices"], state["indptr"]), shape=shape)
