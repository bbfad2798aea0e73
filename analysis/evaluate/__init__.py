"""Evaluation of 250 m LST predictions against ASTER: co-registration, scoring, aggregation.

The protocol is the reference protocol of the shared MODIS-ASTER pairs (their README,
"Evaluation protocol"); scores are computed **on the ASTER grid**, because ASTER is the
independent reference and resampling it would smooth the very detail being judged, while the
prediction is a model output that can be resampled at no loss of fairness:

1. **Co-registration.** The ASTER fields are displaced relative to MODIS (about 175 m east and
   175 m south for these pairs). :func:`estimate_offset` estimates the displacement from the
   data: for translations ``(dx, dy)`` of ASTER on a grid of ``step_m`` (58 m) within
   ``+-max_m`` (500 m), ASTER is block-averaged onto each MODIS 1 km grid (bilinear samples of
   ASTER at 4 x 4 points per 1 km pixel, i.e. one per ASTER pixel, averaged; 1 km pixels with
   any invalid sample are dropped), the Pearson correlation with the MODIS LST is computed per
   pair and averaged over pairs, and the peak of the mean correlation is located by a quadratic
   fit on the 3 x 3 neighbourhood of the best grid point. Offsets are ``(dx_m, dy_m)`` in the
   MODIS (sinusoidal) frame, **x east, y north**, giving where ASTER features sit relative to
   the MODIS ones: ``(+175, -175)`` means 175 m east and 175 m south.
2. **Scoring** (:func:`score_pair`). The ASTER grid is translated back by the offset, expressed
   as a UTM vector at the patch centre (the local Jacobian of sinusoidal -> UTM). The
   prediction is reprojected onto that grid with bilinear resampling (GDAL). Scored pixels are
   ASTER-valid pixels inside the reprojected prediction's footprint eroded by one pixel (3 x 3
   square); :func:`evaluate` scores every method of a pair on the same pixels, inside the
   intersection of all the methods' footprints. The metrics are those of :mod:`analysis.metrics`; the PSNR/SSIM range ``R`` is
   ``max - min`` of ASTER over the scored pixels; the consistency error compares the
   prediction, re-aggregated with ``(mean T^4)^(1/4)`` on its own grid, with the 1 km input.
   The scale-aware metrics (structure functions, spectral band variances) are computed on each
   field's **native grid** (the prediction on its 250 m grid over the pixels whose centres fall
   in the scored area, ASTER on its own grid, the same lags in metres): the bilinear
   reprojection would smooth the prediction's 1-2 pixel lags (``scale_grid="reference"``
   keeps the former behaviour). :func:`score_fields` applies the same protocol to any
   prediction and reference rasters (``scalelaws evaluate``).
3. **Aggregation** (:func:`summarize`): mean over pairs with percentile bootstrap intervals over
   pairs; :func:`paired_difference` gives method-minus-reference differences with intervals

The package, one module per stage
---------------------------------
``protocol``
    :data:`PROTOCOL`, :data:`SCALAR_METRICS` and the argument types.
``registration``
    :func:`offset_correlation`, :func:`estimate_offset`, :func:`registered_aster`,
    :func:`reproject_to_aster`, :func:`reproject_onto`, :func:`native_mask`.
``scoring``
    :func:`score_fields`, :func:`score_pair`.
``single``
    :func:`evaluate_prediction` (``scalelaws evaluate``), :func:`metrics_json`,
    :func:`metrics_table`, :func:`write_metrics`.
``benchmark``
    :func:`evaluate` (many methods on many pairs), :func:`open_pairs`.
``summary``
    :func:`summarize`, :func:`paired_difference`.
``report``
    :func:`markdown_table`, :func:`write_results`.
"""

from __future__ import annotations

from analysis.evaluate.benchmark import evaluate, open_pairs
from analysis.evaluate.protocol import (
    _SUBSAMPLES,
    PROTOCOL,
    SCALAR_METRICS,
    OffsetSpec,
    Predictor,
    ScaleGrid,
)
from analysis.evaluate.registration import (
    _BlockSampler,
    _crs,
    _jacobian,
    _pixel_m,
    _quadratic_peak,
    _resolve_offset,
    _target_grid,
    _translated_grid,
    coarse_disagreement,
    estimate_offset,
    native_mask,
    offset_correlation,
    offset_to_utm,
    registered_aster,
    reproject_onto,
    reproject_to_aster,
)
from analysis.evaluate.report import markdown_table, write_results
from analysis.evaluate.scoring import _scale_metrics_native, score_fields, score_pair
from analysis.evaluate.single import (
    _check_lst,
    evaluate_prediction,
    metrics_json,
    metrics_table,
    write_metrics,
)
from analysis.evaluate.summary import _boot_index, paired_difference, summarize

__all__ = [
    "PROTOCOL",
    "SCALAR_METRICS",
    "Predictor",
    "coarse_disagreement",
    "estimate_offset",
    "evaluate",
    "evaluate_prediction",
    "markdown_table",
    "metrics_json",
    "metrics_table",
    "offset_correlation",
    "offset_to_utm",
    "open_pairs",
    "paired_difference",
    "reproject_to_aster",
    "native_mask",
    "reproject_onto",
    "score_fields",
    "score_pair",
    "summarize",
    "write_metrics",
    "write_results",
]

# names other modules and tests use that are not in __all__
_REEXPORTED = (_SUBSAMPLES, OffsetSpec, ScaleGrid, _BlockSampler, _crs, _jacobian, _pixel_m,
               _quadratic_peak, _resolve_offset, _target_grid, _translated_grid, registered_aster,
               _scale_metrics_native, _check_lst, _boot_index)
