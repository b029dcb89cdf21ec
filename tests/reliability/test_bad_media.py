"""Bad and hostile media through `avrec ingest media` (issue 7, item 1), as a real process.

Contract: every bad file is named in an `avrec: error:` line on stderr (and in the JSON report's `failed`);
every good file is stored; exit code 1 when anything failed, 0 only when everything went well; no
traceback ever; nothing already stored is lost. All media are made here by the bundled ffmpeg.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.conftest import db, ffmpeg, ok, run_avrec

HOSTILE_NAMES = [
    "with space.mp4",
    "it's \"quoted\".mp4",
    "semi;colon; rm -rf x.mp4",
    "$(touch pwned).mp4",
    "`touch pwned2`.mp4",
    "-leading dash.mp4",
    "--help.mp4",
    "pipe|and&amp.mp4",
    "ünïcødé 日本語 🎬.mp4",
    "file:colon.mp4",
]


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Good and bad media, made once for the module."""
    d = tmp_path_factory.mktemp("made")
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=128x96:rate=10:duration=3", "-f", "lavfi",
           "-i", "sine=frequency=440:sample_rate=22050:duration=3", "-c:v", "libx264", "-preset", "ultrafast",
           "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", d / "av.mp4")
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=128x96:rate=10:duration=2", "-c:v", "libx264",
           "-preset", "ultrafast", "-pix_fmt", "yuv420p", d / "silent.mp4")
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=330:sample_rate=22050:duration=2", "-c:a", "libmp3lame",
           d / "tone.mp3")
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=128x96:rate=10", "-frames:v", "1", "-c:v", "libx264",
           "-preset", "ultrafast", "-pix_fmt", "yuv420p", d / "one_frame.mp4")
    ffmpeg("-f", "lavfi", "-i", "color=c=blue:size=8000x8000:rate=1", "-frames:v", "1", "-c:v", "libx264",
           "-preset", "ultrafast", "-pix_fmt", "yuv420p", d / "huge.mp4")
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=128x96:rate=10:duration=6", "-c:v", "libx264",
           "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-movflags", "+faststart", d / "faststart.mp4")
    srt = d / "subs.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n")
    ffmpeg("-i", srt, "-c:s", "srt", d / "subs_only.mkv")
    whole = (d / "av.mp4").read_bytes()
    (d / "truncated.mp4").write_bytes(whole[: len(whole) // 2])  # moov atom at the end: cut off
    fast = (d / "faststart.mp4").read_bytes()
    (d / "cut_short.mp4").write_bytes(fast[: len(fast) // 3])  # header intact, most data gone
    (d / "zero.mp4").write_bytes(b"")
    (d / "random.mp4").write_bytes(random.Random(7).randbytes(64 * 1024))
    (d / "text.mp3").write_text("ID3? no: this is a shopping list\neggs\nmilk\n")
    return d


def _ingest(store: Path, *paths: str | bytes, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return run_avrec(store, "ingest", "media", "--output-format", "json", "--", *paths, cwd=cwd)


def _report(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    return json.loads(proc.stdout)


def _media_rows(store: Path) -> dict[str, tuple[int, int, int | None]]:
    conn = db(store)
    try:
        rows = conn.execute("SELECT item_id, has_video, has_audio, width FROM media")
        return {r[0]: (r[1], r[2], r[3]) for r in rows}
    finally:
        conn.close()


def _no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]


def _named_in_errors(stderr: str, name: str) -> bool:
    return any(line.startswith("avrec: error:") and name in line for line in stderr.splitlines())


def test_good_media_with_hostile_names_all_ingested(made: Path, tmp_path: Path) -> None:
    """Spaces, quotes, `;`, `$()`, backticks, a leading `-`, `|&`, `file:`, unicode: all stored, nothing run."""
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    for name in HOSTILE_NAMES:
        shutil.copy2(made / "av.mp4", incoming / name)
    for name in ("silent.mp4", "tone.mp3", "one_frame.mp4", "huge.mp4"):
        shutil.copy2(made / name, incoming / name)
    store = tmp_path / "store"
    proc = _ingest(store, str(incoming), cwd=incoming)
    _no_traceback(proc)
    ok(proc)
    report = _report(proc)
    expected = {Path(n).stem for n in HOSTILE_NAMES} | {"silent", "tone", "one_frame", "huge"}
    assert set(report["items"]) == expected and report["failed"] == []
    for evil in ("pwned", "pwned2", "x"):
        assert not (incoming / evil).exists() and not (tmp_path / evil).exists()
    rows = _media_rows(store)
    assert rows["silent"][:2] == (1, 0), "video without audio is stored as video-only"
    assert rows["tone"][:2] == (0, 1), "audio without video is stored as audio-only"
    assert rows["one_frame"][0] == 1 and rows["huge"][2] == 8000
    # Named one by one on the command line (after `--`, so `-leading dash.mp4` is a file, not an option).
    one_by_one = _ingest(tmp_path / "store2", *[str(incoming / n) for n in HOSTILE_NAMES], cwd=incoming)
    ok(one_by_one)
    assert len(_report(one_by_one)["items"]) == len(HOSTILE_NAMES)
    # Again: nothing to do, still exit 0.
    again = ok(_ingest(store, str(incoming)))
    assert _report(again)["unchanged"] == len(expected)


def test_bad_media_each_named_and_good_ones_stored(made: Path, tmp_path: Path) -> None:
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    good = ["av.mp4", "tone.mp3", "silent.mp4"]
    bad = ["zero.mp4", "truncated.mp4", "cut_short.mp4", "random.mp4", "text.mp3", "subs_only.mkv"]
    for name in good + bad:
        shutil.copy2(made / name, incoming / name)
    os.mkfifo(incoming / "fifo.mp4")  # would block a naive reader forever
    bad.append("fifo.mp4")
    store = tmp_path / "store"
    proc = _ingest(store, str(incoming), str(tmp_path / "missing.mp4"))
    _no_traceback(proc)
    assert proc.returncode == 1, proc.stderr
    for name in [*bad, "missing.mp4"]:
        assert _named_in_errors(proc.stderr, name), f"{name} not named on stderr:\n{proc.stderr}"
    report = _report(proc)
    assert {Path(f["path"]).name for f in report["failed"]} == {*bad, "missing.mp4"}
    assert sorted(report["items"]) == ["av", "silent", "tone"]
    assert set(_media_rows(store)) == {"av", "silent", "tone"}


def test_symlink_loop_and_dangling_link_are_named_not_fatal(made: Path, tmp_path: Path) -> None:
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    shutil.copy2(made / "av.mp4", incoming / "av.mp4")
    (incoming / "loop_a.mp4").symlink_to("loop_b.mp4")
    (incoming / "loop_b.mp4").symlink_to("loop_a.mp4")
    (incoming / "dangling.mp4").symlink_to("nowhere.mp4")
    (incoming / "sub").mkdir()
    (incoming / "sub" / "up").symlink_to("..", target_is_directory=True)  # a directory loop
    store = tmp_path / "store"
    proc = _ingest(store, str(incoming))
    _no_traceback(proc)
    assert proc.returncode == 1, proc.stderr
    for name in ("loop_a.mp4", "loop_b.mp4", "dangling.mp4"):
        assert _named_in_errors(proc.stderr, name), f"{name} not named:\n{proc.stderr}"
    assert "av" in _media_rows(store)


def test_non_utf8_file_name_is_handled(made: Path, tmp_path: Path) -> None:
    """A name that is not valid UTF-8 (legal on Linux): stored, or named in a clear error; never a crash."""
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    shutil.copy2(made / "av.mp4", incoming / "good.mp4")
    odd = os.fsencode(incoming) + b"/caf\xe9 \xff\xfe.mp4"
    shutil.copy2(os.fsencode(made / "av.mp4"), odd)
    store = tmp_path / "store"
    proc = _ingest(store, str(incoming))
    _no_traceback(proc)
    assert proc.returncode in (0, 1)
    report = _report(proc)  # the JSON report itself must be printable
    if proc.returncode == 1:
        assert any("caf" in line for line in proc.stderr.splitlines() if line.startswith("avrec: error:"))
        assert len(report["failed"]) == 1
    assert "good" in _media_rows(store)


def test_unreadable_file(made: Path, tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("running as root: permission bits do not stop root from reading a file "
                    "(the FIFO case in test_bad_media_each_named_and_good_ones_stored covers an unopenable file)")
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    shutil.copy2(made / "av.mp4", incoming / "good.mp4")
    locked = incoming / "locked.mp4"
    shutil.copy2(made / "av.mp4", locked)
    locked.chmod(0)
    try:
        proc = _ingest(tmp_path / "store", str(incoming))
    finally:
        locked.chmod(stat.S_IRUSR | stat.S_IWUSR)
    _no_traceback(proc)
    assert proc.returncode == 1 and _named_in_errors(proc.stderr, "locked.mp4")
    assert "good" in _media_rows(tmp_path / "store")


def test_a_file_that_went_bad_keeps_its_stored_record(made: Path, tmp_path: Path) -> None:
    """Nothing already stored is lost: a clip that is later truncated in place fails, its old record stays."""
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    clip = incoming / "clip.mp4"
    shutil.copy2(made / "av.mp4", clip)
    store = tmp_path / "store"
    ok(_ingest(store, str(incoming)))
    before = _media_rows(store)
    clip.write_bytes(clip.read_bytes()[:1000])
    proc = _ingest(store, str(incoming))
    _no_traceback(proc)
    assert proc.returncode == 1 and _named_in_errors(proc.stderr, "clip.mp4")
    assert _media_rows(store) == before
