"""Stored user vectors, so `recommend --user` serves a known user without loading the model.

A `recommend` process spends most of its life starting up: importing scipy and loading the model cost
several times the scoring itself (benchmarks/recommend_latency.py). So for every model that scores with
one inner product, `fit` (and `fit --incremental`) also writes a folder `indexes/<model_key>.users/`:

    users.npy        the user side of the score of every user the model knows, computed as `recommend`
                     computes it from the store (model.user_vectors over the stored history and
                     attributes); rows in the order of user_ids.npy (sorted)
    attrs.npy        a digest of each of those users' stored attribute text
    items.npy        the item side (model.embeddings()): a score is users[u] @ items[i]
    item_ids.npy     item ids in model order; item_sorted.npy and item_rows.npy: sorted, for look-ups
    checks.npy       a CRC-32 of each user's id, vector row and attribute digest
    meta.json        the newest event id in the store when the vectors were read; the shapes of the
                     arrays; a CRC-32 of the item-side arrays

All are memory-mapped. A user with an event newer than that id, or whose attributes changed since, is
served the ordinary way, so the answer is always the one the full path gives. The folder is written only
while the user matrix stays under `BUDGET_BYTES`; without it every request takes the ordinary path.

Before answering, the shapes are checked against meta.json and the checksums of the arrays the answer reads
are recomputed (the user's own row and the item side: no more than the scoring reads anyway). A folder that
fails (flipped bytes, a cut file) is passed over with a warning: the request takes the ordinary path.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from avrec.serving.index import candidates, open_index
from avrec.serving.ranking import Recommendation, best_for
from avrec.store import Store

BUDGET_BYTES = 512 * 2**20
FILES = (
    "users.npy", "user_ids.npy", "attrs.npy", "checks.npy", "items.npy", "item_ids.npy", "item_sorted.npy",
    "item_rows.npy",
)
ITEM_SIDE = ("items.npy", "item_ids.npy", "item_sorted.npy", "item_rows.npy")
#: meta.json's `format`: folders written before the checks carry none and are passed over.
FORMAT = 2


def worth_writing(n_users: int, dim: int) -> bool:
    """Whether a user matrix of this size stays under `BUDGET_BYTES` (float32)."""
    return n_users * dim * 4 <= BUDGET_BYTES


def attrs_digest(text: str | None) -> int:
    """64 bits of a user's stored attribute text (0 for a user without a row)."""
    if text is None:
        return 0
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little", signed=True)


def _id_array(ids: Sequence[str]) -> np.ndarray | None:
    """Ids as a fixed-width unicode array, or None when one would not survive it (numpy drops trailing NULs)."""
    arr = np.array(list(ids), dtype=str)
    return arr if arr.tolist() == list(ids) else None


def write(
    folder: Path,
    *,
    user_ids: Sequence[str],
    users: np.ndarray,
    attrs_text: Mapping[str, str],
    item_ids: Sequence[str],
    items: np.ndarray,
    last_event_id: int,
) -> bool:
    """Write the folder (into a temporary one, renamed into place); False when it is not worth keeping."""
    uids, iids = _id_array(user_ids), _id_array(item_ids)
    if uids is None or iids is None or not worth_writing(len(uids), users.shape[1]):
        return False
    order = np.argsort(uids, kind="stable")
    item_order = np.argsort(iids, kind="stable")
    arrays = {
        "users.npy": np.ascontiguousarray(users[order], dtype=np.float32),
        "user_ids.npy": uids[order],
        "attrs.npy": _digests([attrs_text.get(u) for u in uids[order].tolist()]),
        "items.npy": np.ascontiguousarray(items, dtype=np.float32),
        "item_ids.npy": iids,
        "item_sorted.npy": iids[item_order],
        "item_rows.npy": item_order.astype(np.int64),
    }
    arrays["checks.npy"] = _row_checks(arrays["user_ids.npy"].tolist(), arrays["users.npy"], arrays["attrs.npy"])
    tmp = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(mode=0o700, parents=True)
    for name, arr in arrays.items():
        with open(os.open(tmp / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as fh:
            np.save(fh, arr, allow_pickle=False)
            fh.flush()
            os.fsync(fh.fileno())
    meta = {
        "format": FORMAT,
        "last_event_id": int(last_event_id),
        "users": len(uids),
        "items": len(iids),
        "dim": int(users.shape[1]),
        "shapes": {name: list(arr.shape) for name, arr in arrays.items()},
        "items_crc32": _crc(arrays[name] for name in ITEM_SIDE),
    }
    with open(os.open(tmp / "meta.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as fh:
        json.dump(meta, fh)
    shutil.rmtree(folder, ignore_errors=True)
    os.rename(tmp, folder)
    return True


def _find(sorted_ids: np.ndarray, wanted: Sequence[str]) -> np.ndarray:
    """Position of each wanted id in `sorted_ids`, -1 where absent."""
    if len(sorted_ids) == 0 or not wanted:
        return np.full(len(wanted), -1, dtype=np.int64)
    ids = np.array(list(wanted), dtype=str)
    pos = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
    return np.where(sorted_ids[pos] == ids, pos, -1).astype(np.int64)


def _crc(arrays: Iterable[np.ndarray]) -> int:
    crc = 0
    for arr in arrays:
        crc = zlib.crc32(np.ascontiguousarray(arr).data.cast("B"), crc)
    return crc


def _row_check(user_id: str, row: np.ndarray, attrs: int) -> int:
    """CRC-32 of a user's id, vector row and attribute digest: ties the row to the id it is found under."""
    crc = zlib.crc32(user_id.encode("utf-8", "surrogatepass"))
    crc = zlib.crc32(np.ascontiguousarray(row, dtype=np.float32).data.cast("B"), crc)
    return zlib.crc32(attrs.to_bytes(8, "little", signed=True), crc)


def _digests(texts: Sequence[str | None]) -> np.ndarray:
    """`attrs_digest` of each text (int64), each distinct text hashed once (users often share theirs)."""
    seen: dict[str | None, int] = {}
    return np.fromiter(
        (seen[t] if t in seen else seen.setdefault(t, attrs_digest(t)) for t in texts), dtype=np.int64, count=len(texts)
    )


def _row_checks(user_ids: Sequence[str], rows: np.ndarray, attrs: np.ndarray) -> np.ndarray:
    """`_row_check` of every row (uint32), reading each row's bytes as a slice of one buffer."""
    width = rows.shape[1] * 4
    vectors = memoryview(np.ascontiguousarray(rows, dtype=np.float32).tobytes())
    digests = memoryview(np.ascontiguousarray(attrs, dtype="<i8").tobytes())
    crc32 = zlib.crc32
    return np.fromiter(
        (
            crc32(
                digests[8 * r : 8 * r + 8],
                crc32(vectors[width * r : width * (r + 1)], crc32(uid.encode("utf-8", "surrogatepass"))),
            )
            for r, uid in enumerate(user_ids)
        ),
        dtype=np.uint32,
        count=len(user_ids),
    )


class Damaged(ValueError):
    """The folder does not match its own meta.json (shapes or checksums)."""


def _open(folder: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
    """meta.json and the memory-mapped arrays; None when there is no (complete) folder of this format.
    Raises `Damaged` when the arrays do not have the shapes meta.json records."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            return None
        arrays = {name: np.load(folder / name, mmap_mode="r", allow_pickle=False) for name in FILES}
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:  # unreadable .npy header, or truncated below its header
        raise Damaged(f"{exc}") from None
    shapes = meta.get("shapes", {})
    for name, arr in arrays.items():
        if list(arr.shape) != shapes.get(name):
            raise Damaged(f"{name} holds {list(arr.shape)}, meta.json says {shapes.get(name)}")
    return meta, arrays


def recommend_one(
    store: Store,
    user_id: str,
    k: int,
    include_seen: bool,
    use_index: bool | None,
    warn: Callable[[str], None] | None = None,
) -> list[Recommendation] | None:
    """`recommend` for one user from the stored vectors; None when they cannot give the full path's answer
    (no folder for the active model, a user it does not hold, or one changed since). A damaged folder is
    passed over too, with a warning through `warn`."""
    record = store.active_model()
    if record is None:
        return None
    folder = store.user_vectors_dir(record.model_key)
    try:
        opened = _open(folder)
        if opened is None:
            return None
        meta, arrays = opened
        row = int(_find(arrays["user_ids.npy"], [user_id])[0])
        if row < 0 or store.has_events_after(user_id, int(meta["last_event_id"])):
            return None
        query = np.asarray(arrays["users.npy"][row], dtype=np.float32)
        digest = int(arrays["attrs.npy"][row])
        if _row_check(user_id, query, digest) != int(arrays["checks.npy"][row]):
            raise Damaged(f"the stored vector of user {user_id!r} does not match its checksum")
        if _crc(arrays[name] for name in ITEM_SIDE) != int(meta["items_crc32"]):
            raise Damaged("the item-side arrays do not match their checksum")
    except (Damaged, KeyError, TypeError) as exc:
        if warn is not None:
            warn(f"stored user vectors in {folder} are damaged ({exc}); scoring from the model instead")
        return None
    if attrs_digest(store.user_attrs_text([user_id]).get(user_id)) != digest:
        return None
    items = arrays["items.npy"]
    seen: list[int] = []
    if not include_seen:
        pos = _find(arrays["item_sorted.npy"], [item for item, _ in store.user_history(user_id)])
        seen = arrays["item_rows.npy"][pos[pos >= 0]].tolist()
    index = open_index(store, record.model_key, len(items), use_index, warn)
    rows, scores = candidates(query, items, k, len(seen), index)
    return list(best_for(user_id, rows, scores, k, seen, arrays["item_ids.npy"]))
