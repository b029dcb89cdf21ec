"""Output rendering and user-attribute features."""

from __future__ import annotations

import io
import json

import numpy as np

from avrec.cli.output import Format, emit_object, emit_rows, resolve
from avrec.training.dataset import codes
from avrec.training.userfeatures import encode, fit_feature_names


def test_rows_in_every_format() -> None:
    rows = [{"user_id": "u,1", "item_id": "i", "rank": 1, "score": 0.5}]
    cols = ("user_id", "item_id", "rank", "score")
    out = io.StringIO()
    emit_rows(rows, cols, Format.csv, out=out)
    assert out.getvalue() == 'user_id,item_id,rank,score\n"u,1",i,1,0.5\n'
    out = io.StringIO()
    emit_rows(iter(rows), cols, Format.jsonl, out=out)
    assert json.loads(out.getvalue()) == rows[0]
    out = io.StringIO()
    emit_rows(rows, cols, Format.json, out=out)
    assert json.loads(out.getvalue()) == rows
    out = io.StringIO()
    emit_rows(rows, cols, Format.table, out=out)
    assert "u,1" in out.getvalue()


def test_non_finite_floats_become_null() -> None:
    out = io.StringIO()
    emit_object({"a": float("nan"), "b": {"c": 1.5}}, Format.json, out=out)
    assert json.loads(out.getvalue()) == {"a": None, "b": {"c": 1.5}}


def test_resolve_defaults_to_jsonl_when_piped() -> None:
    assert resolve(None, stream=io.StringIO()) is Format.jsonl
    assert resolve(Format.csv, stream=io.StringIO()) is Format.csv


def test_codes_maps_and_marks_missing() -> None:
    assert codes(["b", "z", "a"], ["a", "b", "c"]).tolist() == [1, -1, 0]
    assert codes(["a"], []).tolist() == [-1]


def test_user_features_encode_consistently() -> None:
    attrs = [{"age": 24, "gender": "M", "occupation": "writer", "zip": f"{i:05d}"} for i in range(100)]
    attrs += [{"age": 57, "gender": "F", "occupation": "writer", "zip": "90210"}] * 3
    names = fit_feature_names(attrs)
    assert "age=20s" in names and "gender=m" in names and "occupation=writer" in names
    assert any(n.startswith("zip~") for n in names)  # many distinct zips are coarsened
    mat = encode([{"age": "23", "gender": "m"}, {}], names)
    assert mat.shape == (2, len(names))
    np.testing.assert_allclose(np.linalg.norm(mat.toarray(), axis=1), [1.0, 0.0], atol=1e-6)
    row = mat.toarray()[0]
    assert row[names.index("age=20s")] > 0 and row[names.index("gender=m")] > 0
