"""Figure 4: the LST-NDVI relation (regression slope, correlation) across aggregation scales."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from paper_figures import _style

STEM = "fig04_lst_ndvi"
REQUIRES = ("lst_ndvi.nc",)


def main(out: Path, smoke: bool = False, results: Path | None = None) -> Path:
    _style.apply()
    ds = _style.open_result(results, "lst_ndvi.nc")
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(8.8, 3.6))
    s = ds["scale_m"].values
    for i, ls in enumerate(_style.names(ds, "landscape")):
        c = _style.color(ls, i)
        v = ds["slope_ols"].sel(landscape=ls).values
        ci = ds["slope_ols_ci"].sel(landscape=ls).values
        ax.errorbar(s * (1 + 0.03 * (i - 1.5)), v, yerr=_style.errorbar_from_ci(v, ci),
                    fmt="o-", color=c, capsize=2, label=ls)
        if "slope_truth" in ds:
            t = ds["slope_truth"].sel(landscape=ls).values
            ax.plot(ds["truth_scale_m"].values, t, "--", color=c, lw=1)
        r = ds["corr"].sel(landscape=ls).values
        rci = ds["corr_ci"].sel(landscape=ls).values
        ax2.errorbar(s * (1 + 0.03 * (i - 1.5)), r, yerr=_style.errorbar_from_ci(r, rci),
                     fmt="o-", color=c, capsize=2, label=ls)
    if "slope_truth" in ds:
        ax.plot([], [], "--", color="k", lw=1, label="model truth")
    for a in (ax, ax2):
        a.set_xscale("log")
        _style.scale_axis(a)
        a.set_xlabel("block size")
        a.axhline(0, color="k", lw=0.6)
    # y range from the estimates (and truths); very wide intervals are cut by the frame
    vals = [ds["slope_ols"].values] + ([ds["slope_truth"].values] if "slope_truth" in ds else [])
    v = np.concatenate([np.ravel(a) for a in vals])
    v = v[np.isfinite(v)]
    if v.size:
        pad = max(5.0, 0.4 * float(v.max() - v.min()))
        ax.set_ylim(float(v.min()) - pad, float(v.max()) + pad)
    ax.set_ylabel("OLS slope of LST on NDVI (K per NDVI unit)")
    ax.set_title("LST-NDVI slope across scales (95 % intervals)")
    ax2.set_ylabel("LST-NDVI correlation (1)")
    ax2.set_title("LST-NDVI correlation across scales")
    ax2.set_ylim(-1.05, 1.05)
    ax.legend(ncol=2)
    return _style.save(fig, out, STEM, smoke)
