"""Weight-free visual descriptors: what `embed` uses for frames when no CLIP weights are available.

Per frame (32 numbers, each roughly in 0..1):
- colour: a 12-bin hue histogram weighted by saturation x value (sums to 1) and the mean R, G, B;
- brightness: mean and standard deviation (contrast) of luma;
- saturation: mean and standard deviation of HSV saturation;
- colourfulness (Hasler & Suesstrunk, /100) and edge density (mean luma gradient);
- layout: mean luma of a 3 x 3 grid (9 cells), plus the share of near-black and near-white pixels.
Per item, the visual vector is the mean of the frame vectors followed by four whole-video numbers:
brightness change across the sampled frames, motion (mean ffmpeg scene score over every decoded frame,
x10), cut rate (scene changes per minute, /30) and the share of scene-change frames among those sampled.
Names of all of these are in FRAME_FEATURES and ITEM_FEATURES so `explain` can speak about them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DESCRIPTOR_MODEL_ID = "visual-descriptors:v1"

FRAME_FEATURES: tuple[str, ...] = (
    *(f"hue_{i * 30:03d}" for i in range(12)),
    "red",
    "green",
    "blue",
    "brightness",
    "contrast",
    "saturation",
    "saturation_spread",
    "colourfulness",
    "edge_density",
    *(f"layout_{r}{c}" for r in "tmb" for c in "lcr"),
    "dark_share",
    "bright_share",
)
ITEM_FEATURES: tuple[str, ...] = (
    *FRAME_FEATURES,
    "brightness_change",
    "motion",
    "cut_rate",
    "scene_frame_share",
)


def frame_descriptors(rgb: np.ndarray) -> np.ndarray:
    """The FRAME_FEATURES of one H x W x 3 uint8 frame."""
    img = np.asarray(rgb, dtype=np.float32)[::2, ::2] / 255.0  # half resolution is plenty for statistics
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    mx = img.max(axis=-1)
    mn = img.min(axis=-1)
    delta = mx - mn
    sat = np.where(mx > 1e-6, delta / np.maximum(mx, 1e-6), 0.0)
    hue = np.zeros_like(mx)
    nz = delta > 1e-6
    rc = np.where(nz & (mx == r), ((g - b) / np.maximum(delta, 1e-6)) % 6.0, 0.0)
    gc = np.where(nz & (mx == g) & (mx != r), (b - r) / np.maximum(delta, 1e-6) + 2.0, 0.0)
    bc = np.where(nz & (mx == b) & (mx != r) & (mx != g), (r - g) / np.maximum(delta, 1e-6) + 4.0, 0.0)
    hue = (rc + gc + bc) / 6.0  # 0..1
    weight = sat * mx
    hist, _ = np.histogram(hue, bins=12, range=(0.0, 1.0), weights=weight)
    total = hist.sum()
    hist = hist / total if total > 1e-6 else np.zeros(12)
    luma = 0.299 * r + 0.587 * g + 0.114 * b
    rg = r - g
    yb = 0.5 * (r + g) - b
    colourfulness = np.sqrt(rg.std() ** 2 + yb.std() ** 2) + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)
    gy = np.abs(np.diff(luma, axis=0)).mean() if luma.shape[0] > 1 else 0.0
    gx = np.abs(np.diff(luma, axis=1)).mean() if luma.shape[1] > 1 else 0.0
    h, w = luma.shape
    grid = [
        float(
            luma[
                (i * h) // 3 : max((i + 1) * h // 3, (i * h) // 3 + 1),
                (j * w) // 3 : max((j + 1) * w // 3, (j * w) // 3 + 1),
            ].mean()
        )
        for i in range(3)
        for j in range(3)
    ]
    feats = [
        *hist.tolist(),
        float(r.mean()),
        float(g.mean()),
        float(b.mean()),
        float(luma.mean()),
        float(luma.std()),
        float(sat.mean()),
        float(sat.std()),
        float(min(colourfulness, 1.0)),
        float(min((gx + gy) * 4.0, 1.0)),
        *grid,
        float((luma < 0.08).mean()),
        float((luma > 0.92).mean()),
    ]
    return np.asarray(feats, dtype=np.float32)


class DescriptorEncoder:
    """The weight-free visual encoder (see the module docstring). Needs no model files."""

    model_id = DESCRIPTOR_MODEL_ID
    dim = len(FRAME_FEATURES)
    image_size = 224

    def encode_batch(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        """FRAME_FEATURES of each frame, one row each."""
        if not inputs:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([frame_descriptors(f) for f in inputs]).astype(np.float32)

    def pool(self, frame_vectors: np.ndarray, stats: dict[str, float]) -> np.ndarray:
        """Item vector: mean frame descriptors plus the whole-video numbers of ITEM_FEATURES."""
        mean = frame_vectors.mean(axis=0)
        brightness = frame_vectors[:, FRAME_FEATURES.index("brightness")]
        extra = [
            float(np.clip(brightness.std() * 4.0, 0.0, 1.0)),
            float(np.clip(stats.get("motion", 0.0) * 10.0, 0.0, 1.0)),
            float(np.clip(stats.get("cut_rate", 0.0) / 30.0, 0.0, 1.0)),
            float(np.clip(stats.get("scene_frame_share", 0.0), 0.0, 1.0)),
        ]
        return np.concatenate([mean, np.asarray(extra, dtype=np.float32)]).astype(np.float32)
