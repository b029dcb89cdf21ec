"""The CLIP path for real: a tiny open_clip architecture with a checkpoint written here (random weights).

Same loading code, tensors and shapes as real weights; nothing is downloaded.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from avrec.config import Settings
from avrec.embed import embed
from avrec.encoders import EncoderUnavailable, clip_model_id, load_clip_encoder
from avrec.encoders.visual import DESCRIPTOR_MODEL_ID
from avrec.ingest.media import ingest_media
from avrec.search import encode_query, search
from avrec.store import Store

pytestmark = pytest.mark.slow


@pytest.fixture
def clip_settings(no_clip_settings: Settings, tiny_clip: tuple[Path, Path], tmp_path: Path) -> Settings:
    config, weights = tiny_clip
    return dataclasses.replace(no_clip_settings, clip_model=str(config), clip_weights=str(weights),
                               whisper_model=str(tmp_path / "no-whisper"))


def test_loads_local_weights_and_encodes(clip_settings: Settings, tiny_clip: tuple[Path, Path]) -> None:
    enc = load_clip_encoder(clip_settings, device="cpu")
    assert enc.dim == 32 and enc.image_size == 64
    assert enc.model_id.startswith("clip:avrec-tiny-clip:file-") and enc.model_id == clip_model_id(clip_settings)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, size=(64, 90, 3), dtype=np.uint8), rng.integers(0, 255, (120, 80, 3), np.uint8)]
    out = enc.encode_batch(frames)
    assert out.shape == (2, 32) and out.dtype == np.float32
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    text = enc.encode_text(["a red car", "rain"])
    assert text.shape == (2, 32)
    # The weights really came from the file: a second load gives the same vectors.
    again = load_clip_encoder(clip_settings, device="cpu").encode_batch(frames)
    assert np.allclose(out, again, atol=1e-5)


def test_torch_checkpoint_loads_without_pickle(clip_settings: Settings, tiny_clip: tuple[Path, Path],
                                               tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    pt = tmp_path / "tiny.pt"
    torch.save({"state_dict": load_file(str(tiny_clip[1]))}, pt)
    enc = load_clip_encoder(dataclasses.replace(clip_settings, clip_weights=str(pt)), device="cpu")
    ref = load_clip_encoder(clip_settings, device="cpu")
    frame = [np.full((64, 64, 3), 128, dtype=np.uint8)]
    assert np.allclose(enc.encode_batch(frame), ref.encode_batch(frame), atol=1e-5)
    assert enc.model_id != ref.model_id  # a different file is a different model version


def test_pretrained_tag_not_in_cache_is_unavailable(no_clip_settings: Settings, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HOME", str(tmp_path))
    settings = dataclasses.replace(no_clip_settings, clip_model="ViT-B-32", clip_pretrained="laion2b_s34b_b79k")
    with pytest.raises(EncoderUnavailable, match="never downloads"):
        load_clip_encoder(settings, device="cpu")
    with pytest.raises(EncoderUnavailable, match="does not exist"):
        load_clip_encoder(dataclasses.replace(no_clip_settings, clip_weights=str(tmp_path / "x.pt")))


def test_weights_appearing_later_upgrade_visual_vectors(
    store: Store, clips: Path, clip_settings: Settings, tmp_path: Path
) -> None:
    ingest_media(store, [clips])
    plain = dataclasses.replace(clip_settings, clip_weights=None, visual_model="descriptors")
    first = embed(store, plain, modalities=["visual"], max_frames=3)
    assert first.vectors["visual"] == 3 and first.models["visual"] == DESCRIPTOR_MODEL_ID
    upgraded = embed(store, clip_settings, modalities=["visual"], max_frames=3)
    assert upgraded.vectors["visual"] == 3 and not upgraded.warnings
    model = upgraded.models["visual"]
    ids, mat, models = store.vectors("visual")
    assert set(models) == {model} and mat.shape == (3, 32)
    assert np.allclose(np.linalg.norm(mat, axis=1), 1.0, atol=1e-4)
    assert {f.model_id for f in store.frames("with_audio")} == {model}
    # Losing the weights again never downgrades CLIP vectors of unchanged media.
    assert embed(store, plain, modalities=["visual"], max_frames=3).vectors["visual"] == 0
    # CLIP's text tower searches the frames when the weights are present.
    query = encode_query(store, clip_settings, "colour bars")
    assert set(query) == {"visual"}
    hits = search(store, clip_settings, "colour bars", k=3)
    assert len(hits) == 3 and hits[0].evidence[0]["modality"] == "visual" and "ts" in hits[0].evidence[0]
