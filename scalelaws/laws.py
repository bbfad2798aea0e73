"""Correction laws: how multiscale statistics change from one scale band to the next.

Scale invariance says that the statistics of the 1 km -> 250 m band follow from those of the
4 km -> 1 km band by a single power law. Real land surfaces break it (on the shared ASTER
250 m fields the local Hurst exponent falls from about 0.8 at 250-500 m to about 0.1 at
4-8 km). A :class:`CorrectionLaw` is fitted on high-resolution scenes (ASTER, Landsat,
synthetic landscapes), per landscape, and encodes

* the local exponent ``zeta_q(l) = d log S_q / d log l`` of the structure functions as a
  **smooth function of log-scale**: ``log S_q`` is fitted by weighted least squares with a
  polynomial of low degree in ``u = log(l / l_ref)`` (weights = inverse bootstrap variance of
  ``log S_q`` at each lag), so ``zeta_local`` is its derivative;
* the **detail energy** ``D(l)``: the variance of the detail added when refining block means from
  size ``l`` to ``l/2``, ``D(l) = var(X_{l/2} - upsampled X_l)`` (block-mean, i.e. Haar,
  coarse-graining on the pixels; coarse pixels *are* block means, so this statistic is measured
  identically on a coarse field), with the same smoothing of ``log D`` in ``log l``;
* the LST-NDVI regression slope (OLS of LST on NDVI, scene means removed) and correlation of
  block means as functions of block size.

Intervals come from a bootstrap over scenes (or spatial tiles when there are fewer than 10
scenes, see :func:`scalelaws.landscapes.bootstrap_weights`): every replicate is re-pooled and
re-smoothed, so the intervals of the smooth curves and of every prediction are percentile
intervals of the replicates.

Predictions
-----------
:meth:`CorrectionLaw.predict_sf` anchors the law's ``log S_q`` on structure functions measured
in a coarse band and integrates the local exponent downward,
``log S(l_fine) = log S(l_ref) - int_{l_fine}^{l_ref} zeta_local dlog l``,
and compares with the scale-invariant extrapolation (one exponent fitted on the coarse band).
:meth:`CorrectionLaw.detail_energy_ratio` gives the energy added by the fine band relative to the
coarse band, by the law and by scale invariance. :meth:`CorrectionLaw.conditioning` packs the
law into the fixed-length vector fed to the super-resolution networks.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from scalelaws import cf
from scalelaws.core.estimate import percentile_interval, pooled_ratio
from scalelaws.errors import InputError, ScaleRangeError
from scalelaws.landscapes import (
    ALL,
    _as_scenes,
    _per_scene,
    _pixel_size,
    bootstrap_weights,
    classify_ndvi,
    landscape_sums,
)

__all__ = ["CorrectionLaw", "load_law", "CONDITIONING_NAMES", "detail_energy"]

log = logging.getLogger(__name__)

#: Relative tolerance (in ln scale) before a scale counts as outside the fitted range.
OUTSIDE_TOL = 1e-3

#: Names of the entries of :meth:`CorrectionLaw.conditioning`, in order.
CONDITIONING_NAMES: list[str] = [
    "scale_factor",
    "log2_target_res_km",
    "zeta2_fine",
    "zeta2_coarse",
    "zeta2_fine_halfwidth",
    "log_detail_ratio_law",
    "log_detail_correction",
    "lst_ndvi_slope_fine",
    "lst_ndvi_corr_fine",
    "has_ndvi",
]

_REQUIRED = ("log_S", "zeta_local", "coef_log_S", "coef_log_D", "detail_energy")

#: Version of the law file layout; :func:`load_law` refuses files of a newer layout.
LAW_FORMAT_VERSION = 1


# --------------------------------------------------------------------------------------------
# polynomial helpers
# --------------------------------------------------------------------------------------------
def _vander(u: np.ndarray, deg: int) -> np.ndarray:
    return np.stack([u**p for p in range(deg + 1)], axis=-1)


def _dvander(u: np.ndarray, deg: int) -> np.ndarray:
    cols = [np.zeros_like(u)] + [p * u ** (p - 1) for p in range(1, deg + 1)]
    return np.stack(cols, axis=-1)


def _wls_poly(u: np.ndarray, y: np.ndarray, w: np.ndarray, deg: int) -> np.ndarray:
    """WLS polynomial coefficients of ``y(..., n)`` on ``u(n)`` with weights ``w(..., n)``.

    NaN points get zero weight; returns NaN when fewer than ``deg + 1`` points remain.
    """
    V = _vander(u, deg)  # (n, P)
    ok = np.isfinite(y) & np.isfinite(w) & (w > 0)
    ww = np.where(ok, w, 0.0)
    yy = np.where(ok, y, 0.0)
    A = np.einsum("...n,np,nr->...pr", ww, V, V)
    b = np.einsum("...n,np,...n->...p", ww, V, yy)
    out = np.full(y.shape[:-1] + (deg + 1,), np.nan)
    good = ok.sum(-1) >= deg + 1
    if good.any():
        out[good] = np.linalg.solve(A[good], b[good][..., None])[..., 0]
    return out


class _Poly:
    """Polynomial in ``u = ln(l / l_ref)`` fitted on ``[u_min, u_max]``, continued linearly."""

    def __init__(self, coef: np.ndarray, l_ref: float, lo_m: float, hi_m: float) -> None:
        self.coef = np.asarray(coef, dtype=np.float64)  # (..., P)
        self.deg = self.coef.shape[-1] - 1
        self.l_ref = l_ref
        self.u0 = math.log(lo_m / l_ref)
        self.u1 = math.log(hi_m / l_ref)

    def _u(self, scale_m: np.ndarray) -> np.ndarray:
        return np.log(np.asarray(scale_m, dtype=np.float64) / self.l_ref)

    def value(self, scale_m: np.ndarray) -> np.ndarray:
        u = self._u(scale_m)
        uc = np.clip(u, self.u0, self.u1)
        v = np.einsum("...p,np->...n", self.coef, _vander(uc, self.deg))
        d = np.einsum("...p,np->...n", self.coef, _dvander(uc, self.deg))
        return v + d * (u - uc)

    def slope(self, scale_m: np.ndarray) -> np.ndarray:
        uc = np.clip(self._u(scale_m), self.u0, self.u1)
        return np.einsum("...p,np->...n", self.coef, _dvander(uc, self.deg))

    def outside(self, scale_m: np.ndarray) -> np.ndarray:
        # 0.1 % in scale: pixel sizes that differ by float rounding between products
        # (231.6539 vs 231.6542 m) are not an extrapolation.
        u = self._u(scale_m)
        return (u < self.u0 - OUTSIDE_TOL) | (u > self.u1 + OUTSIDE_TOL)


def _fit_curve(
    scale: np.ndarray, y: np.ndarray, yb: np.ndarray, sel: np.ndarray, degree: int, l_ref: float
) -> tuple[np.ndarray, np.ndarray, int]:
    """Smooth ``y(..., n)`` (and replicates ``yb(R, ..., n)``) over ``scale[sel]``.

    Weights are the inverse bootstrap variance of ``y`` at each scale (uniform without
    replicates). Returns point coefficients ``(..., P)``, replicate coefficients
    ``(R, ..., P)`` and the degree used (``min(degree, n_points - 2)``, at least 1).
    """
    u = np.log(scale[sel] / l_ref)
    npts = int(sel.sum())
    deg = int(max(1, min(degree, npts - 2)))
    ys = y[..., sel]
    if yb.shape[0] >= 2:
        with warnings.catch_warnings(), np.errstate(invalid="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)  # landscapes with no data: NaN
            var = np.nanvar(yb[..., sel], axis=0, ddof=1)
            floor = np.nanmedian(np.where(var > 0, var, np.nan), axis=-1, keepdims=True) * 1e-3
        var = np.where(np.isfinite(var), np.maximum(var, np.nan_to_num(floor, nan=1e-12)), np.nan)
        w = 1.0 / var
    else:
        w = np.ones_like(ys)
    coef = _wls_poly(u, ys, w, deg)
    coef_b = _wls_poly(u, yb[..., sel], np.broadcast_to(w, yb[..., sel].shape), deg)
    return coef, coef_b, deg


def detail_energy(
    da: xr.DataArray, *, levels: Sequence[int] | None = None, max_missing: float = 0.5
) -> xr.Dataset:
    """Detail energy of one field per octave (the statistic the law's ``detail_energy`` encodes).

    Parameters
    ----------
    da
        2-D field (``y, x``).
    levels
        Parent block sizes ``2**level`` pixels (default 1 .. largest with at least 4 blocks).
    max_missing
        Largest missing fraction of a block mean.

    Returns
    -------
    xarray.Dataset
        ``detail_energy(scale_m)`` = ``var(X_{l/2} - upsampled X_l)`` for parent blocks of size
        ``l = scale_m`` (units of the field squared) and ``weight(scale_m)`` (pixels used).

    """
    if not isinstance(da, xr.DataArray) or da.ndim != 2:
        raise InputError("detail_energy expects a 2-D DataArray (y, x)")
    top = max(min(da.shape) // 2, 2)  # the largest lag sets the number of levels (one lag: cheap)
    sums = landscape_sums(da, None, q=(2,), lags=[top], block_px=max(da.shape), max_missing=max_missing)
    d = sums["det_sum"].isel(landscape=0).values  # (unit, level)
    w = sums["det_weight"].isel(landscape=0).values
    out = xr.Dataset(
        {
            "detail_energy": ("scale_m", pooled_ratio(d, w, 1.0)),
            "weight": ("scale_m", w.sum(0)),
        },
        coords={"scale_m": sums["block_m"].values},
    ).isel(scale_m=slice(1, None))
    if levels is not None:
        out = out.sel(scale_m=sums.attrs["pixel_size_m"] * 2.0 ** np.asarray(levels), method="nearest")
    units = da.attrs.get("units", "K")
    out["detail_energy"].attrs = cf.attrs(
        "variance of the detail added when refining from l to l/2 (block means)", f"{units}^2")
    out["weight"].attrs = cf.attrs("pixels used", "1")
    out["scale_m"].attrs = cf.attrs("parent block size l", "m")
    return out


# --------------------------------------------------------------------------------------------
# the law
# --------------------------------------------------------------------------------------------
class CorrectionLaw:
    """A per-landscape correction law (see the module docstring).

    Build it with :meth:`fit` or :func:`load_law`; its content is the Dataset :attr:`ds`
    (dims ``landscape``, ``q``, ``scale_m``, ``bound``, and ``block_m`` for per-octave
    measurements, ``replicate`` and ``power`` for the bootstrap polynomial coefficients).

    Parameters
    ----------
    ds
        A Dataset written by :meth:`fit` (checked for the required variables).

    """

    conditioning_names: list[str] = CONDITIONING_NAMES

    def __init__(self, ds: xr.Dataset) -> None:
        missing = [v for v in _REQUIRED if v not in ds]
        if missing:
            raise InputError(f"not a correction law: missing variables {missing}")
        self.ds = ds
        self._warned: set[str] = set()

    def _warn_once(self, msg: str, *args: object) -> None:
        """Log an extrapolation warning once per law (later ones at DEBUG level)."""
        level = logging.DEBUG if msg in self._warned else logging.WARNING
        self._warned.add(msg)
        log.log(level, msg, *args)

    # ----------------------------------------------------------------------------- fitting
    @classmethod
    def fit(
        cls,
        lst: xr.DataArray | Sequence[xr.DataArray],
        *,
        ndvi: xr.DataArray | Sequence[xr.DataArray] | None = None,
        classes: Any = None,
        q: Sequence[float] = (1, 2, 3, 4),
        scales_m: tuple[float, float] | None = None,
        n_boot: int = 100,
        rng: np.random.Generator | int | None = None,
        sources: Sequence[str] | None = None,
        degree: int = 3,
        block_px: int = 64,
        bootstrap: str = "auto",
        max_missing: float = 0.5,
        ci: float = 0.95,
        min_pairs: int = 100,
        include_all: bool = True,
        scene_sums: Any = None,
    ) -> CorrectionLaw:
        """Fit the law on high-resolution scenes, pooled per landscape.

        Parameters
        ----------
        lst
            High-resolution LST scene(s) in K: a 2-D DataArray, one with a ``scene`` dim, or a
            list. All scenes must share the pixel size (within 2 %).
        ndvi
            NDVI on the same grid as each scene: enables the LST-NDVI relations (and
            ``classes="ndvi"``).
        classes
            Landscapes: labels / masks per scene (see
            :func:`scalelaws.landscapes.class_masks`), ``"ndvi"`` to classify ``ndvi`` with
            :func:`scalelaws.landscapes.classify_ndvi`, or ``None`` (only ``"all"``).
        q
            Structure-function orders.
        scales_m
            ``(min_m, max_m)``: scale range of the law. Default: one pixel to a fifth of the
            smallest scene's shorter side. Detail energies use parent blocks up to ``2 max_m``.
        n_boot
            Bootstrap replicates (0: no intervals).
        rng
            Generator or seed of the bootstrap.
        sources
            Names of the inputs recorded in the provenance (default: each scene's ``source``).
        degree
            Degree of the polynomial in ``log l`` that smooths ``log S_q`` and ``log D``
            (reduced to ``n_points - 2`` when there are few scales).
        block_px, bootstrap, max_missing, min_pairs, include_all
            See :func:`scalelaws.landscapes.landscape_sums` and
            :func:`~scalelaws.landscapes.bootstrap_weights`; lags (and blocks) with fewer than
            ``min_pairs`` pairs (pixels) in a landscape are left out.
        ci
            Coverage of the percentile intervals.
        scene_sums
            Per-scene sums hook of :func:`scalelaws.landscapes.landscape_sums` (rasters
            larger than memory: :func:`scalelaws.stats.chunked.law_scene_sums`).

        Returns
        -------
        CorrectionLaw

        """
        from scalelaws import __version__

        scenes = _as_scenes(lst)
        if isinstance(classes, str):
            if classes != "ndvi":
                raise InputError(f"classes must be 'ndvi', labels, masks or None; got {classes!r}")
            if ndvi is None:
                raise InputError("classes='ndvi' needs ndvi")
            classes = [classify_ndvi(v) for v in _per_scene(ndvi, len(scenes), "ndvi")]
        pixel = _pixel_size(scenes[0])
        short = min(min(s.shape) for s in scenes)
        if scales_m is None:
            lo_m, hi_m = pixel, max(short // 5, 2) * pixel
        else:
            lo_m, hi_m = (float(v) for v in scales_m)
        if not 0 < lo_m < hi_m:
            raise ScaleRangeError(f"scales_m must satisfy 0 < min < max, got {scales_m}")
        max_lag = int(math.floor(hi_m / pixel + 1e-6))
        if max_lag < 2:
            raise ScaleRangeError(f"scales_m max {hi_m:g} m is below 2 pixels of {pixel:g} m")
        if max_lag >= short:
            raise ScaleRangeError(f"scales_m max {hi_m:g} m exceeds the smallest scene ({short} px)")
        sums = landscape_sums(
            scenes,
            classes,
            ndvi=ndvi,
            q=q,
            max_lag=max_lag,
            block_px=block_px,
            max_missing=max_missing,
            include_all=include_all,
            scene_sums=scene_sums,
        )
        if n_boot > 0:
            w, unit = bootstrap_weights(sums, n_boot, unit=bootstrap, rng=rng)
            wv = w.values
        else:
            wv, unit = np.zeros((0, sums.sizes["unit"])), "none"
        names = list(sums["landscape"].values)
        qs = sums["q"].values
        scale = sums["lag_m"].values
        block_m = sums["block_m"].values

        # structure functions
        ss, sc = sums["sf_sum"].values, sums["sf_count"].values
        S = pooled_ratio(ss, sc, min_pairs)
        Sb = pooled_ratio(ss, sc, min_pairs, weights=wv)
        with np.errstate(divide="ignore", invalid="ignore"):
            logS, logSb = np.log(S), np.log(Sb)
        sel = (scale >= lo_m * (1 - 5e-3)) & (scale <= hi_m * (1 + 5e-3))
        if sel.sum() < 3:
            raise ScaleRangeError(f"fewer than 3 lags within {lo_m:g}-{hi_m:g} m")
        l_ref = math.sqrt(scale[sel].min() * scale[sel].max())
        coefS, coefSb, degS = _fit_curve(scale, logS, logSb, sel, degree, l_ref)
        polyS, polySb = _Poly(coefS, l_ref, scale[sel].min(), scale[sel].max()), _Poly(
            coefSb, l_ref, scale[sel].min(), scale[sel].max()
        )
        mask_s = np.where(sel, 1.0, np.nan)
        smooth = polyS.value(scale) * mask_s
        zl = polyS.slope(scale) * mask_s
        zl_ci = percentile_interval(polySb.slope(scale) * mask_s, ci) if n_boot > 1 else np.full(zl.shape + (2,), np.nan)

        # per-octave exponents between lags 2^(k-1) and 2^k (pixels)
        lag_px = sums["lag"].values
        zoct = np.full((len(names), qs.size, block_m.size), np.nan)
        zoct_b = np.full((wv.shape[0],) + zoct.shape, np.nan)
        for k in range(1, block_m.size):
            a, b = np.flatnonzero(lag_px == 2 ** (k - 1)), np.flatnonzero(lag_px == 2**k)
            if a.size and b.size:
                zoct[..., k] = (logS[..., b[0]] - logS[..., a[0]]) / math.log(2.0)
                zoct_b[..., k] = (logSb[..., b[0]] - logSb[..., a[0]]) / math.log(2.0)

        # detail energies
        ds_, dw = sums["det_sum"].values, sums["det_weight"].values
        D = pooled_ratio(ds_, dw, min_pairs)
        Db = pooled_ratio(ds_, dw, min_pairs, weights=wv)
        with np.errstate(divide="ignore", invalid="ignore"):
            logD, logDb = np.log(D), np.log(Db)
        selD = (block_m >= 2 * pixel * (1 - 5e-3)) & (block_m <= 2 * hi_m * (1 + 5e-3))
        selD &= np.isfinite(logD).any(0)
        if selD.sum() < 2:
            raise ScaleRangeError("fewer than 2 octaves of detail energy within the scale range")
        dlo, dhi = block_m[selD].min(), block_m[selD].max()
        coefD, coefDb, degD = _fit_curve(block_m, logD, logDb, selD, degree, l_ref)
        polyD, polyDb = _Poly(coefD, l_ref, dlo, dhi), _Poly(coefDb, l_ref, dlo, dhi)
        inD = np.where((scale >= dlo * (1 - 1e-9)) & (scale <= dhi * (1 + 1e-9)), 1.0, np.nan)
        Dl = np.exp(polyD.value(scale)) * inD
        Dl_ci = percentile_interval(np.exp(polyDb.value(scale)) * inD, ci) if n_boot > 1 else np.full(Dl.shape + (2,), np.nan)

        bound = ["lower", "upper"]
        units = sums.attrs["units_lst"]
        L, Q, P = len(names), qs.size, degS + 1
        nb = wv.shape[0]

        def qci(arr: np.ndarray) -> np.ndarray:
            return percentile_interval(arr, ci) if nb > 1 else np.full(arr.shape[1:] + (2,), np.nan)

        data = {
            "log_S": (("landscape", "q", "scale_m"), logS, cf.attrs("ln of the pooled structure function S_q", f"ln({units}^q)")),
            "log_S_ci": (("landscape", "q", "scale_m", "bound"), qci(logSb), cf.interval("log_S", ci, f"ln({units}^q)")),
            "count": (("landscape", "scale_m"), sc.sum(0), cf.attrs("number of pairs", "1")),
            "log_S_smooth": (("landscape", "q", "scale_m"), smooth, cf.attrs("smoothed ln S_q (WLS polynomial in ln l)", f"ln({units}^q)")),
            "zeta_local": (("landscape", "q", "scale_m"), zl, cf.attrs("local scaling exponent d ln S_q / d ln l", "1")),
            "zeta_local_ci": (("landscape", "q", "scale_m", "bound"), zl_ci, cf.interval("zeta_local", ci)),
            "coef_log_S": (("landscape", "q", "power"), coefS, cf.attrs("coefficients of ln S_q in powers of ln(l / l_ref)", "1")),
            "coef_log_S_boot": (("replicate", "landscape", "q", "power"), coefSb.reshape(nb, L, Q, P), cf.attrs("bootstrap replicates of coef_log_S", "1")),
            "zeta_octave": (("landscape", "q", "block_m"), zoct, cf.attrs("exponent between lags block_m/2 and block_m", "1")),
            "zeta_octave_ci": (("landscape", "q", "block_m", "bound"), qci(zoct_b), cf.interval("zeta_octave", ci)),
            "detail_energy": (("landscape", "scale_m"), Dl, cf.attrs("smoothed variance of the detail added from l to l/2 (block means)", f"{units}^2")),
            "detail_energy_ci": (("landscape", "scale_m", "bound"), Dl_ci, cf.interval("detail_energy", ci, f"{units}^2")),
            "detail_energy_block": (("landscape", "block_m"), D, cf.attrs("measured detail energy refining blocks of size block_m to block_m/2", f"{units}^2")),
            "detail_energy_block_ci": (("landscape", "block_m", "bound"), qci(Db), cf.interval("detail_energy_block", ci, f"{units}^2")),
            "coef_log_D": (("landscape", "power_D"), coefD, cf.attrs("coefficients of ln D in powers of ln(l / l_ref)", "1")),
            "coef_log_D_boot": (("replicate", "landscape", "power_D"), coefDb.reshape(nb, L, degD + 1), cf.attrs("bootstrap replicates of coef_log_D", "1")),
            "n_pixels": ("landscape", sums["n_pixels"].values.sum(0), cf.attrs("valid pixels", "1")),
        }
        if "reg_n" in sums:
            r = {k: sums[k].values for k in ("reg_n", "reg_sxx", "reg_sxy", "reg_syy")}
            rb = {k: np.einsum("ru,ulk->rlk", wv, v) for k, v in r.items()}
            rt = {k: v.sum(0) for k, v in r.items()}

            def slope_corr(d: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
                ok = d["reg_n"] >= 10
                with np.errstate(invalid="ignore", divide="ignore"):
                    s = np.where(ok, d["reg_sxy"] / d["reg_sxx"], np.nan)
                    c = np.where(ok, d["reg_sxy"] / np.sqrt(d["reg_sxx"] * d["reg_syy"]), np.nan)
                return s, c

            sl, co = slope_corr(rt)
            slb, cob = slope_corr(rb)
            lnb, lns = np.log(block_m), np.log(scale)

            def interp(v: np.ndarray) -> np.ndarray:
                out = np.full(v.shape[:-1] + (scale.size,), np.nan)
                for idx in np.ndindex(v.shape[:-1]):
                    ok = np.isfinite(v[idx])
                    if ok.sum() >= 2:
                        out[idx] = np.interp(lns, lnb[ok], v[idx][ok], left=np.nan, right=np.nan)
                    elif ok.sum() == 1:
                        out[idx] = np.where(np.isclose(lns, lnb[ok][0]), v[idx][ok][0], np.nan)
                return out

            sl_ci, co_ci = qci(slb), qci(cob)
            data.update(
                {
                    "lst_ndvi_slope": (("landscape", "scale_m"), interp(sl), cf.attrs("OLS slope of LST on NDVI of block means", f"{units}")),
                    "lst_ndvi_slope_ci": (("landscape", "scale_m", "bound"), np.moveaxis(interp(np.moveaxis(sl_ci, -1, 0)), 0, -1), cf.interval("lst_ndvi_slope", ci, f"{units}")),
                    "lst_ndvi_corr": (("landscape", "scale_m"), interp(co), cf.attrs("correlation of LST and NDVI block means", "1")),
                    "lst_ndvi_corr_ci": (("landscape", "scale_m", "bound"), np.moveaxis(interp(np.moveaxis(co_ci, -1, 0)), 0, -1), cf.interval("lst_ndvi_corr", ci)),
                    "lst_ndvi_slope_block": (("landscape", "block_m"), sl, cf.attrs("OLS slope of LST on NDVI at block size block_m", f"{units}")),
                    "lst_ndvi_slope_block_ci": (("landscape", "block_m", "bound"), sl_ci, cf.interval("lst_ndvi_slope_block", ci, f"{units}")),
                    "lst_ndvi_corr_block": (("landscape", "block_m"), co, cf.attrs("LST-NDVI correlation at block size block_m", "1")),
                    "lst_ndvi_corr_block_ci": (("landscape", "block_m", "bound"), co_ci, cf.interval("lst_ndvi_corr_block", ci)),
                }
            )
        ds = xr.Dataset(
            data,
            coords={
                "landscape": names,
                "q": ("q", qs, cf.attrs("order", "1")),
                "scale_m": ("scale_m", scale, cf.attrs("scale (lag)", "m")),
                "lag": ("scale_m", sums["lag"].values, cf.attrs("lag", "pixel")),
                "block_m": ("block_m", block_m, cf.attrs("block size (octave's coarse end)", "m")),
                "bound": bound,
                "replicate": np.arange(nb),
                "power": np.arange(P),
                "power_D": np.arange(degD + 1),
            },
        )
        src = list(sources) if sources is not None else [
            str(s.attrs.get("source", f"scene {i}")) for i, s in enumerate(scenes)
        ]
        now = cf.now()
        ds.attrs.update(
            title="scalelaws correction law",
            Conventions=cf.CONVENTIONS,
            source="; ".join(src),
            history=f"{now} CorrectionLaw.fit (scalelaws {__version__})",
            scalelaws_version=__version__,
            law_format_version=LAW_FORMAT_VERSION,
            date_created=now,
            n_scenes=len(scenes),
            pixel_size_m=float(sums.attrs["pixel_size_m"]),
            scale_range_m=[float(scale[sel].min()), float(scale[sel].max())],
            detail_range_m=[float(dlo), float(dhi)],
            l_ref_m=float(l_ref),
            degree=int(degS),
            degree_detail=int(degD),
            n_boot=int(nb),
            bootstrap_unit=unit,
            ci=float(ci),
            block_px=int(block_px),
            max_missing=float(max_missing),
            min_pairs=int(min_pairs),
            has_ndvi=int("reg_n" in sums),
            smoothing="WLS polynomial of ln S_q and ln D in ln(l / l_ref), weights 1/bootstrap variance; "
            "continued linearly (constant exponent) outside the fitted range",
            detail_definition="var(X_{l/2} - upsampled X_l), block means (Haar), pixel weighted",
        )
        log.info("fitted a correction law on %d scene(s), landscapes %s", len(scenes), names)
        return cls(ds)

    # ----------------------------------------------------------------------------- access
    @property
    def landscapes(self) -> list[str]:
        """Names of the landscapes."""
        return [str(v) for v in self.ds["landscape"].values]

    def _pick(self, landscape: str | None) -> str:
        names = self.landscapes
        if landscape is None:
            if ALL in names:
                return ALL
            if len(names) == 1:
                return names[0]
            raise InputError(f"the law has several landscapes {names}; choose one with landscape=")
        if landscape not in names:
            raise InputError(f"unknown landscape {landscape!r}; the law has {names}")
        return landscape

    def _polyS(self, landscape: str, q: float, boot: bool = False) -> _Poly:
        if not np.any(np.isclose(self.ds["q"].values, q)):
            raise InputError(f"order q={q:g} not in the law (q = {list(self.ds['q'].values)})")
        name = "coef_log_S_boot" if boot else "coef_log_S"
        coef = self.ds[name].sel(landscape=landscape).sel(q=q, method="nearest").values
        lo, hi = self.ds.attrs["scale_range_m"]
        return _Poly(coef, float(self.ds.attrs["l_ref_m"]), lo, hi)

    def _polyD(self, landscape: str, boot: bool = False) -> _Poly:
        name = "coef_log_D_boot" if boot else "coef_log_D"
        coef = self.ds[name].sel(landscape=landscape).values
        lo, hi = self.ds.attrs["detail_range_m"]
        return _Poly(coef, float(self.ds.attrs["l_ref_m"]), lo, hi)

    def _ci_pair(self, boot: np.ndarray) -> np.ndarray:
        ci = float(self.ds.attrs["ci"])
        if boot.shape[0] < 2:
            return np.full(boot.shape[1:] + (2,), np.nan)
        return percentile_interval(boot, ci)

    # ----------------------------------------------------------------------------- queries
    def landscape_name(self, landscape: str | None = None) -> str:
        """Resolve a landscape argument to a landscape of the law.

        ``None`` means the pooled law (or the only landscape there is).

        Raises
        ------
        InputError
            An unknown landscape, or ``None`` with several landscapes and no pooled law.

        """
        return self._pick(landscape)

    def sf_curve(self, scale_m: float | Sequence[float] | np.ndarray, *, q: float = 2.0,
                 landscape: str | None = None) -> np.ndarray:
        """Evaluate the law's smooth structure function ``S_q`` (K^q) at ``scale_m`` (metres).

        The fitted polynomial in log scale, evaluated as is (extrapolated outside the fitted
        ``scale_range_m``; :meth:`predict_sf` flags that). Any array shape.
        """
        poly = self._polyS(self._pick(landscape), float(q))
        r = np.asarray(scale_m, dtype=np.float64)
        return np.exp(poly.value(r.ravel())).reshape(r.shape)

    def local_exponent(
        self, scale_m: float | Sequence[float], *, q: float = 2, landscape: str | None = None
    ) -> xr.Dataset:
        """Local exponent ``zeta_q(l)`` of the law with its bootstrap interval.

        Parameters
        ----------
        scale_m
            Scale(s) in metres.
        q
            Order (one of the law's).
        landscape
            Landscape name (default ``"all"``, or the only one).

        Returns
        -------
        xarray.Dataset
            ``value``, ``lower``, ``upper`` and ``extrapolated`` (outside the fitted range the
            exponent is held at its value at the nearest end) along ``scale_m``.

        """
        name = self._pick(landscape)
        s = np.atleast_1d(np.asarray(scale_m, dtype=np.float64))
        if np.any(s <= 0):
            raise InputError("scales must be > 0 m")
        p, pb = self._polyS(name, q), self._polyS(name, q, boot=True)
        ci = self._ci_pair(pb.slope(s))
        out = xr.Dataset(
            {
                "value": ("scale_m", p.slope(s), cf.attrs(f"local exponent zeta_{q:g}", "1")),
                "lower": ("scale_m", ci[..., 0], cf.attrs("lower bound", "1")),
                "upper": ("scale_m", ci[..., 1], cf.attrs("upper bound", "1")),
                "extrapolated": ("scale_m", p.outside(s), cf.attrs("outside the fitted range")),
            },
            coords={"scale_m": ("scale_m", s, {"units": "m"})},
        )
        out.attrs.update(landscape=name, q=float(q), ci=float(self.ds.attrs["ci"]))
        return out

    def predict_sf(
        self,
        sf_coarse: xr.Dataset | xr.DataArray,
        lags_m: float | Sequence[float],
        *,
        landscape: str | None = None,
    ) -> xr.Dataset:
        """Predict structure functions at fine lags from those measured in a coarse band.

        For every order ``q`` shared by the law and ``sf_coarse`` the law's smooth
        ``ln S_q(l)`` is anchored on the measured coarse-band values (least squares offset over
        all their lags, i.e. the average of the downward integrations
        ``ln S(l_fine) = ln S(l_c) - int_{l_fine}^{l_c} zeta_local dln l`` from each coarse lag
        ``l_c``). The scale-invariant alternative fits one exponent (OLS in log-log) on the
        coarse band and extrapolates it.

        Parameters
        ----------
        sf_coarse
            Output of :func:`scalelaws.stats.structure_function` (variable ``S(q, lag)`` with a
            ``lag_m`` coordinate) restricted to the coarse band, or the ``S`` DataArray itself.
            Every lag it holds is used.
        lags_m
            Fine lags (m) at which to predict.
        landscape
            Landscape of the law.

        Returns
        -------
        xarray.Dataset
            ``S(q, scale_m)`` (law prediction) with ``S_ci(q, scale_m, bound)`` (law
            uncertainty: bootstrap replicates of the law anchored the same way),
            ``S_invariant(q, scale_m)``, ``correction = S / S_invariant`` with
            ``correction_ci``, ``zeta_invariant(q)`` and ``extrapolated(scale_m)``.

        """
        name = self._pick(landscape)
        S = sf_coarse["S"] if isinstance(sf_coarse, xr.Dataset) else sf_coarse
        if "landscape" in S.dims:
            S = S.sel(landscape=name)
        if "direction" in S.dims:
            raise InputError("sf_coarse has a direction dim: use the pooled structure function")
        lag_name = "lag_m" if "lag_m" in S.coords else "scale_m" if "scale_m" in S.coords else None
        if lag_name is None or "q" not in S.dims:
            raise InputError("sf_coarse must have a 'q' dim and a 'lag_m' (metres) coordinate")
        lag_dim = S[lag_name].dims[0]
        S = S.transpose("q", lag_dim)
        lc = np.asarray(S[lag_name].values, dtype=np.float64)
        lf = np.atleast_1d(np.asarray(lags_m, dtype=np.float64))
        if np.any(lf <= 0):
            raise InputError("lags_m must be > 0")
        law_q = self.ds["q"].values
        qs = [float(v) for v in S["q"].values if np.any(np.isclose(law_q, v))]
        if not qs:
            raise InputError(f"no order of sf_coarse ({list(S['q'].values)}) is in the law ({list(law_q)})")
        nb = self.ds.sizes["replicate"]
        pred = np.full((len(qs), lf.size), np.nan)
        pred_b = np.full((nb, len(qs), lf.size), np.nan)
        inv = np.full((len(qs), lf.size), np.nan)
        zinv = np.full(len(qs), np.nan)
        for i, qv in enumerate(qs):
            y = np.log(np.asarray(S.sel(q=qv).values, dtype=np.float64))
            ok = np.isfinite(y) & (lc > 0)
            if ok.sum() < 2:
                raise ScaleRangeError(f"sf_coarse has fewer than 2 valid lags for q={qv:g}")
            p, pb = self._polyS(name, qv), self._polyS(name, qv, boot=True)
            off = np.mean(y[ok] - p.value(lc[ok]))
            pred[i] = off + p.value(lf)
            if nb:
                offb = np.mean(y[ok] - pb.value(lc[ok]), axis=-1)
                pred_b[:, i] = offb[:, None] + pb.value(lf)
            x = np.log(lc[ok])
            zinv[i] = np.polyfit(x, y[ok], 1)[0]
            inv[i] = np.polyval(np.polyfit(x, y[ok], 1), np.log(lf))
        p0 = self._polyS(name, qs[0])
        extrap = p0.outside(lf)
        if extrap.any() or p0.outside(lc).any():
            self._warn_once(
                "predict_sf: scales outside the law's fitted range %s m are extrapolated with a "
                "constant exponent", self.ds.attrs["scale_range_m"],
            )
        ci_S = np.exp(self._ci_pair(pred_b))
        corr_b = np.exp(pred_b - inv[None])
        out = xr.Dataset(
            {
                "S": (("q", "scale_m"), np.exp(pred), cf.attrs("structure function predicted by the law")),
                "S_ci": (("q", "scale_m", "bound"), ci_S, cf.attrs("bootstrap interval of the law prediction")),
                "S_invariant": (("q", "scale_m"), np.exp(inv), cf.attrs("scale-invariant extrapolation of the coarse band")),
                "correction": (("q", "scale_m"), np.exp(pred - inv), cf.attrs("law / scale-invariant", "1")),
                "correction_ci": (("q", "scale_m", "bound"), self._ci_pair(corr_b), cf.attrs("bootstrap interval of correction", "1")),
                "zeta_invariant": ("q", zinv, cf.attrs("exponent fitted on the coarse band", "1")),
                "extrapolated": ("scale_m", extrap, cf.attrs("outside the law's fitted range")),
            },
            coords={"q": qs, "scale_m": ("scale_m", lf, cf.attrs("lag", "m")), "bound": ["lower", "upper"]},
        )
        units = S.attrs.get("units")
        if units:
            for v in ("S", "S_ci", "S_invariant"):
                out[v].attrs["units"] = units
        out.attrs.update(landscape=name, coarse_lags_m=[float(v) for v in lc])
        return out

    @staticmethod
    def _band_parents(band: tuple[float, float]) -> np.ndarray:
        a, b = (float(v) for v in band)
        if not a > b > 0:
            raise InputError(f"a band is (coarse_m, fine_m) with coarse > fine > 0, got {band}")
        n = round(math.log2(a / b))
        if n < 1 or abs(math.log2(a / b) - n) > 1e-6:
            raise InputError(f"band {band} does not span a whole number of octaves")
        return a / 2.0 ** np.arange(n)

    def detail_energy_ratio(
        self,
        coarse_band: tuple[float, float] = (4000.0, 1000.0),
        fine_band: tuple[float, float] = (1000.0, 250.0),
        *,
        landscape: str | None = None,
    ) -> dict[str, Any]:
        """Detail energy added by the fine band relative to the coarse band.

        A band ``(l_c, l_f)`` adds the details of the octaves ``l_c -> l_c/2 -> ... -> l_f``;
        its energy is the sum of the law's ``D(l)`` over the parent scales
        ``l_c, l_c/2, ..., 2 l_f``. Scale invariance extrapolates ``D`` with the single
        exponent ``ln D`` has over the coarse band (OLS of the law's ``ln D`` at the coarse
        parents; ``D ~ l^zeta_2`` for a scale-invariant field).

        Parameters
        ----------
        coarse_band, fine_band
            ``(coarse_m, fine_m)`` of each band, each a whole number of octaves.
        landscape
            Landscape of the law.

        Returns
        -------
        dict
            ``law`` (fine / coarse energy by the law), ``law_ci`` (its bootstrap interval),
            ``invariant``, ``correction = law / invariant`` with ``correction_ci``, and
            ``exponent_invariant`` (the coarse-band exponent of ``D``).

        """
        name = self._pick(landscape)
        pc, pf = self._band_parents(coarse_band), self._band_parents(fine_band)
        p, pb = self._polyD(name), self._polyD(name, boot=True)
        if p.outside(np.concatenate([pc, pf])).any():
            self._warn_once("detail_energy_ratio: bands outside the law's detail range %s m are "
                        "extrapolated with a constant exponent", self.ds.attrs["detail_range_m"])
        law = np.exp(p.value(pf)).sum() / np.exp(p.value(pc)).sum()
        lawb = np.exp(pb.value(pf)).sum(-1) / np.exp(pb.value(pc)).sum(-1)

        def invariant(poly_vals_c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            x = np.log(pc)
            if pc.size == 1:  # one coarse octave: use the law's local slope there
                raise InputError("the coarse band must span at least 2 octaves to fit an exponent")
            beta = np.polyfit(x, np.moveaxis(np.atleast_2d(poly_vals_c), -1, 0), 1)[0]
            r = (pf[None, :] ** beta[:, None]).sum(-1) / (pc[None, :] ** beta[:, None]).sum(-1)
            return r, beta

        inv, beta = invariant(p.value(pc))
        invb, _ = invariant(pb.value(pc)) if pb.coef.shape[0] else (np.zeros(0), None)
        ci = self._ci_pair(lawb) if lawb.size else np.full(2, np.nan)
        cci = self._ci_pair(lawb / invb) if lawb.size else np.full(2, np.nan)
        return {
            "law": float(law),
            "law_ci": (float(ci[0]), float(ci[1])),
            "invariant": float(inv[0]),
            "correction": float(law / inv[0]),
            "correction_ci": (float(cci[0]), float(cci[1])),
            "exponent_invariant": float(beta[0]),
            "landscape": name,
        }

    def lst_ndvi(self, scale_m: float | Sequence[float], *, landscape: str | None = None) -> dict[str, Any]:
        """LST-NDVI regression slope and correlation of block means at a block size.

        Parameters
        ----------
        scale_m
            Block size(s) in metres (interpolated linearly in ``ln l`` between the measured
            octaves; NaN outside them).
        landscape
            Landscape of the law.

        Returns
        -------
        dict
            ``slope`` (K per NDVI unit), ``slope_ci``, ``corr``, ``corr_ci`` (floats for a scalar
            ``scale_m``, arrays otherwise).

        """
        if "lst_ndvi_slope_block" not in self.ds:
            raise InputError("the law was fitted without NDVI: no LST-NDVI relation")
        name = self._pick(landscape)
        s = np.atleast_1d(np.asarray(scale_m, dtype=np.float64))
        lb = np.log(self.ds["block_m"].values)
        out: dict[str, Any] = {}
        for key, var in (("slope", "lst_ndvi_slope_block"), ("corr", "lst_ndvi_corr_block")):
            for suffix, arr in (("", self.ds[var].sel(landscape=name).values),
                                ("_ci", self.ds[var + "_ci"].sel(landscape=name).values)):
                arr2 = arr[:, None] if arr.ndim == 1 else arr
                vals = []
                for j in range(arr2.shape[1]):
                    ok = np.isfinite(arr2[:, j])
                    vals.append(np.interp(np.log(s), lb[ok], arr2[ok, j], left=np.nan, right=np.nan)
                                if ok.sum() >= 2 else np.full(s.size, np.nan))
                v = np.stack(vals, -1)
                v = v[:, 0] if arr.ndim == 1 else v
                if np.ndim(scale_m) == 0:
                    v = float(v[0]) if arr.ndim == 1 else (float(v[0, 0]), float(v[0, 1]))
                out[key + suffix] = v
        return out

    def conditioning(
        self, *, landscape: str | None = None, scale_factor: int = 4, target_res_m: float = 250.0
    ) -> np.ndarray:
        """Return the scale-conditioning vector fed to the SR networks' FiLM layers.

        Entries (names in :attr:`conditioning_names`), with ``f = scale_factor``,
        ``r = target_res_m``, fine band ``(f r, r)`` and coarse band ``(f^2 r, f r)``:

        0. ``scale_factor`` - ``f``;
        1. ``log2_target_res_km`` - ``log2(r / 1000 m)`` (-2 for 250 m);
        2. ``zeta2_fine`` - the law's local ``zeta_2`` at the fine band's geometric centre
           ``r sqrt(f)``;
        3. ``zeta2_coarse`` - the same at the coarse band's centre ``f r sqrt(f)``;
        4. ``zeta2_fine_halfwidth`` - half the width of the interval of entry 2 (0 without
           bootstrap);
        5. ``log_detail_ratio_law`` - ``ln`` of the fine/coarse detail-energy ratio by the law;
        6. ``log_detail_correction`` - ``ln(law / scale-invariant)`` of that ratio;
        7. ``lst_ndvi_slope_fine`` - LST-NDVI slope of block means at ``r`` (K per NDVI unit;
           0 without NDVI);
        8. ``lst_ndvi_corr_fine`` - their correlation at ``r`` (0 without NDVI);
        9. ``has_ndvi`` - 1 when entries 7-8 are measured, else 0.

        Scales outside the law's range use a constant exponent (logged). NaN entries (e.g.
        the LST-NDVI relation undefined at ``r``) are replaced by 0.

        Parameters
        ----------
        landscape
            Landscape of the law.
        scale_factor
            SR factor ``f`` (>= 2).
        target_res_m
            Target pixel size ``r`` in metres.

        Returns
        -------
        numpy.ndarray of float32, shape (len(conditioning_names),)

        """
        if scale_factor < 2 or target_res_m <= 0:
            raise InputError("scale_factor must be >= 2 and target_res_m > 0")
        f, r = float(scale_factor), float(target_res_m)
        name = self._pick(landscape)
        le = self.local_exponent([r * math.sqrt(f), f * r * math.sqrt(f)], q=2, landscape=name)
        half = 0.5 * float(le["upper"].values[0] - le["lower"].values[0])
        dr = self.detail_energy_ratio((f * f * r, f * r), (f * r, r), landscape=name)
        slope = corr = 0.0
        has = 0.0
        if "lst_ndvi_slope_block" in self.ds:
            rel = self.lst_ndvi(r, landscape=name)
            slope, corr, has = rel["slope"], rel["corr"], 1.0
        vec = np.array(
            [f, math.log2(r / 1000.0), le["value"].values[0], le["value"].values[1], half,
             math.log(dr["law"]), math.log(dr["correction"]), slope, corr, has],
            dtype=np.float64,
        )
        return np.nan_to_num(vec, nan=0.0).astype(np.float32)

    # ----------------------------------------------------------------------------- I/O
    def to_netcdf(self, path: str | os.PathLike) -> None:
        """Write the law as NetCDF-4, provenance in the global attributes.

        The backend is the first one xarray finds (netCDF4, or h5netcdf with h5py).
        """
        from scalelaws.io.atomic import atomic_path

        with atomic_path(path) as tmp:  # an interrupted write never leaves a truncated law
            self.ds.to_netcdf(tmp)

    def summary(self) -> str:
        """Return a readable table: per landscape and octave, the local exponent and detail energy."""
        a = self.ds.attrs
        ci = float(a.get("ci", 0.95))
        lines = [
            f"CorrectionLaw fitted on {a.get('n_scenes')} scene(s), pixel {a.get('pixel_size_m', float('nan')):.1f} m, "
            f"scales {a['scale_range_m'][0]:.0f}-{a['scale_range_m'][1]:.0f} m, q = "
            + ",".join(f"{v:g}" for v in self.ds["q"].values),
            f"smoothing: degree {a.get('degree')} polynomial in ln l; bootstrap: {a.get('n_boot')} x "
            f"{a.get('bootstrap_unit')}, {ci:.0%} intervals; scalelaws {a.get('scalelaws_version')}",
        ]
        has_ndvi = "lst_ndvi_slope_block" in self.ds
        q2 = 2.0 if np.any(np.isclose(self.ds["q"].values, 2.0)) else float(self.ds["q"].values[0])
        for name in self.landscapes:
            lines.append("")
            lines.append(f"landscape {name}: {int(self.ds['n_pixels'].sel(landscape=name))} pixels")
            hdr = f"{'scale_m':>9} {'zeta_local':>10} {'interval':>15} {'zeta_oct':>9} {'interval':>15} {'D (K^2)':>10}"
            if has_ndvi:
                hdr += f" {'slope K':>8} {'corr':>6}"
            lines.append(hdr)
            lo, hi = a["scale_range_m"]
            for bm in self.ds["block_m"].values[1:]:
                if bm > 2 * hi:
                    break
                mid = bm / math.sqrt(2.0)
                le = self.local_exponent(mid, q=q2, landscape=name) if lo <= mid <= hi else None
                zo = self.ds["zeta_octave"].sel(landscape=name, block_m=bm).sel(q=q2, method="nearest")
                zci = self.ds["zeta_octave_ci"].sel(landscape=name, block_m=bm).sel(q=q2, method="nearest").values
                D = float(self.ds["detail_energy_block"].sel(landscape=name, block_m=bm))
                zl = f"{float(le['value'][0]):10.3f} [{float(le['lower'][0]):6.3f},{float(le['upper'][0]):6.3f}]" if le is not None else f"{'':10} {'':15}"
                row = f"{bm:9.0f} {zl} {float(zo):9.3f} [{zci[0]:6.3f},{zci[1]:6.3f}] {D:10.4g}"
                if has_ndvi:
                    s = float(self.ds["lst_ndvi_slope_block"].sel(landscape=name, block_m=bm))
                    c = float(self.ds["lst_ndvi_corr_block"].sel(landscape=name, block_m=bm))
                    row += f" {s:8.2f} {c:6.2f}"
                lines.append(row)
        lines.append("")
        lines.append(f"zeta_local: smooth d ln S_{q2:g}/d ln l at scale_m/sqrt(2); zeta_oct: slope between "
                     "scale_m/2 and scale_m; D: detail energy refining scale_m -> scale_m/2")
        return "\n".join(lines)

    def plot(self, ax: Any = None, *, q: float = 2.0, landscapes: Sequence[str] | None = None) -> Any:
        """Law curves with intervals.

        Parameters
        ----------
        ax
            A matplotlib Axes: draw only the local Hurst exponent ``zeta_q(l)/q`` there.
            ``None``: a new figure with the local exponent, the detail energy and (with NDVI)
            the LST-NDVI slope.
        q
            Order of the local exponent panel.
        landscapes
            Subset to draw (default all).

        Returns
        -------
        matplotlib.figure.Figure or matplotlib.axes.Axes

        """
        import matplotlib.pyplot as plt

        names = list(landscapes) if landscapes is not None else self.landscapes
        ds = self.ds
        if ax is None:
            n = 3 if "lst_ndvi_slope_block" in ds else 2
            fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.6), constrained_layout=True)
        else:
            fig, axes = None, [ax]
        s = ds["scale_m"].values
        for i, name in enumerate(names):
            c = f"C{i}"
            z = ds["zeta_local"].sel(landscape=name).sel(q=q, method="nearest") / q
            zc = ds["zeta_local_ci"].sel(landscape=name).sel(q=q, method="nearest") / q
            axes[0].plot(s, z, color=c, label=name)
            axes[0].fill_between(s, zc.sel(bound="lower"), zc.sel(bound="upper"), color=c, alpha=0.25, lw=0)
            zo = ds["zeta_octave"].sel(landscape=name).sel(q=q, method="nearest") / q
            zoc = ds["zeta_octave_ci"].sel(landscape=name).sel(q=q, method="nearest") / q
            xm = ds["block_m"].values / math.sqrt(2.0)
            err = np.abs(np.stack([zo - zoc.sel(bound="lower"), zoc.sel(bound="upper") - zo]))
            axes[0].errorbar(xm, zo, yerr=np.nan_to_num(err), fmt="o", ms=3, color=c, lw=0.8)
            if len(axes) > 1:
                D = ds["detail_energy"].sel(landscape=name)
                Dc = ds["detail_energy_ci"].sel(landscape=name)
                axes[1].plot(s, D, color=c, label=name)
                axes[1].fill_between(s, Dc.sel(bound="lower"), Dc.sel(bound="upper"), color=c, alpha=0.25, lw=0)
                axes[1].plot(ds["block_m"], ds["detail_energy_block"].sel(landscape=name), "o", ms=3, color=c)
            if len(axes) > 2:
                sl = ds["lst_ndvi_slope_block"].sel(landscape=name)
                slc = ds["lst_ndvi_slope_block_ci"].sel(landscape=name)
                axes[2].plot(ds["block_m"], sl, "o-", ms=3, color=c, label=name)
                axes[2].fill_between(ds["block_m"], slc.sel(bound="lower"), slc.sel(bound="upper"), color=c, alpha=0.25, lw=0)
        axes[0].set_xscale("log")
        axes[0].set_xlabel("scale l (m)")
        axes[0].set_ylabel(f"local exponent zeta_{q:g}(l)/{q:g}")
        axes[0].legend(fontsize="small")
        if len(axes) > 1:
            axes[1].set_xscale("log")
            axes[1].set_yscale("log")
            axes[1].set_xlabel("parent block size l (m)")
            axes[1].set_ylabel("detail energy l -> l/2 (K$^2$)")
        if len(axes) > 2:
            axes[2].set_xscale("log")
            axes[2].set_xlabel("block size (m)")
            axes[2].set_ylabel("LST-NDVI slope (K)")
        return fig if fig is not None else axes[0]

    def __repr__(self) -> str:
        a = self.ds.attrs
        return (f"<CorrectionLaw landscapes={self.landscapes} q={list(self.ds['q'].values)} "
                f"scales={a.get('scale_range_m')} m n_scenes={a.get('n_scenes')}>")


def load_law(path: str | os.PathLike) -> CorrectionLaw:
    """Read a law written by :meth:`CorrectionLaw.to_netcdf`.

    Parameters
    ----------
    path
        NetCDF file.

    Returns
    -------
    CorrectionLaw

    Raises
    ------
    InputError
        The file is missing or is not a correction law.

    """
    p = os.fspath(path)
    if not os.path.exists(p):
        raise InputError("no such file", p)
    try:
        ds = xr.load_dataset(p)
    except Exception as exc:  # the NetCDF backends raise several types for non-NetCDF files
        raise InputError(f"cannot read as NetCDF: {exc}", p) from exc
    for key in ("scale_range_m", "detail_range_m"):
        if key in ds.attrs:
            ds.attrs[key] = [float(v) for v in np.atleast_1d(ds.attrs[key])]
    fmt = ds.attrs.get("law_format_version", 1)
    try:
        fmt = int(np.atleast_1d(fmt)[0])
    except (TypeError, ValueError):
        raise InputError(f"not a correction law (law_format_version {fmt!r})", p) from None
    if fmt > LAW_FORMAT_VERSION:
        raise InputError(
            f"law written by scalelaws {ds.attrs.get('scalelaws_version', '?')} in format "
            f"version {fmt}; this scalelaws reads format {LAW_FORMAT_VERSION}: upgrade scalelaws",
            p,
        )
    missing = [v for v in _REQUIRED if v not in ds]
    if missing:
        raise InputError(
            f"not a correction law, or one from an incompatible scalelaws version (missing "
            f"variables {missing})",
            p,
        )
    return CorrectionLaw(ds)
