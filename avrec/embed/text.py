"""The text pass of `embed`: each item's text (metadata, transcript, visual labels) through SBERT.

An item's text vector is the unit-length weighted mean of two SBERT vectors: one over its short metadata
(title, tags, what its frames show) and one over its long text (description, transcript), when it has one.
One vector over everything let a long description or transcript drown the title and tags (and could push
the tags past SBERT's maximum sequence length); on ml-100k cold items the split vector ranks better
(benchmarks/text_split.py, validation splits).

What the frames show (ImageNet class names) is an item's text only when it has no other text: then it is
what `search` and the model's text part can know of it. Next to a title or description the labels only
add noise to the recommender: with each ml-100k poster's labels ("comic book", "lipstick") in its text,
text + posters ranked cold items 0.99x text alone on 16 validation splits of benchmarks/poster_gain.py
(10th percentile 0.93), against 1.05x without them. `search` still matches every item's labels one by one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from avrec.embed.run import RunBase
from avrec.store import VectorRecord
from avrec.store.media_queries import TextSource, text_sources

SHORT_TEXT_WEIGHT = 0.8
"""Weight of the short-metadata vector against the long-text one (chosen on validation splits)."""


@dataclass(frozen=True)
class ItemTexts:
    """The two texts an item's text vector is made of; either may be empty."""

    short: str
    long: str

    def __bool__(self) -> bool:
        return bool(self.short or self.long)


def item_texts(source: TextSource) -> ItemTexts:
    """(short, long): title and tags (visual labels instead when the item has no other text); description,
    then transcript."""
    short = [source.title.strip()] if source.title and source.title.strip() else []
    tags = [t.strip() for t in source.tags if t and t.strip()]
    if tags:
        short.append("Tags: " + ", ".join(tags))
    long = [p.strip() for p in (source.description, source.transcript) if p and p.strip()]
    if source.visual_labels and not short and not long:
        # ImageNet class names of what the frames show: an item with no words is known by its pictures.
        short.append("Frames show: " + ", ".join(source.visual_labels))
    return ItemTexts(". ".join(short), ". ".join(long))


def text_hash(texts: ItemTexts) -> str:
    """Source hash of a text vector: covers both texts and the weight that mixes them."""
    key = f"short/long {SHORT_TEXT_WEIGHT:g}\x00{texts.short}\x00{texts.long}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def mix_text_vectors(short: np.ndarray, long: np.ndarray, weight: float = SHORT_TEXT_WEIGHT) -> np.ndarray:
    """Unit-length rows of weight * short + (1 - weight) * long; where one side is a zero row (the item has
    no such text), the other side alone."""
    has_short = np.linalg.norm(short, axis=1, keepdims=True) > 0
    has_long = np.linalg.norm(long, axis=1, keepdims=True) > 0
    mixed = (
        has_short * np.where(has_long, weight, 1.0) * short + has_long * np.where(has_short, 1.0 - weight, 1.0) * long
    )
    return (mixed / np.maximum(np.linalg.norm(mixed, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def encode_item_texts(encode: Callable[[list[str]], np.ndarray], texts: Sequence[ItemTexts]) -> np.ndarray:
    """Text vectors of `texts`, with `encode` (strings -> unit rows): each side encoded where the item has
    it, then the two mixed by `mix_text_vectors`."""
    sides = []
    for side in ("short", "long"):
        rows = [i for i, t in enumerate(texts) if getattr(t, side)]
        sides.append((rows, np.asarray(encode([getattr(texts[i], side) for i in rows]), np.float32) if rows else None))
    dim = next(v.shape[1] for _, v in sides if v is not None)
    short, long = (np.zeros((len(texts), dim), np.float32) for _ in range(2))
    for (rows, vecs), out in zip(sides, (short, long), strict=True):
        if vecs is not None:
            out[rows] = vecs
    return mix_text_vectors(short, long)


class TextPass(RunBase):
    """Text vectors of every item whose text changed or that has none for the current model."""

    def text(self) -> None:
        current = self.models["text"]
        state = self.store.vector_state("text")
        todo: list[tuple[str, ItemTexts, str, bool]] = []
        for source in text_sources(self.store):
            texts = item_texts(source)
            if not texts:
                continue
            digest = text_hash(texts)
            if state.get(source.item_id) == (current, digest):
                self.report.up_to_date["text"] += 1
                continue
            todo.append((source.item_id, texts, digest, bool(source.transcript)))
        self.report.models["text"] = current
        if not todo:
            return
        from avrec.encoders import load_text_encoder

        encoder = load_text_encoder(self.settings, device=self.device)
        self.report.models["text"] = encoder.model_id
        self.progress.start("text", len(todo))
        step = max(self.batch_size, 64)
        for start in range(0, len(todo), step):
            chunk = todo[start : start + step]
            vecs = encode_item_texts(encoder.encode_batch, [t[1] for t in chunk])
            self.store.put_vectors(
                [
                    VectorRecord(
                        item_id,
                        "text",
                        encoder.model_id,
                        vec,
                        digest,
                        {"chars": len(texts.short) + len(texts.long), "transcript": has_transcript},
                    )
                    for (item_id, texts, digest, has_transcript), vec in zip(chunk, vecs, strict=True)
                ]
            )
            self.report.vectors["text"] += len(chunk)
            self.progress.advance("text", len(chunk))
