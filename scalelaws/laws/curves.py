"""Smooth curves of the law: weighted polynomials in ``u = ln(l / l_ref)``.

``ln S_q`` and ``ln D`` are fitted by weighted least squares with a polynomial of low degree in
log-scale (weights = inverse bootstrap variance at each scale, :func:`_fit_curve`) and
evaluated by :class:`_Poly`, which continues the curve linearly (constant exponent) outside
the fitted range.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

#: Relative tolerance (in ln scale) before a scale counts as outside the fitted range.
OUTSIDE_TOL = 1e-3


def _vander(u: np.ndarray, deg: int) -> np.ndarray:
    return np.stack([u**p for p in range(deg + 1)], axis=-1)


def _dvander(u: np.ndarray, deg: int) -> np.ndarray:
    cols = [np.zeros_like(u)] + [p * u ** (p - 1) for p in range(1, deg + 1)]
    return np.stack(cols, axis=-1)


def _wls_poly(u: np.ndarray, y: np.ndarray, w: np.ndarray, deg: int) -> np.ndarray:
    """WLS polynomial coefficients of ``y(..., n)`` on ``u(n)`` with weights ``w(..., n)``.

    NaN points get zero weight; returns NaN when fewer than ``deg + 1`` points remain.
    """
    V = _vander(u, deg)  # (n, P)
    ok = np.isfinite(y) & np.isfinite(w) & (w > 0)
    ww = np.where(ok, w, 0.0)
    yy = np.where(ok, y, 0.0)
    A = np.einsum("...n,np,nr->...pr", ww, V, V)
    b = np.einsum("...n,np,...n->...p", ww, V, yy)
    out = np.full(y.shape[:-1] + (deg + 1,), np.nan)
    good = ok.sum(-1) >= deg + 1
    if good.any():
        out[good] = np.linalg.solve(A[good], b[good][..., None])[..., 0]
    return out


class _Poly:
    """Polynomial in ``u = ln(l / l_ref)`` fitted on ``[u_min, u_max]``, continued linearly."""

    def __init__(self, coef: np.ndarray, l_ref: float, lo_m: float, hi_m: float) -> None:
        self.coef = np.asarray(coef, dtype=np.float64)  # (..., P)
        self.deg = self.coef.shape[-1] - 1
        self.l_ref = l_ref
        self.u0 = math.log(lo_m / l_ref)
        self.u1 = math.log(hi_m / l_ref)

    def _u(self, scale_m: np.ndarray) -> np.ndarray:
        return np.log(np.asarray(scale_m, dtype=np.float64) / self.l_ref)

    def value(self, scale_m: np.ndarray) -> np.ndarray:
        u = self._u(scale_m)
        uc = np.clip(u, self.u0, self.u1)
        v = np.einsum("...p,np->...n", self.coef, _vander(uc, self.deg))
        d = np.einsum("...p,np->...n", self.coef, _dvander(uc, self.deg))
        return v + d * (u - uc)

    def slope(self, scale_m: np.ndarray) -> np.ndarray:
        uc = np.clip(self._u(scale_m), self.u0, self.u1)
        return np.einsum("...p,np->...n", self.coef, _dvander(uc, self.deg))

    def outside(self, scale_m: np.ndarray) -> np.ndarray:
        # 0.1 % in scale: pixel sizes that differ by float rounding between products
        # (231.6539 vs 231.6542 m) are not an extrapolation.
        u = self._u(scale_m)
        return (u < self.u0 - OUTSIDE_TOL) | (u > self.u1 + OUTSIDE_TOL)


def _fit_curve(
    scale: np.ndarray, y: np.ndarray, yb: np.ndarray, sel: np.ndarray, degree: int, l_ref: float
) -> tuple[np.ndarray, np.ndarray, int]:
    """Smooth ``y(..., n)`` (and replicates ``yb(R, ..., n)``) over ``scale[sel]``.

    Weights are the inverse bootstrap variance of ``y`` at each scale (uniform without
    replicates). Returns point coefficients ``(..., P)``, replicate coefficients
    ``(R, ..., P)`` and the degree used (``min(degree, n_points - 2)``, at least 1).
    """
    u = np.log(scale[sel] / l_ref)
    npts = int(sel.sum())
    deg = int(max(1, min(degree, npts - 2)))
    ys = y[..., sel]
    if yb.shape[0] >= 2:
        with warnings.catch_warnings(), np.errstate(invalid="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)  # landscapes with no data: NaN
            var = np.nanvar(yb[..., sel], axis=0, ddof=1)
            floor = np.nanmedian(np.where(var > 0, var, np.nan), axis=-1, keepdims=True) * 1e-3
        var = np.where(np.isfinite(var), np.maximum(var, np.nan_to_num(floor, nan=1e-12)), np.nan)
        w = 1.0 / var
    else:
        w = np.ones_like(ys)
    coef = _wls_poly(u, ys, w, deg)
    coef_b = _wls_poly(u, yb[..., sel], np.broadcast_to(w, yb[..., sel].shape), deg)
    return coef, coef_b, deg
