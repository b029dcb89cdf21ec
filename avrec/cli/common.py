"""Small pieces the command modules share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from avrec.config import Settings
from avrec.store import Store


def open_store(settings: Settings, *, create: bool = False) -> Store:
    """Readers must not create an empty store by accident; writers (ingest) may."""
    return Store(settings.store, create=create)


def source_arg(value: str) -> Path | str:
    return "-" if value == "-" else Path(value)


def report_dict(report: Any) -> dict[str, Any]:
    """A library report object as a plain dict (reports offer as_dict() or to_dict())."""
    for method in ("as_dict", "to_dict"):
        if hasattr(report, method):
            return dict(getattr(report, method)())
    return dict(vars(report))
