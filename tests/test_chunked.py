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


@pytest.mark.parametrize("chunk", [128, 320])
def test_law_sums_chunked_equal_in_memory(chunk):
    from scalelaws.landscapes import landscape_sums
    from scalelaws.stats.chunked import law_scene_sums

    da = _field(768, 0.35, 8) + np.float32(300.0)
    kw = dict(q=(1, 2, 3), max_lag=150, block_px=64)
    ref = landscape_sums([da], None, **kw)
    hook = law_scene_sums({0: ArraySource(da)}, chunk=chunk, memory="48MiB")
    got = landscape_sums([da], None, scene_sums=hook, **kw)
    assert set(got.data_vars) == set(ref.data_vars)
    for v in ref.data_vars:
        np.testing.assert_allclose(got[v].values, ref[v].values, rtol=RTOL, atol=1e-9,
                                   err_msg=v)
    with pytest.raises(InputError, match="LST-only"):
        landscape_sums([da], None, ndvi=[da * 0 + 0.5], scene_sums=hook, **kw)


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
    nd = tmp_path / "scene_ndvi.tif"
    (da * 0 + np.float32(0.5)).rio.write_crs("EPSG:32631").rio.to_raster(nd)
    res = runner.invoke(app, ["laws", "fit", str(path), "--ndvi", str(nd), "-o",
                              str(tmp_path / "c.nc"), "--chunk-size", "128"])
    assert res.exit_code == 2 and "block by block" in res.output


@pytest.mark.parametrize("calib_side", [512, 256])
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
