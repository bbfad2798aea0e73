"""fBm calibrations of the intervals (and biases) of ``zeta(q)`` and of ``c1``, ``c2``.

No resampling inside one field sees the long-range dependence beyond it, so the bootstrap
intervals of :func:`scalelaws.fit.fit_scaling` are calibrated on exact fBm fields of the
data's shape and mask: :func:`_lrd_inflation` for ``zeta(q)`` (structure functions),
:func:`_wavelet_calibration` for ``c1``, ``c2`` (wavelet leaders). Both are deterministic
(seeded from the configuration) and cached per configuration.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Sequence

import numpy as np

from scalelaws.core.estimate import ols_slope
from scalelaws.fit.bootstrap import _sf, _tile_sf, _tile_starts
from scalelaws.fit.leaders import _leader_block_bootstrap, _log_leaders, _wls_c12

log = logging.getLogger(__name__)

_WAV_CALIB_CACHE: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}


def _wavelet_calibration(
    mask: np.ndarray, H: float, j1: int, j2: int, gamma: float, n_calib: int,
    bootstrap: bool = True, wavelet: str = "db3",
) -> tuple[np.ndarray, np.ndarray]:
    """Calibrate the leader estimator and its block bootstrap on exact fBm.

    ``2 * n_calib`` exact fBm fields (``n_calib`` circulant embeddings of
    :func:`scalelaws.synthetic.fbm_pair`, ``H`` rounded to 0.02) of the data's shape and NaN
    mask go through the same leaders, octaves ``j1..j2``, ``gamma`` and (``bootstrap``) block
    bootstrap (100 replicates each). Returns

    * the inflation ``t_sd``: the ratio of the Monte-Carlo standard deviation of ``(c1, c2)``
      over the fields to their root-mean-square bootstrap standard deviation, clipped below
      at 1 (ones without ``bootstrap``); the interval is ``c +- z * t_sd * s`` with the
      data's own bootstrap standard deviation ``s``
      (:func:`scalelaws.fit.cumulants._wavelet_part`). A ratio of spreads, not the spread of
      ``(c - c_true) / s``: on small fields (128^2, octaves 1-2) ``s`` of ``c2`` is sometimes
      near 0 and that studentised spread blows up (intervals 3.1-3.6 Monte-Carlo standard
      deviations wide);
    * the bias ``(mean c1 - H, mean c2)`` of the estimator on fBm (``c1 = H``, ``c2 = 0``
      exactly): the finite-size bias of a sampled rough field (aliasing makes the first
      octaves rougher than ``H``; the variance of the log-leaders changes with the number of
      coefficients a leader spans). Removed from the estimate *and* its interval.

    Deterministic (seeded from the configuration) and cached.
    """
    from scalelaws.synthetic import fbm_pair

    Hr = float(np.clip(round(H / 0.02) * 0.02, 0.02, 0.98)) if np.isfinite(H) else 0.5
    crc = zlib.crc32(np.packbits(mask).tobytes())
    key = (mask.shape, crc, Hr, j1, j2, gamma, n_calib, bool(bootstrap), wavelet)
    if key in _WAV_CALIB_CACHE:
        return _WAV_CALIB_CACHE[key]
    g = np.random.default_rng([int(round(Hr * 1000)), j1, j2, int(gamma * 10), *mask.shape,
                               crc, 7])
    est, sd_boot = [], []
    for _ in range(n_calib):
        for F in fbm_pair(mask.shape, Hr, rng=g):
            F[mask] = np.nan
            logL = _log_leaders(F, j2, gamma, wavelet)
            est.append(_wls_c12(logL, j1, j2, gamma))
            if bootstrap:
                c1b, c2b, _, _ = _leader_block_bootstrap(logL, j1, j2, gamma, 100, g)
                sd_boot.append([np.nanstd(c1b, ddof=1), np.nanstd(c2b, ddof=1)]
                               if c1b.size else [np.nan, np.nan])
    est_a = np.array(est)
    t_sd = np.ones(2)
    bias = np.zeros(2)
    if np.isfinite(est_a).all(axis=1).sum() >= 2:
        err = est_a - np.array([Hr, 0.0])
        bias = np.nanmean(err, axis=0)
        sd_b = np.array(sd_boot) if bootstrap else np.empty((0, 2))
        if (np.isfinite(sd_b).sum(axis=0) >= 2).all():
            rms = np.sqrt(np.nanmean(sd_b**2, axis=0))
            with np.errstate(divide="ignore", invalid="ignore"):
                t_sd = np.maximum(np.nan_to_num(np.nanstd(est_a, axis=0, ddof=1) / rms,
                                                nan=1.0), 1.0)
    log.info("fBm calibration of the leaders at H=%.2f (%d fields, j=%d..%d, gamma=%g): "
             "bias c1 %+.4f, c2 %+.4f; bootstrap inflation c1 %.2f, c2 %.2f", Hr, 2 * n_calib,
             j1, j2, gamma, bias[0], bias[1], t_sd[0], t_sd[1])
    _WAV_CALIB_CACHE[key] = (t_sd, bias)
    return t_sd, bias


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
    ``sqrt(s * s_ref)`` (see :func:`scalelaws.fit.fit_scaling`): returns

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
