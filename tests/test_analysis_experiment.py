"""The experiment runner: predictor registry, model specs, grid placement, end-to-end run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rioxarray  # noqa: F401
import xarray as xr
from affine import Affine

from analysis import experiment as X
from scalelaws.errors import InputError


def _da(values, x0, y0, px=250.0):
    ny, nx = values.shape
    t = Affine(px, 0, x0, 0, -px, y0)
    da = xr.DataArray(np.asarray(values, dtype=np.float32), dims=("y", "x"), coords={
        "y": t.f + (np.arange(ny) + 0.5) * t.e, "x": t.c + (np.arange(nx) + 0.5) * t.a},
        attrs={"units": "K"})
    return da.rio.write_crs("EPSG:32631").rio.write_transform(t)


def test_parse_model_spec():
    assert X.parse_model_spec("disr = runs/a.ckpt") == ("disr", Path("runs/a.ckpt"))
    for bad in ("disr", "=a.ckpt", "disr="):
        with pytest.raises(InputError):
            X.parse_model_spec(bad)


def test_build_predictors_registry(tmp_path):
    preds = X.build_predictors(["bicubic", "tsharp"], predictors={"mine": lambda p: p})
    assert list(preds) == ["bicubic", "tsharp", "mine"]
    with pytest.raises(InputError, match="unknown baseline"):
        X.build_predictors(["cubic"])
    with pytest.raises(InputError, match="twice"):
        X.build_predictors(["bicubic"], predictors={"bicubic": lambda p: p})
    with pytest.raises(InputError, match="not found"):
        X.build_predictors([], models=[f"net={tmp_path / 'missing.ckpt'}"])
    with pytest.raises(InputError, match="no method"):
        X.build_predictors([])


def test_to_grid_moves_whole_pixel_shifts_exactly():
    v = np.arange(64.0).reshape(8, 8)
    src = _da(v, 500000.0, 5000000.0)
    # target: 1 row south, 3 columns east (the NDVI offset of pair 1)
    like = _da(np.zeros((8, 8)), 500000.0 + 750.0, 5000000.0 - 250.0)
    out = X.to_grid(src, like)
    np.testing.assert_array_equal(out.values[:7, :5], v[1:, 3:])
    assert np.isnan(out.values[7]).all() and np.isnan(out.values[:, 5:]).all()
    assert out.rio.transform() == like.rio.transform()
    assert X.to_grid(like, like) is like
    # a sub-pixel shift is resampled bilinearly: a plane stays a plane
    yy, xx = np.mgrid[0:8, 0:8]
    plane = _da(2.0 * xx + yy, 500000.0, 5000000.0)
    half = _da(np.zeros((8, 8)), 500000.0 + 125.0, 5000000.0)
    out = X.to_grid(plane, half)
    np.testing.assert_allclose(out.values[1:-1, 1:-2], (2.0 * (xx + 0.5) + yy)[1:-1, 1:-2],
                               atol=1e-4)


@pytest.mark.e2e
@pytest.mark.shared_data
def test_run_modis_aster_two_pairs(modis_aster_root, tmp_path):
    ds = X.run_modis_aster(
        ["bicubic", "tsharp"], tmp_path, [1, 2], root=modis_aster_root,
        offset=(174.7, -175.2), n_boot=50, save_predictions=[2],
        predictors={"flat": lambda p: X.to_grid(
            p.ndvi_250m.copy(data=np.full(p.ndvi_250m.shape, float(p.lst_1km.mean()),
                                          dtype=np.float32)).assign_attrs(units="K"),
            p.ndvi_250m)},
    )
    assert list(ds["method"].values) == ["bicubic", "tsharp", "flat"]
    assert ds.attrs["offset_source"] == "given"
    assert (tmp_path / "predictions" / "tsharp" / "2.tif").is_file()
    assert not (tmp_path / "predictions" / "tsharp" / "1.tif").exists()
    # a constant field has no structure: only SSIM's stabilising C2 term keeps it above 0
    ssim = ds["ssim_mean"]
    assert float(ssim.sel({"method": "flat"})) < 0.5 * float(ssim.sel({"method": "bicubic"}))
    assert (tmp_path / "modis_aster.md").read_text().count("| flat |") == 3  # main, paired, scales


def test_make_folds_sorted_interleaved_and_disjoint():
    folds = X.make_folds([131, 1, 102, 104, 112], 2)
    assert folds == [[1, 104, 131], [102, 112]]
    assert not set(folds[0]) & set(folds[1])
    with pytest.raises(InputError):
        X.make_folds([1], 2)


def test_experiment_markdown_reference_is_the_best_baseline():
    ds = xr.Dataset(
        {"rmse_mean": ("method", [1.9, 1.7, 1.5])},
        coords={"method": ["bicubic", "tsharp_smooth", "disr"]})
    assert X.best_baseline(ds, ["bicubic", "tsharp_smooth"]) == "tsharp_smooth"
    with pytest.raises(InputError):
        X.best_baseline(ds, ["dms"])


@pytest.mark.shared_data
@pytest.mark.e2e
def test_quick_experiment_end_to_end(modis_aster_root, tmp_path):
    """`scalelaws benchmark modis-aster --train --quick`: every method on 2 pairs."""
    pytest.importorskip("torch")
    pytest.importorskip("lightning")
    import json

    from typer.testing import CliRunner

    from scalelaws.cli import app

    res = CliRunner().invoke(app, [
        "benchmark", "modis-aster", "--train", "--quick", "--data", str(modis_aster_root),
        "--n-boot", "50", "--no-save-predictions", "-o", str(tmp_path)])
    assert res.exit_code == 0, res.output
    ds = xr.open_dataset(tmp_path / "modis_aster.nc")
    methods = [str(m) for m in ds["method"].values]
    assert methods == [*X.EXPERIMENT_BASELINES, *X.SR_METHODS]
    assert np.isfinite(ds["rmse"].values).all() and np.isfinite(ds["ssim"].values).all()
    info = json.loads((tmp_path / "experiment.json").read_text())
    folds = info["folds"]
    assert sorted(sum(folds, [])) == [1, 102]
    # cross-fitting: the network that predicts a pair never trained on it, and the ASTER law
    # of its fold comes from the other fold's pairs only
    for per_pair in info["checkpoints"].values():
        for pid, ckpt in per_pair.items():
            run = Path(ckpt).parent.parent
            cfg = json.loads((run / "done.json").read_text())["config"]
            if cfg["data"]["source"] == "modis_aster":
                assert int(pid) not in cfg["data"]["options"]["ids"]
            if "law" in cfg and "aster" in cfg["law"]["path"]:
                k = int(cfg["law"]["path"].rsplit("fold", 1)[1].split(".")[0])
                assert int(pid) in folds[k]
    from scalelaws.laws import load_law

    src = str(load_law(tmp_path / "laws" / "law_aster_fold0.nc").ds.attrs["source"])
    assert f"pair {folds[1][0]} " in src and f"pair {folds[0][0]} " not in src
    md = (tmp_path / "experiment.md").read_text()
    assert "Paired differences against" in md and "| disr_corrected |" in md


def test_run_steps_runs_in_order_collects_files_and_times(tmp_path):
    """The one runner of the workflow: steps in the given order on one context."""
    from analysis.pipeline.context import Context
    from analysis.pipeline.runner import run_steps

    ctx = Context(settings=None, source="test", seed=0)

    def make(name):
        def step(c, out, progress):
            c.options.setdefault("ran", []).append(name)
            p = out / f"{name}.txt"
            p.write_text(name)
            return [p]
        return step

    steps = {n: make(n) for n in ("a", "b", "c")}
    written = run_steps(steps, ["c", "a"], ctx, tmp_path)
    assert ctx.options["ran"] == ["c", "a"]
    assert written == {"c.txt": tmp_path / "c.txt", "a.txt": tmp_path / "a.txt"}
    assert set(ctx.step_seconds) == {"c", "a"} and min(ctx.step_seconds.values()) >= 0


def test_benchmark_is_the_workflow_steps_with_one_split_policy():
    """The benchmark's steps are registered in order; the demo and the benchmark share the split."""
    from analysis.pipeline import benchmark, context
    from analysis.pipeline.settings import BENCHMARK_STEPS

    assert tuple(benchmark.BENCHMARK_STEP_FUNCS) == BENCHMARK_STEPS
    assert X.make_folds is context.make_folds
    ctx = context.Context(settings=None, source="modis_aster", seed=0, ids=[1, 102, 104, 112, 131])
    ctx.folds = X.make_folds(ctx.ids, 2)
    assert ctx.train_ids(0) == [102, 112] and ctx.train_ids(1) == [1, 104, 131]


@pytest.mark.shared_data
def test_registered_scene_moves_aster_and_puts_ndvi_on_its_grid(modis_aster_root):
    """The one registration (laws of the demo and of the benchmark): ASTER moved by the offset."""
    from analysis.evaluate import offset_to_utm
    from analysis.pipeline.context import registered_scene
    from scalelaws.io import open_modis_aster_pair

    pair = open_modis_aster_pair(1, modis_aster_root)
    lst0, ndvi0 = registered_scene(pair, None)
    np.testing.assert_array_equal(lst0.values, pair.aster_250m.values)
    assert ndvi0.shape == lst0.shape
    np.testing.assert_allclose(ndvi0["x"], lst0["x"])
    np.testing.assert_allclose(ndvi0["y"], lst0["y"])
    lst, ndvi = registered_scene(pair, (174.7, -175.2))
    du, dv = offset_to_utm((174.7, -175.2), pair)
    assert abs(du) > 100 and abs(dv) > 100
    np.testing.assert_array_equal(lst.values, pair.aster_250m.values)
    np.testing.assert_allclose(lst["x"].values, pair.aster_250m["x"].values - du)
    np.testing.assert_allclose(lst["y"].values, pair.aster_250m["y"].values - dv)
    np.testing.assert_allclose(ndvi["x"], lst["x"])
    # the NDVI moves with ASTER: away from the edges it differs from the unregistered one
    assert np.isfinite(ndvi.values).mean() > 0.5
    assert np.nanmean(np.abs(ndvi.values - ndvi0.values)) > 0.01
