"""Figure 6: the correction law - local exponent, detail energy and LST-NDVI slope vs scale."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt

from paper_figures import _style

STEM = "fig06_law"
REQUIRES = ("law.nc",)


def main(out: Path, smoke: bool = False, results: Path | None = None) -> Path:
    _style.apply()
    ds = _style.open_result(results, "law.nc")
    has_ndvi = "lst_ndvi_slope_block" in ds
    fig, axes = plt.subplots(1, 3 if has_ndvi else 2, figsize=(12 if has_ndvi else 8.4, 3.8))
    s = ds["scale_m"].values
    bm = ds["block_m"].values
    for i, ls in enumerate(_style.names(ds, "landscape")):
        c = _style.color(ls, i)
        z = ds["zeta_local"].sel(landscape=ls, q=2.0).values / 2
        zc = ds["zeta_local_ci"].sel(landscape=ls, q=2.0).values / 2
        axes[0].plot(s, z, color=c, label=ls)
        axes[0].fill_between(s, zc[:, 0], zc[:, 1], color=c, alpha=0.2, lw=0)
        zo = ds["zeta_octave"].sel(landscape=ls, q=2.0).values / 2
        axes[0].plot(bm / math.sqrt(2), zo, "o", color=c, ms=3)
        d = ds["detail_energy"].sel(landscape=ls).values
        dc = ds["detail_energy_ci"].sel(landscape=ls).values
        axes[1].plot(s, d, color=c, label=ls)
        axes[1].fill_between(s, dc[:, 0], dc[:, 1], color=c, alpha=0.2, lw=0)
        axes[1].plot(bm, ds["detail_energy_block"].sel(landscape=ls).values, "o", color=c, ms=3)
        if has_ndvi:
            sl = ds["lst_ndvi_slope_block"].sel(landscape=ls).values
            slc = ds["lst_ndvi_slope_block_ci"].sel(landscape=ls).values
            axes[2].errorbar(bm * (1 + 0.03 * (i - 2)), sl, yerr=_style.errorbar_from_ci(sl, slc),
                             fmt="o-", color=c, capsize=2, ms=3, label=ls)
    axes[1].set_yscale("log")
    for k, ax in enumerate(axes):
        ax.set_xscale("log")
        _style.scale_axis(ax)
        # lags / blocks of each band; the detail energy is indexed by the parent block size
        fine, coarse = ((500, 1000), (2000, 4000)) if k == 1 else ((250, 1000), (1000, 4000))
        ax.axvspan(*fine, color="#1f78b4", alpha=0.07, lw=0)
        ax.axvspan(*coarse, color="#e31a1c", alpha=0.07, lw=0)
    axes[0].text(500, 0.98, "1 km→250 m", transform=axes[0].get_xaxis_transform(),
                 ha="center", va="top", fontsize=7, color="#1f78b4")
    axes[0].text(2000, 0.98, "4 km→1 km", transform=axes[0].get_xaxis_transform(),
                 ha="center", va="top", fontsize=7, color="#e31a1c")
    axes[0].set_xlabel("scale l (m)")
    axes[0].set_ylabel("local exponent ζ$_2$(l)/2 (1)")
    axes[0].set_title("local exponent (line: smooth law, dots: octaves)")
    axes[0].legend(loc="lower left")
    axes[1].set_xlabel("parent block size l (m)")
    axes[1].set_ylabel("detail energy l → l/2 (K$^2$)")
    axes[1].set_title("energy of the detail added per octave")
    if has_ndvi:
        axes[2].axhline(0, color="k", lw=0.6)
        axes[2].set_xlabel("block size (m)")
        axes[2].set_ylabel("LST-NDVI slope (K per NDVI unit)")
        axes[2].set_title("LST-NDVI slope of block means")
    fig.suptitle(f"correction law fitted on {ds.attrs.get('fitted_on', 'high-resolution scenes')}"
                 f" (95 % bootstrap bands)", fontsize=9)
    return _style.save(fig, out, STEM, smoke)
