"""Honest scaling fits: log-log regression, scale ranges, breaks and block-bootstrap exponents.

The functions here turn multiscale statistics (structure functions, wavelet leaders, spectra)
into exponents with intervals that mean what they say.

:func:`fit_loglog`
    Weighted least squares of ``log(values)`` on ``log(scales)`` (statsmodels); slope,
    intercept, standard errors and t intervals. These standard errors assume independent
    residuals, which points of one structure function are not: they understate the real
    spread of an exponent several-fold. They are kept for comparison only.
:func:`choose_scale_range`
    The default fitting range: from the end of the sensor's first octave (2 px: lag 1 is
    dominated by the point-spread function) to a sixth of the field.
:func:`fit_break`
    Continuous two-segment (hinge) fit in log-log: grid search of the break then profile
    refinement, slopes below/above, a profile-likelihood interval for the break, an F test and
    the BIC against a single power law.
:func:`bootstrap_structure_function`
    Structure functions with a spatial moving-block bootstrap: increments are summed within
    square tiles (no pair crosses a tile border), tiles are resampled with replacement.
:func:`fit_scaling`
    ``zeta(q)``, ``H = zeta(2)/2``, ``c1``, ``c2``, ``beta`` and the break of ``S_2``, with
    percentile intervals from the block bootstrap.
:func:`local_slopes`
    Local exponents between successive dyadic lags (the statistic behind statements such as
    "the local Hurst exponent falls from 0.8 at 250-500 m to 0.12 at 4-8 km").

References
----------
H. R. Kuensch (1989). The jackknife and the bootstrap for general stationary observations.
*Annals of Statistics* 17(3), 1217-1241 (moving block bootstrap).

D. J. Nordman, S. N. Lahiri & B. L. Fridley (2007). Optimal block size for variance estimation
by a spatial block bootstrap method. *Sankhya* 69(3), 468-493.

V. M. R. Muggeo (2003). Estimating regression models with unknown break-points. *Statistics
in Medicine* 22(19), 3055-3071.

H. Wendt, P. Abry & S. Jaffard (2007). Bootstrap for empirical multifractal analysis. *IEEE
Signal Processing Magazine* 24(4), 38-48.

The package, one module per responsibility
------------------------------------------
``ols``
    :class:`FitResult`, :func:`fit_loglog`, :func:`choose_scale_range`,
    :data:`MAX_SCALE_FRACTION`.
``breaks``
    :class:`BreakResult`, :func:`fit_break` and the hinge helpers.
``bootstrap``
    :func:`bootstrap_structure_function`: per-tile pair sums and the block bootstrap.
``leaders``
    Log wavelet leaders, their whole-field ``c1``, ``c2`` and joint-octave block bootstrap.
``calibration``
    The fBm calibrations of the ``zeta(q)`` and ``c1``, ``c2`` intervals (cached).
``backend``
    :class:`FieldBackend`: the field-wide computations of :func:`fit_scaling`.
``cumulants``
    :func:`leader_log_cumulants`: octaves, bias correction and intervals of ``c1``, ``c2``
    (:data:`LEADER_WAVELET`, :data:`WAVELET_J1`, :data:`WAVELET_MIN_COUNT`,
    :data:`GAMMA_MIN_J1`).
``scaling``
    :func:`fit_scaling`, in named steps.
``local``
    :func:`local_slopes`.
``inputs``
    Argument checks shared by the modules.

Every name is re-exported here (the private helpers too, for the chunked backend
:mod:`scalelaws.stats.chunked` and the tests). A helper is looked up in the module that
defines or imports it, so a test that replaces one must patch that module (e.g.
``scalelaws.fit.backend._lrd_inflation`` for :class:`FieldBackend`).

"""

from __future__ import annotations

from scalelaws.fit.backend import FieldBackend
from scalelaws.fit.bootstrap import (
    _boot_core,
    _boot_from_sums,
    _sf,
    _tile_sf,
    _tile_starts,
    bootstrap_structure_function,
)
from scalelaws.fit.breaks import (
    BreakResult,
    _break_grid,
    _hinge_design,
    _hinge_profile,
    fit_break,
)
from scalelaws.fit.calibration import (
    _CALIB_CACHE,
    _WAV_CALIB_CACHE,
    ZETA_CALIB_BOOT,
    _lrd_inflation,
    _wavelet_calibration,
)
from scalelaws.fit.cumulants import (
    GAMMA_MIN_J1,
    LEADER_WAVELET,
    WAVELET_J1,
    WAVELET_MIN_COUNT,
    _wavelet_octaves,
    _wavelet_part,
    leader_log_cumulants,
)
from scalelaws.fit.inputs import RngLike, _as_field, _check_level, _pixel_size, _rng
from scalelaws.fit.leaders import _block_sums, _leader_block_bootstrap, _log_leaders, _wls_c12
from scalelaws.fit.local import local_slopes
from scalelaws.fit.ols import (
    MAX_SCALE_FRACTION,
    FitResult,
    _clean_xy,
    choose_scale_range,
    fit_loglog,
)
from scalelaws.fit.scaling import _fit_lags, fit_scaling

__all__ = [
    "FitResult",
    "BreakResult",
    "fit_loglog",
    "choose_scale_range",
    "fit_break",
    "bootstrap_structure_function",
    "fit_scaling",
    "FieldBackend",
    "leader_log_cumulants",
    "local_slopes",
]

# constants and private helpers that other modules and the tests import from here
# (scalelaws.stats.chunked, scalelaws.core.scales' table, tests/test_fit.py, tests/test_chunked.py)
_REEXPORTED = (
    MAX_SCALE_FRACTION, LEADER_WAVELET, WAVELET_J1, WAVELET_MIN_COUNT, GAMMA_MIN_J1,
    ZETA_CALIB_BOOT, RngLike, _CALIB_CACHE, _WAV_CALIB_CACHE, _as_field, _block_sums,
    _boot_core, _boot_from_sums, _break_grid, _check_level, _clean_xy, _fit_lags,
    _hinge_design, _hinge_profile, _leader_block_bootstrap, _log_leaders, _lrd_inflation,
    _pixel_size, _rng, _sf, _tile_sf, _tile_starts, _wavelet_calibration, _wavelet_octaves,
    _wavelet_part, _wls_c12,
)
