"""Interaction logs into the store: ``user_id,item_id[,timestamp][,event][,weight]``.

- ``timestamp``: ISO-8601 (a time without a zone is UTC) or epoch seconds; stored as float epoch
  seconds, or NULL when absent.
- ``event``: a name such as ``view``, ``like``, ``share``, ``skip`` (compared in lower case). Its
  weight comes from the event-weight mapping: :data:`avrec.config.DEFAULT_EVENT_WEIGHTS` updated with
  the caller's ``event_weights``; an event the mapping does not name weighs ``1.0`` unless the
  mapping has a ``"*"`` entry.
- ``weight``: an explicit weight wins over the event's; it must be a finite number from 0 to
  :data:`~avrec.ingest.common.MAX_WEIGHT` (a million), and so must every event weight.

The same event of the same user on the same item at the same time is stored once: repeats, in the
file or already in the store, are counted as ``duplicates``. Users and items the store does not know
yet are created bare. Other columns are ignored and named in the report.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from avrec.config import DEFAULT_EVENT_WEIGHTS
from avrec.errors import UsageError
from avrec.ingest.common import (
    MAX_WEIGHT,
    IngestReport,
    RowError,
    TableSpec,
    parse_id,
    parse_number,
    parse_timestamp,
    run_ingest,
    storable,
)
from avrec.ingest.records import Row, Source
from avrec.store import Interaction, Store

INTERACTION_COLUMNS = ("user_id", "item_id", "timestamp", "event", "weight")
BATCH_SIZE = 10_000
UNKNOWN_EVENT = "*"


def resolve_event_weights(event_weights: Mapping[str, float] | None = None) -> dict[str, float]:
    """The defaults updated with `event_weights` (names in lower case); a bad weight is a UsageError."""
    weights = {k.strip().lower(): float(v) for k, v in DEFAULT_EVENT_WEIGHTS.items()}
    for name, value in (event_weights or {}).items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number) or not 0 <= number <= MAX_WEIGHT:
            raise UsageError(
                f"the weight of event {name!r} (--event-weight) must be a number from 0 to {MAX_WEIGHT:g}, "
                f"not {value!r}"
            )
        weights[name.strip().lower()] = number
    return weights


class InteractionParser:
    """Turns rows into :class:`Interaction`s with a fixed event-weight mapping."""

    def __init__(self, event_weights: Mapping[str, float] | None = None) -> None:
        self.weights = resolve_event_weights(event_weights)
        self.default_weight = self.weights.get(UNKNOWN_EVENT, 1.0)

    def __call__(self, row: Row) -> Interaction:
        user_id = parse_id(row, "user_id")
        item_id = parse_id(row, "item_id")
        ts = parse_timestamp(row.get("timestamp"))
        event_value = row.get("event")
        if event_value is None:
            event = ""
        elif isinstance(event_value, str):
            event = event_value.strip().lower()
        else:
            raise RowError(f"event must be text, found {event_value!r}")
        storable(event, "event")
        weight = parse_number(row.get("weight"), "weight")
        if weight is None:
            weight = self.weights.get(event, self.default_weight) if event else self.default_weight
        elif weight < 0:
            raise RowError(f"weight must be >= 0, found {row.get('weight')!r}")
        elif weight > MAX_WEIGHT:
            raise RowError(f"weight {row.get('weight')!r} is larger than {MAX_WEIGHT:g}, the most one event may weigh")
        return Interaction(user_id=user_id, item_id=item_id, event=event, ts=ts, weight=weight)


def _write(batch: list[Interaction], report: IngestReport, store: Store) -> None:
    added, duplicates, new_users, new_items = store.add_interactions(batch)
    report.stored += added
    report.new += added
    report.duplicates += duplicates
    report.new_users += new_users
    report.new_items += new_items


def ingest_interactions(
    store: Store,
    source: Source,
    *,
    format: str | None = None,
    skip_bad_rows: bool = False,
    event_weights: dict[str, float] | None = None,
) -> IngestReport:
    """Add the events of an interaction log (CSV, JSONL or Parquet; a path, ``"-"`` for stdin, or a
    stream), streaming it in batches, so a log of any length is ingested in bounded memory.

    Bad rows (empty ids, bad timestamps, NaN/infinite/negative weights, malformed lines) reject the
    whole file unless ``skip_bad_rows``; see :func:`avrec.ingest.ingest_catalog`.
    """
    spec = TableSpec(
        kind="interactions",
        required=("user_id", "item_id"),
        known=INTERACTION_COLUMNS,
        parse=InteractionParser(event_weights),
        write=lambda batch, report: _write(batch, report, store),
        batch_size=BATCH_SIZE,
        report_unknown_columns=True,
    )
    return run_ingest(spec, source, format=format, skip_bad_rows=skip_bad_rows, spool_dir=store.root)
