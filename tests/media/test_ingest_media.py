from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from avrec.ingest.media import ingest_media, sha256_file
from avrec.store import Item, Store


def test_folder_ingest_stores_good_files_and_names_bad_ones(store: Store, clips: Path, media_dir: Path) -> None:
    for bad in ("zero.mp4", "garbage.mp4", "truncated.mp4", "cut_short.mp4"):
        shutil.copy2(media_dir / bad, clips / bad)
    (clips / "README.txt").write_text("ignored in folders")
    report = ingest_media(store, [clips])
    assert sorted(report.added) == ["poster", "silent", "tone", "with_audio"]
    failed = dict(report.failed)
    assert set(failed) == {str((clips / b).resolve()) for b in ("zero.mp4", "garbage.mp4", "truncated.mp4",
                                                                  "cut_short.mp4")}
    assert all(Path(p).name in msg for p, msg in failed.items())
    assert "zero-length" in failed[str((clips / "zero.mp4").resolve())]
    rec = store.get_media("with_audio")
    assert rec is not None and rec.has_video and rec.has_audio and rec.video_codec == "h264"
    assert rec.sha256 == sha256_file(clips / "with_audio.mp4") and rec.duration and rec.duration > 2.5
    assert store.require_item("tone").kind == "audio" and store.require_item("poster").kind == "image"
    assert report.as_dict()["failed"][0]["message"]


def test_unchanged_is_no_work_and_changed_gets_new_hash(store: Store, clips: Path, media_dir: Path) -> None:
    ingest_media(store, [clips])
    again = ingest_media(store, [clips])
    assert sorted(again.unchanged) == ["poster", "silent", "tone", "with_audio"] and not again.added
    old = store.get_media("silent")
    assert old is not None
    shutil.copy2(media_dir / "cut.mp4", clips / "silent.mp4")
    changed = ingest_media(store, [clips / "silent.mp4"])
    assert changed.updated == ["silent"]
    new = store.get_media("silent")
    assert new is not None and new.sha256 != old.sha256
    # Touched but identical bytes: still unchanged.
    os.utime(clips / "tone.ogg", (1_000_000, 1_000_000))
    assert ingest_media(store, [clips / "tone.ogg"]).unchanged == ["tone"]


def test_sidecar_catalog_and_stem_ids(store: Store, clips: Path) -> None:
    (clips / "with_audio.json").write_text(json.dumps({
        "item_id": "clip-42", "title": "Test pattern", "description": "Bars and a tone", "tags": "test|pattern",
        "creator": "ffmpeg", "channel": "lab",
    }))
    store.upsert_items([Item("catalogued", title="From the catalog", path="clips/silent.mp4")])
    report = ingest_media(store, [clips])
    assert sorted(report.added) == ["catalogued", "clip-42", "poster", "tone"]
    item = store.require_item("clip-42")
    assert (item.title, item.tags, item.creator, item.attrs["channel"]) == (
        "Test pattern", ["test", "pattern"], "ffmpeg", "lab")
    assert store.require_item("catalogued").title == "From the catalog"
    # An edited sidecar is an update even though the media bytes did not change.
    (clips / "with_audio.json").write_text(json.dumps({"item_id": "clip-42", "title": "Renamed"}))
    assert ingest_media(store, [clips / "with_audio.mp4"]).updated == ["clip-42"]
    assert store.require_item("clip-42").title == "Renamed"


def test_bad_sidecar_and_id_collisions(store: Store, clips: Path, media_dir: Path) -> None:
    (clips / "tone.json").write_text("{not json")
    other = clips / "sub"
    other.mkdir()
    shutil.copy2(media_dir / "cut.mp4", other / "silent.mp4")
    report = ingest_media(store, [clips])
    failed = dict(report.failed)
    assert "tone.json" in failed[str((clips / "tone.ogg").resolve())]
    assert "already used" in failed[str((other / "silent.mp4").resolve())]
    assert "silent" in report.added


def test_explicit_non_media_and_missing_paths(store: Store, media_dir: Path, tmp_path: Path) -> None:
    report = ingest_media(store, [media_dir / "notes.txt", tmp_path / "missing.mp4"])
    assert len(report.failed) == 2 and not report.ok
    messages = " ".join(m for _, m in report.failed)
    assert "notes.txt" in messages and "missing.mp4: no such file" in messages


def test_hostile_names(store: Store, media_dir: Path, tmp_path: Path) -> None:
    d = tmp_path / "odd"
    d.mkdir()
    shutil.copy2(media_dir / "with_audio.mp4", d / "-rf; $(touch pwned) 'it''s'.mp4")
    report = ingest_media(store, [d])
    assert report.added == ["-rf; $(touch pwned) 'it''s'"] and report.ok
    assert not (Path.cwd() / "pwned").exists() and not (d / "pwned").exists()
