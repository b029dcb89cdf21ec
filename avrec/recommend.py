"""Scoring, filtering and ranking for `recommend`: vectorised in blocks of users, streamed out."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from avrec.errors import UnknownIdError, UsageError
from avrec.progress import NullProgress, Progress
from avrec.serving import uservectors
from avrec.serving.blocks import blocks_of
from avrec.serving.index import InnerProductIndex, open_index
from avrec.serving.ranking import Recommendation, best_for, top_k
from avrec.store import Store

if TYPE_CHECKING:
    from avrec.serving.served import Served, UserBatch

BLOCK = 256


def recommend(
    store: Store,
    *,
    users: Iterable[str] | None = None,
    all_users: bool = False,
    k: int = 10,
    candidates: Iterable[str] | None = None,
    include_seen: bool = False,
    history: list[str] | None = None,
    query_scores: np.ndarray | None = None,
    use_index: bool | None = None,
    served: Served | None = None,
    progress: Progress | None = None,
    skipped: list[str] | None = None,
) -> Iterator[Recommendation]:
    """Top-k items per user, best first. Streams; users are scored `BLOCK` at a time.

    `history` serves one user the model has not seen from a list of item ids (fold-in, no retraining).
    `query_scores` (one number per model item) is added to every user's scores to steer the list.
    `use_index`: True takes candidates from the model's index (`avrec.serving.index`) and scores them exactly,
    False scores every item; None (default) uses the index on catalogs of `ANN_MIN_ITEMS` items or more.
    Candidate pools and query steering are always scored exactly.
    Bad arguments and the first block's unknown ids raise here, before anything is yielded, so a caller
    never prints a partial answer for a request that fails at once. With `skipped` (a list to fill),
    unknown users are left out and appended there instead, with a warning: a batch job serves everyone
    it can and says who it could not.
    """
    if k < 1:
        raise UsageError("-k must be at least 1")
    if served is None and history is None and candidates is None and query_scores is None and not all_users:
        # One known user whose events and attributes have not changed since the fit: served from the
        # vectors `fit` stored, without loading the model (and scipy) -- the same answer, sooner.
        one = list(users) if isinstance(users, (list, tuple)) else []
        quick = uservectors.recommend_one(store, one[0], k, include_seen, use_index) if len(one) == 1 else None
        if quick is not None:
            return iter(quick)
    from avrec.serving.served import load_served, user_batch

    served = served or load_served(store)
    pool = _candidate_mask(store, served, candidates, progress or NullProgress())
    exact_only = pool is not None or query_scores is not None
    ann = None
    if not exact_only and served.model.embeddings() is not None:
        ann = open_index(store, served.record.model_key, len(served.item_ids), use_index)
    if history is not None:
        folded = user_batch(store, served, list(users or [])[:1], history=history)
        return _rank(served, folded, k, pool, include_seen, query_scores, ann)
    if all_users:
        user_list: Iterable[str] = store.user_ids()
    elif users is not None:
        user_list = users
    else:
        raise UsageError("say whom to recommend for: --user, --users FILE or --all-users")
    if skipped is not None:
        user_list = _known_only(store, served, user_list, skipped, progress or NullProgress())
    blocks = blocks_of(user_list, BLOCK)
    first_ids = next(blocks, [])
    first = user_batch(store, served, first_ids) if first_ids else None

    def stream() -> Iterator[Recommendation]:
        if first is not None:
            yield from _rank(served, first, k, pool, include_seen, query_scores, ann)
        for ids in blocks:
            yield from _rank(served, user_batch(store, served, ids), k, pool, include_seen, query_scores, ann)

    return stream()


def _known_only(
    store: Store, served: Served, users: Iterable[str], skipped: list[str], progress: Progress
) -> Iterator[str]:
    from avrec.serving.served import known_user

    for uid in users:
        if known_user(store, served, uid):
            yield uid
        else:
            skipped.append(uid)
            progress.warn(f"unknown user id {uid!r} skipped: no events or attributes stored for it")


def _candidate_mask(
    store: Store, served: Served, candidates: Iterable[str] | None, progress: Progress
) -> np.ndarray | None:
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


def _rank(
    served: Served,
    batch: UserBatch,
    k: int,
    pool: np.ndarray | None,
    include_seen: bool,
    query_scores: np.ndarray | None,
    ann: InnerProductIndex | None,
) -> Iterator[Recommendation]:
    if ann is not None:
        yield from _rank_ann(served, batch, k, include_seen, ann)
        return
    scores = served.model.score(batch.histories, batch.rows, batch.features)
    scores = np.asarray(scores, dtype=np.float64)
    if query_scores is not None:
        scores = scores + query_scores[None, :]
    for r, uid in enumerate(batch.user_ids):
        row = scores[r]
        allowed = np.isfinite(row)
        if pool is not None:
            allowed &= pool
        if not include_seen and batch.seen[r]:
            allowed[list(batch.seen[r])] = False
        rows = np.flatnonzero(allowed)
        yield from top_k(uid, row[rows], rows, k, served.item_ids)


def _rank_ann(
    served: Served, batch: UserBatch, k: int, include_seen: bool, ann: InnerProductIndex
) -> Iterator[Recommendation]:
    embeddings = served.model.embeddings()
    if embeddings is None:
        return
    user_side, items = embeddings
    queries = user_side(batch.histories, batch.rows, batch.features)
    for r, uid in enumerate(batch.user_ids):
        seen = () if include_seen else batch.seen[r]
        yield from best_for(uid, queries[r], items, k, seen, served.item_ids, ann)


@dataclass(frozen=True)
class CategoryRecommendation:
    user_id: str
    category: str
    rank: int
    score: float
    items: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "user_id": self.user_id,
            "category": self.category,
            "rank": self.rank,
            "score": self.score,
            "items": list(self.items),
        }


def item_categories(store: Store, served: Served, by: str) -> list[list[str]]:
    """Each model item's values of `by`: `tags`, `creator`, `kind` or any catalog attribute."""
    values: list[list[str]] = [[] for _ in served.item_ids]
    for item in store.iter_items():
        j = served.item_pos.get(item.item_id)
        if j is None:
            continue
        if by == "tags":
            raw: object = item.tags
        elif by in ("creator", "kind"):
            raw = getattr(item, by)
        else:
            raw = item.attrs.get(by)
        if isinstance(raw, list):
            values[j] = [str(v) for v in raw if str(v)]
        elif raw not in (None, ""):
            values[j] = [str(raw)]
    return values


def recommend_by(
    store: Store,
    by: str,
    *,
    users: Iterable[str] | None = None,
    all_users: bool = False,
    k: int = 10,
    history: list[str] | None = None,
    per_category: int = 3,
) -> Iterator[CategoryRecommendation]:
    """Rank categories (tags, creators, any attribute) for each user by the mean score of the category's
    `per_category` best items (a smaller category padded with the user's mean item score): a genre or
    channel the user is likely to enjoy. Items the user has already seen count too: a channel someone
    loves is still the channel to show them."""
    from avrec.serving.served import load_served

    served = load_served(store)
    cats = item_categories(store, served, by)
    members: dict[str, list[int]] = {}
    for j, vals in enumerate(cats):
        for v in vals:
            members.setdefault(v, []).append(j)
    if not members:
        raise UsageError(f"no item has a value for {by!r}; try --by tags or --by creator")
    names = sorted(members)
    ranked_items = recommend(
        store, users=users, all_users=all_users, k=len(served.item_ids), include_seen=True, history=history,
        use_index=False, served=served,
    )

    def stream() -> Iterator[CategoryRecommendation]:
        for rec_block in _blocks(ranked_items):
            uid = rec_block[0].user_id
            score = {served.item_pos[r.item_id]: r.score for r in rec_block}
            typical = float(np.mean(list(score.values())))
            ranked: list[tuple[float, str, tuple[str, ...]]] = []
            for name in names:
                got = sorted(((score[j], j) for j in members[name] if j in score), reverse=True)[:per_category]
                if got:
                    # A category with fewer than `per_category` items is padded with the user's typical score,
                    # so one lucky item does not outrank a category the user likes across the board.
                    padded = sum(s for s, _ in got) + (per_category - len(got)) * typical
                    ranked.append((padded / per_category, name, tuple(served.item_ids[j] for _, j in got)))
            ranked.sort(key=lambda t: (-t[0], t[1]))
            for rank, (value, name, items) in enumerate(ranked[:k], start=1):
                yield CategoryRecommendation(uid, name, rank, value, items)

    return stream()


def _blocks(recs: Iterable[Recommendation]) -> Iterator[list[Recommendation]]:
    block: list[Recommendation] = []
    for rec in recs:
        if block and rec.user_id != block[0].user_id:
            yield block
            block = []
        block.append(rec)
    if block:
        yield block
