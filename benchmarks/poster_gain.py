"""What posters add to text for cold items, on validation splits carved from the anchors' training data.

    python benchmarks/poster_gain.py [--splits 16] [--first-seed 0] [--catalog title-genres] [--whiten K]
                                     [--neighbours K --neighbour-weights W,W,...]

The anchors' cold split (benchmarks/anchors.py: 20% of ml-100k's items held out, seed 42) is left alone:
only its training part is used. From it, `--splits` cold-item validation splits are carved (20% of the
items held out each, seeds `--first-seed`, +1, ...: the defaults were chosen on seeds 0-15, so seeds from 16 on
are fresh to them), and the default hybrid is fitted on each with text only (SBERT
over title, genres and plot; `--catalog title-genres`: title and genres only, as most MovieLens releases
have), text + posters (EfficientNet-Lite0 vectors) and posters only. Printed per
split: NDCG@10 of each, the ratio text + posters / text only, and the held-out item with the most test
positives whose mean rank (over test users) posters moved down the most. Then the spread of the ratio
over the splits, and its mean with each of the poster's parts of the score removed in turn (the poster
profile, the cold-item projection, the content-to-taste map, the popularity predicted from posters), to
see which part carries the gain or the loss. `--whiten K` replaces the poster vectors by their first K
principal components, whitened (fitted on the catalog's posters), before everything else. Last, how the
ratio goes with the text-only NDCG@10 over the splits (correlation and a least-squares line): posters add
less where text alone already ranks well, which says what ratio to expect on a split with a given text score.

`--anchors-split` runs the same on the anchors' own cold split (its test part included): to see which items
a loss there comes from, never to choose anything.

`--frame-labels` puts each poster's ImageNet labels ("Frames show: comic book") into the text + posters
arm's text, as `avrec embed` did before it kept labels out of a text with words: what that costs.

`--neighbour-weights` chooses the weight of the neighbour block (each cold item scored by the user's history
on its `--neighbours` nearest warm items by poster, weighted by similarity): the text + posters model is
fitted once per split with the block at weight 1, and the ratio's spread over the splits is printed for each
weight (the block is one additive part of the score, so every weight is a weighted sum).
"""

from __future__ import annotations

import argparse

import ml100k
import numpy as np

from avrec.model import ContentMatrix, TrainData, make_model
from avrec.model.hybrid import HYBRID_DEFAULTS, NEIGHBOUR_BLOCK, LinearHybrid
from avrec.model.metrics import ndcg_at_k, top_k
from avrec.model.splits import Split, cold_items


def ndcg(scores: np.ndarray, split: Split) -> float:
    users = split.test_users
    top = top_k(scores, 10, exclude=split.train[users], candidates=split.candidates)
    return ndcg_at_k(top, split.test[users], 10)


def whitened(vectors: np.ndarray, present: np.ndarray, k: int) -> np.ndarray:
    """The first k principal components of the present rows, each scaled to unit variance (absent rows 0)."""
    x = np.asarray(vectors, np.float64)[present]
    centred = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    scale = s[:k] / np.sqrt(len(x))
    out = np.zeros((len(vectors), k), np.float32)
    out[present] = centred @ vt[:k].T / np.maximum(scale, 1e-12)
    return out


def mean_ranks(scores: np.ndarray, candidates: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Each of `items`' rank among `candidates` (1 = first), averaged over the rows of `scores`."""
    sub = scores[:, candidates]
    return np.array([float((sub > scores[:, [i]]).sum(axis=1).mean()) + 1.0 for i in items])


def named_block(model: LinearHybrid, split: Split, name: str) -> np.ndarray:
    """One column block's part of the model's scores for the split's test users (zero if absent)."""
    users = split.test_users
    uv, iv = model.user_vectors(split.train[users], users), model.item_matrix()
    start = 0
    for block, width in model.layout():
        if block == name:
            return uv[:, start : start + width] @ iv[:, start : start + width].T
        start += width
    return np.zeros((len(users), model.n_items), np.float32)


def visual_parts(model: LinearHybrid, split: Split) -> dict[str, np.ndarray]:
    """The posters' parts of the default hybrid's scores for the split's test users (users x items)."""
    users = split.test_users
    uv, iv = model.user_vectors(split.train[users], users), model.item_matrix()
    parts: dict[str, np.ndarray] = {}
    start = 0
    for name, width in model.layout():
        if name in ("visual", "taste/visual"):
            parts[{"visual": "profile", "taste/visual": "taste map"}[name]] = (
                uv[:, start : start + width] @ iv[:, start : start + width].T
            )
        start += width
    if "visual" in model.projections:
        parts["cold projection"] = model.user_factors[users] @ model.projections["visual"].T
    default = HYBRID_DEFAULTS.get("neighbour_weight", 0.0)
    if model.neighbour_weight and default:  # the block at its default weight (the model may be fitted at 1)
        parts["nearest posters"] = default / model.neighbour_weight * named_block(model, split, NEIGHBOUR_BLOCK)
    if "visual" in model.prior_parts:
        weight = model.prior_weight * float(model.blend_scales[2])
        parts["predicted popularity"] = np.tile(weight * model.prior_parts["visual"], (len(users), 1))
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--splits", type=int, default=16)
    parser.add_argument("--first-seed", type=int, default=0, help="seed of the first validation split")
    parser.add_argument(
        "--anchors-split", action="store_true", help="the anchors' own cold split (to diagnose, never to choose)"
    )
    parser.add_argument("--catalog", choices=("title-genres-plot", "title-genres"), default="title-genres-plot")
    parser.add_argument("--whiten", type=int, default=0, help="whiten the poster vectors to K dimensions")
    parser.add_argument("--neighbours", type=int, default=None, help="neighbour_k of the block to weigh")
    parser.add_argument("--neighbour-weights", default="", help="comma-separated neighbour_weight values")
    parser.add_argument("--frame-labels", action="store_true", help="posters' labels in text + posters' text")
    args = parser.parse_args()
    ml = ml100k.load()
    positives, _ = ml.positives()
    text = ContentMatrix(ml100k.text_vectors(ml, plot=args.catalog == "title-genres-plot"), np.ones(ml.n_items, bool))
    vectors, has_poster = ml100k.poster_vectors_effnet(ml)
    both_text = text
    if args.frame_labels:
        labelled = ml100k.text_vectors(ml, plot=args.catalog == "title-genres-plot", labels=ml100k.poster_labels(ml))
        both_text = ContentMatrix(labelled, np.ones(ml.n_items, bool))
    if args.whiten:
        vectors = whitened(vectors, has_poster, args.whiten)
    posters = ContentMatrix(vectors, has_poster)
    train = cold_items(positives, 0.2, 42).train  # the anchors' cold split: its training part only
    ids_u, ids_i = [str(u) for u in range(ml.n_users)], [str(i) for i in range(ml.n_items)]
    sweep = [float(w) for w in args.neighbour_weights.split(",") if w]
    fixed = {"neighbour_weight": 1.0, "neighbour_k": args.neighbours or 1} if sweep else {}
    swept: dict[float, list[float]] = {w: [] for w in sweep}
    ratios: list[float] = []
    text_scores: list[float] = []
    dropped: dict[str, list[float]] = {}
    header = f"{'split':>5} {'text':>7} {'text+posters':>12} {'posters':>8} {'ratio':>6}"
    print(f"{header}  most demoted popular held-out item")
    seeds = range(1) if args.anchors_split else range(args.first_seed, args.first_seed + args.splits)
    for seed in seeds:
        split = cold_items(positives, 0.2, 42) if args.anchors_split else cold_items(train, 0.2, seed)
        users = split.test_users
        scores: dict[str, np.ndarray] = {}
        for name, content in (
            ("text", {"text": text}),
            ("both", {"text": both_text, "visual": posters}),
            ("posters", {"visual": posters}),
        ):
            model = make_model("hybrid", **(fixed if name == "both" else {}))
            model.fit(TrainData(ids_u, ids_i, split.train, content, ml.user_features, ml.user_feature_names))
            scores[name] = model.score(split.train[users], users)
            if name == "both" and sweep and isinstance(model, LinearHybrid):
                block = named_block(model, split, NEIGHBOUR_BLOCK)
                for w in sweep:
                    swept[w].append(ndcg(scores["both"] + (w - 1.0) * block, split))
                # the table's text + posters column stays the default hybrid's
                scores["both"] = scores["both"] + (HYBRID_DEFAULTS.get("neighbour_weight", 0.0) - 1.0) * block
            if name == "both" and isinstance(model, LinearHybrid):
                for part, block in visual_parts(model, split).items():
                    dropped.setdefault(part, []).append(ndcg(scores["both"] - block, split))
        nd = {name: ndcg(s, split) for name, s in scores.items()}
        ratio = nd["both"] / nd["text"]
        for w in sweep:
            swept[w][-1] /= nd["text"]
        ratios.append(ratio)
        text_scores.append(nd["text"])
        for part in dropped:
            dropped[part][-1] /= nd["text"]
        cands = split.candidates if split.candidates is not None else np.arange(ml.n_items)
        counts = np.asarray(split.test[users][:, cands].sum(axis=0)).ravel()
        popular = cands[np.argsort(-counts)[:5]]
        ranks = {name: mean_ranks(scores[name], cands, popular) for name in ("text", "both")}
        worst = int(np.argmax(ranks["both"] - ranks["text"]))
        print(
            f"{seed:>5} {nd['text']:>7.4f} {nd['both']:>12.4f} {nd['posters']:>8.4f} {ratio:>6.3f}  "
            f"{ml.titles[popular[worst]]} (rank {ranks['text'][worst]:.0f} -> {ranks['both'][worst]:.0f})"
        )
    r = np.asarray(ratios)
    where = "the anchors' cold split" if args.anchors_split else f"{len(r)} validation splits"
    q10, q25, q50, q75 = np.percentile(r, [10, 25, 50, 75])
    print(
        f"text + posters / text only over {where} ({args.catalog}): mean {r.mean():.3f}, "
        f"10th percentile {q10:.3f}, quartiles {q25:.3f} {q50:.3f} {q75:.3f}, min {r.min():.3f}, max {r.max():.3f}; "
        f"at least 1.02 on {(r >= 1.02).sum()} of {len(r)}"
    )
    for part, values in dropped.items():
        print(f"  without the posters' {part:<20} mean ratio {np.mean(values):.3f}")
    if len(r) > 2:
        t = np.asarray(text_scores)
        slope, intercept = np.polyfit(t, r, 1)
        residual = float(np.std(r - (intercept + slope * t)))
        print(
            f"ratio against text-only NDCG@10: correlation {np.corrcoef(t, r)[0, 1]:.2f}, "
            f"ratio = {intercept:.3f} {slope:+.3f} x text (residual std {residual:.3f}); "
            f"text-only NDCG@10 over the splits {t.min():.4f}-{t.max():.4f}"
        )
    for w, values in swept.items():
        v = np.asarray(values)
        q25, q50, q75 = np.percentile(v, [25, 50, 75])
        print(
            f"neighbour_weight {w:<5} (neighbour_k {fixed['neighbour_k']}): mean {v.mean():.3f}, quartiles "
            f"{q25:.3f} {q50:.3f} {q75:.3f}, min {v.min():.3f}; per split {' '.join(f'{x:.3f}' for x in v)}"
        )


if __name__ == "__main__":
    main()
