"""The one encoder interface, and helpers every encoder shares."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np

from avrec.errors import EncoderError

T_contra = TypeVar("T_contra", contravariant=True)


class Encoder(Protocol[T_contra]):
    """Turns a batch of inputs into a (n, dim) float32 matrix.

    `model_id` names the model and its version (weights included): a stored vector whose model id differs
    from the current encoder's is out of date and `embed` computes it again.
    """

    model_id: str
    dim: int

    def encode_batch(self, inputs: Sequence[T_contra]) -> np.ndarray: ...


class EncoderUnavailable(EncoderError):
    """The encoder's model is not available offline (no weights here). The message says how to provide it."""


def l2_normalize(mat: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; zero rows stay zero."""
    mat = np.asarray(mat, dtype=np.float32)
    norms = np.linalg.norm(mat, axis=-1, keepdims=True)
    return (mat / np.maximum(norms, 1e-12)).astype(np.float32)


def file_fingerprint(path: Path) -> str:
    """A cheap identity for a (possibly multi-GB) weights file: size plus hashes of its first and last MiB."""
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as fh:
        digest.update(fh.read(1 << 20))
        if size > 2 << 20:
            fh.seek(size - (1 << 20))
            digest.update(fh.read(1 << 20))
    return digest.hexdigest()[:12]


def resolve_device(device: str) -> str:
    """Turn `auto` into the best device present and check that a requested one exists."""
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise EncoderError("--device cuda was asked for but torch sees no CUDA GPU here; use --device cpu")
    if device == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise EncoderError(
                "--device mps was asked for but this torch has no MPS support; use --device cpu"
            )
    if device not in ("cpu", "cuda", "mps") and not device.startswith("cuda:"):
        raise EncoderError(f"unknown device {device!r}; use auto, cpu, cuda or mps")
    return device


def set_threads(threads: int | None) -> None:
    """Cap torch's CPU threads when the caller asked for a number."""
    if threads:
        import torch

        torch.set_num_threads(max(1, int(threads)))


def offline_environment() -> None:
    """avrec never downloads models: keep Hugging Face libraries offline unless the user set otherwise."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
