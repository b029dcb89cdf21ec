"""Property tests (Hypothesis): whatever the csv and json modules write, the readers give back exactly;
ids survive ingest exactly (stripped of surrounding whitespace); vectors survive their BLOB encoding."""

from __future__ import annotations

import csv
import io
import json
import math
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from avrec.ingest import ingest_interactions, read_records
from avrec.ingest.common import RowError, parse_id, parse_timestamp
from avrec.store import Store, decode_vector, encode_vector

# Any unicode text that can be written as UTF-8 (no lone surrogates).
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
IDS = TEXT.map(str.strip).filter(lambda s: bool(s) and "\x00" not in s)  # a NUL in an id is refused
COLUMNS = ["user_id", "item_id", "note"]
ROWS = st.lists(st.tuples(IDS, IDS, TEXT), min_size=1, max_size=20)


def csv_bytes(rows: list[tuple[str, str, str]], *, bom: bool, lineterminator: str) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator=lineterminator)
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    return (b"\xef\xbb\xbf" if bom else b"") + out.getvalue().encode("utf-8")


def expected_lines(rows: list[tuple[str, str, str]]) -> list[int]:
    """Where each record starts: after the header, each takes one line plus its embedded newlines."""
    starts, line = [], 2
    for row in rows:
        starts.append(line)
        line += 1 + sum(field.count("\n") for field in row)
    return starts


@given(rows=ROWS, bom=st.booleans(), crlf=st.booleans())
def test_csv_written_by_the_csv_module_round_trips(
    rows: list[tuple[str, str, str]], bom: bool, crlf: bool
) -> None:
    # With lineterminator "\n" the csv module leaves a lone "\r" unquoted, which no CSV reader (Python's
    # own included) can tell from a line end; its default "\r\n" quotes it, and then anything goes.
    assume(crlf or not any("\r" in field for row in rows for field in row))
    data = csv_bytes(rows, bom=bom, lineterminator="\r\n" if crlf else "\n")
    records = list(read_records(io.BytesIO(data), format="csv"))
    assert [r for _, r in records] == [dict(zip(COLUMNS, row, strict=True)) for row in rows]
    assert [line for line, _ in records] == expected_lines(rows)


@given(rows=ROWS, ascii_only=st.booleans())
def test_jsonl_written_by_the_json_module_round_trips(
    rows: list[tuple[str, str, str]], ascii_only: bool
) -> None:
    objects = [dict(zip(COLUMNS, row, strict=True)) for row in rows]
    data = "".join(json.dumps(o, ensure_ascii=ascii_only) + "\n" for o in objects).encode("utf-8")
    records = list(read_records(io.BytesIO(data), format="jsonl"))
    assert records == [(n, o) for n, o in enumerate(objects, start=1)]


@given(
    value=TEXT,
    pad_left=st.sampled_from(["", " ", "\t", "  \u3000"]),
    pad_right=st.sampled_from(["", " ", "\r"]),
)
def test_ids_are_stripped_and_otherwise_exact(value: str, pad_left: str, pad_right: str) -> None:
    raw = pad_left + value + pad_right
    try:
        parsed = parse_id({"item_id": raw}, "item_id")
    except RowError:
        assert not raw.strip() or "\x00" in raw
    else:
        assert parsed == raw.strip() and parsed in raw


@given(number=st.integers(min_value=-(2**62), max_value=2**62))
def test_integer_ids_become_their_decimal_text(number: int) -> None:
    assert parse_id({"user_id": number}, "user_id") == str(number)


@given(
    moment=st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)),
    offset_minutes=st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_iso_timestamps_round_trip(moment: datetime, offset_minutes: int) -> None:
    aware = moment.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    assert parse_timestamp(aware.isoformat()) == aware.timestamp()
    assert parse_timestamp(moment.isoformat()) == moment.replace(tzinfo=timezone.utc).timestamp()


@given(seconds=st.floats(min_value=-1e12, max_value=1e12, allow_nan=False))
def test_epoch_seconds_round_trip(seconds: float) -> None:
    assert parse_timestamp(repr(seconds)) == seconds
    assert parse_timestamp(seconds) == seconds


@given(text=TEXT)
def test_timestamp_parser_never_crashes(text: str) -> None:
    try:
        value = parse_timestamp(text)
    except RowError:
        return
    assert value is None or math.isfinite(value)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=ROWS, fmt=st.sampled_from(["csv", "jsonl"]))
def test_ids_survive_ingest_into_the_store(rows: list[tuple[str, str, str]], fmt: str) -> None:
    if fmt == "csv":
        data = csv_bytes(rows, bom=False, lineterminator="\r\n")
    else:
        data = "".join(json.dumps(dict(zip(COLUMNS, r, strict=True))) + "\n" for r in rows).encode()
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "s") as store:
        report = ingest_interactions(store, io.BytesIO(data), format=fmt)
        pairs = {(u, i) for u, i, _ in rows}
        assert report.stored == len(pairs)
        stored = set(store.conn.execute("SELECT user_id, item_id FROM interactions").fetchall())
        assert stored == pairs
        assert set(store.item_ids()) == {i for _, i in pairs}


@given(
    vec=arrays(
        np.float32, st.integers(0, 64), elements=st.floats(width=32, allow_nan=False, allow_infinity=False)
    )
)
def test_vector_blob_round_trip(vec: np.ndarray) -> None:
    blob = encode_vector(vec)
    assert len(blob) == 4 * vec.size
    assert blob == vec.astype("<f4").tobytes()
    back = decode_vector(blob, vec.size)
    assert back.dtype == np.float32 and np.array_equal(back, vec)
