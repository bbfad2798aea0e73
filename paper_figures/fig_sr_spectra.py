"""Figure 9: structure functions and power spectra of the SR outputs against the reference."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from paper_figures import _style

STEM = "fig09_sr_spectra"
REQUIRES = ("sr_spectra.nc",)


def main(out: Path, smoke: bool = False, results: Path | None = None) -> Path:
    _style.apply()
    ds = _style.open_result(results, "sr_spectra.nc")
    methods = _style.names(ds, "method")
    fig, axes = plt.subplots(2, 2, figsize=(9.5, 6.6), sharex="col",
                             gridspec_kw={"height_ratios": [1.6, 1]})
    lag = ds["lag_m"].values
    wl = ds["wavelength_m"].values
    s_ref = ds["S2"].sel({"method": "reference"}).values
    p_ref = ds["P"].sel({"method": "reference"}).values
    for i, m in enumerate(methods):
        c = _style.color(m, i)
        is_ref = m == "reference"
        kw = {"color": c, "lw": 2.2 if is_ref else 1.2, "ls": "-" if (is_ref or m in
              _style.BASELINES) else "--", "label": _style.label(m)}
        s2 = ds["S2"].sel({"method": m}).values
        p = ds["P"].sel({"method": m}).values
        axes[0, 0].plot(lag, s2, **kw)
        axes[0, 1].plot(wl, p, **kw)
        if not is_ref:
            axes[1, 0].plot(lag, s2 / s_ref, **kw)
            axes[1, 1].plot(wl, p / p_ref, **kw)
    from matplotlib.ticker import NullFormatter

    for ax in axes.ravel():
        ax.set_yscale("log")
        _style.scale_axis(ax)
    for ax in axes[1]:
        ax.yaxis.set_minor_formatter(NullFormatter())
    from matplotlib.ticker import FuncFormatter, LogLocator

    axes[1, 0].yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axes[1, 0].yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    for ax in axes[1]:
        ax.axhline(1, color="k", lw=0.8)
    axes[0, 0].set_ylabel("S$_2$ (K$^2$)")
    axes[0, 0].set_title("second-order structure function")
    axes[1, 0].set_ylabel("S$_2$ / S$_2$ reference (1)")
    axes[1, 0].set_xlabel("lag")
    axes[0, 1].set_ylabel("power spectral density (K$^2$ m$^2$)")
    axes[0, 1].set_title("radially averaged power spectrum")
    axes[1, 1].set_ylabel("P / P reference (1)")
    axes[1, 1].set_xlabel("wavelength (fine scales to the right)")
    axes[0, 1].invert_xaxis()
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"geometric means over {ds.attrs.get('n_scenes', '?')} test scenes; "
                 "below 1 = too smooth at that scale", fontsize=9)
    return _style.save(fig, out, STEM, smoke)
