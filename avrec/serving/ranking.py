"""One recommendation row and the one top-k selection every ranking in avrec shares (numpy only).

`best_first` selects the k best of each row (it is what `avrec.model.metrics.top_k` ranks evaluation
lists with); `top_k` turns one user's selection into rows, ties broken by item id; `rank_scores` decides
what may be recommended (a finite score, in the candidate pool, not seen) for the local engine and Spark
alike; `best_for` does the same for the candidates of a user vector (`avrec.serving.index.candidates`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Recommendation:
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
    """The best k of `rows` (item rows) by `scores` (theirs, same order), best first; ties by item id."""
    if rows.size == 0:
        return
    take = min(k, rows.size)
    part = best_first(scores[None, :], take)[0] if take < rows.size else np.arange(rows.size)
    named = [(float(scores[p]), str(item_ids[rows[p]])) for p in part.tolist()]
    named.sort(key=lambda pair: (-pair[0], pair[1]))
    for rank, (score, item) in enumerate(named, start=1):
        yield Recommendation(uid, item, rank, score)


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
