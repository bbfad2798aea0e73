"""The steps of :meth:`scalelaws.laws.CorrectionLaw.fit`: pooled sums -> smooth curves -> Dataset.

:func:`fit_dataset` runs them in order: resolve the landscapes and the scale range, pool the
per-scene sums (:func:`scalelaws.landscapes.landscape_sums`) with bootstrap weights, smooth
``ln S_q`` (:func:`_structure_functions`) and ``ln D`` (:func:`_detail_energies`) in log-scale,
take the raw per-octave exponents (:func:`_octave_exponents`) and the LST-NDVI relations
(:func:`_lst_ndvi_variables`), and pack everything with its provenance.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from scalelaws import cf
from scalelaws.core.estimate import percentile_interval, pooled_ratio
from scalelaws.errors import InputError, ScaleRangeError
from scalelaws.landscapes import (
    _as_scenes,
    _per_scene,
    _pixel_size,
    bootstrap_weights,
    classify_ndvi,
    landscape_sums,
)
from scalelaws.laws.curves import _fit_curve, _Poly
from scalelaws.laws.schema import LAW_FORMAT_VERSION

log = logging.getLogger(__name__)

_Var = tuple[Any, np.ndarray, dict[str, Any]]


@dataclass
class _Range:
    """Pixel size and scale range (m) of the fit, and the largest lag (pixels)."""

    pixel: float
    lo_m: float
    hi_m: float
    max_lag: int


@dataclass
class _SFCurve:
    """Pooled and smoothed structure functions along the lags."""

    logS: np.ndarray
    logSb: np.ndarray
    count: np.ndarray
    sel: np.ndarray
    l_ref: float
    coef: np.ndarray
    coef_b: np.ndarray
    deg: int
    smooth: np.ndarray
    zl: np.ndarray
    zl_ci: np.ndarray


@dataclass
class _DetailCurve:
    """Pooled detail energies per octave and their smooth curve along the lags."""

    D: np.ndarray
    Db: np.ndarray
    lo: float
    hi: float
    coef: np.ndarray
    coef_b: np.ndarray
    deg: int
    Dl: np.ndarray
    Dl_ci: np.ndarray


def _resolve_classes(classes: Any, ndvi: Any, n_scenes: int) -> Any:
    """Turn ``classes="ndvi"`` into NDVI class labels per scene; anything else passes through."""
    if not isinstance(classes, str):
        return classes
    if classes != "ndvi":
        raise InputError(f"classes must be 'ndvi', labels, masks or None; got {classes!r}")
    if ndvi is None:
        raise InputError("classes='ndvi' needs ndvi")
    return [classify_ndvi(v) for v in _per_scene(ndvi, n_scenes, "ndvi")]


def _scale_range(scenes: list[xr.DataArray], scales_m: tuple[float, float] | None) -> _Range:
    """Check ``scales_m`` against the scenes (default: one pixel to a fifth of the smallest)."""
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
    return _Range(pixel, lo_m, hi_m, max_lag)


def _bootstrap(sums: xr.Dataset, n_boot: int, unit: str, rng: Any) -> tuple[np.ndarray, str]:
    """Bootstrap weights ``(replicate, unit)`` of the sums and the resampling unit used."""
    if n_boot > 0:
        w, used = bootstrap_weights(sums, n_boot, unit=unit, rng=rng)
        return w.values, used
    return np.zeros((0, sums.sizes["unit"])), "none"


def _structure_functions(
    sums: xr.Dataset, wv: np.ndarray, rg: _Range, degree: int, min_pairs: int, ci: float, n_boot: int
) -> _SFCurve:
    """Pool ``S_q`` per landscape and lag, smooth ``ln S_q`` over the scale range."""
    scale = sums["lag_m"].values
    ss, sc = sums["sf_sum"].values, sums["sf_count"].values
    S = pooled_ratio(ss, sc, min_pairs)
    Sb = pooled_ratio(ss, sc, min_pairs, weights=wv)
    with np.errstate(divide="ignore", invalid="ignore"):
        logS, logSb = np.log(S), np.log(Sb)
    sel = (scale >= rg.lo_m * (1 - 5e-3)) & (scale <= rg.hi_m * (1 + 5e-3))
    if sel.sum() < 3:
        raise ScaleRangeError(f"fewer than 3 lags within {rg.lo_m:g}-{rg.hi_m:g} m")
    l_ref = math.sqrt(scale[sel].min() * scale[sel].max())
    coefS, coefSb, degS = _fit_curve(scale, logS, logSb, sel, degree, l_ref)
    polyS, polySb = _Poly(coefS, l_ref, scale[sel].min(), scale[sel].max()), _Poly(
        coefSb, l_ref, scale[sel].min(), scale[sel].max()
    )
    mask_s = np.where(sel, 1.0, np.nan)
    smooth = polyS.value(scale) * mask_s
    zl = polyS.slope(scale) * mask_s
    zl_ci = percentile_interval(polySb.slope(scale) * mask_s, ci) if n_boot > 1 else np.full(zl.shape + (2,), np.nan)
    return _SFCurve(logS, logSb, sc, sel, l_ref, coefS, coefSb, degS, smooth, zl, zl_ci)


def _octave_exponents(sums: xr.Dataset, sf: _SFCurve, nb: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw exponents between lags ``2^(k-1)`` and ``2^k`` pixels (point and replicates)."""
    block_m = sums["block_m"].values
    lag_px = sums["lag"].values
    zoct = np.full((sums.sizes["landscape"], sums["q"].size, block_m.size), np.nan)
    zoct_b = np.full((nb,) + zoct.shape, np.nan)
    for k in range(1, block_m.size):
        a, b = np.flatnonzero(lag_px == 2 ** (k - 1)), np.flatnonzero(lag_px == 2**k)
        if a.size and b.size:
            zoct[..., k] = (sf.logS[..., b[0]] - sf.logS[..., a[0]]) / math.log(2.0)
            zoct_b[..., k] = (sf.logSb[..., b[0]] - sf.logSb[..., a[0]]) / math.log(2.0)
    return zoct, zoct_b


def _detail_energies(
    sums: xr.Dataset, wv: np.ndarray, rg: _Range, l_ref: float, degree: int, min_pairs: int,
    ci: float, n_boot: int,
) -> _DetailCurve:
    """Pool ``D`` per landscape and octave, smooth ``ln D`` up to parent blocks of ``2 hi_m``."""
    scale, block_m = sums["lag_m"].values, sums["block_m"].values
    ds_, dw = sums["det_sum"].values, sums["det_weight"].values
    D = pooled_ratio(ds_, dw, min_pairs)
    Db = pooled_ratio(ds_, dw, min_pairs, weights=wv)
    with np.errstate(divide="ignore", invalid="ignore"):
        logD, logDb = np.log(D), np.log(Db)
    selD = (block_m >= 2 * rg.pixel * (1 - 5e-3)) & (block_m <= 2 * rg.hi_m * (1 + 5e-3))
    selD &= np.isfinite(logD).any(0)
    if selD.sum() < 2:
        raise ScaleRangeError("fewer than 2 octaves of detail energy within the scale range")
    dlo, dhi = block_m[selD].min(), block_m[selD].max()
    coefD, coefDb, degD = _fit_curve(block_m, logD, logDb, selD, degree, l_ref)
    polyD, polyDb = _Poly(coefD, l_ref, dlo, dhi), _Poly(coefDb, l_ref, dlo, dhi)
    inD = np.where((scale >= dlo * (1 - 1e-9)) & (scale <= dhi * (1 + 1e-9)), 1.0, np.nan)
    Dl = np.exp(polyD.value(scale)) * inD
    Dl_ci = percentile_interval(np.exp(polyDb.value(scale)) * inD, ci) if n_boot > 1 else np.full(Dl.shape + (2,), np.nan)
    return _DetailCurve(D, Db, dlo, dhi, coefD, coefDb, degD, Dl, Dl_ci)


def _ci_function(ci: float, nb: int) -> Callable[[np.ndarray], np.ndarray]:
    """Percentile interval over the leading replicate axis (NaN with fewer than 2 replicates)."""

    def qci(arr: np.ndarray) -> np.ndarray:
        return percentile_interval(arr, ci) if nb > 1 else np.full(arr.shape[1:] + (2,), np.nan)

    return qci


def _law_variables(
    sums: xr.Dataset, sf: _SFCurve, zoct: tuple[np.ndarray, np.ndarray], det: _DetailCurve,
    ci: float, nb: int,
) -> dict[str, _Var]:
    """Pack the law's variables: pooled and smooth ``ln S_q``, exponents, detail energies, coefficients."""
    units = sums.attrs["units_lst"]
    L, Q, P = sums.sizes["landscape"], sums["q"].size, sf.deg + 1
    qci = _ci_function(ci, nb)
    lnSq = f"ln({units}^q)"
    return {
        "log_S": (("landscape", "q", "scale_m"), sf.logS, cf.attrs("ln of the pooled structure function S_q", lnSq)),
        "log_S_ci": (("landscape", "q", "scale_m", "bound"), qci(sf.logSb), cf.interval("log_S", ci, lnSq)),
        "count": (("landscape", "scale_m"), sf.count.sum(0), cf.attrs("number of pairs", "1")),
        "log_S_smooth": (("landscape", "q", "scale_m"), sf.smooth, cf.attrs("smoothed ln S_q (WLS polynomial in ln l)", lnSq)),
        "zeta_local": (("landscape", "q", "scale_m"), sf.zl, cf.attrs("local scaling exponent d ln S_q / d ln l", "1")),
        "zeta_local_ci": (("landscape", "q", "scale_m", "bound"), sf.zl_ci, cf.interval("zeta_local", ci)),
        "coef_log_S": (("landscape", "q", "power"), sf.coef, cf.attrs("coefficients of ln S_q in powers of ln(l / l_ref)", "1")),
        "coef_log_S_boot": (("replicate", "landscape", "q", "power"), sf.coef_b.reshape(nb, L, Q, P), cf.attrs("bootstrap replicates of coef_log_S", "1")),
        "zeta_octave": (("landscape", "q", "block_m"), zoct[0], cf.attrs("exponent between lags block_m/2 and block_m", "1")),
        "zeta_octave_ci": (("landscape", "q", "block_m", "bound"), qci(zoct[1]), cf.interval("zeta_octave", ci)),
        "detail_energy": (("landscape", "scale_m"), det.Dl, cf.attrs("smoothed variance of the detail added from l to l/2 (block means)", f"{units}^2")),
        "detail_energy_ci": (("landscape", "scale_m", "bound"), det.Dl_ci, cf.interval("detail_energy", ci, f"{units}^2")),
        "detail_energy_block": (("landscape", "block_m"), det.D, cf.attrs("measured detail energy refining blocks of size block_m to block_m/2", f"{units}^2")),
        "detail_energy_block_ci": (("landscape", "block_m", "bound"), qci(det.Db), cf.interval("detail_energy_block", ci, f"{units}^2")),
        "coef_log_D": (("landscape", "power_D"), det.coef, cf.attrs("coefficients of ln D in powers of ln(l / l_ref)", "1")),
        "coef_log_D_boot": (("replicate", "landscape", "power_D"), det.coef_b.reshape(nb, L, det.deg + 1), cf.attrs("bootstrap replicates of coef_log_D", "1")),
        "n_pixels": ("landscape", sums["n_pixels"].values.sum(0), cf.attrs("valid pixels", "1")),
    }


def _slope_corr(d: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """OLS slope of LST on NDVI and their correlation from pooled moments (NaN below 10 pairs)."""
    ok = d["reg_n"] >= 10
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.where(ok, d["reg_sxy"] / d["reg_sxx"], np.nan)
        c = np.where(ok, d["reg_sxy"] / np.sqrt(d["reg_sxx"] * d["reg_syy"]), np.nan)
    return s, c


def _interp_blocks(v: np.ndarray, lnb: np.ndarray, lns: np.ndarray) -> np.ndarray:
    """Interpolate ``v(..., block)`` linearly in ``ln`` scale onto the lags (NaN outside)."""
    out = np.full(v.shape[:-1] + (lns.size,), np.nan)
    for idx in np.ndindex(v.shape[:-1]):
        ok = np.isfinite(v[idx])
        if ok.sum() >= 2:
            out[idx] = np.interp(lns, lnb[ok], v[idx][ok], left=np.nan, right=np.nan)
        elif ok.sum() == 1:
            out[idx] = np.where(np.isclose(lns, lnb[ok][0]), v[idx][ok][0], np.nan)
    return out


def _lst_ndvi_variables(sums: xr.Dataset, wv: np.ndarray, ci: float) -> dict[str, _Var]:
    """LST-NDVI slope and correlation of block means, per block size and along the lags."""
    units = sums.attrs["units_lst"]
    qci = _ci_function(ci, wv.shape[0])
    r = {k: sums[k].values for k in ("reg_n", "reg_sxx", "reg_sxy", "reg_syy")}
    rb = {k: np.einsum("ru,ulk->rlk", wv, v) for k, v in r.items()}
    rt = {k: v.sum(0) for k, v in r.items()}
    sl, co = _slope_corr(rt)
    slb, cob = _slope_corr(rb)
    lnb, lns = np.log(sums["block_m"].values), np.log(sums["lag_m"].values)

    def interp(v: np.ndarray) -> np.ndarray:
        return _interp_blocks(v, lnb, lns)

    def interp_ci(v: np.ndarray) -> np.ndarray:
        return np.moveaxis(interp(np.moveaxis(v, -1, 0)), 0, -1)

    sl_ci, co_ci = qci(slb), qci(cob)
    return {
        "lst_ndvi_slope": (("landscape", "scale_m"), interp(sl), cf.attrs("OLS slope of LST on NDVI of block means", f"{units}")),
        "lst_ndvi_slope_ci": (("landscape", "scale_m", "bound"), interp_ci(sl_ci), cf.interval("lst_ndvi_slope", ci, f"{units}")),
        "lst_ndvi_corr": (("landscape", "scale_m"), interp(co), cf.attrs("correlation of LST and NDVI block means", "1")),
        "lst_ndvi_corr_ci": (("landscape", "scale_m", "bound"), interp_ci(co_ci), cf.interval("lst_ndvi_corr", ci)),
        "lst_ndvi_slope_block": (("landscape", "block_m"), sl, cf.attrs("OLS slope of LST on NDVI at block size block_m", f"{units}")),
        "lst_ndvi_slope_block_ci": (("landscape", "block_m", "bound"), sl_ci, cf.interval("lst_ndvi_slope_block", ci, f"{units}")),
        "lst_ndvi_corr_block": (("landscape", "block_m"), co, cf.attrs("LST-NDVI correlation at block size block_m", "1")),
        "lst_ndvi_corr_block_ci": (("landscape", "block_m", "bound"), co_ci, cf.interval("lst_ndvi_corr_block", ci)),
    }


def _coords(sums: xr.Dataset, sf: _SFCurve, det: _DetailCurve, nb: int) -> dict[str, Any]:
    """Coordinates of the law Dataset."""
    return {
        "landscape": list(sums["landscape"].values),
        "q": ("q", sums["q"].values, cf.attrs("order", "1")),
        "scale_m": ("scale_m", sums["lag_m"].values, cf.attrs("scale (lag)", "m")),
        "lag": ("scale_m", sums["lag"].values, cf.attrs("lag", "pixel")),
        "block_m": ("block_m", sums["block_m"].values, cf.attrs("block size (octave's coarse end)", "m")),
        "bound": ["lower", "upper"],
        "replicate": np.arange(nb),
        "power": np.arange(sf.deg + 1),
        "power_D": np.arange(det.deg + 1),
    }


def _provenance(
    scenes: list[xr.DataArray], sources: Sequence[str] | None, sums: xr.Dataset, sf: _SFCurve,
    det: _DetailCurve, settings: dict[str, Any],
) -> dict[str, Any]:
    """Global attributes of the law: inputs, ranges, smoothing, bootstrap and fit settings."""
    from scalelaws import __version__

    scale = sums["lag_m"].values
    src = list(sources) if sources is not None else [
        str(s.attrs.get("source", f"scene {i}")) for i, s in enumerate(scenes)
    ]
    now = cf.now()
    return dict(
        title="scalelaws correction law",
        Conventions=cf.CONVENTIONS,
        source="; ".join(src),
        history=f"{now} CorrectionLaw.fit (scalelaws {__version__})",
        scalelaws_version=__version__,
        law_format_version=LAW_FORMAT_VERSION,
        date_created=now,
        n_scenes=len(scenes),
        pixel_size_m=float(sums.attrs["pixel_size_m"]),
        scale_range_m=[float(scale[sf.sel].min()), float(scale[sf.sel].max())],
        detail_range_m=[float(det.lo), float(det.hi)],
        l_ref_m=float(sf.l_ref),
        degree=int(sf.deg),
        degree_detail=int(det.deg),
        n_boot=int(settings["nb"]),
        bootstrap_unit=settings["unit"],
        ci=float(settings["ci"]),
        block_px=int(settings["block_px"]),
        max_missing=float(settings["max_missing"]),
        min_pairs=int(settings["min_pairs"]),
        has_ndvi=int("reg_n" in sums),
        smoothing="WLS polynomial of ln S_q and ln D in ln(l / l_ref), weights 1/bootstrap variance; "
        "continued linearly (constant exponent) outside the fitted range",
        detail_definition="var(X_{l/2} - upsampled X_l), block means (Haar), pixel weighted",
    )


def fit_dataset(
    lst: xr.DataArray | Sequence[xr.DataArray],
    *,
    ndvi: xr.DataArray | Sequence[xr.DataArray] | None,
    classes: Any,
    q: Sequence[float],
    scales_m: tuple[float, float] | None,
    n_boot: int,
    rng: np.random.Generator | int | None,
    sources: Sequence[str] | None,
    degree: int,
    block_px: int,
    bootstrap: str,
    max_missing: float,
    ci: float,
    min_pairs: int,
    include_all: bool,
    scene_sums: Any,
) -> xr.Dataset:
    """Fit a law and return its Dataset (parameters of :meth:`scalelaws.laws.CorrectionLaw.fit`)."""
    scenes = _as_scenes(lst)
    classes = _resolve_classes(classes, ndvi, len(scenes))
    rg = _scale_range(scenes, scales_m)
    sums = landscape_sums(
        scenes,
        classes,
        ndvi=ndvi,
        q=q,
        max_lag=rg.max_lag,
        block_px=block_px,
        max_missing=max_missing,
        include_all=include_all,
        scene_sums=scene_sums,
    )
    wv, unit = _bootstrap(sums, n_boot, bootstrap, rng)
    nb = wv.shape[0]
    sf = _structure_functions(sums, wv, rg, degree, min_pairs, ci, n_boot)
    zoct = _octave_exponents(sums, sf, nb)
    det = _detail_energies(sums, wv, rg, sf.l_ref, degree, min_pairs, ci, n_boot)
    data = _law_variables(sums, sf, zoct, det, ci, nb)
    if "reg_n" in sums:
        data.update(_lst_ndvi_variables(sums, wv, ci))
    ds = xr.Dataset(data, coords=_coords(sums, sf, det, nb))
    settings = dict(nb=nb, unit=unit, ci=ci, block_px=block_px, max_missing=max_missing, min_pairs=min_pairs)
    ds.attrs.update(_provenance(scenes, sources, sums, sf, det, settings))
    names = list(sums["landscape"].values)
    log.info("fitted a correction law on %d scene(s), landscapes %s", len(scenes), names)
    return ds
