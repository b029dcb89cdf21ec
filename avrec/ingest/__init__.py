"""Catalogs, interaction logs, user tables and media folders into the store; no ML here.

The table ingesters stream CSV, JSON Lines or Parquet from a path, stdin (``"-"``) or a stream, and
return an :class:`IngestReport`. A file with bad rows is rejected whole (:class:`RejectedFileError`,
an :class:`~avrec.errors.InputError`) unless ``skip_bad_rows=True``.
"""

from avrec.ingest.catalog import ingest_catalog
from avrec.ingest.common import BadRow, IngestReport, RejectedFileError
from avrec.ingest.interactions import ingest_interactions, resolve_event_weights
from avrec.ingest.records import FORMATS, Malformed, RecordSource, read_records
from avrec.ingest.users import ingest_users

__all__ = [
    "FORMATS",
    "BadRow",
    "IngestReport",
    "Malformed",
    "RecordSource",
    "RejectedFileError",
    "ingest_catalog",
    "ingest_interactions",
    "ingest_users",
    "read_records",
    "resolve_event_weights",
]
