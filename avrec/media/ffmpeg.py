"""Finding and running ffmpeg safely: argument lists only, never a shell.

File names reach ffmpeg as absolute paths behind the `file:` protocol, so a name that starts with `-`
is never read as an option and one that holds `:` or `|` is never read as another protocol
(`concat:`, `pipe:` ...). Spaces, quotes, `;` and `$()` need no care because no shell is involved.
"""

from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path

from avrec.errors import MediaError


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """The ffmpeg binary: `AVREC_FFMPEG`, else a system ffmpeg on PATH, else the one imageio-ffmpeg ships."""
    configured = os.environ.get("AVREC_FFMPEG")
    if configured:
        return configured
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
    except ImportError:  # pragma: no cover - it is a declared dependency
        raise MediaError("no ffmpeg found: install ffmpeg or `pip install imageio-ffmpeg`") from None
    try:
        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except RuntimeError as exc:  # pragma: no cover - a broken install
        raise MediaError(f"imageio-ffmpeg ships no usable ffmpeg here: {exc}") from None


def input_url(path: Path | str) -> str:
    """How to name a local file on an ffmpeg command line, whatever characters its name holds."""
    return "file:" + str(Path(path).resolve())


def base_args() -> list[str]:
    """The start of every ffmpeg command: no banner, never read stdin, never ask questions."""
    return [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y"]


def error_tail(stderr: str, limit: int = 3) -> str:
    """The last few meaningful lines of ffmpeg's stderr, for an error message."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    interesting = [ln for ln in lines if not ln.startswith("[Parsed_") and "lavfi." not in ln]
    return "; ".join(interesting[-limit:]) or "ffmpeg failed without a message"
