"""Acoustic descriptors: what a person would say about a sound, as a vector with named parts.

From mono 16 kHz audio (see `describe`):
- loudness: integrated loudness in LUFS (ITU-R BS.1770-4 / EBU R128: K-weighting, 400 ms blocks,
  absolute gate -70 LUFS, relative gate -10 LU) of the mono downmix, and loudness range (LU, the spread
  between the 10th and 95th percentile of 3 s short-term loudness, as EBU Tech 3342);
- rhythm: tempo in BPM (autocorrelation of a spectral-flux onset envelope, with a preference around
  120 BPM) and pulse clarity (how strong that periodicity is, 0..1);
- pitch: share of voiced (pitched) frames, median pitch and pitch spread in semitones (autocorrelation
  pitch tracker, 60-1000 Hz);
- spectral shape: centroid and 85 % roll-off in Hz, flatness (0 = tonal, 1 = noise), zero-crossing rate;
- timbre: mean and standard deviation of 13 MFCCs (40 mel bands);
- silence: share of frames below -60 dBFS.
`normalise` maps each to a comparable scale with FIXED, documented transforms (below), so a vector never
changes when other items are added. Each group is weighted so that it counts about as much as any
other, whatever its number of values (MFCCs would otherwise drown tempo and loudness).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

ACOUSTIC_MODEL_ID = "acoustic:v1"
SAMPLE_RATE = 16_000
N_MFCC = 13

# name -> (group, transform, centre, scale): normalised = (transform(value) - centre) / scale
_SPEC: dict[str, tuple[str, str, float, float]] = {
    "loudness_lufs": ("loudness", "lin", -23.0, 10.0),
    "loudness_range_lu": ("loudness", "lin", 8.0, 6.0),
    "tempo_bpm": ("rhythm", "log2", math.log2(120.0), 0.5),
    "pulse_clarity": ("rhythm", "lin", 0.3, 0.2),
    "voiced_share": ("pitch", "lin", 0.3, 0.3),
    "pitch_median_st": ("pitch", "lin", 57.0, 12.0),  # MIDI note numbers: 57 = A3, 220 Hz
    "pitch_spread_st": ("pitch", "lin", 3.0, 3.0),
    "spectral_centroid_hz": ("spectral", "log2", math.log2(1500.0), 1.0),
    "spectral_rolloff_hz": ("spectral", "log2", math.log2(3000.0), 1.0),
    "spectral_flatness": ("spectral", "log10", -1.5, 1.0),
    "zero_crossing_rate": ("spectral", "lin", 0.1, 0.1),
    "silence_share": ("loudness", "lin", 0.2, 0.3),
    **{
        f"mfcc{i}_mean": ("timbre", "lin", -30.0 if i == 0 else 0.0, 30.0 if i == 0 else 10.0)
        for i in range(N_MFCC)
    },
    **{
        f"mfcc{i}_std": ("timbre_change", "lin", 10.0 if i == 0 else 5.0, 10.0 if i == 0 else 5.0)
        for i in range(N_MFCC)
    },
}
FEATURES: tuple[str, ...] = tuple(_SPEC)
#: Descriptors a person understands, used by `explain` / `similar` evidence ("similar tempo and loudness").
READABLE: dict[str, str] = {
    "loudness_lufs": "loudness",
    "tempo_bpm": "tempo",
    "pitch_median_st": "pitch",
    "voiced_share": "amount of voice or melody",
    "spectral_centroid_hz": "brightness of sound",
    "spectral_flatness": "noisiness",
    "loudness_range_lu": "dynamics",
    "silence_share": "amount of silence",
}
_GROUP_SIZE = {g: sum(1 for v in _SPEC.values() if v[0] == g) for g in {v[0] for v in _SPEC.values()}}


def describe(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> dict[str, float]:
    """The named raw descriptors (units in the module docstring) of mono float audio."""
    x = np.asarray(audio, dtype=np.float64).reshape(-1)
    if x.size < sample_rate // 2:
        x = np.pad(x, (0, sample_rate // 2 - x.size))
    out: dict[str, float] = {}
    out["loudness_lufs"], out["loudness_range_lu"] = loudness(x, sample_rate)
    onset, summary = _spectral(x, sample_rate)
    out.update(summary)
    out["tempo_bpm"], out["pulse_clarity"] = _tempo(onset, sample_rate / _HOP)
    out.update(_pitch(x, sample_rate))
    return {name: float(out[name]) for name in FEATURES}


def normalise(desc: dict[str, float]) -> np.ndarray:
    """The fixed-scale, group-weighted vector of a `describe` result, in FEATURES order."""
    vec = np.empty(len(FEATURES), dtype=np.float32)
    for i, name in enumerate(FEATURES):
        group, transform, centre, scale = _SPEC[name]
        value = float(desc.get(name, 0.0))
        if transform == "log2":
            value = math.log2(max(value, 1e-6))
        elif transform == "log10":
            value = math.log10(max(value, 1e-9))
        z = float(np.clip((value - centre) / scale, -4.0, 4.0))
        vec[i] = z / math.sqrt(_GROUP_SIZE[group])
    return vec


def shared_traits(a: dict[str, float], b: dict[str, float], *, limit: int = 2) -> list[str]:
    """The READABLE descriptors on which two sounds are closest, most alike first."""
    na, nb = normalise(a), normalise(b)
    gaps = []
    for name, label in READABLE.items():
        i = FEATURES.index(name)
        scale = 1.0 / math.sqrt(_GROUP_SIZE[_SPEC[name][0]])
        gaps.append((abs(float(na[i] - nb[i])) / scale, label))
    gaps.sort()
    return [label for gap, label in gaps[:limit] if gap < 0.5]


class AcousticEncoder:
    """Audio vectors from acoustic descriptors; needs no model files."""

    model_id = ACOUSTIC_MODEL_ID
    dim = len(FEATURES)

    def encode_batch(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        """Normalised descriptor vectors of mono 16 kHz waveforms, one row each."""
        if not inputs:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([normalise(describe(x)) for x in inputs])


# -- loudness (ITU-R BS.1770-4) -------------------------------------------------------------------------


def _k_weighting(sample_rate: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The two BS.1770 pre-filters (high shelf, high pass), designed for any sample rate."""

    def shelf(gain_db: float, q: float, fc: float) -> tuple[np.ndarray, np.ndarray]:
        a = 10 ** (gain_db / 40.0)
        w0 = 2 * math.pi * fc / sample_rate
        alpha = math.sin(w0) / (2 * q)
        cw = math.cos(w0)
        sa = 2 * math.sqrt(a) * alpha
        b = [
            a * ((a + 1) + (a - 1) * cw + sa),
            -2 * a * ((a - 1) + (a + 1) * cw),
            a * ((a + 1) + (a - 1) * cw - sa),
        ]
        den = [(a + 1) - (a - 1) * cw + sa, 2 * ((a - 1) - (a + 1) * cw), (a + 1) - (a - 1) * cw - sa]
        return np.asarray(b) / den[0], np.asarray(den) / den[0]

    def highpass(q: float, fc: float) -> tuple[np.ndarray, np.ndarray]:
        w0 = 2 * math.pi * fc / sample_rate
        alpha = math.sin(w0) / (2 * q)
        cw = math.cos(w0)
        b = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2]
        den = [1 + alpha, -2 * cw, 1 - alpha]
        return np.asarray(b) / den[0], np.asarray(den) / den[0]

    return [
        shelf(3.99984385397, 0.7071752369554193, 1681.9744509555319),
        highpass(0.5003270373253953, 38.13547087613982),
    ]


def loudness(x: np.ndarray, sample_rate: int = SAMPLE_RATE) -> tuple[float, float]:
    """(integrated loudness in LUFS, loudness range in LU) of a mono signal; -70 LUFS for silence."""
    from scipy.signal import lfilter

    y = np.asarray(x, dtype=np.float64)
    for b, a in _k_weighting(sample_rate):
        y = lfilter(b, a, y)
    power = _block_power(y, sample_rate, 0.4, 0.1)
    integrated = _gated(power, relative=-10.0)
    short = _block_power(y, sample_rate, 3.0, 1.0)
    lra = 0.0
    if short.size:
        levels = -0.691 + 10 * np.log10(np.maximum(short, 1e-20))
        ungated = levels[levels > -70.0]
        if ungated.size:
            rel = -0.691 + 10 * np.log10(np.mean(short[levels > -70.0])) - 20.0
            kept = ungated[ungated > rel]
            if kept.size >= 2:
                lra = float(np.percentile(kept, 95) - np.percentile(kept, 10))
    return integrated, lra


def _block_power(y: np.ndarray, sample_rate: int, block_s: float, step_s: float) -> np.ndarray:
    block, step = int(block_s * sample_rate), int(step_s * sample_rate)
    if y.size < block:
        return np.asarray([np.mean(y**2)]) if y.size else np.zeros(0)
    csum = np.concatenate([[0.0], np.cumsum(y**2)])
    starts = np.arange(0, y.size - block + 1, step)
    return (csum[starts + block] - csum[starts]) / block


def _gated(power: np.ndarray, *, relative: float) -> float:
    if power.size == 0:
        return -70.0
    levels = -0.691 + 10 * np.log10(np.maximum(power, 1e-20))
    above = power[levels > -70.0]
    if above.size == 0:
        return -70.0
    threshold = -0.691 + 10 * np.log10(np.mean(above)) + relative
    kept = power[(levels > -70.0) & (levels > threshold)]
    return float(max(-70.0, -0.691 + 10 * np.log10(np.mean(kept)))) if kept.size else -70.0


# -- spectral shape, MFCC, onsets -------------------------------------------------------------------------

_N_FFT = 512
_HOP = 256
_CHUNK_FRAMES = 4096
_MIN_ONSET_STD = 1.0


def mel_filters(sample_rate: int, n_fft: int, n_mels: int = 40) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) HTK-mel triangles (peak 1) over 0 .. sample_rate / 2."""

    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        return 700.0 * (10 ** (m / 2595.0) - 1.0)

    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    edges = mel_to_hz(np.linspace(hz_to_mel(np.array(0.0)), hz_to_mel(np.array(sample_rate / 2)), n_mels + 2))
    fb = np.zeros((n_mels, freqs.size))
    for m in range(n_mels):
        lo, mid, hi = edges[m], edges[m + 1], edges[m + 2]
        up = (freqs - lo) / max(mid - lo, 1e-9)
        down = (hi - freqs) / max(hi - mid, 1e-9)
        fb[m] = np.maximum(0.0, np.minimum(up, down))
    return fb


def _frames(x: np.ndarray, n: int, hop: int) -> np.ndarray:
    count = 1 + max(0, (x.size - n) // hop)
    return np.lib.stride_tricks.as_strided(x, shape=(count, n), strides=(x.strides[0] * hop, x.strides[0]))


def _spectral(x: np.ndarray, sample_rate: int) -> tuple[np.ndarray, dict[str, float]]:
    """Frame-wise spectra in chunks (bounded memory); returns the onset envelope and a summary."""
    from scipy.fft import dct

    window = np.hanning(_N_FFT)
    freqs = np.fft.rfftfreq(_N_FFT, 1.0 / sample_rate)
    mel = mel_filters(sample_rate, _N_FFT)
    frames = _frames(x, _N_FFT, _HOP)
    onset: list[np.ndarray] = []
    cents: list[np.ndarray] = []
    rolls: list[np.ndarray] = []
    flats: list[np.ndarray] = []
    zcrs: list[np.ndarray] = []
    mfcc_sum = np.zeros(N_MFCC)
    mfcc_sq = np.zeros(N_MFCC)
    voiced_frames = 0
    silent = 0
    prev_db: np.ndarray | None = None
    for start in range(0, frames.shape[0], _CHUNK_FRAMES):
        chunk = frames[start : start + _CHUNK_FRAMES]
        rms = np.sqrt(np.mean(chunk**2, axis=1))
        loud = rms > 10 ** (-60 / 20)
        silent += int((~loud).sum())
        power = np.abs(np.fft.rfft(chunk * window, axis=1)) ** 2 + 1e-12
        melpower = power @ mel.T + 1e-10
        logmel = np.log(melpower)
        # Onsets from dB with a 60 dB floor: leakage bins of a steady tone flicker far below it.
        db = 10.0 * np.log10(melpower)
        db = np.maximum(db, max(float(db.max()), -60.0) - 60.0)
        joined = db if prev_db is None else np.vstack([prev_db[-1:], db])
        flux = np.maximum(0.0, np.diff(joined, axis=0)).sum(axis=1)
        onset.append(flux if prev_db is not None else np.concatenate([[0.0], flux]))
        prev_db = db
        if not loud.any():
            continue
        p = power[loud]
        total = p.sum(axis=1)
        cents.append((p @ freqs) / total)
        cum = np.cumsum(p, axis=1)
        rolls.append(freqs[np.argmax(cum >= 0.85 * total[:, None], axis=1)])
        flats.append(np.exp(np.mean(np.log(p), axis=1)) / np.mean(p, axis=1))
        signs = np.signbit(chunk[loud])
        zcrs.append(np.mean(signs[:, 1:] != signs[:, :-1], axis=1))
        coeffs = dct(logmel[loud], type=2, norm="ortho", axis=1)[:, :N_MFCC]
        mfcc_sum += coeffs.sum(axis=0)
        mfcc_sq += (coeffs**2).sum(axis=0)
        voiced_frames += int(loud.sum())
    summary: dict[str, float] = {"silence_share": silent / max(frames.shape[0], 1)}
    if voiced_frames:
        mean = mfcc_sum / voiced_frames
        std = np.sqrt(np.maximum(mfcc_sq / voiced_frames - mean**2, 0.0))
        summary.update(
            {
                "spectral_centroid_hz": float(np.median(np.concatenate(cents))),
                "spectral_rolloff_hz": float(np.median(np.concatenate(rolls))),
                "spectral_flatness": float(np.median(np.concatenate(flats))),
                "zero_crossing_rate": float(np.mean(np.concatenate(zcrs))),
            }
        )
    else:
        mean = np.zeros(N_MFCC)
        mean[0] = -30.0
        std = np.zeros(N_MFCC)
        summary.update(
            {
                "spectral_centroid_hz": 1500.0,
                "spectral_rolloff_hz": 3000.0,
                "spectral_flatness": 10**-1.5,
                "zero_crossing_rate": 0.1,
            }
        )
    for i in range(N_MFCC):
        summary[f"mfcc{i}_mean"] = float(mean[i])
        summary[f"mfcc{i}_std"] = float(std[i])
    return (np.concatenate(onset) if onset else np.zeros(1)), summary


def _tempo(onset: np.ndarray, frame_rate: float) -> tuple[float, float]:
    """(tempo in BPM, pulse clarity 0..1) from an onset envelope; (120, 0) when there is no pulse."""
    env = np.asarray(onset, dtype=np.float64)
    # A steady sound's flux is numerical ripple, not onsets: below this there is no pulse to find.
    if env.size < 4 * frame_rate or env.std() < _MIN_ONSET_STD:
        return 120.0, 0.0
    env = env - env.mean()
    size = 1 << int(np.ceil(np.log2(2 * env.size)))
    spec = np.fft.rfft(env, size)
    ac = np.fft.irfft(spec * np.conj(spec), size)[: env.size]
    if ac[0] <= 0:
        return 120.0, 0.0
    ac = ac / ac[0]
    lo = max(1, int(frame_rate * 60.0 / 220.0))
    hi = min(ac.size - 2, int(frame_rate * 60.0 / 40.0))
    if hi <= lo:
        return 120.0, 0.0
    lags = np.arange(lo, hi + 1)
    bpm = 60.0 * frame_rate / lags
    prior = np.exp(-0.5 * (np.log2(bpm / 120.0) / 1.0) ** 2)
    score = ac[lo : hi + 1] * prior
    best = int(np.argmax(score))
    lag = float(lags[best])
    if 0 < best < score.size - 1:  # parabolic interpolation for a fractional lag
        a, b, c = score[best - 1], score[best], score[best + 1]
        denom = a - 2 * b + c
        if abs(denom) > 1e-12:
            lag += 0.5 * (a - c) / denom
    clarity = float(np.clip(ac[lo : hi + 1][best], 0.0, 1.0))
    return float(60.0 * frame_rate / lag), clarity


# -- pitch ---------------------------------------------------------------------------------------------


def _pitch(x: np.ndarray, sample_rate: int) -> dict[str, float]:
    """Voiced share, median pitch and spread (semitones) from normalised autocorrelation per 64 ms frame."""
    n, hop = 1024, 512
    frames = _frames(x, n, hop)
    lo, hi = int(sample_rate / 1000.0), int(sample_rate / 60.0)
    f0s: list[np.ndarray] = []
    total = 0
    for start in range(0, frames.shape[0], _CHUNK_FRAMES):
        chunk = frames[start : start + _CHUNK_FRAMES]
        chunk = chunk - chunk.mean(axis=1, keepdims=True)
        energy = np.sum(chunk**2, axis=1)
        total += chunk.shape[0]
        loud = energy > n * (10 ** (-50 / 20)) ** 2
        if not loud.any():
            continue
        c = chunk[loud] * np.hanning(n)
        spec = np.fft.rfft(c, 2 * n, axis=1)
        ac = np.fft.irfft(np.abs(spec) ** 2, 2 * n, axis=1)[:, : hi + 2]
        ac = ac / np.maximum(ac[:, :1], 1e-12)
        # Correct for the window's own autocorrelation decay, so periodic frames reach ~1.
        wac = np.correlate(np.hanning(n), np.hanning(n), "full")[n - 1 : n - 1 + hi + 2]
        ac = ac / np.maximum(wac / wac[0], 1e-3)
        seg = ac[:, lo : hi + 1]
        peak = seg.max(axis=1)
        voiced = peak > 0.75
        # The first lag that comes close to the best one is the period; later ones are its multiples.
        first = np.argmax(seg >= 0.9 * peak[:, None], axis=1)
        for row in np.flatnonzero(voiced):
            start = int(first[row])
            stop = min(seg.shape[1], start + start // 4 + 3)
            lag = start + int(np.argmax(seg[row, start:stop])) + lo
            f0s.append(np.asarray([sample_rate / lag]))
    if not f0s:
        return {"voiced_share": 0.0, "pitch_median_st": 57.0, "pitch_spread_st": 0.0}
    f0 = np.concatenate(f0s)
    semis = 69.0 + 12.0 * np.log2(f0 / 440.0)
    return {
        "voiced_share": float(f0.size / max(total, 1)),
        "pitch_median_st": float(np.median(semis)),
        "pitch_spread_st": float(np.std(semis)),
    }
