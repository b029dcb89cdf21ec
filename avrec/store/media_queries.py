"""Read queries for embedding and search: frames across items, text sources. Functions taking a Store."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from avrec.store.db import Store
from avrec.store.vectors import decode_vector


@dataclass
class TextSource:
    """What an item's text vector is made of."""

    item_id: str
    title: str | None
    description: str | None
    tags: list[str] = field(default_factory=list)
    transcript: str | None = None
    visual_labels: list[str] = field(default_factory=list)


def text_sources(store: Store) -> list[TextSource]:
    """Every item's title, description, tags, transcript text (with speech only) and visual labels."""
    labels: dict[str, list[str]] = {}
    for item_id, label in store.conn.execute("SELECT item_id, label FROM visual_labels ORDER BY item_id, rank"):
        labels.setdefault(item_id, []).append(label)
    cur = store.conn.execute(
        "SELECT i.item_id, i.title, i.description, i.tags, t.text FROM items i "
        "LEFT JOIN transcripts t ON t.item_id = i.item_id AND t.has_speech ORDER BY i.item_id"
    )
    return [TextSource(r[0], r[1], r[2], json.loads(r[3] or "[]"), r[4], labels.get(r[0], [])) for r in cur]


def frame_matrix(store: Store, model_id: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(item id per frame, timestamps, n x dim matrix) of every stored frame vector of one encoder."""
    cur = store.conn.execute(
        "SELECT item_id, ts, dim, vec FROM frames WHERE model_id = ? ORDER BY item_id, idx", (model_id,)
    )
    ids: list[str] = []
    times: list[float] = []
    vecs: list[np.ndarray] = []
    for item_id, ts, dim, blob in cur:
        ids.append(item_id)
        times.append(float(ts))
        vecs.append(decode_vector(blob, dim))
    if not vecs:
        return [], np.zeros(0, dtype=np.float64), np.zeros((0, 0), dtype=np.float32)
    return ids, np.asarray(times), np.vstack(vecs)


def frame_model_ids(store: Store) -> dict[str, int]:
    """How many frames each encoder has stored."""
    cur = store.conn.execute("SELECT model_id, count(*) FROM frames GROUP BY model_id")
    return {str(m): int(n) for m, n in cur}


def item_vector(store: Store, item_id: str, modality: str) -> tuple[str, np.ndarray] | None:
    """(model id, vector) of one item's vector of one modality, or None."""
    row = store.conn.execute(
        "SELECT model_id, dim, vec FROM vectors WHERE item_id = ? AND modality = ?", (item_id, modality)
    ).fetchone()
    return None if row is None else (str(row[0]), decode_vector(row[2], row[1]))


def vector_metas(store: Store, modality: str, item_ids: list[str]) -> dict[str, dict[str, object]]:
    """The `meta` of some items' vectors of one modality."""
    out: dict[str, dict[str, object]] = {}
    for start in range(0, len(item_ids), 500):
        chunk = item_ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        sql = f"SELECT item_id, meta FROM vectors WHERE modality = ? AND item_id IN ({marks})"
        cur = store.conn.execute(sql, (modality, *chunk))
        out.update({r[0]: json.loads(r[1]) for r in cur})
    return out


def visual_label_rows(store: Store) -> list[tuple[str, str, float, float]]:
    """(item id, label, score, timestamp of its clearest frame) of every stored visual label."""
    cur = store.conn.execute("SELECT item_id, label, score, ts FROM visual_labels ORDER BY item_id, rank")
    return [(str(a), str(b), float(c), float(d)) for a, b, c, d in cur]
