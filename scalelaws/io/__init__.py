"""Readers of LST and NDVI products into georeferenced ``xarray.DataArray`` fields.

Every reader returns dims ``("y", "x")``, float32, NaN for nodata / cloud / rejected QC, CRS and
transform through rioxarray (coordinates are pixel centres), and attrs ``units`` (``"K"`` for
LST, ``"1"`` for NDVI), ``long_name``, ``sensor``, ``product``, ``time`` (ISO 8601, when known)
and ``source`` (the path read). LST is in kelvin only: Celsius input is refused.

HDF4: the GDAL built into the rasterio wheels has no HDF4 driver, so the original MODIS
HDF4-EOS files are read with ``pyhdf`` (the maintained Python binding of the HDF4 library);
the grid is rebuilt from the HDF-EOS ``StructMetadata.0`` and the CRS is the MODIS sinusoidal
projection on the 6371007.181 m sphere.
"""

from __future__ import annotations

from scalelaws.io.aster import open_aster_lst, open_aster_ndvi
from scalelaws.io.dispatch import open_lst, open_ndvi
from scalelaws.io.generic import open_raster
from scalelaws.io.landsat import (
    open_landsat_c2l2,
    open_landsat_dn_bt,
    open_landsat_l1_bt,
    read_mtl,
)
from scalelaws.io.modis import modis_qc_bits, modis_tile_transform, open_modis_lst, open_modis_ndvi
from scalelaws.io.pairs import (
    ModisAsterPair,
    list_modis_aster_pairs,
    list_modis_lst_2020,
    open_modis_aster_pair,
    open_modis_lst_2020,
)

__all__ = [
    "open_raster",
    "open_lst",
    "open_ndvi",
    "open_modis_lst",
    "open_modis_ndvi",
    "modis_qc_bits",
    "modis_tile_transform",
    "open_landsat_c2l2",
    "open_landsat_l1_bt",
    "open_landsat_dn_bt",
    "read_mtl",
    "open_aster_lst",
    "open_aster_ndvi",
    "ModisAsterPair",
    "list_modis_aster_pairs",
    "open_modis_aster_pair",
    "list_modis_lst_2020",
    "open_modis_lst_2020",
]
