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

Layout: one module per pass (`audio`, `visual`, `text`), each a class of methods over the state one run
shares (`run.RunBase`: store, settings, report, device, warnings and failures; `run.Prefetch` decodes ahead
in worker threads); `_Run` below puts the passes together.
"""
from __future__ import annotations

import time
from collections.abc import Sequence

from avrec.config import Settings
from avrec.embed.audio import AudioPass
from avrec.embed.run import EmbedReport, current_models
from avrec.embed.text import TextPass, item_texts, text_hash
from avrec.embed.visual import VisualPass
from avrec.errors import StoreError, UsageError
from avrec.progress import NullProgress, Progress
from avrec.store import MODALITIES, Store

__all__ = ["EmbedReport", "current_models", "embed", "item_texts", "text_hash"]


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


class _Run(AudioPass, VisualPass, TextPass):
    """One `embed` run: the passes (one module each) over the shared state of `avrec.embed.run.RunBase`."""
