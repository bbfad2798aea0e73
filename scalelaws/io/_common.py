"""Shared helpers of the readers: units, grids, attributes and final checks.

Every reader of :mod:`scalelaws.io` ends with :func:`finalize`, which enforces the package
conventions (dims ``("y", "x")``, float32, NaN = missing, CRS and transform through rioxarray,
pixel-centre coordinates, ``units``/``long_name``/``sensor``/``product``/``time``/``source``
attributes) and raises :class:`~scalelaws.errors.AllNaNError` on an empty field.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from affine import Affine
from rasterio.crs import CRS

from scalelaws.errors import AllNaNError, MissingCRSError, ProductError, UnitsError

logger = logging.getLogger(__name__)

#: MODIS sinusoidal projection on the authalic sphere used by every MODIS land grid.
MODIS_SPHERE_RADIUS_M = 6371007.181
MODIS_SINUSOIDAL_PROJ4 = (
    f"+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R={MODIS_SPHERE_RADIUS_M} +units=m +no_defs"
)

KINDS = ("lst", "ndvi")

_KELVIN = {
    "k",
    "kelvin",
    "kelvins",
    "degk",
    "deg_k",
    "degree_k",
    "degrees_k",
    "degree_kelvin",
    "degrees_kelvin",
}
_CELSIUS = {
    "c",
    "degc",
    "deg_c",
    "deg c",
    "°c",
    "ºc",
    "℃",
    "oc",
    "celsius",
    "degree_c",
    "degrees_c",
    "degree c",
    "degrees c",
    "degree_celsius",
    "degrees_celsius",
    "degree celsius",
    "degrees celsius",
    "centigrade",
}
_FAHRENHEIT = {
    "f",
    "degf",
    "deg_f",
    "°f",
    "fahrenheit",
    "degree_f",
    "degrees_f",
    "degree_fahrenheit",
    "degrees_fahrenheit",
}
_DIMENSIONLESS = {
    "1",
    "-",
    "dimensionless",
    "unitless",
    "none",
    "ndvi",
    "ratio",
    "fraction",
    "reflectance",
}

#: Plausible range (K) of the median of a land surface temperature field; outside it the
#: declared unit is almost certainly wrong (e.g. Celsius labelled as kelvin, or scaled counts).
LST_PLAUSIBLE_MEDIAN_K = (150.0, 400.0)
#: NDVI is bounded by construction; a small tolerance absorbs rounding of stored values.
NDVI_BOUNDS = (-1.0 - 1e-3, 1.0 + 1e-3)


def canonical_units(units: str | None, *, kind: str | None, path: str | os.PathLike | None) -> str:
    """Map a declared unit string onto the package's canonical units.

    Parameters
    ----------
    units
        The unit string found in the file or given by the user (case and spaces ignored).
    kind
        ``"lst"``, ``"ndvi"`` or ``None`` (any physical field).
    path
        The file, to name it in errors.

    Returns
    -------
    str
        ``"K"`` for kelvin, ``"1"`` for dimensionless.

    Raises
    ------
    UnitsError
        Celsius or Fahrenheit temperatures (LST is kelvin only; the message says how to
        convert), units that do not fit ``kind``, or units that are not recognised.

    """
    if units is None:
        raise UnitsError(
            "no units declared in the file and none given; declare them: --units K for a "
            "temperature in kelvin, --units 1 for NDVI (units='K' / units='1' in Python)",
            path,
        )
    u = str(units).strip().lower()
    u_compact = u.replace("degrees", "deg").replace("degree", "deg")
    if is_celsius(units):
        raise UnitsError(
            f"temperature in Celsius (units={units!r}) and scalelaws works in kelvin: it converts "
            "only when asked. Declare it with --units degC (units='degC' in Python) to convert "
            "(K = degC + 273.15), or convert the file first",
            path,
        )
    if u in _FAHRENHEIT or u_compact in {"degf", "deg_f"}:
        raise UnitsError(
            f"temperature declared in Fahrenheit (units={units!r}); convert to kelvin first "
            "(K = (degF - 32) * 5/9 + 273.15)",
            path,
        )
    if u in _KELVIN or u_compact in {"degk", "deg_k"}:
        canon = "K"
    elif u in _DIMENSIONLESS or u == "":
        canon = "1"
    else:
        raise UnitsError(
            f"unknown units {units!r}; accepted: kelvin ('K') for temperatures, '1' (dimensionless) "
            "for NDVI",
            path,
        )
    if kind == "lst" and canon != "K":
        raise UnitsError(f"LST must be in kelvin, the file declares units={units!r}", path)
    if kind == "ndvi" and canon != "1":
        raise UnitsError(f"NDVI is dimensionless, the file declares units={units!r}", path)
    return canon


def is_celsius(units: str | None) -> bool:
    """Tell whether ``units`` spells degrees Celsius (``"degC"``, ``"C"``, ``"celsius"``, ...)."""
    if units is None:
        return False
    u = str(units).strip().lower()
    u_compact = u.replace("degrees", "deg").replace("degree", "deg")
    return u in _CELSIUS or u_compact in {"degc", "deg_c", "deg c"}


def check_kind(kind: str | None) -> str | None:
    """Validate the ``kind`` argument shared by the readers."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS} or None, got {kind!r}")
    return kind


def check_physical_range(
    values: np.ndarray, units: str, *, kind: str | None, path: str | os.PathLike | None
) -> None:
    """Refuse values that contradict their declared units.

    A kelvin LST field whose median lies outside :data:`LST_PLAUSIBLE_MEDIAN_K` is almost
    surely in Celsius or still in scaled counts; an NDVI outside [-1, 1] is scaled counts.
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return
    if units == "K" and kind in ("lst", None):
        med = float(np.median(finite))
        lo, hi = LST_PLAUSIBLE_MEDIAN_K
        if not lo <= med <= hi:
            raise UnitsError(
                f"declared kelvin but the median value is {med:.4g}, outside the plausible "
                f"range {lo:g}-{hi:g} K of a land surface temperature: Celsius values or scaled "
                "counts? Declare the right units (--units degC converts Celsius) or scale (--scale)",
                path,
            )
    if kind == "ndvi":
        vmin, vmax = float(finite.min()), float(finite.max())
        if vmin < NDVI_BOUNDS[0] or vmax > NDVI_BOUNDS[1]:
            raise UnitsError(
                f"NDVI values span [{vmin:.4g}, {vmax:.4g}], outside [-1, 1]: scaled integers? "
                "Declare the scale: --ndvi-scale 1e-4 for MODIS/Landsat NDVI counts (scale= in "
                "Python)",
                path,
            )


#: Range (m) of the semi-major axis of any Earth ellipsoid or sphere in use (Clarke 1866, WGS 84,
#: the MODIS sphere, ...). A CRS outside it is corrupt (e.g. an ENVI header with a digit dropped).
EARTH_AXIS_RANGE_M = (6.3e6, 6.4e6)


def check_crs(crs: CRS, path: str | os.PathLike | None) -> None:
    """Refuse a CRS whose ellipsoid cannot be the Earth's (a corrupt header).

    Such a CRS reads without error but puts the field hundreds of kilometres off as soon as it is
    re-projected (:func:`scalelaws.grids.align`), so it is refused rather than passed on.

    Raises
    ------
    MissingCRSError
        The semi-major axis lies outside :data:`EARTH_AXIS_RANGE_M`.

    """
    from pyproj import CRS as ProjCRS

    try:
        ell = ProjCRS.from_user_input(crs.to_wkt()).ellipsoid
    except Exception:  # noqa: BLE001 - pyproj cannot parse it: leave the check to GDAL
        return
    if ell is None:
        return
    a = float(ell.semi_major_metre)
    lo, hi = EARTH_AXIS_RANGE_M
    if not lo <= a <= hi:
        raise MissingCRSError(
            f"the file's CRS is corrupt: its ellipsoid has a semi-major axis of {a:g} m, not the "
            "Earth's (~6378137 m); re-projection would misplace the field. Override it with "
            "crs= (e.g. open_raster(path, crs='EPSG:32630'))",
            path,
        )


def pixel_centres(transform: Affine, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates ``(y, x)`` of a north-up, non-rotated grid."""
    if transform.b != 0 or transform.d != 0:
        raise ProductError(f"rotated geotransform {tuple(transform)[:6]} is not supported")
    ny, nx = shape
    x = transform.c + transform.a * (np.arange(nx) + 0.5)
    y = transform.f + transform.e * (np.arange(ny) + 0.5)
    return y, x


def grid_dataarray(
    values: np.ndarray,
    transform: Affine,
    crs: CRS | str,
    attrs: Mapping[str, Any] | None = None,
    *,
    name: str | None = None,
) -> xr.DataArray:
    """Build a georeferenced ``(y, x)`` float32 DataArray from an array and its grid.

    Parameters
    ----------
    values
        2-D array; converted to float32 (NaN = missing).
    transform
        Affine geotransform of the upper-left pixel corner (GDAL convention).
    crs
        Coordinate reference system (anything :class:`rasterio.crs.CRS` accepts).
    attrs
        Attributes to attach.
    name
        Optional variable name.

    Returns
    -------
    xarray.DataArray
        With ``x``/``y`` pixel-centre coordinates, CRS and transform written by rioxarray.

    """
    arr = np.asarray(values, dtype=np.float32)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D array, got shape {arr.shape}")
    y, x = pixel_centres(transform, arr.shape)
    da = xr.DataArray(arr, dims=("y", "x"), coords={"y": y, "x": x}, name=name)
    crs_obj = crs if isinstance(crs, CRS) else CRS.from_user_input(crs)
    da = da.rio.write_crs(crs_obj)
    da = da.rio.write_transform(transform)
    da.attrs.update(dict(attrs or {}))
    return da


def finalize(
    da: xr.DataArray,
    *,
    units: str,
    long_name: str,
    sensor: str,
    product: str,
    source: str | os.PathLike,
    time: str | None = None,
    kind: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> xr.DataArray:
    """Apply the package conventions to a reader's output and check it is not empty.

    Parameters
    ----------
    da
        Georeferenced ``(y, x)`` field (NaN = missing).
    units, long_name, sensor, product, time
        Attributes to set (``time`` is omitted when unknown).
    source
        The file read (stored as ``attrs["source"]``, named in errors).
    kind
        ``"lst"`` or ``"ndvi"``, used for the value-range sanity checks.
    extra
        Further attributes (e.g. QC policy, scale factors used).

    Returns
    -------
    xarray.DataArray
        float32, dims ``("y", "x")``, with the attributes above.

    Raises
    ------
    AllNaNError
        When no pixel is valid after masking.
    UnitsError
        When the values contradict the units (see :func:`check_physical_range`).

    """
    if da.dims != ("y", "x"):
        raise ProductError(f"expected dims ('y', 'x'), got {da.dims}", source)
    if da.dtype != np.float32:
        da = da.astype(np.float32)
    values = da.values
    if not np.isfinite(values).any():
        raise AllNaNError(
            "every pixel is missing after applying nodata / fill / cloud / QC masks", source
        )
    check_physical_range(values, units, kind=kind, path=source)
    # drop encodings/attrs inherited from the file that would re-scale on write
    for key in ("scale_factor", "add_offset", "_FillValue", "missing_value"):
        da.attrs.pop(key, None)
        da.encoding.pop(key, None)
    attrs: dict[str, Any] = {
        "units": units,
        "long_name": long_name,
        "sensor": sensor,
        "product": product,
        "source": os.fspath(Path(source).absolute()),
    }
    if time:
        attrs["time"] = time
    if extra:
        attrs.update({k: v for k, v in extra.items() if v is not None})
    keep = {k: v for k, v in da.attrs.items() if k not in attrs and k not in ("AREA_OR_POINT",)}
    da.attrs = {**attrs, **keep}
    return da


def ndvi_from_reflectance(red: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """NDVI = (NIR - red) / (NIR + red).

    NaN where NIR + red <= 0 (undefined, e.g. fill or strongly negative reflectances), and
    clipped to [-1, 1] (slightly negative surface reflectances of dark targets otherwise push
    it out of its definition range).

    Parameters
    ----------
    red, nir
        Surface reflectances (NaN = missing).

    Returns
    -------
    numpy.ndarray
        float64 NDVI.

    """
    red = np.asarray(red, dtype=np.float64)
    nir = np.asarray(nir, dtype=np.float64)
    total = nir + red
    with np.errstate(invalid="ignore", divide="ignore"):
        ndvi = np.where(total > 0, (nir - red) / total, np.nan)
    return np.clip(ndvi, -1.0, 1.0)


def read_text_head(path: str | os.PathLike, n: int = 4096) -> bytes:
    """First ``n`` bytes of a file (for format sniffing)."""
    with open(path, "rb") as fh:
        return fh.read(n)


def bits(qc: np.ndarray, start: int, count: int) -> np.ndarray:
    """Extract an unsigned bit field from a QC / QA array.

    Parameters
    ----------
    qc
        Integer array of packed flags.
    start
        Index of the lowest bit of the field (bit 0 = least significant).
    count
        Width of the field in bits.

    Returns
    -------
    numpy.ndarray
        The field value for each pixel (same shape, integer).

    """
    q = np.asarray(qc).astype(np.int64)
    return (q >> start) & ((1 << count) - 1)
