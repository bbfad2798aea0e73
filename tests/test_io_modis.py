"""MODIS readers on fake HDF4-EOS granules / GeoTIFF exports, and on the real shared files."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from fakes import (
    MODIS_SINU,
    write_geotiff,
    write_mod09gq,
    write_mod11a1,
    write_mod13,
    write_mod21a1,
)

from scalelaws.errors import AllNaNError, NotARasterError, ProductError
from scalelaws.io import (
    modis_qc_bits,
    modis_tile_transform,
    open_lst,
    open_modis_lst,
    open_modis_ndvi,
    open_ndvi,
)

pytest.importorskip("pyhdf")


@pytest.fixture
def mod11(tmp_path, rng):
    n = 12
    day = 300 + 3 * rng.standard_normal((n, n))
    day[0, :4] = np.nan  # fill
    qc = np.zeros((n, n), np.uint8)
    qc[1, :] = 0b01  # other quality
    qc[2, :] = 0b01 | (0b11 << 6)  # other quality, LST error > 3 K
    qc[3, :] = 0b10  # not produced, cloud (value left in place to prove the QC is applied)
    path = write_mod11a1(tmp_path, day, qc, tile=(14, 9), day=date(2019, 11, 1))
    return path, day, qc


def test_mod11a1_values_qc_grid(mod11):
    path, day, qc = mod11
    da = open_modis_lst(path)  # qc="good"
    assert da.dims == ("y", "x") and da.dtype == np.float32
    keep = (qc & 0b11) == 0
    keep &= np.isfinite(day)
    np.testing.assert_array_equal(np.isfinite(da.values), keep)
    # counts of 0.02 K: decoding is exact to half a count
    np.testing.assert_allclose(da.values[keep], day[keep], atol=0.0101)
    assert da.attrs["units"] == "K" and da.attrs["product"] == "MOD11A1"
    assert da.attrs["time"] == "2019-11-01" and da.attrs["modis_tile"] == "h14v09"
    assert da.attrs["mean_local_solar_view_time_h"] == pytest.approx(10.5)
    # sinusoidal grid of tile h14v09 (12 x 12 pixels here)
    t = da.rio.transform()
    ref = modis_tile_transform(14, 9, 12)
    np.testing.assert_allclose(tuple(t)[:6], tuple(ref)[:6], rtol=0, atol=1e-3)
    assert t.c == pytest.approx(-4447802.079066, abs=1e-3) and t.f == pytest.approx(0.0, abs=1e-3)
    assert "+proj=sinu" in da.rio.crs.to_proj4() and "6371007.181" in da.rio.crs.to_proj4()


def test_mod11a1_qc_policies(mod11):
    path, day, qc = mod11
    any_ = open_modis_lst(path, qc="any")
    expected_any = np.isfinite(day) & ((qc & 0b11) <= 1)
    np.testing.assert_array_equal(np.isfinite(any_.values), expected_any)

    def err_le_1k(q):
        return (modis_qc_bits(q, 0, 2) <= 1) & (modis_qc_bits(q, 6, 2) == 0)

    custom = open_modis_lst(path, qc=err_le_1k)
    np.testing.assert_array_equal(np.isfinite(custom.values), np.isfinite(day) & err_le_1k(qc))
    night = open_modis_lst(path, which="night")
    # the fake night LST is day - 12 K with an all-good night QC
    np.testing.assert_allclose(night.values, day - 12, atol=0.0101)
    assert night.attrs["which"] == "night"


def test_mod11a1_date_from_core_metadata(tmp_path, rng):
    p = write_mod11a1(
        tmp_path,
        300 + rng.standard_normal((4, 4)),
        np.zeros((4, 4), np.uint8),
        filename="renamed.hdf",
        day=date(2019, 11, 1),
    )
    da = open_modis_lst(p)
    assert da.attrs["time"] == "2019-11-01" and da.attrs["product"] == "MOD11A1"


def test_mod11a1_all_rejected(tmp_path):
    p = write_mod11a1(tmp_path, np.full((4, 4), 300.0), np.full((4, 4), 0b10, np.uint8))
    with pytest.raises(AllNaNError, match=p.name):
        open_modis_lst(p)


def test_mod21a1(tmp_path, rng):
    k = 295 + rng.standard_normal((6, 6))
    qc = np.zeros((6, 6), np.uint16)
    qc[0] = 0b11  # not produced
    qc[1] = 0b01 | (0b11 << 4)  # unreliable, cloud flag
    p = write_mod21a1(tmp_path, k, qc, day_night="D")
    da = open_lst(p)
    assert da.attrs["product"] == "MOD21A1D"
    assert np.isnan(da.values[:2]).all() and np.isfinite(da.values[2:]).all()
    np.testing.assert_allclose(da.values[2:], k[2:], atol=0.0101)
    with pytest.raises(ProductError, match="no nighttime"):
        open_modis_lst(p, which="night")


def test_mod09gq_ndvi(tmp_path):
    red = np.full((8, 8), 0.05)
    nir = np.full((8, 8), 0.35)
    red[0, 0] = np.nan  # fill -28672
    qc = np.zeros((8, 8), np.uint16)
    qc[1] = 0b10  # not produced (cloud)
    qc[2] = 0b01 | (0b0111 << 4)  # less than ideal quality
    p = write_mod09gq(tmp_path, red, nir, qc)
    da = open_ndvi(p)
    assert da.attrs["units"] == "1" and da.attrs["product"] == "MOD09GQ"
    expected = (0.35 - 0.05) / (0.35 + 0.05)
    good = np.ones((8, 8), bool)
    good[0, 0] = False
    good[1:3] = False
    np.testing.assert_array_equal(np.isfinite(da.values), good)
    np.testing.assert_allclose(da.values[good], expected, atol=1e-4)
    anyq = open_modis_ndvi(p, qc="any")
    assert np.isfinite(anyq.values[2]).all() and np.isnan(anyq.values[1]).all()
    # 250 m grid of tile h18v04
    assert da.rio.transform().c == pytest.approx(0.0, abs=1e-3)
    assert da.rio.transform().f == pytest.approx(5 * 1111950.5197665233, abs=1e-2)


def test_mod13q1_ndvi_scale_is_a_divisor(tmp_path):
    ndvi = np.full((8, 8), 0.62)
    ndvi[0, 0] = np.nan  # fill -3000
    vi_q = np.zeros((8, 8), np.uint16)
    vi_q[1] = 0b10  # probably cloudy
    rel = np.zeros((8, 8), np.int8)
    p = write_mod13(tmp_path, ndvi, vi_q, rel)
    da = open_ndvi(p)
    assert np.isnan(da.values[0, 0]) and np.isnan(da.values[1]).all()
    np.testing.assert_allclose(da.values[2:], 0.62, atol=1e-6)
    assert da.attrs["time"] == "2020-07-11"


def test_geotiff_exports(tmp_path):
    t = modis_tile_transform(18, 4, 1200)
    # float export in K, band 1 day, band 2 night, 0 = fill
    arr = np.stack([np.full((4, 4), 301.5), np.full((4, 4), 285.0)]).astype(np.float32)
    arr[0, 0, 0] = 0
    name = "MOD11A1.A2020001.h18v04.061.2021003092415.hdf.0015.tif"
    p = write_geotiff(tmp_path / name, arr, crs=MODIS_SINU, transform=t)
    day = open_lst(p)
    assert np.isnan(day.values[0, 0]) and np.nanmax(day.values) == pytest.approx(301.5)
    assert day.attrs["time"] == "2020-01-01" and day.attrs["modis_tile"] == "h18v04"
    assert float(open_modis_lst(p, which="night").mean()) == pytest.approx(285.0)
    # integer export keeps the MODIS counts: x 0.02 K
    counts = np.full((1, 4, 4), 15000, np.uint16)
    p2 = write_geotiff(
        tmp_path / "MYD11A1.A2020002.h18v04.061.x.tif", counts, crs=MODIS_SINU, transform=t
    )
    lst2 = open_modis_lst(p2)
    assert float(lst2.mean()) == pytest.approx(300.0) and lst2.attrs["sensor"] == "MODIS/Aqua"
    # MOD13A2 crops: red, NIR, MIR as reflectance / 0.005
    rgb = np.stack([np.full((4, 4), 10.0), np.full((4, 4), 70.0), np.full((4, 4), 20.0)]).astype(
        np.float32
    )
    p3 = write_geotiff(
        tmp_path / "MOD13A2.A2020001.h18v04.061.2020326033640.hdf.0015.tif",
        rgb,
        crs=MODIS_SINU,
        transform=t,
    )
    ndvi = open_ndvi(p3)
    np.testing.assert_allclose(ndvi.values, 60 / 80, rtol=1e-6)


def test_hdf_not_a_raster(tmp_path):
    p = tmp_path / "MOD11A1.A2020001.h18v04.061.x.hdf"
    p.write_bytes(b"\x0e\x03\x13\x01 truncated hdf")
    with pytest.raises(NotARasterError, match=p.name):
        open_modis_lst(p)


# ------------------------------------------------------------------------ real files
@pytest.mark.shared_data
def test_real_mod11a1_h14v09(shared_data):
    p = shared_data / "products" / "modis_mod11a1_h14v09" / "MOD11A1.hdf"
    if not p.is_file():
        pytest.skip("MOD11A1 fixture absent")
    any_ = open_modis_lst(p, qc="any")
    frac = float(np.isfinite(any_.values).mean())
    # the data README states ~23 % valid by day; +-2 % allows for a rounding of that figure
    assert 0.21 < frac < 0.25
    good = open_modis_lst(p, qc="good")
    assert np.isfinite(good.values).sum() < np.isfinite(any_.values).sum()
    v = any_.values[np.isfinite(any_.values)]
    # central Brazil, 1 November, ~10:30 local: 270-340 K covers every plausible daytime LST
    assert 270 < v.min() and v.max() < 340 and 300 < np.median(v) < 325
    t = any_.rio.transform()
    np.testing.assert_allclose(
        tuple(t)[:6], tuple(modis_tile_transform(14, 9, 1200))[:6], atol=1e-3
    )
    assert any_.attrs["time"] == "2019-11-01" and any_.attrs["modis_tile"] == "h14v09"


@pytest.mark.shared_data
def test_real_modis_2020_crops(shared_data):
    from scalelaws.io import list_modis_lst_2020, open_modis_lst_2020

    if not (shared_data / "modis_lst_2020").is_dir():
        pytest.skip("modis_lst_2020 absent")
    table = list_modis_lst_2020()
    assert len(table) == 1591 and table["ndvi_path"].notna().all()
    row = table.iloc[0]
    lst = open_modis_lst_2020(row.lst_path)
    ndvi = open_modis_ndvi(row.ndvi_path)
    assert lst.shape == (64, 64) and ndvi.shape == (64, 64)
    assert 250 < float(lst.mean()) < 330
    assert -1 <= float(ndvi.min()) and float(ndvi.max()) <= 1
    # LST crop and its NDVI crop share the grid (the two exports differ by 0.5 mm in origin)
    np.testing.assert_allclose(
        tuple(lst.rio.transform())[:6], tuple(ndvi.rio.transform())[:6], atol=1e-2
    )
    assert str(row.date.date()) == lst.attrs["time"]
