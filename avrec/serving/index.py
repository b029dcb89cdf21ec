"""Candidate retrieval for inner-product scores: the longest item vectors scored exactly, Annoy for the rest.

Annoy answers angular (cosine) queries. To serve maximum-inner-product scores (what factor models produce)
every item vector x gets one extra coordinate sqrt(M^2 - |x|^2), M the largest norm, so all items have norm
M; a query q gets 0 there, and the angle to q orders items exactly as <q, x>. When norms vary a lot (in a
factor model popular items get long vectors) that transform works badly: the many short vectors crowd
around the extra axis, the trees spend their splits there, and the top inner products -- mostly long
vectors -- sit in a sparse corner the search reaches late. So the `head_fraction` longest vectors are kept
out of Annoy and scored exactly with every query (one small matrix-vector product), and Annoy indexes the
rest with M their own largest norm, a much milder transform (the idea of norm-ranging LSH, Yan et al.
2018). `benchmarks/ann_recall.py` measures recall and speed against exact scoring on 100,000 items.

Files: `<name>.ann` (Annoy, memory-mapped on load, written to a temporary name and renamed) and
`<name>.json` (dimensions, the head rows, build settings).
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from avrec.errors import ModelError
from avrec.store.files import atomic_path

if TYPE_CHECKING:
    from avrec.store import Store

DEFAULT_TREES = 10
#: Share of items, longest vectors first, scored exactly instead of through Annoy.
HEAD_FRACTION = 0.03
#: `recommend` asks Annoy for this many times k candidates (re-scored exactly, with the head).
ANN_OVERSAMPLE = 4
#: Catalogs at least this large are served from the index unless exact scoring is asked for: there the
#: index is several times faster than exact scoring even in blocks of users (benchmarks/ann_recall.py).
ANN_MIN_ITEMS = 50_000
#: The same for `recommend --all-users`, which ranks users in blocks by norm-bounded matrix products
#: (`avrec.serving.ranking.InnerProductTopK`): at 100,000 items (benchmarks/scale.py, 5M events) that is
#: several times faster per user than the index; larger catalogs were not measured, so this is an estimate.
ANN_BATCH_MIN_ITEMS = 1_000_000


def wants_index(use_index: bool | None, n_items: int, *, batch: bool = False) -> bool:
    """`recommend`'s choice: True / False as asked, None (the default) by catalog size, a larger one for a
    batch over every user (`batch`)."""
    if use_index is not None:
        return use_index
    return n_items >= (ANN_BATCH_MIN_ITEMS if batch else ANN_MIN_ITEMS)


def open_index(
    store: Store,
    model_key: str,
    n_items: int,
    use_index: bool | None,
    warn: Callable[[str], None] | None = None,
    *,
    batch: bool = False,
) -> InnerProductIndex | None:
    """The index `recommend` serves a model version from, or None to score every item (the one place that
    decides): as asked (`use_index` True / False), else by catalog size (`wants_index`). A version without
    an index is scored exactly. An unusable one (from an older avrec, or damaged) fails the request when
    the index was asked for explicitly; otherwise every item is scored, with a warning if it is damaged."""
    if not wants_index(use_index, n_items, batch=batch):
        return None
    path = store.index_path(model_key)
    if not path.exists():
        return None
    try:
        return InnerProductIndex.load(path)
    except ModelError as exc:
        if use_index is True:
            raise
        if warn is not None and "older avrec" not in str(exc):
            warn(f"{exc}; scoring every item instead")
        return None


def candidates(
    query: np.ndarray, items: np.ndarray, k: int, n_seen: int, index: InnerProductIndex | None
) -> tuple[np.ndarray, np.ndarray]:
    """Rows and exact scores (items @ query) a user's top k is chosen from: every item, or with `index` the
    head and about (k + n_seen) * `ANN_OVERSAMPLE` Annoy candidates."""
    if index is not None:
        return index.search(query, items, (k + n_seen) * ANN_OVERSAMPLE)
    return np.arange(len(items)), np.asarray(items @ query)


def split_by_norm(items: np.ndarray, head_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(head rows: the longest vectors, longest first; tail rows, ascending)."""
    norms = np.linalg.norm(items, axis=1)
    n_head = min(int(head_fraction * len(items)), max(len(items) - 1, 0))
    head = np.argsort(-norms, kind="stable")[:n_head]
    return head.astype(np.int64), _complement(head, len(items))


def _file_crc(path: Path) -> tuple[int, int]:
    """(size in bytes, CRC-32) of a file, read in blocks."""
    crc, size = 0, 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            crc = zlib.crc32(block, crc)
            size += len(block)
    return size, crc


def _complement(rows: np.ndarray, n: int) -> np.ndarray:
    keep = np.ones(n, dtype=bool)
    keep[rows] = False
    return np.flatnonzero(keep).astype(np.int64)


def augment_items(items: np.ndarray) -> tuple[np.ndarray, float]:
    """Items with the extra coordinate sqrt(M^2 - |x|^2) that makes angle order equal inner-product order."""
    norms = np.linalg.norm(items, axis=1)
    max_norm = float(norms.max()) if len(norms) else 1.0
    extra = np.sqrt(np.maximum(max_norm**2 - norms**2, 0.0))
    return np.hstack([items, extra[:, None]]).astype(np.float32), max_norm


@dataclass
class InnerProductIndex:
    """Top inner-product candidates for a query: the exact head plus Annoy's answer over the other items."""

    path: Path
    dim: int
    n_items: int
    head: np.ndarray
    _tail: np.ndarray | None = None
    _index: object | None = None
    _head_items: np.ndarray | None = field(default=None, repr=False)
    _head_src: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def build(
        cls,
        items: np.ndarray,
        path: Path,
        *,
        n_trees: int = DEFAULT_TREES,
        head_fraction: float = HEAD_FRACTION,
        seed: int = 42,
    ) -> InnerProductIndex:
        from annoy import AnnoyIndex

        items = np.asarray(items, dtype=np.float32)
        head, tail = split_by_norm(items, head_fraction)
        augmented, max_norm = augment_items(items[tail])
        dim = items.shape[1] + 1
        index = AnnoyIndex(dim, "angular")
        index.set_seed(seed)
        for i, vec in enumerate(augmented):
            index.add_item(i, vec.tolist())
        index.build(n_trees, n_jobs=1)
        with atomic_path(path) as tmp:
            index.save(str(tmp))
            os.chmod(tmp, 0o600)  # Annoy recreates the file with umask permissions; the store is owner-only
            size, crc = _file_crc(tmp)
        meta = {
            "dim": dim,
            "n_items": int(len(items)),
            "head": head.tolist(),
            "tail_max_norm": max_norm,
            "n_trees": n_trees,
            "metric": "angular+ip-augmentation, exact head",
            "bytes": size,
            "crc32": crc,
        }
        with atomic_path(path.with_suffix(".json")) as tmp:
            tmp.write_text(json.dumps(meta))
        index.unload()
        return cls(path, dim, int(len(items)), head)

    @classmethod
    def load(cls, path: Path) -> InnerProductIndex:
        meta_path = path.with_suffix(".json")
        if not path.exists() or not meta_path.exists():
            raise ModelError(f"no index at {path}; run `avrec fit` to build it")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if not isinstance(meta, dict) or "head" not in meta:
                raise ModelError(f"index {path} is from an older avrec; run `avrec fit` to rebuild it")
            if "crc32" in meta and _file_crc(path) != (meta.get("bytes"), meta["crc32"]):
                # A damaged Annoy file loads and answers, but leaves items out of its answers: never serve one.
                raise ModelError(f"index {path} is damaged (its size or checksum changed); run `avrec fit`")
            return cls(path, int(meta["dim"]), int(meta["n_items"]), np.asarray(meta["head"], dtype=np.int64))
        except (OSError, ValueError, KeyError, TypeError) as exc:  # cut short, edited, not JSON
            raise ModelError(f"index metadata {meta_path} is damaged ({exc}); run `avrec fit` to rebuild it") from None

    def _annoy(self) -> object:
        if self._index is None:
            from annoy import AnnoyIndex

            index = AnnoyIndex(self.dim, "angular")
            try:
                index.load(str(self.path))  # memory-mapped
            except OSError as exc:
                raise ModelError(f"index {self.path} is damaged ({exc}); run `avrec fit` to rebuild it") from None
            self._index = index
            self._tail = _complement(self.head, self.n_items)
        return self._index

    def search(
        self, query: np.ndarray, items: np.ndarray, n: int, *, search_k: int = -1
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rows and exact scores <query, item> of the head and of about `n` Annoy candidates from the rest.

        `items` is the matrix the index was built from (rows in the same order); `search_k` is Annoy's
        (-1: its default, n_trees * n). The best items by exact score are among the rows returned.
        """
        if len(items) != self.n_items:
            raise ModelError(f"index {self.path} covers {self.n_items} items, the model has {len(items)}")
        q = np.asarray(query, dtype=np.float32)
        index = self._annoy()
        found = index.get_nns_by_vector(np.append(q, 0.0).tolist(), n, search_k=search_k)  # type: ignore[attr-defined]
        assert self._tail is not None
        cand = self._tail[np.asarray(found, dtype=np.int64)]
        if self._head_src is not items or self._head_items is None:
            self._head_items, self._head_src = items[self.head], items
        rows = np.concatenate([self.head, cand])
        return rows, np.concatenate([self._head_items @ q, items[cand] @ q])
