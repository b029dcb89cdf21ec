"""Content evidence shared by `explain` and `similar`: which frames of two items match best, and on
which named acoustic descriptors two sounds agree. Reads stored vectors only (no encoders, no torch)."""

from __future__ import annotations

from typing import Any

import numpy as np

from avrec.store import Store


def closest_frames(store: Store, a: str, b: str) -> tuple[float, float, float] | None:
    """(timestamp in a, timestamp in b, cosine) of the best-matching frame pair, or None when either item
    has no frames from the same encoder."""
    fa = store.frames(a)
    if not fa:
        return None
    fb = [f for f in store.frames(b) if f.model_id == fa[0].model_id and f.vec.size == fa[0].vec.size]
    fa = [f for f in fa if f.model_id == fa[0].model_id]
    if not fb:
        return None
    ma = np.vstack([f.vec for f in fa])
    mb = np.vstack([f.vec for f in fb])
    ma = ma / np.maximum(np.linalg.norm(ma, axis=1, keepdims=True), 1e-12)
    mb = mb / np.maximum(np.linalg.norm(mb, axis=1, keepdims=True), 1e-12)
    sims = ma @ mb.T
    i, j = np.unravel_index(int(np.argmax(sims)), sims.shape)
    return round(float(fa[i].ts), 3), round(float(fb[j].ts), 3), float(sims[i, j])


def audio_traits(a: dict[str, Any] | None, b: dict[str, Any] | None) -> list[str]:
    """Readable descriptors (tempo, loudness, ...) on which two stored audio vectors' metadata agree most."""
    from avrec.encoders.acoustic import shared_traits

    da = (a or {}).get("descriptors")
    db = (b or {}).get("descriptors")
    if not isinstance(da, dict) or not isinstance(db, dict):
        return []
    return shared_traits(da, db)
