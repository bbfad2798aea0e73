"""Structure functions: exactness against direct computations, invariances, NaN handling,
dask and chunked paths, and recovery of known laws on exact fBm (Monte-Carlo tolerances)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from scalelaws.errors import AllNaNError, InputError, ScaleRangeError
from scalelaws.stats.structure import (
    default_lags,
    polar_view,
    structure_function,
    structure_function_numpy,
)
from scalelaws.synthetic import fbm

RTOL = 1e-10  # numba (vectorised float64 sums, powers by multiplication) vs NumPy pairwise sums
N_REAL = 24  # Monte-Carlo realisations for the statistical tests


def _field(rng, shape=(61, 75), nan_frac=0.08):
    """Rough field with NaN holes, a NaN row and a NaN column (ragged NaN patterns)."""
    a = np.cumsum(rng.standard_normal(shape), axis=1) + 0.3 * rng.standard_normal(shape)
    a[rng.random(shape) < nan_frac] = np.nan
    a[7, :] = np.nan
    a[:, 11] = np.nan
    return a


def _da(a, **attrs):
    ny, nx = a.shape[-2:]
    return xr.DataArray(
        a,
        dims=(*[f"d{k}" for k in range(a.ndim - 2)], "y", "x"),
        coords={"y": 5000.0 - 30.0 * np.arange(ny), "x": 100.0 + 30.0 * np.arange(nx)},
        attrs={"units": "K", "long_name": "land surface temperature", **attrs},
    )


def _close_signed(got, ref, scale, rtol=RTOL):
    """Signed moments cancel: compare them relative to the matching absolute moment."""
    assert np.all(np.isnan(got) == np.isnan(ref))
    ok = ~np.isnan(ref)
    assert np.all(np.abs(got[ok] - ref[ok]) <= rtol * scale[ok])


# ----------------------------------------------------------------------------------------------
# exactness
# ----------------------------------------------------------------------------------------------


Q_ALL = (0.5, 1, 1.7, 2, 3, 4, 5, 6, 7, 8, 9)


@pytest.mark.parametrize("direction, axis", [("x", 1), ("y", 0)])
def test_kernel_equals_numpy_reference(rng, direction, axis):
    a = _field(rng)
    lags = [1, 2, 3, 5, 8, 13, 21, 34, 55]
    lags = [v for v in lags if v < a.shape[axis]]
    ds = structure_function(_da(a), q=Q_ALL, lags=lags, direction=direction, signed=True)
    S, Ss, cnt = structure_function_numpy(a, Q_ALL, lags, axis=axis, signed=True)
    np.testing.assert_allclose(ds.S.values, S, rtol=RTOL)
    _close_signed(ds.S_signed.values, Ss, S)
    np.testing.assert_array_equal(ds["count"].values, cnt)
    assert np.isnan(ds.S_signed.sel(q=[0.5, 1.7]).values).all()
    # flatness and skewness are the ratios of the same moments
    np.testing.assert_allclose(ds.flatness, S[Q_ALL.index(4)] / S[Q_ALL.index(2)] ** 2, rtol=RTOL)
    sk = Ss[Q_ALL.index(3)] / S[Q_ALL.index(2)] ** 1.5
    assert np.all(
        np.abs(ds.skewness.values - sk)
        <= RTOL * np.abs(S[Q_ALL.index(3)]) / S[Q_ALL.index(2)] ** 1.5
    )


def test_pooled_is_sum_over_both_axes_over_total_count(rng):
    a = _field(rng)
    lags = [1, 4, 9, 30]
    q = (1, 2.5, 3)
    ds = structure_function(_da(a), q=q, lags=lags)  # pooled by default
    Sx, _, cx = structure_function_numpy(a, q, lags, axis=1)
    Sy, _, cy = structure_function_numpy(a, q, lags, axis=0)
    pooled = (Sx * cx + Sy * cy) / (cx + cy)
    np.testing.assert_allclose(ds.S.values, pooled, rtol=RTOL)
    np.testing.assert_array_equal(ds["count"].values, cx + cy)
    assert ds.S.dims == ("q", "lag")
    # and "xy" holds both directions
    xy = structure_function(_da(a), q=q, lags=lags, direction="xy")
    np.testing.assert_allclose(xy.S.sel(direction="x").values, Sx, rtol=RTOL)
    np.testing.assert_allclose(xy.S.sel(direction="y").values, Sy, rtol=RTOL)


def test_map_equals_brute_force(rng):
    a = _field(rng, shape=(23, 29), nan_frac=0.1)
    L = 5
    q = (0.7, 1, 2, 3, 4, 5)
    ds = structure_function(_da(a), q=q, direction="map", max_lag=L, signed=True)
    assert ds.S.dims == ("q", "ly", "lx")
    np.testing.assert_array_equal(ds.ly, np.arange(L + 1))
    np.testing.assert_array_equal(ds.lx, np.arange(-L, L + 1))
    ny, nx = a.shape
    for ly in range(L + 1):
        for lx in range(-L, L + 1):
            i = slice(0, ny - ly)
            j = slice(max(0, -lx), min(nx, nx - lx))
            jb = slice(max(0, -lx) + lx, min(nx, nx - lx) + lx)
            d = (a[ly:, :][: ny - ly][:, jb] - a[i, j]).ravel()
            d = d[~np.isnan(d)]
            assert int(ds["count"].sel(ly=ly, lx=lx)) == d.size
            for qq in q:
                ref = np.mean(np.abs(d) ** qq)
                np.testing.assert_allclose(float(ds.S.sel(q=qq, ly=ly, lx=lx)), ref, rtol=RTOL)
                if qq == int(qq):
                    ref_s = np.mean(d**qq)
                    assert abs(float(ds.S_signed.sel(q=qq, ly=ly, lx=lx)) - ref_s) <= RTOL * ref
    # the map's axes are the x and y structure functions
    xy = structure_function(_da(a), q=q, lags=np.arange(1, L + 1), direction="xy")
    np.testing.assert_allclose(
        ds.S.sel(ly=0, lx=slice(1, L)).values, xy.S.sel(direction="x"), rtol=1e-12
    )
    np.testing.assert_allclose(
        ds.S.sel(lx=0, ly=slice(1, L)).values, xy.S.sel(direction="y"), rtol=1e-12
    )


# ----------------------------------------------------------------------------------------------
# invariances
# ----------------------------------------------------------------------------------------------


def test_affine_invariance(rng):
    a = _field(rng)
    q = (0.5, 1, 2, 3, 4.5, 7)
    alpha, beta = -2.5, 300.0
    s0 = structure_function(_da(a), q=q, direction="xy", signed=True)
    s1 = structure_function(_da(alpha * a + beta), q=q, direction="xy", signed=True)
    qv = xr.DataArray(np.array(q, dtype=float), dims="q", coords={"q": s0.q})
    expected = (abs(alpha) ** qv * s0.S).transpose(*s1.S.dims)
    np.testing.assert_allclose(s1.S, expected, rtol=1e-12)
    # signed moments pick up sign(alpha)^q; skewness flips sign, flatness is unchanged
    qi = [v for v in q if v == int(v)]
    sgn = xr.DataArray([np.sign(alpha) ** v for v in qi], dims="q", coords={"q": qi})
    scale = (abs(alpha) ** qv * s0.S).sel(q=qi)
    diff = abs(s1.S_signed.sel(q=qi) - sgn * abs(alpha) ** qv.sel(q=qi) * s0.S_signed.sel(q=qi))
    assert bool((diff <= 1e-12 * scale).all())
    np.testing.assert_allclose(s1.flatness, s0.flatness, rtol=1e-12)
    np.testing.assert_allclose(s1.skewness, -s0.skewness, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(s1["count"], s0["count"])


def test_transpose_swaps_x_and_y(rng):
    a = _field(rng)
    q = (1, 2, 3)
    da = _da(a)
    daT = xr.DataArray(a.T, dims=("y", "x"), attrs=da.attrs)
    s = structure_function(da, q=q, direction="xy", signed=True)
    t = structure_function(daT, q=q, direction="xy", signed=True)
    for v in ("S", "S_signed", "count", "flatness", "skewness"):
        np.testing.assert_allclose(t[v].sel(direction="x"), s[v].sel(direction="y"), rtol=1e-12)
        np.testing.assert_allclose(t[v].sel(direction="y"), s[v].sel(direction="x"), rtol=1e-12)
    # pooled statistics are transpose-invariant
    np.testing.assert_allclose(
        structure_function(daT, q=q).S, structure_function(da, q=q).S, rtol=1e-12
    )
    # map: (ly, lx) -> (lx, ly) for lx, ly > 0
    m = structure_function(da, q=q, direction="map", max_lag=6)
    mt = structure_function(daT, q=q, direction="map", max_lag=6)
    pos = dict(ly=slice(1, None), lx=slice(1, None))
    np.testing.assert_allclose(
        mt.S.sel(**pos).transpose("q", "lx", "ly").values, m.S.sel(**pos).values, rtol=1e-12
    )


# ----------------------------------------------------------------------------------------------
# NaN handling and errors
# ----------------------------------------------------------------------------------------------


def test_nan_pairs_dropped_and_counted(rng):
    a = rng.standard_normal((40, 50))
    a[rng.random(a.shape) < 0.3] = np.nan
    valid = ~np.isnan(a)
    lags = [1, 2, 7, 19]
    ds = structure_function(_da(a), q=(2,), lags=lags, direction="xy")
    for lag in lags:
        nx_ = (valid[:, lag:] & valid[:, :-lag]).sum()
        ny_ = (valid[lag:, :] & valid[:-lag, :]).sum()
        assert int(ds["count"].sel(direction="x", lag=lag)) == nx_
        assert int(ds["count"].sel(direction="y", lag=lag)) == ny_
        d = a[:, lag:] - a[:, :-lag]
        np.testing.assert_allclose(
            float(ds.S.sel(direction="x", lag=lag, q=2)), np.nanmean(d**2), rtol=RTOL
        )


def test_nan_rows_give_no_pairs(rng):
    a = rng.standard_normal((30, 30))
    a[::2, :] = np.nan  # every other row: no valid pair at odd y lags
    ds = structure_function(_da(a), q=(1, 2), lags=[1, 2, 3], direction="y")
    np.testing.assert_array_equal(ds["count"].values, [0, 15 * 30 - 30, 0])
    assert np.isnan(ds.S.sel(lag=[1, 3])).all()
    assert np.isfinite(ds.S.sel(lag=2)).all()


def test_errors(rng):
    a = rng.standard_normal((32, 40))
    with pytest.raises(ScaleRangeError):
        structure_function(a, lags=[1, 40], direction="x")
    with pytest.raises(ScaleRangeError):
        structure_function(a, lags=[32], direction="y")
    with pytest.raises(ScaleRangeError):
        structure_function(a, lags=[35])  # pooled: larger than the smaller side
    structure_function(a, lags=[35], direction="x")  # fine along x
    with pytest.raises(ScaleRangeError):
        structure_function(a, max_lag=32)
    with pytest.raises(ScaleRangeError):
        structure_function(a[:3, :3])  # default max_lag = 0
    with pytest.raises(ScaleRangeError):
        structure_function(a, lags=[0, 1])
    with pytest.raises(InputError):
        structure_function(a, lags=[1.5])
    with pytest.raises(InputError):
        structure_function(a, q=(0, 2))
    with pytest.raises(InputError):
        structure_function(a, q=(np.nan,))
    with pytest.raises(InputError):
        structure_function(a, direction="diagonal")
    with pytest.raises(InputError):
        structure_function(np.arange(10.0))
    with pytest.raises(AllNaNError):
        structure_function(_da(np.full((20, 20), np.nan)))
    with pytest.raises(InputError):
        polar_view(structure_function(a))
    # the error family: every one is an InputError and a ValueError
    assert issubclass(ScaleRangeError, InputError) and issubclass(AllNaNError, ValueError)


def test_default_lags_and_coordinates(rng):
    np.testing.assert_array_equal(default_lags(40), [1, 2, 3, 4, 6, 8, 11, 16, 23, 32])
    a = _field(rng, shape=(64, 80))
    ds = structure_function(_da(a, source="/data/scene.tif"))
    np.testing.assert_array_equal(ds.lag, default_lags(16))
    assert ds.lag.dtype == np.int64
    np.testing.assert_allclose(ds.lag_m, 30.0 * ds.lag)
    assert ds.lag_m.attrs["units"] == "m"
    assert ds.S.attrs["units"] == "K^q"
    assert list(ds.S_units.values) == ["K", "K^2", "K^3", "K^4"]
    assert ds.attrs["Conventions"] == "CF-1.8" and ds.attrs["source"] == "/data/scene.tif"
    for v in ds.data_vars:
        assert "units" in ds[v].attrs and "long_name" in ds[v].attrs
    # plain arrays: pixels of 1 m; pixel_size attribute honoured
    np.testing.assert_allclose(structure_function(a).lag_m, ds.lag)
    da = xr.DataArray(a, dims=("y", "x"), attrs={"pixel_size": 250.0, "units": "1"})
    s = structure_function(da, q=(0.5, 2))
    np.testing.assert_allclose(s.lag_m, 250.0 * s.lag)
    assert s.S.attrs["units"] == "1"
    # non-square pixels: x and y directions each use their own pixel size
    dn = xr.DataArray(
        a, dims=("y", "x"), coords={"y": -60.0 * np.arange(64), "x": 30.0 * np.arange(80)}
    )
    np.testing.assert_allclose(structure_function(dn, direction="y").lag_m, 60.0 * default_lags(16))
    np.testing.assert_allclose(structure_function(dn, direction="x").lag_m, 30.0 * default_lags(16))
    with pytest.raises(InputError):
        structure_function(dn)


def test_netcdf_roundtrip(tmp_path, rng):
    ds = structure_function(_da(_field(rng)), q=(1, 2.5), direction="xy", signed=True)
    path = tmp_path / "sf.nc"
    ds.to_netcdf(path, engine="h5netcdf")
    back = xr.load_dataset(path, engine="h5netcdf")
    xr.testing.assert_allclose(back.S, ds.S)
    assert back.S.attrs["units"] == "K^q"
    m = structure_function(_da(_field(rng)), direction="map", max_lag=4)
    m.to_netcdf(tmp_path / "map.nc", engine="h5netcdf")
    polar_view(m).to_netcdf(tmp_path / "polar.nc", engine="h5netcdf")


# ----------------------------------------------------------------------------------------------
# extra dims, dask, chunked exact path
# ----------------------------------------------------------------------------------------------


def _assert_same(ds, ref, rtol):
    assert set(ds.data_vars) == set(ref.data_vars)
    for v in ref.data_vars:
        assert ds[v].dims == ref[v].dims
        x, y = ref[v].values, ds[v].values
        assert np.array_equal(np.isnan(x.astype(float)), np.isnan(y.astype(float))), v
        if v == "count":
            np.testing.assert_array_equal(y, x)
        elif v in ("S_signed", "skewness"):  # cancellations: compare against the |.| scale
            scale = ref["S"].values if v == "S_signed" else np.abs(x) + 1.0
            ok = ~np.isnan(x)
            assert np.all(np.abs(y - x)[ok] <= rtol * np.abs(scale)[ok] + 1e-300), v
        else:
            np.testing.assert_allclose(y, x, rtol=rtol, err_msg=v)


def _stack(rng, n=3, shape=(50, 64)):
    a = np.stack([_field(rng, shape) for _ in range(n)])
    a[1] = np.nan  # an all-NaN scene in the stack gives count 0, not an error
    return xr.DataArray(
        a, dims=("time", "y", "x"), coords={"time": np.arange(1, n + 1)}, attrs={"units": "K"}
    )


@pytest.mark.parametrize("direction", ["pooled", "xy", "map"])
def test_extra_dims_broadcast_and_dask(rng, direction):
    da = _stack(rng)
    kw = dict(
        q=(0.5, 1, 2, 3, 7),
        direction=direction,
        signed=True,
        max_lag=12 if direction != "map" else 5,
    )
    ref = structure_function(da, **kw)
    assert ref.S.dims[0] == "time" and ref["count"].dims[0] == "time"
    np.testing.assert_array_equal(ref.time, [1, 2, 3])
    assert int(ref["count"].isel(time=1).max()) == 0 and bool(ref.S.isel(time=1).isnull().all())
    one = structure_function(da.isel(time=2), **kw)
    _assert_same(one, ref.isel(time=2, drop=True), rtol=0.0)  # same kernel, same blocks: bitwise
    lazy = structure_function(da.chunk({"time": 1}), **kw)
    assert lazy.S.chunks is not None
    _assert_same(lazy.compute(), ref, rtol=1e-14)
    if direction == "map":  # the polar view keeps the extra dims too
        pv = polar_view(ref)
        assert pv.S.dims == ("time", "q", "r", "theta") and pv.anisotropy.dims == ("time", "q", "r")
        xr.testing.assert_allclose(
            pv.isel(time=2, drop=True), polar_view(one).drop_vars("time"), rtol=1e-12
        )


@pytest.mark.parametrize("direction", ["pooled", "xy", "map", "x", "y"])
def test_chunked_path_equals_in_memory(rng, direction):
    da = _stack(rng, n=2, shape=(70, 83))
    max_lag = 6 if direction == "map" else 30
    kw = dict(q=(0.5, 1, 2, 3, 4, 8), direction=direction, signed=True, max_lag=max_lag)
    ref = structure_function(da, **kw)
    # chunks smaller than the largest lag: the halo spans several chunks; ragged last chunks
    ch = da.chunk({"time": 1, "y": 17, "x": 23})
    lazy = structure_function(ch, **kw)
    assert lazy.S.chunks is not None  # nothing computed yet
    _assert_same(lazy.compute(), ref, rtol=1e-12)


# ----------------------------------------------------------------------------------------------
# known laws on exact fBm (tolerances from the spread over N_REAL realisations)
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fbm_runs():
    """S_2, S_3 (signed), S_4 at lags 1..16 of N_REAL exact fBm fields per H."""
    lags = np.array([1, 2, 3, 4, 6, 8, 11, 16])
    out = {}
    for H in (0.3, 0.7):
        rng = np.random.default_rng(int(H * 1000))
        S2, S3, S4 = [], [], []
        for _ in range(N_REAL):
            ds = structure_function(
                fbm((128, 128), H, sigma=1.3, rng=rng), q=(2, 4), lags=lags, signed=True
            )
            S2.append(ds.S.sel(q=2).values)
            S4.append(ds.S.sel(q=4).values)
            S3.append(ds.skewness.values * ds.S.sel(q=2).values ** 1.5)
        out[H] = (lags, np.array(S2), np.array(S3), np.array(S4))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("H", [0.3, 0.7])
def test_fbm_second_order_law(fbm_runs, H):
    lags, S2, _, _ = fbm_runs[H]
    n = S2.shape[0]
    # E[S_2(l)] = sigma^2 l^(2H) exactly: the realisation mean is within 4 standard errors
    ratio = S2 / (1.3**2 * lags ** (2 * H))
    se = ratio.std(axis=0, ddof=1) / np.sqrt(n)
    assert np.all(np.abs(ratio.mean(axis=0) - 1.0) < 4 * se)
    # log-log slope of S_2 recovers 2H: mean of the per-realisation slopes within 4 SE
    slopes = np.array([np.polyfit(np.log(lags), np.log(s), 1)[0] for s in S2])
    se_slope = slopes.std(ddof=1) / np.sqrt(n)
    assert abs(slopes.mean() - 2 * H) < 4 * se_slope
    assert se_slope < 0.03  # and the test has power: 4 SE is a tight band


def _jackknife(num, den, p):
    """Pooled ratio mean(num) / mean(den)**p over realisations and its jackknife SE."""
    n = num.shape[0]
    est = num.mean(0) / den.mean(0) ** p
    loo = np.array(
        [np.delete(num, i, 0).mean(0) / np.delete(den, i, 0).mean(0) ** p for i in range(n)]
    )
    se = np.sqrt((n - 1) / n * ((loo - loo.mean(0)) ** 2).sum(0))
    return est, se


@pytest.mark.slow
@pytest.mark.parametrize("H", [0.3, 0.7])
def test_fbm_gaussian_increments(fbm_runs, H):
    lags, S2, S3, S4 = fbm_runs[H]
    small = lags <= 4  # finite-sample ratio bias stays far below the SE at small lags
    flat, se_f = _jackknife(S4[:, small], S2[:, small], 2)
    assert np.all(np.abs(flat - 3.0) < 4 * se_f)
    assert np.all(se_f < 0.05)
    skew, se_s = _jackknife(S3[:, small], S2[:, small], 1.5)
    assert np.all(np.abs(skew) < 4 * se_s)


@pytest.mark.slow
def test_anisotropy_map_and_polar_view():
    """fBm sampled every other row: E S_2(ly, lx) = (4 ly^2 + lx^2)^H exactly (anisotropic)."""
    H, L, n = 0.5, 6, 20
    rng = np.random.default_rng(2024)
    maps, iso_aniso, an, major = [], [], [], []
    for _ in range(n):
        z = fbm((256, 128), H, rng=rng)[::2]  # increments along y are those of lag 2 ly
        m = structure_function(z, q=(2,), direction="map", max_lag=L)
        maps.append(m.S.sel(q=2).values)
        p = polar_view(m)
        an.append(p.anisotropy.sel(q=2).values)
        major.append(p.theta_major.sel(q=2).values)
        iso = polar_view(
            structure_function(fbm((128, 128), H, rng=rng), q=(2,), direction="map", max_lag=L)
        )
        iso_aniso.append(iso.anisotropy.sel(q=2).values)
    maps, an, major, iso_aniso = map(np.array, (maps, an, major, iso_aniso))
    gy, gx = np.meshgrid(m.ly.values, m.lx.values, indexing="ij")
    truth = (4.0 * gy**2 + gx**2) ** H
    nz = (gy > 0) | (gx != 0)
    z_map = (maps.mean(0) - truth)[nz] / (maps.std(0, ddof=1)[nz] / np.sqrt(n))
    assert np.all(np.abs(z_map) < 4.5)  # ~80 cells: 4.5 SE keeps the family-wise error small
    # polar view of the exact map gives the true anisotropy of S_2; the realisations agree
    tm = m.copy()
    tm["S"] = (("q", "ly", "lx"), truth[None])
    t_an = polar_view(tm).anisotropy.sel(q=2).values
    assert np.all(t_an > 1.7)
    se_an = an.std(0, ddof=1) / np.sqrt(n)
    assert np.all(np.abs(an.mean(0) - t_an) < 4 * se_an)
    se_major = major.std(0, ddof=1) / np.sqrt(n)
    assert np.all(np.abs(major.mean(0) - 90.0) < 4 * se_major)  # largest increments along y
    # an isotropic field is separated from it: every isotropic realisation is below every
    # anisotropic one at lags up to 4 px
    r4 = p.r.values <= 4
    assert iso_aniso[:, r4].max() < an[:, r4].min()
    # polar S pools the lags of each bin: along theta ~ 0 (x) it equals the x structure function
    assert p.S.dims == ("q", "r", "theta") and p["count"].dims == ("r", "theta")
    np.testing.assert_allclose(
        p.S.sel(q=2, theta=7.5, r=[2.0, 3.0]).values,
        m.S.sel(q=2, ly=0, lx=[2, 3]).values,
        rtol=1e-12,
    )


@pytest.mark.parametrize("contained", [False, True])
def test_tiled_kernel_equals_per_tile_direct_calls(contained):
    """sf_sums_tiles(_serial) == one sf_sums_serial call per tile (nblocks=1), to the bit."""
    from scalelaws.kernels.sf import (
        STRIP,
        axis_offsets,
        int_orders,
        pooled_tile_sums,
        sf_sums_serial,
        sf_sums_tiles,
        sf_sums_tiles_serial,
    )

    rng = np.random.default_rng(7)
    a = rng.standard_normal((83, 97))
    a[rng.random(a.shape) < 0.07] = np.nan
    lags = np.array([1, 2, 3, 5, 9])
    qs = np.array([0.5, 1.0, 2.0, 2.5, 4.0, 7.0])
    qi = int_orders(qs)
    dys, dxs = axis_offsets(lags)
    ys, xs = np.array([0, 13, 40, 70]), np.array([0, 30, 32, 80])  # overlapping, clipped
    th = tw = 24
    par = sf_sums_tiles(a, ys, xs, th, tw, contained, dys, dxs, qs, qi, STRIP)
    ser = sf_sums_tiles_serial(a, ys, xs, th, tw, contained, dys, dxs, qs, qi, STRIP)
    np.testing.assert_array_equal(par, ser)
    K, Q = lags.size, qs.size
    for u, y0 in enumerate(ys):
        for v, x0 in enumerate(xs):
            y1, x1 = min(y0 + th, a.shape[0]), min(x0 + tw, a.shape[1])
            if contained:
                sub = np.ascontiguousarray(a[y0:y1, x0:x1])
                ref = sf_sums_serial(sub, 0, y1 - y0, 0, x1 - x0, dys, dxs, qs, qi, 1, STRIP)
            else:
                ref = sf_sums_serial(a, y0, y1, x0, x1, dys, dxs, qs, qi, 1, STRIP)
            np.testing.assert_array_equal(par[u, v], ref)
    # pooled helper: rows k and K + k added, [:Q] sums, [2Q] counts
    s, c = pooled_tile_sums(a, lags, qs, th, ys=ys, xs=xs, contained=contained)
    np.testing.assert_array_equal(s, par[:, :, :K, :Q] + par[:, :, K:, :Q])
    np.testing.assert_array_equal(c, par[:, :, :K, 2 * Q] + par[:, :, K:, 2 * Q])
    # a partition (not contained) adds up to the whole field's pooled structure function
    if not contained:
        s, c = pooled_tile_sums(a, lags, qs, 16)
        ds = structure_function(a, q=qs, lags=lags)
        np.testing.assert_array_equal(c.sum(axis=(0, 1)), ds["count"].values)
        np.testing.assert_allclose(
            s.sum(axis=(0, 1)) / c.sum(axis=(0, 1))[:, None], ds["S"].values.T, rtol=1e-12
        )


def test_scale_range_errors_name_the_file():
    da = xr.DataArray(np.ones((20, 20)), dims=("y", "x"), attrs={"source": "/data/lst.tif"})
    with pytest.raises(ScaleRangeError, match="/data/lst.tif"):
        structure_function(da, lags=[0, 2])
    with pytest.raises(ScaleRangeError, match="/data/lst.tif"):
        structure_function(da, lags=[25])
    with pytest.raises(ScaleRangeError, match="/data/lst.tif"):
        structure_function_numpy(da, 2, [30])
