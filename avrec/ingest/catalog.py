"""Item metadata (a catalog) into the store: ``item_id,title,description,tags,path[,creator]``.

Only ``item_id`` is required. ``tags`` are separated by ``|`` (a JSON list in JSONL or Parquet is
fine too). Every other column is kept as an item attribute (``Item.attrs``): CSV values as text,
JSON values as they are. Rows are upserts: a value that is empty or absent keeps what is stored, so
a second catalog with fewer columns adds to the first instead of erasing it.
"""

from __future__ import annotations

from typing import Any

from avrec.ingest.common import (
    IngestReport,
    RowError,
    TableSpec,
    extra_attrs,
    parse_id,
    parse_text,
    run_ingest,
    short,
    storable,
)
from avrec.ingest.records import Row, Source
from avrec.store import Item, Store

CATALOG_COLUMNS = ("item_id", "title", "description", "tags", "path", "creator")
BATCH_SIZE = 5_000


def parse_tags(value: Any) -> list[str]:
    """``"a|b| c"`` or ``["a", "b", "c"]`` -> ``["a", "b", "c"]``: stripped, no empties, no repeats."""
    if value is None:
        return []
    if isinstance(value, str):
        parts: list[Any] = value.split("|")
    elif isinstance(value, (list, tuple)):
        parts = list(value)
    else:
        raise RowError(f"tags must be text separated by '|' or a list, found {short(value)}")
    tags: list[str] = []
    for part in parts:
        if isinstance(part, bool) or not isinstance(part, (str, int, float)):
            raise RowError(f"tags must be text, found {short(part)} in {short(value)}")
        tag = storable(str(part).strip(), "tags")
        if tag and tag not in tags:
            tags.append(tag)
    return tags


def parse_item(row: Row) -> Item:
    """One catalog row as an :class:`Item`; raises RowError when it is not usable."""
    return Item(
        item_id=parse_id(row, "item_id"),
        title=parse_text(row, "title"),
        description=parse_text(row, "description"),
        tags=parse_tags(row.get("tags")),
        creator=parse_text(row, "creator"),
        path=parse_text(row, "path"),
        attrs=extra_attrs(row, CATALOG_COLUMNS),
    )


def _write(batch: list[Item], report: IngestReport, store: Store) -> None:
    new, updated = store.upsert_items(batch)
    report.stored += len(batch)
    report.new += new
    report.updated += updated


def ingest_catalog(
    store: Store,
    source: Source,
    *,
    format: str | None = None,
    skip_bad_rows: bool = False,
) -> IngestReport:
    """Upsert the items of a catalog (CSV, JSONL or Parquet; a path, ``"-"`` for stdin, or a stream).

    By default a file with any bad row is rejected whole (:class:`~avrec.ingest.RejectedFileError`,
    an InputError listing the bad lines) and nothing is stored; with ``skip_bad_rows`` the good rows
    are stored and the bad ones listed in the report.
    """
    spec = TableSpec(
        kind="catalog",
        required=("item_id",),
        known=CATALOG_COLUMNS,
        parse=parse_item,
        write=lambda batch, report: _write(batch, report, store),
        batch_size=BATCH_SIZE,
    )
    return run_ingest(spec, source, format=format, skip_bad_rows=skip_bad_rows, spool_dir=store.root)
