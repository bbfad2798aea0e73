"""Landsat readers: Collection 2 Level-2 LST / NDVI, and Level-1 at-sensor brightness temperature.

Collection 2 Level-2 (``L2SP``) bundles are recognised from their standard names
``LC08_L2SP_PPPRRR_YYYYMMDD_YYYYMMDD_02_TX_<suffix>.TIF`` (``LC09``, ``LE07``, ``LT05``, ``LT04``
alike) and their MTL metadata (``_MTL.txt`` ODL, ``_MTL.json`` or ``_MTL.xml``):

* surface temperature ``ST_B10`` (Landsat 8/9; ``ST_B6`` for Landsat 4-7):
  ``K = DN x TEMPERATURE_MULT + TEMPERATURE_ADD`` (0.00341802, 149.0), DN 0 = fill;
* surface reflectance ``SR_B4`` / ``SR_B5`` (red / NIR of Landsat 8/9; ``SR_B3`` / ``SR_B4`` for
  Landsat 4-7): ``rho = DN x REFLECTANCE_MULT + REFLECTANCE_ADD`` (2.75e-5, -0.2), DN 0 = fill;
  NDVI = (NIR - red) / (NIR + red);
* ``QA_PIXEL`` bits: 0 fill, 1 dilated cloud, 2 cirrus (Landsat 8/9), 3 cloud, 4 cloud shadow,
  5 snow, 6 clear, 7 water.

The scale factors are read from the MTL groups ``LEVEL2_SURFACE_TEMPERATURE_PARAMETERS`` and
``LEVEL2_SURFACE_REFLECTANCE_PARAMETERS``; the documented Collection 2 values are used (with a
warning) only when no MTL is found. The acquisition time is ``DATE_ACQUIRED`` +
``SCENE_CENTER_TIME``.

Level-1 products (Collection 1/2 ``L1TP``/``L1GT`` and pre-collection scene ids such as
``LC82320832016040LGN00``) give at-sensor **brightness temperature**, not LST: no emissivity
and no atmospheric correction are applied (:func:`open_landsat_l1_bt`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import xarray as xr

from scalelaws.errors import MissingCRSError, NotARasterError, ProductError
from scalelaws.io._common import bits, finalize, grid_dataarray, ndvi_from_reflectance
from scalelaws.io.generic import RawBand, read_band

logger = logging.getLogger(__name__)

__all__ = [
    "open_landsat_c2l2",
    "open_landsat_l1_bt",
    "open_landsat_dn_bt",
    "brightness_temperature",
    "read_mtl",
    "Mtl",
    "QA_PIXEL_BITS",
    "DEFAULT_CLOUD_FLAGS",
]

#: QA_PIXEL bit of each flag (Landsat Collection 2 Level-2 product guide).
QA_PIXEL_BITS = {
    "fill": 0,
    "dilated_cloud": 1,
    "cirrus": 2,
    "cloud": 3,
    "cloud_shadow": 4,
    "snow": 5,
    "clear": 6,
    "water": 7,
}
#: Flags set to NaN by ``mask=True``. Cirrus (high-confidence, Landsat 8/9 only) is included:
#: thin cirrus cools the thermal signal by several kelvin.
DEFAULT_CLOUD_FLAGS = ("fill", "dilated_cloud", "cirrus", "cloud", "cloud_shadow")

#: Documented Collection 2 Level-2 scale factors, used only when no MTL is available.
C2_ST_MULT, C2_ST_ADD = 0.00341802, 149.0
C2_SR_MULT, C2_SR_ADD = 2.75e-5, -0.2

#: Thermal constants (K1 in W m-2 sr-1 um-1, K2 in K) for sensors whose MTL lacks them
#: (Chander, Markham & Helder 2009, Remote Sens. Environ. 113, table 5).
THERMAL_CONSTANTS = {
    "LANDSAT_4": {"6": (671.62, 1284.30)},
    "LANDSAT_5": {"6": (607.76, 1260.56)},
    "LANDSAT_7": {
        "6_VCID_1": (666.09, 1282.71),
        "6_VCID_2": (666.09, 1282.71),
        "6": (666.09, 1282.71),
    },
}

_C2_RE = re.compile(r"^(L[COTEM]0\d)_(L[12]\w{2})_(\d{6})_(\d{8})_(\d{8})_(\d{2})_(T1|T2|RT)")
_PRECOLL_RE = re.compile(r"^(L[COTEM]\d)(\d{6})(\d{4})(\d{3})([A-Z]{3}\d{2})")


class Mtl:
    """Landsat MTL metadata as ``{group: {key: value-string}}``.

    Parameters
    ----------
    groups
        Innermost group name -> its keys and (unquoted) values.
    path
        The file read.

    """

    def __init__(self, groups: dict[str, dict[str, str]], path: Path) -> None:
        self.groups = groups
        self.path = path

    def get(self, key: str, group: str | None = None) -> str | None:
        """Value of ``key`` (in ``group`` if given, else the first group holding it)."""
        if group is not None and group in self.groups and key in self.groups[group]:
            return self.groups[group][key]
        for g in self.groups.values():
            if key in g:
                return g[key]
        return None

    def float(self, key: str, group: str | None = None) -> float | None:
        """Value of ``key`` as float, ``None`` when absent."""
        v = self.get(key, group)
        return None if v in (None, "") else float(v)

    @property
    def spacecraft(self) -> str:
        """``LANDSAT_8`` etc."""
        return (self.get("SPACECRAFT_ID") or "").upper()

    @property
    def time(self) -> str | None:
        """Acquisition time, ISO 8601 (UTC), from DATE_ACQUIRED and SCENE_CENTER_TIME."""
        date = self.get("DATE_ACQUIRED") or self.get("ACQUISITION_DATE")
        if not date:
            return None
        tod = self.get("SCENE_CENTER_TIME") or self.get("SCENE_CENTER_SCAN_TIME")
        if not tod:
            return date
        m = re.match(r"(\d{2}:\d{2}:\d{2})(\.\d{1,6})?\d*Z?", tod)
        return f"{date}T{m.group(1)}{m.group(2) or ''}Z" if m else date


def _parse_odl(text: str) -> dict[str, dict[str, str]]:
    groups: dict[str, dict[str, str]] = {}
    stack: list[str] = []
    for line in text.replace("\x00", "").splitlines():
        if "=" not in line:
            continue
        key, _, val = (s.strip() for s in line.partition("="))
        if key == "GROUP":
            stack.append(val)
            groups.setdefault(val, {})
        elif key == "END_GROUP":
            if stack:
                stack.pop()
        elif stack:
            groups[stack[-1]][key] = val.strip('"')
    return groups


def _parse_json(
    obj: dict, name: str = "ROOT", out: dict | None = None
) -> dict[str, dict[str, str]]:
    out = {} if out is None else out
    for k, v in obj.items():
        if isinstance(v, dict):
            _parse_json(v, k, out)
        else:
            out.setdefault(name, {})[k] = str(v)
    return out


def _parse_xml(elem: ET.Element, out: dict | None = None) -> dict[str, dict[str, str]]:
    out = {} if out is None else out
    for child in elem:
        if len(child):
            _parse_xml(child, out)
        else:
            out.setdefault(elem.tag, {})[child.tag] = (child.text or "").strip()
    return out


def read_mtl(path: str | os.PathLike) -> Mtl:
    """Parse a Landsat MTL file (ODL ``.txt``, ``.json`` or ``.xml``).

    Parameters
    ----------
    path
        The MTL file.

    Returns
    -------
    Mtl

    Raises
    ------
    ProductError
        When the file cannot be parsed as MTL metadata.

    """
    p = Path(path)
    text = p.read_bytes().replace(b"\x00", b"").decode("utf-8", errors="replace")
    try:
        if p.suffix.lower() == ".json":
            groups = _parse_json(json.loads(text))
        elif p.suffix.lower() == ".xml":
            groups = _parse_xml(ET.fromstring(text))
        else:
            groups = _parse_odl(text)
    except (json.JSONDecodeError, ET.ParseError, ValueError) as exc:
        raise ProductError(f"cannot parse MTL metadata ({exc})", p) from exc
    if not groups:
        raise ProductError("no MTL metadata groups found", p)
    return Mtl(groups, p)


def _is_mtl(p: Path) -> bool:
    return p.stem.upper().endswith("_MTL")


def _find_mtl(p: Path) -> Path | None:
    """Find the MTL beside a band file (its name is a prefix of the band file name)."""
    if _is_mtl(p):
        return p
    stem = p.name.upper()
    found = []
    for cand in p.parent.iterdir():
        if _is_mtl(cand) and cand.suffix.lower() in (".txt", ".json", ".xml"):
            prefix = cand.stem[: -len("_MTL")].upper()
            if stem.startswith(prefix + "_"):
                found.append(cand)
    order = {".txt": 0, ".json": 1, ".xml": 2}
    return sorted(found, key=lambda c: order[c.suffix.lower()])[0] if found else None


def _scene_prefix(p: Path) -> str:
    name = p.name
    m = _C2_RE.match(name) or _PRECOLL_RE.match(name)
    if m:
        return m.group(0)
    return name.rsplit("_", 1)[0]


def _band_file(
    directory: Path, prefix: str, suffixes: Iterable[str], mtl: Mtl | None, mtl_key: str | None
) -> Path:
    """Locate a band of the bundle: the MTL's FILE_NAME_* entry, else standard name patterns."""
    if mtl is not None and mtl_key is not None:
        name = mtl.get(mtl_key)
        if name and (directory / name).is_file():
            return directory / name
    files = {f.name.upper(): f for f in directory.iterdir() if f.is_file()}
    for suf in suffixes:
        for ext in (".TIF", ".TIFF"):
            hit = files.get(f"{prefix}_{suf}{ext}".upper())
            if hit is not None:
                return hit
    raise ProductError(
        f"band {list(suffixes)[0]} of {prefix} not found in the bundle folder", directory
    )


def _read_dn(path: Path) -> RawBand:
    raw = read_band(path)
    if raw.crs is None or raw.transform is None:
        raise MissingCRSError("Landsat band has no CRS", path)
    return raw


def _qa_mask(qa: np.ndarray, flags: Iterable[str], path: Path) -> np.ndarray:
    bad = np.zeros(qa.shape, dtype=bool)
    for f in flags:
        if f not in QA_PIXEL_BITS:
            raise ValueError(f"unknown QA_PIXEL flag {f!r}; known: {sorted(QA_PIXEL_BITS)}")
        bad |= bits(qa, QA_PIXEL_BITS[f], 1).astype(bool)
    return bad


def _resolve(path: str | os.PathLike) -> tuple[Path, Mtl | None, str]:
    p = Path(path)
    if not p.exists():
        raise NotARasterError("no such file", p)
    mtl_path = _find_mtl(p)
    mtl = read_mtl(mtl_path) if mtl_path is not None else None
    if mtl is not None:
        prefix = (
            mtl.get("LANDSAT_PRODUCT_ID", "PRODUCT_CONTENTS")
            or mtl.get("LANDSAT_PRODUCT_ID")
            or mtl.get("LANDSAT_SCENE_ID")
            or mtl.path.stem[: -len("_MTL")]
        )
        if not any(
            f.name.upper().startswith(prefix.upper()) for f in p.parent.iterdir() if f != mtl.path
        ):
            prefix = mtl.path.stem[: -len("_MTL")]
    else:
        prefix = _scene_prefix(p)
    return p, mtl, prefix


def open_landsat_c2l2(
    path: str | os.PathLike,
    *,
    variable: str = "lst",
    mask: bool | Iterable[str] = True,
) -> xr.DataArray:
    """Open Landsat Collection 2 Level-2 surface temperature or NDVI.

    Parameters
    ----------
    path
        The MTL (``_MTL.txt`` / ``.json`` / ``.xml``) or any band file of the bundle.
    variable
        ``"lst"`` (``ST_B10``/``ST_B6`` in K) or ``"ndvi"`` (from ``SR_B4``/``SR_B5`` on
        Landsat 8/9, ``SR_B3``/``SR_B4`` on Landsat 4-7).
    mask
        ``True``: NaN where ``QA_PIXEL`` flags fill, dilated cloud, cirrus, cloud or cloud
        shadow (:data:`DEFAULT_CLOUD_FLAGS`); ``False``: only the product fill (DN 0) is
        masked; or an iterable of flag names of :data:`QA_PIXEL_BITS` (add ``"water"`` for a
        water mask, ``"snow"`` for snow).

    Returns
    -------
    xarray.DataArray
        ``(y, x)`` float32 LST (K) or NDVI, NaN for fill / masked pixels; attrs ``time``
        (scene centre, UTC), ``scale_factor_applied``/``add_offset_applied`` (from the MTL),
        ``qa_flags_masked`` and ``cloud_cover`` (the MTL's, %).

    Raises
    ------
    ProductError
        Missing band files or metadata.
    AllNaNError
        Every pixel masked (e.g. a fully cloudy scene).

    """
    if variable not in ("lst", "ndvi"):
        raise ValueError(f"variable must be 'lst' or 'ndvi', got {variable!r}")
    p, mtl, prefix = _resolve(path)
    directory = p.parent
    if mtl is not None:
        level = (mtl.get("PROCESSING_LEVEL", "PRODUCT_CONTENTS") or "").upper()
        if level and not level.startswith("L2"):
            raise ProductError(
                f"processing level {level} is not Level-2; use open_landsat_l1_bt for Level-1",
                mtl.path,
            )
    sc = mtl.spacecraft if mtl is not None else f"LANDSAT_{prefix[3]}" if len(prefix) > 3 else ""
    is_oli = sc in ("LANDSAT_8", "LANDSAT_9") or prefix.upper().startswith(("LC08", "LC09"))
    if mtl is None:
        logger.warning(
            "%s: no MTL found beside the bundle; using the documented Collection 2 scale factors", p
        )
    st_group, sr_group = (
        "LEVEL2_SURFACE_TEMPERATURE_PARAMETERS",
        "LEVEL2_SURFACE_REFLECTANCE_PARAMETERS",
    )

    def param(key: str, group: str, default: float) -> float:
        v = mtl.float(key, group) if mtl is not None else None
        return default if v is None else v

    if variable == "lst":
        st = "ST_B10" if is_oli else "ST_B6"
        f = _band_file(directory, prefix, [st], mtl, f"FILE_NAME_BAND_{st}")
        mult = param(f"TEMPERATURE_MULT_BAND_{st}", st_group, C2_ST_MULT)
        add = param(f"TEMPERATURE_ADD_BAND_{st}", st_group, C2_ST_ADD)
        raw = _read_dn(f)
        dn = raw.values.astype(np.float64)
        values = np.where(raw.values == 0, np.nan, dn * mult + add)
        units, long_name, kind = "K", "land surface temperature", "lst"
        applied = {"scale_factor_applied": mult, "add_offset_applied": add}
    else:
        red_b, nir_b = ("4", "5") if is_oli else ("3", "4")
        rf = _band_file(directory, prefix, [f"SR_B{red_b}"], mtl, f"FILE_NAME_BAND_{red_b}")
        nf = _band_file(directory, prefix, [f"SR_B{nir_b}"], mtl, f"FILE_NAME_BAND_{nir_b}")
        r_raw, n_raw = _read_dn(rf), _read_dn(nf)
        if r_raw.values.shape != n_raw.values.shape or r_raw.transform != n_raw.transform:
            raise ProductError("red and NIR bands are not on the same grid", nf)
        rm = param(f"REFLECTANCE_MULT_BAND_{red_b}", sr_group, C2_SR_MULT)
        ra = param(f"REFLECTANCE_ADD_BAND_{red_b}", sr_group, C2_SR_ADD)
        nm = param(f"REFLECTANCE_MULT_BAND_{nir_b}", sr_group, C2_SR_MULT)
        na = param(f"REFLECTANCE_ADD_BAND_{nir_b}", sr_group, C2_SR_ADD)
        red = r_raw.values.astype(np.float64) * rm + ra
        nir = n_raw.values.astype(np.float64) * nm + na
        fill = (r_raw.values == 0) | (n_raw.values == 0)
        values = np.where(fill, np.nan, ndvi_from_reflectance(red, nir))
        raw, f = r_raw, rf
        units, long_name, kind = "1", "normalized difference vegetation index", "ndvi"
        applied = {"scale_factor_applied": rm, "add_offset_applied": ra}

    flags: tuple[str, ...] = ()
    if mask is True:
        flags = DEFAULT_CLOUD_FLAGS
    elif mask is not False:
        flags = tuple(mask)  # type: ignore[arg-type]
    if flags:
        qf = _band_file(directory, prefix, ["QA_PIXEL"], mtl, "FILE_NAME_QUALITY_L1_PIXEL")
        qa = _read_dn(qf)
        if qa.values.shape != values.shape:
            raise ProductError(f"QA_PIXEL shape {qa.values.shape} differs from {values.shape}", qf)
        values = np.where(_qa_mask(qa.values, flags, qf), np.nan, values)
    da = grid_dataarray(values, raw.transform, raw.crs, name=variable)
    cc = mtl.float("CLOUD_COVER") if mtl is not None else None
    return finalize(
        da,
        units=units,
        long_name=long_name,
        sensor=(sc.replace("_", " ").title() + " " + (mtl.get("SENSOR_ID") or "")).strip()
        if mtl is not None
        else sc,
        product="Landsat Collection 2 Level-2 "
        + ("surface temperature" if kind == "lst" else "surface reflectance"),
        source=mtl.path if (mtl is not None and _is_mtl(p)) else f,
        time=mtl.time if mtl is not None else None,
        kind=kind,
        extra={
            **applied,
            "qa_flags_masked": ",".join(flags) or "none",
            "cloud_cover": cc,
            "landsat_product_id": prefix,
        },
    )


def _thermal_band_default(sc: str) -> str:
    if sc in ("LANDSAT_8", "LANDSAT_9"):
        return "10"
    if sc == "LANDSAT_7":
        return "6_VCID_1"
    return "6"


def brightness_temperature(
    radiance: np.ndarray, k1: float, k2: float, *, valid: np.ndarray | None = None
) -> np.ndarray:
    """Inverse Planck law of a Landsat thermal band: ``BT = K2 / ln(K1 / L + 1)`` (K).

    NaN where the radiance is <= 0 or ``valid`` is False.
    """
    ok = radiance > 0 if valid is None else valid & (radiance > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, k2 / np.log(k1 / radiance + 1.0), np.nan)


def open_landsat_l1_bt(path: str | os.PathLike, *, band: str | int | None = None) -> xr.DataArray:
    """At-sensor brightness temperature of a Landsat Level-1 thermal band (NOT land surface temperature).

    ``L = RADIANCE_MULT x DN + RADIANCE_ADD`` (W m-2 sr-1 um-1) and
    ``BT = K2 / ln(K1 / L + 1)`` with the band's ``K1_CONSTANT`` / ``K2_CONSTANT``. No emissivity
    and no atmospheric correction are applied: BT is typically several kelvin below the LST
    over vegetation and humid atmospheres. MTLs without ``RADIANCE_MULT`` fall back to
    ``LMAX/LMIN/QCALMAX/QCALMIN`` (``RADIANCE_MAXIMUM``/``QUANTIZE_CAL_MAX`` keys), and
    MTLs without thermal constants (Landsat 4/5 TM, 7 ETM+) use the published constants of
    Chander et al. (2009).

    Parameters
    ----------
    path
        The MTL (``.txt``/``.json``/``.xml``) or the thermal band file.
    band
        Thermal band id: default ``10`` (Landsat 8/9; ``11`` is affected by stray light),
        ``6`` (Landsat 4/5), ``6_VCID_1`` (Landsat 7 low gain; ``6_VCID_2`` high gain). When
        ``path`` is a band file, its band is taken from the file name.

    Returns
    -------
    xarray.DataArray
        ``(y, x)`` float32 brightness temperature (K), NaN where DN = 0 (fill) or radiance <= 0.

    Raises
    ------
    ProductError
        No MTL, or missing calibration constants / band file.

    """
    p, mtl, prefix = _resolve(path)
    if mtl is None:
        raise ProductError("no MTL metadata found beside the band: calibration unknown", p)
    sc = mtl.spacecraft
    if band is None and not _is_mtl(p):
        m = re.search(r"_(?:B|BAND)(\d+(?:_VCID_\d)?)\.TIFF?$", p.name.upper())
        band = m.group(1) if m else None
    b = str(band) if band is not None else _thermal_band_default(sc)
    if _is_mtl(p):
        f = _band_file(p.parent, prefix, [f"B{b}", f"band{b}"], mtl, f"FILE_NAME_BAND_{b}")
    else:
        f = p
    ml = mtl.float(f"RADIANCE_MULT_BAND_{b}")
    al = mtl.float(f"RADIANCE_ADD_BAND_{b}")
    if ml is None or al is None:
        lmax = mtl.float(f"RADIANCE_MAXIMUM_BAND_{b}") or mtl.float(f"LMAX_BAND{b}")
        lmin = mtl.float(f"RADIANCE_MINIMUM_BAND_{b}") or mtl.float(f"LMIN_BAND{b}")
        qmax = mtl.float(f"QUANTIZE_CAL_MAX_BAND_{b}") or mtl.float(f"QCALMAX_BAND{b}")
        qmin = mtl.float(f"QUANTIZE_CAL_MIN_BAND_{b}") or mtl.float(f"QCALMIN_BAND{b}")
        if None in (lmax, lmin, qmax, qmin):
            raise ProductError(f"no radiometric rescaling for band {b} in the MTL", mtl.path)
        ml = (lmax - lmin) / (qmax - qmin)
        al = lmin - ml * qmin
    k1 = mtl.float(f"K1_CONSTANT_BAND_{b}")
    k2 = mtl.float(f"K2_CONSTANT_BAND_{b}")
    if k1 is None or k2 is None:
        const = THERMAL_CONSTANTS.get(sc, {}).get(b)
        if const is None:
            raise ProductError(f"no K1/K2 thermal constants for {sc} band {b}", mtl.path)
        k1, k2 = const
        logger.info("%s: K1/K2 of %s band %s from Chander et al. (2009)", mtl.path, sc, b)
    raw = _read_dn(f)
    dn = raw.values.astype(np.float64)
    radiance = ml * dn + al
    bt = brightness_temperature(radiance, k1, k2, valid=raw.values > 0)
    da = grid_dataarray(bt, raw.transform, raw.crs, name="brightness_temperature")
    return finalize(
        da,
        units="K",
        long_name="at-sensor brightness temperature (not LST: no emissivity or atmospheric correction)",
        sensor=(sc.replace("_", " ").title() + " " + (mtl.get("SENSOR_ID") or "")).strip(),
        product=f"Landsat {mtl.get('PROCESSING_LEVEL') or mtl.get('DATA_TYPE') or 'Level-1'} band {b}",
        source=f,
        time=mtl.time,
        kind="lst",
        extra={"radiance_mult": ml, "radiance_add": al, "k1": k1, "k2": k2, "thermal_band": b},
    )


def open_landsat_dn_bt(
    path: str | os.PathLike,
    *,
    gain: float,
    bias: float,
    k1: float,
    k2: float,
    sensor: str,
    band: str = "6",
    time: str | None = None,
    calibration: str = "stated constants",
) -> xr.DataArray:
    """At-sensor brightness temperature of a Landsat thermal band stored as DN, without an MTL.

    For crops distributed without their MTL the calibration must be stated by the caller:
    ``L = gain x DN + bias`` (W m-2 sr-1 um-1) and ``BT = K2 / ln(K1 / L + 1)``, e.g. Landsat 7
    ETM+ band 6 low gain (``6_VCID_1``, LPGS: ``gain = 17.04 / 254``, ``bias = -gain``) with
    ``K1, K2 = THERMAL_CONSTANTS["LANDSAT_7"]["6"]`` (Chander, Markham & Helder 2009). Like
    :func:`open_landsat_l1_bt` this is NOT land surface temperature.

    Parameters
    ----------
    path
        The thermal band (any raster GDAL reads, with a CRS).
    gain, bias
        Radiometric rescaling of the DN.
    k1, k2
        Thermal constants (W m-2 sr-1 um-1, K).
    sensor
        Sensor name recorded in the attrs (e.g. ``"Landsat 7 ETM+"``).
    band
        Band id recorded in the attrs.
    time
        Acquisition date/time (ISO 8601) when known.
    calibration
        Where the constants come from (recorded in the attrs).

    Returns
    -------
    xarray.DataArray
        ``(y, x)`` float32 brightness temperature (K), NaN where DN <= 0, DN is the file's
        nodata or the radiance is <= 0.

    Raises
    ------
    MissingCRSError
        The band has no CRS.

    """
    p = Path(path)
    raw = _read_dn(p)
    dn = raw.values.astype(np.float64)
    bad = ~np.isfinite(dn) | (dn <= 0)
    for nd in raw.nodata:
        bad |= dn == nd
    if raw.mask is not None:
        bad |= raw.mask
    radiance = gain * dn + bias
    bt = brightness_temperature(radiance, k1, k2, valid=~bad)
    da = grid_dataarray(bt, raw.transform, raw.crs, name="brightness_temperature")
    return finalize(
        da,
        units="K",
        long_name="at-sensor brightness temperature (not LST: no emissivity or atmospheric correction)",
        sensor=sensor,
        product=f"Landsat Level-1 DN band {band} (no MTL; {calibration})",
        source=p,
        time=time,
        kind="lst",
        extra={"radiance_mult": gain, "radiance_add": bias, "k1": k1, "k2": k2,
               "thermal_band": band, "calibration": calibration},
    )
