"""`fit --engine spark` and `recommend --engine spark --output` through the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from avrec.cli import app

pytestmark = pytest.mark.spark


def _invoke(store: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["--store", str(store), "--quiet", *args], catch_exceptions=False)


def test_cli_spark_fit_then_batch_recommend(spark: Any, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    events = tmp_path / "events.csv"
    rows = ["user_id,item_id"] + [f"u{u},i{i}" for u in range(40) for i in rng.choice(30, 6, replace=False)]
    events.write_text("\n".join(rows) + "\n")
    store = tmp_path / "store"
    assert _invoke(store, "ingest", "interactions", str(events)).exit_code == 0
    fit = _invoke(store, "fit", "--engine", "spark", "--spark-master", "local[2]", "--model", "mf", "--format", "json")
    assert fit.exit_code == 0, fit.output
    assert json.loads(fit.stdout)["engine"] == "spark"
    local = _invoke(store, "recommend", "--user", "u3", "-k", "3", "--format", "jsonl")
    assert local.exit_code == 0 and len(local.stdout.splitlines()) == 3
    out = tmp_path / "recs"
    batch = _invoke(store, "recommend", "--all-users", "-k", "3", "--engine", "spark", "--output", str(out),
                    "--spark-master", "local[2]", "--format", "json")
    assert batch.exit_code == 0, batch.output
    assert json.loads(batch.stdout)["rows"] == 120
    import pyarrow.parquet as pq

    table = pq.read_table(out).to_pydict()
    assert set(table) >= {"user_id", "item_id", "rank", "score"}
    mine = sorted((r, i) for u, i, r in zip(table["user_id"], table["item_id"], table["rank"]) if u == "u3")
    assert [i for _, i in mine] == [json.loads(line)["item_id"] for line in local.stdout.splitlines()]


def test_cli_spark_usage_errors(tmp_path: Path) -> None:
    store = tmp_path / "s"
    assert _invoke(store, "recommend", "--all-users", "--engine", "spark").exit_code == 2  # no --output
    assert _invoke(store, "recommend", "--user", "x", "--output", str(tmp_path / "o")).exit_code == 2
