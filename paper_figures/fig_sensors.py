"""Figure: correction laws across sensors (Landsat, airborne) against the ASTER law.

Reads only ``sensors.nc`` written by ``scalelaws benchmark sensors -o RESULTS``:

(a) local Hurst exponent H(l) of each field's law (landscape ``all``), with 95 % bands
    (``H_local_ci_total``: bootstrap and realisation spread), and
    the raw per-octave exponents (dots); the ASTER law in black;
(b) H - H_ASTER per landscape where the ranges overlap (approximate 95 % intervals);
(c) slope of temperature on NDVI of block means across block sizes;
(d) detail energy of the 1 km -> 250 m band relative to 4 km -> 1 km, where a field covers it.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from paper_figures import _style

STEM = "fig_sensors"
REQUIRES = ("sensors.nc",)

_MARKERS = "osD^v<>pPX*h"


def main(out: Path, smoke: bool = False, results: Path | None = None) -> Path:
    """Draw the figure from ``RESULTS/sensors.nc`` into ``OUT/fig_sensors.png``."""
    _style.apply()
    ds = _style.open_result(results, "sensors.nc")
    laws = _style.names(ds, "law")
    keys = _style.names(ds, "sensor_key")
    lands = _style.names(ds, "landscape")
    ref = str(ds.attrs.get("reference", ""))
    s = ds["scale_m"].values
    order = list(dict.fromkeys(keys))
    marker = {k: _MARKERS[i % len(_MARKERS)] for i, k in enumerate(order)}
    tab = plt.get_cmap("tab20")
    others = [k for k in order if k != ref]
    colour = {k: tab(i % 20) for i, k in enumerate(others)}
    colour[ref] = "#000000"
    fig, axes = plt.subplots(2, 2, figsize=(11.5, 9.4))
    ax_h, ax_d, ax_n, ax_e = axes.ravel()

    # (a) local H of the "all" landscape of every law
    for i, (key, ls) in enumerate(zip(keys, lands, strict=True)):
        if ls != "all":
            continue
        h = ds["H_local"].values[i]
        ci = ds["H_local_ci_total" if "H_local_ci_total" in ds else "H_local_ci"].values[i]
        ok = np.isfinite(h)
        lw = 2.2 if key == ref else 1.2
        ax_h.plot(s[ok], h[ok], "-", marker=marker[key], ms=0, color=colour[key], lw=lw,
                  label=f"{key} ({ds['quantity'].values[i]})")
        ax_h.fill_between(s[ok], ci[ok, 0], ci[ok, 1], color=colour[key], alpha=0.15, lw=0)
        ho = ds["H_octave"].values[i]
        centre = np.sqrt(ds["octave_lo_m"].values[i] * ds["octave_hi_m"].values[i])
        ax_h.plot(centre, ho, marker[key], color=colour[key], ms=3, ls="none")
    ax_h.set_xscale("log")
    _style.scale_axis(ax_h)
    ax_h.axvspan(250, 1000, color="#1f78b4", alpha=0.07, lw=0)
    ax_h.axvspan(1000, 4000, color="#e31a1c", alpha=0.07, lw=0)
    ax_h.set_xlabel("scale l (m)")
    ax_h.set_ylabel("local Hurst exponent H(l) = ζ$_2$(l)/2 (1)")
    ax_h.set_title("(a) local exponent, landscape 'all' (line: law, dots: octaves)")
    handles, labels = ax_h.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=7)

    # (b) difference to the reference per landscape (rows with 95 % half-width <= 0.4)
    dh, dci = ds["dH_reference"].values, ds["dH_reference_ci"].values
    with np.errstate(invalid="ignore"):
        hw = np.nanmax(np.where(np.isfinite(dh), (dci[..., 1] - dci[..., 0]) / 2, np.nan), axis=1,
                       initial=-np.inf)
    rows = [i for i in range(len(laws)) if np.isfinite(dh[i]).any() and hw[i] <= 0.4]
    seen: set[str] = set()
    for n, i in enumerate(rows):
        ok = np.isfinite(dh[i])
        x = s[ok] * math.exp(0.025 * (n - len(rows) / 2))
        c = _style.color(lands[i], n)
        ax_d.errorbar(x, dh[i, ok], yerr=_style.errorbar_from_ci(dh[i, ok], dci[i, ok]),
                      fmt=marker[keys[i]], color=c, mec=colour[keys[i]], ms=4, capsize=1.5, lw=0.7,
                      label=None if lands[i] in seen else lands[i])
        seen.add(lands[i])
    ax_d.axhline(0, color="k", lw=0.7)
    if rows:
        ax_d.set_xscale("log")
        _style.scale_axis(ax_d)
        ax_d.legend(fontsize=7, loc="lower right", title="landscape (marker: field)", title_fontsize=7)
    else:
        ax_d.text(0.5, 0.5, "no overlap with a reference law", ha="center", va="center",
                  transform=ax_d.transAxes)
    ax_d.set_xlabel("scale l (m)")
    ax_d.set_ylabel(f"H - H$_{{ref}}$ (1), ref = {ref or 'none'}")
    ax_d.set_title("(b) H - H$_{ref}$ where the ranges overlap (95 % half-width ≤ 0.4)")

    # (c) LST-NDVI slope of block means, landscape all
    sl = ds["lst_ndvi_slope"].values
    drawn = False
    for i, (key, ls) in enumerate(zip(keys, lands, strict=True)):
        if ls != "all" or not np.isfinite(sl[i]).any():
            continue
        ok = np.isfinite(sl[i])
        ax_n.errorbar(s[ok], sl[i, ok], yerr=_style.errorbar_from_ci(sl[i, ok], ds["lst_ndvi_slope_ci"].values[i, ok]),
                      fmt=marker[key] + "-", color=colour[key], ms=4, capsize=2, lw=1)
        drawn = True
    ax_n.axhline(0, color="k", lw=0.7)
    if drawn:
        ax_n.set_xscale("log")
        _style.scale_axis(ax_n)
    ax_n.set_xlabel("block size (m)")
    ax_n.set_ylabel("slope of temperature on NDVI (K per NDVI unit)")
    ax_n.set_title("(c) temperature-NDVI slope across scales, landscape 'all'")

    # (d) detail-energy ratio where the field covers 250 m - 4 km
    dr = ds["detail_ratio"].values
    idx = [i for i in range(len(laws)) if np.isfinite(dr[i])]
    if idx:
        y = np.arange(len(idx))
        ax_e.errorbar(dr[idx], y, xerr=_style.errorbar_from_ci(dr[idx], ds["detail_ratio_ci"].values[idx]),
                      fmt="o", color="#333333", capsize=2, label="law")
        dc = ds["detail_correction"].values
        ax_e.errorbar(dc[idx], y + 0.2, xerr=_style.errorbar_from_ci(dc[idx], ds["detail_correction_ci"].values[idx]),
                      fmt="s", color="#d95f02", capsize=2, ms=4, label="law / scale invariance")
        ax_e.set_yticks(y, [laws[i] for i in idx], fontsize=6)
        ax_e.axvline(1, color="k", lw=0.6, ls=":")
        ax_e.legend(fontsize=7)
    else:
        ax_e.set_yticks([])
    ax_e.set_xlabel("detail energy 1 km→250 m / 4 km→1 km (1)")
    ax_e.set_title("(d) detail-energy ratio of the SR band\n(fields whose lags reach 4 km and "
                   "whose detail reaches 500 m)", fontsize=9)
    fig.suptitle("Correction laws across sensors (95 % intervals: bootstrap, widened for single "
                 "fields by the spread between fBm surrogates)", fontsize=9)
    return _style.save(fig, out, STEM, smoke)
