"""Step ``report`` (benchmark): ``experiment.md`` and ``experiment.json``.

The table of the ``score`` step with paired differences against the best baseline, the run's
settings, folds, checkpoints and timings. Every number comes from the scores or the context.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import xarray as xr

from analysis.pipeline.context import Context
from scalelaws.errors import InputError
from scalelaws.io.atomic import atomic_write_text

logger = logging.getLogger(__name__)

__all__ = ["TWINS", "best_baseline", "experiment_markdown", "step_report"]

#: Each law-corrected SR method and its scale-invariant counterpart (trained with the same
#: budget, data and seeds), compared in the report.
TWINS: tuple[tuple[str, str], ...] = (
    ("sisr_corrected", "sisr_invariant"),
    ("disr_corrected", "disr"),
    ("disr_invariant_corrected", "disr_invariant"),
)

#: What the benchmark's networks and laws learn from (recorded in the results).
TRAINED_ON = ("MODIS only: modis_lst_2020 1 km crops (SISR); MODIS 1 km LST + 250 m NDVI "
              "of the other folds' pairs (DISR); laws from the other folds' ASTER LST or "
              "synthetic landscapes")


def step_report(ctx: Context, out: Path, progress: bool) -> list[Path]:
    """Write ``experiment.json`` and ``experiment.md``; add the run's attrs to ``ctx.result``."""
    ds = ctx.result
    if ds is None:
        raise InputError("the report step needs the scores (run the score step first)", out)
    opts = ctx.options
    wall = time.perf_counter() - opts["started"]
    t_train = wall - ctx.step_seconds.get("score", 0.0)
    ds.attrs.update(
        experiment_wall_time_s=round(wall, 1),
        experiment_train_time_s=round(t_train, 1),
        folds=json.dumps(ctx.folds),
        trained_on=TRAINED_ON,
    )
    info = {
        "command": opts.get("command"), "wall_time_s": round(wall, 1),
        "train_and_law_time_s": round(t_train, 1),
        "evaluation_time_s": round(wall - t_train, 1),
        "settings": dataclasses.asdict(ctx.settings),
        "folds": ctx.folds, "timings_s": {k: round(v, 1) for k, v in ctx.timings.items()},
        "checkpoints": {m: {str(p): ([str(x) for x in c] if isinstance(c, list) else str(c))
                            for p, c in d.items()}
                        for m, d in ctx.checkpoints.items()},
        "n_seeds": int(opts.get("n_seeds") or 1),
        **({"choices": opts["choices"]} if opts.get("choices") else {}),
        "torch_threads": _torch_threads(),
    }
    atomic_write_text(out / "experiment.json", json.dumps(info, indent=1))
    atomic_write_text(out / "experiment.md", experiment_markdown(ds, info, opts["methods"]))
    return [out / "experiment.json", out / "experiment.md"]


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
    twins = [(c, i) for c, i in TWINS if {c, i} <= {str(m) for m in ds["method"].values}]
    if twins:
        lines += ["", "Each law-corrected method against its scale-invariant counterpart (same "
                  "budget, data and seeds; corrected - invariant, paired over pairs):", "",
                  "| corrected | invariant | dRMSE (K) | dSSIM |", "|---|---|---|---|"]
        for c, i in twins:
            cells = []
            for m, nd in (("rmse", 2), ("ssim", 3)):
                d = paired_difference(ds, m, i).sel({"method": c})
                lo, hi = (float(v) for v in d.diff_ci.values)
                cells.append(f"{float(d.diff_mean):+.{nd}f} [{lo:+.{nd}f}, {hi:+.{nd}f}]")
            lines.append(f"| {c} | {i} | " + " | ".join(cells) + " |")
    if info.get("n_seeds", 1) > 1:
        lines += ["", f"Every network is an ensemble of {info['n_seeds']} seeds per fold (the "
                  "members' mean is the prediction)."]
    ch = info.get("choices") or {}
    if ch:
        lines += ["", f"`nested_best`: the settings chosen by nested selection ({ch.get('source')}), "
                  "retrained per outer fold and scored on that fold's held-out pairs:"]
        lines += [f"* fold {o['fold']}: `{o['candidate']}`, {o['steps']} steps, output sigma "
                  f"{o['sigma']} px, {o['members']} members, trained in {o['train_s']:.0f} s"
                  for o in ch.get("outer", [])]
    lines += ["", "Training times (s): " + ", ".join(
        f"{k} {v:.0f}" for k, v in info["timings_s"].items()) + "."]
    return "\n".join(lines) + "\n"
