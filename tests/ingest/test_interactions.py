"""Interaction log ingest through the library API: formats, weights, duplicates and bad logs."""

from __future__ import annotations

import io
import json
import sys
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from avrec.config import DEFAULT_EVENT_WEIGHTS
from avrec.errors import InputError, UsageError
from avrec.ingest import RejectedFileError, ingest_catalog, ingest_interactions
from avrec.ingest.common import IngestReport, TableSpec, run_ingest
from avrec.store import Store

HEADER = "user_id,item_id,timestamp,event,weight\n"


def rows(store: Store) -> list[tuple[str, str, str, float | None, float]]:
    query = "SELECT user_id, item_id, event, ts, weight FROM interactions ORDER BY id"
    return [tuple(r) for r in store.conn.execute(query)]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def test_timestamps_events_and_weights(store: Store) -> None:
    log = HEADER + (
        "u1,i1,2024-05-01T12:00:00Z,view,\n"
        "u1,i2,2024-05-01T14:00:00+02:00,LIKE,\n"
        "u1,i3,1714564800,share,0.25\n"
        "u2,i1,1714564800.5,skip,\n"
        "u2,i2,2024-05-01 12:00:00,purchase,\n"
        "u2,i3,,,\n"
    )
    report = ingest_interactions(store, io.StringIO(log))
    assert (report.rows_read, report.stored, report.duplicates) == (6, 6, 0)
    assert (report.new_users, report.new_items) == (2, 3)
    assert rows(store) == [
        ("u1", "i1", "view", 1714564800.0, 1.0),
        ("u1", "i2", "like", 1714564800.0, DEFAULT_EVENT_WEIGHTS["like"]),
        ("u1", "i3", "share", 1714564800.0, 0.25),
        ("u2", "i1", "skip", 1714564800.5, 0.0),
        ("u2", "i2", "purchase", 1714564800.0, 1.0),
        ("u2", "i3", "", None, 1.0),
    ]


def test_configured_event_weights(store: Store) -> None:
    log = HEADER + "u,a,,purchase,\nu,b,,like,\nu,c,,mystery,\nu,d,,view,7\n"
    ingest_interactions(store, io.StringIO(log), event_weights={"Purchase": 5.0, "*": 0.5})
    assert [r[4] for r in rows(store)] == [5.0, DEFAULT_EVENT_WEIGHTS["like"], 0.5, 7.0]
    with pytest.raises(UsageError, match="weight of event 'x'"):
        ingest_interactions(store, io.StringIO(log), event_weights={"x": float("nan")})


def test_duplicates_are_not_counted_twice(store: Store) -> None:
    log = HEADER + "u,i,100,view,\nu,i,100,view,\nu,i,101,view,\nu,i,,view,\nu,i,,view,\n"
    first = ingest_interactions(store, io.StringIO(log))
    assert (first.stored, first.duplicates) == (3, 2)
    again = ingest_interactions(store, io.StringIO(log))
    assert (again.stored, again.duplicates, again.new_users, again.new_items) == (0, 5, 0, 0)
    assert store.interaction_count() == 3
    assert "5 duplicates already stored" in again.summary()


def test_unknown_items_and_users_are_created_bare(store: Store) -> None:
    ingest_catalog(store, io.StringIO("item_id,title\nknown,Known\n"))
    report = ingest_interactions(store, io.StringIO("user_id,item_id\nu,known\nu,new\n"))
    assert (report.new_users, report.new_items) == (1, 1)
    assert store.require_item("known").title == "Known" and store.require_item("new").title is None


def test_ids_are_stripped_and_otherwise_exact(store: Store) -> None:
    ingest_interactions(store, io.StringIO('user_id,item_id\n  Ünï cödé ,"\tA,b "\nu,I\nu,i\n'))
    assert rows(store)[0][:2] == ("Ünï cödé", "A,b")
    assert set(store.item_ids()) == {"A,b", "I", "i"}


def test_bad_log_rejected_whole_with_every_line(store: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "events.csv",
        HEADER
        + (
            "u1,i1,2024-05-01,view,\n"  # 2 good
            ",i1,,view,\n"  # 3 empty user id
            "u1,  ,,view,\n"  # 4 empty item id
            "u1,i1,yesterday,view,\n"  # 5 bad timestamp
            "u1,i1,,view,nan\n"  # 6 NaN
            "u1,i1,,view,inf\n"  # 7 inf
            "u1,i1,,view,-1\n"  # 8 negative
            "u1,i1,,view,heavy\n"  # 9 not a number
            "u1,i1,,view\n"  # 10 wrong field count
            "u1,i1,2024-13-45,view,\n"  # 11 impossible date
            "u1,i9,,vi"  # 12 truncated last line
        ),
    )
    with pytest.raises(RejectedFileError) as info:
        ingest_interactions(store, path)
    message = str(info.value)
    assert message.startswith(f"{path}: 10 bad rows, so nothing was stored:")
    for expected in (
        "line 3: empty user_id",
        "line 4: empty item_id",
        "line 5: bad timestamp 'yesterday'",
        "line 6: weight must be a finite number, found 'nan'",
        "line 7: weight must be a finite number",
        "line 8: weight must be >= 0",
        "line 9: weight must be a number, found 'heavy'",
        "line 10: expected 5 fields as in the header, found 4",
        "line 11: bad timestamp '2024-13-45'",
        "line 12: expected 5 fields as in the header, found 4 (the last line has no line end",
        "use --skip-bad-rows to store the good rows",
    ):
        assert expected in message
    assert info.value.report.bad_count == 10
    assert store.counts()["interactions"] == 0 and store.user_ids() == [] and store.item_ids() == []

    report = ingest_interactions(store, path, skip_bad_rows=True)
    assert (report.rows_read, report.stored, report.bad_count) == (11, 1, 10)
    assert [b.line for b in report.bad_rows] == list(range(3, 13))
    assert "10 bad rows skipped (lines 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)" in report.summary()


def test_many_bad_rows_are_listed_up_to_a_limit(store: Store) -> None:
    log = HEADER + "".join(f"u,,{n},view,\n" for n in range(45))
    with pytest.raises(RejectedFileError) as info:
        ingest_interactions(store, io.StringIO(log))
    message = str(info.value)
    assert "line 21: empty item_id" in message and "line 22:" not in message and "... and 25 more" in message


def test_missing_columns_name_file_and_column(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "log.csv", "user,item_id\nu,i\n")
    with pytest.raises(InputError, match=r"log\.csv: missing required column 'user_id'"):
        ingest_interactions(store, path)
    path = write(tmp_path, "log2.csv", "timestamp\n1\n")
    with pytest.raises(InputError, match="missing required columns 'user_id', 'item_id'"):
        ingest_interactions(store, path)


def test_missing_and_unreadable_files(store: Store, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nothere.csv: no such file"):
        ingest_interactions(store, tmp_path / "nothere.csv")
    with pytest.raises(UsageError, match="unknown format"):
        ingest_interactions(store, io.StringIO(HEADER), format="xlsx")
    with pytest.raises(InputError, match="empty.csv is empty"):
        ingest_interactions(store, write(tmp_path, "empty.csv", ""))


def test_jsonl_log_with_malformed_lines(store: Store, tmp_path: Path) -> None:
    lines = [
        json.dumps({"user_id": "u", "item_id": 12, "timestamp": 1700000000, "event": "like"}),
        '{"user_id": "u", "item_id": "x", "weight": NaN}',
        '{"user_id": "u", "item_id": "x", "timestamp": true}',
        "not json",
        json.dumps({"user_id": "u", "item_id": "y", "weight": -0.5}),
        json.dumps({"user_id": "u", "item_id": "z", "event": ["like"]}),
        '{"user_id": "v", "item_id": "w"',
    ]
    path = write(tmp_path, "log.jsonl", "\n".join(lines))
    with pytest.raises(RejectedFileError) as info:
        ingest_interactions(store, path)
    assert [b.line for b in info.value.report.bad_rows] == [2, 3, 4, 5, 6, 7]
    assert "line 7: malformed JSON" in str(info.value) and "truncated" in str(info.value)
    report = ingest_interactions(store, path, skip_bad_rows=True)
    assert report.stored == 1 and rows(store) == [
        ("u", "12", "like", 1700000000.0, DEFAULT_EVENT_WEIGHTS["like"])
    ]


def test_bom_crlf_quoted_commas(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_bytes(b'\xef\xbb\xbfuser_id,item_id,event\r\n"Smith, J.","a ""quoted"", item",view\r\n')
    report = ingest_interactions(store, path)
    assert report.stored == 1 and rows(store)[0][:3] == ("Smith, J.", 'a "quoted", item', "view")


def test_stdin(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"user_id,item_id\r\nu,i\r\n")))
    report = ingest_interactions(store, "-")
    assert report.source == "<stdin>" and report.stored == 1


def test_parquet_log(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "log.parquet"
    table = pa.table(
        {
            "user_id": pa.array([1, 2, 2], pa.int64()),
            "item_id": ["a", "b", ""],
            "timestamp": pa.array([1714564800_000_000, None, 0], pa.timestamp("us", tz="UTC")),
            "event": ["like", None, "view"],
            "weight": [None, 2.5, 1.0],
            "session": ["s1", "s2", "s3"],
        }
    )
    pq.write_table(table, path)
    with pytest.raises(RejectedFileError, match="row 3: empty item_id"):
        ingest_interactions(store, path)
    report = ingest_interactions(store, path, skip_bad_rows=True)
    assert report.format == "parquet" and report.stored == 2 and report.ignored_columns == ["session"]
    assert rows(store) == [
        ("1", "a", "like", 1714564800.0, DEFAULT_EVENT_WEIGHTS["like"]),
        ("2", "b", "", None, 2.5),
    ]


def test_unknown_columns_are_reported(store: Store) -> None:
    report = ingest_interactions(store, io.StringIO('{"user_id": "u", "item_id": "i", "device": "tv"}\n'))
    assert report.ignored_columns == ["device"] and "ignored columns device" in report.summary()


def test_many_batches_and_report(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("avrec.ingest.interactions.BATCH_SIZE", 100)
    log = HEADER + "".join(f"u{n % 17},i{n % 101},{n},view,\n" for n in range(1000))
    report = ingest_interactions(store, io.StringIO(log))
    assert (report.stored, report.new_users, report.new_items) == (1000, 17, 101)
    assert report.as_dict()["stored"] == 1000


def test_file_changed_between_passes_is_reported(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "log.csv", "user_id,item_id\nu,a\nu,b\nu,c\n")
    calls = {"n": 0}

    def parse(row: dict[str, object]) -> str:
        calls["n"] += 1
        if calls["n"] == 3:  # last row of the validating pass: the file is rewritten behind us
            path.write_text("user_id,item_id\nu,a\nu,\nu,c\n")
        if not row["item_id"]:
            from avrec.ingest.common import RowError

            raise RowError("empty item_id")
        return str(row["item_id"])

    written: list[str] = []

    def write_batch(batch: list[str], report: IngestReport) -> None:
        written.extend(batch)
        report.stored += len(batch)

    spec = TableSpec("test", ("user_id", "item_id"), ("user_id", "item_id"), parse, write_batch, batch_size=1)
    with pytest.raises(InputError, match="changed while it was being ingested: line 3 is now bad"):
        run_ingest(spec, path, format=None, skip_bad_rows=False, spool_dir=None)
    assert written == ["a"]


def test_appended_lines_are_left_for_the_next_run(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "log.csv", "user_id,item_id\nu,a\nu,b\n")
    calls = {"n": 0}

    def parse(row: dict[str, object]) -> str:
        calls["n"] += 1
        if calls["n"] == 3:  # a logger appends after validation, as writing starts
            with path.open("a") as fh:
                fh.write("u,c\n")
        return str(row["item_id"])

    written: list[str] = []
    spec = TableSpec(
        "test",
        ("user_id",),
        ("user_id", "item_id"),
        parse,
        lambda batch, report: written.extend(batch),
        batch_size=10,
    )
    run_ingest(spec, path, format=None, skip_bad_rows=False, spool_dir=None)
    assert written == ["a", "b"]


def test_concurrent_ingests_and_reader_do_not_lock_out(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("avrec.ingest.interactions.BATCH_SIZE", 50)
    Store(store_dir).close()
    errors: list[BaseException] = []

    def ingest(tag: str) -> None:
        try:
            with Store(store_dir) as s:
                log = HEADER + "".join(f"{tag}{n % 13},i{n % 29},{n},view,\n" for n in range(2000))
                ingest_interactions(s, io.StringIO(log))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    def read() -> None:
        try:
            with Store(store_dir) as s:
                for _ in range(50):
                    s.interaction_count()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=ingest, args=(t,)) for t in ("a", "b")] + [
        threading.Thread(target=read)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Store(store_dir) as s:
        assert s.interaction_count() == 4000 and s.integrity_check() == "ok"
