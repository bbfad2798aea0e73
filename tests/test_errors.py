"""One exception family for bad input (issue 2 item 6): each case names the file and the problem.

Cases: not a raster, no CRS (or a corrupt one), grids that do not match, all-NaN, unknown units,
a field smaller than the requested scales. Each is raised through the public API on a tiny file,
and the message must contain the file name and words describing the problem.
"""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from fakes import write_geotiff

from scalelaws import errors
from scalelaws.grids import align, coarsen
from scalelaws.io import open_aster_lst, open_lst, open_raster
from scalelaws.landscapes import landscape_sums

FAMILY = (
    errors.NotARasterError,
    errors.MissingCRSError,
    errors.GridMismatchError,
    errors.AllNaNError,
    errors.UnitsError,
    errors.ScaleRangeError,
    errors.ProductError,
)


def _lst(tmp_path, name="scene.tif", shape=(8, 8), **kw):
    data = kw.pop("data", np.full(shape, 300.0, np.float32))
    return write_geotiff(tmp_path / name, data, units=kw.pop("units", "K"), **kw)


def test_family_and_message_format():
    for cls in FAMILY:
        assert issubclass(cls, errors.InputError) and issubclass(cls, ValueError)
        e = cls("something is wrong", "/data/x.tif")
        assert str(e) == "/data/x.tif: something is wrong" and e.path == "/data/x.tif"
    assert str(errors.InputError("no file")) == "no file"


def test_not_a_raster(tmp_path):
    p = tmp_path / "notes.tif"
    p.write_text("not a raster")
    with pytest.raises(errors.NotARasterError, match=r"notes\.tif.*cannot be opened as a raster"):
        open_raster(p, units="K")
    with pytest.raises(errors.NotARasterError, match=r"missing\.tif: no such file"):
        open_lst(tmp_path / "missing.tif", units="K")


def test_no_crs_and_corrupt_crs(tmp_path):
    p = _lst(tmp_path, "nocrs.tif", crs=None)
    with pytest.raises(errors.MissingCRSError, match=r"nocrs\.tif: raster has no coordinate"):
        open_raster(p, kind="lst")
    with pytest.raises(errors.MissingCRSError, match=r"nocrs\.tif: .*no geotransform"):
        open_raster(p, kind="lst", crs="EPSG:32631")  # a CRS alone does not place the pixels
    # an ENVI-like typo: semi-major axis 637813 m (the DESIREX headers of the shared data)
    bad = (
        'PROJCS["UTM_30N",GEOGCS["WGS",DATUM["D",SPHEROID["WGS_1984",637813.0,298.257223563]],'
        'PRIMEM["Greenwich",0],UNIT["Degree",0.0174532925199433]],'
        'PROJECTION["Transverse_Mercator"],PARAMETER["False_Easting",500000],'
        'PARAMETER["False_Northing",0],PARAMETER["Central_Meridian",-3],'
        'PARAMETER["Scale_Factor",0.9996],PARAMETER["Latitude_Of_Origin",0],UNIT["Meter",1]]'
    )
    q = _lst(tmp_path, "typo.tif", crs=bad)
    with pytest.raises(errors.MissingCRSError, match=r"typo\.tif: the file's CRS is corrupt.*637813"):
        open_raster(q, kind="lst")
    fixed = open_raster(q, kind="lst", crs="EPSG:32630")
    assert fixed.rio.crs.to_epsg() == 32630


def test_grids_that_do_not_match(tmp_path):
    a = open_raster(_lst(tmp_path, "a.tif"), kind="lst")
    far = Affine(30.0, 0, 100000.0, 0, -30.0, 1000000.0)
    b = open_raster(_lst(tmp_path, "far.tif", transform=far), kind="lst")
    with pytest.raises(errors.GridMismatchError, match=r"far\.tif: .*do not overlap"):
        align(b, a)
    ndvi = open_raster(
        write_geotiff(tmp_path / "ndvi.tif", np.full((4, 4), 0.5, np.float32), units="1"),
        kind="ndvi",
    )
    with pytest.raises(errors.GridMismatchError, match=r"a\.tif: .*NDVI shape"):
        landscape_sums(a, ndvi=ndvi, max_lag=2, block_px=4)
    coarse = open_raster(
        _lst(tmp_path, "coarse.tif", transform=Affine(90.0, 0, 500000.0, 0, -90.0, 4500000.0)),
        kind="lst",
    )
    with pytest.raises(errors.GridMismatchError, match="different pixel sizes"):
        landscape_sums([a, coarse], max_lag=2, block_px=4)


def test_all_nan(tmp_path):
    p = _lst(tmp_path, "clouds.tif", data=np.full((8, 8), -9999.0, np.float32), nodata=-9999.0)
    with pytest.raises(errors.AllNaNError, match=r"clouds\.tif: every pixel is missing"):
        open_raster(p, kind="lst")
    da = open_raster(_lst(tmp_path, "ok.tif"), kind="lst")
    with pytest.raises(errors.AllNaNError, match=r"ok\.tif: every pixel .* missing"):
        coarsen(da * np.nan, 2)


@pytest.mark.parametrize(
    ("units", "problem"),
    [
        ("degC", "Celsius"),
        ("furlongs", "unknown units 'furlongs'"),
        (None, "no units declared"),
    ],
)
def test_unknown_or_refused_units(tmp_path, units, problem):
    p = _lst(tmp_path, "t.tif", units=units)
    with pytest.raises(errors.UnitsError, match=rf"t\.tif: .*{problem}"):
        open_lst(p)


def test_scaled_integers_without_scale(tmp_path):
    p = write_geotiff(tmp_path / "counts.tif", np.full((4, 4), 15000, np.uint16), units="K")
    with pytest.raises(errors.UnitsError, match=r"counts\.tif: integer data .* no scale"):
        open_raster(p, kind="lst")


def test_aster_float_kelvin_without_units_is_a_units_error(tmp_path):
    # float kelvin with no units tag: the default 0.1 K scale would turn 300 K into 30 K and
    # every pixel into "fill"; that is a units problem, not an empty scene
    p = write_geotiff(tmp_path / "AST_08_float.tif", np.full((8, 8), 300.0, np.float32))
    with pytest.raises(errors.UnitsError, match=r"AST_08_float\.tif: no value reaches 230 K"):
        open_aster_lst(p)
    assert float(open_aster_lst(p, scale=1.0).mean()) == pytest.approx(300.0)


def test_field_smaller_than_the_scales(tmp_path):
    da = open_raster(_lst(tmp_path, "tiny.tif", shape=(6, 6)), kind="lst")
    with pytest.raises(errors.ScaleRangeError, match=r"tiny\.tif: field of 6 x 6 .* smaller"):
        coarsen(da, 8)
    with pytest.raises(errors.ScaleRangeError, match=r"tiny\.tif: largest lag 8 px does not fit"):
        landscape_sums(da, lags=[1, 8], block_px=4)


# ------------------------------------------------------------------ issue 12: atomic outputs
def test_atomic_path_keeps_the_previous_file_when_the_writer_fails(tmp_path):
    from scalelaws.io.atomic import atomic_path

    target = tmp_path / "out" / "table.csv"
    with atomic_path(target) as tmp:  # a missing output folder is simply created
        tmp.write_text("version 1\n")
    assert target.read_text() == "version 1\n"

    class Boom(RuntimeError):
        pass

    with pytest.raises(Boom), atomic_path(target) as tmp:
        with open(tmp, "w") as fh:
            fh.write("version 2, half")
            raise Boom("the writer dies midway")
    assert target.read_text() == "version 1\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["table.csv"]


def test_a_writer_call_site_is_atomic(tmp_path, monkeypatch):
    """write_prediction (NetCDF) failing midway: the earlier prediction survives, no temp left."""
    import xarray as xr
    from fakes import write_geotiff as _w  # noqa: F401  (tests/ on sys.path)

    from scalelaws.io import open_raster

    pytest.importorskip("torch")
    from sr.predict import write_prediction

    da = open_raster(_lst(tmp_path, "in.tif", shape=(16, 16)), kind="lst")
    out = tmp_path / "pred.nc"
    write_prediction(da, out)
    before = out.read_bytes()
    real = xr.Dataset.to_netcdf

    def half_then_fail(self, path, *a, **kw):
        real(self, path, *a, **kw)
        with open(path, "r+b") as fh:
            fh.truncate(100)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", half_then_fail)
    with pytest.raises(errors.OutputError, match=r"pred\.nc: cannot write the output: No space"):
        write_prediction(da + 1, out)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tif", "pred.nc"]


_KILLED_WRITER = r"""
import sys, time
from scalelaws.io.atomic import atomic_path

target, ready = sys.argv[1], sys.argv[2]
with atomic_path(target) as tmp:
    with open(tmp, "wb") as fh:
        for i in range(100_000):
            fh.write(bytes([i % 251]) * (1 << 18))  # 256 KiB blocks
            fh.flush()
            if i == 8:
                open(ready, "w").close()  # a good part of the big file is written: kill me now
            time.sleep(0.01)
"""


@pytest.mark.e2e
def test_sigkill_mid_write_leaves_the_previous_file_intact(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from scalelaws.io.atomic import atomic_write_text

    target = tmp_path / "big.bin"
    target.write_bytes(b"previous result\n")
    ready = tmp_path / "ready"
    script = tmp_path / "writer.py"
    script.write_text(_KILLED_WRITER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, str(script), str(target), str(ready)], env=env)
    try:
        t0 = time.monotonic()
        while not ready.exists():
            assert proc.poll() is None, "the writer ended before it was killed"
            assert time.monotonic() - t0 < 600, "the writer never started writing"
            time.sleep(0.02)
        parts = [p for p in tmp_path.iterdir() if p.name.startswith(".big.")]
        assert parts and parts[0].stat().st_size >= 2 << 20  # >= 2 MiB written to the temp file
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert target.read_bytes() == b"previous result\n"  # intact, not truncated, not replaced
    # the killed writer's temporary file is hidden, and the next write of the target removes it
    atomic_write_text(target, "next result\n")
    assert target.read_text() == "next result\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.bin", "ready", "writer.py"]


def test_check_output_refuses_inputs_files_in_the_way_and_folders(tmp_path):
    from scalelaws.io.atomic import check_output, check_output_dir

    src = _lst(tmp_path, "in.tif")
    with pytest.raises(errors.OutputError, match=r"in\.tif: the output would overwrite an input"):
        check_output(tmp_path / "." / "in.tif", [src])
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(errors.OutputError, match=r"file\.txt is a file, not a folder"):
        check_output(tmp_path / "file.txt" / "a" / "out.nc")
    with pytest.raises(errors.OutputError, match="is a folder"):
        check_output(tmp_path)
    with pytest.raises(errors.OutputError, match="is a file, not a folder"):
        check_output_dir(tmp_path / "file.txt")
    assert check_output(tmp_path / "new" / "deeper" / "out.nc") == tmp_path / "new" / "deeper" / "out.nc"
    assert not (tmp_path / "new").exists()  # checking creates nothing


def test_naming_attaches_the_file_to_in_memory_errors():
    with pytest.raises(errors.ScaleRangeError, match=r"^scene\.tif: too small$"):
        with errors.naming("scene.tif"):
            raise errors.ScaleRangeError("too small")
    with pytest.raises(errors.InputError, match=r"^other\.tif: bad$"):
        with errors.naming("scene.tif"):
            raise errors.InputError("bad", "other.tif")
    assert errors.one_line(ValueError("a\n  b\tc")) == "a b c"
