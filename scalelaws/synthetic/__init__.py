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

The package, one module per generator
-------------------------------------
``circulant``
    :func:`fbm`, :func:`fbm_pair` (Stein's circulant embedding).
``cascades``
    :func:`multifractal`, :func:`lognormal_cascade`, :func:`fractional_integrate`,
    :func:`multifractal_truth`, :class:`MultifractalTruth`.
``landscape_specs``
    :class:`LandscapeSpec`, :data:`LANDSCAPES`, :class:`LandscapeTruth`.
``landscape_truth``
    :func:`landscape_truth` (exact second-order truths, cached).
``landscapes``
    :func:`landscape` and :data:`LANDSCAPE_CRS`.
``inputs``
    :func:`as_generator` and the shape check shared by the generators.

Every name is re-exported here (the private helpers the tests use too).

"""

from __future__ import annotations

from scalelaws.synthetic.cascades import (
    MultifractalTruth,
    fractional_integrate,
    lognormal_cascade,
    multifractal,
    multifractal_truth,
)
from scalelaws.synthetic.circulant import (
    _fbm,
    _fbm_embedding,
    _stein_constants,
    _stein_phi,
    fbm,
    fbm_pair,
)
from scalelaws.synthetic.inputs import RngLike, _check_shape, as_generator
from scalelaws.synthetic.landscape_specs import LANDSCAPES, LandscapeSpec, LandscapeTruth, _get_spec
from scalelaws.synthetic.landscape_truth import (
    _box_gain,
    _gauss_kernel,
    _landscape_truth_cached,
    _mosaic_block_var,
    _mosaic_corr,
    _von_karman_spectrum,
    landscape_truth,
)
from scalelaws.synthetic.landscapes import _ORIGIN, LANDSCAPE_CRS, _parcel_index, landscape

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

# constants and private helpers importable from here as before the split (tests/test_synthetic.py)
_REEXPORTED = (
    RngLike, LANDSCAPE_CRS, _ORIGIN, _check_shape, _fbm, _fbm_embedding, _stein_constants,
    _stein_phi, _get_spec, _box_gain, _gauss_kernel, _landscape_truth_cached, _mosaic_block_var,
    _mosaic_corr, _von_karman_spectrum, _parcel_index,
)
