"""From the store to what a model trains on (`TrainData`), and the model's id maps back again."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from avrec.model.data import ContentMatrix, TrainData
from avrec.store import MODALITIES, Store
from avrec.training.userfeatures import encode, fit_feature_names


def codes(values: Sequence[str], vocabulary: Sequence[str]) -> np.ndarray:
    """Index of each value in `vocabulary` (sorted), -1 where absent."""
    vocab = np.asarray(vocabulary, dtype=object)
    if len(vocab) == 0:
        return np.full(len(values), -1, dtype=np.int64)
    arr = np.asarray(values, dtype=object)
    pos = np.searchsorted(vocab, arr)
    pos = np.clip(pos, 0, len(vocab) - 1)
    found = vocab[pos] == arr
    return np.where(found, pos, -1).astype(np.int64)


def load_content(store: Store, item_ids: Sequence[str]) -> dict[str, ContentMatrix]:
    content: dict[str, ContentMatrix] = {}
    for modality in MODALITIES:
        ids, mat, models = store.vectors(modality)
        if not ids:
            continue
        rows = codes(ids, item_ids)
        keep = rows >= 0
        vectors = np.zeros((len(item_ids), mat.shape[1]), dtype=np.float32)
        present = np.zeros(len(item_ids), dtype=bool)
        vectors[rows[keep]] = mat[keep]
        present[rows[keep]] = True
        meta = store.vector_meta(ids[0], modality) or {}
        names = meta.get("names")
        content[modality] = ContentMatrix(vectors, present, models[0], list(names) if names else None)
    return content


def load_train_data(store: Store) -> tuple[TrainData, sp.csr_matrix]:
    """Everything the store holds as training data, plus a matrix of the same pattern holding the
    latest event time (epoch seconds, 0 when unknown) of each (user, item) cell."""
    with store.snapshot():
        users, items, weights, times = store.interactions()
        item_ids = store.item_ids()
        attrs = store.user_attrs()
        content = load_content(store, item_ids)
    positive = weights > 0
    user_ids = sorted({u for u, p in zip(users, positive) if p})
    u = codes(users, user_ids)
    i = codes(items, item_ids)
    keep = positive & (u >= 0) & (i >= 0)
    shape = (len(user_ids), len(item_ids))
    matrix = sp.csr_matrix((weights[keep], (u[keep], i[keep])), shape=shape, dtype=np.float32)
    matrix.sum_duplicates()
    matrix.sort_indices()
    # Latest time per cell: order events by time, keep each cell's last one.
    t = np.nan_to_num(times[keep], nan=0.0)
    cells = u[keep] * max(shape[1], 1) + i[keep]
    order = np.argsort(t, kind="stable")[::-1]
    uniq, first = np.unique(cells[order], return_index=True)
    latest = t[order][first]
    when = sp.csr_matrix((latest, (uniq // max(shape[1], 1), uniq % max(shape[1], 1))), shape=shape, dtype=np.float64)
    when.sort_indices()
    names = fit_feature_names([attrs[u] for u in user_ids if attrs.get(u)])
    features = encode([attrs.get(uid, {}) for uid in user_ids], names) if names else None
    data = TrainData(user_ids, item_ids, matrix, content, features, names)
    return data, when


def history_matrix(
    store: Store, user_ids: Sequence[str], item_pos: Mapping[str, int]
) -> tuple[sp.csr_matrix, list[set[int]]]:
    """Current histories (from the store, including events after the fit) over the model's items:
    the positive weights, and per user every item interacted with at all (skips included), which is
    what `recommend` leaves out as already seen."""
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    seen: list[set[int]] = []
    for r, uid in enumerate(user_ids):
        mine: set[int] = set()
        for item, weight in store.user_history(uid):
            j = item_pos.get(item)
            if j is None:
                continue
            mine.add(j)
            if weight > 0:
                rows.append(r)
                cols.append(j)
                vals.append(weight)
        seen.append(mine)
    shape = (len(user_ids), len(item_pos))
    return sp.csr_matrix((np.asarray(vals, dtype=np.float32), (rows, cols)), shape=shape), seen
