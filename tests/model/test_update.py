"""`LinearHybrid.update`: folding in new users and items without retraining."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from avrec.model import load_model, make_model
from avrec.model.data import ContentMatrix, TrainData
from avrec.model.hybrid import LinearHybrid


def _data(x: np.ndarray, c: np.ndarray) -> TrainData:
    users = [f"u{i:03d}" for i in range(x.shape[0])]
    items = [f"i{i:03d}" for i in range(x.shape[1])]
    return TrainData(users, items, sp.csr_matrix(x), {"text": ContentMatrix(c, np.ones(len(items), bool))})


@pytest.fixture
def base() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = (rng.random((60, 40)) < 0.15).astype(np.float32)
    x[:, 35:] = 0  # cold at fit time
    return x, rng.normal(size=(40, 8)).astype(np.float32)


@pytest.mark.parametrize("kind", ["hybrid", "mf", "content"])
def test_update_on_same_data_changes_nothing(kind: str, base: tuple[np.ndarray, np.ndarray]) -> None:
    x, c = base
    model = make_model(kind).fit(_data(x, c))
    assert isinstance(model, LinearHybrid)
    again = model.update(_data(x, c))
    users = np.arange(x.shape[0])
    np.testing.assert_allclose(again.score(sp.csr_matrix(x), users), model.score(sp.csr_matrix(x), users), atol=1e-5)


def test_update_adds_users_and_items(base: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    x, c = base
    model = make_model("hybrid").fit(_data(x, c))
    assert isinstance(model, LinearHybrid)
    rng = np.random.default_rng(1)
    x2 = np.zeros((63, 45), np.float32)
    x2[:60, :40] = x
    x2[60:, :5] = 1  # three new users
    x2[:5, 41] = 1  # a new item with events
    c2 = np.vstack([c, rng.normal(size=(5, 8)).astype(np.float32)])
    updated = model.update(_data(x2, c2))
    h = sp.csr_matrix(x2)
    scores = updated.score(h, np.arange(63))
    assert scores.shape == (63, 45) and np.isfinite(scores).all()
    assert updated.item_counts[41] == 5
    assert np.abs(updated.item_factors[41]).sum() > 0  # solved from its users
    assert np.abs(updated.item_factors[43]).sum() > 0  # projected from content (no events)
    exp = updated.explain(h[60], 60, 43)
    assert exp.cold_item and abs(sum(exp.parts.values()) - scores[60, 43]) < 1e-4
    updated.save(tmp_path / "m.npz")
    np.testing.assert_allclose(load_model(tmp_path / "m.npz").score(h, np.arange(63)), scores, atol=1e-6)


def test_new_user_with_nothing_gets_the_average_taste(base: tuple[np.ndarray, np.ndarray]) -> None:
    x, c = base
    model = make_model("hybrid").fit(_data(x, c))
    empty = sp.csr_matrix((1, x.shape[1]), dtype=np.float32)
    scores = model.score(empty, np.array([-1]))[0]
    assert np.ptp(scores) > 0  # not all zero: broadly liked items rank first
    popular = np.argsort(-(x > 0).sum(axis=0))[:5]
    assert len(set(np.argsort(-scores)[:10]) & set(popular)) >= 3
    exp = model.explain(empty, -1, int(np.argmax(scores)))
    assert abs(sum(exp.parts.values()) - scores.max()) < 1e-4
