"""Figure 8: metrics of every method against the reference (means over scenes, 95 % intervals)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from paper_figures import _style

STEM = "fig08_metrics"
REQUIRES = ("metrics.nc",)

PANELS = (("rmse", "RMSE (K)", "low"), ("ssim", "SSIM (1)", "high"),
          ("consistency_rmse", "1 km consistency RMSE (K)", "low"), ("r", "correlation r (1)",
                                                                     "high"))


def main(out: Path, smoke: bool = False, results: Path | None = None) -> Path:
    _style.apply()
    ds = _style.open_result(results, "metrics.nc")
    methods = _style.names(ds, "method")
    y = np.arange(len(methods))[::-1]
    fig, axes = plt.subplots(1, len(PANELS), figsize=(12, 0.42 * len(methods) + 1.6),
                             sharey=True)
    for ax, (var, xlabel, better) in zip(axes, PANELS, strict=True):
        v = ds[f"{var}_mean"].values
        ci = ds[f"{var}_ci"].values
        cols = [_style.color(m, i) for i, m in enumerate(methods)]
        ax.barh(y, v, color=cols, xerr=_style.errorbar_from_ci(v, ci), capsize=2,
                error_kw={"lw": 0.8})
        best = int(np.nanargmin(v) if better == "low" else np.nanargmax(v))
        ax.barh(y[best], v[best], fill=False, edgecolor="k", lw=1.6)
        ax.set_xlabel(xlabel)
        lo = np.nanmin(ci[:, 0]) if np.isfinite(ci).any() else np.nanmin(v)
        hi = np.nanmax(ci[:, 1]) if np.isfinite(ci).any() else np.nanmax(v)
        if var in ("ssim", "r"):
            pad = 0.1 * (hi - lo + 1e-3)
            ax.set_xlim(max(lo - pad, -1), min(hi + pad, 1.0))
        ax.set_title(f"{'lower' if better == 'low' else 'higher'} is better; best framed")
        ax.grid(axis="y", visible=False)
    axes[0].set_yticks(y, [_style.label(m) for m in methods])
    n = ds.sizes.get("pair", 0)
    fig.suptitle(f"scored against {ds.attrs.get('reference', 'the reference')} over {n} scenes "
                 f"(mean, 95 % bootstrap interval over scenes)", fontsize=9)
    return _style.save(fig, out, STEM, smoke)
