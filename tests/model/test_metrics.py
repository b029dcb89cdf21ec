"""Metrics on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from avrec.model.metrics import coverage_at_k, map_at_k, ndcg_at_k, recall_at_k, top_k


def rel(rows: list[list[int]], n_items: int = 10) -> sp.csr_matrix:
    m = np.zeros((len(rows), n_items))
    for r, items in enumerate(rows):
        m[r, items] = 1
    return sp.csr_matrix(m)


def test_ndcg_hand_computed() -> None:
    topk = np.array([[3, 1, 2]])
    relevant = rel([[1, 5]])
    dcg = 1 / math.log2(3)
    idcg = 1 + 1 / math.log2(3)
    assert ndcg_at_k(topk, relevant, 3) == pytest.approx(dcg / idcg)
    assert ndcg_at_k(np.array([[1, 5, 0]]), relevant, 3) == pytest.approx(1.0)


def test_recall_and_map() -> None:
    topk = np.array([[1, 2, 3, 4], [9, 8, 7, 6]])
    relevant = rel([[2, 4, 7], [0]])
    assert recall_at_k(topk, relevant, 4) == pytest.approx((2 / 3 + 0) / 2)
    # user 0: hits at ranks 2 and 4 -> (1/2 + 2/4) / min(4, 3)
    assert map_at_k(topk, relevant, 4) == pytest.approx(((0.5 + 0.5) / 3 + 0) / 2)


def test_coverage_and_padding() -> None:
    topk = np.array([[1, 2, -1], [2, 3, -1]])
    assert coverage_at_k(topk, 10, 3) == pytest.approx(0.3)
    assert ndcg_at_k(topk, rel([[1], [3]]), 3) == pytest.approx((1 + 1 / math.log2(3)) / 2)


def test_top_k_excludes_and_restricts() -> None:
    scores = np.array([[5.0, 4.0, 3.0, 2.0, 1.0]])
    seen = sp.csr_matrix(np.array([[1, 0, 0, 0, 0]]))
    assert top_k(scores, 2, exclude=seen).tolist() == [[1, 2]]
    assert top_k(scores, 3, candidates=np.array([3, 4])).tolist() == [[3, 4, -1]]
