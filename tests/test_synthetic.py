"""Truths of the synthetic generators, measured with plain numpy (no scalelaws estimator)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scalelaws.errors import InputError, ScaleRangeError
from scalelaws.synthetic import (
    LANDSCAPES,
    _fbm_embedding,
    _stein_constants,
    _stein_phi,
    fbm,
    fractional_integrate,
    landscape,
    landscape_truth,
    lognormal_cascade,
    multifractal,
    multifractal_truth,
)

# ----------------------------------------------------------------------------------------------
# fBm
# ----------------------------------------------------------------------------------------------

FBM_LAGS = (1, 2, 4, 8, 16)
DIRECTIONS = {"x": (0, 1), "y": (1, 0), "xy": (1, 1)}


def _increments(x: np.ndarray, step: tuple[int, int], order: int) -> np.ndarray:
    """First (``X(p+s) - X(p)``) or second (``X(p+s) - 2X(p) + X(p-s)``) increments."""
    dy, dx = step
    ny, nx = x.shape
    if order == 1:
        return x[dy:, dx:] - x[: ny - dy, : nx - dx]
    return x[2 * dy :, 2 * dx :] - 2 * x[dy : ny - dy, dx : nx - dx] + x[: ny - 2 * dy, : nx - 2 * dx]


def _check_law(H: float, order: int, n: int, shape: tuple[int, int], sigma: float,
               simulate=fbm) -> dict:
    """Compare ensemble-mean squared increments with theory; return the power flags.

    Theory (exact for fBm): E[(X(p+r) - X(p))^2] = sigma^2 |r|^(2H) and, for second
    increments, E[(X(p+r) - 2X(p) + X(p-r))^2] = 4 g(r) - g(2r) = sigma^2 |r|^(2H) (4 - 4^H).
    Each realisation gives an unbiased spatial mean (exact simulation), so the average over n
    independent realisations differs from the truth by ~N(0, s/sqrt(n)), s the spread across
    realisations: a 4-standard-error tolerance fails with probability ~6e-5 per check.
    """
    factor = 1.0 if order == 1 else 4.0 - 4.0**H
    stats = {
        (d, r): np.empty(n) for d in DIRECTIONS for r in FBM_LAGS if 2 * r < min(shape)
    }
    for seed in range(n):
        x = simulate(shape, H, sigma=sigma, rng=seed)
        for d, r in stats:
            step = tuple(r * s for s in DIRECTIONS[d])
            stats[d, r][seed] = np.mean(_increments(x, step, order) ** 2)
    power = {}
    for (d, r), vals in stats.items():
        dist = r * (math.sqrt(2.0) if d == "xy" else 1.0)
        truth = sigma**2 * dist ** (2 * H) * factor
        se = vals.std(ddof=1) / math.sqrt(n)
        assert abs(vals.mean() - truth) < 4 * se, (d, r, vals.mean(), truth, se)
        # would the check see a Hurst exponent off by 0.03 (the bias of spectral synthesis)?
        gap = min(
            abs(sigma**2 * dist ** (2 * h) * (1.0 if order == 1 else 4.0 - 4.0**h) - truth)
            for h in (H - 0.03, H + 0.03)
        )
        power[d, r] = gap > 4 * se
    return power


@pytest.mark.slow
@pytest.mark.parametrize("H", [0.2, 0.5, 0.8])
def test_fbm_variogram_matches_theory(H):
    """Variogram sigma^2 |r|^(2H) along x, y and the diagonal, lags 1-16, 4 MC std errors."""
    _check_law(H, order=1, n=150, shape=(48, 64), sigma=1.7)


@pytest.mark.slow
@pytest.mark.parametrize("H", [0.2, 0.5, 0.8])
def test_fbm_second_increments_have_power(H):
    """Second increments match sigma^2 |r|^(2H) (4 - 4^H) within 4 MC std errors, and the
    tolerance is tight enough to reject H +- 0.03 in every direction at one lag at least."""
    power = _check_law(H, order=2, n=150, shape=(48, 64), sigma=0.6)
    for d in DIRECTIONS:
        assert any(ok for (dd, r), ok in power.items() if dd == d), (d, power)


@pytest.mark.parametrize("H", [0.1, 0.5, 0.74, 0.76, 0.95])
def test_fbm_embedding_is_exact(H):
    """Deterministic: the embedded covariance reproduces phi, is PSD, and gives 2 r^(2H)."""
    ny, nx = 9, 13
    sqrt_lam, delta, c2 = _fbm_embedding(ny, nx, H)
    m = sqrt_lam.shape[0]
    lam = (sqrt_lam**2) * m * m
    cov = np.fft.ifft2(lam).real  # covariance of the stationary field Z on the torus
    iy, ix = np.mgrid[0:ny, 0:nx]
    r = np.hypot(iy, ix) * delta
    assert r.max() == pytest.approx(1.0)
    np.testing.assert_allclose(cov[:ny, :nx], _stein_phi(r, 2 * H), atol=1e-10)
    # variogram of Z(x) - Z(0) + sqrt(2 c2) x.W is 2 (phi(0) - phi(r)) + 2 c2 r^2 == 2 r^(2H)
    R, beta, c0, c2_ = _stein_constants(2 * H)
    assert c2_ == c2
    phi0 = _stein_phi(np.zeros(1), 2 * H)[0]
    gamma = 2 * (phi0 - _stein_phi(r, 2 * H)) + 2 * c2 * r**2
    np.testing.assert_allclose(gamma, 2 * r ** (2 * H), atol=1e-12)
    # phi vanishes beyond R and the torus period is at least 2R
    assert m * delta >= 2 * R


@pytest.mark.slow
@pytest.mark.parametrize("H", [0.3, 0.8])
def test_fbm_pair_second_field_has_the_law_and_is_independent(H):
    """``fbm_pair``: the first field is ``fbm``'s, the second (imaginary part of the same
    embedding) has the same exact variogram (4 MC std errors) and increments uncorrelated with
    the first's (mean correlation within 4 std errors of 0)."""
    from scalelaws.synthetic import fbm_pair

    a, _ = fbm_pair((20, 24), H, rng=5)
    np.testing.assert_array_equal(a, fbm((20, 24), H, rng=5))
    _check_law(H, order=1, n=150, shape=(48, 64), sigma=1.3,
               simulate=lambda *a, **k: fbm_pair(*a, **k)[1])
    r = np.array([np.corrcoef(np.diff(x, axis=1).ravel(), np.diff(y, axis=1).ravel())[0, 1]
                  for x, y in (fbm_pair((48, 64), H, rng=s) for s in range(60))])
    assert abs(r.mean()) < 4 * r.std(ddof=1) / math.sqrt(len(r)), r.mean()


def test_fbm_mean_zero_and_origin():
    """X[0, 0] == 0 exactly; the ensemble mean of every pixel is 0 within 4 std errors."""
    n, shape, H = 80, (24, 32), 0.6
    stack = np.stack([fbm(shape, H, rng=s) for s in range(n)])
    assert np.all(stack[:, 0, 0] == 0.0)
    mean = stack.mean(0)
    se = stack.std(0, ddof=1) / math.sqrt(n)
    se[0, 0] = 1.0
    # one far corner (largest variance) and the field average
    assert abs(mean[-1, -1]) < 4 * se[-1, -1]
    fmean = stack.mean(axis=(1, 2))
    assert abs(fmean.mean()) < 4 * fmean.std(ddof=1) / math.sqrt(n)
    # the pointwise variance is sigma^2 |p|^(2H)
    var_corner = np.mean(stack[:, -1, -1] ** 2)
    truth = math.hypot(shape[0] - 1, shape[1] - 1) ** (2 * H)
    se_var = np.std(stack[:, -1, -1] ** 2, ddof=1) / math.sqrt(n)
    assert abs(var_corner - truth) < 4 * se_var


def test_fbm_reproducible_and_generators():
    a = fbm((30, 20), 0.3, rng=7)
    b = fbm((30, 20), 0.3, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float64 and a.shape == (30, 20)
    assert not np.array_equal(a, fbm((30, 20), 0.3, rng=8))
    g = np.random.default_rng(1)
    c, d = fbm(16, 0.5, rng=g), fbm(16, 0.5, rng=g)
    assert c.shape == (16, 16) and not np.array_equal(c, d)


def test_fbm_bad_input():
    with pytest.raises(InputError, match="Hurst"):
        fbm((8, 8), 1.0)
    with pytest.raises(InputError, match="Hurst"):
        fbm((8, 8), 0.0)
    with pytest.raises(InputError, match="sigma"):
        fbm((8, 8), 0.5, sigma=0.0)
    with pytest.raises(ScaleRangeError):
        fbm((1, 8), 0.5)
    with pytest.raises(InputError):
        fbm((8, 8, 8), 0.5)
    with pytest.raises(InputError, match="rng"):
        fbm((8, 8), 0.5, rng="seed")


# ----------------------------------------------------------------------------------------------
# multifractal
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("c2", [-0.02, -0.08])
def test_cascade_log_variance_linear_and_mean_conserved(c2):
    """Exact in law: E[eps] = 1 and ln eps ~ N(-n s^2/2, n s^2), s^2 = -c2 ln 2, at every level.

    Per realisation, the pixel average of (ln eps - mu_n)^2 (known mean) is an unbiased
    estimate of Var[ln eps]; the tolerance is 4 standard errors of the mean over independent
    realisations (spread measured), likewise for E[eps].
    """
    s2 = -c2 * math.log(2.0)
    n_real = 60
    for n in range(1, 7):
        mu = -0.5 * n * s2
        var_est, mean_est = np.empty(n_real), np.empty(n_real)
        for k in range(n_real):
            eps = lognormal_cascade(n, c2=c2, rng=1000 * n + k)
            assert eps.shape == (2**n, 2**n)
            var_est[k] = np.mean((np.log(eps) - mu) ** 2)
            mean_est[k] = eps.mean()
        se_v = var_est.std(ddof=1) / math.sqrt(n_real)
        assert abs(var_est.mean() - n * s2) < 4 * se_v, (n, var_est.mean(), n * s2)
        se_m = mean_est.std(ddof=1) / math.sqrt(n_real)
        assert abs(mean_est.mean() - 1.0) < 4 * se_m, (n, mean_est.mean())


def test_fractional_integration_filter_exact(rng):
    x = rng.standard_normal((32, 48))
    y = fractional_integrate(x, 0.6)
    fx, fy = np.fft.fft2(x), np.fft.fft2(y)
    k = np.hypot(np.fft.fftfreq(32)[:, None], np.fft.fftfreq(48)[None, :])
    k[0, 0] = 1.0
    ratio = fy / fx
    ratio[0, 0] = 0.0
    expected = k**-0.6
    expected[0, 0] = 0.0
    np.testing.assert_allclose(np.abs(ratio), expected, rtol=1e-9, atol=1e-12)
    assert abs(y.mean()) < 1e-12


def test_multifractal_truth_and_field():
    t = multifractal_truth(H=0.5, c2=-0.04)
    assert t.C1 == pytest.approx(0.02) and t.c1 == pytest.approx(0.52) and t.c2 == -0.04
    q = np.array([-2.0, 0.0, 1.0, 2.0, 3.0])
    np.testing.assert_allclose(t.zeta(q), t.c1 * q + t.c2 * q**2 / 2, atol=1e-14)
    assert t.zeta(1.0) == pytest.approx(0.5)  # K(1) = 0: conservation
    assert multifractal_truth(c1=0.52, c2=-0.04).H == pytest.approx(0.5)
    with pytest.raises(InputError, match="inconsistent"):
        multifractal_truth(c1=0.3, H=0.5, c2=-0.04)
    with pytest.raises(InputError, match="negative"):
        multifractal_truth(H=0.5, c2=0.0)
    f = multifractal((48, 40), H=0.5, c2=-0.04, rng=3)
    assert f.shape == (48, 40) and f.dtype == np.float64
    assert f.std() == pytest.approx(1.0)
    np.testing.assert_array_equal(f, multifractal((48, 40), H=0.5, c2=-0.04, rng=3))
    # the field is exactly the documented composition: FI of order H of the cascade, cropped
    eps = lognormal_cascade(6, c2=-0.04, rng=3)
    g = fractional_integrate(eps, 0.5)[:48, :40]
    np.testing.assert_allclose(f, g / g.std(), rtol=1e-12)


# ----------------------------------------------------------------------------------------------
# landscapes
# ----------------------------------------------------------------------------------------------

LS_SHAPE = (256, 256)
LS_SEEDS = range(8)


def _axis_variogram(f: np.ndarray, r: int) -> float:
    return 0.5 * (np.mean((f[:, r:] - f[:, :-r]) ** 2) + np.mean((f[r:, :] - f[:-r, :]) ** 2))


def _block(f: np.ndarray, k: int) -> np.ndarray:
    ny, nx = f.shape[0] // k * k, f.shape[1] // k * k
    return f[:ny, :nx].reshape(ny // k, k, nx // k, k).mean(axis=(1, 3))


def _ols(y: np.ndarray, x: np.ndarray) -> float:
    xc, yc = x - x.mean(), y - y.mean()
    return float(np.sum(xc * yc) / np.sum(xc * xc))


def test_landscape_dataset(tmp_path):
    ds = landscape("cropland", shape=(64, 96), seed=1)
    assert set(ds.data_vars) == {"lst", "ndvi"}
    assert ds.lst.dtype == np.float32 and ds.ndvi.dtype == np.float32
    assert ds.lst.attrs["units"] == "K" and ds.ndvi.attrs["units"] == "1"
    assert ds.lst.dims == ("y", "x") and ds.sizes == {"y": 64, "x": 96}
    assert float(ds.ndvi.min()) >= -0.2 and float(ds.ndvi.max()) <= 0.95
    assert ds.rio.crs.to_epsg() == 32631 and ds.rio.crs.linear_units == "metre"
    assert np.allclose(np.diff(ds.x), 62.5) and np.allclose(np.diff(ds.y), -62.5)
    assert ds.attrs["Conventions"] == "CF-1.8"
    for key in ("H_fine", "H_coarse", "break_m", "lst_ndvi_slope_fine", "lst_ndvi_slope_coarse"):
        assert key in ds.attrs
    assert np.isnan(ds.attrs["H_coarse"])  # 4-8 km lags do not fit in 6 km
    ds.lst.rio.to_raster(tmp_path / "lst.tif")
    back = __import__("rioxarray").open_rasterio(tmp_path / "lst.tif").squeeze("band")
    np.testing.assert_array_equal(back.values, ds.lst.values)
    # reproducible and seed-dependent
    again = landscape("cropland", shape=(64, 96), seed=1)
    np.testing.assert_array_equal(again.lst.values, ds.lst.values)
    assert not np.array_equal(landscape("cropland", shape=(64, 96), seed=2).lst.values,
                              ds.lst.values)
    with pytest.raises(InputError, match="unknown landscape"):
        landscape("desert")
    assert set(LANDSCAPES) >= {"cropland", "forest", "urban", "mixed"}


@pytest.mark.parametrize("kind", sorted(LANDSCAPES))
def test_landscape_truths(kind):
    """Documented truths measured with plain numpy over 8 seeds.

    * Expected variogram (exact, :func:`landscape_truth`) at lags in both ranges: within 4
      standard errors of the seed average (spread over seeds).
    * Local Hurst exponents: seed-averaged measurement within 0.1 of H_fine and 0.15 of
      H_coarse (the brief's tolerances; they are ~3-5 MC standard errors).
    * Scale invariance is false: H_fine - H_coarse >= 0.25, break between 300 m and 3 km.
    * LST~NDVI OLS slope at native and coarse (4 km) scale: within 4 standard errors of the
      truth, and the documented change with scale (> 5 K per NDVI unit) is seen.
    * Mean LST within 4 standard errors; NDVI clipping < 0.5 % of pixels.
    """
    px = 62.5
    truth = landscape_truth(kind, shape=LS_SHAPE, pixel_size=px)
    spec = LANDSCAPES[kind]
    assert truth.H_fine - truth.H_coarse >= 0.25
    assert 300.0 <= truth.break_m <= 3000.0
    assert abs(truth.lst_ndvi_slope_fine - truth.lst_ndvi_slope_coarse) > 5.0
    fine = [round(r / px) for r in spec.fine_range_m]
    coarse = [round(r / px) for r in spec.coarse_range_m]
    fc = truth.factors[np.argmin([abs(math.log(f * px / spec.coarse_range_m[0]))
                                  for f in truth.factors])]
    rows = []
    for seed in LS_SEEDS:
        ds = landscape(kind, shape=LS_SHAPE, pixel_size=px, seed=seed)
        lst, ndvi = ds.lst.values.astype(float), ds.ndvi.values.astype(float)
        g = {r: _axis_variogram(lst, r) for r in fine + coarse}
        rows.append({
            **{("g", r): v for r, v in g.items()},
            "H_fine": 0.5 * math.log(g[fine[1]] / g[fine[0]]) / math.log(fine[1] / fine[0]),
            "H_coarse": 0.5 * math.log(g[coarse[1]] / g[coarse[0]])
            / math.log(coarse[1] / coarse[0]),
            "slope_fine": _ols(lst, ndvi),
            "slope_coarse": _ols(_block(lst, fc), _block(ndvi, fc)),
            "mean": lst.mean(),
            "clip": np.mean((ndvi <= -0.2) | (ndvi >= 0.95)),
        })
    n = len(rows)

    def stat(key):
        v = np.array([row[key] for row in rows])
        return v.mean(), v.std(ddof=1) / math.sqrt(n)

    for r in fine + coarse:
        m, se = stat(("g", r))
        assert abs(m - truth.variogram_lst[r - 1]) < 4 * se, (kind, r, m, truth.variogram_lst[r - 1])
    m, _ = stat("H_fine")
    assert abs(m - truth.H_fine) < 0.1, (kind, m, truth.H_fine)
    m, _ = stat("H_coarse")
    assert abs(m - truth.H_coarse) < 0.15, (kind, m, truth.H_coarse)
    for key, t in (("slope_fine", truth.lst_ndvi_slope_fine),
                   ("slope_coarse", truth.lst_ndvi_slope_coarse),
                   ("mean", truth.lst_mean)):
        m, se = stat(key)
        assert abs(m - t) < 4 * se, (kind, key, m, t, se)
    assert stat("clip")[0] < 0.005
