"""Maps of local scaling exponents over moving windows (:func:`windowed_exponents`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import xarray as xr

from scalelaws import cf
from scalelaws.core.estimate import ols_slope
from scalelaws.errors import InputError, ScaleRangeError
from scalelaws.kernels.sf import pooled_tile_sums
from scalelaws.landscapes.exponents import _cf_dataset, _hurst_order
from scalelaws.landscapes.inputs import _pixel_size, default_lags
from scalelaws.landscapes.tiles import _check_q

__all__ = ["windowed_exponents"]

log = logging.getLogger(__name__)


def windowed_exponents(
    lst: xr.DataArray,
    *,
    window_px: int = 64,
    step_px: int = 32,
    q: Sequence[float] = (2,),
    lags: Sequence[int] | None = None,
    scale_range: tuple[float, float] | None = None,
    min_valid: float = 0.75,
) -> xr.Dataset:
    """Map of local scaling exponents over moving windows.

    Parameters
    ----------
    lst
        2-D field (``y, x``).
    window_px, step_px
        Window side and step in pixels.
    q
        Orders.
    lags
        Lags in pixels used inside each window (default :func:`default_lags` up to
        ``window_px // 4``).
    scale_range
        ``(min_m, max_m)`` fit range (default: all lags from 2 pixels).
    min_valid
        Windows with a smaller fraction of valid pixels are NaN.

    Returns
    -------
    xarray.Dataset
        ``zeta(q, y, x)``, ``H(y, x)`` (= ``zeta(2)/2``, or ``zeta(q0)/q0`` for the smallest
        order), ``valid_fraction(y, x)``; ``y``/``x`` are the window centres in the field's
        coordinates; attrs ``window_px``, ``step_px``, ``scale_range_m``. Point estimates (OLS
        on the window's log-log structure function); use :func:`exponents_by_landscape` for
        intervals.

    """
    if not isinstance(lst, xr.DataArray) or lst.ndim != 2:
        raise InputError("windowed_exponents expects a 2-D DataArray (y, x)")
    ny, nx = lst.shape
    if window_px < 8 or window_px > min(ny, nx):
        raise ScaleRangeError(f"window_px must be in [8, {min(ny, nx)}], got {window_px}")
    if step_px < 1:
        raise InputError(f"step_px must be >= 1, got {step_px}")
    qs = _check_q(q)
    pixel = _pixel_size(lst)
    lags_arr = default_lags(window_px // 4) if lags is None else np.unique(np.asarray(lags, np.int64))
    lag_m = lags_arr * pixel
    lo_m, hi_m = scale_range if scale_range is not None else (2 * pixel, lag_m.max())
    sel = (lag_m >= lo_m * (1 - 1e-9)) & (lag_m <= hi_m * (1 + 1e-9))
    if sel.sum() < 2:
        raise ScaleRangeError(f"fewer than 2 lags in {lo_m:g}-{hi_m:g} m inside a {window_px} px window")
    a = np.asarray(lst.values, dtype=np.float64)
    i0s = np.arange(0, ny - window_px + 1, step_px)
    j0s = np.arange(0, nx - window_px + 1, step_px)
    frac = _valid_fraction(a, i0s, j0s, window_px)
    # every window in one kernel call; pairs with both ends inside the window
    s, c = pooled_tile_sums(a, lags_arr[sel], qs, window_px, ys=i0s, xs=j0s, contained=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        S = s / c[..., None]  # (wy, wx, K, Q)
        zeta = np.moveaxis(ols_slope(np.log(lag_m[sel]), np.log(np.moveaxis(S, -1, -2)))[0], -1, 0)
    zeta = np.where(frac[None] >= min_valid, zeta, np.nan)
    iq = _hurst_order(qs)
    yc, xc = _window_centres(lst, i0s, j0s, window_px)
    ds = xr.Dataset(
        {
            "zeta": cf.var(("q", "y", "x"), zeta, "local scaling exponent zeta(q)", "1"),
            "H": cf.var(("y", "x"), zeta[iq] / qs[iq], "local Hurst exponent", "1"),
            "valid_fraction": cf.var(("y", "x"), frac, "valid pixels in the window", "1"),
        },
        coords={"q": qs, "y": yc, "x": xc},
    )
    ds.attrs.update(window_px=int(window_px), step_px=int(step_px), scale_range_m=[float(lo_m), float(hi_m)])
    _copy_crs(lst, ds)
    return _cf_dataset(ds, "windowed scaling exponents", str(lst.attrs.get("source", "")))


def _valid_fraction(a: np.ndarray, i0s: np.ndarray, j0s: np.ndarray, window_px: int) -> np.ndarray:
    """Fraction of valid pixels of every window, from a summed-area table."""
    ny, nx = a.shape
    ok = np.zeros((ny + 1, nx + 1))
    ok[1:, 1:] = np.cumsum(np.cumsum(np.isfinite(a), axis=0), axis=1)
    ie, je = i0s + window_px, j0s + window_px
    return (
        ok[ie][:, je] - ok[i0s][:, je] - ok[ie][:, j0s] + ok[i0s][:, j0s]
    ) / float(window_px * window_px)


def _window_centres(lst: xr.DataArray, i0s: np.ndarray, j0s: np.ndarray,
                    window_px: int) -> tuple[np.ndarray, np.ndarray]:
    """Window centres in the field's ``y``/``x`` coordinates (pixel indices without them)."""
    ny, nx = lst.shape
    half = (window_px - 1) / 2.0
    yc = np.interp(i0s + half, np.arange(ny), lst["y"].values) if "y" in lst.coords else i0s + half
    xc = np.interp(j0s + half, np.arange(nx), lst["x"].values) if "x" in lst.coords else j0s + half
    return yc, xc


def _copy_crs(lst: xr.DataArray, ds: xr.Dataset) -> None:
    """Copy the field's CRS (when it has one) to ``ds.attrs["crs_wkt"]``."""
    if getattr(lst, "rio", None) is not None:
        try:
            crs = lst.rio.crs
            if crs is not None:
                ds.attrs["crs_wkt"] = crs.to_wkt()
        except Exception:  # noqa: BLE001 - no rioxarray accessor / no CRS: nothing to copy
            log.debug("no CRS copied to the windowed exponents")
