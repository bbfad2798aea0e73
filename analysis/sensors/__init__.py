"""Correction laws across sensors: Landsat and airborne thermal fields against the ASTER law.

The laws of :mod:`scalelaws.laws` were fitted on ASTER only (231.65 m pixels). This module reads
every other thermal field of the shared data, fits one :class:`~scalelaws.laws.CorrectionLaw`
per field and landscape, and sets them side by side with the ASTER law where the scale ranges
overlap:

* the **local Hurst exponent** ``H(l) = zeta_2(l) / 2`` of the smooth law at common dyadic
  scales :data:`SCALES_M` (only inside each law's fitted range: nothing is extrapolated), with
  its bootstrap interval, and the raw **per-octave** exponents between lags ``l/2`` and ``l``;
* the **detail-energy ratio** of the 1 km -> 250 m band to the 4 km -> 1 km band (and its
  correction relative to scale invariance), only where the field's detail range covers both
  bands (within :data:`EDGE_TOL` of its ends);
* the **LST-NDVI slope** of block means across block sizes, where red / NIR bands exist.

Fields (:func:`load_fields`; every one is labelled with what it measures):

========================  ==========================  =========  =========  ===================
key                       quantity                    pixel      thermal    landscapes
========================  ==========================  =========  =========  ===================
landsat8_carolina         brightness temperature      900 m      900 m [1]  TOA NDVI classes
landsat8_mendoza          brightness temperature      30 m       100 m      SR NDVI classes
landsat5_para             brightness temperature      30 m       120 m      TOA NDVI classes
landsat7_raleigh          brightness temperature      57 m       60 m       landclass96.tif
landsat7_pennsylvania_*   brightness temperature      30 m       60 m       TOA NDVI classes
desirex_madrid_20m/100m   LST (airborne)              20/100 m   same       one class
grapex_vineyard_am/pm     radiometric temperature     3.6 m      same       one class
landsat8_c2l2_amazonas    LST (Collection 2 L2)       600 m      600 m      excluded [2]
========================  ==========================  =========  =========  ===================

[1] a 900 m reduction of the 100 m TIRS band; the reduced pixel is the resolution limit.
[2] 99.94 % cloud (MTL): after the QA_PIXEL cloud mask fewer pixels remain than a law needs.

Landsat thermal bands are delivered resampled to 30 m (57 m for the Raleigh ETM+ crop) from a
60 m (ETM+), 100 m (TIRS) or 120 m (TM) detector footprint: their 30 m pixels carry no
independent information below the thermal pixel. Such fields are block-averaged
(:func:`scalelaws.grids.coarsen`) by the integer factor nearest to the thermal pixel before
fitting, and every law spans lags from **two analysis pixels** (about twice the thermal pixel)
to **a quarter of the field's shorter side**.

Calibration: Level-1 thermal bands give at-sensor brightness temperature, not LST (no
emissivity, no atmospheric correction); crops with an MTL use its constants
(:func:`scalelaws.io.open_landsat_l1_bt`), the Landsat 7 crops without MTL use stated
constants (:data:`ETM_THERMAL`, :data:`ETM_REFLECTIVE`, :data:`ESUN`; Chander, Markham &
Helder 2009, Remote Sens. Environ. 113, 893-903, and the scene metadata quoted by the R
package ``landsat``). NDVI is computed from top-of-atmosphere reflectance (the sun-elevation
and Earth-Sun-distance factors cancel in the ratio), or from the surface reflectance of the
Mendoza crop.

Intervals: the ASTER law has 40 scenes and a bootstrap over scenes; every other field is one
scene, so its interval comes from a bootstrap over spatial tiles, which is too narrow for a
single long-range-correlated field (see docs/laws.md): read single-field intervals as lower
bounds of the uncertainty. The difference to ASTER gets an approximate interval from the two
half-widths added in quadrature (independent bootstraps); ``agrees`` is 1 when it contains 0.

Command: ``scalelaws benchmark sensors -o DIR`` (see :func:`run_sensors`).

Layout: :mod:`analysis.sensors.readers` (:class:`SensorField` and one reader per product,
:data:`FIELD_LOADERS`), :mod:`analysis.sensors.calibration` (stated Landsat constants, NDVI),
:mod:`analysis.sensors.fields` (:func:`load_fields`, the degraded :data:`CONTROLS`),
:mod:`analysis.sensors.fits` (:func:`fit_field_law`, :func:`fit_aster_law`,
:func:`realisation_spread`), :mod:`analysis.sensors.compare` (:func:`compare_laws`),
:mod:`analysis.sensors.tables` (:func:`markdown_table`, :func:`to_csv`) and
:mod:`analysis.sensors.run` (:func:`run_sensors`). Every public name is importable from
:mod:`analysis.sensors`.
"""

from __future__ import annotations

from analysis.sensors.calibration import ESUN, ETM_REFLECTIVE, ETM_THERMAL
from analysis.sensors.compare import (
    COARSE_BAND,
    EDGE_TOL,
    FINE_BAND,
    MIN_LANDSCAPE_PIXELS,
    REFERENCE,
    SCALES_M,
    LawEntry,
    compare_laws,
)
from analysis.sensors.fields import CONTROLS, MIN_PIXELS, control_fields, load_fields
from analysis.sensors.fits import fit_aster_law, fit_field_law, realisation_spread
from analysis.sensors.readers import FIELD_LOADERS, LANDCLASS96, SensorField
from analysis.sensors.run import run_sensors
from analysis.sensors.tables import markdown_table, to_csv

__all__ = [
    "SCALES_M",
    "SensorField",
    "FIELD_LOADERS",
    "load_fields",
    "CONTROLS",
    "control_fields",
    "fit_field_law",
    "fit_aster_law",
    "realisation_spread",
    "compare_laws",
    "markdown_table",
    "to_csv",
    "run_sensors",
]

# further names of the former single module, kept importable from here
_MORE = (COARSE_BAND, EDGE_TOL, ESUN, ETM_REFLECTIVE, ETM_THERMAL, FINE_BAND, LANDCLASS96,
         MIN_LANDSCAPE_PIXELS, MIN_PIXELS, REFERENCE, LawEntry)
