"""Bad interaction logs and catalogs end to end (issue 7, item 2), as a real process.

The parsers have their own tests in tests/ingest; these confirm what a cron job sees: the exit code, the
file and line numbers on stderr, and that a rejected file writes nothing (the store is byte-for-byte the
same as before, checked through its tables).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.reliability.conftest import ok, run_avrec, table_state

GOOD = "user_id,item_id,timestamp,event\nu1,i1,2024-01-01T00:00:00Z,view\nu2,i2,1700000000,like\n"

BAD_LOGS = {
    # name: (file name, bytes, exit code, what stderr must say)
    "bad rows": (
        "bad.csv",
        b"user_id,item_id,timestamp,weight\nu1,i1,2024-01-01,1\n,i2,2024-01-01,1\nu3,i3,notatime,1\n"
        b"u4,i4,2024-01-01,nan\nu5,i5,2024-01-01,-2\nu6,i6,2024-01-01,inf\nu7,i7,2024-01-01,1\n",
        1, ["bad.csv", "line 3", "line 4", "line 5", "line 6", "line 7", "--skip-bad-rows"],
    ),
    "missing column": ("nouser.csv", b"item_id,foo\ni1,x\n", 1, ["nouser.csv", "user_id"]),
    "empty file": ("empty.csv", b"", 1, ["empty.csv"]),
    "header only": ("header.csv", b"user_id,item_id\n", None, []),
    "truncated jsonl": (
        "trunc.jsonl", b'{"user_id": "u1", "item_id": "i1"}\n{"user_id": "u2", "item_', 1, ["trunc.jsonl", "line 2"],
    ),
    "binary junk": ("junk.csv", bytes(range(256)) * 8, 1, ["junk.csv"]),
}


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    """A store that already holds a good log, so 'nothing written' and 'nothing lost' can be checked."""
    store = tmp_path / "store"
    good = tmp_path / "good.csv"
    good.write_text(GOOD)
    ok(run_avrec(store, "ingest", "interactions", str(good)))
    return store


@pytest.mark.parametrize("case", sorted(BAD_LOGS))
def test_bad_log_rejected_whole_and_store_unchanged(case: str, seeded: Path, tmp_path: Path) -> None:
    name, data, code, says = BAD_LOGS[case]
    path = tmp_path / name
    path.write_bytes(data)
    before = table_state(seeded)
    proc = run_avrec(seeded, "ingest", "interactions", str(path))
    assert "Traceback" not in proc.stderr
    if code is None:  # a header and no rows: not an error, nothing to store
        assert proc.returncode in (0, 1)
    else:
        assert proc.returncode == code, proc.stderr
        errors = [line for line in proc.stderr.splitlines()]
        assert errors and errors[0].startswith("avrec: error:")
        for text in says:
            assert text in proc.stderr, f"{text!r} missing from:\n{proc.stderr}"
    assert table_state(seeded) == before


def test_skip_bad_rows_stores_good_rows_and_exits_1(seeded: Path, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(BAD_LOGS["bad rows"][1])
    proc = run_avrec(seeded, "ingest", "interactions", str(path), "--skip-bad-rows", "--output-format", "json")
    assert proc.returncode == 1, "a partly failed run exits 1"
    report = json.loads(proc.stdout)
    assert report["stored"] == 2 and [b["line"] for b in report["bad_rows"]] == [3, 4, 5, 6, 7]
    state = table_state(seeded)
    assert state["counts"]["interactions"] == 4
    assert {(r[1], r[2]) for r in state["interactions"]} >= {("u1", "i1"), ("u7", "i7")}


def test_bom_crlf_quoted_commas_from_stdin(tmp_path: Path) -> None:
    data = '\ufeffuser_id,item_id,event\r\n"u,1","i ""x""",view\r\nu2,i2,like\r\n'
    store = tmp_path / "store"
    proc = ok(run_avrec(store, "ingest", "interactions", "-", "--format", "csv", "--output-format", "json",
                        input=data))
    assert json.loads(proc.stdout)["stored"] == 2
    rows = {(r[1], r[2], r[3]) for r in table_state(store)["interactions"]}
    assert rows == {("u,1", 'i "x"', "view"), ("u2", "i2", "like")}


def test_usage_errors_exit_2_and_missing_file_exits_1(seeded: Path, tmp_path: Path) -> None:
    before = table_state(seeded)
    wrong_format = run_avrec(seeded, "ingest", "interactions", str(tmp_path / "x.csv"), "--format", "xml")
    assert wrong_format.returncode == 2 and "xml" in wrong_format.stderr
    missing = run_avrec(seeded, "ingest", "interactions", str(tmp_path / "nothere.csv"))
    assert missing.returncode == 1 and "nothere.csv" in missing.stderr
    bad_weight = run_avrec(seeded, "ingest", "interactions", "-", "--event-weight", "like", input=GOOD)
    assert bad_weight.returncode == 2
    assert table_state(seeded) == before


def test_bad_catalog_rejected_whole(seeded: Path, tmp_path: Path) -> None:
    path = tmp_path / "catalog.csv"
    path.write_text("item_id,title,tags\ni1,One,a|b\n,No id,c\ni3,Three,d\n")
    before = table_state(seeded)
    proc = run_avrec(seeded, "ingest", "catalog", str(path))
    assert proc.returncode == 1 and "catalog.csv" in proc.stderr and "line 3" in proc.stderr
    assert table_state(seeded) == before


def test_reader_commands_on_a_missing_store_exit_1_and_create_nothing(tmp_path: Path) -> None:
    store = tmp_path / "never-made"
    for args in (("recommend", "--user", "u1"), ("info",), ("explain", "--user", "u1", "--item", "i1"), ("fit",)):
        proc = run_avrec(store, *args)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, (args, proc.stderr)
        assert str(store) in proc.stderr
    assert not store.exists()
