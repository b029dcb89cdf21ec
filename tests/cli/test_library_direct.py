"""The library behind `explain`, `report`, the content evidence and the ranking, called directly (the CLI
tests drive them only through the command line)."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pytest

from avrec.errors import UnknownIdError, UsageError
from avrec.evidence import audio_traits, closest_frames
from avrec.explain import explain
from avrec.recommend import recommend
from avrec.report import build_report, read_plot
from avrec.serving.ranking import best_first, rank_scores, top_k
from avrec.store import FrameRecord, Store


# -- ranking ---------------------------------------------------------------------------------------
def test_best_first_selects_and_orders_each_row() -> None:
    scores = np.array([[0.1, 0.9, 0.5, 0.7], [3.0, -1.0, 2.0, 2.5]])
    assert best_first(scores, 2).tolist() == [[1, 3], [0, 3]]
    assert best_first(scores, 10).tolist() == [[1, 3, 2, 0], [0, 3, 2, 1]]


def test_top_k_breaks_ties_by_item_id_and_ranks_from_one() -> None:
    ids = ["d", "c", "b", "a"]
    recs = list(top_k("u", np.array([1.0, 2.0, 2.0, 0.5]), np.arange(4), 3, ids))
    assert [(r.item_id, r.rank, r.score) for r in recs] == [("b", 1, 2.0), ("c", 2, 2.0), ("d", 3, 1.0)]
    assert list(top_k("u", np.array([]), np.array([], dtype=np.int64), 3, ids)) == []


def test_rank_scores_leaves_out_unscorable_seen_and_non_candidate_items() -> None:
    ids = [f"i{j}" for j in range(6)]
    row = np.array([5.0, np.nan, 4.0, 3.0, np.inf * -1, 1.0])
    pool = np.array([True, True, True, False, True, True])
    got = [r.item_id for r in rank_scores("u", row, 10, ids, pool=pool, seen=[2])]
    assert got == ["i0", "i5"]  # i1 NaN, i2 seen, i3 not a candidate, i4 -inf
    assert [r.item_id for r in rank_scores("u", row, 2, ids)] == ["i0", "i2"]


# -- explain ---------------------------------------------------------------------------------------
def test_explain_parts_add_up_and_history_is_the_users(fitted_store: Path) -> None:
    with Store(fitted_store) as store:
        history = {item for item, _ in store.user_history("nature_0")}
        first = next(iter(recommend(store, users=["nature_0"], k=1)))
        exp = explain(store, user_id="nature_0", item_id=first.item_id)
        assert exp.score == pytest.approx(first.score, abs=1e-4)
        assert sum(exp.parts.values()) == pytest.approx(exp.score, abs=1e-4)
        assert exp.history and {h["item_id"] for h in exp.history} <= history
        contributions = [h["contribution"] for h in exp.history]
        assert contributions == sorted(contributions, reverse=True)
        assert exp.sentence and exp.model == "hybrid"
        assert exp.as_dict()["item_id"] == first.item_id


def test_explain_a_cold_item_from_a_given_history(fitted_store: Path) -> None:
    with Store(fitted_store) as store:
        exp = explain(store, user_id="someone-new", item_id="fresh", history=["rain", "ocean"])
        assert exp.cold_item
        assert "collaborative" not in exp.parts or exp.parts["collaborative"] == 0.0
        assert exp.parts.get("text", 0.0) != 0.0  # its text vector is what carries it
        assert sum(exp.parts.values()) == pytest.approx(exp.score, abs=1e-4)


def test_explain_names_unknown_ids(fitted_store: Path) -> None:
    with Store(fitted_store) as store:
        with pytest.raises(UnknownIdError, match="nope"):
            explain(store, user_id="nature_0", item_id="nope")
        with pytest.raises(UnknownIdError, match="ghost"):
            explain(store, user_id="ghost", item_id="rain")


# -- evidence --------------------------------------------------------------------------------------
def test_closest_frames_finds_the_matching_pair(fitted_store: Path) -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(size=8).astype(np.float32)
    with Store(fitted_store) as store:
        store.put_frames("rain", [
            FrameRecord(0, 0.0, "uniform", "frames-8", rng.normal(size=8).astype(np.float32)),
            FrameRecord(1, 2.5, "uniform", "frames-8", base),
        ])
        store.put_frames("ocean", [
            FrameRecord(0, 1.0, "uniform", "frames-8", -base),
            FrameRecord(1, 4.0, "scene", "frames-8", base + 0.01),
        ])
        store.put_frames("snow", [FrameRecord(0, 1.0, "uniform", "other-encoder", base)])
        ts_a, ts_b, cosine = closest_frames(store, "rain", "ocean") or (0.0, 0.0, 0.0)
        assert (ts_a, ts_b) == (2.5, 4.0) and cosine > 0.99
        assert closest_frames(store, "rain", "snow") is None  # frames from another encoder do not compare
        assert closest_frames(store, "forest", "rain") is None  # no frames at all


def test_audio_traits_need_descriptors_on_both_sides() -> None:
    assert audio_traits(None, {"descriptors": {}}) == []
    assert audio_traits({"descriptors": "x"}, {"descriptors": {}}) == []


# -- report ----------------------------------------------------------------------------------------
def test_build_report_shows_the_users_list_escaped(fitted_store: Path) -> None:
    with Store(fitted_store) as store:
        top = [r.item_id for r in recommend(store, users=["city_0"], k=3)]
        page, shown = build_report(store, "city_0", k=3)
    assert shown == 3 and page.lstrip().lower().startswith("<!doctype html")
    for item in top:
        assert html.escape(f"{item.title()} clip") in page
    assert "<script" not in page.lower()


def test_read_plot_accepts_only_png(tmp_path: Path) -> None:
    png = tmp_path / "m.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16)
    assert read_plot(png).startswith(b"\x89PNG")
    text = tmp_path / "m.txt"
    text.write_text("not a picture")
    with pytest.raises(UsageError, match=r"^plot .* is not a PNG") as caught:  # library terms; the CLI says --plot
        read_plot(text)
    assert caught.value.param == "plot"

