"""The MODIS-ASTER experiment: every method on the shared pairs, scored against ASTER.

:func:`run_modis_aster` is what ``scalelaws benchmark modis-aster`` runs. Methods come from
three places, all reduced to a *predictor* ``pair -> DataArray (K) on the pair's 250 m grid``:

* the statistical baselines by name (:data:`analysis.baselines.BASELINES`:
  ``bicubic``, ``tsharp``, ``dms``, ``tsharp_smooth``, ``dms_smooth``), which only use the
  pair's 1 km LST and 250 m NDVI;
* trained networks given as ``NAME=CHECKPOINT`` (:func:`model_predictor`), resolved lazily
  through ``sr.predict`` (``load_sr_model``, ``predict_dataarray``), so that the baselines run
  without torch; their output is moved onto the pair's NDVI grid (:func:`to_grid`);
* any other callable passed in ``predictors=`` from Python.

No method ever sees the ASTER field: it is only read by the scoring
(:func:`analysis.evaluate.score_pair`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from rasterio.enums import Resampling

from analysis.baselines import BASELINES
from analysis.evaluate import (
    Predictor,
    estimate_offset,
    evaluate,
    offset_correlation,
    open_pairs,
    write_results,
)
from scalelaws.errors import InputError

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_METHODS",
    "baseline_predictor",
    "build_predictors",
    "model_predictor",
    "parse_model_spec",
    "to_grid",
    "run_modis_aster",
]

#: Methods run when none are named.
DEFAULT_METHODS: tuple[str, ...] = ("bicubic", "tsharp", "dms")


def baseline_predictor(name: str, **kw: Any) -> Predictor:
    """Build a predictor that runs one baseline of :mod:`analysis.baselines` on a pair.

    Parameters
    ----------
    name
        A key of :data:`analysis.baselines.BASELINES` (``"bicubic"``, ``"tsharp"``, ``"dms"``,
        ``"tsharp_smooth"``, ``"dms_smooth"``).
    **kw
        Keyword arguments of the baseline (e.g. ``residual="block"``).

    Returns
    -------
    callable
        ``pair -> DataArray`` (K) on the pair's NDVI grid.

    """
    if name not in BASELINES:
        raise InputError(f"unknown baseline {name!r}; known: {sorted(BASELINES)}")
    fn = BASELINES[name]

    def predict(pair) -> xr.DataArray:
        return fn(pair.lst_1km, pair.ndvi_250m, **kw)

    predict.__name__ = f"baseline_{name}"
    return predict


def to_grid(pred: xr.DataArray, like: xr.DataArray) -> xr.DataArray:
    """Put a prediction on the grid of ``like`` (the pair's NDVI grid).

    A grid with the same pixel size shifted by whole pixels (an ``sr`` output on the 1 km grid
    refined 4 x, versus the NDVI grid offset by 0-3 fine pixels) is moved exactly, NaN where it
    does not reach; any other grid is reprojected bilinearly.
    """
    if pred.shape == like.shape and np.allclose(pred["x"], like["x"]) and np.allclose(
            pred["y"], like["y"]):
        return pred
    tp, tl = pred.rio.transform(recalc=False), like.rio.transform(recalc=False)
    col, row = (tp.c - tl.c) / tl.a, (tp.f - tl.f) / tl.e
    same_px = np.isclose(tp.a, tl.a, rtol=1e-6) and np.isclose(tp.e, tl.e, rtol=1e-6)
    if same_px and abs(col - round(col)) < 1e-3 and abs(row - round(row)) < 1e-3:
        tol = 0.25 * abs(tl.a)
        out = pred.reindex(x=like["x"], y=like["y"], method="nearest", tolerance=tol)
        out = out.assign_coords(x=like["x"], y=like["y"])
    else:
        out = pred.rio.write_nodata(np.nan, encoded=False).rio.reproject_match(
            like, resampling=Resampling.bilinear)
    out = out.rio.write_crs(like.rio.crs).rio.write_transform(tl)
    out.attrs = dict(pred.attrs)
    return out


def model_predictor(checkpoint: str | Path, *, device: str | None = None,
                    **kw: Any) -> Predictor:
    """Build a predictor that runs a trained ``sr`` network (imported lazily: needs torch).

    The network is loaded with ``sr.predict.load_sr_model`` and applied to the pair's 1 km
    LST with ``sr.predict.predict_dataarray`` (given the 250 m NDVI, which guided models use and
    single-image models ignore); its output, on the 1 km grid refined by the model's factor, is
    moved onto the pair's NDVI grid by :func:`to_grid`.

    Parameters
    ----------
    checkpoint
        Lightning checkpoint written by ``scalelaws train``.
    device
        Torch device (default CPU).
    **kw
        Passed to ``sr.predict.predict_dataarray`` (tile, overlap, batch_size, ...).

    Returns
    -------
    callable
        ``pair -> DataArray`` (K) on the pair's NDVI grid.

    """
    path = Path(checkpoint)
    if not path.is_file():
        raise InputError("checkpoint not found", path)
    try:
        from sr.predict import load_sr_model, predict_dataarray
    except ImportError as exc:
        raise InputError(f"model checkpoints need the 'sr' package and torch ({exc})",
                         path) from exc
    module = load_sr_model(path, map_location=device or "cpu")
    if device is not None:
        kw["device"] = device

    def predict(pair) -> xr.DataArray:
        out = predict_dataarray(module, pair.lst_1km, pair.ndvi_250m, **kw)
        return to_grid(out, pair.ndvi_250m)

    predict.__name__ = f"model_{path.stem}"
    return predict


def parse_model_spec(spec: str) -> tuple[str, Path]:
    """Split ``"NAME=CHECKPOINT"`` into the method name and the checkpoint path."""
    name, sep, ckpt = spec.partition("=")
    name, ckpt = name.strip(), ckpt.strip()
    if not sep or not name or not ckpt:
        raise InputError(f"a model is given as NAME=CHECKPOINT, got {spec!r}")
    return name, Path(ckpt)


def build_predictors(
    methods: Sequence[str] = DEFAULT_METHODS,
    models: Mapping[str, str | Path] | Iterable[str] | None = None,
    predictors: Mapping[str, Predictor] | None = None,
    *,
    baseline_kw: Mapping[str, Mapping[str, Any]] | None = None,
    model_kw: Mapping[str, Any] | None = None,
) -> dict[str, Predictor]:
    """Assemble the predictors of an experiment, in order: baselines, models, callables.

    Parameters
    ----------
    methods
        Baseline names.
    models
        ``{name: checkpoint}`` or ``["NAME=CHECKPOINT", ...]``.
    predictors
        Ready-made predictors by name.
    baseline_kw
        Per-baseline keyword arguments, e.g. ``{"dms": {"n_estimators": 50}}``.
    model_kw
        Keyword arguments for every :func:`model_predictor`.

    Returns
    -------
    dict
        ``name -> predictor``; duplicate names raise :class:`~scalelaws.errors.InputError`.

    """
    out: dict[str, Predictor] = {}

    def add(name: str, p: Predictor) -> None:
        if name in out:
            raise InputError(f"method name {name!r} given twice")
        out[name] = p

    for m in methods:
        add(m, baseline_predictor(m, **dict((baseline_kw or {}).get(m, {}))))
    if models:
        items = (models.items() if isinstance(models, Mapping)
                 else (parse_model_spec(s) for s in models))
        for name, ckpt in items:
            add(name, model_predictor(ckpt, **dict(model_kw or {})))
    for name, p in (predictors or {}).items():
        if not callable(p):
            raise InputError(f"predictor {name!r} is not callable")
        add(name, p)
    if not out:
        raise InputError("no method to run")
    return out


def _prediction_saver(folder: Path, keep: set[int] | None):
    def save(method: str, pair, pred: xr.DataArray) -> None:
        if keep is not None and int(pair.id) not in keep:
            return
        d = folder / method
        d.mkdir(parents=True, exist_ok=True)
        pred.astype("float32").rio.to_raster(d / f"{int(pair.id)}.tif", compress="deflate")

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
        See :func:`build_predictors`.

    Returns
    -------
    xarray.Dataset
        The output of :func:`analysis.evaluate.evaluate`.

    """
    t0 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    preds = build_predictors(methods, models, predictors, baseline_kw=baseline_kw,
                             model_kw=model_kw)
    plist = open_pairs(pairs, root)
    how = None
    if isinstance(offset, str) and offset == "estimate":
        surf = offset_correlation(plist, step_m=step_m, max_m=max_m)
        off = estimate_offset(surf)
        surf.attrs.update(offset_dx_m=off[0], offset_dy_m=off[1])
        surf.to_netcdf(out / "offset_correlation.nc")
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
