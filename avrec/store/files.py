"""Atomic file replacement and the store's writer lock."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from avrec.errors import StoreLockedError


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path next to `final`; on success fsync and rename it into place.

    A reader never sees half a file and a crash leaves the last good one.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        dir_fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def writer_lock(root: Path, what: str) -> Iterator[None]:
    """Hold the store's exclusive lock for a long writer (embed, fit); fail fast if another holds it."""
    lock_path = root / ".writer.lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another avrec process"
            raise StoreLockedError(
                f"store {root} is busy: {holder} holds its writer lock; wait for it to finish, then run {what} again"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"avrec {what} (pid {os.getpid()})".encode(), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)


# -- what is avrec's --------------------------------------------------------------------------------
#: A file in the store's root that marks the folder as an avrec store (written once the database is ready).
MARKER_NAME = ".avrec-store"
MARKER_TEXT = "This folder is an avrec store: avrec.db (SQLite) with indexes/ and models/. See `avrec info`.\n"
#: Entries avrec creates in a store folder before the database holds anything (a creation cut short).
_SCAFFOLD = ("indexes", "models", ".writer.lock", MARKER_NAME)
#: A model version's key (`<kind>-<UTC time>-<6 digits>`) and the suffixes of the files named after it.
MODEL_KEY = re.compile(r"[a-z][a-z0-9_]*-\d{8}T\d{6}-\d{6}")
OWNED_SUFFIXES = (".npz", ".ann", ".json", ".users")


def unclaimed_folder(root: Path, db_name: str) -> bool:
    """True for a folder avrec may make a new store in: empty, or holding only what a store creation
    that was cut short leaves (empty `indexes/` and `models/`, a lock file, an empty database without a
    marker). A folder with anything else is someone else's, and is not adopted."""
    for entry in root.iterdir():
        name = entry.name
        if name in (db_name, f"{db_name}-wal", f"{db_name}-shm", f"{db_name}-journal"):
            if entry.is_file() and entry.stat().st_size == 0:
                continue
            return False
        if name not in _SCAFFOLD or name == MARKER_NAME:
            return False
        if entry.is_dir() and not entry.is_symlink() and any(entry.iterdir()):
            return False
    return True


def write_marker(root: Path) -> None:
    marker = root / MARKER_NAME
    if not marker.exists():
        with atomic_path(marker) as tmp:
            tmp.write_text(MARKER_TEXT)


def owned_key(name: str) -> str | None:
    """The model key a file name in `models/` or `indexes/` belongs to when it is named the way avrec names
    a model version's files (`<key>.npz|.ann|.json|.users`, or a temporary `.<that>....tmp`); else None."""
    temporary = name.startswith(".") and name.endswith(".tmp")
    if temporary:
        name = name[1:-4]
    match = MODEL_KEY.match(name)
    if match is None:
        return None
    rest = name[match.end() :]
    if not any(rest == s or (temporary and rest.startswith(f"{s}.")) for s in OWNED_SUFFIXES):
        return None
    return match.group(0)
