"""Multifractal fields: a fractionally integrated dyadic log-normal cascade.

:func:`lognormal_cascade` (the multiplicative cascade), :func:`fractional_integrate` (the
Fourier filter ``|k|**-H``), :func:`multifractal` (both, cropped and standardised) and its
theoretical scaling :func:`multifractal_truth` (:class:`MultifractalTruth`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from scalelaws.errors import InputError, ScaleRangeError
from scalelaws.synthetic.inputs import RngLike, _check_shape, as_generator


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
