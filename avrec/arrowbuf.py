"""pyarrow arrays to and from numpy through their buffers: `pa.array` of Python objects and `to_numpy` would
import pandas (a quarter of a second a process), which neither ingest nor fit otherwise needs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def numpy_of(values: Any, null: float | None = None) -> np.ndarray:
    """A pyarrow array as numpy: a view of the buffer of an int32, (u)int64 or float64 array without nulls (the
    first `to_numpy` of a process imports pandas, a quarter of a second of an ingest), with `null` where it
    has nulls when `null` is given (read from its validity bitmap), else `to_numpy`."""
    import pyarrow as pa

    types = {pa.int32(): np.int32, pa.int64(): np.int64, pa.uint64(): np.uint64, pa.float64(): np.float64}
    dtype = types.get(values.type)
    if dtype is None or (values.null_count and null is None):
        return np.asarray(values.to_numpy(zero_copy_only=False))
    start, n = values.offset, len(values)
    if not n:
        return np.zeros(0, dtype)
    validity, data = values.buffers()[:2]
    out = np.frombuffer(data, dtype=dtype)[start : start + n]
    if not values.null_count:
        return out
    valid = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), count=start + n, bitorder="little")[start:]
    return np.where(valid.astype(bool), out, np.asarray(null, dtype=dtype))


def filled_column(value: str | float, n: int) -> Any:
    """A pyarrow array of `n` times `value` (a text or a float), made from buffers: `pa.array` imports pandas."""
    import pyarrow as pa

    if isinstance(value, str):
        text = value.encode()
        offsets = np.arange(n + 1, dtype=np.int32) * len(text)
        return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(text * n)])
    return pa.Array.from_buffers(pa.float64(), n, [None, pa.py_buffer(np.full(n, float(value)))])


def string_array(texts: Sequence[str]) -> Any:
    """`texts` as a pyarrow large-string array, built from its buffers (`pa.array` would import pandas)."""
    import pyarrow as pa

    encoded = [t.encode("utf-8", "surrogatepass") for t in texts]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)), out=offsets[1:])
    return pa.LargeStringArray.from_buffers(len(encoded), pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded)))
