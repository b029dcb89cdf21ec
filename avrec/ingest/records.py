"""Streaming readers for tabular input: CSV, JSON Lines and Parquet, from a file, a stream or stdin.

Every reader yields ``(line, row)`` pairs, one per record, without holding the file in memory:

- ``line`` is where a user finds the record: the physical line it starts on (1-based, the header
  is line 1 of a CSV file) for CSV and JSONL, the 1-based row number for Parquet.
- ``row`` is a ``dict`` of column name to value, or a :class:`Malformed` saying why the record could
  not be read at all (bad quoting, malformed JSON, wrong number of fields, bytes that are not UTF-8).
  A malformed record never stops the stream: the next one is read normally.

Text input is UTF-8, with or without a byte-order mark, with LF or CRLF line ends; lines are split
on ``\\n`` only, so a ``\\r`` or U+2028 inside a quoted field stays part of the value. CSV follows the
dialect of Python's :mod:`csv` module in strict mode (RFC 4180 quoting). A record on the last line
with no line end is read like any other, and when it is malformed its message says the file looks
truncated. ``.gz`` files are decompressed on the fly.

:class:`RecordSource` opens an input once and can read it several times (the ingest functions
validate a whole file before writing any of it); input that can be read only once (stdin, a pipe,
a non-seekable stream) is first spooled to an anonymous temporary file.

Why one module of this size: the three formats share one contract (line numbers, `Malformed` records,
size and depth limits, re-readable sources); splitting them would spread that contract over files.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, TextIO, Union, cast

from avrec.errors import InputError, UsageError

#: What the ingest functions accept as input: a path, ``"-"`` for stdin, or an open stream.
Source = Union[Path, str, TextIO, BinaryIO]

#: Format names accepted by ``format=`` (and ``--format``), with their aliases.
FORMATS: dict[str, str] = {"csv": "csv", "jsonl": "jsonl", "ndjson": "jsonl", "parquet": "parquet"}
EXTENSIONS: dict[str, str] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}

_BOM = b"\xef\xbb\xbf"
_PARQUET_MAGIC = b"PAR1"
_PARQUET_BATCH = 8192
#: Rows per batch of the columnar Parquet reader.
_PARQUET_BULK_ROWS = 1 << 19
_SNIFF_BYTES = 4096
#: The longest CSV header the columnar reader takes (a longer one goes to the row reader).
_HEADER_BYTES = 1 << 16
_CSV_FIELD_LIMIT = 16 << 20
#: The longest JSON Lines record read (the same bound as a CSV field).
_JSONL_LINE_LIMIT = 16 << 20


@dataclass(frozen=True)
class Malformed:
    """A record that could not be read; ``message`` says why, for the user."""

    message: str


Row = dict[str, Any]
Record = tuple[int, Union[Row, Malformed]]


def normalize_format(fmt: str) -> str:
    """``"CSV"`` -> ``"csv"``, ``"ndjson"`` -> ``"jsonl"``; an unknown name is a :class:`UsageError`."""
    name = FORMATS.get(fmt.strip().lower().lstrip("."))
    if name is None:
        raise UsageError(f"unknown format {fmt!r}: use one of csv, jsonl, parquet")
    return name


def format_for_path(path: Path | str) -> str | None:
    """The format a file name's extension implies (``x.csv.gz`` is CSV), or None."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    return EXTENSIONS.get(suffixes[-1]) if suffixes else None


def sniff_format(head: bytes) -> str | None:
    """Guess the format of an input from its first bytes: Parquet magic, a JSON object, else CSV."""
    if head.startswith(_PARQUET_MAGIC):
        return "parquet"
    text = head[len(_BOM) :] if head.startswith(_BOM) else head
    first = text.lstrip()[:1]
    if first == b"{":
        return "jsonl"
    if first == b"[":
        return None  # a JSON array (or something else) rather than one of the formats we read
    return "csv"


class _Lines:
    """Physical lines of a text input, split on ``\\n`` only, decoded as UTF-8 one at a time.

    Keeps count of the lines handed out, remembers the last line that was not valid UTF-8 (decoded
    with replacement characters so the CSV parser can resynchronise) and whether the latest line
    lacked a line end, which only a final, possibly truncated, line can.
    """

    def __init__(self, raw: Iterator[Any], max_lines: int | None) -> None:
        self._raw = raw
        self._max = max_lines
        self.number = 0
        self.bad_encoding_line = 0
        self.unterminated = False

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self._max is not None and self.number >= self._max:
            raise StopIteration
        raw: bytes | str = next(self._raw)
        self.number += 1
        if isinstance(raw, bytes):
            if self.number == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM) :]
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                line = raw.decode("utf-8", "replace")
                self.bad_encoding_line = self.number
        else:
            line = raw[1:] if self.number == 1 and raw.startswith("\ufeff") else raw
        self.unterminated = not line.endswith("\n")
        return line


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_TRUNCATED = " (the last line has no line end: is the file truncated?)"


def _canonical(known: dict[str, str], key: str) -> str:
    key = key.strip()
    return known.get(key.lower(), key)


def _header(name: str, known: dict[str, str], fields: list[str]) -> list[str]:
    """Canonical column names of a header; a name given twice is an InputError."""
    columns = [_canonical(known, f) for f in fields]
    seen: set[str] = set()
    for col in columns:
        if col and col in seen:
            raise InputError(f"{name}: the header names column {col!r} twice")
        seen.add(col)
    return columns


class RecordReader:
    """One pass over an input: iterate it for ``(line, row)`` records.

    ``columns`` holds the column names of a CSV header or a Parquet schema (None for JSONL, whose
    rows carry their own keys). Column names and JSON keys are stripped of surrounding whitespace;
    those that match a name in ``known`` case-insensitively are renamed to it, so ``Item_ID`` is read
    as ``item_id``. CSV columns with an empty name (a pandas index) are ignored. ``empty`` is true when
    the input held nothing at all (not even a header). After iterating, ``lines`` is how many physical
    lines were read, so that a second pass can stop at the same place even if the file grew meanwhile.
    """

    def __init__(
        self,
        name: str,
        fmt: str,
        stream: IO[bytes] | IO[str],
        *,
        known: Iterable[str] = (),
        max_lines: int | None = None,
    ) -> None:
        self.name = name
        self.format = fmt
        self.known = {k.lower(): k for k in known}
        self.columns: list[str] | None = None
        self.empty = False
        self._stream = stream
        self._lines: _Lines | None = None
        self._iter: Iterator[Record]
        if fmt == "parquet":
            self._iter = self._parquet()
        else:
            lines = _Lines(iter(stream), max_lines)
            self._lines = lines
            self._iter = self._csv(lines) if fmt == "csv" else self._jsonl(lines)

    @property
    def lines(self) -> int:
        return self._lines.number if self._lines is not None else 0

    def __iter__(self) -> Iterator[Record]:
        return self._iter

    def _canonical(self, key: str) -> str:
        return _canonical(self.known, key)

    def _header(self, fields: list[str]) -> list[str]:
        return _header(self.name, self.known, fields)

    # -- CSV ------------------------------------------------------------------------------------

    def _csv(self, lines: _Lines) -> Iterator[Record]:
        # The csv module refuses fields over 128 KiB by default; long descriptions and transcripts
        # are real, so allow up to 16 MiB (still a bound on what one record can cost).
        if csv.field_size_limit() < _CSV_FIELD_LIMIT:
            csv.field_size_limit(_CSV_FIELD_LIMIT)
        reader = csv.reader(lines, strict=True)
        columns: list[str] | None = None
        n_columns = 0
        while True:
            start = lines.number + 1
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                message = f"malformed CSV: {exc}"
                if "unexpected end of data" in str(exc):
                    message = "malformed CSV: a quoted field is never closed (it runs to the end of the file)"
                elif "new-line character seen in unquoted field" in str(exc):
                    message = (
                        "malformed CSV: a bare carriage return (CR) inside an unquoted field; quote the "
                        "field, or save the file with LF or CRLF line ends"
                    )
                if columns is None:
                    header_error = f"{self.name}: line {start}: cannot read the header: {message}"
                    raise InputError(header_error) from None
                yield start, Malformed(message)
                continue
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # blank line
            if lines.bad_encoding_line >= start:
                if columns is None:
                    raise InputError(f"{self.name}: line {start}: the header is not UTF-8 text")
                yield start, Malformed("not UTF-8 text (save the file as UTF-8)")
                continue
            if columns is None:
                columns = self._header(fields)
                n_columns = len(columns)
                self.columns = [c for c in columns if c]
                continue
            if len(fields) != n_columns:
                message = f"expected {n_columns} fields as in the header, found {len(fields)}"
                yield start, Malformed(message + (_TRUNCATED if lines.unterminated else ""))
                continue
            row = dict(zip(columns, fields, strict=True))
            row.pop("", None)
            yield start, row
        if columns is None:
            self.empty = True

    # -- JSON Lines -----------------------------------------------------------------------------

    def _jsonl(self, lines: _Lines) -> Iterator[Record]:
        decode = json.JSONDecoder().decode
        seen_any = False
        for line in lines:
            number = lines.number
            text = line.strip()
            if not text:
                continue
            seen_any = True
            if lines.bad_encoding_line == number:
                yield number, Malformed("not UTF-8 text (save the file as UTF-8)")
                continue
            if len(text) > _JSONL_LINE_LIMIT:
                yield number, Malformed(f"malformed JSON: the line is longer than {_JSONL_LINE_LIMIT >> 20} MiB")
                continue
            try:
                value = decode(text)
            except RecursionError:
                yield number, Malformed("malformed JSON: nested too deeply")
                continue
            except ValueError as exc:
                msg = getattr(exc, "msg", str(exc))
                col = getattr(exc, "colno", None)
                where = f" at column {col}" if col is not None else ""
                suffix = _TRUNCATED if lines.unterminated else ""
                yield number, Malformed(f"malformed JSON: {msg}{where}{suffix}")
                continue
            if not isinstance(value, dict):
                found = f"{type(value).__name__} {_short(value)}"
                yield number, Malformed(f"expected a JSON object, found {found}")
                continue
            yield number, self._canonical_row(value)
        if not seen_any:
            self.empty = True

    def _canonical_row(self, row: dict[str, Any]) -> Row | Malformed:
        if all(self._canonical(key) == key for key in row):
            return row
        out: Row = {}
        for key, value in row.items():
            name = self._canonical(key)
            if name in out:
                return Malformed(f"key {name!r} given twice (keys are matched ignoring case and spaces)")
            out[name] = value
        return out

    # -- Parquet --------------------------------------------------------------------------------

    def _parquet(self) -> Iterator[Record]:
        import pyarrow.parquet as pq

        try:
            pfile = pq.ParquetFile(self._stream)
        except Exception as exc:  # pyarrow raises several types for a corrupt file
            raise InputError(f"{self.name}: not a readable Parquet file: {exc}") from None
        raw_names = list(pfile.schema_arrow.names)
        names = self._header(raw_names)
        self.columns = names
        number = 0
        try:
            for batch in pfile.iter_batches(batch_size=_PARQUET_BATCH):
                for values in batch.to_pylist():
                    number += 1
                    yield number, {name: values[raw] for name, raw in zip(names, raw_names, strict=True)}
        except (OSError, ValueError) as exc:  # pyarrow's ArrowIOError / ArrowInvalid
            raise InputError(f"{self.name}: Parquet file is damaged after row {number}: {exc}") from None


class ColumnarUnsupported(Exception):
    """This input (or this pass over it) needs the row reader: its records are read one at a time, with
    their exact line numbers and messages. Raised by :meth:`RecordSource.open_batches` and its batches."""


#: Bytes parsed at a time by the columnar reader: one batch of a CSV log is about 600,000 events.
BATCH_BYTES = 16 << 20


#: JSON Lines the columnar reader leaves to the row reader: arrays and nested objects (pyarrow parses them
#: recursively, and they are no part of an interaction), two objects on one line, and control characters
#: (Python's json refuses them inside strings; pyarrow does not).
_JSONL_UNUSUAL = re.compile(rb"\[|\{[^}\n]*\{|\}[ \t]*\{|[\x00-\x09\x0b\x0c\x0e-\x1f]")


class _Watched:
    """A binary stream as pyarrow reads it, noting what the columnar reader would read differently from
    the row reader: in CSV any quote or a bare carriage return; in JSON Lines a bare carriage return or
    what :data:`_JSONL_UNUSUAL` matches (refused before pyarrow parses it). Counts line ends."""

    def __init__(self, inner: IO[bytes], fmt: str) -> None:
        self._inner = inner
        self._format = fmt
        self.unusual = ""
        self.newlines = 0
        self.ends_with_newline = True
        self._cr_at_end = False
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        chunk = self._inner.read(size)
        if chunk:
            self._watch(chunk)
            if self._format == "jsonl" and self.unusual:
                raise ColumnarUnsupported(self.unusual)
        return chunk

    def _watch(self, chunk: bytes) -> None:
        self.newlines += chunk.count(b"\n")
        self.ends_with_newline = chunk.endswith(b"\n")
        if self.unusual:
            return
        if self._format == "jsonl":
            found = _JSONL_UNUSUAL.search(chunk)
            if found:
                self.unusual = f"JSON the row reader must read ({found.group()[:1]!r})"
        elif b'"' in chunk:
            # pyarrow accepts `"a"b` as `ab`; the csv module (strict) refuses it with a line number
            self.unusual = "quoted fields"
        # a bare CR ends a line for pyarrow but not for the row reader (lines end with LF only)
        bare = chunk.count(b"\r") - chunk.count(b"\r\n")
        if self._cr_at_end:
            bare += 0 if chunk.startswith(b"\n") else 1
        if chunk.endswith(b"\r"):
            bare -= 1  # decided by the next chunk
            self._cr_at_end = True
        else:
            self._cr_at_end = False
        if bare:
            self.unusual = "a carriage return that does not end a line"

    def check(self, *, final: bool = False) -> None:
        if self.unusual or (final and self._cr_at_end):
            raise ColumnarUnsupported(self.unusual or "a carriage return at the end")

    def close(self) -> None:
        self.closed = True
        self._inner.close()


class _Replayed:
    """The bytes already read from a stream, then the rest of it."""

    def __init__(self, head: bytes, rest: _Watched) -> None:
        self._head = head
        self._rest = rest
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        if not self._head:
            return self._rest.read(size)
        if size < 0 or size >= len(self._head):  # a full read: pyarrow takes a short one as a block
            out, self._head = self._head, b""
            return out + self._rest.read(size - len(out) if size >= 0 else -1)
        out, self._head = self._head[:size], self._head[size:]
        return out

    def close(self) -> None:
        self.closed = True
        self._rest.close()


class BatchReader:
    """One columnar pass over a CSV or JSON Lines input: iterate for pyarrow record batches whose columns
    are named as :class:`RecordReader` names them (canonical names; CSV columns with an empty name left
    out). CSV columns are all text; JSON columns have the types pyarrow infers.

    It gives the same values as the row reader or raises :class:`ColumnarUnsupported`, before or while
    iterating: for quoted CSV fields, a bare carriage return, blank lines before a CSV header, a row with
    the wrong number of fields, text that is not UTF-8, JSON that :data:`_JSONL_UNUSUAL` matches, keys
    that differ only in case, a value of another type than the same key's earlier values.
    """

    def __init__(self, name: str, stream: IO[bytes], fmt: str, columns: list[str], known: dict[str, str]) -> None:
        self.name = name
        self._rows = 0
        self._watch = _Watched(stream, fmt)
        if fmt == "jsonl":
            self._open_jsonl(known)
        elif fmt == "parquet":
            self._open_parquet(columns)
        else:
            self._open_csv(columns)

    def _input(self) -> Any:
        """What pyarrow reads. An input of at most one block is read here, in this thread, and handed over
        as an Arrow buffer: pyarrow reads a Python stream on its own I/O thread, and a reader that finished
        early can leave that thread holding the stream when the interpreter exits, which aborts the process
        ("terminate called without an active exception", apache/arrow#34314). A larger input is read to
        its end long before the process exits."""
        import pyarrow as pa

        parts: list[bytes] = []
        size = 0
        while size <= BATCH_BYTES:
            chunk = self._watch.read(BATCH_BYTES + 1 - size)
            if not chunk:
                whole = pa.BufferOutputStream()  # a copy Arrow owns: no Python object for its threads to free
                for part in parts:
                    whole.write(part)
                return pa.BufferReader(whole.getvalue())
            parts.append(chunk)
            size += len(chunk)
        return pa.PythonFile(_Replayed(b"".join(parts), self._watch), mode="r")

    def _open_parquet(self, columns: list[str]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            pfile = pq.ParquetFile(self._watch._inner)
            self._reader = pfile.iter_batches(batch_size=_PARQUET_BULK_ROWS)
        except (pa.ArrowException, OSError, EOFError) as exc:
            self._watch.close()
            raise ColumnarUnsupported(str(exc)) from None
        self.columns = columns
        self._names = list(pfile.schema_arrow.names)

    def _open_jsonl(self, known: dict[str, str]) -> None:
        import pyarrow as pa
        import pyarrow.json as pajson

        try:  # pyarrow parses the first block here
            self._reader = pajson.open_json(self._input(), read_options=pajson.ReadOptions(block_size=BATCH_BYTES))
        except (pa.ArrowException, OSError, EOFError, ColumnarUnsupported) as exc:
            self._watch.close()
            raise ColumnarUnsupported(str(exc)) from None
        self.columns = [_canonical(known, k) for k in self._reader.schema.names]
        if len(set(self.columns)) != len(self.columns):
            self._watch.close()
            raise ColumnarUnsupported("keys that differ only in case or spaces")
        self._names = list(self._reader.schema.names)

    def _open_csv(self, columns: list[str]) -> None:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        self.columns = [c for c in columns if c]
        raw = [f"c{n}" for n in range(len(columns))]
        self._names = [raw[n] for n, c in enumerate(columns) if c]
        try:  # pyarrow parses the first block here
            self._reader = pacsv.open_csv(
                self._input(),
                read_options=pacsv.ReadOptions(column_names=raw, skip_rows=1, block_size=BATCH_BYTES),
                parse_options=pacsv.ParseOptions(newlines_in_values=False),
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(raw, pa.string()),
                    include_columns=self._names,
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
        except (pa.ArrowException, OSError, EOFError) as exc:
            self._watch.close()
            raise ColumnarUnsupported(str(exc)) from None

    def __iter__(self) -> Iterator[Any]:
        import pyarrow as pa

        try:
            for batch in self._reader:
                self._watch.check()
                if batch.schema.names != self._names:
                    raise ColumnarUnsupported("keys that appear only after the first block")
                self._rows += batch.num_rows
                yield pa.RecordBatch.from_arrays(batch.columns, names=self.columns)
            self._watch.check(final=True)
            if self._watch._format == "jsonl":
                # one object per line, none on a blank line (the row reader would count lines otherwise)
                lines = self._watch.newlines + (0 if self._watch.ends_with_newline else 1)
                if lines != self._rows or not self._rows:
                    raise ColumnarUnsupported("blank lines, several objects on a line, or no object at all")
        except (pa.ArrowException, OSError, EOFError) as exc:  # a row that pyarrow cannot read the same way
            raise ColumnarUnsupported(str(exc)) from None
        finally:
            self._watch.close()


def _csv_header(head: bytes) -> list[str] | None:
    """The fields of a CSV header line the columnar reader can take as it is (no quotes, UTF-8), else None."""
    if head.startswith(_BOM):
        head = head[len(_BOM) :]
    line, newline, _ = head.partition(b"\n")
    if not newline or b'"' in line or b"\r" in line.rstrip(b"\r"):
        return None
    try:
        text = line.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError:
        return None
    return text.split(",") if text.strip() else None


class RecordSource:
    """An input opened for reading one or more times; use as a context manager.

    ``source`` is a path, ``"-"`` for stdin, or an open text or binary stream. The format comes from
    ``format``, else the file extension (``.csv``, ``.jsonl``/``.ndjson``, ``.parquet``/``.pq``, each
    optionally ``.gz``), else (for stdin, streams, pipes and extension-less files) from the content.
    A missing or unreadable file is an :class:`InputError`; an unknown format a :class:`UsageError`.
    """

    def __init__(self, source: Source, *, format: str | None = None, spool_dir: Path | None = None) -> None:
        self._spool_dir = spool_dir
        self._path: Path | None = None
        self._gzip = False
        self._binary: IO[bytes] | None = None  # a seekable binary stream we read from its start
        self._text: IO[str] | None = None  # a seekable text stream we read from `_text_start`
        self._text_start = 0
        self._binary_start = 0
        self._owned: IO[bytes] | None = None  # our spool file, closed with us
        fmt = normalize_format(format) if format is not None else None

        if isinstance(source, (str, os.PathLike)) and os.fspath(source) == "-":
            self.name = "<stdin>"
            stdin: Any = sys.stdin
            if stdin is None:
                raise InputError("- means stdin, but this process has no stdin")
            if getattr(stdin, "isatty", lambda: False)():
                raise UsageError("- means stdin, but stdin is a terminal: pipe or redirect a file into it")
            self._spool(stdin.buffer if hasattr(stdin, "buffer") else stdin)
        elif isinstance(source, (str, os.PathLike)):
            path = Path(source)
            self.name = os.fspath(source)
            try:
                st = path.stat()
                if stat.S_ISDIR(st.st_mode):
                    raise InputError(f"{self.name} is a directory, not a catalog or log file")
                if not stat.S_ISREG(st.st_mode):
                    # /dev/zero or a socket would be spooled until the disk is full; streams come in as `-`
                    raise InputError(
                        f"{self.name} is not a regular file (a device, pipe or socket); "
                        "to read a stream, pipe it in and name the input -"
                    )
                with open(path, "rb"):  # can we read it? (permission errors are named here)
                    self._path = path
                    self._gzip = path.suffix.lower() == ".gz"
            except FileNotFoundError:
                raise InputError(f"{self.name}: no such file") from None
            except PermissionError:
                raise InputError(f"{self.name}: permission denied (cannot read it)") from None
            except OSError as exc:
                raise InputError(f"{self.name}: cannot read it: {exc.strerror or exc}") from None
            if fmt is None and self._path is not None:
                fmt = format_for_path(path)
                if fmt is None and path.suffix and path.suffix.lower() != ".gz":
                    raise UsageError(
                        f"cannot tell the format of {self.name} from its extension {path.suffix!r}: "
                        "pass the format (--format csv, jsonl or parquet)"
                    )
        else:
            self.name = str(getattr(source, "name", None) or "<stream>")
            stream: Any = source
            probe = stream.read(0)
            seekable = bool(getattr(stream, "seekable", lambda: False)())
            if isinstance(probe, str):
                if seekable:
                    self._text = stream
                    self._text_start = stream.tell()
                else:
                    self._spool(stream)
            elif seekable:
                self._binary = stream
                self._binary_start = stream.tell()
            else:
                self._spool(stream)

        if fmt is None:
            head = self._head()
            fmt = sniff_format(head)
            if fmt is None:
                raise UsageError(
                    f"cannot tell the format of {self.name}: pass the format (--format csv, jsonl or parquet)"
                )
        if fmt == "parquet" and (self._text is not None or self._gzip):
            raise UsageError(f"{self.name}: Parquet must be read from a binary file, not text or .gz")
        self.format = fmt

    # -- opening --------------------------------------------------------------------------------

    def _spool(self, stream: IO[Any]) -> None:
        spool = tempfile.TemporaryFile(dir=self._spool_dir)  # closed in close()
        try:
            first = stream.read(0)
            if isinstance(first, str):
                while chunk := stream.read(1 << 20):
                    spool.write(chunk.encode("utf-8", "surrogateescape"))
            else:
                shutil.copyfileobj(stream, spool, 1 << 20)
        except OSError as exc:
            spool.close()
            raise InputError(f"{self.name}: cannot read it: {exc}") from None
        spool.seek(0)
        self._owned = spool
        self._binary = spool

    def _head(self) -> bytes:
        if self._text is not None:
            self._text.seek(self._text_start)
            text = self._text.read(_SNIFF_BYTES)
            return text.encode("utf-8", "replace")
        try:
            with self._open_binary() as fh:
                return fh.read(_SNIFF_BYTES)
        except (OSError, EOFError) as exc:
            raise InputError(f"{self.name}: cannot read it: {exc}") from None

    def _open_binary(self) -> IO[bytes]:
        if self._path is not None:
            if self._gzip:
                return cast(IO[bytes], gzip.open(self._path, "rb"))
            return open(self._path, "rb")  # the caller closes it
        if self._binary is None:
            raise InputError(f"{self.name}: cannot read it as binary data")
        self._binary.seek(self._binary_start)
        return cast(IO[bytes], _Unclosed(self._binary))

    @property
    def line_unit(self) -> str:
        """What record numbers count: ``line`` for text, ``row`` for Parquet."""
        return "row" if self.format == "parquet" else "line"

    def open(self, *, known: Iterable[str] = (), max_lines: int | None = None) -> RecordReader:
        """Start a pass from the beginning; the reader's stream closes when the iteration ends.

        With ``max_lines`` a text pass stops after that many physical lines.
        """
        stream: IO[bytes] | IO[str]
        if self._text is not None:
            self._text.seek(self._text_start)
            stream = cast(IO[str], _Unclosed(self._text))
        else:
            try:
                stream = self._open_binary()
            except OSError as exc:
                raise InputError(f"{self.name}: cannot read it: {exc}") from None
        reader = RecordReader(self.name, self.format, stream, known=known, max_lines=max_lines)
        inner = reader._iter

        def closing() -> Iterator[Record]:
            try:
                yield from inner
            except (OSError, EOFError) as exc:  # a damaged .gz, a read error halfway
                where = f" past {self.line_unit} {reader.lines}" if reader.lines else ""
                raise InputError(f"{self.name}: cannot read it{where}: {exc}") from None
            finally:
                stream.close()

        reader._iter = closing()
        return reader

    def open_batches(self, *, known: Iterable[str] = ()) -> BatchReader:
        """Start a columnar pass (see :class:`BatchReader`).

        Raises :class:`ColumnarUnsupported` for input only the row reader reads: text streams, CSV whose
        header it cannot take as it is, a Parquet file pyarrow cannot open.
        """
        if self._text is not None:
            raise ColumnarUnsupported("a text stream")
        canonical = {k.lower(): k for k in known}
        if self.format in ("jsonl", "parquet"):
            try:
                stream = self._open_binary()
            except OSError as exc:
                raise ColumnarUnsupported(str(exc)) from None
            columns: list[str] = []
            if self.format == "parquet":
                import pyarrow.parquet as pq

                try:
                    names = list(pq.read_schema(stream).names)
                except Exception as exc:  # pyarrow raises several types for a corrupt file
                    stream.close()
                    raise ColumnarUnsupported(str(exc)) from None
                stream.close()
                columns = _header(self.name, canonical, names)
                stream = self._open_binary()
            return BatchReader(self.name, stream, self.format, columns, canonical)
        try:
            with self._open_binary() as fh:
                head = fh.read(_HEADER_BYTES)
        except (OSError, EOFError) as exc:
            raise ColumnarUnsupported(str(exc)) from None
        fields = _csv_header(head)
        if fields is None:
            raise ColumnarUnsupported("a header the row reader must read")
        columns = _header(self.name, canonical, fields)
        if columns.count("") > 1:
            raise ColumnarUnsupported("several columns without a name")
        try:
            stream = self._open_binary()
        except OSError as exc:
            raise ColumnarUnsupported(str(exc)) from None
        return BatchReader(self.name, stream, "csv", columns, canonical)

    def close(self) -> None:
        if self._owned is not None:
            self._owned.close()
            self._owned = None

    def __enter__(self) -> RecordSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Unclosed(io.IOBase):
    """A view of a stream we do not own: iterating and reading pass through, closing does not."""

    def __init__(self, inner: IO[Any]) -> None:
        self._inner = inner

    def __iter__(self) -> Iterator[Any]:
        return iter(self._inner)

    def __next__(self) -> Any:
        return next(self._inner)

    def read(self, size: int = -1) -> Any:
        return self._inner.read(size)

    def readline(self, size: int = -1) -> Any:  # type: ignore[override]
        return self._inner.readline(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._inner.seek(offset, whence)

    def tell(self) -> int:
        return self._inner.tell()

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        pass


def read_records(source: Source, *, format: str | None = None, known: Iterable[str] = ()) -> Iterator[Record]:
    """Stream the records of one input: ``(line, row_dict_or_Malformed)``.

    The convenience form of ``RecordSource(...).open(...)`` for callers that read an input once.
    """
    with RecordSource(source, format=format) as src:
        yield from src.open(known=known)
