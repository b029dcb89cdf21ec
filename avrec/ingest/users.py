"""User attributes into the store: ``user_id`` plus any columns (age, gender, region, occupation, ...).

Every column but ``user_id`` becomes a user attribute: CSV values as text (a zip code such as
``01002`` stays exact), JSON values as they are. Rows are upserts: an empty or absent value keeps
what is stored.
"""

from __future__ import annotations

from typing import Any

from avrec.ingest.common import IngestReport, TableSpec, extra_attrs, parse_id, run_ingest
from avrec.ingest.records import Row, Source
from avrec.store import Store

USER_COLUMNS = ("user_id",)
BATCH_SIZE = 5_000


def parse_user(row: Row) -> tuple[str, dict[str, Any]]:
    """One row as ``(user_id, attrs)``; raises RowError when it is not usable."""
    return parse_id(row, "user_id"), extra_attrs(row, USER_COLUMNS)


def _write(batch: list[tuple[str, dict[str, Any]]], report: IngestReport, store: Store) -> None:
    new, updated = store.upsert_users(batch)
    report.stored += len(batch)
    report.new += new
    report.updated += updated


def ingest_users(
    store: Store,
    source: Source,
    *,
    format: str | None = None,
    skip_bad_rows: bool = False,
) -> IngestReport:
    """Upsert user attributes (CSV, JSONL or Parquet; a path, ``"-"`` for stdin, or a stream).

    Bad rows reject the whole file unless ``skip_bad_rows``; see :func:`avrec.ingest.ingest_catalog`.
    """
    spec = TableSpec(
        kind="users",
        required=USER_COLUMNS,
        known=USER_COLUMNS,
        parse=parse_user,
        write=lambda batch, report: _write(batch, report, store),
        batch_size=BATCH_SIZE,
    )
    return run_ingest(spec, source, format=format, skip_bad_rows=skip_bad_rows, spool_dir=store.root)
