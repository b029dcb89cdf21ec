"""avrec's CLI against the pipeline a data engineer would otherwise write, as the interaction log grows.

For each size it writes a synthetic power-law log (`benchmarks/synthlog.py`: Zipf item popularity,
lognormal user activity) and runs, side by side in the same run, each stage in its own child process:

    avrec      ingest interactions LOG     fit --model mf (F factors, I iterations)     recommend --all-users -k 10
    peer       pandas.read_csv -> scipy CSR -> implicit ALS (the same F, I, threads) -> model.recommend(all users)

in `--rounds` rounds (default 3) that alternate which side goes first (avrec's ingest, fit and recommend,
and the peer's one process), so both meet the same load; it prints each figure's median over the rounds
(wall time; peak memory: the child's maximum resident set, from wait4's rusage, largest over the rounds),
the median of the per-round ratios avrec / peer (each round's two sides ran minutes apart, under the same
load), the spread of those ratios (lowest-highest), and each stage's growth exponent (the least-squares
slope of log median time against log events over the sizes run; 1.0 is linear). avrec's figures are whole
commands (start-up, reading the store, writing the model, its index and stored user vectors, writing the
CSV); the peer runs in one process whose
stages are timed inside it: `read+CSR`, `ALS fit`, `recommend` (the call) and `+ write` (the call plus
writing the same CSV rows with ids), with its peak memory read after each stage (so a stage's peak includes
the stages before it, as a pipeline's does). Ratios compare: ingest with read+CSR, the fit command with
read+CSR+fit (the peer's whole path to a model) and its peak with the peer's peak after fitting,
recommend with the peer's call alone (`rec/call`) and with the call plus writing (`rec/+write`).

    nice -n 10 python benchmarks/scale.py                       # 100k and 1M events (minutes on 2 cores)
    nice -n 10 python benchmarks/scale.py --sizes 100k,1m,5m    # larger by flag (5m: ~10 min a round here)
    nice -n 10 python benchmarks/scale.py --sizes 20m --rounds 1 --json out.json

Sizes are those of issue 16 (`synthlog.SIZES`: 100k / 1m / 5m / 20m events). `--peer-python` runs the
peer in another interpreter (one with pandas + implicit, e.g. /work/venv-anchors/bin/python); by default
this one. Absolute times on a shared machine are inflated; compare the ratios, measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthlog import SIZES, write_log  # noqa: E402  (the benchmarks folder is not a package)

ROOT = Path(__file__).resolve().parents[1]

#: The peer pipeline, run as `python -c PEER log.csv threads factors iterations k out.csv`; prints one JSON
#: object with each stage's seconds and the process's peak memory after it.
PEER = r"""
import csv, json, resource, sys, time
import numpy as np, pandas as pd, scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
log, threads, factors, iterations, k, out = sys.argv[1], *map(int, sys.argv[2:6]), sys.argv[6]
peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
t0 = time.perf_counter()
frame = pd.read_csv(log, usecols=["user_id", "item_id"], dtype={"user_id": str, "item_id": str})
users, user_ids = pd.factorize(frame["user_id"])
items, item_ids = pd.factorize(frame["item_id"])
del frame
m = sp.csr_matrix((np.ones(len(users), np.float32), (users, items)), shape=(len(user_ids), len(item_ids)))
m.sum_duplicates()
t1 = time.perf_counter(); read_peak = peak()
model = AlternatingLeastSquares(factors=factors, iterations=iterations, num_threads=threads, random_state=42)
model.fit(m, show_progress=False)
t2 = time.perf_counter(); fit_peak = peak()
every = np.arange(m.shape[0])
ids, scores = model.recommend(every, m, N=k, filter_already_liked_items=True)
t3 = time.perf_counter(); rec_peak = peak()
with open(out, "w", newline="") as fh:
    w = csv.writer(fh, lineterminator="\n")
    w.writerow(["user_id", "item_id", "rank", "score"])
    names = np.asarray(item_ids, dtype=object)
    for u in range(m.shape[0]):
        keep = ids[u] >= 0
        w.writerows(zip([user_ids[u]] * int(keep.sum()), names[ids[u][keep]], range(1, k + 1),
                        [f"{s:.6g}" for s in scores[u][keep].tolist()]))
t4 = time.perf_counter()
print(json.dumps({"read": t1 - t0, "fit": t2 - t1, "rec": t3 - t2, "write": t4 - t3, "read_peak": read_peak,
                  "fit_peak": fit_peak, "rec_peak": max(rec_peak, peak()), "users": m.shape[0],
                  "items": m.shape[1], "pairs": int(m.nnz)}))
"""


@dataclass
class Run:
    seconds: float
    peak_bytes: int
    stdout: str = ""


def run_child(argv: list[str], *, env: dict[str, str], stdout_path: Path | None = None) -> Run:
    """Run one stage as a child process; its wall time and peak resident memory (wait4's rusage)."""
    out = open(stdout_path, "w") if stdout_path else subprocess.PIPE  # noqa: SIM115
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE, env=env, cwd=ROOT, text=True)
    text = proc.stdout.read() if proc.stdout else ""
    err = proc.stderr.read() if proc.stderr else ""
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if stdout_path:
        out.close()  # type: ignore[union-attr]
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:6])} ... failed ({proc.returncode}):\n{err[-2000:]}")
    return Run(seconds, usage.ru_maxrss * 1024, text)


@dataclass
class Round:
    """One round of one size: avrec's three commands and the peer's process."""

    stages: dict[str, Run] = field(default_factory=dict)
    peer: dict[str, Any] = field(default_factory=dict)
    fit_report: dict[str, Any] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)

    def figures(self) -> dict[str, float]:
        p = self.peer
        return {
            "avrec_ingest_s": self.stages["ingest"].seconds,
            "avrec_fit_s": self.stages["fit"].seconds,
            "avrec_train_s": float(self.fit_report.get("train_seconds", math.nan)),
            "avrec_rec_s": self.stages["recommend"].seconds,
            "avrec_ingest_mb": self.stages["ingest"].peak_bytes / 2**20,
            "avrec_fit_mb": self.stages["fit"].peak_bytes / 2**20,
            "avrec_rec_mb": self.stages["recommend"].peak_bytes / 2**20,
            "peer_read_s": p["read"],
            "peer_fit_s": p["fit"],
            "peer_read_fit_s": p["read"] + p["fit"],
            "peer_rec_s": p["rec"],
            "peer_rec_write_s": p["rec"] + p["write"],
            "peer_read_mb": p["read_peak"] / 2**20,
            "peer_fit_mb": p["fit_peak"] / 2**20,
            "peer_rec_mb": p["rec_peak"] / 2**20,
        }


#: (label, avrec figure, peer figure, avrec memory, peer memory) of each line of the table; the ratio of a
#: line is avrec / peer within each round.
LINES = (
    ("ingest / read+CSR", "avrec_ingest_s", "peer_read_s", "avrec_ingest_mb", "peer_read_mb"),
    ("fit mf / read+CSR+ALS", "avrec_fit_s", "peer_read_fit_s", "avrec_fit_mb", "peer_fit_mb"),
    ("  training only / ALS fit", "avrec_train_s", "peer_fit_s", None, None),
    ("recommend --all-users / rec call", "avrec_rec_s", "peer_rec_s", "avrec_rec_mb", "peer_rec_mb"),
    ("  same / rec call + write CSV", "avrec_rec_s", "peer_rec_write_s", None, None),
)


@dataclass
class SizeResult:
    name: str
    events: int
    rounds: list[Round] = field(default_factory=list)
    shape: dict[str, int] = field(default_factory=dict)

    def figures(self) -> dict[str, float]:
        """Median over the rounds of each time; the largest of each peak memory."""
        each = [r.figures() for r in self.rounds]
        return {
            key: (max if key.endswith("_mb") else statistics.median)([f[key] for f in each]) for key in each[0]
        }

    def ratios(self) -> dict[str, list[float]]:
        """Per line of `LINES`: avrec / peer in each round (time), in round order."""
        out: dict[str, list[float]] = {}
        for _, a, p, _, _ in LINES:
            out[f"{a}/{p}"] = [f[a] / f[p] if f[p] else math.nan for f in (r.figures() for r in self.rounds)]
        return out


def run_size(name: str, work: Path, args: argparse.Namespace, env: dict[str, str]) -> SizeResult:
    shape = SIZES[name]
    log = work / f"log-{name}.csv"
    if not log.exists():
        write_log(log, **shape)
    result = SizeResult(name, shape["events"])
    for number in range(args.rounds):
        # Odd rounds run the peer first: a load that builds up or fades over a round favours neither side.
        result.rounds.append(run_round(name, number, log, work, args, env, peer_first=number % 2 == 1))
    return result


def run_round(
    name: str, number: int, log: Path, work: Path, args: argparse.Namespace, env: dict[str, str], *, peer_first: bool
) -> Round:
    import shutil

    done = Round()
    store = work / f"store-{name}"
    shutil.rmtree(store, ignore_errors=True)
    avrec = [sys.executable, "-m", "avrec", "--store", str(store), "--threads", str(args.threads), "--quiet"]
    peer_out = work / f"peer-{name}.csv"
    peer = [
        args.peer_python,
        "-c",
        PEER,
        str(log),
        str(args.threads),
        str(args.factors),
        str(args.iterations),
        str(args.k),
        str(peer_out),
    ]
    tag = f"[{name} round {number + 1}/{args.rounds}]"

    def run_peer() -> None:
        print(f"{tag} peer pipeline ...", file=sys.stderr, flush=True)
        done.peer = json.loads(run_child(peer, env=env).stdout.strip().splitlines()[-1])

    if peer_first:
        run_peer()
    print(f"{tag} ingest ...", file=sys.stderr, flush=True)
    done.stages["ingest"] = run_child([*avrec, "ingest", "interactions", str(log)], env=env)
    print(f"{tag} fit ...", file=sys.stderr, flush=True)
    fit_args = [
        "fit",
        "--model",
        "mf",
        "--param",
        f"factors={args.factors}",
        "--param",
        f"iterations={args.iterations}",
    ]
    fit = run_child([*avrec, *fit_args, "--format", "json"], env=env)
    done.stages["fit"] = fit
    done.fit_report = json.loads(fit.stdout)
    print(f"{tag} recommend --all-users ...", file=sys.stderr, flush=True)
    rec_out = work / f"avrec-{name}.csv"
    rec = [*avrec, "recommend", "--all-users", "-k", str(args.k), "--format", "csv"]
    done.stages["recommend"] = run_child(rec, env=env, stdout_path=rec_out)
    if not peer_first:
        run_peer()
    done.rows = {"avrec": _lines(rec_out) - 1, "peer": _lines(peer_out) - 1}
    if not args.keep:
        shutil.rmtree(store, ignore_errors=True)
        rec_out.unlink(missing_ok=True)
        peer_out.unlink(missing_ok=True)
    return done


def _lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 20), b""))


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log y against log x (the growth exponent); NaN with fewer than two sizes."""
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys, strict=True) if x > 0 and y > 0]
    if len(pts) < 2:
        return math.nan
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    den = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / den if den else math.nan


def report(results: list[SizeResult], args: argparse.Namespace) -> dict[str, Any]:
    rows = []
    for r in results:
        f = r.figures()
        first = r.rounds[0]
        rows.append(
            {
                "size": r.name,
                "events": r.events,
                **{k: round(v, 3) for k, v in f.items()},
                "ratios": {k: [round(x, 3) for x in v] for k, v in r.ratios().items()},
                "pairs": first.peer["pairs"],
                "users": first.peer["users"],
                "items": first.peer["items"],
                "avrec_rows": first.rows["avrec"],
                "peer_rows": first.rows["peer"],
            }
        )
    print(
        f"threads {args.threads}, factors {args.factors}, iterations {args.iterations}, k {args.k}, "
        f"{args.rounds} round(s) alternating which side runs first; times: medians; memory: largest"
    )
    print()
    head = ("size", "stage", "avrec s", "peer s", "ratio (median)", "ratio range", "avrec MB", "peer MB", "mem ratio")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        for label, a, p, am, pm in LINES:
            each = row["ratios"][f"{a}/{p}"]
            amb = row[am] if am else math.nan
            pmb = row[pm] if pm else math.nan
            cells = [
                row["size"],
                label,
                f"{row[a]:.2f}",
                f"{row[p]:.2f}",
                f"{statistics.median(each):.2f}",
                f"{min(each):.2f}-{max(each):.2f}",
                "" if math.isnan(amb) else f"{amb:.0f}",
                "" if math.isnan(pmb) else f"{pmb:.0f}",
                "" if math.isnan(amb) or not pmb else f"{amb / pmb:.2f}",
            ]
            print("| " + " | ".join(cells) + " |")
    exponents: dict[str, float] = {}
    if len(rows) > 1:
        events = [float(r["events"]) for r in rows]
        for key in (
            "avrec_ingest_s",
            "avrec_fit_s",
            "avrec_train_s",
            "avrec_rec_s",
            "avrec_fit_mb",
            "peer_read_s",
            "peer_read_fit_s",
            "peer_fit_s",
            "peer_rec_s",
            "peer_fit_mb",
        ):
            exponents[key] = round(slope(events, [float(r[key]) for r in rows]), 3)
        print()
        print("growth exponents (slope of log median against log events; 1.0 is linear):")
        for key, value in exponents.items():
            print(f"  {key:>18}: {value:.2f}")
    for row in rows:
        if row["avrec_rows"] != row["peer_rows"]:
            print(f"note: {row['size']}: avrec wrote {row['avrec_rows']} rows, the peer {row['peer_rows']}")
    return {
        "threads": args.threads,
        "factors": args.factors,
        "iterations": args.iterations,
        "k": args.k,
        "rounds": args.rounds,
        "load_average": os.getloadavg(),
        "rows": rows,
        "exponents": exponents,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100k,1m", help=f"comma-separated, of {', '.join(SIZES)}")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--factors", type=int, default=48)
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="rounds per size, alternating which side goes first")
    parser.add_argument("--peer-python", default=sys.executable, help="interpreter with pandas and implicit")
    parser.add_argument("--work", type=Path, help="folder for logs and stores (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the stores and the recommendation files")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    names = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [n for n in names if n not in SIZES]
    if unknown:
        parser.error(f"unknown size {unknown[0]!r}; choose from {', '.join(SIZES)}")
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(args.threads)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    with tempfile.TemporaryDirectory(prefix="avrec-scale-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        results = [run_size(name, work, args, env) for name in names]
    out = report(results, args)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
