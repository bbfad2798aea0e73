"""Baselines: geotransform placement of the bicubic, 1 km consistency of TsHARP / DMS."""

from __future__ import annotations

import numpy as np
import pytest
import rioxarray  # noqa: F401
import xarray as xr
from affine import Affine

from analysis import baselines as B
from scalelaws.errors import GridMismatchError, InputError

CRS = "EPSG:32631"
X0, Y0 = 500000.0, 5000000.0


def field(values: np.ndarray, px: float, x0: float = X0, y0: float = Y0, units: str = "K",
          crs: str = CRS) -> xr.DataArray:
    ny, nx = values.shape
    t = Affine(px, 0, x0, 0, -px, y0)
    da = xr.DataArray(np.asarray(values, dtype=np.float32), dims=("y", "x"), coords={
        "y": t.f + (np.arange(ny) + 0.5) * t.e, "x": t.c + (np.arange(nx) + 0.5) * t.a},
        attrs={"units": units})
    return da.rio.write_crs(crs).rio.write_transform(t)


def fine_grid(n: int, offset_rc: tuple[int, int], px: float = 250.0) -> tuple[np.ndarray, ...]:
    """Fine pixel-centre coordinates of an NDVI-like grid offset (rows south, cols east)."""
    r0, c0 = offset_rc
    x0, y0 = X0 + c0 * px, Y0 - r0 * px
    xs = x0 + (np.arange(n) + 0.5) * px
    ys = y0 - (np.arange(n) + 0.5) * px
    return x0, y0, xs, ys


@pytest.mark.parametrize("offset_rc", [(0, 0), (1, 3), (2, 1)])
def test_bicubic_is_placed_by_geotransform(offset_rc):
    # a quadratic surface sampled at the 1 km centres is reproduced exactly at the 250 m centres
    # by Keys' cubic convolution (a = -0.5) wherever the 4 x 4 stencil lies inside the grid
    def surf(x, y):
        u, v = (x - X0) / 1000.0, (Y0 - y) / 1000.0
        return 300.0 + 0.8 * u - 0.5 * v + 0.05 * u**2 - 0.03 * u * v + 0.02 * v**2

    n = 16
    xc = X0 + (np.arange(n) + 0.5) * 1000.0
    yc = Y0 - (np.arange(n) + 0.5) * 1000.0
    lst = field(surf(xc[None, :], yc[:, None]).astype(np.float64), 1000.0).astype(np.float64)
    x0, y0, xs, ys = fine_grid(4 * n, offset_rc)
    ndvi = field(np.zeros((4 * n, 4 * n)), 250.0, x0, y0, units="1")
    out = B.bicubic(lst, ndvi)
    assert out.shape == ndvi.shape and out.attrs["units"] == "K"
    assert out.rio.transform() == ndvi.rio.transform() and out.rio.crs == ndvi.rio.crs
    truth = surf(xs[None, :], ys[:, None])
    inner_x = (xs > xc[1]) & (xs < xc[-2])
    inner_y = (ys < yc[1]) & (ys > yc[-2])
    err = (out.values - truth)[np.ix_(inner_y, inner_x)]
    assert np.abs(err).max() < 2e-3  # float32 output
    # a bilinear interpolation would not be exact on the curvature
    assert np.abs(err).max() < 0.1 * 0.05 * 0.25**2


def test_bicubic_interpolates_at_coarse_centres_odd_factor():
    rng = np.random.default_rng(0)
    v = rng.normal(300, 3, size=(10, 10))
    lst = field(v, 750.0).astype(np.float64)
    ndvi = field(np.zeros((30, 30)), 250.0, units="1")
    out = B.bicubic(lst, ndvi)
    # fine pixel (3i + 1, 3j + 1) has the centre of coarse pixel (i, j)
    np.testing.assert_allclose(out.values[1::3, 1::3], v, atol=1e-4)


def test_keys_kernel_values():
    k = B.keys_kernel(np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0]))
    np.testing.assert_allclose(k, [1.0, 0.5625, 0.0, -0.0625, 0.0, 0.0])
    # partition of unity at any phase
    t = 0.3
    assert B.keys_kernel(np.array([t + 1, t, 1 - t, 2 - t])).sum() == pytest.approx(1.0)


def test_aggregate_to_matches_package_coarsen():
    from scalelaws.grids import coarsen

    rng = np.random.default_rng(1)
    fine = field(rng.normal(300, 4, size=(32, 32)), 250.0).astype(np.float64)
    coarse = field(np.zeros((8, 8)), 1000.0)
    for method in ("mean", "radiance"):
        ours = B.aggregate_to(fine, coarse, method=method)
        ref = coarsen(fine, 4, method=method)
        np.testing.assert_allclose(ours.values, ref.values, rtol=0, atol=1e-9)
        np.testing.assert_allclose(ours["x"], ref["x"])


def test_aggregate_to_honours_offset_and_coverage():
    # NDVI grid offset by (1, 3) fine pixels: coarse pixel (0, 0) holds fine rows 0..2, cols 0
    x0, y0, _, _ = fine_grid(8, (1, 3))
    v = np.arange(64.0).reshape(8, 8)
    fine = field(v, 250.0, x0, y0, units="1").astype(np.float64)
    coarse = field(np.zeros((3, 3)), 1000.0)
    full = B.aggregate_to(fine, coarse, method="mean")
    assert np.isnan(full.values[0, 0])  # partial pixel
    # coarse (1, 1): fine rows 3..6 (LST-fine 4..7), cols 1..4 (LST-fine 4..7)
    assert full.values[1, 1] == pytest.approx(v[3:7, 1:5].mean())
    part = B.aggregate_to(fine, coarse, method="mean", min_coverage=1e-9)
    assert part.values[0, 0] == pytest.approx(v[0:3, 0:1].mean())
    assert part["coverage"].values[0, 0] == pytest.approx(3 / 16)


def synthetic_scene(offset_rc=(1, 3), n=12, seed=0, relation="linear", aligned=False, noise=0.08):
    """Fine truth T(NDVI) + texture, and the 1 km LST as its radiance aggregate.

    The NDVI is a blocky field plus fine noise; its blocks are 4 x 4 blocks of the NDVI array
    (straddling the 1 km pixels when the grids are offset) or, with ``aligned``, the 1 km pixels.
    """
    rng = np.random.default_rng(seed)
    nf = 4 * n
    x0, y0, _, _ = fine_grid(nf, offset_rc)
    levels = rng.uniform(0.1, 0.8, size=(n + 1, n + 1))
    if aligned:
        rows = (np.arange(nf) + offset_rc[0]) // 4
        cols = (np.arange(nf) + offset_rc[1]) // 4
        base = levels[np.ix_(rows, cols)]
    else:
        base = np.kron(levels[:n, :n], np.ones((4, 4)))
    ndvi_v = np.clip(base + rng.normal(0, noise, size=(nf, nf)), 0.0, 0.9)
    if relation == "linear":
        t = 315.0 - 15.0 * ndvi_v
    else:
        t = 300.0 + 60.0 * (ndvi_v - 0.45) ** 2
    t = t + rng.normal(0, 0.3, size=(nf, nf))
    ndvi = field(ndvi_v, 250.0, x0, y0, units="1").astype(np.float64)
    truth = field(t, 250.0, x0, y0).astype(np.float64)
    coarse = field(np.zeros((n, n)), 1000.0)
    lst = B.aggregate_to(truth, coarse, method="radiance", min_coverage=1e-9)
    lst = lst.drop_vars("coverage")
    lst.attrs = {"units": "K"}
    return lst, ndvi, truth


@pytest.mark.parametrize("method", ["tsharp", "dms"])
@pytest.mark.parametrize("residual", ["block", "smooth-exact"])
def test_residual_correction_restores_1km(method, residual):
    lst, ndvi, truth = synthetic_scene()
    fn = B.BASELINES[method]
    out = fn(lst, ndvi, residual=residual)
    assert out.shape == ndvi.shape and out.attrs["units"] == "K"
    agg = B.aggregate_to(out.astype(np.float64), lst, method="radiance", min_coverage=1e-9)
    d = agg.values - lst.values
    assert np.nanmax(np.abs(d)) < 2e-3  # every coarse pixel holding fine pixels
    assert out.attrs["consistency_max_abs_K"] < 1e-3
    # with the package's own degradation on the aligned sub-grid (complete 4 x 4 blocks)
    from scalelaws.grids import coarsen

    r0, c0 = 1, 3
    sub = out.astype(np.float64).isel(y=slice((4 - r0) % 4, None), x=slice((4 - c0) % 4, None))
    deg = coarsen(sub, 4, method="radiance")
    ref = lst.sel(x=deg["x"], y=deg["y"], method="nearest", tolerance=1.0)
    assert np.abs(deg.values - ref.values).max() < 2e-3
    # and the detail it adds is real: closer to the fine truth than the bicubic
    bic = B.bicubic(lst, ndvi)
    rm = lambda a: float(np.sqrt(np.mean((a.values - truth.values) ** 2)))  # noqa: E731
    assert rm(out) < 0.8 * rm(bic)


def test_smooth_residual_is_only_approximately_consistent():
    lst, ndvi, truth = synthetic_scene(relation="quadratic")
    none = B.tsharp(lst, ndvi, residual=None)
    smooth = B.BASELINES["tsharp_smooth"](lst, ndvi)
    assert smooth.attrs["residual"] == "smooth"

    def worst(a):
        agg = B.aggregate_to(a.astype(np.float64), lst, method="radiance", min_coverage=1e-9)
        return float(np.nanmax(np.abs(agg.values - lst.values)))

    assert smooth.attrs["consistency_max_abs_K"] == pytest.approx(worst(smooth), abs=1e-3)
    assert 2e-3 < worst(smooth) < 0.5 * worst(none)


def test_without_residual_no_consistency_claim():
    lst, ndvi, _ = synthetic_scene(relation="quadratic")
    out = B.tsharp(lst, ndvi, residual=None)
    assert "consistency_max_abs_K" not in out.attrs
    agg = B.aggregate_to(out.astype(np.float64), lst, method="radiance")
    assert np.nanmax(np.abs(agg.values - lst.values)) > 0.1


def test_tsharp_recovers_linear_slope():
    lst, ndvi, _ = synthetic_scene(offset_rc=(2, 2), n=16, seed=3)
    out = B.tsharp(lst, ndvi)
    assert out.attrs["slope_K"] == pytest.approx(-15.0, abs=0.8)
    assert out.attrs["intercept_K"] == pytest.approx(315.0, abs=0.6)


def test_dms_beats_tsharp_on_a_nonlinear_relation():
    lst, ndvi, truth = synthetic_scene(relation="quadratic", seed=5, n=16, aligned=True,
                                       noise=0.04)
    rm = lambda a: float(np.sqrt(np.mean((a.values - truth.values) ** 2)))  # noqa: E731
    # the regression alone: the trees follow the curvature, the line cannot
    d0 = B.dms(lst, ndvi, seed=0, residual=None)
    t0 = B.tsharp(lst, ndvi, residual=None)
    assert rm(d0) < 0.85 * rm(t0)
    d = B.dms(lst, ndvi, seed=0)
    assert rm(d) < rm(B.tsharp(lst, ndvi))
    # seeded: reproducible
    np.testing.assert_array_equal(d.values, B.dms(lst, ndvi, seed=0).values)


def test_nan_lst_pixels_give_nan_fine_pixels():
    lst, ndvi, _ = synthetic_scene()
    v = lst.values.copy()
    v[5, 6] = np.nan
    out = B.tsharp(lst.copy(data=v), ndvi)
    rows, cols = B.coarse_index(ndvi, lst)
    hole = np.outer(rows == 5, cols == 6)
    assert np.isnan(out.values[hole]).all() and np.isfinite(out.values[~hole]).all()


def test_bad_inputs():
    lst, ndvi, _ = synthetic_scene()
    with pytest.raises(InputError):
        B.tsharp(lst.assign_attrs(units="degC"), ndvi)
    other = field(ndvi.values, 250.0, units="1", crs="EPSG:32632")
    with pytest.raises(GridMismatchError):
        B.bicubic(lst, other)
    odd = field(ndvi.values[:30, :30], 300.0, units="1")
    with pytest.raises(GridMismatchError):
        B.bicubic(lst, odd)
    with pytest.raises(InputError):
        B.aggregate_to(ndvi, lst, method="median")
    with pytest.raises(InputError):
        B.residual_correction(ndvi, lst, mode="nearest")


# ----------------------------------------------------------------------------------------------
# ATPRK
# ----------------------------------------------------------------------------------------------
def gaussian_field(n: int, range_px: float, sill: float, seed: int) -> np.ndarray:
    """Gaussian random field with covariance ``sill exp(-d / range_px)`` (circulant embedding)."""
    m = 2 * n
    k = np.minimum(np.arange(m), m - np.arange(m))
    lam = np.real(np.fft.fft2(sill * np.exp(-np.hypot(k[:, None], k[None, :]) / range_px)))
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(m, m)) + 1j * rng.normal(size=(m, m))
    return np.real(np.fft.fft2(np.sqrt(np.clip(lam, 0.0, None) / (m * m)) * w))[:n, :n]


def atprk_scene(n: int = 32, offset_rc: tuple[int, int] = (1, 2), seed: int = 0):
    """LST = 310 - 15 NDVI + a correlated residual (exponential, range 2 km, sill 1 K^2)."""
    nf = 4 * n
    res = gaussian_field(nf, 8.0, 1.0, seed)
    ndvi_v = np.clip(0.45 + 0.2 * gaussian_field(nf, 3.0, 1.0, seed + 100), 0.0, 0.9)
    x0, y0, _, _ = fine_grid(nf, offset_rc)
    ndvi = field(ndvi_v, 250.0, x0, y0, units="1").astype(np.float64)
    truth = field(310.0 - 15.0 * ndvi_v + res, 250.0, x0, y0).astype(np.float64)
    lst = B.aggregate_to(truth, field(np.zeros((n, n)), 1000.0), method="mean",
                         min_coverage=1e-9).drop_vars("coverage")
    lst.attrs = {"units": "K"}
    return lst, ndvi, truth


def test_atprk_beats_bicubic_and_the_regression_and_is_coherent():
    lst, ndvi, truth = atprk_scene()
    rm = lambda a: float(np.sqrt(np.mean((a.values - truth.values) ** 2)))  # noqa: E731
    out = B.BASELINES["atprk"](lst, ndvi)
    assert out.shape == ndvi.shape and out.attrs["units"] == "K" and out.attrs["method"] == "atprk"
    assert out.rio.transform() == ndvi.rio.transform()
    # measured: ATPRK 0.40 K, regression alone 0.95 K, TsHARP 0.47 K, bicubic 1.93 K
    assert rm(out) < 0.3 * rm(B.bicubic(lst, ndvi))
    assert rm(out) < 0.6 * rm(B.tsharp(lst, ndvi, residual=None))
    assert rm(out) < rm(B.tsharp(lst, ndvi))
    assert out.attrs["slope_K"] == pytest.approx(-15.0, abs=1.5)
    # coherence: the mean over every complete 1 km pixel reproduces the 1 km LST
    assert out.attrs["consistency_max_abs_K"] < 1e-9  # float64, before the float32 output
    agg = B.aggregate_to(out.astype(np.float64), lst, method="mean", min_coverage=1.0)
    assert np.isfinite(agg.values).sum() == 31 * 31
    assert np.nanmax(np.abs(agg.values - lst.values)) < 1e-4  # float32 rounding at 300 K


def test_atp_kriging_reproduces_block_values_exactly():
    # the kriged residual itself, float64: coherent on every complete block, also next to a
    # missing block (which shrinks the neighbourhoods around it) and at the edges
    lst, ndvi, _ = atprk_scene(n=16, offset_rc=(3, 1), seed=2)
    z = lst.values.astype(np.float64) - 300.0
    z[7, 9] = np.nan
    rows, cols = B._centre_positions(ndvi, lst)
    vg = B.fit_point_variogram(z, 4, (1000.0, 1000.0))
    for nb in (3, 5, 7):
        fine = B.atp_kriging(z, rows, cols, 4, (1000.0, 1000.0), vg, neighbourhood=nb)
        agg = B.aggregate_to(ndvi.copy(data=fine), lst, method="mean", min_coverage=1.0).values
        ok = np.isfinite(agg)
        assert ok.sum() == 15 * 15 - 1
        np.testing.assert_allclose(agg[ok], z[ok], atol=1e-9)
        ri, ci = B.coarse_index(ndvi, lst)
        hole = np.outer(ri == 7, ci == 9)
        assert np.isnan(fine[hole]).all() and np.isfinite(fine[~hole]).all()
        # and it is not block-constant: the kriged field varies inside the blocks
        assert np.nanstd(fine - np.kron(z, np.ones((4, 4)))[:fine.shape[0], :fine.shape[1]]) > 0


@pytest.mark.parametrize("seed", [0, 1])
def test_variogram_deconvolution_recovers_the_point_model(seed):
    # exponential point covariance, range 8 fine px = 2 km, sill 1; observed as 4 x 4 block means
    n = 64
    pt = gaussian_field(4 * n, 8.0, 1.0, seed)
    blocks = pt.reshape(n, 4, n, 4).mean(axis=(1, 3))
    vg = B.fit_point_variogram(blocks, 4, (1000.0, 1000.0))
    # measured over seeds 0-3: range 1948-2090 m, sill 0.96-1.02
    assert vg["range_m"] == pytest.approx(2000.0, rel=0.15)
    assert vg["sill"] == pytest.approx(1.0, rel=0.12)
    # the block field has less variance than the points (0.81 here): the deconvolution restores it
    assert np.var(blocks) < 0.9 * vg["sill"]
    with pytest.raises(InputError):
        B.point_covariance(np.ones(2), "linear", 1.0, 1.0)
    with pytest.raises(InputError):
        B.atp_kriging(blocks, np.arange(3.0), np.arange(3.0), 4, (1e3, 1e3), vg, neighbourhood=4)
