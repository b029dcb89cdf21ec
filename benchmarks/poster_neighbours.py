"""Do posters that look alike to avrec's encoders belong to alike films? ml-100k posters, genres as the yardstick.

    python benchmarks/poster_neighbours.py [--k 10]

For every ml-100k item with a poster (../shared/data/posters), its k nearest posters by cosine (vectors
centred first) are found, and the share of those neighbours that share at least one genre with it is
printed, for the ImageNet EfficientNet-Lite0 vectors `embed` makes (`ml100k.poster_vectors_effnet`), the
weight-free poster descriptors (`ml100k.poster_vectors`) and random posters (mean of 5 draws).
"""

from __future__ import annotations

import argparse

import ml100k
import numpy as np


def genre_share(vectors: np.ndarray, present: np.ndarray, genres: np.ndarray, k: int) -> float:
    idx = np.flatnonzero(present)
    x = vectors[idx].astype(np.float64)
    x -= x.mean(axis=0)
    x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-12
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    neighbours = np.argsort(-sims, axis=1)[:, :k]
    g = genres[idx]
    return float(((g[:, None, :] * g[neighbours]).sum(axis=-1) > 0).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    ml = ml100k.load()
    genres = np.asarray(ml.genres, dtype=np.float64)
    effnet, has_effnet = ml100k.poster_vectors_effnet(ml)
    plain, has_plain = ml100k.poster_vectors(ml)
    idx = np.flatnonzero(has_effnet)
    g = genres[idx]
    rng = np.random.default_rng(0)
    random_share = np.mean(
        [((g[:, None, :] * g[rng.integers(0, len(idx), (len(idx), args.k))]).sum(-1) > 0).mean() for _ in range(5)]
    )
    n = int(has_effnet.sum())
    print(f"posters          {n} ml-100k items; share of the {args.k} nearest posters that share a genre")
    print(f"EfficientNet     {genre_share(effnet, has_effnet, genres, args.k):.3f}  (imagenet:efficientnet-lite0)")
    print(f"descriptors      {genre_share(plain, has_plain, genres, args.k):.3f}  (colour histogram, brightness)")
    print(f"random           {random_share:.3f}")


if __name__ == "__main__":
    main()
