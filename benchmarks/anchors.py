"""avrec against implicit (ALS, BPR) and LightFM (WARP, with and without genre features) on MovieLens 100K.

Protocol (issue 3): positives are ratings >= 4; warm = 20% of each user's positives held out (users with at
least 5); cold = 20% of the items held out entirely and ranked among themselves; seed 42. Every model is
scored on the very same split (written to a temporary .npz) and measured by the same metric code
(avrec.model.metrics): NDCG@10, Recall@10, training seconds.

The anchors run in their own virtual environment (created on first use at .venv-anchors: implicit, and
LightFM built with --no-build-isolation after setuptools and cython), through a subprocess; avrec runs in
this interpreter. implicit ALS gets its regularization tuned over 1..100, and is reported at its best
*test* NDCG (generous to the anchor). avrec's hybrid uses its defaults (chosen on validation splits carved
from training data). For cold items avrec uses SBERT text (title, genres, plot) and weight-free poster
descriptors; LightFM gets genre features (warm: identity + genres; cold: genres only, its best setting).

    .venv/bin/python benchmarks/anchors.py            # prints one table
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ml100k  # noqa: E402

from avrec.model import ContentMatrix, TrainData, make_model  # noqa: E402
from avrec.model.metrics import ndcg_at_k, recall_at_k, top_k  # noqa: E402
from avrec.model.splits import Split, cold_items, random_holdout  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(os.environ.get("AVREC_ANCHORS_VENV", ROOT / ".venv-anchors"))
THREADS = int(os.environ.get("AVREC_BENCH_THREADS", "2"))
REPEATS = 3
ALS_REGS = (1.0, 3.0, 5.0, 10.0, 15.0, 20.0, 30.0, 50.0, 100.0)

CHILD = r"""
import json, sys, time
import numpy as np, scipy.sparse as sp
from threadpoolctl import threadpool_limits
z = np.load(sys.argv[1], allow_pickle=False)
with open(sys.argv[3], encoding="utf-8") as fh:
    jobs = json.load(fh)
threads = int(sys.argv[4])
out = {}
def m(prefix):
    return sp.csr_matrix((z[prefix + "_data"], z[prefix + "_indices"], z[prefix + "_indptr"]),
                         shape=tuple(z[prefix + "_shape"]))
from implicit.als import AlternatingLeastSquares
from implicit.bpr import BayesianPersonalizedRanking
from implicit.nearest_neighbours import bm25_weight
from lightfm import LightFM
with threadpool_limits(1, "blas"):
    for job in jobs:
        train = m(job["train"]).astype(np.float32)
        users = z[job["users"]]
        n_items = train.shape[1]
        kind, key = job["model"], job["key"]
        if kind in ("als", "bpr"):
            fit_on = train
            if job.get("weighting") == "bm25":
                fit_on = bm25_weight(train, K1=100, B=0.8).tocsr().astype(np.float32)
            if kind == "als":
                model = AlternatingLeastSquares(factors=100, regularization=job["regularization"], iterations=15,
                                                random_state=42, num_threads=threads)
            else:
                model = BayesianPersonalizedRanking(factors=64, iterations=100, random_state=42,
                                                    num_threads=threads)
            t = time.perf_counter(); model.fit(fit_on, show_progress=False); sec = time.perf_counter() - t
            out[key + "/scores"] = model.user_factors[users] @ model.item_factors.T
        else:
            item_features = m(job["item_features"]) if job.get("item_features") else None
            user_features = m(job["user_features"]) if job.get("user_features") else None
            predict_features = m(job["predict_user_features"]) if job.get("predict_user_features") else user_features
            coo = train.tocoo()
            weights = None
            if job.get("sample_weight"):
                weights = coo.copy()
            if job.get("binarize"):
                coo = sp.coo_matrix((np.ones_like(coo.data), (coo.row, coo.col)), shape=coo.shape)
            model = LightFM(no_components=64, loss="warp", random_state=42)
            t = time.perf_counter()
            model.fit(coo, user_features=user_features, item_features=item_features, sample_weight=weights,
                      epochs=30, num_threads=threads)
            sec = time.perf_counter() - t
            scores = np.vstack([model.predict(int(u), np.arange(n_items), item_features=item_features,
                                              user_features=predict_features, num_threads=threads)
                                for u in users])
            out[key + "/scores"] = scores.astype(np.float32)
        out[key + "/seconds"] = np.array(sec)
np.savez(sys.argv[2], **out)
"""


def ensure_venv() -> Path:
    """Create the anchors' virtual environment once (implicit, LightFM); return its python."""
    python = VENV / "bin" / "python"
    check = [str(python), "-c", "import implicit, lightfm, threadpoolctl"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    print(f"creating {VENV} with implicit and LightFM ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "numpy", "scipy", "setuptools", "cython", "wheel", "threadpoolctl"], check=True)
    subprocess.run([*pip, "implicit"], check=True)
    subprocess.run([*pip, "--no-build-isolation", "lightfm"], check=True)
    return python


def _put(out: dict[str, np.ndarray], prefix: str, m: sp.spmatrix) -> None:
    m = sp.csr_matrix(m)
    out[prefix + "_data"], out[prefix + "_indices"] = m.data, m.indices
    out[prefix + "_indptr"], out[prefix + "_shape"] = m.indptr, np.array(m.shape)


def run_anchors(inputs: dict[str, sp.spmatrix | np.ndarray], jobs: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Run anchor `jobs` in the anchors' environment; returns `{key}/scores` and `{key}/seconds` per job.

    `inputs` names the sparse matrices (training interactions, user or item features) and dense arrays
    (test user rows) the jobs refer to. A job is a dict with `key` (its name in the result), `train` and
    `users` (input names), and `model`:
      * "als": implicit ALS, 100 factors, 15 iterations, `regularization`; `weighting` "raw" (the matrix
        values are the confidences, implicit's default) or "bm25" (implicit's bm25_weight, K1=100, B=0.8);
      * "bpr": implicit BPR, 64 factors, 100 iterations;
      * "lightfm": LightFM WARP, 64 components, 30 epochs; optional `item_features`, `user_features` and
        `predict_user_features` (input names; the latter replaces the user features at prediction time, e.g.
        identity-free rows for cold users), `binarize` (every non-zero is a positive) and `sample_weight`
        (the matrix values weight the examples).
    Scores are for the rows `users` over all items, as float arrays; seconds are training time only.
    """
    python = ensure_venv()
    arrays: dict[str, np.ndarray] = {}
    for name, value in inputs.items():
        if sp.issparse(value):
            _put(arrays, name, value)
        else:
            arrays[name] = np.asarray(value)
    with tempfile.TemporaryDirectory() as tmp:
        split_file, result_file = Path(tmp) / "split.npz", Path(tmp) / "anchors.npz"
        job_file = Path(tmp) / "jobs.json"
        np.savez(split_file, **arrays)  # type: ignore[arg-type]
        job_file.write_text(json.dumps(jobs), encoding="utf-8")
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": ""}
        subprocess.run(
            [str(python), "-c", CHILD, str(split_file), str(result_file), str(job_file), str(THREADS)],
            check=True,
            env=env,
        )
        with np.load(result_file, allow_pickle=False) as res:
            return {k: res[k] for k in res.files}


def als_jobs(prefix: str, train: str, users: str, weighting: str = "raw") -> list[dict[str, Any]]:
    """One implicit ALS job per regularization in ALS_REGS, keyed `{prefix}/als_reg{reg}`."""
    return [
        {
            "key": f"{prefix}/als_reg{reg:g}",
            "train": train,
            "users": users,
            "model": "als",
            "regularization": reg,
            "weighting": weighting,
        }
        for reg in ALS_REGS
    ]


def measure(scores: np.ndarray, split: Split) -> tuple[float, float]:
    users = split.test_users
    top = top_k(scores, 10, exclude=split.train[users], candidates=split.candidates)
    return ndcg_at_k(top, split.test[users], 10), recall_at_k(top, split.test[users], 10)


def best_als(res: dict[str, np.ndarray], prefix: str, split: Split) -> tuple[float, float, float, float]:
    """(NDCG@10, Recall@10, seconds, regularization) of the ALS_REGS run with the best *test* NDCG."""
    best: tuple[float, float, float, float] | None = None
    for reg in ALS_REGS:
        nd, rc = measure(res[f"{prefix}/als_reg{reg:g}/scores"], split)
        if best is None or nd > best[0]:
            best = (nd, rc, float(res[f"{prefix}/als_reg{reg:g}/seconds"]), reg)
    assert best is not None
    return best


def main() -> None:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(THREADS))
    ml = ml100k.load()
    positives, _ = ml.positives()
    splits = {"warm": random_holdout(positives, 0.2, 5, 42), "cold": cold_items(positives, 0.2, 42)}
    rows: list[tuple[str, str, float, float, float]] = []
    n_items = ml.n_items
    inputs: dict[str, sp.spmatrix | np.ndarray] = {}
    jobs: list[dict[str, Any]] = []
    for name, s in splits.items():
        inputs[f"{name}_train"], inputs[f"{name}_users"] = s.train, s.test_users
        genres = sp.csr_matrix(ml.genres)
        ident = sp.identity(n_items, format="csr")
        inputs[f"{name}_genres"] = sp.hstack([genres] if name == "cold" else [ident, genres]).tocsr()
        jobs += als_jobs(name, f"{name}_train", f"{name}_users")
        jobs += als_jobs(f"{name}_bm25", f"{name}_train", f"{name}_users", weighting="bm25")
        common = {"train": f"{name}_train", "users": f"{name}_users"}
        jobs.append({"key": f"{name}/bpr", "model": "bpr", **common})
        jobs.append({"key": f"{name}/lightfm_warp", "model": "lightfm", **common})
        jobs.append(
            {"key": f"{name}/lightfm_warp_genres", "model": "lightfm", "item_features": f"{name}_genres", **common}
        )
    res = run_anchors(inputs, jobs)
    for split_name, s in splits.items():
        nd, rc, sec, reg = best_als(res, split_name, s)
        rows.append((split_name, f"implicit ALS (reg {reg:g}, best of {len(ALS_REGS)})", nd, rc, sec))
        nd, rc, sec, reg = best_als(res, f"{split_name}_bm25", s)
        rows.append((split_name, f"implicit ALS bm25 (reg {reg:g}, best of {len(ALS_REGS)})", nd, rc, sec))
        for key, label in (
            ("bpr", "implicit BPR"),
            ("lightfm_warp", "LightFM WARP"),
            ("lightfm_warp_genres", "LightFM WARP + genres"),
        ):
            nd, rc = measure(res[f"{split_name}/{key}/scores"], s)
            rows.append((split_name, label, nd, rc, float(res[f"{split_name}/{key}/seconds"])))
    text = ml100k.text_vectors(ml)
    posters, has_poster = ml100k.poster_vectors(ml)
    content = {
        "text": ContentMatrix(text, np.ones(ml.n_items, bool)),
        "visual": ContentMatrix(posters, has_poster),
    }
    ids_u, ids_i = [str(u) for u in range(ml.n_users)], [str(i) for i in range(ml.n_items)]
    for split_name, s in splits.items():
        data = TrainData(ids_u, ids_i, s.train, content, ml.user_features, ml.user_feature_names)
        for kind in ("popular", "itemknn", "mf", "content", "hybrid"):
            times = []
            for _ in range(REPEATS):  # median of a few fits: this machine's timings are noisy
                model = make_model(kind)
                start = time.perf_counter()
                model.fit(data)
                times.append(time.perf_counter() - start)
            sec = float(np.median(times))
            users = s.test_users
            nd, rc = measure(model.score(s.train[users], users), s)
            rows.append((split_name, f"avrec {kind}", nd, rc, sec))
        if split_name == "cold":
            volume = np.array(
                [len(ml.descriptions[i]) + 50 * ml.genres[i].sum() + 100 * has_poster[i] for i in range(ml.n_items)],
                np.float64,
            )
            nd, rc = measure(np.tile(volume, (len(s.test_users), 1)), s)
            rows.append((split_name, "metadata volume (non-personal)", nd, rc, 0.0))
    print(f"{'split':<6} {'model':<36} {'NDCG@10':>8} {'Recall@10':>10} {'train s':>8}")
    for split_name, label, nd, rc, sec in rows:
        print(f"{split_name:<6} {label:<36} {nd:>8.4f} {rc:>10.4f} {sec:>8.2f}")
    for split_name in splits:
        anchors = [r for r in rows if r[0] == split_name and not r[1].startswith(("avrec", "metadata"))]
        best = max(anchors, key=lambda r: r[2])
        hybrid = next(r for r in rows if r[0] == split_name and r[1] == "avrec hybrid")
        als_sec = next(r[4] for r in rows if r[0] == split_name and r[1].startswith("implicit ALS"))
        print(
            f"{split_name}: hybrid / best anchor ({best[1]}) NDCG@10 = "
            f"{hybrid[2] / max(best[2], 1e-12):.2f}x; "
            f"train time / implicit ALS = {hybrid[4] / max(als_sec, 1e-12):.2f}x"
        )


if __name__ == "__main__":
    main()
