"""`fit --tune`: pick the hybrid's blend weights on validation splits carved out of the training data only.

One fit per validation split with every blend weight at 1 gives each block's scores separately (collaborative,
each content modality, user attributes, bias, and the hybrid's direct blocks: EASE, taste, prior, nearest
posters, kernel); every candidate weighting is then a cheap weighted sum of those blocks. The objective is the
mean of NDCG@10 on a warm split (20% of each user's interactions) and on a cold-item split (20% of items held
out, ranked among themselves) when the data has content.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from avrec.model.data import TrainData
from avrec.model.metrics import ndcg_at_k, top_k
from avrec.model.splits import Split, cold_items, random_holdout

if TYPE_CHECKING:
    from avrec.model.hybrid import LinearHybrid

GRID = {
    "text_weight": (0.0, 0.075, 0.3),
    "visual_weight": (0.0, 0.05, 0.2),
    "user_weight": (0.0, 0.1, 0.3),
    "bias_weight": (0.0, 0.05),
    # the hybrid's direct blocks (EASE, the content-to-taste map, the popularity prior)
    # (off, or the default chosen on validation splits of MovieLens: benchmarks/choose_blend.py)
    "ease_weight": (0.0, 0.5),
    "taste_weight": (0.0, 0.4),
    "prior_weight": (0.0, 0.6),
    "neighbour_weight": (0.0, 0.3),  # benchmarks/poster_gain.py --neighbour-weights
    "kernel_weight": (0.0, 0.15),
}
DIRECT = ("ease_weight", "taste_weight", "prior_weight", "neighbour_weight", "kernel_weight")


def block_scores(model: LinearHybrid, data: TrainData, split: Split) -> dict[str, np.ndarray]:
    """Fit a copy of `model` (blend weights 1) on `split.train`; return each block's scores for test users."""
    params = model.get_params()
    params.update({k: 1.0 for k in GRID}, audio_weight=1.0, tune=False)
    probe = type(model)(**params)
    probe.fit(replace(data, interactions=split.train))
    users = split.test_users
    h = split.train[users]
    uv = probe.user_vectors(h, users)
    iv = probe.item_matrix()
    blocks: dict[str, np.ndarray] = {}
    start = 0
    for name, width in probe.layout():
        blocks[name] = uv[:, start : start + width] @ iv[:, start : start + width].T
        start += width
    if "collaborative" in blocks:
        # cold items' projected factors belong to the content modalities for weighting purposes
        for m, proj in probe.projections.items():
            part = probe.user_factors[users] @ proj.T
            blocks["collaborative"] = blocks["collaborative"] - part
            blocks[f"proj_{m}"] = part
    return blocks


def _ndcg(scores: np.ndarray, split: Split) -> float:
    users = split.test_users
    top = top_k(scores, 10, exclude=split.train[users], candidates=split.candidates)
    return ndcg_at_k(top, split.test[users], 10)


def tune_weights(model: LinearHybrid, data: TrainData, seed: int = 0) -> dict[str, float]:
    """Best blend weights (keys of GRID present in the data) by validation NDCG@10; training data only."""
    from avrec.model.hybrid import KERNEL_MODALITY, NEIGHBOUR_MODALITY

    splits = [random_holdout(data.interactions, 0.2, 5, seed)]
    if data.content:
        splits.append(cold_items(data.interactions, 0.2, seed))
    all_blocks = [block_scores(model, data, s) for s in splits]
    names = [k for k in GRID if k != "user_weight" or data.user_features is not None]
    names = [
        k
        for k in names
        if k in ("user_weight", "bias_weight")
        or k.split("_")[0] in data.content
        or (
            k in DIRECT
            and model._use_direct
            and (k != "taste_weight" or bool(data.content))
            and (k != "neighbour_weight" or NEIGHBOUR_MODALITY in data.content)
            and (k != "kernel_weight" or KERNEL_MODALITY in data.content)
        )
    ]
    best: tuple[float, dict[str, float]] = (-1.0, {})
    for combo in itertools.product(*(GRID[k] for k in names)):
        weights = dict(zip(names, combo, strict=True))
        total = 0.0
        for blocks, split in zip(all_blocks, splits, strict=True):
            s = np.zeros_like(next(iter(blocks.values())))
            for name, block in blocks.items():
                key = name.removeprefix("proj_").split("/")[0]  # taste/<modality> -> taste
                w = (
                    1.0
                    if name == "collaborative" or name.startswith("proj_")
                    else weights.get(f"{key}_weight", 0.0)
                )
                s += w * block
            total += _ndcg(s, split)
        if total > best[0]:
            best = (total, weights)
    return best[1]
