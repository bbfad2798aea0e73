"""``scalelaws figures``: redraw the paper figures from the result files, reading only.

The command never computes a result: every file a figure needs must already be in the results
folder (``scalelaws demo -o DIR`` writes ``DIR/results``; ``scalelaws benchmark sensors -o
RESULTS`` writes ``sensors.nc``). A missing file is a
:class:`~paper_figures._style.MissingResultError` (an ``InputError``: one line, exit code 2)
naming the file and the command that writes it. Nothing here imports ``analysis``, ``sr`` or
torch (``tests/test_layering.py``).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

log = logging.getLogger(__name__)

# the package __init__ (imported with this module) already loads matplotlib via _style
from paper_figures._style import FIGURES_DIR as _OUT  # noqa: E402
from paper_figures._style import RESULTS_DIR as _RESULTS  # noqa: E402

__all__ = ["figure_names", "make_figures", "register"]


def figure_names(results: Path, only: list[str] | None = None) -> list[str]:
    """Return the names of the figures to draw.

    ``only`` when given; otherwise every figure of :data:`paper_figures.FIGURES` plus the extra
    figures whose result file is in ``results``.

    Raises
    ------
    scalelaws.errors.InputError
        A name is neither in :data:`paper_figures.FIGURES` nor in
        :data:`paper_figures.EXTRA_FIGURES`.

    """
    from paper_figures import EXTRA_FIGURES, FIGURES
    from scalelaws.errors import InputError

    if only:
        names = list(only)
        unknown = [n for n in names if n not in FIGURES and n not in EXTRA_FIGURES]
        if unknown:
            raise InputError(f"unknown figure(s) {unknown}; known: "
                             f"{list(FIGURES) + list(EXTRA_FIGURES)}")
        return names
    return list(FIGURES) + [n for n, mod in EXTRA_FIGURES.items()
                            if all((results / f).is_file() for f in mod.REQUIRES)]


def make_figures(
    out: Path,
    *,
    results: Path,
    smoke: bool = False,
    only: list[str] | None = None,
    progress: bool = True,
) -> list[Path]:
    """Draw the figures from the result files of ``results``; return the PNG paths.

    Every result file the figures read is checked before the first one is drawn.

    Parameters
    ----------
    out
        Output folder of the PNGs.
    results
        Results folder (only read).
    smoke
        Lower resolution PNGs.
    only
        Subset of :data:`paper_figures.FIGURES` and :data:`paper_figures.EXTRA_FIGURES` names.
    progress
        Progress bars.

    Raises
    ------
    paper_figures._style.MissingResultError
        A result file is missing (the message names the command that writes it).

    """
    from tqdm.auto import tqdm

    from paper_figures import EXTRA_FIGURES, FIGURES, _style, required_files

    names = figure_names(results, only)
    _style.require(results, required_files(names))
    figures = FIGURES | EXTRA_FIGURES
    return [figures[name].main(out, smoke=smoke, results=results)
            for name in tqdm(names, desc="figures", disable=not progress)]


def register(app: typer.Typer) -> None:
    """Add ``scalelaws figures`` to the CLI."""

    @app.command("figures")
    def figures(
        out: Annotated[Path, typer.Option("-o", "--out", help="Output folder (PNG).")] = _OUT,
        results: Annotated[Path | None, typer.Option(
            "--results", help="Results folder to read (only read; written by `scalelaws demo -o "
                              "DIR` as DIR/results). Default: $SCALELAWS_RESULTS or "
                              "./results.")] = None,
        smoke: Annotated[bool, typer.Option("--smoke", help="Low-resolution PNGs (CI).")] = False,
        only: Annotated[list[str] | None, typer.Option(
            "--only", help="Figure name (repeatable).")] = None,
    ) -> None:
        """Redraw the paper figures from the result files (never computes a result)."""
        from scalelaws.errors import InputError
        from scalelaws.io.atomic import check_output_dir

        given = results is not None
        results = results if given else _RESULTS
        if not results.exists():
            hint = "" if given else " (the default; give --results DIR/results)"
            raise InputError(f"no such results folder{hint}; `scalelaws demo -o DIR` writes "
                             "one as DIR/results", results)
        if not results.is_dir():
            raise InputError("--results must be a folder of result files, not a file", results)
        check_output_dir(out, [results])
        paths = make_figures(out, results=results, smoke=smoke, only=only,
                             progress=sys.stderr.isatty())
        for p in paths:
            typer.echo(str(p))
