"""Nested model selection on the MODIS-ASTER pairs: every choice made inside the training fold.

The shipped models and the honest scores of the report come from one procedure:

* **Outer cross-fitting** (:func:`analysis.experiment.make_folds`): the pairs of fold ``k`` are
  scored by models whose every input - weights, law, co-registration offset, and every
  *setting* - came from the other folds only.
* **Inner selection** (:func:`select`): inside a training set, its pairs are split again into
  inner folds; each candidate (a training mode with its settings) is trained on the inner
  training pairs (MODIS LST + NDVI; the law from their ASTER) and scored on the **ASTER RMSE of
  the inner validation pairs**, for each output smoothing ``sigma`` (a Gaussian of ``sigma``
  fine pixels applied to the network's mosaic: the MSE-optimal estimate of a 250 m field seen
  through an imperfect co-registration and a coarse NDVI is smoother than the field). The
  candidate and ``sigma`` with the lowest mean inner RMSE are chosen, then retrained on the
  whole training set with ``n_seeds`` seeds (an ensemble; its mean is the prediction).
* The chosen models of the outer folds are scored once on their held-out pairs
  (:func:`run_nested`); the final models are chosen the same way on all pairs and exported
  (``final/``), to be shipped and scored on pairs that are not in the repository.

No ASTER pixel of a scored pair influences a weight, a law, an offset or a choice. The search
table, the choices and the times are written to ``selection.json`` before any outer score.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from analysis.evaluate import estimate_offset, offset_correlation, open_pairs, score_pair
from analysis.experiment import (
    ExperimentSettings,
    _sr_config,
    _train_one,
    crossfit_predictor,
    ensemble_mean,
    fit_aster_law,
    make_folds,
    member_fields,
    smooth_prediction,
)
from scalelaws.errors import InputError

logger = logging.getLogger(__name__)

__all__ = ["Candidate", "CANDIDATES", "SelectionSettings", "BUDGETS", "candidates_by_name",
           "fit_spread_model", "select", "pooled_choice", "run_nested", "ensemble_predict",
           "RELEASE_CHOICES", "choices_record", "load_choices", "run_budget"]


@dataclass(frozen=True)
class Candidate:
    """One point of the search: a training mode and overrides of its experiment settings.

    Attributes
    ----------
    name
        Label in the tables.
    mode
        A key of :data:`sr.MODE_SPECS`.
    settings
        Overrides of :class:`analysis.experiment.ExperimentSettings` fields (``steps``,
        ``w_law``, ``w_texture``, ``unet``, ...).

    """

    name: str
    mode: str
    settings: Mapping[str, Any] = field(default_factory=dict)


#: Named training budgets: the training lengths searched (optimiser steps; every candidate is
#: trained once to the longest and snapshotted at each, see :func:`train_snapshots`), the seeds
#: of the outer ensembles and of the final ensembles. ``quick`` is for CI, ``default`` runs in
#: well under an hour on 2 cores.
BUDGETS: dict[str, dict[str, Any]] = {
    "quick": {"steps": (2, 3), "outer_seeds": 1, "final_seeds": 2, "twin_seeds": 1},
    "default": {"steps": (100, 200, 300, 400), "outer_seeds": 2, "final_seeds": 5,
                "twin_seeds": 1},
    "full": {"steps": (100, 200, 300, 400, 600, 800, 1200), "outer_seeds": 5, "final_seeds": 5,
             "twin_seeds": 1},
}
#: ``twin_seeds``: members of every network of :func:`run_budget`'s comparison methods (each
#: law-corrected mode and its scale-invariant counterpart, :data:`analysis.pipeline.step_report.TWINS`).

#: The choices of this release's nested search (:func:`choices_record`), frozen before any
#: outer score: the default of ``scalelaws benchmark modis-aster --train --budget``.
RELEASE_CHOICES = Path(__file__).with_name("release_choices.json")

#: Separator of a candidate's name and its training length in the inner tables
#: (``"disr_invariant@200"``).
STEP_SEP = "@"


def candidate_label(name: str, steps: int) -> str:
    """Label of a candidate trained for ``steps`` steps in the inner tables."""
    return f"{name}{STEP_SEP}{int(steps)}"


def split_label(label: str) -> tuple[str, int | None]:
    """Inverse of :func:`candidate_label` (``steps`` is ``None`` for a label without one)."""
    name, sep, steps = label.rpartition(STEP_SEP)
    return (name, int(steps)) if sep and steps.isdigit() else (label, None)


#: Every candidate the search knows by name (``scalelaws search --candidates``). The
#: ``_psf`` variant trains the same guided network on 4 km inputs made by the Gaussian PSF
#: (MTF 0.3 at the coarse Nyquist, :func:`scalelaws.grids.degrade` ``method="psf"``) instead of
#: 4 x 4 block means: a MODIS 1 km pixel sees ASTER through a wider footprint than its box
#: (MODIS against co-registered ASTER at 1 km is closest with ASTER blurred by a Gaussian of
#: about half a MODIS pixel, docs/selection.md), so the network learns to undo that blur too.
#: ``_mild`` (MTF 0.5, sigma 0.38 coarse pixel) and ``_wide`` (MTF 0.15, sigma 0.62) bracket
#: that footprint: how much deblurring to learn is a trade-off with the noise it amplifies, so
#: the search chooses it. ``_gdrop`` drops the NDVI guide of a quarter of the training patches
#: (guide dropout, :class:`sr.data.PatchDataset`).
CANDIDATES: dict[str, Candidate] = {
    c.name: c
    for c in (
        Candidate("disr_invariant", "disr_invariant"),
        Candidate("disr_invariant_psf", "disr_invariant", {"forward": "psf", "mtf_nyquist": 0.3}),
        Candidate("disr_invariant_psf_mild", "disr_invariant",
                  {"forward": "psf", "mtf_nyquist": 0.5}),
        Candidate("disr_invariant_psf_wide", "disr_invariant",
                  {"forward": "psf", "mtf_nyquist": 0.15}),
        Candidate("disr_invariant_psf_gdrop", "disr_invariant",
                  {"forward": "psf", "mtf_nyquist": 0.3, "guide_dropout": 0.25}),
        Candidate("disr_invariant_corrected", "disr_invariant_corrected"),
        Candidate("disr_corrected", "disr_corrected"),
        Candidate("disr", "disr"),
    )
}


def default_candidates() -> list[Candidate]:
    """Return the candidates of the default search.

    The scale-invariant guided network (block-mean and PSF degradation of its 4 km inputs) and
    its law-corrected twin. ``disr_corrected`` and ``disr`` (trained at the target scale) are
    left out: on 2 cores a 400-step run costs about 15 minutes (law and texture terms on
    64 x 64 fine patches), and they over-smooth more the longer they train
    (docs/evaluation.md); name them with :func:`candidates_by_name` to search them.
    """
    return candidates_by_name(["disr_invariant", "disr_invariant_psf", "disr_invariant_corrected"])


def candidates_by_name(names: Sequence[str]) -> list[Candidate]:
    """Return the :data:`CANDIDATES` of ``names`` (:class:`InputError` for an unknown one)."""
    bad = [n for n in names if n not in CANDIDATES]
    if bad or not names:
        raise InputError(f"unknown candidate(s) {bad}; use names from {sorted(CANDIDATES)}")
    return [CANDIDATES[n] for n in dict.fromkeys(names)]


@dataclass
class SelectionSettings:
    """Settings of :func:`run_nested`.

    Attributes
    ----------
    budget
        A key of :data:`BUDGETS`.
    outer_folds, inner_folds
        Numbers of cross-fitting folds.
    sigmas
        Output smoothings (fine pixels) tried for every candidate (no retraining needed).
    candidates
        The search space.
    base
        Experiment settings shared by every candidate (network size, forward model, ...).

    """

    budget: str = "default"
    outer_folds: int = 2
    inner_folds: int = 2
    sigmas: tuple[float, ...] = (0.0, 0.5, 0.75, 1.0, 1.25, 1.5)
    candidates: list[Candidate] = field(default_factory=default_candidates)
    base: ExperimentSettings = field(default_factory=ExperimentSettings)
    steps: tuple[int, ...] | None = None

    def step_grid(self, cand: Candidate | None = None) -> tuple[int, ...]:
        """Return the training lengths searched for ``cand``.

        Its own ``steps`` setting, else the settings' ``steps``, else the budget's.
        """
        if self.budget not in BUDGETS:
            raise InputError(f"unknown budget {self.budget!r}; use one of {sorted(BUDGETS)}")
        if cand is not None and "steps" in cand.settings:
            grid: Sequence[int] = [int(cand.settings["steps"])]
        else:
            grid = self.steps or BUDGETS[self.budget]["steps"]
        grid = tuple(sorted({int(n) for n in grid}))
        if not grid or grid[0] < 1:
            raise InputError(f"training lengths must be positive integers, got {grid}")
        return grid

    def experiment_settings(self, cand: Candidate, steps: int | None = None) -> ExperimentSettings:
        """Return the experiment settings of a candidate trained for ``steps`` steps.

        ``steps`` defaults to the longest of its :meth:`step_grid`.
        """
        st = dataclasses.replace(self.base, **{k: v for k, v in cand.settings.items() if k != "steps"})
        return dataclasses.replace(st, steps=int(steps or self.step_grid(cand)[-1]))


# ----------------------------------------------------------------------------------------------
def ensemble_predict(checkpoints: Sequence[str | Path], pairs: Sequence[Any], *,
                     tile: int = 64) -> dict[int, xr.DataArray]:
    """Mean prediction of an ensemble of networks for each pair, on the pair's NDVI grid."""
    cache: dict[str, Any] = {}
    return {int(p.id): ensemble_mean(member_fields(checkpoints, p, cache, tile=tile))
            for p in pairs}


def _rmse(pred: xr.DataArray, pair: Any, offset: tuple[float, float]) -> float:
    return float(score_pair(pred, pair, offset=offset, scale_metrics=False)["rmse"])


def _train_ensemble(cand: Candidate, st: ExperimentSettings, train_ids: Sequence[int],
                    law: Path | None, out: Path, seeds: Sequence[int],
                    root: str | Path | None) -> tuple[list[Path], float]:
    ckpts, total = [], 0.0
    for seed in seeds:
        cfg = _sr_config(cand.mode, out / f"seed{seed}", st, law=law, train_ids=train_ids,
                         root=root, lst2020_root=None, seed=int(seed))
        ckpt, dt = _train_one(cfg, retrain=False)
        ckpts.append(ckpt)
        total += dt
    return ckpts, total


def train_snapshots(cand: Candidate, st: ExperimentSettings, train_ids: Sequence[int],
                    law: Path | None, out: Path, steps: Sequence[int], seed: int,
                    root: str | Path | None) -> tuple[dict[int, Path], float]:
    """Train one network to the longest of ``steps`` and keep a snapshot at each length.

    The learning rate follows a cosine over ``max_epochs`` (10,000 epochs: within 3e-4 of constant over
    these lengths) and depends on the epoch only, and a resumed run continues exactly where its
    checkpoint stands (:func:`sr.train.train`), so the snapshot at ``n`` steps *is* the network
    trained for ``n`` steps: one run serves every length of the search. Snapshots are
    ``out/snapshots/step<n>.ckpt`` with the configuration they were trained under; finished ones
    are reused, a missing one continues from the longest snapshot before it.

    Returns
    -------
    dict, float
        Snapshot path by length, and the total training time (s).

    """
    import shutil

    from scalelaws.io.atomic import atomic_write_text

    snaps: dict[int, Path] = {}
    total, prev = 0.0, None
    sdir = out / "snapshots"
    sdir.mkdir(parents=True, exist_ok=True)
    for n in sorted({int(v) for v in steps}):
        cfg = _sr_config(cand.mode, out, dataclasses.replace(st, steps=n), law=law,
                         train_ids=train_ids, root=root, lst2020_root=None, seed=int(seed))
        snap, rec = sdir / f"step{n}.ckpt", sdir / f"step{n}.json"
        done = json.loads(rec.read_text()) if snap.is_file() and rec.is_file() else {}
        if done.get("config") == cfg:
            dt = float(done["train_s"])
        else:
            if prev is not None:  # continue from the previous length
                (out / "checkpoints").mkdir(parents=True, exist_ok=True)
                shutil.copyfile(snaps[prev], out / "checkpoints" / "last.ckpt")
            cfg_run = {**cfg, "trainer": {**cfg["trainer"], "resume": "last" if prev else False}}
            ckpt, dt = _train_one(cfg_run, retrain=True)
            shutil.copyfile(ckpt, snap)
            atomic_write_text(rec, json.dumps({"config": cfg, "train_s": dt}, indent=1))
        snaps[n], total, prev = snap, total + dt, n
    return snaps, total


def _needs_law(cand: Candidate) -> bool:
    from sr import mode_spec

    return mode_spec(cand.mode).corrected


def select(train_ids: Sequence[int], out: str | Path, sel: SelectionSettings, *,
           root: str | Path | None = None, seed: int = 0,
           log: Callable[[str], None] = logger.info) -> dict[str, Any]:
    """Choose a candidate and an output smoothing by inner cross-validation on ``train_ids``.

    Everything here uses the pairs of ``train_ids`` only: the offset that registers their
    ASTER (for the laws and the inner scores), the inner laws, the inner networks.

    Returns
    -------
    dict
        ``choice`` (candidate name and sigma), ``table`` (mean inner RMSE per candidate and
        sigma), ``per_pair`` RMSEs, ``offset`` and ``time_s``.

    """
    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ids = sorted(int(i) for i in train_ids)
    pairs = {p.id: p for p in open_pairs(ids, root)}
    offset = estimate_offset(offset_correlation(list(pairs.values())))
    inner = make_folds(ids, sel.inner_folds)
    rmse: dict[str, dict[str, dict[int, float]]] = {}
    for j, fold in enumerate(inner):
        tr = [i for i in ids if i not in fold]
        law = None
        if any(_needs_law(c) for c in sel.candidates):
            law = out / f"law_inner{j}.nc"
            if not law.is_file():
                fit_aster_law(tr, law, root=root, n_boot=sel.base.law_n_boot, seed=seed)
        for cand in sel.candidates:
            st = sel.experiment_settings(cand)
            snaps, dt = train_snapshots(cand, st, tr, law if _needs_law(cand) else None,
                                        out / "runs" / cand.name / f"inner{j}" / f"seed{seed}",
                                        sel.step_grid(cand), seed, root)
            for n, ckpt in snaps.items():
                label = candidate_label(cand.name, n)
                preds = ensemble_predict([ckpt], [pairs[i] for i in fold], tile=st.predict_tile)
                for sigma in sel.sigmas:
                    d = rmse.setdefault(label, {}).setdefault(f"{sigma:g}", {})
                    for pid, pr in preds.items():
                        d[pid] = _rmse(smooth_prediction(pr, sigma), pairs[pid], offset)
                log(f"inner fold {j}: {label} (trained in {dt:.0f} s in all); RMSE by sigma "
                    + ", ".join(f"{s}: {np.mean(list(v.values())):.3f}"
                                for s, v in rmse[label].items()))
    table = {c: {s: float(np.mean(list(v.values()))) for s, v in d.items()} for c, d in rmse.items()}
    res = {
        "train_ids": ids, "inner_folds": inner, "offset": [float(v) for v in offset],
        "table": table, "per_pair": {c: {s: {str(k): v for k, v in d.items()} for s, d in dd.items()}
                                     for c, dd in rmse.items()},
        "choice": _best(table),
        "time_s": round(time.perf_counter() - t0, 1),
    }
    (out / "selection.json").write_text(json.dumps(res, indent=1))
    c = res["choice"]
    log(f"selected {c['candidate']} with {c['steps']} steps and sigma {c['sigma']} "
        f"(inner RMSE {c['rmse']:.3f} K)")
    return res


def _best(table: Mapping[str, Mapping[str, float]]) -> dict[str, Any]:
    """Return the (candidate, steps, sigma) of lowest mean inner RMSE.

    Exact ties go to the shorter training, then to the smaller smoothing.
    """
    rows = [(v, split_label(c)[1] or 0, float(s), c) for c in table for s, v in table[c].items()]
    rmse, steps, sigma, label = min(rows)
    name, n = split_label(label)
    return {"candidate": name, "steps": n, "sigma": sigma, "rmse": float(rmse)}


def _candidate(sel: SelectionSettings, name: str) -> Candidate:
    for c in sel.candidates:
        if c.name == name:
            return c
    raise InputError(f"unknown candidate {name!r}")


def fit_chosen(choice: Mapping[str, Any], train_ids: Sequence[int], out: str | Path,
               sel: SelectionSettings, *, n_seeds: int, root: str | Path | None = None,
               seed: int = 0) -> dict[str, Any]:
    """Retrain the chosen candidate on all of ``train_ids`` with ``n_seeds`` seeds."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cand = _candidate(sel, choice["candidate"])
    st = sel.experiment_settings(cand, choice.get("steps"))
    law = None
    if _needs_law(cand):
        law = out / "law.nc"
        if not law.is_file():
            fit_aster_law(list(train_ids), law, root=root, n_boot=sel.base.law_n_boot, seed=seed)
    seeds = [seed + 100 * k for k in range(n_seeds)]
    ckpts, dt = _train_ensemble(cand, st, list(train_ids), law, out / "runs", seeds, root)
    return {"candidate": cand.name, "mode": cand.mode, "steps": int(st.steps),
            "sigma": float(choice["sigma"]), "checkpoints": [str(c) for c in ckpts],
            "law": str(law) if law else None, "train_s": round(dt, 1),
            "settings": dataclasses.asdict(st)}


def pooled_choice(selections: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Choose from the inner tables of several selections pooled over their pairs.

    The outer selections' inner validation pairs together cover every pair once per outer
    fold: their pooled per-pair RMSEs are a cross-validated estimate over all the pairs, the
    criterion of the final choice when it is not searched again (``final="pooled"``).
    """
    pooled: dict[str, dict[str, list[float]]] = {}
    for s in selections:
        for cand, by_sigma in s["per_pair"].items():
            for sigma, d in by_sigma.items():
                pooled.setdefault(cand, {}).setdefault(sigma, []).extend(d.values())
    table = {c: {s: float(np.mean(v)) for s, v in d.items()} for c, d in pooled.items()}
    return {"table": table, "n": {c: {s: len(v) for s, v in d.items()} for c, d in pooled.items()},
            "choice": _best(table)}


def run_nested(out_dir: str | Path, pairs: Sequence[int] | None = None, *,
               sel: SelectionSettings | None = None, root: str | Path | None = None,
               seed: int = 0, final: bool | str = True,
               log: Callable[[str], None] = logger.info) -> dict[str, Any]:
    """Nested selection, the final models on all pairs, and outer cross-fitted scores.

    Order: the inner selection of every outer fold; the final choice (``final=True``: a new
    inner selection on all pairs; ``final="pooled"``: :func:`pooled_choice` of the outer
    selections' inner tables, which already cover every pair); the final ensemble on all pairs
    (``final/``); the outer ensembles; ``selection.json`` (every inner table and choice, frozen
    before the outer scores); then ``outer_scores.json`` (per-pair ASTER RMSE/SSIM of each
    outer fold's chosen ensemble on its held-out pairs, reference protocol).
    """
    from scalelaws.io import list_modis_aster_pairs

    t0 = time.perf_counter()
    sel = sel or SelectionSettings()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ids = sorted(int(p) for p in (pairs if pairs is not None
                                  else list_modis_aster_pairs(root, split="dev")))
    folds = make_folds(ids, sel.outer_folds)
    budget = BUDGETS[sel.budget]
    report: dict[str, Any] = {"pairs": ids, "outer_folds": folds, "budget": sel.budget,
                              "sigmas": list(sel.sigmas),
                              "candidates": [dataclasses.asdict(c) for c in sel.candidates],
                              "outer": [], "final": None}
    selections = []
    for k, fold in enumerate(folds):
        tr = [i for i in ids if i not in fold]
        selections.append(select(tr, out / f"outer{k}" / "select", sel, root=root, seed=seed,
                                 log=log))
    if final:
        s = (pooled_choice(selections) if final == "pooled"
             else select(ids, out / "final" / "select", sel, root=root, seed=seed, log=log))
        log(f"final choice: {s['choice']}")
        fitted = fit_chosen(s["choice"], ids, out / "final" / "chosen", sel,
                            n_seeds=budget["final_seeds"], root=root, seed=seed)
        report["final"] = {"selection": s, "fitted": fitted, "how": str(final)}
        (out / "final" / "final.json").write_text(json.dumps(report["final"], indent=1))
    for k, fold in enumerate(folds):
        tr = [i for i in ids if i not in fold]
        s = selections[k]
        fitted = fit_chosen(s["choice"], tr, out / f"outer{k}" / "chosen", sel,
                            n_seeds=budget["outer_seeds"], root=root, seed=seed)
        report["outer"].append({"fold": k, "scored_ids": fold, "selection": s, "fitted": fitted})
    report["selection_time_s"] = round(time.perf_counter() - t0, 1)
    # the choices are frozen here, before any outer score is computed
    (out / "selection.json").write_text(json.dumps(report, indent=1))
    report["outer_scores"] = score_outer(report, root=root)
    (out / "outer_scores.json").write_text(json.dumps(report["outer_scores"], indent=1))
    report["wall_time_s"] = round(time.perf_counter() - t0, 1)
    return report


def choices_record(report: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Return the frozen choices of a nested search (``selection.json`` of :func:`run_nested`).

    Per outer fold: the pairs it scores and the chosen candidate, training length and output
    smoothing; the final (all-pairs) choice; the candidates' definitions. This is what
    :func:`run_budget` retrains; ``source`` says which search made it.
    """
    outer = []
    for o in report["outer"]:
        c = o["selection"]["choice"]
        outer.append({"fold": int(o["fold"]), "scored_ids": [int(i) for i in o["scored_ids"]],
                      "candidate": c["candidate"], "steps": c["steps"], "sigma": float(c["sigma"]),
                      "inner_rmse": round(float(c["rmse"]), 4)})
    fin = (report.get("final") or {}).get("selection", {}).get("choice")
    return {"source": source, "pairs": [int(i) for i in report["pairs"]],
            "budget": report.get("budget"), "candidates": list(report["candidates"]),
            "outer": outer, "final": dict(fin) if fin else None}


def load_choices(path: str | Path | None = None) -> dict[str, Any]:
    """Read the choices of a nested search: a :func:`choices_record` file or a search's ``selection.json``.

    ``None`` reads :data:`RELEASE_CHOICES`. Bad files give an :class:`InputError` naming them.
    """
    p = Path(path) if path is not None else RELEASE_CHOICES
    if not p.is_file():
        raise InputError("choices file not found (give a search's selection.json)", p)
    try:
        rec = json.loads(p.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"not a JSON choices file ({exc})", p) from None
    try:
        if rec.get("outer") and "selection" in rec["outer"][0]:
            rec = choices_record(rec, source=f"search {p.parent}")
        for o in rec["outer"]:
            int(o["steps"]), float(o["sigma"]), str(o["candidate"]), list(o["scored_ids"])
        [Candidate(**c) for c in rec["candidates"]]
        rec["pairs"] = [int(i) for i in rec["pairs"]]
    except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
        raise InputError(f"not a choices file: missing or bad entry ({exc!r})", p) from None
    return rec


def run_budget(out_dir: str | Path, budget: str = "full", *,
               choices: str | Path | Mapping[str, Any] | None = None,
               base: ExperimentSettings | None = None, steps: int | None = None,
               sr_methods: Sequence[str] = ("sisr_invariant", "sisr_corrected", "disr",
                                            "disr_corrected", "disr_invariant",
                                            "disr_invariant_corrected"),
               methods: Sequence[str] = ("bicubic", "tsharp", "dms", "tsharp_smooth", "atprk"),
               root: str | Path | None = None, lst2020_root: str | Path | None = None,
               offset: str | tuple[float, float] = "estimate", n_boot: int = 2000,
               seed: int = 0, save_predictions: bool = False,
               command: str | None = None) -> xr.Dataset:
    """Run the benchmark at a named budget: retrain a nested search's frozen choices and score them.

    No search is run: the settings each outer fold chose (``choices``: a :func:`choices_record`
    or a search's ``selection.json``; default :data:`RELEASE_CHOICES`) are retrained on that
    fold's training pairs as ensembles of ``BUDGETS[budget]["outer_seeds"]`` seeds and score
    the fold's held-out pairs (``nested_best``), beside the baselines and each law-corrected
    mode with its scale-invariant counterpart (``sr_methods``, ``twin_seeds`` seeds each, all
    trained for ``steps`` steps, default the final choice's length) - the benchmark's steps
    (:func:`analysis.experiment.run_experiment`) with these extra methods.

    The choices' outer folds must be the benchmark's (:func:`make_folds` of the choices'
    pairs). ``quick`` replaces every length by the quick budget's longest (3 steps; smoke test).
    """
    t0 = time.perf_counter()
    if budget not in BUDGETS:
        raise InputError(f"unknown budget {budget!r}; use one of {sorted(BUDGETS)}")
    rec = dict(choices) if isinstance(choices, Mapping) else load_choices(choices)
    b = BUDGETS[budget]
    base = base or (ExperimentSettings.quick() if budget == "quick" else ExperimentSettings())
    ids = sorted(rec["pairs"])
    folds = make_folds(ids, len(rec["outer"]))
    chosen = sorted(rec["outer"], key=lambda o: o["fold"])
    given = [sorted(o["scored_ids"]) for o in chosen]
    if given != [sorted(f) for f in folds]:
        raise InputError(f"the choices' outer folds {given} are not the benchmark's folds "
                         f"{folds} of the same pairs")
    base = dataclasses.replace(base, folds=len(folds))
    sel = SelectionSettings(budget=budget, base=base,
                            candidates=[Candidate(**c) for c in rec["candidates"]])
    out = Path(out_dir)
    quick_len = max(BUDGETS["quick"]["steps"]) if budget == "quick" else None
    outer, record = [], []
    for o in chosen:
        k = int(o["fold"])
        tr = [i for i in ids if i not in folds[k]]
        choice = {**o, "steps": quick_len or int(o["steps"])}
        fitted = fit_chosen(choice, tr, out / "chosen" / f"fold{k}", sel,
                            n_seeds=b["outer_seeds"], root=root, seed=seed)
        outer.append({"fold": k, "scored_ids": folds[k], "fitted": fitted})
        record.append({"fold": k, "candidate": fitted["candidate"], "steps": fitted["steps"],
                       "sigma": fitted["sigma"], "members": len(fitted["checkpoints"]),
                       "train_s": fitted["train_s"]})
    fin = rec.get("final") or {}
    n = quick_len or steps or fin.get("steps") or max(int(o["steps"]) for o in rec["outer"])
    st = dataclasses.replace(base, steps=int(n))
    from analysis.experiment import run_experiment

    return run_experiment(
        out, ids, settings=st, methods=methods, sr_methods=list(sr_methods), root=root,
        lst2020_root=lst2020_root, offset=offset, n_boot=n_boot, seed=seed,
        save_predictions=save_predictions, command=command, n_seeds=b["twin_seeds"],
        predictors={"nested_best": nested_predictor({"outer": outer}, tile=st.predict_tile)},
        choices={"source": rec.get("source"), "budget": budget, "outer": record}, started=t0)


def score_outer(report: Mapping[str, Any], *, root: str | Path | None = None) -> dict[str, Any]:
    """Score each outer fold's chosen ensemble on its held-out pairs (reference protocol).

    The scoring offset is the protocol's (estimated on all pairs, common to every method), as in
    :func:`analysis.evaluate.evaluate`; the models never saw it.
    """
    allpairs = open_pairs(report["pairs"], root)
    offset = estimate_offset(offset_correlation(allpairs))
    predict = nested_predictor(report)
    fold_of = {int(pid): o for o in report["outer"] for pid in o["scored_ids"]}
    per_pair: dict[str, dict[str, Any]] = {}
    for pair in allpairs:
        o = fold_of[int(pair.id)]
        sc = score_pair(predict(pair), pair, offset=offset, scale_metrics=False)
        per_pair[str(pair.id)] = {"rmse": sc["rmse"], "ssim": sc["ssim"], "bias": sc["bias"],
                                  "fold": o["fold"], "candidate": o["fitted"]["candidate"]}
    rm = np.array([v["rmse"] for v in per_pair.values()])
    ss = np.array([v["ssim"] for v in per_pair.values()])
    return {"per_pair": per_pair, "rmse_mean": float(rm.mean()), "ssim_mean": float(ss.mean()),
            "offset": [float(v) for v in offset]}


# ----------------------------------------------------------------------------------------------
# shipping the final models as package data
# ----------------------------------------------------------------------------------------------
def model_card(name: str, fitted: Mapping[str, Any], *, description: str, training_data: str,
               metrics: Mapping[str, Any] | None = None, selection: Mapping[str, Any] | None = None,
               limits: Sequence[str] = ()) -> dict[str, Any]:
    """Assemble the card of a shipped model (stored in the model file and as Markdown)."""
    return {
        "name": name, "mode": fitted["mode"], "description": description,
        "training_data": training_data,
        "settings": {"candidate": fitted.get("candidate"), "output_sigma_px": fitted.get("sigma", 0.0),
                     "members": len(fitted["checkpoints"]),
                     **{k: fitted["settings"][k] for k in ("steps", "batch_size", "lr", "unet",
                                                             "forward", "w_law", "w_texture",
                                                             "w_consistency")
                        if k in fitted.get("settings", {})}},
        "metrics": dict(metrics or {}), "selection": dict(selection or {}), "limits": list(limits),
    }


def card_markdown(card: Mapping[str, Any]) -> str:
    """Render a model card as Markdown."""
    lines = [f"# {card['name']}", "", card["description"], "",
             f"* **Mode:** `{card['mode']}`", f"* **Training data:** {card['training_data']}",
             "* **Settings:** " + ", ".join(f"{k} = {v}" for k, v in card["settings"].items())]
    if card.get("metrics"):
        lines += ["", "## Metrics", ""]
        lines += [f"* {k}: {v}" for k, v in card["metrics"].items()]
    if card.get("selection"):
        lines += ["", "## How it was chosen", ""]
        lines += [f"* {k}: {v}" for k, v in card["selection"].items()]
    if card.get("limits"):
        lines += ["", "## Known limits", ""] + [f"* {x}" for x in card["limits"]]
    return "\n".join(lines) + "\n"


def ship_model(checkpoints: Sequence[str | Path], name: str, card: Mapping[str, Any],
               weights_dir: str | Path, *, sigma: float = 0.0, std_scale: float = 1.0,
               std_floor: float = 0.0, std_grad_scale: float = 0.0,
               default: str | None = None) -> Path:
    """Export an ensemble as ``weights_dir/NAME.pt`` with its card and register it in the index.

    ``default``: ``"default"`` (the recommended, guided model) or ``"default_single_image"``
    makes this model the default of that kind. ``sigma`` (output smoothing), ``std_scale``,
    ``std_floor`` and ``std_grad_scale`` (calibration of the ensemble spread, :func:`spread_calibration`) go to the
    model's ``postprocess``.
    """
    from scalelaws.io.atomic import atomic_write_text
    from sr.modelfile import export_model
    from sr.zoo import _index

    d = Path(weights_dir)
    d.mkdir(parents=True, exist_ok=True)
    path = export_model(list(checkpoints), d / f"{name}.pt", card=dict(card),
                        postprocess={"gaussian_sigma_px": float(sigma), "std_scale": float(std_scale),
                                     "std_floor": float(std_floor),
                                     "std_grad_scale": float(std_grad_scale)})
    atomic_write_text(d / f"{name}.md", card_markdown(card))
    idx = _index(d)
    idx["models"][name] = {"file": f"{name}.pt", "card": f"{name}.md", "mode": card["mode"],
                           "description": card["description"]}
    if default:
        idx[default] = name
    atomic_write_text(d / "models.json", json.dumps(idx, indent=1) + "\n")
    logger.info("shipped %s (%d members) -> %s", name, len(checkpoints), path)
    return path


def nested_predictor(report: Mapping[str, Any], *, tile: int = 64):
    """Predictor ``pair -> DataArray`` of the outer folds' chosen ensembles (cross-fitted).

    Each pair is predicted by the ensemble of the outer fold that held it out, with that
    ensemble's output smoothing (:func:`analysis.pipeline.predictors.crossfit_predictor`): the
    predictor of the honest outer score, usable in :func:`analysis.evaluate.evaluate` beside
    the baselines.
    """
    by_pair = {int(pid): o["fitted"] for o in report["outer"] for pid in o["scored_ids"]}
    predict = crossfit_predictor({p: f["checkpoints"] for p, f in by_pair.items()},
                                 sigma={p: float(f["sigma"]) for p, f in by_pair.items()},
                                 tile=tile)
    predict.__name__ = "nested"
    return predict


#: Two-sided coverage of one standard deviation of a Gaussian (the 1-sigma target).
_ONE_SIGMA = 0.6827


def fit_spread_model(err: np.ndarray, spread: np.ndarray,
                     grad: np.ndarray | None = None) -> tuple[float, float, float]:
    """Fit ``sigma = sqrt(floor**2 + (scale * spread)**2 + (grad_scale * grad)**2)`` to errors.

    ``spread`` is the ensemble's per-pixel standard deviation, ``grad`` the magnitude of the
    estimate's local gradient (:func:`sr.predict.local_gradient`), ``err`` the error of the
    ensemble mean at the same pixels. The ensemble spread sees only the disagreement of its
    members; an error that every member shares (MODIS against ASTER at 1 km, the
    co-registration, the part of the detail no input explains) needs a ``floor``, and a
    misplaced edge costs most where the field changes fast (``grad``). The shape of the three
    terms is the Gaussian maximum-likelihood one; all are then multiplied by one factor so that
    ``|err| <= sigma`` holds for 68.27 % of the pixels (the errors are heavier-tailed than a
    Gaussian, and the 1-sigma coverage is the calibration target).

    Parameters
    ----------
    err, spread, grad
        Same-shape arrays (any shape); pixels where any is non-finite, or ``spread < 0``, are
        ignored. Without ``grad`` the gradient term is 0.

    Returns
    -------
    float, float, float
        ``floor`` (K), ``scale`` (dimensionless) and ``grad_scale`` (pixels), all >= 0.

    """
    from scipy.optimize import minimize

    from sr.predict import spread_model

    e = np.asarray(err, dtype=np.float64).ravel()
    sp = np.asarray(spread, dtype=np.float64).ravel()
    gr = (np.zeros_like(sp) if grad is None else np.asarray(grad, dtype=np.float64).ravel())
    ok = np.isfinite(e) & np.isfinite(sp) & np.isfinite(gr) & (sp >= 0)
    e, sp, gr = e[ok], sp[ok], gr[ok]
    if e.size < 10:
        raise InputError(f"too few pixels to calibrate the spread ({e.size})")
    e2, s2, g2 = e * e, sp * sp, gr * gr
    m2 = float(np.mean(e2))
    use_g = grad is not None and float(np.mean(g2)) > 0

    def nll(p: np.ndarray) -> float:
        v = np.exp(2 * p[0]) + np.exp(2 * p[1]) * s2 + (np.exp(2 * p[2]) * g2 if use_g else 0.0)
        return float(np.mean(np.log(v) + e2 / v))

    start = np.log([np.sqrt(m2) / 2, np.sqrt(m2 / max(float(np.mean(s2)), 1e-12)) / 2,
                    np.sqrt(m2 / max(float(np.mean(g2)), 1e-12)) / 2])
    res = minimize(nll, start, method="Nelder-Mead",
                   options={"xatol": 1e-4, "fatol": 1e-8, "maxiter": 4000})
    floor, scale, gscale = (float(v) for v in np.exp(res.x))
    gscale = gscale if use_g else 0.0
    k = float(np.quantile(np.abs(e) / spread_model(sp, floor, scale, gr, gscale), _ONE_SIGMA))
    return floor * k, scale * k, gscale * k


def spread_calibration(report: Mapping[str, Any], *, root: str | Path | None = None) -> dict[str, Any]:
    """Calibrate and score the ensemble spread against ASTER, cross-fitted.

    For each outer fold ``k`` the ensemble's per-pixel spread ``s`` (members' standard
    deviation, smoothed like the mean) is compared with the error ``e`` of the (smoothed) mean
    against registered ASTER on the fold's held-out pairs. Two calibrations are fitted and
    scored:

    * ``factor``: ``sigma = c s``, with ``c`` such that ``|e| <= c s`` for 68.27 % of the pixels;
    * ``floor`` / ``scale`` / ``grad_scale``: ``sigma = sqrt(floor**2 + (scale s)**2 +
      (grad_scale g)**2)`` with ``g`` the local gradient of the estimate
      (:func:`fit_spread_model`), the shipped one.

    Fold ``k`` is scored with the calibration fitted on the **other** fold's held-out pairs
    (which were model ``k``'s training pairs), so the reported coverages are out of sample. The
    shipped calibration is the one fitted on all held-out predictions.

    Returns
    -------
    dict
        ``factor_all``, ``floor_all``, ``scale_all``, ``grad_scale_all``; per fold (``folds``) the fitted values and
        ``coverage_1sigma`` / ``coverage_2sigma`` of both calibrations (``*_factor`` for the
        spread-only one) with the other fold's fit; their means; and the mean per-pair
        spread-error correlation.

    """
    from analysis.evaluate import reproject_to_aster
    from sr.predict import local_gradient, spread_model

    allpairs = open_pairs(report["pairs"], root)
    offset = estimate_offset(offset_correlation(allpairs))
    byid = {p.id: p for p in allpairs}
    cache: dict = {}
    errs: dict[int, np.ndarray] = {}
    sprs: dict[int, np.ndarray] = {}
    grads: dict[int, np.ndarray] = {}
    corr: list[float] = []
    corr_g: list[float] = []
    for o in report["outer"]:
        f = o["fitted"]
        es, ss, gs = [], [], []
        for pid in o["scored_ids"]:
            pair = byid[pid]
            fields = member_fields(f["checkpoints"], pair, cache, tile=64)
            stack = np.stack([np.asarray(a.values, dtype=np.float64) for a in fields])
            mean = smooth_prediction(fields[0].copy(data=stack.mean(0).astype(np.float32)), f["sigma"])
            std = smooth_prediction(fields[0].copy(data=stack.std(0).astype(np.float32)), f["sigma"])
            m = np.asarray(reproject_to_aster(mean, pair, offset=offset).values, dtype=np.float64)
            s = np.asarray(reproject_to_aster(std, pair, offset=offset).values, dtype=np.float64)
            grad = mean.copy(data=local_gradient(mean.values).astype(np.float32))
            g = np.asarray(reproject_to_aster(grad, pair, offset=offset).values, dtype=np.float64)
            a = np.asarray(pair.aster_250m.values, dtype=np.float64)
            ok = np.isfinite(m) & np.isfinite(s) & np.isfinite(a) & np.isfinite(g) & (s > 0)
            es.append(np.abs(m[ok] - a[ok]))
            ss.append(s[ok])
            gs.append(g[ok])
            if ok.sum() > 10:
                corr.append(float(np.corrcoef(s[ok], es[-1])[0, 1]))
                corr_g.append(float(np.corrcoef(g[ok], es[-1])[0, 1]))
        errs[o["fold"]], sprs[o["fold"]] = np.concatenate(es), np.concatenate(ss)
        grads[o["fold"]] = np.concatenate(gs)
    factor = {k: float(np.quantile(errs[k] / sprs[k], _ONE_SIGMA)) for k in errs}
    model = {k: fit_spread_model(errs[k], sprs[k], grads[k]) for k in errs}
    folds: dict[str, Any] = {}
    for k in errs:
        others = [j for j in errs if j != k] or [k]
        c = float(np.mean([factor[j] for j in others]))
        fl, sc, gsc = (float(np.mean([model[j][i] for j in others])) for i in range(3))
        z_f = errs[k] / (c * sprs[k])
        z_m = errs[k] / spread_model(sprs[k], fl, sc, grads[k], gsc)
        folds[str(k)] = {"factor": factor[k], "factor_used": c,
                         "floor": model[k][0], "scale": model[k][1], "grad_scale": model[k][2],
                         "floor_used": fl, "scale_used": sc, "grad_scale_used": gsc,
                         "coverage_1sigma": float(np.mean(z_m <= 1)),
                         "coverage_2sigma": float(np.mean(z_m <= 2)),
                         "coverage_1sigma_factor": float(np.mean(z_f <= 1)),
                         "coverage_2sigma_factor": float(np.mean(z_f <= 2))}
    e_all = np.concatenate(list(errs.values()))
    s_all = np.concatenate(list(sprs.values()))
    floor_all, scale_all, gscale_all = fit_spread_model(e_all, s_all,
                                                        np.concatenate(list(grads.values())))
    out: dict[str, Any] = {"factor_all": float(np.quantile(e_all / s_all, _ONE_SIGMA)),
                           "floor_all": floor_all, "scale_all": scale_all,
                           "grad_scale_all": gscale_all, "folds": folds}
    for key in ("coverage_1sigma", "coverage_2sigma", "coverage_1sigma_factor",
                "coverage_2sigma_factor"):
        out[key] = float(np.mean([v[key] for v in folds.values()]))
    out["spread_error_corr_mean"] = float(np.mean(corr)) if corr else float("nan")
    out["gradient_error_corr_mean"] = float(np.mean(corr_g)) if corr_g else float("nan")
    return out


_OFFSETS: dict[tuple[str, tuple[int, ...]], tuple[float, float]] = {}


def crossfit_smoothing(predict: Callable[[Any], xr.DataArray], pairs: Sequence[int], *,
                       sigmas: Sequence[float] = (0.0, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0),
                       folds: int = 2, root: str | Path | None = None) -> dict[str, Any]:
    """Choose the output smoothing of a method that is not trained on the pairs, cross-fitted.

    For a method whose predictions do not depend on the pairs (a network trained on other data,
    a baseline), the only choice left is the output smoothing ``sigma``
    (:func:`smooth_prediction`). Fold ``k``'s pairs are scored with the ``sigma`` that minimises
    the mean ASTER RMSE of the **other** folds' pairs (their offset estimated on them alone); the
    ``sigma`` chosen on all pairs is the one to ship.

    Parameters
    ----------
    predict
        ``pair -> DataArray`` on the pair's NDVI grid (e.g. :func:`analysis.experiment.model_predictor`).
    pairs
        Pair ids; the folds are :func:`analysis.experiment.make_folds`.
    sigmas
        Candidate smoothing in fine pixels.
    folds, root
        Number of folds; the pairs folder.

    Returns
    -------
    dict
        ``folds`` (scored ids, chosen sigma, the choosing table), ``rmse`` per pair at the chosen
        sigma of its fold (``per_pair``), ``sigma_all`` and its table over all pairs.

    """
    ids = sorted(int(i) for i in pairs)
    allp = {p.id: p for p in open_pairs(ids, root)}
    preds = {i: predict(allp[i]) for i in ids}
    smooth = {(i, s): smooth_prediction(preds[i], s) for i in ids for s in sigmas}

    def table(sel_ids: Sequence[int]) -> dict[str, float]:
        key = (str(root), tuple(sel_ids))
        if key not in _OFFSETS:  # the registration depends on the pairs only, not on the method
            _OFFSETS[key] = estimate_offset(offset_correlation([allp[i] for i in sel_ids]))
        off = _OFFSETS[key]
        return {f"{s:g}": float(np.mean([_rmse(smooth[(i, s)], allp[i], off) for i in sel_ids]))
                for s in sigmas}

    out: dict[str, Any] = {"sigmas": list(sigmas), "folds": [], "per_pair": {}}
    fold_ids = make_folds(ids, folds)
    for k, scored in enumerate(fold_ids):
        others = [i for i in ids if i not in scored]
        t = table(others)
        best = min(t, key=t.get)
        out["folds"].append({"fold": k, "scored_ids": scored, "table": t, "sigma": float(best)})
        for i in scored:
            out["per_pair"][str(i)] = float(best)
    t_all = table(ids)
    out["table_all"] = t_all
    out["sigma_all"] = float(min(t_all, key=t_all.get))
    return out
