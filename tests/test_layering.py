"""Imports follow the data flow: scalelaws -> sr -> analysis -> paper_figures, never back.

``scalelaws`` never imports torch (checked statically on every module and at run time). The
figure modules (every module of ``paper_figures`` but the composition root ``demo``) only read
result files: they import neither ``analysis`` nor ``sr`` nor torch, directly (statically, any
import in the file) or through what they import (at run time).
"""

from __future__ import annotations

import ast
import functools
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
    "paper_figures": {"torch", "lightning", "sr", "analysis"},
}
# the composition root: the one module allowed to import every layer (and that nothing imports)
COMPOSITION_ROOTS = {"paper_figures/demo.py": "paper_figures.demo"}


@functools.cache
def _imported_modules(path: Path) -> frozenset[str]:
    """Dotted names imported anywhere in the file (``from a import b`` gives ``a`` and ``a.b``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return frozenset(names)


def _imported_roots(path: Path) -> set[str]:
    return {name.split(".")[0] for name in _imported_modules(path)}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_points_back(package):
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        if path.relative_to(ROOT).as_posix() in COMPOSITION_ROOTS:
            continue
        bad = _imported_roots(path) & FORBIDDEN[package]
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not offenders, "\n".join(offenders)


@pytest.mark.e2e
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


def test_nothing_imports_the_composition_root():
    roots = set(COMPOSITION_ROOTS.values())
    offenders = [f"{path.relative_to(ROOT)} imports {sorted(_imported_modules(path) & roots)}"
                 for package in FORBIDDEN for path in sorted((ROOT / package).rglob("*.py"))
                 if path.relative_to(ROOT).as_posix() not in COMPOSITION_ROOTS
                 and _imported_modules(path) & roots]
    assert not offenders, "\n".join(offenders)


@pytest.mark.e2e
def test_figures_runtime_never_load_analysis_sr_or_torch(tmp_path):
    """Importing every figure module and drawing from an empty folder loads no lower layer."""
    code = (
        "import sys, pkgutil, importlib, paper_figures\n"
        "from pathlib import Path\n"
        f"roots = {sorted(COMPOSITION_ROOTS.values())!r}\n"
        "for m in pkgutil.walk_packages(paper_figures.__path__, 'paper_figures.'):\n"
        "    if m.name not in roots:\n"
        "        importlib.import_module(m.name)\n"
        "from paper_figures._style import MissingResultError\n"
        "from paper_figures.cli import make_figures\n"
        "try:\n"
        f"    make_figures(Path({str(tmp_path / 'figs')!r}), results=Path({str(tmp_path)!r}),\n"
        "                 progress=False)\n"
        "except MissingResultError:\n"
        "    pass\n"
        "else:\n"
        "    sys.exit('no error for an empty results folder')\n"
        "bad = [m for m in ('analysis', 'sr', 'torch', 'lightning') if m in sys.modules]\n"
        "sys.exit(f'loaded {bad}' if bad else 0)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
