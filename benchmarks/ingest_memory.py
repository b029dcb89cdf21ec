"""Ingest a generated interaction log and show that memory stays bounded as the log grows.

    python benchmarks/ingest_memory.py                  # 100,000 and 1,000,000 rows, CSV
    python benchmarks/ingest_memory.py --rows 2000000 --format jsonl

For each size a log is generated on disk (streamed, never held in memory), then ingested by
`avrec.ingest.ingest_interactions` into a fresh store in a fresh process, so each peak RSS is that
run's alone. A good CSV or JSON Lines log takes the bulk path (see `avrec.ingest.common`): read once in
16 MiB batches, held in memory up to 256 MiB of checked columns (~5M events of short ids), spilled to Arrow
files beyond, then written in blocks of about 1M events, with a SQLite page cache of at most 512 MiB; the
row path validates first and then writes in batches. Bounded memory shows as a peak RSS that stops growing
once the log is past what is held.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

EVENTS = np.array(["view", "view", "view", "play", "like", "share", "skip", "click"])


def generate(path: Path, rows: int, fmt: str, *, users: int, items: int, seed: int = 0) -> None:
    """Write a power-law-ish log in chunks; a few percent of rows are exact duplicates."""
    rng = np.random.default_rng(seed)
    chunk = 100_000
    start = 1_700_000_000
    with path.open("w", encoding="utf-8", newline="") as fh:
        if fmt == "csv":
            fh.write("user_id,item_id,timestamp,event,weight\n")
        for offset in range(0, rows, chunk):
            n = min(chunk, rows - offset)
            user = rng.zipf(1.3, n) % users
            item = rng.zipf(1.2, n) % items
            ts = start + offset + np.arange(n)
            dup = rng.random(n) < 0.02
            ts[dup] = np.maximum(ts[dup] - 1, start)
            event = EVENTS[rng.integers(0, len(EVENTS), n)]
            if fmt == "csv":
                fh.writelines(
                    f"u{u},i{i},{t},{e},\n" for u, i, t, e in zip(user, item, ts, event, strict=True)
                )
            else:
                fh.writelines(
                    json.dumps({"user_id": f"u{u}", "item_id": f"i{i}", "timestamp": int(t), "event": str(e)})
                    + "\n"
                    for u, i, t, e in zip(user, item, ts, event, strict=True)
                )


def _proc_status(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return None


def peak_rss_mib() -> float:
    """This process's peak resident memory. VmHWM starts afresh at exec; ru_maxrss (the fallback)
    may still count the parent that forked us."""
    peak = _proc_status("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mib() -> float:
    rss = _proc_status("VmRSS")
    return rss if rss is not None else peak_rss_mib()


def child(log: Path, store_dir: Path) -> None:
    """Run in a fresh process: ingest one log and print a JSON line of measurements."""
    from avrec.ingest import ingest_interactions
    from avrec.store import Store

    with Store(store_dir) as store:
        before = rss_mib()
        t0 = time.perf_counter()
        report = ingest_interactions(store, log)
        seconds = time.perf_counter() - t0
        print(
            json.dumps(
                {
                    "rows": report.rows_read,
                    "stored": report.stored,
                    "duplicates": report.duplicates,
                    "seconds": seconds,
                    "rows_per_s": report.rows_read / seconds,
                    "rss_before_mib": before,
                    "peak_rss_mib": peak_rss_mib(),
                    "file_mib": log.stat().st_size / 2**20,
                }
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--child", nargs=2, metavar=("LOG", "STORE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]))
        return

    print(
        f"{'rows':>10} {'format':>6} {'file MiB':>9} {'seconds':>8} {'rows/s':>9} "
        f"{'RSS before':>11} {'peak RSS':>9}"
    )
    with tempfile.TemporaryDirectory(prefix="avrec-ingest-bench-") as tmp:
        for rows in args.rows:
            log = Path(tmp) / f"log-{rows}.{args.format}"
            generate(log, rows, args.format, users=args.users, items=args.items)
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(log), str(Path(tmp) / f"store-{rows}")],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            m = json.loads(out.strip().splitlines()[-1])
            print(
                f"{m['rows']:>10,} {args.format:>6} {m['file_mib']:>9.1f} {m['seconds']:>8.1f} "
                f"{m['rows_per_s']:>9,.0f} {m['rss_before_mib']:>8.0f} MiB {m['peak_rss_mib']:>5.0f} MiB"
            )
            log.unlink()


if __name__ == "__main__":
    main()
