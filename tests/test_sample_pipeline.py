"""The quick-start job end to end on sample_media/, through the CLI, with the real encoders."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from avrec.cli import app

SAMPLE = Path(__file__).resolve().parents[1] / "sample_media"

pytestmark = pytest.mark.slow


def run(store: Path, *args: str) -> str:
    result = CliRunner().invoke(app, ["--store", str(store), "--quiet", *args], catch_exceptions=False)
    assert result.exit_code == 0, f"{args}: {result.output}"
    return result.stdout


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = tmp_path_factory.mktemp("sample") / "store"
    run(store, "ingest", "catalog", str(SAMPLE / "catalog.csv"))
    run(store, "ingest", "media", str(SAMPLE))
    run(store, "ingest", "interactions", str(SAMPLE / "interactions.csv"))
    run(store, "embed", "--format", "json")
    run(store, "fit", "--format", "json")
    return store


def test_info_counts_every_modality(sample_store: Path) -> None:
    info = json.loads(run(sample_store, "info", "--format", "json"))
    assert info["items"] == 13 and info["users"] == 6
    assert info["vectors"]["text"] == 13
    assert info["vectors"]["visual"] == info["media_video"] == 11  # ten videos and the poster image
    assert info["vectors"]["audio"] == info["media_audio"]
    assert info["transcripts"] == 2
    assert info["models"] == 1


def test_sidecar_gives_the_item_id(sample_store: Path) -> None:
    rows = run(sample_store, "search", "crackling fire", "-k", "1", "--format", "jsonl")
    assert json.loads(rows)["item_id"] == "fire"


def test_search_finds_rain_and_spoken_words(sample_store: Path) -> None:
    assert json.loads(run(sample_store, "search", "rain", "-k", "1", "--format", "jsonl"))["item_id"] == "rain"
    spoken = json.loads(
        run(sample_store, "search", "toss it with tomato sauce and fresh basil", "-k", "1", "--format", "jsonl")
    )
    assert spoken["item_id"] == "pasta"
    assert any(ev.get("snippet") for ev in spoken["evidence"])


def test_recommend_all_users_and_explain_top(sample_store: Path) -> None:
    out = run(sample_store, "recommend", "--all-users", "-k", "3", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    seen = {(r["user_id"], r["item_id"]) for r in csv.DictReader((SAMPLE / "interactions.csv").open())}
    assert len(rows) == 18 and not any((r["user_id"], r["item_id"]) in seen for r in rows)
    for row in rows[::3]:
        exp = json.loads(run(sample_store, "explain", "--user", row["user_id"], "--item", row["item_id"],
                             "--format", "json"))
        assert abs(sum(exp["parts"].values()) - float(row["score"])) < 1e-4
        assert exp["sentence"]


def test_cold_clip_reaches_a_fan_of_its_content(sample_store: Path) -> None:
    # bbb_stretch has no interactions at all; the family user who loves the other Big Buck Bunny clip gets it.
    out = run(sample_store, "recommend", "--user", "u_family", "-k", "2", "--format", "jsonl")
    items = [json.loads(line)["item_id"] for line in out.splitlines()]
    assert "bbb_stretch" in items
    exp = json.loads(run(sample_store, "explain", "--user", "u_family", "--item", "bbb_stretch", "--format", "json"))
    assert exp["cold_item"] is True


def test_search_finds_clips_by_what_their_frames_show(sample_store: Path) -> None:
    from avrec.store import Store

    info = json.loads(run(sample_store, "info", "--format", "json"))
    assert set(info["encoders"]["visual"]) == {"imagenet:efficientnet-lite0"}
    with Store(sample_store) as store:
        tops = {i: store.visual_labels(i)[0].label for i in ("fire", "pasta", "city_night")}
    assert len(set(tops.values())) == 3
    for item_id, label in tops.items():
        hit = json.loads(run(sample_store, "search", label, "-k", "1", "--format", "jsonl"))
        assert hit["item_id"] == item_id, (label, hit)
        assert hit["evidence"][0]["detail"] == f"frames show: {label}"


def test_similar_names_labels_both_clips_show(sample_store: Path) -> None:
    hit = json.loads(run(sample_store, "similar", "bbb_wakeup", "-k", "1", "--format", "jsonl"))
    visual = [e for e in hit["evidence"] if e["modality"] == "visual"]
    assert hit["item_id"] == "bbb_stretch" and visual and visual[0]["detail"].startswith("both show ")


def test_explain_evidence_names_visual_labels(sample_store: Path) -> None:
    exp = json.loads(run(sample_store, "explain", "--user", "u_family", "--item", "bbb_stretch", "--format", "json"))
    shown = [e for e in exp["evidence"] if e["modality"] == "visual" and e.get("labels")]
    assert shown and shown[0]["detail"].startswith("frames show: ") and shown[0]["labels"][0] in exp["sentence"]


def test_reingest_unchanged_media_is_a_no_op(sample_store: Path) -> None:
    report = json.loads(run(sample_store, "ingest", "media", str(SAMPLE), "--output-format", "json"))
    assert report["added"] == 0 and report["updated"] == 0 and report["unchanged"] == 13
    embed = json.loads(run(sample_store, "embed", "--format", "json"))
    assert sum(embed["vectors"].values()) == 0


def test_query_steers_the_list(sample_store: Path) -> None:
    plain = run(sample_store, "recommend", "--user", "u_urban", "-k", "3", "--format", "csv")
    steered = run(sample_store, "recommend", "--user", "u_urban", "-k", "3", "--query", "cooking a pasta recipe",
                  "--query-weight", "2", "--format", "csv")
    assert "pasta" not in plain
    assert list(csv.DictReader(io.StringIO(steered)))[0]["item_id"] == "pasta"
