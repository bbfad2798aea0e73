"""Realisations of a fine field that carry a target texture and keep the coarse block means.

A best estimate (the mean of an ensemble, a regression) is smoother than the field it estimates:
the detail it cannot place is averaged out. A *realisation* puts that detail back as a random
field: ``r = m + e`` where ``e``

* has zero mean over every ``factor x factor`` block, so ``r`` keeps the block means of ``m``
  (the 1 km consistency of a super-resolved field is untouched);
* is a stationary Gaussian field (white noise smoothed by a Gaussian of ``smooth_px`` fine pixels,
  block means removed, scaled by ``amplitude``) whose amplitude and smoothness are chosen so that
  the second-order structure function of ``r`` at the fine lags matches a target
  (:func:`fit_texture`): ``S2_r(l) = S2_m(l) + S2_e(l)`` for independent ``e``.

The target comes from a correction law anchored on the coarse pixel (``sr`` computes it with
:class:`sr.lawtargets.LawTargets`), times a calibration per lag fitted on training fields.
Realisations score by CRPS (an ensemble of them is a probabilistic forecast) and restore the
structure functions the mean loses; their RMSE is larger than the mean's by construction.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence

import numpy as np

from scalelaws.errors import InputError

__all__ = ["s2_xy", "detail_field", "fit_texture", "realisations", "SMOOTH_GRID_PX"]

log = logging.getLogger(__name__)

#: Smoothness values (fine pixels) searched by :func:`fit_texture`.
SMOOTH_GRID_PX = (0.0, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
_SIM_SIZE = 256


def s2_xy(field: np.ndarray, lags: Sequence[int]) -> np.ndarray:
    """Second-order structure function pooled over x and y (:func:`scalelaws.stats.structure.s2_xy`)."""
    from scalelaws.stats.structure import s2_xy as pooled

    return pooled(np.asarray(field, dtype=np.float64), None, lags)[0]


def detail_field(shape: tuple[int, int], factor: int, smooth_px: float,
                 rng: np.random.Generator) -> np.ndarray:
    """Simulate a unit-variance Gaussian detail field with zero mean over every ``factor`` block.

    White noise, smoothed by a Gaussian of ``smooth_px`` pixels (:func:`scalelaws.grids.gaussian_smooth`,
    computed on a padded field so that the edges are as rough as the interior), minus its block
    means (:func:`scalelaws.grids.degrade_array`), divided by its standard deviation.
    ``shape`` must be a multiple of ``factor``.
    """
    from scalelaws.grids import degrade_array, gaussian_smooth

    ny, nx = shape
    if ny % factor or nx % factor:
        raise InputError(f"shape {shape} is not a multiple of the factor {factor}")
    pad = int(np.ceil(4 * smooth_px))
    w = rng.standard_normal((ny + 2 * pad, nx + 2 * pad))
    if smooth_px > 0:
        w = gaussian_smooth(w, smooth_px)
    w = w[pad:pad + ny, pad:pad + nx]
    blocks = degrade_array(w, factor, method="mean")
    e = w - np.repeat(np.repeat(blocks, factor, axis=0), factor, axis=1)
    sd = float(e.std())
    return e / sd if sd > 0 else e


@functools.lru_cache(maxsize=64)
def _unit_s2(factor: int, smooth_px: float, lags: tuple[int, ...]) -> np.ndarray:
    """S2 of :func:`detail_field` at ``lags`` (simulated once on a 256 x 256 field, fixed seed)."""
    n = _SIM_SIZE - _SIM_SIZE % factor
    e = detail_field((n, n), factor, smooth_px, np.random.default_rng(20261129))
    return s2_xy(e, lags)


def fit_texture(deficit: Sequence[float], factor: int, lags: Sequence[int]) -> tuple[float, float]:
    """Amplitude (K) and smoothness (fine pixels) of the detail field that adds ``deficit`` to S2.

    For each smoothness of :data:`SMOOTH_GRID_PX` the amplitude is the least-squares fit in
    ``log S2`` over the lags with a positive deficit; the smoothness with the smallest residual
    wins. No positive deficit: amplitude 0 (the mean already carries the target texture).

    Parameters
    ----------
    deficit
        ``S2_target(l) - S2_mean(l)`` per lag (K^2); values <= 0 are ignored.
    factor
        Block size of the zero-mean constraint.
    lags
        Fine-pixel lags of ``deficit``.

    """
    d = np.asarray(deficit, dtype=np.float64)
    ok = np.isfinite(d) & (d > 0)
    if not ok.any():
        return 0.0, 0.0
    best = (np.inf, 0.0, 0.0)
    for s in SMOOTH_GRID_PX:
        u = _unit_s2(int(factor), float(s), tuple(int(v) for v in lags))
        r = np.log(d[ok]) - np.log(u[ok])
        a2 = float(np.exp(r.mean()))
        res = float(((r - r.mean()) ** 2).sum())
        if res < best[0] - 1e-12:
            best = (res, float(np.sqrt(a2)), float(s))
    return best[1], best[2]


def realisations(
    mean: np.ndarray,
    target_s2: Sequence[float],
    n: int,
    *,
    factor: int,
    lags: Sequence[int] = (1, 2),
    seed: int | None = 0,
) -> tuple[np.ndarray, dict[str, float]]:
    """``n`` realisations ``mean + detail`` that carry ``target_s2`` and keep the block means.

    Parameters
    ----------
    mean
        The best estimate ``(ny, nx)`` (K), NaN = missing (stays missing).
    target_s2
        Target second-order structure function at ``lags`` (K^2).
    n
        Number of realisations.
    factor
        Block size whose means are kept (the super-resolution factor).
    lags
        Fine-pixel lags of ``target_s2``.
    seed
        Seed of the detail fields (realisation ``k`` uses ``seed + k``).

    Returns
    -------
    (stack, info)
        ``(n, ny, nx)`` float32, and ``amplitude_K``, ``smooth_px``, ``s2_mean`` and
        ``s2_target`` per lag.

    """
    m = np.asarray(mean, dtype=np.float64)
    if n < 1:
        raise InputError(f"the number of realisations must be at least 1, got {n}")
    t = np.asarray(target_s2, dtype=np.float64)
    sm = s2_xy(m, lags)
    amp, smooth = fit_texture(t - sm, factor, lags)
    ny, nx = m.shape
    py, px = (-ny) % factor, (-nx) % factor
    out = np.empty((n, ny, nx), dtype=np.float32)
    for k in range(n):
        rng = np.random.default_rng(None if seed is None else int(seed) + k)
        e = detail_field((ny + py, nx + px), factor, smooth, rng)[:ny, :nx] if amp > 0 else 0.0
        out[k] = (m + amp * e).astype(np.float32)
    info = {"amplitude_K": amp, "smooth_px": smooth,
            **{f"s2_mean_{v}px": float(x) for v, x in zip(lags, sm, strict=True)},
            **{f"s2_target_{v}px": float(x) for v, x in zip(lags, t, strict=True)}}
    log.info("realisations: detail amplitude %.2f K, smoothness %.2f px", amp, smooth)
    return out, info
