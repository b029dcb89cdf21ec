"""Cut detection: TransNetV2 (avrec's shot boundaries) versus the ffmpeg scene score, on clips with known cuts.

    python benchmarks/shot_cuts.py [--videos 6] [--segments 5] [--threshold 0.3] [--seed 0] [--device cpu]

Each test video is `--segments` pieces joined end to end with ffmpeg, cut from ffmpeg's synthetic sources
and the redistributable clips in sample_media/ at random offsets and lengths (30-110 frames at 25 fps).
Joins are hard cuts, except a `--dissolves` share that are 12-frame cross-fades (ffmpeg xfade). A
`--flashes` share of pieces get a 2-frame white flash in their middle: not a cut, a classic false alarm
for frame-difference methods, as are the sources that move fast inside one piece (Mandelbrot zoom, Game
of Life, the Big Buck Bunny clips). A detection counts when it is within 2 frames of a hard cut, or inside
a cross-fade (+-2 frames); each true transition matches at most one detection. Prints precision, recall
and F1 of both methods, for all transitions and for hard cuts and dissolves apart, and what each costs per
minute of video (TransNetV2 on `--device`, with the small decode it needs; the ffmpeg scene score).
"""

from __future__ import annotations

import argparse
import random
import re
import subprocess
import tempfile
import time
from pathlib import Path

from avrec.encoders.base import resolve_device
from avrec.encoders.shots import ShotDetector
from avrec.media.ffmpeg import ffmpeg_exe
from avrec.media.shots import decode_small

ROOT = Path(__file__).resolve().parents[1]
SYNTHETIC = ["testsrc2", "smptebars", "mandelbrot", "life", "rgbtestsrc", "cellauto"]
CLIPS = ["bbb_wakeup.mp4", "bbb_stretch.mp4", "city_night.mp4", "fireplace.mp4", "ocean_waves.mp4",
         "rain_window.mp4", "sunny_meadow.mp4", "pasta_recipe.mp4"]
FPS = 25
TOLERANCE = 2
DISSOLVE = 12
_SCENE = re.compile(r"pts_time:([0-9.]+).*?\n.*?lavfi\.scene_score=([0-9.]+)", re.S)


def _piece(rng: random.Random, out: Path, frames: int, flash: bool) -> None:
    """One segment of `frames` frames at 320x180, 25 fps, from a random source and offset (maybe a flash)."""
    ff = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
    if rng.random() < 0.5:
        src = rng.choice(SYNTHETIC)
        size = "320x180"
        extra = ":rule=110" if src == "cellauto" else ""
        ff += ["-f", "lavfi", "-i", f"{src}=size={size}:rate={FPS}{extra}", "-ss", f"{rng.uniform(0, 3):.2f}"]
    else:
        clip = ROOT / "sample_media" / rng.choice(CLIPS)
        ff += ["-stream_loop", "-1", "-ss", f"{rng.uniform(0, 2):.2f}", "-i", str(clip)]
    vf = f"scale=320:180,setsar=1,fps={FPS}"
    if flash:
        mid = frames // 2
        vf += f",drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='between(n,{mid},{mid + 1})'"
    ff += ["-an", "-vf", vf, "-frames:v", str(frames),
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(out)]
    subprocess.run(ff, check=True)


def make_video(
    rng: random.Random, folder: Path, name: str, segments: int, dissolves: float, flashes: float
) -> tuple[Path, list[tuple[int, int, str]]]:
    """A video of `segments` joined pieces and its transitions as (first, last frame, "cut" | "dissolve")."""
    ff = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
    enc = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    current = folder / f"{name}-0.mp4"
    total = rng.randint(30, 110)
    _piece(rng, current, total, rng.random() < flashes)
    truth: list[tuple[int, int, str]] = []
    for k in range(1, segments):
        n = rng.randint(30, 110)
        piece = folder / f"{name}-{k}.mp4"
        _piece(rng, piece, n, rng.random() < flashes)
        joined = folder / f"{name}-j{k}.mp4"
        if rng.random() < dissolves:
            offset = (total - DISSOLVE) / FPS
            graph = f"[0:v][1:v]xfade=transition=fade:duration={DISSOLVE / FPS}:offset={offset:.4f}[v]"
            truth.append((total - DISSOLVE, total - 1, "dissolve"))
            total += n - DISSOLVE
        else:
            graph = "[0:v][1:v]concat=n=2:v=1[v]"
            truth.append((total, total, "cut"))
            total += n
        subprocess.run([*ff, "-i", str(current), "-i", str(piece), "-filter_complex", graph, "-map", "[v]",
                        *enc, str(joined)], check=True)
        current = joined
    return current, truth


def ffmpeg_scene_cuts(path: Path, threshold: float) -> list[int]:
    """Frames whose ffmpeg scene score passes `threshold` (what avrec samples by without TransNetV2)."""
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), "-an", "-vf",
         "select='gte(scene,0)',metadata=print:key=lavfi.scene_score", "-f", "null", "-"],
        capture_output=True, check=True,
    )
    log = proc.stderr.decode("utf-8", "replace")
    return [round(float(t) * FPS) for t, s in _SCENE.findall(log) if float(s) > threshold]


def score(found: list[int], truth: list[tuple[int, int, str]], kind: str | None = None) -> tuple[int, int, int]:
    """(true positives, detections, true transitions) with each transition matched at most once.

    With `kind`, only transitions of that kind count, and detections matching another kind are left out.
    """
    left = list(truth)
    tp = det = 0
    for f in sorted(found):
        near = [t for t in left if t[0] - TOLERANCE <= f <= t[1] + TOLERANCE]
        if near:
            best = min(near, key=lambda t: abs((t[0] + t[1]) / 2 - f))
            left.remove(best)
            if kind is None or best[2] == kind:
                tp += 1
                det += 1
        elif kind is None or not any(t[0] - TOLERANCE <= f <= t[1] + TOLERANCE for t in truth):
            det += 1  # a false alarm counts against every kind
    return tp, det, sum(1 for t in truth if kind is None or t[2] == kind)


def _prf(tp: int, det: int, true: int) -> str:
    p = tp / det if det else 0.0
    r = tp / true if true else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return f"precision {p:5.3f}  recall {r:5.3f}  F1 {f:5.3f}  ({tp} of {true} found, {det} detections)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=6)
    parser.add_argument("--segments", type=int, default=5)
    parser.add_argument("--threshold", type=float, default=0.3, help="ffmpeg scene-score threshold (avrec's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dissolves", type=float, default=0.3, help="share of joins that are cross-fades")
    parser.add_argument("--flashes", type=float, default=0.3, help="share of pieces with a white flash")
    parser.add_argument("--device", default="cpu", help="torch device for TransNetV2: cpu, cuda or auto")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    device = resolve_device(args.device)
    detector = ShotDetector(device=device)
    kinds = (None, "cut", "dissolve")
    totals = {(m, k): [0, 0, 0] for m in ("transnet", "ffmpeg") for k in kinds}
    frames = 0
    seconds = {"decode": 0.0, "transnet": 0.0, "ffmpeg": 0.0}
    with tempfile.TemporaryDirectory(prefix="avrec-cuts-") as tmp:
        for v in range(args.videos):
            path, truth = make_video(rng, Path(tmp), f"v{v}", args.segments, args.dissolves, args.flashes)
            started = time.perf_counter()
            small = decode_small(path)
            seconds["decode"] += time.perf_counter() - started
            frames += len(small)
            started = time.perf_counter()
            found = detector.cuts(small)
            seconds["transnet"] += time.perf_counter() - started
            started = time.perf_counter()
            scene = ffmpeg_scene_cuts(path, args.threshold)
            seconds["ffmpeg"] += time.perf_counter() - started
            for name, got in (("transnet", found), ("ffmpeg", scene)):
                for kind in kinds:
                    for i, x in enumerate(score(got, truth, kind)):
                        totals[(name, kind)][i] += x
    n_cut, n_dis = totals[("transnet", "cut")][2], totals[("transnet", "dissolve")][2]
    print(f"videos           {args.videos} x {args.segments} pieces joined, {frames} frames: {n_cut} hard cuts, "
          f"{n_dis} {DISSOLVE}-frame dissolves, flashes in ~{args.flashes:.0%} of pieces "
          f"(seed {args.seed}, tolerance +-{TOLERANCE} frames)")
    for kind, label in ((None, "all"), ("cut", "hard cuts"), ("dissolve", "dissolves")):
        print(f"{label}:")
        print(f"  TransNetV2       {_prf(*totals[('transnet', kind)])}")
        print(f"  ffmpeg scene>{args.threshold:<4g}{_prf(*totals[('ffmpeg', kind)])}")
    minutes = frames / FPS / 60.0
    print(f"cost per minute of {FPS} fps video on {device}: TransNetV2 {seconds['transnet'] / minutes:.2f} s "
          f"({frames / seconds['transnet']:.1f} frames/s) + its 48x27 decode {seconds['decode'] / minutes:.2f} s; "
          f"ffmpeg scene score (decode included) {seconds['ffmpeg'] / minutes:.2f} s")


if __name__ == "__main__":
    main()
