"""SIGKILL `ingest interactions`, `embed` and `fit` at random points, then re-run (issue 7, item 3).

After every kill: `PRAGMA integrity_check` is ok and the store is usable (a model a reader can see is a whole
one). After the re-run: it exits 0 and the end state equals an uninterrupted run's -- the interaction rows
(ids and order included), users and items, the vectors' item/model ids and source hashes (values within
float tolerance), and the active model's recommendations for a fixed seed. Kill points are drawn from a
seeded generator over the whole run time, and some trials wait until the command has started writing, so
kills land in start-up, validation, encoding, training and in the middle of writes.
"""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.reliability.conftest import (
    avrec_args,
    avrec_env,
    db,
    integrity,
    ok,
    recommendations,
    run_avrec,
    same_recommendations,
    table_state,
    vector_blobs,
    write_catalog,
    write_log,
)

pytestmark = pytest.mark.slow

SEED = 20261128
INGEST_KILLS = 9
EMBED_KILLS = 4
FIT_KILLS = 8  # 21 kills in all


def _timed(store: Path, *args: str) -> float:
    started = time.perf_counter()
    ok(run_avrec(store, *args, timeout=600))
    return time.perf_counter() - started


def _count(store: Path, sql: str) -> int:
    if not (store / "avrec.db").exists():
        return 0
    try:
        conn = db(store)
        try:
            return int(conn.execute(sql).fetchone()[0])
        finally:
            conn.close()
    except Exception:  # noqa: BLE001 - the schema may not exist yet
        return 0


def _kill_during(store: Path, args: tuple[str, ...], delay: float, *, after_first_write: str | None = None) -> bool:
    """Start the command, SIGKILL it `delay` seconds in (or `delay` after `after_first_write` counts > 0).

    Returns True when it was killed, False when it finished first.
    """
    proc = subprocess.Popen(avrec_args(store, *args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=avrec_env())
    try:
        start = time.perf_counter()
        if after_first_write is not None:
            while proc.poll() is None and _count(store, after_first_write) == 0:
                if time.perf_counter() - start > 300:
                    raise AssertionError(f"{args} wrote nothing in 300 s")
                time.sleep(0.02)
            start = time.perf_counter()
        while proc.poll() is None and time.perf_counter() - start < delay:
            time.sleep(0.01)
        if proc.poll() is not None:
            return False
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        return True
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _assert_sound(store: Path) -> None:
    if (store / "avrec.db-journal").exists():
        # A first load into an empty store writes with a rollback journal (`Store._rollback_journal`): killed,
        # it leaves a hot journal that the next command to open the store rolls back, as `info` does here. A
        # read-only connection cannot roll it back and refuses to read until then.
        ok(run_avrec(store, "info"))
    if (store / "avrec.db").exists():
        assert integrity(store) == "ok"


def _run_trials(
    rng: random.Random,
    make_store: Callable[[int], Path],
    args: tuple[str, ...],
    duration: float,
    kills_wanted: int,
    after_first_write: str | None,
    check_after_kill: Callable[[Path], None] | None = None,
) -> list[Path]:
    """Kill runs until `kills_wanted` kills happened; re-run each killed store to completion. Returns them."""
    done: list[Path] = []
    kills = 0
    attempts = 0
    while kills < kills_wanted:
        attempts += 1
        assert attempts <= kills_wanted * 3, "the command keeps finishing before the kill point"
        store = make_store(attempts)
        targeted = after_first_write if attempts % 2 == 0 else None
        delay = rng.uniform(0.0, 0.5) if targeted else rng.uniform(0.05, 0.95 * duration)
        # Some stores are killed twice before the run that completes.
        for _ in range(1 + (attempts % 3 == 0)):
            if _kill_during(store, args, delay, after_first_write=targeted):
                kills += 1
                _assert_sound(store)
                if check_after_kill is not None:
                    check_after_kill(store)
            delay = rng.uniform(0.05, 0.95 * duration)
        ok(run_avrec(store, *args, timeout=600))
        _assert_sound(store)
        done.append(store)
    return done


def test_kill_ingest_interactions(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    log = write_log(tmp_path / "log.csv", n_rows=60_000, n_users=1500, n_items=800, seed=1)
    args = ("ingest", "interactions", str(log))
    baseline = tmp_path / "baseline"
    duration = _timed(baseline, *args)
    expected = table_state(baseline)
    assert expected["counts"]["interactions"] > 50_000

    stores = _run_trials(rng, lambda n: tmp_path / f"trial{n}", args, duration, INGEST_KILLS,
                         after_first_write="SELECT count(*) FROM interactions")
    for store in stores:
        assert table_state(store) == expected, f"{store.name} differs from the uninterrupted run"


def test_kill_embed_text(tmp_path: Path) -> None:
    rng = random.Random(SEED + 1)
    catalog = write_catalog(tmp_path / "catalog.csv", n_items=60, seed=2)
    prepared = tmp_path / "prepared"
    ok(run_avrec(prepared, "ingest", "catalog", str(catalog)))
    args = ("embed", "--modality", "text", "--batch-size", "4", "--format", "json")
    baseline = tmp_path / "baseline"
    shutil.copytree(prepared, baseline)
    duration = _timed(baseline, *args)
    expected = table_state(baseline)
    assert expected["counts"]["vectors"] == 60
    expected_vecs = vector_blobs(baseline)

    def make(n: int) -> Path:
        store = tmp_path / f"trial{n}"
        shutil.copytree(prepared, store)
        return store

    stores = _run_trials(rng, make, args, duration, EMBED_KILLS, after_first_write="SELECT count(*) FROM vectors")
    for store in stores:
        assert table_state(store) == expected, f"{store.name} differs from the uninterrupted run"
        got = vector_blobs(store)
        for key, blob in expected_vecs.items():
            np.testing.assert_allclose(np.frombuffer(got[key], "<f4"), np.frombuffer(blob, "<f4"), atol=1e-5)


def _add_text_vectors(store: Path) -> None:
    """Synthetic text vectors clustered like the log's tastes, so the hybrid's content side is exercised."""
    from avrec.store import Store, VectorRecord

    rng = np.random.default_rng(3)
    centers = rng.normal(size=(8, 24))
    with Store(store) as s:
        records = []
        for item_id in s.item_ids():
            j = int(item_id[1:])
            vec = centers[j % 8] + 0.3 * rng.normal(size=24)
            records.append(VectorRecord(item_id, "text", "test-text-24", vec.astype(np.float32), f"h{j}"))
        s.put_vectors(records)


def _model_files_consistent(store: Path) -> None:
    """A killed fit never leaves a visible half model: the active model (if any) serves recommendations."""
    if _count(store, "SELECT count(*) FROM store_state WHERE key = 'active_model'"):
        ok(run_avrec(store, "recommend", "--user", "u1", "-k", "3", "--format", "csv"))


def test_kill_fit(tmp_path: Path) -> None:
    rng = random.Random(SEED + 2)
    prepared = tmp_path / "prepared"
    ok(run_avrec(prepared, "ingest", "catalog", str(write_catalog(tmp_path / "catalog.csv", 400, seed=4))))
    ok(run_avrec(prepared, "ingest", "interactions",
                 str(write_log(tmp_path / "log.csv", n_rows=20_000, n_users=600, n_items=400, seed=5))))
    _add_text_vectors(prepared)
    args = ("fit", "--seed", "3", "--format", "json")
    baseline = tmp_path / "baseline"
    shutil.copytree(prepared, baseline)
    duration = _timed(baseline, *args)
    expected = recommendations(baseline)
    assert len(expected) == 600 * 5

    def make(n: int) -> Path:
        store = tmp_path / f"trial{n}"
        shutil.copytree(prepared, store)
        return store

    stores = _run_trials(rng, make, args, duration, FIT_KILLS,
                         after_first_write=None, check_after_kill=_model_files_consistent)
    for store in stores:
        assert same_recommendations(recommendations(store), expected), f"{store.name}: different recommendations"
        assert table_state(store) == table_state(baseline)
        leftovers = [p.name for d in ("models", "indexes") for p in (store / d).iterdir() if p.name.endswith(".tmp")]
        assert leftovers == [], f"temporary files left behind by killed fits: {leftovers}"
