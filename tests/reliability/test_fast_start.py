"""Fast start (issue 5, item 1): `recommend`, `explain`, `info` and `similar` never import torch or an encoder.

Checked with `python -X importtime`, which lists every module a process imported, so an import hidden
behind a lazy path still shows. On failure the message names the chain of imports that pulled torch in.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.reliability.conftest import REPO, SAMPLE, avrec_env, ok, run_avrec

HEAVY = ("torch", "torchvision", "open_clip", "sentence_transformers", "transformers", "faster_whisper",
         "ctranslate2", "pyspark")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from avrec.store import Store, VectorRecord

    store = tmp_path_factory.mktemp("fast") / "store"
    ok(run_avrec(store, "ingest", "catalog", str(SAMPLE / "catalog.csv")))
    ok(run_avrec(store, "ingest", "interactions", str(SAMPLE / "interactions.csv")))
    rng = np.random.default_rng(0)
    with Store(store) as s:
        s.put_vectors([VectorRecord(i, "text", "test-text-8", rng.normal(size=8).astype(np.float32), "h")
                       for i in s.item_ids()])
    ok(run_avrec(store, "fit", "--format", "json"))
    return store


def _imported(store: Path, *args: str) -> tuple[set[str], str]:
    cmd = [sys.executable, "-X", "importtime", "-m", "avrec", "--store", str(store), "--quiet", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=avrec_env(), cwd=REPO, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines()
             if line.startswith("import time:") and "|" in line}
    return names, proc.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("recommend", "--user", "u_calm", "-k", "5", "--format", "csv"),
        ("recommend", "--history", "rain,ocean", "-k", "5", "--format", "jsonl"),
        ("explain", "--user", "u_calm", "--item", "ocean", "--format", "json"),
        ("info", "--format", "json"),
        ("similar", "rain", "-k", "3", "--format", "csv"),
    ],
    ids=["recommend", "recommend-history", "explain", "info", "similar"],
)
def test_reader_commands_import_no_torch(store: Path, args: tuple[str, ...]) -> None:
    names, log = _imported(store, *args)
    heavy = sorted({n.split(".")[0] for n in names} & set(HEAVY))
    if heavy:
        from benchmarks.recommend_latency import import_chain

        chains = "\n".join(f"  {m}: {' -> '.join(import_chain(log, m))}" for m in heavy)
        pytest.fail(f"`avrec {args[0]}` imported {', '.join(heavy)}:\n{chains}")


def test_recommend_for_a_known_user_loads_neither_the_model_nor_scipy(store: Path) -> None:
    # Served from the user table `fit` wrote (avrec.serving.uservectors): scipy alone costs about as much as numpy.
    names, _ = _imported(store, "recommend", "--user", "u_calm", "-k", "5", "--format", "csv")
    assert not any(n == "scipy" or n.startswith("scipy.") for n in names)
    assert "avrec.model" not in names and "avrec.serving.served" not in names
    names, _ = _imported(store, "recommend", "--user", "u_calm", "--history", "rain", "-k", "5", "--format", "csv")
    assert "scipy.sparse" in names  # a fold-in needs the model: the ordinary path, scipy and all
