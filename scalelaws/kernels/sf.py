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
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["sf_sums", "sf_sums_serial", "N_BLOCKS", "STRIP"]

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
def _block(a, r0, r1, j0, j1, dys, dxs, qr, P, first6, store, strip, acc):  # pragma: no cover
    """Accumulate into ``acc[K, W]`` the sums of the first ends in rows ``[r0, r1)``."""
    ny, nx = a.shape
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
                if ib >= ny:
                    continue
                jlo = max(c0, -dx)
                jhi = min(c1, nx - dx)
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
    K = dys.shape[0]
    W = 2 * PP + qr.shape[0] + 1  # abs sums 1..PP, signed sums 1..PP, non-integer sums, count
    nrows = max(i1 - i0, 0)
    nb = max(1, min(nblocks, nrows))
    strip = max(strip, 16)
    acc = np.zeros((nb, K, W))
    for b in prange(nb):
        r0 = i0 + (b * nrows) // nb
        r1 = i0 + ((b + 1) * nrows) // nb
        _block(a, r0, r1, j0, j1, dys, dxs, qr, P, first6, store, strip, acc[b])
    return _finish(acc, qs, qi, PP)


@njit(nogil=True, cache=True)
def sf_sums_serial(a, i0, i1, j0, j1, dys, dxs, qs, qi, nblocks, strip):  # pragma: no cover
    """:func:`sf_sums` on the calling thread only (for dask tasks, which run in parallel).

    Same arguments, same result to the last bit (same blocks, same summation order).
    """
    P, PP, qr, first6, store = _plan(qs, qi)
    K = dys.shape[0]
    W = 2 * PP + qr.shape[0] + 1
    nrows = max(i1 - i0, 0)
    nb = max(1, min(nblocks, nrows))
    strip = max(strip, 16)
    acc = np.zeros((nb, K, W))
    for b in range(nb):
        r0 = i0 + (b * nrows) // nb
        r1 = i0 + ((b + 1) * nrows) // nb
        _block(a, r0, r1, j0, j1, dys, dxs, qr, P, first6, store, strip, acc[b])
    return _finish(acc, qs, qi, PP)
