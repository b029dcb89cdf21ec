"""`--device cuda`: CLIP and SBERT in half precision give the same vectors as on CPU, within tolerance."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from avrec.config import Settings
from avrec.encoders import load_clip_encoder, load_text_encoder

pytestmark = [pytest.mark.gpu, pytest.mark.slow]


@pytest.fixture(autouse=True)
def _need_cuda() -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU here")


def test_clip_half_precision_matches_cpu(no_clip_settings: Settings, tiny_clip: tuple[Path, Path]) -> None:
    config, weights = tiny_clip
    settings = dataclasses.replace(no_clip_settings, clip_model=str(config), clip_weights=str(weights))
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 255, size=(64, 96, 3), dtype=np.uint8) for _ in range(64)]
    cpu = load_clip_encoder(settings, device="cpu")
    gpu = load_clip_encoder(settings, device="cuda")
    assert gpu.half
    a, b = cpu.encode_batch(frames), gpu.encode_batch(frames)
    assert np.min(np.sum(a * b, axis=1)) > 0.995
    t1, t2 = cpu.encode_text(["rain at night"]), gpu.encode_text(["rain at night"])
    assert float(np.sum(t1 * t2)) > 0.995


def test_sbert_half_precision_matches_cpu(no_clip_settings: Settings) -> None:
    texts = ["rain on a tin roof", "cooking pasta with tomato sauce", "piano scales"]
    a = load_text_encoder(no_clip_settings, device="cpu").encode_batch(texts)
    b = load_text_encoder(no_clip_settings, device="cuda").encode_batch(texts)
    assert np.min(np.sum(a * b, axis=1)) > 0.999
