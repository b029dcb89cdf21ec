"""Top-10 recall and speed of Annoy candidate retrieval (+ exact re-scoring) against exact scoring, 100k items.

    python benchmarks/ann_recall.py                       # 100,000 items x 64 dims, 1,000 query users
    python benchmarks/ann_recall.py --dim 128 --trees 50,100 --oversample 5,10,20,40

Item factors are made to look like what a matrix-factorisation model produces: a few hundred taste
clusters whose centres share a low-rank structure, per-item noise, and norms that vary a lot (popular items
get long vectors, as ALS and BPR give them). Users are mixtures of one to three clusters plus noise.

Exact scoring is what `recommend --user` does without an index: one matrix-vector product over all items
and a top-k selection. The index path is `avrec.index.InnerProductIndex` (Annoy, angular, with the
inner-product augmentation) asked for `k * oversample` candidates with a given `search_k`, then the
candidates re-scored exactly and the top k kept -- `avrec.recommend._rank_ann`. Both run one query at a
time on one thread (`--threads`), the way one `recommend --user` serves one user. Goal (issue 5): recall@10
at least 0.98 at 10x or more the speed of exact scoring.

For comparison it also measures k-means partitions (an IVF index in plain numpy, not used by avrec):
probe the lists whose centroids score highest for the user, re-score their items exactly.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def _threads_from_argv() -> str:
    for n, arg in enumerate(sys.argv):
        if arg == "--threads" and n + 1 < len(sys.argv):
            return sys.argv[n + 1]
        if arg.startswith("--threads="):
            return arg.split("=", 1)[1]
    return "1"


# BLAS threads must be set before numpy starts.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = _threads_from_argv()

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from avrec.index import DEFAULT_TREES, InnerProductIndex  # noqa: E402
from avrec.recommend import ANN_OVERSAMPLE  # noqa: E402


def make_factors(n_items: int, n_users: int, dim: int, seed: int, noise: float = 0.6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_clusters, rank = 300, 16
    centres = rng.normal(size=(n_clusters, rank)) @ rng.normal(size=(rank, dim)) / np.sqrt(rank)
    centres += 0.3 * rng.normal(size=(n_clusters, dim))
    popularity = rng.zipf(1.6, size=n_clusters).astype(np.float64)
    cluster = rng.choice(n_clusters, size=n_items, p=popularity / popularity.sum())
    items = centres[cluster] + noise * rng.normal(size=(n_items, dim))
    items /= np.linalg.norm(items, axis=1, keepdims=True)
    items *= rng.lognormal(mean=0.0, sigma=0.6, size=(n_items, 1))  # popular items: longer vectors
    users = np.zeros((n_users, dim))
    for u in range(n_users):
        picks = rng.choice(n_clusters, size=rng.integers(1, 4), p=popularity / popularity.sum())
        users[u] = centres[picks].mean(axis=0) + 0.3 * rng.normal(size=dim)
    return items.astype(np.float32), users.astype(np.float32)


IVF = tuple[np.ndarray, np.ndarray, np.ndarray]


def ivf_build(items: np.ndarray, n_lists: int, seed: int, iterations: int = 8) -> IVF:
    """For comparison only: k-means partitions (an IVF index, numpy only). Returns (centroids, order, bounds)."""
    rng = np.random.default_rng(seed)
    cent = items[rng.choice(len(items), n_lists, replace=False)].astype(np.float64)
    sq = (items.astype(np.float64) ** 2).sum(1)
    for _ in range(iterations):
        assign = (sq[:, None] - 2 * items @ cent.T.astype(np.float32) + (cent**2).sum(1)[None, :]).argmin(1)
        sums = np.zeros_like(cent)
        np.add.at(sums, assign, items)
        counts = np.bincount(assign, minlength=n_lists)
        nonempty = counts > 0
        cent[nonempty] = sums[nonempty] / counts[nonempty, None]
    order = np.argsort(assign, kind="stable")
    bounds = np.searchsorted(assign[order], np.arange(n_lists + 1))
    return cent.astype(np.float32), order, bounds


def ivf_top(ivf: IVF, sorted_items: np.ndarray, q: np.ndarray, k: int,
            probes: int) -> np.ndarray:
    cent, order, bounds = ivf
    lists = np.argpartition(-(cent @ q), probes - 1)[:probes]
    rows = np.concatenate([np.arange(bounds[c], bounds[c + 1]) for c in lists])
    exact = sorted_items[rows] @ q
    take = min(k, len(rows))
    top = np.argpartition(-exact, take - 1)[:take]
    return order[rows[top[np.argsort(-exact[top])]]]


def exact_top(items: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    scores = items @ q
    top = np.argpartition(-scores, k - 1)[:k]
    return top[np.argsort(-scores[top])]


def ann_top(index: InnerProductIndex, items: np.ndarray, q: np.ndarray, k: int, n: int, search_k: int) -> np.ndarray:
    cand = index.candidates(q, n, search_k=search_k)
    exact = items[cand] @ q
    take = min(k, len(cand))
    top = np.argpartition(-exact, take - 1)[:take]
    return cand[top[np.argsort(-exact[top])]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--trees", default=f"{DEFAULT_TREES}", help="comma-separated n_trees to build")
    parser.add_argument("--oversample", default=f"2,5,10,{ANN_OVERSAMPLE},40", help="candidates = k * oversample")
    parser.add_argument("--search-k", default="-1,2,5,10",
                        help="-1 = Annoy's default (n_trees * candidates); other values multiply that default")
    parser.add_argument("--threads", default="1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--noise", type=float, default=0.6, help="item spread around its cluster centre")
    parser.add_argument("--ivf-probes", default="5,10,20",
                        help="also measure k-means partitions (IVF, sqrt(n) lists) probing this many lists; '' = skip")
    args = parser.parse_args()
    k = args.k

    items, users = make_factors(args.items, args.queries, args.dim, args.seed, args.noise)
    norms = np.linalg.norm(items, axis=1)
    print(f"{args.items} items x {args.dim} dims (norms: median {np.median(norms):.2f}, "
          f"p99/median {np.percentile(norms, 99) / np.median(norms):.1f}), {args.queries} queries, k={k}, "
          f"threads={args.threads}")

    for q in users[:20]:  # warm-up
        exact_top(items, q, k)
    truth = []
    started = time.perf_counter()
    for q in users:
        truth.append(exact_top(items, q, k))
    exact_ms = (time.perf_counter() - started) / len(users) * 1000
    print(f"exact: {exact_ms:.3f} ms/query (matvec over all items + top-k)")

    results = []
    with tempfile.TemporaryDirectory(prefix="avrec-ann-") as tmp:
        for n_trees in [int(t) for t in args.trees.split(",")]:
            path = Path(tmp) / f"items-{n_trees}.ann"
            started = time.perf_counter()
            index = InnerProductIndex.build(items, path, n_trees=n_trees, seed=args.seed)
            build_s = time.perf_counter() - started
            size_mb = path.stat().st_size / 1e6
            index.candidates(users[0], k)  # load (mmap)
            print(f"\nn_trees={n_trees}: built in {build_s:.1f}s, {size_mb:.0f} MB")
            print(f"{'oversample':>10} {'search_k':>9} {'recall@10':>9} {'ms/query':>9} {'speed-up':>8}")
            for over in [int(o) for o in args.oversample.split(",")]:
                n = k * over
                for mult in [int(m) for m in args.search_k.split(",")]:
                    search_k = -1 if mult == -1 else mult * n_trees * n
                    hits = 0
                    started = time.perf_counter()
                    found = [ann_top(index, items, q, k, n, search_k) for q in users]
                    ann_ms = (time.perf_counter() - started) / len(users) * 1000
                    for got, want in zip(found, truth):
                        hits += len(set(got.tolist()) & set(want.tolist()))
                    recall = hits / (k * len(users))
                    speed = exact_ms / ann_ms
                    label = "default" if mult == -1 else f"{mult}x"
                    results.append((recall, speed, n_trees, over, label, ann_ms))
                    print(f"{over:>10} {label:>9} {recall:>9.4f} {ann_ms:>9.3f} {speed:>7.1f}x")

    if args.ivf_probes:
        n_lists = int(np.sqrt(len(items)))
        started = time.perf_counter()
        ivf = ivf_build(items, n_lists, args.seed)
        sorted_items = items[ivf[1]]
        print(f"\nfor comparison, not used by avrec: k-means partitions (IVF), {n_lists} lists, "
              f"built in {time.perf_counter() - started:.1f}s")
        print(f"{'probes':>10} {'':>9} {'recall@10':>9} {'ms/query':>9} {'speed-up':>8}")
        for probes in [int(p) for p in args.ivf_probes.split(",")]:
            started = time.perf_counter()
            found = [ivf_top(ivf, sorted_items, q, k, probes) for q in users]
            ivf_ms = (time.perf_counter() - started) / len(users) * 1000
            hits = sum(len(set(got.tolist()) & set(want.tolist())) for got, want in zip(found, truth))
            print(f"{probes:>10} {'':>9} {hits / (k * len(users)):>9.4f} {ivf_ms:>9.3f} {exact_ms / ivf_ms:>7.1f}x")

    good = [r for r in results if r[0] >= 0.98]
    print()
    current = [r for r in results if r[2] == DEFAULT_TREES and r[3] == ANN_OVERSAMPLE and r[4] == "default"]
    if current:
        r = current[0]
        print(f"avrec's settings (n_trees={DEFAULT_TREES}, oversample={ANN_OVERSAMPLE}, search_k default): "
              f"recall@10 {r[0]:.4f} at {r[1]:.1f}x")
    if good:
        best = max(good, key=lambda r: r[1])
        verdict = "goal met" if best[1] >= 10 else "goal NOT met (speed-up < 10x)"
        print(f"fastest with recall@10 >= 0.98: n_trees={best[2]}, oversample={best[3]}, search_k {best[4]}: "
              f"recall {best[0]:.4f} at {best[1]:.1f}x -> {verdict}")
    else:
        best = max(results, key=lambda r: r[0])
        print(f"no setting reached recall@10 0.98; best recall {best[0]:.4f} at {best[1]:.1f}x "
              f"(n_trees={best[2]}, oversample={best[3]}, search_k {best[4]}) -> goal NOT met")
    at10 = [r for r in results if r[1] >= 10]
    if at10:
        best10 = max(at10, key=lambda r: r[0])
        print(f"best recall at >= 10x: {best10[0]:.4f} (n_trees={best10[2]}, oversample={best10[3]}, "
              f"search_k {best10[4]}, {best10[1]:.1f}x)")


if __name__ == "__main__":
    main()
