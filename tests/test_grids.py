"""Scale operators of scalelaws.grids: exactness of coarse-graining, PSF, coordinates, align."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import rioxarray  # noqa: F401 - registers the .rio accessor
import xarray as xr

from scalelaws.errors import (
    AllNaNError,
    GridMismatchError,
    InputError,
    MissingCRSError,
    ScaleRangeError,
    UnitsError,
)
from scalelaws.grids import (
    align,
    coarsen,
    degrade,
    degrade_array,
    gaussian_sigma_for_mtf,
    pixel_size,
    psf_degrade,
    refine_like,
    upsample_coords,
)

CRS = "EPSG:32631"


def make_field(values, *, res=250.0, x0=500_000.0, y0=5_000_000.0, crs=CRS, name="lst"):
    """North-up raster with pixel-centre coords and a rio transform."""
    values = np.asarray(values)
    ny, nx = values.shape[-2:]
    x = x0 + (np.arange(nx) + 0.5) * res
    y = y0 - (np.arange(ny) + 0.5) * res
    dims = tuple(f"t{i}" for i in range(values.ndim - 2)) + ("y", "x")
    da = xr.DataArray(values, dims=dims, coords={"y": y, "x": x}, name=name,
                      attrs={"units": "K", "long_name": "land surface temperature"})
    if crs is not None:
        da = da.rio.write_crs(crs).rio.write_transform(
            __import__("affine").Affine(res, 0.0, x0, 0.0, -res, y0)
        )
    return da


def block_mean_numpy(a: np.ndarray, f: int) -> np.ndarray:
    ny, nx = a.shape[-2] // f * f, a.shape[-1] // f * f
    a = a[..., :ny, :nx]
    return a.reshape(*a.shape[:-2], ny // f, f, nx // f, f).mean(axis=(-3, -1))


# ----------------------------------------------------------------------------------------------


def test_pixel_size():
    da = make_field(np.zeros((4, 6)), res=62.5)
    assert pixel_size(da) == 62.5
    plain = xr.DataArray(np.zeros((3, 3)), dims=("y", "x"),
                         coords={"y": [30.0, 20.0, 10.0], "x": [0.0, 10.0, 20.0]})
    assert pixel_size(plain) == 10.0
    bare = xr.DataArray(np.zeros((3, 3)), dims=("y", "x"))
    with pytest.raises(InputError, match="pixel size"):
        pixel_size(bare)
    assert pixel_size(bare, default=1.0) == 1.0
    assert pixel_size(bare.assign_attrs(pixel_size=30.0)) == 30.0
    rect = plain.assign_coords(x=[0.0, 11.0, 22.0])
    with pytest.raises(GridMismatchError, match="not square"):
        pixel_size(rect)
    # 1e-7 relative difference is tolerated
    assert pixel_size(plain.assign_coords(x=[0.0, 10.000001, 20.000002])) == pytest.approx(10.0)
    irregular = plain.assign_coords(x=[0.0, 10.0, 25.0])
    with pytest.raises(GridMismatchError, match="regularly"):
        pixel_size(irregular)
    # one-column raster: size from the transform
    assert pixel_size(make_field(np.zeros((5, 1)), res=90.0)) == 90.0


@pytest.mark.parametrize("factor", [1, 2, 3, 4])
def test_block_mean_exact(rng, factor):
    a = rng.normal(300.0, 5.0, size=(2, 13, 17))
    da = make_field(a)
    out = coarsen(da, factor)
    np.testing.assert_allclose(out.values, block_mean_numpy(a, factor), rtol=1e-13)
    assert out.dims == ("t0", "y", "x") and out.dtype == np.float64
    assert out.attrs["units"] == "K" and out.attrs["long_name"] == "land surface temperature"
    assert out.attrs["degradation"] == "mean" and out.attrs["degradation_factor"] == factor
    # degrade / degrade_array share the path
    np.testing.assert_array_equal(degrade(da, factor).values, out.values)
    np.testing.assert_array_equal(degrade_array(a, factor), out.values)


def test_trailing_rows_dropped_and_logged(rng, caplog):
    da = make_field(rng.normal(size=(10, 9)))
    with caplog.at_level(logging.INFO, logger="scalelaws.grids"):
        out = coarsen(da, 4)
    assert out.shape == (2, 2)
    assert "dropping 2 trailing row(s) and 1 trailing column(s)" in caplog.text


def test_float32_kept():
    da = make_field(np.full((8, 8), 290.0, dtype=np.float32))
    assert coarsen(da, 2).dtype == np.float32
    assert psf_degrade(da, 2).dtype == np.float32


def test_radiance_mean(rng):
    t = rng.uniform(270.0, 330.0, size=(16, 16))
    da = make_field(t)
    rad = coarsen(da, 4, method="radiance")
    ari = coarsen(da, 4, method="mean")
    expected = block_mean_numpy(t**4, 4) ** 0.25
    np.testing.assert_allclose(rad.values, expected, rtol=1e-13)
    assert np.all(rad.values >= ari.values)
    assert np.any(rad.values > ari.values + 1e-3)  # strictly larger on heterogeneous blocks
    const = make_field(np.full((8, 8), 301.5))
    np.testing.assert_allclose(coarsen(const, 4, method="radiance").values, 301.5, rtol=1e-14)
    with pytest.raises(UnitsError, match="kelvin"):
        coarsen(make_field(t - 300.0), 2, method="radiance")


@pytest.mark.parametrize("method", ["mean", "radiance", "psf"])
def test_max_missing_rule(method):
    """4x4 blocks with 0..16 NaN: NaN iff missing fraction > max_missing; valid mean otherwise."""
    f = 4
    a = np.full((f, 17 * f), 300.0)
    a[:, 1::2] = 310.0  # columns alternate so a mean of the valid pixels is testable
    for k in range(17):
        block = a[:, k * f : (k + 1) * f].reshape(-1)
        block[:k] = np.nan  # k missing fine pixels in block k
        a[:, k * f : (k + 1) * f] = block.reshape(f, f)
    da = make_field(a)
    for max_missing in (0.0, 0.25, 0.5, 0.75, 1.0):
        out = degrade(da, f, method=method, max_missing=max_missing).values[0]
        for k in range(17):
            frac = k / 16
            if frac > max_missing or k == 16:
                assert np.isnan(out[k]), (method, max_missing, k)
            else:
                assert np.isfinite(out[k]), (method, max_missing, k)
                if method == "mean":
                    block = a[:, k * f : (k + 1) * f]
                    assert out[k] == pytest.approx(np.nanmean(block), rel=1e-14)


def test_coarse_coordinates_and_transform(rng):
    res, x0, y0 = 62.5, 300_000.0, 4_000_000.0
    da = make_field(rng.normal(size=(24, 36)), res=res, x0=x0, y0=y0)
    for f in (2, 3, 4, 6):
        out = coarsen(da, f)
        np.testing.assert_allclose(out.x.values, da.x.values.reshape(-1, f).mean(1))
        np.testing.assert_allclose(out.y.values, da.y.values.reshape(-1, f).mean(1))
        t = out.rio.transform()
        assert (t.a, t.e, t.c, t.f) == (res * f, -res * f, x0, y0)
        assert out.rio.crs == da.rio.crs
        np.testing.assert_allclose(out.rio.bounds(), da.rio.bounds())  # divisible: same bounds
        assert pixel_size(out) == pytest.approx(res * f)
        # the transform recomputed from the coords agrees with the written one
        np.testing.assert_allclose(tuple(out.rio.transform(recalc=True))[:6], tuple(t)[:6])
    # trimmed case: same origin, bounds shrink by the dropped pixels only
    out = coarsen(da.isel(y=slice(0, 23), x=slice(0, 35)), 4)
    b = out.rio.bounds()
    assert b == pytest.approx((x0, y0 - 20 * res, x0 + 32 * res, y0))
    # cumulative factor
    assert coarsen(coarsen(da, 2), 3).attrs["degradation_factor"] == 6
    np.testing.assert_allclose(coarsen(coarsen(da, 2), 3).values, coarsen(da, 6).values)


def test_plain_dataarray_without_crs(rng):
    a = rng.normal(size=(8, 8))
    da = xr.DataArray(a, dims=("y", "x"), coords={"y": np.arange(8.0)[::-1], "x": np.arange(8.0)})
    out = coarsen(da, 2)
    np.testing.assert_allclose(out.x.values, [0.5, 2.5, 4.5, 6.5])
    np.testing.assert_allclose(out.values, block_mean_numpy(a, 2))


def test_gaussian_sigma_for_mtf():
    for f in (2, 4, 5):
        for m in (0.1, 0.3, 0.6):
            s = gaussian_sigma_for_mtf(f, m)
            fn = 1.0 / (2 * f)
            assert math.exp(-2 * math.pi**2 * s**2 * fn**2) == pytest.approx(m, rel=1e-12)
    assert gaussian_sigma_for_mtf(4, 1.0) == 0.0
    with pytest.raises(InputError):
        gaussian_sigma_for_mtf(4, 0.0)


@pytest.mark.parametrize("factor,mtf", [(4, 0.3), (3, 0.5), (5, 0.2)])
def test_psf_mtf_on_sinusoid(factor, mtf):
    """Coarse samples of a sinusoid at the coarse Nyquist frequency have amplitude
    mtf x box(f), box(f) = sin(pi f F) / (F sin(pi f)) the block-mean transfer function.

    Tolerance 2e-3 relative: the sampled, 4-sigma truncated Gaussian kernel differs from the
    continuous MTF by < exp(-8) ~ 3e-4 (truncation) plus aliasing exp(-2 pi^2 s^2 (1 - f)^2),
    negligible for sigma > 1 pixel; only coarse pixels > 5 sigma from the edges are used.
    """
    f_cyc = 1.0 / (2 * factor)
    ncoarse = 40
    n = ncoarse * factor
    xfine = np.arange(n)
    # phase such that the coarse centres (F - 1)/2 + kF sit on crests and troughs
    signal = np.cos(2 * np.pi * f_cyc * (xfine - (factor - 1) / 2.0))
    a = np.tile(signal, (2 * factor, 1)) * 3.0 + 300.0
    out = psf_degrade(make_field(a), factor, mtf_nyquist=mtf)
    sigma = gaussian_sigma_for_mtf(factor, mtf)
    box = math.sin(math.pi * f_cyc * factor) / (factor * math.sin(math.pi * f_cyc))
    margin = int(math.ceil(5 * sigma / factor)) + 1
    row = out.values[0, margin:-margin]
    k = np.arange(ncoarse)[margin:-margin]
    expected = 300.0 + 3.0 * mtf * box * np.cos(np.pi * k)
    np.testing.assert_allclose(row, expected, rtol=0, atol=2e-3 * 3.0)
    assert out.attrs["degradation"] == "psf"
    assert out.attrs["degradation_psf_sigma_px"] == pytest.approx(sigma)
    # same grid as coarsen
    ref = coarsen(make_field(a), factor)
    np.testing.assert_array_equal(out.x.values, ref.x.values)
    assert out.rio.transform() == ref.rio.transform()


def test_psf_nan_aware_and_constant(rng):
    """A constant field with holes stays exactly constant (normalised convolution)."""
    a = np.full((32, 32), 295.0)
    a[rng.random(a.shape) < 0.3] = np.nan
    out = psf_degrade(make_field(a), 4, max_missing=1.0)
    np.testing.assert_allclose(out.values, 295.0, rtol=1e-12)


@pytest.mark.parametrize("method", ["mean", "radiance", "psf"])
def test_dask_equals_numpy(rng, method):
    a = rng.uniform(280, 320, size=(3, 32, 40))
    a[rng.random(a.shape) < 0.2] = np.nan
    da = make_field(a)
    lazy = da.chunk({"t0": 1, "y": 16, "x": 20})
    out_lazy = degrade(lazy, 4, method=method)
    assert out_lazy.chunks is not None  # still lazy
    np.testing.assert_allclose(out_lazy.compute().values, degrade(da, 4, method=method).values,
                               rtol=1e-12, equal_nan=True)


def test_errors():
    da = make_field(np.ones((6, 6)))
    with pytest.raises(ScaleRangeError):
        coarsen(da, 0)
    with pytest.raises(ScaleRangeError):
        coarsen(da, 7)
    with pytest.raises(ScaleRangeError):
        coarsen(da, 2.5)
    with pytest.raises(ScaleRangeError):
        degrade_array(np.ones((3, 8)), 4)
    with pytest.raises(AllNaNError):
        coarsen(make_field(np.full((4, 4), np.nan)), 2)
    with pytest.raises(AllNaNError):
        psf_degrade(make_field(np.full((4, 4), np.nan)), 2)
    with pytest.raises(InputError, match="unknown degradation"):
        degrade(da, 2, method="median")
    with pytest.raises(InputError, match="unexpected options"):
        degrade(da, 2, method="mean", mtf_nyquist=0.3)
    with pytest.raises(InputError, match="max_missing"):
        coarsen(da, 2, max_missing=1.5)


def test_refine_like_roundtrip(rng):
    coarse = make_field(rng.normal(size=(5, 7)), res=1000.0)
    for f in (2, 3, 4):
        g = upsample_coords(coarse, f)
        assert g["x"].size == 7 * f and g["y"].size == 5 * f
        fine = refine_like(coarse, f, np.zeros((5 * f, 7 * f)))
        assert pixel_size(fine) == pytest.approx(1000.0 / f)
        np.testing.assert_allclose(fine.rio.bounds(), coarse.rio.bounds())
        assert fine.rio.crs == coarse.rio.crs
        back = coarsen(fine, f)
        np.testing.assert_allclose(back.x.values, coarse.x.values)
        np.testing.assert_allclose(back.y.values, coarse.y.values)
        assert back.rio.transform() == coarse.rio.transform()
    empty = refine_like(coarse, 2)
    assert empty.dtype == np.float32 and np.isnan(empty.values).all()
    with pytest.raises(GridMismatchError):
        refine_like(coarse, 2, np.zeros((3, 3)))


def test_align_different_crs():
    """A UTM field reprojected onto a geographic (EPSG:4326) grid and back."""
    # smooth linear field on a 2 km grid in UTM 31N: bilinear is exact for linear fields
    ny, nx, res = 40, 40, 2000.0
    x0, y0 = 400_000.0, 5_100_000.0
    xx = x0 + (np.arange(nx) + 0.5) * res
    yy = y0 - (np.arange(ny) + 0.5) * res
    field = 280.0 + 1e-4 * (xx[None, :] - x0) + 2e-4 * (y0 - yy[:, None])
    src = make_field(field, res=res, x0=x0, y0=y0)
    src.attrs["source"] = "fake.tif"
    # reference: a 0.01 degree (~1 km, finer than the source) grid inside the UTM footprint
    lon = 1.9 + 0.01 * np.arange(30)
    lat = 45.6 - 0.01 * np.arange(25)
    ref = xr.DataArray(np.zeros((25, 30), dtype=np.float32), dims=("y", "x"),
                       coords={"y": lat, "x": lon}).rio.write_crs("EPSG:4326")
    out = align(src, ref)
    np.testing.assert_array_equal(out.x.values, ref.x.values)
    np.testing.assert_array_equal(out.y.values, ref.y.values)
    assert out.rio.crs == ref.rio.crs and out.attrs["units"] == "K"
    # compare with the analytic field at the reference points, projected to UTM
    from pyproj import Transformer

    tr = Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
    lo, la = np.meshgrid(lon, lat)
    ux, uy = tr.transform(lo, la)
    expected = 280.0 + 1e-4 * (ux - x0) + 2e-4 * (y0 - uy)
    # bilinear interpolation of a linear field is exact; GDAL's approximate coordinate
    # transformer may misplace points by up to 0.125 source pixel: tolerance = that x gradient
    tol = 0.125 * res * math.hypot(1e-4, 2e-4)
    err = np.abs(out.values - expected)
    assert np.isfinite(out.values).all() and err.max() < tol, err.max()

    far = ref.assign_coords(x=lon + 40.0)
    with pytest.raises(GridMismatchError, match="overlap"):
        align(src, far.rio.write_crs("EPSG:4326"))
    with pytest.raises(MissingCRSError, match="fake.tif"):
        align(src.drop_vars("spatial_ref"), ref)
    with pytest.raises(MissingCRSError, match="reference"):
        align(src, xr.DataArray(np.zeros((2, 2)), dims=("y", "x"),
                                coords={"y": [1.0, 0.0], "x": [0.0, 1.0]}))
    with pytest.raises(InputError, match="resampling"):
        align(src, ref, resampling="magic")
