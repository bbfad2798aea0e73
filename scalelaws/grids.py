"""Grids and scale operators: pixel size, coarse-graining, PSF degradation, alignment.

This module holds **the single definition of "degrade"** used everywhere in the project
(statistics across scales, correction laws, and the training pairs of the super-resolution
networks, which re-implement :func:`degrade_array` in torch and test equality against it).

Conventions
-----------
* Fields are :class:`xarray.DataArray` with spatial dims ``("y", "x")`` last (extra leading dims
  broadcast), coordinates at pixel centres in CRS units (metres), ``y`` decreasing for north-up
  rasters, NaN = missing.  A CRS and transform may be attached with rioxarray.
* A block of ``factor x factor`` fine pixels makes one coarse pixel.  Blocks start at the
  upper-left pixel (the raster origin, which is kept); trailing rows / columns that do not fill
  a block are dropped (and logged).  The coarse pixel centre is the mean of its fine centres,
  so coordinates are exact and the coarse transform is the fine one with the pixel size
  multiplied by ``factor``.
* A coarse pixel is NaN when the fraction of NaN among its fine pixels exceeds
  ``max_missing``; otherwise it aggregates the valid fine pixels only.

Degradation methods (``method=`` of :func:`degrade`)
----------------------------------------------------
``"mean"``
    Block mean of the valid fine pixels.
``"radiance"``
    Radiance-consistent block mean for brightness / kinetic temperatures in kelvin:
    ``(mean(T**4))**(1/4)`` (Stefan-Boltzmann, emissivity assumed uniform within the block).
    It is never smaller than the arithmetic mean, with equality on constant blocks.
``"psf"``
    A Gaussian point-spread function, NaN-aware (normalised convolution: the filtered value
    is ``G*(v T) / G*v`` with ``v`` the validity mask, zero padding outside the raster), then
    the block-mean decimation of ``"mean"`` (so the grids of all methods coincide).  The
    Gaussian's standard deviation ``sigma`` (fine pixels) is set by
    :func:`gaussian_sigma_for_mtf` so that its MTF, ``exp(-2 pi**2 sigma**2 f**2)``, equals
    ``mtf_nyquist`` at the coarse Nyquist frequency ``f = 1 / (2 factor)`` cycles per fine
    pixel.  The block average adds its own transfer function
    ``sin(pi f F) / (F sin(pi f))`` (``2 / pi`` ~ 0.64 at Nyquist for large ``F``), so the
    system MTF at the coarse Nyquist frequency is ``mtf_nyquist`` times that factor.
    The missing-fraction rule uses the fine pixels of each block, as for ``"mean"``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Hashable
from typing import Any, Literal

import numpy as np
import rioxarray  # noqa: F401 - registers the .rio accessor
import xarray as xr
from affine import Affine

from scalelaws.core.aggregate import aggregate_blocks
from scalelaws.errors import (
    AllNaNError,
    GridMismatchError,
    InputError,
    MissingCRSError,
    ScaleRangeError,
    UnitsError,
)

__all__ = [
    "DEGRADE_METHODS",
    "align",
    "coarsen",
    "degrade",
    "degrade_array",
    "gaussian_sigma_for_mtf",
    "gaussian_smooth",
    "pixel_size",
    "place_on_grid",
    "psf_degrade",
    "refine_like",
    "upsample_coords",
]

log = logging.getLogger(__name__)

DEGRADE_METHODS = ("mean", "radiance", "psf")
Method = Literal["mean", "radiance", "psf"]
_REL_TOL = 1e-6


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------


def _spatial_dims(da: xr.DataArray) -> tuple[Hashable, Hashable]:
    """Return the ``(y, x)`` dim names: ``("y", "x")`` if present, else the last two dims."""
    if not isinstance(da, xr.DataArray):
        raise InputError(f"expected an xarray.DataArray, got {type(da).__name__}")
    if "y" in da.dims and "x" in da.dims:
        return "y", "x"
    if da.ndim < 2:
        raise InputError(f"field has {da.ndim} dimension(s); a 2-D (y, x) field is needed")
    return da.dims[-2], da.dims[-1]


def _source(da: xr.DataArray) -> str | None:
    src = da.attrs.get("source")
    return str(src) if src else None


def _coord_step(da: xr.DataArray, dim: Hashable) -> float | None:
    """Signed regular spacing of coordinate ``dim`` or ``None`` if absent / single-valued."""
    if dim not in da.coords:
        return None
    c = np.asarray(da[dim].values, dtype=float)
    if c.size < 2:
        return None
    d = np.diff(c)
    step = float(d.mean())
    if step == 0.0 or np.max(np.abs(d - step)) > _REL_TOL * abs(step):
        raise GridMismatchError(f"coordinate {dim!r} is not regularly spaced", _source(da))
    return step


def _has_rio_grid(da: xr.DataArray) -> bool:
    try:
        return da.rio.crs is not None
    except Exception:  # noqa: BLE001 - rioxarray raises various errors on odd objects
        return False


def _check_factor(factor: Any) -> int:
    if isinstance(factor, bool) or not float(factor).is_integer():
        raise ScaleRangeError(f"factor must be a positive integer, got {factor!r}")
    factor = int(factor)
    if factor < 1:
        raise ScaleRangeError(f"factor must be >= 1, got {factor}")
    return factor


def _check_max_missing(max_missing: float) -> float:
    max_missing = float(max_missing)
    if not 0.0 <= max_missing <= 1.0:
        raise InputError(f"max_missing must lie in [0, 1], got {max_missing}")
    return max_missing


def _check_not_all_nan(da: xr.DataArray) -> None:
    """Raise AllNaNError for an in-memory all-NaN field (dask-backed fields are not computed)."""
    if da.chunks is not None:
        return
    if da.size == 0 or bool(np.all(np.isnan(np.asarray(da.values, dtype=float)))):
        raise AllNaNError("every pixel of the field is missing (NaN)", _source(da))


# ----------------------------------------------------------------------------------------------
# pixel size
# ----------------------------------------------------------------------------------------------


def pixel_size(da: xr.DataArray, *, default: float | None = None) -> float:
    """Pixel size ``|dx|`` of a field, in CRS units (metres for the project's grids).

    Taken from the regular ``x``/``y`` coordinates; when a dimension has fewer than two
    coordinates, from the rioxarray transform; else from ``da.attrs["pixel_size"]``; else
    ``default``.

    Parameters
    ----------
    da
        The field.
    default
        Returned when the field carries no spatial information at all (e.g. ``1.0`` to count in
        pixels).  ``None`` (default) raises instead.

    Returns
    -------
    float
        ``|dx|`` (positive).

    Raises
    ------
    scalelaws.errors.GridMismatchError
        Non-square pixels (``|dx|`` and ``|dy|`` differ by more than 1e-6 relative) or
        irregular coordinates.
    scalelaws.errors.InputError
        No coordinates, transform or ``pixel_size`` attribute, and no ``default``.

    """
    ydim, xdim = _spatial_dims(da)
    dx, dy = _coord_step(da, xdim), _coord_step(da, ydim)
    if (dx is None or dy is None) and _has_rio_grid(da):
        try:
            res_x, res_y = da.rio.resolution()
            dx = res_x if dx is None else dx
            dy = res_y if dy is None else dy
        except Exception:  # noqa: BLE001 - no usable transform: fall through
            log.debug("no rioxarray resolution for %s", da.name)
    if dx is None and dy is None:
        ps = da.attrs.get("pixel_size")
        if ps is not None:
            return abs(float(np.atleast_1d(ps)[0]))
        if default is not None:
            return float(default)
        raise InputError(
            "field has no x/y coordinates, transform or 'pixel_size' attribute: "
            "cannot tell its pixel size",
            _source(da),
        )
    dx = abs(dx) if dx is not None else abs(dy)  # type: ignore[arg-type]
    dy = abs(dy) if dy is not None else dx
    if abs(dx - dy) > _REL_TOL * max(dx, dy):
        raise GridMismatchError(
            f"pixels are not square: |dx| = {dx:g}, |dy| = {dy:g}", _source(da)
        )
    return float(dx)


# ----------------------------------------------------------------------------------------------
# coarse-graining
# ----------------------------------------------------------------------------------------------


def _trim(da: xr.DataArray, factor: int) -> xr.DataArray:
    ydim, xdim = _spatial_dims(da)
    ny, nx = da.sizes[ydim], da.sizes[xdim]
    if ny < factor or nx < factor:
        raise ScaleRangeError(
            f"field of {ny} x {nx} pixels is smaller than the aggregation factor {factor}",
            _source(da),
        )
    my, mx = ny - ny % factor, nx - nx % factor
    if (my, mx) != (ny, nx):
        log.info(
            "coarsen by %d: dropping %d trailing row(s) and %d trailing column(s)",
            factor, ny - my, nx - mx,
        )
        da = da.isel({ydim: slice(0, my), xdim: slice(0, mx)})
    return da


def _coarse_transform(da: xr.DataArray, factor: int) -> Affine | None:
    """Transform of the coarse grid: same origin, pixel size times ``factor``."""
    if not _has_rio_grid(da):
        return None
    t = da.rio.transform()
    return Affine(t.a * factor, t.b * factor, t.c, t.d * factor, t.e * factor, t.f)


def _finish(
    out: xr.DataArray, src: xr.DataArray, factor: int, transform: Affine | None, info: dict
) -> xr.DataArray:
    out.attrs = dict(src.attrs)
    if "pixel_size" in out.attrs:
        out.attrs["pixel_size"] = float(np.atleast_1d(out.attrs["pixel_size"])[0]) * factor
    prev = out.attrs.get("degradation_factor")
    out.attrs.update({f"degradation_{k}": v for k, v in info.items()})
    out.attrs["degradation"] = info["method"]
    out.attrs["degradation_factor"] = factor * (int(prev) if prev else 1)
    out.name = src.name
    if transform is not None:
        out = out.rio.write_crs(src.rio.crs).rio.write_transform(transform)
    return out


def _block_reduce(
    da: xr.DataArray, factor: int, method: str, max_missing: float, missing: xr.DataArray
) -> xr.DataArray:
    """Block mean (or radiance mean) of ``da``; NaN where ``missing`` fraction > max_missing.

    The values come from :func:`scalelaws.core.aggregate.aggregate_blocks` (the single
    definition, coverage ``1 - max_missing`` judged on the pixels not ``missing``); the coarse
    coordinates are the means of the fine ones.
    """
    ydim, xdim = _spatial_dims(da)
    dtype = da.dtype if np.issubdtype(da.dtype, np.floating) else np.dtype("float64")
    lead = [d for d in da.dims if d not in (ydim, xdim)]
    order = (*lead, ydim, xdim)
    values = da.transpose(*order).data
    valid = ~missing.transpose(*order).data
    data = aggregate_blocks(values, factor, method=method, min_coverage=1.0 - max_missing,
                            valid=valid)
    coords = {}
    for name, c in da.coords.items():
        window = {d: factor for d in (ydim, xdim) if d in c.dims}
        coords[name] = (c.variable.coarsen(window, "mean", boundary="exact") if window
                        else c.variable)
    out = xr.DataArray(data, dims=order, coords=coords)
    return out.transpose(*da.dims).astype(dtype)


def coarsen(
    da: xr.DataArray,
    factor: int,
    *,
    method: Literal["mean", "radiance"] = "mean",
    max_missing: float = 0.5,
) -> xr.DataArray:
    """Block-aggregate a field by an integer factor, with exact coarse coordinates.

    Parameters
    ----------
    da
        Field with spatial dims ``(y, x)`` last (extra leading dims are aggregated
        independently); numpy- or dask-backed (dask stays lazy).
    factor
        Block size in fine pixels (>= 1).
    method
        ``"mean"``: mean of the valid fine pixels; ``"radiance"``: ``(mean T**4)**(1/4)`` for
        temperatures in kelvin (values must be positive).
    max_missing
        A coarse pixel is NaN when more than this fraction of its fine pixels is NaN.

    Returns
    -------
    xarray.DataArray
        Coarse field (same dtype for float input), coordinates = mean of the fine centres,
        rioxarray transform with the pixel size times ``factor`` and the same origin, the
        input's attrs plus ``degradation``, ``degradation_factor`` (cumulative),
        ``degradation_method`` and ``degradation_max_missing``; ``attrs["pixel_size"]`` is
        scaled when present.  Trailing rows / columns that do not fill a block are dropped.

    Raises
    ------
    scalelaws.errors.ScaleRangeError
        ``factor < 1``, not an integer, or larger than the field.
    scalelaws.errors.AllNaNError
        The (in-memory) field is entirely NaN.
    scalelaws.errors.UnitsError
        ``method="radiance"`` on non-positive values (not kelvin).

    """
    if method not in ("mean", "radiance"):
        raise InputError(f"coarsen method must be 'mean' or 'radiance', got {method!r}")
    factor = _check_factor(factor)
    max_missing = _check_max_missing(max_missing)
    _check_not_all_nan(da)
    da = _trim(da, factor)
    if method == "radiance" and da.chunks is None:
        vmin = np.nanmin(np.asarray(da.values, dtype=float))
        if vmin <= 0:
            raise UnitsError(
                f"radiance mean needs temperatures in kelvin (> 0); minimum is {vmin:g}",
                _source(da),
            )
    transform = _coarse_transform(da, factor)
    out = _block_reduce(da, factor, method, max_missing, da.isnull())
    return _finish(out, da, factor, transform, {"method": method, "max_missing": max_missing})


# ----------------------------------------------------------------------------------------------
# Gaussian PSF
# ----------------------------------------------------------------------------------------------


def gaussian_sigma_for_mtf(factor: float, mtf_nyquist: float = 0.3) -> float:
    r"""Return the sigma (fine pixels) of the Gaussian PSF with a given MTF at coarse Nyquist.

    The Gaussian PSF of standard deviation :math:`\sigma` has the MTF
    :math:`M(f) = \exp(-2\pi^2\sigma^2 f^2)` (``f`` in cycles per fine pixel).  Solving
    :math:`M(1 / (2F)) = m` gives :math:`\sigma = F \sqrt{-2 \ln m} / \pi`.

    Parameters
    ----------
    factor
        Degradation factor ``F`` (> 0).
    mtf_nyquist
        MTF ``m`` at the coarse Nyquist frequency, in (0, 1]; ``1`` means no blur.

    Returns
    -------
    float
        ``sigma`` in fine pixels.

    """
    if not factor > 0:
        raise ScaleRangeError(f"factor must be positive, got {factor}")
    if not 0.0 < mtf_nyquist <= 1.0:
        raise InputError(f"mtf_nyquist must lie in (0, 1], got {mtf_nyquist}")
    return float(factor) * math.sqrt(-2.0 * math.log(mtf_nyquist)) / math.pi


def gaussian_smooth(arr: np.ndarray, sigma: float) -> np.ndarray:
    """NaN-aware Gaussian filter over the last two axes: ``G*(v a) / G*v`` (zero padding).

    Parameters
    ----------
    arr
        Array whose last two axes are (y, x); NaN = missing (stays NaN only where no valid
        pixel is within reach of the kernel).
    sigma
        Standard deviation in pixels (``<= 0``: a copy).

    Returns
    -------
    numpy.ndarray
        float64.

    """
    return _normalised_gaussian(arr, sigma)


def _normalised_gaussian(arr: np.ndarray, sigma: float) -> np.ndarray:
    """NaN-aware Gaussian filter over the last two axes: ``G*(v a) / G*v`` (zero padding)."""
    from scipy.ndimage import gaussian_filter

    arr = np.asarray(arr, dtype=np.float64)
    if sigma <= 0.0:
        return arr.copy()
    valid = np.isfinite(arr)
    sig = (0.0,) * (arr.ndim - 2) + (sigma, sigma)
    num = gaussian_filter(np.where(valid, arr, 0.0), sig, mode="constant", cval=0.0)
    den = gaussian_filter(valid.astype(np.float64), sig, mode="constant", cval=0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den
    out[den < 1e-12] = np.nan
    return out


def psf_degrade(
    da: xr.DataArray,
    factor: int,
    *,
    mtf_nyquist: float = 0.3,
    max_missing: float = 0.5,
) -> xr.DataArray:
    """Gaussian point-spread degradation then block-mean decimation.

    Each coarse pixel is the block mean of the fine field after a NaN-aware normalised Gaussian
    convolution (``G*(v T) / G*v``, ``v`` the validity mask, zero padding beyond the raster so
    edges are renormalised rather than reflected).  The Gaussian's ``sigma`` is
    :func:`gaussian_sigma_for_mtf` ``(factor, mtf_nyquist)``; the output grid is exactly the
    grid of :func:`coarsen`.  The missing-fraction rule is applied to the fine pixels of each
    block (before filtering).

    Parameters
    ----------
    da
        Field with spatial dims ``(y, x)`` last; numpy- or dask-backed (stays lazy; the
        spatial dims are gathered into one chunk for the convolution).
    factor
        Degradation factor (>= 1).
    mtf_nyquist
        Gaussian MTF at the coarse Nyquist frequency ``1 / (2 factor)`` cycles per fine pixel.
    max_missing
        A coarse pixel is NaN when more than this fraction of its fine pixels is NaN.

    Returns
    -------
    xarray.DataArray
        As :func:`coarsen`, with attrs ``degradation="psf"``, ``degradation_mtf_nyquist`` and
        ``degradation_psf_sigma_px`` (in fine pixels).

    """
    factor = _check_factor(factor)
    max_missing = _check_max_missing(max_missing)
    sigma = gaussian_sigma_for_mtf(factor, mtf_nyquist)
    _check_not_all_nan(da)
    da = _trim(da, factor)
    ydim, xdim = _spatial_dims(da)
    dtype = da.dtype if np.issubdtype(da.dtype, np.floating) else np.dtype("float64")
    filtered = xr.apply_ufunc(
        _normalised_gaussian,
        da,
        kwargs={"sigma": sigma},
        input_core_dims=[[ydim, xdim]],
        output_core_dims=[[ydim, xdim]],
        dask="parallelized",
        dask_gufunc_kwargs={"allow_rechunk": True},
        output_dtypes=[np.float64],
        keep_attrs=True,
    ).transpose(*da.dims)
    transform = _coarse_transform(da, factor)
    out = _block_reduce(filtered, factor, "mean", max_missing, da.isnull()).astype(dtype)
    info = {
        "method": "psf",
        "max_missing": max_missing,
        "mtf_nyquist": float(mtf_nyquist),
        "psf_sigma_px": sigma,
    }
    return _finish(out, da, factor, transform, info)


# ----------------------------------------------------------------------------------------------
# the single definition of "degrade"
# ----------------------------------------------------------------------------------------------


def degrade(
    da: xr.DataArray, factor: int, *, method: Method = "mean", **kw: Any
) -> xr.DataArray:
    """Degrade a field by ``factor``: THE definition of degradation used across the project.

    Parameters
    ----------
    da
        Field with spatial dims ``(y, x)`` last.
    factor
        Integer degradation factor (>= 1).
    method
        ``"mean"`` or ``"radiance"`` (:func:`coarsen`), or ``"psf"`` (:func:`psf_degrade`).
    **kw
        ``max_missing`` (all methods) and ``mtf_nyquist`` (``"psf"`` only).

    Returns
    -------
    xarray.DataArray
        The coarse field; see :func:`coarsen` / :func:`psf_degrade`.

    """
    if method in ("mean", "radiance"):
        if set(kw) - {"max_missing"}:
            raise InputError(f"unexpected options for method {method!r}: {sorted(kw)}")
        return coarsen(da, factor, method=method, **kw)
    if method == "psf":
        if set(kw) - {"max_missing", "mtf_nyquist"}:
            raise InputError(f"unexpected options for method 'psf': {sorted(kw)}")
        return psf_degrade(da, factor, **kw)
    raise InputError(f"unknown degradation method {method!r}; choose one of {DEGRADE_METHODS}")


def degrade_array(
    arr: np.ndarray, factor: int, *, method: Method = "mean", **kw: Any
) -> np.ndarray:
    """:func:`degrade` for plain arrays (spatial axes last), through the same code path.

    Parameters
    ----------
    arr
        Array ``(..., ny, nx)``, NaN = missing.
    factor, method, **kw
        As :func:`degrade`.

    Returns
    -------
    numpy.ndarray
        ``(..., ny // factor, nx // factor)``; float input keeps its dtype.

    """
    arr = np.asarray(arr)
    if arr.ndim < 2:
        raise InputError(f"array has {arr.ndim} dimension(s); (..., ny, nx) is needed")
    dims = tuple(f"dim_{i}" for i in range(arr.ndim - 2)) + ("y", "x")
    return degrade(xr.DataArray(arr, dims=dims), factor, method=method, **kw).values


# ----------------------------------------------------------------------------------------------
# alignment and fine grids
# ----------------------------------------------------------------------------------------------


def align(da: xr.DataArray, ref: xr.DataArray, *, resampling: str = "bilinear") -> xr.DataArray:
    """Reproject ``da`` onto the grid of ``ref`` (``rio.reproject_match``).

    Missing data stays NaN, and pixels of ``ref`` outside the footprint of ``da`` are NaN.
    The result carries exactly ``ref``'s coordinates, CRS and transform, and ``da``'s attrs.
    GDAL conventions apply: when ``ref`` is coarser than ``da``, interpolating kernels
    (bilinear, cubic) are widened to the target pixel (anti-aliasing), and coordinates go
    through GDAL's approximate transformer (error below 0.125 source pixel).  For an
    area-consistent coarse-graining on a common grid prefer :func:`coarsen`.

    Parameters
    ----------
    da
        Field to reproject (with a CRS).
    ref
        Field whose grid is the target (with a CRS).
    resampling
        A :class:`rasterio.enums.Resampling` name: ``"nearest"``, ``"bilinear"``,
        ``"cubic"``, ``"average"``, ...

    Returns
    -------
    xarray.DataArray

    Raises
    ------
    scalelaws.errors.MissingCRSError
        ``da`` or ``ref`` has no CRS.
    scalelaws.errors.GridMismatchError
        The two footprints do not overlap.

    """
    from rasterio.enums import Resampling

    for name, obj in (("field", da), ("reference", ref)):
        _spatial_dims(obj)
        if not _has_rio_grid(obj):
            raise MissingCRSError(
                f"the {name} to align has no CRS (write one with da.rio.write_crs)",
                _source(obj),
            )
    try:
        rs = Resampling[resampling]
    except KeyError:
        raise InputError(
            f"unknown resampling {resampling!r}; use one of {[r.name for r in Resampling]}"
        ) from None
    src = da
    if not np.issubdtype(src.dtype, np.floating):
        src = src.astype("float64")
    src = src.rio.write_nodata(np.nan, encoded=False)
    out = src.rio.reproject_match(ref, resampling=rs)
    ydim, xdim = _spatial_dims(ref)
    out = out.assign_coords({ydim: ref[ydim].values, xdim: ref[xdim].values})
    out = out.rio.write_crs(ref.rio.crs).rio.write_transform(ref.rio.transform())
    out.attrs = {k: v for k, v in da.attrs.items() if k not in ("_FillValue",)}
    out.encoding.pop("_FillValue", None)
    if out.chunks is None and bool(np.all(np.isnan(out.values))):
        raise GridMismatchError(
            "the field and the reference grid do not overlap (empty reprojection)", _source(da)
        )
    return out


def place_on_grid(
    da: xr.DataArray,
    like: xr.DataArray,
    *,
    resampling: str = "bilinear",
    dtype: Any = None,
) -> xr.DataArray:
    """Put a 2-D field on the grid of ``like``: exactly when whole pixels apart, else :func:`align`.

    When the two grids have the same (signed) pixel size and their origins differ by a whole
    number of pixels (the MODIS-ASTER NDVI is offset by 0-3 fine pixels from the 4 x 4 blocks of
    the 1 km grid; an SR output on the refined 1 km grid against the NDVI grid), the values are
    moved by that shift exactly, NaN where ``da`` does not reach. Otherwise ``da`` is
    reprojected with :func:`align` (``resampling``). The single definition of co-registering a
    field onto a fine grid (``sr.data.place_on_fine_grid``, ``analysis.pipeline.predictors.to_grid``).

    Parameters
    ----------
    da
        Field with a CRS and transform.
    like
        Field on the target grid (with a CRS and transform).
    resampling
        Resampling of the non-integer case (:func:`align`).
    dtype
        Output dtype (default: ``da``'s floating dtype, float64 for integers).

    Returns
    -------
    xarray.DataArray
        On ``like``'s coordinates, CRS and transform, with ``da``'s attrs.

    Raises
    ------
    scalelaws.errors.GridMismatchError
        The field does not overlap the grid.

    """
    for name, obj in (("field", da), ("target grid", like)):
        if not _has_rio_grid(obj):
            raise MissingCRSError(f"the {name} to place has no CRS", _source(obj))
    if dtype is None:
        dtype = da.dtype if np.issubdtype(da.dtype, np.floating) else np.float64
    tl, td = like.rio.transform(), da.rio.transform()
    same_px = math.isclose(td.a, tl.a, rel_tol=1e-6) and math.isclose(td.e, tl.e, rel_tol=1e-6)
    col, row = (td.c - tl.c) / tl.a, (td.f - tl.f) / tl.e
    whole = abs(col - round(col)) <= 1e-3 and abs(row - round(row)) <= 1e-3
    if not (same_px and whole) or td.b or td.d or tl.b or tl.d:
        return align(da, like, resampling=resampling).astype(dtype)
    r0, c0 = int(round(row)), int(round(col))
    ydim, xdim = _spatial_dims(like)
    ny, nx = like.sizes[ydim], like.sizes[xdim]
    src = np.asarray(da.values, dtype=dtype)
    dr0, dr1 = max(r0, 0), min(r0 + src.shape[0], ny)
    dc0, dc1 = max(c0, 0), min(c0 + src.shape[1], nx)
    if dr1 <= dr0 or dc1 <= dc0:
        raise GridMismatchError("the field does not overlap the target grid", _source(da))
    out = np.full((ny, nx), np.nan, dtype=dtype)
    out[dr0:dr1, dc0:dc1] = src[dr0 - r0 : dr1 - r0, dc0 - c0 : dc1 - c0]
    res = xr.DataArray(out, dims=(ydim, xdim), name=da.name, attrs=dict(da.attrs),
                       coords={ydim: like[ydim].values, xdim: like[xdim].values})
    log.debug("placed field with a shift of (%d, %d) pixels", r0, c0)
    return res.rio.write_crs(like.rio.crs).rio.write_transform(tl)


def upsample_coords(da: xr.DataArray, factor: int) -> dict[str, Any]:
    """Pixel-centre coordinates and transform of the grid ``factor`` times finer than ``da``.

    The fine grid has the same outer bounds, pixel size divided by ``factor``; fine pixel ``k``
    (0-based) inside coarse pixel ``i`` has centre ``c_i - d / 2 + (k + 1/2) d / factor`` with
    ``d`` the signed coarse spacing.  :func:`coarsen` of the fine grid gives back ``da``'s
    coordinates.

    Parameters
    ----------
    da
        Coarse field with regular ``x``/``y`` coordinates.
    factor
        Refinement factor (>= 1).

    Returns
    -------
    dict
        ``{"y": ndarray, "x": ndarray, "transform": Affine | None}``.

    """
    factor = _check_factor(factor)
    ydim, xdim = _spatial_dims(da)
    out: dict[str, Any] = {}
    for key, dim in (("y", ydim), ("x", xdim)):
        step = _coord_step(da, dim)
        if step is None:
            if _has_rio_grid(da):
                res = da.rio.resolution()
                step = res[1] if key == "y" else res[0]
            else:
                raise InputError(
                    f"cannot refine: dimension {dim!r} has no regular coordinates", _source(da)
                )
        c = np.asarray(da[dim].values, dtype=float) if dim in da.coords else None
        if c is None:
            raise InputError(f"cannot refine: dimension {dim!r} has no coordinates", _source(da))
        sub = (np.arange(factor) + 0.5) * step / factor - step / 2.0
        out[key] = (c[:, None] + sub[None, :]).ravel()
    transform = None
    if _has_rio_grid(da):
        t = da.rio.transform()
        transform = Affine(t.a / factor, t.b / factor, t.c, t.d / factor, t.e / factor, t.f)
    out["transform"] = transform
    return out


def refine_like(
    da: xr.DataArray,
    factor: int,
    values: np.ndarray | None = None,
    *,
    name: str | None = None,
) -> xr.DataArray:
    """Build a DataArray on the grid ``factor`` times finer than ``da`` (e.g. for SR output).

    Parameters
    ----------
    da
        Coarse field (coordinates, CRS and attrs are taken from it).
    factor
        Refinement factor (>= 1).
    values
        Array of shape ``(..., ny * factor, nx * factor)`` matching ``da``'s leading dims;
        ``None`` fills with NaN (float32).
    name
        Name of the result (default: ``da.name``).

    Returns
    -------
    xarray.DataArray
        Same outer bounds, CRS and attrs as ``da`` (``pixel_size`` divided by ``factor`` when
        present, ``degradation*`` attrs removed).

    """
    grid = upsample_coords(da, factor)
    ydim, xdim = _spatial_dims(da)
    lead = [d for d in da.dims if d not in (ydim, xdim)]
    shape = tuple(da.sizes[d] for d in lead) + (grid["y"].size, grid["x"].size)
    if values is None:
        values = np.full(shape, np.nan, dtype=np.float32)
    values = np.asarray(values)
    if values.shape != shape:
        raise GridMismatchError(
            f"values have shape {values.shape}, the refined grid needs {shape}", _source(da)
        )
    coords: dict[Hashable, Any] = {d: da[d] for d in lead if d in da.coords}
    coords[ydim] = grid["y"]
    coords[xdim] = grid["x"]
    out = xr.DataArray(values, dims=(*lead, ydim, xdim), coords=coords, name=name or da.name)
    attrs = {k: v for k, v in da.attrs.items() if not str(k).startswith("degradation")}
    if "pixel_size" in attrs:
        attrs["pixel_size"] = float(np.atleast_1d(attrs["pixel_size"])[0]) / factor
    out.attrs = attrs
    if grid["transform"] is not None:
        out = out.rio.write_crs(da.rio.crs).rio.write_transform(grid["transform"])
    return out
