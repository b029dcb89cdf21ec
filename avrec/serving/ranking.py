"""One recommendation row and the top-k selection every `recommend` path shares (numpy only)."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from avrec.serving.index import ANN_OVERSAMPLE, InnerProductIndex


@dataclass(frozen=True)
class Recommendation:
    user_id: str
    item_id: str
    rank: int
    score: float

    def as_dict(self) -> dict[str, object]:
        return {"user_id": self.user_id, "item_id": self.item_id, "rank": self.rank, "score": self.score}


def top_k(
    uid: str, scores: np.ndarray, rows: np.ndarray, k: int, item_ids: Sequence[str] | np.ndarray
) -> Iterator[Recommendation]:
    """The best k of `rows` (item rows) by `scores` (theirs, same order), best first; ties by item id."""
    if rows.size == 0:
        return
    take = min(k, rows.size)
    part = np.argpartition(-scores, take - 1)[:take] if take < rows.size else np.arange(rows.size)
    named = [(float(scores[p]), str(item_ids[rows[p]])) for p in part.tolist()]
    named.sort(key=lambda pair: (-pair[0], pair[1]))
    for rank, (score, item) in enumerate(named, start=1):
        yield Recommendation(uid, item, rank, score)


def best_for(
    uid: str,
    query: np.ndarray,
    items: np.ndarray,
    k: int,
    seen: Collection[int],
    item_ids: Sequence[str] | np.ndarray,
    index: InnerProductIndex | None = None,
) -> Iterator[Recommendation]:
    """Top k items for one user vector (score = items @ query), `seen` rows left out: every item scored,
    or with `index` its candidates re-scored exactly."""
    if index is not None:
        rows, scores = index.search(query, items, (k + len(seen)) * ANN_OVERSAMPLE)
    else:
        rows, scores = np.arange(len(items)), np.asarray(items @ query)
    keep = np.isfinite(scores)
    if seen:
        keep &= ~np.isin(rows, list(seen))
    return top_k(uid, scores[keep].astype(np.float64), rows[keep], k, item_ids)
