"""How long one `avrec recommend --user U` takes as a whole process, against `python -c "import numpy"`.

    python benchmarks/recommend_latency.py                    # synthetic store: 3,000 items, default model
    python benchmarks/recommend_latency.py --model mf
    python benchmarks/recommend_latency.py --items 20000 --runs 15
    python benchmarks/recommend_latency.py --sample           # sample_media's catalog and log instead

Builds a store in a temporary folder (catalog + interactions + `avrec fit`; no embed needed),
then times several runs of each command (after one warm-up run each, so both read from the page cache)
and prints the medians and their ratio (goal: at most 3). Then it runs
`python -X importtime -m avrec recommend ...` and says whether torch (or another heavy library) was
imported on that path; if so it prints the chain of imports that pulled it in.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "torchvision", "open_clip", "sentence_transformers", "transformers", "faster_whisper",
         "ctranslate2", "av", "matplotlib", "pyarrow", "pyspark")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("AVREC_STORE", None)
    return env


def _run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), check=False, **kw)  # type: ignore[call-overload]
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return proc


def build_store(store: Path, work: Path, *, items: int, users: int, rows: int, sample: bool, model: str) -> str:
    avrec = [sys.executable, "-m", "avrec", "--store", str(store), "--quiet"]
    if sample:
        _run([*avrec, "ingest", "catalog", str(REPO / "sample_media" / "catalog.csv")])
        _run([*avrec, "ingest", "interactions", str(REPO / "sample_media" / "interactions.csv")])
        user = "u_calm"
    else:
        rng = random.Random(0)
        catalog = work / "catalog.csv"
        with catalog.open("w") as fh:
            fh.write("item_id,title,tags\n")
            for i in range(items):
                fh.write(f"i{i},Item {i},t{i % 40}|t{(i * 7) % 40}\n")
        log = work / "log.csv"
        with log.open("w") as fh:
            fh.write("user_id,item_id,timestamp,event\n")
            for n in range(rows):
                u = rng.randrange(users)
                i = rng.randrange(u % 16, items, 16) if rng.random() < 0.8 else rng.randrange(items)
                fh.write(f"u{u},i{i},{1_700_000_000 + n},view\n")
        _run([*avrec, "ingest", "catalog", str(catalog)])
        _run([*avrec, "ingest", "interactions", str(log)])
        user = "u1"
    _run([*avrec, "fit", "--model", model, "--format", "json"])
    return user


def _any_item(store: Path) -> str:
    conn = sqlite3.connect(store / "avrec.db")
    try:
        return str(conn.execute("SELECT item_id FROM items ORDER BY item_id DESC LIMIT 1").fetchone()[0])
    finally:
        conn.close()


def median_seconds(cmd: list[str], runs: int) -> tuple[float, list[float]]:
    _run(cmd)  # warm-up: page cache, .pyc files
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        _run(cmd)
        times.append(time.perf_counter() - started)
    return statistics.median(times), times


def import_chain(importtime: str, module: str) -> list[str]:
    """The chain of imports that loaded `module`, outermost first, from `-X importtime` output.

    Each line is `import time: self | cumulative | <indent>name`; a module's line comes after its
    children's, and nesting shows as two spaces of indent per level.
    """
    entries = []
    for line in importtime.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        name_part = line.rsplit("|", 1)[1]
        name = name_part.strip()
        depth = (len(name_part) - len(name_part.lstrip(" ")) - 1) // 2
        entries.append((depth, name))
    for n, (depth, name) in enumerate(entries):
        if name == module or name.startswith(module + "."):
            chain = [name]
            want = depth
            for later_depth, later_name in entries[n + 1 :]:
                if later_depth < want:
                    chain.append(later_name)
                    want = later_depth
                    if want == 0:
                        break
            return list(reversed(chain))
    return []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=3000)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--sample", action="store_true", help="use sample_media's catalog and log")
    parser.add_argument("--model", default="hybrid", help="what `avrec fit --model` trains (default: hybrid)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="avrec-latency-") as tmp:
        work = Path(tmp)
        store = work / "store"
        user = build_store(store, work, items=args.items, users=args.users, rows=args.rows, sample=args.sample,
                            model=args.model)
        rec_args = ["--store", str(store), "--quiet", "recommend", "--user", user, "-k", "10", "--format", "csv"]
        recommend = [sys.executable, "-m", "avrec", *rec_args]
        numpy = [sys.executable, "-c", "import numpy"]
        rec_median, rec_times = median_seconds(recommend, args.runs)
        np_median, np_times = median_seconds(numpy, args.runs)
        ratio = rec_median / np_median
        what = "sample_media" if args.sample else f"{args.items} items, {args.users} users, {args.rows} events"
        print(f"store: {what}; model {args.model}; {args.runs} runs each (median)")
        print(f"avrec recommend --user {user}: {rec_median * 1000:7.1f} ms  "
              f"(min {min(rec_times) * 1000:.1f}, max {max(rec_times) * 1000:.1f})")
        print(f"python -c 'import numpy':      {np_median * 1000:7.1f} ms  "
              f"(min {min(np_times) * 1000:.1f}, max {max(np_times) * 1000:.1f})")
        print(f"ratio: {ratio:.2f}  (goal <= 3: {'met' if ratio <= 3 else 'NOT met'})")
        # The same user once it has an event the model has not seen: no stored vector applies, so the
        # model is loaded (with scipy) and the user's vector computed from the store.
        late = work / "late.csv"
        late.write_text(f"user_id,item_id,timestamp,event\n{user},{_any_item(store)},1900000000,view\n")
        _run([sys.executable, "-m", "avrec", "--store", str(store), "--quiet", "ingest", "interactions", str(late)])
        full_median, _ = median_seconds(recommend, args.runs)
        print(f"the same user after a new event (full path, model loaded): {full_median * 1000:.1f} ms, "
              f"ratio {full_median / np_median:.2f}")

        for command in (rec_args, ["--store", str(store), "--quiet", "info", "--format", "json"]):
            proc = _run([sys.executable, "-X", "importtime", "-m", "avrec", *command])
            loaded = {line.rsplit("|", 1)[1].strip().split(".")[0]
                      for line in proc.stderr.splitlines() if line.startswith("import time:") and "|" in line}
            heavy = [m for m in HEAVY if m in loaded]
            label = " ".join(command[3:5])
            print(f"python -X importtime -m avrec {label} ...: torch imported: {'yes' if 'torch' in loaded else 'no'}"
                  f"; heavy modules: {', '.join(heavy) or 'none'}")
            for module in heavy:
                chain = import_chain(proc.stderr, module)
                print(f"  {module} pulled in by: {' -> '.join(chain)}")


if __name__ == "__main__":
    main()
