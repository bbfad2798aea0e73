"""Continuous two-segment (hinge) fit in log-log coordinates: :func:`fit_break`.

Grid search of the break then profile refinement, slopes below/above, a profile-likelihood
interval for the break, an F test and the BIC against a single power law (Muggeo 2003). The
hinge helpers are shared with the bootstrap of the break in :func:`scalelaws.fit.fit_scaling`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import statsmodels.api as sm
from scipy import optimize
from scipy import stats as sps

from scalelaws.errors import InputError, ScaleRangeError
from scalelaws.fit.inputs import _check_level
from scalelaws.fit.ols import FitResult, _clean_xy, fit_loglog


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
        The single power-law fit (:class:`scalelaws.fit.FitResult`).

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
    optimistic. :func:`scalelaws.fit.fit_scaling` reports a block-bootstrap interval of the
    break instead.

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
