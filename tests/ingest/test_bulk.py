"""The column-wise (bulk) path of interaction ingest: same result as the row path, the same bad-row reports
(line numbers found deep inside a large batch), duplicates, and the cases it hands to the row path."""

from __future__ import annotations

import io
import json
import random
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from avrec.errors import InputError
from avrec.ingest import RejectedFileError, ingest_interactions
from avrec.ingest.interactions import InteractionParser, _EventWriter, _repeats
from avrec.store import EventBlock, Store

HEADER = "user_id,item_id,timestamp,event,weight\n"


def stored(store: Store) -> list[tuple[Any, ...]]:
    query = "SELECT user_id, item_id, event, ts, weight FROM interactions"
    return sorted((tuple(r) for r in store.conn.execute(query)), key=repr)


def counts(report: Any) -> tuple[Any, ...]:
    return (report.rows_read, report.stored, report.duplicates, report.new_users, report.new_items,
            report.ignored_columns)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many rows the row parser and how many batches the column parser checked."""
    seen = {"rows": 0, "batches": 0}
    row, columns = InteractionParser.__call__, InteractionParser.columns

    def count_row(self: InteractionParser, r: Any) -> Any:
        seen["rows"] += 1
        return row(self, r)

    def count_batch(self: InteractionParser, b: Any) -> Any:
        seen["batches"] += 1
        return columns(self, b)

    monkeypatch.setattr(InteractionParser, "__call__", count_row)
    monkeypatch.setattr(InteractionParser, "columns", count_batch)
    return seen


def varied_log(n: int, seed: int = 0) -> str:
    """Events of every shape the row path accepts: epoch and ISO times, blank times, events in any case,
    given and default weights, ids with spaces around them and non-ASCII ids, repeats."""
    rng = random.Random(seed)
    times = ["1714564800", "1714564800.25", "2024-05-01T12:00:00Z", "2024-05-01 14:00:00+02:00", "", "-5"]
    events = ["view", "LIKE", " share ", "", "purchase", "Skip"]
    weights = ["", "", "0.5", "3", "0", "1000000"]
    users = ["u1", "u2", " u3 ", "Ünï", "u_5", "1e3", "42"]
    lines = [HEADER]
    for _ in range(n):
        user = rng.choice(users) + str(rng.randrange(30))
        lines.append(f"{user},i{rng.randrange(50)},{rng.choice(times)},{rng.choice(events)},{rng.choice(weights)}\n")
    return "".join(lines)


def both_ways(tmp_path: Path, text: str, **kw: Any) -> tuple[Store, Any, Store, Any]:
    """Ingest the same log from a file (bulk path) and from a text stream (row path), each into a fresh store."""
    path = tmp_path / "log.csv"
    path.write_text(text, encoding="utf-8", newline="")
    bulk_store, row_store = Store(tmp_path / "bulk"), Store(tmp_path / "rows")
    bulk = ingest_interactions(bulk_store, path, **kw)
    rows = ingest_interactions(row_store, io.StringIO(text, newline=""), **kw)
    return bulk_store, bulk, row_store, rows


def test_bulk_path_stores_what_the_row_path_stores(tmp_path: Path, calls: dict[str, int]) -> None:
    bulk_store, bulk, row_store, rows = both_ways(tmp_path, varied_log(3000), event_weights={"purchase": 4.0})
    assert calls["batches"] == 1, "the file was read column-wise, once"
    assert calls["rows"] == 2 * 3000, "only the text stream went row by row (checked, then written)"
    assert counts(bulk) == counts(rows) and bulk.duplicates > 0
    assert stored(bulk_store) == stored(row_store)
    assert bulk_store.user_ids() == row_store.user_ids() and bulk_store.item_ids() == row_store.item_ids()
    assert bulk_store.integrity_check() == "ok"
    assert bulk_store.conn.execute("PRAGMA foreign_key_check").fetchall() == []


@pytest.mark.parametrize(("part_events", "held_bytes"), [(1000, 4096), (1000, 10**9), (10**9, 10**9)])
def test_many_batches_user_ranges_and_a_second_ingest(
    tmp_path: Path, calls: dict[str, int], monkeypatch: pytest.MonkeyPatch, part_events: int, held_bytes: int
) -> None:
    monkeypatch.setattr("avrec.ingest.records.BATCH_BYTES", 4096)
    monkeypatch.setattr("avrec.ingest.interactions.PART_EVENTS", part_events)
    monkeypatch.setattr("avrec.ingest.interactions.HELD_BYTES", held_bytes)
    spilled: list[int] = []
    spill = _EventWriter._spill

    def count_spills(self: _EventWriter, batch: Any) -> None:
        spilled.append(len(batch.users))
        spill(self, batch)

    monkeypatch.setattr(_EventWriter, "_spill", count_spills)
    blocks: list[int] = []
    transactions = [0]
    add, atomic = Store.add_interaction_blocks, Store.atomic

    def count_blocks(self: Store, given: Iterable[EventBlock], *args: Any) -> Any:
        def counted() -> Iterator[EventBlock]:
            for block in given:
                blocks.append(len(block.users))
                yield block

        return add(self, counted(), *args)

    def count_transactions(self: Store) -> Any:
        transactions[0] += 1
        return atomic(self)

    monkeypatch.setattr(Store, "add_interaction_blocks", count_blocks)
    monkeypatch.setattr(Store, "atomic", count_transactions)
    text = varied_log(5000, seed=1)
    bulk_store, bulk, row_store, rows = both_ways(tmp_path, text)
    assert calls["batches"] > 10
    assert sum(blocks) == 5000 - bulk.duplicates, "repeats within the file are left out before the store"
    assert sum(spilled) == (5000 if held_bytes < 10**9 else 0), "spilled to disk only beyond held_bytes"
    if part_events > 5000:
        assert len(blocks) == 1, "one block"
    else:
        assert len(blocks) >= 4 and max(blocks) < 1500, "written range by range, about part_events each"
    # SQLite's own -wal / -shm files come and go with the journal mode (a first bulk load uses a rollback journal)
    names = sorted(p.name for p in bulk_store.root.iterdir() if not p.name.endswith(("-wal", "-shm")))
    assert names == sorted(p.name for p in row_store.root.iterdir() if not p.name.endswith(("-wal", "-shm"))), (
        "no spilled file is left behind"
    )
    assert counts(bulk) == counts(rows) and stored(bulk_store) == stored(row_store)
    assert bulk_store.integrity_check() == "ok"
    blocks.clear()
    transactions[0] = 0
    again = ingest_interactions(bulk_store, tmp_path / "log.csv")
    assert (again.stored, again.duplicates, again.new_users, again.new_items) == (0, 5000, 0, 0)
    assert transactions[0] == len(blocks), "into a store holding events: one transaction per block"


@pytest.mark.parametrize("reader", [False, True])
def test_a_first_load_uses_a_rollback_journal_unless_the_store_is_open_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reader: bool
) -> None:
    monkeypatch.setattr("avrec.ingest.records.BATCH_BYTES", 4096)
    monkeypatch.setattr("avrec.ingest.interactions.PART_EVENTS", 500)
    path = tmp_path / "log.csv"
    path.write_text(varied_log(3000, seed=3))
    store = Store(tmp_path / "s")
    other = sqlite3.connect(store.db_path)
    if reader:  # another process's connection, in WAL mode: the database is not the load's alone
        other.execute("SELECT count(*) FROM interactions").fetchone()
    else:
        other.close()
    modes: list[str] = []
    add = Store.add_interaction_blocks

    def watched(self: Store, given: Iterable[EventBlock], *args: Any) -> Any:
        def blocks() -> Iterator[EventBlock]:
            for block in given:
                modes.append(str(self.conn.execute("PRAGMA journal_mode").fetchone()[0]))
                yield block

        return add(self, blocks(), *args)

    monkeypatch.setattr(Store, "add_interaction_blocks", watched)
    report = ingest_interactions(store, path)
    assert len(modes) >= 4 and set(modes) == {"wal" if reader else "delete"}
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal", "back in WAL mode after the load"
    assert report.stored == store.interaction_count() > 0 and store.integrity_check() == "ok"
    if reader:
        assert other.execute("SELECT count(*) FROM interactions").fetchone()[0] == report.stored
        other.close()


def test_a_first_load_is_one_transaction_and_keeps_the_dedup_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("avrec.ingest.records.BATCH_BYTES", 4096)
    monkeypatch.setattr("avrec.ingest.interactions.PART_EVENTS", 500)
    monkeypatch.setattr("avrec.ingest.interactions.HELD_BYTES", 4096)
    path = tmp_path / "log.csv"
    path.write_text(varied_log(3000, seed=2))
    store = Store(tmp_path / "s")
    index_sql = "SELECT sql FROM sqlite_master WHERE name = 'interactions_dedup'"
    migrated = store.conn.execute(index_sql).fetchall()
    add = Store.add_interaction_blocks

    def fail_late(self: Store, given: Iterable[EventBlock], *args: Any) -> Any:
        def failing() -> Iterator[EventBlock]:
            for n, block in enumerate(given):
                if n == 3:
                    raise OSError("disk full")
                yield block

        return add(self, failing(), *args)

    monkeypatch.setattr(Store, "add_interaction_blocks", fail_late)
    with pytest.raises(OSError):
        ingest_interactions(store, path)
    assert store.interaction_count() == 0 and store.user_ids() == [], "rolled back whole"
    assert store.conn.execute(index_sql).fetchall() == migrated
    monkeypatch.setattr(Store, "add_interaction_blocks", add)
    first = ingest_interactions(store, path)
    assert store.conn.execute(index_sql).fetchall() == migrated, "the same index after the load"
    assert first.stored == store.interaction_count() and first.duplicates > 0
    assert store.integrity_check() == "ok"
    assert store.conn.execute("PRAGMA foreign_key_check").fetchall() == []
    with pytest.raises(sqlite3.IntegrityError):  # the index holds: no second copy of a stored event
        store.conn.execute("INSERT INTO interactions(user_id, item_id, event, ts, weight) "
                           "SELECT user_id, item_id, event, ts, weight FROM interactions LIMIT 1")


def test_unknown_columns_and_a_pandas_index_column(tmp_path: Path, calls: dict[str, int]) -> None:
    text = ",User_ID, item_id ,device\n0,u1,i1,tv\n1,u2,i1,phone\n"
    bulk_store, bulk, row_store, rows = both_ways(tmp_path, text)
    assert calls["batches"] == 1 and bulk.ignored_columns == ["device"]
    assert counts(bulk) == counts(rows) and stored(bulk_store) == stored(row_store)


def big_log(n: int) -> list[str]:
    return [HEADER] + [f"u{k % 997},i{k % 1009},{1_700_000_000 + k},view,\n" for k in range(n)]


@pytest.mark.parametrize(
    "bad, says",
    [
        ("u7,,1700000000,view,\n", "empty item_id"),
        ("u7,i7,yesterday,view,\n", "bad timestamp 'yesterday'"),
        ("u7,i7,1700000000,view,nan\n", "weight must be a finite number"),
        ("u7,i7,1700000000,view,-1\n", "weight must be >= 0"),
        ("u7,i7,1700000000,view,2e6\n", "weight '2e6' is larger than 1e+06"),
        ("u7,i7,1700000000\n", "expected 5 fields as in the header, found 3"),
        ("u7,i\x007,1700000000,view,\n", "item_id 'i\\x007' holds a NUL character"),
    ],
)
def test_a_bad_row_deep_inside_a_large_batch_is_named_by_its_line(
    tmp_path: Path, calls: dict[str, int], bad: str, says: str
) -> None:
    lines = big_log(120_000)
    lines.insert(100_001, bad)  # line 100,002 of the file: the header is line 1
    path = tmp_path / "big.csv"
    path.write_text("".join(lines), encoding="utf-8")
    store = Store(tmp_path / "s")
    with pytest.raises(RejectedFileError) as info:
        ingest_interactions(store, path)
    assert f"line 100002: {says}" in str(info.value) and info.value.report.bad_count == 1
    assert store.interaction_count() == 0 and store.user_ids() == [] and store.item_ids() == []
    if "fields" not in says:  # (pyarrow refuses a short row as it opens the file, before any batch)
        assert calls["batches"] >= 1, "the bulk path looked first"

    report = ingest_interactions(store, path, skip_bad_rows=True)
    assert (report.rows_read, report.stored, report.bad_count) == (120_001, 120_000, 1)
    assert [b.line for b in report.bad_rows] == [100_002]


def test_mixed_good_and_bad_rows_list_every_line(tmp_path: Path) -> None:
    lines = big_log(50_000)
    bad_lines = {}
    for line_no, row in ((20_000, ",i1,,view,\n"), (30_000, "u1,i1,soon,view,\n"), (45_000, "u1,i1,,view,heavy\n")):
        lines[line_no - 1] = row
        bad_lines[line_no] = row
    path = tmp_path / "mixed.csv"
    path.write_text("".join(lines))
    store = Store(tmp_path / "s")
    with pytest.raises(RejectedFileError) as info:
        ingest_interactions(store, path)
    assert [b.line for b in info.value.report.bad_rows] == sorted(bad_lines)
    assert store.interaction_count() == 0


def test_duplicates_in_the_file_and_in_the_store(tmp_path: Path, calls: dict[str, int]) -> None:
    text = HEADER + "u,i,100,view,\nu,i,100,view,\nu,i,101,view,\nu,i,,view,\nu,i,,view,\nu,i,,VIEW,2\n"
    path = tmp_path / "d.csv"
    path.write_text(text)
    store = Store(tmp_path / "s")
    first = ingest_interactions(store, path)
    assert (first.stored, first.duplicates) == (3, 3) and calls["batches"] == 1
    again = ingest_interactions(store, path)
    assert (again.stored, again.duplicates, again.new_users, again.new_items) == (0, 6, 0, 0)
    assert store.interaction_count() == 3


@pytest.mark.parametrize(
    "text",
    [
        'user_id,item_id\n"Smith, J.","a ""b"""\nu2,i2\n',  # quoted fields: the row reader's strict CSV
        "user_id,item_id\nu1,i1\ru2,i2\n",  # a bare CR: not a line end for the row reader
        "\nuser_id,item_id\nu1,i1\n",  # a blank line before the header
    ],
)
def test_what_the_bulk_path_leaves_to_the_row_path(tmp_path: Path, text: str) -> None:
    path = tmp_path / "odd.csv"
    path.write_bytes(text.encode())
    bulk_store, row_store = Store(tmp_path / "a"), Store(tmp_path / "b")
    try:
        expected: Any = counts(ingest_interactions(row_store, io.BytesIO(text.encode()), format="csv"))
    except InputError as exc:
        expected = str(exc).replace("<stream>", str(path))
    try:
        got: Any = counts(ingest_interactions(bulk_store, path))
    except InputError as exc:
        got = str(exc)
    assert got == expected
    assert stored(bulk_store) == stored(row_store)


def test_lines_appended_after_the_check_are_left_for_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "log.csv"
    path.write_text("user_id,item_id\nu,a\nu,b\n")
    columns = InteractionParser.columns
    seen = {"n": 0}

    def append_after_first(self: InteractionParser, batch: Any) -> Any:
        seen["n"] += 1
        if seen["n"] == 1:  # a logger appends while the file is being checked
            with path.open("a") as fh:
                fh.write("u,c\n")
        return columns(self, batch)

    monkeypatch.setattr(InteractionParser, "columns", append_after_first)
    store = Store(tmp_path / "s")
    report = ingest_interactions(store, path)
    assert report.stored == 2 and store.item_ids() == ["a", "b"]


def test_delete_items_without_an_item_index(tmp_path: Path) -> None:
    store = Store(tmp_path / "s")
    indexes = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "interactions_item" not in indexes and "interactions_dedup" in indexes
    path = tmp_path / "log.csv"
    path.write_text("".join(big_log(3000)))
    ingest_interactions(store, path)
    per_item = dict(store.conn.execute("SELECT item_id, count(*) FROM interactions GROUP BY item_id").fetchall())
    removed, missing = store.delete_items(["i3", "i5", "nope", "i3"])
    assert missing == ["nope"]
    assert removed["items"] == 2 and removed["interactions"] == per_item["i3"] + per_item["i5"]
    left = {r[0] for r in store.conn.execute("SELECT DISTINCT item_id FROM interactions")}
    assert "i3" not in left and "i5" not in left and len(left) == len(per_item) - 2
    assert store.conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert store.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def varied_jsonl(n: int, iso_times: bool, seed: int = 0) -> str:
    """JSON Lines the bulk path reads (each key of one JSON type throughout, as pyarrow needs): numeric user
    ids, text item ids with spaces and non-ASCII, numeric or ISO times, absent and null keys, an unknown key."""
    rng = random.Random(seed)
    times = ["2024-05-01T12:00:00Z", "2024-05-01 14:00:00+02:00", " 1714564800 "] if iso_times else [1714564800, 1.5]
    lines = []
    for k in range(n):
        row: dict[str, Any] = {"user_id": rng.randrange(40), "item_id": rng.choice([" i", "Ünï", "i"]) + str(k % 60)}
        if k % 4:
            row["timestamp"] = rng.choice([*times, None])
        if k % 5:
            row["event"] = rng.choice(["view", "LIKE", None, "skip"])
        if k % 7 == 0:
            row["weight"] = rng.choice([0.5, 2, None])
        row["device"] = "tv"
        lines.append(json.dumps(row, ensure_ascii=bool(k % 2)) + "\n")
    return "".join(lines)


@pytest.mark.parametrize("iso_times", [False, True])
def test_jsonl_bulk_path_stores_what_the_row_path_stores(
    tmp_path: Path, calls: dict[str, int], iso_times: bool
) -> None:
    text = varied_jsonl(4000, iso_times)
    path = tmp_path / "log.jsonl"
    path.write_text(text, encoding="utf-8")
    bulk_store, row_store = Store(tmp_path / "bulk"), Store(tmp_path / "rows")
    bulk = ingest_interactions(bulk_store, path)
    assert calls == {"rows": 0, "batches": 1}, "read column-wise"
    rows = ingest_interactions(row_store, io.StringIO(text))
    assert counts(bulk) == counts(rows) and bulk.ignored_columns == ["device"]
    assert stored(bulk_store) == stored(row_store)


@pytest.mark.parametrize(
    "bad, says",
    [
        ('{"user_id": "u7", "item_id": ""}\n', "line 3002: empty item_id"),
        ('{"user_id": "u7", "item_id": "i", "weight": NaN}\n', "line 3002: weight must be a finite number"),
        ('{"user_id": "u7", "item_id": "i", "timestamp": true}\n', "line 3002: bad timestamp"),
        ('{"user_id": "u7", "item_id": "\\ud800"}\n', "line 3002: item_id holds"),
        ('{"user_id": "u7", "item_id": ["i"]}\n', "line 3002: item_id must be text or a number"),
        ('{"user_id": "u7"\n', "line 3002: malformed JSON"),
        ('{"item_id": "i7"}\n', "line 3002: missing user_id"),
    ],
)
def test_bad_jsonl_lines_are_named(tmp_path: Path, bad: str, says: str) -> None:
    lines = [json.dumps({"user_id": f"u{k % 13}", "item_id": f"i{k}", "timestamp": k}) + "\n" for k in range(5000)]
    lines.insert(3001, bad)
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(lines))
    store = Store(tmp_path / "s")
    with pytest.raises(RejectedFileError) as info:
        ingest_interactions(store, path)
    assert says in str(info.value) and info.value.report.bad_count == 1
    assert store.interaction_count() == 0


def test_parquet_bulk_path_stores_what_the_row_path_stores(tmp_path: Path, calls: dict[str, int]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 3000
    table = pa.table(
        {
            "User_Id": pa.array([k % 41 for k in range(n)], pa.int64()),
            "item_id": [f" i{k % 53}" if k % 9 else f"Ünï{k % 7}" for k in range(n)],
            "timestamp": pa.array([None if k % 5 == 0 else 1714564800_000_000 + k for k in range(n)],
                                  pa.timestamp("us", tz="UTC")),
            "event": [None if k % 4 == 0 else ["view", "LIKE", "skip"][k % 3] for k in range(n)],
            "weight": [None if k % 3 else 0.5 * (k % 6) for k in range(n)],
            "session": [f"s{k}" for k in range(n)],
        }
    )
    path = tmp_path / "log.parquet"
    pq.write_table(table, path, row_group_size=700)
    bulk_store = Store(tmp_path / "bulk")
    bulk = ingest_interactions(bulk_store, path)
    assert calls["rows"] == 0 and calls["batches"] >= 1, "read column-wise"
    # the row path, for comparison: the same file read as a stream of rows
    from avrec.ingest.common import TableSpec, run_ingest
    from avrec.ingest.interactions import INTERACTION_COLUMNS, _write

    row_store = Store(tmp_path / "rows")
    spec = TableSpec("interactions", ("user_id", "item_id"), INTERACTION_COLUMNS, InteractionParser(),
                     lambda b, r: _write(b, r, row_store), batch_size=500, report_unknown_columns=True)
    rows = run_ingest(spec, path, format=None, skip_bad_rows=False, spool_dir=None)
    assert counts(bulk) == counts(rows) and bulk.ignored_columns == ["session"]
    assert stored(bulk_store) == stored(row_store)


def test_a_bad_row_after_the_log_was_spilled_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("avrec.ingest.records.BATCH_BYTES", 4096)
    monkeypatch.setattr("avrec.ingest.interactions.PART_EVENTS", 500)
    monkeypatch.setattr("avrec.ingest.interactions.HELD_BYTES", 4096)
    lines = big_log(5000)
    lines[4990] = "u1,i1,later,view,\n"
    path = tmp_path / "late.csv"
    path.write_text("".join(lines))
    store = Store(tmp_path / "s")
    before = sorted(p.name for p in store.root.iterdir())
    with pytest.raises(RejectedFileError, match="line 4991: bad timestamp 'later'"):
        ingest_interactions(store, path)
    assert store.interaction_count() == 0 and store.user_ids() == []
    assert sorted(p.name for p in store.root.iterdir()) == before, "no spilled file is left behind"


def test_jsonl_integers_beyond_float_precision(tmp_path: Path) -> None:
    big = 2**53 + 1
    text = "".join(json.dumps({"user_id": big + k, "item_id": "i", "timestamp": big + k}) + "\n" for k in range(3))
    path = tmp_path / "big.jsonl"
    path.write_text(text)
    bulk_store, row_store = Store(tmp_path / "a"), Store(tmp_path / "b")
    bulk = ingest_interactions(bulk_store, path)
    rows = ingest_interactions(row_store, io.StringIO(text))
    assert counts(bulk) == counts(rows) and stored(bulk_store) == stored(row_store)
    assert bulk_store.user_ids() == [str(big), str(big + 1), str(big + 2)]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_one_block_inputs_reach_pyarrow_as_arrow_buffers(monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    """pyarrow reads a Python stream on its own I/O thread, which can abort the process at exit when a small
    reader finishes early (apache/arrow#34314): an input of one block is read here and handed over whole;
    a larger one is replayed from where that read stopped, with every byte and block in order."""
    import pyarrow as pa

    from avrec.ingest import records

    header, line = (b"user_id,item_id\n", b"u%d,i%d\n")
    if fmt == "jsonl":
        header, line = b"", b'{"user_id":"u%d","item_id":"i%d"}\n'
    small = header + b"".join(line % (n, n) for n in range(50))
    whole = list(records.BatchReader("x", io.BytesIO(small), fmt, ["user_id", "item_id"], {}))
    assert pa.Table.from_batches(whole).column(1).to_pylist() == [f"i{n}" for n in range(50)]
    monkeypatch.setattr(records, "BATCH_BYTES", 4096)
    large = header + b"".join(line % (n, n) for n in range(5000))
    batches = list(records.BatchReader("x", io.BytesIO(large), fmt, ["user_id", "item_id"], {}))
    assert len(batches) > 10 and all(b.num_rows for b in batches)
    assert pa.Table.from_batches(batches).column(0).to_pylist() == [f"u{n}" for n in range(5000)]
    kinds: list[type] = []
    opened = records.BatchReader._input

    def spy(self: records.BatchReader) -> Any:
        got = opened(self)
        kinds.append(type(got))
        return got

    monkeypatch.setattr(records.BatchReader, "_input", spy)
    records.BatchReader("x", io.BytesIO(small), fmt, ["user_id", "item_id"], {})
    records.BatchReader("x", io.BytesIO(large), fmt, ["user_id", "item_id"], {})
    assert kinds == [pa.BufferReader, pa.PythonFile]


@pytest.mark.parametrize("seed", range(6))
def test_repeats_are_found_as_the_store_index_would_find_them(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 400
    pairs = np.sort(rng.integers(0, 30, n))
    events = rng.integers(0, 2, n).astype(np.int8)
    times: np.ndarray | None = rng.choice([np.nan, 1.0, 2.0, -1.0e300, 0.0, -0.0], n)
    if seed % 3 == 0:
        times = None if seed == 3 else np.arange(n, dtype=float)  # none, or a log in time order
    found = _repeats(pairs, events, times)
    seen: set[tuple[Any, ...]] = set()
    expected = []
    for k in range(n):  # the index's key: ifnull(ts, -1e300), and SQLite's 0.0 == -0.0
        t = None if times is None else (-1.0e300 if np.isnan(times[k]) else float(times[k]) + 0.0)
        key = (int(pairs[k]), int(events[k]), t)
        expected.append(key in seen)
        seen.add(key)
    assert found.tolist() == expected
