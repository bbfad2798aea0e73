"""Figure 5: the scale-invariance test - 4 km -> 1 km band against the 1 km -> 250 m band."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from paper_figures import _style

STEM = "fig05_invariance"
REQUIRES = ("invariance.nc",)


def main(out: Path, smoke: bool = False, results: Path | None = None) -> Path:
    _style.apply()
    ds = _style.open_result(results, "invariance.nc")
    lands = _style.names(ds, "landscape")
    x = np.arange(len(lands))
    fig, axes = plt.subplots(1, 3, figsize=(11.5, 3.9))
    ax = axes[0]
    for band, off, mk, lab in (("H_coarse", -0.12, "s", "4 km → 1 km band"),
                               ("H_fine", 0.12, "o", "1 km → 250 m band")):
        v = ds[band].values
        ax.errorbar(x + off, v, yerr=_style.errorbar_from_ci(v, ds[f"{band}_ci"].values),
                    fmt=mk, color="#e31a1c" if band == "H_coarse" else "#1f78b4", capsize=3,
                    label=lab)
    for i in x:
        ax.plot([i - 0.12, i + 0.12], [ds["H_coarse"].values[i], ds["H_fine"].values[i]],
                color="0.6", lw=0.8, zorder=0)
    ax.set_xticks(x, lands, rotation=30, ha="right")
    ax.set_ylabel("band exponent ζ(2)/2 (1)")
    ax.set_title("(a) exponent per band: invariance wants equal")
    ax.legend()
    ax = axes[1]
    w = 0.26
    for k, (var, lab, col) in enumerate((("detail_ratio", "measured", "k"),
                                         ("detail_ratio_invariant", "scale invariance", "0.65"),
                                         ("detail_ratio_law", "correction law", "#1b9e77"))):
        v = ds[var].values
        ax.bar(x + (k - 1) * w, v, w, color=col, label=lab,
               yerr=_style.errorbar_from_ci(v, ds[f"{var}_ci"].values), capsize=2,
               error_kw={"lw": 0.8})
    ax.set_xticks(x, lands, rotation=30, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel("detail energy, fine band / coarse band (1)")
    ax.set_title("(b) energy added 1 km → 250 m vs 4 km → 1 km")
    ax.legend()
    ax = axes[2]
    lag = ds["lag_fine_m"].values
    for i, ls in enumerate(lands):
        c = _style.color(ls, i)
        m = ds["S2_measured"].sel(landscape=ls).values
        ax.plot(lag, ds["S2_law"].sel(landscape=ls).values / m, "o-", color=c, label=ls)
        lci = ds["S2_law_ci"].sel(landscape=ls).values / m[:, None]
        ax.fill_between(lag, lci[:, 0], lci[:, 1], color=c, alpha=0.15, lw=0)
        ax.plot(lag, ds["S2_invariant"].sel(landscape=ls).values / m, "x--", color=c)
    ax.plot([], [], "k-o", label="law prediction")
    ax.plot([], [], "k--x", label="scale-invariant")
    ax.axhline(1, color="k", lw=0.8)
    ax.set_yscale("log")
    _style.scale_axis(ax)
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("fine-band lag")
    ax.set_ylabel("predicted / measured S$_2$ (1)")
    ax.set_title("(c) fine-band S$_2$ predicted from the coarse band")
    ax.legend(ncol=2, fontsize=7)
    return _style.save(fig, out, STEM, smoke)
