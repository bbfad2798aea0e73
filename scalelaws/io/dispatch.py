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

__all__ = ["open_lst", "open_ndvi", "PATTERNS"]

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


def _generic(path: Path, kind: str, kwargs: dict[str, Any]) -> xr.DataArray:
    try:
        return open_raster(path, kind=kind, **kwargs)
    except UnitsError as exc:
        if kwargs.get("units") is None:
            raise UnitsError(
                f"the file name matches no known product ({PATTERNS}); read as a generic raster: "
                f"{exc.problem}",
                path,
            ) from exc
        raise


def open_lst(path: str | os.PathLike, **kwargs: Any) -> xr.DataArray:
    """Open a land surface temperature field (K), choosing the reader from the file name.

    Parameters
    ----------
    path
        The file (see the module table for the recognised names).
    **kwargs
        Passed to the chosen reader (e.g. ``which=``/``qc=`` for MODIS, ``mask=`` for Landsat,
        ``units=``/``scale=`` for a generic raster).

    Returns
    -------
    xarray.DataArray
        LST in kelvin, ``(y, x)`` float32.

    Raises
    ------
    UnitsError
        Generic file with no declared units (the message lists the recognised names).
    ProductError
        A Landsat Level-1 file (brightness temperature is not LST).

    """
    p = Path(path)
    name = p.name
    if _MODIS_LST.match(name):
        return open_modis_lst(p, **kwargs)
    if _LANDSAT_L2.match(name):
        return open_landsat_c2l2(p, variable="lst", **kwargs)
    if _ASTER_08.search(name):
        return open_aster_lst(p, **kwargs)
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
        return open_modis_ndvi(p, **kwargs)
    if _LANDSAT_L2.match(name):
        return open_landsat_c2l2(p, variable="ndvi", **kwargs)
    return _generic(p, "ndvi", kwargs)
