"""The MODIS-ASTER benchmark pairs and the MODIS 2020 training crops of the shared data.

Layout of ``<data>/modis_aster/pairs`` (see its README)::

    split.json
    <id>/modis_lst_1km.tif     64 x 64, K, MODIS sinusoidal, ~926.6 m
    <id>/modis_ndvi_250m.tif   256 x 256, NDVI, MODIS sinusoidal, ~231.7 m
    <id>/aster_lst_250m.tif    K, ASTER UTM grid (EPSG 32631/32632), ~231.65 m
    <id>/meta.json

Things a user must know (from the README), kept in the attributes of the returned fields:

* the 250 m NDVI patch is shifted by 0-3 fine pixels per axis from the 4 x 4 blocks of the 1 km
  LST patch (``meta["ndvi_offset_from_lst_grid_px"]``): always place fields with their own
  transforms, never by index arithmetic;
* the ASTER fields sit about 175 m east and 175 m south of the matching MODIS fields;
* the MODIS LST product is MOD21A1D according to the source repository (not tagged in the
  files), the NDVI comes from MOD09GQ red / NIR, and the ASTER product/aggregation is not named.

``<data>/modis_lst_2020`` holds MOD11A1 and MOD13A2 GeoTIFF crops paired by
``lst_ndvi_pairs.csv``; :func:`list_modis_lst_2020` lists them and :func:`open_modis_lst_2020`
opens one LST crop.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from scalelaws.config import data_dir
from scalelaws.errors import ProductError
from scalelaws.io.generic import open_raster

logger = logging.getLogger(__name__)

__all__ = [
    "ModisAsterPair",
    "list_modis_aster_pairs",
    "open_modis_aster_pair",
    "list_modis_lst_2020",
    "open_modis_lst_2020",
    "ASTER_MIN_VALID_K",
]

#: Stored ASTER values below this are fill (0 outside the scene, ~199.5 K strips): NaN.
ASTER_MIN_VALID_K = 230.0
_PAIR_FILES = ("modis_lst_1km.tif", "modis_ndvi_250m.tif", "aster_lst_250m.tif", "meta.json")


@dataclass(frozen=True)
class ModisAsterPair:
    """One MODIS-ASTER benchmark pair.

    Attributes
    ----------
    id
        Pair identifier (the folder name).
    lst_1km
        MODIS daytime LST (K), 64 x 64 at ~926.6 m, MODIS sinusoidal grid.
    ndvi_250m
        MODIS NDVI (MOD09GQ red/NIR), 256 x 256 at ~231.7 m, MODIS sinusoidal grid. Its grid
        is offset from the LST 4 x 4 blocks by ``meta["ndvi_offset_from_lst_grid_px"]``.
    aster_250m
        ASTER LST (K) aggregated to ~231.65 m on its UTM grid; NaN outside the footprint.
    meta
        The pair's ``meta.json``.

    """

    id: int
    lst_1km: xr.DataArray
    ndvi_250m: xr.DataArray
    aster_250m: xr.DataArray
    meta: dict[str, Any] = field(default_factory=dict)


def _pairs_root(root: str | os.PathLike | None) -> Path:
    r = Path(root) if root is not None else data_dir() / "modis_aster" / "pairs"
    if not r.is_dir():
        raise ProductError(
            "MODIS-ASTER pairs folder not found (set SCALELAWS_DATA or pass root=)", r
        )
    return r


def list_modis_aster_pairs(
    root: str | os.PathLike | None = None, split: str | None = "dev"
) -> list[int]:
    """List the ids of the MODIS-ASTER pairs present in a folder.

    Parameters
    ----------
    root
        The ``pairs`` folder; default ``config.data_dir() / "modis_aster" / "pairs"``.
    split
        ``"dev"``, ``"holdout"``, or ``None`` / ``"all"`` for every pair present. The split of a
        pair is read from its ``meta.json`` (or ``split.json``).

    Returns
    -------
    list of int
        Sorted ids of the complete pairs (all four files present) of that split.

    Raises
    ------
    ProductError
        When the folder does not exist.

    """
    r = _pairs_root(root)
    split_of: dict[int, str] = {}
    sj = r / "split.json"
    if sj.is_file():
        info = json.loads(sj.read_text())
        for i in info.get("ids", []):
            split_of[int(i)] = str(info.get("split", "unknown"))
    ids: list[int] = []
    for d in r.iterdir():
        if not (d.is_dir() and d.name.isdigit()):
            continue
        if not all((d / f).is_file() for f in _PAIR_FILES):
            logger.warning("%s: incomplete pair folder skipped", d)
            continue
        pid = int(d.name)
        if split not in (None, "all"):
            s = split_of.get(pid)
            if s is None:
                s = str(json.loads((d / "meta.json").read_text()).get("split", "unknown"))
            if s != split:
                continue
        ids.append(pid)
    return sorted(ids)


def open_modis_aster_pair(pid: int, root: str | os.PathLike | None = None) -> ModisAsterPair:
    """Open one MODIS-ASTER pair.

    Parameters
    ----------
    pid
        Pair id (see :func:`list_modis_aster_pairs`).
    root
        The ``pairs`` folder; default ``config.data_dir() / "modis_aster" / "pairs"``.

    Returns
    -------
    ModisAsterPair
        Fields in kelvin / dimensionless with their own grids; ASTER values below
        :data:`ASTER_MIN_VALID_K` are NaN (already so in the distributed files).

    Raises
    ------
    ProductError
        Unknown pair id or incomplete folder.

    """
    r = _pairs_root(root)
    d = r / str(int(pid))
    if not d.is_dir():
        raise ProductError(
            f"pair {pid} not found; available: {list_modis_aster_pairs(r, split=None)}", d
        )
    missing = [f for f in _PAIR_FILES if not (d / f).is_file()]
    if missing:
        raise ProductError(f"pair folder lacks {missing}", d)
    meta = json.loads((d / "meta.json").read_text())
    tile = meta.get("modis_tile", "h18v04")
    common = {"pair_id": int(pid), "modis_tile": tile}
    lst = open_raster(d / "modis_lst_1km.tif", kind="lst", units="K")
    lst.attrs.update(
        long_name="MODIS daytime land surface temperature (1 km)",
        sensor="MODIS/Terra",
        product="MOD21A1D (per the source repository; not tagged in the file)",
        **common,
    )
    ndvi = open_raster(d / "modis_ndvi_250m.tif", kind="ndvi", units="1")
    ndvi.attrs.update(
        long_name="MODIS NDVI (250 m) from MOD09GQ red/NIR surface reflectance",
        sensor="MODIS/Terra",
        product="MOD09GQ",
        ndvi_offset_from_lst_grid_px=list(meta.get("ndvi_offset_from_lst_grid_px", [])),
        **common,
    )
    aster = open_raster(d / "aster_lst_250m.tif", kind="lst", units="K")
    aster = aster.where(aster >= ASTER_MIN_VALID_K)
    aster.attrs.update(
        long_name="ASTER land surface temperature aggregated to ~250 m (reference)",
        sensor="ASTER/Terra",
        product="ASTER kinetic temperature (product and aggregation not named by the source)",
        aster_epsg=int(meta.get("aster_epsg", 0)) or None,
        geolocation_note="ASTER sits ~175 m east and ~175 m south of MODIS (README item 3)",
        **common,
    )
    aster.attrs = {k: v for k, v in aster.attrs.items() if v is not None}
    return ModisAsterPair(id=int(pid), lst_1km=lst, ndvi_250m=ndvi, aster_250m=aster, meta=meta)


_CROP_RE = re.compile(
    r"(?P<product>M[OY]D\w+?)\.A(?P<year>\d{4})(?P<doy>\d{3})\.(?P<tile>h\d{2}v\d{2})\."
    r"(?P<version>\d{3})\.(?P<prod_time>\d{13})\.hdf\.(?P<window>\d+)\.tif$"
)


def list_modis_lst_2020(root: str | os.PathLike | None = None) -> pd.DataFrame:
    """List the MOD11A1 LST crops of 2020 with their MOD13A2 NDVI crops.

    Parameters
    ----------
    root
        The ``modis_lst_2020`` folder; default ``config.data_dir() / "modis_lst_2020"``.

    Returns
    -------
    pandas.DataFrame
        One row per LST crop, columns ``lst_path``, ``ndvi_path`` (``None`` when no NDVI crop),
        ``date`` (datetime64), ``doy``, ``tile``, ``window`` (crop index in the tile).

    Raises
    ------
    ProductError
        The folder or its ``lst_ndvi_pairs.csv`` is missing or malformed.

    """
    r = Path(root) if root is not None else data_dir() / "modis_lst_2020"
    csv = r / "lst_ndvi_pairs.csv"
    if not csv.is_file():
        raise ProductError("lst_ndvi_pairs.csv not found (set SCALELAWS_DATA or pass root=)", csv)
    table = pd.read_csv(csv)
    need = {"lst_file_MOD11A1_1km", "ndvi_file_MOD13A2_1km", "ndvi_exists"}
    if not need <= set(table.columns):
        raise ProductError(f"expected columns {sorted(need)}, got {list(table.columns)}", csv)
    rows = []
    for lst_rel, ndvi_rel, exists in table[
        ["lst_file_MOD11A1_1km", "ndvi_file_MOD13A2_1km", "ndvi_exists"]
    ].itertuples(index=False, name=None):
        m = _CROP_RE.search(Path(str(lst_rel)).name)
        if m is None:
            raise ProductError(f"unexpected LST crop name {lst_rel!r}", csv)
        year, doy = int(m["year"]), int(m["doy"])
        date = np.datetime64(f"{year}-01-01") + np.timedelta64(doy - 1, "D")
        has_ndvi = bool(int(exists)) and isinstance(ndvi_rel, str)
        rows.append(
            {
                "lst_path": r / str(lst_rel),
                "ndvi_path": (r / ndvi_rel) if has_ndvi else None,
                "date": date,
                "doy": doy,
                "tile": m["tile"],
                "window": int(m["window"]),
            }
        )
    df = pd.DataFrame(rows)
    if not df.empty:
        df["date"] = pd.to_datetime(df["date"])
    return df


def open_modis_lst_2020(path: str | os.PathLike, which: str = "day") -> xr.DataArray:
    """Open one MOD11A1 GeoTIFF crop of ``modis_lst_2020`` (band 1 day, band 2 night, K, 0 = fill).

    Parameters
    ----------
    path
        The crop (e.g. a ``lst_path`` of :func:`list_modis_lst_2020`).
    which
        ``"day"`` or ``"night"``.

    Returns
    -------
    xarray.DataArray
        LST in kelvin on the MODIS sinusoidal grid (see :func:`scalelaws.io.open_modis_lst`).

    """
    from scalelaws.io.modis import open_modis_lst

    return open_modis_lst(path, which=which, qc="any")
