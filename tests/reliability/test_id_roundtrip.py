"""Ids survive the command line exactly (issue 7, item 6): commas, quotes, `|`, unicode, spaces inside.

Ids go in through a JSONL catalog and a CSV log, come out of `recommend --format csv` and `--format jsonl`,
and go back in through `recommend --users -` (the CSV output's user column piped into the next command).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from avrec.cli import app

# Ids: any printable text, surrounding whitespace stripped (ingest strips it by contract), no line breaks.
IDS = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="\ufeff"),
    min_size=1, max_size=10,
).map(str.strip).filter(bool)
SPICY = st.sampled_from(['a,b', 'say "hi"', '"quoted"', "x|y", "日本語", "🎬 clip", "-dash", "tab\there", "=1+2"])
ID = st.one_of(SPICY, IDS)


def _invoke(runner: CliRunner, store: Path, *args: str, input: str | None = None) -> Result:
    result = runner.invoke(app, ["--store", str(store), "--quiet", *args], input=input, catch_exceptions=False)
    assert result.exit_code == 0, (args, result.output)
    return result


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(users=st.lists(ID, min_size=2, max_size=3, unique=True), items=st.lists(ID, min_size=4, max_size=5, unique=True))
def test_ids_round_trip_through_csv_and_jsonl(
    tmp_path_factory: pytest.TempPathFactory, users: list[str], items: list[str]
) -> None:
    tmp = tmp_path_factory.mktemp("ids")
    store = tmp / "store"
    runner = CliRunner()
    catalog = "".join(json.dumps({"item_id": i, "title": f"title of {i}"}, ensure_ascii=False) + "\n" for i in items)
    _invoke(runner, store, "ingest", "catalog", "-", "--format", "jsonl", input=catalog)
    log = io.StringIO()
    writer = csv.writer(log, lineterminator="\n")
    writer.writerow(["user_id", "item_id", "timestamp"])
    for n, user in enumerate(users):
        for m, item in enumerate(items[: 1 + n % 2]):
            writer.writerow([user, item, 1_700_000_000 + 10 * n + m])
    _invoke(runner, store, "ingest", "interactions", "-", "--format", "csv", input=log.getvalue())
    _invoke(runner, store, "fit", "--model", "popular", "--format", "json")

    out_csv = _invoke(runner, store, "recommend", "--all-users", "-k", "3", "--include-seen", "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(out_csv)))
    assert {r["user_id"] for r in rows} == set(users)
    assert {r["item_id"] for r in rows} <= set(items)

    out_jsonl = _invoke(runner, store, "recommend", "--all-users", "-k", "3", "--include-seen",
                        "--format", "jsonl").stdout
    objs = [json.loads(line) for line in out_jsonl.splitlines()]
    assert [(o["user_id"], o["item_id"], o["rank"]) for o in objs] == [
        (r["user_id"], r["item_id"], int(r["rank"])) for r in rows
    ]

    # The CSV output piped back in as the list of users to serve.
    again = _invoke(runner, store, "recommend", "--users", "-", "-k", "3", "--include-seen", "--format", "csv",
                    input=out_csv).stdout
    assert {r["user_id"] for r in csv.DictReader(io.StringIO(again))} == set(users)
