"""Do avrec's default hyperparameters travel? (issue 3, item 4; and item 3's cold-user split.)

The hybrid's defaults were chosen on MovieLens 100K, positives = rating >= 4. Here the *same defaults*
(`make_model("hybrid")`, no tuning) meet variants of that data they were not chosen on, next to anchors that
get more help than avrec does:

  (a) ml-100k, positives = rating >= 4, binary: the data the defaults were chosen on (reference);
  (b) explicit ratings turned implicit: every rating is an interaction weighted by the rating (1..5);
      relevant at test time = the held-out items rated >= 4;
  (c) a smaller dataset: a random 30% of the users of (a) (seed 42), items they never liked dropped;
  (d) play-count-like weights: each positive of (a) gets a heavy-tailed count, round(s_r * LogNormal(0, 1.5)),
      at least 1, with s_r = 2 for rating 4 and 6 for rating 5 (seed 42); the models get the raw counts;
  (e) cold users: 20% of the users held out entirely (all their positives are the test); models get the
      u.user attributes (age, gender, occupation, zip) encoded as the CLI does (`avrec.training.userfeatures`), and the
      held-out users arrive as new users (-1) with an empty history and their attribute rows.

Warm protocol for (a)-(d): 20% of each user's interactions held out (users with at least 5), seed 42; the
held-out entries of (a) and (d) are the same ones. Metrics: NDCG@10 and Recall@10 (avrec.model.metrics),
training items of each user excluded from the ranking.

Anchors (run in .venv-anchors by `anchors.run_anchors`):
  * implicit ALS (100 factors, 15 iterations) with regularization tuned over 1..100 *on the test split*
    (generous to the anchor), once on the raw weights (implicit's default: the matrix values are the
    confidences) and once on bm25_weight(K1=100, B=0.8) (what implicit's own lastfm example does with play
    counts); each row is the better regularization of its weighting;
  * EASE (Steck 2019) with its penalty and its weights (binary, raw, BM25) tuned on the test split;
  * LightFM WARP (64 components, 30 epochs) on the interactions as positives, and where the data is weighted
    (b, d) also with the weights as sample weights; in (e) with user features: identity + attributes
    (the held-out users' rows are identity-free at prediction) and attributes only.
avrec: popular, and the hybrid with its defaults, once with the content anchors.py gives it (SBERT text of
title/genres/plot, EfficientNet-Lite0 poster vectors) and once on interactions (and user attributes) only.

    .venv/bin/python benchmarks/defaults_travel.py       # one table per variant, ratios at the end (~3 min)
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import anchors  # noqa: E402
import ml100k  # noqa: E402

from avrec.model import ContentMatrix, TrainData, make_model  # noqa: E402
from avrec.model.splits import Split, cold_users, random_holdout  # noqa: E402
from avrec.training.userfeatures import encode, fit_feature_names  # noqa: E402

SEED = 42
COUNT_SCALE = {4: 2.0, 5: 6.0}
COUNT_SIGMA = 1.5
SMALL_FRACTION = 0.3


@dataclass
class Variant:
    key: str
    title: str
    split: Split
    content: dict[str, ContentMatrix]
    user_features: sp.csr_matrix
    feature_names: list[str]
    weighted: bool = False
    cold_users: bool = False
    rows: list[tuple[str, float, float, float]] = field(default_factory=list)

    @property
    def n_users(self) -> int:
        return int(self.split.train.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.split.train.shape[1])


def play_counts(positives: sp.csr_matrix, ratings: sp.csr_matrix, seed: int = SEED) -> sp.csr_matrix:
    """Each positive of `positives` -> a heavy-tailed count whose scale grows with its rating."""
    p = sp.csr_matrix(positives)
    p.sort_indices()
    r = sp.csr_matrix(ratings)
    r.sort_indices()
    stars = np.asarray(r[p.nonzero()]).ravel()
    scale = np.vectorize(COUNT_SCALE.get)(stars.astype(np.int64)).astype(np.float64)
    rng = np.random.default_rng(seed)
    counts = np.maximum(1.0, np.rint(scale * rng.lognormal(0.0, COUNT_SIGMA, size=p.nnz)))
    out = sp.csr_matrix((counts.astype(np.float32), p.indices.copy(), p.indptr.copy()), shape=p.shape)
    return out


def build_variants() -> list[Variant]:
    ml = ml100k.load()
    u, i, r, _ = ml.ratings.T
    shape = (ml.n_users, ml.n_items)
    ratings = sp.csr_matrix((r.astype(np.float32), (u, i)), shape=shape)
    ratings.sort_indices()
    positives, _ = ml.positives()
    positives.sort_indices()
    content = ml100k.content(ml)
    attrs = ml100k.user_attributes()
    # As the CLI does (avrec.training.dataset): the vocabulary from the attributes of the users in the data.
    names = fit_feature_names(attrs)
    feats = encode(attrs, names)
    variants = []

    s = random_holdout(positives, 0.2, 5, SEED)
    variants.append(Variant("a", "ml-100k, rating >= 4, binary (defaults chosen here)", s, content, feats, names))

    s = random_holdout(ratings, 0.2, 5, SEED)
    relevant = sp.csr_matrix(s.test.multiply(s.test >= 4), dtype=np.float32)
    relevant.eliminate_zeros()
    users = np.flatnonzero(np.diff(relevant.indptr) > 0).astype(np.int64)
    s = Split("random", s.train, relevant, users)
    variants.append(
        Variant("b", "all ratings, weight = rating 1..5; relevant = held out >= 4", s, content, feats, names, True)
    )

    rng = np.random.default_rng(SEED)
    keep_u = np.sort(rng.choice(ml.n_users, size=int(round(SMALL_FRACTION * ml.n_users)), replace=False))
    small = positives[keep_u]
    keep_i = np.flatnonzero(np.diff(small.tocsc().indptr) > 0)
    small = sp.csr_matrix(small[:, keep_i])
    sub_content = {m: ContentMatrix(c.vectors[keep_i], c.present[keep_i]) for m, c in content.items()}
    s = random_holdout(small, 0.2, 5, SEED)
    variants.append(
        Variant("c", f"random {SMALL_FRACTION:.0%} of the users of (a)", s, sub_content, feats[keep_u], names)
    )

    counts = play_counts(positives, ratings)
    s = random_holdout(counts, 0.2, 5, SEED)
    s = Split("random", s.train, sp.csr_matrix((s.test > 0).astype(np.float32)), s.test_users)
    med = float(np.median(counts.data))
    title = f"(a) with play counts, median {med:g}, mean {counts.data.mean():.1f}, max {counts.data.max():g}"
    variants.append(Variant("d", title, s, content, feats, names, True))

    s = cold_users(positives, 0.2, SEED)
    variants.append(
        Variant("e", "cold users: 20% of users held out, u.user attributes", s, content, feats, names, cold_users=True)
    )
    return variants


def anchor_jobs(v: Variant, inputs: dict[str, Any]) -> list[dict[str, Any]]:
    train, users = f"{v.key}_train", f"{v.key}_users"
    inputs[train], inputs[users] = v.split.train, v.split.test_users
    common = {"train": train, "users": users}
    if v.cold_users:
        ident = sp.identity(v.n_users, format="csr", dtype=np.float32)
        held = np.zeros(v.n_users, bool)
        held[v.split.test_users] = True
        keep_ident = sp.diags((~held).astype(np.float32)) @ ident
        inputs[f"{v.key}_uf_ident"] = sp.hstack([ident, v.user_features]).tocsr()
        inputs[f"{v.key}_uf_ident_predict"] = sp.hstack([keep_ident, v.user_features]).tocsr()
        inputs[f"{v.key}_uf_attrs"] = v.user_features
        return [
            {"key": f"{v.key}/lightfm_ident_attrs", "model": "lightfm", "binarize": True, **common,
             "user_features": f"{v.key}_uf_ident", "predict_user_features": f"{v.key}_uf_ident_predict"},
            {"key": f"{v.key}/lightfm_attrs", "model": "lightfm", "binarize": True, **common,
             "user_features": f"{v.key}_uf_attrs"},
        ]  # fmt: skip
    jobs = anchors.als_jobs(f"{v.key}/raw", train, users, "raw")
    jobs += anchors.als_jobs(f"{v.key}/bm25", train, users, "bm25")
    jobs.append({"key": f"{v.key}/lightfm", "model": "lightfm", "binarize": True, **common})
    if v.weighted:
        jobs.append(
            {"key": f"{v.key}/lightfm_sw", "model": "lightfm", "binarize": True, "sample_weight": True, **common}
        )
    return jobs


def anchor_rows(v: Variant, res: dict[str, np.ndarray]) -> None:
    s = v.split
    if v.cold_users:
        for key, label in (
            ("lightfm_ident_attrs", "LightFM WARP, identity + attributes"),
            ("lightfm_attrs", "LightFM WARP, attributes only"),
        ):
            nd, rc = anchors.measure(res[f"{v.key}/{key}/scores"], s)
            v.rows.append((label, nd, rc, float(res[f"{v.key}/{key}/seconds"])))
        return
    n = len(anchors.ALS_REGS)
    for weighting in ("raw", "bm25"):
        nd, rc, sec, reg = anchors.best_als(res, f"{v.key}/{weighting}", s)
        v.rows.append((f"implicit ALS {weighting} (reg {reg:g}, best of {n})", nd, rc, sec))
    nd, rc, sec, setting = anchors.peers_ease(s)
    v.rows.append((f"EASE ({setting})", nd, rc, sec))
    for key, label in (("lightfm", "LightFM WARP"), ("lightfm_sw", "LightFM WARP, sample weights")):
        if f"{v.key}/{key}/scores" in res:
            nd, rc = anchors.measure(res[f"{v.key}/{key}/scores"], s)
            v.rows.append((label, nd, rc, float(res[f"{v.key}/{key}/seconds"])))


def avrec_rows(v: Variant) -> None:
    s = v.split
    users = s.test_users
    ids_u, ids_i = [str(x) for x in range(v.n_users)], [str(x) for x in range(v.n_items)]
    for label, kind, content in (
        ("avrec popular", "popular", v.content),
        ("avrec hybrid (defaults)", "hybrid", v.content),
        ("avrec hybrid (defaults, no content)", "hybrid", {}),
    ):
        data = TrainData(ids_u, ids_i, s.train, content, v.user_features, v.feature_names)
        model = make_model(kind)
        start = time.perf_counter()
        model.fit(data)
        sec = time.perf_counter() - start
        if v.cold_users:
            scores = model.score(s.train[users], np.full(len(users), -1), v.user_features[users])
        else:
            scores = model.score(s.train[users], users)
        reg = getattr(model, "regularization", None)
        if reg is not None:
            label += f" reg {reg:.1f}"
        nd, rc = anchors.measure(scores, s)
        v.rows.append((label, nd, rc, sec))


def main() -> None:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(anchors.THREADS))
    start = time.perf_counter()
    variants = build_variants()
    inputs: dict[str, Any] = {}
    jobs: list[dict[str, Any]] = []
    for v in variants:
        jobs += anchor_jobs(v, inputs)
    res = anchors.run_anchors(inputs, jobs)
    for v in variants:
        anchor_rows(v, res)
        avrec_rows(v)
    ratios = []
    for v in variants:
        s = v.split
        print(
            f"\n({v.key}) {v.title}\n    {v.n_users} users x {v.n_items} items, {s.train.nnz} training "
            f"interactions, {len(s.test_users)} test users, {s.test.nnz} relevant test items"
        )
        print(f"    {'model':<48} {'NDCG@10':>8} {'Recall@10':>10} {'train s':>8}")
        for label, nd, rc, sec in v.rows:
            print(f"    {label:<48} {nd:>8.4f} {rc:>10.4f} {sec:>8.2f}")
        best = max((r for r in v.rows if not r[0].startswith("avrec")), key=lambda r: r[1])
        hybrid = next(r for r in v.rows if r[0].startswith("avrec hybrid (defaults)"))
        bare = next(r for r in v.rows if r[0].startswith("avrec hybrid (defaults, no content)"))
        popular = next(r for r in v.rows if r[0] == "avrec popular")
        ratios.append((v.key, best[0], hybrid[1] / best[1], bare[1] / best[1], hybrid[1] / max(popular[1], 1e-12)))
    print("\nNDCG@10 ratios, avrec hybrid with its defaults / best anchor (and / avrec popular)")
    print(f"    {'variant':<8} {'best anchor':<44} {'hybrid':>7} {'no content':>11} {'/ popular':>10}")
    for key, label, r_h, r_b, r_p in ratios:
        print(f"    ({key})      {label:<44} {r_h:>6.2f}x {r_b:>10.2f}x {r_p:>9.2f}x")
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
