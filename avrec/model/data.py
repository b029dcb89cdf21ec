"""What a model is trained on: id maps, the interaction matrix, content and user features. No DB here."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp


@dataclass
class ContentMatrix:
    """One modality's item vectors, aligned with `TrainData.item_ids`.

    Rows of items without a vector are zero and have `present[i] == False`.
    `names` optionally labels the columns (audio descriptors), so explanations can say which matched.
    """

    vectors: np.ndarray  # (n_items, dim) float32
    present: np.ndarray  # (n_items,) bool
    model_id: str = ""
    names: list[str] | None = None


@dataclass
class TrainData:
    user_ids: list[str]
    item_ids: list[str]
    #: users x items, summed event weights (float32, CSR); zero-weight events are dropped.
    interactions: sp.csr_matrix
    content: dict[str, ContentMatrix] = field(default_factory=dict)  # "text" | "visual" | "audio"
    #: users x features one-hot/scaled attributes (CSR), aligned with user_ids; None when absent.
    user_features: sp.csr_matrix | None = None
    user_feature_names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        n_users, n_items = self.interactions.shape
        if n_users != len(self.user_ids) or n_items != len(self.item_ids):
            raise ValueError(
                f"interaction matrix is {n_users}x{n_items} but there are "
                f"{len(self.user_ids)} users and {len(self.item_ids)} items"
            )
        for name, cm in self.content.items():
            if cm.vectors.shape[0] != n_items or cm.present.shape[0] != n_items:
                raise ValueError(f"content {name!r} has {cm.vectors.shape[0]} rows for {n_items} items")

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)
