"""The shipped-model index and `scalelaws models` (no torch needed to list)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from scalelaws.errors import InputError
from sr.zoo import list_models, resolve_model


def _index(tmp_path, default="a", single="b"):
    (tmp_path / "a.pt").write_bytes(b"x")
    (tmp_path / "b.pt").write_bytes(b"x")
    (tmp_path / "models.json").write_text(json.dumps({
        "default": default, "default_single_image": single,
        "models": {"a": {"file": "a.pt", "mode": "disr_corrected", "description": "guided"},
                   "b": {"file": "b.pt", "mode": "sisr_invariant", "description": "single"}}}))
    return tmp_path


def test_list_and_resolve(tmp_path):
    d = _index(tmp_path)
    rows = list_models(d)
    assert [r["name"] for r in rows] == ["a", "b"]
    assert sum(r["default"] for r in rows) == 1 and rows[0]["default"]
    assert resolve_model(None, guided_input=True, weights_dir=d)[0] == d / "a.pt"
    path, how = resolve_model(None, guided_input=False, weights_dir=d)
    assert path == d / "b.pt" and "single-image" in how
    assert resolve_model("b", guided_input=True, weights_dir=d)[0] == d / "b.pt"
    assert resolve_model(str(d / "a.pt"), guided_input=True, weights_dir=d)[0] == d / "a.pt"
    with pytest.raises(InputError, match="model file not found"):
        resolve_model("nope", guided_input=True, weights_dir=d)


def test_no_shipped_default_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="no shipped model"):
        resolve_model(None, guided_input=True, weights_dir=tmp_path)


def test_models_command_json_lists_exactly_one_default():
    from scalelaws.cli import app

    res = CliRunner().invoke(app, ["models", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert isinstance(rows, list)
    for r in rows:
        assert {"name", "mode", "description", "default"} <= set(r)
    if rows:
        assert sum(r["default"] for r in rows) == 1
