"""Predictors: every method of the workflow reduced to ``pair -> DataArray (K) on the pair's 250 m grid``.

Methods come from three places:

* the statistical baselines by name (:data:`analysis.baselines.BASELINES`:
  ``bicubic``, ``tsharp``, ``dms``, ``tsharp_smooth``, ``dms_smooth``), which only use the
  pair's 1 km LST and 250 m NDVI (:func:`baseline_predictor`);
* trained networks given as ``NAME=CHECKPOINT`` (:func:`model_predictor`), resolved lazily
  through ``sr.predict`` (``load_sr_model``, ``predict_dataarray``), so that the baselines run
  without torch; their output is moved onto the pair's NDVI grid (:func:`to_grid`); a
  cross-fitted network per pair (:func:`crossfit_predictor`);
* any other callable passed in ``predictors=`` from Python (:func:`build_predictors`).

No method ever sees the ASTER field: it is only read by the scoring
(:func:`analysis.evaluate.score_pair`). Used by the demo's ``sr`` step and by the benchmark's
``sr`` and ``score`` steps.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from analysis.baselines import BASELINES
from analysis.evaluate import Predictor
from analysis.pipeline.settings import DEFAULT_METHODS
from scalelaws.errors import InputError
from scalelaws.grids import place_on_grid

logger = logging.getLogger(__name__)

__all__ = [
    "baseline_predictor",
    "build_predictors",
    "crossfit_predictor",
    "ensemble_mean",
    "member_fields",
    "smooth_prediction",
    "model_predictor",
    "parse_model_spec",
    "to_grid",
]


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
    does not reach; any other grid is reprojected bilinearly (:func:`scalelaws.grids.place_on_grid`).
    """
    if pred.shape == like.shape and np.allclose(pred["x"], like["x"]) and np.allclose(
            pred["y"], like["y"]):
        return pred
    return place_on_grid(pred, like)


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



def ensemble_mean(fields: Sequence[xr.DataArray]) -> xr.DataArray:
    """Mean of the members' predictions (one grid), NaN where any member is NaN."""
    if len(fields) == 1:
        return fields[0]
    mean = xr.concat(fields, "member").mean("member", skipna=False)
    mean.attrs = dict(fields[0].attrs)
    return mean


def smooth_prediction(pred: xr.DataArray, sigma: float) -> xr.DataArray:
    """Apply the output smoothing of a model (:func:`sr.predict.smooth_output`) to a DataArray."""
    if not sigma:
        return pred
    from sr.predict import smooth_output

    return pred.copy(data=smooth_output(np.asarray(pred.values, dtype=np.float32), sigma))


def member_fields(checkpoints: Sequence[str | Path], pair: Any, cache: dict[str, Predictor],
                  **kw: Any) -> list[xr.DataArray]:
    """Each network's prediction of ``pair`` on its NDVI grid (:func:`model_predictor`).

    Networks are loaded once into ``cache`` (keyed by path), so a cache kept across pairs
    loads every checkpoint once; ``kw`` goes to :func:`model_predictor`.
    """
    out = []
    for c in checkpoints:
        if str(c) not in cache:
            cache[str(c)] = model_predictor(c, **kw)
        out.append(cache[str(c)](pair))
    return out


def crossfit_predictor(checkpoints: Mapping[int, str | Path | Sequence[str | Path]], *,
                       sigma: float | Mapping[int, float] = 0.0, **kw: Any) -> Predictor:
    """Build a predictor that runs, for each pair, the network(s) trained without that pair.

    Parameters
    ----------
    checkpoints
        ``pair id -> checkpoint``, or ``pair id -> list of checkpoints`` (an ensemble: the
        prediction is the members' mean, :func:`ensemble_mean`). Several ids share one
        checkpoint; each is loaded once.
    sigma
        Output smoothing in fine pixels (:func:`smooth_prediction`), one value or one per pair
        id (the setting chosen for the ensemble that predicts it).
    **kw
        Passed to :func:`model_predictor`.

    """
    cache: dict[str, Predictor] = {}

    def predict(pair) -> xr.DataArray:
        pid = int(pair.id)
        if pid not in checkpoints:
            raise InputError(f"no cross-fitted network for pair {pid}")
        members = checkpoints[pid]
        members = [members] if isinstance(members, (str, Path)) else list(members)
        s = sigma.get(pid, 0.0) if isinstance(sigma, Mapping) else sigma
        return smooth_prediction(ensemble_mean(member_fields(members, pair, cache, **kw)), float(s))

    predict.__name__ = "crossfit"
    return predict
