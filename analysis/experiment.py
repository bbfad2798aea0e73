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

import dataclasses
import json
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

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
from scalelaws.grids import place_on_grid
from scalelaws.io.atomic import atomic_path, atomic_write_text
from scalelaws.synthetic import LANDSCAPES

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_METHODS",
    "EXPERIMENT_BASELINES",
    "SR_METHODS",
    "ExperimentSettings",
    "baseline_predictor",
    "best_baseline",
    "crossfit_predictor",
    "experiment_markdown",
    "fit_aster_law",
    "make_folds",
    "run_experiment",
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
        See :func:`build_predictors`.

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


# ----------------------------------------------------------------------------------------------
# the full experiment: train on MODIS only, cross-fit over the pairs, score against ASTER
# ----------------------------------------------------------------------------------------------
#: The SR methods of the experiment: name -> (training mode, law variant or None).
SR_METHODS: dict[str, tuple[str, str | None]] = {
    "sisr_invariant": ("sisr_invariant", None),
    "sisr_corrected": ("sisr_corrected", "aster"),
    "sisr_corrected_synlaw": ("sisr_corrected", "synthetic"),
    "disr": ("disr", None),
    "disr_corrected": ("disr_corrected", "aster"),
    "disr_corrected_synlaw": ("disr_corrected", "synthetic"),
    "disr_invariant": ("disr_invariant", None),
    "disr_invariant_corrected": ("disr_invariant_corrected", "aster"),
}

#: Baselines of the experiment (``tsharp_smooth`` is the strongest on these pairs).
EXPERIMENT_BASELINES: tuple[str, ...] = ("bicubic", "tsharp", "dms", "tsharp_smooth")


@dataclass
class ExperimentSettings:
    """Sizes and options of :func:`run_experiment` (the defaults are the documented run).

    Attributes
    ----------
    folds
        Number of cross-fitting folds over the pairs (sorted ids, pair ``i`` in fold
        ``i % folds``).
    steps
        Optimiser steps per network (every network gets the same number).
    batch_size, lr
        Mini-batch size and AdamW learning rate.
    sisr_patch, disr_patch, disr_stride, disr_invariant_patch, disr_invariant_stride
        Coarse patch sizes (pixels of the network input: 4 km for SISR and the guided
        scale-invariant modes, 1 km for DISR) and the crop strides.
    sisr_crops
        MODIS 2020 day crops (>= 90 % valid) the SISR networks train on.
    unet
        U-Net options of every network (``base``, ``depth``).
    disr_first_guess
        ``"tsharp"`` (the residual is added to the TsHARP sharpening of the tile) or
        ``"bicubic"``.
    forward
        Forward model of the consistency losses and of the SISR training pairs: ``"psf"``
        (Gaussian PSF, MTF ``mtf_nyquist`` at the coarse Nyquist) or ``"mean"`` (1 km boxes).
    w_consistency, w_texture, w_law
        Loss weights (DISR consistency, NDVI texture, law).
    law_n_boot
        Bootstrap replicates of the laws.
    synthetic_law
        ``[law.fit]`` table of the synthetic-landscape law (see :class:`sr.train.LawConfig`).
    law_variants
        Which corrected variants run: ``"aster"`` (law from the ASTER LST of the training
        folds) and/or ``"synthetic"``.
    predict_tile
        Inference tile (coarse pixels); the DISR TsHARP first guess is fitted per tile.
    dms_estimators
        Trees of the DMS baseline.

    """

    folds: int = 2
    steps: int = 120
    batch_size: int = 16
    lr: float = 1e-3
    sisr_patch: int = 16
    disr_patch: int = 16
    disr_stride: int = 8
    disr_invariant_patch: int = 8
    disr_invariant_stride: int = 2
    sisr_crops: int = 600
    unet: dict[str, Any] = field(default_factory=lambda: {"base": 16, "depth": 3})
    disr_first_guess: str = "tsharp"
    forward: str = "mean"
    mtf_nyquist: float = 0.3
    w_consistency: float = 0.1
    w_texture: float = 0.1
    w_law: float = 0.1
    law_n_boot: int = 50
    synthetic_law: dict[str, Any] = field(default_factory=lambda: {
        "kinds": list(LANDSCAPES), "n_per_kind": 2,
        "shape": [512, 512], "pixel_size": 62.5, "seed": 1000, "n_boot": 50, "q": [1, 2]})
    law_variants: tuple[str, ...] = ("aster", "synthetic")
    predict_tile: int = 64
    dms_estimators: int = 30

    @classmethod
    def quick(cls) -> ExperimentSettings:
        """Tiny settings for a smoke test (2 pairs, a few steps, tiny networks)."""
        return cls(steps=2, batch_size=4, sisr_crops=8, unet={"base": 4, "depth": 1},
                   law_n_boot=0, dms_estimators=5,
                   synthetic_law={"kinds": ["mixed"], "n_per_kind": 1, "shape": [256, 256],
                                  "pixel_size": 62.5, "seed": 1000, "n_boot": 0, "q": [1, 2]})


def make_folds(ids: Iterable[int], k: int = 2) -> list[list[int]]:
    """Cross-fitting folds: ids sorted numerically, id of rank ``i`` in fold ``i % k``."""
    s = sorted(int(i) for i in ids)
    if k < 2 or len(s) < k:
        raise InputError(f"cross-fitting needs at least 2 folds and one pair per fold "
                         f"({len(s)} pairs, {k} folds)")
    return [s[i::k] for i in range(k)]


def fit_aster_law(ids: Sequence[int], path: str | Path, *, root: str | Path | None = None,
                  n_boot: int = 50, seed: int = 0,
                  offset: tuple[float, float] | str | None = "estimate"):
    """Fit a correction law on the ASTER LST of the given pairs (never the evaluated ones).

    The law is a handful of statistics per scale (structure functions, detail energies,
    LST-NDVI slope; :class:`scalelaws.laws.CorrectionLaw`), landscapes from the MODIS NDVI
    re-projected bilinearly onto each ASTER grid. Written to ``path``.

    ``offset``: the MODIS-ASTER co-registration applied to ASTER before the NDVI is placed on it
    (:func:`analysis.evaluate.registered_aster`): ``"estimate"`` (default) estimates it on
    **these pairs only** (:func:`analysis.evaluate.estimate_offset`), a ``(dx_m, dy_m)`` tuple
    is used as given, ``None`` fits on ASTER as distributed (about 0.75 of a 250 m pixel off,
    which weakens the fine-scale LST-NDVI relation).
    """
    from analysis.evaluate import registered_aster
    from scalelaws.grids import align
    from scalelaws.io import open_modis_aster_pair
    from scalelaws.laws import CorrectionLaw

    pairs = [open_modis_aster_pair(int(pid), root) for pid in ids]
    if isinstance(offset, str):
        if offset != "estimate":
            raise InputError(f"offset must be 'estimate', None or (dx_m, dy_m), got {offset!r}")
        offset = estimate_offset(offset_correlation(pairs)) if len(pairs) > 1 else None
    lst, ndvi = [], []
    for pair in pairs:
        aster = registered_aster(pair, offset) if offset is not None else pair.aster_250m
        lst.append(aster)
        ndvi.append(align(pair.ndvi_250m, aster, resampling="bilinear"))
    law = CorrectionLaw.fit(
        lst, ndvi=ndvi, classes="ndvi", q=(1, 2), n_boot=n_boot, rng=seed,
        sources=[f"modis_aster pair {int(p)} aster_lst_250m.tif" for p in ids])
    law.to_netcdf(path)
    return law


def _sr_config(mode: str, out: Path, st: ExperimentSettings, *, law: Path | None,
               train_ids: Sequence[int] | None, root: str | Path | None,
               lst2020_root: str | Path | None, seed: int) -> dict[str, Any]:
    from sr import mode_spec
    from sr.train import sr_config

    spec = mode_spec(mode)
    sisr = not spec.guided
    data: dict[str, Any] = {
        "factor": 4, "method": st.forward, "mtf_nyquist": st.mtf_nyquist,
        "batch_size": st.batch_size,
    }
    if sisr:
        data.update(source="modis_lst_2020", patch=st.sisr_patch, val_fraction=0.1,
                    options={"which": ["day"], "min_valid": 0.9, "limit": st.sisr_crops,
                             "seed": 0, **({"root": str(lst2020_root)} if lst2020_root else {})})
    else:
        # guided supervised modes learn 4 km -> 1 km: their patches are counted in 4 km pixels
        patch, stride = ((st.disr_invariant_patch, st.disr_invariant_stride) if spec.supervised
                         else (st.disr_patch, st.disr_stride))
        data.update(source="modis_aster", patch=patch, stride=stride,
                    val_fraction=0.2,
                    options={"ids": [int(i) for i in train_ids or []],
                             **({"root": str(root)} if root else {})})
    if seed != 0:
        # members of an ensemble (seeds) share the data (crop subset, split), hence the
        # normalisation, of seed 0; the seed varies the initialisation and the batch order
        data["split_seed"] = 0
    loss: dict[str, Any] = {"w_law": st.w_law, "w_texture": st.w_texture}
    if not sisr:
        loss["w_consistency"] = st.w_consistency
    return sr_config(mode, out, data, unet=st.unet, steps=st.steps, seed=seed, law=law, loss=loss,
                     lr=st.lr, first_guess=st.disr_first_guess, limit_val_batches=2)


def _train_one(cfg: dict[str, Any], retrain: bool) -> tuple[Path, float]:
    """Train (or reuse) one network; return its last checkpoint and the training time."""
    from sr.train import SRConfig, train

    out = Path(cfg["out_dir"])
    last = out / "checkpoints" / "last.ckpt"
    done = out / "done.json"
    if last.is_file() and done.is_file() and not retrain:
        prev = json.loads(done.read_text())
        if prev.get("config") == cfg:
            logger.info("reusing %s (trained in %.0f s)", last, prev["train_s"])
            return last, float(prev["train_s"])
    t0 = time.perf_counter()
    ckpt = Path(train(SRConfig.from_dict(json.loads(json.dumps(cfg)))))
    dt = time.perf_counter() - t0
    atomic_write_text(done, json.dumps({"config": cfg, "train_s": dt}, indent=1))
    logger.info("trained %s in %.0f s", out, dt)
    return ckpt, dt


def crossfit_predictor(checkpoints: Mapping[int, str | Path], **kw: Any) -> Predictor:
    """Build a predictor that runs, for each pair, the network trained without that pair.

    Parameters
    ----------
    checkpoints
        ``pair id -> checkpoint`` (several ids share one checkpoint; each is loaded once).
    **kw
        Passed to :func:`model_predictor`.

    """
    cache: dict[str, Predictor] = {}

    def predict(pair) -> xr.DataArray:
        pid = int(pair.id)
        if pid not in checkpoints:
            raise InputError(f"no cross-fitted network for pair {pid}")
        key = str(checkpoints[pid])
        if key not in cache:
            cache[key] = model_predictor(key, **kw)
        return cache[key](pair)

    predict.__name__ = "crossfit"
    return predict


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
    the evaluation of :func:`run_modis_aster` (``modis_aster.nc``, CSVs, ``modis_aster.md``),
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
        See :func:`run_modis_aster`; ``seed`` also seeds the training.
    retrain
        Retrain networks even when a finished run with the same configuration exists.
    command
        The command line, recorded in the report.

    Returns
    -------
    xarray.Dataset
        The evaluation (:func:`analysis.evaluate.evaluate`), with the experiment's attrs.

    """
    from scalelaws.io import list_modis_aster_pairs
    from sr import mode_spec

    t0 = time.perf_counter()
    st = settings or (ExperimentSettings.quick() if quick else ExperimentSettings())
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ids = sorted(int(p) for p in (pairs if pairs is not None
                                  else list_modis_aster_pairs(root, split="dev")))
    folds = make_folds(ids, st.folds)
    if sr_methods is None:
        sr_methods = [m for m, (_, v) in SR_METHODS.items() if v is None or v in st.law_variants]
    unknown = [m for m in sr_methods if m not in SR_METHODS]
    if unknown:
        raise InputError(f"unknown SR method(s) {unknown}; known: {list(SR_METHODS)}")
    if sr_methods:
        from sr.train import quiet_lightning  # torch only when networks are trained

        quiet_lightning()
    timings: dict[str, float] = {}

    # laws: one per evaluation fold from the ASTER of the other folds, one synthetic
    laws: dict[str, Path] = {}
    (out / "laws").mkdir(exist_ok=True)
    need = {SR_METHODS[m][1] for m in sr_methods}
    if "aster" in need:
        for k, fold in enumerate(folds):
            train_ids = [i for i in ids if i not in fold]
            path = out / "laws" / f"law_aster_fold{k}.nc"
            t1 = time.perf_counter()
            fit_aster_law(train_ids, path, root=root, n_boot=st.law_n_boot, seed=seed)
            timings[f"law_aster_fold{k}"] = time.perf_counter() - t1
            laws[f"aster{k}"] = path
    if "synthetic" in need:
        from sr.train import _fit_law

        t1 = time.perf_counter()
        path = out / "laws" / "law_synthetic.nc"
        _fit_law(dict(st.synthetic_law)).to_netcdf(path)
        timings["law_synthetic"] = time.perf_counter() - t1
        laws["synthetic"] = path

    # networks
    ckpts: dict[str, dict[int, Path]] = {}
    for name in sr_methods:
        mode, variant = SR_METHODS[name]
        sisr = not mode_spec(mode).guided
        per_fold = not (sisr and variant in (None, "synthetic"))
        ckpts[name] = {}
        for k, fold in enumerate(folds if per_fold else [ids]):
            train_ids = [i for i in ids if i not in fold]
            law = None if variant is None else laws["synthetic" if variant == "synthetic"
                                                     else f"aster{k}"]
            run = out / "runs" / name / (f"fold{k}" if per_fold else "all")
            cfg = _sr_config(mode, run, st, law=law, train_ids=train_ids, root=root,
                             lst2020_root=lst2020_root, seed=seed)
            ckpt, dt = _train_one(cfg, retrain)
            timings[f"train_{name}_{run.name}"] = dt
            for pid in fold:
                ckpts[name][pid] = ckpt
    preds = {name: crossfit_predictor(c, tile=st.predict_tile) for name, c in ckpts.items()}
    t_train = time.perf_counter() - t0

    baseline_kw = {"dms": {"seed": seed, "n_estimators": st.dms_estimators}}
    ds = run_modis_aster(list(methods), out, ids, predictors=preds, root=root, offset=offset,
                         n_boot=n_boot, seed=seed, save_predictions=save_predictions,
                         baseline_kw=baseline_kw)
    wall = time.perf_counter() - t0
    ds.attrs.update(
        experiment_wall_time_s=round(wall, 1),
        experiment_train_time_s=round(t_train, 1),
        folds=json.dumps(folds),
        trained_on="MODIS only: modis_lst_2020 1 km crops (SISR); MODIS 1 km LST + 250 m NDVI "
                   "of the other folds' pairs (DISR); laws from the other folds' ASTER LST or "
                   "synthetic landscapes",
    )
    info = {
        "command": command, "wall_time_s": round(wall, 1), "train_and_law_time_s": round(t_train, 1),
        "evaluation_time_s": round(wall - t_train, 1), "settings": dataclasses.asdict(st),
        "folds": folds, "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "checkpoints": {m: {str(p): str(c) for p, c in d.items()} for m, d in ckpts.items()},
        "torch_threads": _torch_threads(),
    }
    atomic_write_text(out / "experiment.json", json.dumps(info, indent=1))
    atomic_write_text(out / "experiment.md", experiment_markdown(ds, info, methods))
    logger.info("experiment done in %.0f s -> %s", wall, out / "experiment.md")
    return ds


def _torch_threads() -> int | None:
    try:
        import torch
    except ImportError:  # pragma: no cover
        return None
    return int(torch.get_num_threads())


def best_baseline(ds: xr.Dataset, baselines: Sequence[str], metric: str = "rmse") -> str:
    """Return the baseline with the lowest mean ``metric`` over pairs."""
    present = [b for b in baselines if b in [str(m) for m in ds["method"].values]]
    if not present:
        raise InputError("no baseline in the results")
    vals = {b: float(ds[f"{metric}_mean"].sel({"method": b})) for b in present}
    return min(vals, key=vals.get)


def experiment_markdown(ds: xr.Dataset, info: Mapping[str, Any], baselines: Sequence[str]) -> str:
    """Write the experiment report: the run, the metric table and paired differences.

    Paired differences are taken against the best baseline (lowest mean RMSE), from the same
    bootstrap resamples of pairs as the intervals. Every number comes from ``ds``/``info``.
    """
    from analysis.evaluate import markdown_table, paired_difference

    ref = best_baseline(ds, baselines)
    st = info["settings"]
    lines = [
        "# MODIS-ASTER experiment (generated)", "",
        f"Command: `{info.get('command') or 'run_experiment(...)'}`", "",
        f"Wall time {info['wall_time_s']:.0f} s (laws + training {info['train_and_law_time_s']:.0f} s, "
        f"prediction + scoring {info['evaluation_time_s']:.0f} s), {info.get('torch_threads')} "
        f"torch threads. {st['folds']} folds over {ds.sizes['pair']} pairs: "
        + "; ".join(f"fold {k}: {', '.join(map(str, f))}" for k, f in enumerate(info["folds"]))
        + ".", "",
        f"Networks: U-Net {st['unet']}, {st['steps']} steps of batch {st['batch_size']}, forward "
        f"model `{st['forward']}`" + (f" (MTF {st['mtf_nyquist']} at the coarse Nyquist)"
                                      if st["forward"] == "psf" else "")
        + f", DISR first guess `{st['disr_first_guess']}`, weights: consistency "
        f"{st['w_consistency']}, texture {st['w_texture']}, law {st['w_law']}.", "",
        markdown_table(ds, reference=ref).rstrip(), "",
        f"Best baseline by mean RMSE: **{ref}**.", "",
    ]
    metrics = [("rmse", 2), ("ssim", 3), ("bias", 2), ("consistency_rmse", 2)]
    lines += [f"Paired differences against {ref} (all metrics, method - {ref}):", "",
              "| method | " + " | ".join(f"d{m}" for m, _ in metrics) + " |",
              "|---|" + "---|" * len(metrics)]
    diffs = {m: paired_difference(ds, m, ref) for m, _ in metrics}
    for meth in [str(m) for m in ds["method"].values]:
        if meth == ref:
            continue
        cells = []
        for m, nd in metrics:
            d = diffs[m].sel({"method": meth})
            lo, hi = (float(v) for v in d.diff_ci.values)
            cells.append(f"{float(d.diff_mean):+.{nd}f} [{lo:+.{nd}f}, {hi:+.{nd}f}]")
        lines.append(f"| {meth} | " + " | ".join(cells) + " |")
    lines += ["", "Training times (s): " + ", ".join(
        f"{k} {v:.0f}" for k, v in info["timings_s"].items()) + "."]
    return "\n".join(lines) + "\n"
