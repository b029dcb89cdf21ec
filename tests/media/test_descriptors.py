from __future__ import annotations

import numpy as np
import pytest

from avrec.encoders.acoustic import FEATURES, AcousticEncoder, describe, loudness, normalise, shared_traits
from avrec.encoders.visual import FRAME_FEATURES, ITEM_FEATURES, DescriptorEncoder, frame_descriptors

SR = 16_000


def _sine(freq: float, seconds: float, amp: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _clicks(bpm: float, seconds: float) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = np.zeros(int(seconds * SR), dtype=np.float32)
    for start in np.arange(0, seconds, 60.0 / bpm):
        i = int(start * SR)
        x[i: i + 400] += rng.normal(0, 0.4, size=x[i: i + 400].size).astype(np.float32)
    return x


def test_loudness_follows_bs1770() -> None:
    # A 1 kHz sine at amplitude 0.1 in one channel reads -23.0 LUFS (EBU R128's reference).
    integrated, lra = loudness(_sine(1000, 5, 0.1).astype(np.float64), SR)
    assert integrated == pytest.approx(-23.0, abs=0.3)
    assert lra == pytest.approx(0.0, abs=0.5)
    assert loudness(np.zeros(SR * 2), SR)[0] == -70.0


def test_tempo_pitch_and_spectrum() -> None:
    clicks = describe(_clicks(100, 20))
    assert clicks["tempo_bpm"] == pytest.approx(100, rel=0.03)
    assert clicks["pulse_clarity"] > 0.3
    tone = describe(_sine(440, 5, 0.3))
    assert tone["pitch_median_st"] == pytest.approx(69.0, abs=0.5)  # A4
    assert tone["voiced_share"] > 0.9
    assert tone["spectral_centroid_hz"] == pytest.approx(440, rel=0.1)
    assert tone["spectral_flatness"] < clicks["spectral_flatness"]
    assert tone["pulse_clarity"] == 0.0  # a steady tone has no beat


def test_silence_is_described_without_nan() -> None:
    quiet = describe(np.zeros(SR * 3, dtype=np.float32))
    assert quiet["loudness_lufs"] == -70.0 and quiet["voiced_share"] == 0.0 and quiet["silence_share"] == 1.0
    vec = normalise(quiet)
    assert np.all(np.isfinite(vec))


def test_vector_keeps_names_and_fixed_scale() -> None:
    enc = AcousticEncoder()
    a, b = _sine(440, 3, 0.3), _clicks(120, 6)
    out = enc.encode_batch([a, b])
    assert out.shape == (2, enc.dim) == (2, len(FEATURES))
    assert "loudness_lufs" in FEATURES and "tempo_bpm" in FEATURES and "mfcc12_std" in FEATURES
    # Fixed scaling: an item's vector does not depend on what else is encoded.
    assert np.allclose(enc.encode_batch([a])[0], out[0])
    assert np.abs(out).max() <= 4.0


def test_shared_traits_speak_words() -> None:
    a = describe(_clicks(100, 12))
    b = describe(_clicks(100, 12) * 0.9)
    traits = shared_traits(a, b)
    assert traits and set(traits) <= {"tempo", "loudness", "pitch", "noisiness", "brightness of sound",
                                      "dynamics", "amount of silence", "amount of voice or melody"}


def test_visual_descriptors() -> None:
    red = np.zeros((64, 64, 3), dtype=np.uint8)
    red[..., 0] = 255
    white = np.full((64, 64, 3), 255, dtype=np.uint8)
    black = np.zeros((64, 64, 3), dtype=np.uint8)
    fr = dict(zip(FRAME_FEATURES, frame_descriptors(red).tolist(), strict=True))
    assert fr["hue_000"] == pytest.approx(1.0) and fr["saturation"] == pytest.approx(1.0)
    fw = dict(zip(FRAME_FEATURES, frame_descriptors(white).tolist(), strict=True))
    fb = dict(zip(FRAME_FEATURES, frame_descriptors(black).tolist(), strict=True))
    assert fw["brightness"] == pytest.approx(1.0) and fb["brightness"] == 0.0
    assert fw["bright_share"] == 1.0 and fb["dark_share"] == 1.0
    enc = DescriptorEncoder()
    mat = enc.encode_batch([red, white, black])
    assert mat.shape == (3, len(FRAME_FEATURES))
    pooled = enc.pool(mat, {"motion": 0.05, "cut_rate": 15.0, "scene_frame_share": 0.25})
    item = dict(zip(ITEM_FEATURES, pooled.tolist(), strict=True))
    assert item["motion"] == pytest.approx(0.5) and item["cut_rate"] == pytest.approx(0.5)
    assert item["brightness_change"] > 0.5
