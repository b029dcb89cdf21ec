"""User attribute ingest through the library API."""

from __future__ import annotations

import io
import json

import pytest

from avrec.errors import InputError
from avrec.ingest import RejectedFileError, ingest_users
from avrec.store import Store


def test_users_csv_attributes_kept_as_text(store: Store) -> None:
    report = ingest_users(
        store, io.StringIO("user_id,age,gender,occupation,zip\n1,24,M,technician,01002\n 2 ,53,F,,\n")
    )
    assert (report.stored, report.new, report.updated) == (2, 2, 0)
    assert store.user_attrs() == {
        "1": {"age": "24", "gender": "M", "occupation": "technician", "zip": "01002"},
        "2": {"age": "53", "gender": "F"},
    }


def test_users_upsert_merges_attributes(store: Store) -> None:
    ingest_users(store, io.StringIO("user_id,age,region\nu,30,EU\n"))
    report = ingest_users(store, io.StringIO('{"user_id": "u", "age": 31, "tier": "gold"}\n'), format="jsonl")
    assert (report.new, report.updated) == (0, 1)
    assert store.user_attrs()["u"] == {"age": 31, "region": "EU", "tier": "gold"}


def test_users_require_user_id(store: Store) -> None:
    with pytest.raises(InputError, match="missing required column 'user_id'"):
        ingest_users(store, io.StringIO("uid,age\n1,2\n"))
    with pytest.raises(RejectedFileError, match="line 3: empty user_id"):
        ingest_users(store, io.StringIO("user_id,age\n1,2\n,3\n"))
    assert store.user_ids() == []


def test_users_bad_json_values(store: Store) -> None:
    lines = [json.dumps({"user_id": "a", "age": 5}), '{"user_id": "b", "age": Infinity}', '{"user_id": true}']
    report = ingest_users(store, io.StringIO("\n".join(lines) + "\n"), skip_bad_rows=True)
    assert report.stored == 1 and [(b.line, b.message) for b in report.bad_rows] == [
        (2, "age must be a finite number, found inf"),
        (3, "user_id must be text or a number, found True"),
    ]
