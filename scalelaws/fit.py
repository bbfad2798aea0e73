"""Honest scaling fits: log-log regression, scale ranges, breaks and block-bootstrap exponents.

The functions here turn multiscale statistics (structure functions, wavelet leaders, spectra)
into exponents with intervals that mean what they say.

:func:`fit_loglog`
    Weighted least squares of ``log(values)`` on ``log(scales)`` (statsmodels); slope,
    intercept, standard errors and t intervals. These standard errors assume independent
    residuals, which points of one structure function are not: they understate the real
    spread of an exponent several-fold. They are kept for comparison only.
:func:`choose_scale_range`
    The default fitting range: from the end of the sensor's first octave (2 px: lag 1 is
    dominated by the point-spread function) to a sixth of the field.
:func:`fit_break`
    Continuous two-segment (hinge) fit in log-log: grid search of the break then profile
    refinement, slopes below/above, a profile-likelihood interval for the break, an F test and
    the BIC against a single power law.
:func:`bootstrap_structure_function`
    Structure functions with a spatial moving-block bootstrap: increments are summed within
    square tiles (no pair crosses a tile border), tiles are resampled with replacement.
:func:`fit_scaling`
    ``zeta(q)``, ``H = zeta(2)/2``, ``c1``, ``c2``, ``beta`` and the break of ``S_2``, with
    percentile intervals from the block bootstrap.
:func:`local_slopes`
    Local exponents between successive dyadic lags (the statistic behind statements such as
    "the local Hurst exponent falls from 0.8 at 250-500 m to 0.12 at 4-8 km").

References
----------
H. R. Kuensch (1989). The jackknife and the bootstrap for general stationary observations.
*Annals of Statistics* 17(3), 1217-1241 (moving block bootstrap).

D. J. Nordman, S. N. Lahiri & B. L. Fridley (2007). Optimal block size for variance estimation
by a spatial block bootstrap method. *Sankhya* 69(3), 468-493.

V. M. R. Muggeo (2003). Estimating regression models with unknown break-points. *Statistics
in Medicine* 22(19), 3055-3071.

H. Wendt, P. Abry & S. Jaffard (2007). Bootstrap for empirical multifractal analysis. *IEEE
Signal Processing Magazine* 24(4), 38-48.

"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import statsmodels.api as sm
import xarray as xr
from scipy import optimize
from scipy import stats as sps

from scalelaws.core.estimate import ols_slope, percentile_interval, wls_slope
from scalelaws.core.scales import log_lags
from scalelaws.errors import InputError, ScaleRangeError

__all__ = [
    "FitResult",
    "BreakResult",
    "fit_loglog",
    "choose_scale_range",
    "fit_break",
    "bootstrap_structure_function",
    "fit_scaling",
    "FieldBackend",
    "leader_log_cumulants",
    "local_slopes",
]

log = logging.getLogger(__name__)

RngLike = np.random.Generator | int | None

#: Fraction of the field's smaller side used as the largest default fitting scale.
MAX_SCALE_FRACTION = 1.0 / 6.0


# --------------------------------------------------------------------------------------------
# log-log regression
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FitResult:
    """Result of a straight-line fit in log-log coordinates (natural logarithms).

    ``log(value) = intercept + slope * log(scale)``.

    Attributes
    ----------
    slope, intercept
        Estimated coefficients.
    slope_se, intercept_se
        Standard errors under the WLS model (independent residuals); NaN with two points.
    slope_ci, intercept_ci
        t intervals at ``level``.
    r2
        Coefficient of determination.
    n
        Number of points used (finite, positive scales and values, positive weights).
    level
        Confidence level of the intervals.
    scales, values
        The points used (after cleaning), for plotting.

    """

    slope: float
    intercept: float
    slope_se: float
    intercept_se: float
    slope_ci: tuple[float, float]
    intercept_ci: tuple[float, float]
    r2: float
    n: int
    level: float
    scales: np.ndarray = field(repr=False)
    values: np.ndarray = field(repr=False)

    def predict(self, scales: np.ndarray | float) -> np.ndarray:
        """Fitted power law ``exp(intercept) * scales**slope``."""
        return np.exp(self.intercept) * np.asarray(scales, dtype=float) ** self.slope


def _clean_xy(
    scales: Any, values: Any, weights: Any | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return log-scales, log-values and weights of the usable points, sorted by scale."""
    s = np.asarray(scales, dtype=float).ravel()
    v = np.asarray(values, dtype=float).ravel()
    if s.shape != v.shape:
        raise InputError(f"scales ({s.size}) and values ({v.size}) differ in length")
    if weights is None:
        w = np.ones_like(s)
    else:
        w = np.asarray(weights, dtype=float).ravel()
        if w.shape != s.shape:
            raise InputError(f"weights ({w.size}) and scales ({s.size}) differ in length")
        if np.any(w < 0):
            raise InputError("weights must be non-negative")
    ok = np.isfinite(s) & np.isfinite(v) & np.isfinite(w) & (s > 0) & (v > 0) & (w > 0)
    if (~ok).any():
        log.debug("fit: dropped %d of %d points (non-finite, non-positive or zero weight)",
                  int((~ok).sum()), s.size)
    order = np.argsort(s[ok], kind="stable")
    return np.log(s[ok])[order], np.log(v[ok])[order], w[ok][order]


def fit_loglog(
    scales: Any,
    values: Any,
    *,
    weights: Any | None = None,
    level: float = 0.95,
) -> FitResult:
    """Fit ``values = A * scales**slope`` by weighted least squares on the logarithms.

    Parameters
    ----------
    scales
        Scales (lags in pixels or metres); positive.
    values
        Statistic at each scale (e.g. ``S_q``); positive. Non-finite or non-positive points
        are dropped (logged at DEBUG level).
    weights
        Optional non-negative weights, proportional to the inverse variance of
        ``log(values)`` (statsmodels ``WLS`` convention). ``None``: ordinary least squares.
    level
        Confidence level of the t intervals.

    Returns
    -------
    FitResult
        Slope, intercept (natural log), standard errors, intervals, R^2, points used.

    Raises
    ------
    scalelaws.errors.ScaleRangeError
        Fewer than two usable points, or all scales equal.

    Notes
    -----
    The standard errors assume independent residuals. Points of one structure function
    (or spectrum) are strongly correlated across scales, so these errors understate the
    sampling spread of an exponent; use :func:`fit_scaling` (block bootstrap) for intervals.

    """
    _check_level(level)
    x, y, w = _clean_xy(scales, values, weights)
    n = x.size
    if n < 2 or np.ptp(x) == 0:
        raise ScaleRangeError(
            f"a log-log fit needs at least two distinct positive scales with positive "
            f"values; got {n} usable point(s)"
        )
    X = sm.add_constant(x, has_constant="add")
    res = sm.WLS(y, X, weights=w).fit()
    intercept, slope = (float(c) for c in res.params)
    if n > 2:
        bse = np.asarray(res.bse, dtype=float)
        ci = np.asarray(res.conf_int(alpha=1.0 - level), dtype=float)
        r2 = float(res.rsquared)
    else:
        bse = np.array([np.nan, np.nan])
        ci = np.full((2, 2), np.nan)
        r2 = 1.0
    return FitResult(
        slope=slope,
        intercept=intercept,
        slope_se=float(bse[1]),
        intercept_se=float(bse[0]),
        slope_ci=(float(ci[1, 0]), float(ci[1, 1])),
        intercept_ci=(float(ci[0, 0]), float(ci[0, 1])),
        r2=r2,
        n=int(n),
        level=float(level),
        scales=np.exp(x),
        values=np.exp(y),
    )


def choose_scale_range(
    pixel_size: float,
    field_size_px: int | Sequence[int],
    *,
    sensor_first_octave: bool = True,
    max_fraction: float = MAX_SCALE_FRACTION,
) -> tuple[float, float]:
    """Default scale range (metres) for fitting scaling exponents.

    The lower end skips the sensor's first octave: lag 1 px is dominated by the point-spread
    function (smoothing lowers ``S_q(1)`` and steepens the apparent slope between 1 and 2 px),
    so the range starts at 2 px. The upper end is ``max_fraction`` (default 1/6) of the
    smaller side of the field, beyond which few independent increments remain and the
    estimates are dominated by the few largest structures of the scene.

    Parameters
    ----------
    pixel_size
        Pixel size in metres (> 0).
    field_size_px
        Field size in pixels: an ``int`` or ``(ny, nx)``; the smaller side is used.
    sensor_first_octave
        Exclude the first octave (start at 2 px). ``False``: start at 1 px.
    max_fraction
        Largest scale as a fraction of the field's smaller side.

    Returns
    -------
    tuple of float
        ``(min_m, max_m)``, both multiples of ``pixel_size``.

    Raises
    ------
    scalelaws.errors.ScaleRangeError
        The range spans less than one octave (field too small).
    scalelaws.errors.InputError
        Non-positive pixel size or field size, or ``max_fraction`` outside (0, 0.5].

    """
    ps = float(pixel_size)
    if not (math.isfinite(ps) and ps > 0):
        raise InputError(f"pixel size must be a positive number of metres, got {pixel_size!r}")
    if not 0 < max_fraction <= 0.5:
        raise InputError(f"max_fraction must lie in (0, 0.5], got {max_fraction}")
    sizes = np.atleast_1d(np.asarray(field_size_px)).astype(int)
    n = int(sizes.min())
    if n <= 0:
        raise InputError(f"field size must be positive, got {field_size_px!r}")
    lo = 2 if sensor_first_octave else 1
    hi = int(math.floor(n * max_fraction + 1e-9))
    if hi < 2 * lo:
        need = int(math.ceil(2 * lo / max_fraction))
        raise ScaleRangeError(
            f"field of {n} px is too small: scales from {lo} px to {max_fraction:.3g} of the "
            f"field ({hi} px) span less than one octave; need at least {need} px"
        )
    return lo * ps, hi * ps


# --------------------------------------------------------------------------------------------
# two-segment (break) fit
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BreakResult:
    """Continuous two-segment power law fitted in log-log coordinates.

    ``log S = a + b1 (x - xb) + (b2 - b1) max(x - xb, 0)`` with ``x = log(scale)``,
    ``xb = log(break_scale)``.

    Attributes
    ----------
    break_scale
        Estimated break (same units as the scales).
    break_ci
        Profile-likelihood interval of the break at ``level`` (F calibration); an end equal
        to the search bound means the interval is truncated by the data.
    slope_below, slope_above
        Slopes below and above the break.
    slope_below_se, slope_above_se
        Standard errors conditional on the break (independent residuals assumed).
    log_value_at_break
        ``a``: fitted ``log S`` at the break.
    rss, rss_one
        Weighted residual sums of squares of the two-segment and one-segment fits.
    f_stat, p_value
        F test of two segments (2 extra parameters: slope change and break) against one.
        The break is not identified under the null (Davies' problem) and the points of one
        structure function are correlated, so this p-value is optimistic.
    delta_bic
        ``BIC(one segment) - BIC(two segments)``; positive favours the break.
    significant
        ``p_value < 1 - level`` and ``delta_bic > 0``.
    n, level
        Points used; confidence level.
    one_segment
        The single power-law fit (:class:`FitResult`).

    """

    break_scale: float
    break_ci: tuple[float, float]
    slope_below: float
    slope_above: float
    slope_below_se: float
    slope_above_se: float
    log_value_at_break: float
    rss: float
    rss_one: float
    f_stat: float
    p_value: float
    delta_bic: float
    significant: bool
    n: int
    level: float
    one_segment: FitResult = field(repr=False)


def _hinge_design(x: np.ndarray, xb: float) -> np.ndarray:
    d = x - xb
    return np.column_stack([np.ones_like(x), d, np.maximum(d, 0.0)])


def _hinge_profile(
    x: np.ndarray, Y: np.ndarray, w: np.ndarray, grid: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted RSS and coefficients of the hinge model for every break in ``grid``.

    ``Y`` has shape ``(n, m)`` (``m`` series fitted at once). Returns ``rss (ng, m)`` and
    ``coef (ng, 3, m)`` with coefficients ``(a, b1, b2 - b1)``.
    """
    sw = np.sqrt(w)[:, None]
    Yw = sw * Y
    rss = np.empty((grid.size, Y.shape[1]))
    coef = np.empty((grid.size, 3, Y.shape[1]))
    for i, xb in enumerate(grid):
        Xw = sw * _hinge_design(x, xb)
        c, *_ = np.linalg.lstsq(Xw, Yw, rcond=None)
        coef[i] = c
        rss[i] = np.sum((Yw - Xw @ c) ** 2, axis=0)
    return rss, coef


def _break_grid(x: np.ndarray, min_points: int, n_grid: int) -> np.ndarray:
    lo, hi = x[min_points - 1], x[x.size - min_points]
    return np.linspace(lo, hi, n_grid)


def fit_break(
    scales: Any,
    values: Any,
    *,
    weights: Any | None = None,
    min_points: int = 3,
    level: float = 0.95,
    n_grid: int = 200,
) -> BreakResult:
    """Fit a continuous two-segment power law (one break) in log-log coordinates.

    The break ``xb = log(break)`` is searched on a grid between the ``min_points``-th smallest
    and the ``min_points``-th largest scale (so each segment holds at least ``min_points``
    points); for each trial break the model is linear and solved by weighted least squares;
    the best grid point is refined by a bounded scalar minimisation of the profile RSS.

    Parameters
    ----------
    scales, values
        Scales and positive statistic (e.g. lags and ``S_2``).
    weights
        Optional weights, proportional to the inverse variance of ``log(values)``.
    min_points
        Minimum number of points on each side of the break (>= 2).
    level
        Confidence level of the break interval and the significance test.
    n_grid
        Number of trial breaks of the grid search.

    Returns
    -------
    BreakResult

    Raises
    ------
    scalelaws.errors.ScaleRangeError
        Fewer than ``2 * min_points`` usable points (and at least 5).
    scalelaws.errors.InputError
        ``min_points < 2``.

    Notes
    -----
    The interval is the profile-likelihood set
    ``{xb : (RSS(xb) - RSS_min) / s^2 <= F_{1, n-4}(level)}``, ``s^2 = RSS_min / (n - 4)``
    (Gaussian residuals, independent). The significance test compares against a single power
    law with an F test and the BIC; see :class:`BreakResult` for why the p-value is
    optimistic. :func:`fit_scaling` reports a block-bootstrap interval of the break instead.

    """
    _check_level(level)
    if min_points < 2:
        raise InputError(f"min_points must be at least 2, got {min_points}")
    x, y, w = _clean_xy(scales, values, weights)
    n = x.size
    need = max(2 * min_points, 5)
    if n < need:
        raise ScaleRangeError(
            f"a two-segment fit with {min_points} points per segment needs at least {need} "
            f"distinct scales; got {n}"
        )
    grid = _break_grid(x, min_points, n_grid)
    Y = y[:, None]
    rss_grid = _hinge_profile(x, Y, w, grid)[0][:, 0]
    i = int(np.argmin(rss_grid))

    def prof(xb: float) -> float:
        return float(_hinge_profile(x, Y, w, np.array([xb]))[0][0, 0])

    a_lo, a_hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    xb, rss2 = grid[i], float(rss_grid[i])
    if a_hi > a_lo:
        opt = optimize.minimize_scalar(prof, bounds=(a_lo, a_hi), method="bounded",
                                       options={"xatol": 1e-6 * max(1.0, np.ptp(x))})
        if opt.success and opt.fun <= rss2:
            xb, rss2 = float(opt.x), float(opt.fun)

    one = fit_loglog(np.exp(x), np.exp(y), weights=w, level=level)
    sw = np.sqrt(w)
    X1 = np.column_stack([np.ones_like(x), x])
    c1, *_ = np.linalg.lstsq(sw[:, None] * X1, sw * y, rcond=None)
    rss1 = float(np.sum((sw * (y - X1 @ c1)) ** 2))

    dof = n - 4
    tiny = 1e-300
    s2 = max(rss2, tiny) / dof
    f_stat = max(rss1 - rss2, 0.0) / 2.0 / s2
    p_value = float(sps.f.sf(f_stat, 2, dof))
    bic_one = n * math.log(max(rss1, tiny) / n) + 3 * math.log(n)
    bic_two = n * math.log(max(rss2, tiny) / n) + 5 * math.log(n)
    delta_bic = bic_one - bic_two

    # profile-likelihood interval on the grid (plus the refined optimum)
    crit = float(sps.f.ppf(level, 1, dof))
    inside = (rss_grid - rss2) / s2 <= crit
    j = int(np.argmin(np.abs(grid - xb)))
    inside[j] = True
    lo_j = j
    while lo_j > 0 and inside[lo_j - 1]:
        lo_j -= 1
    hi_j = j
    while hi_j < grid.size - 1 and inside[hi_j + 1]:
        hi_j += 1
    ci_lo = min(grid[lo_j], xb)
    ci_hi = max(grid[hi_j], xb)

    model = sm.WLS(y, _hinge_design(x, xb), weights=w).fit()
    a, b1, d = (float(c) for c in model.params)
    cov = np.asarray(model.cov_params(), dtype=float)
    se_b1 = math.sqrt(max(cov[1, 1], 0.0))
    se_b2 = math.sqrt(max(cov[1, 1] + cov[2, 2] + 2 * cov[1, 2], 0.0))
    return BreakResult(
        break_scale=float(np.exp(xb)),
        break_ci=(float(np.exp(ci_lo)), float(np.exp(ci_hi))),
        slope_below=b1,
        slope_above=b1 + d,
        slope_below_se=se_b1,
        slope_above_se=se_b2,
        log_value_at_break=a,
        rss=rss2,
        rss_one=rss1,
        f_stat=float(f_stat),
        p_value=p_value,
        delta_bic=float(delta_bic),
        significant=bool(p_value < 1.0 - level and delta_bic > 0),
        n=int(n),
        level=float(level),
        one_segment=one,
    )


# --------------------------------------------------------------------------------------------
# block bootstrap of structure functions
# --------------------------------------------------------------------------------------------


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise InputError(f"confidence level must lie in (0, 1), got {level}")


def _as_field(da: Any) -> xr.DataArray:
    """Return a float 2-D ``(y, x)`` DataArray; raise on bad input."""
    from scalelaws.stats.coarse import _as_field as as_field

    return as_field(da, "field")


def _pixel_size(da: xr.DataArray) -> float:
    from scalelaws.grids import pixel_size

    return float(pixel_size(da))


def _rng(rng: RngLike) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _sf(a: Any, qs: Sequence[float], lags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pooled (x and y) sums of ``|increment|**q`` and pair counts of whole fields.

    ``a`` is ``(y, x)`` or ``(n, y, x)`` (array or DataArray, spatial dims last); returns sums
    ``([n,] nq, nlag)`` and counts ``([n,] nlag)``, the numbers
    :func:`scalelaws.stats.structure.structure_function` divides (same kernel, same blocks),
    without its Dataset overhead.
    """
    from scalelaws.kernels.sf import pooled_sums

    arr = np.asarray(a.values if isinstance(a, xr.DataArray) else a, dtype=np.float64)
    qa = np.asarray(qs, dtype=np.float64)
    lead = arr.shape[:-2]
    sums = np.empty(lead + (qa.size, lags.size))
    cnt = np.empty(lead + (lags.size,))
    for idx in np.ndindex(*lead):
        s_, c_ = pooled_sums(arr[idx], lags, qa)
        sums[idx] = s_.T
        cnt[idx] = c_
    return sums, cnt


def _tile_sf(
    a: np.ndarray, qs: Sequence[float], lags: np.ndarray, B: int, ys: np.ndarray, xs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Sum ``|increment|**q`` and count the pairs inside each ``B``-px tile of ``ys x xs``.

    One call of :func:`scalelaws.kernels.sf.pooled_tile_sums` (no pair crosses a tile border);
    returns sums ``(ntiles, nq, nlag)`` and counts ``(ntiles, nlag)``, tiles in row-major order.
    """
    from scalelaws.kernels.sf import pooled_tile_sums

    ts, tc = pooled_tile_sums(np.asarray(a, dtype=np.float64), lags,
                              np.asarray(qs, dtype=np.float64), B, ys=ys, xs=xs, contained=True)
    nt = ys.size * xs.size
    return ts.reshape(nt, lags.size, len(qs)).transpose(0, 2, 1), tc.reshape(nt, lags.size)


def _tile_starts(n: int, block: int, stride: int) -> np.ndarray:
    starts = np.arange(0, n - block + 1, stride)
    if starts[-1] != n - block:  # always reach the far edge
        starts = np.append(starts, n - block)
    return starts


def _boot_core(
    da: xr.DataArray,
    qs: Sequence[float],
    lags: np.ndarray,
    B: int,
    stride: int,
    k: int,
    n_boot: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """Whole-field ``S``, counts, block-bootstrap replicates ``S_boot`` and tile corners."""
    ny, nx = da.shape
    sums, cnt = _sf(da, qs, lags)
    tile_sums = None
    if n_boot > 0:
        ys, xs = _tile_starts(ny, B, stride), _tile_starts(nx, B, stride)
        T_s, T_c = _tile_sf(da.values, qs, lags, B, ys, xs)  # every tile, one kernel call
        tile_sums = (ys, xs, T_s, T_c)
    return _boot_from_sums(sums, cnt, tile_sums, qs, lags, B, k, n_boot, rng,
                           da.attrs.get("source"))


def _boot_from_sums(
    sums: np.ndarray,
    cnt: np.ndarray,
    tile_sums: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None,
    qs: Sequence[float],
    lags: np.ndarray,
    B: int,
    k: int,
    n_boot: int,
    rng: np.random.Generator,
    source: Any = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """``S``, counts, ``S_boot`` and tile corners from whole-field and per-tile pair sums.

    ``tile_sums`` is ``(ys, xs, T_s, T_c)``: tile corners and the sums ``(ntiles, nq, nlag)``
    and counts ``(ntiles, nlag)`` of the pairs contained in each tile (row-major), or
    ``None`` without bootstrap. Shared by the in-memory and the chunked backends.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        S = np.where(cnt > 0, sums / cnt, np.nan)
    S_boot = np.empty((n_boot, len(qs), lags.size))
    tiles: list[tuple[int, int]] = []
    if n_boot > 0 and tile_sums is not None:
        ys, xs, T_s, T_c = tile_sums
        keep = T_c.sum(axis=1) > 0  # tiles without a valid pair are never drawn
        T_s, T_c = T_s[keep], T_c[keep]
        tiles = [(int(y0), int(x0)) for y0 in ys for x0 in xs]
        tiles = [t for t, kk in zip(tiles, keep, strict=True) if kk]
        n_cand = len(tiles)
        if n_cand < 2:
            raise ScaleRangeError(
                f"only {n_cand} tile(s) of {B} px hold valid pairs: too few for a bootstrap",
                source,
            )
        idx = rng.integers(0, n_cand, size=(n_boot, k))
        bs = T_s[idx].sum(axis=1)
        bc = T_c[idx].sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            S_boot = np.where(bc[:, None, :] > 0, bs / bc[:, None, :], np.nan)
        log.debug("block bootstrap: %d candidate tiles of %d px, %d per replicate, %d replicates",
                  n_cand, B, k, n_boot)
    return S, cnt, S_boot, tiles



def bootstrap_structure_function(
    da: xr.DataArray | np.ndarray,
    q: Sequence[float] = (1, 2, 3, 4),
    lags: Sequence[int] | None = None,
    *,
    n_boot: int = 200,
    block: int | None = None,
    stride: int | None = None,
    rng: RngLike = None,
) -> xr.Dataset:
    """Pooled structure functions with spatial moving-block bootstrap replicates.

    Square tiles of ``block`` px are taken every ``stride`` px in ``y`` and ``x`` (moving
    blocks; the last tile of each row/column is flush with the field's edge). For each tile
    the sums of ``|X(p + l) - X(p)|**q`` over the pairs lying *inside* the tile (no pair
    crosses a tile border) and their counts are computed in one call of the package's
    structure-function kernel for every tile (:func:`scalelaws.kernels.sf.pooled_tile_sums`,
    the kernel behind :func:`scalelaws.stats.structure.structure_function`). A bootstrap replicate draws, with
    replacement, as many tiles as fit without overlap in the field
    (``(ny // block) * (nx // block)``) and forms ``S_q(l) = sum(sums) / sum(counts)``.
    Tiles without any valid pair are never drawn. NaN pixels are handled by the counts.

    Parameters
    ----------
    da
        2-D field ``(y, x)``; NaN = missing. Plain arrays get a pixel size of 1.
    q
        Moment orders (> 0).
    lags
        Lags in pixels (positive integers). Default: powers of two up to a sixth of the
        field's smaller side.
    n_boot
        Number of bootstrap replicates (0: no replicate).
    block
        Tile side in pixels; default ``2 * max(lags)``. Must exceed ``max(lags)``.
    stride
        Spacing of the moving tiles; default ``max(1, block // 2)``.
    rng
        Generator or seed.

    Returns
    -------
    xarray.Dataset
        ``S(q, lag)`` from the whole field, ``count(lag)``, ``S_boot(boot, q, lag)``
        (replicates), coordinates ``q``, ``lag`` (px), ``lag_m`` (m); attrs ``block_px``,
        ``stride_px``, ``n_tiles_per_replicate``, ``n_candidate_tiles``, ``n_boot``.

    Raises
    ------
    scalelaws.errors.ScaleRangeError
        The block does not exceed the largest lag, or fewer than 4 tiles fit in the field.

    """
    da = _as_field(da)
    ny, nx = da.shape
    ps = _pixel_size(da)
    qs = [float(v) for v in np.atleast_1d(np.asarray(q, dtype=float))]
    if not qs or any(not (v > 0) for v in qs):
        raise InputError(f"moment orders must be positive, got {q!r}")
    if lags is None:
        top = int(min(ny, nx) * MAX_SCALE_FRACTION)
        if top < 1:
            raise ScaleRangeError(f"field {ny}x{nx} px is too small for structure functions",
                                  da.attrs.get("source"))
        lags_arr = log_lags(top, 1)  # dyadic: 1, 2, 4, ... <= top
    else:
        lags_arr = np.unique(np.asarray(lags, dtype=int))
    if lags_arr.size == 0 or lags_arr[0] < 1:
        raise InputError(f"lags must be positive integers, got {lags!r}")
    lmax = int(lags_arr[-1])
    B = int(block) if block is not None else 2 * lmax
    if B <= lmax:
        raise ScaleRangeError(f"block of {B} px must exceed the largest lag ({lmax} px)",
                              da.attrs.get("source"))
    k = (ny // B) * (nx // B)
    if k < 4:
        raise ScaleRangeError(
            f"field {ny}x{nx} px holds only {k} tile(s) of {B} px (largest lag {lmax} px); "
            "the block bootstrap needs at least 4: use smaller scales or a smaller block",
            da.attrs.get("source"),
        )
    s = int(stride) if stride is not None else max(1, B // 2)
    if s < 1:
        raise InputError(f"stride must be a positive integer, got {stride!r}")
    n_boot = int(n_boot)
    if n_boot < 0:
        raise InputError(f"n_boot must be >= 0, got {n_boot}")

    S, cnt, S_boot, tiles = _boot_core(da, qs, lags_arr, B, s, k, n_boot, _rng(rng))
    lag_m = lags_arr * ps
    coords = {
        "q": ("q", np.asarray(qs), {"long_name": "moment order", "units": "1"}),
        "lag": ("lag", lags_arr, {"long_name": "lag", "units": "px"}),
        "lag_m": ("lag", lag_m, {"long_name": "lag", "units": "m"}),
    }
    units = da.attrs.get("units", "1")
    ds = xr.Dataset(
        {
            "S": (("q", "lag"), S, {"long_name": "structure function <|dX|^q>",
                                     "units": f"({units})^q"}),
            "count": ("lag", cnt.astype(np.int64), {"long_name": "number of pairs",
                                                     "units": "1"}),
            "S_boot": (("boot", "q", "lag"), S_boot,
                       {"long_name": "structure function, block-bootstrap replicates",
                        "units": f"({units})^q"}),
        },
        coords=coords,
        attrs={
            "block_px": B,
            "stride_px": s,
            "n_tiles_per_replicate": k,
            "n_candidate_tiles": len(tiles),
            "n_boot": n_boot,
            "pixel_size_m": ps,
        },
    )
    return ds


# --------------------------------------------------------------------------------------------
# fit_scaling
# --------------------------------------------------------------------------------------------


def _fit_lags(lo_px: float, hi_px: float, per_octave: int = 4) -> np.ndarray:
    """Integer lags in ``[lo_px, hi_px]``: log-spaced (``per_octave``) plus every power of 2."""
    lo = int(math.ceil(lo_px - 1e-9))
    hi = int(math.floor(hi_px + 1e-9))
    if hi < lo:
        return np.array([], dtype=int)
    n = max(int(round(per_octave * math.log2(max(hi, 1) / max(lo, 1)))) + 1, 2)
    geo = np.unique(np.round(np.geomspace(lo, hi, n)).astype(int))
    dyad = log_lags(max(hi, 1), 1)
    dyad = dyad[(dyad >= lo) & (dyad <= hi)]
    return np.unique(np.concatenate([geo, dyad]))


def _log_leaders(values: np.ndarray, n_oct: int, gamma: float,
                 wavelet: str = "db3") -> list[np.ndarray]:
    """Natural log of the wavelet leaders of octaves ``1..n_oct`` (NaN where invalid or 0).

    The same transform, masks, normalisation (``2**((gamma - 1) j)``) and leaders as
    :func:`scalelaws.stats.wavelets.wavelet_cascade` (its private helpers are reused), so the
    per-octave means and variances of these arrays are its ``C1(j)``, ``C2(j)``.
    """
    from scalelaws.kernels.leaders import leaders_numba
    from scalelaws.stats.wavelets import _dwt_octaves

    coefs, invs = _dwt_octaves(np.asarray(values, dtype=np.float64), wavelet, n_oct)
    factors = [2.0 ** ((gamma - 1.0) * j) for j in range(1, n_oct + 1)]
    out = []
    for lead in leaders_numba(coefs, invs, factors, None):
        with np.errstate(divide="ignore", invalid="ignore"):
            out.append(np.where(lead > 0, np.log(lead), np.nan))
    return out


def _block_sums(a: np.ndarray, y0: np.ndarray, x0: np.ndarray, b: int) -> np.ndarray:
    """Sum ``a`` over the ``b x b`` windows with corners ``(y0[i], x0[i])`` (integral image)."""
    ii = np.zeros((a.shape[0] + 1, a.shape[1] + 1))
    ii[1:, 1:] = a.cumsum(axis=0).cumsum(axis=1)
    y1, x1 = y0 + b, x0 + b
    return ii[y1, x1] - ii[y0, x1] - ii[y1, x0] + ii[y0, x0]


def _leader_block_bootstrap(
    logL: list[np.ndarray],
    j1: int,
    j2: int,
    gamma: float,
    n_boot: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Joint-octave spatial block bootstrap of log-leaders (Wendt, Abry & Jaffard 2007).

    Square blocks of ``b = 2**(j2 + 1)`` px (``2**j2`` when the field holds fewer than two
    such blocks), with corners every ``b / 2`` px on the grid of octave ``j2``, are mapped to
    every octave ``j`` of the fit as the ``b / 2**j``-leader squares covering the same
    pixels (exact: corners and sides are multiples of ``2**j2``). A replicate draws ``K``
    blocks with replacement (the same blocks at every octave, so the dependence between
    octaves is kept), with ``K`` such that it holds as many leaders of octave ``j1`` as the
    field; ``C1(j)``, ``C2(j)`` (mean, unbiased variance) of the pooled log-leaders and the
    ``n(j)``-weighted slopes are recomputed. Blocks without a valid leader are never drawn.

    Returns the replicates of ``c1`` (``gamma`` removed) and ``c2``, the block side (px) and
    ``K``; empty replicates when fewer than two blocks hold valid leaders.
    """
    js = list(range(j1, j2 + 1))
    step = 2**j2
    ny2, nx2 = logL[j2 - 1].shape
    H_px, W_px = ny2 * step, nx2 * step  # pixels covered by the coarsest grid
    for b in (2 * step, step):
        if (H_px // b) * (W_px // b) >= 2:
            break
    stride = max(b // 2, step)
    ys = np.arange(0, H_px - b + 1, stride)
    xs = np.arange(0, W_px - b + 1, stride)
    Y0, X0 = (g.ravel() for g in np.meshgrid(ys, xs, indexing="ij"))
    nj = len(js)
    n = np.zeros((Y0.size, nj))
    s1 = np.zeros((Y0.size, nj))
    s2 = np.zeros((Y0.size, nj))
    mu = np.zeros(nj)
    n_field = np.zeros(nj)
    for i, j in enumerate(js):
        lj = logL[j - 1]
        ok = np.isfinite(lj)
        n_field[i] = ok.sum()
        mu[i] = lj[ok].mean() if ok.any() else 0.0
        d = np.where(ok, lj - mu[i], 0.0)  # centred: no cancellation in the pooled variance
        bj = b // 2**j
        n[:, i] = _block_sums(ok.astype(float), Y0 // 2**j, X0 // 2**j, bj)
        s1[:, i] = _block_sums(d, Y0 // 2**j, X0 // 2**j, bj)
        s2[:, i] = _block_sums(d * d, Y0 // 2**j, X0 // 2**j, bj)
    keep = n.sum(axis=1) > 0
    n, s1, s2 = n[keep], s1[keep], s2[keep]
    if n.shape[0] < 2:
        return np.empty(0), np.empty(0), b, 0
    K = max(2, int(round(n_field[0] / max(n[:, 0].mean(), 1e-12))))
    idx = rng.integers(0, n.shape[0], size=(n_boot, K))
    N, S1, S2 = n[idx].sum(axis=1), s1[idx].sum(axis=1), s2[idx].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        C1 = mu + S1 / N
        C2 = (S2 - S1**2 / N) / (N - 1)
    w = np.where(N >= 3, N, 0.0)
    xj = np.asarray(js, dtype=float) * math.log(2.0)
    return wls_slope(xj, C1, w)[0] - gamma, wls_slope(xj, C2, w)[0], b, K


def _wls_c12(logL: list[np.ndarray], j1: int, j2: int, gamma: float) -> tuple[float, float]:
    """Whole-field ``c1``, ``c2`` from log-leaders, as :func:`fit_log_cumulants` computes them."""
    js = np.arange(j1, j2 + 1)
    C1, C2, n = np.full(js.size, np.nan), np.full(js.size, np.nan), np.zeros(js.size)
    for i, j in enumerate(js):
        v = logL[j - 1][np.isfinite(logL[j - 1])]
        n[i] = v.size
        if v.size >= 3:
            C1[i], C2[i] = v.mean(), v.var(ddof=1)
    w = np.where(n >= 3, n, 0.0)
    xj = js * math.log(2.0)
    return float(wls_slope(xj, C1, w)[0]) - gamma, float(wls_slope(xj, C2, w)[0])


_WAV_CALIB_CACHE: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

#: First octave of the ``c1``, ``c2`` fit of :func:`fit_scaling` when the field allows two
#: octaves with :data:`WAVELET_MIN_COUNT` leaders from it (else the scale range's own start).
#: Octaves 1-2 of a sampled rough field are far from scaling (aliasing: on exact fBm with
#: H = 0.1 the local slope of ``C1(j)`` is -0.69, -0.30, -0.02, 0.07, 0.10 from j = 1->2 to
#: 5->6), which is what the fBm bias correction then has to remove.
WAVELET_J1 = 3
#: Wavelet of the ``c1``, ``c2`` leaders of :func:`fit_scaling`. Daubechies 2 (2 vanishing
#: moments: coefficients scale for H < 2; planes are removed) has the shortest support, so
#: each octave keeps more valid leaders and they overlap less: on exact fBm 1024^2, j = 3..6,
#: gamma = 1, the spread of ``c1`` is 0.0064 (H = 0.1) and 0.0086 (H = 0.7) against 0.0096 and
#: 0.0133 with ``db3`` (6 fields each; the bias is removed by the fBm calibration either way).
LEADER_WAVELET = "db2"
#: Smallest number of valid leaders of an octave that enters the ``c1``, ``c2`` fit (when the
#: field allows two such octaves; else 3).
WAVELET_MIN_COUNT = 64
#: Fractional integration of the leaders in :func:`fit_scaling` when the fit starts at this
#: octave or above (``gamma = 1``; else ``gamma = 0``, see :func:`_wavelet_part`).
GAMMA_MIN_J1 = 3


def _wavelet_calibration(
    mask: np.ndarray, H: float, j1: int, j2: int, gamma: float, n_calib: int,
    bootstrap: bool = True, wavelet: str = "db3",
) -> tuple[np.ndarray, np.ndarray]:
    """Calibrate the leader estimator and its block bootstrap on exact fBm.

    ``n_calib`` exact fBm fields (``H`` rounded to 0.02) of the data's shape and NaN mask go
    through the same leaders, octaves ``j1..j2``, ``gamma`` and (``bootstrap``) block
    bootstrap (100 replicates each). Returns

    * the ratio of the Monte-Carlo standard deviation of ``(c1, c2)`` to the
      root-mean-square bootstrap one, clipped below at 1 (ones without ``bootstrap``);
    * the bias ``(mean c1 - H, mean c2)`` of the estimator on fBm (``c1 = H``, ``c2 = 0``
      exactly): the finite-size bias of a sampled rough field (aliasing makes the first
      octaves rougher than ``H``; the variance of the log-leaders changes with the number of
      coefficients a leader spans). Removed from the estimate *and* its interval.

    Deterministic (seeded from the configuration) and cached.
    """
    from scalelaws.synthetic import fbm

    Hr = float(np.clip(round(H / 0.02) * 0.02, 0.02, 0.98)) if np.isfinite(H) else 0.5
    crc = zlib.crc32(np.packbits(mask).tobytes())
    key = (mask.shape, crc, Hr, j1, j2, gamma, n_calib, bool(bootstrap), wavelet)
    if key in _WAV_CALIB_CACHE:
        return _WAV_CALIB_CACHE[key]
    g = np.random.default_rng([int(round(Hr * 1000)), j1, j2, int(gamma * 10), *mask.shape,
                               crc, 7])
    est, sd_boot = [], []
    for _ in range(n_calib):
        F = fbm(mask.shape, Hr, rng=g)
        F[mask] = np.nan
        logL = _log_leaders(F, j2, gamma, wavelet)
        est.append(_wls_c12(logL, j1, j2, gamma))
        if bootstrap:
            c1b, c2b, _, _ = _leader_block_bootstrap(logL, j1, j2, gamma, 100, g)
            if c1b.size:
                sd_boot.append([np.nanstd(c1b, ddof=1), np.nanstd(c2b, ddof=1)])
    est_a = np.array(est)
    fac = np.ones(2)
    bias = np.zeros(2)
    if np.isfinite(est_a).all(axis=1).sum() >= 2:
        bias = np.nanmean(est_a, axis=0) - np.array([Hr, 0.0])
        if len(sd_boot) >= 2:
            sd_mc = np.nanstd(est_a, axis=0, ddof=1)
            rms = np.sqrt(np.nanmean(np.array(sd_boot) ** 2, axis=0))
            with np.errstate(divide="ignore", invalid="ignore"):
                fac = np.maximum(np.nan_to_num(sd_mc / rms, nan=1.0), 1.0)
    log.info("fBm calibration of the leaders at H=%.2f (%d fields, j=%d..%d, gamma=%g): "
             "bias c1 %+.4f, c2 %+.4f; bootstrap inflation c1 %.2f, c2 %.2f", Hr, n_calib, j1,
             j2, gamma, bias[0], bias[1], fac[0], fac[1])
    _WAV_CALIB_CACHE[key] = (fac, bias)
    return fac, bias


def _wavelet_octaves(n: np.ndarray, js: np.ndarray, lo_px: float, hi_px: float
                     ) -> tuple[int, int]:
    """Fit octaves ``j1..j2`` of the ``c1``, ``c2`` estimate from the leader counts ``n(j)``.

    Preferred: octaves in the scale range, from :data:`WAVELET_J1`, with at least
    :data:`WAVELET_MIN_COUNT` leaders. Small fields that do not offer two such octaves fall
    back to the scale range and octaves with at least 3 leaders (64^2 patches: j = 1..3).
    """
    j1_sr = int(math.ceil(math.log2(lo_px) - 1e-9))
    j2_sr = int(math.floor(math.log2(hi_px) + 1e-9))
    j_ok = js[n >= WAVELET_MIN_COUNT]
    if j_ok.size:
        j1, j2 = max(j1_sr, WAVELET_J1), min(j2_sr, int(j_ok.max()))
        if j2 - j1 >= 1:
            return j1, j2
    j_av = js[n >= 3]
    j1 = max(int(j_av.min()), j1_sr)
    j2 = min(int(j_av.max()), j2_sr)
    if j2 - j1 < 1:  # widen to two octaves within what the field offers
        j1 = max(int(j_av.min()), min(j1, int(j_av.max()) - 1))
        j2 = j1 + 1
    return j1, j2


def _wavelet_part(
    da: xr.DataArray,
    ps: float,
    lo_m: float,
    hi_m: float,
    n_boot: int,
    level: float,
    rng: np.random.Generator,
    H: float = np.nan,
    calibrate: bool = True,
    n_calib: int = 20,
    leader_wavelet: str = LEADER_WAVELET,
    backend: FieldBackend | None = None,
) -> dict[str, Any]:
    """c1, c2 from wavelet leaders, bias-corrected on fBm, with a joint-octave block bootstrap.

    Octaves (:func:`_wavelet_octaves`): from octave :data:`WAVELET_J1` (= 3) to the largest
    octave in the scale range with :data:`WAVELET_MIN_COUNT` valid leaders; small fields
    (64 x 64 MODIS patches) fall back to the scale range's octaves with 3 leaders.
    Fractional integration ``gamma = 1`` when the fit starts at octave
    :data:`GAMMA_MIN_J1` or above, else 0: leaders of a field with ``H + gamma`` well below 1
    are dominated by the finer octaves inside them, which biases ``c1`` (fBm H = 0.1, 1024^2,
    j = 3..6: +0.06 with gamma = 0) and ``c2`` (-0.005); with gamma = 1 the remaining bias is
    the sampled field's own (fBm H = 0.1: c1 -0.08, c2 +0.01; H >= 0.3: |c1| <= 0.011,
    |c2| <= 0.003; 4 fields each). On small fields starting at octave 1 or 2, ``gamma = 1``
    makes it worse (fBm 64^2, H = 0.3, j = 1..3: c1 = 0.31 with gamma = 0, -0.16 with
    gamma = 1). ``c1`` is reported for the field itself (``gamma`` removed).

    Bias correction (``calibrate``): the mean ``c1 - H`` and ``c2`` of the same estimator
    on ``n_calib`` exact fBm fields with the data's shape, mask and ``H`` (the
    structure-function ``H``) are subtracted from the estimates **and** from their
    intervals (:func:`_wavelet_calibration`; raw values in ``c1_raw``, ``c2_raw``).

    Intervals: the leaders of the whole field are resampled in spatial blocks jointly across
    octaves (:func:`_leader_block_bootstrap`); the replicates' percentile interval is
    re-centred on the (corrected) estimate and its deviations widened by the fBm spread
    ratio. See :func:`fit_scaling` for the measured coverage.
    """
    be = backend if backend is not None else FieldBackend()
    out: dict[str, Any] = {"c1": np.nan, "c2": np.nan, "c1_ci": np.full(2, np.nan),
                           "c2_ci": np.full(2, np.nan), "j1": -1, "j2": -1,
                           "gamma": np.nan, "block": -1, "n_blocks": 0,
                           "inflation": np.ones(2), "bias": np.zeros(2),
                           "c1_raw": np.nan, "c2_raw": np.nan, "wavelet": leader_wavelet}
    # the counts n(j) do not depend on gamma: the first cascade (gamma = 1, the usual case)
    # only chooses the octaves, and is recomputed when the fit must start below octave 3
    js, n = be.leader_counts(da, leader_wavelet)
    if (n >= 3).sum() < 2:
        log.warning("wavelet leaders: fewer than two octaves with valid leaders; c1, c2 = NaN")
        return out
    j1, j2 = _wavelet_octaves(n, js, lo_m / ps, hi_m / ps)
    gamma = 1.0 if j1 >= GAMMA_MIN_J1 else 0.0
    out["gamma"] = gamma
    raw = np.asarray(be.raw_c12(da, j1, j2, gamma, leader_wavelet), dtype=float)
    out.update(c1_raw=raw[0], c2_raw=raw[1], j1=j1, j2=j2)
    boot = n_boot >= 2
    c1b = c2b = np.empty(0)
    if boot:
        logL = be.log_leaders(da, j2, gamma, leader_wavelet)
        c1b, c2b, b, K = _leader_block_bootstrap(logL, j1, j2, gamma, n_boot, rng)
        out.update(block=b, n_blocks=K)
    else:
        log.info("c1, c2 intervals not computed: n_boot=%d", n_boot)
    fac, bias = np.ones(2), np.zeros(2)
    if calibrate and n_calib >= 2:
        fac, bias = be.wavelet_calibration(da, H, j1, j2, gamma, n_calib,
                                           bootstrap=boot and c1b.size > 0,
                                           wavelet=leader_wavelet)
        out.update(inflation=fac, bias=bias)
    est = raw - bias
    out.update(c1=est[0], c2=est[1])
    if not boot:
        return out
    for i, (name, cb) in enumerate((("c1", c1b), ("c2", c2b))):
        if np.isfinite(cb).sum() >= 2:
            out[f"{name}_ci"] = est[i] + fac[i] * (percentile_interval(cb, level) - np.nanmedian(cb))
        else:
            log.warning("%s interval not computed: fewer than two blocks of %d px hold valid "
                        "leaders at octaves j=%d..%d", name, out["block"], j1, j2)
    return out



def leader_log_cumulants(
    da: xr.DataArray | np.ndarray,
    *,
    scale_range: tuple[float, float] | None = None,
    n_boot: int = 200,
    level: float = 0.95,
    rng: RngLike = None,
    H: float = np.nan,
    calibrate: bool = True,
    n_calib: int = 20,
    leader_wavelet: str = LEADER_WAVELET,
) -> dict[str, Any]:
    """``c1``, ``c2`` of a field (NaN = missing or outside a landscape) with intervals.

    The wavelet-leader part of :func:`fit_scaling` on its own (same octaves, ``gamma``, fBm
    bias correction and calibrated joint-octave block bootstrap, see there); used per
    landscape by :func:`scalelaws.landscapes.exponents_by_landscape`. Leaders whose support
    touches a NaN pixel are dropped, so a field masked to one class uses only leaders inside
    the class.

    Parameters
    ----------
    da
        2-D field.
    scale_range
        ``(min_m, max_m)``; default :func:`choose_scale_range`.
    n_boot, level, rng
        Block-bootstrap replicates, coverage, generator or seed.
    H
        Hurst exponent of the fBm bias calibration (e.g. the structure-function ``H``);
        NaN: 0.5.
    calibrate, n_calib
        Bias-correct and widen on ``n_calib`` fBm fields of the same shape and mask.
    leader_wavelet
        Orthogonal wavelet of the leaders (default :data:`LEADER_WAVELET`).

    Returns
    -------
    dict
        ``c1``, ``c2`` (corrected), ``c1_ci``, ``c2_ci``, ``c1_raw``, ``c2_raw``, ``bias``
        (removed from both), ``inflation``, ``j1``, ``j2``, ``gamma``, ``block``,
        ``n_blocks``; NaN estimates when fewer than two octaves hold valid leaders.

    """
    _check_level(level)
    da = _as_field(da)
    ps = _pixel_size(da)
    if scale_range is None:
        lo_m, hi_m = choose_scale_range(ps, da.shape)
    else:
        lo_m, hi_m = (float(v) for v in scale_range)
    return _wavelet_part(da, ps, lo_m, hi_m, int(n_boot), level, _rng(rng), H=H,
                         calibrate=calibrate, n_calib=n_calib, leader_wavelet=leader_wavelet)



_CALIB_CACHE: dict[tuple, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

#: Replicates per calibration field of the ``zeta`` calibration (its bootstrap spread).
ZETA_CALIB_BOOT = 200


def _lrd_inflation(
    mask: np.ndarray,
    H: float,
    qs: Sequence[float],
    lags: np.ndarray,
    B: int,
    stride: int,
    k: int,
    n_calib: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Calibrate the ``zeta(q)`` intervals on fBm: studentised spread, bias, bootstrap scale.

    ``n_calib`` exact fBm fields (:func:`scalelaws.synthetic.fbm_pair`) of the same shape and
    NaN mask, with ``H`` rounded to 0.02, are analysed exactly as the data (same lags,
    tiles, :data:`ZETA_CALIB_BOOT` block-bootstrap replicates). With ``s`` a field's
    bootstrap standard deviation of ``zeta(q)`` and ``s_ref`` the geometric mean of ``s``
    over the calibration fields, the spread is measured in units of the shrunk scale
    ``sqrt(s * s_ref)`` (see :func:`fit_scaling`): returns

    * ``t_sd``: the standard deviation over the fields of ``(zeta - q H) / sqrt(s s_ref)``
      (at least 1),
    * ``bias``: the Monte-Carlo mean of ``zeta(q)`` minus ``q H`` (the log of a noisy
      structure function is biased low, more at large lags),
    * ``s_ref``.

    Deterministic (seeded from the configuration) and cached.
    """
    from scalelaws.synthetic import fbm_pair

    Hr = float(np.clip(round(H / 0.02) * 0.02, 0.02, 0.98))
    key = (mask.shape, zlib.crc32(np.packbits(mask).tobytes()), Hr, tuple(qs),
           tuple(int(v) for v in lags), B, stride, k, n_calib)
    if key in _CALIB_CACHE:
        return _CALIB_CACHE[key]
    g = np.random.default_rng([int(round(Hr * 1000)), B, stride, k, *mask.shape, key[1]])
    x = np.log(lags.astype(float))
    ny, nx = mask.shape
    ok = ~mask
    ys, xs = _tile_starts(ny, B, stride), _tile_starts(nx, B, stride)
    has = np.array([ok[y0:y0 + B, x0:x0 + B].any() for y0 in ys for x0 in xs])
    nt = int(has.sum())
    chunk = max(1, min(n_calib, int(4e6 // (ny * nx))))
    z_full, sd_boot = [], []
    done = 0
    while done < n_calib:
        m = min(chunk, n_calib - done)
        F = np.stack([f for _ in range((m + 1) // 2) for f in fbm_pair(mask.shape, Hr, rng=g)][:m])
        F[:, mask] = np.nan
        sums, cnt = _sf(F, qs, lags)
        for i in range(m):
            T_s, T_c = _tile_sf(F[i], qs, lags, B, ys, xs)
            T_s, T_c = T_s[has], T_c[has]
            idx = g.integers(0, nt, size=(ZETA_CALIB_BOOT, k))
            with np.errstate(divide="ignore", invalid="ignore"):
                z_full.append(ols_slope(x, np.log(sums[i] / cnt[i]), propagate_nan=True)[0])
                Sb = T_s[idx].sum(axis=1) / T_c[idx].sum(axis=1)[:, None, :]
                zb = ols_slope(x, np.log(Sb), propagate_nan=True)[0]
            sd_boot.append(np.nanstd(zb, axis=0, ddof=1))
        done += m
    zf = np.array(z_full)
    sb = np.array(sd_boot)
    err = zf - Hr * np.asarray(qs, dtype=float)  # zeta(q) = q H exactly for fBm
    with np.errstate(divide="ignore", invalid="ignore"):
        s_ref = np.exp(np.nanmean(np.log(sb), axis=0))
        t = err / np.sqrt(sb * s_ref)
        t_sd = np.std(t, axis=0, ddof=1) if n_calib >= 2 else np.full(len(qs), np.nan)
    t_sd = np.maximum(np.nan_to_num(t_sd, nan=1.0), 1.0)
    bias = np.mean(err, axis=0)
    log.info("fBm calibration of zeta at H=%.2f (%d fields): studentised spread %s, bias %s",
             Hr, n_calib, np.array2string(t_sd, precision=2),
             np.array2string(bias, precision=3))
    _CALIB_CACHE[key] = (t_sd, bias, s_ref)
    return t_sd, bias, s_ref


class FieldBackend:
    """Field-wide computations of :func:`fit_scaling`, for a field held in memory.

    :func:`fit_scaling` asks its backend for everything that touches every pixel (the
    structure-function sums and bootstrap tiles, the log-leaders, the fBm calibrations and
    the spectrum) and does the rest (lags, fits, intervals) itself, so that a backend that
    reads a raster block by block (:class:`scalelaws.stats.chunked.ChunkedBackend`) gives
    the same exponents without the field in memory.
    """

    def field(self, da: Any) -> xr.DataArray:
        """Validate the field (a float ``(y, x)`` DataArray with a valid pixel)."""
        return _as_field(da)

    def boot_core(self, da: xr.DataArray, qs: Sequence[float], lags: np.ndarray, B: int,
                  stride: int, k: int, n_boot: int, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[int, int]]]:
        """Whole-field ``S``, counts, bootstrap replicates and tile corners (:func:`_boot_core`)."""
        return _boot_core(da, qs, lags, B, stride, k, n_boot, rng)

    def lrd_inflation(self, da: xr.DataArray, H: float, qs: Sequence[float], lags: np.ndarray,
                      B: int, stride: int, k: int, n_calib: int
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Calibrate the ``zeta`` intervals on fBm (:func:`_lrd_inflation`)."""
        return _lrd_inflation(~np.isfinite(da.values), H, qs, lags, B, stride, k, n_calib)

    def leader_counts(self, da: xr.DataArray, wavelet: str) -> tuple[np.ndarray, np.ndarray]:
        """Octaves ``j`` and numbers of valid leaders ``n(j)`` (independent of ``gamma``)."""
        from scalelaws.stats.wavelets import wavelet_cascade

        wc = wavelet_cascade(da, wavelet=wavelet, j1=1, min_count=3, gamma=1.0)
        self._cascade = (id(da), wavelet, wc)  # reused by raw_c12 when gamma = 1
        return wc["j"].values, wc["n"].values

    def raw_c12(self, da: xr.DataArray, j1: int, j2: int, gamma: float,
                wavelet: str) -> tuple[float, float]:
        """Uncorrected ``c1``, ``c2`` over octaves ``j1..j2``."""
        from scalelaws.stats.wavelets import fit_log_cumulants, wavelet_cascade

        cached = getattr(self, "_cascade", None)
        if gamma == 1.0 and cached is not None and cached[:2] == (id(da), wavelet):
            wc = cached[2]
        else:
            wc = wavelet_cascade(da, wavelet=wavelet, j1=j1, j2=j2, gamma=gamma)
        fit = fit_log_cumulants(wc, j1, j2)
        return float(fit["c1"]), float(fit["c2"])

    def log_leaders(self, da: xr.DataArray, j2: int, gamma: float,
                    wavelet: str) -> list[np.ndarray | None]:
        """Log-leaders of octaves ``1..j2`` (:func:`_log_leaders`)."""
        return _log_leaders(da.values, j2, gamma, wavelet)

    def wavelet_calibration(self, da: xr.DataArray, H: float, j1: int, j2: int, gamma: float,
                            n_calib: int, *, bootstrap: bool, wavelet: str
                            ) -> tuple[np.ndarray, np.ndarray]:
        """Calibrate ``c1``, ``c2`` on fBm (:func:`_wavelet_calibration`)."""
        return _wavelet_calibration(~np.isfinite(da.values), H, j1, j2, gamma, n_calib,
                                    bootstrap=bootstrap, wavelet=wavelet)

    def spectrum(self, da: xr.DataArray) -> xr.Dataset:
        """Power spectrum and ``beta`` (:func:`scalelaws.stats.spectra.power_spectrum`)."""
        from scalelaws.stats.spectra import power_spectrum

        return power_spectrum(da)


def fit_scaling(
    da: xr.DataArray | np.ndarray,
    q: Sequence[float] = (1, 2, 3, 4),
    *,
    scale_range: tuple[float, float] | None = None,
    n_boot: int = 200,
    block: int | None = None,
    detect_break: bool = True,
    rng: RngLike = None,
    wavelet: bool = True,
    spectrum: bool = True,
    level: float = 0.95,
    calibrate: bool = True,
    n_calib: int = 20,
    leader_wavelet: str = LEADER_WAVELET,
    backend: FieldBackend | None = None,
    n_calib_zeta: int | None = None,
) -> xr.Dataset:
    """Scaling exponents of a field with spatial block-bootstrap intervals.

    ``zeta(q)`` is the OLS slope of ``log S_q(l)`` on ``log l`` over integer lags in the scale
    range (log-spaced, 4 per octave, plus every power of two). Its interval comes from the
    slopes refitted on spatial moving-block bootstrap replicates of the structure functions
    (tiles of ``block`` px every ``block // 2`` px, pair sums inside tiles, see
    :func:`bootstrap_structure_function`): without ``calibrate``, the replicates' percentile
    interval re-centred on the estimate (``zeta + (q_alpha - median)``); with ``calibrate``
    (default), the studentised fBm-calibrated interval described below. ``H = zeta(2) / 2``.
    The break of ``S_2`` is fitted with :func:`fit_break` on the same lags and refitted (same
    break grid) on every replicate for its interval and those of the slopes below/above.

    Why a calibration: increments of a field with ``H > 1/2`` are long-range dependent (the
    covariance of squared increments decays as ``r**(4H - 4)``, not summable in 2-D), so
    tiles treated as independent miss the covariance between them and the plain block
    bootstrap is too narrow (measured on exact fBm 128^2, default range and block: spread
    underestimated by a factor 1.1 at H = 0.3, 1.4 at H = 0.5, 2.1 at H = 0.8; coverage of
    nominal 95 % intervals 85 %, 82 %, 60 %). No resampling inside one field can see
    dependence beyond the field, so the interval is calibrated on a model:
    ``n_calib_zeta`` exact fBm fields with the estimated ``H`` (rounded to 0.02), the same
    shape, NaN mask, lags and tiles are analysed identically (:func:`_lrd_inflation`).
    With ``s`` the field's bootstrap standard deviation of ``zeta(q)`` and ``s_ref`` the
    geometric mean of that standard deviation over the fBm fields, the errors of the fBm
    fields are studentised by the shrunk scale ``sqrt(s * s_ref)``: their standard
    deviation ``t_sd`` (at least 1) and their mean error ``bias`` give

    ``zeta = zeta_raw - bias``, interval ``zeta +- z_level * t_sd * sqrt(s * s_ref)``.

    The bias is removed from the estimate and its interval alike (variables ``zeta_raw``,
    ``boot_bias``); ``boot_inflation = t_sd * sqrt(s_ref / s)`` is the factor applied to
    the field's bootstrap standard deviation (and to the deviations of the break slopes).
    Studentising by the field's own spread keeps the interval honest on fields more
    variable than fBm (a multifractal cascade); shrinking that spread half-way (on the log
    scale) towards its fBm expectation halves its noise (a bootstrap standard deviation from
    one field varies by about 22 % from field to field and is uncorrelated with the error
    on fBm), which keeps the half-width near 2 Monte-Carlo standard deviations (1.6-2.4 on
    the models of ``test_interval_coverage_95``). The previous interval (percentile
    deviations times the ratio of the fBm Monte-Carlo to bootstrap spread, 20 fields)
    covered 78 % (40 fields) to 90 % (300 fields) on fBm H = 0.4, 256^2: the ratio from 20
    fields varied from 1.0 to 1.44 between neighbouring ``H``, and a ratio of spreads
    ignores the noise of the field's own bootstrap spread.
    The calibration is exact for Gaussian fBm and an approximation otherwise; set
    ``calibrate=False`` for the plain block bootstrap.

    Parameters
    ----------
    da
        2-D field ``(y, x)`` (NaN = missing); pixel size from
        :func:`scalelaws.grids.pixel_size`.
    q
        Moment orders; ``2`` is always added (for ``H`` and the break).
    scale_range
        ``(min_m, max_m)`` in metres; default :func:`choose_scale_range`.
    n_boot
        Bootstrap replicates (>= 20 for an interval; 200 is a reasonable minimum for 95 %).
    block
        Tile side in px; default twice the largest lag.
    detect_break
        Fit the two-segment model to ``S_2`` (needs at least 6 lags).
    rng
        Generator or seed (bootstrap draws).
    wavelet
        Estimate ``c1``, ``c2`` with wavelet leaders (see Notes).
    spectrum
        Estimate ``beta`` with :func:`scalelaws.stats.spectra.power_spectrum`.
    level
        Confidence level of all intervals.
    calibrate
        Calibrate the intervals of ``zeta``, ``H``, ``H_below``, ``H_above``, ``c1``, ``c2``
        on fBm (long-range dependence), and remove the fBm bias of ``zeta``, ``H``, ``c1``,
        ``c2`` from the estimates and their intervals alike (costs ``n_calib_zeta`` plus
        ``n_calib`` fBm fields; cached per shape, mask and ``H``; see above and Notes).
    n_calib
        Number of fBm fields of the ``c1``, ``c2`` calibration.
    leader_wavelet
        Orthogonal wavelet of the ``c1``, ``c2`` leaders (default :data:`LEADER_WAVELET`).
    n_calib_zeta
        Number of fBm fields of the ``zeta`` calibration (default ``5 * n_calib``: the
        calibrated spread has a relative error of about ``0.7 / sqrt(n_calib_zeta)``, 7 % with
        100 fields; 20 fields gave up to 25 %).
    backend
        Where the field-wide sums, leaders, calibrations and spectrum come from: default
        :class:`FieldBackend` (the field in memory);
        :class:`scalelaws.stats.chunked.ChunkedBackend` reads a raster larger than memory
        block by block (same sums; see docs/big_rasters.md).

    Returns
    -------
    xarray.Dataset
        Variables ``zeta(q)``, ``zeta_ci(q, bound)``, ``zeta_se_ols(q)`` (log-log OLS
        standard error, for comparison), ``zeta_se_boot(q)``, ``H``, ``H_ci(bound)``, ``c1``,
        ``c1_ci(bound)``, ``c2``, ``c2_ci(bound)``, ``beta``, ``beta_se``, ``break_m``,
        ``break_ci(bound)``, ``H_below``, ``H_below_ci(bound)``, ``H_above``,
        ``H_above_ci(bound)``, ``break_significant`` (F test, BIC and a bootstrap interval of
        ``H_above - H_below`` excluding 0 must all agree), ``boot_inflation(q)``,
        ``boot_bias(q)``, ``zeta_raw(q)`` (before the bias correction), the structure
        functions used ``S(q, lag)``, ``S_boot(boot, q, lag)`` (so :func:`local_slopes` can
        use them), and attrs ``scale_range_m``, ``n_boot``, ``block_px``, ``method``,
        ``level``, ``n_calib_zeta``.

    Raises
    ------
    scalelaws.errors.ScaleRangeError
        Field too small for the scale range (fewer than 3 lags, fewer than 4 tiles).
    scalelaws.errors.AllNaNError
        Every pixel is missing.

    Notes
    -----
    The log-log OLS standard error (``zeta_se_ols``) assumes independent points and is
    30-50 times smaller than the real spread on fBm; it is kept for comparison only. The
    break interval is not calibrated (plain block bootstrap).

    ``c1``, ``c2`` (wavelet leaders, :func:`_wavelet_part`): leaders of
    :data:`LEADER_WAVELET` with ``gamma = 1`` over octaves 3 to the largest octave of the
    scale range with :data:`WAVELET_MIN_COUNT` leaders (small fields fall back to octaves
    1-2 and ``gamma = 0``). With ``calibrate`` the fBm bias of the estimator (attrs
    ``wavelet_c1_bias``, ``wavelet_c2_bias``; the raw values in ``wavelet_c1_raw``,
    ``wavelet_c2_raw``) is removed from the estimates **and** from their intervals, and the
    interval deviations are widened by the fBm spread ratio (``wavelet_boot_inflation``).
    Intervals: the leaders of the whole field are resampled in square blocks of
    ``2**(j2 + 1)`` px (attrs ``wavelet_block_px``, ``wavelet_blocks_per_replicate``), the same
    blocks at every fit octave (Wendt, Abry & Jaffard 2007).

    Measured on exact fBm 1024 x 1024 (6 fields per H, ``n_calib`` 20, ``db3`` leaders, the
    previous default wavelet of this code; see docs/estimators.md): mean ``c1 - H`` = -0.015,
    -0.005, -0.007, -0.008 and mean ``c2`` = -0.001, -0.001, -0.001, -0.002 for H = 0.1,
    0.3, 0.5, 0.7; largest single-field ``|c1 - H|`` 0.030-0.035 and ``|c2|`` 0.006. The
    ``db2`` default lowers the single-field spread of ``c1`` from 0.010-0.013 to
    0.006-0.009 (wavelet-cascade level, 6 fields); end to end with ``db2`` (3 fields,
    ``n_calib`` 8): ``c1 - H`` from -0.011 to -0.008 (H = 0.1) and -0.003 to +0.009
    (H = 0.7), ``|c2|`` <= 0.0032. Multifractal cascade (c2 = -0.04, c1 = 0.52), 512^2, 4
    fields: mean ``c2`` -0.046 (``db3``: -0.064), mean ``c1`` 0.485. Before this correction (octaves from 1,
    ``gamma = 0``) ``c1`` was 0.26, 0.32, 0.44, 0.60 for H = 0.1, 0.4, 0.55, 0.7 and ``c2``
    -0.011 to -0.022. Coverage of the nominal 95 % intervals (40 fields of 256^2 per model,
    n_boot 200, defaults, ``test_interval_coverage_95``; see docs/estimators.md for the
    table): fBm H = 0.4: ``zeta(1..3)``, ``H`` 88-93 %, ``c1``, ``c2`` 95 %; multifractal
    cascade (c2 = -0.04; ``zeta`` truth: the generator's finite-scale exponent over the
    fitted lags): ``zeta``, ``H`` 95-98 %, ``c1`` 83 %, ``c2`` 95 %; cropland landscape: ``H``
    93 %; mean half-widths 1.4-2.4 Monte-Carlo standard deviations. On 300 fields the
    ``zeta`` intervals cover 92-93 % (fBm) and 92-95 % (cascade). At 256^2 the ``c1``,
    ``c2`` fit has two octaves (sd of ``c1``
    0.08).

    """
    _check_level(level)
    be = backend if backend is not None else FieldBackend()
    da = be.field(da)
    ny, nx = da.shape
    ps = _pixel_size(da)
    if scale_range is None:
        lo_m, hi_m = choose_scale_range(ps, (ny, nx))
    else:
        lo_m, hi_m = (float(v) for v in scale_range)
        if not (0 < lo_m < hi_m):
            raise InputError(f"scale_range must be (min_m, max_m) with 0 < min < max, got "
                             f"{scale_range!r}")
    lags = _fit_lags(lo_m / ps, hi_m / ps)
    if lags.size < 3:
        raise ScaleRangeError(
            f"scale range {lo_m:g}-{hi_m:g} m holds {lags.size} integer lag(s) at "
            f"{ps:g} m pixels; at least 3 are needed", da.attrs.get("source")
        )
    if 2 * lags[-1] > min(ny, nx):
        raise ScaleRangeError(
            f"largest scale {lags[-1]} px exceeds half the field's smaller side "
            f"({min(ny, nx)} px)", da.attrs.get("source")
        )
    qs = sorted({float(v) for v in np.atleast_1d(np.asarray(q, dtype=float))} | {2.0})
    if any(not (v > 0) for v in qs):
        raise InputError(f"moment orders must be positive, got {q!r}")
    rng = _rng(rng)
    n_boot = int(n_boot)
    B = int(block) if block is not None else 2 * int(lags[-1])
    if B <= lags[-1]:
        raise ScaleRangeError(f"block of {B} px must exceed the largest lag ({lags[-1]} px)",
                              da.attrs.get("source"))
    k = (ny // B) * (nx // B)
    if n_boot and k < 4:
        raise ScaleRangeError(
            f"field {ny}x{nx} px holds only {k} tile(s) of {B} px (largest lag {lags[-1]} px); "
            "the block bootstrap needs at least 4: use smaller scales or a smaller block",
            da.attrs.get("source"),
        )
    stride = max(1, B // 2)
    S, cnt, Sb, tiles = be.boot_core(da, qs, lags, B, stride, k, n_boot, rng)
    # a lag without variability (S = 0: every increment zero, as in a field periodic with that
    # lag; or no valid pair) has no logarithm: it would drop every bootstrap replicate (no
    # interval at all), so it is left out of every fit, the point estimate's included
    flat = ~np.all(S > 0, axis=0)
    if flat.any():
        log.warning("lag(s) %s px: no variability (S = 0) or no valid pair; left out of the fits",
                    lags[flat].tolist())
        lags, S, cnt, Sb = lags[~flat], S[:, ~flat], cnt[~flat], Sb[:, :, ~flat]
        if lags.size < 3:
            raise ScaleRangeError(f"only {lags.size} lag(s) with variability are left",
                                  da.attrs.get("source"))
    lag_m = lags * ps
    x = np.log(lag_m)
    i2 = qs.index(2.0)

    zeta = np.empty(len(qs))
    se_ols = np.empty(len(qs))
    for i in range(len(qs)):
        fr = fit_loglog(lag_m, S[i])
        zeta[i], se_ols[i] = fr.slope, fr.slope_se
    with np.errstate(divide="ignore", invalid="ignore"):
        logSb = np.log(Sb)
    good = np.all(np.isfinite(logSb), axis=(1, 2))
    if n_boot and (~good).any():
        log.warning("%d of %d bootstrap replicates have an empty or zero lag; dropped",
                    int((~good).sum()), n_boot)
    logSb = logSb[good]
    zb = ols_slope(x, logSb, propagate_nan=True)[0]  # (nb, nq)
    nb = zb.shape[0]
    inflation = np.ones(len(qs))
    bias = np.zeros(len(qs))
    zeta_raw = zeta.copy()
    zeta_ci = np.full((len(qs), 2), np.nan)
    zeta_se_boot = np.full(len(qs), np.nan)
    n_cz = 5 * int(n_calib) if n_calib_zeta is None else int(n_calib_zeta)
    calibrated = bool(calibrate and nb >= 2 and n_calib >= 2 and n_cz >= 2)
    if nb >= 2:
        zeta_se_boot = np.std(zb, axis=0, ddof=1)
        if calibrated:
            t_sd, bias, s_ref = be.lrd_inflation(da, zeta_raw[i2] / 2, qs, lags, B, stride,
                                                 k, n_cz)
            # studentised fBm calibration: half-width z * t_sd * sqrt(s * s_ref), i.e. the
            # bootstrap deviations times t_sd * sqrt(s_ref / s)
            with np.errstate(divide="ignore", invalid="ignore"):
                inflation = np.where(zeta_se_boot > 0,
                                     t_sd * np.sqrt(s_ref / zeta_se_boot), t_sd)
            zeta = zeta_raw - bias
            half = sps.norm.ppf(0.5 + level / 2) * inflation * zeta_se_boot
            zeta_ci = np.stack([zeta - half, zeta + half], axis=-1)
        else:
            dev = percentile_interval(zb, level) - np.median(zb, axis=0)[:, None]
            zeta_ci = zeta[:, None] + dev
    elif n_boot:
        log.warning("too few valid bootstrap replicates for intervals")

    # break of S_2
    brk = dict(break_m=np.nan, break_ci=np.full(2, np.nan), H_below=np.nan,
               H_above=np.nan, H_below_ci=np.full(2, np.nan), H_above_ci=np.full(2, np.nan),
               significant=False, p=np.nan, dbic=np.nan)
    min_points = 3
    if detect_break and lags.size >= 2 * min_points:
        br = fit_break(lag_m, S[i2], min_points=min_points, level=level)
        brk.update(break_m=br.break_scale, H_below=br.slope_below / 2,
                   H_above=br.slope_above / 2, p=br.p_value, dbic=br.delta_bic,
                   break_ci=np.asarray(br.break_ci))
        if nb >= 2:
            grid = _break_grid(x, min_points, 100)
            rss, coef = _hinge_profile(x, logSb[:, i2, :].T, np.ones_like(x), grid)
            ib = np.argmin(rss, axis=0)
            cols = np.arange(nb)
            b1 = coef[ib, 1, cols]
            b2 = b1 + coef[ib, 2, cols]
            f2 = inflation[i2]
            brk["break_ci"] = np.exp(percentile_interval(grid[ib], level))
            brk["H_below_ci"] = brk["H_below"] + f2 * (percentile_interval(b1 / 2, level) - np.median(b1 / 2))
            brk["H_above_ci"] = brk["H_above"] + f2 * (percentile_interval(b2 / 2, level) - np.median(b2 / 2))
            d_ci = percentile_interval((b2 - b1) / 2, level) - np.median((b2 - b1) / 2)
            d_ci = (brk["H_above"] - brk["H_below"]) + f2 * d_ci
            brk["significant"] = bool(br.significant and (d_ci[0] > 0 or d_ci[1] < 0))
    elif detect_break:
        log.info("break detection skipped: %d lags in the range, %d needed",
                 lags.size, 2 * min_points)

    wv: dict[str, Any] = {"c1": np.nan, "c2": np.nan, "c1_ci": np.full(2, np.nan),
                          "c2_ci": np.full(2, np.nan), "j1": -1, "j2": -1, "gamma": np.nan,
                          "block": -1, "n_blocks": 0, "inflation": np.ones(2),
                          "bias": np.zeros(2), "c1_raw": np.nan, "c2_raw": np.nan}
    if wavelet:
        try:
            wv.update(_wavelet_part(da, ps, lo_m, hi_m, n_boot, level, rng,
                                    H=float(zeta[i2] / 2), calibrate=calibrate,
                                    n_calib=n_calib, leader_wavelet=leader_wavelet,
                                    backend=be))
        except InputError as exc:  # e.g. too few octaves with valid leaders
            log.warning("c1, c2 not estimated: %s", exc)
    beta = beta_se = np.nan
    if spectrum:
        try:
            ps_ds = be.spectrum(da)
            beta = float(ps_ds["beta"] if "beta" in ps_ds else ps_ds.attrs.get("beta", np.nan))
            beta_se = float(ps_ds["beta_se"] if "beta_se" in ps_ds
                            else ps_ds.attrs.get("beta_se", np.nan))
        except InputError as exc:  # e.g. too many missing pixels for a periodogram
            log.warning("beta not estimated: %s", exc)

    bound = ("bound", ["lower", "upper"])
    units = da.attrs.get("units", "1")
    attrs_ci = f"{100 * level:g} % block-bootstrap percentile interval"
    ds = xr.Dataset(
        {
            "zeta": ("q", zeta, {"long_name": "structure-function scaling exponent zeta(q)",
                                 "units": "1"}),
            "zeta_ci": (("q", "bound"), zeta_ci, {"long_name": f"zeta(q): {attrs_ci}",
                                                  "units": "1"}),
            "zeta_se_ols": ("q", se_ols, {"long_name": "zeta(q): log-log OLS standard error "
                                                       "(independent residuals; understates)",
                                          "units": "1"}),
            "boot_inflation": ("q", inflation, {"long_name": "long-range-dependence factor "
                                                              "applied to bootstrap deviations",
                                                 "units": "1"}),
            "zeta_raw": ("q", zeta_raw, {"long_name": "zeta(q) before the fBm bias "
                                                      "correction (OLS slope)",
                                         "units": "1"}),
            "boot_bias": ("q", bias, {"long_name": "fBm-calibrated bias of zeta(q), removed "
                                                   "from zeta and its interval alike",
                                      "units": "1"}),
            "zeta_se_boot": ("q", zeta_se_boot, {"long_name": "zeta(q): block-bootstrap "
                                                              "standard deviation",
                                                 "units": "1"}),
            "H": ((), zeta[i2] / 2, {"long_name": "Hurst exponent zeta(2)/2", "units": "1"}),
            "H_ci": ("bound", zeta_ci[i2] / 2, {"long_name": f"H: {attrs_ci}", "units": "1"}),
            "c1": ((), wv["c1"], {"long_name": "first log-cumulant of wavelet leaders",
                                  "units": "1"}),
            "c1_ci": ("bound", wv["c1_ci"], {"long_name": "c1 interval", "units": "1"}),
            "c2": ((), wv["c2"], {"long_name": "second log-cumulant of wavelet leaders "
                                               "(intermittency)", "units": "1"}),
            "c2_ci": ("bound", wv["c2_ci"], {"long_name": "c2 interval", "units": "1"}),
            "beta": ((), beta, {"long_name": "spectral slope: P(k) ~ k^-beta", "units": "1"}),
            "beta_se": ((), beta_se, {"long_name": "spectral slope standard error",
                                      "units": "1"}),
            "break_m": ((), brk["break_m"], {"long_name": "break scale of S_2", "units": "m"}),
            "break_ci": ("bound", brk["break_ci"], {"long_name": f"break scale: {attrs_ci}",
                                                    "units": "m"}),
            "H_below": ((), brk["H_below"], {"long_name": "zeta(2)/2 below the break",
                                             "units": "1"}),
            "H_below_ci": ("bound", brk["H_below_ci"], {"long_name": f"H_below: {attrs_ci}",
                                                        "units": "1"}),
            "H_above": ((), brk["H_above"], {"long_name": "zeta(2)/2 above the break",
                                             "units": "1"}),
            "H_above_ci": ("bound", brk["H_above_ci"], {"long_name": f"H_above: {attrs_ci}",
                                                        "units": "1"}),
            "break_significant": ((), bool(brk["significant"]),
                                  {"long_name": "two segments preferred (F test, BIC and "
                                                "bootstrap slope difference)",
                                   "units": "1", "p_value": brk["p"],
                                   "delta_bic": brk["dbic"]}),
            "S": (("q", "lag"), S, {"long_name": "structure function <|dX|^q>",
                                    "units": f"({units})^q"}),
            "S_boot": (("boot", "q", "lag"), Sb, {"long_name": "structure function, "
                                                               "block-bootstrap replicates",
                                                  "units": f"({units})^q"}),
        },
        coords={
            "q": ("q", np.asarray(qs), {"long_name": "moment order", "units": "1"}),
            "bound": bound,
            "lag": ("lag", lags, {"long_name": "lag", "units": "px"}),
            "lag_m": ("lag", lag_m, {"long_name": "lag", "units": "m"}),
        },
        attrs={
            "title": "scaling exponents with spatial block-bootstrap intervals",
            "Conventions": "CF-1.8",
            "history": f"{_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')} "
                       "scalelaws.fit.fit_scaling",
            "source": str(da.attrs.get("source", "")),
            "scale_range_m": np.array([lo_m, hi_m]),
            "n_boot": int(n_boot),
            "n_boot_valid": int(nb),
            "block_px": B,
            "stride_px": stride,
            "n_tiles_per_replicate": k,
            "n_candidate_tiles": len(tiles),
            "calibrated": int(calibrated),
            "n_calib_zeta": int(n_cz) if calibrated else 0,
            "level": float(level),
            "pixel_size_m": ps,
            "wavelet_octaves": np.array([wv["j1"], wv["j2"]]),
            "wavelet_gamma": float(wv["gamma"]),
            "wavelet_name": str(leader_wavelet),
            "wavelet_block_px": int(wv["block"]),
            "wavelet_blocks_per_replicate": int(wv["n_blocks"]),
            "wavelet_boot_inflation": np.asarray(wv["inflation"], dtype=float),
            "wavelet_c1_bias": float(wv["bias"][0]),
            "wavelet_c2_bias": float(wv["bias"][1]),
            "wavelet_c1_raw": float(wv["c1_raw"]),
            "wavelet_c2_raw": float(wv["c2_raw"]),
            "method": (
                "zeta(q): OLS slope of log S_q on log lag (lags log-spaced 4/octave plus powers "
                "of 2); intervals: percentile, spatial moving-block bootstrap of structure-"
                "function pair sums within tiles; break: continuous two-segment fit of log "
                "S_2, refitted per replicate; c1, c2: wavelet-leader log-cumulants, intervals "
                "from a joint-octave spatial block bootstrap of the leaders; beta: "
                "radially averaged power spectrum"
            ),
        },
    )
    return ds


# --------------------------------------------------------------------------------------------
# local slopes
# --------------------------------------------------------------------------------------------


def local_slopes(sf_ds: xr.Dataset, q: float = 2, *, level: float = 0.95) -> xr.Dataset:
    """Local scaling exponent per octave from a structure-function Dataset.

    For successive dyadic lags ``l, 2 l`` (starting at the smallest lag present and doubling
    while the lag is present) the local exponent is
    ``zeta_q(l) = log(S_q(2 l) / S_q(l)) / log 2``; ``H_local = zeta_q / q`` (the Hurst
    exponent for ``q = 2``). When ``sf_ds`` holds bootstrap replicates ``S_boot`` (from
    :func:`bootstrap_structure_function` or :func:`fit_scaling`) the percentile interval of
    each local exponent is returned; otherwise the interval is NaN.

    Parameters
    ----------
    sf_ds
        Dataset with ``S(q, lag)`` and coordinate ``lag_m`` (e.g. from
        :func:`scalelaws.stats.structure.structure_function`); extra dims are not allowed.
    q
        Moment order (must be in ``sf_ds.q``).
    level
        Confidence level.

    Returns
    -------
    xarray.Dataset
        Dims ``scale``: ``zeta_local``, ``H_local``, ``zeta_local_ci(scale, bound)``,
        ``H_local_ci(scale, bound)``; coordinates ``scale_m`` (geometric mean of the two lags,
        m), ``lag_lo``, ``lag_hi`` (px), ``lag_lo_m``, ``lag_hi_m``.

    Raises
    ------
    scalelaws.errors.InputError
        No ``S`` variable, ``q`` absent, or fewer than two dyadic lags.

    """
    _check_level(level)
    if "S" not in sf_ds:
        raise InputError("local_slopes needs a Dataset with a structure function 'S(q, lag)'")
    qv = np.asarray(sf_ds["q"].values, dtype=float)
    hit = np.flatnonzero(np.isclose(qv, float(q)))
    if hit.size == 0:
        raise InputError(f"q={q} not in the structure-function orders {qv.tolist()}")
    S = sf_ds["S"].isel(q=int(hit[0]))
    extra = [d for d in S.dims if d != "lag"]
    if extra:
        raise InputError(f"local_slopes expects S(q, lag) only; extra dims {extra}")
    lags = np.asarray(sf_ds["lag"].values, dtype=int)
    lag_m = (np.asarray(sf_ds["lag_m"].values, dtype=float) if "lag_m" in sf_ds.coords
             else lags.astype(float))
    pos = {int(v): i for i, v in enumerate(lags)}
    chain = []
    lv = int(lags.min())
    while lv in pos:
        chain.append(pos[lv])
        lv *= 2
    if len(chain) < 2:
        raise InputError(f"need at least two successive dyadic lags (l, 2l) from the smallest "
                         f"lag {int(lags.min())}; lags are {lags.tolist()}")
    lo_i, hi_i = np.array(chain[:-1]), np.array(chain[1:])
    Sv = np.asarray(S.values, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.log(Sv[hi_i] / Sv[lo_i]) / math.log(2.0)
    ci = np.full((z.size, 2), np.nan)
    if "S_boot" in sf_ds and sf_ds.sizes.get("boot", 0) >= 2:
        Sb = np.asarray(sf_ds["S_boot"].isel(q=int(hit[0])).transpose("boot", "lag").values,
                        dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            zb = np.log(Sb[:, hi_i] / Sb[:, lo_i]) / math.log(2.0)
        ci = percentile_interval(zb, level)
    qf = float(q)
    scale_m = np.sqrt(lag_m[lo_i] * lag_m[hi_i])
    return xr.Dataset(
        {
            "zeta_local": ("scale", z, {"long_name": f"local exponent of S_{qf:g}",
                                        "units": "1"}),
            "zeta_local_ci": (("scale", "bound"), ci,
                              {"long_name": f"local exponent: {100 * level:g} % block-"
                                            "bootstrap percentile interval", "units": "1"}),
            "H_local": ("scale", z / qf, {"long_name": f"local zeta_{qf:g} / {qf:g}",
                                          "units": "1"}),
            "H_local_ci": (("scale", "bound"), ci / qf,
                           {"long_name": "H_local interval", "units": "1"}),
        },
        coords={
            "scale_m": ("scale", scale_m, {"long_name": "geometric mean of the two lags",
                                           "units": "m"}),
            "lag_lo": ("scale", lags[lo_i], {"units": "px"}),
            "lag_hi": ("scale", lags[hi_i], {"units": "px"}),
            "lag_lo_m": ("scale", lag_m[lo_i], {"units": "m"}),
            "lag_hi_m": ("scale", lag_m[hi_i], {"units": "m"}),
            "bound": ("bound", ["lower", "upper"]),
        },
        attrs={"q": qf, "level": float(level), "Conventions": "CF-1.8",
               "title": "local scaling exponents per octave"},
    )
