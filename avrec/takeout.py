"""Taking data out of a store: forget a user, delete items or interactions.

Each request is one transaction (all of it is removed, or none), is reported (what was removed, which
ids the store did not hold), and is followed by the invalidation that keeps every answer true:

- The stored user vectors of the fast path (`indexes/<model>.users/`) are removed for every model, so
  no `recommend` serves a vector computed from deleted events (or keeps a forgotten user's row).
- The active model is then updated in place (what `avrec fit --incremental` does): it is rebuilt over
  the data as it now is, so deleted items leave the model and its index and a forgotten user leaves the
  model's user list. A model that cannot be updated in place says so, and `avrec fit` is advised.
- `forget` then removes the files of the older model versions (kept for readers of the previous
  model), which still hold the forgotten user's vector.

The writer lock is held while deleting, so a running `fit` or `embed` never mixes the old data with the
new; the model update takes the lock again.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from avrec.errors import AvrecError, InputError, UsageError
from avrec.ingest.common import RowError, parse_id, parse_text
from avrec.ingest.records import Malformed, RecordSource, Source
from avrec.store import Store

#: How many unknown ids a report lists by name.
SHOW_MISSING = 20


@dataclass
class DeleteReport:
    """What one delete removed (rows per table), which ids matched nothing, and what happened to models."""

    action: str
    requested: int
    removed: dict[str, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    fast_path_cleared: int = 0
    model: dict[str, Any] | None = None
    advice: str = ""
    older_models_removed: int = 0

    @property
    def ok(self) -> bool:
        return not self.missing

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "requested": self.requested,
            "removed": dict(self.removed),
            "missing": list(self.missing),
            "fast_path_cleared": self.fast_path_cleared,
            "model": self.model,
            "older_models_removed": self.older_models_removed,
            "advice": self.advice,
        }

    def summary(self) -> str:
        removed = ", ".join(f"{n:,} {table}" for table, n in self.removed.items() if n) or "nothing"
        text = f"{self.action}: {removed} removed"
        if self.missing:
            shown = "; ".join(self.missing[:SHOW_MISSING])
            more = f" and {len(self.missing) - SHOW_MISSING} more" if len(self.missing) > SHOW_MISSING else ""
            text += f"; not in the store: {shown}{more}"
        if self.model is not None:
            text += f"; model updated to {self.model.get('model_key')}"
        if self.advice:
            text += f"; {self.advice}"
        return text


def forget_users(store: Store, user_ids: Sequence[str], *, update_model: bool = True) -> DeleteReport:
    """Every trace of these users: their events, attributes and stored vectors (see the module docstring)."""
    ids = _ids(user_ids, "user_id")
    with store.writer_lock("forget"):
        removed, missing = store.forget_users(ids)
        cleared = _clear_fast_path(store) if removed["users"] else 0
    report = DeleteReport("forget", len(ids), removed, missing, cleared)
    _follow_up(store, report, update_model, changed=bool(removed["users"]))
    if report.model is not None:  # the new version no longer holds them; the older ones still do
        from avrec.training.fit import drop_older_models

        report.older_models_removed = drop_older_models(store)
    return report


def delete_items(store: Store, item_ids: Sequence[str], *, update_model: bool = True) -> DeleteReport:
    """Delete items with everything stored about them: events on them, media record, vectors, frames, transcript."""
    ids = _ids(item_ids, "item_id")
    with store.writer_lock("delete items"):
        removed, missing = store.delete_items(ids)
        cleared = _clear_fast_path(store) if removed["items"] else 0
    report = DeleteReport("delete items", len(ids), removed, missing, cleared)
    return _follow_up(store, report, update_model, changed=bool(removed["items"]))


def delete_interactions(
    store: Store,
    selectors: Sequence[tuple[str | None, str | None, str | None]],
    *,
    update_model: bool = True,
) -> DeleteReport:
    """Delete the events each ``(user_id, item_id, event)`` selects (None: any); users and items stay."""
    if not selectors:
        raise UsageError("name what to delete: --user, --item, or a file of user_id,item_id[,event] rows")
    for user_id, item_id, _ in selectors:
        if user_id is None and item_id is None:
            raise UsageError("each interaction to delete needs a user id, an item id, or both")
    with store.writer_lock("delete interactions"):
        removed, missing = store.delete_interactions(selectors)
        cleared = _clear_fast_path(store) if removed["interactions"] else 0
    report = DeleteReport("delete interactions", len(selectors), removed, missing, cleared)
    return _follow_up(store, report, update_model, changed=bool(removed["interactions"]))


def read_ids(source: Source, column: str) -> list[str]:
    """The `column` values of a CSV or JSONL file (or ``-``), in order; a bad line rejects the file."""
    ids: list[str] = []
    for row in _rows(source, (column,), (column,)):
        try:
            ids.append(parse_id(row[1], column))
        except RowError as exc:
            raise InputError(f"{_name(source)}: line {row[0]}: {exc}; nothing was deleted") from None
    return ids


def read_selectors(source: Source) -> list[tuple[str | None, str | None, str | None]]:
    """``(user_id, item_id, event)`` of each row of a CSV or JSONL file with user_id and/or item_id columns."""
    out: list[tuple[str | None, str | None, str | None]] = []
    for line, row in _rows(source, ("user_id", "item_id", "event"), ()):
        try:
            user = parse_id(row, "user_id") if row.get("user_id") not in (None, "") else None
            item = parse_id(row, "item_id") if row.get("item_id") not in (None, "") else None
            event = parse_text(row, "event")
        except RowError as exc:
            raise InputError(f"{_name(source)}: line {line}: {exc}; nothing was deleted") from None
        if user is None and item is None:
            raise InputError(f"{_name(source)}: line {line}: needs a user_id or an item_id; nothing was deleted")
        out.append((user, item, event.strip().lower() if event else None))
    return out


def _rows(source: Source, known: tuple[str, ...], required: tuple[str, ...]) -> Iterable[tuple[int, dict[str, Any]]]:
    with RecordSource(source) as src:
        reader = src.open(known=known)
        for line, record in reader:
            if reader.columns is not None:
                absent = [c for c in required if c not in reader.columns]
                if absent or not set(known) & set(reader.columns):
                    wanted = ", ".join(required or known)
                    raise InputError(f"{src.name}: needs a header with {wanted} (found: {', '.join(reader.columns)})")
            if isinstance(record, Malformed):
                raise InputError(f"{src.name}: line {line}: {record.message}; nothing was deleted")
            yield line, record


def _name(source: Source) -> str:
    return "<stdin>" if source == "-" else str(getattr(source, "name", source))


def _ids(values: Iterable[str], column: str) -> list[str]:
    ids = []
    for value in values:
        try:
            ids.append(parse_id({column: value}, column))
        except RowError as exc:
            raise UsageError(str(exc)) from None
    if not ids:
        raise UsageError(f"name at least one {column.replace('_', ' ')}")
    return list(dict.fromkeys(ids))


def _clear_fast_path(store: Store) -> int:
    """Remove every model's stored user vectors; `recommend` takes the full path until the next fit."""
    cleared = 0
    for record in store.models():
        folder = store.user_vectors_dir(record.model_key)
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder, ignore_errors=True)
            cleared += 1
    return cleared


def _follow_up(store: Store, report: DeleteReport, update_model: bool, *, changed: bool) -> DeleteReport:
    """Update the active model over the data as it now is (fit --incremental), or say what to run."""
    if not changed or store.active_model() is None:
        return report
    if not update_model:
        report.advice = "the active model still holds the removed data: run `avrec fit --incremental`"
        return report
    from avrec.training.fit import update

    try:
        report.model = update(store).as_dict()
    except AvrecError as exc:
        report.advice = f"the active model still holds the removed data ({exc}); run `avrec fit`"
    return report
