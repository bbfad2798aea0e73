"""Readable views of a law: its octave table and its curves.

:meth:`~scalelaws.laws.CorrectionLaw.summary` and :meth:`~scalelaws.laws.CorrectionLaw.plot`
call :func:`summary_text` and :func:`plot_law`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

if TYPE_CHECKING:
    from scalelaws.laws.law import CorrectionLaw


def _summary_header(law: CorrectionLaw) -> list[str]:
    """Describe the fit in two lines: scenes, pixel, range, orders, smoothing, bootstrap."""
    a = law.ds.attrs
    ci = float(a.get("ci", 0.95))
    return [
        f"CorrectionLaw fitted on {a.get('n_scenes')} scene(s), pixel {a.get('pixel_size_m', float('nan')):.1f} m, "
        f"scales {a['scale_range_m'][0]:.0f}-{a['scale_range_m'][1]:.0f} m, q = "
        + ",".join(f"{v:g}" for v in law.ds["q"].values),
        f"smoothing: degree {a.get('degree')} polynomial in ln l; bootstrap: {a.get('n_boot')} x "
        f"{a.get('bootstrap_unit')}, {ci:.0%} intervals; scalelaws {a.get('scalelaws_version')}",
    ]


def _octave_row(law: CorrectionLaw, name: str, bm: float, q2: float, has_ndvi: bool) -> str:
    """One row of the table: the octave ending at block size ``bm`` of landscape ``name``."""
    lo, hi = law.ds.attrs["scale_range_m"]
    mid = bm / math.sqrt(2.0)
    le = law.local_exponent(mid, q=q2, landscape=name) if lo <= mid <= hi else None
    zo = law.ds["zeta_octave"].sel(landscape=name, block_m=bm).sel(q=q2, method="nearest")
    zci = law.ds["zeta_octave_ci"].sel(landscape=name, block_m=bm).sel(q=q2, method="nearest").values
    D = float(law.ds["detail_energy_block"].sel(landscape=name, block_m=bm))
    zl = f"{float(le['value'][0]):10.3f} [{float(le['lower'][0]):6.3f},{float(le['upper'][0]):6.3f}]" if le is not None else f"{'':10} {'':15}"
    row = f"{bm:9.0f} {zl} {float(zo):9.3f} [{zci[0]:6.3f},{zci[1]:6.3f}] {D:10.4g}"
    if has_ndvi:
        s = float(law.ds["lst_ndvi_slope_block"].sel(landscape=name, block_m=bm))
        c = float(law.ds["lst_ndvi_corr_block"].sel(landscape=name, block_m=bm))
        row += f" {s:8.2f} {c:6.2f}"
    return row


def summary_text(law: CorrectionLaw) -> str:
    """Per landscape and octave: the local exponent and detail energy (see ``CorrectionLaw.summary``)."""
    lines = _summary_header(law)
    has_ndvi = "lst_ndvi_slope_block" in law.ds
    q2 = 2.0 if np.any(np.isclose(law.ds["q"].values, 2.0)) else float(law.ds["q"].values[0])
    hi = law.ds.attrs["scale_range_m"][1]
    for name in law.landscapes:
        lines.append("")
        lines.append(f"landscape {name}: {int(law.ds['n_pixels'].sel(landscape=name))} pixels")
        hdr = f"{'scale_m':>9} {'zeta_local':>10} {'interval':>15} {'zeta_oct':>9} {'interval':>15} {'D (K^2)':>10}"
        if has_ndvi:
            hdr += f" {'slope K':>8} {'corr':>6}"
        lines.append(hdr)
        for bm in law.ds["block_m"].values[1:]:
            if bm > 2 * hi:
                break
            lines.append(_octave_row(law, name, bm, q2, has_ndvi))
    lines.append("")
    lines.append(f"zeta_local: smooth d ln S_{q2:g}/d ln l at scale_m/sqrt(2); zeta_oct: slope between "
                 "scale_m/2 and scale_m; D: detail energy refining scale_m -> scale_m/2")
    return "\n".join(lines)


def _draw_landscape(axes: Sequence[Any], ds: xr.Dataset, name: str, c: str, q: float) -> None:
    """Curves of one landscape: local exponent, then (when drawn) detail energy and LST-NDVI slope."""
    s = ds["scale_m"].values
    z = ds["zeta_local"].sel(landscape=name).sel(q=q, method="nearest") / q
    zc = ds["zeta_local_ci"].sel(landscape=name).sel(q=q, method="nearest") / q
    axes[0].plot(s, z, color=c, label=name)
    axes[0].fill_between(s, zc.sel(bound="lower"), zc.sel(bound="upper"), color=c, alpha=0.25, lw=0)
    zo = ds["zeta_octave"].sel(landscape=name).sel(q=q, method="nearest") / q
    zoc = ds["zeta_octave_ci"].sel(landscape=name).sel(q=q, method="nearest") / q
    xm = ds["block_m"].values / math.sqrt(2.0)
    err = np.abs(np.stack([zo - zoc.sel(bound="lower"), zoc.sel(bound="upper") - zo]))
    axes[0].errorbar(xm, zo, yerr=np.nan_to_num(err), fmt="o", ms=3, color=c, lw=0.8)
    if len(axes) > 1:
        D = ds["detail_energy"].sel(landscape=name)
        Dc = ds["detail_energy_ci"].sel(landscape=name)
        axes[1].plot(s, D, color=c, label=name)
        axes[1].fill_between(s, Dc.sel(bound="lower"), Dc.sel(bound="upper"), color=c, alpha=0.25, lw=0)
        axes[1].plot(ds["block_m"], ds["detail_energy_block"].sel(landscape=name), "o", ms=3, color=c)
    if len(axes) > 2:
        sl = ds["lst_ndvi_slope_block"].sel(landscape=name)
        slc = ds["lst_ndvi_slope_block_ci"].sel(landscape=name)
        axes[2].plot(ds["block_m"], sl, "o-", ms=3, color=c, label=name)
        axes[2].fill_between(ds["block_m"], slc.sel(bound="lower"), slc.sel(bound="upper"), color=c, alpha=0.25, lw=0)


def _label_axes(axes: Sequence[Any], q: float) -> None:
    axes[0].set_xscale("log")
    axes[0].set_xlabel("scale l (m)")
    axes[0].set_ylabel(f"local exponent zeta_{q:g}(l)/{q:g}")
    axes[0].legend(fontsize="small")
    if len(axes) > 1:
        axes[1].set_xscale("log")
        axes[1].set_yscale("log")
        axes[1].set_xlabel("parent block size l (m)")
        axes[1].set_ylabel("detail energy l -> l/2 (K$^2$)")
    if len(axes) > 2:
        axes[2].set_xscale("log")
        axes[2].set_xlabel("block size (m)")
        axes[2].set_ylabel("LST-NDVI slope (K)")


def plot_law(law: CorrectionLaw, ax: Any = None, *, q: float = 2.0,
             landscapes: Sequence[str] | None = None) -> Any:
    """Draw the law's curves (see ``CorrectionLaw.plot`` for the parameters)."""
    import matplotlib.pyplot as plt

    names = list(landscapes) if landscapes is not None else law.landscapes
    if ax is None:
        n = 3 if "lst_ndvi_slope_block" in law.ds else 2
        fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.6), constrained_layout=True)
    else:
        fig, axes = None, [ax]
    for i, name in enumerate(names):
        _draw_landscape(axes, law.ds, name, f"C{i}", q)
    _label_axes(axes, q)
    return fig if fig is not None else axes[0]
