"""Media files and folders into the store: probe, content hash, sidecar metadata. No ML here.

- Folders are walked recursively for files with a known audio, video or image extension (hidden files
  and folders skipped); a file named explicitly is always probed, so a non-media file given by name is
  reported rather than silently ignored.
- Each file is probed with PyAV (duration, streams, codecs) including a decode check, and hashed
  (sha256 of its bytes). A file whose path, size and mtime match its stored record is not read again
  (no work); a file whose bytes changed gets its new hash stored, which is what makes `embed` redo it.
- Sidecar metadata: `clip.json` next to `clip.mp4` may hold `item_id`, `title`, `description`, `tags`
  (a list, or a string separated by `|`), `creator`; any other key becomes an item attribute.
- The item id is the sidecar's `item_id`, else the id of the catalog row whose `path` names the file,
  else the file name without its extension.
- Bad files (missing, zero-length, truncated, not media, no audio or video stream, broken sidecar, an
  item id another file already uses) are listed in `MediaIngestReport.failed` with a message naming the
  file; every good file is still stored, each in its own transaction.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avrec.errors import AvrecError, InputError, MediaError
from avrec.ingest.common import RowError, check_attr, storable
from avrec.media.probe import ProbeResult, probe
from avrec.progress import NullProgress, Progress
from avrec.store import Item, MediaRecord, Store

VIDEO_EXTENSIONS = frozenset(
    {
        ".mp4",
        ".m4v",
        ".mov",
        ".mkv",
        ".webm",
        ".avi",
        ".wmv",
        ".flv",
        ".mpg",
        ".mpeg",
        ".ts",
        ".m2ts",
        ".mts",
        ".3gp",
        ".3g2",
        ".ogv",
        ".asf",
        ".vob",
        ".mxf",
        ".divx",
        ".f4v",
    }
)
AUDIO_EXTENSIONS = frozenset(
    {
        ".mp3",
        ".wav",
        ".flac",
        ".ogg",
        ".oga",
        ".opus",
        ".m4a",
        ".aac",
        ".ac3",
        ".wma",
        ".aif",
        ".aiff",
        ".aifc",
        ".mka",
        ".amr",
        ".ape",
        ".wv",
        ".mp2",
        ".caf",
    }
)
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
MEDIA_EXTENSIONS = VIDEO_EXTENSIONS | AUDIO_EXTENSIONS | IMAGE_EXTENSIONS
_SIDECAR_FIELDS = ("item_id", "title", "description", "tags", "creator")
#: A sidecar is a few fields of metadata; anything bigger is a mistake (a 1 GB one took 2.1 GB of memory).
MAX_SIDECAR_BYTES = 1 << 20


@dataclass
class MediaIngestReport:
    """What one media ingest did. `failed` holds (path, message) of every file that was not stored."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    files_seen: int = 0

    @property
    def failures(self) -> list[tuple[str, str]]:
        return self.failed

    @property
    def ok(self) -> bool:
        return not self.failed

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly form for `--format json`."""
        return {
            "files": self.files_seen,
            "added": len(self.added),
            "updated": len(self.updated),
            "unchanged": len(self.unchanged),
            "items": self.added + self.updated,
            "failed": [{"path": p, "message": m} for p, m in self.failed],
        }

    def summary(self) -> str:
        """One line for people."""
        text = (
            f"media: {self.files_seen} file(s): {len(self.added)} added, {len(self.updated)} updated "
            f"(to be embedded again), {len(self.unchanged)} unchanged"
        )
        if self.failed:
            text += f", {len(self.failed)} failed"
        return text


def ingest_media(
    store: Store, paths: Sequence[Path | str], progress: Progress | None = None
) -> MediaIngestReport:
    """Ingest media files and folders (see the module docstring). Never raises for one bad file."""
    progress = progress or NullProgress()
    report = MediaIngestReport()
    files = list(_walk([Path(p) for p in paths], report))
    progress.start("ingest media", len(files))
    claimed: dict[str, str] = {}  # item id -> path, within this run
    for path in files:
        report.files_seen += 1
        try:
            outcome, item_id = _ingest_one(store, path, claimed)
        except AvrecError as exc:  # listed in the report; the caller prints each failure once
            report.failed.append((str(path), str(exc)))
        else:
            getattr(report, outcome).append(item_id)
        progress.advance("ingest media")
    return report


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _walk(paths: list[Path], report: MediaIngestReport) -> Iterator[Path]:
    seen: set[Path] = set()
    for path in paths:
        if path.is_dir():
            found = []
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in names:
                    if not name.startswith(".") and Path(name).suffix.lower() in MEDIA_EXTENSIONS:
                        found.append(Path(root) / name)
            candidates = sorted(found)
        elif path.exists() or path.is_symlink():
            candidates = [path]
        else:
            report.failed.append((str(path), f"{path}: no such file or folder"))
            continue
        for candidate in candidates:
            shown = os.fsencode(candidate).decode("utf-8", "backslashreplace")
            try:
                resolved = candidate.resolve(strict=True)
                str(resolved).encode("utf-8")
            except UnicodeEncodeError:
                report.failed.append((shown, f"{shown}: file name is not valid UTF-8; rename the file"))
                continue
            except (OSError, RuntimeError) as exc:
                report.failed.append((shown, f"{shown}: symlink loop or unreadable link ({exc})"))
                continue
            if resolved not in seen:
                seen.add(resolved)
                yield resolved


def _ingest_one(store: Store, path: Path, claimed: dict[str, str]) -> tuple[str, str]:
    try:
        st = path.stat()
    except OSError as exc:
        raise MediaError(f"{path}: cannot read file: {exc.strerror or exc}") from None
    sidecar, sidecar_hash = _read_sidecar(path)
    key = str(path)
    previous = store.media_by_path(key)
    if (
        previous is not None
        and previous.size == st.st_size
        and abs(previous.mtime - st.st_mtime) < 1e-6
        and previous.probe.get("sidecar_sha256") == sidecar_hash
    ):
        claimed.setdefault(previous.item_id, key)
        return "unchanged", previous.item_id
    info = probe(path)
    digest = sha256_file(path)
    item_id = _item_id(store, path, sidecar)
    owner = claimed.get(item_id)
    if owner is not None and owner != key:
        raise InputError(
            f"{path}: its item id {item_id!r} is already used by {owner} in this run; give one "
            "of them a sidecar JSON with its own item_id, or a catalog row naming its path"
        )
    existing = store.get_media(item_id)
    if existing is not None and existing.path != key and Path(existing.path).exists():
        raise InputError(
            f"{path}: its item id {item_id!r} already names {existing.path}; give one of them a "
            "sidecar JSON with its own item_id, or a catalog row naming its path"
        )
    claimed[item_id] = key
    record = _record(item_id, path, st, digest, info, sidecar_hash)
    store.put_media(record, _item(item_id, info, sidecar))
    if previous is None or previous.item_id != item_id:
        return ("added" if existing is None else "updated"), item_id
    return (
        "unchanged"
        if previous.sha256 == digest and previous.probe.get("sidecar_sha256") == sidecar_hash
        else "updated"
    ), item_id


def _read_sidecar(path: Path) -> tuple[dict[str, Any], str | None]:
    sidecar = path.with_suffix(".json")
    if sidecar == path or not sidecar.is_file():
        return {}, None
    try:
        with open(sidecar, "rb") as fh:
            raw = fh.read(MAX_SIDECAR_BYTES + 1)
    except OSError as exc:
        why = exc.strerror or exc
        raise InputError(f"{sidecar}: cannot read the sidecar metadata of {path.name} ({why})") from None
    if len(raw) > MAX_SIDECAR_BYTES:
        raise InputError(
            f"{sidecar}: sidecar metadata for {path.name} is larger than {MAX_SIDECAR_BYTES >> 20} MiB; "
            "keep long text in a catalog"
        )
    try:
        data = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise InputError(f"{sidecar}: sidecar metadata for {path.name} is nested too deeply") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{sidecar}: sidecar metadata for {path.name} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{sidecar}: sidecar metadata must be a JSON object, not {type(data).__name__}")
    try:
        data = {storable(str(k), "a key"): check_attr(str(k), v) for k, v in data.items()}
    except RowError as exc:
        raise InputError(f"{sidecar}: sidecar metadata for {path.name}: {exc}") from None
    item_id = data.get("item_id")
    if item_id is not None and (
        not isinstance(item_id, (str, int)) or not str(item_id).strip() or "\x00" in str(item_id)
    ):
        raise InputError(f"{sidecar}: `item_id` must be a non-empty string without NUL characters")
    return data, hashlib.sha256(raw).hexdigest()


def _item_id(store: Store, path: Path, sidecar: dict[str, Any]) -> str:
    if sidecar.get("item_id") is not None:
        return str(sidecar["item_id"]).strip()
    from_catalog = store.item_id_for_path(str(path))
    return from_catalog if from_catalog else path.stem


def _item(item_id: str, info: ProbeResult, sidecar: dict[str, Any]) -> Item:
    tags = sidecar.get("tags")
    if isinstance(tags, str):
        tag_list = [t.strip() for t in tags.split("|") if t.strip()]
    elif isinstance(tags, list):
        tag_list = [str(t).strip() for t in tags if str(t).strip()]
    else:
        tag_list = []
    attrs = {k: v for k, v in sidecar.items() if k not in _SIDECAR_FIELDS}

    def text(key: str) -> str | None:
        value = sidecar.get(key)
        return None if value is None else str(value)

    return Item(
        item_id,
        title=text("title"),
        description=text("description"),
        tags=tag_list,
        creator=text("creator"),
        kind=info.kind,
        attrs=attrs,
    )


def _record(
    item_id: str, path: Path, st: os.stat_result, digest: str, info: ProbeResult, sidecar_hash: str | None
) -> MediaRecord:
    video, audio = info.video, info.audio
    details = info.as_dict()
    if sidecar_hash:
        details["sidecar_sha256"] = sidecar_hash
    return MediaRecord(
        item_id=item_id,
        path=str(path),
        sha256=digest,
        size=st.st_size,
        mtime=st.st_mtime,
        duration=info.duration,
        has_video=video is not None,
        has_audio=audio is not None,
        width=video.width if video else None,
        height=video.height if video else None,
        fps=video.fps if video and info.kind == "video" else None,
        video_codec=video.codec if video else None,
        audio_codec=audio.codec if audio else None,
        container=info.container,
        probe=details,
    )
