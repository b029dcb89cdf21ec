"""Loading the active model with its id maps; shared by recommend, explain and report."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from avrec.errors import ModelError, UnknownIdError
from avrec.model import Recommender, load_model
from avrec.progress import Progress
from avrec.serving import ranking
from avrec.serving.ranking import InnerProductTopK, id_order
from avrec.store import ModelRecord, Store
from avrec.training.dataset import all_histories, history_matrix
from avrec.training.userfeatures import encode


@dataclass
class Served:
    model: Recommender
    record: ModelRecord
    item_ids: list[str]
    user_ids: list[str]
    store_root: str = ""
    item_pos: dict[str, int] = field(default_factory=dict)
    user_pos: dict[str, int] = field(default_factory=dict)
    _top_k: InnerProductTopK | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.item_pos = {item: j for j, item in enumerate(self.item_ids)}
        self.user_pos = {user: r for r, user in enumerate(self.user_ids)}

    @functools.cached_property
    def id_rank(self) -> np.ndarray:
        """Each item's position in item-id order (ties between equal scores go to the lower id)."""
        return id_order(self.item_ids)

    def inner_product_top_k(self, cells: int) -> InnerProductTopK | None:
        """The model's items ready for `InnerProductTopK` (built once); None when its score is no inner product,
        or when the catalog is no larger than `HEAD_ITEMS` (nothing to leave out: every item is scored)."""
        if self._top_k is None:
            embeddings = self.model.embeddings()
            if embeddings is None or len(self.item_ids) <= ranking.HEAD_ITEMS:
                return None
            self._top_k = InnerProductTopK(embeddings[1], self.id_rank, cells)
        return self._top_k

    @property
    def feature_names(self) -> list[str]:
        return list(self.record.params.get("user_feature_names", []))


def load_served(store: Store) -> Served:
    record = store.active_model()
    if record is None:
        raise ModelError(f"store {store.root} has no fitted model yet; run `avrec fit` first")
    path = store.root / record.path
    if not path.exists():
        raise ModelError(f"model file {path} is missing; run `avrec fit` again")
    model = load_model(path)
    return Served(model, record, list(model.item_ids), list(model.user_ids), str(store.root))


@dataclass
class UserBatch:
    """Histories and features of a block of users, over the model's items."""

    user_ids: list[str]
    histories: sp.csr_matrix
    rows: np.ndarray  # training-user row, -1 for users the model has not seen
    features: sp.csr_matrix | None
    #: users x items: the pattern of each row is the items that user interacted with at all
    seen: sp.csr_matrix
    #: rows of users whose stored events weigh more than a model can use: they cannot be scored
    unusable: frozenset[int] = frozenset()


def known_user(store: Store, served: Served, user_id: str) -> bool:
    """In the model, or stored since (events or attributes): a user `recommend` can serve."""
    return user_id in served.user_pos or store.user_exists(user_id)


def user_batch(store: Store, served: Served, user_ids: list[str], history: list[str] | None = None) -> UserBatch:
    """Look users up; `history` (item ids) serves one user that is not in the model."""
    if history is not None:
        cols = []
        for item in history:
            if item not in served.item_pos:
                if store.get_item(item) is None:
                    raise UnknownIdError(f"history names unknown item id {item!r}", param="history")
                continue  # known to the store but newer than the model: it cannot inform the model yet
            cols.append(served.item_pos[item])
        cols = sorted(set(cols))
        hist = sp.csr_matrix(
            (np.ones(len(cols), dtype=np.float32), (np.zeros(len(cols), dtype=np.int64), cols)),
            shape=(1, len(served.item_ids)),
        )
        attrs = store.user_attrs(user_ids[:1]).get(user_ids[0], {}) if user_ids else {}
        feats = encode([attrs], served.feature_names) if served.feature_names else None
        seen = sp.csr_matrix(hist, dtype=bool)
        return UserBatch(user_ids or ["-"], hist, np.array([-1]), feats, seen)
    for uid in user_ids:
        if not known_user(store, served, uid):
            raise UnknownIdError(
                f"unknown user id {uid!r}: no events or attributes stored for it; "
                "serve a new user with --history ITEM,ITEM,..."
            )
    hist, seen, unusable = history_matrix(store, user_ids, served.item_pos)
    rows = np.asarray([served.user_pos.get(uid, -1) for uid in user_ids], dtype=np.int64)
    feats = None
    if served.feature_names:
        attrs = store.user_attrs(user_ids)
        feats = encode([attrs.get(uid, {}) for uid in user_ids], served.feature_names)
    return UserBatch(user_ids, hist, rows, feats, seen, unusable)


def all_user_batches(
    store: Store,
    served: Served,
    user_ids: list[str],
    size: int,
    histories: tuple[sp.csr_matrix, sp.csr_matrix, frozenset[int]] | None = None,
) -> Iterator[UserBatch]:
    """`user_batch` for `size` users at a time, of distinct users the store holds, their histories read at
    once in one scan of the store's events (`avrec.training.dataset.all_histories`): for a batch over most
    users. The scan happens before the first batch is asked for, so a failing store fails here.
    `histories` (what `all_histories` returns for `user_ids`), when the caller has read them already."""
    hist, seen, unusable = histories or all_histories(store, user_ids, served.item_ids)
    rows = np.asarray([served.user_pos.get(uid, -1) for uid in user_ids], dtype=np.int64)

    def batches() -> Iterator[UserBatch]:
        for start in range(0, len(user_ids), size):
            ids = user_ids[start : start + size]
            stop = start + len(ids)
            feats = None
            if served.feature_names:
                attrs = store.user_attrs(ids)
                feats = encode([attrs.get(uid, {}) for uid in ids], served.feature_names)
            bad = frozenset(r - start for r in unusable if start <= r < stop)
            yield UserBatch(ids, hist[start:stop], rows[start:stop], feats, seen[start:stop], bad)

    return batches()


def candidate_mask(
    store: Store, served: Served, candidates: Iterable[str] | None, progress: Progress
) -> np.ndarray | None:
    """The model's items among `candidates` as a mask (None: no pool). An id the store does not know is an
    error; one stored after the last fit cannot be scored yet and is left out with a warning."""
    if candidates is None:
        return None
    mask = np.zeros(len(served.item_ids), dtype=bool)
    newer: list[str] = []
    for item in candidates:
        j = served.item_pos.get(item)
        if j is None:
            if store.get_item(item) is None:
                raise UnknownIdError(f"candidate item id {item!r} is not in the store")
            newer.append(item)  # stored after the last fit: the model cannot score it yet
            continue
        mask[j] = True
    if newer:
        progress.warn(
            f"{len(newer)} candidate item(s) were stored after the last fit (e.g. {newer[0]!r}) and are left out; "
            "run `avrec fit --incremental` (or `avrec fit`) to score them"
        )
    return mask
