"""A small store with a catalog, interactions and synthetic content vectors — no encoders needed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import Result
from typer.testing import CliRunner

from avrec.cli import app
from avrec.store import Store, VectorRecord

GENRES = {
    "nature": ["rain", "ocean", "forest", "meadow", "river", "snow"],
    "city": ["traffic", "subway", "skyline", "market", "neon", "crowd"],
    "music": ["drums", "piano", "violin", "guitar", "choir", "synth"],
}


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, store: Path, *args: str, input: str | None = None) -> Result:
    return runner.invoke(app, ["--store", str(store), "--quiet", *args], input=input, catch_exceptions=False)


@pytest.fixture
def catalog_csv(tmp_path: Path) -> Path:
    path = tmp_path / "catalog.csv"
    lines = ["item_id,title,description,tags,path,creator"]
    for genre, names in GENRES.items():
        for name in names:
            lines.append(
                f"{name},{name.title()} clip,A short clip about {name}.,{genre}|{name},{name}.mp4,{genre}-studio"
            )
    lines.append("fresh,Fresh rain clip,Brand new clip of rain with no views.,nature|rain,fresh.mp4,nature-studio")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def interactions_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    rows = ["user_id,item_id,timestamp,event"]
    t = 1_700_000_000
    for genre, names in GENRES.items():
        for u in range(6):
            picks = rng.choice(names, size=4, replace=False)
            for item in picks:
                t += 60
                rows.append(f"{genre}_{u},{item},{t},view")
    rows.append("nature_0,rain,2024-01-02T03:04:05Z,like")
    path = tmp_path / "interactions.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def add_vectors(store_dir: Path) -> None:
    """Text vectors that cluster by genre, so content can carry the cold item 'fresh'."""
    rng = np.random.default_rng(1)
    centers = {g: rng.normal(size=16) for g in GENRES}
    with Store(store_dir) as store:
        records = []
        for item in store.iter_items():
            genre = item.tags[0] if item.tags else "nature"
            vec = centers[genre] + 0.3 * rng.normal(size=16)
            records.append(VectorRecord(item.item_id, "text", "test-text-16", vec.astype(np.float32), "h"))
        store.put_vectors(records)


@pytest.fixture
def fitted_store(tmp_path: Path, runner: CliRunner, catalog_csv: Path, interactions_csv: Path) -> Path:
    store = tmp_path / "fitted"
    assert invoke(runner, store, "ingest", "catalog", str(catalog_csv)).exit_code == 0
    assert invoke(runner, store, "ingest", "interactions", str(interactions_csv)).exit_code == 0
    add_vectors(store)
    result = invoke(runner, store, "fit", "--format", "json")
    assert result.exit_code == 0, result.output
    json.loads(result.stdout)
    return store
