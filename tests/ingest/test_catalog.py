"""Catalog ingest through the library API."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from avrec.errors import InputError
from avrec.ingest import RejectedFileError, ingest_catalog
from avrec.store import Store


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def test_csv_catalog_with_tags_creator_and_attrs(store: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "catalog.csv",
        "item_id,title,description,tags,path,creator,genre,year\r\n"
        'm1,Big Buck Bunny,"A rabbit, a forest",animation| comedy||animation,bbb.mp4,Blender,family,2008\r\n'
        "m2,,,,,,,\r\n",
    )
    report = ingest_catalog(store, path)
    assert (report.rows_read, report.stored, report.new, report.updated) == (2, 2, 2, 0)
    assert report.summary() == f"{path}: 2 rows read; 2 stored (2 new, 0 updated)"
    item = store.require_item("m1")
    assert item.title == "Big Buck Bunny" and item.description == "A rabbit, a forest"
    assert item.tags == ["animation", "comedy"] and item.path == "bbb.mp4" and item.creator == "Blender"
    assert item.attrs == {"genre": "family", "year": "2008"}
    bare = store.require_item("m2")
    assert bare.title is None and bare.tags == [] and bare.attrs == {}


def test_only_item_id_is_required(store: Store) -> None:
    report = ingest_catalog(store, io.StringIO("item_id\na\nb\n"))
    assert report.new == 2 and store.item_ids() == ["a", "b"]


def test_second_catalog_with_fewer_columns_keeps_stored_values(store: Store) -> None:
    ingest_catalog(store, io.StringIO("item_id,title,tags,description,genre\ni1,Old,a|b,desc,drama\n"))
    report = ingest_catalog(store, io.StringIO("item_id,title,mood\ni1,New,calm\ni2,Other,\n"))
    assert (report.new, report.updated) == (1, 1)
    item = store.require_item("i1")
    assert item.title == "New" and item.tags == ["a", "b"] and item.description == "desc"
    assert item.attrs == {"genre": "drama", "mood": "calm"}
    ingest_catalog(store, io.StringIO("item_id,title,tags\ni1,,\n"))
    assert store.require_item("i1").title == "New" and store.require_item("i1").tags == ["a", "b"]


def test_jsonl_catalog_with_tag_list_and_json_attrs(store: Store) -> None:
    rows = [
        {"item_id": "ñ-1", "title": "Café", "tags": ["jazz", " live "], "rating": 4.5, "meta": {"k": [1, 2]}},
        {"item_id": 7, "tags": "a|b", "note": None},
    ]
    report = ingest_catalog(store, io.StringIO("".join(json.dumps(r) + "\n" for r in rows)), format="jsonl")
    assert report.stored == 2
    item = store.require_item("ñ-1")
    assert item.tags == ["jazz", "live"] and item.attrs == {"rating": 4.5, "meta": {"k": [1, 2]}}
    assert store.require_item("7").tags == ["a", "b"]


def test_missing_item_id_column_names_file_and_column(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "cat.csv", "id,title\n1,x\n")
    with pytest.raises(
        InputError, match=r"cat\.csv: missing required column 'item_id' \(columns found: id, title\)"
    ):
        ingest_catalog(store, path)


def test_bad_rows_reject_the_whole_file(store: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "cat.jsonl",
        '{"item_id": "ok"}\n{"item_id": "  "}\n{"title": "x"}\n{"item_id": "t", "tags": 5}\n'
        '{"item_id": "n", "score": NaN}\n{"item_id": [1]}\n',
    )
    with pytest.raises(RejectedFileError) as info:
        ingest_catalog(store, path)
    message = str(info.value)
    for expected in (
        "cat.jsonl: 5 bad rows",
        "line 2: empty item_id",
        "line 3: missing item_id",
        "line 4: tags",
        "line 5: score must be a finite number",
        "line 6: item_id must be text",
        "use --skip-bad-rows to store the good rows",
    ):
        assert expected in message
    assert store.item_ids() == []
    report = ingest_catalog(store, path, skip_bad_rows=True)
    assert (
        report.stored == 1 and report.bad_count == 5 and [b.line for b in report.bad_rows] == [2, 3, 4, 5, 6]
    )
    assert not report.ok and store.item_ids() == ["ok"]


def test_empty_file_is_an_error(store: Store, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="empty.csv is empty"):
        ingest_catalog(store, write(tmp_path, "empty.csv", ""))
    with pytest.raises(InputError, match="is empty"):
        ingest_catalog(store, write(tmp_path, "blank.jsonl", "\n  \n"))
    report = ingest_catalog(store, write(tmp_path, "header.csv", "item_id,title\n"))
    assert report.rows_read == 0 and report.ok


def test_batches_span_many_transactions(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("avrec.ingest.catalog.BATCH_SIZE", 7)
    report = ingest_catalog(store, io.StringIO("item_id\n" + "".join(f"i{n}\n" for n in range(50))))
    assert report.new == 50 and len(store.item_ids()) == 50


def test_reingesting_the_same_catalog_changes_nothing(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "cat.csv", "item_id,title,tags,lang\na,A,x|y,en\nb,B,,fr\na,A2,,\n")
    first = ingest_catalog(store, path)
    state = list(store.iter_items())
    again = ingest_catalog(store, path)
    assert (first.new, first.updated, again.new, again.updated) == (2, 1, 0, 3)
    assert list(store.iter_items()) == state and store.require_item("a").title == "A2"
