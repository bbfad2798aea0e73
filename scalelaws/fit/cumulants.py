"""Wavelet-leader log-cumulants ``c1``, ``c2`` with fBm bias correction and intervals.

:func:`leader_log_cumulants` (the wavelet part of :func:`scalelaws.fit.fit_scaling` on its
own): octaves (:func:`_wavelet_octaves`), fractional integration, fBm bias correction and the
calibrated joint-octave block bootstrap (:func:`_wavelet_part`).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import xarray as xr
from scipy import stats as sps

from scalelaws.core.estimate import percentile_interval
from scalelaws.fit.backend import FieldBackend
from scalelaws.fit.inputs import RngLike, _as_field, _check_level, _pixel_size, _rng
from scalelaws.fit.leaders import _leader_block_bootstrap
from scalelaws.fit.ols import choose_scale_range

log = logging.getLogger(__name__)

#: First octave of the ``c1``, ``c2`` fit of :func:`scalelaws.fit.fit_scaling` when the field
#: allows two octaves with :data:`WAVELET_MIN_COUNT` leaders from it (else the scale range's own
#: start). Octaves 1-2 of a sampled rough field are far from scaling (aliasing: on exact fBm
#: with H = 0.1 the local slope of ``C1(j)`` is -0.69, -0.30, -0.02, 0.07, 0.10 from j = 1->2 to
#: 5->6), which is what the fBm bias correction then has to remove.
WAVELET_J1 = 3
#: Wavelet of the ``c1``, ``c2`` leaders of :func:`scalelaws.fit.fit_scaling`. Daubechies 2 (2
#: vanishing moments: coefficients scale for H < 2; planes are removed) has the shortest
#: support, so each octave keeps more valid leaders and they overlap less: on exact fBm 1024^2,
#: j = 3..6, gamma = 1, the spread of ``c1`` is 0.0064 (H = 0.1) and 0.0086 (H = 0.7) against
#: 0.0096 and 0.0133 with ``db3`` (6 fields each; the bias is removed by the fBm calibration
#: either way).
LEADER_WAVELET = "db2"
#: Smallest number of valid leaders of an octave that enters the ``c1``, ``c2`` fit (when the
#: field allows two such octaves; else 3).
WAVELET_MIN_COUNT = 64
#: Fractional integration of the leaders in :func:`scalelaws.fit.fit_scaling` when the fit
#: starts at this octave or above (``gamma = 1``; else ``gamma = 0``, see
#: :func:`_wavelet_part`).
GAMMA_MIN_J1 = 3


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

    Bias correction (``calibrate``): the mean ``c1 - H`` and ``c2`` of the same estimator on
    ``n_calib`` exact fBm fields with the data's shape, mask and ``H`` (the structure-function
    ``H``) are subtracted from the estimates **and** from their intervals
    (:func:`scalelaws.fit.calibration._wavelet_calibration`; raw values in ``c1_raw``,
    ``c2_raw``).

    Intervals: the leaders of the whole field are resampled in spatial blocks jointly across
    octaves (:func:`scalelaws.fit.leaders._leader_block_bootstrap`); with ``calibrate`` the
    interval is ``c +- z * t_sd * s`` (``s`` the replicates' standard deviation,
    ``boot_sd``; ``t_sd`` the fBm ratio of Monte-Carlo to bootstrap spread, ``inflation``),
    else the
    replicates' percentile interval re-centred on the estimate. See
    :func:`scalelaws.fit.fit_scaling` for the measured coverage.
    """
    be = backend if backend is not None else FieldBackend()
    out: dict[str, Any] = {"c1": np.nan, "c2": np.nan, "c1_ci": np.full(2, np.nan),
                           "c2_ci": np.full(2, np.nan), "j1": -1, "j2": -1,
                           "gamma": np.nan, "block": -1, "n_blocks": 0,
                           "inflation": np.ones(2), "bias": np.zeros(2),
                           "c1_raw": np.nan, "c2_raw": np.nan, "wavelet": leader_wavelet,
                           "boot_sd": np.full(2, np.nan)}
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
    calibrated = bool(calibrate and n_calib >= 2)
    if calibrated:
        fac, bias = be.wavelet_calibration(da, H, j1, j2, gamma, n_calib,
                                           bootstrap=boot and c1b.size > 0,
                                           wavelet=leader_wavelet)
        out.update(inflation=fac, bias=bias)
    est = raw - bias
    out.update(c1=est[0], c2=est[1])
    if not boot:
        return out
    z = sps.norm.ppf(0.5 + level / 2)
    for i, (name, cb) in enumerate((("c1", c1b), ("c2", c2b))):
        if np.isfinite(cb).sum() >= 2:
            sd = float(np.nanstd(cb, ddof=1))
            out["boot_sd"][i] = sd
            if calibrated:  # fBm-calibrated normal interval: est +- z * t_sd * s (own s)
                out[f"{name}_ci"] = est[i] + z * fac[i] * sd * np.array([-1.0, 1.0])
            else:
                out[f"{name}_ci"] = est[i] + percentile_interval(cb, level) - np.nanmedian(cb)
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

    The wavelet-leader part of :func:`scalelaws.fit.fit_scaling` on its own (same octaves,
    ``gamma``, fBm bias correction and calibrated joint-octave block bootstrap, see there); used
    per landscape by :func:`scalelaws.landscapes.exponents_by_landscape`. Leaders whose support
    touches a NaN pixel are dropped, so a field masked to one class uses only leaders inside the
    class.

    Parameters
    ----------
    da
        2-D field.
    scale_range
        ``(min_m, max_m)``; default :func:`scalelaws.fit.choose_scale_range`.
    n_boot, level, rng
        Block-bootstrap replicates, coverage, generator or seed.
    H
        Hurst exponent of the fBm bias calibration (e.g. the structure-function ``H``);
        NaN: 0.5.
    calibrate, n_calib
        Bias-correct and calibrate the width on ``2 * n_calib`` fBm fields (``n_calib`` circulant
        embeddings) of the same shape and mask.
    leader_wavelet
        Orthogonal wavelet of the leaders (default :data:`LEADER_WAVELET`).

    Returns
    -------
    dict
        ``c1``, ``c2`` (corrected), ``c1_ci``, ``c2_ci``, ``c1_raw``, ``c2_raw``, ``bias``
        (removed from both), ``inflation`` (the fBm spread ratio ``t_sd``), ``boot_sd``
        (the bootstrap standard deviations of ``c1``, ``c2``), ``j1``, ``j2``, ``gamma``, ``block``,
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
