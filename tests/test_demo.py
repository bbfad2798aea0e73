"""The main job in smoke mode: results -> figures -> report (the shared ``smoke_demo`` run)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

pytestmark = pytest.mark.e2e

pytest.importorskip("torch")


@pytest.fixture
def demo_out(smoke_demo: Path) -> Path:
    """``scalelaws demo --smoke --seed 1`` (tests/conftest.py; read only)."""
    return smoke_demo


def test_demo_writes_report_and_every_figure(demo_out: Path):
    from paper_figures import FIGURES

    report = (demo_out / "report.md").read_text()
    for m in FIGURES.values():
        png = demo_out / "figures" / f"{m.STEM}.png"
        assert png.is_file()
        assert f"figures/{m.STEM}.png" in report
    for section in ("Exponents per landscape", "Scale-invariance test", "Correction law",
                    "Super-resolution 1 km -> 250 m", "Winner by RMSE"):
        assert section in report


def test_report_tables_match_result_files(demo_out: Path):
    report = (demo_out / "report.md").read_text()
    ex = xr.load_dataset(demo_out / "results" / "exponents.nc", engine="h5netcdf")
    for ls in ex["landscape"].values:
        h = float(ex["H"].sel(landscape=ls))
        assert re.search(rf"\| {ls} \| {h:.2f} ", report), ls
    met = pd.read_csv(demo_out / "results" / "metrics.csv")
    best = met.loc[met["rmse"].idxmin()]
    assert f"({best['rmse']:.2f} K)" in report


def test_demo_results_are_consistent(demo_out: Path):
    res = demo_out / "results"
    met = xr.load_dataset(res / "metrics.nc", engine="h5netcdf")
    methods = [str(m) for m in met["method"].values]
    assert methods == ["bicubic", "tsharp", "dms", "sisr_invariant", "sisr_corrected", "disr",
                       "disr_corrected"]
    assert np.all(np.isfinite(met["rmse_mean"].values))
    maps = xr.load_dataset(res / "sr_maps.nc", engine="h5netcdf")
    np.testing.assert_allclose(maps["error"].values,
                               maps["prediction"].values - maps["reference"].values[None],
                               atol=1e-4, equal_nan=True)
    for mode in methods[3:]:
        assert (res / "sr_runs" / mode / "checkpoints" / "last.ckpt").is_file()
    inv = xr.load_dataset(res / "invariance.nc", engine="h5netcdf")
    # synthetic landscapes break scale invariance by design: the fine band is rougher
    assert np.all(inv["H_fine"].values > inv["H_coarse"].values)


def test_real_data_needs_pairs(tmp_path: Path):
    from analysis.pipeline import compute_results
    from scalelaws.errors import InputError

    with pytest.raises(InputError, match="MODIS-ASTER pairs"):
        compute_results(tmp_path / "r", data=tmp_path, smoke=True, progress=False)
