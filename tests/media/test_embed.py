from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from avrec.config import Settings
from avrec.embed import embed
from avrec.encoders.visual import DESCRIPTOR_MODEL_ID, ITEM_FEATURES
from avrec.errors import UsageError
from avrec.ingest.media import ingest_media
from avrec.store import Store


@pytest.fixture
def fast(no_clip_settings: Settings, tmp_path: Path) -> Settings:
    """No Whisper model and the weight-free encoders (descriptors) asked for: no model loads."""
    return dataclasses.replace(
        no_clip_settings,
        whisper_model=str(tmp_path / "no-such-whisper"),
        visual_model="descriptors",
        audio_model="acoustic",
    )


def test_visual_and_audio_without_models(store: Store, clips: Path, fast: Settings) -> None:
    ingest_media(store, [clips])
    report = embed(store, fast, modalities=["visual", "audio"], max_frames=4)
    assert report.ok, report.failures
    assert report.vectors["visual"] == 3 and report.vectors["audio"] == 2
    assert report.models["visual"] == DESCRIPTOR_MODEL_ID and report.models["audio"] == "acoustic:v1"
    assert not [w for w in report.warnings if "CLIP" in w or "EfficientNet" in w]  # asked for by name
    assert store.visual_labels("with_audio") == []  # descriptors name no labels
    ids, mat, models = store.vectors("visual")
    assert ids == ["poster", "silent", "with_audio"] and mat.shape == (3, len(ITEM_FEATURES))
    frames = store.frames("with_audio", with_thumbs=True)
    assert 1 <= len(frames) <= 4 and all(f.thumb and f.thumb[:2] == b"\xff\xd8" for f in frames)
    assert [f.ts for f in frames] == sorted(f.ts for f in frames) and frames[-1].ts < 3.0
    assert [f.kind for f in store.frames("poster")] == ["image"]
    meta = store.vector_meta("tone", "audio")
    assert meta is not None and meta["descriptors"]["pitch_median_st"] == pytest.approx(69.0, abs=0.6)
    assert store.vector_counts() == {"text": 0, "visual": 3, "audio": 2}


def test_second_run_is_no_work_and_changed_file_is_redone(
    store: Store, clips: Path, media_dir: Path, fast: Settings
) -> None:
    ingest_media(store, [clips])
    embed(store, fast, modalities=["visual", "audio"], max_frames=2)
    again = embed(store, fast, modalities=["visual", "audio"], max_frames=2)
    assert again.vectors == {"text": 0, "visual": 0, "audio": 0}
    assert again.up_to_date["visual"] == 3 and again.up_to_date["audio"] == 2
    assert not [w for w in again.warnings if "CLIP" in w]  # no work, so no model and no warning
    shutil.copy2(media_dir / "cut.mp4", clips / "silent.mp4")
    ingest_media(store, [clips])
    redo = embed(store, fast, modalities=["visual", "audio"], max_frames=2)
    assert redo.vectors["visual"] == 1 and redo.vectors["audio"] == 0


def test_killed_run_resumes(store: Store, clips: Path, fast: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from avrec import embed as embed_module

    ingest_media(store, [clips])
    real = embed_module._Run._finish_visual
    calls = {"n": 0}

    def dies_on_second(self: object, item: object, encoder: object) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        real(self, item, encoder)  # type: ignore[arg-type]

    monkeypatch.setattr(embed_module._Run, "_finish_visual", dies_on_second)
    with pytest.raises(KeyboardInterrupt):
        embed(store, fast, modalities=["visual"], batch_size=1, max_frames=2)
    assert store.vector_counts()["visual"] == 1
    monkeypatch.setattr(embed_module._Run, "_finish_visual", real)
    resumed = embed(store, fast, modalities=["visual"], batch_size=1, max_frames=2)
    assert resumed.vectors["visual"] == 2 and resumed.up_to_date["visual"] == 1


def test_undecodable_files_are_reported_and_skipped(
    store: Store, clips: Path, media_dir: Path, fast: Settings
) -> None:
    ingest_media(store, [clips])
    # Same size and mtime as ingested, so only decoding can tell: garbage bytes.
    target = clips / "silent.mp4"
    st = target.stat()
    target.write_bytes(os.urandom(st.st_size))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    (clips / "tone.ogg").unlink()
    report = embed(store, fast, modalities=["visual", "audio"], max_frames=2)
    failed = dict(report.failures)
    assert set(failed) == {"silent", "tone"}
    assert "silent.mp4" in failed["silent"] and "tone.ogg" in failed["tone"] and "no longer exists" in failed["tone"]
    assert report.vectors["visual"] == 2 and report.vectors["audio"] == 1


def test_unknown_modality(store: Store, fast: Settings) -> None:
    with pytest.raises(UsageError, match="smell"):
        embed(store, fast, modalities=["smell"])


@pytest.mark.slow
def test_all_modalities_with_text_and_speech(store: Store, clips: Path, no_clip_settings: Settings) -> None:
    (clips / "with_audio.json").write_text(json.dumps({"title": "Colour bars", "tags": ["test", "tone"]}))
    ingest_media(store, [clips])
    report = embed(store, no_clip_settings, max_frames=2)
    assert report.ok, report.failures
    clip_warnings = [w for w in report.warnings if "CLIP" in w]
    assert len(clip_warnings) == 1 and "AVREC_CLIP_WEIGHTS" in clip_warnings[0] and "EfficientNet" in clip_warnings[0]
    assert report.models["visual"] == "imagenet:efficientnet-lite0"
    assert report.models["audio"].startswith("aisfx:")
    # Items whose frames show something get text too: their visual labels.
    labelled = sorted(i for i in ("poster", "silent") if store.visual_labels(i))
    assert report.vectors == {"text": 1 + len(labelled), "visual": 3, "audio": 2}
    assert report.transcripts == 2 and report.with_speech == 0  # a sine tone is not speech
    transcript = store.transcript("tone")
    assert transcript is not None and not transcript.has_speech and transcript.text == ""
    ids, mat, models = store.vectors("text")
    assert ids == sorted(["with_audio", *labelled]) and set(models) == {"sbert:all-MiniLM-L6-v2"}
    assert np.allclose(np.linalg.norm(mat, axis=1), 1.0, atol=1e-4)
    # Editing the text redoes only the text vector.
    (clips / "with_audio.json").write_text(json.dumps({"title": "Colour bars and a tone"}))
    ingest_media(store, [clips])
    redo = embed(store, no_clip_settings, max_frames=2)
    assert redo.vectors == {"text": 1, "visual": 0, "audio": 0}
