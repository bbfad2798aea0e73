"""Cross-fitted output smoothing for the single-image model, against smoothed bicubic (maintainers' script).

Usage::

    python docs/make_sisr_smoothing.py results/sisr_smoothing [--ship]

The single-image model is trained on the 2020 MODIS crops (no ASTER), so the only setting the
shared pairs may choose is its output smoothing ``sigma``. Fold ``k`` of the 40 pairs is scored
with the ``sigma`` chosen on the other fold (:func:`analysis.selection.crossfit_smoothing`). The
same is done for bicubic, so that the network is compared with a baseline given the same choice.
Writes ``smoothing.json`` and the reference-protocol evaluation (``evaluation/``: every metric,
paired bootstrap intervals). With ``--ship``, the ``sigma`` chosen on all 40 pairs is written into
the shipped single-image model's ``postprocess`` (weights unchanged).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import xarray as xr

from analysis.evaluate import evaluate, paired_difference, write_results
from analysis.experiment import baseline_predictor, model_predictor
from analysis.selection import crossfit_smoothing, smooth_prediction
from scalelaws.io import list_modis_aster_pairs
from sr.modelfile import read_model_file, update_postprocess
from sr.zoo import resolve_model


def _nested(predict, choice: dict, name: str):
    per = {int(k): v for k, v in choice["per_pair"].items()}

    def f(pair):
        return smooth_prediction(predict(pair), per[int(pair.id)])

    f.__name__ = name
    return f


def main(argv: list[str] | None = None) -> None:
    """Choose and score the smoothing cross-fitted; optionally ship it."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--ship", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ids = [int(p) for p in list_modis_aster_pairs()]
    model, _ = resolve_model(None, guided_input=False)
    sisr = model_predictor(model)
    bic = baseline_predictor("bicubic")
    cache: dict = {}

    def cached(pred, tag):
        def f(pair):
            key = (tag, int(pair.id))
            if key not in cache:
                cache[key] = pred(pair)
            return cache[key]
        return f

    sisr_c, bic_c = cached(sisr, "sisr"), cached(bic, "bicubic")
    nc = out / "evaluation" / "modis_aster.nc"
    if (out / "smoothing.json").is_file() and nc.is_file():  # a finished run: reuse it
        done = json.loads((out / "smoothing.json").read_text())
        ch_sisr, ch_bic = done["sisr"], done["bicubic"]
    else:
        ch_sisr = crossfit_smoothing(sisr_c, ids)
        ch_bic = crossfit_smoothing(bic_c, ids)
        (out / "smoothing.json").write_text(json.dumps({"sisr": ch_sisr, "bicubic": ch_bic}, indent=1))
        ds = evaluate({"bicubic": bic_c,
                       "bicubic_nested_smooth": _nested(bic_c, ch_bic, "bicubic_nested_smooth"),
                       "sisr": sisr_c, "sisr_nested_smooth": _nested(sisr_c, ch_sisr, "sisr_nested_smooth")},
                      ids)
        write_results(ds, out / "evaluation")
    ds = xr.open_dataset(nc)
    for ref in ("bicubic", "bicubic_nested_smooth"):
        d = paired_difference(ds, "rmse", ref)
        for m in ds["method"].values:
            print(f"rmse {m} - {ref}: {float(d['diff_mean'].sel({'method': m})):+.3f} "
                  f"{[round(float(v), 3) for v in d['diff_ci'].sel({'method': m}).values]}")
    print("sigma per fold: sisr", [f["sigma"] for f in ch_sisr["folds"]], "bicubic",
          [f["sigma"] for f in ch_bic["folds"]], "; on all pairs: sisr", ch_sisr["sigma_all"],
          "bicubic", ch_bic["sigma_all"])
    if args.ship:
        meta, _ = read_model_file(model)
        post = dict(meta.get("postprocess") or {})
        post["gaussian_sigma_px"] = ch_sisr["sigma_all"]
        update_postprocess(model, post)
        print(f"shipped sigma {ch_sisr['sigma_all']} with {model.name}")


if __name__ == "__main__":
    main()
