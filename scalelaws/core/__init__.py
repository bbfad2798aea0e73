"""The single definitions the rest of the project calls (pure NumPy, no xarray, no torch).

* :mod:`scalelaws.core.aggregate`: aggregation onto a coarser grid (block or pixel-centre
  membership, mean or radiance mean, one coverage rule).

See ``docs/core.md`` for where each concept lives.
"""
