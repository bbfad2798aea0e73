"""numba kernels for structure functions (sums of powers of increments over lag offsets).

The single kernel :func:`sf_sums` handles every direction the statistics layer offers: a
direction is a list of lag offsets ``(dy, dx)`` with ``dy >= 0`` (x: ``(0, l)``; y: ``(l, 0)``;
the lag map: the half plane). For a first end ``(i, j)`` and an offset ``(dy, dx)`` the increment
is ``a[i + dy, j + dx] - a[i, j]``; a pair with a NaN end is skipped.

The kernel returns *sums* and *counts*, never ratios, so results from several scenes or several
chunks of one raster add up exactly. Only pairs whose first end lies in a given rectangle
``[i0, i1) x [j0, j1)`` are counted; the second end may lie anywhere in the array. A chunk of a
raster passed with a halo of the largest lag on its far sides therefore contributes exactly its own
pairs, and the chunks' sums add up to the whole raster's sums.

Speed. The work is one pass per (row of first ends, offset, column strip): the increments are
formed and their powers 1 to 4 (or 1 to 6) are built by repeated multiplication in registers
(``d2 = d*d``, ``d3 = d2*d``, ...; no ``pow`` call) and added to float64 accumulators, both
``|d|**k`` and ``d**k`` (the signed moments are nearly free). Integer powers above 6 cost one more
pass per two powers over a row buffer that stays in L1 cache; each non-integer order costs one
``|d|**q`` pass. The NaN test is not in the fast loop: a segment whose sum comes out NaN is
recomputed with the NaN-skipping loop, so NaN-free data pay nothing for it. Column strips keep
the rows that the largest lag reaches in L2 cache. Rows are split into a fixed number of blocks
processed in parallel (``prange``), each with private float64 accumulators summed at the end in a
fixed order: the result does not depend on the number of threads. The loops are compiled with
``fastmath={"reassoc", "contract"}`` only, which lets LLVM vectorise the reductions while NaN and
infinity keep their IEEE meaning.

Tiles. :func:`sf_sums_tiles` (and :func:`sf_sums_tiles_serial`) return the sums of every tile
of a grid of tiles in one call (parallel over tiles): per-tile sums for a spatial block
bootstrap (pairs contained in the tile) or for per-unit accumulation (pairs whose first end is
in the tile). :func:`pooled_tile_sums` and :func:`pooled_sums` are the Python helpers that pool
the x and y offsets; every structure-function sum of the package goes through this module.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = [
    "sf_sums",
    "sf_sums_serial",
    "sf_sums_tiles",
    "sf_sums_tiles_serial",
    "pooled_sums",
    "pooled_tile_sums",
    "pool_axes",
    "int_orders",
    "axis_offsets",
    "N_BLOCKS",
    "STRIP",
]

#: Number of row blocks the kernel splits the first ends into (fixed, so that the summation order
#: and hence the float rounding do not depend on the number of threads).
N_BLOCKS = 32

#: Default width (pixels) of the column strips of the cache blocking.
STRIP = 1024

_FM = {"reassoc", "contract"}


@njit(nogil=True, cache=True, fastmath=_FM, inline="always")
def _incr(ra, rb, t):  # pragma: no cover - compiled
    """Increment ``rb[t] - ra[t]`` with NaN -> 0, and its validity (0 or 1)."""
    r = rb[t] - ra[t]
    ok = r == r
    return (r if ok else 0.0), (1 if ok else 0)


@njit(nogil=True, cache=True, fastmath=_FM)
def _pass4(ra, rb, n, masked):  # pragma: no cover - compiled
    """Count and sums of powers 1-4 of the increments ``rb - ra`` of one row segment.

    One pass, nothing stored. Without ``masked`` NaN is not tested for (faster); the caller
    checks the returned ``sum |d|`` for NaN and then calls again with ``masked``.
    """
    c = 0
    s1 = 0.0
    t1 = 0.0
    s2 = 0.0
    s3 = 0.0
    t3 = 0.0
    s4 = 0.0
    if masked:
        for t in range(n):
            d, ok = _incr(ra, rb, t)
            c += ok
            d2 = d * d
            d3 = d2 * d
            s1 += abs(d)
            t1 += d
            s2 += d2
            s3 += abs(d3)
            t3 += d3
            s4 += d2 * d2
    else:
        c = n
        for t in range(n):
            d = rb[t] - ra[t]
            d2 = d * d
            d3 = d2 * d
            s1 += abs(d)
            t1 += d
            s2 += d2
            s3 += abs(d3)
            t3 += d3
            s4 += d2 * d2
    return c, s1, t1, s2, s3, t3, s4


@njit(nogil=True, cache=True, fastmath=_FM)
def _pass6(ra, rb, n, masked):  # pragma: no cover - compiled
    """Count and sums of powers 1-6 of the increments of one row segment (see :func:`_pass4`)."""
    c = 0
    s1 = 0.0
    t1 = 0.0
    s2 = 0.0
    s3 = 0.0
    t3 = 0.0
    s4 = 0.0
    s5 = 0.0
    t5 = 0.0
    s6 = 0.0
    if masked:
        for t in range(n):
            d, ok = _incr(ra, rb, t)
            c += ok
            d2 = d * d
            d3 = d2 * d
            d5 = d3 * d2
            s1 += abs(d)
            t1 += d
            s2 += d2
            s3 += abs(d3)
            t3 += d3
            s4 += d2 * d2
            s5 += abs(d5)
            t5 += d5
            s6 += d3 * d3
    else:
        c = n
        for t in range(n):
            d = rb[t] - ra[t]
            d2 = d * d
            d3 = d2 * d
            d5 = d3 * d2
            s1 += abs(d)
            t1 += d
            s2 += d2
            s3 += abs(d3)
            t3 += d3
            s4 += d2 * d2
            s5 += abs(d5)
            t5 += d5
            s6 += d3 * d3
    return c, s1, t1, s2, s3, t3, s4, s5, t5, s6


@njit(nogil=True, cache=True, fastmath=_FM)
def _pass6_store(ra, rb, n, buf, pw):  # pragma: no cover - compiled
    """Do :func:`_pass6` (masked) and store the row for the later passes.

    ``d`` (NaN -> 0) goes to ``buf`` and ``d**6`` to ``pw`` (for integer powers above 6 and
    non-integer orders).
    """
    c = 0
    s1 = 0.0
    t1 = 0.0
    s2 = 0.0
    s3 = 0.0
    t3 = 0.0
    s4 = 0.0
    s5 = 0.0
    t5 = 0.0
    s6 = 0.0
    for t in range(n):
        d, ok = _incr(ra, rb, t)
        c += ok
        d2 = d * d
        d3 = d2 * d
        d5 = d3 * d2
        d6 = d3 * d3
        s1 += abs(d)
        t1 += d
        s2 += d2
        s3 += abs(d3)
        t3 += d3
        s4 += d2 * d2
        s5 += abs(d5)
        t5 += d5
        s6 += d6
        buf[t] = d
        pw[t] = d6
    return c, s1, t1, s2, s3, t3, s4, s5, t5, s6


@njit(nogil=True, cache=True, fastmath=_FM)
def _pass_pair(buf, pw, n):  # pragma: no cover - compiled
    """Advance ``pw = d**(2m)`` to ``d**(2m+2)`` in place.

    Returns the sums of ``|d|^(2m+1)``, ``d^(2m+1)`` and ``d^(2m+2)``.
    """
    sa = 0.0
    ta = 0.0
    sb = 0.0
    for t in range(n):
        d = buf[t]
        p = pw[t] * d
        p2 = p * d
        sa += abs(p)
        ta += p
        sb += p2
        pw[t] = p2
    return sa, ta, sb


@njit(nogil=True, cache=True, fastmath=_FM)
def _sum_pow(buf, n, q):  # pragma: no cover - compiled
    """``sum |buf|**q`` for real ``q > 0`` (zeros, i.e. skipped pairs, contribute 0)."""
    s = 0.0
    for t in range(n):
        s += abs(buf[t]) ** q
    return s


@njit(nogil=True, cache=True, fastmath=_FM)
def _block(a, r0, r1, j0, j1, yend, xbeg, xend, dys, dxs, qr, P, first6, store, strip, acc):  # pragma: no cover
    """Accumulate into ``acc[K, W]`` the sums of the first ends in rows ``[r0, r1)``.

    First ends lie in columns ``[j0, j1)``; second ends must lie in rows ``< yend`` and
    columns ``[xbeg, xend)`` (the whole array for :func:`sf_sums`, the tile for the
    ``contained`` tiles of :func:`sf_sums_tiles`).
    """
    K = dys.shape[0]
    R = qr.shape[0]
    PP = max(P, 6)
    W = acc.shape[1]
    nextra = (P - 6) // 2 if P > 6 else 0
    buf = np.empty(strip)
    pw = np.empty(strip)
    for c0 in range(j0, j1, strip):
        c1 = min(c0 + strip, j1)
        for i in range(r0, r1):
            for k in range(K):
                dy = dys[k]
                dx = dxs[k]
                ib = i + dy
                if ib >= yend:
                    continue
                jlo = max(c0, xbeg - dx)
                jhi = min(c1, xend - dx)
                n = jhi - jlo
                if n <= 0:
                    continue
                ra = a[i, jlo:jhi]
                rb = a[ib, jlo + dx : jhi + dx]
                if store:
                    c, s1, t1, s2, s3, t3, s4, s5, t5, s6 = _pass6_store(ra, rb, n, buf, pw)
                elif first6:
                    c, s1, t1, s2, s3, t3, s4, s5, t5, s6 = _pass6(ra, rb, n, False)
                    if s1 != s1:  # a NaN increment (or inf - inf): redo, skipping NaN pairs
                        c, s1, t1, s2, s3, t3, s4, s5, t5, s6 = _pass6(ra, rb, n, True)
                else:
                    c, s1, t1, s2, s3, t3, s4 = _pass4(ra, rb, n, False)
                    if s1 != s1:
                        c, s1, t1, s2, s3, t3, s4 = _pass4(ra, rb, n, True)
                    s5 = 0.0
                    t5 = 0.0
                    s6 = 0.0
                acc[k, W - 1] += c
                acc[k, 0] += s1
                acc[k, 1] += s2
                acc[k, 2] += s3
                acc[k, 3] += s4
                acc[k, 4] += s5
                acc[k, 5] += s6
                acc[k, PP] += t1
                acc[k, PP + 1] += s2
                acc[k, PP + 2] += t3
                acc[k, PP + 3] += s4
                acc[k, PP + 4] += t5
                acc[k, PP + 5] += s6
                if c == 0:
                    continue
                for h in range(nextra):
                    sa, ta, sb = _pass_pair(buf, pw, n)
                    e = 6 + 2 * h  # 0-based index of power 7 + 2h
                    acc[k, e] += sa
                    acc[k, e + 1] += sb
                    acc[k, PP + e] += ta
                    acc[k, PP + e + 1] += sb
                for m in range(R):
                    acc[k, 2 * PP + m] += _sum_pow(buf, n, qr[m])


@njit(nogil=True, cache=True)
def _plan(qs, qi):  # pragma: no cover - compiled
    """Plan the passes for the orders ``qs``.

    Returns the highest even integer power accumulated ``P``, ``PP = max(P, 6)``, the non-integer
    orders ``qr``, and whether the first pass goes to power 6 and stores its rows.
    """
    Q = qs.shape[0]
    P = 4
    R = 0
    for m in range(Q):
        if qi[m] > P:
            P = qi[m]
        if qi[m] < 0:
            R += 1
    P = P + (P % 2)
    qr = np.empty(R)
    r = 0
    for m in range(Q):
        if qi[m] < 0:
            qr[r] = qs[m]
            r += 1
    first6 = P > 4 or R > 0
    store = P > 6 or R > 0
    return P, max(P, 6), qr, first6, store


@njit(nogil=True, cache=True)
def _finish(acc, qs, qi, PP):  # pragma: no cover - compiled
    """Sum the per-block accumulators (fixed order) and pick the requested orders."""
    nb, K, W = acc.shape
    Q = qs.shape[0]
    tab = np.zeros((K, W))
    for b in range(nb):
        tab += acc[b]
    out = np.empty((K, 2 * Q + 1))
    r = 0
    for m in range(Q):
        if qi[m] > 0:
            out[:, m] = tab[:, qi[m] - 1]
            out[:, Q + m] = tab[:, PP + qi[m] - 1]
        else:
            out[:, m] = tab[:, 2 * PP + r]
            out[:, Q + m] = np.nan
            r += 1
    out[:, 2 * Q] = tab[:, W - 1]
    return out


@njit(parallel=True, nogil=True, cache=True)
def sf_sums(a, i0, i1, j0, j1, dys, dxs, qs, qi, nblocks, strip):  # pragma: no cover - compiled
    """Sum powers of increments over a list of lag offsets (parallel over row blocks).

    Parameters
    ----------
    a : ndarray of float64, shape (ny, nx)
        The field (NaN = missing). C-contiguous.
    i0, i1, j0, j1 : int
        First ends ``(i, j)`` run over ``i0 <= i < i1``, ``j0 <= j < j1``.
    dys, dxs : ndarray of int64, shape (K,)
        Lag offsets; ``dys >= 0``. Second ends outside the array are skipped.
    qs : ndarray of float64, shape (Q,)
        Orders, all ``> 0``.
    qi : ndarray of int64, shape (Q,)
        ``qi[m] = qs[m]`` when ``qs[m]`` is an integer, else ``-1``.
    nblocks : int
        Number of row blocks (units of parallel work, each with private accumulators). The
        result does not depend on the number of threads, only on ``nblocks``.
    strip : int
        Width of the column strips (cache blocking: the row segments that the largest lag
        reaches stay in L2 cache).

    Returns
    -------
    ndarray of float64, shape (K, 2 Q + 1)
        ``[:, :Q]`` sums of ``|d|**q``; ``[:, Q:2Q]`` sums of ``d**q`` (NaN for non-integer q);
        ``[:, 2Q]`` number of valid pairs.

    """
    P, PP, qr, first6, store = _plan(qs, qi)
    ny, nx = a.shape
    K = dys.shape[0]
    W = 2 * PP + qr.shape[0] + 1  # abs sums 1..PP, signed sums 1..PP, non-integer sums, count
    nrows = max(i1 - i0, 0)
    nb = max(1, min(nblocks, nrows))
    strip = max(strip, 16)
    acc = np.zeros((nb, K, W))
    for b in prange(nb):
        r0 = i0 + (b * nrows) // nb
        r1 = i0 + ((b + 1) * nrows) // nb
        _block(a, r0, r1, j0, j1, ny, 0, nx, dys, dxs, qr, P, first6, store, strip, acc[b])
    return _finish(acc, qs, qi, PP)


@njit(nogil=True, cache=True)
def sf_sums_serial(a, i0, i1, j0, j1, dys, dxs, qs, qi, nblocks, strip):  # pragma: no cover
    """:func:`sf_sums` on the calling thread only (for dask tasks, which run in parallel).

    Same arguments, same result to the last bit (same blocks, same summation order).
    """
    P, PP, qr, first6, store = _plan(qs, qi)
    ny, nx = a.shape
    K = dys.shape[0]
    W = 2 * PP + qr.shape[0] + 1
    nrows = max(i1 - i0, 0)
    nb = max(1, min(nblocks, nrows))
    strip = max(strip, 16)
    acc = np.zeros((nb, K, W))
    for b in range(nb):
        r0 = i0 + (b * nrows) // nb
        r1 = i0 + ((b + 1) * nrows) // nb
        _block(a, r0, r1, j0, j1, ny, 0, nx, dys, dxs, qr, P, first6, store, strip, acc[b])
    return _finish(acc, qs, qi, PP)


# ----------------------------------------------------------------------------------------------
# tiles: one call for the sums of every tile of a grid
# ----------------------------------------------------------------------------------------------


@njit(nogil=True, cache=True)
def _tile(a, y0, x0, th, tw, contained, dys, dxs, qr, P, first6, store, strip, acc):  # pragma: no cover
    """Add the sums of tile ``[y0, y0 + th) x [x0, x0 + tw)`` (clipped to ``a``) to ``acc[K, W]``."""
    ny, nx = a.shape
    y1 = min(y0 + th, ny)
    x1 = min(x0 + tw, nx)
    if y1 <= y0 or x1 <= x0:
        return
    if contained:
        _block(a, y0, y1, x0, x1, y1, x0, x1, dys, dxs, qr, P, first6, store, strip, acc)
    else:
        _block(a, y0, y1, x0, x1, ny, 0, nx, dys, dxs, qr, P, first6, store, strip, acc)


@njit(nogil=True, cache=True)
def _tiles_finish(acc, nty, ntx, qs, qi, PP):  # pragma: no cover - compiled
    """``(nty * ntx, K, W)`` accumulators -> ``(nty, ntx, K, 2Q + 1)`` results."""
    K = acc.shape[1]
    out = np.empty((nty, ntx, K, 2 * qs.shape[0] + 1))
    for t in range(nty * ntx):
        out[t // ntx, t % ntx] = _finish(acc[t : t + 1], qs, qi, PP)
    return out


@njit(parallel=True, nogil=True, cache=True)
def sf_sums_tiles(a, ys, xs, th, tw, contained, dys, dxs, qs, qi, strip):  # pragma: no cover
    """:func:`sf_sums` for every tile of a grid of tiles, in one call (parallel over tiles).

    Tile ``(u, v)`` is the rectangle ``[ys[u], ys[u] + th) x [xs[v], xs[v] + tw)`` clipped to
    the array; the pairs counted for it are those whose first end lies in the tile, and, with
    ``contained``, whose second end lies in the tile too (no pair crosses the tile's border:
    the tiles of a block bootstrap, which may overlap). Without ``contained`` the second end may
    lie anywhere in the array, so a partition of the array into tiles gives sums that add up to
    the whole array's sums.

    Parameters
    ----------
    a : ndarray of float64, shape (ny, nx)
        The field (NaN = missing). C-contiguous.
    ys, xs : ndarray of int64, shape (nty,), (ntx,)
        Row and column of the tiles' first corners (tiles may overlap, any order).
    th, tw : int
        Tile height and width (pixels).
    contained : bool
        Count only the pairs with both ends in the tile.
    dys, dxs, qs, qi, strip
        As in :func:`sf_sums`.

    Returns
    -------
    ndarray of float64, shape (nty, ntx, K, 2 Q + 1)
        Per tile, the columns of :func:`sf_sums`. Each tile is summed as one row block: the
        result for a tile equals, to the last bit, ``sf_sums_serial`` called with the tile as
        the rectangle ``i0, i1, j0, j1`` (on the tile copied out of the array with
        ``contained``) and ``nblocks=1``; it does not depend on the number of threads.

    """
    P, PP, qr, first6, store = _plan(qs, qi)
    K = dys.shape[0]
    W = 2 * PP + qr.shape[0] + 1
    nty = ys.shape[0]
    ntx = xs.shape[0]
    strip = max(strip, 16)
    acc = np.zeros((nty * ntx, K, W))
    for t in prange(nty * ntx):
        _tile(a, ys[t // ntx], xs[t % ntx], th, tw, contained, dys, dxs, qr, P, first6, store,
              strip, acc[t])
    return _tiles_finish(acc, nty, ntx, qs, qi, PP)


@njit(nogil=True, cache=True)
def sf_sums_tiles_serial(a, ys, xs, th, tw, contained, dys, dxs, qs, qi, strip):  # pragma: no cover
    """:func:`sf_sums_tiles` on the calling thread only (dask tasks); same result to the bit."""
    P, PP, qr, first6, store = _plan(qs, qi)
    K = dys.shape[0]
    W = 2 * PP + qr.shape[0] + 1
    nty = ys.shape[0]
    ntx = xs.shape[0]
    strip = max(strip, 16)
    acc = np.zeros((nty * ntx, K, W))
    for t in range(nty * ntx):
        _tile(a, ys[t // ntx], xs[t % ntx], th, tw, contained, dys, dxs, qr, P, first6, store,
              strip, acc[t])
    return _tiles_finish(acc, nty, ntx, qs, qi, PP)


# ----------------------------------------------------------------------------------------------
# Python helpers shared by the statistics layer (argument preparation, x/y pooling)
# ----------------------------------------------------------------------------------------------


def int_orders(qs: np.ndarray) -> np.ndarray:
    """Return the kernels' ``qi``: ``q`` as int64 where an integer in ``[1, 1024]``, else -1."""
    qs = np.asarray(qs, dtype=np.float64)
    isint = (qs == np.round(qs)) & (qs >= 1) & (qs <= 1024)
    return np.where(isint, np.round(qs), -1).astype(np.int64)


def axis_offsets(lags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Offsets ``(dys, dxs)`` of the lags along x (rows ``0..K-1``) then along y (``K..2K-1``)."""
    lags = np.asarray(lags, dtype=np.int64)
    zeros = np.zeros_like(lags)
    return np.concatenate([zeros, lags]), np.concatenate([lags, zeros])


def _as_kernel_array(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.float64)
    if not a.flags.writeable:  # one compiled signature for every caller (numba types r/o)
        a = a.copy()
    return a


def pool_axes(raw: np.ndarray, n_orders: int) -> tuple[np.ndarray, np.ndarray]:
    """Pool the x and y offsets of kernel output computed with :func:`axis_offsets`.

    Parameters
    ----------
    raw
        Kernel output ``(..., 2K, 2Q + 1)``: the ``K`` lags along x, then along y.
    n_orders
        ``Q``, the number of orders.

    Returns
    -------
    sums : ndarray, shape (..., K, Q)
    counts : ndarray, shape (..., K)

    """
    K, Q = raw.shape[-2] // 2, int(n_orders)
    return (raw[..., :K, :Q] + raw[..., K:, :Q],
            raw[..., :K, 2 * Q] + raw[..., K:, 2 * Q])


def pooled_sums(
    a: np.ndarray, lags: np.ndarray, qs: np.ndarray, *, parallel: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Sum ``|dX|**q`` over the pairs along x and y (pooled) of a whole 2-D field.

    Parameters
    ----------
    a
        2-D field, NaN = missing.
    lags
        Positive integer lags (pixels), each smaller than both sides.
    qs
        Orders (> 0).
    parallel
        Use :func:`sf_sums` (else :func:`sf_sums_serial`, for dask tasks); same result.

    Returns
    -------
    sums : ndarray, shape (K, Q)
    counts : ndarray, shape (K,)
        The same numbers as :func:`scalelaws.stats.structure.structure_function` with
        ``direction="pooled"`` before its division (``N_BLOCKS`` row blocks).

    """
    qs = np.asarray(qs, dtype=np.float64)
    dys, dxs = axis_offsets(lags)
    ny, nx = np.shape(a)
    kern = sf_sums if parallel else sf_sums_serial
    raw = kern(_as_kernel_array(a), 0, ny, 0, nx, dys, dxs, qs, int_orders(qs), N_BLOCKS, STRIP)
    return pool_axes(raw, qs.size)


def pooled_tile_sums(
    a: np.ndarray,
    lags: np.ndarray,
    qs: np.ndarray,
    tile: int,
    *,
    ys: np.ndarray | None = None,
    xs: np.ndarray | None = None,
    contained: bool = False,
    parallel: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Pooled (x and y) sums of ``|dX|**q`` per tile, for a grid of tiles, in one kernel call.

    Parameters
    ----------
    a
        2-D field, NaN = missing.
    lags
        Positive integer lags (pixels).
    qs
        Orders (> 0).
    tile
        Tile side (pixels); tiles at the far edges are clipped to the field.
    ys, xs
        First rows / columns of the tiles (default: the partition ``0, tile, 2 tile, ...``).
    contained
        Count only the pairs with both ends in the tile (see :func:`sf_sums_tiles`); otherwise
        the pair ``(p, p + l)`` goes to the tile holding ``p``.
    parallel
        Use :func:`sf_sums_tiles` (else :func:`sf_sums_tiles_serial`, for dask tasks); same
        result to the bit.

    Returns
    -------
    sums : ndarray, shape (nty, ntx, K, Q)
    counts : ndarray, shape (nty, ntx, K)

    """
    a = _as_kernel_array(a)
    qs = np.asarray(qs, dtype=np.float64)
    ny, nx = a.shape
    tile = int(tile)
    ys = np.arange(0, ny, tile, dtype=np.int64) if ys is None else np.asarray(ys, np.int64)
    xs = np.arange(0, nx, tile, dtype=np.int64) if xs is None else np.asarray(xs, np.int64)
    dys, dxs = axis_offsets(lags)
    kern = sf_sums_tiles if parallel else sf_sums_tiles_serial
    raw = kern(a, ys, xs, tile, tile, bool(contained), dys, dxs, qs, int_orders(qs), STRIP)
    return pool_axes(raw, qs.size)
