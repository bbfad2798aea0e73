"""Score realisations cross-fitted and give the shipped default model its law (maintainers' script).

Usage::

    python docs/make_realisations.py results/search [--n 16]

1. :func:`analysis.realisations.score_realisations` on the search's outer folds: for each fold,
   a law fitted on the ASTER of its training pairs (``law_outer<k>.nc``), ``kappa`` fitted on the
   same pairs, realisations of the cross-fitted estimate of its held-out pairs scored by CRPS,
   ln S2 ratio and RMSE: ``results/search/realisations/realisations.json``.
2. The shipped law: fitted on the ASTER of all shared pairs, with ``kappa`` on the same pairs,
   written to ``sr/weights/law-modis-h18v04.nc``; the default model file is rewritten with
   ``postprocess["realisation"] = {"law": ..., "kappa": [...], "lags": [1, 2]}`` (weights,
   card and the other post-processing unchanged).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from analysis.evaluate import open_pairs
from analysis.experiment import fit_aster_law
from analysis.realisations import fit_kappa, score_realisations
from sr.modelfile import read_model_file, update_postprocess
from sr.predict import REALISATION_LAGS
from sr.zoo import WEIGHTS_DIR, _index

LAW_FILE = "law-modis-h18v04.nc"


def main(argv: list[str] | None = None) -> None:
    """Score the realisations and ship the law with the default model."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("search_dir")
    ap.add_argument("--n", type=int, default=16, help="realisations per pair")
    ap.add_argument("--no-ship", action="store_true", help="score only")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    sd = Path(args.search_dir)
    rep = json.loads((sd / "selection.json").read_text())
    res = score_realisations(rep, sd / "realisations", n=args.n)
    print(json.dumps(res["summary"], indent=1))
    print(json.dumps({k: v["kappa"] for k, v in res["folds"].items()}))
    if args.no_ship:
        return
    ids = [int(v) for v in rep["pairs"]]
    law = fit_aster_law(ids, WEIGHTS_DIR / LAW_FILE)
    kappa = fit_kappa(law, open_pairs(ids))
    idx = _index()
    model = WEIGHTS_DIR / idx["models"][idx["default"]]["file"]
    meta, _ = read_model_file(model)
    post = dict(meta.get("postprocess") or {})
    post["realisation"] = {"law": LAW_FILE, "kappa": kappa, "lags": list(REALISATION_LAGS),
                           "note": "law fitted on the ASTER LST of all 40 shared pairs (co-registered); "
                                   "kappa = ASTER S2 / law target, geometric mean over the same pairs"}
    update_postprocess(model, post)
    print(f"shipped {WEIGHTS_DIR / LAW_FILE} and kappa {kappa} with {model.name}")


if __name__ == "__main__":
    main()
