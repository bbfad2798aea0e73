"""Paper figures: every figure script draws from a results folder it only reads; the CLI redraws
them and refuses (exit 2, one line naming the file and the command that writes it) when a result
file is missing."""

from __future__ import annotations

import shutil
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import xarray as xr

from paper_figures import FIGURES, required_files


@pytest.fixture
def smoke_results(smoke_demo: Path) -> Path:
    """Results folder of the shared smoke demo (tests/conftest.py; read only)."""
    return smoke_demo / "results"


def test_registry_is_explicit_and_complete():
    names = list(FIGURES)
    assert names[0] == "overview" and len(names) == len(set(names)) == 10
    stems = {m.STEM for m in FIGURES.values()}
    assert len(stems) == 10
    # the demo (through the pipeline) writes every file the default figures read
    pytest.importorskip("torch")
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


@pytest.mark.parametrize("name", list(FIGURES))
def test_figure_reads_only_result_files(name: str, tmp_path: Path):
    """A missing result file is an InputError naming it and `scalelaws demo`; nothing drawn."""
    from paper_figures._style import MissingResultError
    from scalelaws.errors import InputError

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MissingResultError, match=FIGURES[name].REQUIRES[0]) as exc:
        FIGURES[name].main(tmp_path / "figs", smoke=True, results=empty)
    assert isinstance(exc.value, InputError)
    assert "scalelaws demo -o DIR" in str(exc.value)
    assert not (tmp_path / "figs").exists() and not list(empty.iterdir())


def test_cli_figures_refuses_missing_results(tmp_path: Path):
    """`scalelaws figures` computes nothing: exit 2, one line naming the file and the command."""
    from typer.testing import CliRunner

    from scalelaws.cli import app

    res = tmp_path / "res"
    res.mkdir()
    out = tmp_path / "figs"
    r = CliRunner().invoke(app, ["figures", "--results", str(res), "-o", str(out)])
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"error: {res / 'overview.nc'}: result file missing")
    assert f"(and {len(required_files()) - 1} more)" in lines[0]
    assert "`scalelaws demo -o DIR`" in lines[0]
    assert not out.exists() and not list(res.iterdir())


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
def test_cli_figures_redraws_and_only_reads(smoke_results: Path, tmp_path: Path, tree_digest):
    from typer.testing import CliRunner

    from scalelaws.cli import app

    res = tmp_path / "res"
    shutil.copytree(smoke_results, res)
    before = tree_digest(res)
    out = tmp_path / "figs"
    r = CliRunner().invoke(app, ["figures", "--smoke", "--results", str(res), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{m.STEM}.png" for m in FIGURES.values())
    assert tree_digest(res) == before  # the results folder is only read
    # one file missing: refused before any figure is drawn, naming the file and the command
    (res / "polar.nc").unlink()
    out2 = tmp_path / "figs2"
    r = CliRunner().invoke(app, ["figures", "--smoke", "--results", str(res), "-o", str(out2)])
    assert r.exit_code == 2, r.output
    assert r.stderr.strip() == (f"error: {res / 'polar.nc'}: result file missing; figures only "
                                "read results: run `scalelaws demo -o DIR` first (it writes "
                                "DIR/results)")
    assert not out2.exists() and not (res / "polar.nc").exists()


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
