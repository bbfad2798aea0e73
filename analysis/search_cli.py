"""``scalelaws search``: nested model selection on the MODIS-ASTER pairs, and shipping the result.

Registered through the ``scalelaws.cli`` entry-point group; torch is imported inside the command.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from scalelaws.errors import InputError

log = logging.getLogger(__name__)


def register(app: typer.Typer) -> None:
    """Add ``search`` to the ``scalelaws`` app."""

    @app.command("search")
    def search_cmd(
        out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (resumable: finished networks are reused).")],
        budget: Annotated[str, typer.Option("--budget", help="quick (CI), default or full.")] = "default",
        data: Annotated[Path | None, typer.Option("--data", help="Folder of the MODIS-ASTER pairs.")] = None,
        pairs: Annotated[str | None, typer.Option("--pairs", help="Comma-separated pair ids (default: all).")] = None,
        final: Annotated[str, typer.Option("--final", help="Final choice: 'pooled' (outer inner tables) or 'search' (a new inner search on all pairs).")] = "pooled",
        seed: Annotated[int, typer.Option("--seed", help="Seed of the first ensemble member.")] = 0,
        steps: Annotated[str | None, typer.Option("--steps", help="Training lengths searched, comma-separated optimiser steps (default: the budget's).")] = None,
        candidates: Annotated[str | None, typer.Option("--candidates", help="Candidates searched, comma-separated names of analysis.selection.CANDIDATES (default: disr_invariant, disr_invariant_psf, disr_invariant_corrected).")] = None,
    ) -> None:
        """Choose models by nested cross-validation (no scored pair influences a choice).

        Inner folds inside each outer training fold choose the training mode, the training
        length (``--steps``) and the output smoothing on the ASTER RMSE of inner validation pairs; the chosen settings are retrained
        as seed ensembles; the outer folds' ensembles are scored once on their held-out pairs;
        the final ensemble is trained on all pairs. See ``analysis.selection``.
        """
        from analysis.selection import BUDGETS, SelectionSettings, candidates_by_name, run_nested

        if budget not in BUDGETS:
            raise InputError(f"--budget must be one of {sorted(BUDGETS)}, got {budget!r}")
        if final not in ("pooled", "search"):
            raise InputError(f"--final must be 'pooled' or 'search', got {final!r}")
        ids = None
        if pairs:
            try:
                ids = [int(p) for p in pairs.split(",") if p.strip()]
            except ValueError as exc:
                raise InputError(f"--pairs must be comma-separated integers, got {pairs!r}") from exc
        grid = None
        if steps:
            try:
                grid = tuple(int(n) for n in steps.split(",") if n.strip())
            except ValueError as exc:
                raise InputError(f"--steps must be comma-separated integers, got {steps!r}") from exc
            if not grid or min(grid) < 1:
                raise InputError(f"--steps must be positive integers, got {steps!r}")
        sel = SelectionSettings(budget=budget, steps=grid)
        if candidates is not None:
            sel.candidates = candidates_by_name([c.strip() for c in candidates.split(",") if c.strip()])
        if budget == "quick":
            from analysis.experiment import ExperimentSettings

            sel.base = ExperimentSettings.quick()
        rep = run_nested(out, ids, sel=sel, root=data, seed=seed,
                         final=True if final == "search" else "pooled")
        sc = rep["outer_scores"]
        typer.echo(json.dumps({"outer_rmse_mean": sc["rmse_mean"], "outer_ssim_mean": sc["ssim_mean"],
                               "final": (rep["final"] or {}).get("selection", {}).get("choice"),
                               "wall_time_s": rep["wall_time_s"]}))
