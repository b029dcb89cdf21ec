"""Issue 14.1: avrec never deletes (or builds over) files it did not write.

A store is marked as one (`PRAGMA application_id` in avrec.db and a `.avrec-store` file); avrec refuses to
adopt a non-empty folder that is not a store, or a store whose database was lost, and `fit` only removes
files named the way avrec names a model version's files and recorded by the store as its own.
"""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

from tests.reliability.conftest import AVREC, avrec_env, ok, run_avrec, write_catalog, write_log


def _one_line_error(proc: object, code: int = 1) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stderr)  # type: ignore[attr-defined]
    stderr: str = proc.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("avrec: error:"), stderr
    return lines[0]


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _fitted(tmp_path: Path) -> Path:
    store = tmp_path / "store"
    ok(run_avrec(store, "ingest", "catalog", str(write_catalog(tmp_path / "c.csv", 30))))
    ok(run_avrec(store, "ingest", "interactions", str(write_log(tmp_path / "e.csv", 400, 20, 30))))
    ok(run_avrec(store, "fit", "--format", "json"))
    return store


def test_a_folder_holding_other_files_is_not_adopted(tmp_path: Path) -> None:
    proj = tmp_path / "proj"
    (proj / "models").mkdir(parents=True)
    (proj / "indexes" / "old.users").mkdir(parents=True)
    (proj / "models" / "my_weights.npz").write_text("x")
    (proj / "indexes" / "vocab.json").write_text("v")
    before = _files(proj)
    events = write_log(tmp_path / "ev.csv", 50, 5, 10)
    line = _one_line_error(run_avrec(proj, "ingest", "interactions", str(events)))
    assert str(proj) in line and "not an avrec store" in line
    _one_line_error(run_avrec(proj, "fit"))
    assert _files(proj) == before and (proj / "indexes" / "old.users").is_dir()
    assert not (proj / "avrec.db").exists()


def test_files_avrec_did_not_write_survive_every_fit(tmp_path: Path) -> None:
    store = _fitted(tmp_path)
    foreign = {
        store / "models" / "my_weights.npz": b"x",
        store / "indexes" / "vocab.json": b"v",
        # named exactly like avrec's own files, but no fit of this store wrote them
        store / "models" / "hybrid-20200101T000000-000000.npz": b"theirs",
        store / "indexes" / "hybrid-20200101T000000-000000.ann": b"theirs",
        store / "indexes" / ".hybrid-20200101T000000-000000.npz.abc.tmp": b"theirs",
        store / "notes.txt": b"mine",
    }
    for path, data in foreign.items():
        path.write_bytes(data)
    (store / "indexes" / "old.users").mkdir()
    (store / "indexes" / "old.users" / "users.npy").write_bytes(b"n")
    for _ in range(4):  # enough fits that older versions are pruned
        ok(run_avrec(store, "fit", "--format", "json"))
    ok(run_avrec(store, "fit", "--incremental", "--format", "json"))
    for path, data in foreign.items():
        assert path.read_bytes() == data, path
    assert (store / "indexes" / "old.users" / "users.npy").read_bytes() == b"n"


def test_a_killed_fits_leftovers_are_removed(tmp_path: Path) -> None:
    from avrec.store import Store

    store = _fitted(tmp_path)
    killed = "hybrid-20260101T000000-000007"
    with Store(store) as s:
        s.claim_model_key(killed)  # what `fit` records before writing any file
    leftovers = [store / "models" / f"{killed}.npz", store / "indexes" / f".{killed}.ann.x1.tmp"]
    for path in leftovers:
        path.write_bytes(b"half")
    ok(run_avrec(store, "fit", "--format", "json"))
    assert not any(path.exists() for path in leftovers)
    with Store(store) as s:
        assert killed not in s.pending_model_keys()


def test_a_zero_length_database_is_not_a_new_store(tmp_path: Path) -> None:
    store = _fitted(tmp_path)
    (store / "avrec.db").write_bytes(b"")
    for name in ("avrec.db-wal", "avrec.db-shm"):
        (store / name).unlink(missing_ok=True)
    before = _files(store)
    line = _one_line_error(run_avrec(store, "fit"))
    assert "lost its database" in line
    _one_line_error(run_avrec(store, "ingest", "interactions", str(tmp_path / "e.csv")))
    _one_line_error(run_avrec(store, "info", "--format", "json"))
    assert _files(store) == before  # the model files are all still there


def test_an_empty_store_option_does_not_adopt_the_current_folder(tmp_path: Path) -> None:
    events = write_log(tmp_path / "ev.csv", 20, 3, 5)
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.run(
        [*AVREC, "--store", "", "ingest", "interactions", str(events)], capture_output=True, text=True, cwd=work,
        env=avrec_env(), check=False, timeout=300,
    )
    assert proc.returncode == 2 and "--store" in proc.stderr and "Traceback" not in proc.stderr
    assert list(work.iterdir()) == []


def test_a_database_of_another_program_is_refused_and_left_alone(tmp_path: Path) -> None:
    folder = tmp_path / "theirs"
    folder.mkdir()
    conn = sqlite3.connect(folder / "avrec.db")
    conn.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT)")
    conn.commit()
    conn.close()
    before = _files(folder)
    line = _one_line_error(run_avrec(folder, "ingest", "interactions", str(write_log(tmp_path / "e.csv", 20, 3, 5))))
    assert "another program" in line
    assert _files(folder) == before


def test_a_store_from_before_the_marking_is_adopted_and_marked(tmp_path: Path) -> None:
    store = _fitted(tmp_path)
    (store / ".avrec-store").unlink()
    conn = sqlite3.connect(store / "avrec.db")
    conn.execute("PRAGMA application_id = 0")
    conn.commit()
    conn.close()
    ok(run_avrec(store, "recommend", "--all-users", "-k", "2", "--format", "csv"))
    assert (store / ".avrec-store").is_file()
    conn = sqlite3.connect(store / "avrec.db")
    assert conn.execute("PRAGMA application_id").fetchone()[0] != 0
    conn.close()
