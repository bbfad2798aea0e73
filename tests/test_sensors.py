"""Laws across sensors (analysis.sensors): readers and labels, the comparison, the CLI, the figure."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from affine import Affine
from fakes import write_geotiff

from analysis.sensors import (
    FIELD_LOADERS,
    LawEntry,
    compare_laws,
    fit_field_law,
    load_fields,
    markdown_table,
    realisation_spread,
    to_csv,
)
from scalelaws.errors import InputError
from scalelaws.io import open_landsat_dn_bt
from scalelaws.io.landsat import THERMAL_CONSTANTS, brightness_temperature
from scalelaws.laws import CorrectionLaw
from scalelaws.synthetic import fbm

PX = 62.5


def _da(a: np.ndarray, px: float = PX) -> xr.DataArray:
    ny, nx = a.shape
    return xr.DataArray(
        a.astype(np.float32), dims=("y", "x"),
        coords={"y": (ny - 0.5 - np.arange(ny)) * px, "x": (np.arange(nx) + 0.5) * px},
        attrs={"units": "K", "source": "synthetic"},
    )


def _fbm_law(H: float, seeds: tuple[int, ...], *, shape: int = 256, ndvi_slope: float | None = None,
             n_boot: int = 60) -> tuple[CorrectionLaw, list[xr.DataArray]]:
    lst, ndvi = [], []
    for s in seeds:
        rng = np.random.default_rng(s)
        x = fbm(shape, H, sigma=0.5, rng=rng)
        if ndvi_slope is not None:  # NDVI linear in the LST fBm, plus a little white noise
            v = 0.5 + x / ndvi_slope + 5e-4 * rng.standard_normal(x.shape)
            ndvi.append(_da(v))
        lst.append(_da(300.0 + x))
    law = CorrectionLaw.fit(lst, ndvi=ndvi or None, q=(2.0,), scales_m=(2 * PX, shape // 4 * PX),
                            n_boot=n_boot, rng=0)
    return law, lst


@pytest.fixture(scope="module")
def synthetic_laws() -> dict[str, tuple[CorrectionLaw, list[xr.DataArray]]]:
    return {
        "ref": _fbm_law(0.3, (0, 1, 2)),
        "rough": _fbm_law(0.3, (10, 11, 12)),
        "smooth": _fbm_law(0.7, (20, 21, 22), ndvi_slope=-20.0),
    }


@pytest.fixture(scope="module")
def spreads(synthetic_laws) -> dict[str, xr.DataArray]:
    return {k: realisation_spread(lst, law, n=12, seed=5) for k, (law, lst) in synthetic_laws.items()}


def _entries(synthetic_laws) -> list[LawEntry]:
    q = {"ref": "LST", "rough": "LST", "smooth": "brightness temperature"}
    return [LawEntry(k, law, {"quantity": q[k], "thermal_pixel_m": PX})
            for k, (law, _) in synthetic_laws.items()]


@pytest.fixture(scope="module")
def synthetic_result(synthetic_laws, spreads) -> xr.Dataset:
    return compare_laws(_entries(synthetic_laws), reference="ref", spread=spreads)


# ------------------------------------------------------------------------ comparison (synthetic)
@pytest.mark.slow
def test_local_exponents_recover_known_H(synthetic_result: xr.Dataset):
    ds = synthetic_result
    s = ds["scale_m"].values
    inside = (s >= 2 * PX) & (s <= 64 * PX)
    for law, H in (("ref/all", 0.3), ("rough/all", 0.3), ("smooth/all", 0.7)):
        h = ds["H_local"].sel(law=law).values
        sd = ds["H_local_sd_realisation"].sel(law=law).values
        # exact fBm, 3 fields of 256 x 256: within 3 realisation sd (at least 0.03) of H at
        # every scale from 125 m to 4 km (sd 0.004-0.1, largest at a quarter of the field)
        assert np.all(np.abs(h[inside] - H) <= np.maximum(0.03, 3 * sd[inside])), (law, h, sd)
        assert np.all(np.abs(h[inside] - H) < 0.15)
        assert np.all(np.isnan(h[~inside])), "no value outside the fitted range"
        ho = ds["H_octave"].sel(law=law).values
        # raw octave slopes: same bound as the smooth law (measured at most 0.11, H = 0.7 set)
        assert np.isfinite(ho).sum() >= 4 and np.nanmax(np.abs(ho - H)) < 0.15
        lo_m = ds["octave_lo_m"].sel(law=law).values
        assert np.nanmin(lo_m) >= 2 * PX - 1e-6 and np.nanmax(ds["octave_hi_m"].sel(law=law).values) <= 64 * PX


@pytest.mark.slow
def test_difference_to_reference_separates_H(synthetic_result: xr.Dataset):
    ds = synthetic_result
    d_same = ds["dH_reference"].sel(law="rough/all").values
    d_diff = ds["dH_reference"].sel(law="smooth/all").values
    ok = np.isfinite(d_diff)
    assert ok.sum() >= 5 and np.all(np.abs(d_diff[ok] - 0.4) < 0.15)
    assert np.all(ds["agrees"].sel(law="smooth/all").values[ok] == 0)
    # two independent sets with the same H agree once the realisation spread is included
    assert np.all(np.abs(d_same[ok]) < 0.15)
    assert np.all(ds["agrees"].sel(law="rough/all").values[ok] == 1)
    assert ds["reference_row"].sel(law="smooth/all").item() == "ref/all"
    assert np.all(np.isnan(ds["dH_reference"].sel(law="ref/all").values))


@pytest.mark.slow
def test_tile_bootstrap_alone_is_too_narrow(synthetic_laws, spreads):
    """Why the surrogate spread exists: without it, equal-H fields are declared different."""
    ds = compare_laws(_entries(synthetic_laws), reference="ref")
    assert (ds["agrees"].sel(law="rough/all").values == 0).any()
    sd = spreads["ref"].sel(landscape="all").values
    ok = np.isfinite(sd)
    # the spread grows towards the large scales (fewer independent pairs): 0.003-0.1 here
    assert ok.sum() >= 5 and sd[ok][-1] > 3 * sd[ok][0] and np.all((sd[ok] > 0.002) & (sd[ok] < 0.15))
    boot_hw = np.diff(ds["H_local_ci"].sel(law="ref/all").values, axis=-1)[..., 0] / 2
    assert np.nanmax(boot_hw) < 1.96 * np.nanmax(sd)


@pytest.mark.slow
def test_detail_ratio_and_lst_ndvi_slope(synthetic_result: xr.Dataset):
    ds = synthetic_result
    # fBm: D ~ l^(2H), so the fine band (parents 500 m, 1 km) over the coarse band (2, 4 km)
    # is 2^(-4H); an error dH in the exponent gives 4 ln2 dH in ln: 0.35 <-> dH = 0.125
    # (measured 0.02 for the H = 0.3 set and 0.28 for the H = 0.7 set, whose H is 0.08 high)
    for law, H in (("ref/all", 0.3), ("smooth/all", 0.7)):
        r = float(ds["detail_ratio"].sel(law=law))
        assert abs(math.log(r) + 4 * H * math.log(2.0)) < 0.35, (law, r)
        # scale invariant, so no correction; the coarse band ends at a quarter of the field,
        # where the exponent of 3 fields is off by up to 0.07 (measured 0.82 and 1.00)
        c = float(ds["detail_correction"].sel(law=law))
        assert 0.7 < c < 1.3, (law, c)
    sl = ds["lst_ndvi_slope"].sel(law="smooth/all").values
    assert np.isfinite(sl).sum() >= 5 and np.nanmax(np.abs(sl + 20.0)) < 1.0
    assert np.all(np.isnan(ds["lst_ndvi_slope"].sel(law="ref/all").values))


@pytest.mark.slow
def test_result_is_cf_and_tables(synthetic_result: xr.Dataset, tmp_path: Path):
    ds = synthetic_result
    assert ds.attrs["Conventions"] == "CF-1.8"
    for v in ds.data_vars:
        if ds[v].dtype.kind == "f":
            assert "units" in ds[v].attrs, v
    ds.to_netcdf(tmp_path / "s.nc", engine="h5netcdf")
    back = xr.load_dataset(tmp_path / "s.nc", engine="h5netcdf")
    np.testing.assert_allclose(back["H_local"].values, ds["H_local"].values)
    md = markdown_table(ds)
    h = float(ds["H_local"].sel(law="smooth/all", scale_m=500.0))
    assert f"{h:.2f}" in md and "smooth/all" in md and "*" in md  # flagged disagreement
    text = to_csv(ds, tmp_path / "s.csv").read_text().splitlines()
    assert text[0].startswith("law,") and any(line.startswith("smooth/all,") for line in text)


def test_fit_field_law_range_is_two_pixels_to_quarter_field():
    from analysis.sensors import SensorField

    f = SensorField("x", "test", "LST", "nowhere", "today", _da(300 + fbm(96, 0.5, rng=1), px=20.0), 20.0)
    law = fit_field_law(f, n_boot=10)
    lo, hi = law.ds.attrs["scale_range_m"]
    assert lo == 40.0 and 0.9 * 24 * 20.0 <= hi <= 24 * 20.0  # the largest lag <= 24 px


# ------------------------------------------------------------------------ brightness temperature
def test_dn_brightness_temperature_is_labelled(tmp_path: Path):
    dn = np.array([[0, 100, 150], [200, 255, 120]], dtype=np.uint8)
    p = write_geotiff(tmp_path / "b6.tif", dn, nodata=0)
    k1, k2 = THERMAL_CONSTANTS["LANDSAT_7"]["6"]
    bt = open_landsat_dn_bt(p, gain=0.037205, bias=3.16, k1=k1, k2=k2, sensor="Landsat 7 ETM+",
                            band="62", time="2002-07-20")
    # the R package landsat's thermalband(x, 62) with the same constants
    expect = k2 / np.log(k1 / (0.037205 * dn.astype(float) + 3.16) + 1)
    assert np.isnan(bt.values[0, 0])
    np.testing.assert_allclose(bt.values.ravel()[1:], expect.ravel()[1:], rtol=0, atol=1e-3)
    assert "not LST" in bt.attrs["long_name"] and bt.attrs["units"] == "K"
    assert "no MTL" in bt.attrs["product"] and bt.attrs["thermal_band"] == "62"
    assert np.isnan(brightness_temperature(np.array([-1.0]), k1, k2))[0]


# ------------------------------------------------------------------------ real data
@pytest.mark.e2e
@pytest.mark.shared_data
def test_real_fields_are_read_and_labelled(shared_data):
    fields, excluded = load_fields(shared_data)
    by = {f.key: f for f in fields}
    present = [k for k, (_, rel) in FIELD_LOADERS.items() if (shared_data / rel).exists()]
    if not present:
        pytest.skip("no sensor field in the shared data")
    assert set(by) | set(excluded) == set(FIELD_LOADERS)
    if "landsat8_c2l2_amazonas" in present:  # 99.94 % cloud: nothing left after the QA mask
        assert "landsat8_c2l2_amazonas" in excluded and "masking" in excluded["landsat8_c2l2_amazonas"]
    for k, f in by.items():
        assert f.lst.attrs["units"] == "K"
        med = float(np.nanmedian(f.lst.values))
        # daytime scenes; November Pennsylvania is cold, urban Madrid in summer hot (322 K)
        lo, hi = (265, 300) if k.endswith("_nov") else (280, 335)
        assert lo < med < hi, (k, med)
        if k.startswith("landsat"):
            assert f.quantity == "brightness temperature" and "not LST" in f.lst.attrs["long_name"]
            assert f.ndvi is not None and f.classes is not None
            v = f.ndvi.values[np.isfinite(f.ndvi.values)]
            assert v.min() >= -1 and v.max() <= 1 and 0.1 < np.median(v) < 0.9, (k, np.median(v))
            # analysis pixel within 10 % of the thermal pixel (block-averaged resampled bands)
            px = float(abs(f.lst.x[1] - f.lst.x[0]))
            assert abs(px / f.thermal_pixel_m - 1) <= 0.1, (k, px)
        elif k.startswith("desirex"):
            assert f.quantity == "LST" and f.lst.rio.crs.to_epsg() == 32630
        elif k.startswith("grapex"):
            assert f.quantity == "radiometric temperature"
    if "landsat7_raleigh" in by:
        c = by["landsat7_raleigh"].classes
        assert c.attrs["flag_meanings"].split() == ["water", "bare_or_urban", "grass_or_crop", "forest"]
        assert c.shape == by["landsat7_raleigh"].lst.shape
        assert (c.values == 3).mean() > 0.3  # forest is the largest class of landclass96
    if "landsat8_carolina" in by:  # BQA cloud mask: about 60 % masked with fill
        frac = np.isfinite(by["landsat8_carolina"].lst.values).mean()
        assert 0.3 < frac < 0.6


@pytest.mark.shared_data
def test_real_pennsylvania_bt_matches_stated_formula(shared_data):
    p = shared_data / "products" / "landsat7_pennsylvania_30m" / "july62.tif"
    if not p.exists():
        pytest.skip("Pennsylvania crop absent")
    import rasterio

    fields, _ = load_fields(shared_data, ["landsat7_pennsylvania_july"])
    with rasterio.open(p) as src:
        dn = src.read(1).astype(float)
    # thermalband(x, 62) of the R package landsat (its coefficients, rounded)
    bt = 1282.7 / np.log(666.09 / (dn * 0.037205 + 3.16) + 1)
    f = fields[0]
    # after 2 x 2 block means of BT; clouds masked: compare the medians
    assert abs(float(np.nanmedian(f.lst.values)) - float(np.median(bt))) < 0.3


# ------------------------------------------------------------------------ CLI and figure
def _tiny_root(root: Path) -> Path:
    d = root / "airborne" / "grapex_vineyard"
    d.mkdir(parents=True)
    t = Affine(3.6, 0, 600000.0, 0, -3.6, 4200000.0)
    for when, H, seed in (("am", 0.3, 1), ("pm", 0.7, 2)):
        a = 300.0 + fbm(96, H, sigma=0.5, rng=seed)
        write_geotiff(d / f"ExampleImage_Trad_{when}.tif", a.astype(np.float32), crs="EPSG:32610",
                      transform=t)
    return root


@pytest.mark.e2e
def test_cli_benchmark_sensors_tiny(tmp_path: Path):
    from typer.testing import CliRunner

    from scalelaws.cli import app

    root = _tiny_root(tmp_path / "data")
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["benchmark", "sensors", "-o", str(out), "--data", str(root),
                                 "--fields", "grapex_vineyard_am,grapex_vineyard_pm",
                                 "--no-aster", "--n-boot", "20"])
    assert r.exit_code == 0, r.output
    ds = xr.load_dataset(out / "sensors.nc", engine="h5netcdf")
    assert list(ds["law"].values) == ["grapex_vineyard_am/all", "grapex_vineyard_pm/all"]
    assert set(ds["quantity"].values) == {"radiometric temperature"}
    assert "scalelaws benchmark sensors" in ds.attrs["history"] and "--no-aster" in ds.attrs["history"]
    h_am = np.nanmean(ds["H_local"].sel(law="grapex_vineyard_am/all").values)
    h_pm = np.nanmean(ds["H_local"].sel(law="grapex_vineyard_pm/all").values)
    # one 96 x 96 fBm field each: H within 0.12 (seed-to-seed spread of single small fields)
    assert abs(h_am - 0.3) < 0.12 and abs(h_pm - 0.7) < 0.12
    assert (out / "sensors.csv").is_file() and "grapex_vineyard_pm/all" in r.output
    bad = CliRunner().invoke(app, ["benchmark", "sensors", "-o", str(out), "--data", str(root),
                                   "--fields", "nope"])
    assert bad.exit_code == 2 and "unknown field" in bad.output


@pytest.mark.e2e
def test_figure_smoke_from_tiny_result(synthetic_result: xr.Dataset, tmp_path: Path):
    import matplotlib.image

    from paper_figures import fig_sensors
    from paper_figures._style import MissingResultError

    res = tmp_path / "res"
    res.mkdir()
    with pytest.raises(MissingResultError, match="sensors.nc"):
        fig_sensors.main(tmp_path, smoke=True, results=res)
    synthetic_result.to_netcdf(res / "sensors.nc", engine="h5netcdf")
    path = fig_sensors.main(tmp_path / "figs", smoke=True, results=res)
    assert path.name == "fig_sensors.png"
    img = matplotlib.image.imread(path)
    assert img.shape[0] > 200 and np.std(img[..., :3]) > 0.05
    # registered with `scalelaws figures`: drawn on request, and by default once the file exists
    from paper_figures.cli import make_figures

    got = make_figures(tmp_path / "figs2", results=res, only=["sensors"], progress=False)
    assert got == [tmp_path / "figs2" / "fig_sensors.png"]
    with pytest.raises(InputError, match="benchmark sensors"):
        make_figures(tmp_path / "figs3", results=tmp_path / "empty", only=["sensors"], progress=False)
