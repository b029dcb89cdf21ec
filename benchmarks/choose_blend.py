"""How the hybrid's blend defaults were chosen: validation splits carved from the *training* part of the
anchors' MovieLens 100K splits (never their test part), SBERT text + EfficientNet poster vectors.

For every candidate `visual_scale` (how much posters count against text in the content maps) one probe fit
per validation split gives each block's scores (`avrec.model.tuning.block_scores`); every blend of
`ease_weight`, `taste_weight`, `prior_weight` and the poster profile's `visual_weight` is then a weighted sum.
The objective is the mean, over two warm and three cold-item validation splits, of NDCG@10 relative to the
hybrid without the direct blocks on the same split. Prints the best blends.

    .venv/bin/python benchmarks/choose_blend.py
"""

from __future__ import annotations

import itertools
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ml100k  # noqa: E402

from avrec.model import TrainData, make_model  # noqa: E402
from avrec.model.metrics import ndcg_at_k, top_k  # noqa: E402
from avrec.model.splits import Split, cold_items, random_holdout  # noqa: E402
from avrec.model.tuning import block_scores  # noqa: E402

VISUAL_SCALES = (0.35, 0.7)
EASE = (0.0, 0.5, 1.0, 2.0)
TASTE = (0.0, 0.25, 0.5, 1.0)
PRIOR = (0.0, 0.1, 0.2, 0.4)
VISUAL_PROFILE = (0.0, 0.05)
FIXED = {"text": 0.1, "user": 0.1, "bias": 0.0}  # the hybrid's other defaults, chosen earlier (issue 3)


def ndcg(scores: np.ndarray, split: Split) -> float:
    users = split.test_users
    return ndcg_at_k(top_k(scores, 10, exclude=split.train[users], candidates=split.candidates), split.test[users], 10)


def blend(blocks: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    out = np.zeros_like(next(iter(blocks.values())))
    for name, block in blocks.items():
        key = name.removeprefix("proj_").split("/")[0]
        w = 1.0 if name == "collaborative" or name.startswith("proj_") else weights.get(key, FIXED.get(key, 0.0))
        out += w * block
    return out


def main() -> None:
    ml = ml100k.load()
    positives, _ = ml.positives()
    content = ml100k.content(ml)
    warm_train = random_holdout(positives, 0.2, 5, 42).train  # the anchors' splits: only their training parts
    cold_train = cold_items(positives, 0.2, 42).train
    splits = [("warm", random_holdout(warm_train, 0.2, 5, seed)) for seed in (0, 1)]
    splits += [("cold", cold_items(cold_train, 0.2, seed)) for seed in (0, 1, 2)]
    ids_u, ids_i = [str(u) for u in range(ml.n_users)], [str(i) for i in range(ml.n_items)]
    results: list[tuple[float, dict[str, float], list[float]]] = []
    baseline: list[float] | None = None
    for scale in VISUAL_SCALES:
        all_blocks = []
        for _, split in splits:
            data = TrainData(ids_u, ids_i, split.train, content, ml.user_features, ml.user_feature_names)
            model = make_model("hybrid", visual_scale=scale)
            all_blocks.append(block_scores(model, replace(data, interactions=split.train), split))  # type: ignore[arg-type]
        if baseline is None:
            base = {"ease": 0.0, "taste": 0.0, "prior": 0.0, "visual": 0.0}
            baseline = [ndcg(blend(b, base), s) for b, (_, s) in zip(all_blocks, splits, strict=True)]
        for e, t, p, v in itertools.product(EASE, TASTE, PRIOR, VISUAL_PROFILE):
            weights = {"ease": e, "taste": t, "prior": p, "visual": v}
            per = [ndcg(blend(b, weights), s) for b, (_, s) in zip(all_blocks, splits, strict=True)]
            warm = np.mean([x / y for x, y, (k, _) in zip(per, baseline, splits, strict=True) if k == "warm"])
            cold = np.mean([x / y for x, y, (k, _) in zip(per, baseline, splits, strict=True) if k == "cold"])
            results.append((float((warm + cold) / 2), {"visual_scale": scale, **weights}, per))
        print(f"visual_scale {scale}: done", file=sys.stderr, flush=True)
    results.sort(key=lambda r: -r[0])
    if len(sys.argv) > 1:  # keep every blend's figures for a closer look
        import json

        Path(sys.argv[1]).write_text(json.dumps(results), encoding="utf-8")
    print("baseline (no direct blocks) per split:", " ".join(f"{x:.4f}" for x in baseline or []))
    print(f"{'objective':>9}  blend  (NDCG@10 on warm-0 warm-1 cold-0 cold-1 cold-2)")
    for objective, weights, per in results[:15]:
        print(f"{objective:>9.4f}  {weights}  ({' '.join(f'{x:.4f}' for x in per)})")


if __name__ == "__main__":
    main()
