"""MODIS land products: LST (MOD11A1 / MYD11A1 / MOD21A1D/N) and NDVI (MOD09GQ, MOD13Q1/A2).

Two storage forms are read:

* **original HDF4-EOS granules** (``*.hdf``). The GDAL built into the rasterio wheels has no
  HDF4 driver, so these are read with ``pyhdf`` (the maintained binding of the NCSA HDF4
  library, ``pip install pyhdf``). The science dataset (SDS) is read with its ``scale_factor``,
  ``add_offset``, ``_FillValue`` and ``valid_range`` attributes; the grid is rebuilt from the
  HDF-EOS ``StructMetadata.0`` (``UpperLeftPointMtrs``, ``LowerRightMtrs``, ``XDim``, ``YDim``,
  ``ProjParams``): MODIS sinusoidal on the sphere of radius 6371007.181 m. The acquisition
  date comes from the ``.AYYYYDDD.`` token of the file name, or else from ``CoreMetadata.0``.
* **GeoTIFF exports** (e.g. the crops of ``modis_lst_2020``): band 1 = day, band 2 = night
  LST; float values are taken as kelvin, integer values as MODIS counts x 0.02 K; 0 = fill.
  Exports carry no QC layer: only the exporter's fill is masked.

Quality control (``qc=``) uses the two lowest bits of the QC word, which have the same meaning in
MOD11 (``QC_Day`` / ``QC_Night``, uint8), MOD21 (``QC``, uint16), MOD09GQ (``QC_250m_1``,
"MODLAND QA") and MOD13 (``VI Quality``, "MODLAND QA"):

=====  =================================================================================
bits   meaning of bits 0-1
=====  =================================================================================
00     produced, good quality
01     produced, other / unreliable quality (check the other QC bits)
10     not produced because of clouds (MOD13: produced but probably cloudy)
11     not produced for other reasons
=====  =================================================================================

``qc="good"`` keeps ``00`` only; ``qc="any"`` keeps ``00`` and ``01``; a callable receives the
raw QC array and returns a boolean array, True where the pixel is kept. MOD11 bits 2-3 give
the data quality, 4-5 the emissivity error (<= 0.01, 0.02, 0.04, > 0.04) and 6-7 the LST error
(<= 1, 2, 3, > 3 K); MOD21 bits 2-3 the L1B data quality, 4-5 a cloud flag (00 clear,
01 thin cirrus, 10 within 2 pixels of cloud, 11 cloud), 12-13 emissivity accuracy and 14-15
LST accuracy (MOD11 and MOD21 user guides). Use :func:`modis_qc_bits` to write a callable,
e.g. ``qc=lambda q: (modis_qc_bits(q, 0, 2) <= 1) & (modis_qc_bits(q, 6, 2) == 0)`` for
"produced with LST error <= 1 K".

Scale conventions differ between MODIS products: MOD11/MOD21 store ``value = count x
scale_factor + add_offset`` (0.02 K), whereas MOD09 stores ``scale_factor = 0.0001`` and MOD13
stores ``scale_factor = 10000`` meaning ``value = count / 10000``; both reflectance-like
conventions are handled.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from affine import Affine
from rasterio.crs import CRS

from scalelaws.errors import MissingCRSError, NotARasterError, ProductError, UnitsError
from scalelaws.io._common import (
    MODIS_SINUSOIDAL_PROJ4,
    MODIS_SPHERE_RADIUS_M,
    bits,
    finalize,
    grid_dataarray,
    ndvi_from_reflectance,
    read_text_head,
)
from scalelaws.io.generic import read_band

logger = logging.getLogger(__name__)

__all__ = [
    "open_modis_lst",
    "open_modis_ndvi",
    "modis_qc_bits",
    "modis_tile_transform",
    "MODIS_LST_SCALE",
    "QCPolicy",
]

#: Scale of MOD11/MOD21 LST counts (K per count).
MODIS_LST_SCALE = 0.02
#: Reflectance per count of MOD09 surface reflectance and MOD13 NDVI (1 / 10000).
MODIS_REFLECTANCE_SCALE = 1e-4
#: Fill of MOD13 NDVI.
MOD13_NDVI_FILL = -3000
#: Reflectance per stored value in the MOD13A2 GeoTIFF crops of ``modis_lst_2020`` (data README).
MOD13A2_CROP_REFLECTANCE_SCALE = 0.005
#: Size of a MODIS sinusoidal tile edge (m): 10 degrees of arc on the 6371007.181 m sphere.
MODIS_TILE_SIZE_M = 1111950.5197665233

QCPolicy = str | Callable[[np.ndarray], np.ndarray]

_NAME_RE = re.compile(r"(?P<product>M[OY]D\w+?)\.A(?P<year>\d{4})(?P<doy>\d{3})\.")
_TILE_RE = re.compile(r"\.(h\d{2}v\d{2})\.")
_HDF4_MAGIC = b"\x0e\x03\x13\x01"


def modis_qc_bits(qc: np.ndarray, start: int, count: int = 2) -> np.ndarray:
    """Extract a bit field from a MODIS QC array (bit 0 = least significant).

    Parameters
    ----------
    qc
        Raw QC values.
    start
        Lowest bit of the field.
    count
        Number of bits.

    Returns
    -------
    numpy.ndarray
        Integer field values.

    """
    return bits(qc, start, count)


def modis_tile_transform(h: int, v: int, n: int) -> Affine:
    """Geotransform of MODIS sinusoidal tile ``h``/``v`` with ``n x n`` pixels.

    Parameters
    ----------
    h, v
        Horizontal (0-35) and vertical (0-17) tile indices.
    n
        Pixels per tile edge (1200 at 1 km, 2400 at 500 m, 4800 at 250 m).

    Returns
    -------
    affine.Affine
        Upper-left corner transform in metres of the MODIS sinusoidal projection.

    """
    size = MODIS_TILE_SIZE_M
    ulx = (h - 18) * size
    uly = (9 - v) * size
    return Affine(size / n, 0.0, ulx, 0.0, -size / n, uly)


def _keep_from_qc(qc: np.ndarray, policy: QCPolicy, path: Path) -> np.ndarray:
    if callable(policy):
        keep = np.asarray(policy(qc))
        if keep.shape != qc.shape or keep.dtype != bool:
            raise ValueError(
                f"qc callable must return a boolean array of shape {qc.shape}, "
                f"got {keep.dtype} {keep.shape}"
            )
        return keep
    mandatory = bits(qc, 0, 2)
    if policy == "good":
        return mandatory == 0
    if policy == "any":
        return mandatory <= 1
    raise ValueError(f"qc must be 'good', 'any' or a callable, got {policy!r}")


def _date_from_name(name: str) -> tuple[str | None, str | None]:
    m = _NAME_RE.search(name)
    if not m:
        return None, None
    date = datetime(int(m["year"]), 1, 1) + timedelta(days=int(m["doy"]) - 1)
    return m["product"], date.strftime("%Y-%m-%d")


# ----------------------------------------------------------------------------------- HDF4-EOS
@dataclass
class _Grid:
    name: str
    nx: int
    ny: int
    ul: tuple[float, float]
    lr: tuple[float, float]
    projection: str
    radius: float
    fields: list[str]


def _parse_struct_metadata(text: str) -> list[_Grid]:
    grids = []
    for block in re.findall(r"GROUP=GRID_\d+(.*?)END_GROUP=GRID_\d+", text, flags=re.S):

        def get(key: str, blk: str = block) -> str | None:
            m = re.search(rf"^\s*{key}=(.*)$", blk, flags=re.M)
            return m.group(1).strip().strip('"') if m else None

        def pair(key: str) -> tuple[float, float]:
            raw = get(key)
            if raw is None:
                raise KeyError(key)
            a, b = raw.strip("()").split(",")[:2]
            return float(a), float(b)

        params = (get("ProjParams") or "()").strip("()").split(",")
        try:
            radius = float(params[0]) if params and params[0] else 0.0
        except ValueError:
            radius = 0.0
        grids.append(
            _Grid(
                name=get("GridName") or "",
                nx=int(get("XDim") or 0),
                ny=int(get("YDim") or 0),
                ul=pair("UpperLeftPointMtrs"),
                lr=pair("LowerRightMtrs"),
                projection=get("Projection") or "",
                radius=radius if radius > 0 else MODIS_SPHERE_RADIUS_M,
                fields=re.findall(r'DataFieldName="([^"]+)"', block),
            )
        )
    return grids


def _odl_value(text: str, obj: str) -> str | None:
    m = re.search(rf"OBJECT\s*=\s*{obj}\b.*?VALUE\s*=\s*(.*?)\n", text, flags=re.S)
    return m.group(1).strip().strip('"') if m else None


class _Hdf4:
    """Minimal HDF4-EOS grid reader on top of pyhdf."""

    def __init__(self, path: Path) -> None:
        try:
            from pyhdf.error import HDF4Error
            from pyhdf.SD import SD, SDC
        except ImportError as exc:  # pragma: no cover - pyhdf is a dependency
            raise ImportError(
                "reading MODIS HDF4 files needs pyhdf (pip install pyhdf): the GDAL of the "
                "rasterio wheels has no HDF4 driver"
            ) from exc
        self.path = path
        try:
            self.sd = SD(str(path), SDC.READ)
        except HDF4Error as exc:
            raise NotARasterError(f"cannot be opened as HDF4 ({exc})", path) from exc
        self.gattrs: dict[str, Any] = self.sd.attributes()
        self.names = list(self.sd.datasets())
        struct = "".join(
            str(self.gattrs[k])
            for k in sorted(a for a in self.gattrs if a.startswith("StructMetadata"))
        )
        self.grids = _parse_struct_metadata(struct)
        self.core = "".join(
            str(self.gattrs[k])
            for k in sorted(a for a in self.gattrs if a.startswith("CoreMetadata"))
        )

    def close(self) -> None:
        self.sd.end()

    def __enter__(self) -> _Hdf4:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def find(self, candidates: list[str] | str) -> str | None:
        if isinstance(candidates, str):
            pat = re.compile(candidates)
            hits = [n for n in self.names if pat.search(n)]
            return hits[0] if hits else None
        for c in candidates:
            if c in self.names:
                return c
        return None

    def read(self, name: str) -> tuple[np.ndarray, dict[str, Any]]:
        sds = self.sd.select(name)
        try:
            return np.asarray(sds.get()), dict(sds.attributes())
        finally:
            sds.endaccess()

    def grid_of(self, name: str, shape: tuple[int, int]) -> tuple[Affine, CRS]:
        grids = [g for g in self.grids if name in g.fields] or [
            g for g in self.grids if (g.ny, g.nx) == shape
        ]
        if not grids:
            raise MissingCRSError(
                f"no HDF-EOS grid in StructMetadata.0 describes {name!r}: cannot georeference",
                self.path,
            )
        g = grids[0]
        if "SNSOID" not in g.projection.upper():
            raise ProductError(
                f"grid {g.name!r} projection {g.projection!r} is not sinusoidal", self.path
            )
        if (g.ny, g.nx) != shape:
            raise ProductError(
                f"grid {g.name!r} is {g.ny}x{g.nx} but {name!r} is {shape}", self.path
            )
        (ulx, uly), (lrx, lry) = g.ul, g.lr
        transform = Affine((lrx - ulx) / g.nx, 0.0, ulx, 0.0, (lry - uly) / g.ny, uly)
        if np.isclose(g.radius, MODIS_SPHERE_RADIUS_M):
            crs = CRS.from_proj4(MODIS_SINUSOIDAL_PROJ4)
        else:
            crs = CRS.from_proj4(
                f"+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R={g.radius} +units=m +no_defs"
            )
        return transform, crs

    def product_and_date(self) -> tuple[str | None, str | None]:
        product, date = _date_from_name(self.path.name)
        granule = _odl_value(self.core, "LOCALGRANULEID")
        if granule and (product is None or date is None):
            product2, date2 = _date_from_name(granule)
            product, date = product or product2, date or date2
        if product is None:
            product = _odl_value(self.core, "SHORTNAME")
        if date is None:
            date = _odl_value(self.core, "RANGEBEGINNINGDATE")
        return product, date

    def tile(self) -> str | None:
        for s in (self.path.name, _odl_value(self.core, "LOCALGRANULEID") or ""):
            m = _TILE_RE.search(s)
            if m:
                return m.group(1)
        return None


def _is_hdf4(path: Path) -> bool:
    try:
        return read_text_head(path, 4) == _HDF4_MAGIC
    except OSError:
        return False


def _valid_mask(raw: np.ndarray, attrs: dict[str, Any]) -> np.ndarray:
    keep = np.ones(raw.shape, dtype=bool)
    if "_FillValue" in attrs:
        keep &= raw != attrs["_FillValue"]
    vr = attrs.get("valid_range")
    if vr is not None and len(vr) == 2:
        keep &= (raw >= vr[0]) & (raw <= vr[1])
    return keep


def _reflectance_like(raw: np.ndarray, attrs: dict[str, Any], path: Path, name: str) -> np.ndarray:
    """Physical value of a MOD09 / MOD13 SDS (scale 1e-4 or its inverse 10000)."""
    sf = attrs.get("scale_factor")
    if sf is None:
        raise UnitsError(f"SDS {name!r} has no scale_factor", path)
    sf = float(sf)
    off = float(attrs.get("add_offset", 0.0))
    out = raw.astype(np.float64) - off
    return out / sf if sf > 1 else out * sf


def _lst_hdf(path: Path, which: str, qc: QCPolicy) -> xr.DataArray:
    with _Hdf4(path) as h:
        product, date = h.product_and_date()
        if which == "day":
            name = h.find(["LST_Day_1km", "LST_Day_1KM"])
            qc_name = h.find(["QC_Day"])
            time_name = h.find(["Day_view_time"])
        else:
            name = h.find(["LST_Night_1km", "LST_Night_1KM"])
            qc_name = h.find(["QC_Night"])
            time_name = h.find(["Night_view_time"])
        if name is None and "LST_1KM" in h.names:  # MOD21A1D / MOD21A1N: one LST per file
            is_night = bool(product and product.upper().endswith("N"))
            is_day = bool(product and product.upper().endswith("D"))
            if (which == "day" and is_night) or (which == "night" and is_day):
                raise ProductError(f"{product} holds no {which}time LST (ask which=...)", path)
            name, qc_name, time_name = "LST_1KM", h.find(["QC"]), h.find(["View_Time", "View_time"])
        if name is None:
            raise ProductError(
                f"no {which}time LST science dataset (expected LST_Day_1km / LST_Night_1km / "
                f"LST_1KM); datasets: {h.names}",
                path,
            )
        raw, attrs = h.read(name)
        if raw.ndim != 2:
            raise ProductError(f"SDS {name!r} has shape {raw.shape}, expected 2-D", path)
        transform, crs = h.grid_of(name, raw.shape)
        sf = float(attrs.get("scale_factor", MODIS_LST_SCALE))
        if "scale_factor" not in attrs:
            logger.warning(
                "%s: %s has no scale_factor; using MODIS %g K", path, name, MODIS_LST_SCALE
            )
        off = float(attrs.get("add_offset", 0.0))
        keep = _valid_mask(raw, {"_FillValue": attrs.get("_FillValue", 0), **attrs})
        n_valid = int(keep.sum())
        qc_kept = None
        if qc_name is not None:
            qc_raw, _ = h.read(qc_name)
            keep &= _keep_from_qc(qc_raw, qc, path)
            qc_kept = int(keep.sum())
        elif not (isinstance(qc, str) and qc == "any"):
            logger.warning("%s: no QC dataset found; qc=%r not applied", path, qc)
        values = np.where(keep, raw.astype(np.float64) * sf + off, np.nan)
        units = str(attrs.get("units", "K"))
        if units.strip().lower() not in ("k", "kelvin"):
            raise UnitsError(f"SDS {name!r} declares units {units!r}, expected K", path)
        mean_hour = None
        if time_name is not None:
            vt, vattrs = h.read(time_name)
            vkeep = _valid_mask(vt, vattrs) & keep
            if vkeep.any():
                mean_hour = float(np.mean(vt[vkeep]) * float(vattrs.get("scale_factor", 0.1)))
        tile = h.tile()
    da = grid_dataarray(values, transform, crs, name="lst")
    sensor = "MODIS/Aqua" if product and product.upper().startswith("MYD") else "MODIS/Terra"
    logger.info(
        "%s: %s %s LST, %d produced, %s kept after qc=%r",
        path,
        product,
        which,
        n_valid,
        qc_kept,
        qc,
    )
    return finalize(
        da,
        units="K",
        long_name=f"{which}time land surface temperature",
        sensor=sensor,
        product=str(product or "MODIS LST"),
        source=path,
        time=date,
        kind="lst",
        extra={
            "which": which,
            "qc_policy": qc if isinstance(qc, str) else getattr(qc, "__name__", "callable"),
            "scale_factor_applied": sf,
            "modis_tile": tile,
            "mean_local_solar_view_time_h": mean_hour,
        },
    )


def _band_layout(path: Path) -> tuple[int, list[str]]:
    """Band count and descriptions of a GeoTIFF export; a file GDAL cannot open is an input error."""
    import rasterio
    from rasterio.errors import RasterioIOError

    try:
        with rasterio.open(path) as src:
            return src.count, [d or "" for d in src.descriptions]
    except RasterioIOError as exc:
        raise NotARasterError(f"not a raster GDAL can open ({exc})", path) from exc


def _lst_geotiff(path: Path, which: str, qc: QCPolicy) -> xr.DataArray:
    count, descriptions = _band_layout(path)
    band = 1
    if count >= 2:
        hint = [i for i, d in enumerate(descriptions, 1) if which in d.lower()]
        band = hint[0] if hint else (1 if which == "day" else 2)
    elif which == "night" and "day" in path.name.lower():
        raise ProductError("single-band day LST export; which='night' cannot be served", path)
    raw = read_band(path, band=band)
    if raw.crs is None or raw.transform is None:
        raise MissingCRSError("MODIS LST export has no CRS", path)
    values = np.asarray(raw.values)
    missing = values == 0  # MODIS LST fill
    if raw.mask is not None:
        missing |= raw.mask
    for nd in raw.nodata:
        missing |= np.isnan(values) if np.isnan(nd) else values == nd
    if np.issubdtype(values.dtype, np.integer):
        sf = raw.scale if raw.scale is not None else MODIS_LST_SCALE
        off = raw.offset or 0.0
        phys = values.astype(np.float64) * sf + off
        # MOD11 valid_range 7500-65535 counts: below 150 K is not a produced value
        missing |= values.astype(np.int64) < 7500
    else:
        sf = raw.scale
        phys = values.astype(np.float64) * (raw.scale or 1.0) + (raw.offset or 0.0)
        missing |= ~np.isfinite(phys)
    phys[missing] = np.nan
    if not (isinstance(qc, str) and qc == "any"):
        logger.info("%s: GeoTIFF export carries no QC layer; qc=%r not applied", path, qc)
    product, date = _date_from_name(path.name)
    m = _TILE_RE.search(path.name)
    da = grid_dataarray(phys, raw.transform, raw.crs, name="lst")
    sensor = "MODIS/Aqua" if product and product.upper().startswith("MYD") else "MODIS/Terra"
    return finalize(
        da,
        units="K",
        long_name=f"{which}time land surface temperature",
        sensor=sensor,
        product=str(product or "MODIS LST (GeoTIFF export)"),
        source=path,
        time=date,
        kind="lst",
        extra={
            "which": which,
            "qc_policy": "none (no QC layer in the export)",
            "scale_factor_applied": sf,
            "modis_tile": m.group(1) if m else None,
            "band": band,
        },
    )


def open_modis_lst(
    path: str | os.PathLike, *, which: str = "day", qc: QCPolicy = "good"
) -> xr.DataArray:
    """Open MODIS LST (MOD11A1 / MYD11A1 / MOD21A1D / MOD21A1N) in kelvin.

    Parameters
    ----------
    path
        An original HDF4-EOS granule (read with pyhdf) or a GeoTIFF export (band 1 day,
        band 2 night; float = kelvin, integer = counts x 0.02 K; 0 = fill).
    which
        ``"day"`` or ``"night"``. MOD21A1D/N hold one of them; asking for the other raises
        :class:`~scalelaws.errors.ProductError`.
    qc
        ``"good"`` (mandatory QA bits 0-1 = 00), ``"any"`` (00 or 01, i.e. every produced
        value), or a callable mapping the raw QC array to a boolean keep-mask (see
        :func:`modis_qc_bits`). GeoTIFF exports carry no QC: only their fill is masked.

    Returns
    -------
    xarray.DataArray
        ``(y, x)`` float32 LST in K on the MODIS sinusoidal grid, NaN for fill and rejected QC;
        attrs include ``time`` (acquisition date), ``which``, ``qc_policy``, ``modis_tile``
        and, for HDF, the mean local solar view time of the kept pixels.

    Raises
    ------
    NotARasterError, MissingCRSError, ProductError, AllNaNError
        Unreadable file, no grid metadata, missing datasets, or no pixel left.

    """
    p = Path(path)
    if which not in ("day", "night"):
        raise ValueError(f"which must be 'day' or 'night', got {which!r}")
    if not p.is_file():
        raise NotARasterError("no such file", p)
    if _is_hdf4(p):
        return _lst_hdf(p, which, qc)
    return _lst_geotiff(p, which, qc)


# ----------------------------------------------------------------------------------- NDVI
def _ndvi_hdf(path: Path, qc: QCPolicy) -> xr.DataArray:
    with _Hdf4(path) as h:
        product, date = h.product_and_date()
        tile = h.tile()
        ndvi_name = h.find(r"(16 days|monthly) NDVI$")
        if ndvi_name is not None:  # MOD13Q1 / MOD13A2 / MOD13A3
            raw, attrs = h.read(ndvi_name)
            transform, crs = h.grid_of(ndvi_name, raw.shape)
            keep = _valid_mask(
                raw, {"_FillValue": attrs.get("_FillValue", MOD13_NDVI_FILL), **attrs}
            )
            values = _reflectance_like(raw, attrs, path, ndvi_name)
            qname = h.find(r"VI Quality$")
            if qname is not None:
                keep &= _keep_from_qc(h.read(qname)[0], qc, path)
            else:
                rname = h.find(r"pixel reliability$")
                if rname is not None and not callable(qc):
                    rel = h.read(rname)[0]
                    keep &= (rel == 0) if qc == "good" else (rel >= 0) & (rel <= 1)
            values = np.where(keep, values, np.nan)
            sds = ndvi_name
        else:  # MOD09GQ / MYD09GQ surface reflectance
            b1 = h.find(["sur_refl_b01_1", "sur_refl_b01"])
            b2 = h.find(["sur_refl_b02_1", "sur_refl_b02"])
            if b1 is None or b2 is None:
                raise ProductError(
                    "neither a MOD13 NDVI nor MOD09 sur_refl_b01/b02 datasets; "
                    f"datasets: {h.names}",
                    path,
                )
            r_raw, r_attrs = h.read(b1)
            n_raw, n_attrs = h.read(b2)
            transform, crs = h.grid_of(b1, r_raw.shape)
            keep = _valid_mask(r_raw, r_attrs) & _valid_mask(n_raw, n_attrs)
            qname = h.find(["QC_250m_1", "QC_250m"])
            if qname is not None:
                keep &= _keep_from_qc(h.read(qname)[0], qc, path)
            elif not callable(qc) and qc != "any":
                logger.warning("%s: no QC_250m dataset; qc=%r not applied", path, qc)
            red = _reflectance_like(r_raw, r_attrs, path, b1)
            nir = _reflectance_like(n_raw, n_attrs, path, b2)
            values = np.where(keep, ndvi_from_reflectance(red, nir), np.nan)
            sds = f"{b1}, {b2}"
    da = grid_dataarray(values, transform, crs, name="ndvi")
    sensor = "MODIS/Aqua" if product and product.upper().startswith("MYD") else "MODIS/Terra"
    return finalize(
        da,
        units="1",
        long_name="normalized difference vegetation index",
        sensor=sensor,
        product=str(product or "MODIS"),
        source=path,
        time=date,
        kind="ndvi",
        extra={
            "qc_policy": qc if isinstance(qc, str) else getattr(qc, "__name__", "callable"),
            "sds": sds,
            "modis_tile": tile,
        },
    )


def _ndvi_geotiff(path: Path) -> xr.DataArray:
    count, _ = _band_layout(path)
    product, date = _date_from_name(path.name)
    if count >= 3 and product and product.upper()[3:5] == "13":
        # MOD13A2 crops of modis_lst_2020: bands red, NIR, MIR stored as reflectance / 0.005
        red_b, nir_b = read_band(path, band=1), read_band(path, band=2)
        if red_b.crs is None:
            raise MissingCRSError("MOD13 export has no CRS", path)
        red = red_b.values.astype(np.float64) * MOD13A2_CROP_REFLECTANCE_SCALE
        nir = nir_b.values.astype(np.float64) * MOD13A2_CROP_REFLECTANCE_SCALE
        missing = (
            ~np.isfinite(red) | ~np.isfinite(nir) | ((red_b.values == 0) & (nir_b.values == 0))
        )
        for b in (red_b, nir_b):
            if b.mask is not None:
                missing |= b.mask
        values = np.where(missing, np.nan, ndvi_from_reflectance(red, nir))
        raw, how = red_b, "red/NIR bands x 0.005"
    elif count == 1:
        raw = read_band(path, band=1)
        if raw.crs is None:
            raise MissingCRSError("NDVI export has no CRS", path)
        vals = np.asarray(raw.values)
        missing = raw.mask.copy() if raw.mask is not None else np.zeros(vals.shape, bool)
        for nd in raw.nodata:
            missing |= np.isnan(vals) if np.isnan(nd) else vals == nd
        if np.issubdtype(vals.dtype, np.integer):
            missing |= vals == MOD13_NDVI_FILL
            sf = raw.scale if raw.scale is not None else MODIS_REFLECTANCE_SCALE
            values = vals.astype(np.float64) * sf + (raw.offset or 0.0)
            how = f"NDVI counts x {sf:g}"
        else:
            values = vals.astype(np.float64)
            missing |= ~np.isfinite(values)
            how = "NDVI values"
        values[missing] = np.nan
    else:
        raise ProductError(
            f"{count}-band GeoTIFF not recognised as a MODIS NDVI export (expected one NDVI band "
            "or the MOD13A2 red/NIR/MIR crops)",
            path,
        )
    m = _TILE_RE.search(path.name)
    da = grid_dataarray(values, raw.transform, raw.crs, name="ndvi")
    return finalize(
        da,
        units="1",
        long_name="normalized difference vegetation index",
        sensor="MODIS/Aqua" if product and product.upper().startswith("MYD") else "MODIS/Terra",
        product=str(product or "MODIS NDVI (GeoTIFF export)"),
        source=path,
        time=date,
        kind="ndvi",
        extra={"computed_from": how, "modis_tile": m.group(1) if m else None},
    )


def open_modis_ndvi(path: str | os.PathLike, *, qc: QCPolicy = "good") -> xr.DataArray:
    """Open MODIS NDVI from MOD09GQ red/NIR, MOD13Q1/MOD13A2 NDVI, or their GeoTIFF exports.

    Parameters
    ----------
    path
        HDF4-EOS granule (``MOD09GQ``: ``sur_refl_b01_1`` / ``sur_refl_b02_1`` x 1e-4 with
        ``QC_250m_1``; ``MOD13Q1`` / ``MOD13A2``: ``250m 16 days NDVI`` / ``1 km 16 days NDVI``,
        counts / 10000, fill -3000, with ``VI Quality``), a single-band NDVI GeoTIFF (integer
        counts x 1e-4 with fill -3000, or float NDVI), or a MOD13A2 crop of ``modis_lst_2020``
        (bands red, NIR, MIR; value x 0.005 = reflectance).
    qc
        As in :func:`open_modis_lst` (MODLAND bits 0-1); not applicable to GeoTIFF exports.

    Returns
    -------
    xarray.DataArray
        ``(y, x)`` float32 NDVI in [-1, 1] (computed NDVI is clipped to [-1, 1]; NaN where
        NIR + red <= 0), on the MODIS sinusoidal grid.

    Raises
    ------
    NotARasterError, MissingCRSError, ProductError, AllNaNError
        Unreadable file, no grid, unrecognised layout, or no pixel left.

    """
    p = Path(path)
    if not p.is_file():
        raise NotARasterError("no such file", p)
    if _is_hdf4(p):
        return _ndvi_hdf(p, qc)
    return _ndvi_geotiff(p)
