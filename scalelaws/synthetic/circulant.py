"""Exact fractional Brownian surfaces by Stein's (2002) intrinsic circulant embedding.

:func:`fbm` draws one surface, :func:`fbm_pair` two independent ones from one embedding (the
real and imaginary parts of one complex transform). The embedding is cached per
``(shape, H)`` (:func:`_fbm_embedding`).
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Sequence

import numpy as np
import scipy.fft

from scalelaws.errors import InputError
from scalelaws.synthetic.inputs import RngLike, _check_shape, as_generator

log = logging.getLogger(__name__)


def _stein_constants(alpha: float) -> tuple[float, float, float, float]:
    """Constants ``(R, beta, c0, c2)`` of Stein's (2002) modified covariance for ``alpha = 2H``."""
    if alpha <= 1.5:
        R, beta = 1.0, 0.0
        c2 = alpha / 2.0
        c0 = 1.0 - alpha / 2.0
    else:
        R = 2.0
        beta = alpha * (2.0 - alpha) / (3.0 * R * (R**2 - 1.0))
        c2 = (alpha - beta * (R - 1.0) ** 2 * (R + 2.0)) / 2.0
        c0 = beta * (R - 1.0) ** 3 + 1.0 - c2
    return R, beta, c0, c2


def _stein_phi(r: np.ndarray, alpha: float) -> np.ndarray:
    """Stein's compactly supported stationary covariance ``phi(r)`` (support ``r <= R``)."""
    R, beta, c0, c2 = _stein_constants(alpha)
    out = np.zeros_like(r)
    inner = r <= 1.0
    out[inner] = c0 - r[inner] ** alpha + c2 * r[inner] ** 2
    if beta > 0.0:
        mid = (r > 1.0) & (r < R)
        out[mid] = beta * (R - r[mid]) ** 3 / r[mid]
    return out


@functools.lru_cache(maxsize=4)
def _fbm_embedding(ny: int, nx: int, H: float) -> tuple[np.ndarray, float, float]:
    """Square root of the circulant eigenvalues for an ``ny x nx`` fBm with exponent ``H``.

    Returns ``(sqrt_lambda / sqrt(M_y M_x), delta, c2)``, where ``delta`` is the grid spacing in
    the units of Stein's covariance (the output's diagonal has length exactly 1 there).
    """
    alpha = 2.0 * H
    R, _, _, c2 = _stein_constants(alpha)
    diag = math.hypot(ny - 1, nx - 1)
    delta = 1.0 / diag
    # The torus period must be >= 2R (in phi units) along each axis so that the periodised
    # covariance is the sum of non-overlapping copies of phi (then non-negative definite).
    m = scipy.fft.next_fast_len(int(math.ceil(2.0 * R / delta)) + 1)
    k = np.arange(m, dtype=float)
    k = np.minimum(k, m - k) * delta
    r = np.hypot(k[:, None], k[None, :])
    cov = _stein_phi(r, alpha)
    lam = scipy.fft.fft2(cov).real
    neg = lam.min()
    if neg < -1e-9 * lam.max():  # pragma: no cover - Stein's theorem excludes this
        log.warning("circulant embedding has a negative eigenvalue %.3g (clipped)", neg)
    lam = np.sqrt(np.clip(lam, 0.0, None) / (m * m))
    lam.setflags(write=False)
    log.debug("fBm embedding: shape=(%d, %d) H=%.3f torus=%d^2 R=%.0f", ny, nx, H, m, R)
    return lam, delta, c2


def fbm(
    shape: int | Sequence[int],
    H: float,
    *,
    sigma: float = 1.0,
    rng: RngLike = None,
) -> np.ndarray:
    r"""Exact 2-D isotropic fractional Brownian surface (Stein's circulant embedding).

    The returned array ``X`` (float64, dims ``(y, x)``) is one realisation of a centred Gaussian
    field with stationary increments and

    .. math::

        \mathbb E\big[(X(p + r) - X(p))^2\big] = \sigma^2 \, |r|^{2H}

    for every pair of pixels ``p`` and ``p + r`` of the grid, where ``|r|`` is the Euclidean
    lag **in pixels** (``|r| = sqrt(dy**2 + dx**2)``, so the law is isotropic: along ``x``,
    ``y`` and any diagonal alike).  Equivalently
    ``Cov(X(p), X(q)) = sigma**2 / 2 * (|p|**(2H) + |q|**(2H) - |p - q|**(2H))`` with the origin
    at pixel ``[0, 0]``, where ``X[0, 0] == 0`` exactly (the variogram of
    :func:`scalelaws.stats.structure_function` at order 2 is therefore ``sigma**2 r**(2H)``, the
    often quoted ``2 r**(2H)`` when ``sigma**2 = 2``).  Every pixel has mean zero.

    Method (Stein 2002): a stationary field ``Z`` with the compactly supported covariance
    ``phi(r) = c0 - r**(2H) + c2 r**2`` (``r <= 1``; plus a cubic tail up to ``R = 2`` when
    ``H > 0.75``) is simulated exactly by circulant embedding on a torus of period ``>= 2R``,
    for which the embedding is non-negative definite for every ``H`` in (0, 1); then
    ``X(x) = Z(x) - Z(0) + sqrt(2 c2) (x W1 + y W2)`` with ``W1, W2 ~ N(0, 1)`` independent,
    which has exactly the fBm covariance for all points within distance 1 of each other and of
    the origin.  The grid is scaled so that its diagonal has length 1, which makes the result
    exact on the whole rectangle (not only on a quarter disc).  Cost: one FFT of about
    ``(2 R sqrt(ny**2 + nx**2))**2`` points; the embedding is cached per ``(shape, H)``.

    Parameters
    ----------
    shape
        ``(ny, nx)`` (or an ``int`` for a square); each side at least 2 pixels.
    H
        Hurst exponent, strictly between 0 and 1.
    sigma
        Increment standard deviation at a lag of one pixel (> 0).
    rng
        ``numpy.random.Generator``, ``int`` seed or ``None``.

    Returns
    -------
    numpy.ndarray
        float64 array of shape ``shape``.

    Raises
    ------
    scalelaws.errors.InputError
        ``H`` outside (0, 1), ``sigma <= 0`` or a malformed shape.
    scalelaws.errors.ScaleRangeError
        A side shorter than 2 pixels.

    Examples
    --------
    >>> x = fbm((256, 384), 0.7, rng=0)
    >>> x.shape, x[0, 0]
    ((256, 384), 0.0)

    """
    return _fbm(shape, H, sigma, as_generator(rng), pair=False)[0]


def fbm_pair(
    shape: int | Sequence[int],
    H: float,
    *,
    sigma: float = 1.0,
    rng: RngLike = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Two independent exact fBm surfaces for the price of one (:func:`fbm`).

    The circulant embedding draws complex Gaussian noise; the real and imaginary parts of its
    transform are two independent stationary fields with the same covariance, and each gets its
    own linear term. Same parameters as :func:`fbm`; used where many fields are simulated (the
    fBm calibration of :func:`scalelaws.fit.fit_scaling`). The first field is the one
    :func:`fbm` returns for the same seed.
    """
    a, b = _fbm(shape, H, sigma, as_generator(rng), pair=True)
    return a, b


def _fbm(shape: int | Sequence[int], H: float, sigma: float, gen: np.random.Generator, *,
         pair: bool) -> list[np.ndarray]:
    """Return the real part (and, with ``pair``, the imaginary part) of one circulant embedding."""
    ny, nx = _check_shape(shape)
    H = float(H)
    if not 0.0 < H < 1.0:
        raise InputError(f"Hurst exponent H must lie strictly between 0 and 1, got {H}")
    if not sigma > 0.0:
        raise InputError(f"sigma must be positive, got {sigma}")
    sqrt_lam, delta, c2 = _fbm_embedding(ny, nx, H)
    m = sqrt_lam.shape[0]
    noise = gen.standard_normal((m, m)) + 1j * gen.standard_normal((m, m))
    # fft2 restricted to the first ny x nx outputs: transform rows, keep nx columns, then columns.
    zc = scipy.fft.fft(sqrt_lam * noise, axis=1)[:, :nx]
    zc = scipy.fft.fft(zc, axis=0)[:ny]
    yy = np.arange(ny, dtype=float)[:, None] * delta
    xx = np.arange(nx, dtype=float)[None, :] * delta
    out = []
    for z in ((zc.real, zc.imag) if pair else (zc.real,)):
        z = np.array(z)
        z -= z[0, 0]
        w = gen.standard_normal(2)
        z += math.sqrt(2.0 * c2) * (w[0] * yy + w[1] * xx)
        # In phi units the variogram is 2 |r|**alpha; rescale to sigma**2 |r_pixels|**(2H).
        z *= sigma / math.sqrt(2.0) * delta ** (-H)
        z[0, 0] = 0.0
        out.append(z)
    return out
