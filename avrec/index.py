"""Annoy indexes over item vectors, with the inner-product-to-angular augmentation.

Annoy answers angular (cosine) queries. To serve maximum-inner-product scores (what factor models
produce) every item vector x gets one extra coordinate sqrt(M^2 - |x|^2), M the largest norm, so all
items have norm M; a query q gets 0 there. Then the angle to q orders items exactly as <q, x>.
Index files are memory-mapped by Annoy on load; they are written to a temporary name and renamed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avrec.errors import ModelError
from avrec.store.files import atomic_path

DEFAULT_TREES = 50


def augment_items(items: np.ndarray) -> tuple[np.ndarray, float]:
    norms = np.linalg.norm(items, axis=1)
    max_norm = float(norms.max()) if len(norms) else 1.0
    extra = np.sqrt(np.maximum(max_norm**2 - norms**2, 0.0))
    return np.hstack([items, extra[:, None]]).astype(np.float32), max_norm


@dataclass
class InnerProductIndex:
    """An Annoy index answering top inner-product candidates for a query vector."""

    path: Path
    dim: int
    n_items: int
    _index: object | None = None

    @classmethod
    def build(cls, items: np.ndarray, path: Path, *, n_trees: int = DEFAULT_TREES, seed: int = 42) -> InnerProductIndex:
        from annoy import AnnoyIndex

        augmented, max_norm = augment_items(np.asarray(items, dtype=np.float32))
        dim = augmented.shape[1]
        index = AnnoyIndex(dim, "angular")
        index.set_seed(seed)
        for i, vec in enumerate(augmented):
            index.add_item(i, vec.tolist())
        index.build(n_trees, n_jobs=1)
        with atomic_path(path) as tmp:
            index.save(str(tmp))
            os.chmod(tmp, 0o600)  # Annoy recreates the file with umask permissions; the store is owner-only
        with atomic_path(path.with_suffix(".json")) as tmp:
            tmp.write_text(
                json.dumps(
                    {
                        "dim": dim,
                        "n_items": int(len(items)),
                        "max_norm": max_norm,
                        "n_trees": n_trees,
                        "metric": "angular+ip-augmentation",
                    }
                )
            )
        index.unload()
        return cls(path, dim, int(len(items)))

    @classmethod
    def load(cls, path: Path) -> InnerProductIndex:
        meta_path = path.with_suffix(".json")
        if not path.exists() or not meta_path.exists():
            raise ModelError(f"no index at {path}; run `avrec fit` to build it")
        meta = json.loads(meta_path.read_text())
        return cls(path, int(meta["dim"]), int(meta["n_items"]))

    def _annoy(self) -> object:
        if self._index is None:
            from annoy import AnnoyIndex

            index = AnnoyIndex(self.dim, "angular")
            index.load(str(self.path))  # memory-mapped
            self._index = index
        return self._index

    def candidates(self, query: np.ndarray, n: int, *, search_k: int = -1) -> np.ndarray:
        """Item rows of the (about) `n` items with the largest <query, item>."""
        q = np.append(np.asarray(query, dtype=np.float32), 0.0)
        index = self._annoy()
        found = index.get_nns_by_vector(q.tolist(), n, search_k=search_k)  # type: ignore[attr-defined]
        return np.asarray(found, dtype=np.int64)
