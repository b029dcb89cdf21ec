"""End-to-end visual embedding throughput versus the raw model forward rate on the same frames.

    python benchmarks/embed_throughput.py [--clips 12] [--seconds 6] [--arch ViT-B-32] [--device cpu]

Generates clips with the bundled ffmpeg, ingests them into a temporary store and runs `embed` for the
visual modality (decode in background workers, batches across items). Then it re-samples exactly the same
frames and times only the CLIP forward pass on them. Prints both rates and their ratio; the goal is a
ratio of at least 0.8 (decoding hides behind model compute).

Uses the CLIP weights configured in AVREC_CLIP_WEIGHTS when set; otherwise a random-weight checkpoint of
`--arch` written to the temporary folder (same loading code and the same amount of compute as real
weights; nothing is downloaded).
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from avrec.config import Settings
from avrec.embed import embed
from avrec.encoders import load_clip_encoder
from avrec.encoders.clip import ClipEncoder, write_random_checkpoint
from avrec.ingest.media import ingest_media
from avrec.media import probe, sample_frames
from avrec.media.ffmpeg import ffmpeg_exe
from avrec.store import Store


class _Clock:
    """A Progress that remembers when visual encoding started and when its last item finished."""

    def __init__(self) -> None:
        self.started: float | None = None
        self.finished: float | None = None

    def start(self, task: str, total: int | None) -> None:
        if task == "visual":
            self.started = time.perf_counter()

    def advance(self, task: str, n: int = 1) -> None:
        if task == "visual":
            self.finished = time.perf_counter()

    def warn(self, message: str) -> None:
        print(f"warning: {message}", file=sys.stderr)


def make_clips(folder: Path, count: int, seconds: float) -> list[Path]:
    sources = ["testsrc2", "smptebars", "rgbtestsrc", "testsrc"]
    paths = []
    for i in range(count):
        a, b = sources[i % 4], sources[(i + 1) % 4]
        half = seconds / 2
        out = folder / f"clip{i:02d}.mp4"
        subprocess.run(
            [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
             "-f", "lavfi", "-i", f"{a}=size=640x360:rate=25:duration={half}",
             "-f", "lavfi", "-i", f"{b}=size=640x360:rate=25:duration={half}",
             "-filter_complex", "[0:v][1:v]concat=n=2:v=1[v]", "-map", "[v]",
             "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(out)],
            check=True,
        )
        paths.append(out)
    return paths


def _same_frames(encoder: ClipEncoder, clips: list[Path], max_frames: int) -> np.ndarray:
    """The frames `embed` samples from the clips, preprocessed for the model."""
    stacks = []
    for clip in clips:
        info = probe(clip, verify=False)
        if info.video is None:
            raise SystemExit(f"{clip}: no video stream")
        sample = sample_frames(clip, duration=info.duration, width=info.video.width, height=info.video.height,
                               max_frames=max_frames, short_side=encoder.image_size)
        stacks.append(encoder.preprocess([f.rgb for f in sample.frames]))
    return np.concatenate(stacks)


def _raw_rate(encoder: ClipEncoder, frames: np.ndarray, batch_size: int) -> float:
    encoder.forward_images(frames[:batch_size])  # warm-up
    start = time.perf_counter()
    for i in range(0, len(frames), batch_size):
        encoder.forward_images(frames[i: i + batch_size])
    return len(frames) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--arch", default="ViT-B-32", help="open_clip architecture for random weights")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-frames", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="avrec-bench-") as tmp:
        root = Path(tmp)
        settings = Settings(store=root / "store", device=args.device, threads=args.threads)
        if not settings.clip_weights and not settings.clip_pretrained:
            weights = write_random_checkpoint(args.arch, root / "random.safetensors")
            settings = dataclasses.replace(settings, clip_model=args.arch, clip_weights=str(weights))
            what = f"{args.arch} (random weights)"
        else:
            what = f"{settings.clip_model} (configured weights)"
        clips_dir = root / "clips"
        clips_dir.mkdir()
        clips = make_clips(clips_dir, args.clips, args.seconds)

        # The machine may be shared: time the raw forward pass before and after the end-to-end run
        # and compare with their mean, so both rates see the same conditions.
        encoder = load_clip_encoder(settings)
        frames = _same_frames(encoder, clips, args.max_frames)
        raw_before = _raw_rate(encoder, frames, args.batch_size)

        clock = _Clock()
        with Store(settings.store) as store:
            ingest_media(store, clips)
            report = embed(store, settings, modalities=["visual"], progress=clock, batch_size=args.batch_size,
                           max_frames=args.max_frames, workers=args.workers)
        if report.failures or clock.started is None or clock.finished is None:
            raise SystemExit(f"embed failed: {report.failures}")
        e2e_seconds = clock.finished - clock.started
        e2e_rate = report.frames / e2e_seconds

        raw_after = _raw_rate(encoder, frames, args.batch_size)
        raw_rate = (raw_before + raw_after) / 2

    print(f"model            {what} on {args.device}, batch {args.batch_size}")
    print(f"clips            {args.clips} x {args.seconds:g}s 640x360 H.264, up to {args.max_frames} frames each")
    print(f"frames           {report.frames} end to end, {len(frames)} in the raw forward test")
    print(f"end-to-end       {e2e_rate:8.2f} frames/s  (sample, decode, thumbnails, encode, store)")
    print(f"raw forward      {raw_rate:8.2f} frames/s  (model only, same frames; "
          f"{raw_before:.2f} before, {raw_after:.2f} after)")
    print(f"ratio            {e2e_rate / raw_rate:8.2f}   (goal >= 0.80)")


if __name__ == "__main__":
    main()
