"""The evaluation protocol: offset estimation, scoring, aggregation, writers, CLI."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import rioxarray  # noqa: F401
import xarray as xr
from affine import Affine
from pyproj import Transformer

from analysis import evaluate as E
from analysis.baselines import bicubic, tsharp
from scalelaws.errors import InputError
from scalelaws.grids import gaussian_smooth
from scalelaws.io import ModisAsterPair

SINU = "+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m +no_defs"
MODIS_PX = 926.6254330558334
ASTER_PX = 231.654786841478


def _da(values, t: Affine, crs, units="K") -> xr.DataArray:
    ny, nx = values.shape
    da = xr.DataArray(np.asarray(values, dtype=np.float32), dims=("y", "x"), coords={
        "y": t.f + (np.arange(ny) + 0.5) * t.e, "x": t.c + (np.arange(nx) + 0.5) * t.a},
        attrs={"units": units})
    return da.rio.write_crs(crs).rio.write_transform(t)


def _field(x, y, seed=0, wl_m=(2000.0, 9000.0)):
    """A smooth random LST-like field of sinusoidal map coordinates (m), 2-9 km wavelengths."""
    rng = np.random.default_rng(seed)
    out = np.full(np.broadcast(x, y).shape, 300.0)
    for _ in range(25):
        wl = rng.uniform(*wl_m)
        th = rng.uniform(0, np.pi)
        k = 2 * np.pi / wl
        out += rng.uniform(0.5, 1.5) * np.cos(k * (np.cos(th) * x + np.sin(th) * y)
                                               + rng.uniform(0, 2 * np.pi))
    return out


def synthetic_pair(shift=(150.0, -200.0), n=24, seed=0, pid=0,
                   wl_m=(2000.0, 9000.0)) -> ModisAsterPair:
    """MODIS 1 km (block means of the field), 250 m grid, ASTER (UTM) displaced by ``shift``."""
    x0, y0 = 390000.0, 5010000.0
    t_lst = Affine(MODIS_PX, 0, x0, 0, -MODIS_PX, y0)
    s = 8
    sub = (np.arange(n * s) + 0.5) / s
    xs = x0 + sub * MODIS_PX
    ys = y0 - sub * MODIS_PX
    fine = _field(xs[None, :], ys[:, None], seed, wl_m)
    lst = fine.reshape(n, s, n, s).mean(axis=(1, 3))
    t_ndvi = Affine(MODIS_PX / 4, 0, x0 + MODIS_PX / 4, 0, -MODIS_PX / 4, y0)  # 1 px east
    ndvi = np.full((4 * n, 4 * n), 0.5)
    # ASTER grid: UTM 31N covering the patch with a margin
    to_utm = Transformer.from_crs(SINU, "EPSG:32631", always_xy=True)
    u, v = to_utm.transform([x0, x0 + n * MODIS_PX], [y0, y0 - n * MODIS_PX])
    u0, v0 = min(u) - 3000.0, max(v) + 3000.0
    na = int((max(u) - min(u) + 6000.0) / ASTER_PX)
    nb = int((max(v) - min(v) + 6000.0) / ASTER_PX)
    t_ast = Affine(ASTER_PX, 0, u0, 0, -ASTER_PX, v0)
    uu = u0 + (np.arange(na) + 0.5) * ASTER_PX
    vv = v0 - (np.arange(nb) + 0.5) * ASTER_PX
    uu, vv = np.meshgrid(uu, vv)
    to_sinu = Transformer.from_crs("EPSG:32631", SINU, always_xy=True)
    sx, sy = to_sinu.transform(uu, vv)
    # what MODIS sees at q, ASTER shows at q + shift
    aster = _field(sx - shift[0], sy - shift[1], seed, wl_m)
    aster[:4] = np.nan  # some invalid rows
    return ModisAsterPair(
        id=pid,
        lst_1km=_da(lst, t_lst, SINU),
        ndvi_250m=_da(ndvi, t_ndvi, SINU, units="1"),
        aster_250m=_da(aster, t_ast, "EPSG:32631"),
        meta={},
    )


def truth_on_ndvi_grid(pair, seed=0, wl_m=(2000.0, 9000.0)) -> xr.DataArray:
    t = pair.ndvi_250m.rio.transform()
    ny, nx = pair.ndvi_250m.shape
    xs = t.c + (np.arange(nx) + 0.5) * t.a
    ys = t.f + (np.arange(ny) + 0.5) * t.e
    return pair.ndvi_250m.copy(data=_field(xs[None, :], ys[:, None], seed, wl_m).astype(np.float32)
                               ).assign_attrs(units="K")


@pytest.fixture(scope="module")
def spair():
    return synthetic_pair()


def test_estimate_offset_recovers_known_shift(spair):
    surf = E.offset_correlation([spair], step_m=58.0, max_m=350.0)
    assert surf["mean_corr"].dims == ("dy", "dx") and surf.sizes["dx"] == 13
    dx, dy = E.estimate_offset(surf)
    assert dx == pytest.approx(150.0, abs=15.0)
    assert dy == pytest.approx(-200.0, abs=15.0)
    assert float(surf["mean_corr"].max()) > float(surf["mean_corr"].sel(dx=0.0, dy=0.0))


def test_estimate_offset_zero_shift():
    p = synthetic_pair(shift=(0.0, 0.0), n=16, seed=3)
    dx, dy = E.estimate_offset([p], step_m=58.0, max_m=200.0)
    assert abs(dx) < 12.0 and abs(dy) < 12.0


def test_score_pair_rewards_coregistration(spair):
    truth = truth_on_ndvi_grid(spair)
    good = E.score_pair(truth, spair, offset=(150.0, -200.0))
    bad = E.score_pair(truth, spair, offset=(0.0, 0.0))
    assert good["r"] > 0.995 and abs(good["bias"]) < 0.05
    assert good["rmse"] < 0.5 * bad["rmse"]
    assert good["ssim"] > bad["ssim"]
    assert good["n_scored"] > 1000
    assert np.all(np.abs(good["sf_log_ratio"][:3]) < 0.1)
    assert set(E.SCALAR_METRICS) <= set(good)


def test_score_pair_mask_and_units(spair):
    truth = truth_on_ndvi_grid(spair)
    base = E.score_pair(truth, spair, offset=(150.0, -200.0))
    mask = np.zeros(spair.aster_250m.shape, bool)
    mask[:, : mask.shape[1] // 2] = True
    half = E.score_pair(truth, spair, offset=(150.0, -200.0), mask=mask)
    assert 0 < half["n_scored"] < base["n_scored"]
    with pytest.raises(InputError):
        E.score_pair(truth.assign_attrs(units="degC"), spair, offset=(0.0, 0.0))


def test_scale_metrics_on_native_grids_are_not_smoothed():
    # a field with 0.7-2 km wavelengths: the prediction is the truth on its own grid, ASTER the
    # truth on its grid. On the native grids the structure functions agree; after the bilinear
    # reprojection the prediction loses variance at 1-2 pixel lags.
    wl = (700.0, 2000.0)
    p = synthetic_pair(shift=(0.0, 0.0), n=16, seed=4, wl_m=wl)
    truth = truth_on_ndvi_grid(p, seed=4, wl_m=wl)
    nat = E.score_pair(truth, p, offset=(0.0, 0.0))
    rep = E.score_pair(truth, p, offset=(0.0, 0.0), scale_grid="reference")
    assert np.all(np.abs(nat["sf_log_ratio"][:3]) < 0.08)
    assert rep["sf_log_ratio"][0] < -0.2 and rep["sf_log_ratio"][0] < nat["sf_log_ratio"][0] - 0.15
    assert abs(np.log(nat["spectral_ratio"][0])) < 0.15
    assert rep["spectral_ratio"][0] < 0.8
    # the pixel-wise metrics do not depend on where the scale-aware ones are computed
    for k in ("rmse", "ssim", "n_scored"):
        assert nat[k] == rep[k]
    # the native mask covers the scored area: as many prediction as ASTER pixels, about
    t, _ = E._target_grid(p, (0.0, 0.0))
    scored = np.isfinite(p.aster_250m.values)
    m = E.native_mask(truth, p.aster_250m, t, scored)
    assert 0.9 < m.sum() / np.isfinite(truth.values).sum() <= 1.0
    with pytest.raises(InputError):
        E.score_pair(truth, p, offset=(0.0, 0.0), scale_grid="ASTER")


@pytest.mark.slow
def test_evaluate_summary_and_writers(tmp_path):
    pairs = [synthetic_pair(pid=i, seed=i, n=16) for i in range(3)]
    preds = {"truth": lambda p: truth_on_ndvi_grid(p, seed=p.id),
             "bicubic": lambda p: bicubic(p.lst_1km, p.ndvi_250m)}
    ds = E.evaluate(preds, pairs, offset=(150.0, -200.0), n_boot=200, seed=1)
    assert ds["rmse"].dims == ("method", "pair") and list(ds["pair"].values) == [0, 1, 2]
    np.testing.assert_allclose(ds["rmse_mean"], ds["rmse"].mean("pair"))
    lo, hi = ds["rmse_ci"].sel(bound="low"), ds["rmse_ci"].sel(bound="high")
    assert bool(((lo <= ds["rmse_mean"]) & (ds["rmse_mean"] <= hi)).all())
    # both methods are scored on the same pixels
    np.testing.assert_array_equal(ds["n_scored"].sel({"method": "truth"}),
                                  ds["n_scored"].sel({"method": "bicubic"}))
    assert float(ds["rmse_mean"].sel({"method": "truth"})) < float(ds["rmse_mean"].sel({"method": "bicubic"}))
    d = E.paired_difference(ds, "rmse", "bicubic")
    assert float(d["diff_mean"].sel({"method": "bicubic"})) == 0.0
    assert float(d["diff_ci"].sel({"method": "truth", "bound": "high"})) < 0
    paths = E.write_results(ds, tmp_path)
    back = xr.open_dataset(paths["netcdf"])
    np.testing.assert_allclose(back["ssim"].values, ds["ssim"].values)
    back.close()
    per_pair = pd.read_csv(paths["csv_pairs"])
    assert len(per_pair) == 6 and {"method", "pair", "rmse", "ssim"} <= set(per_pair.columns)
    summary = pd.read_csv(paths["csv_summary"])
    row = summary[(summary.method == "truth") & (summary.metric == "rmse")].iloc[0]
    assert row["mean"] == pytest.approx(float(ds["rmse_mean"].sel({"method": "truth"})), rel=1e-5)
    md = paths["markdown"].read_text()
    assert "| truth |" in md and "| bicubic |" in md and "RMSE (K)" in md
    # the 1 km floor: MODIS here is the field's block means, so ASTER agrees at the true offset
    assert ds["modis_aster_1km_rmse"].dims == ("pair",)
    assert float(ds["modis_aster_1km_rmse"].max()) < 0.05
    assert "MODIS against co-registered ASTER averaged to 1 km" in md


def test_summarize_bootstrap_by_hand():
    ds = xr.Dataset({"rmse": (("method", "pair"), [[1.0, 2.0, 3.0, 4.0], [2.0, 3.0, 4.0, 5.0]],
                              {"units": "K"})},
                    coords={"method": ["a", "b"], "pair": [1, 2, 3, 4]})
    s = E.summarize(ds, n_boot=500, seed=0)
    np.testing.assert_allclose(s["rmse_mean"], [2.5, 3.5])
    d = E.paired_difference(s, "rmse", "a")
    # b - a = 1 on every pair: the paired interval has no width
    np.testing.assert_allclose(d["diff_ci"].sel({"method": "b"}), [1.0, 1.0])
    ci = s["rmse_ci"].sel({"method": "a"}).values
    assert 1.0 <= ci[0] < 2.5 < ci[1] <= 4.0
    with pytest.raises(InputError):
        E.paired_difference(s, "rmse", "zzz")


# ----------------------------------------------------------------------------------------------
# on the real pairs (skipped when the shared data is absent)
# ----------------------------------------------------------------------------------------------
README_OFFSET = (174.7, -175.2)


@pytest.mark.e2e
@pytest.mark.shared_data
def test_protocol_on_one_real_pair(modis_aster_root):
    from scalelaws.io import open_modis_aster_pair

    pair = open_modis_aster_pair(1, modis_aster_root)
    bic = E.score_pair(bicubic(pair.lst_1km, pair.ndvi_250m), pair, offset=README_OFFSET)
    ts_pred = tsharp(pair.lst_1km, pair.ndvi_250m)
    ts = E.score_pair(ts_pred, pair, offset=README_OFFSET)
    ts0 = E.score_pair(ts_pred, pair, offset=(0.0, 0.0))
    # about 62 000 scored pixels per pair (data README)
    assert 55_000 < ts["n_scored"] < 70_000
    for sc in (bic, ts):
        assert 0.5 < sc["rmse"] < 4.0 and 0.0 < sc["ssim"] < 1.0 and sc["r"] > 0.6
    assert ts["consistency_rmse"] < 1e-3 < bic["consistency_rmse"]
    # co-registration matters for a detail-adding method, and TsHARP adds structure
    assert ts["rmse"] < ts0["rmse"] and ts["ssim"] > ts0["ssim"]
    assert ts["ssim"] > bic["ssim"]
    # bicubic lacks fine-scale variance: its S2 at 1 px is far below ASTER's
    assert bic["sf_log_ratio"][0] < ts["sf_log_ratio"][0] < 0.5


@pytest.mark.slow
@pytest.mark.shared_data
def test_offset_estimate_on_real_pairs_near_readme(modis_aster_root):
    from scalelaws.io import open_modis_aster_pair

    pairs = [open_modis_aster_pair(i, modis_aster_root) for i in (1, 2)]
    dx, dy = E.estimate_offset(pairs, step_m=58.0, max_m=300.0)
    assert dx == pytest.approx(175.0, abs=70.0) and dy == pytest.approx(-175.0, abs=70.0)


@pytest.mark.e2e
@pytest.mark.shared_data
def test_cli_benchmark_one_pair(modis_aster_root, tmp_path):
    from typer.testing import CliRunner

    from scalelaws.cli import app

    res = CliRunner().invoke(app, [
        "benchmark", "modis-aster", "--methods", "bicubic,tsharp", "--pairs", "1",
        "--data", str(modis_aster_root), "--offset", "174.7,-175.2", "--n-boot", "50",
        "--no-save-predictions", "-o", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "| tsharp |" in res.output
    for f in ("modis_aster.nc", "modis_aster_per_pair.csv", "modis_aster_summary.csv",
              "modis_aster.md"):
        assert (tmp_path / f).is_file()
    bad = CliRunner().invoke(app, ["benchmark", "modis-aster", "--methods", "nope", "--pairs",
                                   "1", "--data", str(modis_aster_root), "--offset", "none",
                                   "-o", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "unknown baseline" in bad.output


def test_coarse_disagreement_is_the_1km_floor(spair):
    """MODIS = block means of the field ASTER shows: ~0 at the true offset, the bias if added."""
    at_truth = E.coarse_disagreement(spair, (150.0, -200.0))
    off = E.coarse_disagreement(spair, (0.0, 0.0))
    assert at_truth["n"] > 300 and at_truth["rmse"] < 0.05
    assert off["rmse"] > 5 * at_truth["rmse"]
    biased = dataclasses.replace(spair, lst_1km=spair.lst_1km + 1.5)
    b = E.coarse_disagreement(biased, (150.0, -200.0))
    assert b["bias"] == pytest.approx(1.5 + at_truth["bias"], abs=1e-6)
    assert b["ubrmse"] == pytest.approx(at_truth["ubrmse"], abs=1e-6)
    # MODIS made by a wider footprint than its box agrees best with ASTER blurred alike
    wide = dataclasses.replace(spair, lst_1km=spair.lst_1km.copy(
        data=gaussian_smooth(spair.lst_1km.values, 0.6).astype(np.float32)))
    by_blur = {s: E.coarse_disagreement(wide, (150.0, -200.0), blur_px=s)["ubrmse"]
               for s in (0.0, 0.3, 0.6, 0.9)}
    assert min(by_blur, key=by_blur.get) == 0.6, by_blur
    # a 1 km-consistent prediction (here: MODIS repeated on the 250 m grid) scores at least the floor
    pred = spair.ndvi_250m.copy(data=np.repeat(np.repeat(biased.lst_1km.values, 4, 0), 4, 1))
    pred = pred.assign_attrs(units="K")
    sc = E.score_pair(pred, biased, offset=(150.0, -200.0), scale_metrics=False)
    assert sc["rmse"] >= b["rmse"] - 0.05
