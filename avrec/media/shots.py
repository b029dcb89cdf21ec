"""Frames sampled per shot: decode a video small for a shot-boundary model, then fetch the chosen frames.

Two ffmpeg passes over the first video stream:
1. every frame at 48 x 27 RGB (what TransNetV2 reads; ~4 KB a frame, so a ten-minute clip at 25 fps is
   ~58 MB), from which the caller's detector returns the frame numbers where a new shot starts;
2. only the chosen frames (selected by frame number) at `short_side`, like `avrec.media.frames`.
The frames: each shot gets at least one (its middle frame) and `max_frames` are shared among shots by
length, spaced evenly inside each shot; with more shots than `max_frames` the longest shots get one each.
Motion is the mean absolute difference of consecutive small frames (0..1) and the cut rate is shot
changes per minute, so the weight-free descriptors keep their meaning.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from avrec.errors import MediaError
from avrec.media.ffmpeg import base_args, error_tail, input_url
from avrec.media.frames import FrameSample, SampledFrame, frame_size

SMALL_W, SMALL_H = 48, 27
#: Longer videos are sampled by the ffmpeg scene score instead: the shot model would take minutes.
MAX_SHOT_SECONDS = 600.0


def _raw_frames(path: Path | str, vf: str, w: int, h: int, extra: list[str]) -> list[np.ndarray]:
    """Frames of the first video stream through the filter `vf`, as raw RGB of w x h; MediaError if none."""
    args = base_args() + ["-loglevel", "error", "-noautorotate", "-i", input_url(path), "-map", "0:v:0"]
    args += ["-an", "-sn", "-dn", "-vf", vf, "-fps_mode", "passthrough", *extra]
    args += ["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    proc = subprocess.run(args, capture_output=True, check=False)
    size = w * h * 3
    n = len(proc.stdout) // size
    if n == 0:
        raise MediaError(f"{path}: cannot decode video frames ({error_tail(proc.stderr.decode('utf-8', 'replace'))})")
    # Writable copies: torch refuses to wrap read-only buffers without a warning.
    data = np.frombuffer(proc.stdout[: n * size], dtype=np.uint8).reshape(n, h, w, 3).copy()
    return list(data)


def decode_small(path: Path | str, *, max_frames: int | None = None) -> np.ndarray:
    """Every frame of the first video stream as (n, 27, 48, 3) uint8. MediaError names the file on failure."""
    extra = ["-frames:v", str(int(max_frames))] if max_frames else []
    return np.stack(_raw_frames(path, f"scale={SMALL_W}:{SMALL_H}:flags=area", SMALL_W, SMALL_H, extra))


def frames_at(
    path: Path | str, indices: Sequence[int], *, width: int | None, height: int | None, short_side: int
) -> list[np.ndarray]:
    """The frames with these frame numbers (ascending), scaled so the short side is `short_side`."""
    if not indices:
        return []
    w, h = frame_size(width, height, short_side)
    pick = "+".join(f"eq(n,{int(i)})" for i in indices)
    return _raw_frames(path, f"select='{pick}',scale={w}:{h}:flags=bicubic", w, h, [])


def shots_from_cuts(cuts: Sequence[int], n_frames: int) -> list[tuple[int, int]]:
    """[start, end) frame ranges of the shots that cuts (first frames of new shots) divide n frames into."""
    edges = [0] + sorted({int(c) for c in cuts if 0 < int(c) < n_frames}) + [n_frames]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def pick_frames(shots: Sequence[tuple[int, int]], max_frames: int) -> list[int]:
    """Frame numbers to sample: at least one per shot (longest shots first when there are too many),
    the rest of `max_frames` shared by shot length, evenly spaced inside each shot."""
    if not shots:
        return []
    lengths = np.asarray([b - a for a, b in shots], dtype=np.float64)
    if len(shots) >= max_frames:
        keep = sorted(np.argsort(-lengths, kind="stable")[:max_frames].tolist())
        return [(shots[i][0] + shots[i][1] - 1) // 2 for i in keep]
    counts = np.ones(len(shots), dtype=int)
    spare = max_frames - len(shots)
    share = lengths / lengths.sum() * spare
    counts += np.floor(share).astype(int)
    for i in np.argsort(-(share - np.floor(share)))[: max_frames - int(counts.sum())]:
        counts[i] += 1
    out: list[int] = []
    for (a, b), c in zip(shots, counts.tolist(), strict=True):
        c = min(c, b - a)
        out += sorted({a + int((k + 0.5) * (b - a) / c) for k in range(c)})
    return out


def sample_shots(
    path: Path | str,
    detect: Callable[[np.ndarray], list[int]],
    *,
    fps: float | None,
    duration: float | None,
    width: int | None,
    height: int | None,
    max_frames: int = 16,
    short_side: int = 224,
) -> FrameSample:
    """Frames sampled per shot, with shot boundaries from `detect` (small frames -> cut frame numbers)."""
    small = decode_small(path)
    n = small.shape[0]
    rate = fps if fps and fps > 0 else (n / duration if duration else 25.0)
    cuts = detect(small)
    shots = shots_from_cuts(cuts, n)
    picks = pick_frames(shots, max_frames)
    rgb = frames_at(path, picks, width=width, height=height, short_side=short_side)
    diffs = np.abs(np.diff(small.astype(np.int16), axis=0)).mean(axis=(1, 2, 3)) / 255.0 if n > 1 else np.zeros(1)
    minutes = max(n / rate / 60.0, 1e-9)
    return FrameSample(
        frames=[SampledFrame(i / rate, "shot", f) for i, f in zip(picks, rgb, strict=False)],
        motion=float(diffs.mean()),
        cut_rate=(len(shots) - 1) / minutes,
        scene_changes=len(shots) - 1,
        decoded_frames=n,
        duration=n / rate,
    )
