"""Structure functions with a spatial moving-block bootstrap.

Increments are summed within square tiles (no pair crosses a tile border) in one kernel call
for every tile; a replicate draws tiles with replacement (Kuensch 1989; Nordman, Lahiri &
Fridley 2007). :func:`bootstrap_structure_function` is the public entry;
:func:`_boot_from_sums` is shared with the chunked backend
(:mod:`scalelaws.stats.chunked`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from scalelaws.core.scales import log_lags
from scalelaws.errors import InputError, ScaleRangeError
from scalelaws.fit.inputs import RngLike, _as_field, _pixel_size, _rng
from scalelaws.fit.ols import MAX_SCALE_FRACTION

log = logging.getLogger(__name__)


def _sf(a: Any, qs: Sequence[float], lags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pooled (x and y) sums of ``|increment|**q`` and pair counts of whole fields.

    ``a`` is ``(y, x)`` or ``(n, y, x)`` (array or DataArray, spatial dims last); returns sums
    ``([n,] nq, nlag)`` and counts ``([n,] nlag)``, the numbers
    :func:`scalelaws.stats.structure.structure_function` divides (same kernel, same blocks),
    without its Dataset overhead.
    """
    from scalelaws.kernels.sf import pooled_sums

    arr = np.asarray(a.values if isinstance(a, xr.DataArray) else a, dtype=np.float64)
    qa = np.asarray(qs, dtype=np.float64)
    lead = arr.shape[:-2]
    sums = np.empty(lead + (qa.size, lags.size))
    cnt = np.empty(lead + (lags.size,))
    for idx in np.ndindex(*lead):
        s_, c_ = pooled_sums(arr[idx], lags, qa)
        sums[idx] = s_.T
        cnt[idx] = c_
    return sums, cnt


def _tile_sf(
    a: np.ndarray, qs: Sequence[float], lags: np.ndarray, B: int, ys: np.ndarray, xs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Sum ``|increment|**q`` and count the pairs inside each ``B``-px tile of ``ys x xs``.

    One call of :func:`scalelaws.kernels.sf.pooled_tile_sums` (no pair crosses a tile border);
    returns sums ``(ntiles, nq, nlag)`` and counts ``(ntiles, nlag)``, tiles in row-major order.
    """
    from scalelaws.kernels.sf import pooled_tile_sums

    ts, tc = pooled_tile_sums(np.asarray(a, dtype=np.float64), lags,
                              np.asarray(qs, dtype=np.float64), B, ys=ys, xs=xs, contained=True)
    nt = ys.size * xs.size
    return ts.reshape(nt, lags.size, len(qs)).transpose(0, 2, 1), tc.reshape(nt, lags.size)


def _tile_starts(n: int, block: int, stride: int) -> np.ndarray:
    starts = np.arange(0, n - block + 1, stride)
    if starts[-1] != n - block:  # always reach the far edge
        starts = np.append(starts, n - block)
    return starts


def _boot_core(
    da: xr.DataArray,
    qs: Sequence[float],
    lags: np.ndarray,
    B: int,
    stride: int,
    k: int,
    n_boot: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """Whole-field ``S``, counts, block-bootstrap replicates ``S_boot`` and tile corners."""
    ny, nx = da.shape
    sums, cnt = _sf(da, qs, lags)
    tile_sums = None
    if n_boot > 0:
        ys, xs = _tile_starts(ny, B, stride), _tile_starts(nx, B, stride)
        T_s, T_c = _tile_sf(da.values, qs, lags, B, ys, xs)  # every tile, one kernel call
        tile_sums = (ys, xs, T_s, T_c)
    return _boot_from_sums(sums, cnt, tile_sums, qs, lags, B, k, n_boot, rng,
                           da.attrs.get("source"))


def _boot_from_sums(
    sums: np.ndarray,
    cnt: np.ndarray,
    tile_sums: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None,
    qs: Sequence[float],
    lags: np.ndarray,
    B: int,
    k: int,
    n_boot: int,
    rng: np.random.Generator,
    source: Any = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """``S``, counts, ``S_boot`` and tile corners from whole-field and per-tile pair sums.

    ``tile_sums`` is ``(ys, xs, T_s, T_c)``: tile corners and the sums ``(ntiles, nq, nlag)``
    and counts ``(ntiles, nlag)`` of the pairs contained in each tile (row-major), or
    ``None`` without bootstrap. Shared by the in-memory and the chunked backends.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        S = np.where(cnt > 0, sums / cnt, np.nan)
    S_boot = np.empty((n_boot, len(qs), lags.size))
    tiles: list[tuple[int, int]] = []
    if n_boot > 0 and tile_sums is not None:
        ys, xs, T_s, T_c = tile_sums
        keep = T_c.sum(axis=1) > 0  # tiles without a valid pair are never drawn
        T_s, T_c = T_s[keep], T_c[keep]
        tiles = [(int(y0), int(x0)) for y0 in ys for x0 in xs]
        tiles = [t for t, kk in zip(tiles, keep, strict=True) if kk]
        n_cand = len(tiles)
        if n_cand < 2:
            raise ScaleRangeError(
                f"only {n_cand} tile(s) of {B} px hold valid pairs: too few for a bootstrap",
                source,
            )
        idx = rng.integers(0, n_cand, size=(n_boot, k))
        bs = T_s[idx].sum(axis=1)
        bc = T_c[idx].sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            S_boot = np.where(bc[:, None, :] > 0, bs / bc[:, None, :], np.nan)
        log.debug("block bootstrap: %d candidate tiles of %d px, %d per replicate, %d replicates",
                  n_cand, B, k, n_boot)
    return S, cnt, S_boot, tiles


def bootstrap_structure_function(
    da: xr.DataArray | np.ndarray,
    q: Sequence[float] = (1, 2, 3, 4),
    lags: Sequence[int] | None = None,
    *,
    n_boot: int = 200,
    block: int | None = None,
    stride: int | None = None,
    rng: RngLike = None,
) -> xr.Dataset:
    """Pooled structure functions with spatial moving-block bootstrap replicates.

    Square tiles of ``block`` px are taken every ``stride`` px in ``y`` and ``x`` (moving
    blocks; the last tile of each row/column is flush with the field's edge). For each tile
    the sums of ``|X(p + l) - X(p)|**q`` over the pairs lying *inside* the tile (no pair
    crosses a tile border) and their counts are computed in one call of the package's
    structure-function kernel for every tile (:func:`scalelaws.kernels.sf.pooled_tile_sums`,
    the kernel behind :func:`scalelaws.stats.structure.structure_function`). A bootstrap replicate draws, with
    replacement, as many tiles as fit without overlap in the field
    (``(ny // block) * (nx // block)``) and forms ``S_q(l) = sum(sums) / sum(counts)``.
    Tiles without any valid pair are never drawn. NaN pixels are handled by the counts.

    Parameters
    ----------
    da
        2-D field ``(y, x)``; NaN = missing. Plain arrays get a pixel size of 1.
    q
        Moment orders (> 0).
    lags
        Lags in pixels (positive integers). Default: powers of two up to a sixth of the
        field's smaller side.
    n_boot
        Number of bootstrap replicates (0: no replicate).
    block
        Tile side in pixels; default ``2 * max(lags)``. Must exceed ``max(lags)``.
    stride
        Spacing of the moving tiles; default ``max(1, block // 2)``.
    rng
        Generator or seed.

    Returns
    -------
    xarray.Dataset
        ``S(q, lag)`` from the whole field, ``count(lag)``, ``S_boot(boot, q, lag)``
        (replicates), coordinates ``q``, ``lag`` (px), ``lag_m`` (m); attrs ``block_px``,
        ``stride_px``, ``n_tiles_per_replicate``, ``n_candidate_tiles``, ``n_boot``.

    Raises
    ------
    scalelaws.errors.ScaleRangeError
        The block does not exceed the largest lag, or fewer than 4 tiles fit in the field.

    """
    da = _as_field(da)
    ny, nx = da.shape
    ps = _pixel_size(da)
    qs = [float(v) for v in np.atleast_1d(np.asarray(q, dtype=float))]
    if not qs or any(not (v > 0) for v in qs):
        raise InputError(f"moment orders must be positive, got {q!r}")
    if lags is None:
        top = int(min(ny, nx) * MAX_SCALE_FRACTION)
        if top < 1:
            raise ScaleRangeError(f"field {ny}x{nx} px is too small for structure functions",
                                  da.attrs.get("source"))
        lags_arr = log_lags(top, 1)  # dyadic: 1, 2, 4, ... <= top
    else:
        lags_arr = np.unique(np.asarray(lags, dtype=int))
    if lags_arr.size == 0 or lags_arr[0] < 1:
        raise InputError(f"lags must be positive integers, got {lags!r}")
    lmax = int(lags_arr[-1])
    B = int(block) if block is not None else 2 * lmax
    if B <= lmax:
        raise ScaleRangeError(f"block of {B} px must exceed the largest lag ({lmax} px)",
                              da.attrs.get("source"))
    k = (ny // B) * (nx // B)
    if k < 4:
        raise ScaleRangeError(
            f"field {ny}x{nx} px holds only {k} tile(s) of {B} px (largest lag {lmax} px); "
            "the block bootstrap needs at least 4: use smaller scales or a smaller block",
            da.attrs.get("source"),
        )
    s = int(stride) if stride is not None else max(1, B // 2)
    if s < 1:
        raise InputError(f"stride must be a positive integer, got {stride!r}")
    n_boot = int(n_boot)
    if n_boot < 0:
        raise InputError(f"n_boot must be >= 0, got {n_boot}")

    S, cnt, S_boot, tiles = _boot_core(da, qs, lags_arr, B, s, k, n_boot, _rng(rng))
    lag_m = lags_arr * ps
    coords = {
        "q": ("q", np.asarray(qs), {"long_name": "moment order", "units": "1"}),
        "lag": ("lag", lags_arr, {"long_name": "lag", "units": "px"}),
        "lag_m": ("lag", lag_m, {"long_name": "lag", "units": "m"}),
    }
    units = da.attrs.get("units", "1")
    ds = xr.Dataset(
        {
            "S": (("q", "lag"), S, {"long_name": "structure function <|dX|^q>",
                                     "units": f"({units})^q"}),
            "count": ("lag", cnt.astype(np.int64), {"long_name": "number of pairs",
                                                     "units": "1"}),
            "S_boot": (("boot", "q", "lag"), S_boot,
                       {"long_name": "structure function, block-bootstrap replicates",
                        "units": f"({units})^q"}),
        },
        coords=coords,
        attrs={
            "block_px": B,
            "stride_px": s,
            "n_tiles_per_replicate": k,
            "n_candidate_tiles": len(tiles),
            "n_boot": n_boot,
            "pixel_size_m": ps,
        },
    )
    return ds
