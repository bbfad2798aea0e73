"""Generic reader: any GDAL raster (GeoTIFF, ENVI, ...) or NetCDF file with declared units.

The rules are strict on purpose, so that no field enters the statistics in the wrong unit:

* land surface temperature must be in kelvin; Celsius (``"C"``, ``"degC"``, ``"celsius"``, ...)
  found in the file is refused with :class:`~scalelaws.errors.UnitsError` and never converted
  silently; Celsius declared by the caller (``units="degC"``, ``--units degC``) is converted
  (+273.15) and the conversion is logged;
* integer data must come with a scale: the file's ``scale_factor`` (NetCDF attribute or GDAL band
  scale) or ``scale=``; otherwise :class:`~scalelaws.errors.UnitsError`;
* the file's own ``scale_factor`` / ``add_offset`` / nodata (``_FillValue``, ``missing_value``,
  GDAL nodata, internal mask) are applied (mask-and-scale), with ``scale=``, ``offset=``,
  ``nodata=`` given by the caller taking precedence;
* a file that cannot be opened as a raster raises :class:`~scalelaws.errors.NotARasterError`,
  one without CRS :class:`~scalelaws.errors.MissingCRSError`, and an empty result
  :class:`~scalelaws.errors.AllNaNError`; each message names the file.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import xarray as xr
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import CRSError, NotGeoreferencedWarning, RasterioError, RasterioIOError

from scalelaws.errors import MissingCRSError, NotARasterError, ProductError, UnitsError
from scalelaws.io._common import (
    canonical_units,
    check_crs,
    check_kind,
    finalize,
    grid_dataarray,
    is_celsius,
    read_text_head,
)

logger = logging.getLogger(__name__)

__all__ = ["open_raster", "RawBand", "read_band"]

_NETCDF_SUFFIXES = {".nc", ".nc4", ".cdf", ".netcdf", ".h5", ".hdf5"}
_X_NAMES = ("x", "lon", "longitude", "easting")
_Y_NAMES = ("y", "lat", "latitude", "northing")
#: Kelvin at 0 degC: ``K = degC + CELSIUS_TO_KELVIN`` (applied only to Celsius declared by the caller).
CELSIUS_TO_KELVIN = 273.15
_DEFAULT_LONG_NAME = {
    "lst": "land surface temperature",
    "ndvi": "normalized difference vegetation index",
}


@dataclass
class RawBand:
    """One band of a file as stored, before scaling and masking.

    Attributes
    ----------
    values
        The stored values (any dtype).
    dtype
        The stored data type.
    transform, crs
        The grid (``crs`` may be ``None``).
    scale, offset
        The file's own ``scale_factor`` / ``add_offset`` (``None`` when not declared).
    nodata
        Stored values that mark missing pixels.
    mask
        True where the file itself marks the pixel missing (internal mask, NaN).
    units
        Unit string found in the file (``None`` when absent).
    tags
        Other metadata found in the file (band then dataset tags, or NetCDF attributes).
    time
        Acquisition time found in the file (ISO 8601) or ``None``.

    """

    values: np.ndarray
    dtype: np.dtype
    transform: Affine
    crs: CRS | None
    scale: float | None = None
    offset: float | None = None
    nodata: list[float] = field(default_factory=list)
    mask: np.ndarray | None = None
    units: str | None = None
    tags: dict[str, Any] = field(default_factory=dict)
    time: str | None = None


def _is_netcdf(path: Path) -> bool:
    if path.suffix.lower() in _NETCDF_SUFFIXES:
        return True
    head = read_text_head(path, 8)
    return head.startswith(b"CDF") or head.startswith(b"\x89HDF")


def _tiff_time(tags: dict[str, Any]) -> str | None:
    for key in ("time", "TIME", "acquisition_time", "DATE_ACQUIRED", "TIFFTAG_DATETIME"):
        if key in tags and tags[key]:
            val = str(tags[key]).strip()
            m = re.match(r"^(\d{4}):(\d{2}):(\d{2})[ T](\d{2}:\d{2}:\d{2})", val)
            if m:  # TIFF DateTime "YYYY:MM:DD HH:MM:SS"
                return f"{m.group(1)}-{m.group(2)}-{m.group(3)}T{m.group(4)}"
            return val
    return None


def _read_gdal(path: Path, band: int, window: Any = None) -> RawBand:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            src = rasterio.open(path)
    except RasterioIOError as exc:
        raise NotARasterError(f"cannot be opened as a raster ({exc})", path) from exc
    with src:
        if not 1 <= band <= src.count:
            raise ProductError(f"band {band} requested but the file has {src.count} band(s)", path)
        try:
            values = src.read(band, window=window)
            mask = src.read_masks(band, window=window) == 0
        except RasterioError as exc:
            raise NotARasterError(
                f"cannot be read: truncated or corrupt raster ({' '.join(str(exc).split())})", path
            ) from exc
        tags = {**src.tags(), **src.tags(band)}
        units = src.units[band - 1] or tags.get("units") or tags.get("UNITS") or None
        scale = src.scales[band - 1]
        offset = src.offsets[band - 1]
        # GDAL reports scale 1 / offset 0 when the file declares none.
        scale_decl = None if scale in (None, 1.0) and offset in (None, 0.0) else float(scale)
        offset_decl = None if scale_decl is None else float(offset or 0.0)
        if "scale_factor" in tags and scale_decl is None:
            scale_decl = float(tags["scale_factor"])
            offset_decl = float(tags.get("add_offset", 0.0))
        nodata = [] if src.nodatavals[band - 1] is None else [float(src.nodatavals[band - 1])]
        crs = src.crs
        transform = src.transform
        if transform == Affine.identity() and crs is None:
            transform = None
        return RawBand(
            values=values,
            dtype=np.dtype(src.dtypes[band - 1]),
            transform=transform,
            crs=crs,
            scale=scale_decl,
            offset=offset_decl,
            nodata=nodata,
            mask=mask,
            units=units,
            tags=tags,
            time=_tiff_time(tags),
        )


def _pick_variable(ds: xr.Dataset, variable: str | None, kind: str | None, path: Path) -> str:
    if variable is not None:
        if variable not in ds.data_vars:
            raise ProductError(
                f"variable {variable!r} not found; variables: {sorted(ds.data_vars)}", path
            )
        return variable
    candidates = [
        name
        for name, v in ds.data_vars.items()
        if v.ndim >= 2 and any(d in v.dims for d in _X_NAMES) and any(d in v.dims for d in _Y_NAMES)
    ]
    if not candidates:
        raise NotARasterError(
            f"no gridded variable with x/y (or lon/lat) dimensions; variables: {sorted(ds.data_vars)}",
            path,
        )
    if len(candidates) == 1:
        return candidates[0]
    if kind is not None:
        hits = [c for c in candidates if kind in c.lower()]
        if len(hits) == 1:
            return hits[0]
    raise ProductError(f"several gridded variables {candidates}; choose one with variable=", path)


def _read_netcdf(path: Path, band: int, variable: str | None, kind: str | None) -> RawBand:
    try:  # xarray picks an installed backend (netCDF4, h5netcdf with h5py, scipy)
        ds = xr.open_dataset(path, mask_and_scale=False, decode_times=True)
    except Exception as exc:  # noqa: BLE001 - any backend failure means "not a raster"
        raise NotARasterError(f"cannot be opened as NetCDF ({exc})", path) from exc
    with ds:
        name = _pick_variable(ds, variable, kind, path)
        da = ds[name]
        xdim = next(d for d in da.dims if d in _X_NAMES)
        ydim = next(d for d in da.dims if d in _Y_NAMES)
        lead = [d for d in da.dims if d not in (xdim, ydim)]
        if lead:
            n_lead = int(np.prod([da.sizes[d] for d in lead]))
            if not 1 <= band <= n_lead:
                raise ProductError(
                    f"band {band} requested but {name!r} has {n_lead} layer(s) along {lead}", path
                )
            stacked = da.stack(_layer=lead).transpose("_layer", ydim, xdim)
            da = stacked.isel(_layer=band - 1).drop_vars(["_layer", *lead], errors="ignore")
        da = da.transpose(ydim, xdim)
        attrs = dict(da.attrs)
        enc = dict(da.encoding)
        gm = attrs.get("grid_mapping") or enc.get("grid_mapping")
        if not gm:  # files whose variable lost its grid_mapping attribute: one CRS variable
            gms = [
                n
                for n, v in ds.variables.items()
                if {"crs_wkt", "spatial_ref", "grid_mapping_name"} & set(v.attrs)
            ]
            gm = gms[0] if len(gms) == 1 else None
        crs = None
        if gm and gm in ds.variables:
            gattrs = ds[gm].attrs
            wkt = gattrs.get("crs_wkt") or gattrs.get("spatial_ref")
            if wkt:
                crs = CRS.from_user_input(wkt)
            else:
                try:
                    from pyproj import CRS as ProjCRS

                    crs = CRS.from_user_input(ProjCRS.from_cf(gattrs).to_wkt())
                except Exception as exc:  # noqa: BLE001
                    raise MissingCRSError(
                        f"grid mapping {gm!r} cannot be turned into a CRS ({exc})", path
                    ) from exc
        elif xdim in ("lon", "longitude") and str(ds[xdim].attrs.get("units", "")).startswith(
            "degree"
        ):
            logger.warning("%s: no grid mapping; lon/lat in degrees taken as EPSG:4326", path)
            crs = CRS.from_epsg(4326)
        x = np.asarray(ds[xdim].values, dtype=float)
        y = np.asarray(ds[ydim].values, dtype=float)
        values = np.asarray(da.values)
        if x.size < 2 or y.size < 2:
            raise ProductError("a grid needs at least 2 pixels along x and y", path)
        dx, dy = np.diff(x), np.diff(y)
        if not (np.allclose(dx, dx[0], rtol=1e-6) and np.allclose(dy, dy[0], rtol=1e-6)):
            raise ProductError("irregular x/y coordinates: not a regular raster grid", path)
        if dy[0] > 0:  # south-up storage: flip to the north-up convention
            values = values[::-1]
            y = y[::-1]
            dy = -dy
        transform = Affine(dx[0], 0.0, x[0] - dx[0] / 2, 0.0, dy[0], y[0] - dy[0] / 2)
        nodata = [
            float(v)
            for key in ("_FillValue", "missing_value")
            for v in np.atleast_1d(attrs.get(key, enc.get(key, [])))
        ]
        scale = attrs.get("scale_factor", enc.get("scale_factor"))
        offset = attrs.get("add_offset", enc.get("add_offset"))
        if scale is None and offset is not None:
            scale = 1.0
        time = None
        for tname in ("time", "t"):
            if tname in da.coords and da[tname].size == 1:
                tval = np.asarray(da[tname].values).ravel()[0]
                time = (
                    str(np.datetime_as_string(tval, unit="s"))
                    if isinstance(tval, np.datetime64)
                    else str(tval)
                )
        return RawBand(
            values=values,
            dtype=values.dtype,
            transform=transform,
            crs=crs,
            scale=None if scale is None else float(scale),
            offset=None if offset is None else float(offset),
            nodata=nodata,
            mask=None,
            units=attrs.get("units"),
            tags={**ds.attrs, **attrs},
            time=time or ds.attrs.get("time"),
        )


def read_band(
    path: str | os.PathLike, *, band: int = 1, variable: str | None = None, kind: str | None = None,
    window: Any = None,
) -> RawBand:
    """Read one band of a raster file as stored (no scaling, no masking).

    Parameters
    ----------
    path
        GeoTIFF or any GDAL raster, or a NetCDF file.
    band
        1-based band (GDAL) or layer along the leading dimensions (NetCDF).
    variable
        NetCDF variable (default: the only gridded one).
    kind
        Hint used to choose a NetCDF variable when there are several.
    window
        GDAL rasters only: a :class:`rasterio.windows.Window` to read instead of the whole
        band (block-by-block reading of rasters larger than memory); ``transform`` stays the
        whole raster's.

    Returns
    -------
    RawBand

    """
    p = Path(path)
    if not p.exists():
        raise NotARasterError("no such file", p)
    if p.is_dir():
        raise NotARasterError("is a directory, not a raster file", p)
    if _is_netcdf(p):
        if window is not None:
            raise NotARasterError("NetCDF files are read whole: no window", p)
        return _read_netcdf(p, band, variable, kind)
    return _read_gdal(p, band, window)


def to_physical(
    raw: RawBand,
    path: str | os.PathLike,
    *,
    scale: float | None = None,
    offset: float | None = None,
    nodata: float | list[float] | None = None,
) -> tuple[np.ndarray, float | None, float | None]:
    """Apply nodata and scale/offset to a :class:`RawBand`.

    Returns
    -------
    values, scale, offset
        float64 physical values (NaN = missing) and the scale/offset applied (``None`` when
        the stored values were used as they are).

    Raises
    ------
    UnitsError
        Integer data with no scale declared in the file nor given.

    """
    values = np.asarray(raw.values)
    missing = np.zeros(values.shape, dtype=bool)
    if raw.mask is not None:
        missing |= raw.mask
    nodatas = list(raw.nodata)
    if nodata is not None:
        nodatas += [float(v) for v in np.atleast_1d(nodata)]
    for nd in nodatas:
        missing |= np.isnan(values) if np.isnan(nd) else values == nd
    if np.issubdtype(values.dtype, np.floating):
        missing |= ~np.isfinite(values)
    eff_scale = scale if scale is not None else raw.scale
    eff_offset = offset if offset is not None else raw.offset
    if scale is not None and raw.scale is not None and not np.isclose(scale, raw.scale):
        logger.warning(
            "%s: scale=%g given overrides the file's scale_factor %g", path, scale, raw.scale
        )
    if np.issubdtype(values.dtype, np.integer) and eff_scale is None:
        raise UnitsError(
            f"integer data ({values.dtype}) with no scale factor in the file and none given: "
            "scaled integers cannot be read as physical values. Declare the scale with --scale "
            "(and --offset), e.g. --scale 0.02 for MODIS LST counts, or --scale 1 if the integers "
            "are already physical (scale= / offset= in Python)",
            path,
        )
    out = values.astype(np.float64)
    if eff_scale is not None:
        out = out * float(eff_scale)
    if eff_offset is not None:
        out = out + float(eff_offset)
    out[missing] = np.nan
    return out, eff_scale, eff_offset


def open_raster(
    path: str | os.PathLike,
    *,
    kind: str | None = None,
    units: str | None = None,
    scale: float | None = None,
    offset: float | None = None,
    nodata: float | None = None,
    band: int = 1,
    variable: str | None = None,
    crs: Any = None,
    window: Any = None,
) -> xr.DataArray:
    """Open a generic GeoTIFF / GDAL raster / NetCDF field in declared physical units.

    Parameters
    ----------
    path
        The file. GeoTIFF and other GDAL formats are read with rasterio; NetCDF (``.nc``,
        or a file starting with the NetCDF-3 / HDF5 signature) with xarray.
    kind
        ``"lst"`` (then units must be kelvin), ``"ndvi"`` (dimensionless, within [-1, 1]) or
        ``None`` (any field whose units are kelvin or dimensionless).
    units
        Declared units, overriding the file's ``units`` metadata. Kelvin spellings (``"K"``,
        ``"kelvin"``) and dimensionless (``"1"``) are accepted. Celsius (``"degC"``) declared
        here is converted to kelvin (+273.15, logged); Celsius found only in the file is
        refused. With ``kind="ndvi"`` and no units anywhere, NDVI is taken as dimensionless.
    scale, offset
        ``physical = stored * scale + offset``; default: the file's ``scale_factor`` /
        ``add_offset``. Required for integer data whose file declares no scale.
    nodata
        A stored value marking missing pixels, in addition to the file's own nodata.
    band
        1-based band of a multi-band GDAL file, or 1-based layer along the leading
        dimensions of a NetCDF variable.
    variable
        NetCDF variable name (default: the only gridded variable).
    crs
        CRS that replaces the file's (anything :class:`rasterio.crs.CRS` accepts, e.g.
        ``"EPSG:32630"``): for files without a CRS or with a corrupt one.
    window
        GDAL rasters only: read this :class:`rasterio.windows.Window` (georeferenced as such)
        instead of the whole band.

    Returns
    -------
    xarray.DataArray
        ``(y, x)`` float32 field with NaN for missing pixels, CRS and transform (rioxarray),
        attrs ``units`` (``"K"`` or ``"1"``), ``long_name``, ``sensor``, ``product``,
        ``time`` (when found), ``source``, ``scale_factor_applied``, ``add_offset_applied``.

    Raises
    ------
    NotARasterError
        The file does not exist or cannot be opened as a raster.
    MissingCRSError
        The raster carries no CRS (and none is given), or a corrupt one (an ellipsoid that
        is not the Earth's, as in ENVI headers with a dropped digit).
    UnitsError
        Celsius / unknown units, integers without scale, or values contradicting the units.
    AllNaNError
        No valid pixel after masking.

    Examples
    --------
    >>> lst = open_raster("scene_lst.tif", kind="lst", units="K")  # doctest: +SKIP
    >>> ndvi = open_raster("ndvi_x10000.tif", kind="ndvi", scale=1e-4)  # doctest: +SKIP

    """
    kind = check_kind(kind)
    p = Path(path)
    raw = read_band(p, band=band, variable=variable, kind=kind, window=window)
    if window is not None and raw.transform is not None:
        from rasterio.windows import transform as window_transform

        raw.transform = window_transform(window, raw.transform)
    if crs is not None:
        try:
            raw.crs = crs if isinstance(crs, CRS) else CRS.from_user_input(crs)
        except (CRSError, ValueError) as exc:
            raise MissingCRSError(f"the CRS given ({crs!r}) is not valid: {exc}", p) from exc
    elif raw.crs is not None:
        check_crs(raw.crs, p)
    if raw.transform is None:
        raise MissingCRSError(
            "raster has no coordinate reference system and no geotransform (pixel positions "
            "unknown); georeference the file first, e.g. gdal_edit.py -a_srs EPSG:32631 "
            "-a_ullr ulx uly lrx lry",
            p,
        )
    if raw.crs is None:
        raise MissingCRSError(
            "raster has no coordinate reference system; pass crs= (e.g. crs='EPSG:32631') or "
            "assign one in the file (gdal_edit.py -a_srs)",
            p,
        )
    declared = units if units is not None else raw.units
    if declared is None and kind == "ndvi":
        declared = "1"
    # Celsius declared by the caller (not merely found in the file) is converted, and said so
    from_celsius = is_celsius(units) and kind in ("lst", None)
    canon = "K" if from_celsius else canonical_units(declared, kind=kind, path=p)
    values, used_scale, used_offset = to_physical(raw, p, scale=scale, offset=offset, nodata=nodata)
    if from_celsius:
        values = values + CELSIUS_TO_KELVIN
        logger.warning(
            "%s: LST declared in Celsius (units=%r): converted to kelvin (+%g)",
            p, units, CELSIUS_TO_KELVIN,
        )
    eff_kind = kind if kind is not None else ("lst" if canon == "K" else None)
    long_name = raw.tags.get("long_name") or _DEFAULT_LONG_NAME.get(eff_kind or "", p.stem)
    da = grid_dataarray(values, raw.transform, raw.crs, name=eff_kind or None)
    logger.debug(
        "%s: read band %d (%s), scale=%s offset=%s", p, band, raw.dtype, used_scale, used_offset
    )
    return finalize(
        da,
        units=canon,
        long_name=str(long_name),
        sensor=str(raw.tags.get("sensor", "unknown")),
        product=str(raw.tags.get("product", "generic")),
        source=p,
        time=raw.time,
        kind=eff_kind,
        extra={
            "scale_factor_applied": used_scale,
            "add_offset_applied": used_offset,
            "converted_from_units": str(units) if from_celsius else None,
        },
    )
