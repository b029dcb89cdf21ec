from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from avrec.errors import MediaError
from avrec.media import probe


def test_video_with_audio(media_dir: Path) -> None:
    info = probe(media_dir / "with_audio.mp4")
    assert info.kind == "video"
    assert info.duration == pytest.approx(3.0, abs=0.2)
    assert info.video is not None and info.video.codec == "h264"
    assert (info.video.width, info.video.height) == (320, 240)
    assert info.video.fps == pytest.approx(25.0)
    assert info.audio is not None and info.audio.codec == "aac"
    assert info.as_dict()["streams"][0]["type"] == "video"


def test_silent_video_audio_only_and_image(media_dir: Path) -> None:
    silent = probe(media_dir / "silent.mp4")
    assert silent.kind == "video" and silent.has_video and not silent.has_audio
    tone = probe(media_dir / "tone.ogg")
    assert tone.kind == "audio" and tone.audio is not None and tone.audio.codec == "vorbis"
    assert tone.duration == pytest.approx(4.0, abs=0.2)
    poster = probe(media_dir / "poster.png")
    assert poster.kind == "image" and poster.duration is None


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("zero.mp4", "zero-length"),
        ("garbage.mp4", "not a media file"),
        ("notes.txt", "not a media file"),
        ("truncated.mp4", "not a media file"),
        ("cut_short.mp4", "truncated"),
    ],
)
def test_bad_files_fail_with_their_name(media_dir: Path, name: str, words: str) -> None:
    with pytest.raises(MediaError) as err:
        probe(media_dir / name)
    assert name in str(err.value)
    assert words in str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="nope.mp4"):
        probe(tmp_path / "nope.mp4")


def test_hostile_file_name(media_dir: Path, tmp_path: Path) -> None:
    odd = tmp_path / "-i evil; $(touch pwned) 'q' \"d\" concat:x|y.mp4"
    shutil.copy2(media_dir / "with_audio.mp4", odd)
    assert probe(odd).kind == "video"
    assert not (tmp_path / "pwned").exists()


def test_cover_art_does_not_make_audio_a_video(media_dir: Path, tmp_path: Path) -> None:
    from .conftest import ffmpeg

    song = tmp_path / "song.mp3"
    ffmpeg("-f", "lavfi", "-i", "sine=duration=2", "-i", str(media_dir / "poster.png"), "-map", "0:a",
           "-map", "1:v", "-c:a", "libmp3lame", "-c:v", "png", "-disposition:v", "attached_pic", str(song))
    info = probe(song)
    assert info.kind == "audio" and not info.has_video
