"""``scalelaws figures``: regenerate every paper figure from the result files.

Result files a figure needs and that are missing are computed first with
:func:`analysis.pipeline.compute_results` (only the steps that write them).
"""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

log = logging.getLogger(__name__)

# the package __init__ (imported with this module) already loads matplotlib via _style
from paper_figures._style import FIGURES_DIR as _OUT  # noqa: E402
from paper_figures._style import RESULTS_DIR as _RESULTS  # noqa: E402

#: Figures whose result file comes from its own command, not from analysis.pipeline:
#: name -> (module, command that writes the file). Drawn with ``--only NAME``, or by default
#: when the file is already in the results folder.
EXTRA_FIGURES: dict[str, tuple[str, str]] = {
    "sensors": ("paper_figures.fig_sensors", "scalelaws benchmark sensors -o RESULTS"),
}


def steps_for_missing(results: Path, files: list[str]) -> list[str]:
    """Pipeline steps that write the missing ``files`` of ``results``."""
    from analysis.pipeline import FILES

    missing = {f for f in files if not (results / f).is_file()}
    return [step for step, outs in FILES.items() if missing & set(outs)]


def results_for_figures(results: Path, out: Path, names: list[str] | None = None) -> Path:
    """Choose the results folder to read and complete, never writing into an input folder.

    When ``results`` holds every file the figures need it is read as is. Otherwise the
    missing files are computed into ``out/results`` and the files ``results`` does hold
    are copied there first, so that the user's folder is only read.

    Returns
    -------
    pathlib.Path
        ``results``, or ``out / "results"``.

    """
    import shutil

    from paper_figures import FIGURES, required_files
    from scalelaws.errors import InputError
    from scalelaws.io.atomic import atomic_path, check_output_dir

    if results.exists() and not results.is_dir():
        raise InputError("--results must be a folder of result files, not a file", results)
    names = list(names) if names else list(FIGURES)
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise InputError(f"unknown figure(s) {unknown}; known: {list(FIGURES)}")
    need = required_files(names)
    if not steps_for_missing(results, need):
        return results
    work = out / "results"
    check_output_dir(work, [results])
    for name in need:
        src, dst = results / name, work / name
        if src.is_file() and not dst.exists():
            with atomic_path(dst) as tmp:
                shutil.copy2(src, tmp)
    log.info("results missing in %s: computing them into %s", results, work)
    return work


def make_figures(
    out: Path,
    *,
    results: Path,
    smoke: bool = False,
    data: Path | None = None,
    seed: int = 0,
    only: list[str] | None = None,
    progress: bool = True,
) -> list[Path]:
    """Compute missing results, then draw the figures; return the PNG paths.

    Parameters
    ----------
    out
        Output folder of the PNGs.
    results
        Results folder (read, and completed when files are missing).
    smoke
        Small sizes for the missing results and lower resolution PNGs.
    data
        Real data for missing results (default: synthetic landscapes).
    seed
        Seed of missing results.
    only
        Subset of :data:`paper_figures.FIGURES` names.
    progress
        Progress bars.

    """
    from tqdm.auto import tqdm

    from paper_figures import FIGURES, required_files
    from scalelaws.errors import InputError

    extra = {n: importlib.import_module(m) for n, (m, _) in EXTRA_FIGURES.items()}
    names = list(only) if only else list(FIGURES) + [
        n for n, mod in extra.items() if all((results / f).is_file() for f in mod.REQUIRES)]
    unknown = [n for n in names if n not in FIGURES and n not in extra]
    if unknown:
        raise InputError(f"unknown figure(s) {unknown}; known: {list(FIGURES) + list(extra)}")
    for n in names:
        if n in extra and not all((results / f).is_file() for f in extra[n].REQUIRES):
            raise InputError(f"figure {n!r} reads {list(extra[n].REQUIRES)}: run "
                             f"`{EXTRA_FIGURES[n][1]}` first", results)
    pipeline_names = [n for n in names if n in FIGURES]
    steps = steps_for_missing(results, required_files(pipeline_names)) if pipeline_names else []
    if steps:
        from analysis.pipeline import compute_results

        log.info("computing missing results: %s", steps)
        compute_results(results, data=data, smoke=smoke, seed=seed, progress=progress,
                        steps=steps)
    paths = []
    for name in tqdm(names, desc="figures", disable=not progress):
        paths.append((FIGURES.get(name) or extra[name]).main(out, smoke=smoke, results=results))
    return paths


def register(app: typer.Typer) -> None:
    """Add ``scalelaws figures`` to the CLI."""

    @app.command("figures")
    def figures(
        out: Annotated[Path, typer.Option("-o", "--out", help="Output folder (PNG).")] = _OUT,
        results: Annotated[Path | None, typer.Option(
            "--results", help="Results folder to read (never written: missing files are computed "
                              "into OUT/results). Default: $SCALELAWS_RESULTS or ./results, "
                              "completed in place.")] = None,
        smoke: Annotated[bool, typer.Option("--smoke", help="Small sizes (CI).")] = False,
        data: Annotated[Path | None, typer.Option(
            "--data", help="Real data for missing results.")] = None,
        seed: Annotated[int, typer.Option("--seed", help="Seed of missing results.")] = 0,
        only: Annotated[list[str] | None, typer.Option(
            "--only", help="Figure name (repeatable).")] = None,
    ) -> None:
        """Regenerate every paper figure from the result files."""
        from scalelaws.errors import NotARasterError
        from scalelaws.io.atomic import check_output_dir

        if data is not None and not data.exists():
            raise NotARasterError("no such data folder", data)
        check_output_dir(out, [results, data])
        if results is None:
            results = _RESULTS
        else:
            if not results.exists():
                raise NotARasterError("no such results folder", results)
            results = results_for_figures(results, out, only)
        paths = make_figures(out, results=results, smoke=smoke, data=data, seed=seed,
                             only=only, progress=sys.stderr.isatty())
        for p in paths:
            typer.echo(str(p))
