"""Paper figures: every figure script draws from a small results folder; the CLI regenerates."""

from __future__ import annotations

import shutil
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import xarray as xr

from paper_figures import FIGURES, required_files

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from analysis.pipeline import compute_results

    out = tmp_path_factory.mktemp("results")
    compute_results(out, smoke=True, seed=3, progress=False)
    return out


def test_registry_is_explicit_and_complete():
    names = list(FIGURES)
    assert names[0] == "overview" and len(names) == len(set(names)) == 10
    stems = {m.STEM for m in FIGURES.values()}
    assert len(stems) == 10
    from analysis.pipeline import FILES

    produced = {f for outs in FILES.values() for f in outs}
    assert set(required_files()) <= produced


def test_backend_is_agg():
    assert matplotlib.get_backend().lower() == "agg"


@pytest.mark.e2e
@pytest.mark.parametrize("name", list(FIGURES))
def test_each_figure_main(name: str, smoke_results: Path, tmp_path: Path):
    path = FIGURES[name].main(tmp_path, smoke=True, results=smoke_results)
    assert path == tmp_path / f"{FIGURES[name].STEM}.png"
    img = matplotlib.image.imread(path)
    assert img.shape[0] > 200 and img.shape[1] > 300
    # not a blank canvas
    assert np.std(img[..., :3]) > 0.05


@pytest.mark.e2e
def test_figure_reads_only_result_files(smoke_results: Path, tmp_path: Path):
    from paper_figures._style import MissingResultError

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MissingResultError, match="overview.nc"):
        FIGURES["overview"].main(tmp_path, smoke=True, results=empty)


@pytest.mark.e2e
def test_figure_draws_what_the_file_holds(smoke_results: Path, tmp_path: Path):
    """Changing a result file changes the figure (nothing hard-coded)."""
    res = tmp_path / "res"
    shutil.copytree(smoke_results, res)
    a = matplotlib.image.imread(FIGURES["metrics"].main(tmp_path / "a", smoke=True, results=res))
    ds = xr.load_dataset(res / "metrics.nc", engine="h5netcdf")
    ds["rmse_mean"] = ds["rmse_mean"] * 3.0
    (res / "metrics.nc").unlink()
    ds.to_netcdf(res / "metrics.nc", engine="h5netcdf")
    b = matplotlib.image.imread(FIGURES["metrics"].main(tmp_path / "b", smoke=True, results=res))
    assert a.shape != b.shape or not np.array_equal(a, b)


@pytest.mark.e2e
def test_cli_figures_regenerates_and_completes(smoke_results: Path, tmp_path: Path):
    from typer.testing import CliRunner

    from scalelaws.cli import app

    res = tmp_path / "res"
    shutil.copytree(smoke_results, res)
    (res / "polar.nc").unlink()  # a missing input is computed first by the command...
    out = tmp_path / "figs"
    r = CliRunner().invoke(app, ["figures", "--smoke", "--results", str(res), "-o", str(out)])
    assert r.exit_code == 0, r.output
    # ... into OUT/results: the folder the user gave as input is only read
    assert not (res / "polar.nc").exists() and (out / "results" / "polar.nc").is_file()
    assert sorted(p.name for p in out.glob("*.png")) == sorted(
        f"{m.STEM}.png" for m in FIGURES.values())


@pytest.mark.e2e
def test_result_files_are_cf_netcdf(smoke_results: Path):
    for name in required_files():
        ds = xr.open_dataset(smoke_results / name, engine="h5netcdf")
        if name != "law.nc":
            assert ds.attrs["Conventions"] == "CF-1.8"
        for v in ds.data_vars:
            if ds[v].dtype.kind == "f" and name != "law.nc":
                assert "units" in ds[v].attrs and "long_name" in ds[v].attrs, (name, v)
        ds.close()
