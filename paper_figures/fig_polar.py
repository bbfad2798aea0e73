"""Figure 10: direction-dependent structure functions - lag maps and polar anisotropy."""

from __future__ import annotations

from pathlib import Path

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np

from paper_figures import _style

STEM = "fig10_polar"
REQUIRES = ("polar.nc",)


def main(out: Path, smoke: bool = False, results: Path | None = None) -> Path:
    _style.apply()
    ds = _style.open_result(results, "polar.nc")
    lands = _style.names(ds, "landscape")
    n = len(lands)
    fig = plt.figure(figsize=(2.6 * n + 1.2, 5.6))
    gs = fig.add_gridspec(2, n)
    lx, ly = ds["lx_m"].values / 1000, ds["ly_m"].values / 1000
    r_m = ds["r_m"].values / 1000
    th = np.deg2rad(ds["theta"].values)
    dth = th[1] - th[0] if th.size > 1 else np.pi
    S = ds["S2_map"].values
    full = [np.concatenate([m[::-1, ::-1][:-1], m], axis=0) for m in S]  # S(-l) = S(l)
    lim = _style.robust_limits([np.log10(f[np.isfinite(f) & (f > 0)]) for f in full], (1, 100))
    norm = mcolors.LogNorm(10 ** lim[0], 10 ** lim[1])
    rel = ds["S2_polar"].values / np.nanmean(ds["S2_polar"].values, axis=2, keepdims=True)
    rlim = _style.symmetric_limit([np.log2(rel)], 98)
    rnorm = mcolors.TwoSlopeNorm(1.0, 2 ** -rlim, 2 ** rlim) if rlim > 0 else None
    yy = np.concatenate([-ly[::-1][:-1], ly])
    ims = []
    for i, ls in enumerate(lands):
        ax = fig.add_subplot(gs[0, i])
        ims.append(ax.pcolormesh(lx, yy, full[i], norm=norm, shading="nearest"))
        ax.set_aspect("equal")
        ax.set_title(ls)
        ax.set_xlabel("lag x (km)")
        if i == 0:
            ax.set_ylabel("lag along rows (km)")
        ax.grid(False)
        pax = fig.add_subplot(gs[1, i], projection="polar")
        theta_edges = np.concatenate([th - dth / 2, th[-1:] + dth / 2])
        te = np.concatenate([theta_edges[:-1], theta_edges + np.pi])
        vals = np.concatenate([rel[i], rel[i]], axis=1)
        r_edges = np.concatenate([[0.0], (r_m[:-1] + r_m[1:]) / 2, [r_m[-1] * 1.05]])
        pm = pax.pcolormesh(te, r_edges, vals, cmap="RdBu_r", norm=rnorm, shading="flat")
        pax.set_yticklabels([])
        pax.set_xticks(np.deg2rad([0, 90, 180, 270]), ["+x", "+rows", "-x", "-rows"],
                       fontsize=7)
        pax.grid(alpha=0.4)
        an = np.nanmax(ds["anisotropy"].sel(landscape=ls).values)
        pax.set_title(f"max anisotropy {an:.2f}", fontsize=8, pad=10)
    fig.colorbar(ims[0], ax=fig.axes[0::2], shrink=0.85, pad=0.02, label="S$_2$(lag) (K$^2$)")
    fig.colorbar(pm, ax=fig.axes[1::2], shrink=0.85, pad=0.08,
                 label="S$_2$(r, θ) / mean over θ (1)")
    fig.suptitle(f"direction-dependent S$_2$ up to {r_m.max():.1f} km (outer ring); top: lag "
                 "maps, bottom: S$_2$ relative to its directional mean", fontsize=9)
    return _style.save(fig, out, STEM, smoke)
