"""Score the nested search and ship its final models as package data (maintainers' script).

Usage::

    scalelaws -v search -o results/search --budget default
    scalelaws train --config configs/sr_modis_sisr_invariant.toml -o results/sisr   # or any SISR run
    python docs/make_shipped_models.py results/search results/sisr/checkpoints/last.ckpt [...]

Writes ``results/search/evaluation/`` (the reference-protocol table of the cross-fitted chosen
ensembles against the baselines and the single-image model, every metric, 2000 bootstrap
resamples over pairs), the model files, cards and index under ``sr/weights/`` and the search's
choices as ``analysis/release_choices.json`` (what ``benchmark modis-aster --train --budget``
retrains). Every number in
the cards comes from these files.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np

from analysis.evaluate import paired_difference
from analysis.experiment import model_predictor, run_modis_aster
from analysis.selection import (
    RELEASE_CHOICES,
    choices_record,
    model_card,
    nested_predictor,
    ship_model,
    spread_calibration,
)
from sr.zoo import WEIGHTS_DIR

LIMITS = [
    "Trained on one MODIS tile (h18v04, Western/Central Europe), daytime LST; the pairs carry no "
    "date. Other regions, seasons and night-time granules are outside the training domain.",
    "Guide NDVI: MOD09GQ 250 m red/NIR, (NIR - Red) / (NIR + Red), as in the training pairs; "
    "another NDVI product (MOD13Q1) is close but not identical.",
    "Scores are against ASTER LST aggregated to about 250 m, after a co-registration "
    "estimated from the data (about 170 m); ASTER is itself an estimate with its own errors.",
    "The output is smoothed (output_sigma_px): it is the best estimate in RMSE, smoother than a "
    "real 250 m field below 500 m.",
]


def _fmt(mean: Any, ci: Any, nd: int = 2) -> str:
    """``mean [low, high]`` from a summary or paired-difference entry of the evaluation."""
    lo, hi = (float(v) for v in np.asarray(ci))
    return f"{float(mean):.{nd}f} [{lo:.{nd}f}, {hi:.{nd}f}]"


def _summary(ds: Any, metric: str, method: str, nd: int = 2) -> str:
    """Mean over pairs and its bootstrap interval, as :func:`analysis.evaluate.summarize` made them."""
    sel = {"method": method}
    return _fmt(ds[f"{metric}_mean"].sel(sel).values, ds[f"{metric}_ci"].sel(sel).values, nd)


def main(search_dir: str, sisr_checkpoints: list[str]) -> None:
    """Evaluate the search's cross-fitted ensembles and ship the final models."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    sd = Path(search_dir)
    rep = json.loads((sd / "selection.json").read_text())
    final = rep["final"]
    nc = sd / "evaluation" / "modis_aster.nc"
    if nc.is_file():  # scored already: the choices and models are frozen, reuse the scores
        import xarray as xr

        ds = xr.load_dataset(nc, engine="h5netcdf")
    else:
        preds = {"nested_best": nested_predictor(rep)}
        if sisr_checkpoints:
            preds["sisr_shipped"] = model_predictor(sisr_checkpoints[0])
        ds = run_modis_aster(["bicubic", "tsharp_smooth"], sd / "evaluation", rep["pairs"],
                             predictors=preds, save_predictions=False)
    d_ts = paired_difference(ds, "rmse", "tsharp_smooth").sel({"method": "nested_best"})
    metrics = {
        "RMSE (K), 40 shared pairs, cross-fitted nested selection": _summary(ds, "rmse", "nested_best"),
        "SSIM": _summary(ds, "ssim", "nested_best", 3),
        "RMSE - tsharp_smooth (K, paired)": _fmt(d_ts.diff_mean, d_ts.diff_ci),
        "note": "scored by the outer folds' ensembles (2 members each); the shipped ensemble is "
                "trained on all 40 pairs and has not been scored on pairs outside its training set",
    }
    cal_path = sd / "evaluation" / "spread_calibration.json"
    cal = json.loads(cal_path.read_text()) if cal_path.is_file() else {}
    if "grad_scale_all" not in cal:  # absent, or written before the floor and gradient terms
        cal = spread_calibration(rep)
        cal_path.write_text(json.dumps(cal, indent=1))
    fitted = final["fitted"]
    # the population std of n members is sqrt((n - 1) / n) of the spread on average: the scale
    # fitted on the outer ensembles is moved to the size of the shipped one (the floor is not)
    n_out = len(rep["outer"][0]["fitted"]["checkpoints"])
    n_fin = len(fitted["checkpoints"])
    members = np.sqrt((n_out - 1) / n_out) / np.sqrt((n_fin - 1) / n_fin)
    std_scale = cal["scale_all"] * members
    std_floor = cal["floor_all"]
    std_grad = cal["grad_scale_all"]
    per_fold = ", ".join(f"fold {k}: {v['coverage_1sigma']:.0%} / {v['coverage_2sigma']:.0%}"
                         for k, v in cal["folds"].items())
    metrics["uncertainty"] = (
        f"band 2 = sqrt({std_floor:.2f}^2 + ({std_scale:.2f} x ensemble spread)^2 + ({std_grad:.2f} "
        f"x local gradient of band 1, K per pixel)^2) K (fitted on the held-out predictions of "
        f"the {n_out}-member outer ensembles, the spread's scale moved to {n_fin} members); "
        f"cross-fitted coverage of |error| <= 1 / 2 sigma "
        f"{cal['coverage_1sigma']:.0%} / {cal['coverage_2sigma']:.0%} (target 68 / 95; {per_fold}; "
        f"spread x factor alone: {cal['coverage_1sigma_factor']:.0%} / "
        f"{cal['coverage_2sigma_factor']:.0%}); correlation of |error| with the spread "
        f"{cal['spread_error_corr_mean']:.2f} and with the gradient "
        f"{cal['gradient_error_corr_mean']:.2f} per pair. The floor is what every member gets "
        f"wrong (mostly MODIS against ASTER at 1 km); the gradient term widens the band where "
        f"the field changes fast; "
        + ("the spread's fitted scale is about 0: the members' disagreement does not say where "
           "the error is" if std_scale < 0.1 else "the spread widens it where the members disagree"))
    sel = final["selection"]
    card = model_card(
        "disr-modis-h18v04", fitted,
        description="Guided 1 km -> 250 m MODIS LST super-resolution (LST + 250 m NDVI), an ensemble "
                    "chosen by nested cross-validation; the default model.",
        training_data="MODIS 1 km LST and 250 m MOD09GQ NDVI of the 40 shared MODIS-ASTER pairs "
                      "(tile h18v04, daytime); laws, offsets and choices from their ASTER LST only "
                      "through inner cross-validation.",
        metrics=metrics,
        selection={"how": final.get("how"), "choice": sel["choice"],
                   "inner RMSE table (K, pooled over the outer selections)": sel["table"]},
        limits=LIMITS)
    ship_model(fitted["checkpoints"], "disr-modis-h18v04", card, WEIGHTS_DIR,
               sigma=fitted["sigma"], std_scale=float(std_scale), std_floor=float(std_floor),
               std_grad_scale=float(std_grad),
               default="default")
    # the record `benchmark modis-aster --train --budget` retrains by default
    cands = ",".join(c["name"] for c in rep["candidates"])
    RELEASE_CHOICES.write_text(json.dumps(choices_record(
        rep, source=f"scalelaws search -o {sd} (budget {rep['budget']}, candidates {cands})"),
        indent=1) + "\n")
    if sisr_checkpoints:
        d_b = paired_difference(ds, "rmse", "bicubic").sel({"method": "sisr_shipped"})
        cfg_path = Path(sisr_checkpoints[0]).parent.parent / "done.json"
        settings = json.loads(cfg_path.read_text())["config"] if cfg_path.is_file() else {}
        sisr_fitted = {"mode": "sisr_invariant", "checkpoints": sisr_checkpoints, "sigma": 0.0,
                       "candidate": "sisr_invariant",
                       "settings": {"steps": settings.get("trainer", {}).get("max_steps")}}
        card_s = model_card(
            "sisr-modis-h18v04", sisr_fitted,
            description="Single-image 1 km -> 250 m MODIS LST super-resolution (no NDVI needed), "
                        "trained 4 km -> 1 km: used when no --ndvi is given. About bicubic.",
            training_data="MOD11A1 day LST 1 km crops of 2020 (modis_lst_2020, tile h18v04, >= 90 % "
                          "valid), never the MODIS-ASTER pairs.",
            metrics={"RMSE (K), 40 shared pairs (never trained on)": _summary(ds, "rmse", "sisr_shipped"),
                     "RMSE - bicubic (K, paired)": _fmt(d_b.diff_mean, d_b.diff_ci)},
            limits=LIMITS[:1] + ["A single-image network cannot know where 250 m detail goes: "
                                 "prefer the guided default whenever a 250 m NDVI exists."])
        ship_model(sisr_checkpoints, "sisr-modis-h18v04", card_s, WEIGHTS_DIR,
                   default="default_single_image")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
