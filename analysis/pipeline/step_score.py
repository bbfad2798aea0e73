"""Step ``score``: every method on the MODIS-ASTER pairs, scored against ASTER.

:func:`run_modis_aster` is what ``scalelaws benchmark modis-aster`` runs (baselines and given
checkpoints); :func:`step_score` is the same scoring as the benchmark's step, with the
cross-fitted networks of the ``sr`` step (:func:`analysis.pipeline.predictors.crossfit_predictor`).
No method ever sees the ASTER field: it is only read by the scoring
(:func:`analysis.evaluate.score_pair`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from analysis.evaluate import (
    Predictor,
    estimate_offset,
    evaluate,
    offset_correlation,
    open_pairs,
    write_results,
)
from analysis.pipeline.context import Context
from analysis.pipeline.predictors import build_predictors, crossfit_predictor
from analysis.pipeline.settings import DEFAULT_METHODS
from scalelaws.io.atomic import atomic_path

logger = logging.getLogger(__name__)

__all__ = ["run_modis_aster", "step_score"]


def _prediction_saver(folder: Path, keep: set[int] | None):
    def save(method: str, pair, pred: xr.DataArray) -> None:
        if keep is not None and int(pair.id) not in keep:
            return
        with atomic_path(folder / method / f"{int(pair.id)}.tif") as tmp:
            pred.astype("float32").rio.to_raster(tmp, compress="deflate")

    return save


def run_modis_aster(
    methods: Sequence[str] = DEFAULT_METHODS,
    out_dir: str | Path = "results/modis_aster",
    pairs: Iterable[int] | None = None,
    *,
    models: Mapping[str, str | Path] | Iterable[str] | None = None,
    predictors: Mapping[str, Predictor] | None = None,
    root: str | Path | None = None,
    offset: str | tuple[float, float] = "estimate",
    step_m: float = 58.0,
    max_m: float = 500.0,
    n_boot: int = 2000,
    seed: int = 0,
    save_predictions: bool | Iterable[int] = True,
    baseline_kw: Mapping[str, Mapping[str, Any]] | None = None,
    model_kw: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """Run the MODIS-ASTER comparison and write its results.

    Parameters
    ----------
    methods
        Baselines to run (see :data:`analysis.baselines.BASELINES`).
    out_dir
        Output folder: ``modis_aster.nc``, ``modis_aster_per_pair.csv``,
        ``modis_aster_summary.csv``, ``modis_aster.md``, ``offset_correlation.nc`` (when the
        offset is estimated) and ``predictions/<method>/<pair>.tif``.
    pairs
        Pair ids (default: every ``dev`` pair present).
    models
        Trained networks, ``{name: checkpoint}`` or ``["NAME=CHECKPOINT"]``.
    predictors
        Further predictors ``pair -> DataArray`` by name.
    root
        Folder of the pairs (default: the shared data).
    offset
        ``"estimate"`` (from these pairs' 1 km correlation), ``"none"`` or ``(dx_m, dy_m)``
        (MODIS frame, x east, y north).
    step_m, max_m
        Offset search grid.
    n_boot, seed
        Bootstrap over pairs.
    save_predictions
        ``True`` (all), ``False`` (none) or the pair ids whose predictions are saved as
        GeoTIFF.
    baseline_kw, model_kw
        See :func:`analysis.pipeline.predictors.build_predictors`.

    Returns
    -------
    xarray.Dataset
        The output of :func:`analysis.evaluate.evaluate`.

    """
    t0 = time.perf_counter()
    out = Path(out_dir)
    preds = build_predictors(methods, models, predictors, baseline_kw=baseline_kw,
                             model_kw=model_kw)
    plist = open_pairs(pairs, root)
    out.mkdir(parents=True, exist_ok=True)  # once the models and the pairs are readable
    how = None
    if isinstance(offset, str) and offset == "estimate":
        surf = offset_correlation(plist, step_m=step_m, max_m=max_m)
        off = estimate_offset(surf)
        surf.attrs.update(offset_dx_m=off[0], offset_dy_m=off[1])
        with atomic_path(out / "offset_correlation.nc") as tmp:
            surf.to_netcdf(tmp)
        how = (f"estimated from {len(plist)} pairs: max of the mean 1 km correlation, "
               f"{step_m:g} m grid within +-{max_m:g} m, quadratic peak fit")
    else:
        off = offset
    if save_predictions is True:
        keep = None
    elif save_predictions is False:
        keep = set()
    else:
        keep = {int(i) for i in save_predictions}
    hook = _prediction_saver(out / "predictions", keep) if keep != set() else None
    ds = evaluate(preds, plist, offset=off, n_boot=n_boot, seed=seed, on_prediction=hook)
    if how is not None:
        ds.attrs["offset_source"] = how
    ds.attrs["wall_time_s"] = round(time.perf_counter() - t0, 1)
    paths = write_results(ds, out)
    logger.info("MODIS-ASTER benchmark: %d methods x %d pairs in %.0f s -> %s", len(preds),
                ds.sizes["pair"], ds.attrs["wall_time_s"], paths["markdown"])
    return ds



def step_score(ctx: Context, out: Path, progress: bool) -> list[Path]:
    """Score the baselines and the cross-fitted networks on ``ctx.ids`` (``ctx.result``)."""
    st = ctx.settings
    opts = ctx.options
    preds = {name: crossfit_predictor(c, tile=st.predict_tile)
             for name, c in ctx.checkpoints.items()}
    preds.update(opts.get("predictors") or {})
    baseline_kw = {"dms": {"seed": ctx.seed, "n_estimators": st.dms_estimators}}
    ctx.result = run_modis_aster(list(opts["methods"]), out, ctx.ids, predictors=preds,
                                 root=ctx.data_root, offset=opts["offset"],
                                 n_boot=opts["n_boot"], seed=ctx.seed,
                                 save_predictions=opts["save_predictions"],
                                 baseline_kw=baseline_kw)
    return [out / f for f in ("modis_aster.nc", "modis_aster_per_pair.csv",
                              "modis_aster_summary.csv", "modis_aster.md")]
