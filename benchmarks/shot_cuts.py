"""Cut detection: TransNetV2 (avrec's shot boundaries) versus the ffmpeg scene score, on clips with known cuts.

    python benchmarks/shot_cuts.py [--videos 6] [--segments 5] [--threshold 0.3] [--seed 0]

Each test video is `--segments` pieces joined end to end with ffmpeg (hard cuts at known frame numbers),
cut from ffmpeg's synthetic sources and the redistributable clips in sample_media/ at random offsets and
lengths (30-110 frames at 25 fps). Sources that move fast inside one piece (Mandelbrot zoom, Game of Life,
the Big Buck Bunny clips) are the hard negatives. A detection counts when it is within 2 frames of a true
cut; each true cut matches at most one detection. Prints precision, recall and F1 of both methods.
"""

from __future__ import annotations

import argparse
import random
import re
import subprocess
import tempfile
import time
from pathlib import Path

from avrec.encoders.shots import ShotDetector
from avrec.media.ffmpeg import ffmpeg_exe
from avrec.media.shots import decode_small

ROOT = Path(__file__).resolve().parents[1]
SYNTHETIC = ["testsrc2", "smptebars", "mandelbrot", "life", "rgbtestsrc", "cellauto"]
CLIPS = ["bbb_wakeup.mp4", "bbb_stretch.mp4", "city_night.mp4", "fireplace.mp4", "ocean_waves.mp4",
         "rain_window.mp4", "sunny_meadow.mp4", "pasta_recipe.mp4"]
FPS = 25
TOLERANCE = 2
_SCENE = re.compile(r"pts_time:([0-9.]+).*?\n.*?lavfi\.scene_score=([0-9.]+)", re.S)


def _piece(rng: random.Random, out: Path, frames: int) -> None:
    """One segment of `frames` frames at 320x180, 25 fps, from a random source and offset."""
    ff = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
    if rng.random() < 0.5:
        src = rng.choice(SYNTHETIC)
        size = "320x180"
        extra = ":rule=110" if src == "cellauto" else ""
        ff += ["-f", "lavfi", "-i", f"{src}=size={size}:rate={FPS}{extra}", "-ss", f"{rng.uniform(0, 3):.2f}"]
    else:
        clip = ROOT / "sample_media" / rng.choice(CLIPS)
        ff += ["-stream_loop", "-1", "-ss", f"{rng.uniform(0, 2):.2f}", "-i", str(clip)]
    ff += ["-an", "-vf", f"scale=320:180,setsar=1,fps={FPS}", "-frames:v", str(frames),
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(out)]
    subprocess.run(ff, check=True)


def make_video(rng: random.Random, folder: Path, name: str, segments: int) -> tuple[Path, list[int]]:
    """A video of `segments` joined pieces and the frame numbers where pieces 2.. start."""
    pieces, cuts, total = [], [], 0
    for k in range(segments):
        n = rng.randint(30, 110)
        piece = folder / f"{name}-{k}.mp4"
        _piece(rng, piece, n)
        pieces.append(piece)
        if k:
            cuts.append(total)
        total += n
    out = folder / f"{name}.mp4"
    inputs: list[str] = []
    for p in pieces:
        inputs += ["-i", str(p)]
    graph = "".join(f"[{i}:v]" for i in range(segments)) + f"concat=n={segments}:v=1[v]"
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *inputs,
                    "-filter_complex", graph, "-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast",
                    "-pix_fmt", "yuv420p", str(out)], check=True)
    return out, cuts


def ffmpeg_scene_cuts(path: Path, threshold: float) -> list[int]:
    """Frames whose ffmpeg scene score passes `threshold` (what avrec samples by without TransNetV2)."""
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), "-an", "-vf",
         "select='gte(scene,0)',metadata=print:key=lavfi.scene_score", "-f", "null", "-"],
        capture_output=True, check=True,
    )
    log = proc.stderr.decode("utf-8", "replace")
    return [round(float(t) * FPS) for t, s in _SCENE.findall(log) if float(s) > threshold]


def score(found: list[int], truth: list[int]) -> tuple[int, int, int]:
    """(true positives, detections, true cuts) with each true cut matched at most once."""
    left = list(truth)
    tp = 0
    for f in sorted(found):
        near = [t for t in left if abs(t - f) <= TOLERANCE]
        if near:
            left.remove(min(near, key=lambda t: abs(t - f)))
            tp += 1
    return tp, len(found), len(truth)


def _prf(tp: int, det: int, true: int) -> str:
    p = tp / det if det else 0.0
    r = tp / true if true else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return f"precision {p:5.3f}  recall {r:5.3f}  F1 {f:5.3f}  ({tp} of {true} cuts found, {det} detections)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=6)
    parser.add_argument("--segments", type=int, default=5)
    parser.add_argument("--threshold", type=float, default=0.3, help="ffmpeg scene-score threshold (avrec's)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    detector = ShotDetector()
    totals = {"transnet": [0, 0, 0], "ffmpeg": [0, 0, 0]}
    frames = 0
    seconds = 0.0
    with tempfile.TemporaryDirectory(prefix="avrec-cuts-") as tmp:
        for v in range(args.videos):
            path, truth = make_video(rng, Path(tmp), f"v{v}", args.segments)
            small = decode_small(path)
            frames += len(small)
            started = time.perf_counter()
            found = detector.cuts(small)
            seconds += time.perf_counter() - started
            for name, got in (("transnet", found), ("ffmpeg", ffmpeg_scene_cuts(path, args.threshold))):
                for i, x in enumerate(score(got, truth)):
                    totals[name][i] += x
    cuts = totals["transnet"][2]
    print(f"videos           {args.videos} x {args.segments} pieces joined, {frames} frames, {cuts} true cuts "
          f"(seed {args.seed}, tolerance +-{TOLERANCE} frames)")
    print(f"TransNetV2       {_prf(*totals['transnet'])}")
    print(f"ffmpeg scene>{args.threshold:<4g}{_prf(*totals['ffmpeg'])}")
    print(f"TransNetV2 speed {frames / seconds:8.1f} frames/s on this machine (CPU)")


if __name__ == "__main__":
    main()
