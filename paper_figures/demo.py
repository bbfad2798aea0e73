"""``scalelaws demo``: the main job - results, figures and a short report in one folder.

``scalelaws demo -o OUT`` runs the whole story on the embedded synthetic landscapes (offline):
exponents per landscape, the correction law, four small SR networks (scale-invariant and
corrected SISR, DISR with and without the law), the baselines, the evaluation, every paper
figure and ``OUT/report.md``. ``--data PATH`` runs it on the shared MODIS-ASTER pairs (networks
trained on the MODIS 1 km crops, ASTER used for the law half and the evaluation half only);
``--smoke`` uses tiny sizes for CI.

This module is the composition root, the one module of ``paper_figures`` that may import
``analysis`` (and through it ``sr`` and torch): it runs the pipeline, which writes every result
file of ``OUT/results``, then the figures, which only read those files, then the report.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

log = logging.getLogger(__name__)

__all__ = ["register", "run_demo"]

_OUT = Path("scalelaws-demo")


def run_demo(out: str | Path, *, data: str | Path | None = None, smoke: bool = False,
             seed: int = 0, progress: bool = True) -> Path:
    """Run results -> figures -> report; return the report path.

    Parameters
    ----------
    out
        Output folder: ``results/``, ``figures/`` and ``report.md`` are written there.
    data
        Real data (the shared data root or the MODIS-ASTER pairs folder); ``None``: synthetic.
    smoke
        Tiny sizes (CI, well under a minute of computation).
    seed
        Seed of every random draw.
    progress
        Progress bars.

    """
    from analysis.pipeline import compute_results
    from analysis.report import write_report
    from paper_figures.cli import make_figures

    t0 = time.perf_counter()
    out = Path(out)
    results = out / "results"
    compute_results(results, data=data, smoke=smoke, seed=seed, progress=progress)
    figs = make_figures(out / "figures", results=results, smoke=smoke, progress=progress)
    wall = time.perf_counter() - t0
    path = write_report(out, results, figs, wall_s=wall)
    log.info("demo done in %.0f s: %s", wall, path)
    return path


def register(app: typer.Typer) -> None:
    """Add ``scalelaws demo`` to the CLI."""

    @app.command("demo")
    def demo(
        out: Annotated[Path, typer.Option("-o", "--out", help="Output folder.")] = _OUT,
        data: Annotated[Path | None, typer.Option(
            "--data", help="Shared data root (or MODIS-ASTER pairs folder); default: the "
                           "embedded synthetic landscapes.")] = None,
        smoke: Annotated[bool, typer.Option("--smoke", help="Tiny sizes for CI.")] = False,
        seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    ) -> None:
        """Run the whole story: exponents, laws, SR, evaluation, figures and a report."""
        from scalelaws.errors import NotARasterError
        from scalelaws.io.atomic import check_output_dir

        if data is not None and not data.is_dir():
            raise NotARasterError("no such data folder", data)
        check_output_dir(out, [data])
        t0 = time.perf_counter()
        path = run_demo(out, data=data, smoke=smoke, seed=seed, progress=sys.stderr.isatty())
        typer.echo(f"report: {path} ({time.perf_counter() - t0:.0f} s)")
