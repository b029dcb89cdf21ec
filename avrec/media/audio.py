"""Audio decoding with ffmpeg: the first audio stream as mono float32 PCM."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from avrec.errors import MediaError
from avrec.media.ffmpeg import base_args, error_tail, input_url

#: Whisper and the acoustic descriptors both work at 16 kHz.
SAMPLE_RATE = 16_000
#: Only the first half hour is decoded: enough to describe any item, and memory stays under ~120 MB.
MAX_SECONDS = 1800.0


def decode_audio(
    path: Path | str, *, sample_rate: int = SAMPLE_RATE, max_seconds: float | None = MAX_SECONDS
) -> np.ndarray:
    """Decode the first audio stream of `path` to mono float32 samples in [-1, 1] at `sample_rate`.

    Raises MediaError naming the file when there is no audio or it cannot be decoded.
    """
    args = base_args() + [
        "-loglevel",
        "error",
        "-i",
        input_url(path),
        "-map",
        "0:a:0",
        "-vn",
        "-sn",
        "-dn",
        "-ac",
        "1",
        "-ar",
        str(int(sample_rate)),
    ]
    if max_seconds is not None:
        args += ["-t", f"{float(max_seconds):.3f}"]
    args += ["-f", "f32le", "-acodec", "pcm_f32le", "pipe:1"]
    proc = subprocess.run(args, capture_output=True, check=False)
    stderr = proc.stderr.decode("utf-8", "replace")
    samples = np.frombuffer(proc.stdout[: len(proc.stdout) // 4 * 4], dtype="<f4")
    if proc.returncode != 0 and samples.size == 0:
        raise MediaError(f"{path}: cannot decode audio ({error_tail(stderr)})")
    if samples.size == 0:
        raise MediaError(f"{path}: its audio stream holds no decodable samples")
    out = np.nan_to_num(samples.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(out, -1.0, 1.0)
