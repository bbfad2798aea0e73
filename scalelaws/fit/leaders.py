"""Log wavelet leaders and their joint-octave spatial block bootstrap.

The array-level pieces of the ``c1``, ``c2`` estimate of :func:`scalelaws.fit.fit_scaling`:
the log-leaders of a field (:func:`_log_leaders`), the whole-field ``c1``, ``c2``
(:func:`_wls_c12`) and their block bootstrap (:func:`_leader_block_bootstrap`, Wendt, Abry &
Jaffard 2007).
"""

from __future__ import annotations

import math

import numpy as np

from scalelaws.core.estimate import wls_slope


def _log_leaders(values: np.ndarray, n_oct: int, gamma: float,
                 wavelet: str = "db3") -> list[np.ndarray]:
    """Natural log of the wavelet leaders of octaves ``1..n_oct`` (NaN where invalid or 0).

    The same transform, masks, normalisation (``2**((gamma - 1) j)``) and leaders as
    :func:`scalelaws.stats.wavelets.wavelet_cascade` (its private helpers are reused), so the
    per-octave means and variances of these arrays are its ``C1(j)``, ``C2(j)``.
    """
    from scalelaws.kernels.leaders import leaders_numba
    from scalelaws.stats.wavelets import _dwt_octaves

    coefs, invs = _dwt_octaves(np.asarray(values, dtype=np.float64), wavelet, n_oct)
    factors = [2.0 ** ((gamma - 1.0) * j) for j in range(1, n_oct + 1)]
    out = []
    for lead in leaders_numba(coefs, invs, factors, None):
        with np.errstate(divide="ignore", invalid="ignore"):
            out.append(np.where(lead > 0, np.log(lead), np.nan))
    return out


def _block_sums(a: np.ndarray, y0: np.ndarray, x0: np.ndarray, b: int) -> np.ndarray:
    """Sum ``a`` over the ``b x b`` windows with corners ``(y0[i], x0[i])`` (integral image)."""
    ii = np.zeros((a.shape[0] + 1, a.shape[1] + 1))
    ii[1:, 1:] = a.cumsum(axis=0).cumsum(axis=1)
    y1, x1 = y0 + b, x0 + b
    return ii[y1, x1] - ii[y0, x1] - ii[y1, x0] + ii[y0, x0]


def _leader_block_bootstrap(
    logL: list[np.ndarray],
    j1: int,
    j2: int,
    gamma: float,
    n_boot: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Joint-octave spatial block bootstrap of log-leaders (Wendt, Abry & Jaffard 2007).

    Square blocks of ``b = 2**(j2 + 1)`` px (``2**j2`` when the field holds fewer than two
    such blocks), with corners every ``b / 2`` px on the grid of octave ``j2``, are mapped to
    every octave ``j`` of the fit as the ``b / 2**j``-leader squares covering the same
    pixels (exact: corners and sides are multiples of ``2**j2``). A replicate is a
    *pigeonhole* draw (Owen 2007): ``nr`` block rows and ``nc`` block columns drawn with
    replacement, and every block at a drawn row and a drawn column (the same blocks at every
    octave, so the dependence between octaves is kept). ``nr * nc = K`` blocks hold as many
    leaders of octave ``j1`` as the field (``nr / nc`` as the block grid). ``C1(j)``, ``C2(j)``
    (mean, unbiased variance) of the pooled log-leaders and the ``n(j)``-weighted slopes are
    recomputed; blocks without a valid leader add nothing.

    Why rows and columns: straight structures that cross the whole field (field boundaries,
    roads) make every block of a row or a column depend on the same few lines. Blocks drawn
    one by one treat them as independent. Drawing whole rows and columns keeps that crossed
    dependence in the replicates. On the cropland landscape (Poisson lines across the field,
    256^2, 100 fields) the ``c1`` interval covers 90 % instead of 83 %. On fBm, which has no
    such lines, the fBm calibration of the interval absorbs the difference (95 % instead of
    97 %).

    Returns the replicates of ``c1`` (``gamma`` removed) and ``c2``, the block side (px) and
    ``K``; empty replicates when fewer than two blocks hold valid leaders.
    """
    js = list(range(j1, j2 + 1))
    step = 2**j2
    ny2, nx2 = logL[j2 - 1].shape
    H_px, W_px = ny2 * step, nx2 * step  # pixels covered by the coarsest grid
    for b in (2 * step, step):
        if (H_px // b) * (W_px // b) >= 2:
            break
    stride = max(b // 2, step)
    ys = np.arange(0, H_px - b + 1, stride)
    xs = np.arange(0, W_px - b + 1, stride)
    Y0, X0 = (g.ravel() for g in np.meshgrid(ys, xs, indexing="ij"))
    nj = len(js)
    n = np.zeros((Y0.size, nj))
    s1 = np.zeros((Y0.size, nj))
    s2 = np.zeros((Y0.size, nj))
    mu = np.zeros(nj)
    n_field = np.zeros(nj)
    for i, j in enumerate(js):
        lj = logL[j - 1]
        ok = np.isfinite(lj)
        n_field[i] = ok.sum()
        mu[i] = lj[ok].mean() if ok.any() else 0.0
        d = np.where(ok, lj - mu[i], 0.0)  # centred: no cancellation in the pooled variance
        bj = b // 2**j
        n[:, i] = _block_sums(ok.astype(float), Y0 // 2**j, X0 // 2**j, bj)
        s1[:, i] = _block_sums(d, Y0 // 2**j, X0 // 2**j, bj)
        s2[:, i] = _block_sums(d * d, Y0 // 2**j, X0 // 2**j, bj)
    keep = n.sum(axis=1) > 0
    if keep.sum() < 2:
        return np.empty(0), np.empty(0), b, 0
    K = max(2, int(round(n_field[0] / max(n[keep, 0].mean(), 1e-12))))
    f = math.sqrt(K / (ys.size * xs.size))
    nr, nc = max(1, round(ys.size * f)), max(1, round(xs.size * f))
    rows = rng.integers(0, ys.size, size=(n_boot, nr))
    cols = rng.integers(0, xs.size, size=(n_boot, nc))
    idx = (rows[:, :, None] * xs.size + cols[:, None, :]).reshape(n_boot, nr * nc)
    N, S1, S2 = n[idx].sum(axis=1), s1[idx].sum(axis=1), s2[idx].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        C1 = mu + S1 / N
        C2 = (S2 - S1**2 / N) / (N - 1)
    w = np.where(N >= 3, N, 0.0)
    xj = np.asarray(js, dtype=float) * math.log(2.0)
    return wls_slope(xj, C1, w)[0] - gamma, wls_slope(xj, C2, w)[0], b, nr * nc


def _wls_c12(logL: list[np.ndarray], j1: int, j2: int, gamma: float) -> tuple[float, float]:
    """Whole-field ``c1``, ``c2`` from log-leaders.

    As :func:`scalelaws.stats.wavelets.fit_log_cumulants` computes them.
    """
    js = np.arange(j1, j2 + 1)
    C1, C2, n = np.full(js.size, np.nan), np.full(js.size, np.nan), np.zeros(js.size)
    for i, j in enumerate(js):
        v = logL[j - 1][np.isfinite(logL[j - 1])]
        n[i] = v.size
        if v.size >= 3:
            C1[i], C2[i] = v.mean(), v.var(ddof=1)
    w = np.where(n >= 3, n, 0.0)
    xj = js * math.log(2.0)
    return float(wls_slope(xj, C1, w)[0]) - gamma, float(wls_slope(xj, C2, w)[0])
