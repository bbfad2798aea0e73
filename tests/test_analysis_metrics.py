"""Metrics of analysis.metrics against values computed by hand on tiny arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest
import rioxarray  # noqa: F401
import xarray as xr
from affine import Affine

from analysis import metrics as M
from scalelaws.errors import AllNaNError, GridMismatchError, InputError, ScaleRangeError

PRED = np.array([[1.0, 2.0], [3.0, 4.0]])
REF = np.ones((2, 2))  # errors 0, 1, 2, 3


def test_pixel_metrics_by_hand():
    assert M.rmse(PRED, REF) == pytest.approx(math.sqrt(14 / 4))
    assert M.bias(PRED, REF) == pytest.approx(1.5)
    assert M.mae(PRED, REF) == pytest.approx(1.5)
    assert M.ubrmse(PRED, REF) == pytest.approx(math.sqrt(1.25))
    # rmse^2 = bias^2 + ubrmse^2
    assert M.rmse(PRED, REF) ** 2 == pytest.approx(M.bias(PRED, REF) ** 2 + M.ubrmse(PRED, REF) ** 2)


def test_mask_and_nan_are_not_scored():
    mask = np.array([[True, True], [True, False]])  # drops the error 3
    assert M.rmse(PRED, REF, mask) == pytest.approx(math.sqrt(5 / 3))
    ref = REF.copy()
    ref[0, 1] = np.nan  # drops the error 1
    assert M.mae(PRED, ref) == pytest.approx(5 / 3)
    assert M.bias(xr.DataArray(PRED), xr.DataArray(ref), mask) == pytest.approx(1.0)


def test_pearson_r_by_hand():
    # a = [-1, 0, 1], b = [-7, -1, 8] / 3: sum ab = 5, sum a^2 = 2, sum b^2 = 114 / 9
    r = M.pearson_r(np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 7.0]))
    assert r == pytest.approx(5 / math.sqrt(2 * 114 / 9))
    assert math.isnan(M.pearson_r(np.ones(3), np.array([1.0, 2.0, 4.0])))


def test_psnr_by_hand():
    assert M.psnr(PRED, REF, data_range=10.0) == pytest.approx(10 * math.log10(100 / 3.5))
    ref = np.array([[0.0, 2.0], [3.0, 5.0]])  # R = 5; errors 1, 0, 0, -1 -> MSE 0.5
    assert M.psnr(PRED, ref) == pytest.approx(10 * math.log10(25 / 0.5))
    assert M.psnr(ref, ref) == math.inf
    with pytest.raises(InputError):
        M.psnr(PRED, REF)  # constant reference: no range


def test_ssim_identical_and_shifted():
    x = np.arange(49.0).reshape(7, 7)
    assert M.ssim(x, x) == pytest.approx(1.0)
    # y = x + 2: contrast-structure term 1, luminance (2*24*26 + C1)/(24^2 + 26^2 + C1),
    # R = 48 (range of y), C1 = (0.01 * 48)^2
    c1 = 0.48**2
    assert M.ssim(x, x + 2) == pytest.approx((2 * 24 * 26 + c1) / (24**2 + 26**2 + c1))


def test_ssim_contrast_case_by_hand():
    x = np.arange(49.0).reshape(7, 7)
    y = 2 * x
    # sample variance of 0..48: (49^2 - 1) / 12 * 49 / 48
    vx = 200.0 * 49 / 48
    vy, cxy = 4 * vx, 2 * vx
    r = 96.0  # range of y (the reference)
    c1, c2 = (0.01 * r) ** 2, (0.03 * r) ** 2
    expect = ((2 * 24 * 48 + c1) * (2 * cxy + c2)) / ((24**2 + 48**2 + c1) * (vx + vy + c2))
    assert M.ssim(x, y) == pytest.approx(expect, rel=1e-10)
    # a fixed data range overrides the reference range
    c1, c2 = 1.0**2 * 1e-4 * 100**2, 9e-4 * 100**2
    expect = ((2 * 24 * 48 + c1) * (2 * cxy + c2)) / ((24**2 + 48**2 + c1) * (vx + vy + c2))
    assert M.ssim(x, y, data_range=100.0) == pytest.approx(expect, rel=1e-10)


def test_ssim_only_fully_scored_windows():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(9, 9))
    y = x + rng.normal(scale=0.5, size=(9, 9))
    s = M.ssim_map(x, y)
    # 9 x 9 with a 7 x 7 window: the 3 x 3 centre pixels have complete windows
    assert np.isfinite(s).sum() == 9 and np.isfinite(s[3:6, 3:6]).all()
    mask = np.ones((9, 9), bool)
    mask[0, 0] = False  # kills the window centred at (3, 3) only
    s = M.ssim_map(x, y, mask)
    assert np.isfinite(s).sum() == 8 and np.isnan(s[3, 3])
    with pytest.raises(ScaleRangeError):
        M.ssim(x[:6, :6], y[:6, :6])
    with pytest.raises(InputError):
        M.ssim(x, y, win_size=4)


def test_gradient_stratified_rmse_by_hand():
    # three horizontal bands with slopes 1, 2, 3 K/px along x; error 1, 2, 3 K in them
    ref = np.zeros((15, 10))
    pred = np.zeros((15, 10))
    mask = np.zeros((15, 10), bool)
    for k, slope in enumerate((1.0, 2.0, 3.0)):
        rows = slice(5 * k, 5 * k + 5)
        ref[rows] = slope * np.arange(10.0)
        pred[rows] = ref[rows] + slope
        mask[5 * k + 1:5 * k + 4] = True  # keep away from the band edges (y-gradient)
    out, edges = M.gradient_stratified_rmse(pred, ref, mask)
    np.testing.assert_allclose(out, [1.0, 2.0, 3.0])
    assert edges[0] == pytest.approx(1.0) and edges[-1] == pytest.approx(3.0)


def test_structure_function_by_hand():
    f = np.array([[0.0, 1.0, 3.0]])
    s2, n = M.structure_function_s2(f, lags=(1, 2))
    np.testing.assert_allclose(s2, [(1 + 4) / 2, 9.0])
    np.testing.assert_array_equal(n, [2, 1])
    s2, n = M.structure_function_s2(f, np.array([[True, False, True]]), lags=(1, 2))
    assert np.isnan(s2[0]) and s2[1] == 9.0 and n[0] == 0
    # x and y pairs are pooled
    g = np.array([[0.0, 2.0], [1.0, 5.0]])  # x: 4, 16; y: 1, 9
    s2, _ = M.structure_function_s2(g, lags=(1,))
    assert s2[0] == pytest.approx(30 / 4)


def test_structure_function_error_is_log_ratio():
    rng = np.random.default_rng(1)
    ref = rng.normal(size=(40, 40)).cumsum(axis=1)
    sf = M.structure_function_error(2 * ref + 5, ref, lags=(1, 2, 4))
    np.testing.assert_allclose(sf, np.log(4.0))
    assert np.allclose(M.structure_function_error(ref, ref), 0.0)


def test_largest_rectangle():
    m = np.zeros((12, 14), bool)
    m[2:10, 1:13] = True
    m[4, 5] = False  # best: rows 2..9 x cols 6..12 (8 x 7 = 56) vs rows 5..9 x 1..12 (5 x 12 = 60)
    rs, cs = M.largest_rectangle(m)
    assert (rs, cs) == (slice(5, 10), slice(1, 13))
    assert M.largest_rectangle(np.zeros((3, 3), bool)) == (slice(0, 0), slice(0, 0))


def test_spectral_ratio():
    rng = np.random.default_rng(2)
    ref = rng.normal(size=(64, 64))
    ratio = M.spectral_ratio(3 * ref + 2, ref)  # scaled: 9 in every band; offsets are detrended
    resolved = np.isfinite(ratio)
    assert resolved.sum() == 4  # (32, 64) px needs a side of 128 px
    np.testing.assert_allclose(ratio[resolved], 9.0)
    # a plane is removed by the detrending
    yy, xx = np.mgrid[0:64, 0:64]
    np.testing.assert_allclose(M.spectral_ratio(ref + 0.3 * xx - 0.1 * yy, ref)[resolved], 1.0)
    # a cosine of wavelength 8 px puts its power in the band [8, 16)
    wave = np.cos(2 * np.pi * xx / 8.0)
    assert int(np.nanargmax(M.radial_band_power(wave))) == 2
    with pytest.raises(ScaleRangeError):
        M.spectral_ratio(ref[:10], ref[:10])


def test_band_variance_is_a_variance_and_grid_independent():
    # white noise of variance 4: the band variances add up to about 4 (Parseval) and each is
    # the share of the band in the frequency plane
    rng = np.random.default_rng(3)
    noise = rng.normal(scale=2.0, size=(128, 128))
    every = [(1.0, 2.0), (2.0, 4.0), (4.0, 8.0), (8.0, 16.0), (16.0, 32.0), (32.0, 64.0), (64.0, 1e9)]
    bv = M.band_variance(noise, None, every, min_side=16)
    assert np.isnan(bv[-1])  # beyond half the rectangle
    assert np.nansum(bv) == pytest.approx(4.0 * (1 - math.pi / 64**2), rel=0.06)
    # the same cosine (2 K amplitude, 1.5 km wavelength) on a 250 m and a 125 m grid, over
    # rectangles of different sizes: the same variance (A^2 / 2) in the same band in metres
    out = []
    for px, n in ((250.0, 96), (125.0, 160)):
        x = (np.arange(n) + 0.5) * px
        wave = 2.0 * np.cos(2 * np.pi * (x[None, :] + 0.3 * x[:, None]) / 1500.0)
        mask = np.ones((n, n), bool)
        mask[: n // 8] = False  # a smaller scored rectangle
        out.append(M.band_variance(wave, mask, [(1000.0 / px, 2000.0 / px)])[0])
    assert out[0] == pytest.approx(2.0, rel=0.1) and out[1] == pytest.approx(out[0], rel=0.05)


def test_shape_and_empty_errors():
    with pytest.raises(GridMismatchError):
        M.rmse(np.ones((2, 2)), np.ones((2, 3)))
    with pytest.raises(AllNaNError):
        M.rmse(np.full((2, 2), np.nan), np.ones((2, 2)))
    with pytest.raises(GridMismatchError):
        M.rmse(np.ones((2, 2)), np.ones((2, 2)), np.ones((3, 3), bool))


def _grid(values: np.ndarray, px: float) -> xr.DataArray:
    ny, nx = values.shape
    t = Affine(px, 0, 500000.0, 0, -px, 5000000.0)
    da = xr.DataArray(values, dims=("y", "x"), coords={
        "y": t.f + (np.arange(ny) + 0.5) * t.e, "x": t.c + (np.arange(nx) + 0.5) * t.a})
    return da.rio.write_crs("EPSG:32631").rio.write_transform(t)


def test_consistency_error_by_hand():
    coarse = _grid(np.array([[300.0, 310.0]]), 1000.0)
    fine = _grid(np.repeat(np.repeat(coarse.values, 4, 0), 4, 1), 250.0)
    out = M.consistency_error(fine, coarse)
    assert out["rmse"] == pytest.approx(0.0, abs=1e-9) and out["n"] == 2
    # two fine values 300 +- 2 in half of the first block: (mean T^4)^(1/4) - 300
    v = fine.values.copy()
    v[0:2, :4] += 2.0
    v[2:4, :4] -= 2.0
    v[:, 4:] += 1.0  # second block: +1 K exactly
    out = M.consistency_error(fine.copy(data=v), coarse)
    d0 = ((302.0**4 + 298.0**4) / 2) ** 0.25 - 300.0
    assert out["rmse"] == pytest.approx(math.sqrt((d0**2 + 1.0) / 2), rel=1e-9)
    assert out["max_abs"] == pytest.approx(1.0)
    assert M.consistency_error(fine.copy(data=v), coarse, method="mean")["max_abs"] == pytest.approx(1.0)
