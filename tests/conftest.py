"""Shared fixtures: the real data (skipped cleanly when absent) and seeded generators."""

from __future__ import annotations

import os

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
