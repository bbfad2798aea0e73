r"""Structure functions: moments of increments along x, y, pooled, and full lag maps.

For a field :math:`X` and a lag vector :math:`\ell = (\ell_y, \ell_x)` (pixels) the structure
function of order :math:`q > 0` is

.. math::

    S_q(\ell) = \frac{1}{N(\ell)} \sum_{p} |X(p + \ell) - X(p)|^q ,

the sum running over the :math:`N(\ell)` pairs of pixels whose two ends are both valid (a pair
with a NaN end is skipped; ``count`` is :math:`N(\ell)`). For integer :math:`q` the signed moment
:math:`\frac{1}{N}\sum (X(p+\ell) - X(p))^q` is computed too (skewness). Directions:

``"x"``
    :math:`\ell = (0, l)`: along the ``x`` dimension (increasing column index).
``"y"``
    :math:`\ell = (l, 0)`: along the ``y`` dimension (increasing row index; southward on a
    north-up raster).
``"pooled"`` (default)
    The pairs along ``x`` and along ``y`` together: the sums over both axes divided by the total
    count (not the mean of the two ratios).
``"xy"``
    ``x`` and ``y`` separately, stacked along a ``direction`` dimension.
``"map"``
    The direction-dependent lag map :math:`S_q(\ell_y, \ell_x)` for :math:`\ell_x \in [-L, L]`,
    :math:`\ell_y \in [0, L]` (the other half plane is the same by symmetry,
    :math:`S_q(-\ell) = S_q(\ell)`; signed odd moments change sign). :func:`polar_view` turns it
    into :math:`S_q(r, \theta)` and an anisotropy summary.

Every order is computed in one pass over the data by the numba kernel
:func:`scalelaws.kernels.sf.sf_sums`, which returns *sums and counts*, so that scenes and chunks
add up exactly. Extra leading dimensions (scene, time) broadcast through
:func:`xarray.apply_ufunc`. A raster chunked by dask along ``y``/``x`` is processed chunk by
chunk: each chunk, read with a halo of the largest lag on its far sides, contributes the sums of
the pairs whose *first* end lies in it; the sum over chunks is the in-memory result up to float
rounding, without ever holding the raster in memory.

:func:`structure_function_numpy` is a plain NumPy float64 reference (tests, benchmark baseline).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Hashable, Sequence
from typing import Any, Literal

import numpy as np
import xarray as xr

from scalelaws import cf
from scalelaws.core.scales import log_lags
from scalelaws.errors import AllNaNError, GridMismatchError, InputError, ScaleRangeError
from scalelaws.kernels.sf import N_BLOCKS, STRIP, int_orders, sf_sums, sf_sums_serial

__all__ = [
    "structure_function",
    "structure_function_numpy",
    "polar_view",
    "default_lags",
]

log = logging.getLogger(__name__)

Direction = Literal["pooled", "x", "y", "xy", "map"]
_DIRECTIONS = ("pooled", "x", "y", "xy", "map")
#: Largest lag of the default lag map (the map costs ``(L + 1) (2 L + 1)`` passes over the data).
MAP_DEFAULT_MAX_LAG = 64
#: Below this many (pixel, lag) pairs per 2-D slice the serial kernel is used.
PARALLEL_MIN_PAIRS = 1 << 22
#: Orders always computed (flatness needs 2 and 4, skewness the signed 3).
_INTERNAL_Q = (2.0, 3.0, 4.0)


# ----------------------------------------------------------------------------------------------
# argument checking
# ----------------------------------------------------------------------------------------------


def default_lags(max_lag: int, *, path: str | None = None) -> np.ndarray:
    """Half-octave, log-spaced integer lags ``1, 2, 3, 4, 6, 8, 11, 16, 23, 32, ...`` up to ``max_lag``.

    Parameters
    ----------
    max_lag
        Largest lag (pixels), at least 1.
    path
        File the lags are for (named in the error message).

    Returns
    -------
    numpy.ndarray
        Sorted unique ``int64`` lags ``round(2**(k/2)) <= max_lag``, ``k = 0, 1, ...``.

    Raises
    ------
    scalelaws.errors.ScaleRangeError
        ``max_lag < 1``.

    """
    max_lag = int(max_lag)
    if max_lag < 1:
        raise ScaleRangeError(f"the largest lag must be at least 1 pixel, got {max_lag}", path)
    return log_lags(max_lag, 2, bound="rounded")  # the project's lag rule (scalelaws.core.scales)


def _check_q(q: float | Sequence[float]) -> np.ndarray:
    qs = np.atleast_1d(np.asarray(q, dtype=np.float64))
    if qs.ndim != 1 or qs.size == 0:
        raise InputError(f"q must be a number or a 1-D sequence of numbers, got {q!r}")
    if not np.all(np.isfinite(qs)) or np.any(qs <= 0):
        raise InputError(f"every order q must be finite and > 0, got {qs.tolist()}")
    return np.unique(qs)


def _int_orders(qs: np.ndarray) -> np.ndarray:
    """``q`` as int64 where it is an integer, else -1 (the kernel's integer-power flag)."""
    return int_orders(qs)


def _check_lags(lags: Any, limit: int, what: str, path: str | None = None) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(lags))
    if arr.ndim != 1 or arr.size == 0:
        raise InputError(f"lags must be a 1-D sequence of positive integers, got {lags!r}", path)
    if not np.issubdtype(arr.dtype, np.integer):
        f = arr.astype(np.float64)
        if not np.all(np.isfinite(f)) or np.any(f != np.round(f)):
            raise InputError(f"lags are in pixels and must be integers, got {arr.tolist()}", path)
        arr = np.round(f)
    arr = np.unique(arr.astype(np.int64))
    if arr[0] < 1:
        raise ScaleRangeError(f"lags must be >= 1 pixel, got {arr.tolist()}", path)
    if arr[-1] >= limit:
        raise ScaleRangeError(
            f"lag {int(arr[-1])} px is not smaller than the field's {what} ({limit} px)", path
        )
    return arr


def _spatial_dims(da: xr.DataArray) -> tuple[Hashable, Hashable]:
    if "y" in da.dims and "x" in da.dims:
        return "y", "x"
    if da.ndim < 2:
        raise InputError(
            f"field has {da.ndim} dimension(s); a 2-D (y, x) field is needed", _source(da)
        )
    return da.dims[-2], da.dims[-1]


def _as_dataarray(da: Any) -> xr.DataArray:
    if isinstance(da, xr.DataArray):
        return da
    if isinstance(da, np.ndarray) or hasattr(da, "__array__") or hasattr(da, "chunks"):
        arr = da if hasattr(da, "chunks") else np.asarray(da)
        if arr.ndim < 2:
            raise InputError(f"field has {arr.ndim} dimension(s); a 2-D (y, x) field is needed")
        dims = tuple(f"dim_{k}" for k in range(arr.ndim - 2)) + ("y", "x")
        return xr.DataArray(arr, dims=dims)
    raise InputError(f"expected an xarray.DataArray or an array, got {type(da).__name__}")


def _source(da: xr.DataArray) -> str | None:
    src = da.attrs.get("source")
    return str(src) if src else None


def _pixel_steps(
    da: xr.DataArray, ydim: Hashable, xdim: Hashable, direction: str
) -> tuple[float, float]:
    """Pixel size along y and x (metres); square pixels are required unless direction is x or y."""
    from scalelaws.grids import _coord_step, pixel_size

    try:
        p = pixel_size(da, default=1.0)
        return p, p
    except GridMismatchError:
        if direction not in ("x", "y"):
            raise
    py, px = _coord_step(da, ydim), _coord_step(da, xdim)
    fallback = float(da.attrs.get("pixel_size", 1.0))
    return (abs(py) if py is not None else fallback), (abs(px) if px is not None else fallback)


def _power_units(units: str, q: float | str) -> str:
    """Units of a q-th power: ``"K^2"``, ``"(W m-2)^0.5"``, ``"K^q"``; ``"1"`` stays ``"1"``."""
    if units in ("", "1"):
        return "1"
    qs = q if isinstance(q, str) else f"{q:g}"
    if qs == "1":
        return units
    u = units if units.isalnum() else f"({units})"
    return f"{u}^{qs}"


# ----------------------------------------------------------------------------------------------
# sums: in memory, dask-parallelized over extra dims, and chunked in y/x
# ----------------------------------------------------------------------------------------------


def _sums_nd(
    arr: np.ndarray,
    *,
    dys: np.ndarray,
    dxs: np.ndarray,
    qs: np.ndarray,
    qi: np.ndarray,
    region: tuple[int, int, int, int] | None = None,
    parallel: bool = True,
) -> np.ndarray:
    """Kernel sums for every 2-D slice of ``arr`` (spatial dims last): shape ``(..., K, 2Q+1)``.

    Small workloads (fewer than :data:`PARALLEL_MIN_PAIRS` pixel-lag pairs per slice) run on
    the serial kernel: waking numba's workers costs a scheduler time slice on busy cores.
    """
    lead = arr.shape[:-2]
    ny, nx = arr.shape[-2:]
    kern = sf_sums if parallel and ny * nx * dys.size >= PARALLEL_MIN_PAIRS else sf_sums_serial
    i0, i1, j0, j1 = region if region is not None else (0, ny, 0, nx)
    out = np.empty(lead + (dys.size, 2 * qs.size + 1))
    for idx in np.ndindex(*lead):
        a = np.ascontiguousarray(arr[idx], dtype=np.float64)
        if not a.flags.writeable:  # one compiled signature for every caller (numba types r/o)
            a = a.copy()
        out[idx] = kern(a, i0, i1, j0, j1, dys, dxs, qs, qi, N_BLOCKS, STRIP)
    return out


def _sums_chunked(
    data: Any, dys: np.ndarray, dxs: np.ndarray, qs: np.ndarray, qi: np.ndarray
) -> Any:
    """Exact sums for a dask array chunked along its last two (spatial) axes.

    Each chunk ``[y0, y1) x [x0, x1)`` is read with a halo reaching ``max(dy)`` rows below and
    ``max(dx, 0)`` / ``max(-dx, 0)`` columns right / left of it (clipped to the raster) and
    contributes the sums of the pairs whose first end lies in the chunk; the chunk sums add up.
    """
    import dask.array as dsa

    nd = data.ndim
    ny, nx = data.shape[-2:]
    K, W = dys.size, 2 * qs.size + 1
    down = int(dys.max())
    right = max(int(dxs.max()), 0)
    left = max(int(-dxs.min()), 0)
    yb = np.cumsum((0,) + tuple(data.chunks[-2]))
    xb = np.cumsum((0,) + tuple(data.chunks[-1]))
    parts = []
    for y0, y1 in zip(yb[:-1], yb[1:], strict=True):
        for x0, x1 in zip(xb[:-1], xb[1:], strict=True):
            ye = min(ny, int(y1) + down)
            xs = max(0, int(x0) - left)
            xe = min(nx, int(x1) + right)
            sub = data[..., int(y0) : ye, xs:xe].rechunk({nd - 2: -1, nd - 1: -1})
            region = (0, int(y1 - y0), int(x0) - xs, int(x1) - xs)
            parts.append(
                sub.map_blocks(
                    _sums_nd,
                    dys=dys,
                    dxs=dxs,
                    qs=qs,
                    qi=qi,
                    region=region,
                    parallel=False,
                    chunks=sub.chunks[:-2] + ((K,), (W,)),
                    dtype=np.float64,
                    meta=np.empty((0,) * nd, dtype=np.float64),
                )
            )
    log.debug(
        "chunked structure function: %d chunks, halo %d/%d/%d px", len(parts), down, left, right
    )
    return dsa.stack(parts, axis=0).sum(axis=0)


def _raw_sums(
    da: xr.DataArray,
    ydim: Hashable,
    xdim: Hashable,
    dys: np.ndarray,
    dxs: np.ndarray,
    qs: np.ndarray,
) -> xr.DataArray:
    """Compute the sums and counts as a DataArray ``(..., offset, stat)`` (numpy or dask)."""
    qi = _int_orders(qs)
    K, W = dys.size, 2 * qs.size + 1
    data = da.data
    is_dask = hasattr(data, "dask") and hasattr(data, "chunks")
    lead = [d for d in da.dims if d not in (ydim, xdim)]
    if is_dask:
        da_t = da.transpose(*lead, ydim, xdim)
        spatial_chunks = da_t.data.chunks[-2:]
        if len(spatial_chunks[0]) > 1 or len(spatial_chunks[1]) > 1:
            raw = _sums_chunked(da_t.data, dys, dxs, qs, qi)
            coords = {d: da_t[d] for d in lead if d in da_t.coords}
            return xr.DataArray(raw, dims=(*lead, "offset", "stat"), coords=coords)
    return xr.apply_ufunc(
        _sums_nd,
        da,
        input_core_dims=[[ydim, xdim]],
        output_core_dims=[["offset", "stat"]],
        dask="parallelized",
        vectorize=False,
        output_dtypes=[np.float64],
        dask_gufunc_kwargs={"output_sizes": {"offset": K, "stat": W}},
        kwargs={"dys": dys, "dxs": dxs, "qs": qs, "qi": qi, "parallel": not is_dask},
        keep_attrs=False,
    )


# ----------------------------------------------------------------------------------------------
# public API
# ----------------------------------------------------------------------------------------------


def structure_function(
    da: xr.DataArray | np.ndarray,
    q: float | Sequence[float] = (1, 2, 3, 4),
    lags: Sequence[int] | np.ndarray | None = None,
    *,
    direction: Direction = "pooled",
    max_lag: int | None = None,
    signed: bool = False,
) -> xr.Dataset:
    r"""Structure functions :math:`S_q(\ell) = \langle |X(p + \ell) - X(p)|^q \rangle` of a field.

    Parameters
    ----------
    da
        Field with spatial dims ``("y", "x")`` (or its last two dims), NaN = missing; extra
        dims (scene, time, ...) broadcast. numpy- or dask-backed; a plain array is accepted and
        treated as ``(..., y, x)`` with 1 m pixels.
    q
        Orders, any real numbers > 0 (sorted, duplicates removed). Orders 2, 3 and 4 are always
        computed internally for ``flatness`` and ``skewness`` but only the requested ones are
        returned in ``S``.
    lags
        Lags in pixels (positive integers; sorted, duplicates removed). Default: the half-octave
        :func:`default_lags` up to ``max_lag``. For ``direction="map"`` the lags give the grid
        :math:`\ell_y \in \{0\} \cup` lags, :math:`\ell_x \in \{0, \pm\text{lags}\}` (default:
        every integer up to ``max_lag``).
    direction
        ``"pooled"`` (x and y pairs together), ``"x"``, ``"y"``, ``"xy"`` (both, along a
        ``direction`` dim) or ``"map"`` (the half-plane lag map, see :func:`polar_view`).
    max_lag
        Largest default lag (pixels). Default ``min(ny, nx) // 4`` (for ``"map"`` also capped at
        64, the map costing :math:`(L+1)(2L+1)` passes). Ignored when ``lags`` is given.
    signed
        Also return ``S_signed``, the signed moments :math:`\langle (X(p+\ell) - X(p))^q\rangle`
        (NaN for non-integer ``q``).

    Returns
    -------
    xarray.Dataset
        ``S`` (q, lag) with units ``(units of da)^q`` (per-order strings in the ``S_units``
        coordinate), ``count`` (lag) valid pairs, ``flatness`` (lag)
        :math:`S_4 / S_2^2` (3 for Gaussian increments), ``skewness`` (lag)
        :math:`\langle \delta X^3 \rangle / S_2^{3/2}`, optionally ``S_signed`` (q, lag);
        coordinates ``q``, ``lag`` (pixels, int) and ``lag_m`` (metres, from the pixel size,
        see :func:`scalelaws.grids.pixel_size`; 1 m per pixel when the field has none). With
        ``direction="xy"`` every variable gains a leading ``direction`` dim (``"x"``, ``"y"``);
        with ``"map"`` the ``lag`` dim is replaced by ``ly`` (0..L) and ``lx`` (-L..L), with
        ``ly_m``/``lx_m``. Extra dims of ``da`` come first. When ``da`` is dask-backed, so is
        the result (call ``.compute()``). Statistics with no valid pair are NaN.

    Raises
    ------
    scalelaws.errors.InputError
        Bad ``q``, ``lags`` or ``direction``, or not a 2-D field.
    scalelaws.errors.ScaleRangeError
        A lag (or ``max_lag``) not smaller than the field along the direction(s) used.
    scalelaws.errors.AllNaNError
        Every pixel is NaN (checked for in-memory data; a dask-backed all-NaN field gives
        ``count == 0`` and NaN statistics).
    scalelaws.errors.GridMismatchError
        Non-square pixels with a direction that mixes x and y (use ``"x"`` or ``"y"``).

    Examples
    --------
    >>> ds = structure_function(lst, q=(1, 2, 3), direction="xy")   # doctest: +SKIP
    >>> ds.S.sel(q=2, direction="x").plot(x="lag_m", xscale="log", yscale="log")  # doctest: +SKIP

    """
    if direction not in _DIRECTIONS:
        raise InputError(f"direction must be one of {_DIRECTIONS}, got {direction!r}")
    da = _as_dataarray(da)
    ydim, xdim = _spatial_dims(da)
    q_user = _check_q(q)
    q_all = np.union1d(q_user, _INTERNAL_Q)
    lag_arr = _select_lags(da, ydim, xdim, lags, direction, max_lag)
    if not hasattr(da.data, "dask") and bool(np.isnan(np.asarray(da.data)).all()):
        raise AllNaNError("every pixel of the field is NaN", _source(da))
    py, px = _pixel_steps(da, ydim, xdim, direction)
    dys, dxs, grid = _lag_offsets(lag_arr, direction)
    log.debug(
        "structure_function: %s, %d x %d px, %d offsets, q=%s",
        direction, da.sizes[ydim], da.sizes[xdim], dys.size, q_all,
    )
    raw = _raw_sums(da, ydim, xdim, dys, dxs, q_all)
    sums = _sums_on_lags(raw, q_all, lag_arr, direction, grid)
    spatial = ("ly", "lx") if direction == "map" else ("lag",)
    data_vars = _sf_variables(*sums, da, q_user, direction, spatial, signed)
    ds = _sf_coords(xr.Dataset(data_vars), da, q_user, lag_arr, direction, py, px)
    call = f"q={q_user.tolist()}, direction={direction!r}, lags={lag_arr.tolist()}"
    ds.attrs = _sf_attrs(da, call, direction, py, px)
    if not hasattr(ds["count"].data, "dask") and int(ds["count"].max()) == 0:
        log.warning("no valid pair of pixels at any lag: every statistic is NaN")
    return ds


def _select_lags(
    da: xr.DataArray,
    ydim: Hashable,
    xdim: Hashable,
    lags: Any,
    direction: str,
    max_lag: int | None,
) -> np.ndarray:
    """Return the lags (pixels) of :func:`structure_function`: checked ``lags``, or the defaults."""
    ny, nx = int(da.sizes[ydim]), int(da.sizes[xdim])
    if direction == "x":
        limit, what = nx, "width along x"
    elif direction == "y":
        limit, what = ny, "height along y"
    else:
        limit, what = min(ny, nx), "smaller side"
    if lags is not None:
        return _check_lags(lags, limit, what, _source(da))
    if max_lag is None:
        max_lag = min(ny, nx) // 4
        if direction == "map":
            max_lag = min(max_lag, MAP_DEFAULT_MAX_LAG)
    elif int(max_lag) >= limit:
        raise ScaleRangeError(
            f"max_lag {int(max_lag)} px is not smaller than the field's {what} ({limit} px)",
            _source(da),
        )
    if int(max_lag) < 1:
        raise ScaleRangeError(
            f"field of {ny} x {nx} px is too small for structure functions "
            f"(largest lag {int(max_lag)} px)",
            _source(da),
        )
    if direction == "map":
        return np.arange(1, int(max_lag) + 1, dtype=np.int64)
    return default_lags(int(max_lag), path=_source(da))


def _lag_offsets(
    lag_arr: np.ndarray, direction: str
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray] | None]:
    """Kernel offsets ``(dys, dxs)`` for the direction, and for ``"map"`` the grid ``(gy, gx, half)``.

    ``"pooled"``/``"xy"``: the x offsets first, then the y offsets. ``"map"``: the half plane
    ``ly > 0`` or ``(ly = 0, lx >= 0)`` of the ``(ly, lx)`` grid, in row-major order.
    """
    zeros = np.zeros(lag_arr.size, dtype=np.int64)
    if direction == "x":
        return zeros, lag_arr, None
    if direction == "y":
        return lag_arr, zeros, None
    if direction in ("pooled", "xy"):
        return np.concatenate([zeros, lag_arr]), np.concatenate([lag_arr, zeros]), None
    lys = np.concatenate([[0], lag_arr])
    lxs = np.concatenate([-lag_arr[::-1], [0], lag_arr])
    gy, gx = np.meshgrid(lys, lxs, indexing="ij")
    half = (gy > 0) | (gx >= 0)
    return gy[half].astype(np.int64), gx[half].astype(np.int64), (gy, gx, half)


def _sums_on_lags(
    raw: xr.DataArray,
    q_all: np.ndarray,
    lag_arr: np.ndarray,
    direction: str,
    grid: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
) -> tuple[xr.DataArray, xr.DataArray, xr.DataArray]:
    """Split the kernel sums into ``(sum |d|^q, sum d^q, count)`` on the direction's lag dims."""
    Q = q_all.size
    sum_abs = raw.isel(stat=slice(0, Q)).rename(stat="q").assign_coords(q=q_all)
    sum_sig = raw.isel(stat=slice(Q, 2 * Q)).rename(stat="q").assign_coords(q=q_all)
    cnt = raw.isel(stat=2 * Q, drop=True)
    if direction == "map":
        assert grid is not None
        return _to_map(sum_abs, sum_sig, cnt, *grid, q_all)
    if direction in ("x", "y"):
        sums = [v.rename(offset="lag") for v in (sum_abs, sum_sig, cnt)]
    else:
        nl = lag_arr.size
        sums = []
        for v in (sum_abs, sum_sig, cnt):
            vx = v.isel(offset=slice(0, nl)).rename(offset="lag")
            vy = v.isel(offset=slice(nl, 2 * nl)).rename(offset="lag")
            if direction == "pooled":
                sums.append(vx + vy)
            else:
                sums.append(
                    xr.concat([vx, vy], dim="direction").assign_coords(direction=["x", "y"])
                )
    sum_abs, sum_sig, cnt = (v.assign_coords(lag=lag_arr) for v in sums)
    return sum_abs, sum_sig, cnt


def _sf_variables(
    sum_abs: xr.DataArray,
    sum_sig: xr.DataArray,
    cnt: xr.DataArray,
    da: xr.DataArray,
    q_user: np.ndarray,
    direction: str,
    spatial: tuple[str, ...],
    signed: bool,
) -> dict[str, xr.DataArray]:
    """``S`` (, ``S_signed``), ``count``, ``flatness``, ``skewness`` from the sums, with attributes."""
    valid = cnt.where(cnt > 0)
    S_all = sum_abs / valid
    Ss_all = sum_sig / valid
    S2 = S_all.sel(q=2.0, drop=True)
    S2 = S2.where(S2 > 0)  # constant field or zero lag: ratios undefined
    flatness = S_all.sel(q=4.0, drop=True) / S2**2
    skewness = Ss_all.sel(q=3.0, drop=True) / S2**1.5

    lead = [d for d in S_all.dims if d not in ("q", "direction", *spatial)]
    extra = ["direction"] if direction == "xy" else []
    order_q = (*lead, *extra, "q", *spatial)
    order = (*lead, *extra, *spatial)
    units = str(da.attrs.get("units", "1"))
    name = _field_name(da)
    S = S_all.sel(q=q_user).transpose(*order_q)
    S.attrs = cf.attrs(f"structure function <|X(p + lag) - X(p)|^q> of {name}",
                       _power_units(units, "q"))
    data_vars: dict[str, xr.DataArray] = {"S": S}
    if signed:
        Ssg = Ss_all.sel(q=q_user).transpose(*order_q)
        Ssg.attrs = cf.attrs(f"signed structure function <(X(p + lag) - X(p))^q> of {name} "
                             "(integer q only)", S.attrs["units"])
        data_vars["S_signed"] = Ssg
    count = cnt.transpose(*order)
    count = count.astype(np.int64)
    count.attrs = cf.attrs("number of valid pairs (both ends not NaN)", "1")
    flatness = flatness.transpose(*order)
    flatness.attrs = cf.attrs(
        "flatness S_4 / S_2^2 of the increments (3 for Gaussian increments)", "1")
    skewness = skewness.transpose(*order)
    skewness.attrs = cf.attrs(
        "skewness <(X(p + lag) - X(p))^3> / S_2^(3/2) of the increments", "1")
    data_vars.update(count=count, flatness=flatness, skewness=skewness)
    return data_vars


def _field_name(da: xr.DataArray) -> str:
    """Return the field's ``long_name``, else its name, else ``"field"``."""
    return str(da.attrs.get("long_name", da.name if da.name is not None else "field"))


def _sf_coords(
    ds: xr.Dataset,
    da: xr.DataArray,
    q_user: np.ndarray,
    lag_arr: np.ndarray,
    direction: str,
    py: float,
    px: float,
) -> xr.Dataset:
    """Add the ``S_units``, metre-lag and leading coordinates (with attributes) to ``ds``."""
    units = str(da.attrs.get("units", "1"))
    ds = ds.assign_coords(
        S_units=("q", [_power_units(units, float(v)) for v in q_user]),
    )
    ds["q"].attrs = cf.attrs("order of the moment", "1")
    ds["S_units"].attrs = cf.attrs("units of S at each order")
    if direction == "map":
        ds = ds.assign_coords(ly_m=("ly", ds.ly.values * py), lx_m=("lx", ds.lx.values * px))
        ds["ly"].attrs = cf.attrs("lag along y (rows), pixels", "1")
        ds["lx"].attrs = cf.attrs("lag along x (columns), pixels", "1")
        ds["ly_m"].attrs = cf.attrs("lag along y", "m")
        ds["lx_m"].attrs = cf.attrs("lag along x", "m")
    else:
        step = py if direction == "y" else px
        ds = ds.assign_coords(lag_m=("lag", lag_arr * step))
        ds["lag"].attrs = cf.attrs("lag, pixels", "1")
        ds["lag_m"].attrs = cf.attrs("lag", "m")
    for c in ds["S"].dims:
        if c not in ("q", "direction", "lag", "ly", "lx") and c in da.coords:
            ds = ds.assign_coords({c: da[c]})
    return ds


def _sf_attrs(da: xr.DataArray, call: str, direction: str, py: float, px: float) -> dict[str, Any]:
    """Global attributes of the :func:`structure_function` Dataset (``call``: its arguments)."""
    from scalelaws import __version__

    return {
        "title": f"structure functions of {_field_name(da)}",
        "history": cf.history(f"scalelaws {__version__} structure_function({call})"),
        "source": str(da.attrs.get("source", "")),
        "Conventions": cf.CONVENTIONS,
        "direction": direction,
        "pixel_size_y_m": float(py),
        "pixel_size_x_m": float(px),
        "field_units": str(da.attrs.get("units", "1")),
        "increment": "X(p + lag) - X(p); lag along y = increasing row index",
    }


def _to_map(
    sum_abs: xr.DataArray,
    sum_sig: xr.DataArray,
    cnt: xr.DataArray,
    gy: np.ndarray,
    gx: np.ndarray,
    half: np.ndarray,
    q_all: np.ndarray,
) -> tuple[xr.DataArray, xr.DataArray, xr.DataArray]:
    """Place the half-plane offsets on the ``(ly, lx)`` grid; fill ``ly = 0, lx < 0`` by symmetry."""
    nly, nlx = gy.shape
    idx = np.full(gy.shape, -1, dtype=np.int64)
    idx[half] = np.arange(int(half.sum()))
    flip = ~half  # (0, -l): the pairs of (0, l) reversed, increments negated
    lookup = {
        (int(a), int(b)): int(k) for a, b, k in zip(gy[half], gx[half], idx[half], strict=True)
    }
    for i, j in zip(*np.nonzero(flip), strict=True):
        idx[i, j] = lookup[(-int(gy[i, j]), -int(gx[i, j]))]
    ly = gy[:, 0]
    lx = gx[0, :]
    sel = xr.DataArray(idx, dims=("ly", "lx"), coords={"ly": ly, "lx": lx})
    qi = _int_orders(q_all)
    odd = xr.DataArray((qi > 0) & (qi % 2 == 1), dims="q", coords={"q": q_all})
    flipped = xr.DataArray(flip, dims=("ly", "lx"), coords={"ly": ly, "lx": lx})
    sign = xr.where(flipped & odd, -1.0, 1.0)
    out_abs = sum_abs.isel(offset=sel)
    out_sig = sum_sig.isel(offset=sel) * sign
    out_cnt = cnt.isel(offset=sel)
    return out_abs, out_sig, out_cnt


def structure_function_numpy(
    arr: np.ndarray,
    q: float | Sequence[float],
    lags: Sequence[int] | np.ndarray,
    axis: int = -1,
    *,
    signed: bool = False,
    path: str | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Plain NumPy float64 reference implementation along one axis (tests, benchmark baseline).

    For each lag the increments are formed with slicing, NaN pairs dropped, and each moment
    computed as ``np.sum(np.abs(d) ** q) / n`` (NumPy's pairwise summation).

    Parameters
    ----------
    arr
        2-D field (NaN = missing).
    q
        Orders (> 0), used in the given order.
    lags
        Positive integer lags (pixels), used in the given order.
    axis
        ``-1``/``1``: along x (columns); ``-2``/``0``: along y (rows).
    signed
        Also compute the signed moments ``np.sum(d ** q) / n`` for integer ``q`` (else NaN).
    path
        File of the field, named in error messages (default: ``arr.attrs["source"]`` for a
        DataArray).

    Returns
    -------
    S : numpy.ndarray, shape (len(q), len(lags))
        Moments of the absolute increments (NaN where no pair is valid).
    S_signed : numpy.ndarray, shape (len(q), len(lags))
        Signed moments (NaN unless ``signed`` and ``q`` integer).
    count : numpy.ndarray of int64, shape (len(lags),)
        Valid pairs per lag.

    """
    if path is None and isinstance(arr, xr.DataArray):
        path = _source(arr)
    a = np.asarray(arr, dtype=np.float64)
    if a.ndim != 2:
        raise InputError(f"structure_function_numpy needs a 2-D array, got {a.ndim}-D", path)
    if axis not in (-1, 1, -2, 0):
        raise InputError(f"axis must be 0/-2 (y) or 1/-1 (x), got {axis}")
    along_x = axis in (-1, 1)
    qs = np.atleast_1d(np.asarray(q, dtype=np.float64))
    lag_list = [int(v) for v in np.atleast_1d(lags)]
    n_axis = a.shape[1] if along_x else a.shape[0]
    if any(v < 1 or v >= n_axis for v in lag_list):
        raise ScaleRangeError(f"lags must lie in [1, {n_axis - 1}], got {lag_list}", path)
    S = np.full((qs.size, len(lag_list)), np.nan)
    Ss = np.full((qs.size, len(lag_list)), np.nan)
    count = np.zeros(len(lag_list), dtype=np.int64)
    for k, lag in enumerate(lag_list):
        d = a[:, lag:] - a[:, :-lag] if along_x else a[lag:, :] - a[:-lag, :]
        nan = np.isnan(d)
        if nan.any():
            d = d[~nan]
        n = d.size
        count[k] = n
        if n == 0:
            continue
        ad = np.abs(d)
        for m, qq in enumerate(qs):
            S[m, k] = np.sum(ad**qq) / n
            if signed and qq == round(qq):
                Ss[m, k] = np.sum(d**qq) / n
    return S, Ss, count


# ----------------------------------------------------------------------------------------------
# polar view of a lag map
# ----------------------------------------------------------------------------------------------


def polar_view(ds: xr.Dataset, nr: int | None = None, ntheta: int = 12) -> xr.Dataset:
    r"""Polar view :math:`S_q(r, \theta)` of a lag map, and an anisotropy summary.

    Lags of the map (``structure_function(..., direction="map")``) are binned by length
    :math:`r = |\ell|` (``nr`` linear bins between 0.5 px and ``L + 0.5`` px, ``L`` the map's
    largest lag, so that every direction is covered) and by direction
    :math:`\theta = \operatorname{atan2}(\ell_y, \ell_x) \in [0°, 180°)` (``ntheta`` bins); the
    value of a bin pools the pairs of its lags (sum of sums over sum of counts).

    The anisotropy summary fits, at each ``r`` bin and order, the second harmonic
    :math:`S(\theta) = a + b\cos 2\theta + c \sin 2\theta` to the individual lags of the bin
    (weighted by their counts), and reports ``anisotropy`` :math:`= (a + A)/(a - A)` with
    :math:`A = \sqrt{b^2 + c^2}` (1 for an isotropic field; the ratio of :math:`S_q` along the
    direction of largest increments to the perpendicular one) and ``theta_major``, the direction
    of largest increments.

    Parameters
    ----------
    ds
        Result of :func:`structure_function` with ``direction="map"``.
    nr
        Number of radial bins (default: one per pixel of lag, ``L``).
    ntheta
        Number of direction bins over 180°.

    Returns
    -------
    xarray.Dataset
        ``S`` (q, r, theta), ``count`` (r, theta), ``anisotropy`` (q, r), ``theta_major``
        (q, r); coordinates ``r`` (pixels, bin centre), ``r_m`` (metres), ``theta`` (degrees,
        bin centre, counter-clockwise from +x towards +y, i.e. towards increasing row index).
        Extra leading dims of ``ds`` are kept. Empty bins are NaN.

    Raises
    ------
    scalelaws.errors.InputError
        ``ds`` is not a lag map, or bad ``nr`` / ``ntheta``.

    """
    if "ly" not in ds.dims or "lx" not in ds.dims or "S" not in ds:
        raise InputError("polar_view needs the result of structure_function(direction='map')")
    ly = ds["ly"].values.astype(np.float64)
    lx = ds["lx"].values.astype(np.float64)
    L = float(min(ly.max(), np.abs(lx).max()))
    if L < 1:
        raise InputError("the lag map has no non-zero lag")
    nr = int(L) if nr is None else int(nr)
    ntheta = int(ntheta)
    if nr < 1 or ntheta < 1:
        raise InputError(f"nr and ntheta must be >= 1, got {nr}, {ntheta}")
    px = float(ds.attrs.get("pixel_size_x_m", 1.0))
    gy, gx = np.meshgrid(ly, lx, indexing="ij")
    theta = np.degrees(np.arctan2(gy, gx)) % 180.0
    r_edges = np.linspace(0.5, L + 0.5, nr + 1)
    t_edges = np.linspace(0.0, 180.0, ntheta + 1)
    rbin, tbin, inside = _polar_bins(gy, gx, theta, r_edges, t_edges)

    S = ds["S"]
    cnt = ds["count"].astype(np.float64)
    cnt0 = cnt.where(S.notnull().all("q"), 0.0) if "q" in S.dims else cnt
    bin_sum, bin_cnt = _pool_bins(
        ds, (S * cnt).fillna(0.0), cnt0, (rbin, tbin, inside), (nr, ntheta)
    )
    r_c = 0.5 * (r_edges[:-1] + r_edges[1:])
    t_c = 0.5 * (t_edges[:-1] + t_edges[1:])
    S_pol = (bin_sum / bin_cnt.where(bin_cnt > 0)).assign_coords(r=r_c, theta=t_c)
    count_pol = bin_cnt.assign_coords(r=r_c, theta=t_c)

    # second-harmonic fit on the individual lags of each r bin
    aniso, major = xr.apply_ufunc(
        _harmonic_fit,
        S.transpose(..., "q", "ly", "lx"),
        cnt0.transpose(..., "ly", "lx"),
        input_core_dims=[["q", "ly", "lx"], ["ly", "lx"]],
        output_core_dims=[["q", "r"], ["q", "r"]],
        kwargs={"rbin": np.where(inside, rbin, -1), "theta": theta, "nr": nr},
        dask="parallelized",
        output_dtypes=[np.float64, np.float64],
        dask_gufunc_kwargs={"output_sizes": {"r": nr}},
    )
    out = xr.Dataset(
        {
            "S": S_pol.transpose(..., "q", "r", "theta"),
            "count": count_pol.transpose(..., "r", "theta").round().astype(np.int64),
            "anisotropy": aniso.assign_coords(r=r_c),
            "theta_major": major.assign_coords(r=r_c),
        }
    )
    out = out.assign_coords(r_m=("r", r_c * px), q=ds["q"].values)
    _polar_attrs(out, ds, S.attrs.get("units", "1"))
    return out


def _polar_bins(
    gy: np.ndarray, gx: np.ndarray, theta: np.ndarray, r_edges: np.ndarray, t_edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Radial and angular bin of every lag of the map, and which lags enter a bin."""
    nr, ntheta = r_edges.size - 1, t_edges.size - 1
    r = np.hypot(gy, gx)
    rbin = np.digitize(r, r_edges) - 1  # -1 or nr: outside
    tbin = np.minimum(np.digitize(theta, t_edges) - 1, ntheta - 1)
    inside = (rbin >= 0) & (rbin < nr) & (r > 0)
    # keep one of each +-lag pair: the map already holds only ly >= 0; on ly = 0 keep lx > 0
    inside &= (gy > 0) | (gx > 0)
    return rbin, tbin, inside


def _pool_bins(
    ds: xr.Dataset,
    sums: xr.DataArray,
    cnt0: xr.DataArray,
    bins: tuple[np.ndarray, np.ndarray, np.ndarray],
    shape: tuple[int, int],
) -> tuple[xr.DataArray, xr.DataArray]:
    """Sum ``sums`` and ``cnt0`` over the lags of every ``(r, theta)`` bin (one-hot product)."""
    rbin, tbin, inside = bins
    nr, ntheta = shape
    flat = np.ravel_multi_index((rbin[inside], tbin[inside]), (nr, ntheta))
    onehot = np.zeros((nr * ntheta, rbin.size))
    onehot[flat, np.flatnonzero(inside.ravel())] = 1.0
    M = xr.DataArray(
        onehot.reshape(nr, ntheta, *rbin.shape),
        dims=("r", "theta", "ly", "lx"),
        coords={"ly": ds["ly"].values, "lx": ds["lx"].values},
    )
    return xr.dot(sums, M, dim=["ly", "lx"]), xr.dot(cnt0, M, dim=["ly", "lx"])


def _polar_attrs(out: xr.Dataset, ds: xr.Dataset, units: str) -> None:
    """Set the variable, coordinate and global attributes of the :func:`polar_view` result."""
    out["S"].attrs = cf.attrs("structure function per lag length and direction", units)
    out["count"].attrs = cf.attrs("number of valid pairs in the bin", "1")
    out["anisotropy"].attrs = cf.attrs(
        "anisotropy ratio (a + A) / (a - A) of the second-harmonic fit "
        "S(theta) = a + A cos 2(theta - theta_major); 1 = isotropic", "1")
    out["theta_major"].attrs = cf.attrs(
        "direction of the largest increments (counter-clockwise from +x toward +y)", "degree")
    out["r"].attrs = cf.attrs("lag length (bin centre), pixels", "1")
    out["r_m"].attrs = cf.attrs("lag length (bin centre)", "m")
    out["theta"].attrs = cf.attrs(
        "lag direction (bin centre), counter-clockwise from +x toward +y "
        "(increasing row index)", "degree")
    out.attrs = dict(ds.attrs)
    out.attrs["title"] = f"polar view of {ds.attrs.get('title', 'a structure-function lag map')}"


def _harmonic_fit(
    S: np.ndarray, cnt: np.ndarray, *, rbin: np.ndarray, theta: np.ndarray, nr: int
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted fit of ``a + b cos 2t + c sin 2t`` per r bin: ``(anisotropy, theta_major)``."""
    lead = S.shape[:-3]
    nq = S.shape[-3]
    aniso = np.full(lead + (nq, nr), np.nan)
    major = np.full(lead + (nq, nr), np.nan)
    t2 = np.radians(2.0 * theta)
    for idx in np.ndindex(*lead):
        for ib in range(nr):
            sel = rbin == ib
            w = cnt[idx][sel]
            ok = w > 0
            if ok.sum() < 3:
                continue
            ang = t2[sel][ok]
            X = np.column_stack([np.ones(ang.size), np.cos(ang), np.sin(ang)])
            sw = np.sqrt(w[ok] / w[ok].max())
            for m in range(nq):
                y = S[idx][m][sel][ok]
                if not np.all(np.isfinite(y)):
                    continue
                coef, _, rank, _ = np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)
                if rank < 3:
                    continue
                a, b, c = coef
                amp = math.hypot(b, c)
                if a - amp > 0:
                    aniso[idx + (m, ib)] = (a + amp) / (a - amp)
                major[idx + (m, ib)] = (math.degrees(math.atan2(c, b)) / 2.0) % 180.0
    return aniso, major

def s2_xy(
    field: np.ndarray, mask: np.ndarray | None = None, lags: Sequence[int] = (1, 2),
) -> tuple[np.ndarray, np.ndarray]:
    """Second-order structure function pooled over the x and y increments, pairs counted once.

    ``S2(l) = sum (f(p + l e) - f(p))^2 / count`` over the pairs along x and along y whose two
    ends are finite (and inside ``mask`` when given); an axis shorter than the lag contributes
    no pair. The single definition of the pooled S2 used by the evaluation
    (:func:`analysis.metrics.structure_function_s2`) and the realisations
    (:mod:`scalelaws.texture`).

    Returns
    -------
    s2 : numpy.ndarray
        One value per lag (NaN when a lag has no pair).
    count : numpy.ndarray
        Number of pairs per lag.

    """
    f = np.asarray(field, dtype=np.float64)
    m = np.isfinite(f)
    if mask is not None:
        m &= np.asarray(mask, dtype=bool)
    s2 = np.full(len(lags), np.nan)
    cnt = np.zeros(len(lags), dtype=np.int64)
    for i, lag in enumerate(lags):
        lag = int(lag)
        if lag < 1:
            raise InputError(f"lags must be positive integers, got {lag}")
        tot, n = 0.0, 0
        if lag < f.shape[1]:
            ok = m[:, lag:] & m[:, :-lag]
            tot += float(np.sum((f[:, lag:] - f[:, :-lag])[ok] ** 2))
            n += int(ok.sum())
        if lag < f.shape[0]:
            ok = m[lag:, :] & m[:-lag, :]
            tot += float(np.sum((f[lag:, :] - f[:-lag, :])[ok] ** 2))
            n += int(ok.sum())
        cnt[i] = n
        if n:
            s2[i] = tot / n
    return s2, cnt
