"""Additive per-unit sums of every multiscale statistic, per landscape, and their bootstrap.

:func:`landscape_sums` is the single accumulation pass: for every scene, every spatial *unit*
(a tile of ``block_px`` x ``block_px`` pixels) and every landscape it returns **sums and counts**
(never ratios). Scenes are processed as one ``dask.delayed`` task each and gathered with
:func:`dask.compute`, so the same call runs on the threaded scheduler or, with no change, on a
``dask.distributed`` cluster when a ``Client`` is active. :func:`bootstrap_weights` resamples
the units.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import dask
import numpy as np
import xarray as xr

from scalelaws import cf
from scalelaws.errors import GridMismatchError, InputError, ScaleRangeError
from scalelaws.landscapes.classes import ALL, ClassesLike, class_masks
from scalelaws.landscapes.inputs import _as_scenes, _per_scene, _pixel_size, default_lags
from scalelaws.landscapes.tiles import _check_q, _scene_task

__all__ = ["bootstrap_weights", "landscape_sums"]

log = logging.getLogger(__name__)


def landscape_sums(
    lst: xr.DataArray | Sequence[xr.DataArray],
    classes: ClassesLike | Sequence[ClassesLike] = None,
    *,
    ndvi: xr.DataArray | Sequence[xr.DataArray] | None = None,
    q: Sequence[float] = (1, 2, 3, 4),
    lags: Sequence[int] | None = None,
    max_lag: int | None = None,
    block_px: int = 64,
    max_missing: float = 0.5,
    include_all: bool = True,
    detail: bool = True,
    scene_sums: Any = None,
) -> xr.Dataset:
    """Additive per-unit sums of every multiscale statistic, per landscape, for many scenes.

    Parameters
    ----------
    lst
        One field (``y, x``), a DataArray with a leading ``scene`` dim, or a list of fields.
        All scenes must share the pixel size (within 2 %): scales are compared in metres.
    classes
        Landscape definition for each scene: labels or a dict of boolean masks (see
        :func:`class_masks`), a list with one per scene, or ``None`` (only :data:`ALL`).
    ndvi
        Optional NDVI on the same grid as each LST scene (enables the LST-NDVI sums).
    q
        Structure-function orders.
    lags
        Integer lags in pixels (default :func:`default_lags` up to ``max_lag``).
    max_lag
        Largest lag in pixels (default a fifth of the smallest scene's shorter side).
    block_px
        Tile size of the bootstrap units, in pixels.
    max_missing
        A block mean (detail energies, LST-NDVI) exists when at most this fraction of its pixels
        is missing or outside the landscape (same meaning as in :func:`scalelaws.grids.coarsen`).
    include_all
        Add the pseudo-landscape :data:`ALL` (every valid pixel).
    detail
        Compute the detail energies ``det_sum`` / ``det_weight`` (``False`` leaves them out:
        about half the cost when only structure functions are needed).
    scene_sums
        Optional ``f(index, scene, mask_data, ndvi, lags, q, block_px, n_levels, max_missing,
        detail, names=landscapes)`` returning a ``dask.delayed`` dict of one scene's sums (or
        ``None`` for the default single task); ``mask_data`` has one entry per name of
        ``landscapes`` (``None`` for :data:`ALL`, ``False`` when absent from the scene, else
        the mask). :func:`scalelaws.stats.chunked.law_scene_sums` reads a raster larger than
        memory (and its classes and NDVI) block by block.

    Returns
    -------
    xarray.Dataset
        Dims ``unit`` (tiles of all scenes; coordinates ``scene`` and ``tile``), ``landscape``,
        ``q``, ``lag`` (coordinate ``lag_m``), ``level`` (block size ``2**level`` pixels,
        coordinate ``block_m``). Variables ``sf_sum(unit, landscape, q, lag)`` (sum of
        ``|dX|^q`` over pairs along x and y whose first end is in the unit), ``sf_count``,
        ``det_sum(unit, landscape, level)`` / ``det_weight`` (detail energy of blocks of size
        ``2**level`` into their four children, pixel weighted: ratio = variance of
        ``X_{l/2} - upsampled X_l``), ``n_pixels(unit, landscape)`` and, with NDVI,
        ``reg_n, reg_sx, reg_sy, reg_sxx, reg_sxy, reg_syy(unit, landscape, level)``: block-mean
        NDVI (x) and LST (y) centred on their scene mean at that block size. Every variable is a
        sum: add units (or concatenate calls) to pool.

    Raises
    ------
    InputError, GridMismatchError, AllNaNError, ScaleRangeError

    """
    scenes = _as_scenes(lst)
    n = len(scenes)
    cls = _per_scene(classes, n, "classes")
    nd = _per_scene(ndvi, n, "ndvi")
    if any(v is None for v in nd) and not all(v is None for v in nd):
        raise InputError("give NDVI for every scene or for none")
    qs = _check_q(q)
    if not 0.0 <= max_missing < 1.0:
        raise InputError(f"max_missing must be in [0, 1), got {max_missing}")
    if block_px < 4:
        raise InputError(f"block_px must be >= 4, got {block_px}")
    pixel = _common_pixel_size(scenes)
    lags_arr, n_levels = _lags_and_levels(scenes, lags, max_lag)
    names, per_scene_masks = _landscape_names(scenes, cls, include_all)
    args = (lags_arr, qs, int(block_px), n_levels, float(max_missing))
    tasks = [_scene_task_of(i, s, names, m, v, args, bool(detail), scene_sums)
             for i, (s, m, v) in enumerate(zip(scenes, per_scene_masks, nd, strict=True))]
    log.info("accumulating %d scene(s), %d landscape(s), %d lags", n, len(names), lags_arr.size)
    results = dask.compute(*tasks)
    ds = _sums_dataset(results, names, qs, lags_arr, n_levels, pixel, bool(detail),
                       nd[0] is not None)
    ds.attrs.update(
        pixel_size_m=pixel,
        block_px=int(block_px),
        max_missing=float(max_missing),
        n_scenes=n,
        sources="; ".join(str(s.attrs.get("source", f"scene {i}")) for i, s in enumerate(scenes)),
        units_lst=str(scenes[0].attrs.get("units", "K")),
    )
    return ds


def _common_pixel_size(scenes: list[xr.DataArray]) -> float:
    """Return the scenes' mean pixel size (m); ``GridMismatchError`` when one differs by over 2 %."""
    px = np.array([_pixel_size(s) for s in scenes])
    if np.any(np.abs(px / px[0] - 1.0) > 0.02):
        odd = int(np.argmax(np.abs(px / px[0] - 1.0)))
        raise GridMismatchError(
            f"scenes have different pixel sizes {sorted(set(np.round(px, 2)))} m (this scene: "
            f"{px[odd]:g} m, scene 0: {px[0]:g} m); scales are pooled in metres, so resample them "
            "to one pixel size first (scalelaws.grids.coarsen/align)",
            scenes[odd].attrs.get("source"),
        )
    return float(np.mean(px))


def _lags_and_levels(
    scenes: list[xr.DataArray], lags: Sequence[int] | None, max_lag: int | None
) -> tuple[np.ndarray, int]:
    """Return the lags (px) and the number of block levels that fit in the smallest scene."""
    short = min(min(s.shape) for s in scenes)
    smallest = scenes[int(np.argmin([min(s.shape) for s in scenes]))].attrs.get("source")
    if max_lag is None:
        max_lag = max(short // 5, 1)
    lags_arr = default_lags(int(max_lag)) if lags is None else np.unique(np.asarray(lags, np.int64))
    if lags_arr.size == 0 or lags_arr.min() < 1:
        raise ScaleRangeError(f"lags must be positive integers, got {lags}")
    if lags_arr.max() >= short:
        raise ScaleRangeError(
            f"largest lag {lags_arr.max()} px does not fit in the smallest scene ({short} px)",
            smallest,
        )
    n_levels = max(int(np.floor(np.log2(lags_arr.max()))) + 1, 2)
    return lags_arr, min(n_levels, int(np.floor(np.log2(short))) + 1)


def _landscape_names(
    scenes: list[xr.DataArray], cls: list[Any], include_all: bool
) -> tuple[list[str], list[dict[str, xr.DataArray]]]:
    """Names of every landscape of any scene (:data:`ALL` first) and each scene's masks."""
    names: list[str] = [ALL] if include_all else []
    per_scene_masks: list[dict[str, xr.DataArray]] = []
    for s, c in zip(scenes, cls, strict=True):
        m = class_masks(c, like=s) if c is not None else {}
        per_scene_masks.append(m)
        for k in m:
            if k not in names:
                names.append(k)
    if not names:
        raise InputError("no landscape: give classes or include_all=True")
    return names, per_scene_masks


def _scene_task_of(
    i: int,
    s: xr.DataArray,
    names: list[str],
    m: dict[str, xr.DataArray],
    v: xr.DataArray | None,
    args: tuple[np.ndarray, np.ndarray, int, int, float],
    detail: bool,
    scene_sums: Any,
) -> Any:
    """Return the ``dask.delayed`` sums of scene ``i`` (``args``: lags, q, tile, levels, max_missing)."""
    if v is not None and v.shape != s.shape:
        raise GridMismatchError(
            f"scene {i}: NDVI shape {v.shape} differs from LST shape {s.shape}; put NDVI "
            "on the LST grid first (scalelaws.grids.align)",
            s.attrs.get("source") or v.attrs.get("source"),
        )
    # pass the arrays as they are (numpy or dask): a dask-backed scene is read inside its
    # task (on a worker under dask.distributed), not in the calling process
    mask_data = [None if name == ALL else (m[name].data if name in m else False) for name in names]
    task = None if scene_sums is None else scene_sums(i, s, mask_data, v, *args, detail,
                                                      names=names)
    if task is not None:
        return task
    lags_arr, qs, tile, n_levels, max_missing = args
    return dask.delayed(_scene_task, pure=True)(
        s.data, mask_data, None if v is None else v.data, lags_arr, qs, tile, n_levels,
        max_missing, i, s.attrs.get("source"), detail,
    )


def _sums_dataset(
    results: Sequence[dict[str, np.ndarray]],
    names: list[str],
    qs: np.ndarray,
    lags_arr: np.ndarray,
    n_levels: int,
    pixel: float,
    detail: bool,
    with_ndvi: bool,
) -> xr.Dataset:
    """Concatenate the sums of every sceneenated along ``unit``, with their coordinates."""
    scene_idx = np.concatenate([np.full(r["n_pixels"].shape[0], i) for i, r in enumerate(results)])
    tile_idx = np.concatenate([np.arange(r["n_pixels"].shape[0]) for r in results])

    def cat(key: str, axis: int = 0) -> np.ndarray:
        return np.concatenate([r[key] for r in results], axis=axis)

    levels = np.arange(n_levels)
    ds = xr.Dataset(
        {
            "sf_sum": (("unit", "landscape", "q", "lag"), cat("sf_sum")),
            "sf_count": (("unit", "landscape", "lag"), cat("sf_count")),
            "n_pixels": (("unit", "landscape"), cat("n_pixels")),
        },
        coords={
            "unit": np.arange(scene_idx.size),
            "scene": ("unit", scene_idx),
            "tile": ("unit", tile_idx),
            "landscape": names,
            "q": qs,
            "lag": lags_arr,
            "lag_m": ("lag", lags_arr * pixel, cf.attrs("lag", "m")),
            "level": levels,
            "block_m": ("level", pixel * 2.0**levels, cf.attrs("block size", "m")),
        },
    )
    if detail:
        ds["det_sum"] = (("unit", "landscape", "level"), cat("det_sum"))
        ds["det_weight"] = (("unit", "landscape", "level"), cat("det_weight"))
    if with_ndvi:
        reg = cat("reg", axis=1)
        for r, key in enumerate(("reg_n", "reg_sx", "reg_sy", "reg_sxx", "reg_sxy", "reg_syy")):
            ds[key] = (("unit", "landscape", "level"), reg[r])
    ds["sf_sum"].attrs = cf.attrs("sum of |increment|^q over pairs (x and y)")
    ds["sf_count"].attrs = cf.attrs("number of valid pairs", "1")
    if detail:
        ds["det_sum"].attrs = cf.attrs(
            "pixel-weighted sum of squared child-minus-parent block means")
        ds["det_weight"].attrs = cf.attrs("number of pixels in the detail sums", "1")
    ds["n_pixels"].attrs = cf.attrs("valid pixels in the landscape", "1")
    return ds


def bootstrap_weights(
    sums: xr.Dataset, n_boot: int, *, unit: str = "auto", rng: np.random.Generator | int | None = None
) -> tuple[xr.DataArray, str]:
    """Multinomial resampling weights of the units of :func:`landscape_sums`.

    Parameters
    ----------
    sums
        Output of :func:`landscape_sums`.
    n_boot
        Number of replicates (>= 1).
    unit
        ``"scene"`` resamples whole scenes (independent scenes: the right choice with many),
        ``"tile"`` resamples tiles (spatial block bootstrap), ``"auto"``: scenes when there are
        at least 10, tiles otherwise.
    rng
        Generator or seed.

    Returns
    -------
    weights : xarray.DataArray, dims (replicate, unit)
        How many times each unit enters each replicate (a scene's tiles share its weight).
    unit : str
        The resampling unit used.

    """
    rng = np.random.default_rng(rng)
    if n_boot < 1:
        raise InputError(f"n_boot must be >= 1, got {n_boot}")
    scene = sums["scene"].values
    n_scenes = int(scene.max()) + 1
    if unit == "auto":
        unit = "scene" if n_scenes >= 10 else "tile"
    if unit == "scene":
        w = rng.multinomial(n_scenes, np.full(n_scenes, 1.0 / n_scenes), size=n_boot)[:, scene]
    elif unit == "tile":
        # only tiles that hold data are units (empty tiles would dilute nothing but cost draws)
        has = sums["n_pixels"].sum("landscape").values > 0
        idx = np.flatnonzero(has)
        w = np.zeros((n_boot, scene.size))
        w[:, idx] = rng.multinomial(idx.size, np.full(idx.size, 1.0 / idx.size), size=n_boot)
    else:
        raise InputError(f"bootstrap unit must be 'auto', 'scene' or 'tile', got {unit!r}")
    return xr.DataArray(w.astype(np.float64), dims=("replicate", "unit")), unit

