"""Aggregation onto a coarser grid: THE single definition (pure NumPy, no xarray).

Every aggregation of the project goes through this module: the block coarse-graining of
:func:`scalelaws.grids.coarsen` / :func:`scalelaws.grids.degrade` (and therefore every statistic
across scales and the SR training pairs), the geotransform aggregation of the baselines
(``analysis.baselines.aggregate_to``) and of the LST-NDVI relation
(``scalelaws.stats.coarse``), and the block means of the per-landscape sums
(``scalelaws.landscapes``).

Definitions
-----------
Membership
    A fine pixel belongs to the coarse pixel that contains its centre.  On nested grids
    (``factor x factor`` blocks starting at the raster origin) this is the block
    (:func:`block_sums`); on grids related by their geotransforms it is given by the row and
    column index of each fine pixel (:func:`centre_index`, :func:`index_sums`).
Aggregate (``method``)
    ``"mean"``: the arithmetic mean of the valid (finite) fine pixels of the coarse pixel.
    ``"radiance"``: ``(mean T**4)**(1/4)``, the radiance-consistent mean of temperatures in
    kelvin (Stefan-Boltzmann, emissivity uniform within the coarse pixel).
Coverage (the one rule, :func:`covered`)
    ``coverage = count / n_fine``: the fraction of the ``n_fine = factor**2`` fine pixels of a
    coarse pixel that are valid.  A coarse pixel is kept when ``count > 0`` and
    ``coverage >= min_coverage`` (up to :data:`COVERAGE_TOL`), and is NaN otherwise.
    ``min_coverage = 1`` keeps complete blocks only; ``min_coverage = 1 - max_missing`` is the
    ``max_missing`` knob of :mod:`scalelaws.grids` and :mod:`scalelaws.stats`.

The block functions work on the last two axes (extra leading axes are aggregated
independently) and accept NumPy or dask arrays (dask stays lazy).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

__all__ = [
    "AGGREGATIONS",
    "COVERAGE_TOL",
    "aggregate_blocks",
    "aggregate_by_index",
    "block_sum",
    "block_sums",
    "centre_index",
    "covered",
    "finish_mean",
    "index_sums",
]

#: The aggregation methods.
AGGREGATIONS = ("mean", "radiance")
Aggregation = Literal["mean", "radiance"]

#: Absolute tolerance on the coverage fraction (so that ``1 - max_missing`` computed in floating
#: point keeps the blocks it names).
COVERAGE_TOL = 1e-9


def _check_method(method: str) -> None:
    if method not in AGGREGATIONS:
        # plain ValueError: the core has no file to name; callers raise InputError first
        raise ValueError(f"aggregation method must be one of {AGGREGATIONS}, got {method!r}")


def covered(count: Any, n_fine: float, min_coverage: float) -> Any:
    """Apply the one coverage rule: ``count > 0`` and ``count / n_fine >= min_coverage``.

    Parameters
    ----------
    count
        Number of valid fine pixels per coarse pixel (array, any shape).
    n_fine
        Number of fine pixels that make a complete coarse pixel (``factor**2``).
    min_coverage
        Minimum valid fraction in ``[0, 1]`` (tolerance :data:`COVERAGE_TOL`).

    Returns
    -------
    numpy.ndarray of bool
        True where the coarse pixel is kept.

    """
    return (count > 0) & (count / float(n_fine) >= float(min_coverage) - COVERAGE_TOL)


def block_sum(a: Any, factor: int) -> Any:
    """Plain sums over ``factor x factor`` blocks of the last two axes (no NaN handling).

    Blocks start at index 0; trailing rows / columns that do not fill a block are dropped.

    Parameters
    ----------
    a
        Array ``(..., ny, nx)`` (NumPy or dask).
    factor
        Block size (>= 1).

    Returns
    -------
    array
        ``(..., ny // factor, nx // factor)``.

    """
    f = int(factor)
    ny, nx = a.shape[-2] // f, a.shape[-1] // f
    a = a[..., : ny * f, : nx * f]
    return a.reshape(*a.shape[:-2], ny, f, nx, f).sum(axis=(-3, -1))


def _weights(values: Any, method: str) -> tuple[Any, Any]:
    ok = np.isfinite(values)
    v = np.where(ok, values, 0.0)
    return (v**4 if method == "radiance" else v), ok


def block_sums(values: Any, factor: int, *, method: Aggregation = "mean") -> tuple[Any, Any]:
    """Sum of the valid values (``T**4`` for ``"radiance"``) and valid count per block.

    Parameters
    ----------
    values
        Array ``(..., ny, nx)``, NaN = missing (NumPy or dask).
    factor
        Block size (>= 1); trailing rows / columns are dropped.
    method
        ``"mean"`` or ``"radiance"``.

    Returns
    -------
    total, count
        float64 arrays ``(..., ny // factor, nx // factor)``.

    """
    _check_method(method)
    if not hasattr(values, "astype"):
        values = np.asarray(values)
    v, ok = _weights(values.astype(np.float64), method)
    return block_sum(v, factor), block_sum(ok.astype(np.float64), factor)


def finish_mean(
    total: Any,
    count: Any,
    n_fine: float,
    *,
    method: Aggregation = "mean",
    min_coverage: float = 0.5,
    coverage_count: Any = None,
) -> Any:
    """Coarse values from the sums: ``total / count`` (4th root for radiance), NaN when not covered.

    Parameters
    ----------
    total, count
        From :func:`block_sums` / :func:`index_sums`.
    n_fine
        Fine pixels in a complete coarse pixel (``factor**2``).
    method
        ``"mean"`` or ``"radiance"``.
    min_coverage
        See :func:`covered`.
    coverage_count
        Valid count that decides the coverage when it differs from ``count`` (the PSF
        degradation averages a filtered field but judges coverage on the original pixels);
        default ``count``.

    Returns
    -------
    array
        float64, NaN where the coarse pixel is not covered.

    """
    _check_method(method)
    keep = covered(count if coverage_count is None else coverage_count, n_fine, min_coverage)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / np.where(count > 0, count, np.nan)
    if method == "radiance":
        mean = mean**0.25
    return np.where(keep, mean, np.nan)


def aggregate_blocks(
    values: Any,
    factor: int,
    *,
    method: Aggregation = "mean",
    min_coverage: float = 0.5,
    valid: Any = None,
) -> Any:
    """Aggregate ``factor x factor`` blocks of the last two axes (the nested-grid case).

    Parameters
    ----------
    values
        Array ``(..., ny, nx)``, NaN = missing (NumPy or dask; dask stays lazy).
    factor
        Block size (>= 1); blocks start at index 0, trailing rows / columns are dropped.
    method
        ``"mean"`` or ``"radiance"`` (positive values, kelvin).
    min_coverage
        See :func:`covered`.
    valid
        Boolean array like ``values`` that defines the coverage (default: finite ``values``).

    Returns
    -------
    array
        float64 ``(..., ny // factor, nx // factor)``.

    """
    total, count = block_sums(values, factor, method=method)
    cov = None if valid is None else block_sum(valid.astype(np.float64), factor)
    return finish_mean(total, count, float(factor) ** 2, method=method,
                       min_coverage=min_coverage, coverage_count=cov)


def centre_index(centres: np.ndarray, edge: float, step: float) -> np.ndarray:
    """Index of the coarse pixel containing each fine pixel centre along one axis.

    Parameters
    ----------
    centres
        Fine pixel centres (map units).
    edge
        Outer edge of coarse pixel 0 (map units).
    step
        Signed coarse pixel size (negative for north-up ``y``).

    Returns
    -------
    numpy.ndarray
        int64 indices (values outside ``[0, n_coarse)`` are outside the coarse grid); a centre
        on a coarse edge (to ``1e-9`` coarse pixel) goes to the pixel after it.

    """
    pos = (np.asarray(centres, dtype=np.float64) - float(edge)) / float(step)
    return np.floor(pos + 1e-9).astype(np.int64)


def index_sums(
    values: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    shape: tuple[int, int],
    *,
    method: Aggregation = "mean",
) -> tuple[np.ndarray, np.ndarray]:
    """Sum and count per coarse pixel, fine pixel ``(i, j)`` going to ``(rows[i], cols[j])``.

    Parameters
    ----------
    values
        2-D fine array, NaN = missing.
    rows, cols
        Coarse row of each fine row and coarse column of each fine column
        (:func:`centre_index`); out-of-range indices are dropped.
    shape
        Coarse shape ``(ny, nx)``.
    method
        ``"mean"`` or ``"radiance"``.

    Returns
    -------
    total, count
        float64 arrays of ``shape``.

    """
    _check_method(method)
    v = np.asarray(values, dtype=np.float64)
    ny, nx = int(shape[0]), int(shape[1])
    rr, cc = np.meshgrid(np.asarray(rows), np.asarray(cols), indexing="ij")
    ok = np.isfinite(v) & (rr >= 0) & (rr < ny) & (cc >= 0) & (cc < nx)
    flat = rr[ok] * nx + cc[ok]
    w = v[ok] ** 4 if method == "radiance" else v[ok]
    total = np.bincount(flat, weights=w, minlength=ny * nx).reshape(ny, nx)
    count = np.bincount(flat, minlength=ny * nx).reshape(ny, nx).astype(np.float64)
    return total, count


def aggregate_by_index(
    values: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    shape: tuple[int, int],
    factor: int,
    *,
    method: Aggregation = "mean",
    min_coverage: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Aggregate a fine field onto a coarse grid by pixel-centre membership (any offset).

    Parameters
    ----------
    values
        2-D fine array, NaN = missing.
    rows, cols, shape
        See :func:`index_sums`.
    factor
        Integer ratio of the pixel sizes (a complete coarse pixel has ``factor**2`` fine
        pixels).
    method
        ``"mean"`` or ``"radiance"``.
    min_coverage
        See :func:`covered`.

    Returns
    -------
    mean, coverage
        float64 arrays of ``shape``: the aggregate (NaN where not covered) and the valid
        fraction ``count / factor**2``.

    """
    total, count = index_sums(values, rows, cols, shape, method=method)
    n_fine = float(factor) ** 2
    return (finish_mean(total, count, n_fine, method=method, min_coverage=min_coverage),
            count / n_fine)
