"""Batch recommend (`--all-users`, `--users`): block selection, bulk histories and the lean writers give
exactly what ranking each user on their own gives."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits
from typer.testing import CliRunner

from avrec.cli.output import Format, emit_records, emit_rows
from avrec.model import als
from avrec.serving import ranking
from avrec.serving.ranking import GROUP, Recommendation, id_order, select_block
from avrec.serving.served import load_served
from avrec.store import Store
from avrec.training.dataset import all_histories, history_matrix, load_store_data
from tests.cli.conftest import invoke


def _reference(row: np.ndarray, k: int, ids: list[str]) -> list[int]:
    ranked = sorted((-float(row[j]), ids[j], j) for j in range(len(row)) if row[j] > -np.inf)
    return [j for _, _, j in ranked[:k]]


@pytest.mark.parametrize("width", [7, GROUP * 3 + 5, GROUP * 60 + 11])
def test_select_block_is_the_best_k_with_ties_broken_by_item_id(width: int) -> None:
    rng = np.random.default_rng(width)
    for trial in range(40):
        n, k = int(rng.integers(1, 12)), int(rng.integers(1, 25))
        if trial % 2:  # few distinct values: ties everywhere, also across the k-th place
            scores = rng.integers(-3, 8, size=(n, width)).astype(np.float32)
        else:
            scores = rng.standard_normal((n, width)).astype(np.float32)
        scores[rng.random((n, width)) < 0.3] = -np.inf
        scores[0, : width // 2] = -np.inf  # a row with few allowed items
        ids = [f"i{j}" for j in rng.permutation(width)]
        cols, counts = select_block(scores, k, id_order(ids))
        for r in range(n):
            assert cols[r, : counts[r]].tolist() == _reference(scores[r], k, ids)
            assert (cols[r, counts[r] :] == -1).all()
        # a row's answer does not depend on the rows blocked with it
        alone = select_block(scores[n - 1 :], k, id_order(ids))[0]
        assert alone[0].tolist() == cols[n - 1].tolist()


@pytest.mark.parametrize("spread", [0, 1, 3])
def test_norm_bounded_top_k_is_the_best_k_of_every_score(spread: int, monkeypatch: pytest.MonkeyPatch) -> None:
    import scipy.sparse as sp

    monkeypatch.setattr(ranking, "HEAD_ITEMS", 64)
    rng = np.random.default_rng(spread)
    m, d = 1500, 6
    # Small integers: every product is exact in float32, so ties are real (also across the k-th place).
    # Item lengths from power-law (spread 3) to equal (0), where no item can be left out.
    items = rng.integers(-2, 3, size=(m, d)) * (1 + rng.zipf(2.0, size=(m, 1)) % (1 + 8 * spread))
    items[:5] = 0  # items no user can like more than any other
    for trial in range(30):
        n, k = int(rng.integers(1, 40)), int(rng.integers(1, 30))
        queries = rng.integers(-3, 4, size=(n, d)).astype(np.float32)
        queries[0] = 0 if trial % 3 == 0 else queries[0]  # every score 0: ties by item id only
        seen = sp.csr_matrix(rng.random((n, m)) < (0.9 if trial % 5 == 0 else 0.02))
        ids = [f"i{j}" for j in rng.permutation(m)]
        scorer = ranking.InnerProductTopK(items.astype(np.float32), id_order(ids), cells=1 << 12)
        assert scorer.handles(queries)
        cols, scores, counts = scorer.select(queries, k, seen)
        every = ranking.allowed_scores(queries @ items.T.astype(np.float32), seen=seen, finite=None)
        want, want_counts = select_block(every, k, id_order(ids))
        assert counts.tolist() == want_counts.tolist()
        for r in range(n):
            assert cols[r, : counts[r]].tolist() == want[r, : counts[r]].tolist()
            assert scores[r, : counts[r]].tolist() == every[r, want[r, : counts[r]]].tolist()
    assert not scorer.handles(np.full((1, d), 1e37, np.float32))  # products that could overflow
    assert not scorer.handles(np.full((1, d), np.nan, np.float32))


def test_bulk_histories_equal_the_per_block_ones(fitted_store: Path, runner: CliRunner, tmp_path: Path) -> None:
    extra = tmp_path / "extra.csv"  # a zero-weight event (seen, not a positive) and an item newer than the model
    extra.write_text("user_id,item_id,event,weight\ncity_1,rain,skip,0\nmusic_2,brand-new,view,1\n")
    assert invoke(runner, fitted_store, "ingest", "interactions", str(extra)).exit_code == 0
    with Store(fitted_store) as store:
        served = load_served(store)
        users = store.user_ids()
        bulk = all_histories(store, users, served.item_ids)
        blocks = history_matrix(store, users, served.item_pos)
        assert (bulk[0] != blocks[0]).nnz == 0 and (bulk[1] != blocks[1]).nnz == 0 and bulk[2] == blocks[2]
        row = users.index("city_1")
        assert bulk[1][row, served.item_pos["rain"]] and not bulk[0][row, served.item_pos["rain"]]
        # fit reads the training users' histories along with the training data: the same matrices
        loaded = load_store_data(store)
        mine = all_histories(store, loaded.data.user_ids, loaded.data.item_ids)
        assert all((a != b).nnz == 0 for a, b in zip(loaded.histories[:2], mine[:2], strict=True))
        assert loaded.histories[2] == mine[2] and loaded.last_event_id == store.last_event_id()
        # a repeated id gets its history again
        twice = history_matrix(store, ["city_1", "music_2", "city_1"], served.item_pos)
        assert (twice[0][0] != twice[0][2]).nnz == 0 and (twice[1][0] != blocks[1][row]).nnz == 0


@pytest.mark.parametrize("extra", [[], ["--include-seen"], ["--exact", "-k", "30"]])
def test_all_users_is_each_user_ranked_alone(
    fitted_store: Path, runner: CliRunner, tmp_path: Path, extra: list[str]
) -> None:
    everyone = invoke(runner, fitted_store, "recommend", "--all-users", "--format", "csv", *extra)
    assert everyone.exit_code == 0, everyone.output
    lines = everyone.stdout.splitlines()
    assert lines[0] == "user_id,item_id,rank,score"
    with Store(fitted_store) as store:
        users = store.user_ids()
    alone = ["user_id,item_id,rank,score"]
    for user in users:
        one = invoke(runner, fitted_store, "recommend", "--user", user, "--format", "csv", *extra)
        alone += one.stdout.splitlines()[1:]
    # One user alone is scored through a matrix-vector product (often from the stored user vectors), a
    # block through a matrix product: the same rows, the same scores up to float32 rounding.
    split = [line.split(",") for line in lines]
    split_alone = [line.split(",") for line in alone]
    assert [r[:3] for r in split] == [r[:3] for r in split_alone]
    assert [float(r[3]) for r in split[1:]] == pytest.approx([float(r[3]) for r in split_alone[1:]], rel=1e-5, abs=1e-6)
    listed = tmp_path / "users.txt"
    listed.write_text("\n".join(users) + "\n")
    batch = invoke(runner, fitted_store, "recommend", "--users", str(listed), "--format", "csv", *extra)
    assert batch.stdout == everyone.stdout
    jsonl = invoke(runner, fitted_store, "recommend", "--all-users", "--format", "jsonl", *extra)
    rows = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert [[r["user_id"], r["item_id"], str(r["rank"])] for r in rows] == [r[:3] for r in split[1:]]
    assert [r["score"] for r in rows] == pytest.approx([float(r[3]) for r in split[1:]], abs=1e-6)
    assert jsonl.stdout.splitlines()[0].startswith('{"user_id": ')


def test_threads_reach_the_als_kernels(
    fitted_store: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    import avrec.training.fit as fit_module

    asked: list[int | None] = []

    def recording(threads: int | None = None) -> als.ALSBackend:
        asked.append(threads)
        return als.LOCAL

    monkeypatch.setattr(fit_module, "default_backend", recording)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "AVREC_THREADS"):
        monkeypatch.setenv(var, "1")  # what --threads sets, restored after the test
    with threadpool_limits(limits=None):  # so is the BLAS limit --threads sets
        result = invoke(runner, fitted_store, "--threads", "1", "fit", "--model", "mf")
    assert result.exit_code == 0, result.output
    assert asked == [1]


@pytest.mark.parametrize("fmt", [Format.csv, Format.jsonl, Format.json])
def test_emit_records_writes_the_bytes_emit_rows_writes(fmt: Format) -> None:
    ids = ["plain", "a,b", 'say "hi"', "two\nlines", "cr\rhere", " lead", "é ü", "\\x1b[31m", "-dash", ""]
    floats = [0.5, 1 / 3, -0.0, 1e-9, 123456789.0, float("nan"), float("inf"), -2.5e38]
    rows = [
        Recommendation(u, ids[(n * 3) % len(ids)], n, floats[n % len(floats)])
        for n, u in enumerate(ids * 3)
    ]
    lean, plain = io.StringIO(), io.StringIO()
    columns = ("user_id", "item_id", "rank", "score")
    assert emit_records(iter(rows), columns, fmt, out=lean) == len(rows)
    emit_rows((r.as_dict() for r in rows), columns, fmt, out=plain)
    assert lean.getvalue() == plain.getvalue()
