"""The hybrid's direct blocks: EASE, the content-to-taste map, the popularity prior, the nearest posters and
the kernel ridge over warm items."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from avrec.model import TrainData, make_model
from avrec.model import ease as ease_module
from avrec.model import hybrid as hybrid_module
from avrec.model.content import ContentRidge, kernel_ridge_map, normalise_content
from avrec.model.ease import ease_weights, mean_gram_diagonal
from avrec.model.hybrid import HybridModel


def fitted(data: TrainData, **params: float) -> HybridModel:
    model = make_model("hybrid", factors=8, iterations=5, random_state=3, **params).fit(data)
    assert isinstance(model, HybridModel)
    return model


def test_layout_has_the_direct_blocks(data: TrainData) -> None:
    names = [name for name, _ in fitted(data).layout()]
    assert {
        "ease",
        "taste/text",
        "taste/visual",
        "prior",
        hybrid_module.NEIGHBOUR_BLOCK,
        hybrid_module.KERNEL_BLOCK,
    } <= set(names)
    assert np.all(fitted(data).blend_scales > 0)


def test_weights_zero_switch_the_blocks_off(data: TrainData) -> None:
    plain = fitted(data, ease_weight=0.0, taste_weight=0.0, prior_weight=0.0, kernel_weight=0.0)
    names = {name for name, _ in plain.layout()}
    assert not names & {"ease", "taste/text", "taste/visual", "prior", hybrid_module.KERNEL_BLOCK}
    assert plain.ease.size == 0 and plain.kernel_items.size == 0


def test_large_catalog_gets_ease_on_its_most_popular_items(data: TrainData, monkeypatch: pytest.MonkeyPatch) -> None:
    head = 12
    monkeypatch.setattr(hybrid_module, "EASE_IN_HYBRID_MAX_ITEMS", head)
    model = fitted(data)
    counts = model.item_counts
    assert len(model.ease_items) == head and model.ease.shape == (head, head)
    assert dict(model.layout())["ease"] == head
    # the head is the items with the most events
    assert counts[model.ease_items].min() >= np.sort(np.delete(counts, model.ease_items)).max()
    # B is EASE on the head's columns alone, with the penalty of the whole catalog
    magnitude = model.weights.magnitude(data.interactions)
    penalty = model.ease_regularization * mean_gram_diagonal(magnitude)
    np.testing.assert_allclose(model.ease, ease_weights(magnitude[:, model.ease_items], penalty), atol=1e-6)
    h = data.interactions[:3]
    exact = model.user_vectors(h, np.arange(3)) @ model.item_matrix().T
    np.testing.assert_allclose(exact, model.score(h, np.arange(3)), rtol=1e-5, atol=1e-5)
    outside = int(np.setdiff1d(np.flatnonzero(counts > 0), model.ease_items)[0])
    without = fitted(data, ease_weight=0.0)
    for item in (int(model.ease_items[0]), outside):
        exp = model.explain(data.interactions[0], 0, item)
        assert abs(sum(exp.parts.values()) - exp.score) < 1e-4
        assert abs(exp.score - float(model.score(data.interactions[0], np.array([0]))[0, item])) < 1e-4
        # an item outside the head gets no EASE term
        plain = without.explain(data.interactions[0], 0, item).parts["collaborative"]
        assert (exp.parts["collaborative"] == pytest.approx(plain, abs=1e-6)) == (item == outside)


def test_ease_head_follows_the_events_even_when_bm25_weighs_them_zero() -> None:
    # two users, two items: every item is in half the histories or more, so its BM25 weight is zero
    inter = sp.csr_matrix(np.array([[1, 1], [0, 1]], np.float32))
    model = make_model("hybrid", factors=2, iterations=2).fit(TrainData(["u1", "u2"], ["i1", "i2"], inter))
    assert isinstance(model, HybridModel)
    np.testing.assert_array_equal(model.ease_items, [0, 1])
    assert np.isfinite(model.score(inter, np.arange(2))).all()


def test_ease_head_shrinks_on_large_catalogs() -> None:
    assert hybrid_module.ease_head_size(1_682) == 1_682
    assert hybrid_module.ease_head_size(4_096) == hybrid_module.EASE_IN_HYBRID_MAX_ITEMS
    for n_items in (17_632, 100_000):
        head = hybrid_module.ease_head_size(n_items)
        assert 0 < head <= hybrid_module.EASE_IN_HYBRID_MAX_ITEMS
        assert head * n_items <= hybrid_module.EASE_ITEM_SIDE_CELLS < (head + 1) * n_items


def test_each_block_scores_what_its_formula_says(data: TrainData) -> None:
    """Switching one block's weight on adds exactly its closed-form scores."""
    base = fitted(data, ease_weight=0.0, taste_weight=0.0, prior_weight=0.0)
    h = data.interactions[:5]
    users = np.arange(5)
    ease = fitted(data, taste_weight=0.0, prior_weight=0.0)
    magnitude = ease.weights.magnitude(h).toarray()
    expected = np.zeros((5, data.n_items))
    expected[:, ease.ease_items] = ease.ease_weight * ease.blend_scales[0] * magnitude[:, ease.ease_items] @ ease.ease
    np.testing.assert_allclose(ease.score(h, users) - base.score(h, users), expected, atol=1e-4)
    prior = fitted(data, ease_weight=0.0, taste_weight=0.0)
    cold = prior.item_counts == 0
    counts = prior.item_counts
    observed = prior.prior_weight * prior.blend_scales[2] * np.log1p(counts[~cold])
    added = (prior.score(h, users) - base.score(h, users))[:, ~cold]
    np.testing.assert_allclose(added, np.tile(observed, (5, 1)), atol=1e-4)


def test_cold_item_gets_taste_and_predicted_popularity(data: TrainData) -> None:
    model = fitted(data)
    cold = data.n_items - 1
    exp = model.explain(data.interactions[0], 0, cold)
    assert exp.cold_item and "collaborative" not in exp.parts
    assert abs(sum(exp.parts.values()) - exp.score) < 1e-4
    assert abs(exp.score - float(model.score(data.interactions[0], np.array([0]))[0, cold])) < 1e-4
    without_taste = fitted(data, taste_weight=0.0).explain(data.interactions[0], 0, cold)
    assert exp.parts["text"] != pytest.approx(without_taste.parts["text"])


def test_ease_gram_by_dense_blocks_equals_the_sparse_product(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dense data take the row-block path (here three blocks); B is the same as by the sparse product, exactly
    on binary weights, to float32 rounding on others."""
    w = sp.random(300, 40, density=0.3, random_state=1, format="csr", dtype=np.float32)
    binary = w.copy()
    binary.data[:] = 1.0
    monkeypatch.setattr(ease_module, "DENSE_GRAM_BLOCK_CELLS", 40 * 100)
    dense = [ease_weights(x, 5.0) for x in (binary, w)]
    monkeypatch.setattr(ease_module, "DENSE_GRAM_RATIO", 0)  # every product sparse
    sparse = [ease_weights(x, 5.0) for x in (binary, w)]
    np.testing.assert_array_equal(dense[0], sparse[0])
    np.testing.assert_allclose(dense[1], sparse[1], rtol=1e-5, atol=1e-7)


def test_taste_map_is_the_ridge_solution() -> None:
    rng = np.random.default_rng(0)
    content = rng.standard_normal((30, 5))
    warm = np.arange(30) < 25
    v = ContentRidge(content, warm, 2.0).taste_map()
    target = rng.random(30) * warm  # a user's taste over the warm items
    coef = np.linalg.solve(content[warm].T @ content[warm] + 2.0 * np.eye(5), content[warm].T @ target[warm])
    np.testing.assert_allclose((target @ content) @ v.T, content @ coef, rtol=1e-4, atol=1e-5)


def test_content_ridge_inverse_is_the_penalised_gram_inverse() -> None:
    rng = np.random.default_rng(2)
    content = rng.standard_normal((40, 6))
    warm = np.arange(40) % 4 != 0
    ridge = ContentRidge(content, warm, 3.0)
    expected = np.linalg.inv(content[warm].T @ content[warm] + 3.0 * np.eye(6))
    np.testing.assert_allclose(ridge.inverse(), expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ridge.taste_map(), ridge.solve(content.T).T, rtol=1e-4, atol=1e-6)


def test_content_popularity_learns_a_linear_trend() -> None:
    rng = np.random.default_rng(1)
    content = rng.standard_normal((200, 4))
    counts = np.round(np.expm1(np.clip(2.0 + content[:, 0], 0, None)))
    w, intercept = ContentRidge(content, counts > 0, 1e-3).popularity(counts)
    warm = counts > 0
    fitted_values = content[warm] @ w + intercept
    assert np.corrcoef(fitted_values, np.log1p(counts[warm]))[0, 1] > 0.8


def test_saved_model_keeps_the_blocks(data: TrainData, tmp_path: Path) -> None:
    model = fitted(data)
    loaded = HybridModel.load(model.save(tmp_path / "m.npz"))
    h = data.interactions[:4]
    np.testing.assert_allclose(loaded.score(h, np.arange(4)), model.score(h, np.arange(4)), atol=1e-5)


def test_neighbour_block_scores_each_cold_item_by_its_nearest_warm_posters(data: TrainData) -> None:
    """The block adds w |h_u|^-e sum_j h_uj max(0, cos(c_i, c_j)) over i's k nearest warm items (by the
    normalised visual vectors, among the EASE head), for cold items only."""
    base = fitted(data, neighbour_weight=0.0)
    model = fitted(data, neighbour_weight=0.3, neighbour_k=2)
    assert dict(model.layout())[hybrid_module.NEIGHBOUR_BLOCK] == len(model.neighbour_items)
    vectors = normalise_content(data.content["visual"].vectors, data.content["visual"].present)
    warm = model.ease_items  # the warm items with the most events
    h = data.interactions[:6]
    users = np.arange(6)
    magnitude = model.weights.magnitude(h).toarray()
    norm = magnitude.sum(axis=1) ** -model.history_exponent
    expected = np.zeros((6, data.n_items))
    for i in np.flatnonzero(model.item_counts == 0):
        sims = vectors[warm] @ vectors[i]
        near = np.argsort(-sims, kind="stable")[:2]
        for j, sim in zip(warm[near], sims[near], strict=True):
            expected[:, i] += 0.3 * norm * magnitude[:, j] * max(float(sim), 0.0)
    assert np.abs(expected).max() > 0
    np.testing.assert_allclose(model.score(h, users) - base.score(h, users), expected, atol=1e-4)


def test_neighbour_block_is_explained_under_the_posters(data: TrainData, tmp_path: Path) -> None:
    model = fitted(data, neighbour_weight=1.0, neighbour_k=1)
    without = fitted(data, neighbour_weight=0.0)
    cold = int(np.flatnonzero(model.neighbours[:, 0] >= 0)[0])
    nearest_item = int(model.neighbours[cold, 0])
    users = np.flatnonzero(data.interactions[:, nearest_item].toarray().ravel())
    user = int(users[0])
    h = data.interactions[user]
    exp = model.explain(h, user, cold)
    assert abs(sum(exp.parts.values()) - exp.score) < 1e-4
    assert abs(exp.score - float(model.score(h, np.array([user]))[0, cold])) < 1e-4
    # only the visual part moves, by the nearest warm item's term
    plain = without.explain(h, user, cold)
    added = exp.parts["visual"] - plain.parts["visual"]
    assert added > 0
    assert {k: v for k, v in exp.parts.items() if k != "visual"} == pytest.approx(
        {k: v for k, v in plain.parts.items() if k != "visual"}, abs=1e-6
    )
    per_item = dict(exp.per_modality_history["visual"])
    per_plain = dict(plain.per_modality_history["visual"])
    assert per_item[nearest_item] - per_plain[nearest_item] == pytest.approx(added, abs=1e-5)
    loaded = HybridModel.load(model.save(tmp_path / "m.npz"))
    np.testing.assert_allclose(loaded.score(h, np.array([user])), model.score(h, np.array([user])), atol=1e-5)


def test_update_keeps_the_neighbours_of_items_still_cold(data: TrainData) -> None:
    model = fitted(data, neighbour_weight=0.5, neighbour_k=2)
    cold = np.flatnonzero(model.item_counts == 0)
    inter = data.interactions.tolil()
    inter[0, cold[0]] = 1.0  # the first cold item gets an event
    updated = model.update(replace(data, interactions=inter.tocsr()))
    assert (updated.neighbours[cold[0]] == -1).all()
    np.testing.assert_array_equal(updated.neighbours[cold[1:]], model.neighbours[cold[1:]])
    h = data.interactions[:3]
    exp = updated.explain(h[1], 1, int(cold[1]))
    assert abs(exp.score - float(updated.score(h, np.arange(3))[1, cold[1]])) < 1e-4


def test_wide_visual_vectors_enter_the_content_maps_on_their_principal_directions(data: TrainData) -> None:
    """With `content_rank` below the visual width, the taste and prior maps see the posters through a
    content_rank-wide basis (text keeps every dimension); the score stays one exact inner product, explain
    stays exact, and the cold projection still applies to plain vectors (weights folded back)."""
    wide = fitted(data, content_rank=0)
    narrow = fitted(data, content_rank=3)
    widths, full = dict(narrow.layout()), dict(wide.layout())
    assert widths["taste/visual"] == 3 and full["taste/visual"] == 8
    assert widths["taste/text"] == full["taste/text"] == 16
    assert narrow.projection_weights["visual"].shape == wide.projection_weights["visual"].shape == (8, 8)
    h = data.interactions[:4]
    users = np.arange(4)
    np.testing.assert_allclose(
        narrow.user_vectors(h, users) @ narrow.item_matrix().T, narrow.score(h, users), rtol=1e-5, atol=1e-5
    )
    cold = data.n_items - 1
    exp = narrow.explain(data.interactions[0], 0, cold)
    assert abs(sum(exp.parts.values()) - exp.score) < 1e-4
    assert abs(exp.score - float(narrow.score(data.interactions[0], np.array([0]))[0, cold])) < 1e-4
    # the posters enter the cold item's score through the basis: their part differs from the full-width one
    assert exp.parts["visual"] != pytest.approx(wide.explain(data.interactions[0], 0, cold).parts["visual"])
    with pytest.raises(ValueError, match="content_rank"):
        make_model("hybrid", content_rank=-1)


def test_kernel_ridge_map_solves_the_kernel_system() -> None:
    rng = np.random.default_rng(4)
    v = normalise_content(rng.standard_normal((12, 5)).astype(np.float32), np.ones(12, bool))
    v[11] = 0.0  # an item without a vector
    basis, rows = np.arange(8), np.array([8, 9, 10, 11])
    got = kernel_ridge_map(v, rows, basis, 3.0, 0.5)
    gram = np.exp(3.0 * (v[basis] @ v[basis].T - 1.0)) + 0.5 * np.eye(8)
    cross = np.exp(3.0 * (v[rows[:3]] @ v[basis].T - 1.0))
    np.testing.assert_allclose(got[:3], np.linalg.solve(gram, cross.T).T, rtol=1e-4, atol=1e-6)
    assert not got[3].any()
    # a large penalty leaves the kernel-weighted sum over the basis, scaled by 1 / reg
    np.testing.assert_allclose(kernel_ridge_map(v, rows[:3], basis, 3.0, 1e6) * 1e6, cross, rtol=1e-3)


def test_kernel_block_scores_cold_items_by_kernel_ridge_over_the_warm_items(data: TrainData) -> None:
    """The block adds w s_k t_u[warm] (K + reg I)^-1 k_i for cold items only, t_u the history plus its EASE
    completion, K the kernel between the warm items' normalised text vectors."""
    base = fitted(data, kernel_weight=0.0)
    model = fitted(data, kernel_weight=0.5, kernel_sharpness=3.0, kernel_reg=0.2)
    assert base.kernel_items.size == 0 and hybrid_module.KERNEL_BLOCK not in dict(base.layout())
    warm = np.flatnonzero(model.item_counts > 0)
    cold = np.flatnonzero(model.item_counts == 0)
    np.testing.assert_array_equal(model.kernel_items, warm)
    # fewer cold items than warm ones: the block's columns are the cold items
    assert dict(model.layout())[hybrid_module.KERNEL_BLOCK] == len(cold)
    assert model.blend_scales[3] > 0
    vectors = normalise_content(data.content["text"].vectors, data.content["text"].present).astype(np.float64)
    h = data.interactions[:6]
    users = np.arange(6)
    taste = model.weights.magnitude(h).toarray().astype(np.float64)
    taste[:, model.ease_items] += taste[:, model.ease_items] @ model.ease
    gram = np.exp(3.0 * (vectors[warm] @ vectors[warm].T - 1.0)) + 0.2 * np.eye(len(warm))
    cross = np.exp(3.0 * (vectors[cold] @ vectors[warm].T - 1.0))
    expected = np.zeros((6, data.n_items))
    expected[:, cold] = 0.5 * model.blend_scales[3] * taste[:, warm] @ np.linalg.solve(gram, cross.T)
    assert np.abs(expected).max() > 0
    np.testing.assert_allclose(model.score(h, users) - base.score(h, users), expected, atol=1e-4)


def test_kernel_block_is_explained_under_the_text(data: TrainData, tmp_path: Path) -> None:
    model = fitted(data, kernel_weight=1.0)
    without = fitted(data, kernel_weight=0.0)
    cold = int(np.flatnonzero(model.item_counts == 0)[0])
    h = data.interactions[2]
    exp = model.explain(h, 2, cold)
    assert abs(sum(exp.parts.values()) - exp.score) < 1e-4
    assert abs(exp.score - float(model.score(h, np.array([2]))[0, cold])) < 1e-4
    plain = without.explain(h, 2, cold)
    added = exp.parts["text"] - plain.parts["text"]
    assert added != pytest.approx(0.0, abs=1e-6)
    assert {k: v for k, v in exp.parts.items() if k != "text"} == pytest.approx(
        {k: v for k, v in plain.parts.items() if k != "text"}, abs=1e-6
    )
    per, per_plain = dict(exp.per_modality_history["text"]), dict(plain.per_modality_history["text"])
    assert sum(per[j] - per_plain[j] for j in per) == pytest.approx(added, abs=1e-5)
    # a warm item gets no kernel term
    warm = int(np.flatnonzero(model.item_counts > 0)[0])
    assert model.explain(h, 2, warm).parts["text"] == pytest.approx(without.explain(h, 2, warm).parts["text"])
    loaded = HybridModel.load(model.save(tmp_path / "m.npz"))
    np.testing.assert_allclose(loaded.score(h, np.array([2])), model.score(h, np.array([2])), atol=1e-5)


def test_kernel_block_spans_the_most_popular_warm_items_on_large_catalogs(
    data: TrainData, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hybrid_module, "KERNEL_MAX_ITEMS", 3)
    model = fitted(data, kernel_weight=0.5)
    counts = model.item_counts
    assert len(model.kernel_items) == 3
    # more cold items (4) than warm ones in the block: its columns are the warm items
    assert dict(model.layout())[hybrid_module.KERNEL_BLOCK] == 3
    assert counts[model.kernel_items].min() >= np.sort(np.delete(counts, model.kernel_items)).max()
    h = data.interactions[:3]
    exact = model.user_vectors(h, np.arange(3)) @ model.item_matrix().T
    np.testing.assert_allclose(exact, model.score(h, np.arange(3)), rtol=1e-5, atol=1e-5)
    cold = int(np.flatnonzero(counts == 0)[0])
    exp = model.explain(h[1], 1, cold)
    assert abs(sum(exp.parts.values()) - exp.score) < 1e-4
    assert abs(exp.score - float(model.score(h[1], np.array([1]))[0, cold])) < 1e-4


def test_update_refits_the_kernel_block_for_items_still_cold(data: TrainData) -> None:
    model = fitted(data, kernel_weight=0.5)
    cold = np.flatnonzero(model.item_counts == 0)
    inter = data.interactions.tolil()
    inter[0, cold[0]] = 1.0  # the first cold item gets an event
    updated = model.update(replace(data, interactions=inter.tocsr()))
    np.testing.assert_array_equal(updated.kernel_rows, cold[1:])
    assert cold[0] in updated.kernel_items
    np.testing.assert_allclose(updated.blend_scales, model.blend_scales)
    exp = updated.explain(data.interactions[1], 1, int(cold[1]))
    assert abs(exp.score - float(updated.score(data.interactions[1], np.array([1]))[0, cold[1]])) < 1e-4


def test_models_saved_with_three_blend_scales_load_without_a_kernel_scale() -> None:
    np.testing.assert_array_equal(hybrid_module.padded_scales(np.array([1.0, 2.0, 3.0])), [1.0, 2.0, 3.0, 0.0])
    with pytest.raises(ValueError, match="kernel_reg"):
        make_model("hybrid", kernel_reg=0.0)
