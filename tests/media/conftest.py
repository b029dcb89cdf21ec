"""Media made with the bundled ffmpeg, once per test session, plus a tiny CLIP checkpoint."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from avrec.config import Settings
from avrec.media.ffmpeg import ffmpeg_exe

TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


def ffmpeg(*args: str) -> None:
    """Run the bundled ffmpeg (argument list, no shell); fail the test with its stderr on error."""
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args],
                          capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.decode("utf-8", "replace"))


def has_encoder(name: str) -> bool:
    out = subprocess.run([ffmpeg_exe(), "-hide_banner", "-encoders"], capture_output=True, check=False)
    return f" {name} " in out.stdout.decode("utf-8", "replace")


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of generated media; tests copy what they change."""
    d = tmp_path_factory.mktemp("media")
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=3", "-f", "lavfi",
           "-i", "sine=frequency=440:sample_rate=44100:duration=3", "-c:v", "libx264", "-preset", "ultrafast",
           "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(d / "with_audio.mp4"))
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=2", "-c:v", "libx264",
           "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(d / "silent.mp4"))
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=2", "-f", "lavfi",
           "-i", "smptebars=size=160x120:rate=25:duration=2", "-filter_complex", "[0:v][1:v]concat=n=2:v=1[v]",
           "-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(d / "cut.mp4"))
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=4", "-c:a", "libvorbis",
           str(d / "tone.ogg"))
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=200x150:rate=1:duration=1", "-frames:v", "1", str(d / "poster.png"))
    (d / "zero.mp4").write_bytes(b"")
    (d / "garbage.mp4").write_bytes(bytes(range(256)) * 64)
    (d / "notes.txt").write_text("not media\n")
    whole = (d / "with_audio.mp4").read_bytes()
    (d / "truncated.mp4").write_bytes(whole[: len(whole) // 2])  # moov atom at the end: cut off
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=6", "-c:v", "libx264",
           "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(d / "faststart.mp4"))
    fast = (d / "faststart.mp4").read_bytes()
    (d / "cut_short.mp4").write_bytes(fast[: len(fast) // 3])  # index intact, data missing
    return d


@pytest.fixture
def clips(media_dir: Path, tmp_path: Path) -> Path:
    """A private folder with the good clips (video+audio, silent video, tone, poster)."""
    d = tmp_path / "clips"
    d.mkdir()
    for name in ("with_audio.mp4", "silent.mp4", "tone.ogg", "poster.png"):
        shutil.copy2(media_dir / name, d / name)
    return d


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    espeak = shutil.which("espeak-ng") or shutil.which("espeak")
    if espeak is None:
        pytest.skip("espeak-ng is not installed here")
    d = tmp_path_factory.mktemp("speech")
    wav = d / "spoken.wav"
    subprocess.run([espeak, "-w", str(wav), "The weather today is heavy rain over the mountains. "
                    "Bring an umbrella tonight."], check=True, capture_output=True)
    mp4 = d / "weather.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-i", str(wav), "-shortest",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(mp4))
    return mp4


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(model config JSON, random-weight safetensors checkpoint) of a tiny open_clip architecture."""
    from avrec.encoders.clip import write_random_checkpoint

    d = tmp_path_factory.mktemp("clip")
    config = d / "avrec-tiny-clip.json"
    config.write_text(json.dumps(TINY_CLIP))
    weights = write_random_checkpoint(str(config), d / "tiny.safetensors", seed=0)
    return config, weights


@pytest.fixture
def no_clip_settings(store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for var in ("AVREC_CLIP_WEIGHTS", "AVREC_CLIP_PRETRAINED", "AVREC_TEXT_MODEL", "AVREC_WHISPER_MODEL"):
        monkeypatch.delenv(var, raising=False)
    return Settings(store=store_dir, device="cpu", threads=2)
