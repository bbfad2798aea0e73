"""Correction laws across sensors: Landsat and airborne thermal fields against the ASTER law.

The laws of :mod:`scalelaws.laws` were fitted on ASTER only (231.65 m pixels). This module reads
every other thermal field of the shared data, fits one :class:`~scalelaws.laws.CorrectionLaw`
per field and landscape, and sets them side by side with the ASTER law where the scale ranges
overlap:

* the **local Hurst exponent** ``H(l) = zeta_2(l) / 2`` of the smooth law at common dyadic
  scales :data:`SCALES_M` (only inside each law's fitted range: nothing is extrapolated), with
  its bootstrap interval, and the raw **per-octave** exponents between lags ``l/2`` and ``l``;
* the **detail-energy ratio** of the 1 km -> 250 m band to the 4 km -> 1 km band (and its
  correction relative to scale invariance), only where the field's detail range covers both
  bands (within :data:`EDGE_TOL` of its ends);
* the **LST-NDVI slope** of block means across block sizes, where red / NIR bands exist.

Fields (:func:`load_fields`; every one is labelled with what it measures):

========================  ==========================  =========  =========  ===================
key                       quantity                    pixel      thermal    landscapes
========================  ==========================  =========  =========  ===================
landsat8_carolina         brightness temperature      900 m      900 m [1]  TOA NDVI classes
landsat8_mendoza          brightness temperature      30 m       100 m      SR NDVI classes
landsat5_para             brightness temperature      30 m       120 m      TOA NDVI classes
landsat7_raleigh          brightness temperature      57 m       60 m       landclass96.tif
landsat7_pennsylvania_*   brightness temperature      30 m       60 m       TOA NDVI classes
desirex_madrid_20m/100m   LST (airborne)              20/100 m   same       one class
grapex_vineyard_am/pm     radiometric temperature     3.6 m      same       one class
landsat8_c2l2_amazonas    LST (Collection 2 L2)       600 m      600 m      excluded [2]
========================  ==========================  =========  =========  ===================

[1] a 900 m reduction of the 100 m TIRS band; the reduced pixel is the resolution limit.
[2] 99.94 % cloud (MTL): after the QA_PIXEL cloud mask fewer pixels remain than a law needs.

Landsat thermal bands are delivered resampled to 30 m (57 m for the Raleigh ETM+ crop) from a
60 m (ETM+), 100 m (TIRS) or 120 m (TM) detector footprint: their 30 m pixels carry no
independent information below the thermal pixel. Such fields are block-averaged
(:func:`scalelaws.grids.coarsen`) by the integer factor nearest to the thermal pixel before
fitting, and every law spans lags from **two analysis pixels** (about twice the thermal pixel)
to **a quarter of the field's shorter side**.

Calibration: Level-1 thermal bands give at-sensor brightness temperature, not LST (no
emissivity, no atmospheric correction); crops with an MTL use its constants
(:func:`scalelaws.io.open_landsat_l1_bt`), the Landsat 7 crops without MTL use stated
constants (:data:`ETM_THERMAL`, :data:`ETM_REFLECTIVE`, :data:`ESUN`; Chander, Markham &
Helder 2009, Remote Sens. Environ. 113, 893-903, and the scene metadata quoted by the R
package ``landsat``). NDVI is computed from top-of-atmosphere reflectance (the sun-elevation
and Earth-Sun-distance factors cancel in the ratio), or from the surface reflectance of the
Mendoza crop.

Intervals: the ASTER law has 40 scenes and a bootstrap over scenes; every other field is one
scene, so its interval comes from a bootstrap over spatial tiles, which is too narrow for a
single long-range-correlated field (see docs/laws.md): read single-field intervals as lower
bounds of the uncertainty. The difference to ASTER gets an approximate interval from the two
half-widths added in quadrature (independent bootstraps); ``agrees`` is 1 when it contains 0.

Command: ``scalelaws benchmark sensors -o DIR`` (see :func:`run_sensors`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from scalelaws.errors import AllNaNError, InputError, ScaleRangeError
from scalelaws.grids import align, coarsen, pixel_size
from scalelaws.io import (
    list_modis_aster_pairs,
    open_landsat_c2l2,
    open_landsat_dn_bt,
    open_landsat_l1_bt,
    open_modis_aster_pair,
    open_raster,
    read_mtl,
)
from scalelaws.io.generic import read_band
from scalelaws.io.landsat import THERMAL_CONSTANTS
from scalelaws.landscapes import classes_from_landcover, classify_ndvi
from scalelaws.laws import CorrectionLaw

__all__ = [
    "SCALES_M",
    "SensorField",
    "FIELD_LOADERS",
    "load_fields",
    "CONTROLS",
    "control_fields",
    "fit_field_law",
    "fit_aster_law",
    "realisation_spread",
    "compare_laws",
    "markdown_table",
    "to_csv",
    "run_sensors",
]

log = logging.getLogger(__name__)

#: Common evaluation scales (m): dyadic around 250 m, 7.8 m to 16 km.
SCALES_M: tuple[float, ...] = tuple(250.0 * 2.0**k for k in range(-5, 7))
#: The SR bands of the detail-energy ratio, (coarse_m, fine_m).
COARSE_BAND, FINE_BAND = (4000.0, 1000.0), (1000.0, 250.0)
#: Relative tolerance on the ends of a law's detail range before a band counts as outside.
EDGE_TOL = 0.10
#: Name of the reference law.
REFERENCE = "aster_250m"

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


# --------------------------------------------------------------------------------------------
# readers of the shared fields
# --------------------------------------------------------------------------------------------
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


def _etm_bt(path: Path, band: str, time: str | None) -> xr.DataArray:
    k1, k2 = THERMAL_CONSTANTS["LANDSAT_7"]["6"]
    gain, bias = ETM_THERMAL[band]
    return open_landsat_dn_bt(
        path, gain=gain, bias=bias, k1=k1, k2=k2, sensor="Landsat 7 ETM+", band=band, time=time,
        calibration=f"stated constants: LPGS band {band} gain {gain:.6f} bias {bias:.4f}, "
                    f"K1 {k1} K2 {k2} (Chander et al. 2009)",
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

#: Fewest valid pixels a field needs for a law.
MIN_PIXELS = 400
#: Fewest valid pixels of a landscape (other than ``all``) reported by :func:`compare_laws`.
MIN_LANDSCAPE_PIXELS = 1000

#: Controls: a field degraded within the data to a coarser pixel, to separate the effect of the
#: pixel (aggregation, PSF) from that of the surface. Key -> (base key, method of
#: :func:`scalelaws.grids.degrade`, factor). ``landsat7_raleigh`` x 4 gives 228 m, the pixel
#: of the ASTER fields; ``desirex_madrid_20m`` x 5 gives the 100 m of the DESIREX 100 m product.
CONTROLS: dict[str, tuple[str, str, int]] = {
    "desirex_madrid_20m_mean100m": ("desirex_madrid_20m", "mean", 5),
    "desirex_madrid_20m_psf100m": ("desirex_madrid_20m", "psf", 5),
    "landsat7_raleigh_mean228m": ("landsat7_raleigh", "mean", 4),
    "landsat7_raleigh_psf228m": ("landsat7_raleigh", "psf", 4),
}


def control_fields(fields: Sequence[SensorField]) -> list[SensorField]:
    """Degraded copies of the fields named in :data:`CONTROLS` (one class, no NDVI).

    ``mean`` is the block mean (:func:`scalelaws.grids.coarsen`), ``psf`` a Gaussian PSF whose
    MTF at the coarse Nyquist frequency is 0.3 followed by decimation
    (:func:`scalelaws.grids.psf_degrade`).
    """
    from scalelaws.grids import degrade

    by = {f.key: f for f in fields}
    out = []
    for key, (base, method, factor) in CONTROLS.items():
        if base not in by:
            continue
        b = by[base]
        lst = degrade(b.lst, factor, method=method)
        px = pixel_size(lst)
        out.append(SensorField(
            key, f"control: {b.key} degraded x{factor} ({method})", b.quantity, b.region, b.date,
            lst, px, None, None, "one class",
            f"{b.key} degraded by {factor} with scalelaws.grids.degrade(method={method!r}) to "
            f"{px:.4g} m: same surface, coarser pixel",
        ))
    return out


def load_fields(
    root: str | Path | None = None, keys: Sequence[str] | None = None
) -> tuple[list[SensorField], dict[str, str]]:
    """Read the shared thermal fields.

    Parameters
    ----------
    root
        Data root (default :func:`scalelaws.config.data_dir`).
    keys
        Subset of :data:`FIELD_LOADERS` (default all).

    Returns
    -------
    fields
        The fields that could be read and hold at least :data:`MIN_PIXELS` valid pixels.
    excluded
        Key -> reason for each field left out (absent, empty after masking, ...).

    """
    from scalelaws.config import data_dir

    root = Path(root) if root is not None else data_dir()
    keys = list(keys) if keys else list(FIELD_LOADERS)
    unknown = [k for k in keys if k not in FIELD_LOADERS]
    if unknown:
        raise InputError(f"unknown field(s) {unknown}; known: {list(FIELD_LOADERS)}")
    fields: list[SensorField] = []
    excluded: dict[str, str] = {}
    for k in keys:
        loader, rel = FIELD_LOADERS[k]
        if not (root / rel).exists():
            excluded[k] = f"absent ({rel} not under {root})"
            continue
        try:
            f = loader(root)
        except AllNaNError as exc:
            excluded[k] = f"no valid pixel after masking ({exc.problem})"
            continue
        n = int(np.isfinite(f.lst.values).sum())
        if n < MIN_PIXELS:
            excluded[k] = f"{n} valid pixels after masking (< {MIN_PIXELS})"
            continue
        fields.append(f)
        log.info("%s: %s %s, %s px at %.1f m, %d valid", k, f.platform, f.quantity, f.lst.shape,
                 pixel_size(f.lst), n)
    return fields, excluded


# --------------------------------------------------------------------------------------------
# fits
# --------------------------------------------------------------------------------------------
def fit_field_law(
    f: SensorField, *, n_boot: int = 200, seed: int = 0, q: Sequence[float] = (2.0,)
) -> CorrectionLaw:
    """Fit a law on one field, from two analysis pixels to a quarter of the shorter side.

    The bootstrap is over spatial tiles of about a quarter of the shorter side (8-64 pixels),
    so that every field has at least 16 tiles.

    Raises
    ------
    ScaleRangeError
        The field is too small for 3 lags in the range.

    """
    px = pixel_size(f.lst)
    short = min(f.lst.shape)
    lo, hi = 2.0 * px, (short // 4) * px
    if hi <= lo:
        raise ScaleRangeError(f"{f.key}: field of {short} px is too small for a law")
    block = int(min(64, max(8, short // 4)))
    return CorrectionLaw.fit(
        [f.lst], ndvi=None if f.ndvi is None else [f.ndvi],
        classes=None if f.classes is None else [f.classes], q=q, scales_m=(lo, hi),
        n_boot=n_boot, rng=seed, block_px=block, bootstrap="tile",
        sources=[str(f.lst.attrs.get("source", f.key))],
    )


def realisation_spread(
    lst: xr.DataArray | Sequence[xr.DataArray],
    law: CorrectionLaw,
    *,
    classes: Any = None,
    n: int = 20,
    seed: int = 0,
    scales_m: Sequence[float] = SCALES_M,
) -> xr.DataArray:
    """Estimate the standard deviation of ``H_local`` between realisations from fBm surrogates.

    A tile bootstrap of one field misses most of the sampling variance of long-range
    correlated fields (docs/laws.md). This parametric estimate draws ``n`` exact fBm fields
    (:func:`scalelaws.synthetic.fbm`) with the shape, pixel and missing-data mask of each scene
    and with ``H`` = the law's mean local exponent (landscape ``all``, clipped to 0.05-0.95),
    refits the law with the same scale range, tiles and landscapes (no bootstrap) and returns the
    spread of the smooth local exponent. Real fields, non-Gaussian and non-stationary, vary
    more: read it as a lower bound.

    Parameters
    ----------
    lst
        The scene(s) the law was fitted on.
    law
        The fitted law.
    classes
        The landscapes the law was fitted with (labels per scene), or ``None``.
    n
        Number of surrogates (>= 2).
    seed
        Seed of the surrogates.
    scales_m
        Scales (m) of the spread.

    Returns
    -------
    xarray.DataArray
        ``(landscape, scale_m)``, NaN outside the law's range.

    """
    from scalelaws.synthetic import fbm

    if n < 2:
        raise InputError(f"realisation_spread needs n >= 2 surrogates, got {n}")
    scenes = [lst] if isinstance(lst, xr.DataArray) else list(lst)
    s = np.asarray(scales_m, dtype=np.float64)
    lo, hi = (float(v) for v in law.ds.attrs["scale_range_m"])
    inside = _in_range(s, lo, hi)
    names = list(law.landscapes)
    vals = np.full((n, len(names), s.size), np.nan)
    if inside.any():
        h = law.local_exponent(s[inside], q=2, landscape="all" if "all" in names else None)
        H = float(np.clip(np.nanmean(h["value"].values) / 2, 0.05, 0.95))
        rng = np.random.default_rng(seed)
        for i in range(n):
            sur = [sc.copy(data=np.where(np.isfinite(sc.values), fbm(sc.shape, H, rng=rng), np.nan)
                           .astype(np.float32)) for sc in scenes]
            try:
                lw = CorrectionLaw.fit(sur, classes=classes, q=(2.0,), scales_m=(lo, hi), n_boot=0,
                                       block_px=int(law.ds.attrs["block_px"]))
            except ScaleRangeError:
                continue
            for j, ls in enumerate(names):
                if ls in lw.landscapes:
                    vals[i, j, inside] = lw.local_exponent(s[inside], q=2, landscape=ls)["value"].values / 2
    enough = np.isfinite(vals).sum(0) >= 2
    sd = np.full(vals.shape[1:], np.nan)
    if enough.any():
        sd[enough] = np.nanstd(vals[:, enough], axis=0, ddof=1)
    return xr.DataArray(
        sd, dims=("landscape", "scale_m"), coords={"landscape": names, "scale_m": s},
        attrs={"long_name": "standard deviation of H_local between fBm surrogates", "units": "1",
               "n_surrogates": int(n)},
    )


def fit_aster_law(
    root: str | Path | None = None, *, n_boot: int = 200, seed: int = 0,
    pairs: Sequence[int] | None = None, q: Sequence[float] = (2.0,),
) -> CorrectionLaw:
    """Fit the ASTER law of ``docs/make_laws_example.py`` (the 40 ASTER 250 m fields, NDVI classes).

    MODIS 250 m NDVI is re-projected bilinearly onto each ASTER grid; default scale range (one
    pixel to a fifth of the smallest field); bootstrap over scenes.
    """
    pair_root = None if root is None else Path(root) / "modis_aster" / "pairs"
    ids = list(pairs) if pairs else list_modis_aster_pairs(pair_root)
    lst, ndvi = [], []
    for pid in ids:
        pair = open_modis_aster_pair(pid, pair_root)
        lst.append(pair.aster_250m)
        ndvi.append(align(pair.ndvi_250m, pair.aster_250m, resampling="bilinear"))
    return CorrectionLaw.fit(
        lst, ndvi=ndvi, classes="ndvi", q=q, n_boot=n_boot, rng=seed,
        sources=[f"modis_aster pair {pid} aster_lst_250m.tif" for pid in ids],
    )


# --------------------------------------------------------------------------------------------
# comparison
# --------------------------------------------------------------------------------------------
@dataclass
class LawEntry:
    """A fitted law and the description of its field (the ``meta`` keys become variables)."""

    key: str
    law: CorrectionLaw
    meta: dict[str, Any]


def _entry_from_field(f: SensorField, law: CorrectionLaw) -> LawEntry:
    return LawEntry(f.key, law, {
        "platform": f.platform, "quantity": f.quantity, "region": f.region, "date": f.date,
        "class_source": f.class_source, "thermal_pixel_m": f.thermal_pixel_m, "note": f.note,
    })


def _in_range(s: np.ndarray, lo: float, hi: float, tol: float = 1e-3) -> np.ndarray:
    return (s >= lo * (1 - tol)) & (s <= hi * (1 + tol))


def compare_laws(
    entries: Sequence[LawEntry], *, reference: str | None = REFERENCE,
    scales_m: Sequence[float] = SCALES_M, title: str = "local exponents across sensors",
    min_pixels: int = MIN_LANDSCAPE_PIXELS,
    spread: dict[str, xr.DataArray] | None = None,
) -> xr.Dataset:
    """Side-by-side statistics of several laws (one row per law and landscape).

    Parameters
    ----------
    entries
        Fitted laws with their metadata; ``meta`` strings / numbers become per-row variables.
    reference
        Key of the reference entry (the ASTER law): each row is compared with the reference's
        row of the same landscape, or its ``all`` row. ``None``: no comparison.
    scales_m
        Common scales (m) of the local exponents and LST-NDVI slopes.
    title
        Global ``title``.
    min_pixels
        Landscapes other than ``all`` with fewer valid pixels are left out (listed in the
        ``skipped_landscapes`` attribute).
    spread
        Entry key -> :func:`realisation_spread` of its law. The total interval
        ``H_local_ci_total`` widens the bootstrap interval by ``1.96 sd`` (half-widths in
        quadrature); entries without a spread keep their bootstrap interval (right for a
        bootstrap over many scenes). The comparison with the reference uses the total intervals.

    Returns
    -------
    xarray.Dataset
        dims ``law`` (``key/landscape``), ``scale_m``, ``octave``, ``bound``; variables
        ``H_local``, ``H_local_ci`` (NaN outside the law's fitted range), ``H_octave``,
        ``H_octave_ci``, ``octave_lo_m``, ``octave_hi_m``, ``detail_ratio``,
        ``detail_ratio_ci``, ``detail_correction``, ``detail_correction_ci``,
        ``lst_ndvi_slope``, ``lst_ndvi_slope_ci``, ``lst_ndvi_corr``, ``dH_reference``,
        ``dH_reference_ci``, ``agrees`` and per-row descriptions.

    """
    s = np.asarray(scales_m, dtype=np.float64)
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    for e in entries:
        lo, hi = (float(v) for v in e.law.ds.attrs["scale_range_m"])
        dlo, dhi = (float(v) for v in e.law.ds.attrs["detail_range_m"])
        pix = float(e.law.ds.attrs.get("pixel_size_m", e.law.ds["scale_m"].values.min()))
        has_ndvi = "lst_ndvi_slope_block" in e.law.ds
        for ls in e.law.landscapes:
            npx = float(e.law.ds["n_pixels"].sel(landscape=ls))
            if ls != "all" and not npx >= min_pixels:
                skipped.append(f"{e.key}/{ls} ({npx:.0f} px)")
                continue
            le = e.law.local_exponent(s, q=2, landscape=ls)
            inside = _in_range(s, lo, hi)
            H = np.where(inside, le["value"].values / 2, np.nan)
            Hci = np.where(inside[:, None],
                           np.stack([le["lower"].values, le["upper"].values], -1) / 2, np.nan)
            zo = e.law.ds["zeta_octave"].sel(landscape=ls, q=2.0).values / 2
            zoc = e.law.ds["zeta_octave_ci"].sel(landscape=ls, q=2.0).values / 2
            bm = e.law.ds["block_m"].values
            ok = _in_range(bm / 2, lo, hi) & _in_range(bm, lo, hi) & np.isfinite(zo)
            bands = np.concatenate([CorrectionLaw.band_parents(COARSE_BAND),
                                    CorrectionLaw.band_parents(FINE_BAND)])
            det = {"law": np.nan, "law_ci": (np.nan, np.nan), "correction": np.nan,
                   "correction_ci": (np.nan, np.nan)}
            if np.all(_in_range(bands, dlo, dhi, EDGE_TOL)) and np.isfinite(npx) and npx > 0:
                det = e.law.detail_energy_ratio(COARSE_BAND, FINE_BAND, landscape=ls)
            sl = sc = np.full(s.size, np.nan)
            slc = np.full((s.size, 2), np.nan)
            if has_ndvi:
                rel = e.law.lst_ndvi(s, landscape=ls)
                sl, slc, sc = rel["slope"], rel["slope_ci"], rel["corr"]
            sd = np.zeros(s.size)
            if spread is not None and e.key in spread and ls in spread[e.key]["landscape"].values:
                sd = np.nan_to_num(spread[e.key].sel(landscape=ls).sel(scale_m=s).values, nan=0.0)
            hw = np.sqrt(((Hci[:, 1] - Hci[:, 0]) / 2) ** 2 + (1.96 * sd) ** 2)
            Htot = np.stack([H - hw, H + hw], -1)
            rows.append({
                "key": e.key, "landscape": str(ls), "H": H, "Hci": Hci, "sd": np.where(inside, sd, np.nan),
                "Htot": Htot, "Ho": zo[ok],
                "Hoc": zoc[ok], "olo": bm[ok] / 2, "ohi": bm[ok], "det": det, "sl": sl, "slc": slc,
                "sc": sc, "lo": lo, "hi": hi, "pix": pix, "npx": npx, "meta": e.meta,
                "unit": str(e.law.ds.attrs.get("bootstrap_unit", "")),
                "nboot": int(e.law.ds.sizes.get("replicate", 0)),
            })
    if not rows:
        raise InputError("no law to compare")
    n, m = len(rows), s.size
    no = max(1, max(r["Ho"].size for r in rows))

    def pad(v: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        out = np.full(shape, np.nan)
        out[: v.shape[0]] = v
        return out

    H = np.stack([r["H"] for r in rows])
    Hci = np.stack([r["Hci"] for r in rows])
    Htot = np.stack([r["Htot"] for r in rows])
    dH = np.full((n, m), np.nan)
    dHci = np.full((n, m, 2), np.nan)
    ref_row = np.full(n, "", dtype=object)
    if reference is not None:
        refs = {r["landscape"]: i for i, r in enumerate(rows) if r["key"] == reference}
        for i, r in enumerate(rows):
            if r["key"] == reference or not refs:
                continue
            j = refs.get(r["landscape"], refs.get("all"))
            if j is None:
                continue
            ref_row[i] = f"{reference}/{rows[j]['landscape']}"
            dH[i] = H[i] - H[j]
            hw = np.sqrt(((Htot[i, :, 1] - Htot[i, :, 0]) / 2) ** 2 + ((Htot[j, :, 1] - Htot[j, :, 0]) / 2) ** 2)
            dHci[i] = np.stack([dH[i] - hw, dH[i] + hw], -1)
    agrees = np.where(np.isfinite(dH), ((dHci[..., 0] <= 0) & (dHci[..., 1] >= 0)).astype(np.int8), -1)
    meta_keys = sorted({k for r in rows for k in r["meta"]})
    data: dict[str, Any] = {
        "H_local": (("law", "scale_m"), H, {"long_name": "local Hurst exponent zeta_2(l)/2 of the smooth law (NaN outside the fitted range)", "units": "1"}),
        "H_local_ci": (("law", "scale_m", "bound"), Hci, {"long_name": "95 % bootstrap interval of H_local", "units": "1"}),
        "H_local_sd_realisation": (("law", "scale_m"), np.stack([r["sd"] for r in rows]), {"long_name": "standard deviation of H_local between fBm surrogates of the field (0: not estimated)", "units": "1"}),
        "H_local_ci_total": (("law", "scale_m", "bound"), Htot, {"long_name": "H_local +- sqrt(bootstrap half-width^2 + (1.96 sd_realisation)^2)", "units": "1"}),
        "H_octave": (("law", "octave"), np.stack([pad(r["Ho"], (no,)) for r in rows]), {"long_name": "Hurst exponent between lags octave_lo_m and octave_hi_m", "units": "1"}),
        "H_octave_ci": (("law", "octave", "bound"), np.stack([pad(r["Hoc"], (no, 2)) for r in rows]), {"long_name": "95 % bootstrap interval of H_octave", "units": "1"}),
        "octave_lo_m": (("law", "octave"), np.stack([pad(r["olo"], (no,)) for r in rows]), {"long_name": "smaller lag of the octave", "units": "m"}),
        "octave_hi_m": (("law", "octave"), np.stack([pad(r["ohi"], (no,)) for r in rows]), {"long_name": "larger lag of the octave", "units": "m"}),
        "detail_ratio": ("law", np.array([r["det"]["law"] for r in rows]), {"long_name": "detail energy of the 1 km -> 250 m band / the 4 km -> 1 km band (law); NaN where the field does not cover both bands", "units": "1"}),
        "detail_ratio_ci": (("law", "bound"), np.array([r["det"]["law_ci"] for r in rows]), {"long_name": "95 % bootstrap interval of detail_ratio", "units": "1"}),
        "detail_correction": ("law", np.array([r["det"]["correction"] for r in rows]), {"long_name": "detail_ratio / its scale-invariant extrapolation", "units": "1"}),
        "detail_correction_ci": (("law", "bound"), np.array([r["det"]["correction_ci"] for r in rows]), {"long_name": "95 % bootstrap interval of detail_correction", "units": "1"}),
        "lst_ndvi_slope": (("law", "scale_m"), np.stack([r["sl"] for r in rows]), {"long_name": "OLS slope of temperature on NDVI of block means (block size scale_m)", "units": "K"}),
        "lst_ndvi_slope_ci": (("law", "scale_m", "bound"), np.stack([r["slc"] for r in rows]), {"long_name": "95 % bootstrap interval of lst_ndvi_slope", "units": "K"}),
        "lst_ndvi_corr": (("law", "scale_m"), np.stack([r["sc"] for r in rows]), {"long_name": "correlation of temperature and NDVI block means", "units": "1"}),
        "dH_reference": (("law", "scale_m"), dH, {"long_name": "H_local minus H_local of the reference row", "units": "1"}),
        "dH_reference_ci": (("law", "scale_m", "bound"), dHci, {"long_name": "approximate 95 % interval of dH_reference (total half-widths in quadrature)", "units": "1"}),
        "agrees": (("law", "scale_m"), agrees, {"long_name": "1: dH_reference interval contains 0, 0: it does not, -1: no overlap of ranges", "units": "1"}),
        "reference_row": ("law", ref_row.astype(str), {"long_name": "row of the reference law compared with"}),
        "sensor_key": ("law", np.array([r["key"] for r in rows]), {"long_name": "field / law key"}),
        "landscape": ("law", np.array([r["landscape"] for r in rows]), {"long_name": "landscape"}),
        "scale_lo_m": ("law", np.array([r["lo"] for r in rows]), {"long_name": "smallest lag of the fit", "units": "m"}),
        "scale_hi_m": ("law", np.array([r["hi"] for r in rows]), {"long_name": "largest lag of the fit", "units": "m"}),
        "pixel_m": ("law", np.array([r["pix"] for r in rows]), {"long_name": "analysis pixel", "units": "m"}),
        "n_pixels": ("law", np.array([r["npx"] for r in rows]), {"long_name": "valid pixels of the landscape", "units": "1"}),
        "bootstrap_unit": ("law", np.array([r["unit"] for r in rows]), {"long_name": "resampling unit of the intervals (scene or tile)"}),
        "n_boot": ("law", np.array([r["nboot"] for r in rows]), {"long_name": "bootstrap replicates", "units": "1"}),
    }
    for k in meta_keys:
        vals = [r["meta"].get(k, "") for r in rows]
        if all(isinstance(v, (int, float)) for v in vals):
            data[k] = ("law", np.array(vals, dtype=np.float64),
                       {"units": "m" if k.endswith("_m") else "1", "long_name": k.replace("_", " ")})
        else:
            data[k] = ("law", np.array([str(v) for v in vals]), {"long_name": k.replace("_", " ")})
    ds = xr.Dataset(
        data,
        coords={
            "law": ("law", [f"{r['key']}/{r['landscape']}" for r in rows], {"long_name": "field key / landscape"}),
            "scale_m": ("scale_m", s, {"long_name": "scale (lag, or block size for lst_ndvi_*)", "units": "m"}),
            "octave": ("octave", np.arange(no), {"long_name": "octave index within each law's range", "units": "1"}),
            "bound": ["lower", "upper"],
        },
    )
    ds.attrs.update(
        title=title, Conventions="CF-1.8", reference=reference or "",
        coarse_band_m=list(COARSE_BAND), fine_band_m=list(FINE_BAND), edge_tolerance=EDGE_TOL,
        skipped_landscapes="; ".join(skipped) or "none", min_landscape_pixels=int(min_pixels),
        date_created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    return ds


# --------------------------------------------------------------------------------------------
# reports
# --------------------------------------------------------------------------------------------
def _cell(v: float, ci: Sequence[float], nd: int = 2) -> str:
    if not np.isfinite(v):
        return ""
    lo, hi = (float(c) for c in ci)
    if np.isfinite(lo) and np.isfinite(hi):
        return f"{v:.{nd}f} [{lo:.{nd}f}, {hi:.{nd}f}]"
    return f"{v:.{nd}f}"


def _fmt_m(v: float) -> str:
    return f"{v / 1000:.3g} km" if v >= 1000 else f"{v:.3g} m"


def markdown_table(ds: xr.Dataset) -> str:
    """Markdown report of :func:`compare_laws`: fields, local H, differences, bands, NDVI."""
    laws = [str(v) for v in ds["law"].values]
    s = ds["scale_m"].values
    used = [k for k in range(s.size) if np.isfinite(ds["H_local"].values[:, k]).any()]
    lines = ["Fields (one law per field and landscape; pixel = analysis pixel after block-averaging "
             "to the thermal pixel; range = lags of the fit):", "",
             "| law | quantity | platform | region | date | pixel | thermal pixel | range | pixels | CI unit |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for i, name in enumerate(laws):
        g = {k: ds[k].values[i] for k in ("quantity", "platform", "region", "date") if k in ds}
        lines.append(
            f"| {name} | {g.get('quantity', '')} | {g.get('platform', '')} | {g.get('region', '')} | "
            f"{g.get('date', '')} | {ds['pixel_m'].values[i]:.4g} m | "
            + (f"{ds['thermal_pixel_m'].values[i]:.4g} m | " if "thermal_pixel_m" in ds else " | ") +
            f"{_fmt_m(ds['scale_lo_m'].values[i])}-{_fmt_m(ds['scale_hi_m'].values[i])} | "
            f"{int(ds['n_pixels'].values[i])} | {ds['bootstrap_unit'].values[i]} |")
    lines += ["", "Local Hurst exponent H(l) = zeta_2(l)/2 of the smooth law at common scales "
              "[95 % interval: bootstrap widened by the fBm-surrogate spread for single fields]; "
              "empty outside the law's fitted range:", "",
              "| law | " + " | ".join(_fmt_m(s[k]) for k in used) + " |",
              "|---|" + "---|" * len(used)]
    for i, name in enumerate(laws):
        cells = [_cell(ds["H_local"].values[i, k], ds["H_local_ci_total"].values[i, k]) for k in used]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    ref = ds.attrs.get("reference", "")
    if ref and np.isfinite(ds["dH_reference"].values).any():
        lines += ["", f"Difference to the {ref} law where the ranges overlap (H - H_ref "
                  "[approximate 95 % interval]; * = interval excludes 0):", "",
                  "| law | vs | " + " | ".join(_fmt_m(s[k]) for k in used) + " |",
                  "|---|---|" + "---|" * len(used)]
        for i, name in enumerate(laws):
            if not np.isfinite(ds["dH_reference"].values[i]).any():
                continue
            cells = []
            for k in used:
                c = _cell(ds["dH_reference"].values[i, k], ds["dH_reference_ci"].values[i, k])
                cells.append(c + ("*" if c and ds["agrees"].values[i, k] == 0 else ""))
            lines.append(f"| {name} | {ds['reference_row'].values[i]} | " + " | ".join(cells) + " |")
    lines += ["", "Per-octave H (raw slope between lags l/2 and l), each law on its own grid:", "",
              "| law | octaves: lags (m) H [95 %] |", "|---|---|"]
    for i, name in enumerate(laws):
        parts = []
        for o in range(ds.sizes["octave"]):
            v = ds["H_octave"].values[i, o]
            if np.isfinite(v):
                parts.append(f"{ds['octave_lo_m'].values[i, o]:.4g}-{ds['octave_hi_m'].values[i, o]:.4g}: "
                             + _cell(v, ds["H_octave_ci"].values[i, o]))
        lines.append(f"| {name} | " + "; ".join(parts) + " |")
    det = np.isfinite(ds["detail_ratio"].values)
    lines += ["", "Detail energy of the 1 km -> 250 m band relative to the 4 km -> 1 km band "
              "(only fields whose detail range covers 250 m-4 km within "
              f"{ds.attrs.get('edge_tolerance', EDGE_TOL):.0%}):", ""]
    if det.any():
        lines += ["| law | ratio (law) | correction (law / scale invariance) |", "|---|---|---|"]
        for i in np.flatnonzero(det):
            lines.append(f"| {laws[i]} | {_cell(ds['detail_ratio'].values[i], ds['detail_ratio_ci'].values[i], 3)} | "
                         f"{_cell(ds['detail_correction'].values[i], ds['detail_correction_ci'].values[i], 3)} |")
    else:
        lines.append("(no field covers both bands)")
    sl = ds["lst_ndvi_slope"].values
    used_b = [k for k in range(s.size) if np.isfinite(sl[:, k]).any()]
    if used_b:
        lines += ["", "Slope of temperature on NDVI of block means (K per NDVI unit) [95 %], by block size:", "",
                  "| law | " + " | ".join(_fmt_m(s[k]) for k in used_b) + " |", "|---|" + "---|" * len(used_b)]
        for i, name in enumerate(laws):
            if not np.isfinite(sl[i]).any():
                continue
            cells = [_cell(sl[i, k], ds["lst_ndvi_slope_ci"].values[i, k], 1) for k in used_b]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_csv(ds: xr.Dataset, path: str | Path) -> Path:
    """Long-format CSV: one line per law and common scale with a value."""
    import csv

    path = Path(path)
    cols = ["law", "sensor_key", "landscape", "quantity", "scale_m", "H_local", "H_lower", "H_upper",
            "H_sd_realisation", "H_total_lower", "H_total_upper",
            "reference_row", "dH_reference", "dH_lower", "dH_upper", "agrees", "lst_ndvi_slope_K",
            "lst_ndvi_slope_lower", "lst_ndvi_slope_upper", "lst_ndvi_corr", "detail_ratio",
            "detail_correction"]
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for i, name in enumerate(ds["law"].values):
            for k, sm in enumerate(ds["scale_m"].values):
                h = ds["H_local"].values[i, k]
                sl = ds["lst_ndvi_slope"].values[i, k]
                if not (np.isfinite(h) or np.isfinite(sl)):
                    continue
                w.writerow([
                    name, ds["sensor_key"].values[i], ds["landscape"].values[i],
                    ds["quantity"].values[i] if "quantity" in ds else "", f"{sm:g}",
                    *(f"{v:.4f}" for v in (h, *ds["H_local_ci"].values[i, k])),
                    *(f"{v:.4f}" for v in (ds["H_local_sd_realisation"].values[i, k], *ds["H_local_ci_total"].values[i, k])),
                    ds["reference_row"].values[i],
                    *(f"{v:.4f}" for v in (ds["dH_reference"].values[i, k], *ds["dH_reference_ci"].values[i, k])),
                    int(ds["agrees"].values[i, k]),
                    *(f"{v:.3f}" for v in (sl, *ds["lst_ndvi_slope_ci"].values[i, k], ds["lst_ndvi_corr"].values[i, k])),
                    f"{ds['detail_ratio'].values[i]:.4f}", f"{ds['detail_correction'].values[i]:.4f}",
                ])
    return path


def run_sensors(
    out: str | Path,
    *,
    root: str | Path | None = None,
    keys: Sequence[str] | None = None,
    aster: bool = True,
    aster_pairs: Sequence[int] | None = None,
    controls: bool = True,
    n_surrogates: int = 20,
    n_boot: int = 200,
    seed: int = 0,
    command: str = "",
) -> xr.Dataset:
    """Read the fields, fit the laws, compare them with the ASTER law and write the results.

    Writes ``OUT/sensors.nc`` (the Dataset of :func:`compare_laws`), ``OUT/sensors.csv`` and
    ``OUT/sensors.md`` (the :func:`markdown_table`, with the excluded fields).

    Parameters
    ----------
    out
        Output folder.
    root
        Data root (default :func:`scalelaws.config.data_dir`).
    keys
        Subset of :data:`FIELD_LOADERS`.
    aster
        Fit the ASTER reference law (needs ``modis_aster/pairs`` under ``root``).
    aster_pairs
        Pair ids of the ASTER law (default all).
    controls
        Add the degraded copies of :data:`CONTROLS` (when their base field is read).
    n_surrogates
        fBm surrogates per single-field law for :func:`realisation_spread` (0: bootstrap
        intervals only).
    n_boot, seed
        Bootstrap replicates and seed of every law.
    command
        The command line recorded in ``history``.

    Returns
    -------
    xarray.Dataset

    """
    from scalelaws.config import data_dir

    t0 = time.perf_counter()
    root = Path(root) if root is not None else data_dir()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fields, excluded = load_fields(root, keys)
    if controls:
        fields += control_fields(fields)
    entries: list[LawEntry] = []
    spread: dict[str, xr.DataArray] = {}
    if aster:
        if (root / "modis_aster" / "pairs").is_dir():
            law = fit_aster_law(root, n_boot=n_boot, seed=seed, pairs=aster_pairs)
            entries.append(LawEntry(REFERENCE, law, {
                "platform": "Terra ASTER (MODIS-ASTER pairs)", "quantity": "LST",
                "region": "tile h18v04, Western/Central Europe", "date": "40 scenes",
                "class_source": "NDVI (MODIS 250 m)", "thermal_pixel_m": 231.65,
                "note": "the reference law of docs/laws.md"}))
            log.info("ASTER law: %d scenes (%.1f s)", law.ds.attrs.get("n_scenes", 0), time.perf_counter() - t0)
        else:
            excluded[REFERENCE] = f"absent (modis_aster/pairs not under {root})"
    for f in fields:
        try:
            law = fit_field_law(f, n_boot=n_boot, seed=seed)
        except ScaleRangeError as exc:
            excluded[f.key] = f"no law: {exc.problem}"
            continue
        entries.append(_entry_from_field(f, law))
        if n_surrogates >= 2:
            spread[f.key] = realisation_spread(f.lst, law, classes=None if f.classes is None else [f.classes],
                                               n=n_surrogates, seed=seed)
        log.info("%s: law fitted (%.1f s)", f.key, time.perf_counter() - t0)
    if not entries:
        raise InputError(f"no field to fit under {root}: {excluded}")
    ds = compare_laws(entries, reference=REFERENCE if aster and entries[0].key == REFERENCE else None,
                      spread=spread)
    ds.attrs.update(
        source=str(root), n_boot_requested=n_boot, seed=seed, n_surrogates=int(n_surrogates),
        excluded="; ".join(f"{k}: {v}" for k, v in excluded.items()) or "none",
        history=f"{datetime.now(timezone.utc).isoformat(timespec='seconds')} {command or 'analysis.sensors.run_sensors'}",
        wall_time_s=round(time.perf_counter() - t0, 1),
    )
    ds.to_netcdf(out / "sensors.nc", engine="h5netcdf")
    to_csv(ds, out / "sensors.csv")
    md = markdown_table(ds)
    if excluded:
        md += "\nExcluded: " + "; ".join(f"{k} ({v})" for k, v in excluded.items()) + "\n"
    (out / "sensors.md").write_text(md)
    return ds
