"""How the hybrid's blend defaults were chosen: validation splits carved from the *training* part of the
anchors' MovieLens 100K splits (never their test part), SBERT text + EfficientNet poster vectors.

Four warm validation splits (20% of each user's positives, seeds 0-3, from the anchors' warm training part),
`--cold` cold-item validation splits (20% of the items, seeds 0, 1, ..., from the anchors' cold training
part) with the title + genres + plot catalog, and `--cold-short` more with a title + genres catalog (as most
MovieLens releases have; the text peers get the same text). On each, the peers of `benchmarks/anchors.py`
are tuned on that validation split's held-out part as anchors.py tunes them on the test split (EASE warm;
SBERT-kNN, the bilinear ridge and SBERT-kNN + content popularity cold), so the objective is what anchors.py
reports: the hybrid's NDCG@10 over the best peer's.

For each setting that needs its own fit (`taste_reg`, the ridge penalty of the content-to-taste map and the
content-predicted popularity prior; `projection_reg`, the cold-item projection's) one probe fit per split
gives each block's scores (`avrec.model.tuning.block_scores`); every blend of `text_weight`, `bias_weight`,
`ease_weight`, `taste_weight`, `prior_weight` and `kernel_weight` is then a weighted sum (the poster
parameters, issue 12's, stay at their defaults). The kernel block's `kernel_sharpness` (3-20) and `kernel_reg`
(0.03-10) were swept on the same splits from its closed form, with the other blocks at these defaults.
Prints, for the best blends by the lowest of the three mean ratios (warm, cold, cold with title + genres),
each side's mean, lower quartile and minimum, and the current defaults' figures.

    .venv/bin/python benchmarks/choose_blend.py [--cold 16] [--cold-short 10]      # ~30 min on 2 cores
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import anchors  # noqa: E402
import ml100k  # noqa: E402

from avrec.model import ContentMatrix, TrainData, make_model  # noqa: E402
from avrec.model.hybrid import HYBRID_DEFAULTS, LinearHybrid  # noqa: E402
from avrec.model.metrics import ndcg_at_k, top_k  # noqa: E402
from avrec.model.splits import Split, cold_items, random_holdout  # noqa: E402
from avrec.model.tuning import block_scores  # noqa: E402

REFITS = (  # settings that change the blocks themselves: one probe fit per split each
    {"taste_reg": 10.0, "projection_reg": 10.0},
    {"taste_reg": 3.0, "projection_reg": 3.0},
    {"taste_reg": 1.0, "projection_reg": 3.0},
)
GRID = {
    "text": (0.075, 0.1),
    "bias": (0.0, 0.05),
    "ease": (0.5, 0.75),
    "taste": (0.25, 0.4),
    "prior": (0.4, 0.5, 0.6),
    "kernel": (0.0, 0.1, 0.15, 0.2),  # the kernel ridge block for cold items (at kernel_sharpness 4, kernel_reg 0.1)
}


def ndcg(scores: np.ndarray, split: Split) -> float:
    users = split.test_users
    return ndcg_at_k(top_k(scores, 10, exclude=split.train[users], candidates=split.candidates), split.test[users], 10)


def blend(blocks: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    """The score with each block at its blend weight (the collaborative part and the cold projection at 1,
    every other block at its default unless `weights` names it)."""
    defaults = {
        "text": LinearHybrid().text_weight,
        "user": LinearHybrid().user_weight,
        "bias": LinearHybrid().bias_weight,
        **{k.removesuffix("_weight"): float(v) for k, v in HYBRID_DEFAULTS.items() if k.endswith("_weight")},
    }
    out = np.zeros_like(blocks["collaborative"], dtype=np.float64)
    for name, block in blocks.items():
        key = name.removeprefix("proj_").split("/")[0]
        w = 1.0 if name == "collaborative" or name.startswith("proj_") else weights.get(key, defaults.get(key, 0.0))
        out += w * block
    return out


def best_peer(kind: str, split: Split, text: np.ndarray) -> float:
    """The best peer's NDCG@10 on a validation split, tuned on its held-out part as anchors.py does on test."""
    if kind == "warm":
        return anchors.peers_ease(split)[0]
    return max(row[0] for row in anchors.peers_content(text, split).values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", type=int, default=16, help="cold-item validation splits, title + genres + plot")
    parser.add_argument("--cold-short", type=int, default=10, help="cold-item validation splits, title + genres")
    args = parser.parse_args()
    ml = ml100k.load()
    positives, _ = ml.positives()
    content = ml100k.content(ml)
    short = ml100k.text_vectors(ml, plot=False)
    catalogs = {"plot": content, "short": {**content, "text": ContentMatrix(short, np.ones(ml.n_items, bool))}}
    texts = {"plot": ml100k.text_vectors(ml), "short": short}
    warm_train = random_holdout(positives, 0.2, 5, 42).train  # the anchors' splits: only their training parts
    cold_train = cold_items(positives, 0.2, 42).train
    sides = ("warm", "cold", "cold, title + genres")
    splits = [(sides[0], "plot", random_holdout(warm_train, 0.2, 5, seed)) for seed in range(4)]
    splits += [(sides[1], "plot", cold_items(cold_train, 0.2, seed)) for seed in range(args.cold)]
    splits += [(sides[2], "short", cold_items(cold_train, 0.2, seed)) for seed in range(args.cold_short)]
    peers = [best_peer("warm" if side == "warm" else "cold", s, texts[c]) for side, c, s in splits]
    print("best peer per split (tuned on its held-out part):", " ".join(f"{p:.4f}" for p in peers), flush=True)
    ids_u, ids_i = [str(u) for u in range(ml.n_users)], [str(i) for i in range(ml.n_items)]
    results: list[tuple[dict[str, tuple[float, float, float]], dict[str, float]]] = []
    for refit in REFITS:
        all_blocks = []
        for _, c, s in splits:
            data = TrainData(ids_u, ids_i, s.train, catalogs[c], ml.user_features, ml.user_feature_names)
            all_blocks.append(block_scores(make_model("hybrid", **refit), data, s))
        for combo in itertools.product(*GRID.values()):
            weights = dict(zip(GRID, combo, strict=True))
            ratios = [
                ndcg(blend(b, weights), s) / peer for b, (_, _, s), peer in zip(all_blocks, splits, peers, strict=True)
            ]
            figures = {}
            for side in sides:
                r = [x for x, (k, _, _) in zip(ratios, splits, strict=True) if k == side]
                figures[side] = (float(np.mean(r)), float(np.percentile(r, 25)), min(r))
            results.append((figures, {**refit, **{f"{k}_weight": v for k, v in weights.items()}}))
        print(f"{refit}: done", file=sys.stderr, flush=True)

    def row(figures: dict[str, tuple[float, float, float]], setting: dict[str, float]) -> str:
        return "  ".join(f"{m:.4f} {q:.3f} {lo:.3f}" for m, q, lo in figures.values()) + f"  {setting}"

    print("mean, lower quartile, min of NDCG@10 / best peer on:", ", ".join(sides))
    results.sort(key=lambda r: -min(m for m, _, _ in r[0].values()))
    for figures, setting in results[:15]:
        print(row(figures, setting))
    model = make_model("hybrid")
    for figures, setting in results:
        if all(getattr(model, k) == v for k, v in setting.items()):
            print("the current defaults:")
            print(row(figures, setting))


if __name__ == "__main__":
    main()
