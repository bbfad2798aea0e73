"""The benchmark as a workflow: ``scalelaws benchmark modis-aster --train``.

:func:`run_experiment` builds one :class:`~analysis.pipeline.context.Context` and runs the
steps of :data:`~analysis.pipeline.settings.BENCHMARK_STEPS` with the workflow's runner
(:func:`analysis.pipeline.runner.run_steps`), as ``scalelaws demo`` runs its own steps:

==========  =================================================================================
``folds``   the pairs and their cross-fitting folds (``step_folds``)
``law``     one ASTER law per fold from the other folds' pairs, the synthetic law
            (``step_law.step_fold_laws``)
``sr``      every SR method trained per fold (``step_sr.step_fold_sr``)
``score``   baselines and cross-fitted networks scored against ASTER (``step_score``)
``report``  ``experiment.md``, ``experiment.json`` (``step_report``)
==========  =================================================================================
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import xarray as xr

from analysis.evaluate import Predictor
from analysis.pipeline.context import Context
from analysis.pipeline.runner import Step, run_steps
from analysis.pipeline.settings import (
    BENCHMARK_STEPS,
    EXPERIMENT_BASELINES,
    SR_METHODS,
    ExperimentSettings,
)
from analysis.pipeline.step_folds import step_folds
from analysis.pipeline.step_law import step_fold_laws
from analysis.pipeline.step_report import step_report
from analysis.pipeline.step_score import step_score
from analysis.pipeline.step_sr import step_fold_sr
from scalelaws.errors import InputError

logger = logging.getLogger(__name__)

__all__ = ["BENCHMARK_STEP_FUNCS", "run_experiment"]

#: The benchmark's steps by name (the order is :data:`BENCHMARK_STEPS`).
BENCHMARK_STEP_FUNCS: dict[str, Step] = {
    "folds": step_folds,
    "law": step_fold_laws,
    "sr": step_fold_sr,
    "score": step_score,
    "report": step_report,
}


def run_experiment(
    out_dir: str | Path,
    pairs: Iterable[int] | None = None,
    *,
    settings: ExperimentSettings | None = None,
    quick: bool = False,
    methods: Sequence[str] = EXPERIMENT_BASELINES,
    sr_methods: Sequence[str] | None = None,
    root: str | Path | None = None,
    lst2020_root: str | Path | None = None,
    offset: str | tuple[float, float] = "estimate",
    n_boot: int = 2000,
    seed: int = 0,
    retrain: bool = False,
    save_predictions: bool | Iterable[int] = False,
    command: str | None = None,
    n_seeds: int | None = None,
    predictors: Mapping[str, Predictor] | None = None,
    choices: Mapping[str, Any] | None = None,
    started: float | None = None,
) -> xr.Dataset:
    """Train the SR networks on MODIS data only and score them with the baselines against ASTER.

    * SISR (``sisr_invariant`` (a), ``sisr_corrected`` (b)) learn 4 km -> 1 km on the
      ``modis_lst_2020`` crops (never on the pairs) and are applied at 1 km -> 250 m.
    * DISR (``disr`` (c), ``disr_corrected`` (d)) need the 250 m NDVI, which only the pairs
      have: **K-fold cross-fitting** over the pairs (sorted ids, rank ``i`` in fold ``i % K``);
      the network that predicts a pair was trained on the MODIS LST + NDVI of the other folds.
    * The correction law of (b) and (d) is fitted on the ASTER LST of the other folds (a few
      statistics per scale, never pixels of the evaluated pair), so (b) is cross-fitted too;
      the ``*_synlaw`` variants use one law fitted on the synthetic landscapes instead.

    Writes under ``out_dir``: ``laws/``, ``runs/<method>/fold<k>/`` (checkpoints, logs),
    the evaluation of :func:`~analysis.pipeline.step_score.run_modis_aster` (``modis_aster.nc``, CSVs, ``modis_aster.md``),
    ``experiment.md`` (the table with paired differences against the best baseline) and
    ``experiment.json`` (settings, folds, training times, wall time). Finished networks whose
    configuration is unchanged are reused unless ``retrain``.

    Parameters
    ----------
    out_dir
        Output folder.
    pairs
        Pair ids (default: every ``dev`` pair).
    settings
        :class:`ExperimentSettings` (default: the documented run, or
        :meth:`ExperimentSettings.quick` with ``quick=True``).
    quick
        Smoke-test sizes.
    methods
        Baselines.
    sr_methods
        Keys of :data:`SR_METHODS` to train (default: all the settings' law variants allow).
    root, lst2020_root
        Folders of the pairs and of ``modis_lst_2020`` (default: the shared data).
    offset, n_boot, seed, save_predictions
        See :func:`~analysis.pipeline.step_score.run_modis_aster`; ``seed`` also seeds the training.
    retrain
        Retrain networks even when a finished run with the same configuration exists.
    command
        The command line, recorded in the report.
    n_seeds
        Networks per SR method and fold (seeds ``seed + 100 j``, each in ``seed<s>/``); the
        prediction is their mean. ``None``: one network of ``seed`` per method and fold.
    predictors
        More methods to score, ``name -> predictor`` (e.g. the cross-fitted ensembles of a
        nested search, :func:`analysis.selection.run_budget`); they must be cross-fitted too.
    choices
        A record of how ``predictors`` were chosen, written to ``experiment.json``.
    started
        ``time.perf_counter()`` at the start of the work the report's wall time covers
        (default: now; :func:`analysis.selection.run_budget` passes its own start, so that the
        ensembles it trained first are counted).

    Returns
    -------
    xarray.Dataset
        The evaluation (:func:`analysis.evaluate.evaluate`), with the experiment's attrs.

    """
    from scalelaws.io import list_modis_aster_pairs

    t0 = time.perf_counter() if started is None else float(started)
    st = settings or (ExperimentSettings.quick() if quick else ExperimentSettings())
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ids = sorted(int(p) for p in (pairs if pairs is not None
                                  else list_modis_aster_pairs(root, split="dev")))
    if sr_methods is None:
        sr_methods = [m for m, (_, v) in SR_METHODS.items() if v is None or v in st.law_variants]
    unknown = [m for m in sr_methods if m not in SR_METHODS]
    if unknown:
        raise InputError(f"unknown SR method(s) {unknown}; known: {list(SR_METHODS)}")
    ctx = Context(
        settings=st, source="modis_aster", seed=seed,
        data_root=Path(root) if root is not None else None, ids=ids,
        options={"methods": list(methods), "sr_methods": list(sr_methods),
                 "lst2020_root": lst2020_root, "offset": offset, "n_boot": n_boot,
                 "retrain": retrain, "save_predictions": save_predictions, "command": command,
                 "started": t0, "n_seeds": n_seeds, "predictors": dict(predictors or {}),
                 "choices": dict(choices or {})})
    run_steps(BENCHMARK_STEP_FUNCS, BENCHMARK_STEPS, ctx, out, desc="benchmark")
    if ctx.result is None:  # pragma: no cover (the score step always sets it)
        raise InputError("the benchmark produced no scores", out)
    logger.info("experiment done in %.0f s -> %s", ctx.result.attrs["experiment_wall_time_s"],
                out / "experiment.md")
    return ctx.result
