"""Figure 7: SR maps of every method and their error maps against the reference."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from paper_figures import _style

STEM = "fig07_sr_maps"
REQUIRES = ("sr_maps.nc",)


def main(out: Path, smoke: bool = False, results: Path | None = None) -> Path:
    _style.apply()
    ds = _style.open_result(results, "sr_maps.nc")
    methods = _style.names(ds, "method")
    n = len(methods) + 1
    fig, axes = plt.subplots(2, n, figsize=(2.05 * n, 4.9))
    full_err = ds["error"].values
    rmse_scene = np.sqrt(np.nanmean(full_err**2, axis=(1, 2)))
    ny, nx = ds.sizes["y"], ds.sizes["x"]
    zoom = max(ny, nx) > 128  # show the central 96 x 96 px so that 250 m details stay visible
    if zoom:
        r0, c0 = (ny - 96) // 2, (nx - 96) // 2
        ds = ds.isel(y=slice(r0, r0 + 96), x=slice(c0, c0 + 96))
    x, y = ds["x"].values, ds["y"].values
    ext = [0, (x.max() - x.min() + abs(x[1] - x[0])) / 1000, (y.max() - y.min() +
                                                              abs(y[1] - y[0])) / 1000, 0]
    dx, dy = abs(float(x[1] - x[0])), abs(float(y[1] - y[0]))
    left, top = float(x.min()) - dx / 2, float(y.max()) + dy / 2
    xc, yc = ds["xc"].values, ds["yc"].values
    dxc, dyc = abs(float(xc[1] - xc[0])), abs(float(yc[1] - yc[0]))
    inside_x = (xc > left) & (xc < left + ext[1] * 1000)
    inside_y = (yc < top) & (yc > top - ext[2] * 1000)
    coarse = ds["lst_1km"]
    coarse_title = "1 km input"
    if inside_x.sum() >= 2 and inside_y.sum() >= 2:  # same frame: the same window
        coarse = coarse.isel(xc=np.flatnonzero(inside_x), yc=np.flatnonzero(inside_y))
        xs, ys = coarse["xc"].values, coarse["yc"].values
        ext_c = [(xs.min() - dxc / 2 - left) / 1000, (xs.max() + dxc / 2 - left) / 1000,
                 (top - ys.min() + dyc / 2) / 1000, (top - ys.max() - dyc / 2) / 1000]
    else:  # another map frame (MODIS sinusoidal vs ASTER UTM): the whole field
        ext_c = _style.km_extent(coarse.shape, dxc)
        coarse_title = "1 km input (own frame)"
    ref = ds["reference"].values
    lim = _style.robust_limits([ref, ds["prediction"].values])
    elim = _style.symmetric_limit([ds["error"].values])
    im = axes[0, 0].imshow(ref, vmin=lim[0], vmax=lim[1], extent=ext, interpolation="nearest")
    axes[0, 0].set_title("ASTER (reference)" if "ASTER" in ds["reference"].attrs.get(
        "long_name", "") else "reference 250 m")
    axes[1, 0].imshow(coarse.values, vmin=lim[0], vmax=lim[1], extent=ext_c,
                      interpolation="nearest")
    axes[1, 0].set_title(coarse_title)
    for j, m in enumerate(methods, start=1):
        p = ds["prediction"].isel(method=j - 1).values
        e = ds["error"].isel(method=j - 1).values
        axes[0, j].imshow(p, vmin=lim[0], vmax=lim[1], extent=ext, interpolation="nearest")
        axes[0, j].set_title(_style.label(m), fontsize=8.5)
        ime = axes[1, j].imshow(e, cmap="RdBu_r", vmin=-elim, vmax=elim, extent=ext,
                                interpolation="nearest")
        axes[1, j].set_title(f"error (scene RMSE {rmse_scene[j - 1]:.2f} K)", fontsize=8)
    for ax in axes.ravel():
        ax.grid(False)
        ax.tick_params(labelsize=7)
    for ax in axes[1]:
        ax.set_xlabel("x (km)")
    axes[0, 0].set_ylabel("y (km)")
    axes[1, 0].set_ylabel("y (km)")
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, pad=0.01, label="LST (K)")
    fig.colorbar(ime, ax=axes[1].tolist(), shrink=0.8, pad=0.01,
                 label="prediction - reference (K)")
    fig.suptitle(f"scene {ds.attrs.get('scene', '')} ({ds.attrs.get('landscape', '')}), on the "
                 "reference grid" + ("; central 96 x 96 px shown" if zoom else ""), fontsize=9)
    return _style.save(fig, out, STEM, smoke)
