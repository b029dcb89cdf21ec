"""The inner-product index: exact head of long vectors, Annoy over the rest, exact scores out."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from avrec.errors import ModelError
from avrec.serving.index import InnerProductIndex, split_by_norm


def factor_like(n_items: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Clustered item vectors with log-normal norms (long = popular), users near a cluster centre."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(60, dim))
    items = centres[rng.integers(0, 60, n_items)] + 0.7 * rng.normal(size=(n_items, dim))
    items *= rng.lognormal(sigma=0.5, size=(n_items, 1)) / np.linalg.norm(items, axis=1, keepdims=True)
    users = centres[rng.integers(0, 60, 100)] + 0.3 * rng.normal(size=(100, dim))
    return items.astype(np.float32), users.astype(np.float32)


def top(rows: np.ndarray, scores: np.ndarray, k: int) -> set[int]:
    return set(rows[np.argsort(-scores, kind="stable")[:k]].tolist())


def test_head_holds_the_longest_vectors() -> None:
    items, _ = factor_like(1000, 8)
    head, tail = split_by_norm(items, 0.05)
    norms = np.linalg.norm(items, axis=1)
    assert len(head) == 50 and len(tail) == 950
    assert norms[head].min() >= norms[tail].max()
    assert sorted(np.concatenate([head, tail]).tolist()) == list(range(1000))
    # never everything: Annoy keeps at least one item
    assert len(split_by_norm(items[:1], 1.0)[1]) == 1


def test_search_returns_exact_scores_of_head_and_candidates(tmp_path: Path) -> None:
    items, users = factor_like(2000, 16)
    index = InnerProductIndex.build(items, tmp_path / "i.ann", head_fraction=0.05)
    loaded = InnerProductIndex.load(tmp_path / "i.ann")
    rows, scores = loaded.search(users[0], items, 40)
    assert set(index.head.tolist()) <= set(rows.tolist())
    assert len(set(rows.tolist())) == len(rows)
    np.testing.assert_allclose(scores, items[rows] @ users[0], rtol=1e-5, atol=1e-6)


def test_recall_on_factor_like_vectors_beats_annoy_alone(tmp_path: Path) -> None:
    items, users = factor_like(20_000, 32)
    k = 10

    def recall(head_fraction: float) -> float:
        index = InnerProductIndex.build(items, tmp_path / f"{head_fraction}.ann", head_fraction=head_fraction)
        hits = 0
        for q in users:
            rows, scores = index.search(q, items, 4 * k)
            hits += len(top(rows, scores, k) & top(np.arange(len(items)), items @ q, k))
        return hits / (k * len(users))

    with_head, annoy_alone = recall(0.03), recall(0.0)
    assert with_head >= 0.97
    assert with_head > annoy_alone


def test_index_files_are_owner_only_and_name_their_layout(tmp_path: Path) -> None:
    items, _ = factor_like(500, 8)
    InnerProductIndex.build(items, tmp_path / "i.ann")
    assert stat.S_IMODE(os.stat(tmp_path / "i.ann").st_mode) == 0o600
    meta = json.loads((tmp_path / "i.json").read_text())
    assert meta["n_items"] == 500 and meta["dim"] == 9 and len(meta["head"]) == 15


def test_index_of_another_model_or_older_layout_is_refused(tmp_path: Path) -> None:
    items, users = factor_like(500, 8)
    index = InnerProductIndex.build(items, tmp_path / "i.ann")
    with pytest.raises(ModelError, match="covers 500 items"):
        index.search(users[0], items[:400], 10)
    meta = json.loads((tmp_path / "i.json").read_text())
    del meta["head"]
    (tmp_path / "i.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="rebuild"):
        InnerProductIndex.load(tmp_path / "i.ann")
    with pytest.raises(ModelError, match="no index"):
        InnerProductIndex.load(tmp_path / "missing.ann")
