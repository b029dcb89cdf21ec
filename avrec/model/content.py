"""The hybrid's content side in one place: how content vectors are normalised, and how an item without
interactions gets item factors from its content (the cold-item projection).

Content vectors c_i^m of each modality m are centred on the mean of the items that have one and
L2-normalised; the centre is kept with the model so items that arrive later are normalised the same way.
The projection is a ridge regression from the concatenated normalised content of the warm items to their
learned factors, y_i = sum_m c_i^m W_m, applied to cold items only.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from avrec.model.data import TrainData

MODALITIES = ("text", "visual", "audio")


def content_mean(vectors: np.ndarray, present: np.ndarray) -> np.ndarray:
    """The centre `normalise_content` subtracts: the mean of the present rows."""
    v = np.asarray(vectors, dtype=np.float64)
    return v[present].mean(axis=0) if present.any() else np.zeros(v.shape[1])


def normalise_content(vectors: np.ndarray, present: np.ndarray, mean: np.ndarray | None = None) -> np.ndarray:
    """Centre on the mean of the present rows (or on `mean`) and L2-normalise; absent rows stay zero."""
    v = np.asarray(vectors, dtype=np.float64)
    out = np.zeros_like(v)
    if present.any():
        centre = content_mean(v, present) if mean is None else np.asarray(mean, dtype=np.float64)
        centred = v[present] - centre
        norms = np.linalg.norm(centred, axis=1, keepdims=True)
        out[present] = centred / np.maximum(norms, 1e-12)
    return out.astype(np.float32)


def normalised_modalities(
    data: TrainData, modalities: tuple[str, ...] = MODALITIES
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(normalised vectors, centre) of each of `modalities` that some item of `data` has."""
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for m in modalities:
        cm = data.content.get(m)
        if cm is not None and cm.present.any():
            present = np.asarray(cm.present, bool)
            out[m] = (normalise_content(cm.vectors, present), content_mean(cm.vectors, present))
    return out


def extend_modalities(
    data: TrainData,
    rows: np.ndarray,
    means: Mapping[str, np.ndarray],
    stored: Mapping[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """Normalised content over `data`'s items for every modality in `means`, for a model extended to them
    (`rows[j]`: item j's row in the fitted model, -1 if new). Items the model had keep their `stored`
    vectors; the others are normalised with the fit-time centres."""
    kept = rows >= 0
    out: dict[str, np.ndarray] = {}
    for m, mean in means.items():
        block = np.zeros((len(rows), mean.shape[0]), np.float32)
        if m in stored:
            block[kept] = stored[m][rows[kept]]
        cm = data.content.get(m)
        if cm is not None and cm.vectors.shape[1] == mean.shape[0]:
            present = np.asarray(cm.present, bool)
            fresh = present & ~kept if m in stored else present
            block[fresh] = normalise_content(cm.vectors, fresh, mean)[fresh]
        out[m] = block
    return out


def fit_projection(
    blocks: Mapping[str, np.ndarray], item_factors: np.ndarray, warm: np.ndarray, reg: float
) -> dict[str, np.ndarray]:
    """Ridge map (float64) from the concatenated content `blocks` to `item_factors`, fitted on `warm` items;
    one slice of rows per modality."""
    f = np.hstack(list(blocks.values())).astype(np.float64)
    fw = f[warm]
    w = np.linalg.solve(fw.T @ fw + reg * np.eye(f.shape[1]), fw.T @ item_factors[warm])
    out: dict[str, np.ndarray] = {}
    start = 0
    for m, block in blocks.items():
        stop = start + block.shape[1]
        out[m] = w[start:stop]
        start = stop
    return out


def project_cold(
    blocks: Mapping[str, np.ndarray], weights: Mapping[str, np.ndarray], cold: np.ndarray, item_factors: np.ndarray
) -> dict[str, np.ndarray]:
    """Add each modality's projection to the `cold` rows of `item_factors` (in place) and return the
    projections (zero outside `cold`), which `explain` reports under each modality."""
    projections: dict[str, np.ndarray] = {}
    for m, w in weights.items():
        proj = np.zeros_like(item_factors)
        if m in blocks:
            proj[cold] = (blocks[m][cold] @ w).astype(np.float32)
        projections[m] = proj
        item_factors[cold] += proj[cold]
    return projections
