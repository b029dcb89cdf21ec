"""End-to-end visual embedding throughput versus the raw model forward rate on the same frames.

    python benchmarks/embed_throughput.py [--encoder imagenet|clip] [--shots scene|transnet]
        [--clips 12] [--seconds 6] [--posters DIR] [--arch ViT-B-32] [--device cpu]

Generates clips with the bundled ffmpeg, ingests them into a temporary store and runs `embed` for the
visual modality (decode in background workers, batches across items). Then it re-samples exactly the same
frames and times only the encoder's forward pass on them. Prints both rates and their ratio; the goal is a
ratio of at least 0.8 (decoding hides behind model compute).

Encoders: `imagenet` (default) is avrec's default without CLIP weights, EfficientNet-Lite0 exported to ONNX
and run with onnxruntime; `clip` uses the weights in AVREC_CLIP_WEIGHTS when set, otherwise a
random-weight checkpoint of `--arch` written to the temporary folder (same loading code and compute).
Frames are sampled by the ffmpeg scene score (`--shots scene`, default) or per TransNetV2 shot
(`--shots transnet`: the shot model's own time is part of end to end and is also printed alone).

Posters: `--posters DIR` (default ../shared/data/posters/images when present, else 200 generated JPEGs) embeds
the first `--poster-count` images of a folder as image items and prints posters/s end to end.
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from avrec.config import Settings
from avrec.embed import embed
from avrec.encoders import load_clip_encoder
from avrec.encoders.clip import write_random_checkpoint
from avrec.encoders.imagenet import EfficientNetEncoder
from avrec.ingest.media import ingest_media
from avrec.media import probe, sample_frames
from avrec.media.ffmpeg import ffmpeg_exe
from avrec.media.shots import sample_shots
from avrec.store import Store

POSTERS = Path(__file__).resolve().parents[2] / "shared" / "data" / "posters" / "images"


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


def _same_frames(encoder: Any, clips: list[Path], max_frames: int, detector: Any) -> np.ndarray:
    """The frames `embed` samples from the clips, preprocessed for the model."""
    stacks = []
    for clip in clips:
        info = probe(clip, verify=False)
        if info.video is None:
            raise SystemExit(f"{clip}: no video stream")
        if detector is not None:
            sample = sample_shots(clip, detector.cuts, fps=info.video.fps, duration=info.duration,
                                  width=info.video.width, height=info.video.height, max_frames=max_frames,
                                  short_side=encoder.image_size)
        else:
            sample = sample_frames(clip, duration=info.duration, width=info.video.width,
                                   height=info.video.height, max_frames=max_frames, short_side=encoder.image_size)
        stacks.append(encoder.preprocess([f.rgb for f in sample.frames]))
    return np.concatenate(stacks)


def _make_posters(folder: Path, count: int) -> list[Path]:
    """Poster-sized JPEGs (185 x 278) of ffmpeg test sources, when no real posters are here."""
    sources = ["testsrc2", "smptebars", "rgbtestsrc", "mandelbrot", "life"]
    out = []
    for i in range(count):
        path = folder / f"poster{i:04d}.jpg"
        subprocess.run(
            [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-f", "lavfi",
             "-i", f"{sources[i % len(sources)]}=size=185x278:rate=25", "-ss", f"{i * 0.04:.2f}",
             "-frames:v", "1", str(path)],
            check=True,
        )
        out.append(path)
    return out


def _posters_rate(settings: Settings, posters: list[Path], root: Path, batch_size: int, workers: int) -> float:
    """Image items per second through `embed` (decode, encode, labels, store)."""
    clock = _Clock()
    with Store(root / "posters-store") as store:
        ingest_media(store, posters)
        report = embed(store, settings, modalities=["visual"], progress=clock, batch_size=batch_size,
                       workers=workers)
    if report.failures or clock.started is None or clock.finished is None:
        raise SystemExit(f"embed failed on posters: {report.failures[:3]}")
    return report.vectors["visual"] / (clock.finished - clock.started)


def _raw_rate(encoder: Any, frames: np.ndarray, batch_size: int) -> float:
    encoder.forward_images(frames[:batch_size])  # warm-up
    start = time.perf_counter()
    for i in range(0, len(frames), batch_size):
        encoder.forward_images(frames[i: i + batch_size])
    return len(frames) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder", choices=["imagenet", "clip"], default="imagenet")
    parser.add_argument("--shots", choices=["scene", "transnet"], default="scene")
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--arch", default="ViT-B-32", help="open_clip architecture for random weights")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-frames", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--posters", type=Path, default=POSTERS if POSTERS.is_dir() else None)
    parser.add_argument("--poster-count", type=int, default=200)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="avrec-bench-") as tmp:
        root = Path(tmp)
        settings = Settings(store=root / "store", device=args.device, threads=args.threads, shots=args.shots,
                            visual_model=args.encoder)
        if args.encoder == "imagenet":
            encoder: Any = EfficientNetEncoder(threads=args.threads)
            what = f"{encoder.model_id} ({encoder.runtime})"
        else:
            if not settings.clip_weights and not settings.clip_pretrained:
                weights = write_random_checkpoint(args.arch, root / "random.safetensors")
                settings = dataclasses.replace(settings, clip_model=args.arch, clip_weights=str(weights))
                what = f"{args.arch} (random weights)"
            else:
                what = f"{settings.clip_model} (configured weights)"
            encoder = load_clip_encoder(settings)
        clips_dir = root / "clips"
        clips_dir.mkdir()
        clips = make_clips(clips_dir, args.clips, args.seconds)
        detector = None
        shot_rate = None
        if args.shots == "transnet":
            from avrec.encoders.shots import ShotDetector
            from avrec.media.shots import decode_small

            detector = ShotDetector(device=args.device)
            small = [decode_small(c) for c in clips]
            started = time.perf_counter()
            for s in small:
                detector.cuts(s)
            shot_rate = sum(len(s) for s in small) / (time.perf_counter() - started)

        # The machine may be shared: time the raw forward pass before and after the end-to-end run
        # and compare with their mean, so both rates see the same conditions.
        frames = _same_frames(encoder, clips, args.max_frames, detector)
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

        posters_rate = None
        poster_note = ""
        if args.poster_count > 0:
            if args.posters is not None:
                posters = sorted(p for p in args.posters.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
                posters = posters[: args.poster_count]
                poster_note = f"{len(posters)} images from {args.posters}"
            else:
                (root / "posters").mkdir()
                posters = _make_posters(root / "posters", args.poster_count)
                poster_note = f"{len(posters)} generated 185x278 JPEGs"
            posters_rate = _posters_rate(
                dataclasses.replace(settings, store=root / "posters-store"), posters, root, args.batch_size,
                args.workers,
            )

    print(f"model            {what} on {args.device}, batch {args.batch_size}")
    print(f"clips            {args.clips} x {args.seconds:g}s 640x360 H.264, up to {args.max_frames} frames each, "
          f"sampled by {'TransNetV2 shots' if args.shots == 'transnet' else 'ffmpeg scene score'}")
    print(f"frames           {report.frames} end to end, {len(frames)} in the raw forward test")
    print(f"end-to-end       {e2e_rate:8.2f} frames/s  (sample, decode, thumbnails, encode, labels, store)")
    print(f"raw forward      {raw_rate:8.2f} frames/s  (model only, same frames; "
          f"{raw_before:.2f} before, {raw_after:.2f} after)")
    print(f"ratio            {e2e_rate / raw_rate:8.2f}   (goal >= 0.80)")
    if shot_rate is not None:
        print(f"shot model       {shot_rate:8.2f} video frames/s  (TransNetV2 alone, every frame at 48x27)")
    if posters_rate is not None:
        print(f"posters          {posters_rate:8.2f} posters/s end to end  ({poster_note})")


if __name__ == "__main__":
    main()
