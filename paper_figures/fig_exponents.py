"""Figure 3: scaling exponents and log-cumulants per landscape with their intervals."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from paper_figures import _style

STEM = "fig03_exponents"
REQUIRES = ("exponents.nc",)


def _points(ax: plt.Axes, ds, var: str, ylabel: str, title: str) -> None:
    lands = _style.names(ds, "landscape")
    x = np.arange(len(lands))
    v = ds[var].values
    ci = ds[f"{var}_ci"].values
    for i, ls in enumerate(lands):
        ax.errorbar(x[i], v[i], yerr=_style.errorbar_from_ci(v[i:i + 1], ci[i:i + 1]), fmt="o",
                    color=_style.color(ls, i), capsize=3)
        if not np.isfinite(v[i]):
            ax.text(x[i], 0.5, "n/a", transform=ax.get_xaxis_transform(), ha="center",
                    fontsize=7, color="0.4")
    ax.set_xticks(x, lands, rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)


def main(out: Path, smoke: bool = False, results: Path | None = None) -> Path:
    _style.apply()
    ds = _style.open_result(results, "exponents.nc")
    lands = _style.names(ds, "landscape")
    fig, axes = plt.subplots(2, 3, figsize=(10, 6.2))
    ax = axes[0, 0]
    q = ds["q"].values
    for i, ls in enumerate(lands):
        z = ds["zeta"].sel(landscape=ls).values
        ci = ds["zeta_ci"].sel(landscape=ls).values
        ax.errorbar(q + 0.05 * (i - 1.5), z, yerr=_style.errorbar_from_ci(z, ci), fmt="o-",
                    color=_style.color(ls, i), capsize=2, label=ls)
    ax.set_xlabel("moment order q (1)")
    ax.set_ylabel("ζ(q) (1)")
    lo, hi = ds.attrs.get("scale_range_m", [np.nan, np.nan])
    ax.set_title(f"ζ(q), lags {lo:.0f}-{hi:.0f} m")
    ax.legend()
    ax = axes[0, 1]
    _points(ax, ds, "H", "H = ζ(2)/2 (1)", "Hurst exponent (pooled)")
    x = np.arange(len(lands))
    if np.isfinite(ds["H_fine_truth"].values).any():
        ax.plot(x - 0.2, ds["H_fine_truth"].values, "v", color="k", mfc="none",
                label="model truth 250-500 m")
        ax.plot(x + 0.2, ds["H_coarse_truth"].values, "^", color="k", mfc="none",
                label="model truth 4-8 km")
        ax.legend(loc="best")
    ax = axes[0, 2]
    for i, (var, mk) in enumerate((("H_below", "s"), ("H_above", "D"))):
        v = ds[var].values
        ci = ds[f"{var}_ci"].values
        ax.errorbar(x + (i - 0.5) * 0.25, v, yerr=_style.errorbar_from_ci(v, ci), fmt=mk,
                    color="k" if i else "0.5", capsize=3,
                    label="below the break" if i == 0 else "above the break")
    ax.set_xticks(x, lands, rotation=30, ha="right")
    ax.set_ylabel("ζ(2)/2 (1)")
    ax.set_title("H below (grey) / above (black) the S$_2$ break")
    _points(axes[1, 0], ds, "c1", "c$_1$ (1)", "first log-cumulant c$_1$")
    _points(axes[1, 1], ds, "c2", "c$_2$ (1)", "intermittency c$_2$")
    axes[1, 1].axhline(0, color="k", lw=0.6)
    _points(axes[1, 2], ds, "beta", "β (1)", "spectral slope β, P(k) ~ k$^{-β}$")
    return _style.save(fig, out, STEM, smoke)
