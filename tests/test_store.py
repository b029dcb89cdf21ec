"""The store: migrations, pragmas, permissions, vectors, atomic files, the writer lock."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import numpy as np
import pytest

from avrec.errors import StoreError, StoreLockedError
from avrec.store import Interaction, Item, Store, VectorRecord, atomic_path
from avrec.store.migrations import MIGRATIONS


def test_new_store_layout_and_pragmas(store: Store, store_dir: Path) -> None:
    assert (store_dir / "avrec.db").exists()
    assert (store_dir / "indexes").is_dir() and (store_dir / "models").is_dir()
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 10_000
    assert stat.S_IMODE(os.stat(store_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(store_dir / "avrec.db").st_mode) == 0o600


def test_migrations_recorded_once(store_dir: Path) -> None:
    Store(store_dir).close()
    with Store(store_dir) as again:
        rows = again.conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    assert [r[0] for r in rows] == [m[0] for m in MIGRATIONS]
    assert [m[0] for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))


def test_failed_migration_rolls_back(store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Store(store_dir).close()
    broken = [*MIGRATIONS, (len(MIGRATIONS) + 1, "broken", "CREATE TABLE extra(x INTEGER); SELECT * FROM nowhere")]
    monkeypatch.setattr("avrec.store.migrations.MIGRATIONS", broken)
    with pytest.raises((StoreError, sqlite3.OperationalError)):
        Store(store_dir)
    conn = sqlite3.connect(store_dir / "avrec.db")
    assert conn.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] == len(MIGRATIONS)
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'extra'").fetchone()[0] == 0


def test_reader_does_not_create_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no store"):
        Store(tmp_path / "missing", create=False)
    assert not (tmp_path / "missing").exists()


def test_item_upsert_keeps_unspecified_fields(store: Store) -> None:
    store.upsert_items([Item("a", title="A", description="d", tags=["x", "y"], attrs={"year": 1999})])
    store.upsert_items([Item("a", title="A2", attrs={"lang": "en"})])
    item = store.get_item("a")
    assert item is not None
    assert (item.title, item.description, item.tags) == ("A2", "d", ["x", "y"])
    assert item.attrs == {"year": 1999, "lang": "en"}


def test_interactions_dedup_and_bare_ids(store: Store) -> None:
    rows = [Interaction("u", "i1", "view", 10.0), Interaction("u", "i1", "view", 10.0), Interaction("u", "i2")]
    assert store.add_interactions(rows) == (2, 1, 1, 2)
    assert store.add_interactions([Interaction("u", "i2")]) == (0, 1, 0, 0)
    assert store.interaction_count() == 2
    assert store.user_history("u") == [("i1", 1.0), ("i2", 1.0)]


def test_vectors_roundtrip_little_endian(store: Store) -> None:
    store.upsert_items([Item("a"), Item("b")])
    vec = np.arange(5, dtype=np.float64) / 3
    store.put_vectors([VectorRecord("a", "text", "m1", vec, "h1"), VectorRecord("b", "text", "m1", vec * 2, "h2")])
    ids, mat, models = store.vectors("text")
    assert ids == ["a", "b"] and models == ["m1", "m1"]
    np.testing.assert_array_equal(mat[0], vec.astype("<f4"))
    blob = store.conn.execute("SELECT vec FROM vectors WHERE item_id='a'").fetchone()[0]
    assert blob == vec.astype("<f4").tobytes()
    assert store.vector_state("text") == {"a": ("m1", "h1"), "b": ("m1", "h2")}
    with pytest.raises(StoreError):
        store.put_vectors([VectorRecord("a", "text", "m1", np.array([np.nan]), "h")])


def test_atomic_path_keeps_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "model.npz"
    target.write_text("good")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert target.read_text() == "good"
    assert list(tmp_path.iterdir()) == [target]
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"


def test_writer_lock_is_exclusive(store: Store) -> None:
    with store.writer_lock("fit"):
        with pytest.raises(StoreLockedError, match="fit"), store.writer_lock("embed"):
            pass
    with store.writer_lock("embed"):
        pass


def test_atomic_rolls_back(store: Store) -> None:
    with pytest.raises(ValueError), store.atomic() as conn:
        conn.execute("INSERT INTO users(user_id, created_at, updated_at) VALUES ('x', 0, 0)")
        raise ValueError("boom")
    assert not store.user_exists("x")


def test_interaction_codes_equal_the_events_read_one_by_one(store: Store) -> None:
    rows = [
        Interaction("u,1", "i\n1", "view", 10.0, weight=0.1 + 0.2),
        Interaction("u2", "", "skip", None, weight=-1.0),
        Interaction("ü", "i\r2", "view", 3.0, weight=1e-300),
        Interaction("u2", "i3", "view", 4.0, weight=2.5),
    ]
    store.add_interactions(rows)
    with store.atomic() as conn:  # a gap in the event ids
        conn.execute("DELETE FROM interactions WHERE id = 2")
    users, items, weights, _ = store.interactions()
    vocab_u, vocab_i = sorted(set(users)), ["i\r2", "", "i\n1", "gone"]
    got = store.interaction_codes(vocab_u, vocab_i, size=2)  # ranges of 2 ids: one may be empty
    assert got is not None
    assert got[0].tolist() == [vocab_u.index(u) for u in users]
    assert got[1].tolist() == [vocab_i.index(i) if i in vocab_i else -1 for i in items]  # i3: absent
    assert got[2].tobytes() == weights.tobytes()  # the same floats, bit for bit (one event a range: one weight)
    whole = store.interaction_codes(vocab_u, vocab_i)  # one range of several weights
    assert whole is not None and whole[2].tobytes() == weights.tobytes()
    only = store.interaction_codes(["u2"], [])
    assert only is not None and only[0].tolist() == [0 if u == "u2" else -1 for u in users]
    assert only[1].tolist() == [-1] * len(items)
    store.add_interactions([Interaction("u\x1fsep", "i3")])  # an id holding the separator: read them one by one
    assert store.interaction_codes(vocab_u, vocab_i) is None
