"""Synthetic fields with known scaling laws: the test oracles of scalelaws.

Three generators, each seeded through a :class:`numpy.random.Generator` (``rng=`` accepts a
``Generator``, an ``int`` seed or ``None`` for fresh OS entropy; the module never touches the
global NumPy random state):

:func:`fbm`
    Exact 2-D (isotropic) fractional Brownian surfaces by Stein's (2002) intrinsic circulant
    embedding.  Exact in law, not approximately: the variogram of the output is
    ``sigma**2 * |r|**(2 H)`` at every lag, so it can serve as an unbiased oracle for Hurst
    estimators (plain spectral synthesis is biased by 0.03-0.04 in ``H``).
:func:`multifractal`
    A fractionally integrated, discrete dyadic log-normal multiplicative cascade with known
    scaling function ``zeta(q) = q H - K(q)`` and known wavelet-leader log-cumulants ``c1``,
    ``c2``.
:func:`landscape`
    Coupled LST (K) and NDVI fields for named landscape types (see :data:`LANDSCAPES`) in
    which scale invariance is *false* by construction: a documented break scale, different
    Hurst exponents below and above it, and an LST-NDVI regression slope that changes with
    aggregation scale.

References
----------
M. L. Stein (2002). Fast and exact simulation of fractional Brownian surfaces. *Journal of
Computational and Graphical Statistics* 11(3), 587-599.

D. Schertzer & S. Lovejoy (1987). Physical modeling and analysis of rain and clouds by
anisotropic scaling multiplicative processes. *J. Geophys. Res.* 92(D8), 9693-9714.

H. Wendt, P. Abry & S. Jaffard (2007). Bootstrap for empirical multifractal analysis. *IEEE
Signal Processing Magazine* 24(4), 38-48.

"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.fft
import xarray as xr

from scalelaws.errors import InputError, ScaleRangeError

__all__ = [
    "LANDSCAPES",
    "LandscapeSpec",
    "LandscapeTruth",
    "MultifractalTruth",
    "as_generator",
    "fbm",
    "fbm_pair",
    "fractional_integrate",
    "landscape",
    "landscape_truth",
    "lognormal_cascade",
    "multifractal",
    "multifractal_truth",
]

log = logging.getLogger(__name__)

RngLike = np.random.Generator | int | None


def as_generator(rng: RngLike = None) -> np.random.Generator:
    """Return a :class:`numpy.random.Generator` from a generator, an integer seed or ``None``.

    Parameters
    ----------
    rng
        An existing generator (returned unchanged, so its stream continues), an ``int`` seed,
        or ``None`` for fresh entropy from the operating system.

    Returns
    -------
    numpy.random.Generator

    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise InputError(f"rng must be a numpy.random.Generator, an int seed or None, not {type(rng)!r}")


def _check_shape(shape: int | Sequence[int], minimum: int = 2) -> tuple[int, int]:
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape), int(shape))
    shape = tuple(int(s) for s in shape)
    if len(shape) != 2:
        raise InputError(f"shape must be (ny, nx), got {shape!r}")
    if min(shape) < minimum:
        raise ScaleRangeError(f"shape {shape} too small: each side needs at least {minimum} pixels")
    return shape  # type: ignore[return-value]


# ----------------------------------------------------------------------------------------------
# Fractional Brownian surfaces (Stein 2002)
# ----------------------------------------------------------------------------------------------


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


# ----------------------------------------------------------------------------------------------
# Multifractal: fractionally integrated dyadic log-normal cascade
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MultifractalTruth:
    r"""Theoretical scaling of :func:`multifractal` (2-D, log-normal, universal ``alpha = 2``).

    Attributes
    ----------
    H
        Order of the fractional integration (Fourier filter ``|k|**-H``).
    C1
        Codimension of the mean of the log-normal cascade: ``K(q) = C1 (q**2 - q)``;
        ``C1 = s**2 / (2 ln 2)`` with ``s**2`` the variance of ``ln W`` per dyadic level.
    c1, c2
        Log-cumulants of the wavelet leaders (natural logarithms, scale ``a = 2**j``:
        ``Cum_p[ln L(j)] = c_p^0 + c_p ln(2**j)``): ``c1 = H + C1``, ``c2 = -2 C1``.
    q_crit
        ``sqrt(d / C1)`` with ``d = 2``: beyond ``|q| > q_crit`` a finite sample linearises
        ``zeta(q)`` (the multifractal formalism only holds for ``|q| < q_crit``).
    h_min
        Smallest Hoelder exponent with ``D(h) >= 0``: ``c1 - sqrt(2 d |c2|)``; wavelet
        leaders need ``h_min > 0`` (else use a fractional integration ``gamma > 0``).

    """

    H: float
    C1: float
    c1: float
    c2: float
    q_crit: float
    h_min: float

    def K(self, q: np.ndarray | float) -> np.ndarray:
        """Moment scaling function of the cascade, ``K(q) = C1 (q**2 - q)``."""
        q = np.asarray(q, dtype=float)
        return self.C1 * (q**2 - q)

    def zeta(self, q: np.ndarray | float) -> np.ndarray:
        """Structure-function / leader scaling exponents ``zeta(q) = q H - K(q)``.

        Equal to ``c1 q + c2 q**2 / 2`` for ``|q| < q_crit``.
        """
        q = np.asarray(q, dtype=float)
        return q * self.H - self.K(q)


def multifractal_truth(
    *, c1: float | None = None, c2: float = -0.04, H: float | None = None
) -> MultifractalTruth:
    """Resolve the parameters of :func:`multifractal` into its theoretical scaling.

    Give ``c2`` (< 0) and one of ``c1`` (the target leader log-cumulant) or ``H`` (the
    fractional integration order); they are linked by ``c1 = H - c2 / 2``.  If both are given
    they must satisfy this relation (to 1e-9).  With neither, ``H = 0.5``.

    Returns
    -------
    MultifractalTruth

    """
    c2 = float(c2)
    if not c2 < 0.0:
        raise InputError(
            f"c2 must be negative for a multifractal cascade (got {c2}); use fbm() for c2 = 0"
        )
    C1 = -c2 / 2.0
    if H is None and c1 is None:
        H = 0.5
    if H is None:
        H = float(c1) - C1  # type: ignore[arg-type]
    elif c1 is not None and abs(float(c1) - (H + C1)) > 1e-9:
        raise InputError(
            f"inconsistent parameters: c1 = H - c2/2 = {H + C1:g}, but c1 = {c1:g} was given"
        )
    H = float(H)
    if not 0.0 < H < 2.0:
        raise InputError(f"fractional integration order H = {H:g} must lie in (0, 2)")
    c1v = H + C1
    return MultifractalTruth(
        H=H,
        C1=C1,
        c1=c1v,
        c2=c2,
        q_crit=math.sqrt(2.0 / C1),
        h_min=c1v - math.sqrt(4.0 * abs(c2)),
    )


def lognormal_cascade(
    n_levels: int, *, c2: float = -0.04, rng: RngLike = None
) -> np.ndarray:
    r"""Discrete, canonical, dyadic 2-D log-normal multiplicative cascade.

    Starting from one unit cell, each of ``n_levels`` steps splits every cell into 2 x 2
    children, each multiplied by an independent weight ``W = exp(s N - s**2 / 2)``,
    ``N ~ N(0, 1)``, ``s**2 = -c2 ln 2``, so ``E[W] = 1``.  The returned density
    :math:`\varepsilon` on the ``2**n x 2**n`` grid satisfies, exactly in law, at every pixel:

    * ``E[eps] = 1`` (mean conserved in expectation: canonical cascade);
    * ``ln eps ~ N(-n s**2 / 2, n s**2)``, i.e. ``Var[ln eps] = -c2 ln(2) n`` grows linearly
      with the number of levels ``n = log2(L / l)``;
    * ``E[eps**q] = (L / l)**K(q)`` with ``K(q) = C1 (q**2 - q)``, ``C1 = -c2 / 2``.

    Parameters
    ----------
    n_levels
        Number of dyadic levels (>= 1); output side ``2**n_levels``.
    c2
        Log-cumulant ``c2 < 0`` (``s**2 = -c2 ln 2``).
    rng
        Generator, seed or ``None``.

    Returns
    -------
    numpy.ndarray
        float64 density of shape ``(2**n_levels, 2**n_levels)``.

    """
    n_levels = int(n_levels)
    if n_levels < 1:
        raise ScaleRangeError(f"a cascade needs at least one level, got {n_levels}")
    if not c2 < 0.0:
        raise InputError(f"c2 must be negative, got {c2}")
    gen = as_generator(rng)
    s = math.sqrt(-c2 * math.log(2.0))
    log_eps = np.zeros((1, 1))
    for _ in range(n_levels):
        log_eps = np.repeat(np.repeat(log_eps, 2, axis=0), 2, axis=1)
        log_eps += s * gen.standard_normal(log_eps.shape) - 0.5 * s * s
    return np.exp(log_eps)


def fractional_integrate(field: np.ndarray, H: float) -> np.ndarray:
    """Periodic fractional integration of order ``H`` over the last two axes.

    Multiplies the 2-D Fourier transform by ``|k|**-H`` (``k`` in cycles per pixel) and sets
    the zero-frequency mode to 0, so the output has zero mean.

    Parameters
    ----------
    field
        Array ``(..., ny, nx)``.
    H
        Order (> 0).

    Returns
    -------
    numpy.ndarray
        float64 array of the same shape.

    """
    field = np.asarray(field, dtype=np.float64)
    if field.ndim < 2:
        raise InputError("fractional_integrate needs a (..., ny, nx) array")
    if not H > 0:
        raise InputError(f"fractional integration order must be positive, got {H}")
    ny, nx = field.shape[-2:]
    ky = np.fft.fftfreq(ny)[:, None]
    kx = np.fft.rfftfreq(nx)[None, :]
    k = np.hypot(ky, kx)
    k[0, 0] = 1.0
    filt = k ** (-float(H))
    filt[0, 0] = 0.0
    return np.fft.irfft2(np.fft.rfft2(field) * filt, s=(ny, nx))


def multifractal(
    shape: int | Sequence[int],
    *,
    c1: float | None = None,
    c2: float = -0.04,
    H: float | None = None,
    rng: RngLike = None,
) -> np.ndarray:
    r"""2-D multifractal field: fractionally integrated log-normal cascade (discrete FIF).

    A :func:`lognormal_cascade` of ``n = ceil(log2(max(shape)))`` levels (``C1 = -c2 / 2``)
    is fractionally integrated with order ``H`` (:func:`fractional_integrate`, periodic on the
    ``2**n`` square), cropped to ``shape`` and scaled to unit standard deviation.  In the
    manner of Schertzer & Lovejoy's fractionally integrated flux, fluctuations at scale ``l``
    behave as ``l**H eps_l``, so

    .. math::

        \zeta(q) = q H - K(q) = c_1 q + c_2 q^2 / 2, \qquad K(q) = C_1 (q^2 - q),

    and the log-cumulants that a correct wavelet-leader estimator must recover are

    * ``c1 = H + C1 = H - c2 / 2`` (mean Hoelder exponent),
    * ``c2`` as given (< 0; exactly quadratic ``zeta``: ``c3 = 0``),

    for scales between ~4 pixels and ~1/4 of ``2**n`` (the discrete cascade has no structure
    below one pixel and the periodic integration none above the domain), for moments
    ``|q| < q_crit = sqrt(2 / C1)``, and provided ``h_min = c1 - 2 sqrt(|c2|) > 0`` (else use
    a fractional integration ``gamma > 0`` in the estimator).  Give ``c2`` and one of ``c1``,
    ``H`` (see :func:`multifractal_truth`, which returns these values).

    Parameters
    ----------
    shape
        ``(ny, nx)`` or an ``int``; each side at least 8 pixels.
    c1, c2, H
        Scaling parameters (``c2 < 0``; ``0 < H < 2``).
    rng
        Generator, seed or ``None``.

    Returns
    -------
    numpy.ndarray
        float64 array of ``shape``, zero mean over the generating square, unit standard
        deviation over ``shape``.

    """
    ny, nx = _check_shape(shape, minimum=8)
    truth = multifractal_truth(c1=c1, c2=c2, H=H)
    n = int(math.ceil(math.log2(max(ny, nx))))
    eps = lognormal_cascade(n, c2=truth.c2, rng=rng)
    field = fractional_integrate(eps, truth.H)[:ny, :nx]
    std = field.std()
    return field / std if std > 0 else field


# ----------------------------------------------------------------------------------------------
# Landscapes: coupled LST / NDVI with a scale break
# ----------------------------------------------------------------------------------------------

LANDSCAPE_CRS = "EPSG:32631"  # UTM zone 31N (metres)
_ORIGIN = (500_000.0, 5_000_000.0)  # upper-left corner (x, y) of every synthetic landscape


@dataclass(frozen=True)
class LandscapeSpec:
    """Parameters of a synthetic landscape type (see :func:`landscape` for the model).

    Attributes
    ----------
    name, description
        Identifier and one-line description.
    parcel_m
        Mean side of the rectangular parcels (m): parcel edges are two independent Poisson
        line processes (vertical and horizontal lines) of intensity ``1 / parcel_m``, so two
        points ``(dx, dy)`` apart lie in the same parcel with probability
        ``exp(-(|dx| + |dy|) / parcel_m)``.
    edge_m
        Standard deviation (m) of the Gaussian blur of the parcel mosaic (ecotones, mixed
        pixels, sensor PSF): it makes the fields smooth below ~``edge_m``.
    ndvi_classes
        Parcel NDVI distribution: a mixture of uniform laws, ``(probability, low, high)``.
    lst_mean
        Mean LST (K).
    parcel_slope
        LST response of a parcel to its NDVI (K per NDVI unit), ``dLST/dNDVI`` at field scale.
    parcel_lst_std
        Standard deviation (K) of the per-parcel LST residual (soil moisture, management).
    regional_ndvi_std
        Standard deviation of the regional NDVI component (NDVI units).
    regional_slope
        Regional LST-NDVI co-variation (K per NDVI unit) of the regional components.
    regional_lst_std
        Standard deviation (K) of the regional LST component independent of NDVI (relief,
        climate).
    regional_H, outer_m
        The regional components are stationary Gaussian fields with the von Karman spectrum
        ``(|k|**2 + (1 / outer_m)**2) ** -(1 + regional_H)`` (fBm-like with exponent
        ``regional_H`` below the outer scale ``outer_m``).
    fine_range_m, coarse_range_m
        Lag ranges (m) over which the documented ``H_fine`` and ``H_coarse`` are defined.

    """

    name: str
    description: str
    parcel_m: float
    edge_m: float
    ndvi_classes: tuple[tuple[float, float, float], ...]
    lst_mean: float
    parcel_slope: float
    parcel_lst_std: float
    regional_ndvi_std: float
    regional_slope: float
    regional_lst_std: float
    regional_H: float = 0.5
    outer_m: float = 30_000.0
    fine_range_m: tuple[float, float] = (250.0, 500.0)
    coarse_range_m: tuple[float, float] = (4000.0, 8000.0)

    @property
    def ndvi_mean(self) -> float:
        """Mean parcel NDVI (mixture of uniforms)."""
        return float(sum(p * (lo + hi) / 2.0 for p, lo, hi in self.ndvi_classes))

    @property
    def ndvi_parcel_var(self) -> float:
        """Variance of the parcel NDVI values (mixture of uniforms)."""
        m2 = sum(p * (lo * lo + lo * hi + hi * hi) / 3.0 for p, lo, hi in self.ndvi_classes)
        return float(m2 - self.ndvi_mean**2)

    def truth(self, shape: tuple[int, int] = (512, 512), pixel_size: float = 62.5) -> LandscapeTruth:
        """Documented truths of this landscape on a given grid (see :func:`landscape_truth`)."""
        return landscape_truth(self, shape=shape, pixel_size=pixel_size)


LANDSCAPES: dict[str, LandscapeSpec] = {
    "cropland": LandscapeSpec(
        name="cropland",
        description="rectangular fields of bare soil and crops, 600 m, strong field-scale cooling",
        parcel_m=600.0,
        edge_m=180.0,
        ndvi_classes=((0.35, 0.10, 0.25), (0.65, 0.55, 0.78)),
        lst_mean=305.0,
        parcel_slope=-25.0,
        parcel_lst_std=1.5,
        regional_ndvi_std=0.08,
        regional_slope=30.0,
        regional_lst_std=8.0,
    ),
    "forest": LandscapeSpec(
        name="forest",
        description="closed forest stands of 700 m with clearings, weak NDVI contrast",
        parcel_m=700.0,
        edge_m=240.0,
        ndvi_classes=((0.85, 0.68, 0.84), (0.15, 0.30, 0.55)),
        lst_mean=296.0,
        parcel_slope=-15.0,
        parcel_lst_std=0.8,
        regional_ndvi_std=0.04,
        regional_slope=20.0,
        regional_lst_std=8.0,
    ),
    "urban": LandscapeSpec(
        name="urban",
        description="300 m city blocks, parks and sealed surfaces, steep LST-NDVI slope",
        parcel_m=300.0,
        edge_m=110.0,
        ndvi_classes=((0.6, 0.02, 0.20), (0.25, 0.20, 0.45), (0.15, 0.50, 0.80)),
        lst_mean=312.0,
        parcel_slope=-35.0,
        parcel_lst_std=2.0,
        regional_ndvi_std=0.06,
        regional_slope=-5.0,
        regional_lst_std=8.0,
    ),
    "mixed": LandscapeSpec(
        name="mixed",
        description="mosaic of crops, woods and villages, 800 m parcels",
        parcel_m=800.0,
        edge_m=210.0,
        ndvi_classes=((0.3, 0.10, 0.30), (0.4, 0.50, 0.80), (0.3, 0.70, 0.84)),
        lst_mean=302.0,
        parcel_slope=-20.0,
        parcel_lst_std=1.2,
        regional_ndvi_std=0.08,
        regional_slope=15.0,
        regional_lst_std=8.0,
    ),
}


@dataclass(frozen=True)
class LandscapeTruth:
    """Exact expected properties of a synthetic landscape on a given grid.

    All values follow analytically from the model (exact second-order statistics of the
    generator; NDVI clipping, which touches < 0.5 % of pixels, is neglected).

    Attributes
    ----------
    H_fine, H_coarse
        Local Hurst exponent of the expected LST variogram along the axes,
        ``0.5 ln(g(r2) / g(r1)) / ln(r2 / r1)``, over ``fine_range_m`` and ``coarse_range_m``
        (lags rounded to whole pixels).
    break_m
        Scale (m) where the local exponent per octave ``[r, 2r]`` first falls below
        ``(H_fine + H_coarse) / 2``, reported as the octave centre ``sqrt(2) r`` (log-linear
        interpolation between integer lags).
    lst_mean, ndvi_mean
        Expected means (K, NDVI units).
    factors
        Aggregation factors (block means) of the regression truths.
    lst_ndvi_slope
        Expected OLS slope of LST on NDVI (K per NDVI unit) over the whole field after block
        averaging by each factor (ratio of the expected sample covariance to the expected
        sample variance).
    lst_ndvi_slope_fine, lst_ndvi_slope_coarse
        The slope at the native resolution and at the factor closest to the coarse range's
        lower bound.
    lags_px, variogram_lst, variogram_ndvi
        Expected variograms ``E[(f(p + r) - f(p))**2]`` along the axes at lags ``lags_px``.

    """

    H_fine: float
    H_coarse: float
    break_m: float
    lst_mean: float
    ndvi_mean: float
    factors: tuple[int, ...]
    lst_ndvi_slope: tuple[float, ...]
    lst_ndvi_slope_fine: float
    lst_ndvi_slope_coarse: float
    lags_px: tuple[int, ...]
    variogram_lst: tuple[float, ...]
    variogram_ndvi: tuple[float, ...]


def _gauss_kernel(sigma_px: float) -> np.ndarray:
    """Normalised 1-D Gaussian kernel truncated at 4 sigma (``[1.]`` for tiny sigma)."""
    if sigma_px < 0.25:
        return np.ones(1)
    radius = int(math.ceil(4.0 * sigma_px))
    x = np.arange(-radius, radius + 1, dtype=float)
    k = np.exp(-0.5 * (x / sigma_px) ** 2)
    return k / k.sum()


def _mosaic_corr(n: int, tau_px: float, kernel: np.ndarray) -> np.ndarray:
    """Exact 1-D factor ``c(d), d = 0..n`` of the blurred mosaic covariance.

    ``c = exp(-tau |d|) (*) (kernel (*) kernel)``; the 2-D covariance is ``var c(dy) c(dx)``.
    """
    rad = (kernel.size - 1) // 2
    d = np.arange(-(n + 2 * rad), n + 2 * rad + 1)
    e = np.exp(-tau_px * np.abs(d))
    auto = np.convolve(kernel, kernel)
    c = np.convolve(e, auto, mode="same")
    centre = n + 2 * rad
    return c[centre : centre + n + 1]


def _von_karman_spectrum(shape: tuple[int, int], k0: float, H: float) -> np.ndarray:
    """Spectral variance per Fourier mode, normalised to unit total variance, zero mean mode."""
    ny, nx = shape
    ky = np.fft.fftfreq(ny)[:, None]
    kx = np.fft.fftfreq(nx)[None, :]
    P = (ky**2 + kx**2 + k0**2) ** (-(1.0 + H))
    P[0, 0] = 0.0
    return P / P.sum()


def _box_gain(n: int, width: int) -> np.ndarray:
    """``|D(k)|**2`` of the mean over ``width`` consecutive samples, for the n Fourier modes."""
    k = np.fft.fftfreq(n)
    with np.errstate(invalid="ignore", divide="ignore"):
        g = (np.sin(np.pi * k * width) / (width * np.sin(np.pi * k))) ** 2
    g[k == 0] = 1.0
    return g


def _mosaic_block_var(c: np.ndarray, width: int) -> float:
    """Variance factor of a 1-D block mean over ``width`` samples of correlation ``c``."""
    d = np.arange(-(width - 1), width)
    return float(np.sum((width - np.abs(d)) * c[np.abs(d)]) / width**2)


@functools.lru_cache(maxsize=32)
def _landscape_truth_cached(
    spec: LandscapeSpec, shape: tuple[int, int], pixel_size: float
) -> LandscapeTruth:
    ny, nx = shape
    px = pixel_size
    n = max(ny, nx)
    kernel = _gauss_kernel(spec.edge_m / px)
    c = _mosaic_corr(n, px / spec.parcel_m, kernel)
    var_v = spec.ndvi_parcel_var
    var_lm = spec.parcel_slope**2 * var_v + spec.parcel_lst_std**2
    P = _von_karman_spectrum(shape, px / spec.outer_m, spec.regional_H)
    cov_r = np.real(np.fft.ifft2(P)) * (ny * nx)  # unit-variance regional covariance
    var_rn = spec.regional_ndvi_std**2
    var_rl = spec.regional_slope**2 * var_rn + spec.regional_lst_std**2

    lags = np.arange(1, n // 2 + 1)
    lags_y = np.minimum(lags, ny - 1)
    lags_x = np.minimum(lags, nx - 1)
    g_mosaic = c[0] * (c[0] - 0.5 * (c[lags_y] + c[lags_x]))
    g_region = cov_r[0, 0] - 0.5 * (cov_r[lags_y, 0] + cov_r[0, lags_x])
    g_lst = 2.0 * (var_lm * g_mosaic + var_rl * g_region)
    g_ndvi = 2.0 * (var_v * g_mosaic + var_rn * g_region)

    def gamma(r: int) -> float:
        return float(g_lst[r - 1])

    def local_h(r1: float, r2: float) -> float:
        a, b = max(1, round(r1 / px)), round(r2 / px)
        if b > lags[-1] or b <= a:
            log.warning(
                "grid %s at %g m is too small for the lag range %g-%g m: exponent is NaN",
                shape, px, r1, r2,
            )
            return float("nan")
        return 0.5 * math.log(gamma(b) / gamma(a)) / math.log(b / a)

    H_fine = local_h(*spec.fine_range_m)
    H_coarse = local_h(*spec.coarse_range_m)
    mid = 0.5 * (H_fine + H_coarse)  # NaN when a range does not fit: break_m is then NaN
    r = lags[: lags.size // 2]
    h_oct = 0.5 * np.log(g_lst[2 * r - 1] / g_lst[r - 1]) / math.log(2.0)
    start = max(1, round(spec.fine_range_m[0] / px)) - 1
    below = np.nonzero(h_oct[start:] < mid)[0]
    if below.size == 0:
        break_m = float("nan")
    else:
        i = start + int(below[0])
        if i == 0:
            r_cross = float(r[0])
        else:  # log-linear interpolation between r[i-1] and r[i]
            h0, h1 = h_oct[i - 1], h_oct[i]
            t = (h0 - mid) / (h0 - h1)
            r_cross = float(np.exp(np.log(r[i - 1]) + t * (np.log(r[i]) - np.log(r[i - 1]))))
        break_m = math.sqrt(2.0) * r_cross * px

    factors = tuple(f for f in (1, 2, 4, 8, 16, 32, 64, 128) if min(ny, nx) // f >= 4)
    slopes = []
    for f in factors:
        wy, wx = ny // f * f, nx // f * f
        m_blk = _mosaic_block_var(c, f) ** 2 - _mosaic_block_var(c, wy) * _mosaic_block_var(c, wx)
        gy, gx = _box_gain(ny, f), _box_gain(nx, f)
        wgy, wgx = _box_gain(ny, wy), _box_gain(nx, wx)
        r_blk = float(np.sum(P * (gy[:, None] * gx[None, :] - wgy[:, None] * wgx[None, :])))
        cov_xy = spec.parcel_slope * var_v * m_blk + spec.regional_slope * var_rn * r_blk
        var_x = var_v * m_blk + var_rn * r_blk
        slopes.append(cov_xy / var_x)
    coarse_f = min(factors, key=lambda f: abs(math.log(f * px / spec.coarse_range_m[0])))
    return LandscapeTruth(
        H_fine=H_fine,
        H_coarse=H_coarse,
        break_m=break_m,
        lst_mean=spec.lst_mean,
        ndvi_mean=spec.ndvi_mean,
        factors=factors,
        lst_ndvi_slope=tuple(slopes),
        lst_ndvi_slope_fine=slopes[0],
        lst_ndvi_slope_coarse=slopes[factors.index(coarse_f)],
        lags_px=tuple(int(v) for v in lags),
        variogram_lst=tuple(float(v) for v in g_lst),
        variogram_ndvi=tuple(float(v) for v in g_ndvi),
    )


def _get_spec(kind: str | LandscapeSpec) -> LandscapeSpec:
    if isinstance(kind, LandscapeSpec):
        return kind
    try:
        return LANDSCAPES[kind]
    except KeyError:
        raise InputError(
            f"unknown landscape {kind!r}; choose one of {sorted(LANDSCAPES)}"
        ) from None


def landscape_truth(
    kind: str | LandscapeSpec,
    *,
    shape: Sequence[int] = (512, 512),
    pixel_size: float = 62.5,
) -> LandscapeTruth:
    """Exact expected scaling properties of :func:`landscape` on a given grid.

    Parameters
    ----------
    kind
        A key of :data:`LANDSCAPES` or a :class:`LandscapeSpec`.
    shape, pixel_size
        The grid (pixels, metres).

    Returns
    -------
    LandscapeTruth

    """
    ny, nx = _check_shape(shape, minimum=16)
    if not pixel_size > 0:
        raise InputError(f"pixel_size must be positive, got {pixel_size}")
    return _landscape_truth_cached(_get_spec(kind), (ny, nx), float(pixel_size))


def _parcel_index(n: int, length_px: float, tau_px: float, gen: np.random.Generator) -> np.ndarray:
    """Parcel index of each of ``n`` pixel centres along one axis (Poisson cut points)."""
    cuts = np.sort(gen.uniform(0.0, length_px, gen.poisson(tau_px * length_px)))
    return np.searchsorted(cuts, np.arange(n) + 0.5)


def landscape(
    kind: str | LandscapeSpec,
    *,
    shape: Sequence[int] = (512, 512),
    pixel_size: float = 62.5,
    seed: int | np.random.Generator | None = 0,
) -> xr.Dataset:
    r"""Coupled synthetic LST and NDVI fields in which scale invariance is false by design.

    Model (all components independent; ``v`` the parcel NDVI, ``R``, ``R'`` unit-variance
    stationary Gaussian fields with the von Karman spectrum of the spec):

    .. math::

        \mathrm{NDVI} &= \bar v + B * (v - \bar v) + \sigma_{RN} R \\
        \mathrm{LST}  &= T_0 + B * (b_p (v - \bar v) + e) + b_r \sigma_{RN} R + \sigma_{RT} R'

    * parcels: rectangles cut by Poisson lines of intensity ``1 / parcel_m`` in x and y, each
      with an independent NDVI ``v`` drawn from ``ndvi_classes`` and an independent LST
      residual ``e ~ N(0, parcel_lst_std**2)``; ``b_p = parcel_slope`` is the field-scale
      LST-NDVI slope;
    * ``B *``: Gaussian blur of standard deviation ``edge_m`` (the parcel mosaic is generated
      on a padded window, so the result is exactly stationary);
    * regional fields: periodic on the grid, with regional LST-NDVI slope
      ``b_r = regional_slope``.

    The LST variogram therefore rises steeply up to the parcel size, then flattens where only
    the regional fields still vary: a scale break at ``break_m``; and the LST-NDVI regression
    slope moves from near ``parcel_slope`` at fine scale towards ``regional_slope`` as
    aggregation averages the parcels out.  On the default 512 x 512 grid at 62.5 m
    (``H_fine`` over 250-500 m, ``H_coarse`` over 4-8 km, slopes in K per NDVI unit at
    62.5 m and 4 km): cropland 0.64 / 0.19, break ~0.9 km, slope -15.7 -> +3.6; forest
    0.53 / 0.25, ~2.0 km, -9.4 -> -0.2; urban 0.54 / 0.17, ~0.6 km, -30.4 -> -12.8; mixed
    0.61 / 0.20, ~1.2 km, -14.5 -> -6.0 (truths depend on the grid; tests recompute them).  The exact values for the grid are in the
    output's attrs and in :func:`landscape_truth`; NDVI is clipped to [-0.2, 0.95] (< 0.5 %
    of pixels).

    Parameters
    ----------
    kind
        ``"cropland"``, ``"forest"``, ``"urban"``, ``"mixed"`` (keys of :data:`LANDSCAPES`) or
        a :class:`LandscapeSpec`.
    shape
        ``(ny, nx)`` in pixels.
    pixel_size
        Pixel size in metres.
    seed
        Integer seed (or a Generator).

    Returns
    -------
    xarray.Dataset
        ``lst`` (K, float32) and ``ndvi`` ("1", float32) on ``(y, x)`` pixel-centre
        coordinates in metres, CRS UTM 31N (EPSG:32631) written with rioxarray; global attrs
        carry the spec and its truths (``H_fine``, ``H_coarse``, ``break_m``,
        ``lst_ndvi_slope_fine``, ``lst_ndvi_slope_coarse``, ``lst_ndvi_slope`` per
        ``lst_ndvi_slope_factors``, ``lst_mean``, ``ndvi_mean``).

    Examples
    --------
    >>> ds = landscape("cropland", shape=(256, 256), seed=1)
    >>> sorted(ds.data_vars), ds.lst.attrs["units"]
    (['lst', 'ndvi'], 'K')

    """
    spec = _get_spec(kind)
    ny, nx = _check_shape(shape, minimum=16)
    truth = landscape_truth(spec, shape=(ny, nx), pixel_size=pixel_size)
    gen = as_generator(seed)
    px = float(pixel_size)

    # parcel mosaic on a padded window, blurred, cropped
    kernel = _gauss_kernel(spec.edge_m / px)
    pad = (kernel.size - 1) // 2 + 1
    tau = px / spec.parcel_m
    iy = _parcel_index(ny + 2 * pad, ny + 2 * pad, tau, gen)
    ix = _parcel_index(nx + 2 * pad, nx + 2 * pad, tau, gen)
    ncell = (int(iy.max()) + 1, int(ix.max()) + 1)
    probs = np.array([c[0] for c in spec.ndvi_classes], dtype=float)
    cls = gen.choice(len(probs), size=ncell, p=probs / probs.sum())
    lo = np.array([c[1] for c in spec.ndvi_classes])[cls]
    hi = np.array([c[2] for c in spec.ndvi_classes])[cls]
    v = lo + (hi - lo) * gen.random(ncell) - spec.ndvi_mean
    e = spec.parcel_lst_std * gen.standard_normal(ncell)
    cells = np.stack([v, spec.parcel_slope * v + e])[:, iy[:, None], ix[None, :]]
    if kernel.size > 1:
        from scipy.ndimage import convolve1d

        cells = convolve1d(cells, kernel, axis=1, mode="nearest")
        cells = convolve1d(cells, kernel, axis=2, mode="nearest")
    mosaic = cells[:, pad : pad + ny, pad : pad + nx]

    # two independent regional Gaussian fields from one complex FFT
    P = _von_karman_spectrum((ny, nx), px / spec.outer_m, spec.regional_H)
    w = gen.standard_normal((ny, nx)) + 1j * gen.standard_normal((ny, nx))
    reg = np.fft.fft2(np.sqrt(P) * w)
    r_n, r_t = reg.real, reg.imag

    ndvi = spec.ndvi_mean + mosaic[0] + spec.regional_ndvi_std * r_n
    lst = (
        spec.lst_mean
        + mosaic[1]
        + spec.regional_slope * spec.regional_ndvi_std * r_n
        + spec.regional_lst_std * r_t
    )
    clipped = np.mean((ndvi < -0.2) | (ndvi > 0.95))
    if clipped > 0:
        log.debug("landscape %s: %.4f %% of NDVI pixels clipped", spec.name, 100 * clipped)
    ndvi = np.clip(ndvi, -0.2, 0.95)

    x0, y0 = _ORIGIN
    x = x0 + (np.arange(nx) + 0.5) * px
    y = y0 - (np.arange(ny) + 0.5) * px
    coords = {"y": ("y", y, {"units": "m", "long_name": "northing (pixel centre)"}),
              "x": ("x", x, {"units": "m", "long_name": "easting (pixel centre)"})}
    common = {"sensor": "synthetic", "product": f"scalelaws.synthetic.landscape:{spec.name}"}
    ds = xr.Dataset(
        {
            "lst": (("y", "x"), lst.astype(np.float32),
                    {"units": "K", "long_name": "land surface temperature", **common}),
            "ndvi": (("y", "x"), ndvi.astype(np.float32),
                     {"units": "1", "long_name": "normalized difference vegetation index",
                      **common}),
        },
        coords=coords,
    )
    import rioxarray  # noqa: F401 - registers the .rio accessor
    from affine import Affine

    ds = ds.rio.write_crs(LANDSCAPE_CRS).rio.write_transform(Affine(px, 0.0, x0, 0.0, -px, y0))
    for name in ("lst", "ndvi"):
        ds[name] = ds[name].rio.write_nodata(np.nan, encoded=False)
    seed_attr = seed if isinstance(seed, (int, np.integer)) else -1
    ds.attrs = {
        "title": f"synthetic {spec.name} landscape: {spec.description}",
        "Conventions": "CF-1.8",
        "source": "scalelaws.synthetic.landscape",
        "history": f"scalelaws.synthetic.landscape({spec.name!r}, shape=({ny}, {nx}), "
        f"pixel_size={px:g}, seed={seed_attr})",
        "landscape": spec.name,
        "seed": int(seed_attr),
        "pixel_size": px,
        "H_fine": truth.H_fine,
        "H_coarse": truth.H_coarse,
        "break_m": truth.break_m,
        "fine_range_m": list(spec.fine_range_m),
        "coarse_range_m": list(spec.coarse_range_m),
        "lst_mean": truth.lst_mean,
        "ndvi_mean": truth.ndvi_mean,
        "lst_ndvi_slope_fine": truth.lst_ndvi_slope_fine,
        "lst_ndvi_slope_coarse": truth.lst_ndvi_slope_coarse,
        "lst_ndvi_slope_factors": list(truth.factors),
        "lst_ndvi_slope": list(truth.lst_ndvi_slope),
        "parcel_m": spec.parcel_m,
        "edge_m": spec.edge_m,
        "parcel_slope": spec.parcel_slope,
        "regional_slope": spec.regional_slope,
        "regional_H": spec.regional_H,
    }
    return ds
