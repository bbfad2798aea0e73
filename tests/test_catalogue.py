"""The catalogue of bad inputs (issue 12): every command that reads user files answers each one.

For every case: exit code 2, ONE line on stderr (``error: ...``) naming the file (when there is
one) and the problem, no traceback, and nothing half-written (the output does not exist
afterwards, or an existing output - including an input it would have overwritten - is
unchanged; no temporary ``.part`` file is left).

The commands run in-process through typer's ``CliRunner`` on tiny rasters written in a
module-scoped temporary folder, so the whole catalogue takes seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from fakes import write_geotiff, write_netcdf
from typer.testing import CliRunner

from scalelaws.cli import app

PX = 62.5
T = Affine(PX, 0, 500000.0, 0, -PX, 4500000.0)
FAR = Affine(PX, 0, 700000.0, 0, -PX, 4000000.0)  # same CRS, 200 km away
N = 64


def _field(seed: int = 0, n: int = N) -> np.ndarray:
    """A rough, non-constant LST field in kelvin (a random walk in x and y)."""
    rng = np.random.default_rng(seed)
    z = np.cumsum(np.cumsum(rng.normal(size=(n, n)), axis=0), axis=1)
    z = (z - z.mean()) / z.std()
    return (300.0 + 3.0 * z).astype(np.float32)


@pytest.fixture(scope="module")
def d(tmp_path_factory) -> Path:
    """Folder of tiny bad (and a few good) inputs shared by every case."""
    d = tmp_path_factory.mktemp("catalogue")
    lst = _field()
    write_geotiff(d / "good.tif", lst, units="K", transform=T)
    ndvi = np.clip((lst - 300.0) / 10.0, -0.9, 0.9).astype(np.float32)
    write_geotiff(d / "ndvi.tif", ndvi, units="1", transform=T)
    (d / "notes.tif").write_text("this is not a raster\n")
    (d / "empty.tif").write_bytes(b"")
    raw = (d / "good.tif").read_bytes()
    (d / "trunc.tif").write_bytes(raw[: len(raw) // 2])
    write_geotiff(d / "nocrs.tif", lst, units="K", crs=None)
    write_geotiff(d / "allnan.tif", np.full((N, N), np.nan, np.float32), units="K", transform=T)
    cloudy = lst.copy()
    cloudy.ravel()[np.random.default_rng(1).permutation(N * N)[: int(0.97 * N * N)]] = np.nan
    write_geotiff(d / "cloudy.tif", cloudy, units="K", transform=T)
    write_geotiff(d / "const.tif", np.full((N, N), 300.0, np.float32), units="K", transform=T)
    write_geotiff(d / "inf.tif", np.full((N, N), np.inf, np.float32), units="K", transform=T)
    write_geotiff(d / "celsius.tif", lst - 273.15, units="degC", transform=T)
    write_geotiff(d / "counts.tif", (lst / 0.02).astype(np.uint16), units="K", transform=T)
    write_geotiff(d / "nounits.tif", lst, transform=T)
    write_geotiff(d / "furlong.tif", lst, units="furlong", transform=T)
    write_geotiff(d / "small.tif", _field(n=6), units="K", transform=T)
    write_geotiff(d / "ndvi_counts.tif", ndvi * 10000.0, units="1", transform=T)
    write_geotiff(d / "ndvi_far.tif", ndvi, units="1", transform=FAR)
    # a guide covering the upper-left quarter only, on the 4x finer grid
    q = np.clip(np.repeat(np.repeat(ndvi[: N // 2, : N // 2], 4, 0), 4, 1), -1, 1)
    write_geotiff(d / "ndvi_quarter.tif", q, units="1",
                  transform=Affine(PX / 4, 0, 500000.0, 0, -PX / 4, 4500000.0))
    (d / "afile.txt").write_text("a regular file, not a folder\n")
    (d / "nofiles").mkdir()
    # laws
    write_netcdf(d / "notalaw.nc", lst, units="K")
    import xarray as xr

    xr.Dataset(
        {v: ("x", np.zeros(2)) for v in ("log_S", "zeta_local", "coef_log_S", "coef_log_D",
                                         "detail_energy")},
        attrs={"law_format_version": 99, "scalelaws_version": "9.0"},
    ).to_netcdf(d / "future_law.nc")
    # checkpoints
    (d / "corrupt.ckpt").write_bytes(b"\x80\x04garbage that is no checkpoint")
    import torch

    torch.save({"weights": torch.zeros(3)}, d / "foreign.ckpt")
    # configurations
    (d / "garbage.json").write_text("{ not json")
    (d / "unknown_key.json").write_text(json.dumps({"mode": "disr", "colour": "blue"}))
    (d / "unknown_sub.toml").write_text('mode = "disr"\n[trainer]\nmax_stepz = 3\n')
    (d / "ill_typed.toml").write_text('mode = "disr"\n[trainer]\nmax_steps = "many"\n')
    (d / "ill_typed_list.json").write_text(json.dumps({"loss": {"law_q": [1, "two"]}}))
    (d / "config.yaml").write_text("mode: disr\n")
    (d / "minimal.json").write_text(json.dumps({"mode": "sisr_invariant"}))
    # results for figures: a corrupt result file
    (d / "results_bad").mkdir()
    (d / "results_bad" / "law.nc").write_text("not netcdf")
    return d


@dataclass
class Case:
    """One bad input: the command line, what the message must say, what must stay unwritten."""

    id: str
    args: Callable[[Path, Path], list[str]]  # (inputs folder, output folder) -> argv
    problem: str  # regular expression the message must match (case-insensitive)
    names: str | None  # file name the message must contain (None: an option, no file)
    outputs: tuple[str, ...] = ()  # outputs (relative to the output folder) that must not exist
    guards: tuple[str, ...] = ()  # inputs (relative to the inputs folder) that must not change
    skip_root: bool = False
    marks: list = field(default_factory=list)


def _e(*extra: str) -> Callable[[Path, Path], list[str]]:
    return lambda d, o: ["exponents", *[a.format(d=d, o=o) for a in extra], "--n-boot", "5",
                         "-o", str(o / "exp.nc")]


def _cmd(*argv: str) -> Callable[[Path, Path], list[str]]:
    return lambda d, o: [a.format(d=d, o=o) for a in argv]


CASES = [
    # ------------------------------------------------------------------ exponents: the rasters
    Case("exp-not-a-raster", _e("{d}/notes.tif"), r"cannot be opened as a raster", "notes.tif", ("exp.nc",)),
    Case("exp-empty-file", _e("{d}/empty.tif"), r"cannot be (opened|read)", "empty.tif", ("exp.nc",)),
    Case("exp-truncated", _e("{d}/trunc.tif"), r"cannot be (opened|read)", "trunc.tif", ("exp.nc",)),
    Case("exp-missing", _e("{d}/missing.tif"), r"no such file", "missing.tif", ("exp.nc",)),
    Case("exp-no-crs", _e("{d}/nocrs.tif"), r"no coordinate reference system", "nocrs.tif", ("exp.nc",)),
    Case("exp-bad-crs-option", _e("{d}/nocrs.tif", "--crs", "EPSG:nonsense"), r"CRS given .* not valid", "nocrs.tif", ("exp.nc",)),
    Case("exp-all-nan", _e("{d}/allnan.tif"), r"every pixel is missing", "allnan.tif", ("exp.nc",)),
    Case("exp-cloud-97pc", _e("{d}/cloudy.tif"), r"9\d\.\d% of the pixels are missing", "cloudy.tif", ("exp.nc",)),
    Case("exp-constant", _e("{d}/const.tif"), r"constant", "const.tif", ("exp.nc",)),
    Case("exp-inf", _e("{d}/inf.tif"), r"every pixel is missing", "inf.tif", ("exp.nc",)),
    Case("exp-celsius", _e("{d}/celsius.tif"), r"^error: \S+: temperature in Celsius.*--units degC", "celsius.tif", ("exp.nc",)),
    Case("exp-scaled-integers", _e("{d}/counts.tif"), r"integer data .*--scale", "counts.tif", ("exp.nc",)),
    Case("exp-no-units", _e("{d}/nounits.tif"), r"^error: \S+: no units declared.*--units K", "nounits.tif", ("exp.nc",)),
    Case("exp-unknown-units", _e("{d}/furlong.tif"), r"unknown units", "furlong.tif", ("exp.nc",)),
    Case("exp-wrong-units-option", _e("{d}/nounits.tif", "--units", "degF"), r"Fahrenheit", "nounits.tif", ("exp.nc",)),
    Case("exp-too-small", _e("{d}/small.tif"), r"too small", "small.tif", ("exp.nc",)),
    Case("exp-range-inverted", _e("{d}/good.tif", "--range", "8000", "500"), r"--range 8000 500", None, ("exp.nc",)),
    Case("exp-range-negative", _e("{d}/good.tif", "--range", "-10", "500"), r"--range -10 500", None, ("exp.nc",)),
    Case("exp-range-beyond-field", _e("{d}/good.tif", "--range", "100000", "400000"), r"exceeds|too small", "good.tif", ("exp.nc",)),
    Case("exp-q-not-numbers", _e("{d}/good.tif", "--q", "1,two"), r"--q expects comma-separated numbers", None, ("exp.nc",)),
    Case("exp-q-negative", _e("{d}/good.tif", "--q", "-1,2"), r"--q expects positive", None, ("exp.nc",)),
    Case("exp-q-empty", _e("{d}/good.tif", "--q", ","), r"at least one moment order", None, ("exp.nc",)),
    Case("exp-kind", _e("{d}/good.tif", "--kind", "albedo"), r"--kind must be", None, ("exp.nc",)),
    Case("exp-ndvi-out-of-range", _e("{d}/ndvi_counts.tif", "--kind", "ndvi"), r"outside \[-1, 1\]", "ndvi_counts.tif", ("exp.nc",)),
    Case("exp-landscape-ndvi-counts", _e("{d}/good.tif", "--by-landscape", "--ndvi", "{d}/ndvi_counts.tif"), r"outside \[-1, 1\]", "ndvi_counts.tif", ("exp.nc", "exp.csv")),
    Case("exp-landscape-grids-disjoint", _e("{d}/good.tif", "--by-landscape", "--ndvi", "{d}/ndvi_far.tif"), r"do not overlap", "ndvi_far.tif", ("exp.nc", "exp.csv")),
    Case("exp-landscape-needs-classes", _e("{d}/good.tif", "--by-landscape"), r"needs --landcover or --ndvi", None, ("exp.nc",)),
    Case("exp-output-under-a-file", _cmd("exponents", "{d}/good.tif", "--n-boot", "5", "-o", "{d}/afile.txt/exp.nc"), r"is a file, not a folder", "exp.nc", (), ("afile.txt",)),
    Case("exp-output-is-input", _cmd("exponents", "{d}/good.tif", "--n-boot", "5", "-o", "{d}/good.tif"), r"overwrite an input", "good.tif", (), ("good.tif",)),
    Case("exp-output-read-only", _cmd("exponents", "{d}/good.tif", "--n-boot", "5", "-o", "{o}/ro/exp.nc"), r"read-only", "exp.nc", ("ro/exp.nc",), skip_root=True),
    # ------------------------------------------------------------------------------ laws fit
    Case("fit-not-a-raster", _cmd("laws", "fit", "{d}/notes.tif", "-o", "{o}/law.nc"), r"cannot be opened as a raster", "notes.tif", ("law.nc",)),
    Case("fit-missing", _cmd("laws", "fit", "{d}/missing.tif", "-o", "{o}/law.nc"), r"no such file", "missing.tif", ("law.nc",)),
    Case("fit-empty-folder", _cmd("laws", "fit", "{d}/nofiles", "-o", "{o}/law.nc"), r"no file matching", "nofiles", ("law.nc",)),
    Case("fit-celsius", _cmd("laws", "fit", "{d}/celsius.tif", "-o", "{o}/law.nc"), r"Celsius", "celsius.tif", ("law.nc",)),
    Case("fit-cloudy", _cmd("laws", "fit", "{d}/cloudy.tif", "-o", "{o}/law.nc"), r"missing", "cloudy.tif", ("law.nc",)),
    Case("fit-grids-disjoint", _cmd("laws", "fit", "{d}/good.tif", "--ndvi", "{d}/ndvi_far.tif", "-o", "{o}/law.nc"), r"do not overlap", "ndvi_far.tif", ("law.nc",)),
    Case("fit-ndvi-count", _cmd("laws", "fit", "{d}/good.tif", "--ndvi", "{d}/ndvi.tif", "--ndvi", "{d}/ndvi.tif", "-o", "{o}/law.nc"), r"2 NDVI file\(s\) for 1 scene", None, ("law.nc",)),
    Case("fit-range-inverted", _cmd("laws", "fit", "{d}/good.tif", "--range", "8000", "500", "-o", "{o}/law.nc"), r"--range", None, ("law.nc",)),
    Case("fit-q-bad", _cmd("laws", "fit", "{d}/good.tif", "--q", "1;2", "-o", "{o}/law.nc"), r"--q expects", None, ("law.nc",)),
    Case("fit-output-is-input", _cmd("laws", "fit", "{d}/good.tif", "-o", "{d}/good.tif"), r"overwrite an input", "good.tif", (), ("good.tif",)),
    Case("fit-output-under-a-file", _cmd("laws", "fit", "{d}/good.tif", "-o", "{d}/afile.txt/sub/law.nc"), r"is a file, not a folder", "law.nc", (), ("afile.txt",)),
    # ----------------------------------------------------------------------------- laws show
    Case("show-missing", _cmd("laws", "show", "{d}/missing_law.nc"), r"no such file", "missing_law.nc"),
    Case("show-not-netcdf", _cmd("laws", "show", "{d}/notes.tif"), r"cannot read as NetCDF", "notes.tif"),
    Case("show-not-a-law", _cmd("laws", "show", "{d}/notalaw.nc"), r"not a correction law", "notalaw.nc"),
    Case("show-future-version", _cmd("laws", "show", "{d}/future_law.nc"), r"format version 99.*upgrade", "future_law.nc"),
    Case("show-figure-is-input", _cmd("laws", "show", "{d}/future_law.nc", "--figure", "{d}/future_law.nc"), r"overwrite an input", "future_law.nc", (), ("future_law.nc",)),
    # --------------------------------------------------------------------------------- train
    Case("train-config-missing", _cmd("train", "-c", "{d}/nope.toml", "-o", "{o}/run"), r"configuration file not found", "nope.toml", ("run",)),
    Case("train-config-garbage", _cmd("train", "-c", "{d}/garbage.json", "-o", "{o}/run"), r"cannot parse", "garbage.json", ("run",)),
    Case("train-config-suffix", _cmd("train", "-c", "{d}/config.yaml", "-o", "{o}/run"), r"\.json or \.toml", "config.yaml", ("run",)),
    Case("train-unknown-key", _cmd("train", "-c", "{d}/unknown_key.json", "-o", "{o}/run"), r"unknown configuration key.*colour", "unknown_key.json", ("run",)),
    Case("train-unknown-section-key", _cmd("train", "-c", "{d}/unknown_sub.toml", "-o", "{o}/run"), r"unknown key.*max_stepz.*\[trainer\]", "unknown_sub.toml", ("run",)),
    Case("train-ill-typed", _cmd("train", "-c", "{d}/ill_typed.toml", "-o", "{o}/run"), r"trainer\.max_steps = 'many' has the wrong type: expected int", "ill_typed.toml", ("run",)),
    Case("train-ill-typed-list", _cmd("train", "-c", "{d}/ill_typed_list.json", "-o", "{o}/run"), r"loss\.law_q .* wrong type", "ill_typed_list.json", ("run",)),
    Case("train-output-under-a-file", _cmd("train", "-c", "{d}/minimal.json", "-o", "{d}/afile.txt/run"), r"is a file, not a folder", "run", (), ("afile.txt",)),
    # ------------------------------------------------------------------------------- predict
    Case("predict-corrupt-checkpoint", _cmd("predict", "-m", "{d}/corrupt.ckpt", "--lst", "{d}/good.tif", "-o", "{o}/sr.tif"), r"checkpoint|not a scalelaws", "corrupt.ckpt", ("sr.tif",)),
    Case("predict-foreign-checkpoint", _cmd("predict", "-m", "{d}/foreign.ckpt", "--lst", "{d}/good.tif", "-o", "{o}/sr.tif"), r"checkpoint|not a scalelaws", "foreign.ckpt", ("sr.tif",)),
    Case("predict-missing-checkpoint", _cmd("predict", "-m", "{d}/none.ckpt", "--lst", "{d}/good.tif", "-o", "{o}/sr.tif"), r"not found", "none.ckpt", ("sr.tif",)),
    Case("predict-lst-not-a-raster", _cmd("predict", "-m", "{d}/corrupt.ckpt", "--lst", "{d}/notes.tif", "-o", "{o}/sr.tif"), r"cannot be opened", "notes.tif", ("sr.tif",)),
    Case("predict-lst-celsius", _cmd("predict", "-m", "{d}/corrupt.ckpt", "--lst", "{d}/celsius.tif", "-o", "{o}/sr.tif"), r"Celsius", "celsius.tif", ("sr.tif",)),
    Case("predict-guide-partial", _cmd("predict", "-m", "{d}/corrupt.ckpt", "--lst", "{d}/good.tif", "--ndvi", "{d}/ndvi_quarter.tif", "-o", "{o}/sr.tif"), r"covers only 25% of the LST .*good\.tif.*NDVI extent \(.*\) vs LST extent \(", "ndvi_quarter.tif", ("sr.tif",)),
    Case("predict-guide-out-of-range", _cmd("predict", "-m", "{d}/corrupt.ckpt", "--lst", "{d}/good.tif", "--ndvi", "{d}/ndvi_counts.tif", "-o", "{o}/sr.tif"), r"outside \[-1, 1\]", "ndvi_counts.tif", ("sr.tif",)),
    Case("predict-output-is-input", _cmd("predict", "-m", "{d}/corrupt.ckpt", "--lst", "{d}/good.tif", "-o", "{d}/good.tif"), r"overwrite an input", "good.tif", (), ("good.tif",)),
    Case("predict-output-suffix", _cmd("predict", "-m", "{d}/corrupt.ckpt", "--lst", "{d}/good.tif", "-o", "{o}/sr.png"), r"must end in \.tif", "sr.png", ("sr.png",)),
    Case("predict-output-under-a-file", _cmd("predict", "-m", "{d}/corrupt.ckpt", "--lst", "{d}/good.tif", "-o", "{d}/afile.txt/sr.tif"), r"is a file, not a folder", "sr.tif", (), ("afile.txt",)),
    # ----------------------------------------------------------------------------- benchmark
    Case("bench-data-missing", _cmd("benchmark", "modis-aster", "--data", "{d}/no_pairs_here", "-o", "{o}/bench"), r"pairs folder not found", "no_pairs_here", ("bench",)),
    Case("bench-model-missing", _cmd("benchmark", "modis-aster", "--model", "disr={d}/none.ckpt", "-o", "{o}/bench"), r"checkpoint not found", "none.ckpt", ("bench",)),
    Case("bench-model-spec", _cmd("benchmark", "modis-aster", "--model", "disr", "-o", "{o}/bench"), r"NAME=CHECKPOINT", None, ("bench",)),
    Case("bench-pairs", _cmd("benchmark", "modis-aster", "--pairs", "one,two", "-o", "{o}/bench"), r"--pairs expects", None, ("bench",)),
    Case("bench-output-under-a-file", _cmd("benchmark", "modis-aster", "-o", "{d}/afile.txt/bench"), r"is a file, not a folder", "bench", (), ("afile.txt",)),
    # ------------------------------------------------------------------------------- figures
    Case("figures-results-corrupt", _cmd("figures", "--only", "law", "--results", "{d}/results_bad", "-o", "{o}/figs"), r"cannot read", "law.nc", ("figs/law.png",), ("results_bad/law.nc",)),
    Case("figures-results-missing", _cmd("figures", "--results", "{d}/no_results", "-o", "{o}/figs"), r"no such results folder", "no_results", ("figs",)),
    Case("figures-results-a-file", _cmd("figures", "--results", "{d}/notes.tif", "-o", "{o}/figs"), r"must be a folder", "notes.tif", ("figs",)),
    Case("figures-unknown", _cmd("figures", "--only", "nonsense", "--results", "{d}/results_bad", "-o", "{o}/figs"), r"unknown figure", None, ("figs",)),
    Case("figures-result-missing", _cmd("figures", "--only", "law", "--results", "{d}/nofiles", "-o", "{o}/figs"), r"result file missing.*`scalelaws demo -o DIR`", "law.nc", ("figs",)),
    Case("figures-output-under-a-file", _cmd("figures", "--results", "{d}/results_bad", "-o", "{d}/afile.txt/figs"), r"is a file, not a folder", "figs", (), ("afile.txt",)),
    # ---------------------------------------------------------------------------------- demo
    Case("demo-data-missing", _cmd("demo", "--data", "{d}/no_data", "--smoke", "-o", "{o}/demo"), r"no such data folder", "no_data", ("demo",)),
    Case("demo-data-not-pairs", _cmd("demo", "--data", "{d}/nofiles", "--smoke", "-o", "{o}/demo"), r"pair|not found|no ", "nofiles", ("demo",)),
    Case("demo-output-under-a-file", _cmd("demo", "--smoke", "-o", "{d}/afile.txt/demo"), r"is a file, not a folder", "demo", (), ("afile.txt",)),
]

COMMANDS = {"exponents", "laws fit", "laws show", "train", "predict", "benchmark", "figures", "demo"}


def test_catalogue_is_complete():
    """At least 40 bad inputs, and every command that reads user files is covered."""
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)
    covered = set()
    for c in CASES:
        argv = c.args(Path("/d"), Path("/o"))
        covered.add(" ".join(argv[:2]) if argv[0] in ("laws",) else argv[0])
    assert COMMANDS <= covered, COMMANDS - covered


def _digest(p: Path) -> str | None:
    if p.is_file():
        return hashlib.sha256(p.read_bytes()).hexdigest()
    if p.is_dir():
        return "dir:" + ",".join(sorted(os.listdir(p)))
    return None


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_answered(case: Case, d: Path, tmp_path: Path):
    if case.skip_root:
        if os.geteuid() == 0:
            pytest.skip("running as root: a read-only folder is writable (covered by the "
                        "'output-under-a-file' cases)")
        (tmp_path / "ro").mkdir()
        (tmp_path / "ro").chmod(0o555)
    before = {g: _digest(d / g) for g in case.guards}
    listing = sorted(p.name for p in d.rglob("*"))
    res = CliRunner().invoke(app, case.args(d, tmp_path))
    err = res.stderr
    assert res.exit_code == 2, (res.exit_code, res.output, res.exception)
    assert "Traceback" not in res.output
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("error: "), line
    assert re.search(case.problem, line, re.I), line
    if case.names is not None:
        assert case.names in line, line
    for out in case.outputs:
        assert not (tmp_path / out).exists(), f"{out} was written"
    for g, digest in before.items():
        assert _digest(d / g) == digest, f"input {g} changed"
    # nothing was added to the inputs folder (no output, no temporary file)
    assert sorted(p.name for p in d.rglob("*")) == listing
    assert not list(tmp_path.rglob("*.part*"))
