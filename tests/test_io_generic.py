"""open_raster: physical values, grid conventions and every bad-input error (naming the file)."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from fakes import write_geotiff, write_netcdf

from scalelaws.errors import (
    AllNaNError,
    InputError,
    MissingCRSError,
    NotARasterError,
    UnitsError,
)
from scalelaws.io import open_lst, open_ndvi, open_raster

T = Affine(30.0, 0, 500000.0, 0, -30.0, 4500000.0)


def _check_conventions(da, path, units):
    assert da.dims == ("y", "x")
    assert da.dtype == np.float32
    assert da.attrs["units"] == units
    assert da.attrs["source"].endswith(path.name)
    for key in ("long_name", "sensor", "product"):
        assert key in da.attrs
    assert da.rio.crs is not None
    # coordinates are pixel centres and consistent with the transform
    t = da.rio.transform()
    assert t.a == pytest.approx(30.0) and t.e == pytest.approx(-30.0)
    assert float(da.x[0]) == pytest.approx(t.c + 15.0)
    assert float(da.y[0]) == pytest.approx(t.f - 15.0)


def test_float_kelvin_geotiff(tmp_path, rng):
    k = (290 + 5 * rng.standard_normal((6, 7))).astype(np.float32)
    k[2, 3] = -9999
    p = write_geotiff(
        tmp_path / "lst.tif",
        k,
        transform=T,
        nodata=-9999,
        units="K",
        tags={"TIFFTAG_DATETIME": "2021:06:20 10:41:02"},
    )
    da = open_raster(p, kind="lst")
    _check_conventions(da, p, "K")
    assert np.isnan(da.values[2, 3])
    ok = np.ones(k.shape, bool)
    ok[2, 3] = False
    np.testing.assert_array_equal(da.values[ok], k[ok])
    assert da.attrs["time"] == "2021-06-20T10:41:02"
    assert float(da.x[0]) == pytest.approx(500015.0) and float(da.y[0]) == pytest.approx(4499985.0)


def test_scaled_integers_from_file_and_argument(tmp_path):
    counts = np.array([[15000, 0], [14500, 15500]], dtype=np.uint16)
    p = write_geotiff(
        tmp_path / "lst_counts.tif", counts, transform=T, nodata=0, units="kelvin", scale=0.02
    )
    da = open_raster(p, kind="lst")
    np.testing.assert_allclose(da.values, [[300.0, np.nan], [290.0, 310.0]], rtol=1e-6)
    # same counts without the file's scale: the caller declares it
    p2 = write_geotiff(
        tmp_path / "lst_counts_noscale.tif", counts, transform=T, nodata=0, units="K"
    )
    da2 = open_raster(p2, kind="lst", scale=0.02)
    np.testing.assert_allclose(da2.values, da.values, rtol=1e-6)
    # NDVI x 10000 declared by the caller, with a nodata given as a stored value
    ndvi = np.array([[5000, -3000], [8000, 1000]], dtype=np.int16)
    p3 = write_geotiff(tmp_path / "ndvi.tif", ndvi, transform=T)
    n = open_raster(p3, kind="ndvi", scale=1e-4, nodata=-3000)
    np.testing.assert_allclose(n.values, [[0.5, np.nan], [0.8, 0.1]], rtol=1e-6)
    assert n.attrs["units"] == "1"


def test_netcdf_mask_and_scale(tmp_path):
    k = np.array([[300.0, 301.0, np.nan], [302.0, 303.5, 304.0]])
    enc = {"dtype": "int16", "scale_factor": 0.01, "add_offset": 300.0, "_FillValue": -32767}
    p = write_netcdf(tmp_path / "lst.nc", k, encoding=enc)
    da = open_raster(p, kind="lst")
    assert da.dims == ("y", "x") and da.dtype == np.float32
    np.testing.assert_allclose(da.values, k, atol=0.006)  # half a count of 0.01 K
    assert da.rio.crs.to_epsg() == 32631
    assert da.rio.transform().c == pytest.approx(500000.0)
    assert da.rio.transform().f == pytest.approx(4500000.0)


def test_not_a_raster(tmp_path):
    p = tmp_path / "notes.tif"
    p.write_text("this is not a raster\n")
    with pytest.raises(NotARasterError, match="notes.tif"):
        open_raster(p, kind="lst", units="K")
    with pytest.raises(NotARasterError, match="missing.tif"):
        open_raster(tmp_path / "missing.tif", kind="lst")
    bad_nc = tmp_path / "broken.nc"
    bad_nc.write_bytes(b"CDF\x01garbage")
    with pytest.raises(NotARasterError, match="broken.nc"):
        open_raster(bad_nc, kind="lst", units="K")


def test_missing_crs(tmp_path):
    p = write_geotiff(
        tmp_path / "nocrs.tif", np.full((4, 4), 300.0, np.float32), crs=None, units="K"
    )
    with pytest.raises(MissingCRSError, match="nocrs.tif"):
        open_raster(p, kind="lst")
    pn = write_netcdf(tmp_path / "nocrs.nc", np.full((4, 4), 300.0), crs=None)
    with pytest.raises(MissingCRSError, match="nocrs.nc"):
        open_raster(pn, kind="lst")


@pytest.mark.parametrize("units", ["C", "degC", "celsius", "degrees_Celsius", "°C"])
def test_celsius_refused_not_converted(tmp_path, units, caplog):
    p = write_geotiff(
        tmp_path / "lst_c.tif", np.full((4, 4), 25.0, np.float32), transform=T, units=units
    )
    with pytest.raises(UnitsError, match=r"lst_c.tif.*Celsius.*273.15"):
        open_raster(p, kind="lst")
    # declared by the caller: converted, and said so (issue 12)
    p2 = write_geotiff(tmp_path / "lst_nounits.tif", np.full((4, 4), 25.0, np.float32), transform=T)
    with caplog.at_level("WARNING", logger="scalelaws.io.generic"):
        da = open_raster(p2, kind="lst", units=units)
    np.testing.assert_allclose(da.values, 298.15, rtol=1e-6)
    assert da.attrs["units"] == "K" and da.attrs["converted_from_units"] == units
    assert "converted to kelvin" in caplog.text


def test_explicit_conversion_is_possible(tmp_path):
    p = write_geotiff(tmp_path / "lst_c.tif", np.full((4, 4), 25.0, np.float32), transform=T)
    da = open_raster(p, kind="lst", units="K", offset=273.15)
    np.testing.assert_allclose(da.values, 298.15, rtol=1e-6)


def test_integers_without_scale_refused(tmp_path):
    p = write_geotiff(
        tmp_path / "counts.tif", np.full((4, 4), 15000, np.uint16), transform=T, units="K"
    )
    with pytest.raises(UnitsError, match=r"counts.tif.*no scale"):
        open_raster(p, kind="lst")


def test_unknown_and_missing_units(tmp_path):
    p = write_geotiff(
        tmp_path / "furlongs.tif", np.full((4, 4), 3.0, np.float32), transform=T, units="furlong"
    )
    with pytest.raises(UnitsError, match=r"furlongs.tif.*unknown units"):
        open_raster(p)
    p2 = write_geotiff(tmp_path / "plain.tif", np.full((4, 4), 300.0, np.float32), transform=T)
    with pytest.raises(UnitsError, match=r"plain.tif.*no units"):
        open_raster(p2, kind="lst")
    # the dispatcher leads with the problem, then says which names it knows
    with pytest.raises(UnitsError, match=r"plain.tif: no units.*--units K.*matches no known product.*MOD11A1"):
        open_lst(p2)
    assert float(open_lst(p2, units="K").mean()) == pytest.approx(300.0)


def test_values_contradicting_units(tmp_path):
    # Celsius values labelled kelvin (median 20 "K" is not a land surface temperature)
    p = write_geotiff(
        tmp_path / "mislabelled.tif", np.full((4, 4), 20.0, np.float32), transform=T, units="K"
    )
    with pytest.raises(UnitsError, match="mislabelled.tif"):
        open_raster(p, kind="lst")
    p2 = write_geotiff(
        tmp_path / "ndvi_counts.tif", np.full((4, 4), 5000.0, np.float32), transform=T
    )
    with pytest.raises(UnitsError, match=r"ndvi_counts.tif.*outside \[-1, 1\]"):
        open_ndvi(p2)


def test_all_nan(tmp_path):
    p = write_geotiff(
        tmp_path / "empty.tif",
        np.zeros((4, 4), np.uint16),
        transform=T,
        nodata=0,
        units="K",
        scale=0.02,
    )
    with pytest.raises(AllNaNError, match="empty.tif"):
        open_raster(p, kind="lst")


def test_errors_are_one_family(tmp_path):
    p = tmp_path / "x.tif"
    p.write_text("no")
    with pytest.raises(InputError):
        open_raster(p)
    with pytest.raises(ValueError):  # InputError is also a ValueError
        open_raster(p)


@pytest.mark.shared_data
def test_real_desirex_envi_corrupt_crs(shared_data):
    """The DESIREX ENVI headers carry a CRS with typos (axis 637813 m, false easting 50 km)."""
    from scalelaws.grids import coarsen

    d = shared_data / "airborne" / "desirex_madrid"
    if not d.is_dir():
        pytest.skip("DESIREX data not present")
    with pytest.raises(MissingCRSError, match="LST_20m.img: the file's CRS is corrupt"):
        open_raster(d / "LST_20m.img", units="K")
    fine = open_raster(d / "LST_20m.img", units="K", crs="EPSG:32630")
    coarse = open_raster(d / "LST_100m.img", units="K", crs="EPSG:32630")
    assert fine.dtype == np.float32 and fine.shape == (150, 150)
    assert fine.x.values[0] == pytest.approx(461650.753 + 10)  # pixel centre, not corner
    assert fine.y.values[0] == pytest.approx(4495187.764 - 10) and fine.y.values[1] < fine.y.values[0]
    agg = coarsen(fine, 5)
    np.testing.assert_allclose(agg.x.values, coarse.x.values)
    np.testing.assert_allclose(agg.y.values, coarse.y.values)
    assert float(np.abs(agg - coarse).mean()) < 2.0  # same scene, independent aggregation
