"""Shared fixtures: every test gets its own store directory and never touches the user's home."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from avrec.store import Store

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def _model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache of exported models (ONNX) for the whole session: exported once, never in the user's home."""
    return tmp_path_factory.mktemp("avrec-cache")


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _model_cache: Path) -> None:
    monkeypatch.setenv("AVREC_STORE", str(tmp_path / "default-store"))
    monkeypatch.setenv("AVREC_CACHE_DIR", str(_model_cache))
    # TransNetV2 reads every frame (seconds per clip on a small CPU): the default suite samples frames by the
    # ffmpeg scene score; tests of shot detection ask for it (tests/media/test_pretrained.py, marked slow).
    monkeypatch.setenv("AVREC_SHOTS", "scene")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def store(store_dir: Path) -> Iterator[Store]:
    s = Store(store_dir)
    yield s
    s.close()


def shared_path(*parts: str) -> Path:
    """A path under ../shared, skipping the test when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not available here")
    return path
