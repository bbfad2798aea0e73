"""Figure 1: the data - fine reference LST, NDVI and the 1 km LST of each scene shown."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from paper_figures import _style

STEM = "fig01_overview"
REQUIRES = ("overview.nc",)


def _valid_shape(a: np.ndarray) -> tuple[int, int]:
    rows = np.flatnonzero(np.isfinite(a).any(1))
    cols = np.flatnonzero(np.isfinite(a).any(0))
    return (int(rows.max()) + 1 if rows.size else 1, int(cols.max()) + 1 if cols.size else 1)


def main(out: Path, smoke: bool = False, results: Path | None = None) -> Path:
    _style.apply()
    ds = _style.open_result(results, "overview.nc")
    panels = _style.names(ds, "panel")
    n = len(panels)
    fig, axes = plt.subplots(n, 3, figsize=(8.4, 2.55 * n + 0.6), squeeze=False)
    lst_lim = _style.robust_limits([ds["lst_fine"].values, ds["lst_coarse"].values])
    ndvi_lim = _style.robust_limits([ds["ndvi"].values])
    cols = (("lst_fine", "px_fine", ds.attrs.get("fine_name", "fine LST"), "inferno", lst_lim),
            ("ndvi", "px_ndvi", ds.attrs.get("ndvi_name", "NDVI"), "YlGn", ndvi_lim),
            ("lst_coarse", "px_coarse", ds.attrs.get("coarse_name", "coarse LST"), "inferno",
             lst_lim))
    ims = {}
    for i, p in enumerate(panels):
        for j, (var, pxv, title, cmap, lim) in enumerate(cols):
            a = ds[var].values[i]
            ny, nx = _valid_shape(a)
            a = a[:ny, :nx]
            ax = axes[i, j]
            ims[var] = ax.imshow(a, cmap=cmap, vmin=lim[0], vmax=lim[1],
                                 extent=_style.km_extent((ny, nx), float(ds[pxv].values[i])),
                                 interpolation="nearest")
            ax.grid(False)
            if i == 0:
                ax.set_title(title)
            if i == n - 1:
                ax.set_xlabel("x (km)")
            if j == 0:
                ax.set_ylabel(f"{p}\ny (km)")
    for j, (var, _, _, _, _) in enumerate(cols):
        fig.colorbar(ims[var], ax=axes[:, j].tolist(), location="bottom", shrink=0.85,
                     aspect=25, label="NDVI (1)" if var == "ndvi" else "LST (K)")
    return _style.save(fig, out, STEM, smoke)
