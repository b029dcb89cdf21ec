"""User attributes (age, gender, region, occupation, ...) as sparse one-hot features for the hybrid.

The encoding is learnt at fit time and saved with the model (as its feature names), so a user who
arrives later with attributes and no history is encoded exactly as the training users were.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

#: Attributes with more distinct values than this are reduced to their first character (zip -> region).
MAX_CARDINALITY = 64
MIN_COUNT = 2


def _token(key: str, value: Any, coarse: bool) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return f"{key}={str(value).lower()}"
    if isinstance(value, (int, float)) or (isinstance(value, str) and _is_number(value)):
        number = float(value)
        if not np.isfinite(number):
            return None
        if key.lower() == "age":
            return f"age={int(number // 10 * 10)}s"
        return f"{key}={number:g}" if not coarse else f"{key}~{str(value)[:1]}"
    text = str(value).strip().lower()
    return f"{key}={text[:1] if coarse else text}"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def fit_feature_names(attrs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Choose the feature vocabulary from training users' attributes."""
    distinct: dict[str, set[str]] = {}
    for row in attrs:
        for key, value in row.items():
            distinct.setdefault(key, set()).add(str(value))
    coarse = {key for key, values in distinct.items() if len(values) > MAX_CARDINALITY}
    counts: Counter[str] = Counter()
    for row in attrs:
        for key, value in row.items():
            tok = _token(key, value, key in coarse)
            if tok:
                counts[tok] += 1
    names = sorted(tok for tok, n in counts.items() if n >= MIN_COUNT)
    # Remember which keys were coarsened: the tokens themselves say so ("key~x").
    return names


def encode(attrs: Sequence[Mapping[str, Any]], names: Sequence[str]) -> sp.csr_matrix:
    """Rows of attributes -> a users x features 0/1 matrix with rows scaled to unit L2 norm."""
    index = {name: j for j, name in enumerate(names)}
    coarse_keys = {name.split("~", 1)[0] for name in names if "~" in name}
    rows: list[int] = []
    cols: list[int] = []
    for r, row in enumerate(attrs):
        for key, value in row.items():
            tok = _token(key, value, key in coarse_keys)
            j = index.get(tok) if tok else None
            if j is not None:
                rows.append(r)
                cols.append(j)
    data = np.ones(len(rows), dtype=np.float32)
    mat = sp.csr_matrix((data, (rows, cols)), shape=(len(attrs), len(names)), dtype=np.float32)
    norms = np.sqrt(np.asarray(mat.multiply(mat).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norms) @ mat, dtype=np.float32)
