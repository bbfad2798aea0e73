"""Straight-line fits in log-log coordinates and the default fitting range.

:func:`fit_loglog`
    Weighted least squares of ``log(values)`` on ``log(scales)`` (statsmodels); slope,
    intercept, standard errors and t intervals (independent residuals assumed: kept for
    comparison, see :func:`scalelaws.fit.fit_scaling` for honest intervals).
:func:`choose_scale_range`
    From the end of the sensor's first octave (2 px) to :data:`MAX_SCALE_FRACTION` of the
    field.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import statsmodels.api as sm

from scalelaws.errors import InputError, ScaleRangeError
from scalelaws.fit.inputs import _check_level

log = logging.getLogger(__name__)

#: Fraction of the field's smaller side used as the largest default fitting scale.
MAX_SCALE_FRACTION = 1.0 / 6.0


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
    sampling spread of an exponent; use :func:`scalelaws.fit.fit_scaling` (block bootstrap)
    for intervals.

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
