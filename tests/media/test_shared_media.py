"""Every real clip in ../shared/media (many codecs) and an HEVC clip ingest and embed in every modality."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from avrec.config import Settings
from avrec.embed import embed
from avrec.ingest.media import ingest_media
from avrec.store import Store

from ..conftest import shared_path
from .conftest import ffmpeg, has_encoder

pytestmark = pytest.mark.slow


def test_real_clips_embed_in_every_modality(store: Store, no_clip_settings: Settings, tmp_path: Path) -> None:
    media = shared_path("media")
    files = sorted(p for p in media.iterdir() if p.suffix in {".mp4", ".webm", ".avi", ".mp3"})
    assert files
    report = ingest_media(store, files)
    assert report.ok, report.failed
    out = embed(store, no_clip_settings, max_frames=4)  # every modality, Whisper included
    assert out.ok, out.failures
    assert out.transcripts == 6
    records = list(store.iter_media())
    counts = store.vector_counts()
    assert counts["visual"] == sum(r.has_video for r in records) == 8
    assert counts["audio"] == sum(r.has_audio for r in records) == 6
    for rec in records:
        if rec.has_video:
            assert store.frames(rec.item_id), rec.path


def test_hevc(store: Store, no_clip_settings: Settings, tmp_path: Path) -> None:
    if not has_encoder("libx265"):
        pytest.skip("this ffmpeg has no libx265 encoder")
    clip = tmp_path / "hevc clip.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=2", "-f", "lavfi",
           "-i", "sine=frequency=330:duration=2", "-c:v", "libx265", "-preset", "ultrafast",
           "-x265-params", "log-level=error", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(clip))
    report = ingest_media(store, [clip])
    assert report.ok and store.get_media("hevc clip") is not None
    assert store.get_media("hevc clip").video_codec == "hevc"  # type: ignore[union-attr]
    settings = dataclasses.replace(no_clip_settings, whisper_model=str(tmp_path / "no-whisper"))
    out = embed(store, settings, modalities=["visual", "audio"], max_frames=3)
    assert out.ok and out.vectors["visual"] == 1 and out.vectors["audio"] == 1
