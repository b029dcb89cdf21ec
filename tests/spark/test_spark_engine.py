"""The Spark engine: fit on Spark -> save -> load -> recommend/explain, and batch recommend to Parquet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp

from avrec.engines.spark import (
    SparkALS,
    WorkDir,
    default_reg_param,
    exact_user_factors,
    export_interactions,
    fit_spark,
    recommend_spark,
    split_params,
)
from avrec.errors import UsageError
from avrec.model import ContentMatrix, TrainData, als, load_model, make_model
from avrec.progress import NullProgress
from avrec.store import Interaction, Item, Store

N_USERS, N_ITEMS, N_COLD = 60, 40, 4
PARAMS = {"factors": 8, "iterations": 4}


def synthetic(seed: int = 0) -> TrainData:
    """Two taste clusters over warm items, plus `N_COLD` items with content but no interactions."""
    rng = np.random.default_rng(seed)
    rows, cols = [], []
    warm = N_ITEMS - N_COLD
    for u in range(N_USERS):
        group = u % 2
        pool = np.arange(group, warm, 2)
        for j in rng.choice(pool, size=8, replace=False):
            rows.append(u)
            cols.append(int(j))
    matrix = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(N_USERS, N_ITEMS))
    vectors = np.zeros((N_ITEMS, 4), np.float32)
    vectors[np.arange(N_ITEMS) % 2 == 0, 0] = 1.0
    vectors[np.arange(N_ITEMS) % 2 == 1, 1] = 1.0
    vectors += rng.normal(0, 0.05, vectors.shape).astype(np.float32)
    content = {"text": ContentMatrix(vectors, np.ones(N_ITEMS, bool), "test-text")}
    return TrainData(
        [f"u{u:03d}" for u in range(N_USERS)], [f"i{i:03d}" for i in range(N_ITEMS)], matrix, content
    )


# -- no Spark needed ------------------------------------------------------------------------------
def test_exact_user_factors_matches_local_solver() -> None:
    data = synthetic()
    rng = np.random.default_rng(1)
    y = rng.standard_normal((N_ITEMS, 6)).astype(np.float32)
    conf = data.interactions[:20] * 2.0
    np.testing.assert_allclose(exact_user_factors(y, conf, 3.0), als.solve_exact(y, conf, 3.0), atol=1e-10)


def test_default_reg_param_is_interaction_weighted() -> None:
    m = sp.csr_matrix(np.array([[1, 1, 1, 1], [1, 0, 0, 0]], dtype=np.float32))
    # users with 4 and 1 interactions: sum n^2 / sum n = 17 / 5; items with 2, 1, 1, 1: 7 / 5
    assert default_reg_param(m, 10.0) == pytest.approx(10.0 / np.sqrt(17 / 5 * 7 / 5))


def test_split_params_separates_engine_and_spark_settings() -> None:
    model, engine, conf = split_params(
        {"factors": 8, "spark_reg_param": 0.1, "spark.executor.memory": "4g", "alpha": 2}
    )
    assert model == {"factors": 8, "alpha": 2}
    assert engine == {"spark_reg_param": 0.1}
    assert conf == {"spark.executor.memory": "4g"}


def test_fit_spark_rejects_models_without_factors() -> None:
    with pytest.raises(UsageError, match="--engine local"):
        fit_spark(synthetic(), model="popular")
    with pytest.raises(UsageError, match="tune"):
        fit_spark(synthetic(), model="mf", params={"tune": True})


def test_exact_user_factors_with_one_penalty_per_user() -> None:
    data = synthetic()
    rng = np.random.default_rng(2)
    y = rng.standard_normal((N_ITEMS, 5))
    conf = sp.csr_matrix(data.interactions[:6] * 1.5)
    reg = np.linspace(0.5, 4.0, 6)
    x = exact_user_factors(y, conf, reg)
    for u in range(6):
        items = conf.indices[conf.indptr[u] : conf.indptr[u + 1]]
        c_minus_1 = conf.data[conf.indptr[u] : conf.indptr[u + 1]]
        a = als.user_system(y, items, c_minus_1, float(reg[u]))
        np.testing.assert_allclose(x[u], np.linalg.solve(a, ((c_minus_1 + 1)[:, None] * y[items]).sum(0)), atol=1e-10)


def test_export_interactions_round_trips(tmp_path: Path) -> None:
    data = synthetic()
    n = export_interactions(data, tmp_path / "export")
    table = pq.read_table(tmp_path / "export" / "interactions.parquet")
    assert n == data.interactions.nnz == table.num_rows
    back = sp.csr_matrix(
        (table.column("weight").to_numpy(), (table.column("user").to_numpy(), table.column("item").to_numpy())),
        shape=data.interactions.shape,
    )
    assert (back != data.interactions).nnz == 0
    assert pq.read_table(tmp_path / "export" / "items.parquet").column("item_id").to_pylist() == data.item_ids


# -- on Spark (local[2]) -------------------------------------------------------------------------------
@pytest.mark.spark
def test_spark_als_is_a_back_end_the_model_holds(spark: Any, tmp_path: Path) -> None:
    import pyarrow.fs as pafs

    before = (als.fit_als, als.solve_users)
    backend = SparkALS(spark, WorkDir(str(tmp_path), pafs.LocalFileSystem(), str(tmp_path)), seed=1)
    assert isinstance(backend, als.ALSBackend)
    model = make_model("mf", als_backend=backend, **PARAMS)
    assert model.als_backend is backend  # type: ignore[attr-defined]
    model.fit(synthetic())
    assert backend.info.als_seconds > 0 and backend.info.user_solves == 1
    assert (als.fit_als, als.solve_users) == before  # nothing patched
    assert isinstance(make_model("mf").als_backend, type(als.default_backend()))  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="als_backend"):
        make_model("mf", als_backend="spark")


@pytest.mark.spark
@pytest.mark.parametrize("kind", ["mf", "hybrid"])
def test_fit_spark_saves_a_local_format_model(spark: Any, tmp_path: Path, kind: str) -> None:
    data = synthetic()
    info: dict[str, Any] = {}
    model, seconds = fit_spark(data, model=kind, seed=7, params=PARAMS, master="local[2]", info=info)
    assert seconds > 0 and info["reg_param"] > 0 and info["als_seconds"] > 0
    assert info["user_solves"] == 1  # one exact user solve, after the cold-item projection
    path = model.save(tmp_path / "model.npz")
    loaded = load_model(path)
    assert loaded.kind == kind and loaded.item_ids == data.item_ids
    h = data.interactions
    users = np.arange(N_USERS)
    np.testing.assert_allclose(loaded.score(h, users), model.score(h, users), rtol=1e-6)
    # Stored user factors are the exact fold-in: a known user scores like the same history folded in anew.
    np.testing.assert_allclose(loaded.score(h[:5], users[:5]), loaded.score(h[:5], -np.ones(5, np.int64)), atol=1e-4)
    # The factors learned the two taste groups: each user's top items are from their own group.
    idx, _ = loaded.recommend(h, users, k=3)
    same_group = [j % 2 == u % 2 for u in users for j in idx[u] if 0 <= j < N_ITEMS - N_COLD]
    assert np.mean(same_group) > 0.9
    explanation = loaded.explain(h[0], 0, int(idx[0, 0]))
    assert sum(explanation.parts.values()) == pytest.approx(explanation.score, abs=1e-4)
    if kind == "hybrid":
        cold = np.arange(N_ITEMS - N_COLD, N_ITEMS)
        assert np.all(loaded.score(h[:1], users[:1])[0, cold] != 0)  # cold items still scored from content


def data_items() -> list[str]:
    return synthetic().item_ids


def _store_with_events(root: Path) -> Store:
    data = synthetic()
    store = Store(root)
    coo = data.interactions.tocoo()
    store.add_interactions(
        [Interaction(data.user_ids[u], data.item_ids[i], "view", 1_700_000_000.0 + n, 1.0)
         for n, (u, i) in enumerate(zip(coo.row.tolist(), coo.col.tolist(), strict=True))]
    )
    return store


@pytest.mark.spark
def test_fit_engine_spark_then_recommend_and_recommend_spark(spark: Any, tmp_path: Path) -> None:
    from avrec.recommend import recommend
    from avrec.training.fit import fit

    store = _store_with_events(tmp_path / "store")
    try:
        report = fit(store, model="mf", seed=3, params=PARAMS,
                     engine="spark", spark_master="local[2]")
        assert report.engine == "spark" and report.users == N_USERS
        # Issue 14.10: a skip (a zero-weight event) on what would be each user's first item; both engines must
        # leave it out.
        firsts = [r for r in recommend(store, all_users=True, k=1, use_index=False)][:10]
        store.add_interactions([Interaction(r.user_id, r.item_id, "skip", 1_800_000_000.0, 0.0) for r in firsts])
        local_rows = list(recommend(store, all_users=True, k=3, use_index=False))
        assert not {(r.user_id, r.item_id) for r in firsts} & {(r.user_id, r.item_id) for r in local_rows}
        assert len(local_rows) == N_USERS * 3

        out = tmp_path / "recs"
        result = recommend_spark(store, output=out, k=3, master="local[2]")
        assert result.rows == N_USERS * 3 and result.users == N_USERS
        table = pq.read_table(out)
        assert table.column_names == ["user_id", "item_id", "rank", "score"]
        spark_rows = sorted(zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True))
        expected = sorted((r.user_id, r.item_id, r.rank, r.score) for r in local_rows)
        assert [r[:3] for r in spark_rows] == [r[:3] for r in expected]
        np.testing.assert_allclose([r[3] for r in spark_rows], [r[3] for r in expected], rtol=1e-9)
        seen = {(u, i) for u, i, _, _ in zip(*store.interactions(), strict=True)}
        assert not any((u, i) in seen for u, i, _, _ in spark_rows)

        with pytest.raises(UsageError, match="already holds files"):
            recommend_spark(store, output=out, k=3, master="local[2]")
        again = recommend_spark(store, output=out, k=1, master="local[2]", users=["u001"], overwrite=True)
        assert again.rows == 1 and pq.read_table(out).column("user_id").to_pylist() == ["u001"]

        # A candidate stored after the fit: left out, with the same warning from both engines.
        store.upsert_items([Item("fresh", title="stored after the fit")])
        pool = ["fresh", *data_items()[:12]]
        local_progress, spark_progress = NullProgress(), NullProgress()
        local_pool = list(recommend(store, all_users=True, k=3, candidates=pool, use_index=False,
                                    progress=local_progress))
        recommend_spark(store, output=out, k=3, master="local[2]", candidates=pool, overwrite=True,
                        progress=spark_progress)
        table = pq.read_table(out)
        spark_pool = sorted(zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True))
        assert [r[:3] for r in spark_pool] == sorted((r.user_id, r.item_id, r.rank) for r in local_pool)
        assert spark_progress.warnings == local_progress.warnings and "'fresh'" in local_progress.warnings[0]
    finally:
        store.close()
