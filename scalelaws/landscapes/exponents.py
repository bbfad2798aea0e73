"""Scaling exponents per landscape with bootstrap intervals (:func:`exponents_by_landscape`).

The exponents ``zeta(q)`` are OLS slopes of the pooled log-log structure function of
:func:`scalelaws.landscapes.landscape_sums`; the bootstrap resamples its units. Per landscape
also: wavelet-leader log-cumulants, the implied spectral slope and the break of ``S_2``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from scalelaws import cf
from scalelaws.core.estimate import ols_slope, percentile_interval, pooled_ratio
from scalelaws.errors import InputError, ScaleRangeError
from scalelaws.landscapes.classes import ALL, ClassesLike, class_masks
from scalelaws.landscapes.inputs import _as_scenes, _per_scene
from scalelaws.landscapes.sums import bootstrap_weights, landscape_sums

__all__ = ["exponents_by_landscape"]

log = logging.getLogger(__name__)


def _cf_dataset(ds: xr.Dataset, title: str, source: str) -> xr.Dataset:
    """Add the CF global attributes (``title``, ``Conventions``, ``source``, ``history``)."""
    from scalelaws import __version__

    ds.attrs.update(cf.dataset_attrs(title, source, f"scalelaws {__version__}"))
    return ds


def exponents_by_landscape(
    lst: xr.DataArray | Sequence[xr.DataArray],
    classes: ClassesLike | Sequence[ClassesLike] = None,
    *,
    q: Sequence[float] = (1, 2, 3, 4),
    scale_range: tuple[float, float] | None = None,
    n_boot: int = 100,
    lags: Sequence[int] | None = None,
    max_lag: int | None = None,
    block_px: int = 64,
    bootstrap: str = "auto",
    ci: float = 0.95,
    min_pairs: int = 100,
    include_all: bool = True,
    rng: np.random.Generator | int | None = None,
    wavelet: bool = True,
    detect_break: bool = True,
    calibrate: bool = True,
    n_calib: int = 20,
    scene_sums: Any = None,
) -> xr.Dataset:
    """Scaling exponents, log-cumulants, spectral slope and break per landscape, with intervals.

    The field is set to NaN outside each landscape, so only pairs with both ends inside it
    count. Several scenes (a list or a ``scene`` dim) are pooled: sums and counts add up.

    Per landscape also (one scene only; NaN for pooled scenes):

    * ``c1``, ``c2`` with ``c1_ci``, ``c2_ci``: wavelet-leader log-cumulants of the field
      masked to the landscape (:func:`scalelaws.fit.leader_log_cumulants`: the NaN-aware
      leaders drop every leader whose support touches a pixel outside the landscape; fBm
      bias correction and calibrated block bootstrap as in :func:`scalelaws.fit.fit_scaling`,
      calibrated on fBm with the landscape's own mask and ``H``);
    * ``beta`` with ``beta_ci``: the 2-D spectral slope implied by the structure function,
      ``beta = 2 + zeta(2)`` (``P(k) ~ k**-beta`` for a self-similar isotropic field with
      ``0 < H < 1``; ``2 + 2 H`` when 2 is not among the orders), interval from ``zeta_ci``;
    * ``break_m`` with ``break_ci`` and ``break_significant``: two-segment fit of the
      landscape's ``S_2`` (:func:`scalelaws.fit.fit_break`, profile-likelihood interval).

    Parameters
    ----------
    lst
        LST field(s) in K (see :func:`landscape_sums`).
    classes
        Landscape labels or masks (one per scene for several scenes), or ``None``.
    q
        Orders.
    scale_range
        ``(min_m, max_m)`` lag range of the log-log fit in metres. Default: from 2 pixels (the
        sensor's first octave is excluded) to the largest lag.
    n_boot
        Bootstrap replicates (0 disables the intervals).
    lags, max_lag, block_px
        See :func:`landscape_sums`.
    bootstrap
        Resampling unit, see :func:`bootstrap_weights`.
    ci
        Coverage of the percentile intervals.
    min_pairs
        Lags with fewer pooled pairs in a landscape are dropped from its fit (set to NaN).
    include_all
        Add the pseudo-landscape :data:`ALL`.
    rng
        Generator or seed of the bootstrap.
    wavelet
        Estimate ``c1``, ``c2`` per landscape (wavelet leaders).
    detect_break
        Fit the break of ``S_2`` per landscape.
    calibrate, n_calib
        fBm bias correction and interval calibration of ``c1``, ``c2`` (see
        :func:`scalelaws.fit.fit_scaling`); ``n_calib`` fBm fields per landscape (cached).
    scene_sums
        Per-scene sums hook of :func:`landscape_sums` (a raster larger than memory:
        :func:`scalelaws.stats.chunked.law_scene_sums`; give ``wavelet=False`` then, the
        leaders of a landscape need the field in memory).

    Returns
    -------
    xarray.Dataset
        ``S(landscape, q, lag)`` (K^q), ``S_ci(..., bound)``, ``count(landscape, lag)``,
        ``zeta(landscape, q)`` with ``zeta_ci(landscape, q, bound)``, ``H(landscape)``
        (= ``zeta(2)/2`` when 2 is among the orders, else ``zeta(q_min)/q_min``) with ``H_ci``,
        ``c1``, ``c2``, ``beta``, ``break_m`` with ``c1_ci``, ``c2_ci``, ``beta_ci``,
        ``break_ci`` ``(landscape, bound)``, ``break_significant(landscape)``,
        ``n_pixels(landscape)``; coordinates ``lag`` (px) and ``lag_m`` (m); attrs
        ``scale_range_m``, ``bootstrap_unit``, ``n_boot``, ``wavelet_octaves`` (per
        landscape, ``j1, j2``).

    """
    sums = landscape_sums(
        lst, classes, q=q, lags=lags, max_lag=max_lag, block_px=block_px, include_all=include_all,
        detail=False,  # only the structure-function sums are used here
        scene_sums=scene_sums,
    )
    lag_m = sums["lag_m"].values
    lo_m, hi_m, sel = _fit_lags(lag_m, scale_range, sums.attrs["pixel_size_m"])
    fit = _fit_exponents(sums, np.log(lag_m[sel]), sel, min_pairs=min_pairs, n_boot=n_boot,
                         bootstrap=bootstrap, ci=ci, rng=rng)
    iq, qs = fit["iq"], sums["q"].values
    per = _per_landscape_extras(
        lst, classes, list(sums["landscape"].values), lag_m[sel], fit["S"][:, iq, sel],
        fit["H"], fit["H_ci"], (lo_m, hi_m), n_boot=n_boot, ci=ci, rng=rng, wavelet=wavelet,
        detect_break=detect_break, calibrate=calibrate, n_calib=n_calib,
        zeta2=(fit["zeta"][:, iq], fit["zeta_ci"][:, iq]) if qs[iq] == 2 else None,
    )
    ds = _exponents_dataset(sums, fit, per, ci)
    ds.attrs.update(
        scale_range_m=[lo_m, hi_m],
        pixel_size_m=sums.attrs["pixel_size_m"],
        n_boot=int(n_boot),
        bootstrap_unit=fit["unit"],
        ci=float(ci),
        n_scenes=int(sums.attrs["n_scenes"]),
    )
    return _cf_dataset(ds, "scaling exponents per landscape", sums.attrs["sources"])


def _fit_lags(
    lag_m: np.ndarray, scale_range: tuple[float, float] | None, pixel: float
) -> tuple[float, float, np.ndarray]:
    """Return the fit range ``(lo_m, hi_m)`` (default: 2 pixels to the largest lag) and its lags."""
    if scale_range is None:
        scale_range = (2.0 * pixel, float(lag_m.max()))
    lo_m, hi_m = (float(v) for v in scale_range)
    sel = (lag_m >= lo_m * (1 - 1e-9)) & (lag_m <= hi_m * (1 + 1e-9))
    if sel.sum() < 2:
        raise ScaleRangeError(
            f"scale range {lo_m:g}-{hi_m:g} m holds {int(sel.sum())} lag(s) of "
            f"{lag_m.min():g}-{lag_m.max():g} m; need at least 2"
        )
    return lo_m, hi_m, sel


def _hurst_order(qs: np.ndarray) -> int:
    """Index of the order giving ``H``: 2 when present, else the smallest."""
    return int(np.flatnonzero(qs == 2)[0]) if np.any(qs == 2) else int(np.argmin(qs))


def _fit_exponents(
    sums: xr.Dataset, x: np.ndarray, sel: np.ndarray, *, min_pairs: int, n_boot: int,
    bootstrap: str, ci: float, rng: Any,
) -> dict[str, Any]:
    """Pooled ``S``, ``zeta`` and ``H`` of every landscape and their bootstrap intervals."""
    tot_s = sums["sf_sum"].sum("unit").values  # (L, Q, K)
    tot_c = sums["sf_count"].sum("unit").values  # (L, K)
    S = pooled_ratio(tot_s[None], tot_c[None], min_pairs)
    zeta, _ = ols_slope(x, np.log(S[..., sel]))
    qs = sums["q"].values
    iq = _hurst_order(qs)
    H = zeta[:, iq] / qs[iq]
    out = {"S": S, "count": tot_c, "zeta": zeta, "H": H, "iq": iq, "unit": "none",
           "S_ci": np.full(S.shape + (2,), np.nan), "zeta_ci": np.full(zeta.shape + (2,), np.nan),
           "H_ci": np.full(H.shape + (2,), np.nan)}
    if n_boot > 0:
        w, out["unit"] = bootstrap_weights(sums, n_boot, unit=bootstrap, rng=rng)
        Sb = pooled_ratio(sums["sf_sum"].values, sums["sf_count"].values, min_pairs,
                          weights=w.values)
        with np.errstate(invalid="ignore", divide="ignore"):
            zb, _ = ols_slope(x, np.log(Sb[..., sel]))
        out["S_ci"] = percentile_interval(Sb, ci)
        out["zeta_ci"] = percentile_interval(zb, ci)
        out["H_ci"] = percentile_interval(zb[:, :, iq] / qs[iq], ci)
    return out


def _exponents_dataset(sums: xr.Dataset, fit: dict[str, Any], per: dict[str, tuple],
                       ci: float) -> xr.Dataset:
    """Build the Dataset of :func:`exponents_by_landscape` (without its global attributes)."""
    units = sums.attrs["units_lst"]
    qs = sums["q"].values
    q0 = qs[fit["iq"]]
    L, Q, K, B = "landscape", "q", "lag", "bound"
    return xr.Dataset(
        {
            "S": cf.var((L, Q, K), fit["S"], "structure function <|dX|^q>", f"{units}^q"),
            "S_ci": ((L, Q, K, B), fit["S_ci"], cf.interval("S", ci, f"{units}^q")),
            "count": cf.var((L, K), fit["count"], "number of pairs", "1"),
            "zeta": cf.var((L, Q), fit["zeta"], "scaling exponent zeta(q)", "1"),
            "zeta_ci": ((L, Q, B), fit["zeta_ci"], cf.interval("zeta", ci)),
            "H": cf.var(L, fit["H"], f"Hurst exponent zeta({q0:g})/{q0:g}", "1"),
            "H_ci": ((L, B), fit["H_ci"], cf.interval("H", ci)),
            "n_pixels": cf.var(L, sums["n_pixels"].sum("unit").values, "valid pixels", "1"),
            **per,
        },
        coords={
            "landscape": sums["landscape"].values,
            "q": qs,
            "lag": sums["lag"].values,
            "lag_m": sums["lag_m"],
            "bound": ["lower", "upper"],
        },
    )


def _per_landscape_extras(
    lst: Any,
    classes: Any,
    names: list[str],
    lag_m: np.ndarray,
    S2: np.ndarray,
    H: np.ndarray,
    H_ci: np.ndarray,
    scale_range: tuple[float, float],
    *,
    n_boot: int,
    ci: float,
    rng: Any,
    wavelet: bool,
    detect_break: bool,
    calibrate: bool,
    n_calib: int,
    zeta2: tuple[np.ndarray, np.ndarray] | None,
) -> dict[str, tuple]:
    """``c1``, ``c2``, ``beta``, break (and intervals) of every landscape, as Dataset vars."""
    nl = len(names)
    c = {k: np.full(nl, np.nan) for k in ("c1", "c2", "beta", "break_m")}
    c_ci = {k: np.full((nl, 2), np.nan) for k in c}
    sig = np.zeros(nl, dtype=bool)
    octaves = np.full((nl, 2), -1, dtype=np.int64)
    if zeta2 is not None:
        c["beta"], c_ci["beta"] = 2.0 + zeta2[0], 2.0 + zeta2[1]
    else:
        c["beta"], c_ci["beta"] = 2.0 + 2.0 * H, 2.0 + 2.0 * H_ci
    if detect_break:
        _breaks(names, lag_m, S2, ci, c["break_m"], c_ci["break_m"], sig)
    scenes = _as_scenes(lst)
    if wavelet and len(scenes) > 1:
        log.info("c1, c2 per landscape are computed for one scene only (%d given): NaN",
                 len(scenes))
    elif wavelet:
        _log_cumulants(scenes[0], classes, names, H, scale_range, c, c_ci, octaves,
                       n_boot=n_boot, ci=ci, rng=rng, calibrate=calibrate, n_calib=n_calib)
    return _extras_vars(c, c_ci, sig, octaves, ci)


def _breaks(names: list[str], lag_m: np.ndarray, S2: np.ndarray, ci: float, value: np.ndarray,
            interval: np.ndarray, sig: np.ndarray) -> None:
    """Fill ``value``, ``interval`` and ``sig`` with the two-segment break of each ``S_2``."""
    from scalelaws.fit import fit_break

    for i in range(len(names)):
        ok = np.isfinite(S2[i]) & (S2[i] > 0)
        if ok.sum() < 6:
            continue
        try:
            br = fit_break(lag_m[ok], S2[i][ok], min_points=3, level=ci)
        except InputError as exc:
            log.info("break of %s not fitted: %s", names[i], exc)
            continue
        value[i], interval[i] = br.break_scale, np.asarray(br.break_ci)
        sig[i] = bool(br.significant)


def _log_cumulants(
    field: xr.DataArray, classes: Any, names: list[str], H: np.ndarray,
    scale_range: tuple[float, float], c: dict[str, np.ndarray], c_ci: dict[str, np.ndarray],
    octaves: np.ndarray, *, n_boot: int, ci: float, rng: Any, calibrate: bool, n_calib: int,
) -> None:
    """Fill ``c["c1"]``, ``c["c2"]`` (and intervals, octaves) from the masked field's leaders."""
    from scalelaws.fit import leader_log_cumulants

    masks = class_masks(_per_scene(classes, 1, "classes")[0], like=field)
    gen = np.random.default_rng(rng)
    for i, name in enumerate(names):
        if name == ALL:
            da = field
        elif name in masks:
            da = field.where(np.asarray(masks[name].values, dtype=bool))
        else:
            continue
        if not np.isfinite(np.asarray(da.values, dtype=float)).any():
            continue
        try:
            r = leader_log_cumulants(da, scale_range=scale_range, n_boot=n_boot, level=ci,
                                     rng=gen, H=float(H[i]), calibrate=calibrate,
                                     n_calib=n_calib)
        except InputError as exc:  # e.g. too few valid leaders in a sparse class
            log.warning("c1, c2 of landscape %s not estimated: %s", name, exc)
            continue
        for k in ("c1", "c2"):
            c[k][i], c_ci[k][i] = r[k], r[f"{k}_ci"]
        octaves[i] = (r["j1"], r["j2"])


_EXTRA_NAMES = {
    "c1": "first log-cumulant of wavelet leaders (fBm bias-corrected)",
    "c2": "second log-cumulant of wavelet leaders (intermittency, fBm bias-corrected)",
    "beta": "spectral slope P(k) ~ k^-beta implied by the structure function, 2 + zeta(2)",
    "break_m": "break scale of S_2 (two-segment fit)",
}


def _extras_vars(c: dict[str, np.ndarray], c_ci: dict[str, np.ndarray], sig: np.ndarray,
                 octaves: np.ndarray, ci: float) -> dict[str, tuple]:
    """Return the per-landscape extras as ``(dims, data, attrs)`` Dataset variables."""
    out: dict[str, tuple] = {}
    for k in c:
        units = "m" if k == "break_m" else "1"
        out[k] = cf.var("landscape", c[k], _EXTRA_NAMES[k], units)
        name = "break_ci" if k == "break_m" else f"{k}_ci"
        out[name] = (("landscape", "bound"), c_ci[k], cf.interval(k, ci, units, kind="interval"))
    out["break_significant"] = cf.var("landscape", sig, "two segments preferred "
                                      "(F test and BIC)", "1")
    out["wavelet_octaves"] = cf.var(("landscape", "bound"), octaves,
                                    "octaves j1, j2 of the c1, c2 fit", "1")
    return out
