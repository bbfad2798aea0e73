"""Tests of scalelaws.stats.coarse: coarse-graining statistics and LST-NDVI relations."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from scalelaws.errors import GridMismatchError, ScaleRangeError
from scalelaws.stats.coarse import coarse_grain_stats, lst_ndvi_relation, lst_ndvi_relation_many


def _grid(arr, ps, x0=0.0, y0=0.0, units="1"):
    ny, nx = arr.shape
    return xr.DataArray(
        arr, dims=("y", "x"),
        coords={"y": y0 - (np.arange(ny) + 0.5) * ps, "x": x0 + (np.arange(nx) + 0.5) * ps},
        attrs={"units": units},
    )


def test_coarse_grain_white_noise_variance(rng):
    s = 2.0
    da = _grid(rng.normal(10.0, s, (256, 256)), 30.0)
    ds = coarse_grain_stats(da, factors=(1, 2, 4, 8, 16), bins=20)
    f = ds.scale.values
    n = ds.n_valid.values
    np.testing.assert_array_equal(n, (256 // f) ** 2)
    np.testing.assert_allclose(ds.scale_m, 30.0 * f)
    expect = s**2 / f**2
    # sample variance of n Gaussian values: relative sd sqrt(2 / (n - 1)); 4 sigma
    assert np.all(np.abs(ds.variance / expect - 1) < 4 * np.sqrt(2 / (n - 1)))
    # Gaussian: skewness ~ 0 (sd sqrt(6/n)), flatness ~ 3 (sd sqrt(24/n))
    assert np.all(np.abs(ds.skewness) < 4 * np.sqrt(6 / n))
    assert np.all(np.abs(ds.flatness - 3) < 4 * np.sqrt(24 / n))
    # histograms are densities on common edges
    widths = ds.bin_hi - ds.bin_lo
    np.testing.assert_allclose((ds.histogram * widths).sum("bin"), 1.0, rtol=1e-12)


def test_coarse_grain_exact_moments(rng):
    a = rng.gamma(2.0, 1.0, (16, 16))
    a[0, 0] = np.nan
    ds = coarse_grain_stats(_grid(a, 1.0), factors=(1,))
    v = a[np.isfinite(a)]
    d = v - v.mean()
    assert float(ds["mean"][0]) == pytest.approx(v.mean())
    assert float(ds.variance[0]) == pytest.approx(v.var(ddof=1))
    assert float(ds.skewness[0]) == pytest.approx(np.mean(d**3) / np.mean(d**2) ** 1.5)
    assert float(ds.flatness[0]) == pytest.approx(np.mean(d**4) / np.mean(d**2) ** 2)
    with pytest.raises(ScaleRangeError):
        coarse_grain_stats(_grid(a, 1.0), factors=(32,))


def test_ols_recovers_slope(rng):
    n = 128
    ndvi = rng.uniform(0.1, 0.9, (n, n))
    lst = 320.0 - 20.0 * ndvi + rng.normal(0, 1.0, (n, n))
    ds = lst_ndvi_relation(_grid(lst, 1000.0, units="K"), _grid(ndvi, 1000.0), factors=(1,))
    b, se = float(ds.slope_ols[0]), float(ds.slope_ols_se[0])
    assert abs(b + 20.0) < 4 * se
    assert float(ds.intercept_ols[0]) == pytest.approx(320.0, abs=8 * se)
    assert ds.slope_ols_ci[0, 0] < b < ds.slope_ols_ci[0, 1]


def test_regression_dilution_and_tls(rng):
    """NDVI observed with noise: OLS -> b * reliability; Deming with the true ratio -> b."""
    n, b = 256, -20.0
    sx, se_x, se_y = 0.2, 0.1, 1.0
    R = 20
    ols, tls, rel = [], [], sx**2 / (sx**2 + se_x**2)
    for _ in range(R):
        x = rng.normal(0.5, sx, (n, n))
        lst = 300.0 + b * x + rng.normal(0, se_y, (n, n))
        obs = x + rng.normal(0, se_x, (n, n))
        ds = lst_ndvi_relation(_grid(lst, 1.0), _grid(obs, 1.0), factors=(1,),
                               error_ratio=se_y**2 / se_x**2)
        ols.append(float(ds.slope_ols[0]))
        tls.append(float(ds.slope_tls[0]))
    ols, tls = np.array(ols), np.array(tls)
    tol = lambda a: 4 * a.std(ddof=1) / np.sqrt(R)  # noqa: E731
    assert abs(ols.mean() - b * rel) < tol(ols)
    assert abs(tls.mean() - b) < tol(tls)
    assert abs(ols.mean() - b) > 10 * tol(ols)  # the dilution is real


def test_fine_ndvi_aggregated_through_coordinates(rng):
    """NDVI at 250 m offset by (2, 3) fine pixels: coordinates, not indices, give the blocks."""
    nc, r = 16, 4
    ndvi_f = rng.uniform(0, 1, (nc * r, nc * r))
    dy, dx = 2, 3  # fine grid shifted south/east
    ndvi = _grid(ndvi_f, 250.0, x0=dx * 250.0, y0=-dy * 250.0)
    # true block means of the NDVI inside each 1 km pixel (from the shifted grid)
    pad = np.full(((nc + 1) * r, (nc + 1) * r), np.nan)
    pad[dy:dy + nc * r, dx:dx + nc * r] = ndvi_f
    blocks = pad[: nc * r, : nc * r].reshape(nc, r, nc, r)
    cnt = np.isfinite(blocks).sum(axis=(1, 3))
    truth = np.where(cnt >= 8, np.nanmean(blocks, axis=(1, 3)), np.nan)
    lst = _grid(300.0 - 15.0 * np.nan_to_num(truth, nan=0.5), 1000.0, units="K")
    ds = lst_ndvi_relation(lst, ndvi, factors=(1, 2))
    assert float(ds.slope_ols[0]) == pytest.approx(-15.0, rel=1e-9)
    assert float(ds.corr[0]) == pytest.approx(-1.0, abs=1e-12)
    assert int(ds.n[0]) == np.isfinite(truth).sum()
    # naive index slicing would have mixed footprints
    naive = ndvi_f.reshape(nc, r, nc, r).mean(axis=(1, 3))
    ok = np.isfinite(truth)
    assert abs(np.corrcoef(naive[ok], lst.values[ok])[0, 1]) < 0.99


def test_mask_classes_and_grid_errors(rng):
    n = 64
    ndvi = rng.uniform(0, 1, (n, n))
    lab = np.where(np.arange(n)[None, :] < n // 2, 1, 2) * np.ones((n, 1), dtype=int)
    lst = np.where(lab == 1, 300 - 10 * ndvi, 310 - 30 * ndvi)
    ds = lst_ndvi_relation(_grid(lst, 1.0), _grid(ndvi, 1.0), factors=(1, 2),
                           mask=_grid(lab, 1.0))
    assert ds.slope_ols.dims == ("class", "scale")
    np.testing.assert_allclose(ds.slope_ols.sel(**{"class": 1}), -10.0)
    np.testing.assert_allclose(ds.slope_ols.sel(**{"class": 2}), -30.0)
    with pytest.raises(GridMismatchError):
        lst_ndvi_relation(_grid(lst, 1.0), _grid(ndvi, 1.0, x0=0.5))
    with pytest.raises(GridMismatchError):
        lst_ndvi_relation(_grid(lst, 1.0), _grid(ndvi, 1.0), mask=np.ones((8, 8), bool))


def test_many_pools_within_scenes(rng):
    pairs = []
    for k in range(6):
        ndvi = rng.uniform(0, 1, (32, 32))
        lst = 280 + 10 * k - 12.0 * ndvi + rng.normal(0, 0.5, (32, 32))  # scene offsets
        pairs.append((_grid(lst, 1000.0), _grid(ndvi, 1000.0)))
    ds = lst_ndvi_relation_many(pairs, factors=(1, 2), n_boot=200, rng=0)
    assert ds.slope_ols.sel(scale=1) == pytest.approx(-12.0, abs=0.2)
    lo, hi = ds.slope_ols_ci.sel(scale=1).values
    assert lo < -12.0 < hi
    assert ds.slope_ols_per_pair.shape == (6, 2)


@pytest.mark.e2e
@pytest.mark.shared_data
def test_shared_modis_pairs_one_call(modis_aster_root):
    from scalelaws.io import list_modis_aster_pairs, open_modis_aster_pair

    ids = list_modis_aster_pairs()[:5]
    ds = lst_ndvi_relation_many([open_modis_aster_pair(i) for i in ids], n_boot=100, rng=0)
    assert ds.sizes["pair"] == 5
    np.testing.assert_allclose(ds.scale_m, 926.625 * np.array([1, 2, 4, 8]), rtol=1e-3)
    assert np.all(np.isfinite(ds.slope_ols)) and np.all(ds.slope_ols < 0)
    assert np.all(np.isfinite(ds.slope_ols_ci))


def test_missing_lst_drops_the_same_ndvi_pixels(rng):
    """LST missing on a quarter of the pixels (as at ASTER scene edges): each coarse NDVI must
    average the same fine pixels as its LST, so an exact linear relation stays exact."""
    n = 64
    ndvi = rng.uniform(0.1, 0.9, (n, n))
    lst = 300.0 - 20.0 * ndvi
    lst[rng.random((n, n)) < 0.25] = np.nan
    ds = lst_ndvi_relation(_grid(lst, 30.0, units="K"), _grid(ndvi, 30.0), factors=(1, 2, 4, 8))
    np.testing.assert_allclose(ds.slope_ols, -20.0, rtol=1e-9)
    np.testing.assert_allclose(ds.corr, -1.0, atol=1e-9)


def test_attrs_and_netcdf_round_trip(tmp_path, rng):
    n = 64
    ndvi = rng.uniform(0, 1, (n, n))
    lst = 300.0 - 15.0 * ndvi + rng.normal(0, 1.0, (n, n))
    lst[:5, :7] = np.nan
    lab = np.where(np.arange(n)[None, :] < n // 2, 1, 2) * np.ones((n, 1), dtype=int)
    out = {
        "cg": coarse_grain_stats(_grid(lst, 30.0, units="K"), factors=(1, 2, 4), bins=12),
        "rel": lst_ndvi_relation(_grid(lst, 30.0, units="K"), _grid(ndvi, 30.0),
                                 factors=(1, 2), mask=_grid(lab, 30.0)),
        "many": lst_ndvi_relation_many(
            [(_grid(lst, 30.0, units="K"), _grid(ndvi, 30.0))] * 3, factors=(1, 2), n_boot=10,
            rng=0),
    }
    for key, ds in out.items():
        for v in ds.data_vars:
            assert {"units", "long_name"} <= set(ds[v].attrs), (key, v)
        for c in ds.coords:
            assert "long_name" in ds[c].attrs, (key, c)
            if ds[c].dtype.kind == "f":
                assert "units" in ds[c].attrs, (key, c)
        for a in ("title", "history", "source", "Conventions"):
            assert a in ds.attrs, (key, a)
        path = tmp_path / f"{key}.nc"
        ds.to_netcdf(path, engine="h5netcdf")
        xr.testing.assert_identical(xr.open_dataset(path, engine="h5netcdf").load(), ds)
