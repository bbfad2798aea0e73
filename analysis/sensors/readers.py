"""Readers of the shared thermal fields: one :class:`SensorField` per product, labelled.

Every reader returns the temperature field on its analysis grid (block-averaged to about the
thermal pixel), NDVI and landscapes when they exist, and notes on calibration and processing;
:data:`FIELD_LOADERS` maps each key to its reader and the path that must exist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from analysis.sensors.calibration import (
    ESUN,
    ETM_REFLECTIVE,
    _block,
    _dn,
    _etm_bt,
    _like,
    _ndvi,
    _toa_ndvi_from_radiance,
)
from scalelaws.grids import align
from scalelaws.io import open_landsat_c2l2, open_landsat_l1_bt, open_raster, read_mtl
from scalelaws.io.generic import read_band
from scalelaws.landscapes import classes_from_landcover, classify_ndvi

#: Raleigh ``landclass96.tif`` codes (GRASS nc_spm legend: 1 developed, 2 agriculture,
#: 3 herbaceous, 4 shrubland, 5 forest, 6 water, 7 sediment) grouped into the NDVI class names
#: of the ASTER law.
LANDCLASS96: dict[str, list[int]] = {
    "water": [6],
    "bare_or_urban": [1, 7],
    "grass_or_crop": [2, 3, 4],
    "forest": [5],
}


@dataclass
class SensorField:
    """One thermal field ready for a law fit, and what it is.

    Attributes
    ----------
    key
        Short identifier (``landsat7_raleigh``).
    platform
        Sensor and platform (``Landsat 7 ETM+``).
    quantity
        ``"LST"``, ``"brightness temperature"`` or ``"radiometric temperature"``.
    region, date
        Where and when (ISO date, or a phrase when unknown).
    lst
        The temperature field (K) on the analysis grid.
    thermal_pixel_m
        Native thermal pixel (detector footprint or the delivered pixel, whichever is larger).
    ndvi
        NDVI on the same grid, or ``None``.
    classes
        Landscape labels on the same grid, or ``None`` (one class, ``all``).
    class_source
        How the landscapes were made (``"NDVI (TOA)"``, ``"landclass96.tif"``, ``"one class"``).
    note
        Calibration and processing notes.

    """

    key: str
    platform: str
    quantity: str
    region: str
    date: str
    lst: xr.DataArray
    thermal_pixel_m: float
    ndvi: xr.DataArray | None = None
    classes: xr.DataArray | None = None
    class_source: str = "one class"
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _load_carolina(root: Path) -> SensorField:
    d = root / "products" / "landsat8_l1_carolina_900m"
    mtl_path = next(d.glob("*_MTL.txt"))
    mtl = read_mtl(mtl_path)
    bt = open_landsat_l1_bt(mtl_path)
    prefix = mtl_path.name[: -len("_MTL.txt")]
    qa = read_band(d / f"{prefix}_BQA.TIF").values.astype(np.int64)
    # Collection 1 BQA: bit 0 fill, bits 5-6 cloud, 7-8 cloud shadow, 11-12 cirrus confidence
    bad = ((qa & 1) == 1) | (((qa >> 5) & 3) == 3) | (((qa >> 7) & 3) == 3) | (((qa >> 11) & 3) == 3)
    lst = bt.where(~bad)
    refl = {}
    for b in ("4", "5"):
        dn = _dn(d / f"{prefix}_B{b}.TIF")
        m, a = mtl.float(f"REFLECTANCE_MULT_BAND_{b}"), mtl.float(f"REFLECTANCE_ADD_BAND_{b}")
        refl[b] = np.where(dn > 0, m * dn + a, np.nan)
    ndvi = _like(lst, np.where(bad, np.nan, _ndvi(refl["4"], refl["5"])), name="ndvi", units="1",
                 long_name="NDVI of TOA reflectance (MTL REFLECTANCE_MULT/ADD)", source=str(d))
    return SensorField(
        "landsat8_carolina", "Landsat 8 OLI/TIRS (L1TP, 900 m reduction)", "brightness temperature",
        "South Carolina, USA", str(mtl.get("DATE_ACQUIRED")), lst, 900.0, ndvi,
        classify_ndvi(ndvi), "NDVI (TOA)",
        "band 10 BT with the MTL constants; BQA high-confidence cloud, shadow and cirrus masked; "
        "TIRS 100 m reduced to 900 m, so 900 m is the resolution limit",
    )


def _load_mendoza(root: Path) -> SensorField:
    d = root / "products" / "landsat8_mendoza_30m"
    stem = "LC82320832016040LGN00"
    bt = open_landsat_l1_bt(d / f"{stem}_band10.tif")
    sr = {b: _dn(d / f"{stem}_sr_band{b}.tif") * 1e-4 for b in ("4", "5")}
    ndvi = _like(bt, _ndvi(sr["4"], sr["5"]), name="ndvi", units="1",
                 long_name="NDVI of surface reflectance (x 1e-4)", source=str(d))
    lst, ndvi = _block(bt, 100.0), _block(ndvi, 100.0)
    return SensorField(
        "landsat8_mendoza", "Landsat 8 OLI/TIRS (pre-collection L1T)", "brightness temperature",
        "Mendoza, Argentina", str(read_mtl(d / f"{stem}_MTL.txt").get("DATE_ACQUIRED")), lst, 100.0,
        ndvi, classify_ndvi(ndvi), "NDVI (surface reflectance)",
        "band 10 BT with the MTL constants; TIRS 100 m resampled to 30 m, block-averaged 3 x 3 "
        "to 90 m; no QA band (scene cloud cover 6.7 %)",
    )


def _load_para(root: Path) -> SensorField:
    d = root / "products" / "landsat5_para_30m"
    mtl_path = next(d.glob("*_MTL.txt"))
    mtl = read_mtl(mtl_path)
    prefix = mtl_path.name[: -len("_MTL.txt")]
    bt = open_landsat_l1_bt(mtl_path)
    dn = {b: _dn(d / f"{prefix}_B{b}.TIF") for b in ("3", "4")}
    cal = {b: (mtl.float(f"RADIANCE_MULT_BAND_{b}"), mtl.float(f"RADIANCE_ADD_BAND_{b}")) for b in dn}
    v = _toa_ndvi_from_radiance(dn["3"], dn["4"], cal["3"], cal["4"], ESUN["TM"], "3", "4")
    ndvi = _like(bt, v, name="ndvi", units="1", long_name="NDVI of TOA reflectance (MTL radiance, "
                 "ESUN of Chander et al. 2009)", source=str(d))
    lst, ndvi = _block(bt, 120.0), _block(ndvi, 120.0)
    return SensorField(
        "landsat5_para", "Landsat 5 TM (L1T)", "brightness temperature", "Para, Brazil",
        str(mtl.get("DATE_ACQUIRED")), lst, 120.0, ndvi, classify_ndvi(ndvi), "NDVI (TOA)",
        "band 6 BT with the MTL rescaling and the K1/K2 of Chander et al. (2009); 8-bit DN "
        "(about 0.4 K steps); TM 120 m resampled to 30 m, block-averaged 4 x 4 to 120 m",
    )


def _load_pennsylvania(root: Path, month: str) -> SensorField:
    from scipy import ndimage

    d = root / "products" / "landsat7_pennsylvania_30m"
    date = {"july": "2002-07-20", "nov": "2002-11-25"}[month]
    bt = _etm_bt(d / f"{month}62.tif", "62", date)
    dn = {b: _dn(d / f"{month}{b}.tif") for b in ("1", "3", "4")}
    # clouds: saturated blue DN, dilated by one thermal pixel (2 pixels of 30 m)
    cloud = ndimage.binary_dilation(dn["1"] >= 255, iterations=2)
    v = _toa_ndvi_from_radiance(dn["3"], dn["4"], ETM_REFLECTIVE["3"], ETM_REFLECTIVE["4"],
                                ESUN["ETM+"], "3", "4")
    lst = bt.where(~cloud)
    ndvi = _like(bt, np.where(cloud, np.nan, v), name="ndvi", units="1",
                 long_name="NDVI of TOA reflectance (stated ETM+ rescaling, ESUN)", source=str(d))
    lst, ndvi = _block(lst, 60.0), _block(ndvi, 60.0)
    return SensorField(
        f"landsat7_pennsylvania_{month}", "Landsat 7 ETM+ (DN, no MTL)", "brightness temperature",
        "central Pennsylvania, USA", date, lst, 60.0, ndvi, classify_ndvi(ndvi), "NDVI (TOA)",
        "band 62 (high gain) BT with stated constants; CRS EPSG:32618 assumed by the data "
        "README; saturated-blue (cloud) pixels masked with a 60 m margin; ETM+ 60 m resampled to "
        "30 m, block-averaged 2 x 2 to 60 m",
    )


def _load_raleigh(root: Path) -> SensorField:
    d = root / "products" / "landsat7_raleigh_30m"
    lst = _etm_bt(d / "lsat7_2000_61.tif", "61", "2000")
    dn = {b: open_raster(d / f"lsat7_2000_{b}0.tif", units="1", scale=1.0, nodata=0) for b in "34"}
    red = (ETM_REFLECTIVE["3"][0] * dn["3"] + ETM_REFLECTIVE["3"][1]) / ESUN["ETM+"]["3"]
    nir = (ETM_REFLECTIVE["4"][0] * dn["4"] + ETM_REFLECTIVE["4"][1]) / ESUN["ETM+"]["4"]
    ndvi28 = red.copy(data=_ndvi(red.values, nir.values))
    ndvi = align(ndvi28, lst, resampling="average")
    ndvi.attrs = {"units": "1", "long_name": "NDVI of TOA reflectance (assumed ETM+ high-gain "
                  "rescaling), averaged onto the 57 m thermal grid", "source": str(d)}
    classes = classes_from_landcover(d / "landclass96.tif", LANDCLASS96, like=lst)
    return SensorField(
        "landsat7_raleigh", "Landsat 7 ETM+ (DN, no MTL)", "brightness temperature",
        "Raleigh / Wake County, North Carolina, USA", "2000 (day not distributed)", lst, 60.0,
        ndvi, classes, "landclass96.tif",
        "band 61 (low gain) BT with stated constants; NDVI with assumed high-gain rescaling "
        "(metadata not distributed); ETM+ 60 m delivered at 57 m",
    )


def _load_desirex(root: Path, res: int) -> SensorField:
    d = root / "airborne" / "desirex_madrid"
    lst = open_raster(d / f"LST_{res}m.img", kind="lst", units="K", crs="EPSG:32630")
    return SensorField(
        f"desirex_madrid_{res}m", "airborne AHS (DESIREX 2008)", "LST", "Madrid, Spain (urban)",
        "2008 (DESIREX campaign, June-July)", lst, float(res), None, None, "one class",
        "LST as distributed (K); header CRS corrupt, EPSG:32630 stated by the data README",
    )


def _load_grapex(root: Path, when: str) -> SensorField:
    d = root / "airborne" / "grapex_vineyard"
    lst = open_raster(d / f"ExampleImage_Trad_{when}.tif", kind="lst", units="K")
    return SensorField(
        f"grapex_vineyard_{when}", "airborne (GRAPEX)", "radiometric temperature",
        "vineyard near Lodi, California, USA", f"date not stated ({'morning' if when == 'am' else 'afternoon'})",
        lst, 3.6, None, None, "one class",
        "radiometric (directional brightness) temperature, not emissivity-corrected LST",
    )


def _load_c2l2(root: Path) -> SensorField:
    d = root / "products" / "landsat8_c2l2_amazonas_600m"
    mtl_path = next(d.glob("*_MTL.txt"))
    lst = open_landsat_c2l2(mtl_path)  # AllNaNError when the cloud mask leaves nothing
    ndvi = open_landsat_c2l2(mtl_path, variable="ndvi")
    return SensorField(
        "landsat8_c2l2_amazonas", "Landsat 8 OLI/TIRS (C2 L2SP, 600 m reduction)", "LST",
        "Amazonas, Brazil", str(lst.attrs.get("time", ""))[:10], lst, 600.0, ndvi,
        classify_ndvi(ndvi), "NDVI (surface reflectance)", "ST_B10 with QA_PIXEL cloud mask",
    )


#: Key -> (loader, the path under the data root that must exist).
FIELD_LOADERS: dict[str, tuple[Callable[[Path], SensorField], str]] = {
    "landsat8_c2l2_amazonas": (_load_c2l2, "products/landsat8_c2l2_amazonas_600m"),
    "landsat8_carolina": (_load_carolina, "products/landsat8_l1_carolina_900m"),
    "landsat8_mendoza": (_load_mendoza, "products/landsat8_mendoza_30m"),
    "landsat5_para": (_load_para, "products/landsat5_para_30m"),
    "landsat7_raleigh": (_load_raleigh, "products/landsat7_raleigh_30m"),
    "landsat7_pennsylvania_july": (lambda r: _load_pennsylvania(r, "july"),
                                   "products/landsat7_pennsylvania_30m/july62.tif"),
    "landsat7_pennsylvania_nov": (lambda r: _load_pennsylvania(r, "nov"),
                                  "products/landsat7_pennsylvania_30m/nov62.tif"),
    "desirex_madrid_20m": (lambda r: _load_desirex(r, 20), "airborne/desirex_madrid/LST_20m.img"),
    "desirex_madrid_100m": (lambda r: _load_desirex(r, 100), "airborne/desirex_madrid/LST_100m.img"),
    "grapex_vineyard_am": (lambda r: _load_grapex(r, "am"),
                           "airborne/grapex_vineyard/ExampleImage_Trad_am.tif"),
    "grapex_vineyard_pm": (lambda r: _load_grapex(r, "pm"),
                           "airborne/grapex_vineyard/ExampleImage_Trad_pm.tif"),
}
