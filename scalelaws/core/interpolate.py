"""Cubic convolution onto a finer grid: THE definition of "bicubic" (pure NumPy).

``bicubic`` in this project means Keys (1981) cubic convolution with ``a = -0.5`` (third-order
accurate; the kernel of GDAL's ``cubic``), separable, with the coarse samples at the coarse
pixel centres and the result evaluated at the fine pixel centres (placement by the
geotransforms), the edge samples replicated beyond the outermost coarse centres.

* ``analysis.baselines.upsample_cubic`` / ``bicubic`` apply :func:`cubic_interpolate` with the
  positions of the fine centres computed from the two geotransforms.
* ``sr.models.keys_upsample`` is the torch twin on nested grids: it multiplies by the matrices
  of :func:`cubic_matrix` at :func:`nested_positions` (tested equal to the baseline).
* The first guess of the SR networks, ``sr.models.upsample_first_guess``, is PyTorch's
  ``bicubic`` mode: the same construction with ``a = -0.75`` (tested equal to
  :func:`cubic_matrix` with ``a = -0.75``); it is kept because the shipped weights were trained
  with it, and is not called "bicubic".
"""

from __future__ import annotations

import numpy as np

__all__ = ["KEYS_A", "cubic_interpolate", "cubic_matrix", "keys_kernel", "nested_positions"]

#: The Keys parameter of "bicubic".
KEYS_A = -0.5


def keys_kernel(t: np.ndarray, a: float = KEYS_A) -> np.ndarray:
    """Keys (1981) cubic convolution kernel.

    Parameters
    ----------
    t
        Distances in sample spacings.
    a
        Free parameter; ``-0.5`` makes the interpolation third-order accurate (it reproduces
        quadratics exactly).

    Returns
    -------
    numpy.ndarray
        ``W(t)``: ``(a+2)|t|^3 - (a+3)|t|^2 + 1`` for ``|t| <= 1``,
        ``a|t|^3 - 5a|t|^2 + 8a|t| - 4a`` for ``1 < |t| < 2``, 0 beyond.

    """
    t = np.abs(np.asarray(t, dtype=np.float64))
    w1 = (a + 2.0) * t**3 - (a + 3.0) * t**2 + 1.0
    w2 = a * t**3 - 5.0 * a * t**2 + 8.0 * a * t - 4.0 * a
    return np.where(t <= 1.0, w1, np.where(t < 2.0, w2, 0.0))


def cubic_matrix(u: np.ndarray, n: int, a: float = KEYS_A) -> np.ndarray:
    """Interpolation matrix ``W (len(u), n)`` evaluating samples ``0..n-1`` at positions ``u``.

    Samples beyond the ends are replicated (clamped index), so the matrix rows sum to one.

    Parameters
    ----------
    u
        Positions in sample units (sample ``i`` sits at ``i``).
    n
        Number of samples.
    a
        Keys parameter.

    Returns
    -------
    numpy.ndarray
        float64 ``(len(u), n)``.

    """
    u = np.asarray(u, dtype=np.float64)
    i0 = np.floor(u).astype(np.int64)
    w = np.zeros((u.size, n))
    rows = np.arange(u.size)
    for k in (-1, 0, 1, 2):
        idx = i0 + k
        np.add.at(w, (rows, np.clip(idx, 0, n - 1)), keys_kernel(u - idx, a))
    return w


def nested_positions(n_coarse: int, factor: int) -> np.ndarray:
    """Fine pixel centres of a nested grid in coarse sample units (coarse centre ``i`` at ``i``).

    Parameters
    ----------
    n_coarse
        Coarse pixels along the axis.
    factor
        Fine pixels per coarse pixel (the fine grid starts at the coarse grid's edge).

    Returns
    -------
    numpy.ndarray
        ``(arange(n_coarse * factor) + 0.5) / factor - 0.5``.

    """
    return (np.arange(int(n_coarse) * int(factor)) + 0.5) / float(factor) - 0.5


def cubic_interpolate(values: np.ndarray, u_rows: np.ndarray, u_cols: np.ndarray,
                      a: float = KEYS_A) -> np.ndarray:
    """Separable cubic convolution of a 2-D coarse field at positions ``(u_rows, u_cols)``.

    Parameters
    ----------
    values
        2-D coarse samples, NaN = missing: a fine pixel is NaN when a coarse sample with
        non-zero weight is NaN.
    u_rows, u_cols
        Positions of the fine rows / columns in coarse sample units (:func:`nested_positions`
        on nested grids).
    a
        Keys parameter (:data:`KEYS_A` = "bicubic").

    Returns
    -------
    numpy.ndarray
        float64 ``(len(u_rows), len(u_cols))``.

    """
    v = np.asarray(values, dtype=np.float64)
    wy = cubic_matrix(u_rows, v.shape[0], a)
    wx = cubic_matrix(u_cols, v.shape[1], a)
    bad = ~np.isfinite(v)
    out = wy @ np.where(bad, 0.0, v) @ wx.T
    if bad.any():
        touched = (np.abs(wy) > 0) @ bad.astype(np.float64) @ (np.abs(wx) > 0).T
        out[touched > 0] = np.nan
    return out
