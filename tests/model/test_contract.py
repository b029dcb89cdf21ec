"""The contract every avrec model passes (one mixin, one subclass per model kind)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from avrec.model import Recommender, TrainData, load_model, make_model
from avrec.model.ease import REGULARIZATION_GRID
from avrec.model.hybrid import LinearHybrid
from avrec.model.tuning import GRID


class ModelContract:
    kind: str = ""
    params: dict[str, Any] = {}
    factor_model = False  # explain's history decomposition must predict fold-in removal

    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, data: TrainData) -> Recommender:
        return make_model(cls.kind, **cls.params).fit(data)

    def test_kind_and_ids(self, model: Recommender, data: TrainData) -> None:
        assert model.kind == self.kind
        assert model.item_ids == data.item_ids and model.user_ids == data.user_ids

    def test_scores_shape_and_finite(self, model: Recommender, data: TrainData) -> None:
        users = np.arange(5)
        s = model.score(data.interactions[users], users)
        assert s.shape == (5, data.n_items) and np.all(np.isfinite(s))

    def test_save_load_roundtrip(self, model: Recommender, data: TrainData, tmp_path: Path) -> None:
        path = model.save(tmp_path / "m.npz")
        loaded = load_model(path)
        assert type(loaded) is type(model) and loaded.get_params() == model.get_params()
        users = np.arange(data.n_users)
        np.testing.assert_array_equal(loaded.score(data.interactions, users), model.score(data.interactions, users))
        assert type(model).load(path).kind == self.kind
        with np.load(path, allow_pickle=False) as npz:  # no pickled objects inside
            assert str(npz["__kind__"]) == self.kind

    def test_explain_parts_sum_to_score(self, model: Recommender, data: TrainData) -> None:
        rng = np.random.default_rng(1)
        for _ in range(15):
            u, i = int(rng.integers(data.n_users)), int(rng.integers(data.n_items))
            h = data.interactions[u]
            exp = model.explain(h, u, i)
            score = float(model.score(h, np.array([u]))[0, i])
            assert abs(sum(exp.parts.values()) - score) < 1e-4
            assert abs(exp.score - score) < 1e-4
            assert set(exp.parts) <= {"collaborative", "text", "visual", "audio", "user", "bias"}
            assert {j for j, _ in exp.history} <= set(h.indices.tolist())
            values = [c for _, c in exp.history]
            assert values == sorted(values, reverse=True)

    def test_fold_in_new_user(self, model: Recommender, data: TrainData) -> None:
        h = data.interactions[:3]
        s = model.score(h, np.full(3, -1))
        assert s.shape == (3, data.n_items) and np.all(np.isfinite(s))
        exp = model.explain(h[0], -1, 1)
        assert abs(sum(exp.parts.values()) - s[0, 1]) < 1e-4

    def test_deterministic(self, data: TrainData) -> None:
        a = make_model(self.kind, **self.params).fit(data)
        b = make_model(self.kind, **self.params).fit(data)
        users = np.arange(4)
        np.testing.assert_array_equal(
            a.score(data.interactions[users], users), b.score(data.interactions[users], users)
        )

    def test_recommend_excludes_seen(self, model: Recommender, data: TrainData) -> None:
        users = np.arange(6)
        idx, vals = model.recommend(data.interactions[users], users, k=5)
        assert idx.shape == (6, 5)
        for row, u in zip(idx, users, strict=True):
            assert not set(row[row >= 0].tolist()) & set(data.interactions[u].indices.tolist())
        assert np.all(np.diff(vals, axis=1) <= 1e-7)

    def test_embeddings_are_exact(self, model: Recommender, data: TrainData) -> None:
        emb = model.embeddings()
        if emb is None:
            pytest.skip(f"{self.kind} is not an inner-product model")
        user_fn, items = emb
        users = np.array([0, 1, -1])
        h = data.interactions[:3]
        np.testing.assert_allclose(user_fn(h, users, None) @ items.T, model.score(h, users), atol=1e-5)

    def test_bad_input(self, model: Recommender, data: TrainData) -> None:
        with pytest.raises(ValueError):
            model.score(sp.csr_matrix((1, data.n_items + 1)), np.array([0]))
        with pytest.raises(ValueError):
            model.explain(data.interactions[0], 0, data.n_items)
        with pytest.raises(ValueError):
            make_model(self.kind, **self.params).score(data.interactions[:1], np.array([0]))

    def test_removing_top_driver_lowers_score(self, model: Recommender, data: TrainData) -> None:
        if not self.factor_model:
            pytest.skip("only models with a history decomposition")
        rng = np.random.default_rng(2)
        drops, trials = 0, 0
        for _ in range(40):
            u = int(rng.integers(data.n_users))
            h = data.interactions[u]
            if h.nnz < 3:
                continue
            s = model.score(h, np.array([-1]))[0]
            s[h.indices] = -np.inf
            i = int(np.argmax(s))
            exp = model.explain(h, -1, i)
            top = exp.history[0][0]
            h2 = h.tolil()
            h2[0, top] = 0
            after = model.score(sp.csr_matrix(h2), np.array([-1]))[0, i]
            trials += 1
            drops += int(after < exp.score)
        assert trials >= 20 and drops >= 0.95 * trials


class TestHybrid(ModelContract):
    kind = "hybrid"
    params = {
        "factors": 8,
        "iterations": 5,
        "random_state": 3,
        "text_weight": 0.2,
        "visual_weight": 0.1,
        "bias_weight": 0.05,
    }
    factor_model = True

    def test_cold_item_scored_from_content(self, model: Recommender, data: TrainData) -> None:
        cold = data.n_items - 1
        exp = model.explain(data.interactions[0], 0, cold)
        assert exp.cold_item and "collaborative" not in exp.parts and exp.parts.get("text", 0) != 0

    def test_cold_user_from_attributes(self, model: Recommender, data: TrainData) -> None:
        assert data.user_features is not None
        empty = sp.csr_matrix((3, data.n_items), dtype=np.float32)
        s = model.score(empty, np.full(3, -1), data.user_features[:3])
        assert not np.allclose(s[0], s[1])  # different attributes, different lists
        exp = model.explain(empty[:1], -1, 0, data.user_features[:1])
        assert "user" in exp.parts and abs(sum(exp.parts.values()) - s[0, 0]) < 1e-4

    def test_validation(self) -> None:
        bad_params: list[dict[str, Any]] = [
            {"factors": 0},
            {"regularization": -1.0},
            {"text_weight": float("nan")},
            {"iterations": 0},
        ]
        for bad in bad_params:
            with pytest.raises(ValueError):
                make_model("hybrid", **bad)

    def test_tune_uses_training_data_only(self, data: TrainData) -> None:
        model = make_model("hybrid", factors=8, iterations=3, tune=True).fit(data)
        assert isinstance(model, LinearHybrid)
        assert set(model.tuned_params_) <= set(GRID)
        tuned = make_model("hybrid", factors=8, iterations=3)
        assert isinstance(tuned, LinearHybrid)
        assert tuned.tune(data) is tuned  # the `fit --tune` helper: set weights, then fit
        tuned.fit(data)


class TestMF(ModelContract):
    kind = "mf"
    params = {"factors": 8, "iterations": 5, "random_state": 3}
    factor_model = True

    def test_known_user_explain_is_exact_decomposition(self, model: Recommender, data: TrainData) -> None:
        h = data.interactions[4]
        exp = model.explain(h, 4, 7)
        assert abs(sum(c for _, c in exp.history) - exp.parts["collaborative"]) < 1e-4


class TestContent(ModelContract):
    kind = "content"
    params: dict[str, Any] = {}
    factor_model = True


class TestPopular(ModelContract):
    kind = "popular"


class TestItemKNN(ModelContract):
    kind = "itemknn"
    params = {"neighbours": 10}
    factor_model = True


class TestEase(ModelContract):
    kind = "ease"
    params: dict[str, Any] = {}
    factor_model = True

    def test_validation_picks_from_the_grid(self, model: Recommender) -> None:
        params = model.get_params()
        assert params["regularization"] in REGULARIZATION_GRID and params["weighting"] in ("binary", "bm25")

    def test_fixed_parameters_skip_validation(self, data: TrainData) -> None:
        model = make_model("ease", regularization=3.0, weighting="bm25").fit(data)
        assert model.get_params()["regularization"] == 3.0 and model.get_params()["weighting"] == "bm25"

    def test_weights_solve_the_closed_form(self, data: TrainData) -> None:
        model = make_model("ease", regularization=1.0, weighting="binary").fit(data)
        x = (data.interactions > 0).astype(np.float64).toarray()
        gram = x.T @ x
        penalty = 1.0 * gram.diagonal()[gram.diagonal() > 0].mean()
        b = np.asarray(model.weights, np.float64)  # type: ignore[attr-defined]
        # Steck 2019: B minimises |X - XB|^2 + penalty |B|^2 subject to diag(B) = 0, so off the diagonal
        # the gradient (G + penalty I) B - G vanishes
        grad = (gram + penalty * np.eye(len(gram))) @ b - gram
        off = ~np.eye(len(gram), dtype=bool)
        assert np.abs(grad[off]).max() < 1e-3 * np.abs(gram).max()
        assert np.all(b.diagonal() == 0)

    def test_bad_parameters(self) -> None:
        for bad in ({"regularization": 0.0}, {"regularization": float("nan")}, {"weighting": "tfidf"}):
            with pytest.raises(ValueError):
                make_model("ease", **bad)


def test_unknown_model_name() -> None:
    with pytest.raises(ValueError, match="unknown model"):
        make_model("nope")


def test_load_rejects_non_model(tmp_path: Path) -> None:
    p = tmp_path / "x.npz"
    np.savez(p, a=np.zeros(2))
    with pytest.raises(ValueError, match="not an avrec model"):
        load_model(p)
