"""How fast `avrec ingest interactions` reads a large log, against pandas.read_csv + a scipy CSR build (issue 16).

    python benchmarks/ingest_speed.py                        # 100k events, 3 rounds (well under a minute)
    nice -n 10 python benchmarks/ingest_speed.py --sizes 100k,1m,5m --rounds 1
    python benchmarks/ingest_speed.py --sizes 20m --rounds 1   # 20M events: peak memory within 24 GiB?

For each size a synthetic power-law log (`benchmarks/synthlog.py`: Zipf item popularity, lognormal user
activity; the sizes of issue 16's table) is written once. Then, in alternating order, each round runs

* avrec: `python -m avrec --store FRESH --quiet ingest interactions LOG` -- the whole process, start-up,
  checking, writing and the store's indexes included -- into a fresh store;
* the peer: a fresh Python process that times `pandas.read_csv(LOG)` + `pandas.factorize` of both id
  columns + `scipy.sparse.csr_matrix` (imports not timed: the strictest comparison for avrec).

It prints, per size, the median wall time of each, events/s, the ratio avrec / peer, the peak resident
memory of each process (`os.wait4`'s ru_maxrss), and across sizes the growth exponent of each (the slope
of log time against log events). On a shared machine absolute times are inflated; the ratio of runs
alternating in the same process is what to quote.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthlog import SIZES, write_log  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

PEER = """
import json, sys, time
import numpy as np, pandas as pd, scipy.sparse as sp
start = time.perf_counter()
frame = pd.read_csv(sys.argv[1])
users, user_ids = pd.factorize(frame["user_id"])
items, item_ids = pd.factorize(frame["item_id"])
matrix = sp.csr_matrix((np.ones(len(frame), dtype=np.float32), (users, items)), shape=(len(user_ids), len(item_ids)))
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "rows": len(frame), "nnz": int(matrix.nnz)}))
"""


def run_child(args: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MiB, stdout) of one child process; a failure stops the benchmark."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(args, stdout=out, stderr=err, env=env, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(args[:6])} ... failed:\n{stderr}")
    return wall, usage.ru_maxrss / 1024, stdout


def avrec_ingest(log: Path, work: Path) -> dict[str, Any]:
    store = work / "store"
    shutil.rmtree(store, ignore_errors=True)
    cmd = [sys.executable, "-m", "avrec", "--store", str(store), "--quiet", "ingest", "interactions", str(log),
           "--output-format", "json"]
    wall, peak, stdout = run_child(cmd)
    report = json.loads(stdout)
    shutil.rmtree(store, ignore_errors=True)
    return {"seconds": wall, "peak_mib": peak, "rows": report["rows_read"], "stored": report["stored"]}


def peer_read(log: Path) -> dict[str, Any]:
    wall, peak, stdout = run_child([sys.executable, "-c", PEER, str(log)])
    result = json.loads(stdout)
    return {"seconds": result["seconds"], "process_seconds": wall, "peak_mib": peak, "rows": result["rows"]}


def exponent(points: list[tuple[int, float]]) -> float | None:
    """Least-squares slope of log(seconds) against log(events)."""
    if len(points) < 2:
        return None
    xs = [math.log(n) for n, _ in points]
    ys = [math.log(t) for _, t in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100k", help=f"comma-separated, of {', '.join(SIZES)} (default 100k)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs of each per size (default 3)")
    parser.add_argument("--workdir", type=Path, help="where logs and stores go (default: a temporary folder)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object too")
    args = parser.parse_args(argv)
    sizes = [s.strip().lower() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        parser.error(f"unknown size {unknown[0]!r}: use {', '.join(SIZES)}")

    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="ingest-speed-", dir=args.workdir))
    results = []
    try:
        for size in sizes:
            shape = SIZES[size]
            log = work / f"log-{size}.csv"
            write_log(log, **shape)
            avrec_runs, peer_runs = [], []
            for n in range(args.rounds):
                # alternate who goes first, so neither always runs on a cooler machine
                first, second = (avrec_ingest, peer_read) if n % 2 == 0 else (peer_read, avrec_ingest)
                for job in (first, second):
                    if job is avrec_ingest:
                        avrec_runs.append(avrec_ingest(log, work))
                    else:
                        peer_runs.append(peer_read(log))
            if any(r["rows"] != shape["events"] for r in avrec_runs + peer_runs):
                raise SystemExit(f"{size}: a run did not read all {shape['events']:,} events")
            a = statistics.median(r["seconds"] for r in avrec_runs)
            p = statistics.median(r["seconds"] for r in peer_runs)
            pp = statistics.median(r["process_seconds"] for r in peer_runs)
            row = {
                "size": size,
                "events": shape["events"],
                "users": shape["users"],
                "items": shape["items"],
                "avrec_seconds": round(a, 2),
                "avrec_events_per_s": round(shape["events"] / a),
                "avrec_peak_mib": round(max(r["peak_mib"] for r in avrec_runs)),
                "peer_seconds": round(p, 2),
                "peer_process_seconds": round(pp, 2),
                "peer_events_per_s": round(shape["events"] / p),
                "peer_peak_mib": round(max(r["peak_mib"] for r in peer_runs)),
                "ratio": round(a / p, 2),
                "ratio_whole_processes": round(a / pp, 2),
                "avrec_runs": [round(r["seconds"], 2) for r in avrec_runs],
                "peer_runs": [round(r["seconds"], 2) for r in peer_runs],
            }
            results.append(row)
            print(
                f"{size:>5} ({shape['events']:,} events, {shape['users']:,} users, {shape['items']:,} items): "
                f"avrec ingest {a:.2f} s ({row['avrec_events_per_s']:,} events/s, peak {row['avrec_peak_mib']:,} MiB)"
                f" | pandas.read_csv + CSR {p:.2f} s ({row['peer_events_per_s']:,} events/s; whole process {pp:.2f} s,"
                f" peak {row['peer_peak_mib']:,} MiB) | ratio {row['ratio']:.2f}x"
                f" ({row['ratio_whole_processes']:.2f}x against the peer's whole process)",
                flush=True,
            )
            log.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    slopes = {
        "avrec": exponent([(r["events"], r["avrec_seconds"]) for r in results]),
        "peer": exponent([(r["events"], r["peer_seconds"]) for r in results]),
    }
    if slopes["avrec"] is not None:
        print(f"growth exponent (time ~ events^k): avrec k={slopes['avrec']:.2f}, pandas + CSR k={slopes['peer']:.2f}")
    if args.json:
        print(json.dumps({"sizes": results, "exponents": slopes}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
