"""Per-tile sums of one scene: the kernels of :func:`scalelaws.landscapes.landscape_sums`.

Every function returns **sums and counts** per tile (never ratios), so that tiles, scenes and
calls add up exactly: structure-function sums of ``|X(p + l) - X(p)|^q`` (pairs along x and y
whose first end lies in the tile), pixel-weighted detail energies of ``2^k`` blocks into their
children, and centred LST-NDVI cross products of block means. :func:`_scene_task` is the one
``dask.delayed`` task per scene.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from scalelaws.core.aggregate import aggregate_blocks, block_sum, block_sums, covered
from scalelaws.errors import AllNaNError, InputError
from scalelaws.kernels.sf import pooled_tile_sums

__all__ = ["tile_sf_sums"]


def _check_q(q: float | Sequence[float]) -> np.ndarray:
    qs = np.atleast_1d(np.asarray(q, dtype=np.float64))
    if qs.size == 0 or not np.all(np.isfinite(qs)) or np.any(qs <= 0):
        raise InputError(f"orders q must be finite and > 0, got {list(qs)}")
    return qs


def tile_sf_sums(
    a: np.ndarray, lags: np.ndarray, q: Sequence[float], tile: int, *, parallel: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Structure-function sums per tile of the first end (pooled x and y).

    One call of the package's structure-function kernel
    (:func:`scalelaws.kernels.sf.pooled_tile_sums`) for every tile.

    Parameters
    ----------
    a
        2-D field, NaN = missing.
    lags
        Positive integer lags in pixels.
    q
        Orders (> 0).
    tile
        Tile size in pixels; the pair ``(p, p + l)`` is added to the tile holding ``p``.
    parallel
        Parallel over tiles (numba threads); ``False`` inside dask tasks. Same result.

    Returns
    -------
    sums : ndarray, shape (nty, ntx, n_lags, n_q)
    counts : ndarray, shape (nty, ntx, n_lags)
        Summed over the tiles they equal the whole field's pooled sums and pair counts.

    """
    lags = np.ascontiguousarray(lags, dtype=np.int64)
    return pooled_tile_sums(a, lags, _check_q(q), int(tile), parallel=parallel)


def _pyramid(val: np.ndarray, n_levels: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Sum valid values and counts in ``2^k`` blocks, ``k < n_levels``, each from the level below.

    Level ``k`` equals :func:`scalelaws.core.aggregate.block_sums` ``(val, 2**k)``.
    """
    ok = np.isfinite(val)
    out = [(np.where(ok, val, 0.0), ok.astype(np.float64))]
    for _ in range(1, n_levels):
        s, n = out[-1]
        out.append((block_sum(s, 2), block_sum(n, 2)))
    return out


def _tile_ids(shape: tuple[int, int], b: int, tile: int, ntx: int) -> np.ndarray:
    iy = (np.arange(shape[0]) * b) // tile
    ix = (np.arange(shape[1]) * b) // tile
    return (iy[:, None] * ntx + ix[None, :]).ravel()


def _detail_level(
    a: np.ndarray,
    k: int,
    tile: int,
    ntiles: tuple[int, int],
    max_missing: float,
    children: tuple[np.ndarray, np.ndarray] | None = None,
):
    """Pixel-weighted energy of the 2x2 children of each ``2^k`` block around the block mean.

    Returns per-tile ``(sum n_c (m_c - m_p)^2, sum n_c)`` for the parents (size ``2^k``) whose
    valid fraction is at least ``1 - max_missing`` and that have >= 2 valid children (each
    child also ``>= 1 - max_missing`` valid: the coverage rule
    :func:`scalelaws.core.aggregate.covered`). ``children``: ``block_sums(a, 2**(k - 1))`` when
    already computed (:func:`_pyramid`).
    """
    sc, nc = block_sums(a, 2 ** (k - 1)) if children is None else children
    py, px = sc.shape[0] // 2, sc.shape[1] // 2
    sc = sc[: 2 * py, : 2 * px].reshape(py, 2, px, 2)
    nc = nc[: 2 * py, : 2 * px].reshape(py, 2, px, 2)
    okc = covered(nc, 4.0 ** (k - 1), 1.0 - max_missing)
    mc = np.where(okc, sc / np.where(nc > 0, nc, 1.0), 0.0)
    wc = np.where(okc, nc, 0.0)
    wp = wc.sum(axis=(1, 3))
    nchild = okc.sum(axis=(1, 3))
    okp = covered(wp, 4.0**k, 1.0 - max_missing) & (nchild >= 2)
    mp = (wc * mc).sum(axis=(1, 3)) / np.where(wp > 0, wp, 1.0)
    e = (wc * (mc - mp[:, None, :, None]) ** 2).sum(axis=(1, 3))
    ids = _tile_ids((py, px), 2**k, tile, ntiles[1])
    nt = ntiles[0] * ntiles[1]
    es = np.bincount(ids, weights=np.where(okp, e, 0.0).ravel(), minlength=nt)
    ws = np.bincount(ids, weights=np.where(okp, wp, 0.0).ravel(), minlength=nt)
    return es, ws


def _regression_blocks(y: np.ndarray, x: np.ndarray, k: int, tile: int, ntx: int,
                       max_missing: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Block means ``2^k`` of ``y`` (LST) and ``x`` (NDVI) where both exist, and their tiles.

    Returns ``(my, mx, ids)``: the LST and NDVI means of the covered blocks and the tile
    index of each block.
    """
    # y and x share their missing pixels, hence their coverage
    ym = aggregate_blocks(y, 2**k, min_coverage=1.0 - max_missing)
    xm = aggregate_blocks(x, 2**k, min_coverage=1.0 - max_missing)
    ok = np.isfinite(ym) & np.isfinite(xm)
    ids = _tile_ids(ym.shape, 2**k, tile, ntx)[ok.ravel()]
    return ym[ok], xm[ok], ids


def _regression_level(y: np.ndarray, x: np.ndarray, k: int, tile: int, ntiles, max_missing: float):
    """Centred cross products of block means of ``y`` (LST) and ``x`` (NDVI) per tile."""
    my, mx, ids = _regression_blocks(y, x, k, tile, ntiles[1], max_missing)
    nt = ntiles[0] * ntiles[1]
    out = np.zeros((6, nt))
    if not my.size:
        return out
    dy = my - my.mean()
    dx = mx - mx.mean()
    for r, w in enumerate((np.ones_like(dx), dx, dy, dx * dx, dx * dy, dy * dy)):
        out[r] = np.bincount(ids, weights=w, minlength=nt)
    return out


def _regression_moments(y: np.ndarray, x: np.ndarray, k: int, tile: int, ntiles,
                        max_missing: float) -> np.ndarray:
    """Per-tile moments of the block means of :func:`_regression_level`, centred per tile.

    Rows ``n, sum x, sum y`` and the second moments ``xx, xy, yy`` about each tile's own
    means: a part of a scene (whose mean at this block size is not known yet) gives them, and
    :func:`_recentre_moments` turns the moments of all tiles into :func:`_regression_level`'s
    sums (Chan et al.'s pairwise update: no cancellation).
    """
    my, mx, ids = _regression_blocks(y, x, k, tile, ntiles[1], max_missing)
    nt = ntiles[0] * ntiles[1]
    out = np.zeros((6, nt))
    if not my.size:
        return out
    n = np.bincount(ids, minlength=nt).astype(np.float64)
    sx = np.bincount(ids, weights=mx, minlength=nt)
    sy = np.bincount(ids, weights=my, minlength=nt)
    with np.errstate(invalid="ignore", divide="ignore"):
        ax, ay = (sx / n)[ids], (sy / n)[ids]
    dx, dy = mx - ax, my - ay
    out[0], out[1], out[2] = n, sx, sy
    for r, w in ((3, dx * dx), (4, dx * dy), (5, dy * dy)):
        out[r] = np.bincount(ids, weights=w, minlength=nt)
    return out


def _recentre_moments(mom: np.ndarray) -> np.ndarray:
    """Per-tile sums of :func:`_regression_level` from :func:`_regression_moments`.

    ``mom`` has shape ``(6, n_tiles, ...)`` (every tile of a scene; trailing axes such as
    landscape and level are independent): the moments are re-centred on the scene means.
    """
    n, sx, sy = mom[0], mom[1], mom[2]
    tot = n.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        gx = np.where(tot > 0, sx.sum(axis=0) / tot, 0.0)
        gy = np.where(tot > 0, sy.sum(axis=0) / tot, 0.0)
        ex = np.where(n > 0, sx / np.where(n > 0, n, 1.0) - gx, 0.0)
        ey = np.where(n > 0, sy / np.where(n > 0, n, 1.0) - gy, 0.0)
    return np.stack([n, n * ex, n * ey, mom[3] + n * ex * ex, mom[4] + n * ex * ey,
                     mom[5] + n * ey * ey])


def _scene_sums(
    values: np.ndarray,
    masks: np.ndarray,
    ndvi: np.ndarray | None,
    lags: np.ndarray,
    qs: np.ndarray,
    tile: int,
    n_levels: int,
    max_missing: float,
    detail: bool = True,
) -> dict[str, np.ndarray]:
    """All sums of one scene (one dask task). ``masks`` has shape ``(L, ny, nx)``."""
    ny, nx = values.shape
    ntiles = (-(-ny // tile), -(-nx // tile))
    nt = ntiles[0] * ntiles[1]
    L = masks.shape[0]
    out = {"sf_sum": np.zeros((nt, L, qs.size, lags.size)), "sf_count": np.zeros((nt, L, lags.size)),
           "n_pixels": np.zeros((nt, L))}
    if detail:
        out.update(det_sum=np.zeros((nt, L, n_levels)), det_weight=np.zeros((nt, L, n_levels)))
    if ndvi is not None:
        out["reg"] = np.zeros((6, nt, L, n_levels))
    tid = _tile_ids((ny, nx), 1, tile, ntiles[1])
    for c in range(L):
        a = np.where(masks[c], values, np.nan)
        out["n_pixels"][:, c] = np.bincount(tid, weights=np.isfinite(a).ravel().astype(float),
                                            minlength=nt)
        if out["n_pixels"][:, c].sum() > 0:
            _landscape_sums(out, c, a, ndvi, lags, qs, tile, ntiles, n_levels, max_missing)
    return out


def _landscape_sums(
    out: dict[str, np.ndarray],
    c: int,
    a: np.ndarray,
    ndvi: np.ndarray | None,
    lags: np.ndarray,
    qs: np.ndarray,
    tile: int,
    ntiles: tuple[int, int],
    n_levels: int,
    max_missing: float,
) -> None:
    """Fill landscape ``c`` of the sums ``out`` of :func:`_scene_sums` (``a``: NaN outside it)."""
    nt = ntiles[0] * ntiles[1]
    s, n = tile_sf_sums(a, lags, qs, tile, parallel=False)  # inside a dask task
    out["sf_sum"][:, c] = s.reshape(nt, lags.size, qs.size).transpose(0, 2, 1)
    out["sf_count"][:, c] = n.reshape(nt, lags.size)
    if "det_sum" in out:
        pyr = _pyramid(a, n_levels - 1)
        for k in range(1, n_levels):
            out["det_sum"][:, c, k], out["det_weight"][:, c, k] = _detail_level(
                a, k, tile, ntiles, max_missing, children=pyr[k - 1]
            )
    if ndvi is not None:
        b = np.where(np.isfinite(ndvi), a, np.nan)
        x = np.where(np.isfinite(b), ndvi, np.nan)
        for k in range(n_levels):
            out["reg"][:, :, c, k] = _regression_level(b, x, k, tile, ntiles, max_missing)


def _scene_task(
    values: Any,
    mask_data: list[Any],
    ndvi: Any,
    lags: np.ndarray,
    qs: np.ndarray,
    tile: int,
    n_levels: int,
    max_missing: float,
    index: int,
    source: str | None,
    detail: bool = True,
) -> dict[str, np.ndarray]:
    """One dask task: materialise the scene, its masks and NDVI, then :func:`_scene_sums`.

    ``mask_data`` holds, per landscape, ``None`` (every pixel: :data:`ALL`), ``False`` (the
    landscape is absent from this scene) or a boolean array.
    """
    vals = np.asarray(values, dtype=np.float64)
    if not np.isfinite(vals).any():
        raise AllNaNError(f"scene {index} has no valid pixel", source)
    stack = np.zeros((len(mask_data),) + vals.shape, dtype=bool)
    for j, md in enumerate(mask_data):
        if md is None:
            stack[j] = True
        elif md is not False:
            stack[j] = np.asarray(md, dtype=bool)
    nv = None if ndvi is None else np.asarray(ndvi, dtype=np.float64)
    return _scene_sums(vals, stack, nv, lags, qs, tile, n_levels, max_missing, detail)

