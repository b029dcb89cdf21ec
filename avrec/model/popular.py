"""Non-personal baseline: items ranked by how many users interacted with them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp

from avrec.model.base import ModelExplanation, Recommender, UserSideFn, as_history, register
from avrec.model.data import TrainData


@register
class PopularModel(Recommender):
    """score(u, i) = log(1 + n_i) / log(1 + max n): the same list for everyone (part `bias`)."""

    kind = "popular"

    def __init__(self, random_state: int | None = None) -> None:
        super().__init__()
        self.random_state = random_state
        self.item_bias = np.zeros(0, np.float32)

    def get_params(self) -> dict[str, Any]:
        return {"random_state": self.random_state}

    def _fit(self, data: TrainData) -> None:
        counts = np.asarray((data.interactions > 0).sum(axis=0), dtype=np.float64).ravel()
        self.item_bias = (np.log1p(counts) / max(np.log1p(counts.max()), 1e-12)).astype(np.float32)

    def score(
        self, histories: sp.csr_matrix, users: np.ndarray, user_features: sp.csr_matrix | None = None
    ) -> np.ndarray:
        """The popularity of every item, for every user (histories only fix the number of rows)."""
        self._require_fitted()
        h = as_history(histories, self.n_items)
        self._check_users(users, h.shape[0])
        return np.tile(self.item_bias, (h.shape[0], 1))

    def explain(
        self, history: sp.csr_matrix, user: int, item: int, user_features: sp.csr_matrix | None = None
    ) -> ModelExplanation:
        self._require_fitted()
        i = self._check_item(item)
        as_history(history, self.n_items)
        self._check_users(np.array([user]), 1)
        return ModelExplanation(
            score=float(self.item_bias[i]),
            parts={"bias": float(self.item_bias[i])},
            cold_item=bool(self.item_bias[i] == 0),
        )

    def embeddings(self) -> tuple[UserSideFn, np.ndarray] | None:
        """Users are the constant vector [1]; items are [popularity]."""
        self._require_fitted()

        def users_fn(
            h: sp.csr_matrix, users: np.ndarray, user_features: sp.csr_matrix | None = None
        ) -> np.ndarray:
            return np.ones((sp.csr_matrix(h).shape[0], 1), np.float32)

        return users_fn, self.item_bias[:, None].copy()

    def _state(self) -> dict[str, np.ndarray]:
        return {"item_bias": self.item_bias}

    def _set_state(self, state: Mapping[str, np.ndarray]) -> None:
        self.item_bias = state["item_bias"]
