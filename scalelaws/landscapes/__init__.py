"""Landscape classes and per-landscape scaling exponents.

A *landscape* is a set of pixels (a class of a land-cover map, an NDVI class, or a user mask).
Statistics restricted to a landscape use only the pairs (structure functions) or the blocks
(detail energies, LST-NDVI regressions) that lie inside it: the field is set to NaN outside the
class and the NaN-aware sums skip every pair with a missing end.

Three ways to build classes

* :func:`classify_ndvi` - water, bare or urban, grass or crop, forest from NDVI thresholds;
* :func:`classes_from_landcover` - a user land-cover raster, re-projected (nearest) onto the LST
  grid, with an optional ``{name: codes}`` mapping;
* a plain ``dict`` of boolean masks ``{name: DataArray}`` (masks may overlap).

Labels are integer DataArrays with CF ``flag_values`` / ``flag_meanings`` attributes and
:data:`UNCLASSIFIED` (-1) where no class applies; :func:`class_masks` turns labels (or a dict
of masks) into a dict of boolean masks.

The statistics
--------------
:func:`landscape_sums` is the single accumulation pass: for every scene, every spatial *unit*
(a tile of ``block_px`` x ``block_px`` pixels) and every landscape it returns **sums and counts**
(never ratios): structure-function sums of ``|X(p + l) - X(p)|^q`` over the pairs whose first end
lies in the unit (lags along x and along y, pooled), block-mean detail energies per octave and
centred LST-NDVI cross products per block scale. Sums from several scenes, tiles or calls add up
exactly; a bootstrap resamples the units. Scenes are processed as one ``dask.delayed`` task each
and gathered with :func:`dask.compute`, so the same call runs on the threaded scheduler or, with
no change, on a ``dask.distributed`` cluster when a ``Client`` is active.

:func:`exponents_by_landscape` fits the scaling exponents ``zeta(q)`` per landscape with
bootstrap intervals; :func:`windowed_exponents` maps local exponents over moving windows.

The package, one module per stage
---------------------------------
``classes``
    :func:`classify_ndvi`, :func:`classes_from_landcover`, :func:`class_masks` and the labels.
``inputs``
    Scenes and per-scene arguments, pixel size, :func:`default_lags`.
``tiles``
    The per-tile sums of one scene (:func:`tile_sf_sums`, detail energies, LST-NDVI cross
    products): the body of the one dask task per scene.
``sums``
    :func:`landscape_sums` (the accumulation pass) and :func:`bootstrap_weights`.
``exponents``
    :func:`exponents_by_landscape`.
``windowed``
    :func:`windowed_exponents`.
"""

from __future__ import annotations

from scalelaws.landscapes.classes import (
    ALL,
    DEFAULT_NDVI_THRESHOLDS,
    NDVI_CLASSES,
    UNCLASSIFIED,
    ClassesLike,
    class_masks,
    classes_from_landcover,
    classify_ndvi,
)
from scalelaws.landscapes.exponents import (
    _cf_dataset,
    _per_landscape_extras,
    exponents_by_landscape,
)
from scalelaws.landscapes.inputs import _as_scenes, _per_scene, _pixel_size, default_lags
from scalelaws.landscapes.sums import bootstrap_weights, landscape_sums
from scalelaws.landscapes.tiles import (
    _check_q,
    _detail_level,
    _pyramid,
    _regression_level,
    _scene_sums,
    _scene_task,
    _tile_ids,
    tile_sf_sums,
)
from scalelaws.landscapes.windowed import windowed_exponents

__all__ = [
    "DEFAULT_NDVI_THRESHOLDS",
    "NDVI_CLASSES",
    "UNCLASSIFIED",
    "ALL",
    "classify_ndvi",
    "classes_from_landcover",
    "class_masks",
    "default_lags",
    "landscape_sums",
    "bootstrap_weights",
    "exponents_by_landscape",
    "windowed_exponents",
]

# private helpers other modules import from here (scalelaws.laws, scalelaws.stats.chunked)
_REEXPORTED = (ClassesLike, _as_scenes, _per_scene, _pixel_size, _check_q, _detail_level,
               _pyramid, _regression_level, _scene_sums, _scene_task, _tile_ids, tile_sf_sums,
               _cf_dataset, _per_landscape_extras)
