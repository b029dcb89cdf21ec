"""Sound-effects embedding from the `aisfx` wheel (Ma & Lerch, CC BY 4.0): the audio vector when installed.

The model (the "X-Sequential-CE" network of Ma & Lerch, ISMIR 2022, trained across nine sound-effects
libraries) maps ~2.3 s of audio (100 frames of a 96-band mel spectrogram at 44.1 kHz, hop 1024) to a
512-d embedding. An item's audio vector is the mean and the max of its window embeddings (each half unit
length, 1024 numbers in all, unit length): the mean says what the item sounds like overall, the max
which sounds occur in it at all. The acoustic descriptors (tempo, loudness, ...) stay as named traits.

The wheel's checkpoint is a pickle. It is loaded only when its sha256 is the one pinned here, and even
then with `torch.load(weights_only=True)` and nothing allowed beyond tensors and numpy scalars: a file
that differs is refused before it is opened by the unpickler.

The spectrogram follows aisfx's own librosa variant (peak-normalised audio, Hann window of 2048, power
spectrum, 96 HTK mel bands 0-22050 Hz each summing to one, log10(1 + 10^4 x), scaled by the training
maximum 9.4578), computed here with numpy so no librosa/numba stack is needed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from avrec.encoders.base import EncoderUnavailable, l2_normalize
from avrec.errors import EncoderError

#: The sha256 of `aisfx/models/checkpoint.pth` in aisfx 0.1.2 (PyPI wheel), the only checkpoint avrec loads.
AISFX_CHECKPOINT_SHA256 = "499ea75909c932a2f94c35fa722fa4fabc5bcb7e84917209cc5f7402627b7eb5"
SFX_MODEL_ID = "aisfx:x-sequential-ce:499ea759"
SAMPLE_RATE = 44_100
N_FFT = 2048
HOP = 1024
N_MELS = 96
WINDOW_FRAMES = 100  # ~2.3 s
#: The spectrogram maximum of the training data (aisfx `spectrogram_normalize(spec_norm="original")`).
SPEC_MAX = 9.457798957824707
#: Only the first five minutes are embedded: plenty to say what an item sounds like, in bounded time and
#: memory (44.1 kHz float32: ~53 MB per copy of the samples).
MAX_SECONDS = 300.0


def checkpoint_path() -> Path:
    """The checkpoint inside the aisfx wheel; EncoderUnavailable when aisfx is not installed."""
    import importlib.util

    spec = importlib.util.find_spec("aisfx")
    if spec is None or not spec.submodule_search_locations:
        raise EncoderUnavailable(
            "the sound-effects audio encoder needs aisfx (pip install --no-deps aisfx==0.1.2; scripts/bootstrap "
            "does this)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / "checkpoint.pth"
    if not path.is_file():
        raise EncoderUnavailable(f"aisfx is installed but its checkpoint {path} is missing; reinstall aisfx")
    return path


def sfx_available() -> bool:
    """Whether aisfx is installed (cheap: no import)."""
    import importlib.util

    return importlib.util.find_spec("aisfx") is not None


def verify_checkpoint(path: Path, expected: str = AISFX_CHECKPOINT_SHA256) -> None:
    """Refuse any checkpoint whose sha256 is not the pinned one (raises EncoderError naming the file)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected:
        raise EncoderError(
            f"refusing to load {path}: its sha256 {digest.hexdigest()[:16]}... is not the pinned aisfx 0.1.2 "
            f"checkpoint ({expected[:16]}...); reinstall aisfx==0.1.2 (pip install --no-deps --force-reinstall)"
        )


def load_checkpoint(path: Path, expected: str = AISFX_CHECKPOINT_SHA256) -> dict[str, Any]:
    """The embedding network's state dict, after the hash check, with the restricted (weights-only) loader."""
    verify_checkpoint(path, expected)
    import torch
    from numpy._core.multiarray import scalar

    # The checkpoint holds (state dict, {dataset: (numpy int64, classes)}): allow numpy scalars and their
    # dtypes, nothing that can run code.
    allowed: list[Any] = [
        (scalar, "numpy.core.multiarray.scalar"),
        np.dtype,
        np.dtypes.Int64DType,
        np.dtypes.Float64DType,
    ]
    try:
        with torch.serialization.safe_globals(allowed):
            state, _datasets = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # the unpickler raises several types; all mean "not loadable"
        raise EncoderError(f"cannot load the aisfx checkpoint {path}: {exc}") from None
    prefix = "embedding_net."
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def _mel_filters() -> np.ndarray:
    """(N_MELS, N_FFT // 2 + 1) HTK-mel triangles over 0..22050 Hz, each row summing to one."""
    from avrec.encoders.acoustic import mel_filters

    weights = mel_filters(SAMPLE_RATE, N_FFT, N_MELS)
    return weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)


_FILTERS: np.ndarray | None = None


def spectrogram(audio: np.ndarray) -> np.ndarray:
    """(frames, 96) normalised log-mel spectrogram of mono 44.1 kHz audio."""
    global _FILTERS
    if _FILTERS is None:
        _FILTERS = _mel_filters()
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    # One padded float32 copy, normalised in place.
    y = np.pad(np.asarray(audio, dtype=np.float32), (N_FFT // 2, N_FFT // 2))
    if peak > 0:
        y /= peak
    n = 1 + max(0, (y.size - N_FFT) // HOP)
    window = np.hanning(N_FFT + 1)[:-1]  # periodic Hann, as librosa
    out = np.empty((n, N_MELS), dtype=np.float32)
    for start in range(0, n, 512):  # in chunks: bounded memory on long files
        idx = np.arange(start, min(n, start + 512))[:, None] * HOP + np.arange(N_FFT)[None, :]
        power = np.abs(np.fft.rfft(y[idx] * window, axis=1)).astype(np.float64) ** 2
        out[start : start + idx.shape[0]] = np.log10(power @ _FILTERS.T * 1e4 + 1.0) / SPEC_MAX
    return out


def windows(spec: np.ndarray) -> np.ndarray:
    """(n, 100, 96) consecutive ~2.3 s windows; a short item is zero-padded to one window."""
    n = max(1, spec.shape[0] // WINDOW_FRAMES)
    padded = np.zeros((n * WINDOW_FRAMES, spec.shape[1]), dtype=np.float32)
    take = min(spec.shape[0], padded.shape[0])
    padded[:take] = spec[:take]
    return padded.reshape(n, WINDOW_FRAMES, spec.shape[1])


class SfxEncoder:
    """aisfx window embeddings pooled (mean, max) into one 1024-d unit vector per item."""

    model_id = SFX_MODEL_ID
    dim = 1024
    sample_rate = SAMPLE_RATE

    def __init__(self, *, device: str = "cpu", checkpoint: Path | None = None, batch: int = 32) -> None:
        try:
            from aisfx.models.cnn2d import EmbeddingNet
        except ImportError as exc:
            raise EncoderUnavailable(
                f"the sound-effects audio encoder needs aisfx and its runtime ({exc}); "
                "pip install --no-deps aisfx==0.1.2"
            ) from None
        state = load_checkpoint(checkpoint or checkpoint_path())
        net = EmbeddingNet("max", 3, 1, 64)
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise EncoderError(f"the aisfx checkpoint does not fit its network: {exc}") from None
        self._net: Any = net.to(device).eval()
        self.device = device
        self.batch = batch

    def window_embeddings(self, audio: np.ndarray) -> np.ndarray:
        """(n windows, 512) embeddings of mono 44.1 kHz audio."""
        import torch

        blocks = windows(spectrogram(audio))
        out = []
        with torch.inference_mode():
            for start in range(0, blocks.shape[0], self.batch):
                x = torch.from_numpy(blocks[start : start + self.batch]).to(self.device)
                out.append(self._net(x).float().cpu().numpy())
        return np.vstack(out)

    def pool(self, emb: np.ndarray) -> np.ndarray:
        """Item vector: unit-length mean and unit-length max of the window embeddings, then unit length."""
        both = np.concatenate([l2_normalize(emb.mean(axis=0)[None])[0], l2_normalize(emb.max(axis=0)[None])[0]])
        return l2_normalize(both[None])[0]

    def encode_batch(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        """One pooled vector per mono 44.1 kHz waveform."""
        if not inputs:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self.pool(self.window_embeddings(a)) for a in inputs]).astype(np.float32)
