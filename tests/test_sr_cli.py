"""sr end to end: every training mode from the CLI on synthetic data, resume, predict."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("lightning")

import rasterio  # noqa: E402
import xarray as xr  # noqa: E402
from affine import Affine  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from scalelaws.cli import app  # noqa: E402
from sr import MODE_SPECS, MODES  # noqa: E402

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def _threads():
    """Run this module's tests on 2 thread(s) (the CI machine has 2 cores), then restore."""
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(old)

KINDS = ["cropland", "urban"]


def _config(mode: str, tmp: Path) -> Path:
    cfg = {
        "mode": mode,
        "data": {
            "source": "synthetic",
            "factor": 4,
            "patch": 4,
            "batch_size": 2,
            "val_fraction": 0.34,
            "options": {"kinds": KINDS, "n_per_kind": 1, "shape": [128, 128], "obs_factor": 4, "seed": 3},
        },
        "model": {"options": {"base": 4, "depth": 2}},
        "trainer": {"max_epochs": 1, "limit_train_batches": 2, "limit_val_batches": 1, "log_every_n_steps": 1},
    }
    if MODE_SPECS[mode].corrected:
        cfg["law"] = {"fit": {"kinds": KINDS, "shape": [128, 128], "seed": 500, "n_boot": 4, "q": [1, 2]}}
    path = tmp / f"{mode}.json"
    path.write_text(json.dumps(cfg))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Train each mode for two steps through ``scalelaws train``; return {mode: out_dir}."""
    tmp = tmp_path_factory.mktemp("sr_cli")
    runner = CliRunner()
    out = {}
    for mode in MODES:
        run = tmp / mode
        res = runner.invoke(app, ["train", "--config", str(_config(mode, tmp)), "--out", str(run)])
        assert res.exit_code == 0, (mode, res.output, res.exception)
        out[mode] = run
    return out


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_trains_from_the_cli(trained, mode):
    run = trained[mode]
    ckpt = run / "checkpoints" / "last.ckpt"
    assert ckpt.is_file()
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["mode"] == mode
    norm = json.loads((run / "normalisation.json").read_text())
    assert 250 < norm["lst_mean"] < 350 and norm["lst_std"] > 0
    hp = torch.load(ckpt, map_location="cpu", weights_only=False)["hyper_parameters"]
    assert hp["config"] == cfg and hp["norm"] == norm
    corrected = mode.endswith("corrected")
    assert (hp["cond_dim"] > 0) == corrected
    assert (run / "law.nc").is_file() == corrected
    metrics = (run / "logs" / "csv" / "version_0" / "metrics.csv").read_text().splitlines()[0].split(",")
    expected = {"sisr_invariant": ["train/pixel"], "sisr_corrected": ["train/pixel", "train/law", "train/law_fine", "train/consistency_fine"],
                "disr": ["train/consistency", "train/texture"], "disr_corrected": ["train/consistency", "train/texture", "train/law"],
                "disr_invariant": ["train/pixel"],
                "disr_invariant_corrected": ["train/pixel", "train/law", "train/law_fine", "train/consistency_fine",
                                             "train/texture_fine"]}[mode]
    for col in expected + ["train/loss", "val/loss"]:
        assert col in metrics, (mode, col, metrics)
    assert list((run / "logs" / "tensorboard").rglob("events.out.tfevents*"))


def test_resume_continues_from_last_checkpoint(trained, tmp_path):
    run = trained["sisr_invariant"]
    cfg = json.loads((run / "config.json").read_text())
    path = tmp_path / "resume.json"
    path.write_text(json.dumps(cfg))
    before = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert before["global_step"] == 2  # 1 epoch of 2 batches
    res = CliRunner().invoke(app, ["train", "--config", str(path), "--out", str(run), "--max-epochs", "2", "--resume"])
    assert res.exit_code == 0, res.output
    after = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert after["global_step"] == 4  # resumed: one more epoch, not two


def test_fresh_run_in_a_used_folder_replaces_its_checkpoints(trained, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained["disr"], run)
    cfg = json.loads((run / "config.json").read_text())
    path = tmp_path / "again.json"
    path.write_text(json.dumps(cfg))
    res = CliRunner().invoke(app, ["train", "--config", str(path), "--out", str(run), "--max-epochs", "1"])
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in (run / "checkpoints").glob("*.ckpt"))
    assert not [n for n in names if "-v" in n], names  # no versioned leftovers: last.ckpt is the new net
    after = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert after["global_step"] == 2  # a fresh single epoch, not a continuation


def test_predict_straight_from_a_mod11a1_hdf_granule(trained, tmp_path):
    """The product reader is used: scale 0.02, QC-rejected pixels stay NaN at 250 m, sinusoidal grid."""
    import rioxarray  # noqa: F401
    import xarray as xr
    from fakes import write_mod11a1

    from scalelaws.io import open_modis_lst

    rng = np.random.default_rng(0)
    day = 300.0 + rng.normal(0.0, 2.0, (24, 24))
    qc = np.zeros((24, 24), dtype=np.uint8)
    qc[5:8, 10:14] = 0b10  # "not produced, cloud"
    hdf = write_mod11a1(tmp_path, day, qc)
    ckpt = trained["sisr_invariant"] / "checkpoints" / "last.ckpt"
    out = tmp_path / "lst_250m.tif"
    res = CliRunner().invoke(app, ["predict", "--model", str(ckpt), "--lst", str(hdf), "-o", str(out)])
    assert res.exit_code == 0, res.output
    coarse = open_modis_lst(hdf)
    fine = xr.open_dataarray(out, engine="rasterio").squeeze(drop=True)
    assert fine.shape == (96, 96)
    assert fine.rio.crs == coarse.rio.crs
    assert np.allclose(fine.rio.bounds(), coarse.rio.bounds())
    assert np.isclose(abs(fine.rio.resolution()[0]) * 4, abs(coarse.rio.resolution()[0]))
    holes = np.isnan(fine.values)
    assert holes[20:32, 40:56].all() and holes.sum() == 12 * 16
    assert abs(float(np.nanmean(fine)) - float(np.nanmean(coarse))) < 1.0


def test_bad_config_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"mode": "disr_corrected"}))
    res = CliRunner().invoke(app, ["train", "--config", str(path)])
    assert res.exit_code == 2 and "needs a correction law" in res.output
    path.write_text(json.dumps({"mode": "disr", "data": {"patchsize": 3}}))
    res = CliRunner().invoke(app, ["train", "--config", str(path)])
    assert res.exit_code == 2 and "patchsize" in res.output and str(path) in res.output


def _write_raster(path: Path, arr: np.ndarray, transform: Affine, crs: str, units: str) -> None:
    with rasterio.open(
        path, "w", driver="GTiff", height=arr.shape[0], width=arr.shape[1], count=1, dtype="float32",
        crs=crs, transform=transform, nodata=np.nan,
    ) as dst:
        dst.write(arr.astype(np.float32), 1)
        dst.update_tags(1, units=units)


CRS = "+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m +no_defs"


@pytest.mark.parametrize("mode", ["sisr_corrected", "disr"])
@pytest.mark.parametrize("suffix", [".tif", ".nc"])
def test_predict_writes_georeferenced_fine_raster(trained, tmp_path, rng, mode, suffix):
    ny, nx, res, f = 40, 52, 926.625433, 4
    t = Affine(res, 0, 46331.27, 0, -res, 4902775.17)
    lst = 290 + np.cumsum(rng.normal(size=(ny, nx)), axis=1).astype(np.float32)
    lst[5:9, 10:14] = np.nan  # a cloud
    lst[30, 40] = np.nan
    lst_path = tmp_path / "lst.tif"
    _write_raster(lst_path, lst, t, CRS, "K")
    args = ["predict", "--model", str(trained[mode] / "checkpoints" / "last.ckpt"), "--lst", str(lst_path),
            "-o", str(tmp_path / f"out{suffix}"), "--tile", "16", "--overlap", "4"]
    if mode == "disr":
        # NDVI on a 250 m grid shifted 2 fine pixels east and 1 south of the 4 x 4 blocks
        tn = Affine(res / f, 0, t.c + 2 * res / f, 0, -res / f, t.f - res / f)
        ndvi = rng.uniform(0.1, 0.8, size=(ny * f, nx * f)).astype(np.float32)
        _write_raster(tmp_path / "ndvi.tif", ndvi, tn, CRS, "1")
        args += ["--ndvi", str(tmp_path / "ndvi.tif")]
    res_cli = CliRunner().invoke(app, args)
    assert res_cli.exit_code == 0, (res_cli.output, res_cli.exception)
    out = tmp_path / f"out{suffix}"
    if suffix == ".tif":
        with rasterio.open(out) as src:
            arr = src.read(1)
            assert src.crs == rasterio.crs.CRS.from_string(CRS)
            ot = src.transform
            from sr.predict import _cog_available

            if _cog_available():
                assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
            assert src.tags(1).get("units") == "K" or src.tags().get("units") == "K"
    else:
        ds = xr.open_dataset(out, engine="h5netcdf", decode_coords="all")
        arr = ds["lst"].values
        ot = ds["lst"].rio.transform()
        assert ds["lst"].rio.crs is not None
        assert ds["lst"].attrs["units"] == "K"
    assert arr.shape == (ny * f, nx * f)
    assert ot.a == pytest.approx(res / f) and ot.e == pytest.approx(-res / f)
    assert (ot.c, ot.f) == pytest.approx((t.c, t.f))  # same bounds
    hole = np.repeat(np.repeat(np.isnan(lst), f, 0), f, 1)
    np.testing.assert_array_equal(np.isnan(arr), hole)  # NaN exactly under the missing inputs
    # the prediction stays close to its input where it is defined
    from scalelaws.grids import degrade_array

    back = degrade_array(arr, f, method="mean", max_missing=0.0)
    ok = np.isfinite(lst) & np.isfinite(back)
    assert np.abs(back[ok] - lst[ok]).mean() < 1.0


def test_predict_without_crs_is_refused(trained, tmp_path):
    p = tmp_path / "nocrs.nc"
    xr.Dataset({"lst": (("y", "x"), np.full((8, 8), 290.0, np.float32), {"units": "K"})},
               coords={"y": np.arange(8.0)[::-1], "x": np.arange(8.0)}).to_netcdf(p, engine="h5netcdf")
    res = CliRunner().invoke(app, ["predict", "--model", str(trained["sisr_invariant"] / "checkpoints" / "last.ckpt"),
                                   "--lst", str(p), "-o", str(tmp_path / "o.tif")])
    assert res.exit_code == 2 and "nocrs.nc" in res.output
