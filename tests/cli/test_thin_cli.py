"""The command line is a thin layer: options spelled alike everywhere, mode checks in the library, errors
printed by the one handler."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from avrec.cli import app
from avrec.errors import PartialFailureError, UsageError
from avrec.recommend import Request
from tests.cli.conftest import invoke
from tests.cli.test_cli import registered_commands


def test_top_k_is_spelled_the_same_in_every_command(runner: CliRunner) -> None:
    import typer.main

    root = typer.main.get_command(app)
    with_k = []
    for path in registered_commands():
        command = root
        for name in path:
            command = command.commands[name]  # type: ignore[attr-defined]
        for param in command.params:
            if "-k" in param.opts or any(o in ("--k", "--top") for o in param.opts):
                assert {"-k", "--top"} <= set(param.opts), (path, param.opts)
                with_k.append(path)
    assert {("recommend",), ("similar",), ("evaluate",), ("report",)} <= set(with_k)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (("--model", "mf"), "--model"),
        (("--param", "factors=8"), "--param"),
        (("--engine", "spark"), "--engine"),
        (("--tune",), "--tune"),
        (("--holdout", "0.2"), "--holdout"),
        (("--seed", "3"), "--seed"),
    ],
)
def test_incremental_fit_refuses_model_options(
    fitted_store: Path, runner: CliRunner, options: tuple[str, ...], named: str
) -> None:
    result = runner.invoke(app, ["--store", str(fitted_store), "fit", "--incremental", *options])
    assert result.exit_code == 2
    assert named in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_incremental_fit_alone_still_works(fitted_store: Path, runner: CliRunner) -> None:
    result = invoke(runner, fitted_store, "fit", "--incremental", "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["incremental"]["updated_from"]


@pytest.mark.parametrize(
    "request_",
    [
        Request(user=["a"], all_users=True),
        Request(),
        Request(users_file="-", candidates_file="-"),
        Request(all_users=True, engine="spark"),
        Request(all_users=True, output=Path("out")),
        Request(all_users=True, engine="spark", output=Path("out"), by="tags"),
        Request(all_users=True, by="tags", query="rain"),
        Request(all_users=True, k=0),
        Request(all_users=True, engine="flink"),
    ],
)
def test_recommend_modes_are_checked_by_the_library(request_: Request) -> None:
    with pytest.raises(UsageError):
        request_.check()


def test_partial_failures_print_one_line_each(fitted_store: Path, runner: CliRunner) -> None:
    result = runner.invoke(
        app, ["--store", str(fitted_store), "recommend", "--users", "-", "-k", "2", "--format", "csv"],
        input="ghost_1\nnature_0\nghost_2\n",
    )
    assert result.exit_code == 1
    assert result.stdout.startswith("user_id,item_id,rank,score")
    errors = [line for line in result.stderr.splitlines() if line.startswith("avrec: error:")]
    assert errors == ["avrec: error: 2 unknown user id(s) skipped (first: 'ghost_1')"]


def test_partial_failure_error_lines() -> None:
    err = PartialFailureError(["a.mp4: not media", "b.mp4: truncated"], "2 of 5 files failed")
    assert err.lines() == ["a.mp4: not media", "b.mp4: truncated", "2 of 5 files failed"]
    assert err.exit_code == 1
