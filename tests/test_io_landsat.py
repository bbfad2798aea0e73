"""Landsat C2 L2 and L1 readers on fake bundles (real names, MTL groups, QA bits) and real ones."""

from __future__ import annotations

import numpy as np
import pytest
from fakes import write_landsat_c2l2, write_landsat_l1

from scalelaws.errors import AllNaNError, ProductError
from scalelaws.io import open_landsat_c2l2, open_landsat_l1_bt, open_lst, open_ndvi, read_mtl

BIT = {
    "fill": 0,
    "dilated": 1,
    "cirrus": 2,
    "cloud": 3,
    "shadow": 4,
    "snow": 5,
    "clear": 6,
    "water": 7,
}


@pytest.fixture
def bundle(tmp_path, rng):
    n = 10
    st = 295 + 4 * rng.standard_normal((n, n))
    red = np.full((n, n), 0.06)
    nir = np.full((n, n), 0.30)
    qa = np.full((n, n), 1 << BIT["clear"], np.uint16)
    qa[0, :] = 1 << BIT["fill"]
    st[0, :] = red[0, :] = nir[0, :] = np.nan
    qa[1, :] = 1 << BIT["cloud"]
    qa[2, :] = 1 << BIT["shadow"]
    qa[3, :] = 1 << BIT["dilated"]
    qa[4, :] = 1 << BIT["cirrus"]
    qa[5, :] = (1 << BIT["water"]) | (1 << BIT["clear"])
    qa[6, :] = 1 << BIT["snow"]
    # non-default scale factors in the MTL prove that they are read from it
    pid = write_landsat_c2l2(
        tmp_path,
        st,
        red,
        nir,
        qa,
        st_mult=0.004,
        st_add=140.0,
        sr_mult=3e-5,
        sr_add=-0.1,
        mtl_formats=("txt", "json", "xml"),
    )
    return tmp_path, pid, st, red, nir


@pytest.mark.parametrize(
    "entry", ["_MTL.txt", "_MTL.json", "_MTL.xml", "_ST_B10.TIF", "_QA_PIXEL.TIF"]
)
def test_c2l2_lst_values_and_masks(bundle, entry):
    folder, pid, st, _, _ = bundle
    da = open_landsat_c2l2(folder / f"{pid}{entry}")
    assert da.dims == ("y", "x") and da.dtype == np.float32 and da.attrs["units"] == "K"
    kept = np.zeros(st.shape, bool)
    kept[5:] = True  # rows 0-4: fill, cloud, shadow, dilated, cirrus; water and snow kept
    np.testing.assert_array_equal(np.isfinite(da.values), kept)
    # DN quantisation with the MTL's 0.004 K step: error <= half a step
    np.testing.assert_allclose(da.values[kept], st[kept], atol=0.0021)
    assert da.attrs["scale_factor_applied"] == pytest.approx(0.004)
    assert da.attrs["add_offset_applied"] == pytest.approx(140.0)
    assert da.attrs["time"] == "2021-06-20T10:41:02.123456Z"
    assert da.rio.crs.to_epsg() == 32631


def test_c2l2_ndvi_and_water_mask(bundle):
    folder, pid, _, red, nir = bundle
    ndvi = open_ndvi(folder / f"{pid}_SR_B4.TIF", mask=["fill", "cloud", "water"])
    assert ndvi.attrs["units"] == "1"
    expected = (0.30 - 0.06) / (0.30 + 0.06)
    assert np.isnan(ndvi.values[[0, 1, 5]]).all()
    assert np.isfinite(ndvi.values[[2, 3, 4, 6, 7]]).all()
    # reflectance quantised at 3e-5: NDVI error ~ 1e-4
    np.testing.assert_allclose(ndvi.values[7:], expected, atol=2e-4)
    unmasked = open_landsat_c2l2(folder / f"{pid}_MTL.txt", variable="ndvi", mask=False)
    assert np.isfinite(unmasked.values[1:]).all() and np.isnan(unmasked.values[0]).all()


def test_c2l2_without_mtl_uses_documented_factors(bundle, caplog):
    folder, pid, _, _, _ = bundle
    for f in folder.glob("*_MTL.*"):
        f.unlink()
    da = open_lst(folder / f"{pid}_ST_B10.TIF", mask=False)
    assert da.attrs["scale_factor_applied"] == pytest.approx(0.00341802)
    assert "no MTL" in caplog.text


def test_mtl_group_precedence(bundle):
    folder, pid, _, _, _ = bundle
    mtl = read_mtl(folder / f"{pid}_MTL.txt")
    # the Level-1 group repeats the key with another value; the Level-2 group must win
    assert mtl.float(
        "REFLECTANCE_MULT_BAND_4", "LEVEL2_SURFACE_REFLECTANCE_PARAMETERS"
    ) == pytest.approx(3e-5)


def test_c2l2_fully_cloudy(tmp_path):
    n = 4
    qa = np.full((n, n), 1 << BIT["cloud"], np.uint16)
    pid = write_landsat_c2l2(
        tmp_path, np.full((n, n), 280.0), np.full((n, n), 0.1), np.full((n, n), 0.2), qa
    )
    with pytest.raises(AllNaNError, match=pid):
        open_landsat_c2l2(tmp_path / f"{pid}_MTL.txt")


def test_l1_brightness_temperature(tmp_path):
    ml, al, k1, k2 = 3.342e-4, 0.1, 774.8853, 1321.0789
    bt = np.array([[280.0, 300.0], [310.0, 0.0]])
    radiance = k1 / np.expm1(k2 / np.where(bt > 0, bt, 300.0))
    dn = np.where(bt > 0, np.round((radiance - al) / ml), 0)
    mtl = write_landsat_l1(tmp_path, dn, ml=ml, al=al, k1=k1, k2=k2)
    da = open_landsat_l1_bt(mtl)
    assert np.isnan(da.values[1, 1])
    # one DN = 3.3e-4 W m-2 sr-1 um-1 ~ 0.003-0.005 K at 280-310 K: 0.01 K bounds the rounding
    np.testing.assert_allclose(da.values[np.isfinite(da.values)], bt[bt > 0], atol=0.01)
    assert "brightness temperature" in da.attrs["long_name"] and "not LST" in da.attrs["long_name"]
    with pytest.raises(ProductError, match="brightness temperature, not LST"):
        open_lst(next(tmp_path.glob("*_B10.TIF")))


# ------------------------------------------------------------------------ real files
@pytest.mark.shared_data
def test_real_c2l2_bundle(shared_data):
    d = shared_data / "products" / "landsat8_c2l2_amazonas_600m"
    if not d.is_dir():
        pytest.skip("Landsat C2 L2 bundle absent")
    mtl = next(d.glob("*_MTL.txt"))
    lst = open_landsat_c2l2(mtl, mask=False)
    v = lst.values[np.isfinite(lst.values)]
    # ST_B10 range of the product is 149.003-372.999 K (MTL); cloud tops are cold, ground < 320 K
    assert 149.0 <= v.min() and v.max() < 320 and lst.attrs["time"].startswith("2020-10-31T14:31")
    ndvi = open_landsat_c2l2(d / f"{mtl.stem[:-4]}_SR_B5.TIF", variable="ndvi", mask=False)
    assert -1 <= float(ndvi.min()) and float(ndvi.max()) <= 1
    # almost fully cloudy scene (CLOUD_COVER 99.94 %): the cloud mask leaves nothing
    with pytest.raises(AllNaNError, match="LC08_L2SP_001062"):
        open_landsat_c2l2(mtl)


@pytest.mark.shared_data
def test_real_l1_brightness_temperature(shared_data):
    d = shared_data / "products"
    cases = [
        d / "landsat8_l1_carolina_900m" / "LC08_L1TP_016037_20170813_20170814_01_RT_MTL.txt",
        d / "landsat5_para_30m" / "LT52240631988227CUB02_MTL.txt",  # no K1/K2 in this MTL
        d / "landsat8_mendoza_30m" / "LC82320832016040LGN00_band10.tif",  # MTL names differ
    ]
    for p in cases:
        if not p.exists():
            continue
        bt = open_landsat_l1_bt(p)
        med = float(np.nanmedian(bt.values))
        # summer / tropical daytime scenes: the median at-sensor BT lies within 280-315 K
        assert 280 < med < 315, (p.name, med)
