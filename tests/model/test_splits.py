"""Invariants of the evaluation splits."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from avrec.model.splits import cold_items, cold_users, make_split, random_holdout, temporal_last_n


@pytest.fixture
def matrix() -> sp.csr_matrix:
    rng = np.random.default_rng(0)
    return sp.csr_matrix((rng.random((30, 50)) < 0.3).astype(np.float32))


def _disjoint_union(m: sp.csr_matrix, train: sp.csr_matrix, test: sp.csr_matrix) -> None:
    assert train.multiply(test).nnz == 0
    assert abs(train + test - m).sum() == 0


def test_random_holdout(matrix: sp.csr_matrix) -> None:
    s = random_holdout(matrix, 0.2, 5, seed=1)
    _disjoint_union(matrix, s.train, s.test)
    counts = np.diff(matrix.indptr)
    test_counts = np.diff(s.test.indptr)
    assert np.all(test_counts[counts < 5] == 0)
    assert np.all(test_counts[counts >= 5] == np.maximum(1, np.rint(counts[counts >= 5] * 0.2)))
    again = random_holdout(matrix, 0.2, 5, seed=1)
    assert (again.test != s.test).nnz == 0


def test_temporal_holds_out_latest(matrix: sp.csr_matrix) -> None:
    ts = matrix.copy()
    ts.data = np.arange(ts.nnz, dtype=np.float64)
    s = temporal_last_n(matrix, ts, n=3)
    _disjoint_union(matrix, s.train, s.test)
    for u in s.test_users:
        assert ts[u, s.test[u].indices].min() > ts[u, s.train[u].indices].max()


def test_cold_items(matrix: sp.csr_matrix) -> None:
    s = cold_items(matrix, 0.2, seed=2)
    _disjoint_union(matrix, s.train, s.test)
    assert s.candidates is not None and len(s.candidates) == 10
    assert s.train[:, s.candidates].nnz == 0
    assert set(s.test.indices) <= set(s.candidates.tolist())


def test_cold_users(matrix: sp.csr_matrix) -> None:
    s = cold_users(matrix, 0.2, seed=3)
    _disjoint_union(matrix, s.train, s.test)
    assert s.cold_users and s.train[s.test_users].nnz == 0


def test_bad_arguments(matrix: sp.csr_matrix) -> None:
    with pytest.raises(ValueError):
        random_holdout(matrix, 1.5)
    with pytest.raises(ValueError):
        make_split("temporal", matrix)
    with pytest.raises(ValueError):
        make_split("nope", matrix)
