"""``scalelaws produce``: granules of a season -> per-granule COGs and a CF cube, resumable, on dask.

The real tests use the 2020 MOD11A1 crops of one window of tile h18v04 as a time series (9 dates,
day and night) with their MOD13A2 composites turned into a synthetic 250 m NDVI for the guided
path, and the shipped models.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from rasterio.crs import CRS

from scalelaws.errors import InputError

pytest.importorskip("torch")

from sr.produce import (  # noqa: E402
    NdviProduct,
    ProduceSettings,
    _modis_name,
    list_granules,
    list_ndvi,
    match_ndvi,
    produce,
)
from sr.zoo import resolve_model  # noqa: E402

WINDOW = ".hdf.0015.tif"
SINU = CRS.from_proj4("+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m +no_defs")


# ------------------------------------------------------------------------------ pure rules
def test_list_granules_dates_overpasses_and_ignored(tmp_path):
    names = ["MOD11A1.A2020097.h18v04.061.1.hdf.0015.tif", "MYD11A1.A2020001.h18v04.061.2.hdf",
             "MOD21A1N.A2020050.h18v04.061.3.hdf", "MOD13A2.A2020097.h18v04.061.4.hdf.0015.tif",
             "notes.tif"]
    for n in names:
        (tmp_path / n).write_bytes(b"")
    gs, ignored = list_granules([tmp_path], which=("day", "night"))
    got = [(g.path.name[:8], g.date.isoformat(), g.which) for g in gs]
    assert got == [("MYD11A1.", "2020-01-01", "day"), ("MYD11A1.", "2020-01-01", "night"),
                   ("MOD21A1N", "2020-02-19", "night"),  # a night-only product gives no day granule
                   ("MOD11A1.", "2020-04-06", "day"), ("MOD11A1.", "2020-04-06", "night")]
    assert {p.name for p, _ in ignored} == {"MOD13A2.A2020097.h18v04.061.4.hdf.0015.tif", "notes.tif"}
    assert gs[0].key == "MYD11A1.A2020001.h18v04.061.2.hdf.day"
    # globs and missing inputs
    gs2, _ = list_granules([str(tmp_path / "MOD11A1*")], which=("day",))
    assert len(gs2) == 1
    with pytest.raises(InputError, match="no file matches"):
        list_granules([str(tmp_path / "MOD99*")])
    with pytest.raises(InputError, match="no such file"):
        list_granules([tmp_path / "absent"])


@pytest.mark.shared_data
def test_hdf_granule_dated_from_its_metadata(shared_data):
    tile = shared_data / "products" / "modis_mod11a1_h14v09"
    if not tile.is_dir():
        pytest.skip("no MOD11A1 HDF granule")
    gs, ignored = list_granules([tile], which=("day", "night"))
    assert [(g.product, g.date.isoformat(), g.which) for g in gs] == [
        ("MOD11A1", "2019-11-01", "day"), ("MOD11A1", "2019-11-01", "night")]
    assert not ignored


def _nd(start: date | None, period: int = 16, bounds=(0.0, 0.0, 100.0, 100.0)) -> NdviProduct:
    return NdviProduct(Path(f"ndvi_{start}.tif"), start, period, SINU, bounds)


def test_match_ndvi_rule():
    lst_b = (10.0, 10.0, 90.0, 90.0)
    c = [_nd(date(2020, 4, 6)), _nd(date(2020, 4, 22)), _nd(date(2020, 9, 13))]
    # the composite whose period contains the date
    p, rule = match_ndvi(date(2020, 4, 10), SINU, lst_b, c)
    assert p.start == date(2020, 4, 6) and "contains" in rule
    assert match_ndvi(date(2020, 4, 21), SINU, lst_b, c)[0].start == date(2020, 4, 6)  # last day
    assert match_ndvi(date(2020, 4, 22), SINU, lst_b, c)[0].start == date(2020, 4, 22)
    # two overlapping periods: the latest-starting one
    c2 = c + [_nd(date(2020, 4, 14))]
    assert match_ndvi(date(2020, 4, 15), SINU, lst_b, c2)[0].start == date(2020, 4, 14)
    # no period contains the date: the nearest centre, if within max_days
    p, rule = match_ndvi(date(2020, 4, 1), SINU, lst_b, c)   # centre of 04-06 is 04-13: 12 days
    assert p.start == date(2020, 4, 6) and "nearest" in rule
    p, rule = match_ndvi(date(2020, 4, 1), SINU, lst_b, c, max_days=10)
    assert p is None and "12 days" in rule
    # footprint: a composite that does not cover the LST is never used
    far = [_nd(date(2020, 4, 6), bounds=(50.0, 50.0, 200.0, 200.0))]
    assert match_ndvi(date(2020, 4, 10), SINU, lst_b, far)[0] is None
    assert match_ndvi(date(2020, 4, 10), SINU, lst_b, far, tol=45.0)[0] is not None
    # a static NDVI wins whatever the date
    assert match_ndvi(date(2020, 12, 31), SINU, lst_b, c + [_nd(None, 0)])[1] == "static NDVI"


# ------------------------------------------------------------------------------ real series
@pytest.fixture(scope="module")
def series(shared_data, tmp_path_factory):
    """One window's dated crops (LST), a cloudy copy of one, and synthetic 250 m NDVI composites."""
    from scalelaws.grids import refine_like
    from scalelaws.io import open_modis_ndvi

    root = shared_data / "modis_lst_2020"
    lst_dir = root / "MOD_2020_MOD11A1" / "tifs_files" / "1km"
    nd_dir = root / "MOD_2020_MOD13A2" / "tifs_files" / "1km"
    if not lst_dir.is_dir():
        pytest.skip(f"no {lst_dir}")
    d = tmp_path_factory.mktemp("series")
    (d / "lst").mkdir()
    (d / "ndvi").mkdir()
    crops = sorted(lst_dir.glob(f"*{WINDOW}"))[:5]
    for f in crops:
        os.symlink(f, d / "lst" / f.name)
    # a cloudy granule: 90 % of a real crop set to the fill value 0, under a date of its own
    import rasterio

    with rasterio.open(crops[0]) as src:
        prof, arr = src.profile, src.read()
    arr[:, :58, :] = 0
    with rasterio.open(d / "lst" / "MOD11A1.A2020200.h18v04.061.0.hdf.0015.tif", "w", **prof) as dst:
        dst.write(arr)
    # synthetic 250 m NDVI: each MOD13A2 composite refined x4 (pixel replication + noise)
    rng = np.random.default_rng(0)
    for f in sorted(nd_dir.glob(f"*{WINDOW}")):
        nd = open_modis_ndvi(f)
        v = np.kron(np.nan_to_num(nd.values, nan=0.3), np.ones((4, 4))) + rng.normal(0, 0.03, (256, 256))
        fine = refine_like(nd, 4, np.clip(v, -1, 1).astype(np.float32), name="ndvi")
        fine.rio.write_nodata(np.nan, encoded=False, inplace=True)
        fine.rio.to_raster(d / "ndvi" / f.name.replace("MOD13A2", "MOD13Q1"))
    return d


def _settings(model: str, **kw) -> ProduceSettings:
    from sr.produce import model_is_guided

    return ProduceSettings(model=model, guided=model_is_guided(model), device="cpu", **kw)


@pytest.mark.e2e
@pytest.mark.shared_data
def test_single_image_series_cube_and_per_file_equality(series, tmp_path):
    from sr.predict import predict_file

    model, _ = resolve_model(None, guided_input=False)
    out = tmp_path / "run"
    s = produce([series / "lst"], out, _settings(str(model), which=("day", "night")),
                scheduler="none", progress=False)
    assert s["granules"] == 12 and s["done"] == 10 and not s["failed"]
    assert {(Path(k["input"]).name[9:16], k["which"]) for k in s["skipped"]} == {("2020200", "day"),
                                                                                 ("2020200", "night")}
    assert all("clear pixels" in k["reason"] for k in s["skipped"])
    ds = xr.open_dataset(s["cube"], engine="h5netcdf", decode_coords="all")
    assert ds.attrs["Conventions"] == "CF-1.8" and ds.attrs["model"] == "sisr-modis-h18v04"
    assert json.loads(ds.attrs["model_card"])["name"] == "sisr-modis-h18v04"
    assert ds["lst_day"].dims == ("time", "y", "x") and ds["lst_day"].shape == (5, 256, 256)
    assert ds["lst_day_1km"].shape == (5, 64, 64) and ds["lst_night"].attrs["units"] == "K"
    assert ds["lst_day"].attrs["standard_name"] == "surface_temperature"
    dates = {_modis_name(p.name)[2].isoformat() for p in (series / "lst").iterdir()} - {"2020-07-18"}
    assert list(ds["time"].dt.strftime("%Y-%m-%d").values) == sorted(dates)  # the cloudy day is out
    assert "sinu" in ds.rio.crs.to_proj4() and "sinu" in ds["lst_day_1km"].rio.crs.to_proj4()
    # the cube's fine grid is the input grid refined x4 (same bounds)
    assert float(ds.x[0] - ds.x_1km[0]) == pytest.approx(-1.5 * float(ds.x[1] - ds.x[0]), rel=1e-6)
    # every granule equals the per-file prediction (scalelaws predict's code path)
    first = sorted((series / "lst").iterdir())[0]
    ref = predict_file(model, first, tmp_path / "ref.tif", device="cpu")
    import rioxarray

    a = rioxarray.open_rasterio(ref, masked=True).sel(band=1).values
    np.testing.assert_allclose(ds["lst_day"].isel(time=0).values, a, atol=1e-4)
    g = out / "granules" / (first.name[:-4] + ".day.250m.tif")
    np.testing.assert_allclose(rioxarray.open_rasterio(g, masked=True).sel(band=1).values, a, atol=1e-4)
    # the 1 km variable is the QC'd input; the 250 m field keeps its block means close to it
    lo = ds["lst_day_1km"].isel(time=0).values
    hi = ds["lst_day"].isel(time=0).values.reshape(64, 4, 64, 4).mean(axis=(1, 3))
    assert np.nanmean(np.abs(hi - lo)) < 1.0
    # a user-chosen grid: UTM 31N at 250 m, nearest resampling; the 1 km variables are left out
    from sr.produce import assemble_cube

    recs = [json.loads(p.read_text()) for p in (out / "granules").glob("*.json")]
    utm = assemble_cube(out, [r for r in recs if r["status"] == "done"],
                        _settings(str(model), which=("day", "night")), crs="EPSG:32631",
                        resolution=250.0, path=tmp_path / "utm.nc")
    du = xr.open_dataset(utm, engine="h5netcdf", decode_coords="all")
    assert du.rio.crs.to_epsg() == 32631 and "lst_day_1km" not in du
    assert float(du.x[1] - du.x[0]) == pytest.approx(250.0)
    assert float(du["lst_day"].isel(time=0).mean()) == pytest.approx(
        float(ds["lst_day"].isel(time=0).mean()), abs=0.5)
    # a rerun does nothing and is refused with other settings
    t = {p.name: p.stat().st_mtime_ns for p in (out / "granules").iterdir()}
    produce([series / "lst"], out, _settings(str(model), which=("day", "night")), scheduler="none",
            progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in (out / "granules").iterdir()} == t
    with pytest.raises(InputError, match="other settings.*qc"):
        produce([series / "lst"], out, _settings(str(model), which=("day", "night"), qc="any"),
                scheduler="none", progress=False)


@pytest.mark.e2e
@pytest.mark.shared_data
def test_guided_series_ndvi_by_date(series, tmp_path):
    from sr.predict import predict_file

    model, _ = resolve_model(None, guided_input=True)
    out = tmp_path / "run"
    s = produce([series / "lst"], out, _settings(str(model), uncertainty=True), ndvi=[series / "ndvi"],
                scheduler="none", progress=False)
    assert s["done"] == 5 and len(s["skipped"]) == 1
    ds = xr.open_dataset(s["cube"], engine="h5netcdf")
    assert "lst_day_std" in ds and float(ds["lst_day_std"].isel(time=0).mean()) > 0
    used = {str(t)[:10]: Path(f).name[9:16] for t, f in zip(ds["time"].values, ds["ndvi_file_day"].values, strict=True)}
    nds = list_ndvi(series / "ndvi")
    for t, composite in used.items():
        d = date.fromisoformat(t)
        inside = [n for n in nds if n.contains(d)]
        want = max(inside, key=lambda n: n.start) if inside else min(nds, key=lambda n: abs((n.centre - d).days))
        assert composite == want.path.name[9:16], t
    # day 96 has no composite containing it: the nearest (097) was used and the rule says so
    rules = dict(zip([str(t)[:10] for t in ds["time"].values], ds["ndvi_rule_day"].values, strict=True))
    assert "nearest" in rules["2020-04-05"] and "contains" in rules["2020-04-06"]
    # the same numbers as scalelaws predict with that NDVI
    first = sorted((series / "lst").iterdir())[0]
    nd_path = Path(ds["ndvi_file_day"].values[0])
    ref = predict_file(model, first, tmp_path / "ref.tif", ndvi_path=nd_path, device="cpu")
    import rioxarray

    a = rioxarray.open_rasterio(ref, masked=True).sel(band=1).values
    np.testing.assert_allclose(ds["lst_day"].isel(time=0).values, a, atol=1e-4)


@pytest.mark.e2e
@pytest.mark.shared_data
def test_guided_model_without_ndvi_is_refused(series, tmp_path):
    model, _ = resolve_model(None, guided_input=True)
    with pytest.raises(InputError, match="give --ndvi"):
        produce([series / "lst"], tmp_path / "o", _settings(str(model)), scheduler="none", progress=False)


def _cmd(inputs: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "scalelaws", "produce", str(inputs), "-o", str(out), *extra]


@pytest.mark.shared_data
@pytest.mark.e2e
def test_resume_after_kill_and_localcluster(series, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    lst = tmp_path / "lst"
    lst.mkdir()
    for f in sorted((series / "lst").iterdir())[:5]:
        os.symlink(f.resolve(), lst / f.name)
    ref = subprocess.run(_cmd(lst, tmp_path / "ref", "--scheduler", "none", "--which", "both"),
                         capture_output=True, text=True, timeout=600, env=env)
    assert ref.returncode == 0, ref.stderr
    run = tmp_path / "run"
    proc = subprocess.Popen(_cmd(lst, run, "--scheduler", "none", "--which", "both"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    t0 = time.time()
    while time.time() - t0 < 300:
        if len(list((run / "granules").glob("*.json"))) >= 2 or proc.poll() is not None:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = {p.name: p.stat().st_mtime_ns for p in (run / "granules").glob("*.json")}
    assert 2 <= len(done) < 10, "kill came too late to test resuming"
    assert not (run / "lst_250m.nc").exists()
    # resume on a LocalCluster of 2 worker processes: earlier granules untouched, same numbers
    res = subprocess.run(_cmd(lst, run, "--workers", "2", "--which", "both"), capture_output=True,
                         text=True, timeout=600, env=env)
    assert res.returncode == 0, res.stderr
    assert "10 of 10 granule(s) produced" in res.stderr
    after = {p.name: p.stat().st_mtime_ns for p in (run / "granules").glob("*.json")}
    assert all(after[k] == v for k, v in done.items())
    assert not [p for p in run.rglob("*.part*")], "a half-written file was left"
    a = xr.open_dataset(run / "lst_250m.nc", engine="h5netcdf")
    b = xr.open_dataset(tmp_path / "ref" / "lst_250m.nc", engine="h5netcdf")
    for v in ("lst_day", "lst_night", "lst_day_1km"):
        np.testing.assert_allclose(a[v].values, b[v].values, atol=1e-4)


@pytest.mark.e2e
@pytest.mark.shared_data
def test_cli_errors(series, tmp_path):
    from typer.testing import CliRunner

    from scalelaws.cli import app

    r = CliRunner().invoke(app, ["produce", str(series / "ndvi"), "-o", str(tmp_path / "o"),
                                 "--scheduler", "none"])
    assert r.exit_code == 2 and "no MODIS LST granule" in r.output
    r = CliRunner().invoke(app, ["produce", str(series / "lst"), "-o", str(tmp_path / "o"),
                                 "--which", "noon"])
    assert r.exit_code == 2 and "--which" in r.output
    # a corrupt granule fails alone: listed, the others produced, exit 2
    bad = tmp_path / "lst"
    shutil.copytree(series / "lst", bad, symlinks=True)
    (bad / "MOD11A1.A2020300.h18v04.061.0.hdf.0015.tif").write_bytes(b"not a tiff")
    r = CliRunner().invoke(app, ["produce", str(bad), "-o", str(tmp_path / "o2"), "--scheduler", "none",
                                 "--no-cube"])
    assert r.exit_code == 2, r.output
    assert "A2020300" in r.output and "5 of 7 granule(s) produced" in r.output


@pytest.mark.e2e
@pytest.mark.shared_data
def test_two_windows_of_one_date_are_mosaicked_on_their_union(shared_data, tmp_path):
    import rasterio

    lst_dir = shared_data / "modis_lst_2020" / "MOD_2020_MOD11A1" / "tifs_files" / "1km"
    two = sorted(lst_dir.glob("MOD11A1.A2020001.*.tif"))[:2]
    if len(two) < 2:
        pytest.skip("needs two windows of 2020-01-01")
    src = tmp_path / "lst"
    src.mkdir()
    for f in two:
        os.symlink(f, src / f.name)
    model, _ = resolve_model(None, guided_input=False)
    s = produce([src], tmp_path / "o", _settings(str(model)), scheduler="none", progress=False)
    ds = xr.open_dataset(s["cube"], engine="h5netcdf", decode_coords="all")
    bounds = []
    for f in two:
        with rasterio.open(f) as r:
            bounds.append(r.bounds)
    px = 926.6254330558
    nx = round((max(b.right for b in bounds) - min(b.left for b in bounds)) / px)
    ny = round((max(b.top for b in bounds) - min(b.bottom for b in bounds)) / px)
    assert ds["lst_day"].shape == (1, 4 * ny, 4 * nx) and ds["lst_day_1km"].shape == (1, ny, nx)
    # each window's 250 m file sits in the cube where its bounds say
    import rioxarray

    for f in two:
        g = rioxarray.open_rasterio(tmp_path / "o" / "granules" / (f.name[:-4] + ".day.250m.tif"),
                                    masked=True).sel(band=1)
        sub = ds["lst_day"].isel(time=0).sel(x=g.x, y=g.y, method="nearest")
        np.testing.assert_allclose(sub.values, g.values, atol=1e-4)


@pytest.mark.e2e
@pytest.mark.shared_data
def test_existing_scheduler_by_address(series, tmp_path):
    """``--scheduler ADDRESS``: the tasks go to a running cluster; same files as in-process."""
    import rioxarray
    from distributed import LocalCluster

    src = tmp_path / "lst"
    src.mkdir()
    for f in sorted((series / "lst").iterdir())[:2]:
        os.symlink(f.resolve(), src / f.name)
    model, _ = resolve_model(None, guided_input=False)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as c:
        s = produce([src], tmp_path / "a", _settings(str(model)), scheduler=c.scheduler_address,
                    cube=False, progress=False)
    ref = produce([src], tmp_path / "b", _settings(str(model)), scheduler="none", cube=False, progress=False)
    assert s["done"] == ref["done"] == 2
    for f in sorted((tmp_path / "b" / "granules").glob("*.tif")):
        a = rioxarray.open_rasterio(tmp_path / "a" / "granules" / f.name, masked=True).values
        np.testing.assert_allclose(a, rioxarray.open_rasterio(f, masked=True).values, atol=1e-4)
