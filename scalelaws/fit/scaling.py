"""Scaling exponents of a field with calibrated block-bootstrap intervals: :func:`fit_scaling`.

``zeta(q)``, ``H = zeta(2) / 2``, the break of ``S_2`` with ``H`` below and above it, ``c1``,
``c2`` (wavelet leaders, :mod:`scalelaws.fit.cumulants`) and ``beta`` (power spectrum). The
field-wide sums come from a :class:`scalelaws.fit.backend.FieldBackend`; :func:`fit_scaling`
runs the steps below in order and assembles the Dataset.

``_scale_range_lags``, ``_moment_orders``, ``_tiling``
    Checked scale range and its integer lags (:func:`_fit_lags`), moment orders, tiles.
``_drop_flat_lags``
    Lags without variability are left out of every fit.
``_zeta_fits``, ``_zeta_intervals``
    OLS ``zeta(q)``, replicate slopes, and the fBm-calibrated (or plain) intervals.
``_break_of_s2``
    :func:`scalelaws.fit.breaks.fit_break` on ``S_2``, refitted on every replicate.
``_leader_part``, ``_spectral_slope``
    ``c1``, ``c2`` and ``beta`` (NaN when they cannot be estimated).
``_scaling_variables``, ``_scaling_attrs``
    The CF Dataset.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr
from scipy import stats as sps

from scalelaws.core.estimate import ols_slope, percentile_interval
from scalelaws.core.scales import log_lags
from scalelaws.errors import InputError, ScaleRangeError
from scalelaws.fit.backend import FieldBackend
from scalelaws.fit.breaks import _break_grid, _hinge_profile, fit_break
from scalelaws.fit.cumulants import LEADER_WAVELET, _wavelet_part
from scalelaws.fit.inputs import RngLike, _check_level, _pixel_size, _rng
from scalelaws.fit.ols import choose_scale_range, fit_loglog

log = logging.getLogger(__name__)


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
    :func:`scalelaws.fit.bootstrap_structure_function`): without ``calibrate``, the replicates'
    percentile interval re-centred on the estimate (``zeta + (q_alpha - median)``); with
    ``calibrate`` (default), the studentised fBm-calibrated interval described below.
    ``H = zeta(2) / 2``. The break of ``S_2`` is fitted with :func:`scalelaws.fit.fit_break` on
    the same lags and refitted (same break grid) on every replicate for its interval and those
    of the slopes below/above.

    Why a calibration: increments of a field with ``H > 1/2`` are long-range dependent (the
    covariance of squared increments decays as ``r**(4H - 4)``, not summable in 2-D), so
    tiles treated as independent miss the covariance between them and the plain block
    bootstrap is too narrow (measured on exact fBm 128^2, default range and block: spread
    underestimated by a factor 1.1 at H = 0.3, 1.4 at H = 0.5, 2.1 at H = 0.8; coverage of
    nominal 95 % intervals 85 %, 82 %, 60 %). No resampling inside one field can see
    dependence beyond the field, so the interval is calibrated on a model:
    ``n_calib_zeta`` exact fBm fields with the estimated ``H`` (rounded to 0.02), the same
    shape, NaN mask, lags and tiles are analysed identically
    (:func:`scalelaws.fit.calibration._lrd_inflation`). With ``s`` the field's bootstrap
    standard deviation of ``zeta(q)`` and ``s_ref`` the geometric mean of that standard
    deviation over the fBm fields, the errors of the fBm fields are studentised by the shrunk
    scale ``sqrt(s * s_ref)``: their standard deviation ``t_sd`` (at least 1) and their mean
    error ``bias`` give

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
        ``(min_m, max_m)`` in metres; default :func:`scalelaws.fit.choose_scale_range`.
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
        ``2 * n_calib`` fBm fields; cached per shape, mask and ``H``; see above and Notes).
    n_calib
        Circulant embeddings of the ``c1``, ``c2`` calibration: each gives two independent
        fBm fields (:func:`scalelaws.synthetic.fbm_pair`), so ``2 * n_calib`` fields.
    leader_wavelet
        Orthogonal wavelet of the ``c1``, ``c2`` leaders (default
        :data:`scalelaws.fit.LEADER_WAVELET`).
    n_calib_zeta
        Number of fBm fields of the ``zeta`` calibration (default ``5 * n_calib``: the
        calibrated spread has a relative error of about ``0.7 / sqrt(n_calib_zeta)``, 7 % with
        100 fields; 20 fields gave up to 25 %).
    backend
        Where the field-wide sums, leaders, calibrations and spectrum come from: default
        :class:`scalelaws.fit.FieldBackend` (the field in memory);
        :class:`scalelaws.stats.chunked.ChunkedBackend` reads a raster larger than memory
        block by block (same sums; see docs/big_rasters.md).

    Returns
    -------
    xarray.Dataset
        Variables ``zeta(q)``, ``zeta_ci(q, bound)``, ``zeta_se_ols(q)`` (log-log OLS standard
        error, for comparison), ``zeta_se_boot(q)``, ``H``, ``H_ci(bound)``, ``c1``,
        ``c1_ci(bound)``, ``c2``, ``c2_ci(bound)``, ``beta``, ``beta_se``, ``break_m``,
        ``break_ci(bound)``, ``H_below``, ``H_below_ci(bound)``, ``H_above``,
        ``H_above_ci(bound)``, ``break_significant`` (F test, BIC and a bootstrap interval of
        ``H_above - H_below`` excluding 0 must all agree), ``boot_inflation(q)``,
        ``boot_bias(q)``, ``zeta_raw(q)`` (before the bias correction), the structure functions
        used ``S(q, lag)``, ``S_boot(boot, q, lag)`` (so :func:`scalelaws.fit.local_slopes` can
        use them), and attrs ``scale_range_m``, ``n_boot``, ``block_px``, ``method``, ``level``,
        ``n_calib_zeta``.

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

    ``c1``, ``c2`` (wavelet leaders, :func:`scalelaws.fit.cumulants._wavelet_part`): leaders of
    :data:`scalelaws.fit.LEADER_WAVELET` with ``gamma = 1`` over octaves 3 to the largest octave
    of the scale range with :data:`scalelaws.fit.WAVELET_MIN_COUNT` leaders (small fields fall
    back to octaves 1-2 and ``gamma = 0``). With ``calibrate`` the fBm bias of the estimator
    (attrs ``wavelet_c1_bias``, ``wavelet_c2_bias``; the raw values in ``wavelet_c1_raw``,
    ``wavelet_c2_raw``) is removed from the estimates **and** from their intervals.
    Intervals: the leaders of the whole field are resampled in square blocks of ``2**(j2 + 1)``
    px (attrs ``wavelet_block_px``, ``wavelet_blocks_per_replicate``), the same blocks at every
    fit octave (Wendt, Abry & Jaffard 2007), whole block rows and block columns at a time
    (pigeonhole: straight structures crossing the field stay in the replicates); with ``s`` the replicates' standard deviation
    (attr ``wavelet_boot_sd``) the interval is ``c +- z_level * t_sd * s``, ``t_sd`` (attr
    ``wavelet_boot_inflation``, >= 1) the ratio of the Monte-Carlo to the root-mean-square
    bootstrap standard deviation over the same ``2 * n_calib`` fBm fields. The field's own ``s``
    carries its extra variability (a cascade, a parcel landscape) into the width; the
    previous interval (percentile deviations times the fBm ratio of Monte-Carlo to bootstrap
    spread from 20 fields, a ratio that varied from 1.0 to 2.4 between neighbouring ``H``)
    covered 78-83 % on the cascade and the cropland landscape. Without ``calibrate``: the
    replicates' percentile interval re-centred on the estimate.

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
    -0.011 to -0.022. Coverage of the nominal 95 % intervals (``test_interval_coverage_95``,
    fields of 256^2, n_boot 200, defaults; it asserts at least 33 of 40, the 0.1 % binomial
    floor of a true 95 %, and half-widths of at most 2.5 Monte-Carlo standard deviations; see
    docs/estimators.md for the tables). On 100 fields per model: fBm H = 0.4: ``zeta(1..3)``
    92, 93, 91 %, ``H`` 93 %, ``c1`` 95 %, ``c2`` 96 %; multifractal cascade (c2 = -0.04;
    truths: the generator's finite-scale ``zeta`` over the fitted lags and ``c1``, ``c2`` over
    the fitted octaves): ``zeta``, ``H`` 93-95 %, ``c1`` 94 %, ``c2`` 93 %; cropland landscape
    (``c1``, ``c2`` against their Monte-Carlo mean): ``H`` 96 %, ``c1`` 90 %, ``c2`` 94 %
    (``c1`` 83 % with blocks drawn one by one); mean half-widths 1.6-2.3 Monte-Carlo standard
    deviations. On 300 fBm fields in three streams the ``zeta(2)`` interval covers 92.7 %. At
    256^2 the ``c1``, ``c2`` fit has two octaves (sd of ``c1`` 0.08).

    """
    _check_level(level)
    be = backend if backend is not None else FieldBackend()
    da = be.field(da)
    ps = _pixel_size(da)
    lo_m, hi_m, lags = _scale_range_lags(da, ps, scale_range)
    qs = _moment_orders(q)
    rng = _rng(rng)
    n_boot = int(n_boot)
    tiling = _tiling(da, lags, block, n_boot)
    S, cnt, Sb, tiles = be.boot_core(da, qs, lags, tiling.block, tiling.stride, tiling.k,
                                     n_boot, rng)
    lags, S, cnt, Sb = _drop_flat_lags(lags, S, cnt, Sb, da.attrs.get("source"))
    lag_m = lags * ps
    x = np.log(lag_m)
    i2 = qs.index(2.0)

    zeta, se_ols, log_boot, zb = _zeta_fits(qs, lag_m, x, S, Sb, n_boot)
    zf = _zeta_intervals(be, da, qs, lags, tiling, zeta, se_ols, log_boot, zb, n_boot=n_boot,
                         level=level, calibrate=calibrate, n_calib=n_calib,
                         n_calib_zeta=n_calib_zeta)
    brk = _break_of_s2(lags, lag_m, x, S[i2], log_boot[:, i2, :], zf.inflation[i2],
                       detect_break=detect_break, level=level)
    wv = _leader_part(be, da, ps, lo_m, hi_m, n_boot, level, rng, H=float(zf.zeta[i2] / 2),
                      wavelet=wavelet, calibrate=calibrate, n_calib=n_calib,
                      leader_wavelet=leader_wavelet)
    beta, beta_se = _spectral_slope(be, da) if spectrum else (np.nan, np.nan)

    return xr.Dataset(
        _scaling_variables(zf, i2, wv, beta, beta_se, brk, S, Sb,
                           units=da.attrs.get("units", "1"), level=level),
        coords={
            "q": ("q", np.asarray(qs), {"long_name": "moment order", "units": "1"}),
            "bound": ("bound", ["lower", "upper"]),
            "lag": ("lag", lags, {"long_name": "lag", "units": "px"}),
            "lag_m": ("lag", lag_m, {"long_name": "lag", "units": "m"}),
        },
        attrs=_scaling_attrs(da, lo_m, hi_m, n_boot, tiling, len(tiles), zf, wv,
                             level=level, ps=ps, leader_wavelet=leader_wavelet),
    )


@dataclass(frozen=True)
class _Tiling:
    """Tiles of the structure-function block bootstrap (px): side, tiles per replicate, stride."""

    block: int
    k: int
    stride: int


@dataclass(frozen=True)
class _Zeta:
    """``zeta(q)`` of :func:`fit_scaling` with its intervals and fBm calibration."""

    zeta: np.ndarray
    zeta_raw: np.ndarray
    se_ols: np.ndarray
    ci: np.ndarray
    se_boot: np.ndarray
    inflation: np.ndarray
    bias: np.ndarray
    calibrated: bool
    n_cz: int
    nb: int


def _scale_range_lags(da: xr.DataArray, ps: float, scale_range: tuple[float, float] | None
                      ) -> tuple[float, float, np.ndarray]:
    """Scale range ``(lo_m, hi_m)`` and its integer lags (:func:`_fit_lags`).

    Default range: :func:`scalelaws.fit.choose_scale_range`; too few lags, or a largest lag
    beyond half the field, raise :class:`scalelaws.errors.ScaleRangeError`.
    """
    ny, nx = da.shape
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
    return lo_m, hi_m, lags


def _moment_orders(q: Sequence[float]) -> list[float]:
    """Sorted distinct positive moment orders, ``2`` always included."""
    qs = sorted({float(v) for v in np.atleast_1d(np.asarray(q, dtype=float))} | {2.0})
    if any(not (v > 0) for v in qs):
        raise InputError(f"moment orders must be positive, got {q!r}")
    return qs


def _tiling(da: xr.DataArray, lags: np.ndarray, block: int | None, n_boot: int) -> _Tiling:
    """Bootstrap tiles: side ``block`` (default twice the largest lag), stride half of it."""
    ny, nx = da.shape
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
    return _Tiling(block=B, k=k, stride=max(1, B // 2))


def _drop_flat_lags(lags: np.ndarray, S: np.ndarray, cnt: np.ndarray, Sb: np.ndarray,
                    source: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Leave out the lags without variability (``S = 0``) or without a valid pair.

    Such a lag (every increment zero, as in a field periodic with that lag) has no logarithm:
    it would drop every bootstrap replicate (no interval at all), so it is left out of every
    fit, the point estimate's included.
    """
    flat = ~np.all(S > 0, axis=0)
    if flat.any():
        log.warning("lag(s) %s px: no variability (S = 0) or no valid pair; left out of the fits",
                    lags[flat].tolist())
        lags, S, cnt, Sb = lags[~flat], S[:, ~flat], cnt[~flat], Sb[:, :, ~flat]
        if lags.size < 3:
            raise ScaleRangeError(f"only {lags.size} lag(s) with variability are left", source)
    return lags, S, cnt, Sb


def _zeta_fits(qs: Sequence[float], lag_m: np.ndarray, x: np.ndarray, S: np.ndarray,
               Sb: np.ndarray, n_boot: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``zeta(q)`` and its OLS standard error; log ``S`` and slopes of the valid replicates.

    Replicates with an empty or zero lag are dropped (logged).
    """
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
    return zeta, se_ols, logSb, zb


def _zeta_intervals(
    be: FieldBackend, da: xr.DataArray, qs: Sequence[float], lags: np.ndarray,
    tiling: _Tiling, zeta: np.ndarray, se_ols: np.ndarray, log_boot: np.ndarray,
    zb: np.ndarray, *, n_boot: int, level: float, calibrate: bool, n_calib: int,
    n_calib_zeta: int | None,
) -> _Zeta:
    """Intervals of ``zeta(q)``: studentised fBm calibration, or the plain percentile one.

    See :func:`fit_scaling` for the calibration
    (:func:`scalelaws.fit.calibration._lrd_inflation`); without it, the replicates' percentile
    interval re-centred on the estimate.
    """
    i2 = list(qs).index(2.0)
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
            t_sd, bias, s_ref = be.lrd_inflation(da, zeta_raw[i2] / 2, qs, lags, tiling.block,
                                                 tiling.stride, tiling.k, n_cz)
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
    return _Zeta(zeta=zeta, zeta_raw=zeta_raw, se_ols=se_ols, ci=zeta_ci, se_boot=zeta_se_boot,
                 inflation=inflation, bias=bias, calibrated=calibrated, n_cz=n_cz, nb=nb)


def _break_of_s2(lags: np.ndarray, lag_m: np.ndarray, x: np.ndarray, S2: np.ndarray,
                 log_boot2: np.ndarray, f2: float, *, detect_break: bool, level: float
                 ) -> dict[str, Any]:
    """Break of ``S_2`` with bootstrap intervals of the break and the slopes.

    The break is fitted with :func:`scalelaws.fit.fit_break`; ``log_boot2`` holds ``log S_2`` of the valid replicates ``(nb, nlag)``; the break is
    refitted on each (same grid) and the slope deviations are widened by ``f2`` (the
    calibration factor of ``zeta(2)``). The break is significant when the F test, the BIC
    and the bootstrap interval of ``H_above - H_below`` (excluding 0) all agree.
    """
    brk = dict(break_m=np.nan, break_ci=np.full(2, np.nan), H_below=np.nan,
               H_above=np.nan, H_below_ci=np.full(2, np.nan), H_above_ci=np.full(2, np.nan),
               significant=False, p=np.nan, dbic=np.nan)
    min_points = 3
    nb = log_boot2.shape[0]
    if detect_break and lags.size >= 2 * min_points:
        br = fit_break(lag_m, S2, min_points=min_points, level=level)
        brk.update(break_m=br.break_scale, H_below=br.slope_below / 2,
                   H_above=br.slope_above / 2, p=br.p_value, dbic=br.delta_bic,
                   break_ci=np.asarray(br.break_ci))
        if nb >= 2:
            grid = _break_grid(x, min_points, 100)
            rss, coef = _hinge_profile(x, log_boot2.T, np.ones_like(x), grid)
            ib = np.argmin(rss, axis=0)
            cols = np.arange(nb)
            b1 = coef[ib, 1, cols]
            b2 = b1 + coef[ib, 2, cols]
            brk["break_ci"] = np.exp(percentile_interval(grid[ib], level))
            brk["H_below_ci"] = brk["H_below"] + f2 * (percentile_interval(b1 / 2, level) - np.median(b1 / 2))
            brk["H_above_ci"] = brk["H_above"] + f2 * (percentile_interval(b2 / 2, level) - np.median(b2 / 2))
            d_ci = percentile_interval((b2 - b1) / 2, level) - np.median((b2 - b1) / 2)
            d_ci = (brk["H_above"] - brk["H_below"]) + f2 * d_ci
            brk["significant"] = bool(br.significant and (d_ci[0] > 0 or d_ci[1] < 0))
    elif detect_break:
        log.info("break detection skipped: %d lags in the range, %d needed",
                 lags.size, 2 * min_points)
    return brk


def _leader_part(be: FieldBackend, da: xr.DataArray, ps: float, lo_m: float, hi_m: float,
                 n_boot: int, level: float, rng: np.random.Generator, *, H: float,
                 wavelet: bool, calibrate: bool, n_calib: int, leader_wavelet: str
                 ) -> dict[str, Any]:
    """``c1``, ``c2`` of :func:`scalelaws.fit.cumulants._wavelet_part`.

    NaN when ``wavelet`` is off or the leaders do not allow an estimate (logged).
    """
    wv: dict[str, Any] = {"c1": np.nan, "c2": np.nan, "c1_ci": np.full(2, np.nan),
                          "c2_ci": np.full(2, np.nan), "j1": -1, "j2": -1, "gamma": np.nan,
                          "block": -1, "n_blocks": 0, "inflation": np.ones(2),
                          "bias": np.zeros(2), "c1_raw": np.nan, "c2_raw": np.nan,
                          "boot_sd": np.full(2, np.nan)}
    if wavelet:
        try:
            wv.update(_wavelet_part(da, ps, lo_m, hi_m, n_boot, level, rng,
                                    H=H, calibrate=calibrate,
                                    n_calib=n_calib, leader_wavelet=leader_wavelet,
                                    backend=be))
        except InputError as exc:  # e.g. too few octaves with valid leaders
            log.warning("c1, c2 not estimated: %s", exc)
    return wv


def _spectral_slope(be: FieldBackend, da: xr.DataArray) -> tuple[float, float]:
    """``beta`` and its standard error from the backend's spectrum (NaN when it fails)."""
    beta = beta_se = np.nan
    try:
        ps_ds = be.spectrum(da)
        beta = float(ps_ds["beta"] if "beta" in ps_ds else ps_ds.attrs.get("beta", np.nan))
        beta_se = float(ps_ds["beta_se"] if "beta_se" in ps_ds
                        else ps_ds.attrs.get("beta_se", np.nan))
    except InputError as exc:  # e.g. too many missing pixels for a periodogram
        log.warning("beta not estimated: %s", exc)
    return beta, beta_se


def _scaling_variables(zf: _Zeta, i2: int, wv: dict[str, Any], beta: float, beta_se: float,
                       brk: dict[str, Any], S: np.ndarray, Sb: np.ndarray, *, units: str,
                       level: float) -> dict[str, tuple]:
    """Return the data variables of the :func:`fit_scaling` Dataset."""
    zeta, zeta_ci, se_ols, zeta_raw = zf.zeta, zf.ci, zf.se_ols, zf.zeta_raw
    inflation, bias, zeta_se_boot = zf.inflation, zf.bias, zf.se_boot
    attrs_ci = f"{100 * level:g} % block-bootstrap percentile interval"
    return {
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
    }


def _scaling_attrs(da: xr.DataArray, lo_m: float, hi_m: float, n_boot: int, tiling: _Tiling,
                   n_tiles: int, zf: _Zeta, wv: dict[str, Any], *, level: float, ps: float,
                   leader_wavelet: str) -> dict[str, Any]:
    """Return the global attributes of the :func:`fit_scaling` Dataset."""
    nb, calibrated, n_cz = zf.nb, zf.calibrated, zf.n_cz
    B, stride, k = tiling.block, tiling.stride, tiling.k
    return {
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
        "n_candidate_tiles": n_tiles,
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
        "wavelet_boot_sd": np.asarray(wv["boot_sd"], dtype=float),
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
    }
