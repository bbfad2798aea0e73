"""Tests of scalelaws.stats.wavelets and scalelaws.kernels.leaders.

Statistical tolerances are Monte-Carlo: over R >= 20 independent exact realisations, the
mean estimate must lie within 3 standard errors (3 sd / sqrt(R), sd the spread between
realisations) of the theoretical value.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import pywt
import xarray as xr

from scalelaws.errors import AllNaNError, InputError, ScaleRangeError
from scalelaws.kernels.leaders import leaders_numba, leaders_numpy, log_moments
from scalelaws.stats.wavelets import (
    _dwt_octaves,
    coefficient_support,
    fit_log_cumulants,
    wavelet_cascade,
)
from scalelaws.synthetic import fbm, multifractal, multifractal_truth

R = 20  # Monte-Carlo realisations


def _random_coefs(rng, n=128, levels=4, p_invalid=0.002):
    coefs, inv, fac = [], [], []
    for j in range(1, levels + 1):
        shape = (n >> j, (n + 16) >> j)  # non-square
        coefs.append(tuple(rng.standard_normal(shape) for _ in range(3)))
        inv.append(rng.random(shape) < p_invalid)
        fac.append(2.0 ** (-0.7 * j))
    return coefs, inv, fac


# ---------------------------------------------------------------------------- kernels


@pytest.mark.parametrize("p_exp", [None, 1.0, 2.0])
def test_numba_leaders_equal_numpy(rng, p_exp):
    coefs, inv, fac = _random_coefs(rng)
    a = leaders_numba(coefs, inv, fac, p_exp)
    b = leaders_numpy(coefs, inv, fac, p_exp)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(np.isnan(x), np.isnan(y))
        if p_exp is None:
            np.testing.assert_array_equal(x, y)  # suprema are exact
        else:
            np.testing.assert_allclose(x, y, rtol=1e-12)
    assert all(np.isfinite(x).any() and np.isnan(x[1:-1, 1:-1]).any() for x in a[:3])


def test_log_moments_against_numpy(rng):
    a = rng.lognormal(0.3, 0.8, size=(50, 40))
    a[3, 4] = np.nan
    a[5, 6] = 0.0
    inv = np.zeros(a.shape, bool)
    inv[10:12] = True
    qs = np.array([-2.0, -1.0, 0.5, 1.0, 3.0])
    r = log_moments(a, qs, invalid=inv, factor=2.5)
    v = 2.5 * a[~inv & np.isfinite(a)]
    pos = v[v > 0]
    assert r["n"] == pos.size and r["n_zero"] == 1
    for q, ls in zip(qs, r["log_S"], strict=True):
        ref = np.mean(pos**q) if q <= 0 else np.mean(v**q)
        assert ls == pytest.approx(math.log(ref), rel=1e-12)
    lv = np.log(pos)
    assert r["C1"] == pytest.approx(lv.mean(), rel=1e-12)
    assert r["C2"] == pytest.approx(np.var(lv, ddof=1), rel=1e-10)
    n = lv.size
    k3 = n * n / ((n - 1) * (n - 2)) * np.mean((lv - lv.mean()) ** 3)
    assert r["C3"] == pytest.approx(k3, rel=1e-9)
    assert r["max"] == pytest.approx(v.max())


def test_small_arrays_run_on_one_thread_with_the_same_result(rng, monkeypatch):
    """Small octaves skip the parallel launch (costly on busy cores); same numbers either way."""
    import numba

    import scalelaws.kernels.leaders as kl

    coefs, inv, fac = _random_coefs(rng)
    qs = np.array([-1.0, 0.5, 2.0])
    threads = numba.get_num_threads()
    serial = (leaders_numba(coefs, inv, fac), log_moments(coefs[0][0], qs))
    assert numba.get_num_threads() == threads  # restored
    monkeypatch.setattr(kl, "PARALLEL_MIN_SIZE", 0)
    parallel = (leaders_numba(coefs, inv, fac), log_moments(coefs[0][0], qs))
    for a, b in zip(serial[0], parallel[0], strict=True):
        np.testing.assert_array_equal(a, b)
    for key in ("n", "C1", "C2", "C3", "log_S"):
        np.testing.assert_allclose(serial[1][key], parallel[1][key], rtol=1e-12)


# ------------------------------------------------------- exact footprints and NaN masks


@pytest.mark.parametrize("wavelet", ["haar", "db2", "db3", "sym4"])
def test_support_matches_dwt_matrix(wavelet):
    lo, hi = coefficient_support(wavelet)
    n = 40
    mat = np.array([np.concatenate(pywt.dwt(np.eye(n)[p], wavelet, mode="periodization"))
                    for p in range(n)]).T != 0
    for k in range(n // 2):
        expect = {(2 * k + o) % n for o in range(lo, hi + 1)}
        assert set(np.nonzero(mat[k] | mat[n // 2 + k])[0]) <= expect
        assert set(np.nonzero(mat[k] | mat[n // 2 + k])[0]) == expect or wavelet == "haar"


def _reference_octaves(x, wavelet, levels):
    """pywt on the field embedded in a NaN frame: NaN exactly where the footprint touches
    missing data or leaves the field, i.e. the coefficients that must be dropped."""
    n = x.shape[0]
    big = np.full((2 * n, 2 * n), np.nan)
    off = n // 2  # a multiple of 2**levels: dyadic alignment kept
    big[off : off + n, off : off + n] = x
    c = pywt.wavedec2(big, wavelet, mode="periodization", level=levels)
    out = []
    for j in range(1, levels + 1):
        o, m = off >> j, n >> j
        out.append(tuple(d[o : o + m, o : o + m] for d in c[-j]))
    return out


def test_nan_square_drops_exactly_the_touching_coefficients(rng):
    n, levels = 128, 4
    x = fbm((n, n), 0.6, rng=rng)
    x[40:46, 73:77] = np.nan
    coefs, invs = _dwt_octaves(x, "db3", levels)
    ref = _reference_octaves(x, "db3", levels)
    for (c, inv, r) in zip(coefs, invs, ref, strict=True):
        for d, dref in zip(c, r, strict=True):
            np.testing.assert_array_equal(inv, np.isnan(dref))
            np.testing.assert_allclose(d[~inv], dref[~inv], rtol=1e-10, atol=1e-12)
        assert (~inv).sum() > 0  # something survives at every octave
        assert inv[1:-1, 1:-1].any()  # and the square removed something inside


def _brute_force_leaders(coefs, invs, factors):
    """Leaders straight from the definition: sup over every cube (j' <= j) inside 3 lambda."""
    entries = []  # (j, ky, kx, value or nan)
    for j, (c, inv, f) in enumerate(zip(coefs, invs, factors, strict=True), start=1):
        d = f * np.max(np.abs(np.stack(c)), axis=0)
        d[inv] = np.nan
        ky, kx = np.indices(d.shape)
        entries.append((j, ky.ravel(), kx.ravel(), d.ravel()))
    out = []
    for j, c in enumerate(coefs, start=1):
        ny, nx = c[0].shape
        lead = np.full((ny, nx), np.nan)
        for i in range(1, ny - 1):
            for k in range(1, nx - 1):
                vals = []
                for jj, ky, kx, v in entries:
                    if jj > j:
                        continue
                    s = 2 ** (j - jj)  # finer cubes per coarse cube side
                    inside = ((ky >= (i - 1) * s) & (ky < (i + 2) * s)
                              & (kx >= (k - 1) * s) & (kx < (k + 2) * s))
                    vals.append(v[inside])
                vals = np.concatenate(vals)
                lead[i, k] = np.nan if np.isnan(vals).any() else vals.max()
        out.append(lead)
    return out


def test_leaders_match_definition_with_nan_square(rng):
    n, levels = 64, 4
    x = fbm((n, n), 0.5, rng=rng)
    x[40:43, 10:15] = np.nan
    coefs, invs = _dwt_octaves(x, "db3", levels)
    factors = [2.0 ** (-j) for j in range(1, levels + 1)]
    brute = _brute_force_leaders(coefs, invs, factors)
    fast = leaders_numba(coefs, invs, factors)
    for b, f in zip(brute, fast, strict=True):
        np.testing.assert_array_equal(np.isnan(b), np.isnan(f))
        np.testing.assert_array_equal(b[~np.isnan(b)], f[~np.isnan(f)])
    # the cascade reports exactly these counts
    ds = wavelet_cascade(x, j1=1, j2=2, q=(1.0, 2.0))
    expect = [int(np.isfinite(b).sum()) for b in brute]
    assert ds["n"].values.tolist() == expect[: ds.sizes["j"]]
    # and the NaN square removed leaders (versus the complete field)
    full = wavelet_cascade(fbm((n, n), 0.5, rng=1), j1=1, j2=2, q=(1.0, 2.0))
    nj = ds.sizes["j"]
    assert (ds["n"].values < full["n"].values[:nj]).all()


def test_engine_numpy_equals_numba(rng):
    x = fbm((128, 96), 0.6, rng=rng)
    x[50:60, 20:25] = np.nan
    a = wavelet_cascade(x, engine="numba", p_exp=None, j1=1, j2=3)
    b = wavelet_cascade(x, engine="numpy", p_exp=None, j1=1, j2=3)
    xr.testing.assert_allclose(a.drop_attrs(), b.drop_attrs(), rtol=1e-12)
    a = wavelet_cascade(x, engine="numba", p_exp=2.0, j1=1, j2=3)
    b = wavelet_cascade(x, engine="numpy", p_exp=2.0, j1=1, j2=3)
    xr.testing.assert_allclose(a.drop_attrs(), b.drop_attrs(), rtol=1e-10)


# ------------------------------------------------------------------------ invariances


def test_affine_and_plane_invariance(rng):
    n = 256
    x = fbm((n, n), 0.6, rng=rng)
    yy, xx = np.mgrid[0:n, 0:n]
    a = -3.0
    y = a * x + 7.0 + 0.05 * yy - 0.02 * xx  # plane: killed by db3's vanishing moments
    d0 = wavelet_cascade(x)
    d1 = wavelet_cascade(y)
    np.testing.assert_array_equal(d0["n"].values, d1["n"].values)
    np.testing.assert_allclose(d1["C1"] - d0["C1"], math.log(abs(a)), rtol=1e-6)
    np.testing.assert_allclose(d1["C2"], d0["C2"], rtol=1e-6)
    np.testing.assert_allclose(d1["C3"], d0["C3"], rtol=1e-5, atol=1e-9)
    ratio = d1["S_leaders"] / d0["S_leaders"]
    np.testing.assert_allclose(ratio, abs(a) ** d0["q"] * xr.ones_like(ratio), rtol=1e-6)
    for v in ("c1", "c2", "c3"):
        assert float(d1[v]) == pytest.approx(float(d0[v]), abs=1e-8)


def test_transpose_invariance(rng):
    x = fbm((128, 160), 0.4, rng=rng)
    x[10:14, 30:33] = np.nan
    d0 = wavelet_cascade(x, j1=2)
    d1 = wavelet_cascade(np.ascontiguousarray(x.T), j1=2)
    for v in ("n", "n_coef", "C1", "C2", "C3", "S_leaders", "S_coef"):
        np.testing.assert_allclose(d0[v], d1[v], rtol=1e-10)


def test_leading_dims_broadcast_and_coordinates(rng):
    fields = np.stack([fbm((128, 128), h, rng=rng) for h in (0.3, 0.8)])
    px = 30.0
    da = xr.DataArray(
        fields,
        dims=("time", "y", "x"),
        coords={"time": [1, 2], "y": 1e6 - px * np.arange(128), "x": px * np.arange(128)},
        attrs={"units": "K", "long_name": "LST"},
    )
    ds = wavelet_cascade(da, j1=2)
    assert ds["c1"].dims == ("time",)
    assert ds["S_leaders"].dims == ("time", "q", "j")
    np.testing.assert_allclose(ds["scale_m"], px * 2.0 ** ds["j"])
    for i in range(2):
        one = wavelet_cascade(da.isel(time=i), j1=2, j2=ds.attrs["j2"])
        xr.testing.assert_allclose(ds.isel(time=i).drop_attrs(), one.drop_attrs())
    assert ds["S_leaders"].attrs["units"] == "(K)**q"
    for v in ds.data_vars:
        assert "long_name" in ds[v].attrs and "units" in ds[v].attrs


def test_fit_log_cumulants_refits_and_netcdf(tmp_path, rng):
    ds = wavelet_cascade(fbm((256, 256), 0.5, rng=rng), gamma=0.5)
    f = fit_log_cumulants(ds, ds.attrs["j1"], ds.attrs["j2"])
    for v in ("c1", "c2", "c3"):
        assert float(f[v]) == pytest.approx(float(ds[v]), abs=1e-12)
    np.testing.assert_allclose(f["zeta"], ds["zeta"])
    # hand-made weighted fit of C2 on octaves 2..4
    sub = ds.sel(j=[2, 3, 4])
    w = sub["n"].values.astype(float)
    xj = sub["j"].values * math.log(2.0)
    slope = np.polyfit(xj, sub["C2"].values, 1, w=np.sqrt(w))[0]
    assert float(fit_log_cumulants(ds, 2, 4)["c2"]) == pytest.approx(slope, rel=1e-9)
    path = tmp_path / "casc.nc"
    ds.to_netcdf(path, engine="h5netcdf")
    back = xr.open_dataset(path, engine="h5netcdf")
    xr.testing.assert_allclose(back.load(), ds)
    with pytest.raises(ScaleRangeError):
        fit_log_cumulants(ds, 4, 4)


def test_bad_input():
    x = np.random.default_rng(0).standard_normal((64, 64))
    with pytest.raises(InputError):
        wavelet_cascade(x, q=(0.0, 1.0))
    with pytest.raises(InputError):
        wavelet_cascade(x, wavelet="bior2.2")
    with pytest.raises(InputError):
        wavelet_cascade(x, wavelet="nonsense")
    with pytest.raises(InputError):
        wavelet_cascade(x, gamma=-1.0)
    with pytest.raises(ScaleRangeError):
        wavelet_cascade(x[:16, :16])
    with pytest.raises(ScaleRangeError):
        wavelet_cascade(x, j1=3, j2=12)
    with pytest.raises(AllNaNError):
        wavelet_cascade(np.full((64, 64), np.nan))


def test_messages_on_too_rough_or_too_small_fields(caplog):
    """White noise (h = -1): gamma = 1 is not enough and the warning must not advise gamma=1;
    a 64 x 64 patch (one MODIS 1 km tile) fails with the per-octave counts in the message."""
    x = np.random.default_rng(4).standard_normal((256, 256))
    with caplog.at_level(logging.WARNING, logger="scalelaws.stats.wavelets"):
        wavelet_cascade(x, gamma=1.0)
    msg = " ".join(r.getMessage() for r in caplog.records)
    assert "(gamma=1)" in msg and "consider gamma=" in msg
    suggested = float(msg.split("consider gamma=")[1].split()[0])
    assert suggested > 1.0
    with pytest.raises(ScaleRangeError, match=r"per octave j=1\.\.3: \[\d+, \d+, \d+\]"):
        wavelet_cascade(x[:64, :64])
    ds = wavelet_cascade(x[:64, :64], j1=1)  # the advice works
    assert ds.attrs["j2"] >= 2


# ------------------------------------------------------------- Monte-Carlo: exponents
#
# The realisations are generated once per module and shared by the tests that need the same
# process (generation, not analysis, dominates: 0.13 s per 512 x 512 fBm). 512 x 512 is kept:
# at 256 x 256 the default fit has two octaves (j = 3, 4) and the spread of c1 doubles
# (sd 0.08-0.10), so 3 standard errors (0.05-0.06) would barely exclude H +- 0.1 and could
# not resolve c2 = -0.04 from 0. At 512 x 512 the bands below are, for c1, +-0.03 (H = 0.3)
# and +-0.025 (H = 0.7), for zeta(2) +-0.06, for c2 +-0.006 (fBm) and +-0.012 (cascade);
# ``_assert_powerful`` checks that each band excludes the truth shifted by the stated margin.

N_MC = 512


@pytest.fixture(scope="module")
def mc_fields():
    """``get(kind, param)``: the R realisations of one process, made once per module."""
    cache: dict[tuple, list[np.ndarray]] = {}

    def get(kind: str, param: float) -> list[np.ndarray]:
        key = (kind, param)
        if key not in cache:
            if kind == "fbm":
                cache[key] = [fbm((N_MC, N_MC), param, rng=1000 + r) for r in range(R)]
            else:
                truth = multifractal_truth(c2=param, H=0.5)
                cache[key] = [multifractal((N_MC, N_MC), c2=truth.c2, H=truth.H, rng=2000 + r)
                              for r in range(R)]
        return cache[key]

    return get


def _mc(fields, **kw):
    rows = []
    for x in fields:
        ds = wavelet_cascade(x, j1=3, **kw)
        rows.append([float(ds["c1"]), float(ds["c2"]), float(ds["zeta"].sel(q=2.0))])
    v = np.array(rows)
    return v.mean(axis=0), v.std(axis=0, ddof=1)


def _assert_powerful(tol, margins):
    """The band must be able to reject a wrong truth ``margin`` away: when the mean lies
    within ``tol`` of the truth, it lies more than ``tol`` from truth +- margin exactly when
    ``tol < margin / 2`` (a wider band would also have accepted the wrong value)."""
    names = ("c1", "c2", "zeta(2)")[: len(tol)]
    for name, t, m in zip(names, tol, margins, strict=True):
        assert t < m / 2, f"{name}: tolerance {t:.3f} cannot reject an error of {m}"


@pytest.mark.slow
@pytest.mark.parametrize(("H", "gamma"), [(0.3, 1.0), (0.7, 0.0)])
def test_fbm_log_cumulants(mc_fields, H, gamma):
    """Exact fBm: c1 = H, c2 = 0, zeta(2) = 2H, within 3 MC standard errors."""
    mean, sd = _mc(mc_fields("fbm", H), gamma=gamma)
    tol = 3.0 * sd / math.sqrt(R)
    _assert_powerful(tol, (0.1, 0.02, 0.2))  # H +- 0.1, c2 +- 0.02, zeta(2) = 2(H +- 0.1)
    assert abs(mean[0] - H) < tol[0], (mean, tol)
    assert abs(mean[1]) < tol[1], (mean, tol)
    assert abs(mean[2] - 2 * H) < tol[2], (mean, tol)
    assert sd[0] < 0.06  # 512 x 512 pins H down to a few hundredths


@pytest.mark.slow
def test_fbm_small_h_without_integration_is_flagged(mc_fields, caplog):
    """The documented failure: H = 0.3 and gamma = 0 is biased low (beyond the MC error, over
    the same realisations that recover H with gamma = 1), and says so."""
    fields = mc_fields("fbm", 0.3)
    with caplog.at_level(logging.WARNING, logger="scalelaws.stats.wavelets"):
        mean, sd = _mc(fields, gamma=0.0)
    assert mean[0] + 3.0 * sd[0] / math.sqrt(R) < 0.26, (mean, sd)
    warned = [r for r in caplog.records if "consider gamma=" in r.getMessage()]
    assert len(warned) >= R // 2  # most fields: h_min + gamma < 0.3 is detected


@pytest.mark.slow
def test_multifractal_c2(mc_fields):
    """Fractionally integrated log-normal cascade: c1 and c2 as documented by the generator."""
    truth = multifractal_truth(c2=-0.04, H=0.5)
    mean, sd = _mc(mc_fields("cascade", -0.04), gamma=1.0)
    tol = 3.0 * sd / math.sqrt(R)
    _assert_powerful(tol[:2], (0.1, 0.03))
    assert abs(mean[0] - truth.c1) < tol[0], (mean, tol)
    assert abs(mean[1] - truth.c2) < tol[1], (mean, tol)
    # and the difference from fBm is resolved: c2 is negative beyond 3 standard errors
    assert mean[1] + tol[1] < 0
