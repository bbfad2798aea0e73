"""numba kernels for 2-D wavelet leaders and their log-moments.

Wavelet leaders (Jaffard 2004; Wendt, Roux, Jaffard & Abry 2009) of a 2-D field are built
from the (L1-normalised, optionally fractionally integrated) detail coefficients
``d(j, k, m)`` of a discrete wavelet transform, octave ``j = 1`` (finest) to ``J``,
orientation ``m`` in {horizontal, vertical, diagonal}:

* ``D(j, k) = max_m |d(j, k, m)|``
* ``M(j, k) = max(D(j, k), max over the four children M(j-1, 2k + {0,1}^2))``: the supremum
  over the dyadic cube ``lambda(j, k)`` and every finer cube inside it;
* ``L(j, k) = max over the 3 x 3 neighbouring cubes k' of M(j, k')``.

``p``-leaders (Jaffard et al. 2016) replace the suprema by ``l^p`` sums with the weight
``2^{-2(j - j')}`` of a finer cube: ``M = D_p + (1/4) sum_children M`` with
``D_p = sum_m |d|^p`` and ``L = (sum_{3x3} M)^{1/p}``.

Invalid coefficients (their support touches a missing pixel or wraps around the edge of
the periodised transform) are NaN, and NaN propagates: a leader built from any invalid
coefficient, and a leader whose 3 x 3 neighbourhood leaves the array, is NaN.

Two implementations with the same result: :func:`leaders_numba` (one fused, row-parallel
pass per octave; the default) and :func:`leaders_numpy` (plain NumPy, the reference used by
the tests and the benchmark baseline).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence

import numba
import numpy as np

__all__ = ["leaders_numba", "leaders_numpy", "log_moments"]

Coefs = tuple[np.ndarray, np.ndarray, np.ndarray]

#: Arrays with fewer elements than this are processed on one thread. Waking the parallel
#: workers costs about 20 us on an idle machine but a scheduler time slice (measured: 25 ms
#: per parallel region on 2 busy cores, i.e. 0.7 s per 512 x 512 cascade instead of 0.04 s)
#: when the cores are shared, e.g. under ``pytest -n 2``; below this size one thread is at
#: most a few milliseconds slower.
PARALLEL_MIN_SIZE = 1 << 20


@contextlib.contextmanager
def _threads_for(size: int) -> Iterator[None]:
    """Run the enclosed numba calls on one thread when ``size < PARALLEL_MIN_SIZE``."""
    if size >= PARALLEL_MIN_SIZE:
        yield
        return
    old = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(old)


@numba.njit(parallel=True, nogil=True, cache=True, fastmath=True)
def _leader_level(ch, cv, cd, inv, factor, m_prev, bad_prev, has_prev, p):  # pragma: no cover
    """One octave: returns (M, bad, L) for detail arrays of shape (ny, nx).

    ``m_prev``/``bad_prev`` are M and its invalid flags at the next finer octave (shape
    >= (2 ny, 2 nx)); ``p <= 0`` selects leaders (suprema), ``p > 0`` p-leaders. Validity is
    carried in flags, not NaN, so the loops are branch-free; values under a set flag are
    never used (``fastmath`` is safe: valid coefficients are finite).
    """
    ny, nx = ch.shape
    m = np.empty((ny, nx), dtype=np.float64)
    bad = np.empty((ny, nx), dtype=np.uint8)
    lead = np.empty((ny, nx), dtype=np.float64)
    use_max = p <= 0.0
    fp = factor**p if not use_max else 1.0
    for i in numba.prange(ny):
        i2 = 2 * i
        for k in range(nx):
            a = abs(ch[i, k])
            b = abs(cv[i, k])
            c = abs(cd[i, k])
            flag = inv[i, k]
            if use_max:
                v = factor * max(a, max(b, c))
            else:
                v = fp * (a**p + b**p + c**p)
            if has_prev:
                k2 = 2 * k
                c00 = m_prev[i2, k2]
                c01 = m_prev[i2, k2 + 1]
                c10 = m_prev[i2 + 1, k2]
                c11 = m_prev[i2 + 1, k2 + 1]
                flag = flag | bad_prev[i2, k2] | bad_prev[i2, k2 + 1]
                flag = flag | bad_prev[i2 + 1, k2] | bad_prev[i2 + 1, k2 + 1]
                if use_max:
                    v = max(v, max(max(c00, c01), max(c10, c11)))
                else:
                    v = v + 0.25 * (c00 + c01 + c10 + c11)
            m[i, k] = v
            bad[i, k] = flag
    for i in numba.prange(ny):
        if i == 0 or i == ny - 1:
            for k in range(nx):
                lead[i, k] = np.nan
            continue
        lead[i, 0] = np.nan
        lead[i, nx - 1] = np.nan
        for k in range(1, nx - 1):
            flag = (bad[i - 1, k - 1] | bad[i - 1, k] | bad[i - 1, k + 1]
                    | bad[i, k - 1] | bad[i, k] | bad[i, k + 1]
                    | bad[i + 1, k - 1] | bad[i + 1, k] | bad[i + 1, k + 1])
            if use_max:
                acc = max(max(max(m[i - 1, k - 1], m[i - 1, k]), max(m[i - 1, k + 1], m[i, k - 1])),
                          max(max(m[i, k], m[i, k + 1]), max(m[i + 1, k - 1],
                                                             max(m[i + 1, k], m[i + 1, k + 1]))))
            else:
                acc = (m[i - 1, k - 1] + m[i - 1, k] + m[i - 1, k + 1] + m[i, k - 1] + m[i, k]
                       + m[i, k + 1] + m[i + 1, k - 1] + m[i + 1, k] + m[i + 1, k + 1])
                acc = acc ** (1.0 / p)
            lead[i, k] = np.nan if flag else acc
    return m, bad, lead


def _check(coefs: Sequence[Coefs], invalid: Sequence[np.ndarray], factors: Sequence[float]):
    if not (len(coefs) == len(invalid) == len(factors)):
        raise ValueError("coefs, invalid and factors must have one entry per octave")
    for j in range(1, len(coefs)):
        ny, nx = coefs[j][0].shape
        py, px = coefs[j - 1][0].shape
        if 2 * ny > py or 2 * nx > px:
            raise ValueError(
                f"octave {j + 1} has shape {(ny, nx)}: its children need {(2 * ny, 2 * nx)}, "
                f"but octave {j} has shape {(py, px)}"
            )


def _p_value(p_exp: float | None) -> float:
    if p_exp is None or math.isinf(p_exp):
        return -1.0
    if p_exp <= 0:
        raise ValueError(f"p_exp must be > 0 (or None/inf for leaders), got {p_exp}")
    return float(p_exp)


def leaders_numba(
    coefs: Sequence[Coefs],
    invalid: Sequence[np.ndarray],
    factors: Sequence[float],
    p_exp: float | None = None,
    return_state: bool = False,
) -> list[np.ndarray] | tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Wavelet leaders (or p-leaders) of every octave, numba implementation.

    Parameters
    ----------
    coefs
        Per octave, finest first, the three detail arrays ``(cH, cV, cD)`` of one shape.
        Octave ``j + 1`` must have at most half the rows and columns of octave ``j``.
        Valid coefficients must be finite (values under ``invalid`` are never used).
    invalid
        Per octave, a boolean array of the same shape: True where the coefficient's support
        touches missing data or the edge.
    factors
        Per octave, the factor applied to ``|d|`` (e.g. ``2**((gamma - 1) * j)`` for
        L1-normalised, fractionally integrated coefficients of an orthonormal DWT).
    p_exp
        ``None`` (or ``inf``) for leaders; a positive number for p-leaders.
    return_state
        Also return ``M`` and its invalid flags (uint8) at the last octave: the supremum over
        each cube and every finer cube inside it, from which coarser octaves continue
        (passing ``(M, M, M)``, the flags and factor 1 as the first octave of another call).

    Returns
    -------
    list of numpy.ndarray
        Leaders per octave (float64), NaN where invalid or on the one-cube border (with
        ``return_state``: ``(leaders, M, flags)``).

    """
    _check(coefs, invalid, factors)
    p = _p_value(p_exp)
    out = []
    m_prev = np.empty((0, 0), dtype=np.float64)
    bad_prev = np.empty((0, 0), dtype=np.uint8)
    for j, ((ch, cv, cd), inv, fac) in enumerate(zip(coefs, invalid, factors, strict=True)):
        with _threads_for(3 * ch.size):
            m_prev, bad_prev, lead = _leader_level(
                np.ascontiguousarray(ch, dtype=np.float64),
                np.ascontiguousarray(cv, dtype=np.float64),
                np.ascontiguousarray(cd, dtype=np.float64),
                np.ascontiguousarray(inv, dtype=np.bool_).view(np.uint8),
                float(fac),
                m_prev,
                bad_prev,
                j > 0,
                p,
            )
        out.append(lead)
    if return_state:
        return out, m_prev, bad_prev
    return out


def leaders_numpy(
    coefs: Sequence[Coefs],
    invalid: Sequence[np.ndarray],
    factors: Sequence[float],
    p_exp: float | None = None,
) -> list[np.ndarray]:
    """Compute the same as :func:`leaders_numba` in plain NumPy (the reference)."""
    _check(coefs, invalid, factors)
    p = _p_value(p_exp)
    out = []
    m_prev = None
    for (ch, cv, cd), inv, fac in zip(coefs, invalid, factors, strict=True):
        a, b, c = (np.abs(np.asarray(x, dtype=np.float64)) for x in (ch, cv, cd))
        ny, nx = a.shape
        if p <= 0:
            d = fac * np.maximum(np.maximum(a, b), c)
        else:
            d = fac**p * (a**p + b**p + c**p)
        d[np.asarray(inv, dtype=bool)] = np.nan
        if m_prev is not None:
            kids = m_prev[: 2 * ny, : 2 * nx].reshape(ny, 2, nx, 2)
            if p <= 0:
                d = np.maximum(d, kids.max(axis=(1, 3)))  # both propagate NaN
            else:
                d = d + 0.25 * kids.sum(axis=(1, 3))
        m_prev = d
        pad = np.full((ny + 2, nx + 2), np.nan)
        pad[1:-1, 1:-1] = d
        acc = None
        for di in range(3):
            for dk in range(3):
                s = pad[di : di + ny, dk : dk + nx]
                if acc is None:
                    acc = s.copy()
                elif p <= 0:
                    acc = np.maximum(acc, s)
                else:
                    acc = acc + s
        lead = acc if p <= 0 else acc ** (1.0 / p)  # NaN padding: border leaders are NaN
        out.append(lead)
    return out


@numba.njit(parallel=True, nogil=True, cache=True)
def _log_moments_kernel(a, inv, factor, qs):  # pragma: no cover - jitted
    ny, nx = a.shape
    nq = qs.size
    # pass 1: counts and mean log over positive values
    part1 = np.zeros((ny, 4))
    for i in numba.prange(ny):
        npos = 0.0
        nzero = 0.0
        slog = 0.0
        vmax = 0.0
        for k in range(nx):
            if inv[i, k]:
                continue
            v = abs(a[i, k]) * factor
            if math.isnan(v):
                continue
            if v > 0.0:
                npos += 1.0
                slog += math.log(v)
                if v > vmax:
                    vmax = v
            else:
                nzero += 1.0
        part1[i, 0] = npos
        part1[i, 1] = nzero
        part1[i, 2] = slog
        part1[i, 3] = vmax
    npos = part1[:, 0].sum()
    nzero = part1[:, 1].sum()
    vmax = part1[:, 3].max()
    mu = part1[:, 2].sum() / npos if npos > 0 else np.nan
    # pass 2: central moments of log and shifted power sums (v / e**mu)**q; integer orders
    # by repeated multiplication of one exponential, the others by exp(q * log).
    qint = np.empty(nq, dtype=np.int64)
    for iq in range(nq):
        qint[iq] = int(qs[iq]) if qs[iq] == math.floor(qs[iq]) and abs(qs[iq]) <= 8 else 0
    scale = math.exp(-mu) if npos > 0 else 1.0
    part2 = np.zeros((ny, 2 + nq))
    for i in numba.prange(ny):
        loc = np.zeros(2 + nq)  # row accumulators: no shared cache lines in the hot loop
        for k in range(nx):
            if inv[i, k]:
                continue
            v = abs(a[i, k]) * factor
            if not v > 0.0:  # NaN or zero
                continue
            e = math.log(v) - mu
            loc[0] += e * e
            loc[1] += e * e * e
            t = v * scale
            for iq in range(nq):
                m = qint[iq]
                if m == 0:
                    loc[2 + iq] += math.exp(qs[iq] * e)
                else:
                    r = t
                    for _ in range(abs(m) - 1):
                        r *= t
                    loc[2 + iq] += r if m > 0 else 1.0 / r
        part2[i, :] = loc
    tot = np.zeros(2 + nq)
    for i in range(ny):
        for c in range(2 + nq):
            tot[c] += part2[i, c]
    return npos, nzero, mu, vmax, tot


def log_moments(
    a: np.ndarray,
    q: Sequence[float] | np.ndarray,
    *,
    invalid: np.ndarray | None = None,
    factor: float = 1.0,
) -> dict[str, np.ndarray | float]:
    """Moments of ``factor * |a|`` and cumulants of its logarithm, in two fused passes.

    NaN entries and entries flagged by ``invalid`` are skipped. Exact zeros enter the
    positive-order moments (as 0) but not the logarithm nor the moments of order ``q <= 0``.

    Parameters
    ----------
    a
        2-D array of values (coefficients or leaders).
    q
        Moment orders.
    invalid
        Optional boolean mask of entries to skip.
    factor
        Multiplies ``|a|``.

    Returns
    -------
    dict
        ``n`` (valid positive values), ``n_zero``, ``log_S`` (natural log of the moments
        ``mean(v**q)``, one per ``q``), ``C1``, ``C2``, ``C3`` (unbiased k-statistics of
        ``log v``), ``max`` (largest value; 0 when none).

    """
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        a = a[None, :]
    if invalid is None:
        invalid = np.zeros(a.shape, dtype=np.bool_)
    qs = np.asarray(q, dtype=np.float64).ravel()
    with _threads_for(a.size):
        npos, nzero, mu, vmax, tot = _log_moments_kernel(
            np.ascontiguousarray(a), np.ascontiguousarray(invalid, dtype=np.bool_),
            float(factor), qs,
        )
    n = float(npos)
    with np.errstate(divide="ignore", invalid="ignore"):
        m2 = tot[0] / n if n > 0 else np.nan
        m3 = tot[1] / n if n > 0 else np.nan
        c2 = m2 * n / (n - 1) if n > 1 else np.nan
        c3 = m3 * n * n / ((n - 1) * (n - 2)) if n > 2 else np.nan
        denom = np.where(qs > 0, n + nzero, n)
        log_s = qs * mu + np.log(tot[2:] / denom)
    return {
        "n": int(npos),
        "n_zero": int(nzero),
        "log_S": log_s,
        "C1": mu,
        "C2": c2,
        "C3": c3,
        "max": float(vmax),
    }
