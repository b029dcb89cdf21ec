"""Ranking metrics for implicit feedback: NDCG@k, Recall@k, MAP@k and catalog coverage.

All take the top-k ranked item indices per user (`topk`, shape users x k, -1 for padding) and the
relevant items per user as a CSR matrix (`relevant`, users x items, non-zeros are relevant).
Relevance is binary. A user with no relevant items contributes nothing (callers pass only test users).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from avrec.serving.ranking import best_first  # the selection `recommend` uses (numpy only)


def _hits(topk: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    """Boolean matrix (users x k): whether each ranked item is relevant."""
    if topk.shape[0] != relevant.shape[0]:
        raise ValueError(f"topk has {topk.shape[0]} rows but relevant has {relevant.shape[0]}")
    rel = sp.csr_matrix(relevant)
    rows = np.repeat(np.arange(topk.shape[0]), topk.shape[1])
    cols = topk.ravel()
    valid = cols >= 0
    out = np.zeros(topk.size, dtype=bool)
    if valid.any():  # indexing a sparse matrix with nothing gives a sparse matrix, not an empty array
        out[valid] = np.asarray(rel[rows[valid], cols[valid]]).ravel() != 0
    return out.reshape(topk.shape)


def _n_relevant(relevant: sp.csr_matrix) -> np.ndarray:
    rel = sp.csr_matrix(relevant)
    rel.eliminate_zeros()
    return np.diff(rel.indptr)


def ndcg_at_k(topk: np.ndarray, relevant: sp.csr_matrix, k: int) -> float:
    """Mean NDCG@k with binary gains; the ideal DCG puts min(k, |relevant|) hits first."""
    hits = _hits(topk[:, :k], relevant)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (hits * discounts[: hits.shape[1]]).sum(axis=1)
    n_rel = np.minimum(_n_relevant(relevant), k)
    idcg = np.cumsum(discounts)[np.maximum(n_rel, 1) - 1]
    ok = n_rel > 0
    return float(np.mean(dcg[ok] / idcg[ok])) if ok.any() else 0.0


def recall_at_k(topk: np.ndarray, relevant: sp.csr_matrix, k: int) -> float:
    """Mean fraction of each user's relevant items found in the top k."""
    hits = _hits(topk[:, :k], relevant).sum(axis=1)
    n_rel = _n_relevant(relevant)
    ok = n_rel > 0
    return float(np.mean(hits[ok] / n_rel[ok])) if ok.any() else 0.0


def map_at_k(topk: np.ndarray, relevant: sp.csr_matrix, k: int) -> float:
    """Mean average precision@k, normalised by min(k, |relevant|)."""
    hits = _hits(topk[:, :k], relevant)
    precision = np.cumsum(hits, axis=1) / np.arange(1, hits.shape[1] + 1)
    n_rel = np.minimum(_n_relevant(relevant), k)
    ok = n_rel > 0
    ap = (precision * hits).sum(axis=1)
    return float(np.mean(ap[ok] / n_rel[ok])) if ok.any() else 0.0


def coverage_at_k(topk: np.ndarray, n_items: int, k: int) -> float:
    """Fraction of the catalog (`n_items` candidates) that appears in at least one top-k list."""
    if n_items <= 0:
        raise ValueError("n_items must be positive")
    items = topk[:, :k].ravel()
    return float(np.unique(items[items >= 0]).size / n_items)


def top_k(
    scores: np.ndarray, k: int, exclude: sp.csr_matrix | None = None, candidates: np.ndarray | None = None
) -> np.ndarray:
    """Indices of the k best-scored items per row, best first; excluded or non-candidate items never appear.

    Rows with fewer than k eligible items are padded with -1.
    """
    s = np.array(scores, dtype=np.float64, copy=True)
    if candidates is not None:
        mask = np.ones(s.shape[1], dtype=bool)
        mask[candidates] = False
        s[:, mask] = -np.inf
    if exclude is not None:
        ex = sp.coo_matrix(exclude)
        s[ex.row, ex.col] = -np.inf
    out = best_first(s, k)
    out[~np.isfinite(np.take_along_axis(s, out, axis=1))] = -1
    return out.astype(np.int64)
