"""Several avrec processes on one store at once (issue 5, item 4 and its Shows; issue 7, item 4).

- Two `ingest interactions` processes and a `recommend` loop run together: every row is stored once, and no
  process fails or reports "database is locked".
- `fit` while `recommend` serves the previous model: every answer is exactly the old model's or exactly the
  new model's, never a mix, and never an error.
- A second `fit` while one runs fails fast (exit 1) with the writer-lock message; the first one succeeds.
"""

from __future__ import annotations

import csv
import subprocess
import time
from pathlib import Path

import pytest

from tests.reliability.conftest import (
    integrity,
    ok,
    popen_avrec,
    run_avrec,
    table_state,
    write_catalog,
    write_log,
)

# Each test runs several avrec processes side by side for 10-25 s on two cores.
pytestmark = pytest.mark.slow


def _rows(path: Path) -> set[tuple[str, str, str, str]]:
    with path.open(newline="") as fh:
        return {(r["user_id"], r["item_id"], r["event"], r["timestamp"]) for r in csv.DictReader(fh)}


def _fitted(tmp_path: Path, n_rows: int, n_users: int, n_items: int, *fit_args: str) -> Path:
    store = tmp_path / "store"
    ok(run_avrec(store, "ingest", "catalog", str(write_catalog(tmp_path / "catalog.csv", n_items, seed=1))))
    ok(run_avrec(store, "ingest", "interactions",
                 str(write_log(tmp_path / "base.csv", n_rows, n_users, n_items, seed=2))))
    ok(run_avrec(store, "fit", "--format", "json", *fit_args))
    return store


def _no_lock_errors(*stderrs: str) -> None:
    for text in stderrs:
        assert "locked" not in text.lower() and "Traceback" not in text, text[-2000:]


def test_two_ingests_and_a_recommend_loop(tmp_path: Path) -> None:
    store = _fitted(tmp_path, 3000, 200, 300, "--model", "mf")
    log_a = write_log(tmp_path / "a.csv", 40_000, 800, 300, seed=11, t0=1_710_000_000)
    log_b = write_log(tmp_path / "b.csv", 40_000, 800, 300, seed=12, t0=1_720_000_000)
    # Both logs also carry the same 2,000 events: stored once, whichever process gets there first.
    shared = write_log(tmp_path / "shared.csv", 2000, 100, 300, seed=13, t0=1_730_000_000)
    shared_lines = shared.read_text().splitlines()[1:]
    with log_a.open("a") as fa, log_b.open("a") as fb:
        for line in shared_lines:
            fa.write(line + "\n")
            fb.write(line + "\n")
    expected = _rows(tmp_path / "base.csv") | _rows(log_a) | _rows(log_b)

    ingest_a = popen_avrec(store, "ingest", "interactions", str(log_a), "--output-format", "json")
    ingest_b = popen_avrec(store, "ingest", "interactions", str(log_b), "--output-format", "json")
    served = 0
    while ingest_a.poll() is None or ingest_b.poll() is None or served < 2:
        rec = run_avrec(store, "recommend", "--user", "u1", "-k", "5", "--format", "csv")
        assert rec.returncode == 0, rec.stderr
        _no_lock_errors(rec.stderr)
        assert len(rec.stdout.splitlines()) == 6
        served += 1
    out_a, err_a = ingest_a.communicate()
    out_b, err_b = ingest_b.communicate()
    assert ingest_a.returncode == 0, err_a
    assert ingest_b.returncode == 0, err_b
    _no_lock_errors(err_a, err_b)

    state = table_state(store)
    stored = {(u, i, e, str(int(ts))) for _, u, i, e, ts, _ in state["interactions"]}
    assert state["counts"]["interactions"] == len(expected) and stored == expected
    assert integrity(store) == "ok"


def test_fit_while_recommend_serves_old_or_new_never_a_mix(tmp_path: Path) -> None:
    store = _fitted(tmp_path, 40_000, 1000, 600, "--model", "mf", "--seed", "1")
    users = tmp_path / "users.txt"
    users.write_text("\n".join(f"u{n}" for n in range(0, 1000, 20)) + "\n")
    args = ("recommend", "--users", str(users), "-k", "5", "--format", "csv")
    old = ok(run_avrec(store, *args)).stdout

    fit = popen_avrec(store, "fit", "--model", "mf", "--seed", "2", "--param", "iterations=15", "--format", "json")
    answers: list[str] = []
    while fit.poll() is None:
        rec = run_avrec(store, *args)
        assert rec.returncode == 0, rec.stderr
        _no_lock_errors(rec.stderr)
        answers.append(rec.stdout)
    _, fit_err = fit.communicate()
    assert fit.returncode == 0, fit_err
    new = ok(run_avrec(store, *args)).stdout
    assert new != old, "the two models should rank differently, or this test proves nothing"
    assert answers, "fit finished before any recommend ran"
    mixed = [n for n, a in enumerate(answers) if a not in (old, new)]
    assert not mixed, f"{len(mixed)} of {len(answers)} answers were neither the old nor the new model's"


def test_second_fit_fails_fast_with_the_writer_lock_message(tmp_path: Path) -> None:
    store = _fitted(tmp_path, 40_000, 1000, 600, "--model", "mf")
    lock = store / ".writer.lock"
    first: subprocess.Popen[str] | None = None
    for iterations in (40, 120):  # a longer first fit if the machine was too fast to catch it running
        first = popen_avrec(store, "fit", "--model", "mf", "--param", f"iterations={iterations}", "--format", "json")
        deadline = time.monotonic() + 120
        while first.poll() is None and "avrec fit" not in lock.read_text(errors="replace"):
            assert time.monotonic() < deadline, "the first fit never took the writer lock"
            time.sleep(0.02)
        started = time.monotonic()
        second = run_avrec(store, "fit", "--model", "mf", "--format", "json")
        waited = time.monotonic() - started
        still_running = first.poll() is None
        _, err = first.communicate()
        assert first.returncode == 0, err
        if not still_running and second.returncode == 0:
            continue  # the first fit ended before the second started: not a collision, try a longer one
        assert second.returncode == 1, second.stderr
        assert "writer lock" in second.stderr and "avrec fit" in second.stderr, second.stderr
        assert second.stderr.startswith("avrec: error:") and "Traceback" not in second.stderr
        assert waited < 30, f"the second fit waited {waited:.1f}s instead of failing fast"
        assert second.stdout == ""
        return
    pytest.fail("could not make two fits overlap")
