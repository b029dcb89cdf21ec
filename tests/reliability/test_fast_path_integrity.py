"""Issue 14.6: the `recommend --user` fast path and the index check what they read.

Stored user vectors that no longer match their shapes or checksums are passed over with a warning (the answer
comes from the model, as if they were not there); a damaged Annoy index fails `--ann` with one line instead of
silently leaving items out, and is passed over with a warning when the index was not asked for.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from avrec.store import Store
from tests.reliability.conftest import AVREC, avrec_env, ok, run_avrec, write_catalog, write_log

ARGS = ("recommend", "--user", "u3", "-k", "5", "--format", "csv")


def _loud(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """avrec without --quiet, so warnings reach stderr."""
    return subprocess.run(
        [*AVREC, "--store", str(store), *args], capture_output=True, text=True, env=avrec_env(), check=False,
        timeout=300,
    )


@pytest.fixture
def fitted(tmp_path: Path) -> tuple[Path, Path, str]:
    store = tmp_path / "store"
    ok(run_avrec(store, "ingest", "catalog", str(write_catalog(tmp_path / "c.csv", 40))))
    ok(run_avrec(store, "ingest", "interactions", str(write_log(tmp_path / "e.csv", 600, 20, 40))))
    ok(run_avrec(store, "fit", "--format", "json"))
    with Store(store) as s:
        record = s.active_model()
        assert record is not None
        folder = s.user_vectors_dir(record.model_key)
    assert folder.is_dir()
    return store, folder, ok(run_avrec(store, *ARGS)).stdout


def _same_answer_with_a_warning(store: Path, expected: str) -> None:
    proc = _loud(store, *ARGS)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == expected
    assert "damaged" in proc.stderr and "Traceback" not in proc.stderr


def test_flipped_bytes_in_the_user_vectors(fitted: tuple[Path, Path, str]) -> None:
    store, folder, expected = fitted
    path = folder / "users.npy"
    user_ids = np.load(folder / "user_ids.npy").tolist()
    data = bytearray(path.read_bytes())
    row_bytes = np.load(path, mmap_mode="r").shape[1] * 4
    start = len(data) - (len(user_ids) - user_ids.index("u3")) * row_bytes  # the asked-for user's row
    for offset in range(start, start + row_bytes, 4):
        data[offset + 3] ^= 0x7A  # exponent bytes: scores like 6.9e35 if this row were trusted
    path.write_bytes(bytes(data))
    _same_answer_with_a_warning(store, expected)


def test_an_item_matrix_cut_short(fitted: tuple[Path, Path, str]) -> None:
    store, folder, expected = fitted
    items = np.load(folder / "items.npy")
    np.save(folder / "items.npy", items[:3])  # a valid .npy, three rows where meta.json says 40
    _same_answer_with_a_warning(store, expected)


def test_a_truncated_npy_file(fitted: tuple[Path, Path, str]) -> None:
    store, folder, expected = fitted
    path = folder / "item_rows.npy"
    path.write_bytes(path.read_bytes()[:40])
    _same_answer_with_a_warning(store, expected)


def test_flipped_item_side_bytes(fitted: tuple[Path, Path, str]) -> None:
    store, folder, expected = fitted
    items = np.load(folder / "items.npy")
    items[7, 0] += 1.0
    np.save(folder / "items.npy", items)
    _same_answer_with_a_warning(store, expected)


def _damage_index(store: Path) -> Path:
    with Store(store) as s:
        record = s.active_model()
        assert record is not None
        path = s.index_path(record.model_key)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def test_a_damaged_index_fails_ann_with_one_line(fitted: tuple[Path, Path, str]) -> None:
    store, _, _ = fitted
    index = _damage_index(store)
    for args in (ARGS, ("recommend", "--all-users", "-k", "3", "--format", "csv")):
        proc = run_avrec(store, *args, "--ann")
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and str(index) in lines[0] and "damaged" in lines[0]


def test_a_damaged_index_is_passed_over_when_not_asked_for(
    fitted: tuple[Path, Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import avrec.serving.index
    from avrec.serving.index import open_index

    store, _, _ = fitted
    _damage_index(store)
    monkeypatch.setattr(avrec.serving.index, "ANN_MIN_ITEMS", 5)  # the catalog is "large": the index is wanted
    warnings: list[str] = []
    with Store(store) as s:
        record = s.active_model()
        assert record is not None
        assert open_index(s, record.model_key, 40, None, warnings.append) is None
        assert open_index(s, record.model_key, 40, False, warnings.append) is None
    assert len(warnings) == 1 and "damaged" in warnings[0]
