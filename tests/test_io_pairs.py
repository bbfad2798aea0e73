"""MODIS-ASTER pair loader and ASTER reader, on fake folders and on the real shared pairs."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from affine import Affine
from fakes import write_geotiff, write_modis_aster_pair
from rasterio.warp import transform_bounds

from scalelaws.errors import MissingCRSError, ProductError
from scalelaws.io import (
    ModisAsterPair,
    list_modis_aster_pairs,
    open_aster_lst,
    open_aster_ndvi,
    open_lst,
    open_modis_aster_pair,
)


def _offset_px(pair: ModisAsterPair) -> tuple[int, int]:
    """NDVI grid origin minus LST grid origin, in 250 m pixels (rows south, cols east)."""
    tl, tn = pair.lst_1km.rio.transform(), pair.ndvi_250m.rio.transform()
    rows = (tl.f - tn.f) / abs(tn.e)
    cols = (tn.c - tl.c) / tn.a
    return rows, cols


def test_fake_pairs(tmp_path, rng):
    write_modis_aster_pair(tmp_path, 7, rng, ndvi_offset_px=(2, 1))
    write_modis_aster_pair(tmp_path, 3, rng, split="holdout")
    (tmp_path / "9").mkdir()  # incomplete folder: skipped
    assert list_modis_aster_pairs(tmp_path) == [7]
    assert list_modis_aster_pairs(tmp_path, split="holdout") == [3]
    assert list_modis_aster_pairs(tmp_path, split=None) == [3, 7]
    pair = open_modis_aster_pair(7, root=tmp_path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        pair.id = 8  # type: ignore[misc]
    assert pair.lst_1km.shape == (8, 8) and pair.ndvi_250m.shape == (32, 32)
    assert pair.lst_1km.attrs["units"] == "K" and pair.ndvi_250m.attrs["units"] == "1"
    assert pair.aster_250m.attrs["units"] == "K" and pair.aster_250m.rio.crs.to_epsg() == 32631
    # ASTER fill strip (199.5 K) and NaN rows are missing, the rest kept
    a = pair.aster_250m.values
    assert np.isnan(a[:3]).all() and np.isnan(a[-1]).all() and np.isfinite(a[3:-1]).all()
    np.testing.assert_allclose(_offset_px(pair), (2, 1), atol=1e-6)
    assert pair.ndvi_250m.attrs["ndvi_offset_from_lst_grid_px"] == [2, 1]
    with pytest.raises(ProductError, match="pair 5 not found"):
        open_modis_aster_pair(5, root=tmp_path)
    with pytest.raises(ProductError, match="not found"):
        list_modis_aster_pairs(tmp_path / "nowhere")


def test_aster_ast08(tmp_path):
    t = Affine(90.0, 0, 300000.0, 0, -90.0, 4900000.0)
    counts = np.array([[3000, 3105, 0], [1995, 2950, 3200]], dtype=np.uint16)  # kelvin x 10
    p = write_geotiff(
        tmp_path / "AST_08_00307152020103015_20200716_SKT.tif",
        counts,
        transform=t,
        crs="EPSG:32631",
        nodata=0,
    )
    da = open_lst(p)
    assert da.attrs["product"] == "AST_08" and da.attrs["units"] == "K"
    np.testing.assert_allclose(
        da.values, [[300.0, 310.5, np.nan], [np.nan, 295.0, 320.0]], rtol=1e-6
    )
    p2 = write_geotiff(tmp_path / "AST_08_nocrs.tif", counts, crs=None)
    with pytest.raises(MissingCRSError, match="AST_08_nocrs.tif"):
        open_aster_lst(p2)
    hdf = tmp_path / "AST_08_00307152020103015.hdf"
    hdf.write_bytes(b"\x0e\x03\x13\x01rest")
    with pytest.raises(ProductError, match="swath"):
        open_aster_lst(hdf)


def test_aster_ndvi(tmp_path):
    t = Affine(15.0, 0, 300000.0, 0, -15.0, 4900000.0)
    red = np.array([[50, 100], [0, 80]], dtype=np.int16)  # reflectance x 1000, 0 = fill
    nir = np.array([[350, 300], [200, 80]], dtype=np.int16)
    pr = write_geotiff(tmp_path / "b2.tif", red, transform=t)
    pn = write_geotiff(tmp_path / "b3n.tif", nir, transform=t)
    da = open_aster_ndvi(pr, pn)
    np.testing.assert_allclose(da.values, [[0.75, 0.5], [np.nan, 0.0]], atol=1e-6)


# ------------------------------------------------------------------------ real pairs
@pytest.mark.shared_data
def test_real_pairs_list(modis_aster_root):
    ids = list_modis_aster_pairs()
    split = json.loads((modis_aster_root / "split.json").read_text())
    assert ids == sorted(split["ids"]) and len(ids) == 40


@pytest.mark.shared_data
@pytest.mark.parametrize("index", [0, 17, 39])
def test_real_pair_geometry(modis_aster_root, index):
    pid = list_modis_aster_pairs()[index]
    pair = open_modis_aster_pair(pid)
    lst, ndvi, aster, meta = pair.lst_1km, pair.ndvi_250m, pair.aster_250m, pair.meta
    assert lst.shape == (64, 64) and ndvi.shape == (256, 256)
    assert np.isfinite(lst.values).all() and np.isfinite(ndvi.values).all()  # README: no gaps
    # the transforms written in meta.json are those of the files (to a mm)
    np.testing.assert_allclose(tuple(lst.rio.transform())[:6], meta["lst_transform"], atol=1e-3)
    np.testing.assert_allclose(tuple(ndvi.rio.transform())[:6], meta["ndvi_transform"], atol=1e-3)
    # the NDVI offset of meta.json is the offset between the two grids (whole 250 m pixels)
    rows, cols = _offset_px(pair)
    np.testing.assert_allclose((rows, cols), meta["ndvi_offset_from_lst_grid_px"], atol=1e-3)
    # ASTER: valid values are real temperatures (README: interior minimum 281.8 K)
    v = aster.values[np.isfinite(aster.values)]
    assert v.min() >= 230.0 and 270 < np.median(v) < 340
    assert aster.rio.crs.to_epsg() == meta["aster_epsg"]
    assert int(np.isfinite(aster.values).sum()) == meta["aster_mask"]["n_valid"]
    # the ASTER footprint (valid pixels, reprojected to MODIS sinusoidal) overlaps the LST patch
    ys, xs = np.nonzero(np.isfinite(aster.values))
    t = aster.rio.transform()
    left, right = t.c + t.a * xs.min(), t.c + t.a * (xs.max() + 1)
    top, bottom = t.f + t.e * ys.min(), t.f + t.e * (ys.max() + 1)
    fb = transform_bounds(aster.rio.crs, lst.rio.crs, left, bottom, right, top, densify_pts=21)
    lb = lst.rio.bounds()
    ix = min(fb[2], lb[2]) - max(fb[0], lb[0])
    iy = min(fb[3], lb[3]) - max(fb[1], lb[1])
    assert ix > 0 and iy > 0
    # and substantially: at least a quarter of the footprint's bounding box lies on the patch
    assert ix * iy > 0.25 * (fb[2] - fb[0]) * (fb[3] - fb[1])
