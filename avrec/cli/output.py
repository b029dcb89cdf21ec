"""Rendering of command results: table on a terminal, JSONL when piped, or what `--format` says.

Data goes to stdout only; everything else (progress, warnings, errors) goes to stderr.
"""

from __future__ import annotations

import csv
import enum
import functools
import io
import itertools
import json
import math
import operator
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ParamSpec, TextIO, TypeVar

from avrec.errors import AvrecError

if TYPE_CHECKING:
    from rich.text import Text

# rich is imported only where a table is drawn: csv/json output (scripts, cron) starts faster without it.


class Format(str, enum.Enum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


#: Characters that would act on a terminal rather than show: C0 controls but tab and newline (ESC starts
#: the sequences that clear the screen or retitle the window), DEL, C1 controls, and the bidirectional
#: overrides that reorder what is shown. Each is printed as its escape, visibly.
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if c not in (0x09, 0x0A)}
_CONTROLS.update({c: f"\\u{c:04x}" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))})


def plain(text: str) -> str:
    """Text from data, made safe to show on a terminal: control characters become visible escapes."""
    return text.translate(_CONTROLS)


def data_text(value: Any) -> Text:
    """A table cell or line of data for Rich: never read as markup (`[red]`, `[link=...]`), controls escaped."""
    from rich.text import Text

    return Text(plain(value if isinstance(value, str) else str(value)))


def error_line(message: str) -> str:
    """``avrec: error: <message>`` with the message's control characters escaped (it quotes data)."""
    return f"avrec: error: {plain(message)}"


def resolve(fmt: Format | None, *, piped_default: Format = Format.jsonl, stream: TextIO | None = None) -> Format:
    """`--format` if given; else a table on a terminal and `piped_default` when stdout is a pipe or file."""
    if fmt is not None:
        return fmt
    out = stream or sys.stdout
    return Format.table if out.isatty() else piped_default


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return round(value, 6)
    if isinstance(value, Mapping):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def dumps(obj: Any) -> str:
    return json.dumps(_clean(obj), ensure_ascii=False)


class OutputError(AvrecError):
    """The data could not be written to stdout (a full disk, /dev/full)."""


P = ParamSpec("P")
R = TypeVar("R")


def _stdout_errors(write: Callable[P, R]) -> Callable[P, R]:
    """A write to stdout that fails (a full disk, /dev/full) becomes an OutputError; a closed pipe stays one."""

    @functools.wraps(write)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return write(*args, **kwargs)
        except BrokenPipeError:
            raise  # the reader stopped: the CLI exits quietly
        except OSError as exc:
            if exc.filename is not None:  # a file the rows were read from, not stdout
                raise
            raise OutputError(f"cannot write the output (stdout): {exc.strerror or exc}") from None

    return guarded


@_stdout_errors
def emit_rows(
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[str],
    fmt: Format,
    *,
    title: str | None = None,
    out: TextIO | None = None,
) -> int:
    """Write rows as they come (streaming for csv/jsonl); returns how many were written."""
    out = out or sys.stdout
    n = 0
    if fmt is Format.csv:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_csv_cell(row.get(c)) for c in columns])
            n += 1
    elif fmt is Format.jsonl:
        for row in rows:
            out.write(dumps({c: row.get(c) for c in columns}) + "\n")
            n += 1
    elif fmt is Format.json:
        items = [{c: row.get(c) for c in columns} for row in rows]
        out.write(dumps(items) + "\n")
        n = len(items)
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=data_text(title) if title else None)
        for c in columns:
            table.add_column(data_text(c), justify="right" if c in ("rank", "score") else "left")
        for row in rows:
            table.add_row(*[data_text(_table_cell(row.get(c))) for c in columns])
            n += 1
        Console(file=out).print(table)
    out.flush()
    return n


@_stdout_errors
def emit_records(
    rows: Iterable[Any], columns: Sequence[str], fmt: Format, *, title: str | None = None, out: TextIO | None = None
) -> int:
    """`emit_rows` for rows that are objects with `columns` as attributes (`Recommendation`): the same
    bytes, with csv and jsonl written a chunk of rows at a time and each distinct string encoded once,
    so a batch of millions of rows does not pay `emit_rows`' dict and per-cell work for every row."""
    if fmt not in (Format.csv, Format.jsonl):
        return emit_rows(({c: getattr(r, c) for c in columns} for r in rows), columns, fmt, title=title, out=out)
    out = out or sys.stdout
    get = operator.attrgetter(*columns)
    n = 0
    if fmt is Format.csv:
        csv.writer(out, lineterminator="\n").writerow(columns)
        quoted: dict[str, str] = {}

        def field(v: Any) -> str:
            if type(v) is str:
                text = quoted.get(v)
                if text is None:  # as csv.writer writes it (quoted when it holds a comma, quote or newline)
                    buf = io.StringIO()
                    csv.writer(buf, lineterminator="\n").writerow([v, ""])
                    text = quoted[v] = buf.getvalue()[:-2]
                    if len(quoted) > 1 << 20:
                        quoted.clear()
                return text
            if type(v) is int:
                return str(v)
            if type(v) is float:  # (as `_csv_cell` writes it; no comma, quote or newline to quote)
                return f"{v:.6g}" if v - v == 0.0 else ""
            return _csv_field(_csv_cell(v))

        for chunk in _chunks(rows, 4096):
            out.write("".join(",".join(map(field, get(r))) + "\n" for r in chunk))
            n += len(chunk)
    else:
        names = [json.dumps(c, ensure_ascii=False) for c in columns]
        cache: dict[str, str] = {}

        def value(v: Any) -> str:
            if type(v) is str:
                text = cache.get(v)
                if text is None:
                    text = cache[v] = json.dumps(v, ensure_ascii=False)
                    if len(cache) > 1 << 20:
                        cache.clear()
                return text
            return dumps(v)

        for chunk in _chunks(rows, 4096):
            out.write(
                "".join(
                    "{" + ", ".join(f"{k}: {value(v)}" for k, v in zip(names, get(r), strict=True)) + "}\n"
                    for r in chunk
                )
            )
            n += len(chunk)
    out.flush()
    return n


def _csv_field(text: str) -> str:
    """`text` as csv.writer writes it in a row of several fields."""
    if not any(c in text for c in ',"\r\n'):
        return text
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([text, ""])
    return buf.getvalue()[:-2]


def _chunks(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(rows)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


@_stdout_errors
def emit_object(obj: Mapping[str, Any], fmt: Format, *, out: TextIO | None = None) -> None:
    """One object: JSON for json/jsonl; a two-column table otherwise (csv: key,value rows)."""
    out = out or sys.stdout
    if fmt in (Format.json, Format.jsonl):
        out.write(dumps(obj) + "\n")
    elif fmt is Format.csv:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["key", "value"])
        for key, value in _flatten(obj):
            writer.writerow([key, _csv_cell(value)])
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(show_header=False)
        table.add_column("key", style="bold")
        table.add_column("value")
        for key, value in _flatten(obj):
            table.add_row(data_text(key), data_text(_table_cell(value)))
        Console(file=out).print(table)
    out.flush()


def _flatten(obj: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = []
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            pairs.extend(_flatten(value, name + "."))
        else:
            pairs.append((name, value))
    return pairs


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else ""
    if isinstance(value, (list, dict)):
        return dumps(value)
    return str(value)


def _table_cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, (list, dict)):
        return dumps(value)
    return "" if value is None else str(value)


