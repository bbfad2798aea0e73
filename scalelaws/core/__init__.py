"""The single definitions the rest of the project calls (pure NumPy, no xarray, no torch).

* :mod:`scalelaws.core.aggregate`: aggregation onto a coarser grid (block or pixel-centre
  membership, mean or radiance mean, one coverage rule).
* :mod:`scalelaws.core.interpolate`: "bicubic" (Keys cubic convolution, ``a = -0.5``, pixel
  centres).
* :mod:`scalelaws.core.estimate`: least-squares slopes, percentile intervals, pooled ratios of
  additive sums (``S`` and ``D`` with ``min_pairs``).
* :mod:`scalelaws.core.scales`: the lag policy.

Co-registration onto a fine grid is :func:`scalelaws.grids.place_on_grid` (it needs the
geotransforms, hence xarray); the normalisation of the networks is :mod:`sr.normalise`.
See ``docs/core.md`` for where each concept lives.
"""
