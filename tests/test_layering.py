"""Imports follow the data flow: scalelaws -> sr -> analysis -> paper_figures, never back.

``scalelaws`` never imports torch (checked statically on every module and at run time).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# package -> packages it must never import
FORBIDDEN = {
    "scalelaws": {"torch", "lightning", "sr", "analysis", "paper_figures"},
    "sr": {"analysis", "paper_figures"},
    "analysis": {"paper_figures"},
}


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_points_back(package):
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = _imported_roots(path) & FORBIDDEN[package]
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not offenders, "\n".join(offenders)


def test_scalelaws_runtime_never_loads_torch():
    code = (
        "import sys, pkgutil, importlib, scalelaws\n"
        "for m in pkgutil.walk_packages(scalelaws.__path__, 'scalelaws.'):\n"
        "    if not m.name.endswith('__main__'):\n"
        "        importlib.import_module(m.name)\n"
        "import scalelaws.cli\n"
        "bad = [m for m in ('torch', 'lightning') if m in sys.modules]\n"
        "sys.exit(1 if bad else 0)\n"
    )
    # the CLI loads its plugins lazily: registering `sr` commands must not import torch either
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr or "torch was imported by scalelaws"
