"""The streaming readers: formats, encodings, line numbers and malformed records."""

from __future__ import annotations

import gzip
import io
import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from avrec.errors import InputError, UsageError
from avrec.ingest.records import Malformed, RecordSource, format_for_path, read_records, sniff_format


def records(data: bytes | str, fmt: str = "csv", **kw: object) -> list[tuple[int, object]]:
    stream = io.BytesIO(data) if isinstance(data, bytes) else io.StringIO(data)
    return list(read_records(stream, format=fmt, **kw))  # type: ignore[arg-type]


def test_csv_bom_crlf_and_quoted_commas() -> None:
    data = b'\xef\xbb\xbfuser_id,item_id\r\nu1,"a, b"\r\n"u ""2""",i2\r\n'
    assert records(data) == [
        (2, {"user_id": "u1", "item_id": "a, b"}),
        (3, {"user_id": 'u "2"', "item_id": "i2"}),
    ]


def test_csv_bom_in_a_text_stream() -> None:
    assert records("\ufeffuser_id,item_id\nu,i\n") == [(2, {"user_id": "u", "item_id": "i"})]


def test_line_numbers_count_physical_lines() -> None:
    data = 'item_id,description\n\na,"two\nlines"\n\r\nb,x\n'
    assert records(data) == [
        (3, {"item_id": "a", "description": "two\nlines"}),
        (6, {"item_id": "b", "description": "x"}),
    ]


def test_cr_inside_quoted_field_is_kept() -> None:
    assert records(b'item_id,title\r\ni,"a\rb\r\nc"\r\n') == [(2, {"item_id": "i", "title": "a\rb\r\nc"})]


def test_wrong_field_count_and_truncated_last_line() -> None:
    out = records("user_id,item_id,timestamp\nu1,i1,1\nu2,i2\nu3,i3,3\nu4")
    assert out[0] == (2, {"user_id": "u1", "item_id": "i1", "timestamp": "1"})
    assert isinstance(out[1][1], Malformed) and out[1][0] == 3
    assert "expected 3 fields" in out[1][1].message and "truncated" not in out[1][1].message
    assert out[2][0] == 4 and isinstance(out[2][1], dict)
    assert out[3][0] == 5 and isinstance(out[3][1], Malformed) and "truncated" in out[3][1].message


def test_a_bad_quote_is_reported_and_reading_goes_on() -> None:
    out = records('a,b\nx,"y"z\nok,1\n')
    assert out[0][0] == 2 and isinstance(out[0][1], Malformed)
    assert out[1] == (3, {"a": "ok", "b": "1"})


def test_unclosed_quote_runs_to_the_end() -> None:
    out = records('a,b\nx,"never closed\nmore,1\n')
    assert len(out) == 1 and out[0][0] == 2 and isinstance(out[0][1], Malformed)
    assert "never closed" in out[0][1].message


def test_non_utf8_line_is_malformed_not_fatal() -> None:
    out = records(b"a,b\nx,caf\xe9\ny,ok\n")
    assert out[0][0] == 2 and isinstance(out[0][1], Malformed) and "UTF-8" in out[0][1].message
    assert out[1] == (3, {"a": "y", "b": "ok"})


def test_header_names_match_known_columns_ignoring_case_and_spaces() -> None:
    out = records(" User_ID ,ITEM_ID, Genre ,\nu,i,g,idx\n", known=("user_id", "item_id"))
    assert out == [(2, {"user_id": "u", "item_id": "i", "Genre": "g"})]


def test_duplicate_header_column_is_an_error() -> None:
    with pytest.raises(InputError, match="'item_id' twice"):
        records("item_id,Item_Id\n1,2\n", known=("item_id",))


def test_jsonl_lines_blank_lines_and_malformed() -> None:
    data = '{"a": 1}\n\n[1, 2]\n{"a": \n   \n{"a": "\u2028x"}\n{"a": 2'
    out = records(data, "jsonl")
    assert out[0] == (1, {"a": 1})
    assert out[1][0] == 3 and isinstance(out[1][1], Malformed) and "JSON object" in out[1][1].message
    assert out[2][0] == 4 and isinstance(out[2][1], Malformed) and "truncated" not in out[2][1].message
    assert out[3] == (6, {"a": "\u2028x"})
    assert out[4][0] == 7 and isinstance(out[4][1], Malformed) and "truncated" in out[4][1].message


def test_jsonl_keys_canonical_and_conflicts() -> None:
    out = records('{"User_ID": "u", " x ": 1}\n{"user_id": 1, "USER_ID": 2}\n', "jsonl", known=("user_id",))
    assert out[0] == (1, {"user_id": "u", "x": 1})
    assert isinstance(out[1][1], Malformed) and "twice" in out[1][1].message


def test_format_from_extension_and_content() -> None:
    assert format_for_path("a/b.CSV") == "csv"
    assert format_for_path("log.jsonl.gz") == "jsonl"
    assert format_for_path("x.ndjson") == "jsonl"
    assert format_for_path("x.pq") == "parquet"
    assert format_for_path("x.txt") is None
    assert sniff_format(b"PAR1....") == "parquet"
    assert sniff_format(b'\xef\xbb\xbf  {"a": 1}') == "jsonl"
    assert sniff_format(b"user_id,item_id\n") == "csv"
    assert sniff_format(b"[1, 2]") is None


def test_unknown_format_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown format 'xml'"):
        RecordSource(io.StringIO("a\n"), format="xml")
    path = tmp_path / "log.txt"
    path.write_text("a,b\n")
    with pytest.raises(UsageError, match="log.txt"):
        RecordSource(path)
    with RecordSource(path, format="CSV") as src:
        assert src.format == "csv"


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nope.csv: no such file"):
        RecordSource(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="is a directory"):
        RecordSource(tmp_path)


def test_gzip_file(tmp_path: Path) -> None:
    path = tmp_path / "log.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("user_id,item_id\nu,i\n")
    assert list(read_records(path)) == [(2, {"user_id": "u", "item_id": "i"})]


def test_stdin_is_spooled_and_read_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = io.BytesIO(b'{"user_id": "u"}\n')
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(raw, encoding="utf-8"))
    with RecordSource("-") as src:
        assert src.name == "<stdin>" and src.format == "jsonl"
        first = list(src.open())
        assert list(src.open()) == first == [(1, {"user_id": "u"})]


def test_text_stream_read_from_its_position() -> None:
    stream = io.StringIO("junk\nuser_id\nu\n")
    stream.readline()
    with RecordSource(stream) as src:
        assert list(src.open()) == [(2, {"user_id": "u"})] == list(src.open())


def test_max_lines_stops_a_second_pass() -> None:
    with RecordSource(io.StringIO("a\n1\n2\n3\n"), format="csv") as src:
        assert [line for line, _ in src.open(max_lines=3)] == [2, 3]


def test_parquet_rows(tmp_path: Path) -> None:
    path = tmp_path / "log.parquet"
    pq.write_table(pa.table({"User_Id": ["u1", "u2"], "item_id": [1, 2]}), path)
    with RecordSource(path, format=None) as src:
        reader = src.open(known=("user_id", "item_id"))
        assert list(reader) == [(1, {"user_id": "u1", "item_id": 1}), (2, {"user_id": "u2", "item_id": 2})]
        assert reader.columns == ["user_id", "item_id"] and src.line_unit == "row"


def test_parquet_from_binary_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    buf = io.BytesIO()
    pq.write_table(pa.table({"user_id": ["u"]}), buf)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(buf.getvalue())))
    assert list(read_records("-")) == [(1, {"user_id": "u"})]


def test_corrupt_parquet(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(InputError, match="bad.parquet: not a readable Parquet file"):
        list(read_records(path))


def test_jsonl_numbers_kept_as_json_types() -> None:
    row = {"a": 1.5, "b": [1, "x"], "c": None, "d": True}
    assert records(json.dumps(row) + "\n", "jsonl") == [(1, row)]


def test_binary_stream_read_from_its_position() -> None:
    stream = io.BytesIO(b"junk\nitem_id\ni\n")
    stream.readline()
    with RecordSource(stream, format="csv") as src:
        assert list(src.open()) == [(2, {"item_id": "i"})] == list(src.open())


def test_stdin_on_a_terminal_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Terminal(""))
    with pytest.raises(UsageError, match="stdin is a terminal"):
        RecordSource("-")


def test_long_fields_are_read(tmp_path: Path) -> None:
    long = "x" * 500_000
    assert records(f"item_id,description\ni,{long}\n") == [(2, {"item_id": "i", "description": long})]


def test_damaged_gzip_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "log.csv.gz"
    path.write_bytes(gzip.compress(b"user_id,item_id\nu,i\n" * 1000)[:-40])
    with pytest.raises(InputError, match="log.csv.gz: cannot read it"):
        list(read_records(path))
