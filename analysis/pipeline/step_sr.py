"""Step ``sr``: train the SR networks.

* demo (:func:`step_sr`): the four modes trained once (synthetic scenes or MODIS 1 km crops),
  then predicted and scored with the baselines on the test scenes (``metrics.*``, maps,
  spectra);
* benchmark (:func:`step_fold_sr`): every SR method of :data:`SR_METHODS` trained per fold
  (K-fold cross-fitting: the network that predicts a pair never saw it, nor did its law);
  the predictors go to the ``score`` step (``ctx.checkpoints``).

Both build their configs with the one builder :func:`sr.train.sr_config` and train through
:func:`_train_one`.
"""

from __future__ import annotations

import json
import logging
import math
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm

from analysis.pipeline.context import Context, RefScene
from analysis.pipeline.settings import BASELINE_METHODS, SR_METHODS, SR_MODES, ExperimentSettings
from analysis.pipeline.writing import _var, _write
from scalelaws.errors import InputError
from scalelaws.io.atomic import atomic_path, atomic_write_text

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------
# step: SR (training, prediction, metrics, maps, spectra)
# ----------------------------------------------------------------------------------------------
def _train_models(ctx: Context, out: Path, progress: bool) -> dict[str, Path]:
    try:
        from sr import mode_spec
        from sr.train import quiet_lightning, sr_config
    except ImportError as exc:  # torch missing
        raise InputError(f"the SR step needs the 'sr' package and torch ({exc})") from exc
    quiet_lightning()
    st = ctx.settings
    ckpts = {}
    for mode in tqdm(SR_MODES, desc="train SR", leave=False, disable=not progress):
        # SISR crops the 4 km level (few pixels): overlapping crops; DISR: a regular grid;
        # the same number of optimiser steps for every mode (their patch counts differ)
        data = {"source": ctx.sr_data["source"], "factor": 4, "patch": st.patch,
                "stride": max(1, st.patch // 4) if not mode_spec(mode).guided else None,
                "batch_size": st.batch_size, "options": dict(ctx.sr_data["options"])}
        cfg = sr_config(mode, out / "sr_runs" / mode, data, unet=st.unet, steps=st.steps,
                        seed=ctx.seed, law=out / "law.nc", limit_val_batches=4)
        # always retrain: the law.nc of the config may have been refitted in place
        ckpts[mode], _ = _train_one(cfg, retrain=True)
    return ckpts


def _display_scene(ctx: Context) -> RefScene:
    if ctx.source == "synthetic":
        for s in ctx.scenes:
            if s.landscape == "mixed":
                return s
    return ctx.scenes[0]


def _spectra(preds: dict[int, dict[str, xr.DataArray]], ctx: Context, methods: list[str]
             ) -> xr.Dataset:
    """Mean S2 and power spectra of every method and of the reference over the test scenes."""
    from analysis.evaluate import reproject_to_aster
    from analysis.metrics import largest_rectangle
    from scalelaws.stats.spectra import power_spectrum
    from scalelaws.stats.structure import structure_function

    names = ["reference", *methods]
    by_id = {int(s.pair.id): s for s in ctx.scenes}
    crops = []
    for pid, pm in preds.items():
        ref = by_id[pid].pair.aster_250m
        reps = {m: reproject_to_aster(pm[m], by_id[pid].pair, offset=ctx.offset) for m in methods}
        valid = np.isfinite(ref.values)
        for r in reps.values():
            valid &= np.isfinite(r.values)
        rows, cols = largest_rectangle(valid)
        if rows.stop - rows.start < 16 or cols.stop - cols.start < 16:
            continue
        crop = {"reference": ref.isel(y=rows, x=cols)}
        for m, r in reps.items():
            crop[m] = r.isel(y=rows, x=cols).assign_attrs(units="K")
        crops.append(crop)
    if not crops:
        raise InputError("no test scene has a 16 x 16 px common valid rectangle for spectra")
    short = min(min(c["reference"].shape) for c in crops)
    from scalelaws.stats.structure import default_lags

    lags = default_lags(max(2, short // 3))
    kmin = 1.0 / (short * ctx.pixel_m)
    kgrid = np.geomspace(kmin, 0.5 / ctx.pixel_m, 4 * int(max(2, math.log2(short))))
    logS = np.full((len(crops), len(names), lags.size), np.nan)
    logP = np.full((len(crops), len(names), kgrid.size), np.nan)
    for c, crop in enumerate(crops):
        for j, m in enumerate(names):
            da = crop[m]
            sf = structure_function(da, q=(2,), lags=lags)
            logS[c, j] = np.log(sf["S"].values[0])
            ps = power_spectrum(da)
            k = ps["k"].values
            p = ps["P"].values
            ok = np.isfinite(p) & (p > 0)
            logP[c, j] = np.interp(np.log(kgrid), np.log(k[ok]), np.log(p[ok]),
                                   left=np.nan, right=np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        S = np.exp(np.nanmean(logS, 0))
        P = np.exp(np.nanmean(logP, 0))
    return xr.Dataset(
        {
            "S2": _var(("method", "lag"), S, "K^2",
                       "second-order structure function (geometric mean over test scenes)"),
            "P": _var(("method", "k"), P, "K^2 m^2",
                      "radially averaged power spectrum (geometric mean over test scenes)"),
        },
        coords={"method": names,
                "lag": ("lag", lags, {"units": "px"}),
                "lag_m": ("lag", lags * ctx.pixel_m, {"units": "m", "long_name": "lag"}),
                "k": ("k", kgrid, {"units": "m-1", "long_name": "wavenumber (cycles per m)"}),
                "wavelength_m": ("k", 1.0 / kgrid, {"units": "m", "long_name": "wavelength"})},
        attrs={"n_scenes": len(crops),
               "domain": "largest rectangle valid for the reference and every method, on the "
                         "reference grid"},
    )


def step_sr(ctx: Context, out: Path, progress: bool) -> list[Path]:
    """Train the four SR modes, run them and the baselines on the test scenes, score them."""
    from analysis.evaluate import evaluate, reproject_to_aster, write_results
    from analysis.pipeline.predictors import baseline_predictor, model_predictor

    if not (out / "law.nc").is_file():
        raise InputError("the SR step needs law.nc (run the law step first)", out)
    st = ctx.settings
    ckpts = _train_models(ctx, out, progress)
    preds_fn: dict[str, Callable] = {}
    for m in BASELINE_METHODS:
        kw = {"n_estimators": st.dms_estimators, "seed": ctx.seed} if m == "dms" else {}
        preds_fn[m] = baseline_predictor(m, **kw)
    for mode, ck in ckpts.items():
        preds_fn[mode] = model_predictor(ck)
    methods = list(preds_fn)
    pairs = [s.pair for s in ctx.scenes]
    bar = tqdm(total=len(pairs) * len(methods), desc="predict + score", leave=False,
               disable=not progress)
    collected: dict[int, dict[str, xr.DataArray]] = {}

    def hook(method: str, pair: Any, pred: xr.DataArray) -> None:
        collected.setdefault(int(pair.id), {})[method] = pred
        bar.update(1)

    ds = evaluate(preds_fn, pairs, offset=ctx.offset, n_boot=st.eval_boot, seed=ctx.seed,
                  on_prediction=hook)
    bar.close()
    ds.attrs["offset_source"] = ctx.offset_source
    ds.attrs["reference"] = ("synthetic 250 m truth" if ctx.source == "synthetic"
                             else "ASTER LST (evaluation half of the pairs)")
    ds.attrs["trained_on"] = ("synthetic landscapes (seeds disjoint from the test scenes)"
                              if ctx.source == "synthetic" else "MODIS 1 km crops (modis_lst_2020)")
    paths = []
    written = write_results(ds, out, stem="metrics")
    # the NetCDF again through h5netcdf with CF attrs (write_results uses the default engine)
    _write(ds, out / "metrics.nc", "1 km -> 250 m super-resolution scored against the reference",
           ctx)
    paths += [written["csv_pairs"], written["csv_summary"], written["markdown"], out / "metrics.nc"]
    wide = []
    for m in methods:
        row: dict[str, Any] = {"method": m}
        for k in ("rmse", "bias", "mae", "r", "psnr", "ssim", "consistency_rmse"):
            row[k] = float(ds[f"{k}_mean"].sel({"method": m}))
            row[f"{k}_lo"], row[f"{k}_hi"] = (float(v) for v in ds[f"{k}_ci"].sel({"method": m}).values)
        wide.append(row)
    with atomic_path(out / "metrics.csv") as tmp:
        pd.DataFrame(wide).to_csv(tmp, index=False, float_format="%.5g")
    paths.append(out / "metrics.csv")

    # maps of the display scene on the reference grid
    disp = _display_scene(ctx)
    pm = collected[int(disp.pair.id)]
    ref = disp.pair.aster_250m
    reps = np.stack([reproject_to_aster(pm[m], disp.pair, offset=ctx.offset).values
                     for m in methods]).astype(np.float32)
    refv = np.asarray(ref.values, dtype=np.float32)
    maps = xr.Dataset(
        {
            "reference": _var(("y", "x"), refv, "K", ds.attrs["reference"]),
            "ndvi": _var(("y", "x"), np.asarray(disp.ndvi.values, dtype=np.float32), "1",
                         "NDVI on the reference grid"),
            "lst_1km": _var(("yc", "xc"), np.asarray(disp.pair.lst_1km.values, np.float32), "K",
                            "1 km LST (input)"),
            "prediction": _var(("method", "y", "x"), reps, "K",
                               "prediction on the reference grid"),
            "error": _var(("method", "y", "x"), reps - refv[None], "K",
                          "prediction - reference"),
        },
        coords={"method": methods,
                "x": ("x", ref["x"].values, {"units": "m"}),
                "y": ("y", ref["y"].values, {"units": "m"}),
                "xc": ("xc", disp.pair.lst_1km["x"].values, {"units": "m"}),
                "yc": ("yc", disp.pair.lst_1km["y"].values, {"units": "m"})},
        attrs={"scene": disp.name, "landscape": disp.landscape},
    )
    paths.append(_write(maps, out / "sr_maps.nc", "SR maps and error maps", ctx))
    spec = _spectra(collected, ctx, methods)
    paths.append(_write(spec, out / "sr_spectra.nc", "structure functions and spectra of SR "
                        "outputs", ctx))
    return paths


# ----------------------------------------------------------------------------------------------
# benchmark: every SR method trained per fold
# ----------------------------------------------------------------------------------------------
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
        if st.guide_dropout:
            data["guide_dropout"] = float(st.guide_dropout)
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
            log.info("reusing %s (trained in %.0f s)", last, prev["train_s"])
            return last, float(prev["train_s"])
    t0 = time.perf_counter()
    ckpt = Path(train(SRConfig.from_dict(json.loads(json.dumps(cfg)))))
    dt = time.perf_counter() - t0
    atomic_write_text(done, json.dumps({"config": cfg, "train_s": dt}, indent=1))
    log.info("trained %s in %.0f s", out, dt)
    return ckpt, dt



def step_fold_sr(ctx: Context, out: Path, progress: bool) -> list[Path]:
    """Train every SR method of the run per fold (``ctx.checkpoints``: method -> pair -> ckpts).

    SISR networks without an ASTER law never see a pair (they learn on ``modis_lst_2020``):
    one network for all the pairs. The others train on, and take the law of, the pairs
    outside the fold they predict. With ``ctx.options["n_seeds"]`` set, that many networks are
    trained per method and fold (``runs/<method>/<fold>/seed<s>``, seeds ``seed + 100 j``: an
    ensemble, its mean is the prediction); without it, one network of ``ctx.seed``
    (``runs/<method>/<fold>``). Finished networks with an
    unchanged config are reused unless ``ctx.options["retrain"]``.
    """
    from sr import mode_spec

    st: ExperimentSettings = ctx.settings
    opts = ctx.options
    if opts["sr_methods"]:
        from sr.train import quiet_lightning  # torch only when networks are trained

        quiet_lightning()
    n_seeds = opts.get("n_seeds")
    seeds = [ctx.seed + 100 * j for j in range(int(n_seeds or 1))]
    paths = []
    for name in opts["sr_methods"]:
        mode, variant = SR_METHODS[name]
        sisr = not mode_spec(mode).guided
        per_fold = not (sisr and variant in (None, "synthetic"))
        ctx.checkpoints[name] = {}
        for k, fold in enumerate(ctx.folds if per_fold else [ctx.ids]):
            train_ids = ctx.train_ids(k) if per_fold else []
            law = None if variant is None else ctx.laws["synthetic" if variant == "synthetic"
                                                         else f"aster{k}"]
            run = out / "runs" / name / (f"fold{k}" if per_fold else "all")
            members = []
            for seed in seeds:
                cfg = _sr_config(mode, run if n_seeds is None else run / f"seed{seed}", st,
                                 law=law, train_ids=train_ids, root=ctx.data_root,
                                 lst2020_root=opts.get("lst2020_root"), seed=seed)
                ckpt, dt = _train_one(cfg, opts.get("retrain", False))
                key = f"train_{name}_{run.name}" + ("" if n_seeds is None else f"_seed{seed}")
                ctx.timings[key] = dt
                paths.append(ckpt)
                members.append(ckpt)
            for pid in fold:
                ctx.checkpoints[name][pid] = members[0] if len(members) == 1 else members
    return paths
