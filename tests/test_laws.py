"""Correction laws: validation against the synthetic landscapes, NetCDF round trip, CLI."""

from __future__ import annotations

import numpy as np
import pytest
import typer
import xarray as xr
from typer.testing import CliRunner

from scalelaws.errors import InputError
from scalelaws.laws import CONDITIONING_NAMES, CorrectionLaw, detail_energy, load_law
from scalelaws.stats.structure import structure_function
from scalelaws.synthetic import fbm, landscape

PX = 62.5
SHAPE = (256, 256)
TRAIN_SEEDS = (0, 1, 2)
HELD_OUT_SEEDS = (100, 101, 102)
COARSE_LAGS = [16, 23, 32, 45, 64]  # 1-4 km at 62.5 m
FINE_LAGS = [4, 6, 8, 11, 16]  # 250 m - 1 km


def _da(a: np.ndarray, px: float = PX) -> xr.DataArray:
    ny, nx = a.shape
    return xr.DataArray(
        a, dims=("y", "x"),
        coords={"y": (ny - 0.5 - np.arange(ny)) * px, "x": (np.arange(nx) + 0.5) * px},
        attrs={"units": "K", "source": "synthetic"},
    )


@pytest.fixture(scope="module")
def laws_by_kind():
    out = {}
    for kind in ("cropland", "forest", "urban", "mixed"):
        train = [landscape(kind, shape=SHAPE, pixel_size=PX, seed=s)["lst"] for s in TRAIN_SEEDS]
        out[kind] = CorrectionLaw.fit(train, q=(1, 2), n_boot=50, rng=0, scales_m=(PX, 4000.0))
    return out


@pytest.fixture(scope="module")
def sf_errors(laws_by_kind):
    """Largest |ln S_pred - ln S_true| of S_2 over 250 m - 1 km, predicted from 1-4 km."""
    out = {}
    for kind, law in laws_by_kind.items():
        err_law, err_inv = [], []
        for seed in HELD_OUT_SEEDS:
            f = landscape(kind, shape=SHAPE, pixel_size=PX, seed=seed)["lst"]
            coarse = structure_function(f, q=(2,), lags=COARSE_LAGS)
            fine = structure_function(f, q=(2,), lags=FINE_LAGS)
            pred = law.predict_sf(coarse, fine["lag_m"].values)
            truth = np.log(fine["S"].sel(q=2).values)
            err_law.append(np.abs(np.log(pred["S"].sel(q=2).values) - truth).max())
            err_inv.append(np.abs(np.log(pred["S_invariant"].sel(q=2).values) - truth).max())
            lo, hi = pred["S_ci"].sel(q=2, bound="lower"), pred["S_ci"].sel(q=2, bound="upper")
            assert (lo <= pred["S"].sel(q=2)).all() and (pred["S"].sel(q=2) <= hi).all()
        out[kind] = (np.array(err_law), np.array(err_inv))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["cropland", "forest", "urban", "mixed"])
def test_law_predicts_fine_band_within_tolerance(sf_errors, kind):
    """Law fitted on seeds 0-2, applied to held-out seeds 100-102 (256 x 256 at 62.5 m).

    Measured: the law's largest |ln S_pred - ln S_true| over the fine lags is 0.02-0.23 over
    the 12 held-out fields (a 0.23 error is a 26 % error on S_2). Tolerance 0.3 per field.
    Per kind the law is never worse than scale invariance on average (forest, whose break at
    2.6 km lies inside the 1-4 km band, has the smallest measured margin: 0.10).
    """
    err_law, err_inv = sf_errors[kind]
    assert err_law.max() <= 0.3, err_law
    assert err_inv.mean() >= err_law.mean(), (err_law, err_inv)


@pytest.mark.slow
def test_law_beats_scale_invariance_by_margin(sf_errors):
    """Pooled over the 4 kinds x 3 held-out fields.

    Measured: mean error 0.09 (law) vs 0.56 (scale-invariant extrapolation), margin 0.47; the
    asserted margin 0.2 is about 4 times the seed-to-seed spread of the per-kind margins' mean.
    """
    law = np.concatenate([v[0] for v in sf_errors.values()])
    inv = np.concatenate([v[1] for v in sf_errors.values()])
    assert inv.mean() - law.mean() >= 0.2, (law, inv)


@pytest.mark.slow
def test_detail_energy_ratio_on_landscapes(laws_by_kind):
    """Energy of the 1 km -> 250 m band over the 4 km -> 1 km band, pooled over held-out fields.

    Measured ln(law / truth): 0.00 cropland, +0.21 forest, +0.01 urban, -0.09 mixed;
    ln(invariant / truth): +0.65, +0.45, +0.56, +0.42 (smallest margin 0.24, forest).
    Asserted: |ln(law / truth)| <= 0.35 and the law closer than invariance by >= 0.12.
    """
    for kind, law in laws_by_kind.items():
        ec = ef = 0.0
        for seed in HELD_OUT_SEEDS:
            d = detail_energy(landscape(kind, shape=SHAPE, pixel_size=PX, seed=seed)["lst"])
            d = d["detail_energy"].to_series()
            ec += d.loc[[4000.0, 2000.0]].sum()
            ef += d.loc[[1000.0, 500.0]].sum()
        truth = ef / ec
        r = law.detail_energy_ratio((4000.0, 1000.0), (1000.0, 250.0))
        assert abs(np.log(r["law"] / truth)) <= 0.35, (kind, r, truth)
        margin = abs(np.log(r["invariant"] / truth)) - abs(np.log(r["law"] / truth))
        assert margin >= 0.12, (kind, r, truth)
        assert r["correction"] == pytest.approx(r["law"] / r["invariant"])


def test_scale_invariant_field_gives_no_correction():
    """On exact fBm (H = 0.7) the law is flat at zeta_2 = 1.4 and the correction is about 1."""
    law = CorrectionLaw.fit([_da(fbm(SHAPE, 0.7, rng=s)) for s in range(4)], n_boot=50, rng=0)
    z = law.local_exponent([125.0, 500.0, 2000.0], q=2)
    # measured 1.40-1.47 on these seeds; the spread of zeta(2) over fBm seeds is about 0.05
    np.testing.assert_allclose(z["value"].values, 1.4, atol=0.12)
    r = law.detail_energy_ratio((2000.0, 500.0), (500.0, 125.0))
    lo, hi = r["correction_ci"]
    assert lo <= 1.0 <= hi and abs(np.log(r["correction"])) < 0.1


@pytest.mark.slow
def test_law_with_ndvi_landscapes_roundtrip_and_outputs(tmp_path):
    ds = landscape("cropland", shape=SHAPE, pixel_size=PX, seed=3)
    law = CorrectionLaw.fit(ds["lst"], ndvi=ds["ndvi"], classes="ndvi", n_boot=30, rng=1)
    assert law.landscapes[0] == "all" and "forest" in law.landscapes
    for name in ("log_S", "zeta_local", "detail_energy", "lst_ndvi_slope", "lst_ndvi_corr"):
        assert "units" in law.ds[name].attrs and "long_name" in law.ds[name].attrs
    assert law.ds.zeta_local_ci.dims == ("landscape", "q", "scale_m", "bound")
    # the generator's fine-scale LST-NDVI slope is negative (about -16 K); one 256 x 256 field
    # gives -19.9 K here, so only the sign and the interval's consistency are asserted
    rel = law.lst_ndvi(PX)
    assert ds.attrs["lst_ndvi_slope_fine"] < 0 and rel["slope"] < 0
    assert rel["slope_ci"][0] <= rel["slope"] <= rel["slope_ci"][1]
    vec = law.conditioning()
    assert vec.dtype == np.float32 and vec.shape == (len(CONDITIONING_NAMES),)
    assert np.all(np.isfinite(vec)) and vec[CONDITIONING_NAMES.index("has_ndvi")] == 1.0

    path = tmp_path / "law.nc"
    law.to_netcdf(path)
    back = load_law(path)
    xr.testing.assert_allclose(law.ds.drop_attrs(), back.ds.drop_attrs())
    for key in ("scalelaws_version", "date_created", "source", "scale_range_m", "n_boot"):
        assert key in back.ds.attrs
    np.testing.assert_array_equal(back.conditioning(), vec)
    assert back.detail_energy_ratio() == law.detail_energy_ratio()
    assert "landscape forest" in back.summary()
    import matplotlib.pyplot as plt

    fig = back.plot()
    assert len(fig.axes) == 3
    plt.close(fig)


def test_errors(tmp_path):
    law = CorrectionLaw.fit(_da(fbm((128, 128), 0.5, rng=0)), q=(2,), n_boot=5, rng=0)
    sf = structure_function(_da(fbm((128, 128), 0.5, rng=1)), q=(3,), lags=[8, 16])
    with pytest.raises(InputError):
        law.predict_sf(sf, [100.0])
    with pytest.raises(InputError):
        law.local_exponent(500.0, landscape="forest")
    with pytest.raises(InputError):
        law.lst_ndvi(500.0)
    bogus = tmp_path / "x.nc"
    xr.Dataset({"a": ("x", [1.0])}).to_netcdf(bogus)
    with pytest.raises(InputError):
        load_law(bogus)


@pytest.mark.e2e
def test_cli_fit_and_show(tmp_path):
    import rioxarray  # noqa: F401

    from scalelaws.cli import ErrorHandlingGroup
    from scalelaws.laws_cli import register

    folder = tmp_path / "scenes"
    folder.mkdir()
    ndvi_paths = []
    for seed in (0, 1):
        ds = landscape("mixed", shape=(128, 128), pixel_size=PX, seed=seed)
        ds["lst"].astype("float32").rio.to_raster(folder / f"lst_{seed}.tif")
        p = tmp_path / f"ndvi_{seed}.tif"
        ds["ndvi"].astype("float32").rio.to_raster(p)
        ndvi_paths.append(p)
    app = typer.Typer(cls=ErrorHandlingGroup)  # the CLI's one handler of bad input

    @app.callback()
    def _root() -> None:
        """Test app."""

    register(app)
    out = tmp_path / "law.nc"
    args = ["laws", "fit", str(folder), "--pattern", "lst_*.tif", "-o", str(out), "--by-landscape",
            "--n-boot", "10", "--q", "1,2"]
    for p in ndvi_paths:
        args += ["--ndvi", str(p)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    law = load_law(out)
    assert law.ds.attrs["n_scenes"] == 2 and "grass_or_crop" in law.landscapes
    fig = tmp_path / "law.png"
    res = CliRunner().invoke(app, ["laws", "show", str(out), "--figure", str(fig)])
    assert res.exit_code == 0, res.output
    assert fig.stat().st_size > 0 and "landscape all" in res.output
    res = CliRunner().invoke(app, ["laws", "show", str(tmp_path / "missing.nc")])
    assert res.exit_code == 2


def test_public_sf_curve_and_landscape_name():
    """The law's smooth S_q and landscape resolution are public (``sr`` uses them)."""
    from scalelaws.errors import InputError

    law = CorrectionLaw.fit([_da(fbm(SHAPE, 0.7, rng=s)) for s in range(2)], q=(1, 2), n_boot=0, rng=0)
    name = law.landscape_name()
    pred = law.predict_sf(structure_function(_da(fbm(SHAPE, 0.7, rng=5)), q=(1, 2), lags=[1, 2, 4]),
                          [PX, 2 * PX], landscape=name)
    # S_2 of an fBm with H = 0.7 grows as scale^(2H): the curve's log-log slope
    s = law.sf_curve([4 * PX, 8 * PX], q=2.0)
    assert np.log2(s[1] / s[0]) == pytest.approx(1.4, abs=0.15)
    assert law.sf_curve(np.full((2, 3), 4 * PX)).shape == (2, 3)
    assert np.isfinite(pred["S"].values).all()
    with pytest.raises(InputError, match="unknown landscape"):
        law.landscape_name("moon")
