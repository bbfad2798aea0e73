"""Realisations scored against ASTER, cross-fitted: CRPS, ln S2 ratio, RMSE.

A realisation (:func:`sr.predict.realise_dataarray`) is the best estimate plus a detail field
with the law's texture that keeps the 1 km block means. This module

* calibrates the law's texture against ASTER on training pairs (:func:`fit_kappa`): the ratio of
  the ASTER structure function at 232 m and 463 m to the law's block-anchored target, per lag
  (geometric mean over pairs), because a MODIS pixel is smoother than a block mean of the
  ASTER field and the law alone under-predicts the fine texture;
* scores realisations of the nested (cross-fitted) estimate on the held-out pairs of each outer
  fold, with the law and ``kappa`` fitted on that fold's training pairs only
  (:func:`score_realisations`): the CRPS of the realisation ensemble against the MAE of the
  estimate (the CRPS of a point forecast), the ln S2 ratio at 232 m and 463 m on the native grid
  (:func:`analysis.evaluate.score_pair`), and the RMSE of one realisation against the estimate's.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from analysis.evaluate import (
    estimate_offset,
    offset_correlation,
    open_pairs,
    reproject_to_aster,
    score_pair,
)

__all__ = ["crps_ensemble", "fit_kappa", "score_realisations"]

log = logging.getLogger(__name__)


def crps_ensemble(members: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """Continuous ranked probability score of an ensemble, per pixel (same units as ``obs``).

    ``CRPS = mean_k |X_k - y| - 1/(2 n^2) sum_{k,l} |X_k - X_l|`` (the ensemble's empirical
    distribution; Gneiting & Raftery 2007). One member: the absolute error.

    Parameters
    ----------
    members
        ``(n, ...)`` forecasts.
    obs
        ``(...)`` observations.

    """
    x = np.sort(np.asarray(members, dtype=np.float64), axis=0)
    y = np.asarray(obs, dtype=np.float64)
    n = x.shape[0]
    skill = np.mean(np.abs(x - y[None]), axis=0)
    # sum_{k,l} |x_k - x_l| = 2 sum_k (2k - n - 1) x_(k) for sorted x (k = 1..n)
    w = (2 * np.arange(1, n + 1) - n - 1).reshape((n,) + (1,) * y.ndim)
    spread = 2.0 * np.sum(w * x, axis=0) / (2.0 * n * n)
    return skill - spread


def fit_kappa(law: Any, pairs: Sequence[Any], factor: int = 4) -> list[float]:
    """Calibration of the law's fine texture against ASTER: ``exp(mean log(S2_ASTER / target))``.

    Per lag of :data:`sr.predict.REALISATION_LAGS`, over ``pairs`` (training pairs only). ASTER's
    S2 is measured on its own grid (231.65 m pixels, the fine grid's size), so lags of 1 and 2
    pixels are 232 m and 463 m; a translation does not change it, so no co-registration is needed.
    """
    from scalelaws.texture import s2_xy
    from sr.predict import REALISATION_LAGS, realisation_target

    logs = []
    for p in pairs:
        t = realisation_target(law, p.lst_1km, factor)
        a = s2_xy(np.asarray(p.aster_250m.values, dtype=np.float64), REALISATION_LAGS)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.log(a / t)
        if np.all(np.isfinite(r)):
            logs.append(r)
    if not logs:
        return [1.0] * len(REALISATION_LAGS)
    return [float(v) for v in np.exp(np.mean(logs, axis=0))]


def score_realisations(report: Mapping[str, Any], out_dir: str | Path, *, n: int = 16,
                       seed: int = 0, root: str | Path | None = None,
                       n_scale: int = 4) -> dict[str, Any]:
    """Score realisations of the nested estimate on each outer fold's held-out pairs.

    Parameters
    ----------
    report
        The nested-selection report (``selection.json`` of ``scalelaws search``).
    out_dir
        Where the per-fold laws are written (``law_outer<k>.nc``) and ``realisations.json``.
    n
        Realisations per pair (CRPS).
    seed
        Seed of the first realisation.
    root
        MODIS-ASTER pairs folder.
    n_scale
        Realisations whose ln S2 ratio and RMSE are computed (native-grid metrics are slower).

    Returns
    -------
    dict
        Per fold ``kappa`` and per pair scores; the means over pairs with 95 % bootstrap
        intervals (2000 resamples of pairs): ``crps``, ``mae_mean`` (the estimate's CRPS),
        ``rmse_mean``, ``rmse_realisation``, ``lnS2_232m`` / ``lnS2_463m`` of the realisations and
        of the estimate.

    """
    from analysis.experiment import fit_aster_law
    from analysis.selection import nested_predictor
    from scalelaws.io.atomic import atomic_write_text
    from sr.predict import realise_dataarray

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    allpairs = open_pairs(report["pairs"], root)
    byid = {p.id: p for p in allpairs}
    offset = estimate_offset(offset_correlation(allpairs))  # the scoring protocol's registration
    predict = nested_predictor(report)
    rows: list[dict[str, Any]] = []
    folds: dict[str, Any] = {}
    for o in report["outer"]:
        scored = [int(v) for v in o["scored_ids"]]
        train = [int(v) for v in report["pairs"] if int(v) not in scored]
        law = fit_aster_law(train, out / f"law_outer{o['fold']}.nc", root=root)
        kappa = fit_kappa(law, [byid[i] for i in train])
        folds[str(o["fold"])] = {"kappa": kappa, "train_ids": train, "scored_ids": scored}
        log.info("outer fold %s: kappa %s", o["fold"], kappa)
        module = SimpleNamespace(factor=4, postprocess={})
        for pid in scored:
            pair = byid[pid]
            mean = predict(pair)
            reals = realise_dataarray(module, mean, pair.lst_1km, n, law=law, seed=seed, kappa=kappa)
            a = np.asarray(pair.aster_250m.values, dtype=np.float64)
            m = np.asarray(reproject_to_aster(mean, pair, offset=offset).values, dtype=np.float64)
            xs = np.stack([np.asarray(reproject_to_aster(reals.isel(realisation=k, drop=True), pair,
                                                         offset=offset).values, dtype=np.float64)
                           for k in range(n)])
            ok = np.isfinite(a) & np.isfinite(m) & np.all(np.isfinite(xs), axis=0)
            crps = float(crps_ensemble(xs[:, ok], a[ok]).mean())
            sm = score_pair(mean, pair, offset=offset)
            sr_ = [score_pair(reals.isel(realisation=k, drop=True), pair, offset=offset)
                   for k in range(min(n_scale, n))]
            rows.append({
                "pair": pid, "fold": o["fold"], "crps": crps, "mae_mean": float(np.abs(m[ok] - a[ok]).mean()),
                "rmse_mean": float(sm["rmse"]), "rmse_realisation": float(np.mean([s["rmse"] for s in sr_])),
                "lnS2_232m_mean": float(sm["sf_log_ratio"][0]), "lnS2_463m_mean": float(sm["sf_log_ratio"][1]),
                "lnS2_232m": float(np.mean([s["sf_log_ratio"][0] for s in sr_])),
                "lnS2_463m": float(np.mean([s["sf_log_ratio"][1] for s in sr_])),
                "amplitude_K": float(reals.attrs["texture_amplitude_K"]),
                "smooth_px": float(reals.attrs["texture_smooth_px"]),
            })
            log.info("pair %s: CRPS %.3f K (estimate MAE %.3f), lnS2 232 m %.2f (estimate %.2f)", pid,
                     rows[-1]["crps"], rows[-1]["mae_mean"], rows[-1]["lnS2_232m"], rows[-1]["lnS2_232m_mean"])
    keys = [k for k in rows[0] if k not in ("pair", "fold")]
    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(rows), size=(2000, len(rows)))
    summary = {}
    for k in keys:
        v = np.array([r[k] for r in rows], dtype=np.float64)
        boots = v[idx].mean(axis=1)
        summary[k] = {"mean": float(v.mean()), "ci95": [float(np.quantile(boots, 0.025)),
                                                         float(np.quantile(boots, 0.975))]}
    d = np.array([r["crps"] - r["mae_mean"] for r in rows])
    boots = d[idx].mean(axis=1)
    summary["crps_minus_mae_mean"] = {"mean": float(d.mean()), "ci95": [float(np.quantile(boots, 0.025)),
                                                                        float(np.quantile(boots, 0.975))]}
    result = {"n_realisations": n, "seed": seed, "offset_m": list(offset), "folds": folds,
              "summary": summary, "pairs": rows}
    atomic_write_text(out / "realisations.json", json.dumps(result, indent=1))
    return result
