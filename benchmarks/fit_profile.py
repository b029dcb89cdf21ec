"""Where the hybrid's fit spends its time on MovieLens 100K (the anchors' warm and cold splits, SBERT text +
EfficientNet-Lite0 poster vectors, the default hybrid), next to one EASE fit on the same split.

Each split's hybrid is fitted ROUNDS times under cProfile; the table gives the median cumulative CPU seconds
(all threads) of each part: the ALS factorisation (`fit_als`), the exact user solves after it, EASE's inverse,
the content ridges (Gram matrix and factor, then the solves: cold projection, taste map, popularity), the
posters' principal directions those ridges see them through, each cold item's nearest poster, the kernel
block's solve (cold items' kernel ridge weights over the warm items), each block's spread on
a sample of users (`_direct_raw`), content normalisation and the user-attribute blocks. A default
fit does no tuning (`fit --tune` fits one probe per validation split first). Profiling adds overhead, so
the parts' sum is a little more than the unprofiled fit; the EASE fit (binary, penalty 8 x the mean count,
as the anchors' best setting on the warm split) and the bilinear ridge on SBERT (the cold split's fastest
peer of equal quality) are timed alternately with the unprofiled hybrid fit, in wall and in CPU seconds of
this process (single-threaded, CPU seconds move less with other jobs on the machine than wall seconds).

    .venv/bin/python benchmarks/fit_profile.py
    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 .venv/bin/python benchmarks/fit_profile.py   # single-threaded
"""

from __future__ import annotations

import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ml100k  # noqa: E402

from avrec.model import TrainData, make_model  # noqa: E402
from avrec.model.content import ContentRidge  # noqa: E402
from avrec.model.ease import ease_weights, mean_gram_diagonal  # noqa: E402
from avrec.model.splits import cold_items, random_holdout  # noqa: E402

ROUNDS = 5
#: part -> (file suffix, function name or names) whose cumulative time it is
PARTS: dict[str, tuple[str, str | tuple[str, ...]]] = {
    "ALS factorisation": ("avrec/model/als.py", "fit_als"),
    "exact user solves": ("avrec/model/hybrid.py", "_solve_users"),
    "EASE inverse": ("avrec/model/ease.py", "ease_weights"),
    "content ridge: Gram + factor": ("avrec/model/content.py", "__init__"),
    "content ridge: solves": ("avrec/model/content.py", ("solve", "taste_map")),
    "poster principal directions": ("avrec/model/content.py", "principal_basis"),
    "nearest posters": ("avrec/model/hybrid.py", "_fit_neighbours"),
    "kernel ridge over warm items": ("avrec/model/hybrid.py", "_fit_kernel"),
    "block spreads (scales)": ("avrec/model/hybrid.py", "_direct_raw"),
    "content normalisation": ("avrec/model/content.py", "normalised_modalities"),
    "user attributes": ("avrec/model/hybrid.py", "_fit_attributes"),
    "whole fit": ("avrec/model/base.py", "fit"),
}


def cumulative(stats: pstats.Stats) -> dict[str, float]:
    table = stats.stats  # type: ignore[attr-defined]
    out = dict.fromkeys(PARTS, 0.0)
    for (path, _, name), (_, _, _, cum, _) in table.items():
        for part, (suffix, funcs) in PARTS.items():
            if name in ((funcs,) if isinstance(funcs, str) else funcs) and path.endswith(suffix):
                out[part] += cum
    return out


def main() -> None:
    ml = ml100k.load()
    positives, _ = ml.positives()
    content = ml100k.content(ml)
    ids_u, ids_i = [str(u) for u in range(ml.n_users)], [str(i) for i in range(ml.n_items)]
    for name, split in (("warm", random_holdout(positives, 0.2, 5, 42)), ("cold", cold_items(positives, 0.2, 42))):
        data = TrainData(ids_u, ids_i, split.train, content, ml.user_features, ml.user_feature_names)
        binary = sp.csr_matrix(split.train, dtype=np.float32, copy=True)
        binary.data[:] = 1.0
        make_model("hybrid").fit(data)  # warm-up: imports, page cache
        warm = np.diff(split.train.tocsc().indptr) > 0
        text = content["text"].vectors / np.linalg.norm(content["text"].vectors, axis=1, keepdims=True)
        profiled: list[dict[str, float]] = []
        timed: dict[str, list[tuple[float, float]]] = {"hybrid": [], "EASE": [], "bilinear ridge": []}
        fits = {
            "hybrid": lambda d=data: make_model("hybrid").fit(d),
            "EASE": lambda b=binary: ease_weights(b, 8.0 * mean_gram_diagonal(b)),
            "bilinear ridge": lambda t=text, w=warm: ContentRidge(t, w, 10.0).taste_map(),
        }
        for _ in range(ROUNDS):
            profiler = cProfile.Profile(time.process_time)  # CPU seconds: steadier than wall on a shared machine
            profiler.enable()
            make_model("hybrid").fit(data)
            profiler.disable()
            profiled.append(cumulative(pstats.Stats(profiler)))
            for label, fit in fits.items():
                start, cpu = time.perf_counter(), time.process_time()
                fit()
                timed[label].append((time.perf_counter() - start, time.process_time() - cpu))
        print(f"{name} split: median CPU seconds of {ROUNDS} profiled hybrid fits")
        for part in PARTS:
            print(f"    {part:<32} {np.median([p[part] for p in profiled]):>7.3f}")
        wall = {label: float(np.median([t[0] for t in times])) for label, times in timed.items()}
        cpu = {label: float(np.median([t[1] for t in times])) for label, times in timed.items()}
        print(f"    unprofiled fits, alternately (medians; load {os.getloadavg()[0]:.1f}):")
        for label in timed:
            print(
                f"    {label:<32} {wall[label]:>7.3f} s wall, {cpu[label]:.3f} s CPU; hybrid / it "
                f"{wall['hybrid'] / wall[label]:.2f}x wall, {cpu['hybrid'] / cpu[label]:.2f}x CPU"
            )


if __name__ == "__main__":
    main()
