"""Vectors live in SQLite as little-endian float32 BLOBs: `np.frombuffer(blob, "<f4")`."""

from __future__ import annotations

import numpy as np

from avrec.errors import StoreError


def encode_vector(vec: np.ndarray) -> bytes:
    arr = np.asarray(vec, dtype="<f4").reshape(-1)
    if not np.all(np.isfinite(arr)):
        raise StoreError("refusing to store a vector with NaN or infinite values")
    return arr.tobytes()


def decode_vector(blob: bytes, dim: int | None = None) -> np.ndarray:
    arr = np.frombuffer(blob, dtype="<f4")
    if dim is not None and arr.shape[0] != dim:
        raise StoreError(f"stored vector has {arr.shape[0]} values but its record says dim={dim}")
    return arr.astype(np.float32)
