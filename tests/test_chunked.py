"""Block-by-block exponents (scalelaws.stats.chunked) against the in-memory fit_scaling.

The structure-function sums, bootstrap tiles and wavelet leaders are pooled sums over pixels,
so the chunked results must equal the in-memory ones up to float rounding (summation order):
relative tolerance 1e-9 on every variable (1e-6 on the break scale, which comes out of a
profile optimiser fed with those numbers). Calibrations and beta are exact when the field fits
the calibration side (factor 1), and from sub-blocks otherwise: beta of the f x f block means
within 0.05 of the in-memory beta, calibrated intervals checked against the known H.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

from scalelaws.errors import InputError
from scalelaws.fit import fit_scaling
from scalelaws.stats.chunked import (
    ArraySource,
    ChunkedBackend,
    auto_chunk,
    fit_scaling_chunked,
    parse_memory,
    strip_thickness,
)
from scalelaws.synthetic import fbm

RTOL = 1e-9
VARS = ("zeta", "zeta_ci", "H", "H_ci", "c1", "c1_ci", "c2", "c2_ci", "beta", "S", "S_boot",
        "boot_inflation", "boot_bias", "H_below", "H_above")


def _field(n: int, H: float, seed: int, hole: bool = True) -> xr.DataArray:
    if n <= 1024:
        a = fbm((n, n), H, rng=seed).astype(np.float32)
    else:  # an exact fBm of 4096^2 needs 8 GB: a 1024^2 one reflected across its edges
        t = fbm((1024, 1024), H, rng=seed).astype(np.float32)
        t = np.concatenate([t, t[::-1]], axis=0)
        t = np.concatenate([t, t[:, ::-1]], axis=1)
        a = np.tile(t, (-(-n // 2048), -(-n // 2048)))[:n, :n].copy()
    if hole:  # a cloud: missing pixels straddling chunk borders
        a[n // 5: n // 5 + n // 12, n // 3: n // 3 + n // 9] = np.nan
    return xr.DataArray(a, dims=("y", "x"),
                        coords={"y": 4e6 - 30.0 * np.arange(n), "x": 5e5 + 30.0 * np.arange(n)},
                        attrs={"units": "K"})


def _assert_same(a: xr.Dataset, b: xr.Dataset) -> None:
    # beta of block means (the spectrum of a coarse-grained copy, when the raster exceeds the
    # budget) is an approximation: 0.08 from the in-memory beta on the 4096^2 reflected fBm, where
    # both lie within 0.06 of the true 2H + 2 = 2.8; the tolerance is 0.1
    coarse = b.attrs["calibration_factor"] > 1
    for v in VARS:
        x, y = np.asarray(a[v].values, float), np.asarray(b[v].values, float)
        if v == "beta" and coarse:
            np.testing.assert_allclose(y, x, atol=0.1, err_msg=v)
            continue
        np.testing.assert_allclose(y, x, rtol=RTOL, atol=1e-14, equal_nan=True, err_msg=v)
    np.testing.assert_allclose(float(b["break_m"]), float(a["break_m"]), rtol=1e-6)


def _kw() -> dict:
    return dict(n_boot=30, rng=np.random.default_rng(5), calibrate=False)


@pytest.fixture(scope="module")
def field_1024():
    da = _field(1024, 0.4, 11)
    return da, fit_scaling(da, **_kw())


@pytest.mark.slow
@pytest.mark.parametrize("chunk", [136, 200, 512, 1024])
def test_chunked_equals_in_memory_1024(field_1024, chunk):
    da, ref = field_1024
    got = fit_scaling_chunked(da, chunk=chunk, memory="4GiB", calib_side=1024, **_kw())
    _assert_same(ref, got)
    assert got.attrs["chunked"] == 1
    assert abs(float(got["H"]) - 0.4) < 0.05  # the known exponent


def test_chunked_calibration_exact_when_it_fits():
    da = _field(256, 0.6, 3)
    kw = dict(n_boot=30, calibrate=True, n_calib=3)
    ref = fit_scaling(da, rng=np.random.default_rng(1), **kw)
    got = fit_scaling_chunked(da, chunk=100, memory="4GiB", rng=np.random.default_rng(1), **kw)
    assert got.attrs["calibration_factor"] == 1
    _assert_same(ref, got)
    assert np.any(got["boot_inflation"].values != 1.0) or np.any(got["boot_bias"].values != 0)


@pytest.mark.slow
def test_chunked_calibration_from_sub_blocks():
    """A budget too small for full-size fBm: calibrations on coarse-grained geometry."""
    da = _field(1024, 0.5, 4)
    got = fit_scaling_chunked(da, chunk=256, calib_side=512, n_boot=40,
                              rng=np.random.default_rng(2), calibrate=True, n_calib=4)
    assert got.attrs["calibration_factor"] == 2
    assert abs(float(got["H"]) - 0.5) < 0.05
    lo, hi = got["H_ci"].values
    assert lo < float(got["H"]) < hi and hi - lo < 0.3
    assert np.all(got["boot_inflation"].values >= 1.0)
    assert abs(float(got["c1"]) - 0.5) < 0.1 and abs(float(got["c2"])) < 0.05
    assert abs(float(got["beta"]) - 3.0) < 0.3  # 2-D fBm: beta = 2H + 2; of block means


@pytest.mark.parametrize("j0", [3, 5])
def test_chunked_leaders_equal_in_memory(j0):
    from scalelaws.fit import _log_leaders

    da = _field(384, 0.3, 9)
    be = ChunkedBackend(ArraySource(da), chunk=104, memory=2**32, j0=j0)
    be.field(da)
    js, n = be.leader_counts(da, "db2")
    ref = _log_leaders(np.asarray(da.values, float), int(js[-1]), 1.0, "db2")
    got = be.log_leaders(da, int(js[-1]), 1.0, "db2")
    for j in range(3, int(js[-1]) + 1):
        np.testing.assert_allclose(got[j - 1], ref[j - 1], rtol=1e-12, equal_nan=True)
        assert n[j - 1] == np.count_nonzero(np.isfinite(ref[j - 1]))
    for j in (1, 2):
        assert n[j - 1] == np.count_nonzero(np.isfinite(ref[j - 1]))


def test_parse_memory_and_auto_chunk():
    assert parse_memory("2GiB") == 2 * 1024**3
    assert parse_memory("512MiB") == 512 * 1024**2
    assert parse_memory("1.5GB") == 1_500_000_000
    for bad in ("lots", "-1GiB", "0", "2 parsecs"):
        with pytest.raises(InputError):
            parse_memory(bad)
    c = auto_chunk(2 * 1024**3, 1000, workers=2, align=8)
    assert c % 8 == 0 and 2 * 12 * (c + 1000) ** 2 <= 1024**3
    with pytest.raises(InputError, match="largest lag"):
        auto_chunk(64 * 1024**2, 5000, workers=2)
    t = strip_thickness(2 * 1024**3, 32768, workers=2)
    assert 16 <= t and 2 * 28 * t * 32768 <= 2 * 1024**3 / 3
    with pytest.raises(InputError, match="strip"):
        strip_thickness(16 * 1024**2, 32768, workers=2)


@pytest.mark.slow
def test_chunked_equals_in_memory_4096():
    da = _field(4096, 0.4, 21)
    ref = fit_scaling(da, **_kw())
    got = fit_scaling_chunked(da, chunk=1000, memory="4GiB", **_kw())
    _assert_same(ref, got)


@pytest.mark.e2e
def test_cli_exponents_chunk_size_same_exponents(tmp_path):
    import rioxarray  # noqa: F401

    from scalelaws.cli import app

    da = _field(384, 0.45, 6, hole=False) + np.float32(300.0)
    da.attrs["units"] = "K"
    path = tmp_path / "big_lst.tif"
    da.rio.write_crs("EPSG:32631").rio.to_raster(path)
    runner = CliRunner()
    outs = []
    for extra in ([], ["--chunk-size", "100"], ["--chunk-size", "160", "--memory-limit", "3GiB"]):
        res = runner.invoke(app, ["exponents", str(path), "--n-boot", "30", "--json", *extra])
        assert res.exit_code == 0, res.output
        outs.append(json.loads(res.output.strip().splitlines()[-1]))
    for rec in outs[1:]:
        for key in ("H", "c1", "c2", "beta"):
            assert rec[key] == pytest.approx(outs[0][key], rel=RTOL), key
        for qk, z in outs[0]["zeta"].items():
            assert rec["zeta"][qk] == pytest.approx(z, rel=RTOL)
            assert rec["zeta_ci"][qk] == pytest.approx(outs[0]["zeta_ci"][qk], rel=RTOL)
    res = runner.invoke(app, ["exponents", str(path), "--memory-limit", "lots"])
    assert res.exit_code == 2 and "memory-limit" in res.output


def _ndvi_for(da: xr.DataArray, seed: int) -> xr.DataArray:
    """An NDVI field (all four NDVI classes present) on the grid of ``da``, a strip missing."""
    nd = _field(da.shape[0], 0.5, seed, hole=False)
    nd = ((nd - nd.mean()) / (3 * nd.std()) + np.float32(0.3)).clip(-0.95, 0.95)
    nd[da.shape[0] // 2: da.shape[0] // 2 + 12, 10: -40] = np.nan
    nd.attrs = {"units": "1"}
    return nd


def _law_sums_pair(da, nd, chunk, with_classes, **kw):
    from scalelaws.landscapes import classify_ndvi, landscape_sums
    from scalelaws.stats.chunked import law_scene_sums

    lab = classify_ndvi(nd) if with_classes else None
    ref = landscape_sums([da], [lab], ndvi=[nd], **kw)
    hook = law_scene_sums({0: ArraySource(da)}, chunk=chunk, memory="8GiB",
                          classes={0: ArraySource(lab)} if with_classes else None,
                          ndvi={0: ArraySource(nd)})
    return ref, landscape_sums([da], [lab], ndvi=[nd], scene_sums=hook, **kw)


def _assert_sums_equal(ref, got):
    """Structure-function, pixel and detail sums exactly; LST-NDVI sums to 1e-9 of their scale.

    The LST-NDVI sums are centred on the scene mean of the block means at each block size;
    block by block they are per-tile moments re-centred once every block is in (another
    summation order: measured 1.5e-11 relative on the largest, 1e-10 absolute on sums that
    cancel to ~0).
    """
    assert set(got.data_vars) == set(ref.data_vars)
    assert list(got["landscape"].values) == list(ref["landscape"].values)
    for v in ref.data_vars:
        a, b = ref[v].values, got[v].values
        if v.startswith("reg_") and v != "reg_n":
            np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-9 * np.abs(a).max(), err_msg=v)
        else:
            np.testing.assert_array_equal(b, a, err_msg=v)


@pytest.mark.parametrize("chunk", [128, 320])
def test_law_sums_chunked_equal_in_memory(chunk):
    from scalelaws.landscapes import landscape_sums
    from scalelaws.stats.chunked import law_scene_sums

    da = _field(768, 0.35, 8) + np.float32(300.0)
    kw = dict(q=(1, 2, 3), max_lag=150, block_px=64)
    ref = landscape_sums([da], None, **kw)
    hook = law_scene_sums({0: ArraySource(da)}, chunk=chunk, memory="48MiB")
    got = landscape_sums([da], None, scene_sums=hook, **kw)
    _assert_sums_equal(ref, got)
    with pytest.raises(InputError, match="read by windows"):  # NDVI given, not its source
        landscape_sums([da], None, ndvi=[da * 0 + 0.5], scene_sums=hook, **kw)


@pytest.mark.parametrize(("chunk", "with_classes"), [(100, True), pytest.param(192, True, marks=pytest.mark.slow),
                                                    (128, False)])
def test_law_sums_per_landscape_with_ndvi_chunked_equal_in_memory(chunk, with_classes):
    """NDVI classes and LST-NDVI sums block by block (512^2, blocks of 100-192 px)."""
    da = _field(512, 0.35, 8) + np.float32(300.0)
    nd = _ndvi_for(da, 9)
    ref, got = _law_sums_pair(da, nd, chunk, with_classes, q=(1, 2), max_lag=60, block_px=64)
    if with_classes:
        assert got.sizes["landscape"] == 5 and np.all(got["n_pixels"].sum("unit") > 0)
    assert np.abs(got["reg_sxy"].values).max() > 0
    _assert_sums_equal(ref, got)


@pytest.mark.slow
def test_law_sums_per_landscape_with_ndvi_chunked_equal_in_memory_4096():
    da = _field(4096, 0.35, 31) + np.float32(300.0)
    nd = _ndvi_for(da, 32)
    ref, got = _law_sums_pair(da, nd, 1000, True, q=(1, 2), max_lag=200, block_px=128)
    _assert_sums_equal(ref, got)


@pytest.mark.e2e
def test_cli_laws_fit_chunk_size_same_law(tmp_path):
    import rioxarray  # noqa: F401

    from scalelaws.cli import app

    da = _field(320, 0.5, 12) + np.float32(300.0)
    da.attrs["units"] = "K"
    path = tmp_path / "scene_lst.tif"
    da.rio.write_crs("EPSG:32631").rio.to_raster(path)
    runner = CliRunner()
    laws = []
    for name, extra in (("a.nc", []), ("b.nc", ["--chunk-size", "128"])):
        res = runner.invoke(app, ["laws", "fit", str(path), "-o", str(tmp_path / name),
                                  "--n-boot", "20", *extra])
        assert res.exit_code == 0, res.output
        laws.append(xr.open_dataset(tmp_path / name, engine="h5netcdf").load())
    a, b = laws
    for v in a.data_vars:
        if np.issubdtype(a[v].dtype, np.number):
            np.testing.assert_allclose(b[v].values, a[v].values, rtol=1e-8, atol=1e-12,
                                       equal_nan=True, err_msg=v)


@pytest.mark.parametrize("calib_side", [512, pytest.param(256, marks=pytest.mark.slow)])
def test_chunk_inside_a_cloud(calib_side):
    """Blocks with no valid pixel at all (inside a cloud) add nothing and break nothing."""
    da = _field(512, 0.45, 13, hole=False)
    da[100:360, 100:360] = np.nan  # holds the chunk [128, 256) x [128, 256) entirely
    ref = fit_scaling(da, **_kw())
    got = fit_scaling_chunked(da, chunk=128, memory="4GiB", calib_side=calib_side, **_kw())
    assert got.attrs["calibration_factor"] == 512 // calib_side
    _assert_same(ref, got)


def test_periodic_field_keeps_intervals():
    """A lag equal to the period of the field (S = 0 there) is left out; intervals remain.

    The 32768^2 benchmark raster (an fBm tile reflected, period 4096 px) had lag 4096 in its
    default range: every increment at that lag is zero, log S = -inf in every bootstrap
    replicate, all replicates were dropped and H_ci / zeta_ci came out NaN (JSON null). Here
    the same on a 512^2 field of period 64 (default range: lags 2-85 px, 64 among them).
    """
    t = fbm((32, 32), 0.4, rng=21).astype(np.float32)
    t = np.concatenate([t, t[::-1]], axis=0)
    t = np.concatenate([t, t[:, ::-1]], axis=1)  # period 64, continuous
    da = _field(512, 0.4, 0, hole=False)
    da.values[:] = np.tile(t, (8, 8))
    ref = fit_scaling(da, **_kw())
    got = fit_scaling_chunked(da, chunk=128, memory="4GiB", calib_side=512, **_kw())
    for ds in (ref, got):
        assert 64 not in ds["lag"].values and 32 in ds["lag"].values
        assert np.all(np.isfinite(ds["H_ci"].values)) and np.all(np.isfinite(ds["zeta_ci"].values))
        lo, hi = ds["H_ci"].values
        assert lo <= float(ds["H"]) <= hi
    _assert_same(ref, got)


def _write(da: xr.DataArray, path, pixel: float, origin=(5e5, 4e6), crs="EPSG:32631"):
    import rioxarray  # noqa: F401

    ny, nx = da.shape
    da = da.assign_coords(y=origin[1] - pixel * (np.arange(ny) + 0.5),
                          x=origin[0] + pixel * (np.arange(nx) + 0.5))
    da.rio.write_crs(crs).rio.to_raster(path)
    return path


def _blocks(source, c: int) -> np.ndarray:
    ny, nx = source.shape
    return np.block([[source.read(y0, min(ny, y0 + c), x0, min(nx, x0 + c))
                      for x0 in range(0, nx, c)] for y0 in range(0, ny, c)])


@pytest.mark.parametrize(("ndvi_pixel", "origin"), [
    (30.0, (5e5, 4e6)), pytest.param(45.0, (5e5 - 107, 4e6 + 61), marks=pytest.mark.slow),
    pytest.param(20.0, (5e5 - 13, 4e6 + 7), marks=pytest.mark.slow)])
def test_placed_source_equals_in_memory_placement(tmp_path, ndvi_pixel, origin):
    """NDVI, its classes and land cover placed window by window = placed whole.

    Same grid (read as is), a coarser offset grid (bilinear / nearest) and a finer one (mode):
    pixel ratios of 1.5 (no nearest ties).
    """
    from scalelaws.commands import _ndvi_classes_on_grid
    from scalelaws.io import open_lst, open_ndvi
    from scalelaws.landscapes import classes_from_landcover
    from scalelaws.laws_cli import _ndvi_classes, _on_grid
    from scalelaws.stats.chunked import (
        PlacedSource,
        RasterSource,
        landcover_source,
        ndvi_window_source,
    )

    n = 300
    lst_path = _write(_field(n, 0.4, 1, hole=False) + np.float32(300.0), tmp_path / "lst.tif", 30.0)
    m = n if ndvi_pixel == 30.0 else int(n * 30.0 / ndvi_pixel) + 6
    nd = _ndvi_for(_field(m, 0.4, 2, hole=False), 3)
    nd_path = _write(nd, tmp_path / "ndvi.tif", ndvi_pixel, origin)
    codes = xr.DataArray(np.digitize(np.asarray(nd.fillna(0.3).values), [0.0, 0.2, 0.5])
                         .astype(np.uint8) * 10 + 1, dims=("y", "x"))
    lc_path = _write(codes, tmp_path / "lc.tif", ndvi_pixel, origin)
    lst = open_lst(lst_path)
    src = RasterSource(lst_path)
    ndvi = open_ndvi(nd_path)
    nd_src = ndvi_window_source(nd_path)
    for place, dtype in ((_on_grid, np.float32), (_ndvi_classes, np.int16),
                         (_ndvi_classes_on_grid, np.int16)):
        ps = PlacedSource(nd_src, src, place, dtype=dtype)
        assert ps.aligned == (ndvi_pixel == 30.0)
        ref = np.asarray(place(ndvi, lst).values).astype(dtype)
        got = _blocks(ps, 97)
        np.testing.assert_array_equal(got, ref, err_msg=place.__name__)
        if dtype == np.int16:
            assert ps.attrs["flag_meanings"] == place(ndvi, lst).attrs["flag_meanings"]
    ref = classes_from_landcover(lc_path, like=lst)
    ps = landcover_source(lc_path, src, chunk=128)
    assert ps.attrs["flag_meanings"] == ref.attrs["flag_meanings"] == "class_1 class_11 class_21 class_31"
    np.testing.assert_array_equal(_blocks(ps, 97), ref.values)


def _assert_same_law_vars(a: xr.Dataset, b: xr.Dataset, rtol: float, skip=()) -> None:
    for v in a.data_vars:
        if v in skip or not np.issubdtype(a[v].dtype, np.number):
            continue
        x, y = np.asarray(a[v].values, float), np.asarray(b[v].values, float)
        scale = np.nanmax(np.abs(x)) if np.isfinite(x).any() else 0.0
        np.testing.assert_allclose(y, x, rtol=rtol, atol=rtol * scale, equal_nan=True, err_msg=v)


@pytest.mark.e2e
def test_cli_by_landscape_and_ndvi_chunk_size_same_results(tmp_path):
    """``exponents --by-landscape`` (NDVI classes, land cover) and ``laws fit --ndvi
    --by-landscape`` block by block give the in-memory numbers (NDVI on a coarser grid).

    Exponents: every variable to 1e-9 relative except ``c1``, ``c2`` (not computed block by
    block: NaN). Laws: 1e-8 relative (the LST-NDVI sums are re-centred, see
    :func:`_assert_sums_equal`; the break and polynomial fits amplify rounding a little).
    """
    from scalelaws.cli import app

    n = 320
    path = _write(_field(n, 0.4, 14) + np.float32(300.0), tmp_path / "scene_lst.tif", 30.0)
    nd = _ndvi_for(_field(n // 2 + 4, 0.5, 15, hole=False), 16)
    nd_path = _write(nd, tmp_path / "scene_ndvi.tif", 60.0, (5e5 - 37, 4e6 + 23))
    codes = xr.DataArray(np.digitize(np.asarray(nd.fillna(0.3).values), [0.0, 0.2, 0.5])
                         .astype(np.uint8) + 1, dims=("y", "x"))
    lc_path = _write(codes, tmp_path / "lc.tif", 60.0, (5e5 - 37, 4e6 + 23))
    runner = CliRunner()
    for classes in (["--ndvi", str(nd_path)], ["--landcover", str(lc_path)]):
        outs = []
        for name, extra in (("a.nc", []), ("b.nc", ["--chunk-size", "96"])):
            res = runner.invoke(app, ["exponents", str(path), "--by-landscape", *classes,
                                      "--n-boot", "20", "-o", str(tmp_path / name), *extra])
            assert res.exit_code == 0, res.output
            outs.append(xr.open_dataset(tmp_path / name, engine="h5netcdf").load())
        a, b = outs
        assert list(a["landscape"].values) == list(b["landscape"].values)
        assert a.sizes["landscape"] >= 4
        assert np.all(np.isnan(b["c1"].values)) and np.isfinite(a["c1"].values).any()
        _assert_same_law_vars(a, b, 1e-9, skip=("c1", "c1_ci", "c2", "c2_ci",
                                                "wavelet_octaves"))
    for classes in (["--ndvi", str(nd_path)], ["--ndvi", str(nd_path), "--by-landscape"],
                    ["--landcover", str(lc_path), "--by-landscape"]):
        laws = []
        for name, extra in (("a.nc", []), ("b.nc", ["--chunk-size", "128"])):
            res = runner.invoke(app, ["laws", "fit", str(path), *classes, "-o",
                                      str(tmp_path / name), "--n-boot", "20", *extra])
            assert res.exit_code == 0, res.output
            laws.append(xr.open_dataset(tmp_path / name, engine="h5netcdf").load())
        a, b = laws
        assert list(a["landscape"].values) == list(b["landscape"].values)
        if "--ndvi" in classes:
            assert np.isfinite(a["lst_ndvi_slope"].values).any()
        _assert_same_law_vars(a, b, 1e-8)


def _traced_growth(fn, n: int) -> int:
    """Bytes still allocated (tracemalloc) after ``n`` more calls of ``fn``, cyclic GC off.

    With the cyclic garbage collector disabled, only what reference counting frees is freed:
    arrays kept alive by reference cycles (a DataArray and its cached ``.rio`` accessor)
    accumulate, as they did between two runs of the collector in the 32768^2 benchmark.
    """
    import gc
    import tracemalloc

    gc.collect()
    gc.disable()
    tracemalloc.start()
    try:
        fn()  # warm-up: imports, caches
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(n):
            fn()
        return tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
        gc.enable()
        gc.collect()


@pytest.mark.slow
def test_block_tasks_free_their_arrays():
    """The summary task and the window placement hold no block after they return.

    Before the summary task called ``aggregate_blocks`` (it called ``grids.degrade_array``,
    whose DataArray's ``.rio`` accessor is a reference cycle), 20 blocks of 256^2 kept their
    float64 copies: 10.5 MB here (measured with the old task; this assertion then failed); now
    32 bytes. The window placement (``PlacedSource``: ``grids.align`` through DataArrays)
    collects the young generations after each window: without that, 10 windows kept 20.6 MB
    (measured) and 20 reads took 15 times longer.
    """
    from scalelaws.commands import _ndvi_classes_on_grid
    from scalelaws.stats.chunked import PlacedSource, _summary_task

    da = _field(512, 0.4, 3)
    src = ArraySource(da)
    block = 256 * 256 * 8
    grown = _traced_growth(lambda: _summary_task(src, (0, 256), (256, 512), 4), 20)
    assert grown < block / 2, grown
    nd = _ndvi_for(da, 4)
    like = type("Like", (), {})()  # an LST grid: transform, CRS, shape (RasterSource's)
    from affine import Affine

    like.transform, like.crs, like.shape = Affine(30.0, 0, 5e5, 0, -30.0, 4e6), "EPSG:32631", (512, 512)
    like.coords = lambda: {}
    other = nd.assign_coords(y=4e6 - 45.0 * (np.arange(512) + 0.5),
                             x=5e5 - 300 + 45.0 * (np.arange(512) + 0.5)).rio.write_crs("EPSG:32631")
    ps = PlacedSource(other, like, _ndvi_classes_on_grid, dtype=np.int16)
    grown = _traced_growth(lambda: ps.read(0, 256, 256, 512), 10)
    assert grown < block / 2, grown
