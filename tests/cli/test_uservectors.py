"""Stored user vectors (`avrec.uservectors`): the same answer as the full path, and only while it is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from avrec.recommend import recommend
from avrec.serving import uservectors
from avrec.serving.served import load_served
from avrec.store import USER_VECTORS_SUFFIX, Store
from tests.cli.conftest import invoke


def full_path(store: Store, user: str, **kwargs: Any) -> list[tuple[str, float]]:
    """The ordinary path: passing `served` skips the stored vectors."""
    return [(r.item_id, r.score) for r in recommend(store, users=[user], served=load_served(store), **kwargs)]


def quick(
    store: Store, user: str, *, k: int = 5, include_seen: bool = False, use_index: bool | None = None
) -> list[tuple[str, float]] | None:
    got = uservectors.recommend_one(store, user, k, include_seen, use_index)
    return None if got is None else [(r.item_id, r.score) for r in got]


def same(a: list[tuple[str, float]] | None, b: list[tuple[str, float]]) -> None:
    assert a is not None
    assert [i for i, _ in a] == [i for i, _ in b]
    np.testing.assert_allclose([s for _, s in a], [s for _, s in b], rtol=1e-5, atol=1e-6)


@pytest.fixture
def with_attrs(fitted_store: Path, runner: CliRunner, tmp_path: Path) -> Path:
    """The fitted store with user attributes, refitted so the hybrid uses them."""
    users = tmp_path / "users.csv"
    users.write_text("user_id,country\n" + "".join(f"{g}_{u},{'fr' if u % 2 else 'de'}\n"
                                                   for g in ("nature", "city", "music") for u in range(6)))
    assert invoke(runner, fitted_store, "ingest", "users", str(users)).exit_code == 0
    assert invoke(runner, fitted_store, "fit", "--format", "json").exit_code == 0
    return fitted_store


@pytest.mark.parametrize("model", ["hybrid", "mf", "content", "popular"])
def test_every_known_user_gets_the_full_paths_answer(
    with_attrs: Path, runner: CliRunner, model: str
) -> None:
    assert invoke(runner, with_attrs, "fit", "--model", model, "--format", "json").exit_code == 0
    with Store(with_attrs) as store:
        record = store.active_model()
        assert record is not None and store.user_vectors_dir(record.model_key).is_dir()
        for user in store.user_ids():
            same(quick(store, user), full_path(store, user, k=5))
            same(quick(store, user, k=30, include_seen=True), full_path(store, user, k=30, include_seen=True))
            same(quick(store, user, use_index=True), full_path(store, user, k=5, use_index=True))


def test_a_user_changed_since_the_fit_takes_the_full_path(with_attrs: Path, runner: CliRunner, tmp_path: Path) -> None:
    with Store(with_attrs) as store:
        before = full_path(store, "city_0", k=5)
        assert quick(store, "city_0") is not None and quick(store, "music_1") is not None
    events = tmp_path / "new.csv"
    events.write_text("user_id,item_id,timestamp,event\ncity_0,rain,1800000000,view\ncity_0,ocean,1800000001,view\n")
    assert invoke(runner, with_attrs, "ingest", "interactions", str(events)).exit_code == 0
    attrs = tmp_path / "attrs.csv"
    attrs.write_text("user_id,country\nmusic_1,de\n")
    assert invoke(runner, with_attrs, "ingest", "users", str(attrs)).exit_code == 0
    with Store(with_attrs) as store:
        assert quick(store, "city_0") is None  # new events
        assert quick(store, "music_1") is None  # new attributes
        assert quick(store, "nature_2") is not None  # untouched
        now = [(r.item_id, r.score) for r in recommend(store, users=["city_0"], k=5)]
        assert now == full_path(store, "city_0", k=5)
        assert "rain" not in [i for i, _ in now] and now != before


def test_unknown_users_and_models_without_vectors_take_the_full_path(fitted_store: Path, runner: CliRunner) -> None:
    with Store(fitted_store) as store:
        assert quick(store, "nobody") is None
    assert invoke(runner, fitted_store, "recommend", "--user", "nobody").exit_code == 1
    assert invoke(runner, fitted_store, "fit", "--model", "itemknn", "--format", "json").exit_code == 0
    with Store(fitted_store) as store:
        record = store.active_model()
        assert record is not None and not store.user_vectors_dir(record.model_key).exists()
        assert quick(store, "city_0") is None
        assert len(list(recommend(store, users=["city_0"], k=3))) == 3


def test_a_missing_or_damaged_table_falls_back(fitted_store: Path) -> None:
    with Store(fitted_store) as store:
        record = store.active_model()
        assert record is not None
        folder = store.user_vectors_dir(record.model_key)
        (folder / "users.npy").write_bytes(b"not an array")
        assert quick(store, "city_0") is None
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
        assert quick(store, "city_0") is None
        assert len(list(recommend(store, users=["city_0"], k=3))) == 3


def test_no_table_beyond_the_size_budget(
    fitted_store: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(uservectors, "BUDGET_BYTES", 64)
    assert invoke(runner, fitted_store, "fit", "--format", "json").exit_code == 0
    with Store(fitted_store) as store:
        record = store.active_model()
        assert record is not None and not store.user_vectors_dir(record.model_key).exists()
        assert quick(store, "city_0") is None


def test_ids_that_a_numpy_string_array_would_change_are_not_tabled(tmp_path: Path) -> None:
    args = {"users": np.zeros((1, 2)), "attrs_text": {}, "items": np.zeros((1, 2)), "last_event_id": 1}
    assert not uservectors.write(tmp_path / "a.users", user_ids=["u\x00"], item_ids=["i"], **args)  # type: ignore[arg-type]
    assert not (tmp_path / "a.users").exists()
    assert uservectors.write(tmp_path / "b.users", user_ids=["ü ,\"'"], item_ids=["i"], **args)  # type: ignore[arg-type]


def test_old_tables_are_pruned_with_their_models(fitted_store: Path, runner: CliRunner) -> None:
    for _ in range(4):
        assert invoke(runner, fitted_store, "fit", "--format", "json").exit_code == 0
    with Store(fitted_store) as store:
        kept = {p.stem for p in store.models_dir.glob("*.npz")}
        tables = {p.name[: -len(USER_VECTORS_SUFFIX)] for p in store.indexes_dir.glob(f"*{USER_VECTORS_SUFFIX}")}
        assert tables == kept and len(kept) == 3
        # A fit killed while writing its table: the key was claimed, the folder never renamed into place.
        killed = "hybrid-20260101T000000-000001"
        store.claim_model_key(killed)
        stale = store.indexes_dir / f".{killed}.users.tmp"
        stale.mkdir()
        (stale / "users.npy").write_bytes(b"")
        # Not avrec's (issue 14.1): named like a table, but no fit recorded it.
        foreign = store.indexes_dir / ".x.users.tmp"
        foreign.mkdir()
    assert invoke(runner, fitted_store, "fit", "--format", "json").exit_code == 0
    assert not stale.exists()
    assert foreign.exists()


def test_an_incremental_fit_writes_a_table_with_the_same_answers(
    with_attrs: Path, runner: CliRunner, tmp_path: Path
) -> None:
    events = tmp_path / "more.csv"
    events.write_text("user_id,item_id,timestamp,event\nnewbie,drums,1800000000,view\nnewbie,piano,1800000001,view\n"
                      "city_0,rain,1800000002,view\n")
    assert invoke(runner, with_attrs, "ingest", "interactions", str(events)).exit_code == 0
    assert invoke(runner, with_attrs, "fit", "--incremental", "--format", "json").exit_code == 0
    with Store(with_attrs) as store:
        for user in store.user_ids():
            same(quick(store, user), full_path(store, user, k=5))


def test_the_checks_written_in_bulk_are_the_ones_a_request_recomputes() -> None:
    rng = np.random.default_rng(0)
    ids = ["u1", "ü2", "", "u\udc80"]  # (a lone surrogate: the id is encoded as `_row_check` encodes it)
    rows = rng.standard_normal((4, 5)).astype(np.float32)
    texts = ['{"a": 1}', None, '{"a": 1}', "{}"]
    digests = uservectors._digests(texts)
    assert digests.tolist() == [uservectors.attrs_digest(t) for t in texts]
    checks = uservectors._row_checks(ids, rows, digests)
    assert checks.dtype == np.uint32
    assert checks.tolist() == [uservectors._row_check(u, rows[r], int(digests[r])) for r, u in enumerate(ids)]
