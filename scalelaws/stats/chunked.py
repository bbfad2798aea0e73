"""Scaling exponents of rasters larger than memory, computed block by block with dask.

:func:`fit_scaling_chunked` gives the exponents of :func:`scalelaws.fit.fit_scaling` for a
raster that is never held in memory: :class:`ChunkedBackend` answers the field-wide questions
of ``fit_scaling`` (see :class:`scalelaws.fit.FieldBackend`) with one ``dask.delayed`` task per
block, each task reading its own window of the file (so no block is shared between tasks and
the memory in use is bounded by the number of tasks running at once), and everything else
(lags, fits, intervals) is ``fit_scaling``'s own code.

What is exact and what is approximate
--------------------------------------
* **Structure functions and bootstrap tiles: exact.** Every statistic is a *sum* over pairs
  (:mod:`scalelaws.kernels.sf`). A pair along x lies in one row and a pair along y in one
  column, so the x lags are summed over horizontal strips (full width, ``t`` rows) and the y
  lags over vertical strips (full height, ``t`` columns): each pair is counted once and no halo
  is read (a halo of the largest lag, up to a sixth of the raster, would multiply the reads).
  The bootstrap tiles' sums (pairs contained in a tile) are the same sums over strips of the
  tile. ``S``, ``S_boot``, ``zeta``, ``H`` and the break equal the in-memory values up to float
  rounding (summation order; relative 1e-12).
* **Wavelet leaders: exact.** Octaves ``1..J0`` (:data:`J0` = 3) are computed per block with a
  halo covering the footprint of an octave-``J0`` coefficient and the 3 x 3 leader
  neighbourhood; only the blocks' cores are kept (blocks aligned on ``2**J0``), giving the
  counts ``n(j)`` of the fine octaves and, at octave ``J0``, the approximation, its invalid
  mask and the running supremum ``M``. The coarser octaves are continued in memory from those
  arrays (``1 / 4**J0`` of the raster). ``c1``, ``c2`` and their bootstrap equal the in-memory
  ones up to float rounding. (Fits that must start below octave 3, on small fields, are left
  to the in-memory path.)
* **Calibrations and spectrum: from sub-blocks.** The fBm calibrations of :func:`fit_scaling`
  simulate fields of the data's size (an exact fBm of ``n x n`` px needs about ``500 n**2``
  bytes). When the raster side exceeds :attr:`ChunkedBackend.calib_side` (from the memory
  budget), the calibrations run on fBm of that side: the zeta calibration on the raster
  coarse-grained by the smallest power of two ``f`` that brings it to that side (the coarse
  missing mask, lags, tiles and stride divided by ``f``: fBm is self-similar, so the spread
  ratio and bias depend on the geometry relative to the field, up to lattice effects at the
  smallest lags); the leader calibration on a ``calib_side`` sub-block at the raster's
  own pixels (its missing mask), octaves ``j1`` to the largest the sub-block holds with 64
  leaders (the finest octaves, whose aliasing bias is the one removed). ``beta`` is the spectral
  slope of the ``f x f`` block means (the default fit stops at wavelengths of 8 coarse pixels,
  where block averaging damps the power by less than 10 %). With ``f = 1`` (a raster whose
  side fits) calibrations and ``beta`` are the in-memory ones exactly.

Memory. A structure-function task holds one strip (:data:`SF_BYTES_PER_PX` per pixel); the
strip thickness is chosen so that the strips being processed at once fit in a third of the
budget (:func:`strip_thickness`); the other tasks (summary, leaders, law sums) are square
blocks sized by :func:`auto_chunk`. The budget is what is left after the process itself
(:func:`usable_memory`). The continued octaves hold about ``40 / 4**J0`` bytes per raster
pixel. Works with dask's default
(threaded) scheduler and, unchanged, with ``dask.distributed`` when a ``Client`` is active
(:class:`RasterSource` is picklable: it stores the path and re-opens the file per window).
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dask
import numpy as np
import xarray as xr

from scalelaws.errors import AllNaNError, InputError
from scalelaws.fit import (
    MAX_SCALE_FRACTION,
    FieldBackend,
    _boot_from_sums,
    _lrd_inflation,
    _tile_starts,
    _wavelet_calibration,
    _wls_c12,
    fit_scaling,
)

__all__ = [
    "RasterSource",
    "ArraySource",
    "ChunkedBackend",
    "fit_scaling_chunked",
    "law_scene_sums",
    "PlacedSource",
    "landcover_source",
    "ndvi_window_source",
    "parse_memory",
    "auto_chunk",
    "strip_thickness",
    "raster_nbytes",
    "memory_budget",
    "chunked_source",
    "J0",
]

log = logging.getLogger(__name__)

#: Octave up to which the wavelet transform and leaders are computed per block; coarser
#: octaves continue in memory from the octave-``J0`` arrays (1/64 of the raster).
J0 = 3
#: Bytes per pixel of one structure-function task's window: the stored values, the masks and
#: the float64 physical values of the reader (:func:`scalelaws.io.generic.to_physical`) and
#: the float32 rounding of the in-memory reader.
SF_BYTES_PER_PX = 28
#: Bytes per pixel the in-memory path needs, beyond the process itself: the reader's arrays
#: (stored values, masks, float64 physical values, float32 field), the float64 copy of the
#: statistics, the wavelet transform and leaders (measured peak ~64 bytes per pixel without
#: calibration: ``laws fit``); ``exponents`` adds fBm calibration fields of the data's size,
#: :data:`FBM_BYTES_PER_PX` more.
IN_MEMORY_BYTES_PER_PX = 64
#: Bytes per pixel of one leader task's window (the reader's, then DWT, masks and leaders).
LEADER_BYTES_PER_PX = 72
#: Bytes per pixel of an exact fBm simulation (circulant embedding; measured: 1024^2 -> 500 MB).
FBM_BYTES_PER_PX = 500
#: Bytes per pixel of one summary task (reader, validity, block means through xarray;
#: measured ~130).
SUMMARY_BYTES_PER_PX = 160
#: Bytes per pixel of placing another raster on an LST window (:class:`PlacedSource`: the
#: reader's arrays, the classification's int64 digitize, the resampled copy). Measured on
#: 8192^2 ``exponents --by-landscape`` under ``prlimit --as``: with 48 (a task's window
#: costed at 94 bytes per pixel) 2 GiB ran out of address space in a 1896^2 window; with 96
#: 2 GiB is refused up front and 3 GiB runs (docs/big_rasters.md).
PLACED_BYTES_PER_PX = 96
#: GDAL block cache (MB) while reading windows.
GDAL_CACHE_MB = 32
#: Smallest chunk side (pixels) :func:`auto_chunk` accepts.
MIN_CHUNK = 256

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3,
          "gb": 1000**3, "t": 1000**4, "tb": 1000**4, "kib": 1024, "mib": 1024**2,
          "gib": 1024**3, "tib": 1024**4}


def parse_memory(text: str | int) -> int:
    """Parse a memory size: ``"2GiB"``, ``"512MiB"``, ``"1.5GB"``, ``"2G"`` or bytes.

    Raises
    ------
    InputError
        Not a positive size.

    """
    if isinstance(text, int | np.integer):
        value = int(text)
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(text))
        if m is None or m.group(2).lower() not in _UNITS:
            raise InputError(f"--memory-limit expects a size such as 2GiB or 512MiB, got {text!r}")
        value = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if value <= 0:
        raise InputError(f"--memory-limit must be positive, got {text!r}")
    return value


def _n_workers() -> int:
    """Tasks dask runs at once: the distributed client's threads, else the CPU count."""
    try:
        from distributed import get_client

        client = get_client()
        return max(1, max(client.nthreads().values(), default=1))
    except (ImportError, ValueError):
        return max(1, int(dask.config.get("num_workers", None) or os.cpu_count() or 1))


def auto_chunk(memory: int, halo: int, *, workers: int | None = None, align: int = 1) -> int:
    """Largest chunk side whose structure-function windows fit in half of ``memory``.

    ``workers`` tasks (default: what dask runs at once) each hold ``(c + halo)**2`` pixels of
    :data:`SF_BYTES_PER_PX` bytes. The side is a multiple of ``align``.

    Raises
    ------
    InputError
        Even a :data:`MIN_CHUNK` chunk does not fit (the largest lag is too large for the
        budget: give a smaller ``--range`` or more memory).

    """
    w = workers if workers is not None else _n_workers()
    side = int(math.sqrt(0.5 * memory / (w * SF_BYTES_PER_PX))) - int(halo)
    side -= side % max(int(align), 1)
    if side < MIN_CHUNK:
        raise InputError(
            f"a memory budget of {memory / 2**20:.0f} MiB cannot hold {w} window(s) of "
            f"{MIN_CHUNK} px plus the largest lag ({halo} px): give more memory, a smaller "
            "--range, or fewer dask workers")
    return side


def raster_nbytes(shape: Sequence[int], *, calibrated: bool = False) -> int:
    """Bytes the in-memory path needs for a raster (see :data:`IN_MEMORY_BYTES_PER_PX`)."""
    per_px = IN_MEMORY_BYTES_PER_PX + (FBM_BYTES_PER_PX if calibrated else 0)
    return int(np.prod(shape)) * per_px


def memory_budget(limit: str | int | None = None) -> int:
    """Return the memory budget in bytes.

    ``limit`` when given (:func:`parse_memory`), else the smaller of the address-space limit
    (``ulimit -v``) and the memory available now.
    """
    if limit is not None:
        return parse_memory(limit)
    import resource

    import psutil

    avail = int(psutil.virtual_memory().available)
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        avail = min(avail, int(soft))
    return avail


def usable_memory(budget: int) -> int:
    """Return the part of ``budget`` left for data: minus what the process already holds.

    Under an address-space limit (``ulimit -v``, ``prlimit --as``) that is the virtual size
    (Python, numba, dask and GDAL map ~0.65 GiB at import), else the resident size. At least
    64 MiB.
    """
    import resource

    import psutil

    info = psutil.Process().memory_info()
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    held = info.vms if soft != resource.RLIM_INFINITY else info.rss
    return max(int(budget) - int(held), 64 * 2**20)


def chunked_source(path: str | os.PathLike, *, kind: str = "lst", chunk: int | None = None,
                   memory_limit: str | int | None = None, calibrated: bool = False,
                   **opts: Any) -> RasterSource | None:
    """Return a :class:`RasterSource` when ``path`` must (or is asked to) be read by blocks.

    Block-by-block reading is used when ``chunk`` is given, or when the in-memory path
    (:func:`raster_nbytes`, with fBm calibrations of the data's size when ``calibrated``)
    would need more than the budget left (:func:`memory_budget`, :func:`usable_memory`); only
    for generic GDAL rasters (known products and NetCDF files are small and read whole).
    Returns ``None`` for the in-memory path.

    Raises
    ------
    InputError
        ``chunk`` given for a file that is not a generic GDAL raster.

    """
    import rasterio

    from scalelaws.io.dispatch import is_product_name
    from scalelaws.io.generic import _is_netcdf

    p = Path(path)
    generic = p.is_file() and not _is_netcdf(p) and not is_product_name(p)
    if not generic:
        if chunk is not None:
            raise InputError("--chunk-size reads generic GeoTIFF / GDAL rasters block by block; "
                             "this file is a known product or NetCDF (read whole)", p)
        return None
    if chunk is None:
        try:
            with rasterio.open(p) as src:
                shape = (src.height, src.width)
        except rasterio.errors.RasterioError:
            return None  # the in-memory reader says what is wrong
        budget = usable_memory(memory_budget(memory_limit))
        need = raster_nbytes(shape, calibrated=calibrated)
        if need <= budget:
            return None
        log.warning("%s: %d x %d px: the in-memory path would need %.1f GiB, more than the "
                    "%.1f GiB of the memory budget left: reading it block by block", p,
                    shape[0], shape[1], need / 2**30, budget / 2**30)
    return RasterSource(p, kind=kind, **opts)


# ---------------------------------------------------------------------------- window sources
class RasterSource:
    """A generic GDAL raster read window by window in physical units (NaN = missing).

    The header (units, scale, nodata, CRS) is validated once, with the rules of
    :func:`scalelaws.io.generic.open_raster` applied to a central window; every window is then
    decoded with :func:`scalelaws.io.generic.to_physical` (and Celsius declared by the caller
    converted). Picklable: it keeps the path and options and re-opens the file per window.

    Parameters
    ----------
    path
        GeoTIFF or any GDAL raster (not NetCDF).
    kind
        ``"lst"`` or ``"ndvi"``.
    units, scale, offset, nodata, crs
        As for :func:`scalelaws.io.open_lst` (generic rasters).
    band
        1-based band.

    """

    def __init__(self, path: str | os.PathLike, *, kind: str = "lst", units: str | None = None,
                 scale: float | None = None, offset: float | None = None,
                 nodata: float | None = None, crs: Any = None, band: int = 1) -> None:
        import rasterio
        from rasterio.windows import Window

        from scalelaws.io._common import is_celsius
        from scalelaws.io.generic import open_raster, read_band

        self.path = Path(path)
        self.kind, self.band = kind, int(band)
        self.scale, self.offset, self.nodata = scale, offset, nodata
        raw = read_band(self.path, band=self.band, window=Window(0, 0, 1, 1))
        with rasterio.open(self.path) as src:
            self.shape = (int(src.height), int(src.width))
        ny, nx = self.shape
        h, w = min(ny, 1024), min(nx, 1024)
        # the reader's own checks (CRS, units, scale, value range) on a window with valid
        # pixels: the centre, else a corner, else the middle of an edge
        spots = [((ny - h) // 2, (nx - w) // 2), (0, 0), (0, nx - w), (ny - h, 0),
                 (ny - h, nx - w), (0, (nx - w) // 2), ((ny - h) // 2, 0),
                 (ny - h, (nx - w) // 2), ((ny - h) // 2, nx - w)]
        for i, (r, c) in enumerate(spots):
            try:
                probe = open_raster(self.path, kind=kind, units=units, scale=scale,
                                    offset=offset, nodata=nodata, band=band, crs=crs,
                                    window=Window(c, r, w, h))
                break
            except AllNaNError:
                if i == len(spots) - 1:
                    raise
        self.transform = raw.transform
        self.crs = probe.rio.crs
        self.from_celsius = bool(is_celsius(units) and kind in ("lst", None))
        self.attrs = dict(probe.attrs)

    def read(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """Rows ``[y0, y1)``, columns ``[x0, x1)`` as float64 physical values."""
        import rasterio
        from rasterio.windows import Window

        from scalelaws.io.generic import CELSIUS_TO_KELVIN, read_band, to_physical

        # windows are read once each: keep GDAL's block cache (default 5 % of the RAM) small
        with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
            raw = read_band(self.path, band=self.band,
                            window=Window(x0, y0, x1 - x0, y1 - y0))
        vals, _, _ = to_physical(raw, self.path, scale=self.scale, offset=self.offset,
                                 nodata=self.nodata)
        if self.from_celsius:
            vals = vals + CELSIUS_TO_KELVIN
        return vals.astype(np.float32).astype(np.float64)  # the readers' float32 values

    def coords(self) -> dict[str, np.ndarray]:
        """Pixel-centre ``y``, ``x`` coordinates."""
        from scalelaws.io._common import pixel_centres

        y, x = pixel_centres(self.transform, self.shape)
        return {"y": y, "x": x}


class ArraySource:
    """A 2-D DataArray (numpy- or dask-backed) read window by window (tests, Python API)."""

    def __init__(self, da: xr.DataArray) -> None:
        self.da = da.transpose("y", "x")
        self.shape = tuple(int(v) for v in self.da.shape)
        self.attrs = dict(da.attrs)
        self.path = da.attrs.get("source")

    def read(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """Rows ``[y0, y1)``, columns ``[x0, x1)`` as float64."""
        return np.asarray(self.da.data[y0:y1, x0:x1], dtype=np.float64)

    def coords(self) -> dict[str, np.ndarray]:
        """Return the DataArray's ``y``, ``x`` coordinates."""
        return {d: np.asarray(self.da[d].values) for d in ("y", "x") if d in self.da.coords}


def lazy_field(source: Any, chunk: int, dtype: Any = np.float32) -> xr.DataArray:
    """Return the source as a dask-backed ``(y, x)`` DataArray, one window read per chunk."""
    import dask.array as dsa

    ny, nx = source.shape

    def _block(block_info: dict | None = None) -> np.ndarray:
        (y0, y1), (x0, x1) = block_info[None]["array-location"]
        return source.read(y0, y1, x0, x1).astype(dtype)

    chunks = (_splits(ny, chunk), _splits(nx, chunk))
    data = dsa.map_blocks(_block, chunks=chunks, dtype=dtype, meta=np.empty((0, 0), dtype))
    return xr.DataArray(data, dims=("y", "x"), coords=source.coords(), attrs=dict(source.attrs))


class PlacedSource:
    """Another raster (NDVI, classes) placed window by window on the grid of an LST source.

    ``place(other_window, like_window)`` is the in-memory path's own placement (e.g.
    :func:`scalelaws.grids.align` through the CLI's helpers, or
    :func:`scalelaws.landscapes.classes_from_landcover`), applied to the part of the other
    raster that covers an LST window (plus a margin of the resampling kernel) and to that LST
    window. When the two rasters share their grid (:func:`scalelaws.commands.same_grid` on the
    whole grids) the window is read exactly, so a placement that leaves a raster on the same
    grid unchanged does so here too. Nearest, mode and bilinear resampling give the in-memory
    values (pixel centres within ~1e-10 m of the whole grid's, so only exact ties of nearest
    could differ).

    Parameters
    ----------
    other
        A :class:`RasterSource` (a generic raster read by windows) or a DataArray (in memory,
        or lazily loaded such as ``rioxarray.open_rasterio``'s) with a CRS.
    like
        The LST :class:`RasterSource` whose grid the windows are placed on.
    place
        ``place(other_window, like_window) -> DataArray`` on ``like_window``'s grid; a
        module-level function or ``functools.partial`` (picklable).
    dtype
        dtype of :meth:`read` (``float32`` NDVI, ``int16`` labels).

    """

    def __init__(self, other: Any, like: RasterSource, place: Any, *, dtype: Any = np.float32
                 ) -> None:
        from scalelaws.commands import same_grid

        self.other, self.like, self.place = other, like, place
        self.dtype = np.dtype(dtype)
        self.shape = like.shape
        if isinstance(other, RasterSource):
            self._o_transform, self._o_crs, self._o_shape = other.transform, other.crs, other.shape
        else:
            self._o_transform, self._o_crs = other.rio.transform(), other.rio.crs
            self._o_shape = tuple(int(v) for v in other.shape[-2:])
        self.aligned = bool(same_grid(_grid_of(self._o_transform, self._o_crs, self._o_shape),
                                      _grid_of(like.transform, like.crs, like.shape)))
        ratio = max(abs(like.transform.a) / abs(self._o_transform.a),
                    abs(like.transform.e) / abs(self._o_transform.e), 1.0)
        #: Margin (pixels of the other raster) around a window: the resampling kernel.
        self.margin = 0 if self.aligned else 2 + 2 * int(math.ceil(ratio))
        _, attrs = self._placed(0, min(16, self.shape[0]), 0, min(16, self.shape[1]))
        self.attrs = attrs
        self.attrs.setdefault("source", str(getattr(other, "path", None)
                                            or getattr(other, "attrs", {}).get("source", "")))

    def coords(self) -> dict[str, np.ndarray]:
        """Pixel-centre ``y``, ``x`` coordinates of the LST grid."""
        return self.like.coords()

    def _other_window(self, y0: int, y1: int, x0: int, x1: int) -> xr.DataArray:
        """Return the part of the other raster that covers LST rows/columns ``[y0, y1) x [x0, x1)``."""
        from rasterio.warp import transform_bounds
        from rasterio.windows import Window, from_bounds
        from rasterio.windows import transform as window_transform

        oy, ox = self._o_shape
        if self.aligned:
            r0, r1, c0, c1 = y0, y1, x0, x1
        else:
            t = window_transform(Window(x0, y0, x1 - x0, y1 - y0), self.like.transform)
            left, top = t * (0, 0)
            right, bottom = t * (x1 - x0, y1 - y0)
            b = (min(left, right), min(top, bottom), max(left, right), max(top, bottom))
            if self.like.crs != self._o_crs:
                b = transform_bounds(self.like.crs, self._o_crs, *b, densify_pts=21)
            w = from_bounds(*b, transform=self._o_transform)
            m = self.margin
            r0 = max(0, min(oy - 1, int(math.floor(min(w.row_off, w.row_off + w.height))) - m))
            c0 = max(0, min(ox - 1, int(math.floor(min(w.col_off, w.col_off + w.width))) - m))
            r1 = min(oy, max(r0 + 1, int(math.ceil(max(w.row_off, w.row_off + w.height))) + m))
            c1 = min(ox, max(c0 + 1, int(math.ceil(max(w.col_off, w.col_off + w.width))) + m))
        wt = window_transform(Window(c0, r0, c1 - c0, r1 - r0), self._o_transform)
        if isinstance(self.other, RasterSource):
            from scalelaws.io._common import grid_dataarray

            return grid_dataarray(self.other.read(r0, r1, c0, c1), wt, self._o_crs,
                                  attrs=self.other.attrs)
        part = self.other.isel(y=slice(r0, r1), x=slice(c0, c1))
        return part.rio.write_transform(wt)

    def _placed(self, y0: int, y1: int, x0: int, x1: int) -> tuple[np.ndarray, dict[str, Any]]:
        """Return the placed values of an LST window (:attr:`dtype`) and their attrs.

        The placement builds DataArrays and touches their ``.rio`` accessor, a reference
        cycle (xarray caches the accessor, which holds the array): without a collection here
        every window's arrays would stay in memory until the cyclic garbage collector runs
        (see :func:`_summary_task`).
        """
        import gc

        from rasterio.windows import Window
        from rasterio.windows import transform as window_transform

        from scalelaws.io._common import grid_dataarray

        like = grid_dataarray(np.zeros((y1 - y0, x1 - x0), np.float32),
                              window_transform(Window(x0, y0, x1 - x0, y1 - y0),
                                               self.like.transform), self.like.crs)
        placed = self.place(self._other_window(y0, y1, x0, x1), like)
        values = np.asarray(placed.values).astype(self.dtype)
        attrs = dict(placed.attrs)
        del placed, like
        gc.collect(1)  # the young generations: this window's objects
        return values, attrs

    def read(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """Rows ``[y0, y1)``, columns ``[x0, x1)`` of the LST grid, placed (:attr:`dtype`)."""
        return self._placed(y0, y1, x0, x1)[0]


def _grid_of(transform: Any, crs: Any, shape: tuple[int, int]) -> xr.DataArray:
    """Return a lazy zero DataArray on a grid (for :func:`scalelaws.commands.same_grid`)."""
    import dask.array as dsa

    from scalelaws.io._common import pixel_centres

    y, x = pixel_centres(transform, shape)
    da = xr.DataArray(dsa.zeros(shape, chunks=shape, dtype=np.uint8), dims=("y", "x"),
                      coords={"y": y, "x": x})
    return da.rio.write_crs(crs)


def _landcover_place(lc: xr.DataArray, like: xr.DataArray, mapping: Any = None) -> xr.DataArray:
    """:func:`scalelaws.landscapes.classes_from_landcover` of a window onto ``like``."""
    from scalelaws.landscapes import classes_from_landcover

    return classes_from_landcover(lc, mapping, like=like)


def _landcover_codes(source: PlacedSource, y0: int, y1: int, x0: int, x1: int) -> set[int]:
    """Land-cover codes present (nodata excluded) in one LST window, as the classes name them."""
    _, attrs = source._placed(y0, y1, x0, x1)
    return {int(c) for part in str(attrs.get("flag_codes", "")).split(";")
            for c in part.split(",") if c.strip()}


def landcover_source(path: str | os.PathLike, like: RasterSource, *, chunk: int = 2048,
                     mapping: Any = None) -> PlacedSource:
    """Land-cover classes on the grid of ``like``, window by window.

    The classes of :func:`scalelaws.landscapes.classes_from_landcover` ``(path, mapping,
    like=lst)``: codes re-projected (nearest) onto each LST window. Without ``mapping`` the
    classes are the codes present on the LST grid (``class_<code>``): one pass over the
    windows collects them first.
    """
    import rioxarray

    from scalelaws.errors import NotARasterError

    try:
        lc = rioxarray.open_rasterio(path, masked=False).squeeze("band", drop=True)
    except Exception as exc:  # rasterio raises several unrelated types
        raise NotARasterError(f"cannot read land cover: {exc}", path=path) from exc
    from functools import partial

    src = PlacedSource(lc, like, partial(_landcover_place, mapping=mapping), dtype=np.int16)
    if mapping is None:
        ny, nx = like.shape
        parts = dask.compute(*[dask.delayed(_landcover_codes, pure=True)(
            src, y0, min(ny, y0 + chunk), x0, min(nx, x0 + chunk))
            for y0 in range(0, ny, chunk) for x0 in range(0, nx, chunk)])
        codes = sorted(set().union(*parts))
        src = PlacedSource(lc, like, partial(_landcover_place,
                                             mapping={f"class_{c}": c for c in codes}),
                           dtype=np.int16)
    return src


def ndvi_window_source(path: str | os.PathLike, scale: float | None = None) -> Any:
    """NDVI read window by window: a :class:`RasterSource` for generic rasters.

    Known products and NetCDF files (small) are read whole with :func:`scalelaws.io.open_ndvi`
    (a DataArray, which :class:`PlacedSource` takes as well).
    """
    from scalelaws.io import open_ndvi
    from scalelaws.io.dispatch import is_product_name
    from scalelaws.io.generic import _is_netcdf

    p = Path(path)
    if p.is_file() and not _is_netcdf(p) and not is_product_name(p):
        return RasterSource(p, kind="ndvi", scale=scale)
    return open_ndvi(p, scale=scale)


def _splits(n: int, c: int) -> tuple[int, ...]:
    return tuple(min(c, n - s) for s in range(0, n, c))


# ---------------------------------------------------------------------------- block tasks
def _summary_task(source: Any, rows: tuple[int, int], cols: tuple[int, int], factor: int
                  ) -> tuple[int, float, float, np.ndarray]:
    """Count valid pixels; min, max and ``factor x factor`` block means (float32) of a block.

    The means are :func:`scalelaws.core.aggregate.aggregate_blocks` on the array (what
    :func:`scalelaws.grids.degrade` computes, with its default coverage of one half), not
    ``degrade`` itself: its DataArray's ``.rio`` accessor is a reference cycle (xarray caches the
    accessor, which holds the array), so every block's float64 copy stayed in memory until the
    cyclic garbage collector ran, and at 32768^2 under 2 GiB they filled the address space.
    """
    from scalelaws.core.aggregate import aggregate_blocks

    a = source.read(rows[0], rows[1], cols[0], cols[1])
    ok = np.isfinite(a)
    n = int(ok.sum())
    lo, hi = (float(a[ok].min()), float(a[ok].max())) if n else (np.nan, np.nan)
    if factor == 1:
        coarse = a
    elif n == 0:  # a block inside a cloud: no mean (coarsen refuses an all-NaN field)
        coarse = np.full((a.shape[0] // factor, a.shape[1] // factor), np.nan)
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            coarse = aggregate_blocks(a, factor, min_coverage=0.5)
    return n, lo, hi, coarse.astype(np.float32)


def _strip_task(source: Any, window: tuple[int, int, int, int], dys: np.ndarray,
                dxs: np.ndarray, qs: np.ndarray, qi: np.ndarray) -> np.ndarray:
    """Kernel sums of the pairs (offsets ``dys``, ``dxs``) with both ends in the window."""
    from scalelaws.stats.structure import _sums_nd

    y0, y1, x0, x1 = window
    a = source.read(y0, y1, x0, x1)
    return _sums_nd(a, dys=dys, dxs=dxs, qs=qs, qi=qi, parallel=False)


def _region_sf(source: Any, region: tuple[int, int, int, int], thick: int, lags: np.ndarray,
               qs: np.ndarray, qi: np.ndarray) -> tuple[list[Any], list[Any]]:
    """Delayed kernel sums of the pairs with both ends in ``region``, by strips.

    Pairs along x lie in one row: horizontal strips of ``thick`` rows across the region hold
    each of them exactly once; pairs along y in vertical strips of ``thick`` columns. No halo
    is read. Returns the x tasks and the y tasks (rows ``0..K-1`` / ``K..2K-1`` of
    :func:`scalelaws.kernels.sf.axis_offsets` once summed and stacked).
    """
    Y0, Y1, X0, X1 = region
    lags = np.asarray(lags, dtype=np.int64)
    zero = np.zeros_like(lags)
    x_tasks = [dask.delayed(_strip_task, pure=True)(source, (y0, min(Y1, y0 + thick), X0, X1),
                                                    zero, lags, qs, qi)
               for y0 in range(Y0, Y1, thick)]
    y_tasks = [dask.delayed(_strip_task, pure=True)(source, (Y0, Y1, x0, min(X1, x0 + thick)),
                                                    lags, zero, qs, qi)
               for x0 in range(X0, X1, thick)]
    return x_tasks, y_tasks


def strip_thickness(memory: int, length: int, *, workers: int | None = None) -> int:
    """Return the rows (columns) of the structure-function strips.

    ``workers`` strips of ``length`` px fit in a third of ``memory``.

    Raises
    ------
    InputError
        Not even 16 rows fit.

    """
    w = workers if workers is not None else _n_workers()
    t = int(memory / 3 / (w * SF_BYTES_PER_PX * max(int(length), 1)))
    if t < 16:
        raise InputError(f"a memory budget of {memory / 2**20:.0f} MiB cannot hold {w} strip(s) "
                         f"of 16 x {length} px: give more memory or fewer dask workers")
    return t


def _crop(arr: np.ndarray, j: int, y: tuple[int, int, int, bool], x: tuple[int, int, int, bool]
          ) -> np.ndarray:
    """Return the core of a block's octave-``j`` array (rows/cols from the block's own origin)."""
    def sl(t: tuple[int, int, int, bool], n: int) -> slice:
        origin, c0, c1, last = t
        return slice((c0 - origin) >> j, n if last else (c1 - origin) >> j)

    return arr[sl(y, arr.shape[0]), sl(x, arr.shape[1])]


def _leader_task(source: Any, wy: tuple[int, int], wx: tuple[int, int],
                 core_y: tuple[int, int, int, bool], core_x: tuple[int, int, int, bool],
                 wavelet: str, j0: int) -> dict[str, Any]:
    """Compute octaves ``1..j0`` of one block.

    Returns the fine counts, the leaders of octaves ``J0..j0-1`` and the octave-``j0`` state
    of the block's core.
    """
    from scalelaws.kernels.leaders import leaders_numba
    from scalelaws.stats.wavelets import _dwt_octaves

    a = source.read(wy[0], wy[1], wx[0], wx[1])
    coefs, invs, approx, ainv = _dwt_octaves(a, wavelet, j0, return_approx=True)
    del a
    leads, m, bad = leaders_numba(coefs, invs, [1.0] * j0, None, return_state=True)  # gamma 1
    del coefs, invs
    counts = np.array([int(np.count_nonzero(_crop(lead, j + 1, core_y, core_x) > 0))
                       for j, lead in enumerate(leads[:-1])])
    out = {"counts": counts,
           "approx": _crop(approx, j0, core_y, core_x),
           "inv": _crop(ainv, j0, core_y, core_x),
           "M": _crop(m, j0, core_y, core_x),
           "bad": _crop(bad, j0, core_y, core_x)}
    for j in range(J0, j0):
        out[f"lead{j}"] = _crop(leads[j - 1], j, core_y, core_x).copy()
    return out


# ---------------------------------------------------------------------------- backend
class ChunkedBackend(FieldBackend):
    """:class:`scalelaws.fit.FieldBackend` for a raster read block by block.

    Parameters
    ----------
    source
        :class:`RasterSource` or :class:`ArraySource`.
    chunk
        Chunk side (pixels) of the structure-function tasks; default from ``memory``.
    memory
        Memory budget (bytes) for the chunk side and :attr:`calib_side`; default 2 GiB.
    calib_side
        Largest side of the fBm calibration fields (rounded down to a power of two); default
        from ``memory`` (an exact fBm needs :data:`FBM_BYTES_PER_PX` bytes per pixel).
    j0
        Octave from which the wavelet transform continues in memory (at least :data:`J0`);
        default: :data:`J0`, coarser when the octave-``J0`` arrays would not fit a quarter of
        the budget.

    """

    def __init__(self, source: RasterSource | ArraySource, *, chunk: int | None = None,
                 memory: int | None = None, calib_side: int | None = None,
                 j0: int | None = None) -> None:
        self.source = source
        #: Memory (bytes) for data: the budget minus what the process holds already.
        self.memory = usable_memory(int(memory) if memory is not None else 2 * 1024**3)
        self.chunk = None if chunk is None else int(chunk)
        if self.chunk is not None and self.chunk < 16:
            raise InputError(f"--chunk-size must be at least 16 px, got {chunk}")
        side = calib_side or int(math.sqrt(self.memory / 3 / FBM_BYTES_PER_PX))
        #: Largest side of the fBm calibration fields (a power of two, from the budget).
        self.calib_side = max(64, 2 ** int(math.floor(math.log2(max(side, 1)))))
        ny, nx = source.shape
        self.factor = 1
        while max(ny, nx) / self.factor > self.calib_side:
            self.factor *= 2
        self._leaders: dict[str, Any] = {}
        self.j0 = None if j0 is None else max(int(j0), J0)
        self._coarse: xr.DataArray | None = None

    # -- chunk sides
    def _chunk_for(self, halo: int, align: int = 1, bytes_per_px: int = SF_BYTES_PER_PX) -> int:
        if self.chunk is not None:
            c = self.chunk
            return max(align, c - c % align)
        return auto_chunk(self.memory * SF_BYTES_PER_PX // bytes_per_px, halo, align=align)

    # -- validation, coarse field
    def field(self, da: Any) -> xr.DataArray:
        """Check the raster (missing fraction, constant) in one pass and keep its block means."""
        from scalelaws.commands import MAX_MISSING_FRACTION

        src = self.source.attrs.get("source", getattr(self.source, "path", None))
        ny, nx = self.source.shape
        f = self.factor
        c = self._chunk_for(0, align=f, bytes_per_px=SUMMARY_BYTES_PER_PX)
        rows = [(y0, min(ny, y0 + c)) for y0 in range(0, ny, c)]
        cols = [(x0, min(nx, x0 + c)) for x0 in range(0, nx, c)]
        parts = dask.compute(*[dask.delayed(_summary_task, pure=True)(self.source, y, x, f)
                               for y in rows for x in cols])
        n_valid = sum(p[0] for p in parts)
        finite = [p for p in parts if p[0] > 0]
        frac = 1.0 - float(n_valid) / float(ny * nx)
        if n_valid == 0:
            raise AllNaNError("field: every pixel is missing", src)
        if frac > MAX_MISSING_FRACTION:
            raise AllNaNError(
                f"{frac:.1%} of the pixels are missing (cloud, fill or QC); at most "
                f"{MAX_MISSING_FRACTION:.0%} may be for scaling statistics", src)
        vmin, vmax = min(p[1] for p in finite), max(p[2] for p in finite)
        if vmin == vmax:
            raise InputError(f"the field is constant (every valid pixel is {vmin:g}): "
                             "there is no variability, hence no scaling, to measure", src)
        blocks = [[parts[i * len(cols) + j][3] for j in range(len(cols))]
                  for i in range(len(rows))]
        coarse = np.block(blocks)
        coords = {}
        for d, v in self.source.coords().items():
            m = (v.size // f) * f
            coords[d] = v[:m].reshape(-1, f).mean(axis=1)
        self._coarse = xr.DataArray(coarse, dims=("y", "x"), coords=coords,
                                    attrs=dict(self.source.attrs))
        log.info("chunked field %s: %.1f %% missing; block means %s (factor %d)",
                 self.source.shape, 100 * frac, coarse.shape, f)
        return lazy_field(self.source, c)

    # -- structure functions
    def boot_core(self, da: xr.DataArray, qs: Sequence[float], lags: np.ndarray, B: int,
                  stride: int, k: int, n_boot: int, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[int, int]]]:
        """Whole-field and per-tile pair sums from one-sided-halo blocks (exact)."""
        from scalelaws.kernels.sf import int_orders, pool_axes

        ny, nx = self.source.shape
        qa = np.asarray(qs, dtype=np.float64)
        qi = int_orders(qa)
        t = self.chunk if self.chunk is not None else strip_thickness(self.memory, max(ny, nx))
        whole = _region_sf(self.source, (0, ny, 0, nx), t, lags, qa, qi)
        tiles: list[tuple[list[Any], list[Any]]] = []
        ys = xs = np.empty(0, dtype=int)
        if n_boot > 0:
            ys, xs = _tile_starts(ny, B, stride), _tile_starts(nx, B, stride)
            tiles = [_region_sf(self.source, (int(y0), int(y0) + B, int(x0), int(x0) + B), t,
                                lags, qa, qi) for y0 in ys for x0 in xs]
        log.info("chunked structure functions: strips of %d px, %d tasks for the field and %d "
                 "for %d bootstrap tiles", t, sum(map(len, whole)),
                 sum(len(a) + len(b) for a, b in tiles), len(tiles))
        done = dask.compute(whole, tiles)

        def stacked(parts: tuple[list[np.ndarray], list[np.ndarray]]) -> np.ndarray:
            return np.concatenate([np.sum(parts[0], axis=0), np.sum(parts[1], axis=0)])

        sums, cnt = pool_axes(stacked(done[0]), qa.size)
        tile_sums = None
        if n_boot > 0:
            raw_tiles = np.stack([stacked(p) for p in done[1]])
            T_s, T_c = pool_axes(raw_tiles, qa.size)
            tile_sums = (ys, xs, T_s.transpose(0, 2, 1), T_c)
        return _boot_from_sums(sums.T, cnt, tile_sums, qs, lags, B, k, n_boot, rng,
                               self.source.attrs.get("source"))

    # -- calibrations from sub-blocks
    def _coarse_mask(self) -> np.ndarray:
        if self._coarse is None:
            self.field(None)
        return ~np.isfinite(np.asarray(self._coarse.values))

    def lrd_inflation(self, da: xr.DataArray, H: float, qs: Sequence[float], lags: np.ndarray,
                      B: int, stride: int, k: int, n_calib: int
                      ) -> tuple[np.ndarray, np.ndarray]:
        """Calibrate zeta on fBm of the coarse geometry (exact geometry when ``f = 1``)."""
        f = self.factor
        mask = self._coarse_mask()
        if f == 1:
            return _lrd_inflation(mask, H, qs, lags, B, stride, k, n_calib)
        lags_f = np.unique(np.maximum(np.round(lags / f), 1).astype(int))
        if lags_f.size < 3:
            lags_f = np.arange(1, 4)
        B_f = max(B // f, int(lags_f[-1]) + 1)
        ny_f, nx_f = mask.shape
        k_f = (ny_f // B_f) * (nx_f // B_f)
        log.info("zeta calibration from sub-blocks: fBm %s (factor %d), lags %d-%d px, tiles "
                 "of %d px", mask.shape, f, lags_f[0], lags_f[-1], B_f)
        return _lrd_inflation(mask, H, qs, lags_f, B_f, max(1, B_f // 2), max(k_f, 1), n_calib)

    def wavelet_calibration(self, da: xr.DataArray, H: float, j1: int, j2: int, gamma: float,
                            n_calib: int, *, bootstrap: bool, wavelet: str
                            ) -> tuple[np.ndarray, np.ndarray]:
        """Calibrate the leaders on fBm of a sub-block at the raster's own pixels.

        The finite-size bias of the leaders comes from the finest octaves (aliasing), so the
        sub-block keeps the pixel size: a ``calib_side``-px window of the raster (the centre or
        the corner with the fewest missing pixels; its missing mask), octaves ``j1`` to the largest with :data:`scalelaws.fit.WAVELET_MIN_COUNT`
        leaders in it (at most ``j2``).
        """
        from scalelaws.fit import WAVELET_MIN_COUNT

        if self.factor == 1:
            return _wavelet_calibration(self._coarse_mask(), H, j1, j2, gamma, n_calib,
                                        bootstrap=bootstrap, wavelet=wavelet)
        ny, nx = self.source.shape
        S = self.calib_side
        # the sub-block with the most valid pixels among the centre and the four corners
        spots = [((ny - S) // 2, (nx - S) // 2), (0, 0), (0, nx - S), (ny - S, 0),
                 (ny - S, nx - S)]
        masks = [~np.isfinite(self.source.read(y0, y0 + S, x0, x0 + S)) for y0, x0 in spots]
        mask = masks[int(np.argmin([m.sum() for m in masks]))]
        j2_s = j1 + 1
        while j2_s < j2 and (S // 2 ** (j2_s + 1) - 2) ** 2 >= WAVELET_MIN_COUNT:
            j2_s += 1
        log.info("leader calibration from a %d px sub-block: octaves %d-%d (field: %d-%d)",
                 S, j1, j2_s, j1, j2)
        return _wavelet_calibration(mask, H, j1, j2_s, gamma, n_calib, bootstrap=bootstrap,
                                    wavelet=wavelet)

    def spectrum(self, da: xr.DataArray) -> xr.Dataset:
        """Power spectrum of the ``f x f`` block means (the field itself when ``f = 1``)."""
        from scalelaws.stats.spectra import power_spectrum

        if self._coarse is None:
            self.field(None)
        return power_spectrum(self._coarse)

    # -- wavelet leaders
    def _leader_state(self, wavelet: str) -> dict[str, Any]:
        """Compute the counts of every octave and the log-leaders of octaves ``>= J0`` (gamma = 1)."""
        if wavelet in self._leaders:
            return self._leaders[wavelet]
        from scalelaws.kernels.leaders import leaders_numba
        from scalelaws.stats.wavelets import _dwt_octaves, _n_octaves, coefficient_support

        ny, nx = self.source.shape
        n_oct = _n_octaves(ny, nx, wavelet)
        if n_oct < J0 + 1:
            raise InputError(f"field of {ny} x {nx} px is too small for chunked leaders: use the "
                             "in-memory path")
        # octave from which the transform continues in memory: J0, or coarser for rasters
        # whose octave-J0 arrays (about 40 bytes per coarse pixel) would not fit a quarter
        # of the budget (the leaders of octaves J0.. below it come from the blocks)
        j0 = self.j0 if self.j0 is not None else J0
        while self.j0 is None and j0 < n_oct - 1 and 40 * ny * nx / 4**j0 > self.memory / 4:
            j0 += 1
        lo, hi = coefficient_support(wavelet)
        step = 2**j0
        halo = step * (max(-lo, hi) + 2)
        c = self._chunk_for(2 * halo, align=step, bytes_per_px=LEADER_BYTES_PER_PX)

        def axis(n: int) -> list[tuple[tuple[int, int], tuple[int, int, int, bool]]]:
            out = []
            for s in range(0, n, c):
                e = min(n, s + c)
                w0, w1 = max(0, s - halo), min(n, e + halo)
                out.append(((w0, w1), (w0, s, e, e == n)))
            return out

        tasks = [dask.delayed(_leader_task, pure=True)(self.source, wy, wx, cy, cx, wavelet, j0)
                 for wy, cy in axis(ny) for wx, cx in axis(nx)]
        log.info("chunked wavelet leaders: %d blocks of %d px (halo %d px), octaves 1-%d per "
                 "block, %d-%d in memory", len(tasks), c, halo, j0, j0 + 1, n_oct)
        parts = list(dask.compute(*tasks))
        nby = len(axis(ny))
        nbx = len(parts) // nby

        def grid(key: str) -> np.ndarray:
            out = np.block([[parts[i * nbx + k][key] for k in range(nbx)] for i in range(nby)])
            for p in parts:  # the blocks' copies go as soon as they are assembled
                del p[key]
            return out

        def log_of(lead: np.ndarray) -> np.ndarray:
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(lead > 0, np.log(lead), np.nan)

        counts = np.zeros(n_oct, dtype=np.int64)
        counts[: j0 - 1] = np.sum([p["counts"] for p in parts], axis=0)
        logL: list[np.ndarray | None] = [None] * (J0 - 1)
        for j in range(J0, j0):
            logL.append(log_of(grid(f"lead{j}")))
        approx, inv, m, bad = grid("approx"), grid("inv"), grid("M"), grid("bad")
        parts.clear()
        coefs, invs = _dwt_octaves(np.where(inv, np.nan, approx), wavelet, n_oct - j0)
        del approx, inv
        leads = leaders_numba([(m, m, m), *coefs], [bad.astype(bool), *invs],
                              [1.0] * (n_oct - j0 + 1), None)
        del coefs, invs, m, bad
        for j, lead in enumerate(leads, start=j0):
            counts[j - 1] = np.count_nonzero(lead > 0)
            logL.append(log_of(lead))
        state = {"js": np.arange(1, n_oct + 1), "n": counts, "logL": logL}
        self._leaders[wavelet] = state
        return state

    def leader_counts(self, da: xr.DataArray, wavelet: str) -> tuple[np.ndarray, np.ndarray]:
        """Octaves and numbers of valid leaders, block by block."""
        st = self._leader_state(wavelet)
        return st["js"], st["n"]

    def _check_gamma(self, j1: int, gamma: float) -> None:
        if gamma != 1.0 or j1 < J0:
            raise InputError(f"chunked leaders need a fit from octave {J0} with gamma = 1 (got "
                             f"octave {j1}, gamma {gamma:g}): the field is small enough for the "
                             "in-memory path")

    def raw_c12(self, da: xr.DataArray, j1: int, j2: int, gamma: float,
                wavelet: str) -> tuple[float, float]:
        """Uncorrected ``c1``, ``c2`` from the pooled log-leaders."""
        self._check_gamma(j1, gamma)
        return _wls_c12(self._leader_state(wavelet)["logL"], j1, j2, gamma)

    def log_leaders(self, da: xr.DataArray, j2: int, gamma: float,
                    wavelet: str) -> list[np.ndarray | None]:
        """Log-leaders of octaves ``J0..j2`` (``None`` below ``J0``)."""
        self._check_gamma(J0, gamma)
        return self._leader_state(wavelet)["logL"][:j2]


# ---------------------------------------------------------------------------- correction laws
def _landscape_values(source: Any, names: Sequence[str], classes: Any,
                      window: tuple[int, int, int, int]) -> tuple[np.ndarray, list[Any]]:
    """Read an LST window and the mask of each landscape on it.

    Masks: ``None`` for :data:`scalelaws.landscapes.ALL`, the class's mask
    (:func:`scalelaws.landscapes.class_masks` of the placed labels) or ``False`` (absent).
    """
    from scalelaws.landscapes import ALL, class_masks

    y0, y1, x0, x1 = window
    a = source.read(y0, y1, x0, x1)
    masks: dict[str, Any] = {}
    if classes is not None:
        lab = xr.DataArray(classes.read(y0, y1, x0, x1), dims=("y", "x"),
                           attrs=dict(classes.attrs))
        masks = {k: np.asarray(m.values, dtype=bool) for k, m in class_masks(lab).items()}
    return a, [None if n == ALL else masks.get(n, False) for n in names]


def _masked(a: np.ndarray, m: Any) -> np.ndarray | None:
    """Return ``a`` restricted to a landscape mask (``None``: all of it; ``False``: absent)."""
    if m is None:
        return a
    if m is False:
        return None
    return np.where(m, a, np.nan)


def _law_sf_task(source: Any, window: tuple[int, int, int, int], ys: np.ndarray, xs: np.ndarray,
                 lags: np.ndarray, qs: np.ndarray, tile: int, names: Sequence[str],
                 classes: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per-tile, per-landscape sums of the pairs whose first end lies in the tiles ``ys x xs``.

    Returns arrays ``(nty, ntx, L, K, Q)`` and ``(nty, ntx, L, K)`` (window coordinates).
    """
    from scalelaws.kernels.sf import pooled_tile_sums

    a, masks = _landscape_values(source, names, classes, window)
    S = np.zeros((ys.size, xs.size, len(names), lags.size, qs.size))
    C = np.zeros((ys.size, xs.size, len(names), lags.size))
    for c, m in enumerate(masks):
        am = _masked(a, m)
        if am is not None:
            S[:, :, c], C[:, :, c] = pooled_tile_sums(am, lags, qs, tile, ys=ys, xs=xs,
                                                      contained=False, parallel=False)
    return S, C


def _law_detail_task(source: Any, window: tuple[int, int, int, int], tile: int, n_levels: int,
                     max_missing: float, detail: bool, names: Sequence[str], classes: Any,
                     ndvi: Any) -> dict[str, np.ndarray]:
    """Count valid pixels, sum detail energies and LST-NDVI moments per tile and landscape.

    The block holds whole ``2**(n_levels - 1)`` blocks and whole tiles; the LST-NDVI block
    means give per-tile moments (:func:`scalelaws.landscapes.tiles._regression_moments`),
    re-centred on the scene means once every block is in (:func:`_law_combine`).
    """
    from scalelaws.landscapes import _detail_level, _pyramid, _tile_ids
    from scalelaws.landscapes.tiles import _regression_moments

    y0, y1, x0, x1 = window
    a, masks = _landscape_values(source, names, classes, window)
    nd = None if ndvi is None else ndvi.read(y0, y1, x0, x1).astype(np.float64)
    ntiles = (-(-a.shape[0] // tile), -(-a.shape[1] // tile))
    nt, L = ntiles[0] * ntiles[1], len(names)
    tid = _tile_ids(a.shape, 1, tile, ntiles[1])
    npx = np.zeros((nt, L))
    det = np.zeros((nt, L, n_levels))
    detw = np.zeros((nt, L, n_levels))
    reg = np.zeros((6, nt, L, n_levels))
    for c, m in enumerate(masks):
        am = _masked(a, m)
        if am is None:
            continue
        npx[:, c] = np.bincount(tid, weights=np.isfinite(am).ravel().astype(float), minlength=nt)
        if npx[:, c].sum() == 0:
            continue
        if detail:
            pyr = _pyramid(am, n_levels - 1)
            for k in range(1, n_levels):
                det[:, c, k], detw[:, c, k] = _detail_level(am, k, tile, ntiles, max_missing,
                                                            children=pyr[k - 1])
        if nd is not None:  # as scalelaws.landscapes.tiles._landscape_sums
            b = np.where(np.isfinite(nd), am, np.nan)
            x = np.where(np.isfinite(b), nd, np.nan)
            for k in range(n_levels):
                reg[:, :, c, k] = _regression_moments(b, x, k, tile, ntiles, max_missing)
    out = {"n_pixels": npx.reshape(ntiles + (L,))}
    if detail:
        out["det_sum"] = det.reshape(ntiles + (L, n_levels))
        out["det_weight"] = detw.reshape(ntiles + (L, n_levels))
    if nd is not None:
        out["reg"] = reg.reshape((6,) + ntiles + (L, n_levels))
    return out


def _law_combine(shape: tuple[int, int], tile: int, sf_parts: list[Any], det_parts: list[Any],
                 detail: bool, with_ndvi: bool) -> dict[str, np.ndarray]:
    """Place the blocks' per-tile sums on the scene's tile grid (the layout of one scene task)."""
    from scalelaws.landscapes.tiles import _recentre_moments

    nty, ntx = -(-shape[0] // tile), -(-shape[1] // tile)
    nt = nty * ntx

    def place(parts: list[Any], get: Any, lead: int = 0) -> np.ndarray:
        grid = None
        for (ty, tx), part in parts:
            v = get(part)
            if grid is None:
                grid = np.zeros(v.shape[:lead] + (nty, ntx) + v.shape[lead + 2:])
            grid[(slice(None),) * lead + (slice(ty, ty + v.shape[lead]),
                                          slice(tx, tx + v.shape[lead + 1]))] = v
        return grid.reshape(grid.shape[:lead] + (nt,) + grid.shape[lead + 2:])

    out = {"sf_sum": place(sf_parts, lambda p: p[0]).transpose(0, 1, 3, 2),
           "sf_count": place(sf_parts, lambda p: p[1])}
    keys = ("n_pixels", "det_sum", "det_weight") if detail else ("n_pixels",)
    for key in keys:
        out[key] = place(det_parts, lambda p, k=key: p[k])
    if with_ndvi:
        out["reg"] = _recentre_moments(place(det_parts, lambda p: p["reg"], lead=1))
    return out


def law_scene_sums(sources: dict[int, RasterSource | ArraySource], *,
                   classes: dict[int, Any] | None = None, ndvi: dict[int, Any] | None = None,
                   chunk: int | None = None, memory: int | str | None = None) -> Any:
    """Per-scene sums hook of :func:`scalelaws.landscapes.landscape_sums`, block by block.

    For the scenes in ``sources`` (index -> source) the sums of one scene task are computed by
    blocks: structure-function sums per tile and landscape from blocks (multiples of the tile)
    read with a halo of the largest lag on their far sides, each pair going to the tile of its
    first end (exact); valid pixels, detail energies and the LST-NDVI block means from blocks
    aligned on the largest detail block (``2**(n_levels - 1)``) and on the tiles, so that every
    block of the pyramid lies in one read (exact, but for the LST-NDVI sums, which are centred
    on the scene means: per-tile moments re-centred once all blocks are in, equal up to float
    rounding). Each task reads its window of the LST, of the labels and of the NDVI, the latter
    two placed on the LST grid by a :class:`PlacedSource`. Other scenes get the default single
    task.

    Parameters
    ----------
    sources
        Scene index -> LST :class:`RasterSource` / :class:`ArraySource`.
    classes
        Scene index -> labels on the scene's grid, read by windows (a :class:`PlacedSource`,
        e.g. :func:`landcover_source`, or an :class:`ArraySource` with the labels'
        ``flag_meanings`` attrs). The ``classes`` given to ``landscape_sums`` for that scene
        only name the landscapes (e.g. :func:`lazy_field` of this source).
    ndvi
        Scene index -> NDVI on the scene's grid, read by windows (:class:`PlacedSource`).
    chunk
        Chunk side (px) of the structure-function blocks (rounded to the tile); default from
        ``memory``.
    memory
        Memory budget (bytes or ``"2GiB"``); default :func:`memory_budget`.

    Returns
    -------
    callable
        The ``scene_sums`` argument of :func:`~scalelaws.landscapes.landscape_sums`,
        :func:`~scalelaws.landscapes.exponents_by_landscape` and
        :meth:`scalelaws.laws.CorrectionLaw.fit`.

    """
    budget = usable_memory(memory_budget(memory))
    classes = dict(classes or {})
    ndvi = dict(ndvi or {})

    def hook(index: int, scene: Any, mask_data: list[Any], ndvi_da: Any, lags: np.ndarray,
             qs: np.ndarray, tile: int, n_levels: int, max_missing: float,
             detail: bool, names: Sequence[str] = ()) -> Any:
        source = sources.get(index)
        if source is None:
            return None
        cls, nd = classes.get(index), ndvi.get(index)
        if (ndvi_da is not None and nd is None) or (
                cls is None and any(m is not None for m in mask_data)):
            raise InputError("a raster read block by block needs its NDVI and classes read by "
                             "windows too (law_scene_sums(classes=..., ndvi=...))",
                             source.attrs.get("source"))
        names = list(names)
        ny, nx = source.shape
        L = int(np.max(lags))
        # a task holds the window, the placed labels, one landscape's masked copy (8 bytes)
        # and a mask per landscape (twice: the DataArray and the array)
        px_cost = SF_BYTES_PER_PX + (0 if cls is None else
                                     PLACED_BYTES_PER_PX + 8 + 2 * len(names))
        c = chunk if chunk is not None else auto_chunk(budget * SF_BYTES_PER_PX // px_cost, L,
                                                       align=tile)
        c = max(tile, c - c % tile)
        sf_parts = []
        for y0 in range(0, ny, c):
            for x0 in range(0, nx, c):
                h, w = min(c, ny - y0), min(c, nx - x0)
                win = (y0, min(ny, y0 + c + L), x0, min(nx, x0 + c + L))
                ys = np.arange(0, h, tile, dtype=np.int64)
                xs = np.arange(0, w, tile, dtype=np.int64)
                sf_parts.append(((y0 // tile, x0 // tile), dask.delayed(_law_sf_task, pure=True)(
                    source, win, ys, xs, lags, qs, tile, names, cls)))
        big = int(np.lcm(int(tile), 2 ** (n_levels - 1)))
        det_cost = (LEADER_BYTES_PER_PX + (0 if nd is None else PLACED_BYTES_PER_PX + 24)
                    + px_cost - SF_BYTES_PER_PX)
        cd = auto_chunk(budget * SF_BYTES_PER_PX // det_cost, 0, align=big)
        cd = max(big, cd - cd % big)
        det_parts = [((y0 // tile, x0 // tile), dask.delayed(_law_detail_task, pure=True)(
            source, (y0, min(ny, y0 + cd), x0, min(nx, x0 + cd)), tile, n_levels, max_missing,
            detail, names, cls, nd)) for y0 in range(0, ny, cd) for x0 in range(0, nx, cd)]
        log.info("chunked law sums of scene %d (%d landscape(s)%s): %d structure-function "
                 "blocks of %d px (halo %d px), %d detail blocks of %d px", index, len(names),
                 ", NDVI" if nd is not None else "", len(sf_parts), c, L, len(det_parts), cd)
        return dask.delayed(_law_combine, pure=True)((ny, nx), tile, sf_parts, det_parts,
                                                      detail, nd is not None)

    return hook


def fit_scaling_chunked(
    source: RasterSource | ArraySource | xr.DataArray,
    q: Sequence[float] = (1, 2, 3, 4),
    *,
    chunk: int | None = None,
    memory: int | str | None = None,
    calib_side: int | None = None,
    **kwargs: Any,
) -> xr.Dataset:
    """:func:`scalelaws.fit.fit_scaling` of a raster read block by block.

    Parameters
    ----------
    source
        A :class:`RasterSource` (a file), an :class:`ArraySource` or a DataArray.
    q
        Moment orders.
    chunk
        Chunk side in pixels (default: from ``memory``, :func:`auto_chunk`).
    memory
        Memory budget (bytes or a size such as ``"2GiB"``; default :func:`memory_budget`).
    calib_side
        Largest side of the calibration fields (default from ``memory``; see
        :class:`ChunkedBackend`).
    **kwargs
        Passed to :func:`scalelaws.fit.fit_scaling` (``scale_range``, ``n_boot``, ``rng``,
        ``calibrate``, ...).

    Returns
    -------
    xarray.Dataset
        As :func:`scalelaws.fit.fit_scaling`, with attrs ``chunked`` (1), ``chunk_px``,
        ``calibration_factor`` (the coarse-graining factor of the calibrations and ``beta``).

    """
    if isinstance(source, xr.DataArray):
        source = ArraySource(source)
    be = ChunkedBackend(source, chunk=chunk, memory=memory_budget(memory), calib_side=calib_side)
    ds = fit_scaling(None, q, backend=be, **kwargs)
    ds.attrs.update(chunked=1, chunk_px=int(be.chunk or -1), calibration_factor=be.factor,
                    max_scale_fraction=MAX_SCALE_FRACTION)
    return ds
