"""Co-registration: the MODIS-ASTER offset and the grids it moves.

:func:`estimate_offset` finds the displacement of ASTER relative to MODIS by maximising the
correlation of block-averaged, translated ASTER with the 1 km LST (:func:`offset_correlation`);
:func:`registered_aster`, :func:`reproject_to_aster` and :func:`reproject_onto` apply it (one
definition of the translation: :func:`_translated_grid`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable
from typing import Any

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from affine import Affine
from pyproj import Transformer
from rasterio.enums import Resampling
from scipy import ndimage

from analysis.evaluate.protocol import _SUBSAMPLES, OffsetSpec
from scalelaws import cf
from scalelaws.errors import AllNaNError, InputError, MissingCRSError
from scalelaws.grids import gaussian_smooth

logger = logging.getLogger(__name__)

__all__ = [
    "coarse_disagreement",
    "estimate_offset",
    "native_mask",
    "offset_correlation",
    "offset_to_utm",
    "registered_aster",
    "reproject_onto",
    "reproject_to_aster",
]


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


def coarse_disagreement(pair, offset: tuple[float, float], *, blur_px: float = 0.0,
                        subsamples: int = _SUBSAMPLES) -> dict[str, float]:
    """MODIS 1 km LST against co-registered ASTER averaged onto the MODIS 1 km pixels.

    A prediction whose 1 km block means equal the MODIS LST cannot be closer to ASTER than
    MODIS is at 1 km: this disagreement (sensor, PSF, view angle, emissivity, time of
    overpass) is the floor of every 1 km-consistent method, whatever it puts inside the blocks.
    ASTER is translated back by ``offset`` and averaged as in :func:`offset_correlation`
    (``subsamples`` bilinear samples per 1 km pixel side; 1 km pixels with an invalid sample
    are left out). ``blur_px`` > 0 blurs those block means with a Gaussian of that standard
    deviation in 1 km pixels (:func:`scalelaws.grids.gaussian_smooth`, NaN-aware) before the
    comparison: the blur at which MODIS agrees best with ASTER measures how much wider than
    its 1 km box a MODIS pixel sees.

    Returns
    -------
    dict
        ``rmse``, ``bias`` (MODIS - ASTER) and ``ubrmse`` (the RMSE about the bias), in K, and
        ``n`` (1 km pixels compared).

    """
    b = _BlockSampler(pair, subsamples).block_mean(offset)
    if blur_px > 0:
        b = np.where(np.isfinite(b), gaussian_smooth(b, blur_px), np.nan)
    m = np.asarray(pair.lst_1km.values, dtype=np.float64)
    d = (m - b)[np.isfinite(m) & np.isfinite(b)]
    if d.size == 0:
        return {"rmse": float("nan"), "bias": float("nan"), "ubrmse": float("nan"), "n": 0}
    return {"rmse": float(np.sqrt(np.mean(d * d))), "bias": float(d.mean()),
            "ubrmse": float(d.std()), "n": int(d.size)}


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
            "corr": (("pair", "dy", "dx"), corr, cf.attrs(
                "Pearson r of MODIS 1 km LST and translated, block-averaged ASTER", "1")),
            "n": (("pair", "dy", "dx"), cnt, cf.attrs("1 km pixels compared", "1")),
            "mean_corr": (("dy", "dx"), mean, cf.attrs("mean r over pairs", "1")),
        },
        coords=coords,
    )
    ds["dx"].attrs = cf.attrs("ASTER displacement, east (MODIS frame)", "m")
    ds["dy"].attrs = cf.attrs("ASTER displacement, north (MODIS frame)", "m")
    ds.attrs = {"title": "MODIS-ASTER co-registration search", "step_m": float(step_m),
                "max_m": float(max_m), "Conventions": cf.CONVENTIONS}
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
