"""ASTER readers: AST_08 surface kinetic temperature and VNIR NDVI from GeoTIFF exports.

The AST_08 product stores the surface kinetic temperature as kelvin x 10 (scale 0.1 K) at 90 m.
Original ASTER granules are HDF-EOS *swaths* (per-pixel latitude / longitude, no map grid);
georeference them first (e.g. the GeoTIFFs of NASA AppEEARS / Earthdata or ``gdalwarp``) and read
the GeoTIFF here. Values below 230 K are fill (0 outside the scene, ~199.5 K strips beside the
swath in the aggregated benchmark fields) and become NaN.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import xarray as xr

from scalelaws.errors import MissingCRSError, NotARasterError, ProductError, UnitsError
from scalelaws.io._common import finalize, grid_dataarray, ndvi_from_reflectance, read_text_head
from scalelaws.io.generic import read_band

logger = logging.getLogger(__name__)

__all__ = ["open_aster_lst", "open_aster_ndvi", "AST08_SCALE", "ASTER_MIN_VALID_K"]

#: Kelvin per stored count of AST_08.
AST08_SCALE = 0.1
#: Stored values below this temperature are fill, not surface temperatures.
ASTER_MIN_VALID_K = 230.0
#: Reflectance per count of the AST_07 / AST_07XT surface reflectance (VNIR).
AST07_SCALE = 0.001


def open_aster_lst(
    path: str | os.PathLike, *, scale: float = AST08_SCALE, min_valid: float = ASTER_MIN_VALID_K
) -> xr.DataArray:
    """Open an ASTER AST_08 kinetic temperature GeoTIFF in kelvin.

    Parameters
    ----------
    path
        Georeferenced AST_08 GeoTIFF (stored kelvin x 10), or a float GeoTIFF whose metadata
        already declares kelvin (units ``K``), such as the benchmark pairs' ASTER fields.
    scale
        Kelvin per stored count, applied unless the file's own ``scale_factor`` is declared or
        the file is float data declared in kelvin.
    min_valid
        Values below this (K) are fill and set to NaN.

    Returns
    -------
    xarray.DataArray
        ``(y, x)`` float32 kinetic temperature (K) with the file's CRS.

    Raises
    ------
    ProductError
        An HDF (swath) granule, which has no map grid.
    UnitsError
        No stored value reaches ``min_valid`` after scaling (wrong scale, e.g. a float
        kelvin file without a ``units`` tag read with the default 0.1).
    MissingCRSError, NotARasterError, AllNaNError
        As in :func:`scalelaws.io.open_raster`.

    """
    p = Path(path)
    if not p.is_file():
        raise NotARasterError("no such file", p)
    if read_text_head(p, 4) == b"\x0e\x03\x13\x01":
        raise ProductError(
            "ASTER HDF-EOS granules are swaths without a map grid; georeference the "
            "KineticTemperature dataset to GeoTIFF first (AppEEARS, gdalwarp with geolocation)",
            p,
        )
    raw = read_band(p)
    if raw.crs is None or raw.transform is None:
        raise MissingCRSError("ASTER raster has no CRS", p)
    vals = np.asarray(raw.values)
    missing = raw.mask.copy() if raw.mask is not None else np.zeros(vals.shape, bool)
    for nd in raw.nodata:
        missing |= np.isnan(vals) if np.isnan(nd) else vals == nd
    declared_k = (raw.units or "").strip().lower() in ("k", "kelvin")
    if raw.scale is not None:
        sf, off = raw.scale, raw.offset or 0.0
    elif np.issubdtype(vals.dtype, np.floating) and declared_k:
        sf, off = 1.0, 0.0
        logger.debug("%s: float data declared in kelvin; scale=%g not applied", p, scale)
    else:
        sf, off = float(scale), 0.0
    kelvin = vals.astype(np.float64) * sf + off
    missing |= ~np.isfinite(kelvin)
    stored = kelvin[~missing & (vals != 0)]
    if stored.size and not (stored >= min_valid).any():
        # every stored value would be "fill": the scale is wrong, not the scene empty
        raise UnitsError(
            f"no value reaches {min_valid:g} K after scale {sf:g} (median {np.median(stored):.4g} "
            f"K): the stored values are probably not counts of {sf:g} K. For float data in kelvin "
            "pass scale=1 (or declare units='K' in the file)",
            p,
        )
    missing |= kelvin < min_valid
    kelvin[missing] = np.nan
    da = grid_dataarray(kelvin, raw.transform, raw.crs, name="lst")
    return finalize(
        da,
        units="K",
        long_name="surface kinetic temperature",
        sensor="ASTER/Terra",
        product="AST_08",
        source=p,
        time=raw.time,
        kind="lst",
        extra={"scale_factor_applied": sf, "min_valid_K": min_valid},
    )


def open_aster_ndvi(
    red_path: str | os.PathLike, nir_path: str | os.PathLike, *, scale: float = AST07_SCALE
) -> xr.DataArray:
    """NDVI from ASTER VNIR surface reflectance (AST_07 band 2 red, band 3N NIR) GeoTIFFs.

    Parameters
    ----------
    red_path, nir_path
        Georeferenced band 2 (0.63-0.69 um) and band 3N (0.78-0.86 um) on the same grid.
    scale
        Reflectance per count (AST_07: 0.001) for integer data without a declared scale;
        it cancels in the ratio but keeps the ``NIR + red > 0`` test physical.

    Returns
    -------
    xarray.DataArray
        ``(y, x)`` float32 NDVI in [-1, 1]; NaN where either band is fill (0 / nodata) or
        NIR + red <= 0.

    """
    bands = []
    for path in (red_path, nir_path):
        p = Path(path)
        raw = read_band(p)
        if raw.crs is None or raw.transform is None:
            raise MissingCRSError("ASTER raster has no CRS", p)
        vals = np.asarray(raw.values)
        missing = raw.mask.copy() if raw.mask is not None else np.zeros(vals.shape, bool)
        missing |= vals == 0
        for nd in raw.nodata:
            missing |= np.isnan(vals) if np.isnan(nd) else vals == nd
        sf = (
            raw.scale
            if raw.scale is not None
            else (scale if np.issubdtype(vals.dtype, np.integer) else 1.0)
        )
        refl = vals.astype(np.float64) * sf + (raw.offset or 0.0)
        refl[missing] = np.nan
        bands.append((raw, refl))
    (r_raw, red), (n_raw, nir) = bands
    if red.shape != nir.shape or r_raw.transform != n_raw.transform:
        raise ProductError("red and NIR rasters are not on the same grid", Path(nir_path))
    da = grid_dataarray(ndvi_from_reflectance(red, nir), r_raw.transform, r_raw.crs, name="ndvi")
    return finalize(
        da,
        units="1",
        long_name="normalized difference vegetation index",
        sensor="ASTER/Terra",
        product="AST_07 VNIR (bands 2, 3N)",
        source=Path(red_path),
        time=r_raw.time,
        kind="ndvi",
        extra={"nir_source": os.fspath(nir_path)},
    )
