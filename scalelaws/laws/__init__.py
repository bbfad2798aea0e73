"""Correction laws: how multiscale statistics change from one scale band to the next.

Scale invariance says that the statistics of the 1 km -> 250 m band follow from those of the
4 km -> 1 km band by a single power law. Real land surfaces break it (on the shared ASTER
250 m fields the local Hurst exponent falls from about 0.8 at 250-500 m to about 0.1 at
4-8 km). A :class:`CorrectionLaw` is fitted on high-resolution scenes (ASTER, Landsat,
synthetic landscapes), per landscape, and encodes

* the local exponent ``zeta_q(l) = d log S_q / d log l`` of the structure functions as a
  **smooth function of log-scale**: ``log S_q`` is fitted by weighted least squares with a
  polynomial of low degree in ``u = log(l / l_ref)`` (weights = inverse bootstrap variance of
  ``log S_q`` at each lag), so ``zeta_local`` is its derivative;
* the **detail energy** ``D(l)``: the variance of the detail added when refining block means from
  size ``l`` to ``l/2``, ``D(l) = var(X_{l/2} - upsampled X_l)`` (block-mean, i.e. Haar,
  coarse-graining on the pixels; coarse pixels *are* block means, so this statistic is measured
  identically on a coarse field), with the same smoothing of ``log D`` in ``log l``;
* the LST-NDVI regression slope (OLS of LST on NDVI, scene means removed) and correlation of
  block means as functions of block size.

Intervals come from a bootstrap over scenes (or spatial tiles when there are fewer than 10
scenes, see :func:`scalelaws.landscapes.bootstrap_weights`): every replicate is re-pooled and
re-smoothed, so the intervals of the smooth curves and of every prediction are percentile
intervals of the replicates.

Predictions
-----------
:meth:`CorrectionLaw.predict_sf` anchors the law's ``log S_q`` on structure functions measured
in a coarse band and integrates the local exponent downward,
``log S(l_fine) = log S(l_ref) - int_{l_fine}^{l_ref} zeta_local dlog l``,
and compares with the scale-invariant extrapolation (one exponent fitted on the coarse band).
:meth:`CorrectionLaw.detail_energy_ratio` gives the energy added by the fine band relative to the
coarse band, by the law and by scale invariance. :meth:`CorrectionLaw.conditioning` packs the
law into the fixed-length vector fed to the super-resolution networks.

Layout
------
:mod:`scalelaws.laws.law` (:class:`CorrectionLaw` and its queries), :mod:`scalelaws.laws.fitting`
(the steps of :meth:`CorrectionLaw.fit`), :mod:`scalelaws.laws.curves` (the smooth polynomials in
log-scale), :mod:`scalelaws.laws.detail` (:func:`detail_energy` of one field),
:mod:`scalelaws.laws.io` (:func:`load_law`), :mod:`scalelaws.laws.report` (summary table and
plot) and :mod:`scalelaws.laws.schema` (required variables, file format version, conditioning
names). Every public name is importable from :mod:`scalelaws.laws`.
"""

from __future__ import annotations

from scalelaws.laws.curves import OUTSIDE_TOL, _dvander, _fit_curve, _Poly, _vander, _wls_poly
from scalelaws.laws.detail import detail_energy
from scalelaws.laws.io import load_law
from scalelaws.laws.law import CorrectionLaw
from scalelaws.laws.schema import _REQUIRED, CONDITIONING_NAMES, LAW_FORMAT_VERSION

__all__ = ["CorrectionLaw", "load_law", "CONDITIONING_NAMES", "detail_energy"]

# private names of the former single module, kept importable from here
_PRIVATE = (OUTSIDE_TOL, LAW_FORMAT_VERSION, _REQUIRED, _Poly, _dvander, _fit_curve, _vander, _wls_poly)
