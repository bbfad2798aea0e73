"""The core CLI: `scalelaws synth`, `scalelaws exponents`, `python -m scalelaws`."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import xarray as xr
from typer.testing import CliRunner

from scalelaws.cli import app

runner = CliRunner()


def test_python_m_scalelaws_help():
    res = subprocess.run(
        [sys.executable, "-m", "scalelaws", "--help"], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr
    for cmd in ("synth", "exponents", "laws"):
        assert cmd in res.stdout


def test_synth_writes_georeferenced_fields(tmp_path):
    res = runner.invoke(app, ["synth", "-o", str(tmp_path), "--size", "128", "--kinds", "urban"])
    assert res.exit_code == 0, res.output
    import rioxarray  # noqa: F401

    da = xr.open_dataarray(tmp_path / "urban_lst.tif", engine="rasterio").squeeze()
    assert da.shape == (128, 128)
    assert da.rio.crs is not None
    assert abs(da.rio.resolution()[0] - 62.5) < 1e-9
    assert 250 < float(da.mean()) < 350


def test_exponents_json_and_netcdf(tmp_path):
    res = runner.invoke(app, ["synth", "-o", str(tmp_path), "--size", "128", "--kinds", "forest"])
    assert res.exit_code == 0, res.output
    out = tmp_path / "exp.nc"
    path = tmp_path / "forest_lst.tif"
    res = runner.invoke(
        app, ["exponents", str(path), "--json", "--n-boot", "20", "--q", "1,2", "-o", str(out)]
    )
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 1
    rec = _strict_json(lines[0])
    for key in ("file", "H", "zeta", "zeta_ci", "c1", "c2", "c2_ci", "beta", "scale_range_m",
                "break_m"):
        assert key in rec
    assert set(rec["zeta"]) == {"1", "2"}
    assert np.isclose(rec["H"], rec["zeta"]["2"] / 2)
    lo, hi = rec["zeta_ci"]["2"]
    assert lo <= rec["zeta"]["2"] <= hi
    ds = xr.open_dataset(out)
    assert ds.sizes["file"] == 1 and "zeta" in ds


def _strict_json(line: str) -> dict:
    def reject(name):
        raise ValueError(f"invalid JSON constant {name}")

    return json.loads(line, parse_constant=reject)


def test_exponents_by_landscape_json_is_strict(tmp_path):
    res = runner.invoke(app, ["synth", "-o", str(tmp_path), "--size", "128", "--kinds", "mixed"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, [
        "exponents", str(tmp_path / "mixed_lst.tif"), "--by-landscape",
        "--ndvi", str(tmp_path / "mixed_ndvi.tif"), "--n-boot", "10", "--json",
        "-o", str(tmp_path / "bl.nc"),
    ])
    assert res.exit_code == 0, res.output
    recs = [_strict_json(ln) for ln in res.stdout.splitlines() if ln.startswith("{")]
    assert {r["landscape"] for r in recs} >= {"grass_or_crop", "forest"}
    assert any(r["H"] is not None for r in recs)
    assert (tmp_path / "bl.csv").exists()


def test_exponents_bad_file_names_it(tmp_path):
    bad = tmp_path / "not_a_raster.tif"
    bad.write_text("hello")
    res = runner.invoke(app, ["exponents", str(bad), "--json"])
    assert res.exit_code == 2
    assert "not_a_raster.tif" in res.output
