"""One text vector over all of an item's text, or the mean of a short-metadata vector and a long-text one?

    python benchmarks/text_split.py [--splits 16] [--warm-splits 4] [--weights 0.5,0.6,0.7,0.8,0.9,1]

Validation splits only: carved (seeds 0, 1, ...) from the training parts of the anchors' cold and warm splits
(benchmarks/anchors.py, seed 42), whose test parts are left alone. On each, the default hybrid is fitted with
text only, for each text vector:
  * concat: SBERT over "title. Genres: .... plot" (one string: avrec's text vector before the split);
  * mean w: avrec's text vector (benchmarks/ml100k.py `text_vectors`, the construction of `avrec embed`) with
    short-text weight w: the unit-length w * short + (1 - w) * long, short = SBERT over title + genres as
    tags, long = SBERT over the plot (short alone when an item has no plot); w = 1 is short alone.
Printed: NDCG@10 per split and variant, then per variant the mean, 10th percentile and minimum of its ratio
to concat on the same split, cold and warm.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ml100k  # noqa: E402

from avrec.model import ContentMatrix, TrainData, make_model  # noqa: E402
from avrec.model.metrics import ndcg_at_k, top_k  # noqa: E402
from avrec.model.splits import Split, cold_items, random_holdout  # noqa: E402


def ndcg(scores: np.ndarray, split: Split) -> float:
    users = split.test_users
    return ndcg_at_k(top_k(scores, 10, exclude=split.train[users], candidates=split.candidates), split.test[users], 10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--splits", type=int, default=16)
    parser.add_argument("--warm-splits", type=int, default=4)
    parser.add_argument("--weights", default="0.5,0.6,0.7,0.8,0.9,1")
    args = parser.parse_args()
    ml = ml100k.load()
    positives, _ = ml.positives()
    variants = {"concat": ml100k.sbert([ml.item_text(i) for i in range(ml.n_items)])}
    for w in (float(x) for x in args.weights.split(",") if x):
        variants[f"mean {w:g}"] = ml100k.text_vectors(ml, weight=w)
    ids_u, ids_i = [str(u) for u in range(ml.n_users)], [str(i) for i in range(ml.n_items)]
    cold_train = cold_items(positives, 0.2, 42).train
    warm_train = random_holdout(positives, 0.2, 5, 42).train
    splits = [(f"cold-{s}", cold_items(cold_train, 0.2, s)) for s in range(args.splits)]
    splits += [(f"warm-{s}", random_holdout(warm_train, 0.2, 5, s)) for s in range(args.warm_splits)]
    results: dict[str, dict[str, float]] = {}
    print(f"{'split':<8} " + " ".join(f"{n:>9}" for n in variants), flush=True)
    for label, split in splits:
        results[label] = {}
        for name, vecs in variants.items():
            content = {"text": ContentMatrix(vecs, np.ones(ml.n_items, bool))}
            model = make_model("hybrid")
            model.fit(TrainData(ids_u, ids_i, split.train, content, ml.user_features, ml.user_feature_names))
            users = split.test_users
            results[label][name] = ndcg(model.score(split.train[users], users), split)
        print(f"{label:<8} " + " ".join(f"{results[label][n]:>9.4f}" for n in variants), flush=True)
    for kind in ("cold", "warm"):
        rows = [r for k, r in results.items() if k.startswith(kind)]
        if not rows:
            continue
        print(f"{kind} ({len(rows)} validation splits), ratio to concat:")
        for name in variants:
            r = np.array([row[name] / row["concat"] for row in rows])
            nd = np.mean([row[name] for row in rows])
            print(
                f"  {name:<9} mean NDCG@10 {nd:.4f}  ratio mean {r.mean():.3f}, 10th pct {np.percentile(r, 10):.3f}, "
                f"min {r.min():.3f}, better on {(r > 1).sum()} of {len(r)}"
            )


if __name__ == "__main__":
    main()
