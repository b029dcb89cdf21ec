"""Atomic file replacement and the store's writer lock."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import tempfile
from collections.abc import Callable, Iterator
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


def atomic_write(final: Path, write: Callable[[Path], None]) -> None:
    with atomic_path(final) as tmp:
        write(tmp)


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
