"""Resolved settings, built once by the CLI (or by a library caller) and passed in; never global."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_STORE = "./avrec-store"

#: Default weight per interaction event when the log carries no explicit `weight`.
DEFAULT_EVENT_WEIGHTS: dict[str, float] = {
    "view": 1.0,
    "play": 1.0,
    "watch": 1.0,
    "listen": 1.0,
    "click": 0.5,
    "like": 2.0,
    "favorite": 3.0,
    "share": 3.0,
    "comment": 2.0,
    "rate": 1.0,
    "skip": 0.0,
    "dislike": 0.0,
}


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity where the platform tells it), at least 1."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(cores, 1)


def default_store_path() -> Path:
    return Path(os.environ.get("AVREC_STORE") or DEFAULT_STORE)


@dataclass(frozen=True)
class Settings:
    """What every command needs to know about where and how to run."""

    store: Path = field(default_factory=default_store_path)
    device: str = "auto"  # auto | cpu | cuda | mps
    threads: int | None = None
    quiet: bool = False
    # Encoders: None means "use the default resolution" documented in avrec.encoders.
    text_model: str | None = field(default_factory=lambda: os.environ.get("AVREC_TEXT_MODEL"))
    # auto: CLIP when its weights are here, else ImageNet EfficientNet-Lite0, else the weight-free descriptors;
    # or one of clip | imagenet | descriptors to insist on it.
    visual_model: str = field(default_factory=lambda: os.environ.get("AVREC_VISUAL_MODEL", "auto"))
    # auto: the aisfx sound-effects embedding when installed, else the acoustic descriptors; or aisfx | acoustic.
    audio_model: str = field(default_factory=lambda: os.environ.get("AVREC_AUDIO_MODEL", "auto"))
    # auto: shot boundaries from TransNetV2 on a CUDA GPU when installed (videos up to 10 minutes), else the
    # ffmpeg scene score; transnet: TransNetV2 on any device; scene: the ffmpeg scene score.
    shots: str = field(default_factory=lambda: os.environ.get("AVREC_SHOTS", "auto"))
    clip_model: str = field(default_factory=lambda: os.environ.get("AVREC_CLIP_MODEL", "ViT-B-32"))
    clip_pretrained: str | None = field(default_factory=lambda: os.environ.get("AVREC_CLIP_PRETRAINED"))
    clip_weights: str | None = field(default_factory=lambda: os.environ.get("AVREC_CLIP_WEIGHTS"))
    whisper_model: str | None = field(default_factory=lambda: os.environ.get("AVREC_WHISPER_MODEL"))
