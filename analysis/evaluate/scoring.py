"""Scoring one prediction against a reference field (:func:`score_fields`, :func:`score_pair`).

The prediction is reprojected bilinearly onto the reference grid translated back by the
co-registration offset; the pixel-wise metrics are computed there, on the reference-valid
pixels inside the prediction's eroded footprint, and the scale-aware ones (structure
functions, spectral band variances) on each field's native grid.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr
from affine import Affine
from scipy import ndimage

from analysis import metrics as M
from analysis.evaluate.protocol import ScaleGrid
from analysis.evaluate.registration import (
    _pixel_m,
    _translated_grid,
    native_mask,
    reproject_onto,
)
from scalelaws.errors import AllNaNError, GridMismatchError, InputError, ScaleRangeError

logger = logging.getLogger(__name__)

__all__ = ["score_fields", "score_pair"]


def _scale_metrics_native(
    pred: xr.DataArray, ref: xr.DataArray, transform: Affine, mask: np.ndarray,
    lags: Sequence[int], bands_px: Sequence[tuple[float, float]], label: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Structure functions and band variances of each field on its own grid, same scales in m.

    Lags and bands are given in reference pixels; on the prediction's grid they are converted
    to metres and back to the nearest whole number of prediction pixels.
    """
    ratio = _pixel_m(ref) / _pixel_m(pred)
    lags_p = [max(1, int(round(lag * ratio))) for lag in lags]
    bad = [lag for lag, lp in zip(lags, lags_p, strict=True) if abs(lp - lag * ratio) > 0.1 * lag * ratio]
    if bad:
        logger.warning("%s: lags %s (reference pixels) are not whole prediction pixels; rounded "
                       "to %s", label, bad, lags_p)
    pmask = native_mask(pred, ref, transform, mask)
    p = np.asarray(pred.values, dtype=np.float64)
    a = np.asarray(ref.values, dtype=np.float64)
    s2p, _ = M.structure_function_s2(p, pmask, lags_p)
    s2a, _ = M.structure_function_s2(a, mask, lags)
    try:
        spec = (M.band_variance(p, pmask, [(lo * ratio, hi * ratio) for lo, hi in bands_px])
                / M.band_variance(a, mask, bands_px))
    except (ScaleRangeError, InputError) as exc:
        logger.warning("%s: no spectral ratio (%s)", label, exc)
        spec = np.full(len(bands_px), np.nan)
    return s2p, s2a, spec


def score_fields(
    pred: xr.DataArray,
    ref: xr.DataArray,
    *,
    offset: tuple[float, float] = (0.0, 0.0),
    frame: xr.DataArray | None = None,
    lst_1km: xr.DataArray | None = None,
    lags: Sequence[int] = M.DEFAULT_LAGS_PX,
    bands_px: Sequence[tuple[float, float]] = M.DEFAULT_BANDS_PX,
    erode_px: int = 1,
    mask: np.ndarray | None = None,
    scale_grid: ScaleGrid = "native",
    label: str = "the prediction",
    scale_metrics: bool = True,
) -> dict[str, Any]:
    """Score a prediction against a reference LST field of any grid (the protocol of the module).

    Parameters
    ----------
    pred
        Prediction (K) with its CRS and transform.
    ref
        Reference LST (K) with its CRS and transform (ASTER, Landsat, airborne...).
    offset
        ``(dx_m, dy_m)``: displacement of the reference relative to the prediction's frame,
        x east, y north, in the CRS of ``frame``; the reference grid is translated back by it.
    frame
        Field whose CRS (and centre) the offset is expressed in; default ``pred``.
    lst_1km
        The coarse input, for the consistency error (NaN without it).
    lags
        Lags (reference pixels) of the structure-function error.
    bands_px
        Wavelength bands (reference pixels) of the spectral ratio.
    erode_px
        Erosion of the prediction footprint (pixels, 3 x 3 square element).
    mask
        Optional boolean array on the reference grid further restricting the scored pixels.
    scale_grid
        Where the scale-aware metrics are computed: ``"native"`` (default: the prediction on
        its own grid over the pixels whose centres fall in the scored area, the reference on
        its own grid, the same lags and bands in metres) or ``"reference"`` (the bilinearly
        reprojected prediction on the reference grid, which smooths its 1-2 pixel lags).
    label
        Name of the prediction in messages.
    scale_metrics
        Compute the structure-function and spectral metrics (``False``: the pixel-wise metrics
        only, e.g. for a model-selection loop; the arrays are then NaN).

    Returns
    -------
    dict
        The scalars of :data:`SCALAR_METRICS`, and arrays ``sf_log_ratio``, ``s2_pred``,
        ``s2_aster`` (per lag; K^2 for S2; ``s2_aster`` is the reference's), ``spectral_ratio``
        (per band).

    """
    if pred.ndim != 2:
        raise InputError(f"the prediction must be 2-D (y, x), got dims {pred.dims}")
    if scale_grid not in ("native", "reference"):
        raise InputError(f"scale_grid must be 'native' or 'reference', got {scale_grid!r}")
    units = pred.attrs.get("units", "K")
    if units != "K":
        raise InputError(f"the prediction must be in kelvin, got units {units!r}")
    transform = _translated_grid(ref, pred if frame is None else frame, offset)
    rep = reproject_onto(pred, ref, transform)
    p = np.asarray(rep.values, dtype=np.float64)
    a = np.asarray(ref.values, dtype=np.float64)
    if p.shape != a.shape:
        raise GridMismatchError(f"reprojected prediction {p.shape} vs reference {a.shape}")
    mask = _scored_mask(p, a, erode_px, mask, label)
    cons = (M.consistency_error(pred, lst_1km, method="radiance")["rmse"]
            if lst_1km is not None else float("nan"))
    if not scale_metrics:
        s2p = s2a = np.full(len(lags), np.nan)
        spec = np.full(len(bands_px), np.nan)
    elif scale_grid == "native":
        s2p, s2a, spec = _scale_metrics_native(pred, ref, transform, mask, lags, bands_px, label)
    else:
        s2p, s2a, spec = _scale_metrics_reference(p, a, mask, lags, bands_px, label)
    with np.errstate(divide="ignore", invalid="ignore"):
        sf = np.log(s2p / s2a)
    return {**_pixel_metrics(p, a, mask), "consistency_rmse": cons,
            **_gradient_metrics(p, a, mask), "data_range": M.data_range(a, mask),
            "n_scored": int(mask.sum()), "sf_log_ratio": sf, "s2_pred": s2p, "s2_aster": s2a,
            "spectral_ratio": spec}


def _scored_mask(p: np.ndarray, a: np.ndarray, erode_px: int, mask: np.ndarray | None,
                 label: str) -> np.ndarray:
    """Reference-valid pixels in the eroded footprint of the reprojected prediction ``p``."""
    footprint = np.isfinite(p)
    if erode_px > 0:
        footprint = ndimage.binary_erosion(footprint, structure=np.ones((3, 3), bool),
                                           iterations=erode_px, border_value=0)
    if mask is not None:
        extra = np.asarray(mask, dtype=bool)
        if extra.shape != a.shape:
            raise GridMismatchError(f"mask {extra.shape} is not on the reference grid {a.shape}")
        footprint &= extra
    scored = footprint & np.isfinite(a)
    if not scored.any():
        raise AllNaNError(f"{label}: no valid reference pixel inside the prediction footprint "
                          "(the rasters do not overlap)")
    return scored


def _scale_metrics_reference(
    p: np.ndarray, a: np.ndarray, mask: np.ndarray, lags: Sequence[int],
    bands_px: Sequence[tuple[float, float]], label: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Structure functions and spectral ratio of the reprojected prediction, reference grid."""
    try:
        spec = M.spectral_ratio(p, a, mask, bands_px)
    except (ScaleRangeError, InputError) as exc:
        logger.warning("%s: no spectral ratio (%s)", label, exc)
        spec = np.full(len(bands_px), np.nan)
    s2p, _ = M.structure_function_s2(p, mask, lags)
    s2a, _ = M.structure_function_s2(a, mask, lags)
    return s2p, s2a, spec


def _pixel_metrics(p: np.ndarray, a: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """Pixel-wise metrics of :data:`SCALAR_METRICS` (PSNR/SSIM peak: the reference's range)."""
    rng_k = M.data_range(a, mask)
    return {
        "rmse": M.rmse(p, a, mask),
        "bias": M.bias(p, a, mask),
        "ubrmse": M.ubrmse(p, a, mask),
        "mae": M.mae(p, a, mask),
        "r": M.pearson_r(p, a, mask),
        "psnr": M.psnr(p, a, mask, data_range=rng_k),
        "ssim": M.ssim(p, a, mask, data_range=rng_k),
    }


def _gradient_metrics(p: np.ndarray, a: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """RMSE per tercile of the reference's gradient magnitude."""
    grad, _ = M.gradient_stratified_rmse(p, a, mask, n_strata=3)
    return {"rmse_grad_low": float(grad[0]), "rmse_grad_mid": float(grad[1]),
            "rmse_grad_high": float(grad[2])}


def score_pair(
    pred: xr.DataArray,
    pair,
    *,
    offset: tuple[float, float],
    lags: Sequence[int] = M.DEFAULT_LAGS_PX,
    bands_px: Sequence[tuple[float, float]] = M.DEFAULT_BANDS_PX,
    erode_px: int = 1,
    mask: np.ndarray | None = None,
    scale_grid: ScaleGrid = "native",
    scale_metrics: bool = True,
) -> dict[str, Any]:
    """Score one prediction against the pair's ASTER LST with the reference protocol.

    Parameters
    ----------
    pred
        Prediction (K) on the pair's MODIS 250 m grid, with its CRS and transform.
    pair
        A :class:`scalelaws.io.ModisAsterPair`.
    offset
        ``(dx_m, dy_m)`` displacement of ASTER relative to MODIS (MODIS frame, x east, y north;
        see :func:`estimate_offset`); ``(0, 0)`` scores against ASTER as distributed.
    lags, bands_px, erode_px, scale_grid
        As in :func:`score_fields` (the reference is ASTER).
    mask
        Optional boolean array on the ASTER grid further restricting the scored pixels
        (:func:`evaluate` passes the footprint common to all methods of a pair).
    scale_metrics
        Compute the structure-function and spectral metrics (``False``: the pixel-wise metrics
        only, e.g. for a model-selection loop; the arrays are then NaN).

    Returns
    -------
    dict
        See :func:`score_fields` (the consistency error against ``pair.lst_1km``).

    """
    return score_fields(pred, pair.aster_250m, offset=offset, frame=pair.lst_1km,
                        lst_1km=pair.lst_1km, lags=lags, bands_px=bands_px, erode_px=erode_px,
                        mask=mask, scale_grid=scale_grid, label=f"pair {pair.id}",
                        scale_metrics=scale_metrics)
