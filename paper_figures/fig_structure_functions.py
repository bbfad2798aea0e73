"""Figure 2: structure functions S2 and local Hurst exponents per landscape, LST and NDVI."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from paper_figures import _style

STEM = "fig02_structure_functions"
REQUIRES = ("sf_lst.nc", "sf_ndvi.nc")


def main(out: Path, smoke: bool = False, results: Path | None = None) -> Path:
    _style.apply()
    fig, axes = plt.subplots(2, 2, figsize=(8.4, 6.4))
    for row, (name, unit) in enumerate((("sf_lst.nc", "K$^2$"), ("sf_ndvi.nc", "1"))):
        ds = _style.open_result(results, name)
        var = ds.attrs.get("variable", name)
        px = float(ds.attrs["pixel_size_m"])
        lag_m = ds["lag_m"].values
        ax, ax2 = axes[row]
        for i, ls in enumerate(_style.names(ds, "landscape")):
            c = _style.color(ls, i)
            s2 = ds["S"].sel(landscape=ls, q=2.0).values
            ci = ds["S_ci"].sel(landscape=ls, q=2.0).values
            ax.plot(lag_m, s2, "o-", color=c, ms=3, label=ls)
            ax.fill_between(lag_m, ci[:, 0], ci[:, 1], color=c, alpha=0.2, lw=0)
            h = ds["H_local"].sel(landscape=ls).values
            hci = ds["H_local_ci"].sel(landscape=ls).values
            sm = ds["scale_m"].values
            ax2.errorbar(sm * (1 + 0.03 * (i - 1.5)), h, yerr=_style.errorbar_from_ci(h, hci),
                         fmt="o-", color=c, ms=3, capsize=2, label=ls)
        for a in (ax, ax2):
            a.set_xscale("log")
            _style.mark_bands(a, px, text=a is ax2)
            _style.scale_axis(a)
            a.set_xlabel("lag (m)" if a is ax else "scale (m, octave centre)")
        ax.set_yscale("log")
        ax.set_ylabel(f"{var} S$_2$(lag) ({unit})")
        ax.set_title(f"{var}: second-order structure function")
        ax2.set_ylabel(f"{var} local Hurst exponent (1)")
        ax2.set_title(f"{var}: local exponent per octave, 95 % intervals")
        ax2.axhline(0, color="k", lw=0.6)
        ax.legend(loc="upper left")
    return _style.save(fig, out, STEM, smoke)
