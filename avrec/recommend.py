"""`recommend`, the public entry point: what a request may combine (`Request`), and scoring, filtering and
ranking in blocks of users, streamed out.

A known user whose data has not changed since the fit is served from stored vectors
(`avrec.serving.uservectors`) without loading the model; everything else loads the model
(`avrec.serving.served`), looks users up in blocks and ranks each block (`avrec.serving.ranking`), with
candidates from the index where `avrec.serving.index.open_index` says so.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from avrec.config import Settings
from avrec.errors import InputError, PartialFailureError, UsageError
from avrec.progress import NullProgress, Progress
from avrec.serving import uservectors
from avrec.serving.blocks import blocks_of
from avrec.serving.index import InnerProductIndex, candidates, open_index
from avrec.serving.ranking import Recommendation, allowed_scores, best_for, recommendations, selected_rows
from avrec.store import Store

if TYPE_CHECKING:
    from avrec.serving.served import Served, UserBatch

#: Users whose histories are read from the store at a time (one query per `avrec.store.db.HISTORY_BLOCK`).
BLOCK = 1024
#: Scores (users x items) computed and ranked at a time (32 MB of float32): enough users for the matrix
#: product to run at full speed, few enough that each pass over the block stays cheap.
SCORE_CELLS = 1 << 23


@dataclass
class Request:
    """One `recommend` call as the command line states it. `check` says what does not go together."""

    user: list[str] | None = None  # --user ids: an unknown one fails the request at once
    users_file: str | None = None  # --users FILE|-: a batch; unknown users are skipped and named at the end
    all_users: bool = False
    history: list[str] | None = None
    k: int = 10
    candidates_file: str | None = None
    include_seen: bool = False
    query: str | None = None
    query_weight: float = 1.0
    by: str | None = None
    use_index: bool | None = None
    engine: str = "local"
    output: Path | None = None

    def check(self) -> None:
        chosen = sum(bool(x) for x in (self.user, self.users_file, self.all_users))
        if chosen > 1:
            raise UsageError("give only one of --user, --users and --all-users")
        if chosen == 0 and self.history is None:
            raise UsageError("say whom to recommend for: --user ID, --users FILE|- or --all-users (or --history)")
        if self.users_file == "-" and self.candidates_file == "-":
            raise UsageError("--users and --candidates cannot both read stdin")
        if self.k < 1:
            raise UsageError("-k must be at least 1")
        if self.engine not in ("local", "spark"):
            raise UsageError(f"unknown engine {self.engine!r}; choose local or spark")
        if self.engine == "spark":
            if self.output is None:
                raise UsageError("--engine spark writes Parquet: give --output DIR")
            if self.query or self.history is not None or self.by is not None:
                raise UsageError("--engine spark does not support --query, --history or --by")
        elif self.output is not None:
            raise UsageError("--output is for --engine spark; the local engine writes to stdout")
        if self.by is not None and (self.query or self.candidates_file):
            raise UsageError("--by cannot be combined with --query or --candidates")

    def users(self) -> Iterable[str] | None:
        return read_ids(self.users_file, "user_id") if self.users_file else self.user

    def candidates(self) -> set[str] | None:
        return set(read_ids(self.candidates_file, "item_id")) if self.candidates_file else None


def read_ids(source: str, header: str) -> Iterator[str]:
    """Ids one per line (a header line `header` and extra CSV columns are ignored); `-` is stdin."""
    if source != "-" and Path(source).exists() and not Path(source).is_file():  # /dev/zero would never end
        raise InputError(f"{source} is not a regular file (a device, pipe or socket); to read a stream, pipe it into -")
    try:
        stream = sys.stdin if source == "-" else open(Path(source), encoding="utf-8-sig", newline="")  # noqa: SIM115
    except OSError as exc:
        raise InputError(f"cannot read ids from {source}: {exc.strerror}") from None
    try:
        # The first CSV field of each row, so ids that `recommend --format csv` quoted (commas, quotes) come back
        # exactly; a plain one-id-per-line file reads the same.
        for n, fields in enumerate(csv.reader(stream), start=1):
            value = fields[0].strip() if fields else ""
            if not value or (n == 1 and value == header):
                continue
            yield value
    except (csv.Error, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read ids from {source}: {exc}") from None
    finally:
        if stream is not sys.stdin:
            stream.close()


@dataclass
class Answer:
    """The rows of a request, streamed; `finish` (after the rows were consumed) fails for skipped users."""

    rows: Iterator[Recommendation]
    skipped: list[str]
    unscorable: list[str] = field(default_factory=list)

    def finish(self) -> None:
        # A batch serves everyone it can; the run still fails so a cron job notices.
        failures = []
        if self.skipped:
            failures.append(f"{len(self.skipped)} unknown user id(s) skipped (first: {self.skipped[0]!r})")
        if self.unscorable:
            failures.append(
                f"{len(self.unscorable)} user(s) could not be scored and got no rows (first: {self.unscorable[0]!r}):"
                " their scores are not finite numbers; check their event weights (`avrec delete interactions`)"
            )
        if failures:
            raise PartialFailureError(failures)


def serve(store: Store, settings: Settings, request: Request, progress: Progress | None = None) -> Answer:
    """`recommend` for a checked `Request` on the local engine (`--by` is `recommend_by`)."""
    request.check()
    query_scores = None
    if request.query:
        from avrec.search import query_scores_by_row

        query_scores = query_scores_by_row(store, settings, request.query) * request.query_weight
    skipped: list[str] = []
    unscorable: list[str] = []
    rows = recommend(
        store,
        users=request.users(),
        all_users=request.all_users,
        k=request.k,
        candidates=request.candidates(),
        include_seen=request.include_seen,
        history=request.history,
        query_scores=query_scores,
        use_index=request.use_index,
        progress=progress,
        skipped=skipped if request.users_file else None,
        unscorable=unscorable,
    )
    return Answer(rows, skipped, unscorable)


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
    unscorable: list[str] | None = None,
) -> Iterator[Recommendation]:
    """Top-k items per user, best first. Streams; users are scored `BLOCK` at a time.

    `history` serves one user the model has not seen from a list of item ids (fold-in, no retraining).
    `query_scores` (one number per model item) is added to every user's scores to steer the list.
    `use_index`: True takes candidates from the model's index (`avrec.serving.index`) and scores them exactly,
    False scores every item; None (default) uses the index on catalogs of `ANN_MIN_ITEMS` items or more
    (`ANN_BATCH_MIN_ITEMS` with `all_users`).
    Candidate pools and query steering are always scored exactly.
    Bad arguments and the first block's unknown ids raise here, before anything is yielded, so a caller
    never prints a partial answer for a request that fails at once. With `skipped` (a list to fill),
    unknown users are left out and appended there instead, with a warning: a batch job serves everyone
    it can and says who it could not. A user whose every score is not finite (events weighing more than
    any model can use, stored by an older avrec) gets no rows and is appended to `unscorable` (a list to
    fill) with a warning, so one bad user never empties the answer for everyone.
    """
    if k < 1:
        raise UsageError("-k must be at least 1")
    if served is None and history is None and candidates is None and query_scores is None and not all_users:
        # One known user whose events and attributes have not changed since the fit: served from the
        # vectors `fit` stored, without loading the model (and scipy) -- the same answer, sooner.
        one = list(users) if isinstance(users, (list, tuple)) else []
        warn = (progress or NullProgress()).warn
        quick = uservectors.recommend_one(store, one[0], k, include_seen, use_index, warn) if len(one) == 1 else None
        if quick is not None:
            return iter(quick)
    from avrec.serving.served import all_user_batches, candidate_mask, load_served, user_batch

    served = served or load_served(store)
    pool = candidate_mask(store, served, candidates, progress or NullProgress())
    bad = _Unscorable(unscorable, progress or NullProgress())
    exact_only = pool is not None or query_scores is not None
    ann = None
    if not exact_only and served.model.embeddings() is not None:
        warn = (progress or NullProgress()).warn
        ann = open_index(store, served.record.model_key, len(served.item_ids), use_index, warn, batch=all_users)
    if history is not None:
        folded = user_batch(store, served, list(users or [])[:1], history=history)
        return _rank(served, folded, k, pool, include_seen, query_scores, ann, bad)
    if all_users:
        everyone = store.user_ids()
        batches = all_user_batches(store, served, everyone, BLOCK)

        def stream_all() -> Iterator[Recommendation]:
            for batch in batches:
                yield from _rank(served, batch, k, pool, include_seen, query_scores, ann, bad)

        return stream_all()
    if users is not None:
        user_list: Iterable[str] = users
    else:
        raise UsageError("say whom to recommend for: --user, --users FILE or --all-users")
    if skipped is not None:
        user_list = _known_only(store, served, user_list, skipped, progress or NullProgress())
    blocks = blocks_of(user_list, BLOCK)
    first_ids = next(blocks, [])
    first = user_batch(store, served, first_ids) if first_ids else None

    def stream() -> Iterator[Recommendation]:
        if first is not None:
            yield from _rank(served, first, k, pool, include_seen, query_scores, ann, bad)
        for ids in blocks:
            yield from _rank(served, user_batch(store, served, ids), k, pool, include_seen, query_scores, ann, bad)

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


class _Unscorable:
    """Users left out because none of their scores is a finite number; each is warned about once."""

    def __init__(self, sink: list[str] | None, progress: Progress) -> None:
        self.sink = sink
        self.progress = progress

    def add(self, user_id: str) -> None:
        if self.sink is not None:
            self.sink.append(user_id)
        self.progress.warn(
            f"user {user_id!r} skipped: none of their scores is a finite number (events weighing more than a "
            "model can use?); see `avrec delete interactions --user`"
        )


def _rank(
    served: Served,
    batch: UserBatch,
    k: int,
    pool: np.ndarray | None,
    include_seen: bool,
    query_scores: np.ndarray | None,
    ann: InnerProductIndex | None,
    bad: _Unscorable,
) -> Iterator[Recommendation]:
    if ann is not None:
        yield from _rank_ann(served, batch, k, include_seen, ann, bad)
        return
    scorer = served.inner_product_top_k(SCORE_CELLS) if pool is None and query_scores is None else None
    if scorer is not None and not batch.unusable:
        embeddings = served.model.embeddings()
        assert embeddings is not None  # (the scorer exists)
        queries = embeddings[0](batch.histories, batch.rows, batch.features)
        if scorer.handles(queries):  # (else: the general path below masks what is not finite)
            cols, scores, counts = scorer.select(queries, k, None if include_seen else batch.seen)
            yield from selected_rows(batch.user_ids, cols, scores, counts, served.item_ids)
            return
    n_items = len(served.item_ids)
    step = max(1, SCORE_CELLS // max(n_items, 1))
    for start in range(0, len(batch.user_ids), step):
        stop = start + step
        features = batch.features[start:stop] if batch.features is not None else None
        scores = np.asarray(served.model.score(batch.histories[start:stop], batch.rows[start:stop], features))
        if query_scores is not None:
            scores = scores.astype(np.float64) + query_scores[None, :]
        elif not scores.flags.writeable:
            scores = scores.copy()
        ids = batch.user_ids[start:stop]
        # One sum per row says whether all its scores are finite (NaN and inf propagate); only a block
        # where some are not pays for the element-wise test.
        finite = None if np.isfinite(scores.sum(axis=1)).all() else np.isfinite(scores)
        for r, uid in enumerate(ids):
            if start + r in batch.unusable or (finite is not None and n_items and not finite[r].any()):
                bad.add(uid)
                if finite is None:
                    finite = np.ones(scores.shape, dtype=bool)
                finite[r] = False
        allowed_scores(scores, pool=pool, seen=None if include_seen else batch.seen[start:stop], finite=finite)
        yield from recommendations(ids, scores, k, served.item_ids, served.id_rank)


def _rank_ann(
    served: Served, batch: UserBatch, k: int, include_seen: bool, ann: InnerProductIndex, bad: _Unscorable
) -> Iterator[Recommendation]:
    embeddings = served.model.embeddings()
    if embeddings is None:
        return
    user_side, items = embeddings
    queries = user_side(batch.histories, batch.rows, batch.features)
    seen_rows = batch.seen
    for r, uid in enumerate(batch.user_ids):
        if r in batch.unusable or not np.all(np.isfinite(queries[r])):
            bad.add(uid)
            continue
        seen = () if include_seen else seen_rows.indices[seen_rows.indptr[r] : seen_rows.indptr[r + 1]].tolist()
        rows, scores = candidates(queries[r], items, k, len(seen), ann)
        yield from best_for(uid, rows, scores, k, seen, served.item_ids)


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
