"""From the store to what a model trains on (`TrainData`), and the model's id maps back again."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat

import numpy as np
import scipy.sparse as sp

from avrec.errors import InputError
from avrec.model.data import ContentMatrix, TrainData
from avrec.store import MODALITIES, Store
from avrec.training.userfeatures import encode, fit_feature_names


def codes(values: Sequence[str], vocabulary: Sequence[str]) -> np.ndarray:
    """Index of each value in `vocabulary`, -1 where absent (one hash look-up per value)."""
    position = {v: j for j, v in enumerate(vocabulary)}
    return np.fromiter(map(position.get, values, repeat(-1)), dtype=np.int64, count=len(values))


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


#: The most one (user, item) pair's events may weigh in all. Ingest bounds each event (1e6); a store written
#: before that may hold weights that overflow the models' float32 arithmetic.
MAX_PAIR_WEIGHT = 1e15


def _check_weights(matrix: sp.csr_matrix, user_ids: Sequence[str], item_ids: Sequence[str]) -> None:
    """An InputError naming the first (user, item) pair whose summed weight no model can use, and how to fix it."""
    bad = np.flatnonzero(~np.isfinite(matrix.data) | (matrix.data > MAX_PAIR_WEIGHT))
    if bad.size == 0:
        return
    first = int(bad[0])
    row = int(np.searchsorted(matrix.indptr, first, side="right") - 1)
    user, item = user_ids[row], item_ids[int(matrix.indices[first])]
    more = f" ({bad.size:,} such pairs)" if bad.size > 1 else ""
    raise InputError(
        f"the events of user {user!r} on item {item!r} weigh {float(matrix.data[first]):g} in all, more than "
        f"{MAX_PAIR_WEIGHT:g}{more}: a weight no model can use (accepted by an older avrec?); remove them with "
        f"`avrec delete interactions --user {shlex.quote(user)} --item {shlex.quote(item)}` and fit again"
    )


@dataclass
class StoreData:
    """What `load_store_data` read from one snapshot of the store."""

    data: TrainData
    #: the latest event time (epoch seconds, 0 when unknown) of each (user, item) cell of the training data
    #: (None when not asked for)
    when: sp.csr_matrix | None
    #: `all_histories` of the training users over the training items, as `recommend` reads them
    histories: tuple[sp.csr_matrix, sp.csr_matrix, frozenset[int]]
    #: the newest event id and every user's attribute text, as the histories saw them
    last_event_id: int
    attrs_text: dict[str, str]


def load_train_data(store: Store) -> tuple[TrainData, sp.csr_matrix]:
    """Everything the store holds as training data, plus a matrix of the same pattern holding the
    latest event time (epoch seconds, 0 when unknown) of each (user, item) cell."""
    loaded = load_store_data(store, times=True)
    if loaded.when is None:  # (asked for above)
        raise RuntimeError("event times were not read")
    return loaded.data, loaded.when


def load_store_data(store: Store, *, times: bool = False) -> StoreData:
    """`load_train_data`, plus the training users' current histories as `recommend` reads them (from the
    same scan, for the user vectors `fit` stores); the latest event times only with `times`.

    The events are read a chunk at a time and kept as numbers (user and item codes, weight, and time when
    asked for), so memory grows by a few dozen bytes per event rather than by two Python strings each."""
    with store.snapshot():
        last_event_id = store.last_event_id()
        attrs_text = store.user_attrs_text()
        item_ids = store.item_ids()
        vocabulary = sorted(store.user_ids())
        user_code: dict[str, int] = {}  # (read one by one: codes of users missing from the users table)
        parts = None if times else _bulk_parts(store, vocabulary, item_ids)
        if parts is None:
            user_code = {v: j for j, v in enumerate(vocabulary)}
            item_code = {v: j for j, v in enumerate(item_ids)}
            parts = []
            for users, items, w, t in store.interaction_chunks(times=times):
                ucodes = np.fromiter(map(user_code.get, users, repeat(-1)), dtype=np.int64, count=len(users))
                icodes = np.fromiter(map(item_code.get, items, repeat(-1)), dtype=np.int32, count=len(items))
                for j in np.flatnonzero(ucodes < 0).tolist():  # not in the users table (a store written by hand)
                    ucodes[j] = user_code.setdefault(users[j], len(user_code))
                parts.append((ucodes.astype(np.int32), icodes, w, t if times else t[:0]))
        attrs = store.user_attrs()
        content = load_content(store, item_ids)
    u, i, weights, stamps = (np.concatenate(c) for c in zip(*parts, strict=True)) if parts else _no_events()
    del parts
    if len(user_code) > len(vocabulary):  # codes handed out above: put them in id order too
        names = sorted(user_code)
        rank = np.empty(len(names), dtype=np.int32)
        rank[np.asarray([user_code[n] for n in names], dtype=np.int64)] = np.arange(len(names))
        u, vocabulary = rank[u], names
    positive = weights > 0
    active = np.unique(u[positive])
    user_ids = [vocabulary[c] for c in active.tolist()]
    row = np.full(len(vocabulary) + 1, -1, dtype=np.int32)
    row[active] = np.arange(len(active))
    u = row[u]
    keep = positive & (u >= 0) & (i >= 0)
    shape = (len(user_ids), len(item_ids))
    # Summed in float64, checked, then stored in float32: two 3e38 events on a pair must not become inf.
    matrix = sp.csr_matrix((weights[keep], (u[keep], i[keep])), shape=shape, dtype=np.float64)
    matrix.sum_duplicates()
    _check_weights(matrix, user_ids, item_ids)
    summed = matrix
    matrix = matrix.astype(np.float32)
    matrix.sort_indices()
    when = None
    if times:
        # Latest time per cell: order events by time, keep each cell's last one.
        t = np.nan_to_num(stamps[keep], nan=0.0)
        width = max(shape[1], 1)
        cells = u[keep].astype(np.int64) * width + i[keep]
        order = np.argsort(t, kind="stable")[::-1]
        uniq, first = np.unique(cells[order], return_index=True)
        when = sp.csr_matrix((t[order][first], (uniq // width, uniq % width)), shape=shape, dtype=np.float64)
        when.sort_indices()
    names = fit_feature_names([attrs[u] for u in user_ids if attrs.get(u)])
    features = encode([attrs.get(uid, {}) for uid in user_ids], names) if names else None
    data = TrainData(user_ids, item_ids, matrix, content, features, names)
    known = u >= 0  # every event of a training user, whatever its weight: as `history_matrix` sums them
    if keep.all():  # (every event is in the matrix, summed: the histories are its pairs)
        histories = _pair_histories(summed, shape)
    else:
        histories = _history_arrays(u[known], i[known], weights[known], shape)
    del summed
    return StoreData(data, when, histories, last_event_id, attrs_text)


def _bulk_parts(
    store: Store, vocabulary: Sequence[str], item_ids: Sequence[str]
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] | None:
    """The events as `load_store_data` keeps them, read in bulk (`Store.interaction_codes`); None when
    they must be read one by one: an id holds the separator, or a user is missing from the users table."""
    bulk = store.interaction_codes(vocabulary, item_ids)
    if bulk is None or (bulk[0] < 0).any():
        return None
    return [(*bulk, np.zeros(0))]


def _no_events() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    empty = np.zeros(0, dtype=np.int32)
    return empty, empty, np.zeros(0), np.zeros(0)


def history_matrix(
    store: Store, user_ids: Sequence[str], item_pos: Mapping[str, int]
) -> tuple[sp.csr_matrix, sp.csr_matrix, frozenset[int]]:
    """Current histories (from the store, including events after the fit) over the model's items:
    the positive summed weights (float32), the items each user interacted with at all (skips included:
    what `recommend` leaves out as already seen; a boolean matrix of the same shape), and the rows of
    users with a pair weighing more than :data:`MAX_PAIR_WEIGHT` (left out of the matrix: no model can
    score them). One row per entry of `user_ids` (a repeated id gets its history again)."""
    users, items, weights = store.histories(user_ids)
    first = {uid: r for r, uid in reversed(list(enumerate(user_ids)))}
    rows = np.fromiter(map(first.__getitem__, users), dtype=np.int64, count=len(users))
    cols = np.fromiter(map(item_pos.get, items, repeat(-1)), dtype=np.int64, count=len(items))
    hist, seen, bad = _history_arrays(rows, cols, weights, (len(user_ids), len(item_pos)))
    if len(first) != len(user_ids):  # a repeated id: its rows copy the first one's
        repeats = np.asarray([first[uid] for uid in user_ids], dtype=np.int64)
        hist, seen = hist[repeats], seen[repeats]
        bad = frozenset(r for r, src in enumerate(repeats.tolist()) if src in bad)
    return hist, seen, bad


def all_histories(
    store: Store, user_ids: Sequence[str], item_ids: Sequence[str]
) -> tuple[sp.csr_matrix, sp.csr_matrix, frozenset[int]]:
    """`history_matrix` of many users (distinct ids) over `item_ids` (columns in that order) from one
    sequential scan of the store's events, in chunks (memory: three numbers per event): for a batch over
    most users, many times faster than looking each block of users up."""
    shape = (len(user_ids), len(item_ids))
    bulk = store.interaction_codes(user_ids, item_ids)
    if bulk is not None:
        r, c, w = bulk
        keep = r >= 0
        return _history_arrays(r[keep], c[keep], w[keep], shape)
    user_pos = {uid: r for r, uid in enumerate(user_ids)}
    item_pos = {item: j for j, item in enumerate(item_ids)}
    rows, cols, weights = [], [], []
    for users, items, w, _ in store.interaction_chunks(times=False):
        r = np.fromiter(map(user_pos.get, users, repeat(-1)), dtype=np.int64, count=len(users))
        c = np.fromiter(map(item_pos.get, items, repeat(-1)), dtype=np.int64, count=len(items))
        keep = r >= 0
        rows.append(r[keep])
        cols.append(c[keep])
        weights.append(w[keep])
    if not rows:
        rows, cols, weights = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0)]
    return _history_arrays(np.concatenate(rows), np.concatenate(cols), np.concatenate(weights), shape)


def _history_arrays(
    rows: np.ndarray, cols: np.ndarray, weights: np.ndarray, shape: tuple[int, int]
) -> tuple[sp.csr_matrix, sp.csr_matrix, frozenset[int]]:
    """(positive weights, seen pattern, unusable rows) of events given as (row, column or -1, weight);
    a (row, column) pair's events are summed first, as the store's `user_history` sums them."""
    known = cols >= 0
    total = sp.csr_matrix((weights[known], (rows[known], cols[known])), shape=shape, dtype=np.float64)
    total.sum_duplicates()  # keeps pairs that sum to zero: seen all the same
    return _pair_histories(total, shape)


def _pair_histories(
    total: sp.csr_matrix, shape: tuple[int, int]
) -> tuple[sp.csr_matrix, sp.csr_matrix, frozenset[int]]:
    """`_history_arrays` of the summed weight of each (row, column) pair (float64 CSR, duplicates summed)."""
    w = total.data
    usable = w <= MAX_PAIR_WEIGHT  # False for NaN too
    seen = sp.csr_matrix((np.ones(len(w), dtype=bool), total.indices, total.indptr), shape=shape)
    keep = usable & (w > 0)
    if keep.all():  # every pair a positive, usable weight: the same pattern
        hist = sp.csr_matrix((w.astype(np.float32), total.indices.copy(), total.indptr.copy()), shape=shape)
        hist.sort_indices()
        return hist, seen, frozenset()
    pair_rows = np.repeat(np.arange(shape[0]), np.diff(total.indptr))
    hist = sp.csr_matrix(
        (w[keep].astype(np.float32), (pair_rows[keep], total.indices[keep])), shape=shape, dtype=np.float32
    )
    hist.sort_indices()
    return hist, seen, frozenset(np.unique(pair_rows[~usable]).tolist())
