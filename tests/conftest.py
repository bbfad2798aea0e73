"""Shared fixtures: the real data (skipped cleanly when absent), seeded generators and the one
smoke run of ``scalelaws demo`` that every end-to-end test reading results shares."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")

from scalelaws.config import data_dir  # noqa: E402


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def shared_data():
    """Root of the real data; skip the test when it is not there."""
    root = data_dir()
    if not root.is_dir():
        pytest.skip(f"real data not found at {root} (set SCALELAWS_DATA)")
    return root


@pytest.fixture(scope="session")
def modis_aster_root(shared_data):
    root = shared_data / "modis_aster" / "pairs"
    if not root.is_dir():
        pytest.skip(f"MODIS-ASTER pairs not found under {root}")
    return root


def _tree_digest(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root``, by relative path."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def tree_digest() -> Callable[[Path], dict[str, str]]:
    """The function ``folder -> {relative path: SHA-256}`` (to check a folder was only read)."""
    return _tree_digest


@pytest.fixture(scope="session")
def smoke_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``scalelaws demo --smoke --seed 1 -o OUT``, run once per session: ``OUT`` holds
    ``results/``, ``figures/`` and ``report.md``.

    Shared, so read only: a test that must change a file copies the folder first
    (``shutil.copytree``). The teardown fails if a test wrote into it.
    """
    pytest.importorskip("torch")
    from typer.testing import CliRunner

    from scalelaws.cli import app

    out = tmp_path_factory.mktemp("smoke_demo") / "demo"
    r = CliRunner().invoke(app, ["demo", "--smoke", "-o", str(out), "--seed", "1"])
    assert r.exit_code == 0, r.output
    before = _tree_digest(out)
    yield out
    assert _tree_digest(out) == before, "a test modified the shared smoke demo; copy it first"
