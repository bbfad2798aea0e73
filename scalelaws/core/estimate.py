"""Estimation helpers: least-squares slopes, percentile intervals, pooled ratios of sums.

The single definitions behind the exponent fits (:mod:`scalelaws.fit`,
:mod:`scalelaws.landscapes`, :mod:`scalelaws.stats.wavelets`, :mod:`scalelaws.laws`) and the demo
pipeline (``analysis.pipeline``). Pure NumPy.
"""

from __future__ import annotations

import warnings

import numpy as np

from scalelaws.errors import InputError

__all__ = [
    "ci_bounds",
    "ols_slope",
    "percentile_interval",
    "pooled_ratio",
    "wls_slope",
]


def wls_slope(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least-squares slope and intercept of ``y`` on ``x`` along the last axis.

    Points where ``y`` is not finite get weight 0; fewer than two weighted points give NaN.

    Parameters
    ----------
    x
        Abscissae ``(..., n)`` (broadcast against ``y``).
    y
        Ordinates ``(..., n)``, NaN = missing.
    w
        Weights ``(..., n)`` (broadcast against ``y``), non-negative.

    Returns
    -------
    slope, intercept
        Arrays of shape ``y.shape[:-1]``.

    """
    w = np.where(np.isfinite(y), w, 0.0)
    y0 = np.where(np.isfinite(y), y, 0.0)
    sw = w.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        xm = (w * x).sum(axis=-1) / sw
        ym = (w * y0).sum(axis=-1) / sw
        dx = x - xm[..., None]
        sxx = (w * dx * dx).sum(axis=-1)
        sxy = (w * dx * (y0 - ym[..., None])).sum(axis=-1)
        slope = sxy / sxx
        npts = (w > 0).sum(axis=-1)
        slope = np.where(npts >= 2, slope, np.nan)
        return slope, np.where(npts >= 2, ym - slope * xm, np.nan)


def ols_slope(x: np.ndarray, y: np.ndarray, *, propagate_nan: bool = False
              ) -> tuple[np.ndarray, np.ndarray]:
    """Ordinary least-squares slope and intercept along the last axis (:func:`wls_slope`, w = 1).

    Parameters
    ----------
    x
        Abscissae ``(n,)`` or broadcastable to ``y``.
    y
        Ordinates ``(..., n)``.
    propagate_nan
        False (default): non-finite points are dropped. True: a row with any non-finite
        point gives NaN (the rule of the fits that need every scale of the range).

    Returns
    -------
    slope, intercept
        Arrays of shape ``y.shape[:-1]``.

    """
    y = np.asarray(y, dtype=np.float64)
    slope, icpt = wls_slope(np.asarray(x, dtype=np.float64), y, np.ones_like(y))
    if propagate_nan:
        bad = ~np.isfinite(y).all(axis=-1)
        slope, icpt = np.where(bad, np.nan, slope), np.where(bad, np.nan, icpt)
    return slope, icpt


def ci_bounds(level: float) -> tuple[float, float]:
    """Lower and upper probabilities of a central interval of coverage ``level`` in (0, 1)."""
    if not 0.0 < level < 1.0:
        raise InputError(f"ci must be in (0, 1), got {level}")
    return (1.0 - level) / 2.0, (1.0 + level) / 2.0


def percentile_interval(a: np.ndarray, level: float, *, axis: int = 0,
                        min_finite: int = 1) -> np.ndarray:
    """Central percentile interval of ``a`` along ``axis`` (NaN-aware), bounds on a last axis.

    Parameters
    ----------
    a
        Replicates (e.g. bootstrap) along ``axis``.
    level
        Coverage in (0, 1), e.g. 0.95.
    axis
        Replicate axis.
    min_finite
        Fewer finite replicates than this give NaN bounds (all-NaN slices are NaN anyway).

    Returns
    -------
    numpy.ndarray
        Shape of ``a`` without ``axis``, plus a last axis ``(lower, upper)``.

    """
    lo, hi = ci_bounds(level)
    a = np.asarray(a, dtype=np.float64)
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices stay NaN
        qq = np.nanquantile(a, [lo, hi], axis=axis)
    n = np.sum(np.isfinite(a), axis=axis)
    qq = np.where(n[None] >= max(int(min_finite), 1), qq, np.nan)
    return np.moveaxis(qq, 0, -1)


def pooled_ratio(sums: np.ndarray, counts: np.ndarray, min_pairs: float, *,
                 weights: np.ndarray | None = None) -> np.ndarray:
    """Pool additive per-unit sums into a mean: ``sum_u s_u / sum_u n_u``, NaN below ``min_pairs``.

    This is how structure functions ``S`` and detail energies ``D`` are formed from the
    per-tile / per-scene sums of :func:`scalelaws.landscapes.landscape_sums`, for the estimate
    and for every bootstrap replicate.

    Parameters
    ----------
    sums
        Per-unit sums, unit axis first: ``(U, ...)``.
    counts
        Per-unit counts (pairs, pixels or weights), unit axis first; when ``sums`` has one more
        axis than ``counts`` (the moment order ``q`` of ``S (U, L, Q, K)`` against
        ``n (U, L, K)``) the counts are broadcast over the second-to-last axis of ``sums``.
    min_pairs
        Pooled counts below this give NaN.
    weights
        Bootstrap weights ``(R, U)`` (:func:`scalelaws.landscapes.bootstrap_weights`): one
        pooled ratio per replicate, with a leading ``R`` axis. ``None``: the plain pooled ratio.

    Returns
    -------
    numpy.ndarray
        ``sums.shape[1:]`` (or ``(R,) + sums.shape[1:]``).

    """
    sums, counts = np.asarray(sums), np.asarray(counts)
    if weights is None:
        num, den = sums.sum(0), counts.sum(0)
    else:
        w = np.asarray(weights)
        num = np.einsum("ru,u...->r...", w, sums)
        den = np.einsum("ru,u...->r...", w, counts)
    if sums.ndim == counts.ndim + 1:
        den = den[..., None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den >= min_pairs, num / den, np.nan)
