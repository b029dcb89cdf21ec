"""Small pieces the command modules share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from avrec.config import Settings
from avrec.store import Store

#: The most results one `-k` asks for: more is no ranking anyone reads, and index searches overflow.
MAX_K = 100_000


def open_store(settings: Settings, *, create: bool = False) -> Store:
    """Readers must not create an empty store by accident; writers (ingest) may. Warns (unless --quiet)
    when other users of the machine may write the store."""
    store = Store(settings.store, create=create)
    loose = store.writable_by_others()
    if loose and not settings.quiet:
        from avrec.cli.output import plain

        names = ", ".join(str(p) for p in loose)
        typer.echo(
            plain(
                f"avrec: warning: every user of this machine may write {names}: they could change its data or "
                f"swap its models; run `chmod -R o-w {settings.store}`"
            ),
            err=True,
        )
    return store


def source_arg(value: str) -> Path | str:
    return "-" if value == "-" else Path(value)


def report_dict(report: Any) -> dict[str, Any]:
    """A library report object as a plain dict (every report offers `as_dict()`)."""
    return dict(report.as_dict())
