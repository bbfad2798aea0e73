"""The MODIS-ASTER benchmark's public names (re-exported from the workflow, :mod:`analysis.pipeline`).

``scalelaws benchmark modis-aster`` runs the ``score`` step (:func:`run_modis_aster`); with
``--train`` it runs the benchmark's steps (:func:`run_experiment`: ``folds``, ``law``, ``sr``,
``score``, ``report``) with the same runner, context, split policy and registration as
``scalelaws demo``. The code lives in ``analysis/pipeline/``; this module keeps the names that
callers import from ``analysis.experiment``.
"""

from __future__ import annotations

from analysis.pipeline.benchmark import run_experiment
from analysis.pipeline.context import make_folds
from analysis.pipeline.predictors import (
    baseline_predictor,
    build_predictors,
    crossfit_predictor,
    ensemble_mean,
    member_fields,
    model_predictor,
    parse_model_spec,
    smooth_prediction,
    to_grid,
)
from analysis.pipeline.settings import (
    DEFAULT_METHODS,
    EXPERIMENT_BASELINES,
    SR_METHODS,
    ExperimentSettings,
)
from analysis.pipeline.step_law import fit_aster_law
from analysis.pipeline.step_report import best_baseline, experiment_markdown
from analysis.pipeline.step_score import run_modis_aster
from analysis.pipeline.step_sr import _sr_config, _train_one

__all__ = [
    "DEFAULT_METHODS",
    "EXPERIMENT_BASELINES",
    "SR_METHODS",
    "ExperimentSettings",
    "_sr_config",
    "_train_one",
    "baseline_predictor",
    "best_baseline",
    "build_predictors",
    "crossfit_predictor",
    "ensemble_mean",
    "experiment_markdown",
    "fit_aster_law",
    "make_folds",
    "member_fields",
    "model_predictor",
    "parse_model_spec",
    "run_experiment",
    "run_modis_aster",
    "smooth_prediction",
    "to_grid",
]
