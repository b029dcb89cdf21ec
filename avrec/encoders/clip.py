"""CLIP through open_clip, from local weights only.

Weights resolve, in order, from
1. a weights file (`Settings.clip_weights`, env `AVREC_CLIP_WEIGHTS`): a `.safetensors`, `.bin` or `.pt`
   open_clip checkpoint, loaded with `torch.load(weights_only=True)` or safetensors;
2. a pretrained tag (`Settings.clip_pretrained`, env `AVREC_CLIP_PRETRAINED`) whose file is already in the
   Hugging Face cache or `~/.cache/clip` — found there without any network call.
Nothing is ever downloaded: with neither, `EncoderUnavailable` says what to set and `embed` falls back to
the weight-free visual descriptors.

`Settings.clip_model` is an open_clip architecture name (`ViT-B-32`) or the path of an open_clip model
config JSON for a custom architecture (its file stem becomes the name).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from avrec.encoders.base import EncoderUnavailable, file_fingerprint, l2_normalize, offline_environment
from avrec.errors import EncoderError


@dataclass(frozen=True)
class ClipSpec:
    """A CLIP model that can be loaded offline: architecture, checkpoint file and preprocessing overrides."""

    model_name: str
    checkpoint: Path
    model_id: str
    preprocess: dict[str, Any] = field(default_factory=dict)


def resolve_clip(model: str, pretrained: str | None, weights: str | None) -> ClipSpec:
    """Find CLIP weights on this machine; raise EncoderUnavailable (with what to do) when there are none."""
    if not weights and not pretrained:
        # Said before importing open_clip (and torch): the common no-weights case stays cheap.
        raise EncoderUnavailable(
            "no CLIP weights are configured; set AVREC_CLIP_WEIGHTS to a local open_clip checkpoint "
            f"(architecture {model}, or AVREC_CLIP_MODEL) or AVREC_CLIP_PRETRAINED to a tag already in the cache"
        )
    offline_environment()
    import open_clip

    name = model
    config_path = Path(model).expanduser()
    if model.endswith(".json"):
        if not config_path.is_file():
            raise EncoderError(f"CLIP model config {config_path} does not exist")
        open_clip.add_model_config(config_path)
        name = config_path.stem
    if open_clip.get_model_config(name) is None:
        raise EncoderError(
            f"unknown CLIP architecture {name!r}; open_clip knows e.g. ViT-B-32, ViT-B-16, RN50"
        )
    if weights:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise EncoderUnavailable(f"CLIP weights file {path} (AVREC_CLIP_WEIGHTS) does not exist")
        return ClipSpec(name, path, f"clip:{name}:file-{file_fingerprint(path)}")
    if pretrained:
        cfg = open_clip.get_pretrained_cfg(name, pretrained)
        if not cfg:
            tags = ", ".join(open_clip.list_pretrained_tags_by_model(name)) or "none"
            raise EncoderError(f"{pretrained!r} is not a pretrained tag of {name}; known tags: {tags}")
        cached = _cached_checkpoint(cfg)
        if cached is None:
            raise EncoderUnavailable(
                f"CLIP weights {name}/{pretrained} are not in the local cache and avrec never downloads; "
                "put the checkpoint on this machine and set "
                "AVREC_CLIP_WEIGHTS=/path/to/open_clip_model.safetensors"
            )
        keep = ("mean", "std", "interpolation", "resize_mode")
        overrides = {k: cfg[k] for k in keep if cfg.get(k) is not None}
        return ClipSpec(name, cached, f"clip:{name}:{pretrained}", overrides)
    raise EncoderError(f"CLIP settings for {name} name neither weights nor a pretrained tag")


def _cached_checkpoint(cfg: dict[str, Any]) -> Path | None:
    """The local file of an open_clip pretrained config, looked up without touching the network."""
    hub = cfg.get("hf_hub") or ""
    if hub:
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:
            return None
        repo, filename = os.path.split(hub.rstrip("/")) if not hub.endswith("/") else (hub.rstrip("/"), "")
        names = [filename] if filename else []
        names += [
            "open_clip_model.safetensors",
            "open_clip_pytorch_model.safetensors",
            "open_clip_pytorch_model.bin",
        ]
        if filename.endswith((".bin", ".pth", ".pt")):
            names.insert(0, filename.rsplit(".", 1)[0] + ".safetensors")
        for fname in names:
            found = try_to_load_from_cache(repo_id=repo, filename=fname)
            if isinstance(found, str) and os.path.isfile(found):
                return Path(found)
    url = cfg.get("url") or ""
    if url:
        local = Path(os.path.expanduser("~/.cache/clip")) / os.path.basename(url)
        if local.is_file():
            return local
    return None


class ClipEncoder:
    """CLIP image tower for frames, text tower for queries; unit-length vectors."""

    def __init__(self, spec: ClipSpec, *, device: str = "cpu") -> None:
        import open_clip
        import torch

        self.spec = spec
        self.model_id = spec.model_id
        self.device = device
        self.half = device.startswith("cuda")
        try:
            model = open_clip.create_model(
                spec.model_name,
                pretrained=str(spec.checkpoint),
                device=device,
                precision="fp16" if self.half else "fp32",
                pretrained_text=False,
                force_preprocess_cfg=spec.preprocess or None,
                weights_only=True,
            )
        except Exception as exc:  # noqa: BLE001 - torch and open_clip raise many types for a bad file
            if type(exc).__name__ == "UnpicklingError" or "weights_only" in str(exc):
                # torch's own text suggests weights_only=False, which would run code from the file: never
                raise EncoderError(
                    f"CLIP weights {spec.checkpoint} are a pickle holding more than tensors; avrec loads weights "
                    "only and will not run code from a file (do NOT load it with weights_only=False): save the "
                    "model's state_dict, or use a .safetensors checkpoint"
                ) from None
            raise EncoderError(
                f"cannot load CLIP weights {spec.checkpoint} into {spec.model_name}: {type(exc).__name__}: {exc}"
            ) from None
        model.eval()
        self._model: Any = model
        self._tokenizer: Any = open_clip.get_tokenizer(spec.model_name)
        pcfg = open_clip.get_model_preprocess_cfg(model)
        size = pcfg.get("size", 224)
        self.image_size = int(size[0] if isinstance(size, (tuple, list)) else size)
        dtype = torch.float16 if self.half else torch.float32
        self._mean = torch.tensor(
            pcfg.get("mean", open_clip.OPENAI_DATASET_MEAN), dtype=dtype, device=device
        ).view(1, 3, 1, 1)
        self._std = torch.tensor(
            pcfg.get("std", open_clip.OPENAI_DATASET_STD), dtype=dtype, device=device
        ).view(1, 3, 1, 1)
        self.dim = int(self.forward_images(self.preprocess([np.zeros((8, 8, 3), dtype=np.uint8)])).shape[1])

    def preprocess(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """Frames (H x W x 3 uint8, any size) to a (n, S, S, 3) uint8 stack: short side to S, centre crop.

        This is open_clip's resize + centre crop; frames sampled with `short_side=image_size` are only
        cropped.
        """
        return center_crop_stack(frames, self.image_size)

    def forward_images(self, stack: np.ndarray) -> np.ndarray:
        """The raw model forward pass on an already preprocessed (n, S, S, 3) uint8 stack."""
        import torch

        with torch.inference_mode():
            batch = torch.from_numpy(stack).to(self.device)
            x = (batch.permute(0, 3, 1, 2).to(self._mean.dtype).div_(255.0) - self._mean) / self._std
            out = self._model.encode_image(x)
        return l2_normalize(out.float().cpu().numpy())

    def encode_batch(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        """Unit-length image vectors of frames (H x W x 3 uint8)."""
        if not inputs:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.forward_images(self.preprocess(inputs))

    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length text-tower vectors, comparable with image vectors of the same model."""
        import torch

        with torch.inference_mode():
            tokens = self._tokenizer(list(texts)).to(self.device)
            out = self._model.encode_text(tokens)
        return l2_normalize(out.float().cpu().numpy())

    def pool(self, frame_vectors: np.ndarray, stats: dict[str, float]) -> np.ndarray:
        """Item vector: the normalised mean of its frame vectors."""
        return l2_normalize(frame_vectors.mean(axis=0, keepdims=True))[0]


def center_crop_stack(frames: Sequence[np.ndarray], size: int) -> np.ndarray:
    """Frames (H x W x 3 uint8, any size) to a (n, size, size, 3) uint8 stack: short side to `size`, centre crop."""
    out = np.empty((len(frames), size, size, 3), dtype=np.uint8)
    for i, frame in enumerate(frames):
        h, w = frame.shape[:2]
        if min(h, w) != size:
            frame = _resize_short_side(frame, size)
            h, w = frame.shape[:2]
        top, left = (h - size) // 2, (w - size) // 2
        out[i] = frame[top : top + size, left : left + size]
    return out


def _resize_short_side(frame: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    h, w = frame.shape[:2]
    scale = size / min(h, w)
    new = (max(size, round(w * scale)), max(size, round(h * scale)))
    return np.asarray(Image.fromarray(frame).resize(new, Image.Resampling.BICUBIC))


def write_random_checkpoint(model_name: str, path: Path, *, seed: int = 0) -> Path:
    """Save a randomly initialised open_clip model of `model_name` as a safetensors checkpoint.

    For tests and benchmarks: exercises exactly the loading path real weights take, with no download.
    """
    import open_clip
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    if model_name.endswith(".json"):
        open_clip.add_model_config(Path(model_name))
        model_name = Path(model_name).stem
    model = open_clip.create_model(model_name, pretrained=None, pretrained_text=False)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path))
    return path
