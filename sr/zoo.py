"""The trained models shipped with the package, and ``scalelaws models``.

Model files (:mod:`sr.modelfile`: state dicts and JSON metadata, loaded with
``torch.load(weights_only=True)``, never unpickling code) live in ``sr/weights/`` with an index,
``sr/weights/models.json``::

    {"default": "NAME", "default_single_image": "NAME",
     "models": {"NAME": {"file": "NAME.pt", "card": "NAME.md", "mode": "...", "description": "..."}}}

``default`` is the recommended model (guided: it needs a 250 m NDVI); ``default_single_image``
is used when no NDVI is given. This module imports no torch: listing the models is cheap.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from scalelaws.errors import InputError

__all__ = ["WEIGHTS_DIR", "list_models", "resolve_model", "register"]

log = logging.getLogger(__name__)

#: Folder of the shipped model files (package data).
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def _index(weights_dir: Path | None = None) -> dict[str, Any]:
    d = weights_dir or WEIGHTS_DIR
    path = d / "models.json"
    if not path.is_file():
        return {"default": None, "default_single_image": None, "models": {}}
    try:
        idx = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"the model index is not valid JSON: {exc}", path) from exc
    if not isinstance(idx, dict) or not isinstance(idx.get("models"), dict):
        raise InputError("the model index has no 'models' table", path)
    return idx


def list_models(weights_dir: Path | None = None) -> list[dict[str, Any]]:
    """List the shipped models.

    Each is a dict: ``name``, ``mode``, ``description``, ``default`` (the recommended model,
    exactly one when any is shipped), ``default_single_image``, ``file`` and ``card``.
    """
    d = weights_dir or WEIGHTS_DIR
    idx = _index(d)
    out = []
    for name, m in idx["models"].items():
        out.append({
            "name": name,
            "mode": m.get("mode"),
            "description": m.get("description", ""),
            "default": name == idx.get("default"),
            "default_single_image": name == idx.get("default_single_image"),
            "file": str(d / m["file"]),
            "card": str(d / m["card"]) if m.get("card") else None,
        })
    return out


def resolve_model(model: str | Path | None, *, guided_input: bool,
                  weights_dir: Path | None = None) -> tuple[Path, str]:
    """Turn ``--model`` into a model file path and say how it was chosen.

    Parameters
    ----------
    model
        ``None`` (the default model: the guided default when an NDVI is given, else the
        single-image default), a shipped model's name, or a path to a model file / checkpoint.
    guided_input
        Whether the user gave an NDVI guide.
    weights_dir
        Folder of the model files and their index (default :data:`WEIGHTS_DIR`).

    Returns
    -------
    (path, how)
        The file and a sentence for the user (e.g. "no --ndvi: using the default single-image
        model 'x'").

    """
    d = weights_dir or WEIGHTS_DIR
    idx = _index(d)
    models = idx["models"]
    if model is None:
        key = "default" if guided_input else "default_single_image"
        name = idx.get(key)
        if not name or name not in models:
            raise InputError("no shipped model to use by default: give --model NAME or a checkpoint",
                             d / "models.json")
        how = (f"using the default model {name!r}" if guided_input
               else f"no --ndvi: using the default single-image model {name!r}")
        return d / models[name]["file"], how
    if str(model) in models:
        return d / models[str(model)]["file"], f"using the shipped model {str(model)!r}"
    path = Path(model)
    if path.is_file():
        return path, f"using the model file {path}"
    known = ", ".join(sorted(models)) or "none shipped"
    raise InputError(f"model file not found, and not the name of a shipped model (shipped: {known})", path)


def register(app: typer.Typer) -> None:
    """Add ``scalelaws models`` to the app."""

    @app.command("models")
    def models_cmd(
        as_json: Annotated[bool, typer.Option("--json", help="A JSON list of objects.")] = False,
    ) -> None:
        """List the trained models shipped with the package (the default is marked)."""
        rows = list_models()  # an InputError is answered by the root command group
        if as_json:
            typer.echo(json.dumps(rows, indent=1))
            return
        if not rows:
            typer.echo("no model shipped")
            return
        for r in rows:
            flag = " (default)" if r["default"] else (
                " (default without --ndvi)" if r["default_single_image"] else "")
            typer.echo(f"{r['name']}{flag}  [{r['mode']}]  {r['description']}")
