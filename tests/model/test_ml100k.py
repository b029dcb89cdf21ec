"""On real data (MovieLens 100K, skipped when absent): the hybrid beats popularity, warm and for cold users,
and its explanations are faithful (issue 6: parts sum, history items, removal test)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from avrec.model import Recommender, TrainData, make_model
from avrec.model.metrics import ndcg_at_k, top_k
from avrec.model.splits import cold_users, random_holdout
from tests.conftest import shared_path


def _load() -> tuple[sp.csr_matrix, sp.csr_matrix]:
    base = shared_path("data", "ml-100k")
    raw = np.loadtxt(base / "u.data", dtype=np.int64)
    u, i, r = raw[:, 0] - 1, raw[:, 1] - 1, raw[:, 2]
    keep = r >= 4
    m = sp.csr_matrix((np.ones(keep.sum(), np.float32), (u[keep], i[keep])), shape=(943, 1682))
    occupations: dict[str, int] = {}
    rows, cols = [], []
    for line in (base / "u.user").read_text(encoding="latin-1").splitlines():
        uid, age, gender, occ, _ = line.split("|")
        col = 9 + occupations.setdefault(occ, len(occupations))
        rows += [int(uid) - 1] * 3
        cols += [0 if gender == "M" else 1, 2 + min(int(age) // 10, 6), col]
    feats = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(943, 9 + len(occupations)))
    return m, feats


def _data(train: sp.csr_matrix, feats: sp.csr_matrix) -> TrainData:
    return TrainData([str(x) for x in range(943)], [str(x) for x in range(1682)], train, user_features=feats)


def test_ml100k_quality_and_explanations() -> None:
    m, feats = _load()
    s = random_holdout(m, 0.2, 5, 42)
    hybrid = make_model("hybrid").fit(_data(s.train, feats))
    popular = make_model("popular").fit(_data(s.train, feats))
    users = s.test_users

    def ndcg(model: Recommender, users_arg: np.ndarray, h: sp.csr_matrix) -> float:
        scores = model.score(h, users_arg)
        return ndcg_at_k(top_k(scores, 10, exclude=h), s.test[users], 10)

    h = s.train[users]
    assert ndcg(hybrid, users, h) > 0.28 > ndcg(popular, users, h)

    rng = np.random.default_rng(0)
    dropped = 0
    pairs = 100
    for u in rng.choice(users, pairs, replace=False):
        hu = s.train[u]
        scores = hybrid.score(hu, np.array([u]))[0]
        idx = hybrid.recommend(hu, np.array([u]), k=10)[0][0]
        item = int(rng.choice(idx))
        exp = hybrid.explain(hu, int(u), item)
        assert abs(sum(exp.parts.values()) - scores[item]) < 1e-4
        assert {j for j, _ in exp.history} <= set(hu.indices.tolist())
        lil = hu.tolil()
        lil[0, exp.history[0][0]] = 0
        dropped += int(hybrid.score(sp.csr_matrix(lil), np.array([-1]))[0, item] < exp.score)
    assert dropped >= 0.95 * pairs

    cu = cold_users(m, 0.2, 42)
    cold = make_model("hybrid").fit(_data(cu.train, feats))
    pop = make_model("popular").fit(_data(cu.train, feats))
    empty = cu.train[cu.test_users]
    new = np.full(len(cu.test_users), -1)
    top_h = top_k(cold.score(empty, new, feats[cu.test_users]), 10)
    top_p = top_k(pop.score(empty, new), 10)
    assert ndcg_at_k(top_h, cu.test[cu.test_users], 10) > ndcg_at_k(top_p, cu.test[cu.test_users], 10)
