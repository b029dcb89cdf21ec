"""A small synthetic catalog with taste clusters, text/visual content, user attributes and cold items."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from avrec.model import ContentMatrix, TrainData


def synthetic(seed: int = 0, n_users: int = 60, n_items: int = 40, n_cold: int = 4) -> TrainData:
    rng = np.random.default_rng(seed)
    clusters = 3
    item_cluster = np.arange(n_items) % clusters
    user_cluster = np.arange(n_users) % clusters
    prob = np.where(user_cluster[:, None] == item_cluster[None, :], 0.45, 0.05)
    inter = (rng.random((n_users, n_items)) < prob).astype(np.float32)
    inter[:, n_items - n_cold :] = 0.0  # cold items: content only
    inter *= rng.integers(1, 3, size=inter.shape)  # weights 1 or 2
    centres = rng.standard_normal((clusters, 16))
    text = centres[item_cluster] + 0.3 * rng.standard_normal((n_items, 16))
    visual = rng.standard_normal((n_items, 8))
    present = np.ones(n_items, bool)
    present[0] = False
    visual[0] = 0
    feats = sp.csr_matrix(np.eye(clusters, dtype=np.float32)[user_cluster])
    return TrainData(
        user_ids=[f"u{i}" for i in range(n_users)],
        item_ids=[f"i{i}" for i in range(n_items)],
        interactions=sp.csr_matrix(inter),
        content={
            "text": ContentMatrix(text.astype(np.float32), np.ones(n_items, bool)),
            "visual": ContentMatrix(visual.astype(np.float32), present),
        },
        user_features=feats,
        user_feature_names=[f"group={c}" for c in range(clusters)],
    )


@pytest.fixture(scope="session")
def data() -> TrainData:
    return synthetic()
