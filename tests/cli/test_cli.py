"""Every command through Typer's CliRunner, output formats and error paths."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from avrec.cli import app
from tests.cli.conftest import invoke


def registered_commands() -> list[tuple[str, ...]]:
    """Every command of the Typer app, nested groups walked (`ingest media`, ...), as argument tuples."""
    import click
    import typer.main

    found: list[tuple[str, ...]] = []

    def walk(command: click.Command, path: tuple[str, ...]) -> None:
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, (*path, name))
        else:
            found.append(path)

    walk(typer.main.get_command(app), ())
    return sorted(found)


def test_every_command_has_help(runner: CliRunner) -> None:
    commands = registered_commands()
    assert {("recommend",), ("report",), ("ingest", "media")} <= set(commands)
    for command in commands:
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, command
        assert "Usage" in result.output


def test_usage_error_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    assert runner.invoke(app, ["--store", str(tmp_path / "s"), "recommend", "--bogus"]).exit_code == 2
    assert runner.invoke(app, ["--device", "tpu", "info"]).exit_code == 2
    assert runner.invoke(app, ["nonsense"]).exit_code == 2


def test_fit_report_json(fitted_store: Path, runner: CliRunner) -> None:
    result = invoke(runner, fitted_store, "fit", "--format", "json", "--seed", "7")
    report = json.loads(result.stdout)
    for key in ("model", "users", "items", "interactions", "train_seconds"):
        assert key in report
    assert report["model"] == "hybrid"
    assert report["users"] == 18
    assert report["items"] == 19
    assert report["train_seconds"] >= 0


def test_recommend_all_users_csv_excludes_seen(fitted_store: Path, runner: CliRunner, interactions_csv: Path) -> None:
    result = invoke(runner, fitted_store, "recommend", "--all-users", "-k", "3", "--format", "csv")
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert result.stdout.splitlines()[0] == "user_id,item_id,rank,score"
    seen = {(r["user_id"], r["item_id"]) for r in csv.DictReader(interactions_csv.open())}
    assert rows and all((r["user_id"], r["item_id"]) not in seen for r in rows)
    by_user: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        by_user.setdefault(r["user_id"], []).append(r)
    assert len(by_user) == 18
    for recs in by_user.values():
        assert [int(r["rank"]) for r in recs] == [1, 2, 3]
        scores = [float(r["score"]) for r in recs]
        assert scores == sorted(scores, reverse=True)


def test_recommend_taste_and_cold_item(fitted_store: Path, runner: CliRunner) -> None:
    result = invoke(runner, fitted_store, "recommend", "--user", "nature_1", "-k", "3", "--format", "jsonl")
    recs = [json.loads(line) for line in result.stdout.splitlines()]
    assert set(recs[0]) == {"user_id", "item_id", "rank", "score"}
    nature = {"rain", "ocean", "forest", "meadow", "river", "snow", "fresh"}
    assert all(r["item_id"] in nature for r in recs), recs


def test_recommend_include_seen_and_candidates(fitted_store: Path, runner: CliRunner) -> None:
    seen = invoke(
        runner, fitted_store, "recommend", "--user", "city_0", "-k", "30", "--include-seen", "--format", "csv"
    )
    assert len(seen.stdout.splitlines()) == 1 + 19
    result = invoke(
        runner,
        fitted_store,
        "recommend",
        "--user",
        "city_0",
        "--candidates",
        "-",
        "--format",
        "csv",
        input="item_id\npiano\nfresh\n",
    )
    items = {row["item_id"] for row in csv.DictReader(io.StringIO(result.stdout))}
    assert items <= {"piano", "fresh"}


def test_recommend_users_from_stdin(fitted_store: Path, runner: CliRunner) -> None:
    result = invoke(
        runner, fitted_store, "recommend", "--users", "-", "-k", "2", "--format", "csv", input="music_0\ncity_1\n"
    )
    users = [row["user_id"] for row in csv.DictReader(io.StringIO(result.stdout))]
    assert users == ["music_0", "music_0", "city_1", "city_1"]


def test_recommend_history_for_new_user(fitted_store: Path, runner: CliRunner) -> None:
    result = invoke(
        runner,
        fitted_store,
        "recommend",
        "--user",
        "newbie",
        "--history",
        "drums,piano,violin",
        "-k",
        "3",
        "--format",
        "jsonl",
    )
    assert result.exit_code == 0, result.output
    recs = [json.loads(line) for line in result.stdout.splitlines()]
    assert {r["item_id"] for r in recs} <= {"guitar", "choir", "synth"} | {"fresh"} | set()
    assert all(r["item_id"] not in ("drums", "piano", "violin") for r in recs)


def test_unknown_user_exits_1(fitted_store: Path, runner: CliRunner) -> None:
    result = invoke(runner, fitted_store, "recommend", "--user", "nobody", "--format", "csv")
    assert result.exit_code == 1
    assert "nobody" in result.stderr
    assert result.stdout == ""  # not even a header: a failed request prints no partial answer
    bad = invoke(runner, fitted_store, "recommend", "--history", "rain,nope", "--format", "csv")
    assert bad.exit_code == 1 and bad.stdout == "" and "nope" in bad.stderr


def test_recommend_without_model_exits_1(tmp_path: Path, runner: CliRunner, catalog_csv: Path) -> None:
    store = tmp_path / "s"
    invoke(runner, store, "ingest", "catalog", str(catalog_csv))
    result = invoke(runner, store, "recommend", "--user", "x")
    assert result.exit_code == 1
    assert "avrec fit" in result.stderr


def test_reader_on_missing_store_exits_1(tmp_path: Path, runner: CliRunner) -> None:
    result = invoke(runner, tmp_path / "absent", "info")
    assert result.exit_code == 1
    assert not (tmp_path / "absent").exists()


def test_explain_parts_add_up_to_recommended_score(fitted_store: Path, runner: CliRunner) -> None:
    recs = invoke(runner, fitted_store, "recommend", "--user", "nature_2", "-k", "3", "--format", "jsonl")
    for line in recs.stdout.splitlines():
        rec = json.loads(line)
        result = invoke(
            runner, fitted_store, "explain", "--user", "nature_2", "--item", rec["item_id"], "--format", "json"
        )
        exp = json.loads(result.stdout)
        assert {"user_id", "item_id", "score", "parts", "history", "evidence"} <= set(exp)
        assert abs(sum(exp["parts"].values()) - exp["score"]) < 1e-4
        assert abs(exp["score"] - rec["score"]) < 1e-4
        assert exp["history"] == sorted(exp["history"], key=lambda h: -h["contribution"])
        for ev in exp["evidence"]:
            assert "modality" in ev


def test_explain_cold_item_says_so(fitted_store: Path, runner: CliRunner) -> None:
    result = invoke(runner, fitted_store, "explain", "--user", "nature_0", "--item", "fresh", "--format", "json")
    exp = json.loads(result.stdout)
    assert exp["cold_item"] is True
    assert "content" in exp["sentence"]


def test_explain_table_and_unknown_item(fitted_store: Path, runner: CliRunner) -> None:
    result = invoke(runner, fitted_store, "explain", "--user", "nature_0", "--item", "ocean", "--format", "table")
    assert result.exit_code == 0
    assert "parts" in result.stdout
    bad = invoke(runner, fitted_store, "explain", "--user", "nature_0", "--item", "nope")
    assert bad.exit_code == 1 and "nope" in bad.stderr


def test_info_json(fitted_store: Path, runner: CliRunner) -> None:
    info = json.loads(invoke(runner, fitted_store, "info", "--format", "json").stdout)
    assert info["items"] == 19
    assert info["users"] == 18
    assert info["interactions"] >= 72
    assert info["vectors"] == {"text": 19, "visual": 0, "audio": 0}
    assert info["models"] == 1


@pytest.mark.parametrize("model", ["mf", "popular", "itemknn", "content"])
def test_fit_baselines_and_explain(fitted_store: Path, runner: CliRunner, model: str) -> None:
    result = invoke(runner, fitted_store, "fit", "--model", model, "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["model"] == model
    rec = json.loads(
        invoke(runner, fitted_store, "recommend", "--user", "city_2", "-k", "1", "--format", "jsonl").stdout
    )
    exp = json.loads(
        invoke(runner, fitted_store, "explain", "--user", "city_2", "--item", rec["item_id"], "--format", "json").stdout
    )
    assert abs(exp["score"] - rec["score"]) < 1e-4
    assert abs(sum(exp["parts"].values()) - exp["score"]) < 1e-4


def test_fit_is_reproducible_with_seed(fitted_store: Path, runner: CliRunner) -> None:
    outs = []
    for _ in range(2):
        invoke(runner, fitted_store, "fit", "--seed", "3", "--format", "json")
        outs.append(invoke(runner, fitted_store, "recommend", "--all-users", "--format", "csv").stdout)
    assert outs[0] == outs[1]


def test_fit_unknown_model_is_usage_error(fitted_store: Path, runner: CliRunner) -> None:
    assert invoke(runner, fitted_store, "fit", "--model", "magic").exit_code == 2


def test_fit_incremental_folds_in_new_users_and_items(fitted_store: Path, runner: CliRunner, tmp_path: Path) -> None:
    from avrec.store import Store, VectorRecord

    events = tmp_path / "more.csv"
    events.write_text("user_id,item_id\nlate,rain\nlate,ocean\nlate,brand_new\nnature_3,brand_new\n")
    assert invoke(runner, fitted_store, "ingest", "interactions", str(events)).exit_code == 0
    with Store(fitted_store) as store:
        ids, mat, _ = store.vectors("text")
        store.put_vectors([VectorRecord("brand_new", "text", "test-text-16", mat[ids.index("river")], "h")])
    result = invoke(runner, fitted_store, "fit", "--incremental", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["users"] == 19 and report["items"] == 20
    assert report["incremental"]["refit_due"] is False
    recs = invoke(runner, fitted_store, "recommend", "--user", "late", "-k", "5", "--format", "jsonl")
    items = [json.loads(line)["item_id"] for line in recs.stdout.splitlines()]
    assert items and not {"rain", "ocean", "brand_new"} & set(items)
    exp = json.loads(invoke(runner, fitted_store, "explain", "--user", "nature_0", "--item", "brand_new",
                            "--format", "json").stdout)
    assert abs(sum(exp["parts"].values()) - exp["score"]) < 1e-4


def test_fit_incremental_says_when_refit_is_due(fitted_store: Path, runner: CliRunner, tmp_path: Path) -> None:
    events = tmp_path / "many.csv"
    events.write_text("user_id,item_id\n" + "".join(f"newcomer{i},rain\n" for i in range(10)))
    invoke(runner, fitted_store, "ingest", "interactions", str(events))
    report = json.loads(invoke(runner, fitted_store, "fit", "--incremental", "--format", "json").stdout)
    assert report["incremental"]["refit_due"] is True


def test_evaluate_table_json_and_plot(fitted_store: Path, runner: CliRunner, tmp_path: Path) -> None:
    plot = tmp_path / "metrics.png"
    result = invoke(runner, fitted_store, "evaluate", "--models", "hybrid,popular", "--k", "3,5",
                    "--plot", str(plot), "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    models = {row["model"] for row in report["rows"]}
    assert models == {"hybrid", "popular"}
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    csv_out = invoke(runner, fitted_store, "evaluate", "--models", "popular", "--format", "csv")
    assert csv_out.stdout.splitlines()[0].startswith("model")


def test_recommend_by_tags_and_creator(fitted_store: Path, runner: CliRunner) -> None:
    result = invoke(runner, fitted_store, "recommend", "--user", "music_0", "--by", "creator", "--format", "jsonl")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows[0]["category"] == "music-studio"  # seen items count: the channel a fan already loves
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    tags = invoke(runner, fitted_store, "recommend", "--user", "city_0", "--by", "tags", "-k", "2", "--format", "csv")
    assert tags.stdout.splitlines()[0] == "user_id,category,rank,score,items"
    assert invoke(runner, fitted_store, "recommend", "--user", "city_0", "--by", "nothing").exit_code == 2


def test_report_writes_self_contained_html(fitted_store: Path, runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = invoke(runner, fitted_store, "report", "--user", "nature_1", "--out", str(out), "-k", "4")
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert page.startswith("<!doctype html>") and page.count('class="card"') == 4
    assert "http://" not in page and "https://" not in page  # nothing fetched when opened


def test_report_renders_in_headless_browser(fitted_store: Path, runner: CliRunner, tmp_path: Path) -> None:
    import shutil
    import subprocess

    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        pytest.skip("no headless browser installed")
    out = tmp_path / "report.html"
    invoke(runner, fitted_store, "report", "--user", "nature_1", "--out", str(out))
    shot = tmp_path / "shot.png"
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
         "--window-size=1000,800", out.as_uri()],
        check=True, capture_output=True, timeout=120,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "args",
    [
        ("evaluate", "--split", "bogus"),
        ("evaluate", "--models", "magic"),
        ("evaluate", "--k", "ten"),
        ("fit", "--param", "factors=-3"),
        ("fit", "--param", "nonsense=1"),
        ("fit", "--param", "novalue"),
        ("recommend", "--user", "a", "--all-users"),
        ("recommend",),
        ("embed", "--modality", "smell"),
        ("similar", "rain", "--modality", "smell"),
    ],
)
def test_bad_options_are_usage_errors(fitted_store: Path, runner: CliRunner, args: tuple[str, ...]) -> None:
    result = invoke(runner, fitted_store, *args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


def test_recommend_with_annoy_candidates_matches_exact(fitted_store: Path, runner: CliRunner) -> None:
    exact = invoke(runner, fitted_store, "recommend", "--all-users", "-k", "3", "--format", "csv").stdout
    ann = invoke(runner, fitted_store, "recommend", "--all-users", "-k", "3", "--ann", "--format", "csv").stdout
    # A catalog this small fits in the oversampled candidate set: same items, same scores (float32 rounding).
    rows_exact = list(csv.DictReader(io.StringIO(exact)))
    rows_ann = list(csv.DictReader(io.StringIO(ann)))
    assert [(r["user_id"], r["item_id"]) for r in rows_ann] == [(r["user_id"], r["item_id"]) for r in rows_exact]
    for a, b in zip(rows_ann, rows_exact):
        assert abs(float(a["score"]) - float(b["score"])) < 1e-5


def test_large_catalogs_are_served_from_the_index_by_default(
    fitted_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import avrec.recommend
    import avrec.serving.index
    from avrec.serving.index import InnerProductIndex
    from avrec.store import Store

    searched: list[int] = []
    search = InnerProductIndex.search

    def counting(self: InnerProductIndex, *args: object, **kwargs: object) -> object:
        searched.append(1)
        return search(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(InnerProductIndex, "search", counting)
    with Store(fitted_store) as store:
        exact = list(avrec.recommend.recommend(store, all_users=True, k=3))
        assert not searched  # a small catalog: every item scored
        monkeypatch.setattr(avrec.serving.index, "ANN_MIN_ITEMS", 5)
        batch = list(avrec.recommend.recommend(store, all_users=True, k=3))
        assert not searched  # every user at once: blocks of matrix products up to ANN_BATCH_MIN_ITEMS
        monkeypatch.setattr(avrec.serving.index, "ANN_BATCH_MIN_ITEMS", 5)
        auto = list(avrec.recommend.recommend(store, all_users=True, k=3))
        assert len(searched) == len({r.user_id for r in auto})
        searched.clear()
        forced = list(avrec.recommend.recommend(store, all_users=True, k=3, use_index=False))
        assert not searched
    assert [(r.user_id, r.item_id) for r in auto] == [(r.user_id, r.item_id) for r in exact]
    assert [(r.user_id, r.item_id) for r in forced] == [(r.user_id, r.item_id) for r in exact]
    assert batch == exact


def test_an_index_from_an_older_avrec_is_skipped_unless_asked_for(
    fitted_store: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    import avrec.serving.index

    monkeypatch.setattr(avrec.serving.index, "ANN_MIN_ITEMS", 5)
    monkeypatch.setattr(avrec.serving.index, "ANN_BATCH_MIN_ITEMS", 5)
    for meta_path in (fitted_store / "indexes").glob("*.json"):
        meta = json.loads(meta_path.read_text())
        del meta["head"]
        meta_path.write_text(json.dumps(meta))
    exact = invoke(runner, fitted_store, "recommend", "--all-users", "-k", "3", "--exact", "--format", "csv")
    auto = invoke(runner, fitted_store, "recommend", "--all-users", "-k", "3", "--format", "csv")
    assert auto.exit_code == 0 and auto.stdout == exact.stdout
    asked = invoke(runner, fitted_store, "recommend", "--all-users", "-k", "3", "--ann", "--format", "csv")
    assert asked.exit_code == 1 and "avrec fit" in asked.output and asked.stdout == ""


def test_candidates_stored_after_the_fit_are_named(fitted_store: Path, runner: CliRunner, tmp_path: Path) -> None:
    late = tmp_path / "late.csv"
    late.write_text("item_id,title\nbrand_new,Brand new\n")
    invoke(runner, fitted_store, "ingest", "catalog", str(late))
    result = runner.invoke(app, ["--store", str(fitted_store), "recommend", "--user", "city_0", "--candidates", "-",
                                 "--format", "csv"], input="brand_new\npiano\n")
    assert result.exit_code == 0
    assert "fit --incremental" in result.stderr
    assert [r["item_id"] for r in csv.DictReader(io.StringIO(result.stdout))] == ["piano"]


def test_fit_tune_on_training_data_only(fitted_store: Path, runner: CliRunner) -> None:
    result = invoke(runner, fitted_store, "fit", "--tune", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["params"]["tune"] is False  # the stored model carries the chosen weights
    assert invoke(runner, fitted_store, "fit", "--tune", "--model", "popular").exit_code == 2


def test_batch_users_skip_unknown_ids_and_fail_at_the_end(fitted_store: Path, runner: CliRunner) -> None:
    result = invoke(runner, fitted_store, "recommend", "--users", "-", "-k", "2", "--format", "csv",
                    input="music_0\nghost\ncity_1\n")
    assert result.exit_code == 1
    users = [row["user_id"] for row in csv.DictReader(io.StringIO(result.stdout))]
    assert users == ["music_0", "music_0", "city_1", "city_1"]
    assert "ghost" in result.stderr
