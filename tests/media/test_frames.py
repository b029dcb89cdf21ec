from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from avrec.errors import MediaError
from avrec.media import decode_audio, load_image, probe, sample_frames, thumbnail_jpeg
from avrec.media.frames import FrameSample

from .conftest import ffmpeg


def _sample(path: Path, **kw: Any) -> FrameSample:
    info = probe(path)
    assert info.video is not None
    return sample_frames(path, duration=info.duration, width=info.video.width, height=info.video.height, **kw)


def test_uniform_frames_are_capped_timed_and_scaled(media_dir: Path) -> None:
    sample = _sample(media_dir / "with_audio.mp4", max_frames=6, short_side=64)
    frames = sample.frames
    assert 1 <= len(frames) <= 6
    times = [f.ts for f in frames]
    assert times == sorted(times) and 0.0 <= times[0] and times[-1] < 3.0
    assert frames[0].rgb.shape == (64, 86, 3) and frames[0].rgb.dtype == np.uint8
    assert sample.decoded_frames == 75


def test_scene_change_is_found_with_its_timestamp(media_dir: Path) -> None:
    sample = _sample(media_dir / "cut.mp4", max_frames=8)
    scene = [f for f in sample.frames if f.kind == "scene"]
    assert scene and scene[0].ts == pytest.approx(2.0, abs=0.05)
    assert sample.scene_changes == 1
    assert sample.cut_rate == pytest.approx(15.0, rel=0.05)  # one cut in 4 s


def test_long_video_keeps_the_cap(tmp_path: Path) -> None:
    long = tmp_path / "long.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=96x64:rate=10:duration=60", "-c:v", "libx264", "-preset",
           "ultrafast", "-pix_fmt", "yuv420p", str(long))
    sample = _sample(long, max_frames=4, scene_threshold=0.0001)
    assert len(sample.frames) == 4
    spread = [f.ts for f in sample.frames]
    assert spread[-1] - spread[0] > 20


def test_image_and_thumbnail(media_dir: Path) -> None:
    frame = load_image(media_dir / "poster.png", width=200, height=150, short_side=64)
    assert frame.kind == "image" and frame.ts == 0.0 and frame.rgb.shape == (64, 86, 3)
    from PIL import Image

    thumb = thumbnail_jpeg(frame.rgb, max_side=32)
    assert thumb[:2] == b"\xff\xd8"
    assert max(Image.open(io.BytesIO(thumb)).size) <= 32


def test_undecodable_video_names_the_file(media_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad clip.mp4"
    shutil.copy2(media_dir / "garbage.mp4", bad)
    with pytest.raises(MediaError, match="bad clip.mp4"):
        sample_frames(bad, duration=3.0, width=320, height=240)


def test_audio_decoding(media_dir: Path) -> None:
    audio = decode_audio(media_dir / "with_audio.mp4")
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert audio.size == pytest.approx(3 * 16_000, rel=0.03)
    assert 0.1 < float(np.abs(audio).max()) <= 1.0  # ffmpeg sine: amplitude 1/8
    assert decode_audio(media_dir / "tone.ogg", max_seconds=1.0).size == 16_000
    with pytest.raises(MediaError, match="silent.mp4"):
        decode_audio(media_dir / "silent.mp4")


def test_leading_dash_name(media_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    odd = tmp_path / "-y;$(echo x).mp4"
    shutil.copy2(media_dir / "with_audio.mp4", odd)
    monkeypatch.chdir(tmp_path)
    assert decode_audio(Path(odd.name)).size > 0
    assert len(_sample(Path(odd.name), max_frames=2).frames) == 2
