"""Helpers for the reliability tests: avrec as a real process, generated media and logs, store state.

These tests treat avrec as a black box the way a cron job does: a separate process per command, exit codes,
stderr. Every process gets its own store under the test's tmp_path, runs offline (`HF_HUB_OFFLINE`) and
single-threaded numerics so that timings and results are stable on a shared 2-core machine.
"""

from __future__ import annotations

import csv
import os
import random
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

AVREC = [sys.executable, "-m", "avrec"]
REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sample_media"

WORDS = ("rain ocean forest city night drums piano violin cartoon bunny cooking pasta weather news calm loud "
         "storm river market subway guitar choir synth meadow snow desert jazz opera").split()


def avrec_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONHASHSEED": "0",
        "TOKENIZERS_PARALLELISM": "false",
    })
    env.pop("AVREC_STORE", None)
    if extra:
        env.update(extra)
    return env


def avrec_args(store: Path, *args: str | bytes) -> list[str | bytes]:
    return [*AVREC, "--store", str(store), "--quiet", *args]


def run_avrec(
    store: Path,
    *args: str | bytes,
    input: str | None = None,
    timeout: float = 300,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """One avrec command as its own process; text output, never raises on a non-zero exit."""
    return subprocess.run(
        avrec_args(store, *args), input=input, capture_output=True, text=True, timeout=timeout,
        env=env or avrec_env(), cwd=cwd or REPO, check=False, errors="backslashreplace",
    )


def popen_avrec(store: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        avrec_args(store, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env or avrec_env(), cwd=REPO,
    )


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-4000:]}"
    return proc


def ffmpeg(*args: str | Path) -> None:
    """The bundled ffmpeg (imageio-ffmpeg), argument list only: names may hold any character."""
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
           *[str(a) for a in args]]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.decode("utf-8", "replace"))


# -- generated data ---------------------------------------------------------------------------------


def write_catalog(path: Path, n_items: int, seed: int = 0) -> Path:
    """A catalog of `n_items` items `i0..` with titles, descriptions and tags (no media paths)."""
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["item_id", "title", "description", "tags"])
        for i in range(n_items):
            w = rng.sample(WORDS, 4)
            writer.writerow([f"i{i}", f"{w[0].title()} {w[1]}", f"A clip about {w[0]} and {w[1]} with {w[2]}.",
                             f"{w[2]}|{w[3]}"])
    return path


def write_log(path: Path, n_rows: int, n_users: int, n_items: int, seed: int = 0, t0: int = 1_700_000_000,
              prefix: str = "") -> Path:
    """An interaction log with taste structure: each user prefers one of a few item clusters."""
    rng = random.Random(seed)
    clusters = 8
    with path.open("w", encoding="utf-8") as fh:
        fh.write("user_id,item_id,timestamp,event\n")
        for n in range(n_rows):
            u = rng.randrange(n_users)
            if rng.random() < 0.8:
                i = rng.randrange(u % clusters, n_items, clusters)
            else:
                i = rng.randrange(n_items)
            fh.write(f"{prefix}u{u},i{i},{t0 + n},{rng.choice(('view', 'view', 'like', 'share'))}\n")
    return path


# -- store state ------------------------------------------------------------------------------------


def db(store: Path) -> sqlite3.Connection:
    """A read-only connection to a store's database (tests only; the library speaks SQL in avrec/store)."""
    return sqlite3.connect(f"file:{store / 'avrec.db'}?mode=ro", uri=True)


def integrity(store: Path) -> str:
    with db(store) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def table_state(store: Path) -> dict[str, Any]:
    """What the store holds, in a form two stores can be compared by (no timestamps of writing)."""
    conn = db(store)
    try:
        one = conn.execute
        state: dict[str, Any] = {
            "counts": {t: one(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608 - constant names
                       for t in ("items", "users", "interactions", "vectors", "media")},
            "interactions": one("SELECT id, user_id, item_id, event, ts, weight FROM interactions ORDER BY id")
            .fetchall(),
            "items": one("SELECT item_id, title, description, tags FROM items ORDER BY item_id").fetchall(),
            "users": one("SELECT user_id FROM users ORDER BY user_id").fetchall(),
            "vectors": one("SELECT item_id, modality, model_id, dim, source_hash FROM vectors "
                           "ORDER BY item_id, modality").fetchall(),
        }
    finally:
        conn.close()
    return state


def vector_blobs(store: Path) -> dict[tuple[str, str], bytes]:
    conn = db(store)
    try:
        return {(r[0], r[1]): r[2] for r in conn.execute("SELECT item_id, modality, vec FROM vectors")}
    finally:
        conn.close()


def recommendations(store: Path, *extra: str) -> list[tuple[str, str, int, float]]:
    proc = ok(run_avrec(store, "recommend", "--all-users", "-k", "5", "--format", "csv", *extra))
    rows = list(csv.DictReader(proc.stdout.splitlines()))
    return [(r["user_id"], r["item_id"], int(r["rank"]), float(r["score"])) for r in rows]


def same_recommendations(a: Sequence[tuple[str, str, int, float]], b: Sequence[tuple[str, str, int, float]]) -> bool:
    return len(a) == len(b) and all(
        x[:3] == y[:3] and abs(x[3] - y[3]) <= 1e-4 * max(1.0, abs(x[3])) for x, y in zip(a, b)
    )
