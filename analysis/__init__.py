"""Evaluation of 1 km -> 250 m LST super-resolution against ASTER, and the baselines.

Modules (imported lazily, so that ``scalelaws --help`` stays fast):

* :mod:`analysis.baselines`: ``bicubic``, ``tsharp``, ``dms`` (``(lst_1km, ndvi_250m) ->``
  LST on the NDVI grid), plus the geotransform-aware ``aggregate_to`` / ``upsample_cubic``;
* :mod:`analysis.metrics`: pixel, structural (SSIM) and scale-aware metrics on arrays;
* :mod:`analysis.evaluate`: co-registration (``estimate_offset``), the reference scoring
  protocol (``score_pair``), ``evaluate`` over methods x pairs with bootstrap intervals, and
  the NetCDF / CSV / markdown writers;
* :mod:`analysis.pipeline`: the workflow, one module per step and one runner for both
  ``scalelaws demo`` (``compute_results``) and ``scalelaws benchmark modis-aster``
  (``run_modis_aster``, ``run_experiment``); :mod:`analysis.experiment` re-exports the
  benchmark's names (predictors, settings, folds).

``analysis`` never imports torch at module level: ``sr`` is imported only when a checkpoint is
evaluated.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "bicubic": "analysis.baselines",
    "tsharp": "analysis.baselines",
    "dms": "analysis.baselines",
    "BASELINES": "analysis.baselines",
    "aggregate_to": "analysis.baselines",
    "upsample_cubic": "analysis.baselines",
    "estimate_offset": "analysis.evaluate",
    "offset_correlation": "analysis.evaluate",
    "score_pair": "analysis.evaluate",
    "evaluate": "analysis.evaluate",
    "summarize": "analysis.evaluate",
    "paired_difference": "analysis.evaluate",
    "write_results": "analysis.evaluate",
    "markdown_table": "analysis.evaluate",
    "run_modis_aster": "analysis.experiment",
    "build_predictors": "analysis.experiment",
    "model_predictor": "analysis.experiment",
    "baseline_predictor": "analysis.experiment",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
