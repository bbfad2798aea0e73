"""Ensembles in one model file: `scalelaws predict --uncertainty` writes the members' spread."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import rasterio  # noqa: E402
from affine import Affine  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from tests.fakes import write_geotiff  # noqa: E402


def _ensemble_file(path, n=3, postprocess=None):
    from sr.modelfile import FORMAT, VERSION, atomic_torch_save
    from sr.models import build_model
    from sr.train import SRConfig

    cfg = SRConfig.from_dict({"mode": "sisr_invariant", "model": {"options": {"base": 4, "depth": 1}}})
    cfg.resolve()
    members = []
    for k in range(n):
        torch.manual_seed(k)
        net = build_model("unet", factor=4, base=4, depth=1)
        for p in net.parameters():
            torch.nn.init.normal_(p, std=0.05)
        members.append({k: v.clone() for k, v in net.state_dict().items()})
    meta = {"config": cfg.to_dict(), "norm": {"lst_mean": 300.0, "lst_std": 5.0, "ndvi_mean": 0.0, "ndvi_std": 1.0},
            "cond_dim": 0, "predict_cond": None, "inference_res_m": 1000.0, "cond_names": None,
            "factor": 4, "mode": "sisr_invariant", "card": {"description": "test"},
            "postprocess": postprocess or {}}
    atomic_torch_save({"format": FORMAT, "version": VERSION, "meta": json.dumps(meta), "members": members}, path)
    return path


def _lst_1km(seed, n=16):
    """A georeferenced n x n 1 km LST DataArray (K) of white noise about 300 K, and its values."""
    import xarray as xr

    lst = (300 + 3 * np.random.default_rng(seed).standard_normal((n, n))).astype(np.float32)
    t = Affine(1000, 0, 500000, 0, -1000, 4600000)
    da = xr.DataArray(lst, dims=("y", "x"), coords={"y": t.f - 500 - 1000 * np.arange(n),
                                                    "x": t.c + 500 + 1000 * np.arange(n)},
                      attrs={"units": "K"}).rio.write_crs("EPSG:32631").rio.write_transform(t)
    return lst, da


def test_predict_uncertainty_writes_the_ensemble_spread(tmp_path):
    from scalelaws.cli import app
    from sr.predict import _MemberView, load_sr_model, predict_array

    model = _ensemble_file(tmp_path / "ens.pt")
    rng = np.random.default_rng(0)
    lst = (300 + 3 * rng.standard_normal((24, 24))).astype(np.float32)
    src = tmp_path / "lst.tif"
    write_geotiff(src, lst, transform=Affine(1000, 0, 500000, 0, -1000, 4600000), units="K")
    out = tmp_path / "sr.tif"
    res = CliRunner().invoke(app, ["predict", "--model", str(model), "--lst", str(src), "-o", str(out),
                                   "--uncertainty", "--tile", "12", "--overlap", "4"])
    assert res.exit_code == 0, res.output
    with rasterio.open(out) as ds:
        assert ds.count == 2 and ds.descriptions[1] == "lst_std"
        mean, std = ds.read(1), ds.read(2)
    m = load_sr_model(model)
    members = [predict_array(_MemberView(m, net), lst, tile=12, overlap=4) for net in m.members]
    np.testing.assert_allclose(mean, np.mean(members, axis=0), atol=2e-3)
    # away from the tile overlaps the spread is the members' population standard deviation
    np.testing.assert_allclose(std[:30, :30], np.std(members, axis=0)[:30, :30], atol=2e-3)
    assert std.mean() > 0.01


def test_output_smoothing_is_read_from_the_model_file(tmp_path):
    from scalelaws.grids import gaussian_smooth
    from sr.predict import load_sr_model, predict_array, predict_dataarray

    model = load_sr_model(_ensemble_file(tmp_path / "ens.pt", n=1, postprocess={"gaussian_sigma_px": 1.0}))
    lst, da = _lst_1km(1)
    out = predict_dataarray(model, da, tile=16, overlap=0)
    raw = predict_array(model, lst, tile=16, overlap=0)
    np.testing.assert_allclose(out.values, gaussian_smooth(raw, 1.0), atol=1e-4)
    assert out.attrs["sr_output_sigma_px"] == 1.0


def test_uncertainty_band_applies_the_calibrated_floor_and_scale(tmp_path):
    """Band 2 is sqrt(std_floor^2 + (std_scale * spread)^2 + (std_grad_scale * gradient)^2)
    with the model file's calibration, the gradient that of band 1."""
    from sr.predict import load_sr_model, local_gradient, predict_dataarray

    lst, da = _lst_1km(2)
    raw = load_sr_model(_ensemble_file(tmp_path / "raw.pt"))
    cal = load_sr_model(_ensemble_file(tmp_path / "cal.pt",
                                       postprocess={"std_floor": 0.8, "std_scale": 4.0,
                                                    "std_grad_scale": 0.3}))
    _, s_raw = predict_dataarray(raw, da, tile=16, overlap=0, return_std=True)
    m, s_cal = predict_dataarray(cal, da, tile=16, overlap=0, return_std=True)
    g = local_gradient(m.values)
    np.testing.assert_allclose(s_cal.values, np.sqrt(0.8 ** 2 + (4.0 * s_raw.values) ** 2
                                                     + (0.3 * g) ** 2), rtol=1e-5)
    assert np.nanstd(g) > 0
    assert s_cal.attrs["std_floor"] == 0.8 and s_cal.attrs["units"] == "K"
    assert float(s_cal.min()) >= 0.8 - 1e-6
