"""Writers of tiny fake product files with the real layouts (names, scale factors, QA bits, metadata).

Used by the ``tests/test_io_*.py`` tests and importable by other tests (``from fakes import ...``;
``tests/`` is on ``sys.path`` under pytest's default rootdir-based import mode).

Every writer takes *physical* values (kelvin, reflectance, NDVI) with NaN for missing pixels and
encodes them the way the real product does, so that a reader test checks the decoding.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.errors
import rioxarray  # noqa: F401  (registers .rio)
import xarray as xr
from affine import Affine
from rasterio.crs import CRS

MODIS_SINU = "+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m +no_defs"
MODIS_TILE_M = 1111950.5197665233
UTM31 = "EPSG:32631"


def modis_tile_corners(h: int, v: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """Upper-left and lower-right corners (m) of MODIS tile h/v."""
    ulx, uly = (h - 18) * MODIS_TILE_M, (9 - v) * MODIS_TILE_M
    return (ulx, uly), (ulx + MODIS_TILE_M, uly - MODIS_TILE_M)


# ------------------------------------------------------------------------------------ GeoTIFF
def write_geotiff(
    path: str | Path,
    data: np.ndarray,
    *,
    crs: str | None = UTM31,
    transform: Affine | None = None,
    nodata: float | None = None,
    units: str | None = None,
    scale: float | None = None,
    offset: float | None = None,
    tags: Mapping[str, Any] | None = None,
    dtype: str | None = None,
    descriptions: list[str] | None = None,
) -> Path:
    """Write a (bands, y, x) or (y, x) array to GeoTIFF with optional metadata."""
    path = Path(path)
    arr = np.asarray(data)
    if arr.ndim == 2:
        arr = arr[None]
    dtype = dtype or arr.dtype.name
    transform = (
        transform if transform is not None else Affine(30.0, 0, 500000.0, 0, -30.0, 4500000.0)
    )
    profile = {
        "driver": "GTiff",
        "height": arr.shape[1],
        "width": arr.shape[2],
        "count": arr.shape[0],
        "dtype": dtype,
        "transform": transform if crs is not None else Affine.identity(),
    }
    if crs is not None:
        profile["crs"] = CRS.from_user_input(crs)
    if nodata is not None:
        profile["nodata"] = nodata
    with warnings.catch_warnings():  # writing a file without CRS on purpose
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        dst = rasterio.open(path, "w", **profile)
    with dst:
        dst.write(arr.astype(dtype))
        if units is not None:
            dst.units = [units] * arr.shape[0]
        if scale is not None:
            dst.scales = [scale] * arr.shape[0]
            dst.offsets = [offset or 0.0] * arr.shape[0]
        if tags:
            dst.update_tags(**{k: str(v) for k, v in tags.items()})
        if descriptions:
            dst.descriptions = tuple(descriptions)
    return path


def write_netcdf(
    path: str | Path,
    data: np.ndarray,
    *,
    x0: float = 500000.0,
    y0: float = 4500000.0,
    res: float = 100.0,
    crs: str | None = UTM31,
    units: str | None = "K",
    var: str = "lst",
    encoding: Mapping[str, Any] | None = None,
) -> Path:
    """Write a CF NetCDF file with a grid mapping, x/y pixel centres, north-up."""
    path = Path(path)
    ny, nx = data.shape
    x = x0 + res * (np.arange(nx) + 0.5)
    y = y0 - res * (np.arange(ny) + 0.5)
    da = xr.DataArray(np.asarray(data), dims=("y", "x"), coords={"y": y, "x": x}, name=var)
    if units is not None:
        da.attrs["units"] = units
    if crs is not None:
        da = da.rio.write_crs(crs)
    ds = da.to_dataset()
    enc = {**da.encoding, **dict(encoding or {})}  # keep rioxarray's grid_mapping
    ds.to_netcdf(path, encoding={var: enc})  # any installed NetCDF backend
    return path


# ------------------------------------------------------------------------------------ HDF4-EOS
def _struct_metadata(
    grid_name: str, nx: int, ny: int, ul, lr, fields: list[tuple[str, str]]
) -> str:
    objs = "".join(
        f'\t\t\tOBJECT=DataField_{i}\n\t\t\t\tDataFieldName="{n}"\n\t\t\t\tDataType={t}\n'
        f'\t\t\t\tDimList=("YDim","XDim")\n\t\t\tEND_OBJECT=DataField_{i}\n'
        for i, (n, t) in enumerate(fields, 1)
    )
    return (
        "GROUP=SwathStructure\nEND_GROUP=SwathStructure\nGROUP=GridStructure\n\tGROUP=GRID_1\n"
        f'\t\tGridName="{grid_name}"\n\t\tXDim={nx}\n\t\tYDim={ny}\n'
        f"\t\tUpperLeftPointMtrs=({ul[0]:.6f},{ul[1]:.6f})\n\t\tLowerRightMtrs=({lr[0]:.6f},{lr[1]:.6f})\n"
        "\t\tProjection=GCTP_SNSOID\n\t\tProjParams=(6371007.181000,0,0,0,0,0,0,0,0,0,0,0,0)\n"
        "\t\tSphereCode=-1\n\t\tGridOrigin=HDFE_GD_UL\n\t\tGROUP=Dimension\n\t\tEND_GROUP=Dimension\n"
        f"\t\tGROUP=DataField\n{objs}\t\tEND_GROUP=DataField\n\tEND_GROUP=GRID_1\n"
        "END_GROUP=GridStructure\nGROUP=PointStructure\nEND_GROUP=PointStructure\nEND\n"
    )


def _core_metadata(granule: str, shortname: str, day: date) -> str:
    return (
        "GROUP                  = INVENTORYMETADATA\n"
        "  OBJECT                 = LOCALGRANULEID\n    NUM_VAL              = 1\n"
        f'    VALUE                = "{granule}"\n  END_OBJECT             = LOCALGRANULEID\n'
        "  OBJECT                 = SHORTNAME\n    NUM_VAL              = 1\n"
        f'    VALUE                = "{shortname}"\n  END_OBJECT             = SHORTNAME\n'
        "  OBJECT                 = RANGEBEGINNINGDATE\n    NUM_VAL              = 1\n"
        f'    VALUE                = "{day.isoformat()}"\n  END_OBJECT             = RANGEBEGINNINGDATE\n'
        "END_GROUP              = INVENTORYMETADATA\nEND\n"
    )


_SDC_TYPES = {
    "uint8": ("UINT8", "DFNT_UINT8"),
    "uint16": ("UINT16", "DFNT_UINT16"),
    "int16": ("INT16", "DFNT_INT16"),
    "int8": ("INT8", "DFNT_INT8"),
}


def _write_hdf4(
    path: Path,
    grid_name: str,
    tile: tuple[int, int],
    datasets: list[tuple[str, np.ndarray, dict[str, Any]]],
    granule: str,
    shortname: str,
    day: date,
) -> Path:
    from pyhdf.SD import SD, SDC

    ny, nx = datasets[0][1].shape
    ul, lr = modis_tile_corners(*tile)
    sd = SD(str(path), SDC.WRITE | SDC.CREATE | SDC.TRUNC)
    try:
        for name, arr, attrs in datasets:
            sdc_name, _ = _SDC_TYPES[arr.dtype.name]
            sds = sd.create(name, getattr(SDC, sdc_name), arr.shape)
            sds.dim(0).setname(f"YDim:{grid_name}")
            sds.dim(1).setname(f"XDim:{grid_name}")
            for key, val in attrs.items():
                if key == "_FillValue":
                    sds.setfillvalue(val)
                elif key == "valid_range":
                    sds.setrange(*val)
                elif isinstance(val, str):
                    sds.attr(key).set(SDC.CHAR, val)
                elif isinstance(val, float):
                    sds.attr(key).set(SDC.FLOAT64, val)
                else:
                    sds.attr(key).set(getattr(SDC, sdc_name), val)
            sds[:] = arr
            sds.endaccess()
        fields = [(n, _SDC_TYPES[a.dtype.name][1]) for n, a, _ in datasets]
        sd.attr("HDFEOSVersion").set(SDC.CHAR, "HDFEOS_V2.19")
        sd.attr("StructMetadata.0").set(
            SDC.CHAR, _struct_metadata(grid_name, nx, ny, ul, lr, fields)
        )
        sd.attr("CoreMetadata.0").set(SDC.CHAR, _core_metadata(granule, shortname, day))
    finally:
        sd.end()
    return path


def _granule_name(short: str, day: date, tile: tuple[int, int], version: str = "061") -> str:
    doy = day.timetuple().tm_yday
    return f"{short}.A{day.year}{doy:03d}.h{tile[0]:02d}v{tile[1]:02d}.{version}.2020001000000.hdf"


def encode_lst(kelvin: np.ndarray, scale: float = 0.02) -> np.ndarray:
    """MODIS LST counts (uint16, 0 = fill) from kelvin with NaN."""
    k = np.asarray(kelvin, dtype=np.float64)
    return np.where(np.isfinite(k), np.round(np.nan_to_num(k) / scale), 0).astype(np.uint16)


def write_mod11a1(
    folder: str | Path,
    day_k: np.ndarray,
    qc_day: np.ndarray,
    night_k: np.ndarray | None = None,
    qc_night: np.ndarray | None = None,
    *,
    tile: tuple[int, int] = (18, 4),
    day: date = date(2020, 7, 15),
    short: str = "MOD11A1",
    filename: str | None = None,
) -> Path:
    """Write a MOD11A1/MYD11A1 HDF4-EOS granule (SDS names, attributes and metadata as the real one)."""
    night_k = day_k - 12.0 if night_k is None else night_k
    qc_night = np.zeros_like(qc_day) if qc_night is None else qc_night
    grid = "MODIS_Grid_Daily_1km_LST"
    lst_attrs = {
        "long_name": "Daily daytime 1km grid Land-surface Temperature",
        "units": "K",
        "valid_range": (7500, 65535),
        "_FillValue": 0,
        "scale_factor": 0.02,
        "scale_factor_err": 0.0,
        "add_offset_err": 0.0,
    }
    qc_attrs = {
        "long_name": "Quality control for daytime LST and emissivity",
        "valid_range": (0, 255),
    }
    vt_attrs = {
        "long_name": "Time of daytime Land-surface Temperature observation",
        "units": "hrs",
        "valid_range": (0, 240),
        "_FillValue": 255,
        "scale_factor": 0.1,
    }
    view = np.full(day_k.shape, 105, dtype=np.uint8)  # 10.5 h local solar time
    datasets = [
        ("LST_Day_1km", encode_lst(day_k), lst_attrs),
        ("QC_Day", np.asarray(qc_day, dtype=np.uint8), qc_attrs),
        ("Day_view_time", view, vt_attrs),
        (
            "LST_Night_1km",
            encode_lst(night_k),
            {**lst_attrs, "long_name": "Daily nighttime 1km grid Land-surface Temperature"},
        ),
        ("QC_Night", np.asarray(qc_night, dtype=np.uint8), qc_attrs),
        ("Night_view_time", np.full(day_k.shape, 220, dtype=np.uint8), vt_attrs),
    ]
    granule = _granule_name(short, day, tile)
    path = Path(folder) / (filename or granule)
    return _write_hdf4(path, grid, tile, datasets, granule, short, day)


def write_mod21a1(
    folder: str | Path,
    lst_k: np.ndarray,
    qc: np.ndarray,
    *,
    day_night: str = "D",
    tile: tuple[int, int] = (18, 4),
    day: date = date(2020, 7, 15),
) -> Path:
    """Write a MOD21A1D / MOD21A1N granule (``LST_1KM`` x 0.02 K, 16-bit ``QC``)."""
    short = f"MOD21A1{day_night}"
    datasets = [
        (
            "LST_1KM",
            encode_lst(lst_k),
            {
                "long_name": "Land Surface Temperature",
                "units": "K",
                "valid_range": (7500, 65535),
                "_FillValue": 0,
                "scale_factor": 0.02,
                "add_offset": 0.0,
            },
        ),
        (
            "QC",
            np.asarray(qc, dtype=np.uint16),
            {"long_name": "Quality Control for LST and emissivity"},
        ),
    ]
    granule = _granule_name(short, day, tile)
    return _write_hdf4(
        Path(folder) / granule, "MODIS_Grid_Daily_1km_LST", tile, datasets, granule, short, day
    )


def write_mod09gq(
    folder: str | Path,
    red: np.ndarray,
    nir: np.ndarray,
    qc: np.ndarray,
    *,
    tile: tuple[int, int] = (18, 4),
    day: date = date(2020, 7, 15),
) -> Path:
    """Write a MOD09GQ granule (sur_refl_b01_1/b02_1 int16 x 1e-4, fill -28672, QC_250m_1)."""

    def enc(r: np.ndarray) -> np.ndarray:
        return np.where(np.isfinite(r), np.round(np.nan_to_num(r) * 1e4), -28672).astype(np.int16)

    refl = {
        "units": "reflectance",
        "valid_range": (-100, 16000),
        "_FillValue": -28672,
        "scale_factor": 0.0001,
        "add_offset": 0.0,
    }
    datasets = [
        (
            "num_observations",
            np.ones(red.shape, dtype=np.int8),
            {"long_name": "Number of Observations"},
        ),
        ("sur_refl_b01_1", enc(red), {"long_name": "Surface Reflectance Band 1", **refl}),
        ("sur_refl_b02_1", enc(nir), {"long_name": "Surface Reflectance Band 2", **refl}),
        (
            "QC_250m_1",
            np.asarray(qc, dtype=np.uint16),
            {"long_name": "250m Reflectance Band Quality"},
        ),
    ]
    granule = _granule_name("MOD09GQ", day, tile)
    return _write_hdf4(
        Path(folder) / granule, "MODIS_Grid_2D", tile, datasets, granule, "MOD09GQ", day
    )


def write_mod13(
    folder: str | Path,
    ndvi: np.ndarray,
    vi_quality: np.ndarray,
    reliability: np.ndarray,
    *,
    short: str = "MOD13Q1",
    tile: tuple[int, int] = (18, 4),
    day: date = date(2020, 7, 11),
) -> Path:
    """Write a MOD13Q1 / MOD13A2 granule (NDVI int16 with scale_factor 10000 = divisor, fill -3000)."""
    res = "250m" if short.endswith("Q1") else "1 km"
    enc = np.where(np.isfinite(ndvi), np.round(np.nan_to_num(ndvi) * 1e4), -3000).astype(np.int16)
    datasets = [
        (
            f"{res} 16 days NDVI",
            enc,
            {
                "long_name": f"{res} 16 days NDVI",
                "units": "NDVI",
                "valid_range": (-2000, 10000),
                "_FillValue": -3000,
                "scale_factor": 10000.0,
                "add_offset": 0.0,
            },
        ),
        (f"{res} 16 days VI Quality", np.asarray(vi_quality, dtype=np.uint16), {"units": "bits"}),
        (
            f"{res} 16 days pixel reliability",
            np.asarray(reliability, dtype=np.int8),
            {"units": "rank", "_FillValue": -1, "valid_range": (0, 3)},
        ),
    ]
    granule = _granule_name(short, day, tile)
    grid = "MODIS_Grid_16DAY_250m_500m_VI" if res == "250m" else "MODIS_Grid_16DAY_1km_VI"
    return _write_hdf4(Path(folder) / granule, grid, tile, datasets, granule, short, day)


# ------------------------------------------------------------------------------------ Landsat
def landsat_c2_name(spacecraft: str = "LC08", day: date = date(2021, 6, 20)) -> str:
    """A Collection 2 Level-2 product id."""
    proc = day + timedelta(days=8)
    return f"{spacecraft}_L2SP_199026_{day:%Y%m%d}_{proc:%Y%m%d}_02_T1"


def _mtl_odl(groups: Mapping[str, Mapping[str, Any]]) -> str:
    lines = ["GROUP = LANDSAT_METADATA_FILE"]
    for g, kv in groups.items():
        lines.append(f"  GROUP = {g}")
        for k, v in kv.items():
            lines.append(
                f'    {k} = "{v}"' if isinstance(v, str) and not _bare(v) else f"    {k} = {v}"
            )
        lines.append(f"  END_GROUP = {g}")
    lines += ["END_GROUP = LANDSAT_METADATA_FILE", "END"]
    return "\n".join(lines) + "\n"


def _bare(v: str) -> bool:
    import re

    return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", v))


def write_landsat_c2l2(
    folder: str | Path,
    st_k: np.ndarray,
    red: np.ndarray,
    nir: np.ndarray,
    qa: np.ndarray,
    *,
    spacecraft: str = "LC08",
    st_mult: float = 0.00341802,
    st_add: float = 149.0,
    sr_mult: float = 2.75e-5,
    sr_add: float = -0.2,
    mtl_formats: tuple[str, ...] = ("txt",),
    transform: Affine | None = None,
) -> str:
    """Write a Landsat C2 L2 bundle (ST_B10, SR_B4, SR_B5, QA_PIXEL, MTL); returns the product id.

    Physical inputs with NaN for fill; DN 0 = fill as in the real product.
    """
    folder = Path(folder)
    pid = landsat_c2_name(spacecraft)
    transform = transform or Affine(30.0, 0, 600000.0, 0, -30.0, 5400000.0)

    def dn(x: np.ndarray, mult: float, add: float) -> np.ndarray:
        return np.where(
            np.isfinite(x), np.clip(np.round((np.nan_to_num(x) - add) / mult), 1, 65535), 0
        ).astype(np.uint16)

    files = {
        "ST_B10": dn(st_k, st_mult, st_add),
        "SR_B4": dn(red, sr_mult, sr_add),
        "SR_B5": dn(nir, sr_mult, sr_add),
        "QA_PIXEL": np.asarray(qa, dtype=np.uint16),
    }
    for suf, arr in files.items():
        write_geotiff(
            folder / f"{pid}_{suf}.TIF",
            arr,
            crs="EPSG:32631",
            transform=transform,
            nodata=None if suf == "QA_PIXEL" else 0,
        )
    groups = {
        "PRODUCT_CONTENTS": {
            "LANDSAT_PRODUCT_ID": pid,
            "PROCESSING_LEVEL": "L2SP",
            "FILE_NAME_BAND_4": f"{pid}_SR_B4.TIF",
            "FILE_NAME_BAND_5": f"{pid}_SR_B5.TIF",
            "FILE_NAME_BAND_ST_B10": f"{pid}_ST_B10.TIF",
            "FILE_NAME_QUALITY_L1_PIXEL": f"{pid}_QA_PIXEL.TIF",
        },
        "IMAGE_ATTRIBUTES": {
            "SPACECRAFT_ID": "LANDSAT_8" if spacecraft == "LC08" else "LANDSAT_9",
            "SENSOR_ID": "OLI_TIRS",
            "DATE_ACQUIRED": "2021-06-20",
            "SCENE_CENTER_TIME": "10:41:02.1234560Z",
            "CLOUD_COVER": 12.5,
        },
        "LEVEL2_SURFACE_REFLECTANCE_PARAMETERS": {
            "REFLECTANCE_MULT_BAND_4": sr_mult,
            "REFLECTANCE_ADD_BAND_4": sr_add,
            "REFLECTANCE_MULT_BAND_5": sr_mult,
            "REFLECTANCE_ADD_BAND_5": sr_add,
        },
        "LEVEL2_SURFACE_TEMPERATURE_PARAMETERS": {
            "TEMPERATURE_MULT_BAND_ST_B10": st_mult,
            "TEMPERATURE_ADD_BAND_ST_B10": st_add,
        },
        # the Level-1 group repeats reflectance keys with other values, as in real MTLs
        "LEVEL1_RADIOMETRIC_RESCALING": {
            "REFLECTANCE_MULT_BAND_4": 2.0e-5,
            "REFLECTANCE_ADD_BAND_4": -0.1,
        },
    }
    if "txt" in mtl_formats:
        (folder / f"{pid}_MTL.txt").write_text(_mtl_odl(groups))
    if "json" in mtl_formats:
        js = {
            "LANDSAT_METADATA_FILE": {
                g: {k: str(v) for k, v in kv.items()} for g, kv in groups.items()
            }
        }
        (folder / f"{pid}_MTL.json").write_text(json.dumps(js, indent=2))
    if "xml" in mtl_formats:
        body = "".join(
            f"<{g}>" + "".join(f"<{k}>{v}</{k}>" for k, v in kv.items()) + f"</{g}>"
            for g, kv in groups.items()
        )
        (folder / f"{pid}_MTL.xml").write_text(
            f'<?xml version="1.0"?><LANDSAT_METADATA_FILE>{body}</LANDSAT_METADATA_FILE>'
        )
    return pid


def write_landsat_l1(
    folder: str | Path,
    dn: np.ndarray,
    *,
    ml: float = 3.342e-4,
    al: float = 0.1,
    k1: float = 774.8853,
    k2: float = 1321.0789,
) -> Path:
    """Write a Landsat 8 Collection 1 L1TP thermal band B10 and its MTL; returns the MTL path."""
    folder = Path(folder)
    pid = "LC08_L1TP_016037_20170813_20170814_01_T1"
    write_geotiff(
        folder / f"{pid}_B10.TIF", np.asarray(dn, dtype=np.uint16), crs="EPSG:32617", nodata=0
    )
    text = (
        'GROUP = L1_METADATA_FILE\n  GROUP = PRODUCT_METADATA\n    DATA_TYPE = "L1TP"\n'
        '    SPACECRAFT_ID = "LANDSAT_8"\n    SENSOR_ID = "OLI_TIRS"\n    DATE_ACQUIRED = 2017-08-13\n'
        '    SCENE_CENTER_TIME = "15:54:15.7884640Z"\n'
        f'    FILE_NAME_BAND_10 = "{pid}_B10.TIF"\n  END_GROUP = PRODUCT_METADATA\n'
        f"  GROUP = RADIOMETRIC_RESCALING\n    RADIANCE_MULT_BAND_10 = {ml:.4E}\n    RADIANCE_ADD_BAND_10 = {al:.5f}\n"
        "  END_GROUP = RADIOMETRIC_RESCALING\n  GROUP = TIRS_THERMAL_CONSTANTS\n"
        f"    K1_CONSTANT_BAND_10 = {k1:.4f}\n    K2_CONSTANT_BAND_10 = {k2:.4f}\n"
        "  END_GROUP = TIRS_THERMAL_CONSTANTS\nEND_GROUP = L1_METADATA_FILE\nEND\n"
    )
    mtl = folder / f"{pid}_MTL.txt"
    mtl.write_text(text)
    return mtl


# ------------------------------------------------------------------------------------ pairs
def write_modis_aster_pair(
    root: str | Path,
    pid: int,
    rng: np.random.Generator,
    *,
    split: str = "dev",
    ndvi_offset_px: tuple[int, int] = (1, 3),
) -> dict[str, Any]:
    """Write one fake MODIS-ASTER pair folder (layout and meta.json keys of the shared pairs)."""
    d = Path(root) / str(pid)
    d.mkdir(parents=True, exist_ok=True)
    r1, r250 = 926.6254330558334, 231.65635826395834
    x0, y0 = 46331.27165279167, 4902775.1662970055
    lst_t = Affine(r1, 0, x0, 0, -r1, y0)
    ndvi_t = Affine(r250, 0, x0 + ndvi_offset_px[1] * r250, 0, -r250, y0 - ndvi_offset_px[0] * r250)
    lst = (300 + 5 * rng.standard_normal((8, 8))).astype(np.float32)
    ndvi = np.clip(0.5 + 0.2 * rng.standard_normal((32, 32)), -1, 1).astype(np.float32)
    aster = (300 + 5 * rng.standard_normal((20, 22))).astype(np.float32)
    aster[:3] = np.nan
    aster[-1, :] = 199.5  # fill strip beside the swath
    aster_t = Affine(231.654786841478, 0, 292549.53, 0, -231.654786841478, 4893092.83)
    write_geotiff(
        d / "modis_lst_1km.tif", lst, crs=MODIS_SINU, transform=lst_t, nodata=np.nan, units="K"
    )
    write_geotiff(
        d / "modis_ndvi_250m.tif", ndvi, crs=MODIS_SINU, transform=ndvi_t, nodata=np.nan, units="1"
    )
    write_geotiff(
        d / "aster_lst_250m.tif",
        aster,
        crs="EPSG:32631",
        transform=aster_t,
        nodata=np.nan,
        units="K",
    )
    meta = {
        "id": pid,
        "split": split,
        "modis_tile": "h18v04",
        "lst_transform": list(lst_t)[:6],
        "ndvi_transform": list(ndvi_t)[:6],
        "ndvi_offset_from_lst_grid_px": list(ndvi_offset_px),
        "aster_epsg": 32631,
    }
    (d / "meta.json").write_text(json.dumps(meta))
    return meta
