"""The text pass of `embed`: each item's text (metadata, transcript, visual labels) through SBERT."""

from __future__ import annotations

import hashlib

from avrec.embed.run import RunBase
from avrec.store import VectorRecord
from avrec.store.media_queries import TextSource, text_sources


def item_text(source: TextSource) -> str:
    """The text an item's text vector encodes: title, description, tags, then its transcript."""
    parts = [p.strip() for p in (source.title, source.description) if p and p.strip()]
    tags = [t.strip() for t in source.tags if t and t.strip()]
    if tags:
        parts.append("Tags: " + ", ".join(tags))
    if source.transcript and source.transcript.strip():
        parts.append(source.transcript.strip())
    if source.visual_labels:
        # ImageNet class names of what the frames show: lets text search find a clip by its pictures.
        parts.append("Frames show: " + ", ".join(source.visual_labels))
    return ". ".join(parts)


def text_hash(text: str) -> str:
    """Source hash of a text vector."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class TextPass(RunBase):
    """Text vectors of every item whose text changed or that has none for the current model."""

    def text(self) -> None:
        current = self.models["text"]
        state = self.store.vector_state("text")
        todo: list[tuple[str, str, str, bool]] = []
        for source in text_sources(self.store):
            text = item_text(source)
            if not text:
                continue
            digest = text_hash(text)
            if state.get(source.item_id) == (current, digest):
                self.report.up_to_date["text"] += 1
                continue
            todo.append((source.item_id, text, digest, bool(source.transcript)))
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
            vecs = encoder.encode_batch([t[1] for t in chunk])
            self.store.put_vectors(
                [
                    VectorRecord(
                        item_id,
                        "text",
                        encoder.model_id,
                        vec,
                        digest,
                        {"chars": len(text), "transcript": has_transcript},
                    )
                    for (item_id, text, digest, has_transcript), vec in zip(chunk, vecs, strict=True)
                ]
            )
            self.report.vectors["text"] += len(chunk)
            self.progress.advance("text", len(chunk))
