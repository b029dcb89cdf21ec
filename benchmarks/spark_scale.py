"""Local engine vs Spark engine: training time and NDCG@10 as the interaction log grows.

Synthetic mode (default) generates power-law data -- Zipf item popularity, heavy-tailed user activity and
topic structure so that there is something to learn -- at growing sizes, holds out 20% of each user's
interactions (users with >= 5), fits the same model with both engines and prints one row per size:

    python benchmarks/spark_scale.py                 # 100k .. 1M interactions, a few minutes on 2 cores
    python benchmarks/spark_scale.py --large         # adds 3M and 6M interactions
    python benchmarks/spark_scale.py --sizes 2e6,8e6 --master spark://host:7077

Spark's start-up and a small warm-up fit are paid once and reported apart; `local_s` / `spark_s` are what
`fit --format json` reports as `train_seconds`. On one small machine the local engine wins; the Spark column
is the one that keeps going when the data no longer fits one machine's memory (add executors, not RAM).
NDCG@10 is on up to `--eval-users` sampled test users.

MovieLens mode compares the engines through the real pipeline -- store, `fit --engine`, `recommend`:

    python benchmarks/spark_scale.py --ml100k ../shared/data/ml-100k/u.data

(positives are ratings >= 4; 20% of each user's positives held out for users with >= 5, seed 42; the store
gets the training positives and the users' attributes; the goal is Spark NDCG@10 >= 0.9 x local.)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from avrec.engines.spark import fit_spark, spark_session
from avrec.model import Recommender, TrainData, make_model
from avrec.model.metrics import ndcg_at_k
from avrec.model.splits import Split, random_holdout

DEFAULT_SIZES = (100_000, 300_000, 1_000_000)
LARGE_SIZES = (3_000_000, 6_000_000)
TOPICS = 40


def power_law_data(n_interactions: int, seed: int = 0) -> sp.csr_matrix:
    """A users x items 0/1 matrix with exactly `n_interactions` distinct pairs.

    Users ~ n/20 with Pareto-distributed activity; items ~ n/100 with Zipf(1.0) popularity inside each of
    `TOPICS` topics; each user draws 80% of their items from one favourite topic and the rest anywhere.
    Draws repeat until enough distinct pairs exist, then a random subset of exactly n is kept.
    """
    rng = np.random.default_rng(seed)
    n_users = max(200, n_interactions // 20)
    n_items = max(100, n_interactions // 100)
    activity = rng.pareto(1.5, n_users) + 1.0
    activity /= activity.sum()
    favourite = rng.integers(0, TOPICS, n_users)
    item_topic = rng.integers(0, TOPICS, n_items)
    members = [np.flatnonzero(item_topic == t) for t in range(TOPICS)]
    popularity = [1.0 / np.arange(1, len(m) + 1) for m in members]
    cells = np.zeros(0, dtype=np.int64)
    while cells.size < n_interactions:
        draws = int((n_interactions - cells.size) * 1.3) + 1000
        users = rng.choice(n_users, size=draws, p=activity)
        topic = np.where(rng.random(draws) < 0.8, favourite[users], rng.integers(0, TOPICS, draws))
        items = rng.integers(0, n_items, draws)  # topics without items fall back to uniform
        for t in range(TOPICS):
            at = np.flatnonzero(topic == t)
            if members[t].size and at.size:
                p = popularity[t] / popularity[t].sum()
                items[at] = members[t][rng.choice(members[t].size, size=at.size, p=p)]
        cells = np.unique(np.concatenate([cells, users.astype(np.int64) * n_items + items]))
    cells = rng.choice(cells, size=n_interactions, replace=False)
    return sp.csr_matrix(
        (np.ones(n_interactions, np.float32), (cells // n_items, cells % n_items)), shape=(n_users, n_items)
    )


def evaluate(model: Recommender, split: Split, users: np.ndarray, block: int = 1000) -> float:
    """Mean NDCG@10 over `users` (training history excluded from the ranking), scored in blocks."""
    scores = []
    for start in range(0, len(users), block):
        u = users[start : start + block]
        idx, _ = model.recommend(split.train[u], u, k=10)
        scores.append(ndcg_at_k(idx, split.test[u], 10) * len(u))
    return float(np.sum(scores) / max(len(users), 1))


def run_scale(args: argparse.Namespace) -> list[dict[str, Any]]:
    sizes = [int(float(s)) for s in args.sizes.split(",")] if args.sizes else list(DEFAULT_SIZES)
    if args.large:
        sizes += list(LARGE_SIZES)
    params = {"factors": args.factors, "iterations": args.iterations}
    results = []
    t0 = time.perf_counter()
    with spark_session(args.master, conf={"spark.driver.memory": args.driver_memory}) as spark:
        startup = time.perf_counter() - t0
        # One small untimed fit first: JVM JIT and Python worker start-up are paid once per session, not per fit.
        warm = power_law_data(20_000, seed=args.seed + 1)
        warm_data = TrainData([f"u{u}" for u in range(warm.shape[0])], [f"i{i}" for i in range(warm.shape[1])], warm)
        t1 = time.perf_counter()
        fit_spark(warm_data, model=args.model, seed=args.seed, params={**params, "iterations": 2}, master=args.master)
        print(f"# spark {spark.version} on {spark.sparkContext.master}: start-up {startup:.1f}s, "
              f"warm-up fit {time.perf_counter() - t1:.1f}s (both paid once, not in spark_s)", file=sys.stderr)
        header = f"{'interactions':>12} {'users':>8} {'items':>7} {'local_s':>8} {'spark_s':>8} " \
                 f"{'local_ndcg':>10} {'spark_ndcg':>10} {'ratio':>6}"
        print(header, flush=True)
        for n in sizes:
            matrix = power_law_data(n, seed=args.seed)
            split = random_holdout(matrix, 0.2, 5, 42)
            data = TrainData([f"u{u}" for u in range(matrix.shape[0])], [f"i{i}" for i in range(matrix.shape[1])],
                             split.train)
            rng = np.random.default_rng(0)
            eval_users = split.test_users
            if len(eval_users) > args.eval_users:
                eval_users = np.sort(rng.choice(eval_users, args.eval_users, replace=False))
            started = time.perf_counter()
            local = make_model(args.model, random_state=args.seed, **params).fit(data)
            local_s = time.perf_counter() - started
            local_ndcg = evaluate(local, split, eval_users)
            del local
            info: dict[str, Any] = {}
            remote, spark_s = fit_spark(data, model=args.model, seed=args.seed, params=params,
                                        master=args.master, info=info)
            spark_ndcg = evaluate(remote, split, eval_users)
            del remote
            row = {"interactions": int(matrix.nnz), "train": int(split.train.nnz), "users": data.n_users,
                   "items": data.n_items,
                   "local_seconds": round(local_s, 2), "spark_seconds": round(spark_s, 2),
                   "local_ndcg": round(local_ndcg, 4), "spark_ndcg": round(spark_ndcg, 4),
                   "spark": {k: round(v, 3) if isinstance(v, float) else v for k, v in info.items()}}
            results.append(row)
            ratio = spark_ndcg / local_ndcg if local_ndcg else float("nan")
            print(f"{row['interactions']:>12} {row['users']:>8} {row['items']:>7} {local_s:>8.2f} {spark_s:>8.2f} "
                  f"{local_ndcg:>10.4f} {spark_ndcg:>10.4f} {ratio:>6.3f}", flush=True)
    return results


def run_ml100k(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Both engines through store -> fit -> recommend on MovieLens 100K; NDCG@10 on the held-out 20%."""
    from avrec.recommend import recommend
    from avrec.store import Interaction, Store
    from avrec.training.fit import fit

    path = Path(args.ml100k)
    raw = np.loadtxt(path, dtype=np.int64)
    raw = raw[raw[:, 2] >= 4]
    user_ids = sorted({str(u) for u in raw[:, 0]})
    item_ids = sorted({str(i) for i in raw[:, 1]})
    upos = {u: r for r, u in enumerate(user_ids)}
    ipos = {i: c for c, i in enumerate(item_ids)}
    rows = np.array([upos[str(u)] for u in raw[:, 0]])
    cols = np.array([ipos[str(i)] for i in raw[:, 1]])
    matrix = sp.csr_matrix((np.ones(len(raw), np.float32), (rows, cols)), shape=(len(user_ids), len(item_ids)))
    split = random_holdout(matrix, 0.2, 5, 42)
    test_users = [user_ids[u] for u in split.test_users]
    results = []
    with tempfile.TemporaryDirectory(prefix="avrec-ml100k-") as tmp:
        root = Path(tmp) / "store"
        store = Store(root)
        train = split.train.tocoo()
        store.add_interactions([Interaction(user_ids[u], item_ids[i], "like", None, 1.0)
                                for u, i in zip(train.row.tolist(), train.col.tolist(), strict=True)])
        users_file = path.parent / "u.user"
        if users_file.exists():
            attrs = []
            for line in users_file.read_text(encoding="latin-1").splitlines():
                uid, age, gender, occupation, zipcode = line.split("|")
                attrs.append((uid, {"age": int(age), "gender": gender, "occupation": occupation, "zip": zipcode}))
            store.upsert_users(attrs)
        print(f"{'model':>7} {'engine':>6} {'train_s':>8} {'ndcg@10':>8}", flush=True)
        with spark_session(args.master, conf={"spark.driver.memory": args.driver_memory}):
            for model in args.models.split(","):
                scores = {}
                for engine in ("local", "spark"):
                    report = fit(store, model=model, seed=args.seed, engine=engine,
                                 spark_master=args.master)
                    recs = recommend(store, users=test_users, k=10, use_index=False)
                    topk = np.full((len(test_users), 10), -1, dtype=np.int64)
                    row_of = {u: r for r, u in enumerate(test_users)}
                    for rec in recs:
                        topk[row_of[rec.user_id], rec.rank - 1] = ipos[rec.item_id]
                    ndcg = ndcg_at_k(topk, split.test[split.test_users], 10)
                    scores[engine] = ndcg
                    results.append({"model": model, "engine": engine, "train_seconds": report.train_seconds,
                                    "ndcg@10": round(ndcg, 4)})
                    print(f"{model:>7} {engine:>6} {report.train_seconds:>8.2f} {ndcg:>8.4f}", flush=True)
                print(f"{model:>7}  spark / local NDCG@10 = {scores['spark'] / scores['local']:.3f}", flush=True)
        store.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", help="comma-separated interaction counts, e.g. 1e5,1e6 (default 1e5,3e5,1e6)")
    parser.add_argument("--large", action="store_true", help="also run 3M and 6M interactions")
    parser.add_argument("--model", default="mf", choices=("mf", "hybrid"), help="model for the scale runs")
    parser.add_argument("--models", default="mf,hybrid", help="models for --ml100k")
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--eval-users", type=int, default=5000, help="test users sampled for NDCG@10")
    parser.add_argument("--master", default="local[2]", help="Spark master URL (default local[2])")
    parser.add_argument("--driver-memory", default="2g")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--ml100k", metavar="PATH", help="compare engines on MovieLens 100K (path to u.data)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    results = run_ml100k(args) if args.ml100k else run_scale(args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
