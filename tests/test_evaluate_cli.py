"""``scalelaws evaluate`` / :func:`analysis.evaluate.evaluate_prediction` on synthetic rasters."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rioxarray  # noqa: F401
import xarray as xr
from affine import Affine
from fakes import write_geotiff

from analysis import evaluate as E
from scalelaws.errors import AllNaNError, InputError, MissingCRSError

UTM = "EPSG:32631"
X0, Y0 = 500000.0, 5000000.0


def smooth(x: np.ndarray, y: np.ndarray, seed: int = 0) -> np.ndarray:
    """A smooth LST-like surface (K) of map coordinates (m), 1-6 km wavelengths."""
    rng = np.random.default_rng(seed)
    out = np.full(np.broadcast(x, y).shape, 300.0)
    for _ in range(20):
        k = 2 * np.pi / rng.uniform(1000.0, 6000.0)
        th = rng.uniform(0, np.pi)
        out += rng.uniform(0.5, 1.5) * np.cos(k * (np.cos(th) * (x - X0) + np.sin(th) * (y - Y0))
                                               + rng.uniform(0, 2 * np.pi))
    return out


def raster(values, px: float, x0: float = X0, y0: float = Y0, crs: str | None = UTM,
           units: str = "K") -> xr.DataArray:
    ny, nx = values.shape
    t = Affine(px, 0, x0, 0, -px, y0)
    da = xr.DataArray(np.asarray(values, dtype=np.float64), dims=("y", "x"), coords={
        "y": t.f + (np.arange(ny) + 0.5) * t.e, "x": t.c + (np.arange(nx) + 0.5) * t.a},
        attrs={"units": units})
    da = da.rio.write_transform(t)
    return da.rio.write_crs(crs) if crs else da


def field_on(n: int, px: float, x0: float = X0, y0: float = Y0, shift=(0.0, 0.0), seed=0):
    """The smooth surface on an ``n x n`` grid, displaced by ``shift`` (m, east, north)."""
    xs = x0 + (np.arange(n) + 0.5) * px
    ys = y0 - (np.arange(n) + 0.5) * px
    return smooth(xs[None, :] - shift[0], ys[:, None] - shift[1], seed)


def test_known_error_gives_known_metrics():
    ref = raster(field_on(60, 250.0), 250.0)
    # a constant error of +1.5 K on the same grid: RMSE = bias = 1.5 K, no unbiased error
    ds = E.evaluate_prediction(ref + 1.5, ref)
    assert float(ds["rmse"]) == pytest.approx(1.5, abs=1e-4)
    assert float(ds["bias"]) == pytest.approx(1.5, abs=1e-4)
    assert float(ds["ubrmse"]) < 1e-3 and float(ds["r"]) == pytest.approx(1.0, abs=1e-6)
    assert int(ds["n_scored"]) == 58 * 58  # the footprint eroded by one pixel
    assert np.isnan(float(ds["consistency_rmse"]))  # no coarse field
    np.testing.assert_allclose(ds["sf_log_ratio"].values[:4], 0.0, atol=1e-4)
    # a +-0.8 K checkerboard: RMSE 0.8 K, no bias, too much variance at 1 px
    chk = 0.8 * (-1.0) ** np.add.outer(np.arange(60), np.arange(60))
    ds = E.evaluate_prediction(ref + chk, ref)
    assert float(ds["rmse"]) == pytest.approx(0.8, abs=1e-3)
    assert abs(float(ds["bias"])) < 0.02
    s2r = float(ds["s2_ref"][0])  # the checkerboard adds (2 x 0.8)^2 K^2 at lag 1
    assert float(ds["sf_log_ratio"][0]) == pytest.approx(np.log((s2r + 2.56) / s2r), abs=0.03)
    assert ds["sf_log_ratio"].dims == ("lag",) and float(ds["lag_m"][0]) == 250.0


@pytest.mark.slow
def test_given_and_estimated_offset():
    # the reference sees the surface 500 m east and 250 m south of where the prediction does
    ref = raster(field_on(70, 250.0, shift=(500.0, -250.0)), 250.0)
    pred = raster(field_on(70, 250.0), 250.0)
    none = E.evaluate_prediction(pred, ref)
    given = E.evaluate_prediction(pred, ref, offset=(500.0, -250.0))
    assert float(given["rmse"]) < 1e-3 < 0.5 < float(none["rmse"])
    est = E.evaluate_prediction(pred, ref, offset="estimate", step_m=62.5, max_m=750.0)
    assert est.attrs["offset_dx_m"] == pytest.approx(500.0, abs=30.0)
    assert est.attrs["offset_dy_m"] == pytest.approx(-250.0, abs=30.0)
    assert float(est["rmse"]) < 0.2 * float(none["rmse"])
    # estimated against a 1 km coarse field (block means of what the prediction sees):
    # independent of the prediction, and the consistency error is computed
    coarse = raster(pred.values.reshape(14, 5, 14, 5)[:, :, :, :].mean(axis=(1, 3))[:, :], 1250.0)
    est_c = E.evaluate_prediction(pred, ref, offset="estimate", coarse=coarse, step_m=62.5,
                                  max_m=750.0)
    assert est_c.attrs["offset_dx_m"] == pytest.approx(500.0, abs=60.0)
    assert est_c.attrs["offset_dy_m"] == pytest.approx(-250.0, abs=60.0)
    assert "coarse" in est_c.attrs["offset_source"]
    assert float(est_c["consistency_rmse"]) < 0.05


def test_finer_reference_is_aggregated():
    # a 50 m reference of a 250 m prediction: averaged 5 x 5 first (radiance mean)
    ref = raster(field_on(300, 50.0), 50.0)
    pred = raster(field_on(60, 250.0), 250.0)
    ds = E.evaluate_prediction(pred, ref)
    assert ds.attrs["reference_aggregation_factor"] == 5
    assert ds.attrs["reference_pixel_m"] == pytest.approx(250.0)
    raw = E.evaluate_prediction(pred, ref, aggregate_ref=False)
    assert raw.attrs["reference_aggregation_factor"] == 1
    assert int(ds["n_scored"]) < int(raw["n_scored"])
    # the sampled-versus-averaged difference of a 1-6 km surface is small
    assert float(ds["rmse"]) < 0.15


def test_bad_inputs():
    ref = raster(field_on(40, 250.0), 250.0)
    with pytest.raises(AllNaNError, match="do not overlap"):
        E.evaluate_prediction(raster(field_on(40, 250.0), 250.0, x0=X0 + 50_000.0), ref)
    with pytest.raises(MissingCRSError):
        E.evaluate_prediction(raster(field_on(40, 250.0), 250.0, crs=None), ref)
    with pytest.raises(InputError, match="kelvin"):
        E.evaluate_prediction(ref - 273.15, ref.assign_attrs(units="degC"))
    with pytest.raises(InputError):
        E.write_metrics(E.evaluate_prediction(ref, ref), "metrics.csv")


@pytest.mark.e2e
def test_cli_evaluate(tmp_path):
    from typer.testing import CliRunner

    from scalelaws.cli import app

    t = Affine(250.0, 0, X0, 0, -250.0, Y0)
    truth = field_on(60, 250.0)
    ref = write_geotiff(tmp_path / "ref_lst.tif", truth.astype(np.float32), transform=t,
                        units="K")
    pred = write_geotiff(tmp_path / "sr_lst.tif", (truth + 1.5).astype(np.float32),
                         transform=t, units="K")
    run = CliRunner().invoke
    res = run(app, ["evaluate", "--pred", str(pred), "--ref", str(ref), "-o",
                    str(tmp_path / "m.nc")])
    assert res.exit_code == 0, res.output
    assert "| rmse | 1.50 | K |" in res.output and "ln(S2" in res.output
    back = xr.open_dataset(tmp_path / "m.nc")
    assert float(back["rmse"]) == pytest.approx(1.5, abs=1e-3) and back["rmse"].attrs["units"] == "K"
    back.close()
    res = run(app, ["evaluate", "--pred", str(pred), "--ref", str(ref), "--json", "--offset",
                    "-250", "0", "-o", str(tmp_path / "m.json")])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["attrs"]["offset_dx_m"] == -250.0 and out["metrics"]["rmse"] > 1.5
    assert json.loads((tmp_path / "m.json").read_text())["metrics"] == out["metrics"]
    # clear one-line errors, exit status 2
    nocrs = write_geotiff(tmp_path / "nocrs.tif", truth.astype(np.float32), crs=None, units="K")
    far = write_geotiff(tmp_path / "far.tif", truth.astype(np.float32), units="K",
                        transform=Affine(250.0, 0, X0 + 90_000.0, 0, -250.0, Y0))
    for args, msg in [
        (["--ref", str(nocrs)], "coordinate reference system"),
        (["--ref", str(far)], "do not overlap"),
        (["--ref", str(ref), "--offset", "1", "2", "--estimate-offset"], "not both"),
        (["--ref", str(tmp_path / "missing.tif")], "missing.tif"),
        (["--ref", str(ref), "-o", str(tmp_path / "m.csv")], ".nc or .json"),
    ]:
        res = run(app, ["evaluate", "--pred", str(pred), *args])
        assert res.exit_code == 2, (args, res.output)
        assert msg in res.output and res.output.strip().count("\n") == 0, res.output
