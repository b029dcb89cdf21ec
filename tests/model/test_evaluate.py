"""evaluate(): a report per model and split, and a PNG plot."""

from __future__ import annotations

from pathlib import Path

import pytest

from avrec.model import TrainData
from avrec.training.evaluate import evaluate


@pytest.mark.parametrize("split", ["random", "cold_items", "cold_users"])
def test_evaluate_report_and_plot(data: TrainData, tmp_path: Path, split: str) -> None:
    plot = tmp_path / "plot.png"
    report = evaluate(
        data,
        None,
        ["popular", "hybrid"],
        split=split,
        ks=[5, 10],
        seed=1,
        params={"hybrid": {"factors": 8, "iterations": 3}},
        plot_path=plot,
    )
    assert [r.model for r in report.results] == ["popular", "hybrid"]
    for r in report.results:
        assert set(r.metrics) == {"ndcg", "recall", "map", "coverage"}
        assert all(0.0 <= v <= 1.0 for by_k in r.metrics.values() for v in by_k.values())
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert report.as_dict()["results"][0]["metrics"]["ndcg"]["10"] >= 0


def test_evaluate_rejects_bad_arguments(data: TrainData) -> None:
    with pytest.raises(ValueError):
        evaluate(data, None, [], split="random")
    with pytest.raises(ValueError):
        evaluate(data, None, ["popular"], split="temporal")
