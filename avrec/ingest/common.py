"""What the three table ingesters share: the report, value checks and the validate-then-write driver.

Why two passes rather than one long transaction
------------------------------------------------
By default a file with any bad row is rejected whole and nothing is written. We honour that while
streaming by reading the input twice: a first pass parses and validates every row and keeps nothing
but the bad ones (at most :data:`KEEP_BAD_ROWS` of them, and a count); only when it finds none does a
second pass parse the rows again and write them in batches of a few thousand, each batch in its own
short ``BEGIN IMMEDIATE`` transaction (``Store.atomic``). Input that can be read only once (stdin, a
pipe) is spooled to an anonymous temporary file first.

The alternative, writing every batch inside ONE transaction and rolling back on the first bad row,
would hold SQLite's single write lock for the whole file: a 1,000,000-row log would lock out every
other writer for tens of seconds, and a concurrent ``ingest`` (or ``embed``) waiting on the 60 s busy
timeout would fail with "database is locked"; the WAL also could not be checkpointed and would grow
to the size of the whole file's changes. With short per-batch transactions another writer waits at
most one batch (well under a second), and readers (``recommend``) are never blocked thanks to WAL.

What we give up is all-or-nothing visibility of a *good* file: a reader may see it half written, and
a process killed during the second pass leaves the batches written so far. Both are harmless here:
ingest is idempotent (catalog and user rows are upserts, a repeated interaction is a duplicate the
store's unique index ignores), so re-running the same command converges to the state of one
uninterrupted run. The second pass stops at the number of lines the first pass validated, so a log
that is appended to while we read it is ingested exactly as validated; if the file was rewritten
between the passes and a bad row appears, the run stops with an error saying how much was stored.

With ``skip_bad_rows=True`` there is nothing to validate ahead, so the file is read once: good rows
are written as they come and bad ones reported.

The bulk path (large logs)
--------------------------
A table with a :class:`BulkSpec` (interaction logs) is first tried column-wise: pyarrow reads a CSV, JSON
Lines or Parquet file in batches (:class:`~avrec.ingest.records.BatchReader`) and the value checks below
run on whole columns (``id_column``, ``number_column``, ``distinct_map``: plain values
vectorised, any other value through the same row parser as the row path, once per distinct value). The
file is read once: the writer keeps the checked batches (in memory, or spilled to Arrow files under the
store when large) and writes only after the last batch passed, so a bad row anywhere still means nothing
was written, and nothing appended meanwhile is written unchecked. Whenever this path cannot promise the
row path's result -- a value a check refuses, quoted CSV fields, a row with the wrong number of fields,
text that is not UTF-8, nested JSON, a text stream -- it stops before writing anything and the
file is read row by row instead, which finds every bad row with its line number and message. A bad file
therefore costs one fast pass more; a good one is read at columnar speed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from avrec.errors import InputError, StoreError
from avrec.ingest.records import ColumnarUnsupported, Malformed, RecordReader, RecordSource, Row, Source

#: How many bad rows an error message or summary lists before saying "and N more".
SHOW_BAD_ROWS = 20
#: How many bad rows a report keeps (with their messages); `bad_count` counts them all.
KEEP_BAD_ROWS = 1000
#: The largest weight one event may carry. Weights are summed per (user, item) pair and scaled inside
#: the models; a weight near float32's limit (3.4e38) turns those sums into infinity and poisons every
#: later fit, so absurd values are refused at the door. A million covers counts, seconds watched, cents.
MAX_WEIGHT = 1e6
#: How deeply attribute values (JSON objects and lists) may nest.
MAX_ATTR_DEPTH = 32

T = TypeVar("T")
B = TypeVar("B")
B_contra = TypeVar("B_contra", contravariant=True)


@dataclass(frozen=True)
class BadRow:
    """One row that could not be ingested: where it is (``line``, 1-based) and what is wrong."""

    line: int
    message: str


@dataclass
class IngestReport:
    """What one ingest call read, stored and rejected.

    ``stored`` counts rows written: catalog/user rows upserted, interactions added (not counting
    ``duplicates``, events already stored or repeated in the file). ``new``/``updated`` split stored
    items or users into those created and those that existed (for interactions ``new`` equals
    ``stored``). ``new_users``/``new_items`` count users and items an interaction log created bare.
    ``bad_rows`` keeps the first :data:`KEEP_BAD_ROWS` bad rows; ``bad_count`` counts all of them.
    ``line_unit`` is ``"line"`` for text files and ``"row"`` for Parquet, whose rows have no lines.
    """

    source: str
    kind: str = ""
    format: str = ""
    rows_read: int = 0
    stored: int = 0
    new: int = 0
    updated: int = 0
    duplicates: int = 0
    new_users: int = 0
    new_items: int = 0
    bad_rows: list[BadRow] = field(default_factory=list)
    bad_count: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    line_unit: str = "line"

    @property
    def ok(self) -> bool:
        """True when every row was good (a run with skipped rows is a partial success)."""
        return self.bad_count == 0

    def add_bad(self, line: int, message: str) -> None:
        self.bad_count += 1
        if len(self.bad_rows) < KEEP_BAD_ROWS:
            self.bad_rows.append(BadRow(line, message))

    def bad_row_lines(self, limit: int = SHOW_BAD_ROWS) -> list[str]:
        """``"line 4: empty user_id"`` for the first `limit` bad rows, then ``"... and N more"``."""
        out = [f"{self.line_unit} {b.line}: {b.message}" for b in self.bad_rows[:limit]]
        if self.bad_count > limit:
            out.append(f"... and {self.bad_count - limit} more")
        return out

    def summary(self) -> str:
        """One line for a human: what was read, stored, created and skipped."""
        parts = [f"{self.source}: {_n(self.rows_read, 'row')} read", f"{self.stored:,} stored"]
        if self.kind == "interactions":
            if self.duplicates:
                parts.append(f"{_n(self.duplicates, 'duplicate')} already stored, not counted again")
            counts = ((self.new_users, "new user"), (self.new_items, "new item"))
            created = [_n(n, noun) for n, noun in counts if n]
            if created:
                parts.append(" and ".join(created) + " created")
        else:
            parts[-1] += f" ({self.new:,} new, {self.updated:,} updated)"
        if self.ignored_columns:
            parts.append("ignored columns " + ", ".join(self.ignored_columns))
        if self.bad_count:
            shown = [str(b.line) for b in self.bad_rows[:10]]
            more = f" and {self.bad_count - len(shown)} more" if self.bad_count > len(shown) else ""
            where = f"{self.line_unit}s {', '.join(shown)}{more}"
            parts.append(f"{_n(self.bad_count, 'bad row')} skipped ({where})")
        return "; ".join(parts)

    def __str__(self) -> str:
        return self.summary()

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for ``--format json``)."""
        return asdict(self)


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


class RejectedFileError(InputError):
    """A file held bad rows, so none of it was stored. ``report`` lists them."""

    def __init__(self, report: IngestReport) -> None:
        self.report = report
        lines = "\n".join("  " + s for s in report.bad_row_lines())
        super().__init__(
            f"{report.source}: {_n(report.bad_count, 'bad row')}, so nothing was stored:\n{lines}\n"
            "Fix them, or use --skip-bad-rows to store the good rows."
        )


class RowError(ValueError):
    """Raised by a row parser; the message says what is wrong with the row, for the user."""


# -- value checks, shared by the parsers ---------------------------------------------------------


def short(value: object, limit: int = 40) -> str:
    """``repr`` of a value, cut to `limit` characters for an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def storable(text: str, what: str) -> str:
    """`text` unchanged when SQLite can store it as UTF-8; a RowError for a lone surrogate (a half emoji
    cut off by a JavaScript logger, read from a JSON ``\\ud800`` escape)."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            bad = text[exc.start : exc.end].encode("utf-8", "backslashreplace").decode("ascii")
            raise RowError(
                f"{what} holds {bad}, half of a UTF-16 surrogate pair, which is not text: fix the source "
                "(a truncated emoji?)"
            ) from None
    return text


def parse_id(row: Row, column: str) -> str:
    """An id: a string stripped of surrounding whitespace and otherwise kept exact, never empty.

    JSON/Parquet integers become their decimal text (``42`` -> ``"42"``), as do whole floats. Ids must be
    storable UTF-8 and hold no NUL character (numpy's id arrays would drop a trailing one).
    """
    value = row.get(column)
    if type(value) is str:  # the common case first: this runs twice per row of a log
        text = value.strip()
    elif value is None:
        raise RowError(f"missing {column}")
    elif isinstance(value, bool):
        raise RowError(f"{column} must be text or a number, found {short(value)}")
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise RowError(f"{column} must be text or a number, found {short(value)}")
        text = str(int(value)) if value.is_integer() else repr(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise RowError(f"{column} must be text or a number, found {type(value).__name__} {short(value)}")
    if not text:
        raise RowError(f"empty {column}")
    if "\x00" in text:
        raise RowError(f"{column} {short(text)} holds a NUL character")
    return storable(text, column)


def parse_text(row: Row, column: str) -> str | None:
    """An optional text field: None when absent, empty or only whitespace; numbers become text."""
    value = row.get(column)
    if value is None:
        return None
    if isinstance(value, str):
        return storable(value, column) if value.strip() else None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return str(value)
    raise RowError(f"{column} must be text, found {type(value).__name__} {short(value)}")


def _float_text(text: str) -> float | None:
    """A plain decimal number (``12``, ``-1.5e3``, ``nan``/``inf`` included), else None."""
    try:
        number = float(text)
    except ValueError:
        return None
    return None if "_" in text else number  # float() also takes "1_000"; a log should not


def parse_number(value: Any, column: str) -> float | None:
    """A finite float from a number or decimal text; None when absent or empty."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        number = _float_text(text)
        if number is None:
            raise RowError(f"{column} must be a number, found {short(value)}")
    elif value is None:
        return None
    elif isinstance(value, bool):
        raise RowError(f"{column} must be a number, found {short(value)}")
    elif isinstance(value, (int, float, Decimal)):
        number = float(value)
    else:
        raise RowError(f"{column} must be a number, found {type(value).__name__} {short(value)}")
    if not math.isfinite(number):
        raise RowError(f"{column} must be a finite number, found {short(value)}")
    return number


def parse_timestamp(value: Any, column: str = "timestamp") -> float | None:
    """Epoch seconds (float) from epoch seconds or ISO-8601 text; ISO times without a zone are UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        number = _float_text(text)
        if number is not None:
            if not math.isfinite(number):
                raise _bad_timestamp(column, value)
            return number
        if text[-1] in "Zz":
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise _bad_timestamp(column, value) from None
    elif isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        try:
            return parse_number(value, column)
        except RowError:
            raise _bad_timestamp(column, value) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    try:
        return moment.timestamp()
    except (OverflowError, ValueError, OSError):
        raise RowError(f"bad {column} {short(value)}: out of range") from None


def _bad_timestamp(column: str, value: Any) -> RowError:
    return RowError(f"bad {column} {short(value)}: expected ISO-8601 (2024-05-01T12:00:00Z) or epoch seconds")


def check_attr(name: str, value: Any, depth: int = 0) -> Any:
    """An attribute value as it will be stored in JSON: NaN and infinity, text that is not storable
    UTF-8 and nesting deeper than :data:`MAX_ATTR_DEPTH` are refused."""
    if isinstance(value, str):
        return storable(value, name)
    if isinstance(value, float) and not math.isfinite(value):
        raise RowError(f"{name} must be a finite number, found {short(value)}")
    if isinstance(value, Decimal):
        return check_attr(name, float(value))
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bytes):
        raise RowError(f"{name} holds binary data, which cannot be stored as an attribute")
    if isinstance(value, (dict, list, tuple)) and depth >= MAX_ATTR_DEPTH:
        raise RowError(f"{name} nests deeper than {MAX_ATTR_DEPTH} levels")
    if isinstance(value, dict):
        return {storable(str(k), name): check_attr(name, v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [check_attr(name, v, depth + 1) for v in value]
    return value


def extra_attrs(row: Row, known: Iterable[str]) -> dict[str, Any]:
    """Every column not in `known` as an attribute; empty and null values are left out, so an upsert
    keeps what is stored for them."""
    attrs: dict[str, Any] = {}
    skip = set(known)
    for key, value in row.items():
        if key in skip or value is None or (isinstance(value, str) and not value.strip()):
            continue
        attrs[storable(key, "a column name")] = check_attr(key, value)
    return attrs


# -- the same checks on whole columns (the bulk path) -------------------------------------------------


class NeedsRows(Exception):
    """A column holds a value the bulk path refuses (or cannot check as the row path would): the file is
    read row by row instead, for the bad rows' line numbers and messages."""


#: Decimal numbers pyarrow's cast reads exactly as Python's float() does.
_PLAIN_NUMBER = r"^-?[0-9]{1,18}(\.[0-9]{1,18})?$"


def _bytes_within(values: Any, low: int, high: int, shortest: int, longest: int | None) -> bool:
    """Whether every value of a pyarrow string array (no nulls) is `shortest` to `longest` bytes long, each
    byte from `low` to `high`: a regular expression's check, on the array's buffers in a few numpy passes.
    (Ids made only of printable ASCII without spaces, ``!`` to ``~``, are what `parse_id` returns unchanged.)"""
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)[values.offset : values.offset + len(values) + 1]
    if not len(values):
        return True
    lengths = np.diff(offsets)
    if lengths.min() < shortest or (longest is not None and lengths.max() > longest):
        return False
    data = values.buffers()[2]
    text = np.frombuffer(data, dtype=np.uint8)[offsets[0] : offsets[-1]] if data is not None else np.zeros(0, np.uint8)
    return bool(np.all(text - np.uint8(low) <= np.uint8(high - low)))


def distinct_map(values: Any, parse: Callable[[Any], Any], out_type: Any) -> Any:
    """`parse` applied to every value of a pyarrow array, calling it once per distinct value (nulls
    included, as None); a RowError becomes :class:`NeedsRows`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        encoded = pc.dictionary_encode(values, null_encoding="encode")
        distinct, indices = encoded.dictionary.to_pylist(), encoded.indices
    except pa.ArrowNotImplementedError:  # a type without a hash kernel (lists, structs): value by value
        distinct, indices = values.to_pylist(), None
    try:
        mapped = pa.array([parse(v) for v in distinct], type=out_type)
    except RowError as exc:
        raise NeedsRows(str(exc)) from None
    return mapped if indices is None else mapped.take(indices)


def id_column(values: Any, column: str) -> Any:
    """:func:`parse_id` over a column, as a pyarrow string array."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_large_string(values.type):
        values = values.cast(pa.string())
    if pa.types.is_string(values.type) and values.null_count == 0:
        if _bytes_within(values, ord("!"), ord("~"), 1, None):  # printable ASCII, no spaces, never empty
            return values
    elif pa.types.is_integer(values.type) and values.null_count == 0:
        return pc.cast(values, pa.string())
    return distinct_map(values, lambda v: parse_id({column: v}, column), pa.string())


def number_column(values: Any, parse: Callable[[Any], float | None]) -> Any:
    """`parse` (:func:`parse_number` or :func:`parse_timestamp`) over a column, as a pyarrow float64
    array with nulls where `parse` gives None. Plain decimal text and numbers are cast in one go."""
    import pyarrow as pa
    import pyarrow.compute as pc

    cast = None
    if pa.types.is_large_string(values.type):
        values = values.cast(pa.string())
    if pa.types.is_string(values.type) and values.null_count == 0 and _bytes_within(values, ord("0"), ord("9"), 1, 18):
        cast = pc.cast(values, pa.float64())  # whole numbers of 1 to 18 digits: plain, and cast in one pass
    elif pa.types.is_string(values.type) and values.null_count == 0:
        empty = pc.equal(values, "")
        plain = pc.or_(empty, pc.match_substring_regex(values, _PLAIN_NUMBER))
        if pc.all(plain).as_py() is not False:
            cast = pc.cast(pc.if_else(empty, pa.scalar(None, pa.string()), values), pa.float64())
    elif pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
        try:
            cast = pc.cast(values, pa.float64())
        except pa.ArrowInvalid:  # an integer beyond 2**53: Python's float() rounds it, pyarrow refuses
            cast = None
    elif pa.types.is_null(values.type):
        return pa.nulls(len(values), pa.float64())
    if cast is not None and pc.all(pc.is_finite(cast)).as_py() is not False:
        return cast
    return distinct_map(values, parse, pa.float64())


# -- the driver ------------------------------------------------------------------------------------


class BulkWriter(Protocol[B_contra]):
    """Stores the batches of one bulk ingest: `add` sees each checked batch as the input is read (and may
    keep it, in memory or spilled to disk); `finish` writes them once the whole input has passed;
    `discard` drops them when the row path takes over."""

    def add(self, batch: B_contra) -> None: ...

    def finish(self, report: IngestReport) -> None: ...

    def discard(self) -> None: ...


@dataclass
class BulkSpec(Generic[B]):
    """How to ingest one kind of table column-wise: `convert` checks a pyarrow record batch (raising
    :class:`NeedsRows` where the row path would find a bad row) and returns what a writer stores;
    `writer` makes the writer of one ingest."""

    convert: Callable[[Any], B]
    writer: Callable[[], BulkWriter[B]]


@dataclass
class TableSpec(Generic[T]):
    """How to ingest one kind of table."""

    kind: str
    required: Sequence[str]
    known: Sequence[str]
    parse: Callable[[Row], T]
    write: Callable[[list[T], IngestReport], None]
    batch_size: int
    #: Columns outside `known` are dropped and listed in the report (False: they become attributes).
    report_unknown_columns: bool = False
    #: The column-wise path, tried first (see the module docstring).
    bulk: BulkSpec[Any] | None = None


def run_ingest(
    spec: TableSpec[T], source: Source, *, format: str | None, skip_bad_rows: bool, spool_dir: Path | None
) -> IngestReport:
    """Validate and write one input as the module docstring describes; see :class:`TableSpec`."""
    with RecordSource(source, format=format, spool_dir=spool_dir) as src:
        report = IngestReport(source=src.name, kind=spec.kind, format=src.format, line_unit=src.line_unit)
        try:
            if spec.bulk is not None and _ingest_bulk(spec, spec.bulk, src, report):
                return report
            return _ingest(spec, src, report, skip_bad_rows=skip_bad_rows)
        except StoreError as exc:  # a full disk halfway: say how far it got (a re-run adds the rest)
            raise StoreError(
                f"{src.name}: stopped after {report.stored:,} of its rows were stored "
                f"({report.rows_read:,} read): {exc}"
            ) from None


def _ingest_bulk(spec: TableSpec[Any], bulk: BulkSpec[Any], src: RecordSource, report: IngestReport) -> bool:
    """Check, then write, column-wise; False (nothing written) when the row path must read the input.

    The input is read once: the writer keeps the checked batches (spilling a large log to disk) and writes
    them only after the last one passed, so a bad row anywhere means nothing was written."""
    import pyarrow as pa

    writer = bulk.writer()
    try:
        reader = src.open_batches(known=spec.known)
        if src.format in ("csv", "parquet"):
            _check_header(spec, src.name, reader.columns)
        elif any(c not in reader.columns for c in spec.required):
            raise ColumnarUnsupported("rows without a required key")  # the row path names each one
        rows = 0
        for batch in reader:
            writer.add(bulk.convert(batch))
            rows += batch.num_rows
    except (ColumnarUnsupported, NeedsRows, pa.ArrowException):  # (an Arrow error: a case not foreseen)
        writer.discard()
        return False
    except BaseException:
        writer.discard()
        raise
    report.rows_read = rows
    if spec.report_unknown_columns:
        report.ignored_columns = sorted(c for c in reader.columns if c not in spec.known)
    writer.finish(report)
    return True


def _ingest(spec: TableSpec[T], src: RecordSource, report: IngestReport, *, skip_bad_rows: bool) -> IngestReport:
    """Validate then write (or, skipping bad rows, write as read); see the module docstring."""
    if skip_bad_rows:
        _scan(spec, src.open(known=spec.known), report, writing=True)
        return report
    reader = src.open(known=spec.known)
    _scan(spec, reader, report, writing=False)
    if report.bad_count:
        raise RejectedFileError(report)
    validated = report.rows_read
    report.rows_read = 0
    second = src.open(known=spec.known, max_lines=reader.lines if src.format != "parquet" else None)
    _scan(spec, second, report, writing=True, expect_good=True)
    if report.rows_read != validated:
        raise InputError(
            f"{src.name} changed while it was being ingested: {validated:,} rows were validated but "
            f"{report.rows_read:,} read when writing; {report.stored:,} stored. Run the ingest again."
        )
    return report


def _scan(
    spec: TableSpec[T],
    reader: RecordReader,
    report: IngestReport,
    *,
    writing: bool,
    expect_good: bool = False,
) -> None:
    """One pass: parse every record; when `writing`, write good ones in batches."""
    batch: list[T] = []
    header_checked = False
    unknown: set[str] = set()
    for line, record in reader:
        if not header_checked:
            _check_columns(spec, reader, report)
            header_checked = True
        report.rows_read += 1
        if isinstance(record, Malformed):
            message = record.message
        else:
            try:
                parsed = spec.parse(record)
            except RowError as exc:
                message = str(exc)
            else:
                if spec.report_unknown_columns and reader.columns is None and len(unknown) < 50:
                    unknown.update(k for k in record if k not in spec.known)
                if writing:
                    batch.append(parsed)
                    if len(batch) >= spec.batch_size:
                        spec.write(batch, report)
                        batch = []
                continue
        if expect_good:
            raise InputError(
                f"{reader.name} changed while it was being ingested: {report.line_unit} {line} is now bad "
                f"({message}); {report.stored:,} rows were stored before it. Fix the file and run again."
            )
        report.add_bad(line, message)
    if not header_checked:
        _check_columns(spec, reader, report)
    if batch:
        spec.write(batch, report)
    if spec.report_unknown_columns:
        if reader.columns is not None:
            unknown = {c for c in reader.columns if c not in spec.known}
        report.ignored_columns = sorted(unknown)


def _check_columns(spec: TableSpec[Any], reader: RecordReader, report: IngestReport) -> None:
    """File-level checks: an empty input, a header or schema without the required columns."""
    if reader.empty:
        columns = ", ".join(spec.required)
        raise InputError(f"{reader.name} is empty: expected {spec.kind} rows with columns {columns}")
    if reader.columns is not None:
        _check_header(spec, reader.name, reader.columns)


def _check_header(spec: TableSpec[Any], name: str, columns: list[str]) -> None:
    missing = [c for c in spec.required if c not in columns]
    if missing:
        found = ", ".join(columns) or "none"
        names = ", ".join(repr(m) for m in missing)
        raise InputError(
            f"{name}: missing required column{'s' if len(missing) > 1 else ''} {names} (columns found: {found})"
        )
