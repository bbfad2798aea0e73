"""Open LST / NDVI by recognising the product from the file name.

=========================================================  =====================================
file name pattern                                           reader
=========================================================  =====================================
``MOD11A1.*``, ``MYD11A1.*``, ``MOD21A1D/N.*``, ``MOD11A2``  :func:`~scalelaws.io.open_modis_lst`
``MOD09GQ.*``, ``MOD13Q1.*``, ``MOD13A2.*`` (and ``MYD``)    :func:`~scalelaws.io.open_modis_ndvi`
``L[COTE]0x_L2SP_*`` (band file or MTL)                     :func:`~scalelaws.io.open_landsat_c2l2`
``AST_08*``                                                 :func:`~scalelaws.io.open_aster_lst`
anything else                                               :func:`~scalelaws.io.open_raster`
                                                            (units must be declared)
=========================================================  =====================================

Landsat Level-1 files are refused by :func:`open_lst`: they give brightness temperature, not LST
(use :func:`~scalelaws.io.open_landsat_l1_bt` explicitly).
"""

from __future__ import annotations

import inspect
import logging
import os
import re
from pathlib import Path
from typing import Any

import xarray as xr

from scalelaws.errors import ProductError, UnitsError
from scalelaws.io.aster import open_aster_lst
from scalelaws.io.generic import open_raster
from scalelaws.io.landsat import open_landsat_c2l2
from scalelaws.io.modis import open_modis_lst, open_modis_ndvi

__all__ = ["open_lst", "open_ndvi", "PATTERNS", "GENERIC_OPTIONS", "is_product_name"]

logger = logging.getLogger(__name__)

_MODIS_LST = re.compile(r"^M[OY]D(11A[12]|21A[12][DN]?)\.", re.I)
_MODIS_NDVI = re.compile(r"^M[OY]D(09GQ|13Q1|13A[123])\.", re.I)
_LANDSAT_L2 = re.compile(r"^L[COTE]0\d_L2S[PR]_", re.I)
_LANDSAT_L1 = re.compile(r"^(L[COTEM]0\d_L1(TP|GT|GS)_|L[COTEM]\d{14}[A-Z]{3}\d{2})", re.I)
_ASTER_08 = re.compile(r"AST_?08", re.I)

#: Human-readable list of the recognised name patterns (used in error messages).
PATTERNS = (
    "MOD11A1/MYD11A1/MOD21A1D/MOD21A1N.* (MODIS LST), MOD09GQ/MOD13Q1/MOD13A2.* (MODIS NDVI), "
    "LC08/LC09_L2SP_* (Landsat C2 L2), AST_08* (ASTER)"
)


#: Options of the generic reader (:func:`~scalelaws.io.open_raster`) a command line can pass.
GENERIC_OPTIONS = ("units", "scale", "offset", "nodata", "crs", "band", "variable")


def _generic(path: Path, kind: str, kwargs: dict[str, Any]) -> xr.DataArray:
    given = {k: v for k, v in kwargs.items() if v is not None}
    try:
        return open_raster(path, kind=kind, **given)
    except UnitsError as exc:
        if given.get("units") is None:
            # the problem first; why the generic reader was used after it
            raise UnitsError(
                f"{exc.problem} (read as a generic raster: the file name matches no known "
                "product such as MOD11A1.*, LC08_L2SP_*, AST_08*)",
                path,
            ) from exc
        raise


def _product(reader: Any, path: Path, kwargs: dict[str, Any], **fixed: Any) -> xr.DataArray:
    """Call a product reader with the options it accepts; log the generic ones it ignores."""
    params = inspect.signature(reader).parameters
    given = {k: v for k, v in kwargs.items() if v is not None}
    ignored = sorted(k for k in given if k not in params)
    if ignored:
        logger.warning(
            "%s: read as a known product (%s), which decodes its own units and scale; "
            "option(s) %s ignored", path, reader.__name__, ", ".join(ignored),
        )
    return reader(path, **{k: v for k, v in given.items() if k in params}, **fixed)


def is_product_name(path: str | os.PathLike) -> bool:
    """Tell whether a file name matches a known product (read by its own reader, not generically)."""
    name = Path(path).name
    return any(r.search(name) if r is _ASTER_08 else r.match(name)
               for r in (_MODIS_LST, _MODIS_NDVI, _LANDSAT_L2, _LANDSAT_L1, _ASTER_08))


def open_lst(path: str | os.PathLike, **kwargs: Any) -> xr.DataArray:
    """Open a land surface temperature field (K), choosing the reader from the file name.

    Parameters
    ----------
    path
        The file (see the module table for the recognised names).
    **kwargs
        Passed to the chosen reader (e.g. ``which=``/``qc=`` for MODIS, ``mask=`` for Landsat,
        ``units=``/``scale=`` for a generic raster). ``None`` values are dropped; options a
        product reader does not take (:data:`GENERIC_OPTIONS`) are ignored with a warning.

    Returns
    -------
    xarray.DataArray
        LST in kelvin, ``(y, x)`` float32.

    Raises
    ------
    UnitsError
        Generic file with no declared units.
    ProductError
        A Landsat Level-1 file (brightness temperature is not LST).

    """
    p = Path(path)
    name = p.name
    if _MODIS_LST.match(name):
        return _product(open_modis_lst, p, kwargs)
    if _LANDSAT_L2.match(name):
        return _product(open_landsat_c2l2, p, kwargs, variable="lst")
    if _ASTER_08.search(name):
        return _product(open_aster_lst, p, kwargs)
    if _LANDSAT_L1.match(name):
        raise ProductError(
            "Landsat Level-1 product: it gives at-sensor brightness temperature, not LST; call "
            "scalelaws.io.open_landsat_l1_bt explicitly if that is what you want",
            p,
        )
    return _generic(p, "lst", kwargs)


def open_ndvi(path: str | os.PathLike, **kwargs: Any) -> xr.DataArray:
    """Open an NDVI field (dimensionless), choosing the reader from the file name.

    Parameters
    ----------
    path
        The file (see the module table for the recognised names).
    **kwargs
        Passed to the chosen reader.

    Returns
    -------
    xarray.DataArray
        NDVI, ``(y, x)`` float32.

    """
    p = Path(path)
    name = p.name
    if _MODIS_NDVI.match(name):
        return _product(open_modis_ndvi, p, kwargs)
    if _LANDSAT_L2.match(name):
        return _product(open_landsat_c2l2, p, kwargs, variable="ndvi")
    return _generic(p, "ndvi", kwargs)
