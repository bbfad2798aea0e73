"""Realisations of a super-resolved field: law texture (sr.predict), CRPS (analysis.realisations), CLI."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from analysis.realisations import crps_ensemble
from scalelaws.grids import degrade, degrade_array, gaussian_smooth, refine_like
from scalelaws.synthetic import landscape
from scalelaws.texture import s2_xy

pytest.importorskip("torch")


def test_crps_ensemble_known_values(rng):
    y = np.zeros(3)
    # one member: the absolute error
    np.testing.assert_allclose(crps_ensemble(np.array([[1.0, -2.0, 0.5]]), y), [1.0, 2.0, 0.5])
    # a large standard normal ensemble at y = 0: 2 phi(0) - 1/sqrt(pi) = 0.23370
    x = rng.standard_normal((20000, 1))
    assert float(crps_ensemble(x, np.zeros(1))[0]) == pytest.approx(0.23370, abs=0.01)
    # a sharper, centred ensemble scores better than a biased one
    assert crps_ensemble(0.1 * x, np.zeros(1))[0] < crps_ensemble(0.1 * x + 1.0, np.zeros(1))[0]


@pytest.fixture(scope="module")
def law():
    from scalelaws.laws import CorrectionLaw

    scenes = [landscape("cropland", shape=(256, 256), pixel_size=62.5, seed=s) for s in (11, 12)]
    return CorrectionLaw.fit([d["lst"] for d in scenes], ndvi=[d["ndvi"] for d in scenes], q=(1, 2),
                             n_boot=0, rng=0)


@pytest.mark.slow
def test_realisations_restore_the_law_texture_and_keep_block_means(law):
    from sr.predict import REALISATION_LAGS, realise_dataarray

    truth = landscape("cropland", shape=(256, 256), pixel_size=62.5, seed=99)["lst"]
    obs = degrade(truth, 4)                       # the coarse observation (250 m)
    # a smooth, consistent estimate: block means of the truth, smoothed, block means put back
    blocks = obs.values.astype(np.float64)
    up = gaussian_smooth(np.repeat(np.repeat(blocks, 4, 0), 4, 1), 2.0)
    up += np.repeat(np.repeat(blocks - degrade_array(up, 4), 4, 0), 4, 1)
    mean = refine_like(obs, 4, up.astype(np.float32), name="lst")
    reals = realise_dataarray(SimpleNamespace(factor=4, postprocess={}), mean, obs, 4, law=law, seed=1)
    assert reals.dims == ("realisation", "y", "x") and reals.sizes["realisation"] == 4
    s_truth = s2_xy(truth.values, REALISATION_LAGS)
    s_mean = s2_xy(up, REALISATION_LAGS)
    assert (np.log(s_mean / s_truth) < -0.5).all()                      # the estimate is too smooth
    for k in range(4):
        r = reals.isel(realisation=k).values.astype(np.float64)
        # within 35 % of the truth's texture at 1 and 2 fine pixels, from the law alone (kappa = 1)
        assert (np.abs(np.log(s2_xy(r, REALISATION_LAGS) / s_truth)) < 0.35).all()
        np.testing.assert_allclose(degrade_array(r, 4), blocks, atol=2e-3)  # 1 km consistency kept
    # kappa scales the target texture
    twice = realise_dataarray(SimpleNamespace(factor=4, postprocess={}), mean, obs, 1, law=law, seed=1,
                              kappa=[2.0, 2.0])
    assert twice.attrs["texture_s2_target_1px"] == pytest.approx(2 * reals.attrs["texture_s2_target_1px"])


def test_realisations_need_a_law():
    from scalelaws.errors import InputError
    from sr.predict import realisation_law

    with pytest.raises(InputError, match="--law"):
        realisation_law(SimpleNamespace(factor=4, postprocess={}))


@pytest.mark.e2e
@pytest.mark.shared_data
def test_predict_cli_writes_realisation_bands(modis_aster_root, tmp_path):
    import rioxarray
    from typer.testing import CliRunner

    from analysis.experiment import fit_aster_law
    from scalelaws.cli import app

    law_path = tmp_path / "law.nc"
    fit_aster_law([2, 14, 18], law_path, root=modis_aster_root, n_boot=0)   # ASTER of other pairs
    pair = modis_aster_root / "1"
    out = tmp_path / "p.tif"
    r = CliRunner().invoke(app, ["predict", "--lst", str(pair / "modis_lst_1km.tif"), "--ndvi",
                                 str(pair / "modis_ndvi_250m.tif"), "-o", str(out), "--uncertainty",
                                 "--realisations", "3", "--law", str(law_path), "--seed", "5"])
    assert r.exit_code == 0, r.output
    da = rioxarray.open_rasterio(out, masked=True)
    assert da.sizes["band"] == 5
    assert tuple(da.attrs["long_name"]) == ("lst", "lst_std", "lst_r1", "lst_r2", "lst_r3")
    mean = da.sel(band=1).values.astype(np.float64)
    for b in (3, 4, 5):
        real = da.sel(band=b).values.astype(np.float64)
        assert np.nanmean(np.abs(real - mean)) > 0.05
        np.testing.assert_allclose(np.nanmean(degrade_array(real, 4)), np.nanmean(degrade_array(mean, 4)),
                                   atol=1e-3)
    # the shipped default carries its own law and calibration: no --law needed; NetCDF layout
    import xarray as xr

    from sr.modelfile import read_model_file
    from sr.zoo import resolve_model

    r = CliRunner().invoke(app, ["predict", "--lst", str(pair / "modis_lst_1km.tif"), "--ndvi",
                                 str(pair / "modis_ndvi_250m.tif"), "-o", str(tmp_path / "r.nc"),
                                 "--realisations", "2"])
    assert r.exit_code == 0, r.output
    ds = xr.open_dataset(tmp_path / "r.nc", engine="h5netcdf")
    assert ds["lst_realisation"].dims == ("realisation", "y", "x")
    meta, _ = read_model_file(resolve_model(None, guided_input=True)[0])
    np.testing.assert_allclose(ds["lst_realisation"].attrs["kappa"], meta["postprocess"]["realisation"]["kappa"])
    r = CliRunner().invoke(app, ["predict", "--lst", str(pair / "modis_lst_1km.tif"), "--ndvi",
                                 str(pair / "modis_ndvi_250m.tif"), "-o", str(tmp_path / "q.tif"),
                                 "--realisations", "-1"])
    assert r.exit_code == 2 and "--realisations" in r.output
