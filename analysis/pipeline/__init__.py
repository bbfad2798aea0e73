"""The workflow of the study: the demo and the benchmark as steps of one runner.

One module per step (``analysis/pipeline/step_<name>.py``, each ``step_<name>(ctx, out,
progress) -> list of files``), one context object per run (:class:`Context`, in
:mod:`analysis.pipeline.context` with the split policy :func:`make_folds` and the ASTER
registration :func:`registered_scene`), the files, sizes and method lists in
:mod:`analysis.pipeline.settings`, the predictors in :mod:`analysis.pipeline.predictors`, and
one runner (:func:`analysis.pipeline.runner.run_steps`) that both compositions use:

* :func:`compute_results` (``scalelaws demo``): every result file the paper figures and the
  report read, one result file (or a few) per step; every figure of :mod:`paper_figures`
  reads only these files;
* :func:`run_experiment` (``scalelaws benchmark modis-aster --train``, in
  :mod:`analysis.pipeline.benchmark`): steps ``folds``, ``law`` (one law per fold), ``sr``
  (networks per fold), ``score`` (:func:`run_modis_aster`, also run alone without
  ``--train``) and ``report``.

The demo has two sources of data:

* **synthetic** (default, offline): the embedded landscapes of
  :func:`scalelaws.synthetic.landscape` (cropland, forest, urban, mixed) are generated at
  62.5 m; the "250 m truth" is their degradation by 4 and the "1 km observation" by 16, with
  the project's single degradation operator :func:`scalelaws.grids.degrade`. The landscape of
  a scene is its kind. Scenes are drawn with disjoint seeds for the SR training set
  (``seed + i``), the correction law (``seed + 500 + i``, at 62.5 m) and the reference / test
  set (``seed + 1000 + i``).
* **real** (``data=PATH``): the shared MODIS-ASTER pairs. The ASTER-vs-MODIS displacement is
  estimated from the 1 km correlation (:func:`analysis.evaluate.estimate_offset`); ASTER is
  put back on the MODIS geolocation and the 250 m NDVI is re-projected onto it (bilinear), and
  landscapes are the NDVI classes of :func:`scalelaws.landscapes.classify_ndvi` per pixel (plus
  ``all``). The pairs are split by the benchmark's policy
  (:func:`make_folds`, 2 folds): the correction law is fitted on the ASTER
  fields of fold 0 (registered with the offset of those pairs only), the SR methods are
  evaluated on fold 1 only, and the networks are trained on the MODIS 1 km crops of
  ``modis_lst_2020`` (never on ASTER).

The demo's steps and their files (all NetCDF written with ``engine="h5netcdf"``, variables
with ``units`` and ``long_name``; tables as CSV):

=============  ===========================================================================
``overview``   ``overview.nc``: fine reference LST, NDVI, 1 km LST of a few scenes
``sf``         ``sf_lst.nc``, ``sf_ndvi.nc``: structure functions and local slopes per landscape
``exponents``  ``exponents.nc``, ``exponents.csv``: zeta(q), H, c1, c2, beta, break
``lst_ndvi``   ``lst_ndvi.nc``: LST-NDVI slope and correlation across scales
``law``        ``law.nc``, ``law_summary.txt``: the correction law
``invariance`` ``invariance.nc``, ``invariance.csv``: the 4 km -> 1 km band against 1 km -> 250 m
``sr``         ``sr_maps.nc``, ``metrics.nc``, ``metrics.csv``, ``metrics_summary.csv``,
               ``metrics_per_pair.csv``, ``metrics.md``, ``sr_spectra.nc``; checkpoints under
               ``sr_runs/<mode>/``
``polar``      ``polar.nc``: direction-dependent structure-function maps
=============  ===========================================================================
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from analysis.pipeline.benchmark import run_experiment
from analysis.pipeline.context import (
    Context,
    _real_context,
    _synthetic_context,
    make_folds,
    registered_scene,
)
from analysis.pipeline.runner import Step, run_steps
from analysis.pipeline.settings import FILES, STEPS, Settings, settings_for
from analysis.pipeline.step_exponents import step_exponents
from analysis.pipeline.step_invariance import step_invariance
from analysis.pipeline.step_law import step_law
from analysis.pipeline.step_lst_ndvi import step_lst_ndvi
from analysis.pipeline.step_overview import step_overview
from analysis.pipeline.step_polar import step_polar
from analysis.pipeline.step_score import run_modis_aster
from analysis.pipeline.step_sf import step_sf
from analysis.pipeline.step_sr import step_sr
from scalelaws.errors import InputError
from scalelaws.io.atomic import atomic_write_text

log = logging.getLogger(__name__)

__all__ = [
    "FILES",
    "STEPS",
    "Context",
    "Settings",
    "compute_results",
    "make_folds",
    "missing_steps",
    "registered_scene",
    "run_experiment",
    "run_modis_aster",
    "settings_for",
]


_STEP_FUNCS: dict[str, Step] = {
    "overview": step_overview,
    "sf": step_sf,
    "exponents": step_exponents,
    "lst_ndvi": step_lst_ndvi,
    "law": step_law,
    "invariance": step_invariance,
    "sr": step_sr,
    "polar": step_polar,
}
#: Steps that read the files of another step.
_NEEDS: dict[str, tuple[str, ...]] = {"invariance": ("law",), "sr": ("law",)}


def missing_steps(results_dir: str | Path) -> list[str]:
    """Return the steps whose result files are not all present in ``results_dir``."""
    r = Path(results_dir)
    return [s for s in STEPS if not all((r / f).is_file() for f in FILES[s])]


def build_context(*, data: str | Path | None, smoke: bool, seed: int, progress: bool
                  ) -> Context:
    """Generate (synthetic) or load (real) the scenes shared by the steps."""
    st = settings_for(smoke)
    if data is None:
        return _synthetic_context(st, seed)
    return _real_context(st, seed, Path(data), progress)


def compute_results(
    results_dir: str | Path,
    *,
    data: str | Path | None = None,
    smoke: bool = False,
    seed: int = 0,
    progress: bool = True,
    steps: Iterable[str] | None = None,
) -> dict[str, Path]:
    """Compute every result file the figures and the report read.

    Parameters
    ----------
    results_dir
        Output folder (created).
    data
        ``None``: the embedded synthetic landscapes. A path: the shared data root (holding
        ``modis_aster/pairs`` and ``modis_lst_2020``) or the pairs folder itself.
    smoke
        Tiny sizes for CI (well under a minute).
    seed
        Seed of every random draw (landscapes, bootstraps, splits, training).
    progress
        Show tqdm progress bars.
    steps
        Subset of :data:`STEPS` (default all). Steps that need another step's file (``law.nc``)
        run that step too when the file is missing.

    Returns
    -------
    dict
        ``file name -> path`` of every file written.

    Raises
    ------
    scalelaws.errors.InputError
        Unknown step, unreadable data, or a missing dependency (e.g. torch for ``sr``).

    """
    out = Path(results_dir)
    wanted = list(STEPS) if steps is None else list(steps)
    unknown = [s for s in wanted if s not in _STEP_FUNCS]
    if unknown:
        raise InputError(f"unknown step(s) {unknown}; known: {list(STEPS)}")
    for s in list(wanted):
        for dep in _NEEDS.get(s, ()):
            if dep not in wanted and not all((out / f).is_file() for f in FILES[dep]):
                wanted.append(dep)
    order = [s for s in STEPS if s in wanted]
    t0 = time.perf_counter()
    ctx = build_context(data=data, smoke=smoke, seed=seed, progress=progress)
    out.mkdir(parents=True, exist_ok=True)  # once the data are known to be readable
    log.info("scenes ready in %.1f s (%d reference scenes, landscapes %s)",
             time.perf_counter() - t0, len(ctx.scenes), ctx.landscapes)
    written = run_steps(_STEP_FUNCS, order, ctx, out, progress=progress, desc="results")
    timings = dict(ctx.step_seconds)
    info = {"source": ctx.source, "smoke": bool(smoke), "seed": int(seed),
            "landscapes": ctx.landscapes, "n_reference_scenes": len(ctx.scenes),
            "offset_m": list(ctx.offset), "offset_source": ctx.offset_source,
            "settings": {k: v for k, v in vars(replace(ctx.settings)).items()},
            "step_seconds": timings}
    prev = out / "run_info.json"
    if prev.is_file():
        try:
            old = json.loads(prev.read_text())
            old_t = old.get("step_seconds", {})
            old_t.update(timings)
            info["step_seconds"] = old_t
        except (json.JSONDecodeError, OSError):
            pass
    atomic_write_text(prev, json.dumps(info, indent=2, default=str))
    written["run_info.json"] = prev
    return written
