"""The ALS back-ends agree: implicit's compiled kernels (`ImplicitALS`) and this package's (`LocalALS`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from avrec.model import als, make_model
from avrec.model.base import load_model
from tests.model.conftest import synthetic

pytest.importorskip("implicit")


def _conf(seed: int = 0, users: int = 300, items: int = 120) -> sp.csr_matrix:
    m = sp.random(users, items, density=0.05, format="csr", random_state=seed, dtype=np.float32)
    m.data = (1.0 + 4.0 * m.data).astype(np.float32)  # c - 1 on observed pairs
    return m


def test_default_backend_is_implicit_when_installed() -> None:
    assert isinstance(als.default_backend(), als.ImplicitALS)
    assert isinstance(make_model("mf").als_backend, als.ImplicitALS)  # type: ignore[attr-defined]
    assert als.default_backend(3).threads == 3  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="threads"):
        als.ImplicitALS(0)


def test_exact_solve_matches_implicits_cholesky() -> None:
    from implicit.cpu import _als

    conf = _conf()
    y = np.random.default_rng(1).standard_normal((conf.shape[1], 12)).astype(np.float32)
    local = als.LOCAL.solve_users(y, conf, 3.0)
    lengths = np.diff(conf.indptr)
    assert (lengths <= als.SHORT_HISTORY * 12).any() and (lengths > als.SHORT_HISTORY * 12).any()  # both paths
    cholesky = np.zeros_like(local)
    _als.least_squares(als._confidence(conf), cholesky, y.astype(np.float64), 3.0, num_threads=1)
    np.testing.assert_allclose(local, cholesky, rtol=0, atol=1e-6 * float(np.abs(cholesky).max()))
    # implicit's back-end solves the users the same way, threaded: the same answer whatever the threads
    fast = als.ImplicitALS(threads=3).solve_users(y, conf, 3.0)
    assert fast.dtype == np.float64
    np.testing.assert_array_equal(fast, local)
    np.testing.assert_array_equal(als.solve_users(y, conf, 3.0, threads=2), local)
    # rows without events solve to zero, and an empty batch is empty
    assert not fast[np.diff(conf.indptr) == 0].any()
    assert als.ImplicitALS().solve_users(y, conf[:0], 3.0).shape == (0, 12)


def test_short_histories_solved_by_woodbury_equal_the_normal_equations() -> None:
    conf = _conf(6, users=200, items=90)
    conf.data[::7] = 0.0  # c - 1 of zero (c = 1): a term of nothing
    y = np.random.default_rng(2).standard_normal((conf.shape[1], 10)).astype(np.float32)
    rows = np.array([5, 0, 199, 17, 5, 3])  # any order, a row twice
    lengths = np.diff(conf.indptr)
    assert len(set(lengths.tolist())) > 3 and (lengths == 0).any()
    rows = np.concatenate([rows, np.flatnonzero(lengths == 0)[:2]])
    got = als.solve_short(y, conf, 2.5, rows, chunk=7)  # batches of a few users each
    want = als.solve_exact(y, conf[rows], 2.5)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-10 * float(np.abs(want).max()))
    assert not got[lengths[rows] == 0].any()  # no events: zero
    assert als.solve_short(y, conf, 2.5, np.zeros(0, np.int64)).shape == (0, 10)


def test_fit_follows_the_local_path_from_the_same_seed() -> None:
    conf = _conf(2)
    args = (conf, 8, 2.0, 6, 3)
    xl, yl = als.LOCAL.fit_als(*args, np.random.default_rng(5))
    xi, yi = als.ImplicitALS(threads=1).fit_als(*args, np.random.default_rng(5))
    # The same warm-started CG from the same start: equal up to float32 rounding.
    np.testing.assert_allclose(yi, yl, atol=2e-4 * float(np.abs(yl).max()))
    np.testing.assert_allclose(xi @ yi.T, xl @ yl.T, atol=2e-4 * float(np.abs(xl @ yl.T).max()))
    # the user side is the exact fold-in of each history against the final item factors
    np.testing.assert_allclose(xi, als.solve_users(yi, conf, 2.0).astype(np.float32), rtol=1e-5, atol=1e-7)


def test_thread_count_does_not_change_the_answer() -> None:
    conf = _conf(3)
    one = als.ImplicitALS(threads=1).fit_als(conf, 8, 2.0, 4, 3, np.random.default_rng(0))
    two = als.ImplicitALS(threads=2).fit_als(conf, 8, 2.0, 4, 3, np.random.default_rng(0))
    for a, b in zip(one, two, strict=True):
        np.testing.assert_array_equal(a, b)


def test_per_row_regularization_and_a_missing_package_use_the_local_kernels(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    conf = _conf(4)
    local = als.LOCAL.fit_als(conf, 6, 2.0, 3, 3, np.random.default_rng(0), reg_exponent=0.5)
    fast = als.ImplicitALS().fit_als(conf, 6, 2.0, 3, 3, np.random.default_rng(0), reg_exponent=0.5)
    for a, b in zip(local, fast, strict=True):
        np.testing.assert_array_equal(a, b)
    monkeypatch.setattr(als, "_implicit_kernels", lambda: None)
    y = np.ones((conf.shape[1], 4), np.float32)
    np.testing.assert_array_equal(als.ImplicitALS().solve_users(y, conf, 1.0), als.solve_users(y, conf, 1.0))


@pytest.mark.parametrize("kind", ["mf", "hybrid"])
def test_models_on_either_backend_score_alike_and_explain_exactly(kind: str, tmp_path: Path) -> None:
    data = synthetic()
    feats = data.user_features
    assert feats is not None
    local = make_model(kind, als_backend=als.LOCAL, iterations=5).fit(data)
    fast = make_model(kind, als_backend=als.ImplicitALS(threads=1), iterations=5).fit(data)
    users = np.arange(data.n_users)
    s_local = local.score(data.interactions, users, data.user_features)
    s_fast = fast.score(data.interactions, users, data.user_features)
    np.testing.assert_allclose(s_fast, s_local, atol=1e-3 * float(np.abs(s_local).max()))
    # explain's parts add up to the score, the user's stored factors being the exact fold-in
    for u in (0, 7):
        for i in (1, 5):
            exp = fast.explain(data.interactions[u], u, i, feats[u])
            assert sum(exp.parts.values()) == pytest.approx(float(s_fast[u, i]), abs=1e-4)
    # a saved model loads with the default back-end and scores the same
    path = tmp_path / "m.npz"
    fast.save(path)
    again = load_model(path)
    assert isinstance(again.als_backend, als.ImplicitALS)  # type: ignore[attr-defined]
    np.testing.assert_array_equal(again.score(data.interactions, users, data.user_features), s_fast)
