"""The visual pass of `embed`: frames sampled (per shot or by the scene score) and decoded ahead, encoded
in batches across items, pooled per item, with thumbnails, descriptor traits and visual labels."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from avrec.embed.run import Decoded, Prefetch, RunBase
from avrec.encoders.visual import DESCRIPTOR_MODEL_ID, ITEM_FEATURES, DescriptorEncoder
from avrec.errors import MediaError
from avrec.store import FrameRecord, MediaRecord, VectorRecord


@dataclass
class _VisualItem:
    media: MediaRecord
    frames: list[Any]
    thumbs: list[bytes | None]
    stats: dict[str, float]
    vectors: list[np.ndarray | None]
    remaining: int
    probs: list[np.ndarray | None] = field(default_factory=list)
    traits: np.ndarray | None = None


def _visual_rank(model_id: str) -> int:
    """How much a visual model understands: CLIP > ImageNet > weight-free descriptors."""
    if model_id.startswith("clip:"):
        return 2
    return 1 if model_id.startswith("imagenet:") else 0


class VisualPass(RunBase):
    """Visual vectors, frames and labels of every item with video (or an image) that lacks a current one."""

    _shots: Any = None  # the shot detector of this run, if any
    _traits = False  # store the weight-free descriptors as traits next to a model's vector

    def visual(self) -> None:
        current = self.models["visual"]
        state = self.store.vector_state("visual")
        todo: list[MediaRecord] = []
        for media in self.store.iter_media():
            if not media.has_video:
                continue
            stored = state.get(media.item_id)
            if (
                stored is not None
                and stored[1] == media.sha256
                and (stored[0] == current or _visual_rank(stored[0]) > _visual_rank(current))
            ):
                self.report.up_to_date["visual"] += 1
                continue
            todo.append(media)
        if not todo:
            self.report.models["visual"] = current
            return
        from avrec.encoders import load_visual_encoder

        # ImageNet (onnxruntime) and the descriptors need no torch device: resolve it only for CLIP.
        device = self.device if current.startswith("clip:") else "cpu"
        encoder, why = load_visual_encoder(self.settings, device=device)
        if why:
            self.warn(why)
        self._shots = self._shot_detector(todo)
        # The weight-free descriptors stay as named traits next to a model's vector (computed while decoding).
        self._traits = encoder.model_id != DESCRIPTOR_MODEL_ID
        self.report.models["visual"] = encoder.model_id
        self.progress.start("visual", len(todo))
        size = int(getattr(encoder, "image_size", 224))

        def load(media: MediaRecord) -> Decoded:
            problem = self._check_file(media)
            if problem:
                return Decoded(media, error=problem)
            try:
                return Decoded(media, self._sample(media, size))
            except MediaError as exc:
                return Decoded(media, error=str(exc))

        open_items: deque[_VisualItem] = deque()
        batch: list[tuple[_VisualItem, int]] = []

        labelled = hasattr(encoder, "encode_labelled")

        def flush() -> None:
            if not batch:
                return
            frames = [item.frames[i].rgb for item, i in batch]
            if labelled:
                vecs, probs = encoder.encode_labelled(frames)  # type: ignore[attr-defined]
                for (item, i), p in zip(batch, probs, strict=True):
                    item.probs[i] = p
            else:
                vecs = encoder.encode_batch(frames)
            for (item, i), vec in zip(batch, vecs, strict=True):
                item.vectors[i] = vec
                item.remaining -= 1
            batch.clear()
            while open_items and open_items[0].remaining == 0:
                self._finish_visual(open_items.popleft(), encoder)

        decoded = Prefetch(load, todo, self.workers, 2 * self.workers + 1)
        for done in decoded:
            if done.error is not None:
                self.fail(done.media.item_id, done.error)
                self.progress.advance("visual")
                continue
            frames, thumbs, stats, traits = done.payload
            item = _VisualItem(
                done.media, frames, thumbs, stats, [None] * len(frames), len(frames), [None] * len(frames), traits
            )
            open_items.append(item)
            for i in range(len(frames)):
                batch.append((item, i))
                if len(batch) >= self.batch_size:
                    flush()
            if batch and not decoded.next_ready():
                flush()  # the next item is still decoding: keep the model busy meanwhile
        flush()

    def _shot_detector(self, todo: list[MediaRecord]) -> Any:
        """TransNetV2 when `shot_method` picks it (None: sample by the ffmpeg scene score), warning once."""
        from avrec.encoders.shots import ShotDetector, shot_method, transnet_available
        from avrec.media.shots import MAX_SHOT_SECONDS

        choice = self.settings.shots or "auto"
        # an explicit --device cpu needs no torch import to know there is no GPU
        device = "cpu" if self.settings.device == "cpu" else self.device
        method, why = shot_method(choice, device, transnet_available())
        videos = [m for m in todo if m.probe.get("kind") != "image" and (m.duration or 0.0) <= MAX_SHOT_SECONDS]
        if method == "scene" or not videos:
            if why and videos:
                self.warn(why)
            return None
        from avrec.encoders.base import set_threads

        set_threads(self.settings.threads)
        detector = ShotDetector(device=self.device)
        self.report.models["shots"] = detector.model_id
        return detector

    def _sample(
        self, media: MediaRecord, size: int
    ) -> tuple[list[Any], list[bytes | None], dict[str, float], np.ndarray | None]:
        """Runs in a worker thread: decode frames, make thumbnails and (next to a model) the descriptor traits."""
        from avrec.media.frames import load_image, sample_frames, thumbnail_jpeg

        kind = media.probe.get("kind")
        if kind == "image":
            frames = [load_image(media.path, short_side=size, width=media.width, height=media.height)]
            stats = {"motion": 0.0, "cut_rate": 0.0, "scene_frame_share": 0.0}
        else:
            from avrec.media.shots import MAX_SHOT_SECONDS, sample_shots

            if self._shots is not None and (media.duration or 0.0) <= MAX_SHOT_SECONDS:
                sample = sample_shots(
                    media.path,
                    self._shots.cuts,
                    fps=media.fps,
                    duration=media.duration,
                    width=media.width,
                    height=media.height,
                    max_frames=self.max_frames,
                    short_side=size,
                )
            else:
                sample = sample_frames(
                    media.path,
                    duration=media.duration,
                    width=media.width,
                    height=media.height,
                    max_frames=self.max_frames,
                    short_side=size,
                    scene_threshold=self.scene_threshold,
                )
            frames = sample.frames
            per_shot = bool(frames) and frames[0].kind == "shot"
            changes = sample.scene_changes if per_shot else sum(f.kind == "scene" for f in frames)
            stats = {
                "motion": sample.motion,
                "cut_rate": sample.cut_rate,
                "scene_changes": float(sample.scene_changes),
                "decoded_frames": float(sample.decoded_frames),
                # Scene-score sampling: share of sampled frames that are scene changes; per-shot sampling
                # (every frame has kind "shot"): shot changes per sampled frame, at most 1.
                "scene_frame_share": min(1.0, changes / max(len(frames), 1)),
            }
        thumbs: list[bytes | None] = [thumbnail_jpeg(f.rgb) for f in frames]
        traits = None
        if self._traits:
            descriptors = DescriptorEncoder()
            # Statistics of colour and layout need few pixels: a quarter of the frame keeps this cheap.
            traits = descriptors.pool(descriptors.encode_batch([f.rgb[::2, ::2] for f in frames]), stats)
        return frames, thumbs, stats, traits

    def _finish_visual(self, item: _VisualItem, encoder: Any) -> None:
        media = item.media
        mat = np.vstack([v for v in item.vectors if v is not None]).astype(np.float32)
        records = [
            FrameRecord(i, float(f.ts), f.kind, encoder.model_id, mat[i], item.thumbs[i])
            for i, f in enumerate(item.frames)
        ]
        pooled = encoder.pool(mat, item.stats)
        meta: dict[str, Any] = {k: round(float(v), 5) for k, v in item.stats.items()}
        meta["frames"] = len(records)
        if item.traits is not None:
            # The weight-free descriptors stay as named traits (brightness, colourfulness, motion, ...).
            meta["descriptors"] = {n: round(float(v), 5) for n, v in zip(ITEM_FEATURES, item.traits, strict=True)}
        if all(p is not None for p in item.probs) and item.probs:
            from avrec.encoders.imagenet import aggregate_labels

            labels = aggregate_labels(np.vstack(item.probs), [f.ts for f in item.frames])  # type: ignore[arg-type]
            self.store.put_visual_labels(media.item_id, encoder.model_id, labels)
            meta["labels"] = [v.label for v in labels]
        else:
            self.store.put_visual_labels(media.item_id, encoder.model_id, [])
        self.store.put_frames(media.item_id, records)
        self.store.put_vectors([VectorRecord(media.item_id, "visual", encoder.model_id, pooled, media.sha256, meta)])
        self.report.vectors["visual"] += 1
        self.report.frames += len(records)
        self.progress.advance("visual")
