"""Calibration of the Landsat DN and reflective bands: stated constants, NDVI, masks, grids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from scalelaws.errors import InputError
from scalelaws.grids import coarsen, pixel_size
from scalelaws.io import open_landsat_dn_bt
from scalelaws.io.generic import read_band
from scalelaws.io.landsat import THERMAL_CONSTANTS

#: Landsat 7 ETM+ thermal rescaling (gain, bias) in W m-2 sr-1 um-1 per DN, LPGS products
#: (QCALMIN 1, QCALMAX 255): band 61 low gain LMIN 0 / LMAX 17.04, band 62 high gain
#: 3.2 / 12.65 (Chander et al. 2009, table 2).
ETM_THERMAL: dict[str, tuple[float, float]] = {
    "61": (17.04 / 254.0, -17.04 / 254.0),
    "62": ((12.65 - 3.2) / 254.0, 3.2 - (12.65 - 3.2) / 254.0),
}
#: Landsat 7 ETM+ red / NIR rescaling (Grescale, Brescale) of the Pennsylvania scenes (their
#: metadata as quoted by the R package ``landsat``, high gain); assumed for the Raleigh crop,
#: whose metadata is not distributed.
ETM_REFLECTIVE: dict[str, tuple[float, float]] = {"3": (0.61922, -5.00), "4": (0.63725, -5.10)}
#: Exo-atmospheric solar irradiance (W m-2 um-1) of the red / NIR bands (Chander et al. 2009).
ESUN: dict[str, dict[str, float]] = {
    "TM": {"3": 1536.0, "4": 1031.0},
    "ETM+": {"3": 1533.0, "4": 1039.0},
}


def _like(ref: xr.DataArray, values: np.ndarray, *, name: str, units: str, long_name: str,
          source: str) -> xr.DataArray:
    """Put ``values`` on the grid of ``ref`` (same coordinates and CRS)."""
    if values.shape != ref.shape:
        raise InputError(f"band of shape {values.shape} is not on the thermal grid {ref.shape}", source)
    out = ref.copy(data=np.asarray(values, dtype=np.float32))
    out.name = name
    out.attrs = {"units": units, "long_name": long_name, "source": source}
    return out


def _ndvi(red: np.ndarray, nir: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        v = (nir - red) / (nir + red)
    return np.where(np.isfinite(v) & (np.abs(v) <= 1.0), v, np.nan)


def _dn(path: Path) -> np.ndarray:
    """DN of a band as float64, NaN for the file's nodata and non-finite values."""
    raw = read_band(path)
    v = np.asarray(raw.values, dtype=np.float64)
    bad = ~np.isfinite(v)
    for nd in raw.nodata:
        bad |= v == nd
    if raw.mask is not None:
        bad |= raw.mask
    return np.where(bad, np.nan, v)


def _toa_ndvi_from_radiance(red_dn: np.ndarray, nir_dn: np.ndarray, red_cal: tuple[float, float],
                            nir_cal: tuple[float, float], esun: dict[str, float],
                            red_band: str, nir_band: str) -> np.ndarray:
    """NDVI of TOA reflectance from DN (the sun-elevation / distance factor cancels)."""
    red = (red_cal[0] * red_dn + red_cal[1]) / esun[red_band]
    nir = (nir_cal[0] * nir_dn + nir_cal[1]) / esun[nir_band]
    ok = (red_dn > 0) & (nir_dn > 0)
    return np.where(ok, _ndvi(red, nir), np.nan)


def _block(da: xr.DataArray, thermal_m: float) -> xr.DataArray:
    """Block-average a resampled thermal field to about its thermal pixel."""
    px = pixel_size(da)
    f = max(1, round(thermal_m / px))
    return coarsen(da, f) if f > 1 else da


def _etm_bt(path: Path, band: str, time: str | None) -> xr.DataArray:
    k1, k2 = THERMAL_CONSTANTS["LANDSAT_7"]["6"]
    gain, bias = ETM_THERMAL[band]
    return open_landsat_dn_bt(
        path, gain=gain, bias=bias, k1=k1, k2=k2, sensor="Landsat 7 ETM+", band=band, time=time,
        calibration=f"stated constants: LPGS band {band} gain {gain:.6f} bias {bias:.4f}, "
                    f"K1 {k1} K2 {k2} (Chander et al. 2009)",
    )

