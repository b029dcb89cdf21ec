"""One recommendation row and the one top-k selection every ranking in avrec shares (numpy only).

`best_first` selects the k best of each row (it is what `avrec.model.metrics.top_k` ranks evaluation
lists with). `allowed_scores` decides what may be recommended (a finite score, in the candidate pool, not
seen) for a block of users and `select_block` chooses each user's k best, ties broken by item id: one
argpartition and one lexsort per block (`recommend` for many users). `rank_scores` is the same for one
row (Spark), `top_k` for a user's candidate rows, `best_for` for the candidates of a user vector
(`avrec.serving.index.candidates`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    import scipy.sparse as sp


class Recommendation(NamedTuple):
    """One row of `recommend` (a named tuple: batches make millions of them)."""

    user_id: str
    item_id: str
    rank: int
    score: float

    def as_dict(self) -> dict[str, object]:
        return {"user_id": self.user_id, "item_id": self.item_id, "rank": self.rank, "score": self.score}


def best_first(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the `k` highest scores of each row (2-D), highest first; ties in selection order."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def id_order(item_ids: Sequence[str] | np.ndarray) -> np.ndarray:
    """Each item's position in item-id order: what ties between equal scores are broken by."""
    ids = [str(i) for i in item_ids]
    rank = np.empty(len(ids), dtype=np.int64)
    rank[sorted(range(len(ids)), key=ids.__getitem__)] = np.arange(len(ids))
    return rank


#: `select_block` screens a row's items in groups of this many (one maximum each) before selecting.
GROUP = 64


def select_block(scores: np.ndarray, k: int, id_rank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The columns of each row's k best scores, best first, ties by item id (`id_rank`, see `id_order`),
    and how many each row has. `scores` (users x items) holds -inf where an item may not be recommended
    and no NaN or +inf (`allowed_scores` makes it so); a row with fewer than k allowed items has fewer
    columns, the rest of its row is -1.

    The items are screened in groups of `GROUP` (every (m // GROUP)-th item, so a group's maxima over a
    block are element-wise maxima of contiguous runs): the k-th largest group maximum T of a row is a
    lower bound of its k-th best score, so its k best (and every score tied with the k-th) lie in the
    groups whose maximum reaches T; only those (and the items past the last whole group) are
    partitioned. A row is resolved on its own only when its k-th best score is tied with one left out,
    so each row is the same selection however the users are blocked."""
    n, m = scores.shape
    k = min(k, m)
    if n == 0 or k == 0:
        return np.zeros((n, 0), dtype=np.int64), np.zeros(n, dtype=np.int64)
    groups = m // GROUP
    if groups > 4 * k:
        # Group g is every `groups`-th item from g: the maxima are element-wise maxima of GROUP contiguous
        # runs, one vectorised pass.
        gmax = scores[:, : groups * GROUP].reshape(n, GROUP, groups).max(axis=1)
        floor = np.partition(gmax, groups - k, axis=1)[:, groups - k]
        wide = int((gmax >= floor[:, None]).sum(axis=1).max())
        if 4 * wide < groups:
            best = np.argpartition(gmax, groups - wide, axis=1)[:, groups - wide :]
            cols = (best[:, :, None] + groups * np.arange(GROUP)).reshape(n, wide * GROUP)
            if groups * GROUP < m:
                cols = np.hstack([cols, np.tile(np.arange(groups * GROUP, m), (n, 1))])
            picked, counts = _select(np.take_along_axis(scores, cols, axis=1), k, id_rank[cols])
            return np.where(picked >= 0, np.take_along_axis(cols, np.maximum(picked, 0), axis=1), -1), counts
    return _select(scores, k, np.broadcast_to(id_rank, scores.shape))


def _select(scores: np.ndarray, k: int, ranks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`select_block` on every column of `scores`; `ranks` holds the id order of each entry (same shape)."""
    n, m = scores.shape
    part = np.argpartition(scores, m - k, axis=1)[:, m - k :] if k < m else np.tile(np.arange(m), (n, 1))
    vals = np.take_along_axis(scores, part, axis=1)
    if k < m:
        kth = vals.min(axis=1)
        ties = np.flatnonzero(
            ((scores == kth[:, None]).sum(axis=1) > (vals == kth[:, None]).sum(axis=1)) & (kth > -np.inf)
        )
        for r in ties.tolist():  # the boundary falls inside a run of equal scores: lowest item ids first
            row = scores[r]
            above = np.flatnonzero(row > kth[r])
            tied = np.flatnonzero(row == kth[r])
            tied = tied[np.argsort(ranks[r, tied], kind="stable")]
            part[r] = np.concatenate([above, tied[: k - len(above)]])
            vals[r] = row[part[r]]
    order = np.lexsort((np.take_along_axis(ranks, part, axis=1), -vals))
    cols = np.take_along_axis(part, order, axis=1)
    allowed = np.take_along_axis(vals, order, axis=1) > -np.inf
    cols[~allowed] = -1
    return cols, allowed.sum(axis=1)


def allowed_scores(
    scores: np.ndarray,
    *,
    pool: np.ndarray | None = None,
    seen: sp.csr_matrix | None = None,
    finite: np.ndarray | None,
) -> np.ndarray:
    """`scores` (users x items, changed in place and returned) with -inf wherever an item may not be
    recommended: a score that is not a finite number, an item outside `pool` (a boolean mask over the
    items), an item the user has seen (`seen`: a users x items sparse matrix whose pattern is each
    user's items). `finite` is `np.isfinite(scores)` when the caller has it already, None when the caller
    knows every score is finite."""
    if finite is not None:
        scores[~finite] = -np.inf
    if pool is not None:
        scores[:, ~pool] = -np.inf
    if seen is not None and seen.nnz:
        scores[np.repeat(np.arange(seen.shape[0]), np.diff(seen.indptr)), seen.indices] = -np.inf
    return scores


def recommendations(
    user_ids: Sequence[str], scores: np.ndarray, k: int, item_ids: Sequence[str] | np.ndarray, id_rank: np.ndarray
) -> Iterator[Recommendation]:
    """Each user's top k of a block of `allowed_scores`, as rows (`select_block`)."""
    cols, counts = select_block(scores, k, id_rank)
    return selected_rows(user_ids, cols, np.take_along_axis(scores, np.maximum(cols, 0), axis=1), counts, item_ids)


def selected_rows(
    user_ids: Sequence[str],
    cols: np.ndarray,
    scores: np.ndarray,
    counts: np.ndarray,
    item_ids: Sequence[str] | np.ndarray,
) -> Iterator[Recommendation]:
    """Rows of a selection: user r's best `counts[r]` items are `cols[r]` (item columns) with `scores[r]`."""
    picked = scores.astype(np.float64).tolist()
    for r, (uid, n) in enumerate(zip(user_ids, counts.tolist(), strict=True)):
        for rank, (col, score) in enumerate(zip(cols[r, :n].tolist(), picked[r][:n]), start=1):
            yield Recommendation(uid, str(item_ids[col]), rank, score)


#: `InnerProductTopK` scores this many of the longest item vectors for every user before it bounds the rest.
HEAD_ITEMS = 4096
#: Items per group whose maximum `InnerProductTopK` takes to bound each user's k-th best score from below.
FLOOR_GROUP = 8
#: Relative slack on the bound |<q, x>| <= |q| |x|: far above the float32 rounding of a dot product.
BOUND_SLACK = 1e-3
#: Largest |q| |x| scored through `InnerProductTopK`: beyond it a float32 product may overflow.
MAX_BOUND = 1e36


class InnerProductTopK:
    """Each user's k best items by <user vector, item vector>: the same selection as `select_block` over
    every item's score (ties by item id), with most products never computed.

    Items are taken longest vector first. The k-th best allowed score T among the first `HEAD_ITEMS` is a
    lower bound of the user's k-th best, and an item x can reach T only when |q| |x| >= T (Cauchy-Schwarz),
    so each user is scored over just the prefix of items long enough to reach its T; users are grouped by
    prefixes doubling in length, each group in one matrix product. In a factor model popular items get
    the long vectors, so on a power-law catalog most users need a few percent of the products. `cells`
    caps the scores held at once (users x items)."""

    def __init__(self, items: np.ndarray, id_rank: np.ndarray, cells: int) -> None:
        norms = np.linalg.norm(np.asarray(items, dtype=np.float64), axis=1)
        self.order = np.argsort(-norms, kind="stable")
        self.items = np.ascontiguousarray(np.asarray(items)[self.order], dtype=np.float32)
        self.norms = norms[self.order]
        self.position = np.empty(len(self.order), dtype=np.int64)
        self.position[self.order] = np.arange(len(self.order))
        self.rank = np.asarray(id_rank)[self.order]
        self.cells = cells
        self.finite = bool(np.isfinite(self.norms).all())

    def handles(self, queries: np.ndarray) -> bool:
        """True when every score of `queries` is a finite float32 (finite vectors, no product that overflows):
        `select` needs nothing masked but what is not allowed."""
        if not self.finite or not len(self.norms):
            return False
        top = np.linalg.norm(np.asarray(queries, dtype=np.float64), axis=1)
        return bool(np.isfinite(top).all() and float(top.max(initial=0.0)) * float(self.norms[0]) < MAX_BOUND)

    def select(
        self, queries: np.ndarray, k: int, seen: sp.csr_matrix | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(item columns, scores, counts) of each query's k best items, best first, as `select_block`
        chooses them over every item; `seen` (queries x items, its pattern) is never recommended."""
        import scipy.sparse as sp

        q = np.ascontiguousarray(queries, dtype=np.float32)
        n, m = len(q), len(self.items)
        k = min(k, m)
        if seen is not None and seen.nnz:
            rows = np.repeat(np.arange(n), np.diff(seen.indptr))
            ordered = sp.csr_matrix((np.ones(len(rows), bool), (rows, self.position[seen.indices])), shape=(n, m))
        else:
            ordered = None
        head = min(HEAD_ITEMS, m)
        first = q @ self.items[:head].T
        allowed_scores(first, seen=None if ordered is None else ordered[:, :head], finite=None)
        need = np.full(n, m, dtype=np.int64)
        if k and head >= FLOOR_GROUP * k and head % FLOOR_GROUP == 0:
            # The k-th best of the maxima of groups of FLOOR_GROUP items is at most the k-th best score (k
            # groups hold an item at least that high): a lower bound, found at a fraction of the work.
            groups = first.reshape(n, head // FLOOR_GROUP, FLOOR_GROUP).max(axis=2)
            floor = np.partition(groups, groups.shape[1] - k, axis=1)[:, groups.shape[1] - k].astype(np.float64)
            length = np.linalg.norm(q.astype(np.float64), axis=1)
            bounded = (floor > 0) & (length > 0)
            reach = floor[bounded] / (length[bounded] * (1.0 + BOUND_SLACK))
            need[bounded] = np.searchsorted(-self.norms, -reach, side="right")  # items with |x| >= reach
        widths = [head]
        while widths[-1] < m:
            widths.append(min(2 * widths[-1], m))
        level = np.searchsorted(np.asarray(widths), np.maximum(need, head))
        cols = np.full((n, k), -1, dtype=np.int64)
        scores = np.zeros((n, k), dtype=np.float32)
        counts = np.zeros(n, dtype=np.int64)
        for j, width in enumerate(widths):
            members = np.flatnonzero(level == j)
            step = max(1, self.cells // width)
            for start in range(0, len(members), step):
                who = members[start : start + step]
                block = first[who]
                if width > head:
                    tail = allowed_scores(
                        q[who] @ self.items[head:width].T,
                        seen=None if ordered is None else ordered[who][:, head:width],
                        finite=None,
                    )
                    block = np.hstack([block, tail])
                picked, counts[who] = select_block(block, k, self.rank[:width])
                scores[who] = np.take_along_axis(block, np.maximum(picked, 0), axis=1)
                cols[who] = np.where(picked >= 0, self.order[np.maximum(picked, 0)], -1)
        return cols, scores, counts


def rank_scores(
    uid: str,
    row: np.ndarray,
    k: int,
    item_ids: Sequence[str] | np.ndarray,
    *,
    pool: np.ndarray | None = None,
    seen: Collection[int] = (),
) -> Iterator[Recommendation]:
    """Top k of one user's scores over every item (`row`, float64): only finite scores, items in `pool`
    (a boolean mask) if given, never an item in `seen` (rows the user interacted with at all)."""
    allowed = np.isfinite(row)
    if pool is not None:
        allowed &= pool
    if seen:
        allowed[list(seen)] = False
    rows = np.flatnonzero(allowed)
    return top_k(uid, row[rows], rows, k, item_ids)


def top_k(
    uid: str, scores: np.ndarray, rows: np.ndarray, k: int, item_ids: Sequence[str] | np.ndarray
) -> Iterator[Recommendation]:
    """The best k of `rows` (item rows) by `scores` (theirs, same order), best first; ties by item id.
    Only finite scores count. Ids are compared only for the scores that reach the k-th best."""
    values = np.asarray(scores, dtype=np.float64)
    values = np.where(np.isfinite(values), values, -np.inf)
    take = min(k, values.size)
    if take == 0:
        return iter(())
    kth = np.partition(values, values.size - take)[values.size - take]
    reach = np.flatnonzero(values >= kth) if kth > -np.inf else np.flatnonzero(values > -np.inf)
    named = sorted((-float(values[p]), str(item_ids[rows[p]])) for p in reach.tolist())[:take]
    return (Recommendation(uid, item, rank, -neg) for rank, (neg, item) in enumerate(named, start=1))


def best_for(
    uid: str,
    rows: np.ndarray,
    scores: np.ndarray,
    k: int,
    seen: Collection[int],
    item_ids: Sequence[str] | np.ndarray,
) -> Iterator[Recommendation]:
    """Top k of one user vector's candidates (`rows` with their exact `scores`, from
    `avrec.serving.index.candidates`), `seen` rows left out."""
    keep = np.isfinite(scores)
    if seen:
        keep &= ~np.isin(rows, list(seen))
    return top_k(uid, scores[keep].astype(np.float64), rows[keep], k, item_ids)
