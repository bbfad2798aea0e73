"""The core CLI: `scalelaws synth`, `scalelaws exponents`, `python -m scalelaws`."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

from scalelaws.cli import app

runner = CliRunner()


@pytest.mark.e2e
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


@pytest.mark.e2e
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


@pytest.mark.e2e
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


# ------------------------------------------------------------------------------- issue 12
def _scene(tmp_path, name="scene.tif", units="K", offset=0.0, res=62.5, n=128, **kw):
    from affine import Affine
    from fakes import write_geotiff

    from scalelaws import synthetic

    ds = synthetic.landscape("mixed", shape=(128, 128), pixel_size=62.5, seed=0)
    lst = ds["lst"].values.astype(np.float32) - offset
    return write_geotiff(tmp_path / name, lst, units=units,
                         transform=Affine(62.5, 0, 500000.0, 0, -62.5, 4500000.0), **kw), ds


@pytest.mark.e2e
def test_laws_fit_lst_only(tmp_path):
    """`laws fit` without --ndvi (the most common use) fits and writes a law."""
    path, _ = _scene(tmp_path)
    out = tmp_path / "law" / "law.nc"  # a missing output folder is created
    res = runner.invoke(app, ["laws", "fit", str(path), "-o", str(out), "--n-boot", "5",
                              "--q", "1,2"])
    assert res.exit_code == 0, res.output
    from scalelaws.laws import load_law

    law = load_law(out)
    assert law.ds.attrs["n_scenes"] == 1 and "lst_ndvi_slope_block" not in law.ds
    assert law.ds.attrs["law_format_version"] == 1


@pytest.mark.e2e
def test_generic_raster_options_and_declared_celsius(tmp_path, caplog):
    """--units declares a unit-less raster; --units degC converts Celsius, and says so."""
    plain, _ = _scene(tmp_path, "plain.tif", units=None)
    cels, _ = _scene(tmp_path, "celsius.tif", units=None, offset=273.15)
    res = runner.invoke(app, ["exponents", str(plain), "--json", "--n-boot", "5", "--q", "2"])
    assert res.exit_code == 2 and res.stderr.startswith(f"error: {plain}: no units declared")
    rec = {}
    for path, units in ((plain, "K"), (cels, "degC")):
        with caplog.at_level("WARNING"):
            res = runner.invoke(app, ["exponents", str(path), "--units", units, "--json",
                                      "--n-boot", "5", "--q", "2"])
        assert res.exit_code == 0, res.output
        rec[units] = json.loads(res.stdout.splitlines()[-1])
    assert "converted to kelvin" in caplog.text
    assert rec["degC"]["zeta"]["2"] == pytest.approx(rec["K"]["zeta"]["2"], rel=1e-5)


@pytest.mark.e2e
def test_exponents_by_landscape_ndvi_on_another_grid(tmp_path):
    """NDVI at 250 m for LST at 62.5 m: the classes are placed on the LST grid (mode/nearest)."""
    from affine import Affine
    from fakes import write_geotiff

    path, ds = _scene(tmp_path)
    nd = ds["ndvi"].values.reshape(32, 4, 32, 4).mean(axis=(1, 3)).astype(np.float32)
    ndvi = write_geotiff(tmp_path / "ndvi_250m.tif", nd, units="1",
                         transform=Affine(250.0, 0, 500000.0, 0, -250.0, 4500000.0))
    res = runner.invoke(app, ["exponents", str(path), "--by-landscape", "--ndvi", str(ndvi),
                              "--n-boot", "5", "--q", "1,2", "--json"])
    assert res.exit_code == 0, res.output
    recs = [json.loads(ln) for ln in res.stdout.splitlines() if ln.startswith("{")]
    assert {r["landscape"] for r in recs} >= {"grass_or_crop", "forest"}


def test_classes_placed_on_the_field_grid_keep_labels():
    """Mode/nearest placement: labels are never blended, and each block keeps its class."""
    import xarray as xr
    from affine import Affine

    from scalelaws.commands import _classes_on_grid
    from scalelaws.io._common import grid_dataarray
    from scalelaws.landscapes import classify_ndvi

    coarse = np.array([[0.9, -0.5], [0.3, 0.1]], dtype=np.float32)
    nd = grid_dataarray(coarse, Affine(250.0, 0, 0.0, 0, -250.0, 500.0), "EPSG:32631")
    field = grid_dataarray(np.zeros((8, 8)), Affine(62.5, 0, 0.0, 0, -62.5, 500.0), "EPSG:32631")
    lab = _classes_on_grid(classify_ndvi(nd), field)
    assert isinstance(lab, xr.DataArray) and lab.shape == (8, 8) and lab.dtype == np.int16
    expected = np.repeat(np.repeat(classify_ndvi(nd).values, 4, 0), 4, 1)
    np.testing.assert_array_equal(lab.values, expected)


def test_failing_plugin_is_reported_on_stderr(monkeypatch, capsys):
    """A sub-command module that fails to import is named on stderr, the rest still loads."""
    import typer

    import scalelaws.cli as cli

    class EP:
        def __init__(self, name, fail):
            self.name, self.fail = name, fail

        def load(self):
            if self.fail:
                raise ModuleNotFoundError("No module named 'torch'", name="torch")
            return lambda app: app.command("ok")(lambda: None)

    monkeypatch.setattr(cli, "entry_points", lambda group: [EP("sr", True), EP("good", False)])
    target = typer.Typer()
    failed = cli._load_plugins(target)
    err = capsys.readouterr().err
    assert failed == ["sr"]
    assert "warning: the 'sr' sub-commands are unavailable" in err and "'torch'" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.e2e
def test_one_line_error_in_a_real_process(tmp_path):
    """Outside CliRunner: stderr is exactly one line, exit 2, for a bad input."""
    bad = tmp_path / "truncated.tif"
    path, _ = _scene(tmp_path)
    bad.write_bytes(path.read_bytes()[:5000])
    res = subprocess.run([sys.executable, "-m", "scalelaws", "exponents", str(bad)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and res.stderr.startswith(f"error: {bad}: cannot be")
