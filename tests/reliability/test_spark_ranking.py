"""Issue 14.10: Spark's executors rank with the local engine's function, so skipped items stay out.

The full parity run (a skip event and a candidate newer than the model, local vs Spark) is
`tests/spark/test_spark_engine.py::test_fit_engine_spark_then_recommend_and_recommend_spark`; this test runs
the executors' block scorer without Spark, so it runs everywhere pyarrow does.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from avrec.model import TrainData, make_model
from avrec.serving.ranking import rank_scores


def test_the_block_scorer_leaves_out_zero_weight_items_like_the_local_engine() -> None:
    pytest.importorskip("pyarrow")
    from avrec.engines.spark.recommend import score_block

    rng = np.random.default_rng(0)
    inter = sp.csr_matrix((rng.random((30, 20)) < 0.3).astype(np.float32))
    data = TrainData([f"u{u:02d}" for u in range(30)], [f"i{i:02d}" for i in range(20)], inter, {}, None, [])
    model = make_model("mf", factors=4, iterations=3).fit(data)
    user = 4
    positives = inter[user].indices.tolist()
    scores = np.asarray(model.score(inter[user], np.array([user])), dtype=np.float64)[0]
    unseen = [j for j in np.argsort(-scores).tolist() if j not in positives]
    skipped = unseen[0]  # the user's best unseen item, skipped: a zero-weight cell
    block = [{
        "user_id": "u04", "row": user,
        "history": [(j, 1.0) for j in positives] + [(skipped, 0.0)],
    }]
    got = [(item, rank) for _, item, rank, _ in score_block(model, block, 5, False, None, 0)]
    expected = [(r.item_id, r.rank) for r in rank_scores("u04", scores, 5, model.item_ids, seen=[*positives, skipped])]
    assert got == expected
    assert model.item_ids[skipped] not in {item for item, _ in got}
    with_seen = [item for _, item, _, _ in score_block(model, block, 25, True, None, 0)]
    assert model.item_ids[skipped] in with_seen
