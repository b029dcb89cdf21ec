"""Frame sampling with ffmpeg: uniform samples plus scene-change frames, capped per item, in bounded memory.

One ffmpeg process decodes the video once. Its filter graph
1. scores every frame against the previous one (ffmpeg's `scene` score, 0..1) and logs the score, which
   gives the item's motion (mean score) and cut rate (scores above the threshold per minute);
2. keeps the first frame of each of `max_frames` equal time slots (uniform samples) and every frame whose
   scene score passes the threshold (scene changes);
3. scales what it keeps so the short side is `short_side` pixels and writes raw RGB to a pipe.
Python reads one frame at a time and thins the scene frames as it goes, so memory stays at about
2 x `max_frames` small frames whatever the length of the video.
"""

from __future__ import annotations

import collections
import io
import math
import os
import queue
import re
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np

from avrec.errors import MediaError
from avrec.media.ffmpeg import base_args, error_tail, input_url

#: Above this length only key frames are decoded: sampling stays fast on hour-long files.
KEYFRAMES_ONLY_AFTER_S = 900.0
#: How much lower than avrec itself the ffmpeg decoders run (POSIX niceness).
DECODE_NICENESS = 10

_SHOWINFO = re.compile(r"\[Parsed_showinfo_\d+ @ [^\]]+\] n:\s*\d+ pts:\s*-?\d+ pts_time:(\S+)")
_SCENE = re.compile(r"lavfi\.scene_score=([0-9.eE+-]+)")
_METADATA_FRAME = re.compile(r"\[Parsed_metadata_\d+ @ [^\]]+\] frame:\s*\d+\s+pts:\s*-?\d+\s+pts_time:(\S+)")


@dataclass
class SampledFrame:
    """One decoded frame: seconds into the media, why it was picked (uniform | scene | image), RGB pixels."""

    ts: float
    kind: str
    rgb: np.ndarray  # H x W x 3, uint8


@dataclass
class FrameSample:
    """The frames picked from one file plus statistics over every decoded frame."""

    frames: list[SampledFrame] = field(default_factory=list)
    motion: float = 0.0  # mean ffmpeg scene score over all frames, 0..1
    cut_rate: float = 0.0  # scene changes per minute
    scene_changes: int = 0
    decoded_frames: int = 0
    duration: float | None = None


def frame_size(width: int | None, height: int | None, short_side: int) -> tuple[int, int]:
    """Output (width, height): short side `short_side`, aspect kept, even numbers, long side at most 3x."""
    if not width or not height:
        return short_side, short_side
    if width >= height:
        w, h = width * short_side / height, float(short_side)
    else:
        w, h = float(short_side), height * short_side / width
    w, h = min(w, 3.0 * short_side), min(h, 3.0 * short_side)
    return max(2, int(round(w / 2)) * 2), max(2, int(round(h / 2)) * 2)


def sample_frames(
    path: Path | str,
    *,
    duration: float | None,
    width: int | None,
    height: int | None,
    max_frames: int = 16,
    short_side: int = 224,
    scene_threshold: float = 0.3,
) -> FrameSample:
    """Uniform plus scene-change frames of the first video stream of `path` (see the module docstring).

    Raises MediaError naming the file when ffmpeg cannot decode any frame.
    """
    if max_frames < 1:
        raise ValueError("max_frames must be at least 1")
    w, h = frame_size(width, height, short_side)
    slot = duration / max_frames if duration and duration > 0 else 2.0
    keyframes_only = bool(duration and duration > KEYFRAMES_ONLY_AFTER_S)
    # Filter expressions are quoted for ffmpeg's own filtergraph parser; no shell is involved.
    pick = f"eq(n,0)+gt(floor(t/{slot:.6f}),floor(prev_t/{slot:.6f}))+gt(scene,{scene_threshold:.4f})"
    graph = (
        "select='gte(scene,0)',metadata=print:key=lavfi.scene_score,"
        f"select='{pick}',scale={w}:{h}:flags=bicubic,showinfo"
    )
    args = base_args() + ["-loglevel", "info", "-noautorotate"]
    if keyframes_only:
        args += ["-skip_frame", "nokey"]
    args += [
        "-i",
        input_url(path),
        "-map",
        "0:v:0",
        "-an",
        "-sn",
        "-dn",
        "-vf",
        graph,
        "-fps_mode",
        "passthrough",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "pipe:1",
    ]
    return _run_sampler(Path(path), args, w, h, slot, max_frames, scene_threshold, duration)


def load_image(
    path: Path | str, *, short_side: int = 224, width: int | None = None, height: int | None = None
) -> SampledFrame:
    """A still image (poster, thumbnail) as one frame at ts 0, scaled like sampled video frames."""
    w, h = frame_size(width, height, short_side)
    args = base_args() + ["-loglevel", "error"]
    if "%" in Path(path).name:
        # ffmpeg's image demuxer reads `x%d.jpg` as the sequence x1.jpg, x2.jpg ...: read this file only.
        # (Only here: other demuxers refuse the option, and only image names reach the image demuxer.)
        args += ["-f", "image2", "-pattern_type", "none"]
    args += [
        "-i",
        input_url(path),
        "-map",
        "0:v:0",
        "-frames:v",
        "1",
        "-vf",
        f"scale={w}:{h}:flags=bicubic",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "pipe:1",
    ]
    proc = subprocess.run(args, capture_output=True, check=False)
    need = w * h * 3
    if proc.returncode != 0 or len(proc.stdout) < need:
        raise MediaError(
            f"{path}: cannot decode image ({error_tail(proc.stderr.decode('utf-8', 'replace'))})"
        )
    rgb = np.frombuffer(proc.stdout[:need], dtype=np.uint8).reshape(h, w, 3)
    return SampledFrame(0.0, "image", rgb)


def thumbnail_jpeg(rgb: np.ndarray, *, max_side: int = 160, quality: int = 75) -> bytes:
    """A small JPEG of a frame, for reports and `explain` evidence."""
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(rgb))
    image.thumbnail((max_side, max_side))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()


class _StderrReader(threading.Thread):
    """Reads ffmpeg's log as it is written: frame timestamps, scene scores, and the last error lines."""

    def __init__(self, stream: IO[bytes], threshold: float) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.threshold = threshold
        # (timestamp, scene score) of each frame that reaches the pipe, in order; None at the end.
        self.timestamps: queue.Queue[tuple[float, float] | None] = queue.Queue()
        self._scores_by_time: dict[str, float] = {}
        self._pending_time: str | None = None
        self.scores = 0
        self.score_sum = 0.0
        self.cuts = 0
        self.tail: collections.deque[str] = collections.deque(maxlen=12)

    def run(self) -> None:
        for raw in iter(self.stream.readline, b""):
            line = raw.decode("utf-8", "replace")
            m = _SHOWINFO.search(line)
            if m:
                # Frames reach showinfo in the order the metadata filter logged them; older scores
                # belong to frames that were not picked and can go.
                score = self._scores_by_time.get(m.group(1), 0.0)
                self._scores_by_time.clear()
                try:
                    self.timestamps.put((float(m.group(1)), score))
                except ValueError:
                    self.timestamps.put((math.nan, score))
                continue
            m = _METADATA_FRAME.search(line)
            if m:
                self._pending_time = m.group(1)
                continue
            m = _SCENE.search(line)
            if m:
                score = float(m.group(1))
                self.scores += 1
                self.score_sum += score
                if self.scores > 1 and score > self.threshold:
                    self.cuts += 1
                if self._pending_time is not None:
                    self._scores_by_time[self._pending_time] = score
                    self._pending_time = None
                continue
            if "Parsed_metadata" not in line:
                self.tail.append(line.rstrip())
        self.timestamps.put(None)


class _Thinned:
    """Keeps an evenly spread subset of at most `cap` items from a stream of unknown length."""

    def __init__(self, cap: int) -> None:
        self.cap = max(1, cap)
        self.items: list[SampledFrame] = []
        self.stride = 1
        self.seen = 0

    def add(self, frame: SampledFrame) -> None:
        if self.seen % self.stride == 0:
            self.items.append(frame)
            if len(self.items) > self.cap:
                self.items = self.items[::2]
                self.stride *= 2
        self.seen += 1


def _run_sampler(
    path: Path,
    args: list[str],
    w: int,
    h: int,
    slot: float,
    max_frames: int,
    threshold: float,
    duration: float | None,
) -> FrameSample:
    frame_bytes = w * h * 3
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _lower_priority(proc.pid)
    assert proc.stdout is not None and proc.stderr is not None  # noqa: S101 - both are PIPE above
    log = _StderrReader(proc.stderr, threshold)
    log.start()
    uniform = _Thinned(2 * max_frames)
    scene = _Thinned(2 * max_frames)
    n = 0
    try:
        while True:
            buf = proc.stdout.read(frame_bytes)
            if len(buf) < frame_bytes:
                break
            ts, score = _next_timestamp(log, n, slot)
            rgb = np.frombuffer(buf, dtype=np.uint8).reshape(h, w, 3)
            if n > 0 and score > threshold:
                scene.add(SampledFrame(ts, "scene", rgb))
            else:
                uniform.add(SampledFrame(ts, "uniform", rgb))
            n += 1
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.join(timeout=5)
    if n == 0:
        raise MediaError(f"{path}: no decodable video frame ({error_tail(chr(10).join(log.tail))})")
    if proc.returncode != 0 and n < 2:
        raise MediaError(f"{path}: ffmpeg failed to decode video ({error_tail(chr(10).join(log.tail))})")
    frames = _choose(uniform.items, scene.items, max_frames)
    minutes = (duration or 0.0) / 60.0
    return FrameSample(
        frames=frames,
        motion=log.score_sum / log.scores if log.scores else 0.0,
        cut_rate=log.cuts / minutes if minutes > 0 else 0.0,
        scene_changes=log.cuts,
        decoded_frames=log.scores,
        duration=duration,
    )


def _next_timestamp(log: _StderrReader, n: int, slot: float) -> tuple[float, float]:
    try:
        got = log.timestamps.get(timeout=30)
    except queue.Empty:
        got = None
    if got is None or not math.isfinite(got[0]):
        # The log ended early or stalled: fall back to a slot-based guess rather than stall the run.
        return n * slot, got[1] if got else 0.0
    return got


def _choose(uniform: list[SampledFrame], scene: list[SampledFrame], cap: int) -> list[SampledFrame]:
    """Half the budget at most for scene frames, the rest uniform; everything evenly spread, time-ordered."""
    if len(uniform) > 1 and uniform[0].ts <= 0.0 and len(uniform) + len(scene) > cap:
        uniform = uniform[1:]  # the very first frame is often black or a title card
    n_scene = min(len(scene), cap // 2 if uniform else cap)
    n_uniform = min(len(uniform), cap - n_scene)
    n_scene = min(len(scene), cap - n_uniform)
    picked = _evenly(uniform, n_uniform) + _evenly(scene, n_scene)
    return sorted(picked, key=lambda f: f.ts)


def _evenly(frames: list[SampledFrame], n: int) -> list[SampledFrame]:
    if n <= 0:
        return []
    if n >= len(frames):
        return list(frames)
    idx = np.linspace(0, len(frames) - 1, n).round().astype(int)
    return [frames[i] for i in sorted(set(idx.tolist()))]


def _lower_priority(pid: int) -> None:
    """Decoding runs beside model compute: let it yield the CPU to the model's threads, fill the gaps."""
    try:
        os.setpriority(os.PRIO_PROCESS, pid, min(19, os.getpriority(os.PRIO_PROCESS, 0) + DECODE_NICENESS))
    except (AttributeError, OSError):  # not POSIX, or the process already ended
        pass
