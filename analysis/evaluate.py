"""Evaluation of 250 m LST predictions against ASTER: co-registration, scoring, aggregation.

The protocol is the reference protocol of the shared MODIS-ASTER pairs (their README,
"Evaluation protocol"); scores are computed **on the ASTER grid**, because ASTER is the
independent reference and resampling it would smooth the very detail being judged, while the
prediction is a model output that can be resampled at no loss of fairness:

1. **Co-registration.** The ASTER fields are displaced relative to MODIS (about 175 m east and
   175 m south for these pairs). :func:`estimate_offset` estimates the displacement from the
   data: for translations ``(dx, dy)`` of ASTER on a grid of ``step_m`` (58 m) within
   ``+-max_m`` (500 m), ASTER is block-averaged onto each MODIS 1 km grid (bilinear samples of
   ASTER at 4 x 4 points per 1 km pixel, i.e. one per ASTER pixel, averaged; 1 km pixels with
   any invalid sample are dropped), the Pearson correlation with the MODIS LST is computed per
   pair and averaged over pairs, and the peak of the mean correlation is located by a quadratic
   fit on the 3 x 3 neighbourhood of the best grid point. Offsets are ``(dx_m, dy_m)`` in the
   MODIS (sinusoidal) frame, **x east, y north**, giving where ASTER features sit relative to
   the MODIS ones: ``(+175, -175)`` means 175 m east and 175 m south.
2. **Scoring** (:func:`score_pair`). The ASTER grid is translated back by the offset, expressed
   as a UTM vector at the patch centre (the local Jacobian of sinusoidal -> UTM). The
   prediction is reprojected onto that grid with bilinear resampling (GDAL). Scored pixels are
   ASTER-valid pixels inside the reprojected prediction's footprint eroded by one pixel (3 x 3
   square); :func:`evaluate` scores every method of a pair on the same pixels, inside the
   intersection of all the methods' footprints. The metrics are those of :mod:`analysis.metrics`; the PSNR/SSIM range ``R`` is
   ``max - min`` of ASTER over the scored pixels; the consistency error compares the
   prediction, re-aggregated with ``(mean T^4)^(1/4)`` on its own grid, with the 1 km input.
   The scale-aware metrics (structure functions, spectral band variances) are computed on each
   field's **native grid** (the prediction on its 250 m grid over the pixels whose centres fall
   in the scored area, ASTER on its own grid, the same lags in metres): the bilinear
   reprojection would smooth the prediction's 1-2 pixel lags (``scale_grid="reference"``
   keeps the former behaviour). :func:`score_fields` applies the same protocol to any
   prediction and reference rasters (``scalelaws evaluate``).
3. **Aggregation** (:func:`summarize`): mean over pairs with percentile bootstrap intervals over
   pairs; :func:`paired_difference` gives method-minus-reference differences with intervals
   from the same (paired) resamples.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from affine import Affine
from pyproj import Transformer
from rasterio.enums import Resampling
from scipy import ndimage

from analysis import metrics as M
from scalelaws.errors import (
    AllNaNError,
    GridMismatchError,
    InputError,
    MissingCRSError,
    ScaleRangeError,
)
from scalelaws.io.atomic import atomic_path, atomic_write_text

logger = logging.getLogger(__name__)

__all__ = [
    "PROTOCOL",
    "SCALAR_METRICS",
    "Predictor",
    "estimate_offset",
    "evaluate",
    "evaluate_prediction",
    "markdown_table",
    "metrics_json",
    "metrics_table",
    "offset_correlation",
    "offset_to_utm",
    "open_pairs",
    "paired_difference",
    "reproject_to_aster",
    "native_mask",
    "reproject_onto",
    "score_fields",
    "score_pair",
    "summarize",
    "write_metrics",
    "write_results",
]

#: A predictor maps a pair to an LST prediction (K) on the pair's 250 m MODIS (NDVI) grid.
Predictor = Callable[[Any], xr.DataArray]
OffsetSpec = str | tuple[float, float] | None

PROTOCOL = (
    "prediction (K, MODIS 250 m grid) reprojected bilinearly onto the ASTER grid translated back "
    "by the MODIS-ASTER offset (UTM vector at the patch centre); scored: ASTER-valid pixels "
    "inside the prediction footprint eroded by 1 px (3x3), common to all methods of a pair; PSNR/SSIM peak R = max-min of ASTER "
    "over scored pixels; SSIM 7x7 uniform window, K1=0.01, K2=0.03, sample covariance, mean over "
    "pixels whose whole window is scored; consistency: (mean T^4)^(1/4) re-aggregation to the "
    "1 km grid; scale-aware: ln(S2_pred/S2_ASTER) per lag, spectral band-variance ratio per band, "
    "each field on its own grid (prediction pixels whose centres fall in the scored area; the "
    "same lags and bands in metres)"
)

#: Scalar metrics of :func:`score_pair`: name -> (units, long name, better: "low"/"high"/"zero").
SCALAR_METRICS: dict[str, tuple[str, str, str]] = {
    "rmse": ("K", "root-mean-square error against ASTER", "low"),
    "bias": ("K", "mean error (prediction - ASTER)", "zero"),
    "ubrmse": ("K", "unbiased RMSE (standard deviation of the error)", "low"),
    "mae": ("K", "mean absolute error", "low"),
    "r": ("1", "Pearson correlation with ASTER", "high"),
    "psnr": ("dB", "peak signal-to-noise ratio (peak = ASTER range)", "high"),
    "ssim": ("1", "structural similarity (7x7 uniform window, R = ASTER range)", "high"),
    "consistency_rmse": ("K", "RMSE of the T^4 re-aggregated prediction against the 1 km LST", "low"),
    "rmse_grad_low": ("K", "RMSE in the lowest tercile of ASTER gradient magnitude", "low"),
    "rmse_grad_mid": ("K", "RMSE in the middle tercile of ASTER gradient magnitude", "low"),
    "rmse_grad_high": ("K", "RMSE in the highest tercile of ASTER gradient magnitude", "low"),
    "data_range": ("K", "ASTER max - min over the scored pixels (PSNR/SSIM peak)", ""),
    "n_scored": ("1", "number of scored ASTER pixels", ""),
}

#: Number of bilinear ASTER samples per 1 km pixel side in the offset search.
_SUBSAMPLES = 4


# ----------------------------------------------------------------------------------------------
# geometry of the MODIS / ASTER frames
# ----------------------------------------------------------------------------------------------
def _crs(da: xr.DataArray, what: str):
    crs = da.rio.crs
    if crs is None:
        raise MissingCRSError(f"{what} has no CRS")
    return crs


def _jacobian(src: xr.DataArray, dst_crs, step: float = 1000.0) -> np.ndarray:
    """2 x 2 Jacobian of ``src CRS -> dst_crs`` at the centre of ``src`` (metres per metre)."""
    tr = Transformer.from_crs(_crs(src, "the MODIS field"), dst_crs, always_xy=True)
    xc, yc = float(src["x"].mean()), float(src["y"].mean())
    x = np.array([xc, xc + step, xc])
    y = np.array([yc, yc, yc + step])
    u, v = tr.transform(x, y)
    return np.array([[u[1] - u[0], u[2] - u[0]], [v[1] - v[0], v[2] - v[0]]]) / step


def offset_to_utm(offset: tuple[float, float], pair) -> tuple[float, float]:
    """Express a MODIS-frame offset ``(dx_m east, dy_m north)`` in the ASTER CRS at the centre.

    Parameters
    ----------
    offset
        Displacement of ASTER relative to MODIS in the MODIS sinusoidal frame (m).
    pair
        A :class:`scalelaws.io.ModisAsterPair`.

    Returns
    -------
    tuple of float
        ``(du, dv)``: the same displacement in ASTER map coordinates (m, easting, northing).

    """
    j = _jacobian(pair.lst_1km, _crs(pair.aster_250m, "ASTER"))
    du, dv = j @ np.asarray(offset, dtype=np.float64)
    return float(du), float(dv)


class _BlockSampler:
    """Block means of ASTER on the MODIS 1 km grid for arbitrary translations of ASTER."""

    def __init__(self, pair, subsamples: int = _SUBSAMPLES) -> None:
        lst, aster = pair.lst_1km, pair.aster_250m
        self.pair_id = pair.id
        self.lst = np.asarray(lst.values, dtype=np.float64)
        t = lst.rio.transform(recalc=False)
        ny, nx = lst.shape
        s = subsamples
        sub = (np.arange(s) + 0.5) / s
        cols = (np.arange(nx)[:, None] + sub[None, :]).ravel()  # (nx*s,)
        rows = (np.arange(ny)[:, None] + sub[None, :]).ravel()
        rr, cc = np.meshgrid(rows, cols, indexing="ij")  # (ny*s, nx*s)
        xs = t.c + cc * t.a + rr * t.b
        ys = t.f + cc * t.d + rr * t.e
        acrs = _crs(aster, "ASTER")
        tr = Transformer.from_crs(_crs(lst, "MODIS LST"), acrs, always_xy=True)
        u, v = tr.transform(xs.ravel(), ys.ravel())
        ta = aster.rio.transform(recalc=False)
        inv = ~ta
        u, v = np.asarray(u), np.asarray(v)
        col = inv.a * u + inv.b * v + inv.c
        row = inv.d * u + inv.e * v + inv.f
        self.coords = np.vstack([row - 0.5, col - 0.5])
        self.shape = (ny, s, nx, s)
        a = np.asarray(aster.values, dtype=np.float64)
        valid = np.isfinite(a)
        self.field = np.where(valid, a, 0.0) + 1j * valid
        self.jac = _jacobian(lst, acrs)
        # ASTER pixel units per metre of UTM displacement
        self.scale = np.array([1.0 / ta.e, 1.0 / ta.a])

    def block_mean(self, offset: tuple[float, float]) -> np.ndarray:
        """ASTER, translated back by ``offset`` (MODIS frame, m), averaged per 1 km pixel."""
        du, dv = self.jac @ np.asarray(offset, dtype=np.float64)
        shift = np.array([dv * self.scale[0], du * self.scale[1]])[:, None]
        z = ndimage.map_coordinates(self.field, self.coords + shift, order=1, mode="constant",
                                    cval=0.0, prefilter=False)
        w = z.imag
        val = np.where(w > 1.0 - 1e-6, z.real / np.where(w > 0, w, 1.0), np.nan)
        return val.reshape(self.shape).mean(axis=(1, 3))

    def correlation(self, offset: tuple[float, float], min_pixels: int = 30) -> tuple[float, int]:
        """Pearson r between MODIS LST and the translated ASTER block means, and the count."""
        b = self.block_mean(offset)
        ok = np.isfinite(b) & np.isfinite(self.lst)
        n = int(ok.sum())
        if n < min_pixels:
            return float("nan"), n
        return float(np.corrcoef(b[ok], self.lst[ok])[0, 1]), n


def offset_correlation(
    pairs: Iterable, *, step_m: float = 58.0, max_m: float = 500.0,
    subsamples: int = _SUBSAMPLES,
) -> xr.Dataset:
    """Correlation between MODIS 1 km LST and block-averaged translated ASTER, over offsets.

    Parameters
    ----------
    pairs
        :class:`scalelaws.io.ModisAsterPair` objects.
    step_m, max_m
        Translation grid: multiples of ``step_m`` within ``+-max_m`` along each axis (m).
    subsamples
        Bilinear ASTER samples per 1 km pixel side (averaged into the block mean).

    Returns
    -------
    xarray.Dataset
        ``corr(pair, dy, dx)``, ``n(pair, dy, dx)`` (1 km pixels compared) and
        ``mean_corr(dy, dx)`` (mean over pairs); ``dx``/``dy`` in metres, MODIS frame,
        x east / y north, the displacement of ASTER relative to MODIS.

    """
    if step_m <= 0 or max_m < step_m:
        raise InputError(f"need 0 < step_m <= max_m, got step_m={step_m}, max_m={max_m}")
    k = int(math.floor(max_m / step_m + 1e-9))
    grid = np.arange(-k, k + 1) * float(step_m)
    samplers = [_BlockSampler(p, subsamples) for p in pairs]
    if not samplers:
        raise InputError("no pair given to offset_correlation")
    corr = np.full((len(samplers), grid.size, grid.size), np.nan)
    cnt = np.zeros(corr.shape, dtype=np.int64)
    t0 = time.perf_counter()
    for ip, s in enumerate(samplers):
        for iy, dy in enumerate(grid):
            for ix, dx in enumerate(grid):
                corr[ip, iy, ix], cnt[ip, iy, ix] = s.correlation((dx, dy))
    logger.info("offset search: %d pairs x %d offsets in %.1f s", len(samplers), grid.size**2,
                time.perf_counter() - t0)
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(np.where(np.isfinite(corr), corr, np.nan), axis=0)
    coords = {"pair": [s.pair_id for s in samplers], "dy": grid, "dx": grid}
    ds = xr.Dataset(
        {
            "corr": (("pair", "dy", "dx"), corr, {"units": "1", "long_name":
                     "Pearson r of MODIS 1 km LST and translated, block-averaged ASTER"}),
            "n": (("pair", "dy", "dx"), cnt, {"units": "1", "long_name": "1 km pixels compared"}),
            "mean_corr": (("dy", "dx"), mean, {"units": "1", "long_name": "mean r over pairs"}),
        },
        coords=coords,
    )
    ds["dx"].attrs = {"units": "m", "long_name": "ASTER displacement, east (MODIS frame)"}
    ds["dy"].attrs = {"units": "m", "long_name": "ASTER displacement, north (MODIS frame)"}
    ds.attrs = {"title": "MODIS-ASTER co-registration search", "step_m": float(step_m),
                "max_m": float(max_m), "Conventions": "CF-1.8"}
    return ds


def _quadratic_peak(z: np.ndarray, grid: np.ndarray) -> tuple[float, float, float, bool]:
    """Peak of ``z(dy, dx)`` refined by a 2-D quadratic fit on the 3 x 3 neighbourhood."""
    iy, ix = np.unravel_index(np.nanargmax(z), z.shape)
    step = float(grid[1] - grid[0]) if grid.size > 1 else 1.0
    best = (float(grid[ix]), float(grid[iy]), float(z[iy, ix]), False)
    if not (0 < iy < z.shape[0] - 1 and 0 < ix < z.shape[1] - 1):
        logger.warning("the correlation peak lies on the edge of the search grid; widen max_m")
        return best
    sub = z[iy - 1:iy + 2, ix - 1:ix + 2]
    if not np.isfinite(sub).all():
        return best
    yy, xx = np.mgrid[-1:2, -1:2]
    a = np.column_stack([np.ones(9), xx.ravel(), yy.ravel(), xx.ravel() ** 2,
                         (xx * yy).ravel(), yy.ravel() ** 2])
    c, *_ = np.linalg.lstsq(a, sub.ravel(), rcond=None)
    h = np.array([[2 * c[3], c[4]], [c[4], 2 * c[5]]])
    if np.linalg.det(h) <= 0 or h[0, 0] >= 0:  # not a maximum
        return best
    px, py = np.linalg.solve(h, -c[1:3])
    if abs(px) > 1 or abs(py) > 1:
        return best
    zpk = float(c[0] + c[1] * px + c[2] * py + c[3] * px**2 + c[4] * px * py + c[5] * py**2)
    return float(grid[ix] + px * step), float(grid[iy] + py * step), zpk, True


def estimate_offset(
    pairs: Iterable | xr.Dataset, *, step_m: float = 58.0, max_m: float = 500.0,
    subsamples: int = _SUBSAMPLES,
) -> tuple[float, float]:
    """Estimate the ASTER-vs-MODIS displacement by maximising the 1 km correlation.

    Parameters
    ----------
    pairs
        :class:`scalelaws.io.ModisAsterPair` objects, or the result of
        :func:`offset_correlation` (then ``step_m``/``max_m`` are ignored).
    step_m, max_m
        Search grid (m).
    subsamples
        As in :func:`offset_correlation`.

    Returns
    -------
    tuple of float
        ``(dx_m, dy_m)``: where ASTER sits relative to MODIS, MODIS frame, x east, y north
        (e.g. ``(175, -175)`` = 175 m east, 175 m south).

    """
    ds = pairs if isinstance(pairs, xr.Dataset) else offset_correlation(
        list(pairs), step_m=step_m, max_m=max_m, subsamples=subsamples)
    z = ds["mean_corr"].values
    if not np.isfinite(z).any():
        raise AllNaNError("no offset gives a usable correlation (no ASTER/MODIS overlap?)")
    dx, dy, zpk, refined = _quadratic_peak(z, ds["dx"].values)
    z0 = ds["mean_corr"].sel(dx=0.0, dy=0.0, method="nearest").item()
    logger.info("MODIS-ASTER offset: %.1f m east, %.1f m north (mean r %.3f at zero, %.3f at the "
                "peak%s, %d pairs)", dx, dy, z0, zpk, "" if refined else ", grid point",
                ds.sizes["pair"])
    return dx, dy


# ----------------------------------------------------------------------------------------------
# scoring one prediction
# ----------------------------------------------------------------------------------------------
ScaleGrid = Literal["native", "reference"]


def _translated_grid(ref: xr.DataArray, frame: xr.DataArray,
                     offset: tuple[float, float]) -> Affine:
    """Transform of the reference grid translated back by ``offset`` (given in ``frame``'s CRS)."""
    ta = ref.rio.transform(recalc=False)
    du, dv = _jacobian(frame, _crs(ref, "the reference")) @ np.asarray(offset, dtype=np.float64)
    return Affine.translation(-float(du), -float(dv)) @ ta


def _target_grid(pair, offset: tuple[float, float]) -> tuple[Affine, Any]:
    return (_translated_grid(pair.aster_250m, pair.lst_1km, offset),
            _crs(pair.aster_250m, "ASTER"))


def reproject_onto(pred: xr.DataArray, ref: xr.DataArray, transform: Affine) -> xr.DataArray:
    """Bilinear reprojection (GDAL) of ``pred`` onto the grid of ``ref`` with ``transform``.

    Returns
    -------
    xarray.DataArray
        Shape of ``ref``, NaN outside the prediction.

    """
    _crs(pred, "the prediction")
    src = pred.astype(np.float32).rio.write_nodata(np.nan, encoded=False)
    return src.rio.reproject(_crs(ref, "the reference"), shape=ref.shape, transform=transform,
                             resampling=Resampling.bilinear, nodata=np.nan)


def registered_aster(pair, offset: tuple[float, float]) -> xr.DataArray:
    """Return the ASTER LST moved back by ``offset`` onto the MODIS geolocation.

    The same translation as the scoring grid of :func:`reproject_to_aster`, applied to the
    field's coordinates (one definition of the co-registration).
    """
    du, dv = offset_to_utm(offset, pair)
    a = pair.aster_250m
    t = a.rio.transform(recalc=False)
    out = a.assign_coords(x=a["x"] - du, y=a["y"] - dv)
    return out.rio.write_transform(Affine.translation(-du, -dv) * t)


def reproject_to_aster(pred: xr.DataArray, pair, *, offset: tuple[float, float]) -> xr.DataArray:
    """Bilinear reprojection of a prediction onto the ASTER grid translated back by ``offset``.

    Returns
    -------
    xarray.DataArray
        On the (translated) ASTER grid, NaN outside the prediction.

    """
    transform, _ = _target_grid(pair, offset)
    return reproject_onto(pred, pair.aster_250m, transform)


def _pixel_m(da: xr.DataArray) -> float:
    t = da.rio.transform(recalc=False)
    return float(np.sqrt(abs(t.a * t.e - t.b * t.d)))


def native_mask(pred: xr.DataArray, ref: xr.DataArray, transform: Affine,
                mask: np.ndarray) -> np.ndarray:
    """Mark the prediction pixels whose centre falls in a scored pixel of the reference grid.

    Parameters
    ----------
    pred
        Prediction on its own grid.
    ref
        Reference (its CRS and shape).
    transform
        The reference grid's transform as scored (translated back by the offset).
    mask
        Scored pixels on the reference grid.

    Returns
    -------
    numpy.ndarray
        Boolean mask on the prediction's grid (also requires a finite prediction).

    """
    tp = pred.rio.transform(recalc=False)
    ny, nx = pred.shape
    cc, rr = np.meshgrid(np.arange(nx) + 0.5, np.arange(ny) + 0.5)
    xs, ys = tp * (cc, rr)
    tr = Transformer.from_crs(_crs(pred, "the prediction"), _crs(ref, "the reference"),
                              always_xy=True)
    u, v = tr.transform(np.asarray(xs).ravel(), np.asarray(ys).ravel())
    col, row = ~transform * (np.asarray(u), np.asarray(v))
    i, j = np.floor(row).astype(np.int64), np.floor(col).astype(np.int64)
    inside = (i >= 0) & (i < mask.shape[0]) & (j >= 0) & (j < mask.shape[1])
    out = np.zeros(i.shape, dtype=bool)
    out[inside] = mask[i[inside], j[inside]]
    return out.reshape(ny, nx) & np.isfinite(np.asarray(pred.values, dtype=np.float64))


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
    footprint = np.isfinite(p)
    if erode_px > 0:
        footprint = ndimage.binary_erosion(footprint, structure=np.ones((3, 3), bool),
                                           iterations=erode_px, border_value=0)
    if mask is not None:
        extra = np.asarray(mask, dtype=bool)
        if extra.shape != a.shape:
            raise GridMismatchError(f"mask {extra.shape} is not on the reference grid {a.shape}")
        footprint &= extra
    mask = footprint & np.isfinite(a)
    if not mask.any():
        raise AllNaNError(f"{label}: no valid reference pixel inside the prediction footprint "
                          "(the rasters do not overlap)")
    rng_k = M.data_range(a, mask)
    grad, _ = M.gradient_stratified_rmse(p, a, mask, n_strata=3)
    cons = (M.consistency_error(pred, lst_1km, method="radiance")["rmse"]
            if lst_1km is not None else float("nan"))
    if not scale_metrics:
        s2p = s2a = np.full(len(lags), np.nan)
        spec = np.full(len(bands_px), np.nan)
    elif scale_grid == "native":
        s2p, s2a, spec = _scale_metrics_native(pred, ref, transform, mask, lags, bands_px, label)
    else:
        try:
            spec = M.spectral_ratio(p, a, mask, bands_px)
        except (ScaleRangeError, InputError) as exc:
            logger.warning("%s: no spectral ratio (%s)", label, exc)
            spec = np.full(len(bands_px), np.nan)
        s2p, _ = M.structure_function_s2(p, mask, lags)
        s2a, _ = M.structure_function_s2(a, mask, lags)
    with np.errstate(divide="ignore", invalid="ignore"):
        sf = np.log(s2p / s2a)
    return {
        "rmse": M.rmse(p, a, mask),
        "bias": M.bias(p, a, mask),
        "ubrmse": M.ubrmse(p, a, mask),
        "mae": M.mae(p, a, mask),
        "r": M.pearson_r(p, a, mask),
        "psnr": M.psnr(p, a, mask, data_range=rng_k),
        "ssim": M.ssim(p, a, mask, data_range=rng_k),
        "consistency_rmse": cons,
        "rmse_grad_low": float(grad[0]),
        "rmse_grad_mid": float(grad[1]),
        "rmse_grad_high": float(grad[2]),
        "data_range": rng_k,
        "n_scored": int(mask.sum()),
        "sf_log_ratio": sf,
        "s2_pred": s2p,
        "s2_aster": s2a,
        "spectral_ratio": spec,
    }


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


# ----------------------------------------------------------------------------------------------
# scoring a user's prediction against a user's reference (``scalelaws evaluate``)
# ----------------------------------------------------------------------------------------------
def _check_lst(da: xr.DataArray, what: str) -> None:
    _crs(da, what)
    units = str(da.attrs.get("units", "K"))
    if units not in ("K", "kelvin", "Kelvin"):
        raise InputError(f"{what} must be LST in kelvin, got units {units!r}")
    if da.ndim != 2:
        raise InputError(f"{what} must be a single 2-D field, got dims {da.dims}")


def _nests(pred: xr.DataArray, coarse: xr.DataArray) -> bool:
    from analysis.baselines import coarse_index

    try:
        coarse_index(pred, coarse)
    except GridMismatchError as exc:
        logger.warning("no consistency error: the prediction does not nest in the coarse grid "
                       "(%s)", exc)
        return False
    return True


def evaluate_prediction(
    pred: xr.DataArray,
    ref: xr.DataArray,
    *,
    offset: OffsetSpec = None,
    coarse: xr.DataArray | None = None,
    aggregate_ref: bool = True,
    step_m: float = 58.0,
    max_m: float = 500.0,
    lags: Sequence[int] = M.DEFAULT_LAGS_PX,
    bands_px: Sequence[tuple[float, float]] = M.DEFAULT_BANDS_PX,
    erode_px: int = 1,
    scale_grid: ScaleGrid = "native",
) -> xr.Dataset:
    """Score one LST prediction against one high-resolution reference (Landsat, ASTER, airborne).

    The protocol of :func:`score_fields` (the benchmark's): the prediction is reprojected
    bilinearly onto the reference grid translated back by the co-registration offset, the
    pixel-wise metrics are computed there, the scale-aware ones on each field's native grid.

    Parameters
    ----------
    pred
        Prediction (K) with CRS and transform.
    ref
        Reference LST (K) with CRS and transform.
    offset
        ``None`` / ``"none"``: no co-registration; ``(dx_m, dy_m)``: the reference's
        displacement (x east, y north) in the CRS of ``coarse`` when given, else of ``pred``;
        ``"estimate"``: estimated (:func:`estimate_offset`) by correlating the reference,
        block-averaged, with ``coarse`` when given (independent of the prediction: the
        benchmark's choice), else with the prediction itself (which favours it: a warning says
        so).
    coarse
        The coarse input (e.g. MODIS 1 km LST): frame of the offset estimate and, when the
        prediction nests in its grid, the consistency error (NaN otherwise).
    aggregate_ref
        When the reference pixel is at least 1.5 times finer than the prediction's, average it
        first (``(mean T^4)^(1/4)``, :func:`scalelaws.grids.degrade`, complete blocks only) by
        the nearest integer ratio, so that the scores do not count sub-pixel variance that no
        prediction at that resolution can hold.
    step_m, max_m
        Offset search grid (m).
    lags, bands_px
        Scales of the scale-aware metrics, in (possibly aggregated) reference pixels.
    erode_px
        Erosion of the prediction footprint (pixels).
    scale_grid
        ``"native"`` or ``"reference"`` (:func:`score_fields`).

    Returns
    -------
    xarray.Dataset
        The scalars of :data:`SCALAR_METRICS` (0-d variables with ``units``/``long_name``),
        ``sf_log_ratio``, ``s2_pred``, ``s2_ref`` (``lag``), ``spectral_ratio`` (``band``);
        attrs: offset and its source, the protocol, pixel sizes, the reference aggregation.

    Raises
    ------
    InputError
        A raster without CRS, not in kelvin, or rasters that do not overlap (subclasses of
        :class:`scalelaws.errors.InputError`).

    """
    from scalelaws.grids import degrade

    _check_lst(pred, "the prediction")
    _check_lst(ref, "the reference")
    if coarse is not None:
        _check_lst(coarse, "the coarse field")
    pred_px, ref_px = _pixel_m(pred), _pixel_m(ref)
    if ref_px >= 1.5 * pred_px:
        logger.warning("the reference (%.1f m) is coarser than the prediction (%.1f m): the "
                       "prediction is sampled bilinearly at its pixels, not averaged; aggregate "
                       "the prediction first for a like-for-like comparison", ref_px, pred_px)
    factor = int(round(pred_px / ref_px))
    if aggregate_ref and pred_px / ref_px >= 1.5:
        logger.info("reference averaged by %d x %d (%.1f m -> %.1f m) to the prediction's "
                    "resolution (%.1f m)", factor, factor, ref_px, ref_px * factor, pred_px)
        ref = degrade(ref, factor, method="radiance", max_missing=0.0)
    else:
        factor = 1
    frame = coarse if coarse is not None else pred
    if isinstance(offset, str) and offset == "estimate":
        if coarse is None:
            logger.warning("offset estimated against the prediction itself: this favours the "
                           "prediction; give the coarse input (--coarse) for an independent one")
        sub = int(np.clip(round(_pixel_m(frame) / _pixel_m(ref)), 1, _SUBSAMPLES))
        probe = SimpleNamespace(id=0, lst_1km=frame, aster_250m=ref)
        off = estimate_offset([probe], step_m=step_m, max_m=max_m, subsamples=sub)
        how = "estimated (1 km correlation with the " + (
            "coarse field)" if coarse is not None else "prediction)")
    else:
        off, how = _resolve_offset(offset, [])
    lst_1km = coarse if coarse is not None and _nests(pred, coarse) else None
    sc = score_fields(pred, ref, offset=off, frame=frame, lst_1km=lst_1km, lags=lags,
                      bands_px=bands_px, erode_px=erode_px, scale_grid=scale_grid)
    px = _pixel_m(ref)
    ds = xr.Dataset(coords={
        "lag": ("lag", np.asarray(lags, dtype=np.int64), {"units": "pixel",
                "long_name": "lag in reference pixels"}),
        "lag_m": ("lag", np.asarray(lags, dtype=np.float64) * px, {"units": "m"}),
        "band": ("band", np.arange(len(bands_px)), {"long_name": "wavelength band index"}),
        "wavelength_lo_m": ("band", np.array([b[0] for b in bands_px], float) * px,
                            {"units": "m"}),
        "wavelength_hi_m": ("band", np.array([b[1] for b in bands_px], float) * px,
                            {"units": "m"}),
    })
    for k, (units, long_name, better) in SCALAR_METRICS.items():
        ds[k] = ((), sc[k], {"units": units, "long_name": long_name.replace("ASTER", "the reference"),
                             "better": better or "n/a"})
    ds["sf_log_ratio"] = ("lag", sc["sf_log_ratio"], {"units": "1",
                          "long_name": "ln(S2 prediction / S2 reference)"})
    ds["s2_pred"] = ("lag", sc["s2_pred"], {"units": "K2", "long_name":
                     "second-order structure function of the prediction"})
    ds["s2_ref"] = ("lag", sc["s2_aster"], {"units": "K2", "long_name":
                    "second-order structure function of the reference"})
    ds["spectral_ratio"] = ("band", sc["spectral_ratio"], {"units": "1", "long_name":
                            "band variance ratio prediction / reference"})
    ds.attrs = {
        "title": "LST prediction scored against a high-resolution reference",
        "Conventions": "CF-1.8",
        "history": f"{datetime.now(timezone.utc).isoformat(timespec='seconds')} "
                   "analysis.evaluate.evaluate_prediction",
        "prediction": str(pred.attrs.get("source", "in memory")),
        "reference": str(ref.attrs.get("source", "in memory")),
        "offset_dx_m": float(off[0]),
        "offset_dy_m": float(off[1]),
        "offset_frame_crs": str(_crs(frame, "the offset frame")),
        "offset_source": how,
        "prediction_pixel_m": pred_px,
        "reference_pixel_m": px,
        "reference_aggregation_factor": int(factor),
        "scale_metrics_grid": scale_grid,
        "protocol": PROTOCOL.replace("MODIS 250 m grid", "its own grid").replace(
            "MODIS-ASTER offset", "co-registration offset").replace(
            "ASTER", "reference").replace(", common to all methods of a pair", "")
        + ("" if lst_1km is not None else "; no consistency error (no coarse field nesting it)"),
    }
    return ds


def metrics_json(ds: xr.Dataset) -> dict[str, Any]:
    """Convert the output of :func:`evaluate_prediction` to a JSON-serialisable dict (NaN -> None)."""

    def num(v: Any) -> Any:
        v = float(v)
        return v if math.isfinite(v) else None

    return {
        "metrics": {k: num(ds[k]) for k in SCALAR_METRICS},
        "units": {k: ds[k].attrs["units"] for k in SCALAR_METRICS},
        "scale": {
            "lag_m": [num(v) for v in ds["lag_m"].values],
            "sf_log_ratio": [num(v) for v in ds["sf_log_ratio"].values],
            "s2_pred_K2": [num(v) for v in ds["s2_pred"].values],
            "s2_ref_K2": [num(v) for v in ds["s2_ref"].values],
            "wavelength_lo_m": [num(v) for v in ds["wavelength_lo_m"].values],
            "wavelength_hi_m": [num(v) for v in ds["wavelength_hi_m"].values],
            "spectral_ratio": [num(v) for v in ds["spectral_ratio"].values],
        },
        "attrs": {k: (v if not isinstance(v, (np.floating, np.integer)) else v.item())
                  for k, v in ds.attrs.items()},
    }


def metrics_table(ds: xr.Dataset) -> str:
    """Markdown tables of the output of :func:`evaluate_prediction`."""
    lines = ["| metric | value | units |", "|---|---|---|"]
    for k in SCALAR_METRICS:
        v = float(ds[k])
        nd = 0 if k == "n_scored" else 3 if k in ("ssim", "r") else 2
        lines.append(f"| {k} | {v:.{nd}f} | {ds[k].attrs['units']} |" if np.isfinite(v)
                     else f"| {k} | n/a | {ds[k].attrs['units']} |")
    lines += ["", "| lag (m) | ln(S2 pred / S2 ref) |", "|---|---|"]
    lines += [f"| {lag:.0f} | {v:+.2f} |" for lag, v in zip(ds["lag_m"].values,
                                                            ds["sf_log_ratio"].values, strict=True)]
    lines += ["", "| wavelengths (m) | band variance ratio |", "|---|---|"]
    for lo, hi, v in zip(ds["wavelength_lo_m"].values, ds["wavelength_hi_m"].values,
                         ds["spectral_ratio"].values, strict=True):
        lines.append(f"| {lo:.0f}-{hi:.0f} | " + (f"{v:.2f}" if np.isfinite(v) else "n/a") + " |")
    lines += ["", f"Offset: {ds.attrs['offset_dx_m']:.1f} m east, {ds.attrs['offset_dy_m']:.1f} m "
              f"north ({ds.attrs['offset_source']}); reference pixel "
              f"{ds.attrs['reference_pixel_m']:.1f} m"
              + (f" (averaged x{ds.attrs['reference_aggregation_factor']})"
                 if ds.attrs["reference_aggregation_factor"] > 1 else "")
              + f"; scale-aware metrics on the {ds.attrs['scale_metrics_grid']} grids."]
    return "\n".join(lines) + "\n"


def write_metrics(ds: xr.Dataset, path: str | Path) -> Path:
    """Write the output of :func:`evaluate_prediction` to NetCDF (``.nc``) or JSON (``.json``)."""
    import json

    p = Path(path)
    if p.suffix.lower() not in (".nc", ".json"):
        raise InputError("the metrics file must end in .nc or .json", p)
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.suffix.lower() == ".nc":
        ds.to_netcdf(p)
    else:
        p.write_text(json.dumps(metrics_json(ds), indent=2) + "\n")
    logger.info("metrics written to %s", p)
    return p


# ----------------------------------------------------------------------------------------------
# many methods x many pairs
# ----------------------------------------------------------------------------------------------
def open_pairs(pairs: Iterable | None = None, root: str | Path | None = None) -> list:
    """Open MODIS-ASTER pairs given by id (or pass opened pairs through); default: ``dev``."""
    from scalelaws.io import list_modis_aster_pairs, open_modis_aster_pair

    if pairs is None:
        pairs = list_modis_aster_pairs(root, split="dev")
    out = [open_modis_aster_pair(int(p), root) if isinstance(p, (int, np.integer, str)) else p
           for p in pairs]
    if not out:
        raise InputError("no MODIS-ASTER pair to evaluate")
    return out


def _resolve_offset(offset: OffsetSpec, pairs: list) -> tuple[tuple[float, float], str]:
    if isinstance(offset, str):
        if offset == "estimate":
            return estimate_offset(pairs), f"estimated from {len(pairs)} pairs (1 km correlation)"
        if offset == "none":
            return (0.0, 0.0), "none (ASTER as distributed)"
        raise InputError(f"offset must be 'estimate', 'none' or (dx_m, dy_m), got {offset!r}")
    if offset is None:
        return (0.0, 0.0), "none (ASTER as distributed)"
    dx, dy = (float(v) for v in offset)
    return (dx, dy), "given"


def evaluate(
    predictors: Mapping[str, Predictor],
    pairs: Iterable | None = None,
    *,
    offset: OffsetSpec = "estimate",
    root=None,
    lags: Sequence[int] = M.DEFAULT_LAGS_PX,
    bands_px: Sequence[tuple[float, float]] = M.DEFAULT_BANDS_PX,
    n_boot: int = 2000,
    seed: int = 0,
    on_prediction: Callable[[str, Any, xr.DataArray], None] | None = None,
    scale_grid: ScaleGrid = "native",
) -> xr.Dataset:
    """Run every predictor on every pair and score it against ASTER.

    Parameters
    ----------
    predictors
        ``name -> predictor(pair) -> DataArray`` on the pair's 250 m MODIS grid (K).
    pairs
        Pair ids or :class:`scalelaws.io.ModisAsterPair` objects; default: the ``dev`` pairs.
    offset
        ``"estimate"`` (:func:`estimate_offset` on these pairs), ``"none"``, or ``(dx_m, dy_m)``.
    root
        Folder of the pairs (default: the shared data).
    lags, bands_px
        Scales of the scale-aware metrics (ASTER pixels).
    n_boot, seed
        Bootstrap resamples over pairs and their seed (see :func:`summarize`).
    on_prediction
        Called as ``on_prediction(method, pair, prediction)`` after each prediction (e.g. to
        save it).
    scale_grid
        Grid of the scale-aware metrics: ``"native"`` (each field on its own grid) or
        ``"reference"`` (after reprojection onto the ASTER grid); see :func:`score_fields`.

    Returns
    -------
    xarray.Dataset
        Per-pair metrics ``<metric>(method, pair)``, ``sf_log_ratio``/``s2_pred``
        (``method, pair, lag``), ``s2_aster(pair, lag)``, ``spectral_ratio(method, pair, band)``,
        ``runtime_s(method, pair)``, and the summary of :func:`summarize`.

    """
    if not predictors:
        raise InputError("no predictor given")
    plist = open_pairs(pairs, root)
    off, how = _resolve_offset(offset, plist)
    methods = list(predictors)
    nm, npair = len(methods), len(plist)
    scal = {k: np.full((nm, npair), np.nan) for k in SCALAR_METRICS}
    runtime = np.full((nm, npair), np.nan)
    sf = np.full((nm, npair, len(lags)), np.nan)
    s2p = np.full((nm, npair, len(lags)), np.nan)
    s2a = np.full((npair, len(lags)), np.nan)
    spec = np.full((nm, npair, len(bands_px)), np.nan)
    for j, pair in enumerate(plist):
        preds = {}
        for i, name in enumerate(methods):
            t0 = time.perf_counter()
            preds[name] = predictors[name](pair)
            runtime[i, j] = time.perf_counter() - t0
            if on_prediction is not None:
                on_prediction(name, pair, preds[name])
        # one scored set per pair: the footprint common to every method
        common = np.ones(pair.aster_250m.shape, dtype=bool)
        for pred in preds.values():
            common &= np.isfinite(reproject_to_aster(pred, pair, offset=off).values)
        for i, name in enumerate(methods):
            sc = score_pair(preds[name], pair, offset=off, lags=lags, bands_px=bands_px,
                            mask=common, scale_grid=scale_grid)
            for k in SCALAR_METRICS:
                scal[k][i, j] = sc[k]
            sf[i, j], s2p[i, j], spec[i, j] = sc["sf_log_ratio"], sc["s2_pred"], sc["spectral_ratio"]
            s2a[j] = sc["s2_aster"]
            logger.info("pair %s %-10s RMSE %.2f K  SSIM %.3f  (%.2f s)", pair.id, name,
                        sc["rmse"], sc["ssim"], runtime[i, j])
    px = float(abs(plist[0].aster_250m.rio.transform(recalc=False).a))
    lo = np.array([b[0] for b in bands_px], dtype=np.float64)
    hi = np.array([b[1] for b in bands_px], dtype=np.float64)
    ds = xr.Dataset(
        coords={
            "method": methods,
            "pair": [int(p.id) for p in plist],
            "lag": ("lag", np.asarray(lags, dtype=np.int64), {"units": "pixel",
                    "long_name": "lag in ASTER pixels"}),
            "lag_m": ("lag", np.asarray(lags, dtype=np.float64) * px, {"units": "m"}),
            "band": ("band", np.arange(len(bands_px)), {"long_name": "wavelength band index"}),
            "wavelength_lo_m": ("band", lo * px, {"units": "m"}),
            "wavelength_hi_m": ("band", hi * px, {"units": "m"}),
        }
    )
    for k, (units, long_name, better) in SCALAR_METRICS.items():
        ds[k] = (("method", "pair"), scal[k], {"units": units, "long_name": long_name,
                                                "better": better or "n/a"})
    ds["runtime_s"] = (("method", "pair"), runtime, {"units": "s",
                       "long_name": "wall time of the prediction"})
    ds["sf_log_ratio"] = (("method", "pair", "lag"), sf, {"units": "1",
                          "long_name": "ln(S2 prediction / S2 ASTER)"})
    ds["s2_pred"] = (("method", "pair", "lag"), s2p, {"units": "K2",
                     "long_name": "second-order structure function of the prediction"})
    ds["s2_aster"] = (("pair", "lag"), s2a, {"units": "K2",
                      "long_name": "second-order structure function of ASTER"})
    ds["spectral_ratio"] = (("method", "pair", "band"), spec, {"units": "1",
                            "long_name": "power spectrum ratio prediction / ASTER"})
    ds.attrs = {
        "title": "1 km -> 250 m LST super-resolution scored against ASTER",
        "Conventions": "CF-1.8",
        "source": "MODIS-ASTER pairs (hal-04925380), " + str(plist[0].aster_250m.attrs.get(
            "source", "in memory")).rsplit("/", 2)[0],
        "history": f"{datetime.now(timezone.utc).isoformat(timespec='seconds')} "
                   "analysis.evaluate.evaluate",
        "protocol": PROTOCOL if scale_grid == "native" else PROTOCOL.split(", each field")[0]
        + ", on the ASTER grid after the reprojection",
        "scale_metrics_grid": scale_grid,
        "offset_dx_m": off[0],
        "offset_dy_m": off[1],
        "offset_source": how,
        "aster_pixel_m": px,
    }
    return summarize(ds, n_boot=n_boot, seed=seed)


def _boot_index(n: int, n_boot: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def summarize(ds: xr.Dataset, *, n_boot: int = 2000, seed: int = 0,
              level: float = 0.95) -> xr.Dataset:
    """Add means over pairs with percentile bootstrap intervals (resampling pairs).

    For each per-pair variable ``v(method, pair[, ...])`` adds ``v_mean(method[, ...])`` and
    ``v_ci(method[, ...], bound)`` (``bound = ["low", "high"]``). The same resamples are used
    for every method, so intervals of differences are paired (:func:`paired_difference`).
    """
    if n_boot < 10:
        raise InputError(f"n_boot must be >= 10, got {n_boot}")
    out = ds.copy()
    idx = _boot_index(ds.sizes["pair"], n_boot, seed)
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    for name in list(ds.data_vars):
        v = ds[name]
        if "pair" not in v.dims or "method" not in v.dims or name.endswith(("_mean", "_ci")):
            continue
        v = v.transpose("method", "pair", ...)
        arr = v.values
        with _quiet_nanmean():
            mean = np.nanmean(arr, axis=1)
            boot = np.nanmean(arr[:, idx], axis=2)  # (method, n_boot, ...)
            ci = np.nanpercentile(boot, q, axis=1)  # (2, method, ...)
        rest = v.dims[2:]
        out[f"{name}_mean"] = (("method", *rest), mean, {**v.attrs,
                               "long_name": f"mean over pairs of {name}"})
        out[f"{name}_ci"] = (("method", *rest, "bound"), np.moveaxis(ci, 0, -1),
                             {**v.attrs, "long_name": f"{level:.0%} bootstrap interval of "
                              f"the mean of {name} over pairs"})
    out = out.assign_coords(bound=["low", "high"])
    out.attrs.update(n_boot=int(n_boot), bootstrap_seed=int(seed), ci_level=float(level))
    return out


@contextlib.contextmanager
def _quiet_nanmean():
    """Silence the 'mean of empty slice' warnings of all-NaN columns (they give NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def paired_difference(ds: xr.Dataset, metric: str, reference: str, *,
                      level: float | None = None) -> xr.Dataset:
    """Mean over pairs of ``metric[method] - metric[reference]`` with a paired bootstrap interval.

    Returns
    -------
    xarray.Dataset
        ``diff_mean(method)`` and ``diff_ci(method, bound)`` in the metric's units.

    """
    if reference not in ds["method"].values:
        raise InputError(f"reference method {reference!r} not in {list(ds['method'].values)}")
    n_boot = int(ds.attrs.get("n_boot", 2000))
    seed = int(ds.attrs.get("bootstrap_seed", 0))
    lvl = float(ds.attrs.get("ci_level", 0.95)) if level is None else level
    arr = ds[metric].transpose("method", "pair").values
    iref = [str(m) for m in ds["method"].values].index(reference)
    d = arr - arr[iref][None, :]
    idx = _boot_index(ds.sizes["pair"], n_boot, seed)
    with _quiet_nanmean():
        boot = np.nanmean(d[:, idx], axis=2)
        ci = np.nanpercentile(boot, [(1 - lvl) / 2 * 100, (1 + lvl) / 2 * 100], axis=1)
        mean = np.nanmean(d, axis=1)
    units = ds[metric].attrs.get("units", "")
    return xr.Dataset(
        {"diff_mean": ("method", mean, {"units": units}),
         "diff_ci": (("method", "bound"), ci.T, {"units": units})},
        coords={"method": ds["method"].values, "bound": ["low", "high"]},
        attrs={"metric": metric, "reference": reference},
    )


# ----------------------------------------------------------------------------------------------
# writers
# ----------------------------------------------------------------------------------------------
_TABLE_COLUMNS = ("rmse", "bias", "ubrmse", "mae", "r", "psnr", "ssim", "consistency_rmse",
                  "rmse_grad_low", "rmse_grad_mid", "rmse_grad_high")
_HEADERS = {"rmse": "RMSE (K)", "bias": "bias (K)", "ubrmse": "ubRMSE (K)", "mae": "MAE (K)",
            "r": "r", "psnr": "PSNR (dB)", "ssim": "SSIM", "consistency_rmse": "consist. (K)",
            "rmse_grad_low": "RMSE low grad (K)", "rmse_grad_mid": "RMSE mid grad (K)",
            "rmse_grad_high": "RMSE high grad (K)"}


def _fmt(mean: float, lo: float, hi: float, nd: int) -> str:
    if not np.isfinite(mean):
        return "n/a"
    return f"{mean:.{nd}f} [{lo:.{nd}f}, {hi:.{nd}f}]"


def markdown_table(ds: xr.Dataset, *, reference: str | None = None) -> str:
    """Markdown report: the metric table (means over pairs, bootstrap intervals) and scales.

    Parameters
    ----------
    ds
        Output of :func:`evaluate`.
    reference
        Method against which paired RMSE / SSIM differences are tabulated (default: ``bicubic``
        when present).

    """
    methods = [str(m) for m in ds["method"].values]
    lvl = float(ds.attrs.get("ci_level", 0.95))
    lines = [
        f"Mean over {ds.sizes['pair']} pairs, [{lvl:.0%} bootstrap interval over pairs, "
        f"{ds.attrs.get('n_boot', '?')} resamples]. MODIS-ASTER offset: "
        f"{ds.attrs['offset_dx_m']:.1f} m east, {-ds.attrs['offset_dy_m']:.1f} m south "
        f"({ds.attrs['offset_source']}).",
        "",
        "| method | " + " | ".join(_HEADERS[c] for c in _TABLE_COLUMNS) + " |",
        "|---|" + "---|" * len(_TABLE_COLUMNS),
    ]
    for m in methods:
        cells = []
        for c in _TABLE_COLUMNS:
            nd = 3 if c in ("ssim", "r") else 2
            mean = float(ds[f"{c}_mean"].sel({"method": m}))
            lo, hi = (float(v) for v in ds[f"{c}_ci"].sel({"method": m}).values)
            cells.append(_fmt(mean, lo, hi, nd))
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    if reference is None and "bicubic" in methods:
        reference = "bicubic"
    if reference is not None and len(methods) > 1:
        lines += ["", f"Paired differences against {reference} (method - {reference}):", "",
                  "| method | dRMSE (K) | dSSIM |", "|---|---|---|"]
        dr = paired_difference(ds, "rmse", reference)
        dsim = paired_difference(ds, "ssim", reference)
        for m in methods:
            if m == reference:
                continue
            a = dr.sel({"method": m})
            b = dsim.sel({"method": m})
            lines.append(
                f"| {m} | {_fmt(float(a.diff_mean), *map(float, a.diff_ci.values), 2)} | "
                f"{_fmt(float(b.diff_mean), *map(float, b.diff_ci.values), 3)} |")
    where = ("each field on its own grid" if ds.attrs.get("scale_metrics_grid", "native")
             == "native" else "on the ASTER grid after the reprojection")
    lines += ["", "Scale-aware metrics (means over pairs, " + where + "): ln(S2 prediction / "
              "S2 ASTER) per lag (0 = ASTER's variance at that scale, < 0 too smooth) and "
              "spectral band-variance ratio per wavelength band (1 = ASTER's).", ""]
    lag_m = ds["lag_m"].values
    bands = list(zip(ds["wavelength_lo_m"].values, ds["wavelength_hi_m"].values, strict=True))
    lines.append("| method | " + " | ".join(f"lnS2 {v / 1000:.2g} km" for v in lag_m) + " | "
                 + " | ".join(f"P {lo / 1000:.2g}-{hi / 1000:.2g} km" for lo, hi in bands) + " |")
    lines.append("|---|" + "---|" * (len(lag_m) + len(bands)))
    for m in methods:
        sfm = ds["sf_log_ratio_mean"].sel({"method": m}).values
        spm = ds["spectral_ratio_mean"].sel({"method": m}).values
        lines.append(f"| {m} | " + " | ".join(f"{v:+.2f}" for v in sfm) + " | "
                     + " | ".join(f"{v:.2f}" if np.isfinite(v) else "n/a" for v in spm) + " |")
    rt = ds["runtime_s_mean"]
    lines += ["", "Mean prediction time per pair: " + ", ".join(
        f"{m} {float(rt.sel({'method': m})):.2f} s" for m in methods) + ".", "",
        f"Protocol: {ds.attrs['protocol']}."]
    return "\n".join(lines) + "\n"


def write_results(ds: xr.Dataset, out_dir: str | Path, *, stem: str = "modis_aster") -> dict[str, Path]:
    """Write the evaluation as NetCDF, CSV (per pair and summary) and a markdown table.

    Returns
    -------
    dict
        ``{"netcdf", "csv_pairs", "csv_summary", "markdown"}`` -> paths written.

    """
    import pandas as pd

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "netcdf": out / f"{stem}.nc",
        "csv_pairs": out / f"{stem}_per_pair.csv",
        "csv_summary": out / f"{stem}_summary.csv",
        "markdown": out / f"{stem}.md",
    }
    with atomic_path(paths["netcdf"]) as tmp:
        ds.to_netcdf(tmp)
    cols = [*SCALAR_METRICS, "runtime_s"]
    per_pair = ds[cols].to_dataframe().reset_index()[["method", "pair", *cols]]
    with atomic_path(paths["csv_pairs"]) as tmp:
        per_pair.to_csv(tmp, index=False, float_format="%.6g")
    rows = []
    for m in ds["method"].values:
        for c in cols:
            lo, hi = ds[f"{c}_ci"].sel({"method": m}).values
            rows.append({"method": str(m), "metric": c, "units": ds[c].attrs.get("units", ""),
                         "mean": float(ds[f"{c}_mean"].sel({"method": m})), "ci_low": float(lo),
                         "ci_high": float(hi), "n_pairs": int(ds.sizes["pair"])})
    with atomic_path(paths["csv_summary"]) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False, float_format="%.6g")
    atomic_write_text(paths["markdown"], markdown_table(ds))
    logger.info("results written to %s", out)
    return paths
