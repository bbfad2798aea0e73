"""Statistical baselines of 1 km -> 250 m LST sharpening, placed by their geotransforms.

Every baseline has the signature ``f(lst_1km, ndvi_250m, **kw) -> DataArray``: the 1 km LST
(kelvin) and the fine NDVI go in, an LST field on the **NDVI grid** comes out, with the NDVI's CRS,
transform and coordinates and ``units="K"``.

Geometry. The two grids are related only through their geotransforms: in the MODIS-ASTER pairs
the 250 m NDVI patch starts 0-3 fine pixels south and east of a 4 x 4 block corner of the 1 km
LST grid, so ``ndvi[4i:4i+4, 4j:4j+4]`` is *not* the footprint of ``lst[i, j]``. Here

* a fine pixel belongs to the coarse pixel that contains its centre
  (:func:`coarse_index`), which defines the aggregation :func:`aggregate_to` used for NDVI
  features, residuals and consistency checks;
* interpolation (:func:`upsample_cubic`) evaluates the coarse field, whose samples sit at the
  coarse pixel centres, at the fine pixel centres, both expressed in map coordinates.

Baselines

* :func:`bicubic`: Keys (1981) cubic convolution, ``a = -0.5``, separable - the kernel of
  GDAL's ``cubic`` and of most "bicubic" resizers. (Beware the known OpenCV trap:
  ``cv2.resize(img, size, cv2.INTER_CUBIC)`` passes the flag as the ``dst`` argument and
  silently resizes bilinearly; the flag must be given as ``interpolation=cv2.INTER_CUBIC``.
  OpenCV's cubic also uses ``a = -0.75`` and an index-based pixel placement.)
* :func:`tsharp`: TsHARP (Agam et al. 2007) with NDVI as the predictor: ordinary least
  squares ``LST = a + b NDVI`` fitted on the 1 km pixels (NDVI averaged over each 1 km pixel by
  the geotransform), applied to the 250 m NDVI, then the 1 km residual added back
  (:func:`residual_correction`).
* :func:`dms`: a data-mining sharpener in the manner of Gao et al. (2012): bagged regression
  trees on NDVI features at 1 km, training pixels weighted by their homogeneity (coefficient of
  variation of the fine NDVI inside the coarse pixel), applied at 250 m, residual correction.

Residual correction and the 1 km consistency it buys (:func:`residual_correction`). ``A`` is
:func:`aggregate_to` with ``aggregation="radiance"`` (``(mean T^4)^(1/4)``, the package's LST
degradation) by default.

* ``residual="block"`` (default, the classic TsHARP / DisTrad step): the 1 km residual
  ``LST - A(pred)`` is added uniformly to the fine pixels of each 1 km pixel (repeated until
  exact for the non-linear radiance aggregation): **exact 1 km consistency** (to ``tol``).
* ``residual="smooth"``: the residual is interpolated once by the same cubic convolution and
  added: no block seams, **approximate** consistency only (on the MODIS-ASTER pairs the
  re-aggregated output misses the 1 km LST by ~0.3 K RMS, like the bicubic; the maximum is
  recorded in ``attrs["consistency_max_abs_K"]``), yet the lowest RMSE against ASTER: the
  MODIS pixel is not a 1 km box, so exact box consistency is not the right forward model.
* ``residual="smooth-exact"``: the smooth step repeated until exact consistency (which
  re-sharpens the residual; on the MODIS-ASTER pairs it scores worse than both).
* ``residual=None``: the regression prediction alone, no consistency claim.

The registry :data:`BASELINES` holds ``tsharp`` and ``dms`` (block residual) and
``tsharp_smooth`` / ``dms_smooth`` (smooth residual).

References
----------
Keys, R. (1981). Cubic convolution interpolation for digital image processing. IEEE TASSP 29(6).
Agam, N. et al. (2007). A vegetation index based technique for spatial sharpening of thermal
imagery. Remote Sens. Environ. 107, 545-558.
Gao, F., Kustas, W. P., Anderson, M. C. (2012). A data mining approach for sharpening thermal
satellite imagery over land. Remote Sens. 4, 3287-3319.

"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import Literal

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from scalelaws.errors import AllNaNError, GridMismatchError, InputError

logger = logging.getLogger(__name__)

__all__ = [
    "BASELINES",
    "Baseline",
    "aggregate_to",
    "bicubic",
    "coarse_index",
    "dms",
    "keys_kernel",
    "residual_correction",
    "tsharp",
    "upsample_cubic",
]

Baseline = Callable[..., xr.DataArray]
Aggregation = Literal["mean", "radiance"]
ResidualMode = Literal["block", "smooth", "smooth-exact"]

#: Relative tolerance on the fine/coarse pixel-size ratio being an integer.
_FACTOR_RTOL = 1e-3


# ----------------------------------------------------------------------------------------------
# geometry
# ----------------------------------------------------------------------------------------------
def _affine(da: xr.DataArray, name: str):
    """Return the north-up affine transform of ``da`` or raise."""
    if da.ndim != 2 or tuple(da.dims) != ("y", "x"):
        raise InputError(f"{name} must be a 2-D DataArray with dims ('y', 'x'), got {da.dims}")
    try:
        t = da.rio.transform(recalc=False)
    except Exception as exc:  # rioxarray raises several types for coordinate-less arrays
        raise GridMismatchError(f"{name} has no usable geotransform ({exc})") from exc
    if abs(t.b) > 1e-9 * abs(t.a) or abs(t.d) > 1e-9 * abs(t.e):
        raise GridMismatchError(f"{name} is a rotated grid; only north-up grids are supported")
    return t


def _check_pair_grids(coarse: xr.DataArray, fine: xr.DataArray) -> int:
    """Check that ``fine`` nests in ``coarse`` (same CRS, integer factor) and return the factor."""
    tc, tf = _affine(coarse, "the coarse field"), _affine(fine, "the fine field")
    cc, cf = coarse.rio.crs, fine.rio.crs
    if cc is not None and cf is not None and cc != cf:
        raise GridMismatchError(f"coarse and fine fields are in different CRSs ({cc} vs {cf})")
    fx, fy = tc.a / tf.a, tc.e / tf.e
    factor = int(round(fx))
    if factor < 1 or abs(fx - factor) > _FACTOR_RTOL * factor or abs(fy - factor) > _FACTOR_RTOL * factor:
        raise GridMismatchError(
            f"coarse pixel ({tc.a:.3f}, {tc.e:.3f}) m is not an integer multiple of the fine "
            f"pixel ({tf.a:.3f}, {tf.e:.3f}) m along both axes"
        )
    return factor


def _centre_positions(fine: xr.DataArray, coarse: xr.DataArray) -> tuple[np.ndarray, np.ndarray]:
    """Fine pixel centres in continuous coarse pixel units (0 = the coarse grid's outer edge).

    Returns ``(rows, cols)``: 1-D arrays for the fine rows and columns; the centre of coarse
    pixel ``i`` is at ``i + 0.5``.
    """
    tc, tf = _affine(coarse, "the coarse field"), _affine(fine, "the fine field")
    ny, nx = fine.shape
    xs = tf.c + (np.arange(nx) + 0.5) * tf.a
    ys = tf.f + (np.arange(ny) + 0.5) * tf.e
    return (ys - tc.f) / tc.e, (xs - tc.c) / tc.a


def coarse_index(fine: xr.DataArray, coarse: xr.DataArray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the coarse pixel containing each fine pixel centre.

    Parameters
    ----------
    fine, coarse
        Two north-up grids in the same CRS whose pixel sizes differ by an integer factor.

    Returns
    -------
    rows, cols : numpy.ndarray
        1-D integer arrays (lengths ``fine.sizes["y"]`` and ``fine.sizes["x"]``); values outside
        ``[0, coarse.sizes)`` mark fine pixels outside the coarse grid.

    """
    _check_pair_grids(coarse, fine)
    r, c = _centre_positions(fine, coarse)
    return np.floor(r).astype(np.int64), np.floor(c).astype(np.int64)


def aggregate_to(
    fine: xr.DataArray,
    coarse: xr.DataArray,
    *,
    method: Aggregation = "mean",
    min_coverage: float = 1.0,
) -> xr.DataArray:
    """Aggregate a fine field onto a coarse grid by the geotransforms (pixel-centre rule).

    Parameters
    ----------
    fine
        Field on the fine grid; NaN = missing.
    coarse
        Any field on the target coarse grid (only its grid is used).
    method
        ``"mean"`` (arithmetic mean) or ``"radiance"`` (``(mean T^4)^(1/4)``, for LST in K).
    min_coverage
        Minimum fraction of the ``factor**2`` fine pixels of a coarse pixel that must be present
        and valid; coarse pixels below it are NaN. ``1.0`` keeps only complete blocks; a tiny
        positive value keeps every coarse pixel with at least one valid fine pixel.

    Returns
    -------
    xarray.DataArray
        On the coarse grid (coordinates and CRS of ``coarse``) with the attrs of ``fine``, plus
        the non-dimension coordinate ``coverage(y, x)``: the fraction of each coarse pixel
        covered by valid fine pixels.

    """
    if method not in ("mean", "radiance"):
        raise InputError(f"method must be 'mean' or 'radiance', got {method!r}")
    if not 0.0 < min_coverage <= 1.0:
        raise InputError(f"min_coverage must lie in (0, 1], got {min_coverage}")
    factor = _check_pair_grids(coarse, fine)
    rows, cols = coarse_index(fine, coarse)
    nyc, nxc = coarse.shape
    v = np.asarray(fine.values, dtype=np.float64)
    if method == "radiance":
        v = v**4
    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    ok = np.isfinite(v) & (rr >= 0) & (rr < nyc) & (cc >= 0) & (cc < nxc)
    flat = rr[ok] * nxc + cc[ok]
    count = np.bincount(flat, minlength=nyc * nxc).reshape(nyc, nxc)
    total = np.bincount(flat, weights=v[ok], minlength=nyc * nxc).reshape(nyc, nxc)
    coverage = count / float(factor * factor)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = total / count
    if method == "radiance":
        out = out**0.25
    out[(count == 0) | (coverage < min_coverage - 1e-12)] = np.nan
    res = xr.DataArray(
        out.astype(np.result_type(fine.dtype, np.float32)),
        dims=("y", "x"),
        coords={"y": coarse["y"], "x": coarse["x"], "coverage": (("y", "x"), coverage)},
        attrs=dict(fine.attrs),
    )
    res.attrs["aggregation"] = method
    return _georef_like(res, coarse)


def _georef_like(da: xr.DataArray, like: xr.DataArray) -> xr.DataArray:
    """Give ``da`` the CRS and transform of ``like`` (same grid)."""
    if like.rio.crs is not None:
        da = da.rio.write_crs(like.rio.crs)
    return da.rio.write_transform(like.rio.transform(recalc=False))


def keys_kernel(t: np.ndarray, a: float = -0.5) -> np.ndarray:
    """Keys (1981) cubic convolution kernel.

    Parameters
    ----------
    t
        Distances in sample spacings.
    a
        Free parameter; ``-0.5`` makes the interpolation third-order accurate (it reproduces
        quadratics exactly).

    Returns
    -------
    numpy.ndarray
        ``W(t)``: ``(a+2)|t|^3 - (a+3)|t|^2 + 1`` for ``|t| <= 1``,
        ``a|t|^3 - 5a|t|^2 + 8a|t| - 4a`` for ``1 < |t| < 2``, 0 beyond.

    """
    t = np.abs(np.asarray(t, dtype=np.float64))
    w1 = (a + 2.0) * t**3 - (a + 3.0) * t**2 + 1.0
    w2 = a * t**3 - 5.0 * a * t**2 + 8.0 * a * t - 4.0 * a
    return np.where(t <= 1.0, w1, np.where(t < 2.0, w2, 0.0))


def _cubic_matrix(u: np.ndarray, n: int, a: float = -0.5) -> np.ndarray:
    """Interpolation matrix ``W (len(u), n)`` evaluating samples ``0..n-1`` at positions ``u``.

    Samples beyond the ends are replicated (clamped index), so the matrix rows sum to one.
    """
    i0 = np.floor(u).astype(np.int64)
    w = np.zeros((u.size, n))
    rows = np.arange(u.size)
    for k in (-1, 0, 1, 2):
        idx = i0 + k
        np.add.at(w, (rows, np.clip(idx, 0, n - 1)), keys_kernel(u - idx, a))
    return w


def upsample_cubic(coarse: xr.DataArray, like: xr.DataArray, *, a: float = -0.5) -> xr.DataArray:
    """Cubic-convolution interpolation of a coarse field onto a finer grid, by geotransform.

    The coarse samples are taken at the coarse pixel centres and the result is evaluated at the
    fine pixel centres (map coordinates), so any sub-block offset between the grids is honoured.
    Beyond the outermost coarse centres the edge samples are replicated.

    Parameters
    ----------
    coarse
        Coarse field; NaN = missing. A fine pixel is NaN when a coarse sample with non-zero
        weight is NaN.
    like
        Any field on the target fine grid.
    a
        Keys parameter (see :func:`keys_kernel`).

    Returns
    -------
    xarray.DataArray
        On the grid of ``like``, attrs of ``coarse``, float32 (or float64 for float64 input).

    """
    _check_pair_grids(coarse, like)
    r, c = _centre_positions(like, coarse)
    nyc, nxc = coarse.shape
    wy = _cubic_matrix(r - 0.5, nyc, a)
    wx = _cubic_matrix(c - 0.5, nxc, a)
    v = np.asarray(coarse.values, dtype=np.float64)
    bad = ~np.isfinite(v)
    out = wy @ np.where(bad, 0.0, v) @ wx.T
    if bad.any():
        touched = (np.abs(wy) > 0) @ bad.astype(np.float64) @ (np.abs(wx) > 0).T
        out[touched > 0] = np.nan
    dtype = np.float64 if coarse.dtype == np.float64 else np.float32
    res = xr.DataArray(
        out.astype(dtype), dims=("y", "x"), coords={"y": like["y"], "x": like["x"]},
        attrs=dict(coarse.attrs),
    )
    return _georef_like(res, like)


# ----------------------------------------------------------------------------------------------
# residual correction
# ----------------------------------------------------------------------------------------------
def _block_lookup(coarse_vals: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Coarse values broadcast to the fine grid (nearest coarse pixel for fine pixels outside)."""
    r = np.clip(rows, 0, coarse_vals.shape[0] - 1)
    c = np.clip(cols, 0, coarse_vals.shape[1] - 1)
    return coarse_vals[np.ix_(r, c)]


def residual_correction(
    pred: xr.DataArray,
    lst_1km: xr.DataArray,
    *,
    mode: ResidualMode = "block",
    aggregation: Aggregation = "radiance",
    tol: float = 1e-3,
    max_iter: int = 30,
) -> xr.DataArray:
    """Add the 1 km residual ``LST - A(pred)`` back onto the fine prediction.

    Parameters
    ----------
    pred
        Fine-grid prediction (K).
    lst_1km
        The coarse observation (K).
    mode
        ``"block"``: residual added uniformly to the fine pixels of each coarse pixel, repeated
        until ``A(pred)`` equals the LST (exact 1 km consistency);
        ``"smooth"``: residual interpolated once by cubic convolution (:func:`upsample_cubic`)
        and added: no seams, approximately consistent (the remaining error is recorded);
        ``"smooth-exact"``: the cubic-interpolated correction repeated until exact consistency.
    aggregation
        The aggregation ``A``: ``"radiance"`` (``(mean T^4)^(1/4)``) or ``"mean"``.
    tol
        The iterated modes stop when ``max |LST - A(pred)| < tol`` (K) over the coarse pixels
        that contain fine pixels.
    max_iter
        Iteration cap of the iterated modes; a warning is logged when ``tol`` is not reached.

    Returns
    -------
    xarray.DataArray
        Corrected prediction on the fine grid; fine pixels whose coarse pixel has no LST are
        NaN. ``attrs["consistency_max_abs_K"]`` records ``max |LST - A(pred)|`` at the end.

    """
    if mode not in ("block", "smooth", "smooth-exact"):
        raise InputError(
            f"residual mode must be 'block', 'smooth' or 'smooth-exact', got {mode!r}")
    rows, cols = coarse_index(pred, lst_1km)
    lst = np.asarray(lst_1km.values, dtype=np.float64)
    out = pred.astype(np.float64)

    def residual(field: xr.DataArray) -> tuple[np.ndarray, float]:
        res = lst - aggregate_to(field, lst_1km, method=aggregation, min_coverage=1e-9).values
        has = np.isfinite(res)
        return np.where(has, res, 0.0), float(np.max(np.abs(res[has]))) if has.any() else 0.0

    n_pass = 1 if mode == "smooth" else max_iter
    res, worst = residual(out)
    for it in range(n_pass):
        if mode != "smooth" and worst < tol:
            break
        if mode == "block":
            inc = _block_lookup(res, rows, cols)
        else:
            inc = upsample_cubic(lst_1km.copy(data=res), pred).values.astype(np.float64)
        out = out + inc
        res, worst = residual(out)
        logger.debug("residual correction pass %d: max |residual| = %.2e K", it + 1, worst)
    if mode != "smooth" and worst >= tol:
        logger.warning("residual correction stopped after %d passes with max |residual| %.3g K",
                       max_iter, worst)
    # no coarse observation -> no prediction
    missing = ~np.isfinite(_block_lookup(lst, rows, cols))
    vals = np.where(missing, np.nan, out.values)
    res_da = pred.copy(data=vals.astype(pred.dtype))
    res_da.attrs["consistency_max_abs_K"] = worst
    res_da.attrs["residual_correction"] = f"{mode} ({aggregation} aggregation)"
    return res_da


# ----------------------------------------------------------------------------------------------
# baselines
# ----------------------------------------------------------------------------------------------
def _check_inputs(lst_1km: xr.DataArray, ndvi_250m: xr.DataArray) -> int:
    factor = _check_pair_grids(lst_1km, ndvi_250m)
    if factor < 2:
        raise GridMismatchError(f"the NDVI grid is not finer than the LST grid (factor {factor})")
    units = str(lst_1km.attrs.get("units", "K"))
    if units not in ("K", "kelvin", "Kelvin"):
        raise InputError(f"lst_1km must be in kelvin, got units {units!r}")
    if not np.isfinite(lst_1km.values).any():
        raise AllNaNError("lst_1km has no valid pixel")
    if not np.isfinite(ndvi_250m.values).any():
        raise AllNaNError("ndvi_250m has no valid pixel")
    return factor


def _finish(values: np.ndarray, ndvi_250m: xr.DataArray, lst_1km: xr.DataArray, method: str,
            **attrs) -> xr.DataArray:
    out = xr.DataArray(
        np.asarray(values, dtype=np.float32), dims=("y", "x"),
        coords={"y": ndvi_250m["y"], "x": ndvi_250m["x"]},
    )
    out = _georef_like(out, ndvi_250m)
    out.attrs = {
        "units": "K",
        "long_name": f"land surface temperature sharpened to the NDVI grid ({method})",
        "method": method,
        **{k: lst_1km.attrs[k] for k in ("sensor", "product", "time", "pair_id")
           if k in lst_1km.attrs},
        **attrs,
    }
    return out


def bicubic(lst_1km: xr.DataArray, ndvi_250m: xr.DataArray, *, a: float = -0.5) -> xr.DataArray:
    """Bicubic (Keys cubic convolution) interpolation of the 1 km LST onto the NDVI grid.

    Parameters
    ----------
    lst_1km
        MODIS LST (K) on its own grid.
    ndvi_250m
        Defines the target grid only (its values are not used).
    a
        Keys parameter, ``-0.5`` by default.

    Returns
    -------
    xarray.DataArray
        LST (K) on the NDVI grid; not consistent with the 1 km input in the aggregation sense.

    """
    _check_inputs(lst_1km, ndvi_250m)
    up = upsample_cubic(lst_1km, ndvi_250m, a=a)
    return _finish(up.values, ndvi_250m, lst_1km, "bicubic",
                   description=f"Keys cubic convolution, a={a}, placed by geotransforms")


def _corr_attrs(pred: xr.DataArray) -> dict[str, float]:
    k = "consistency_max_abs_K"
    return {k: float(pred.attrs[k])} if k in pred.attrs else {}


def _fit_mask(lst_1km: xr.DataArray, ndvi_1km: xr.DataArray) -> np.ndarray:
    return np.isfinite(lst_1km.values) & np.isfinite(ndvi_1km.values)


def tsharp(
    lst_1km: xr.DataArray,
    ndvi_250m: xr.DataArray,
    *,
    residual: ResidualMode | None = "block",
    aggregation: Aggregation = "radiance",
    min_coverage: float = 1.0,
) -> xr.DataArray:
    """TsHARP with a linear LST-NDVI relation fitted at 1 km and applied at 250 m.

    Parameters
    ----------
    lst_1km
        MODIS LST (K).
    ndvi_250m
        Fine NDVI; averaged onto the 1 km grid by the geotransforms for the fit.
    residual
        ``"block"`` (block-constant, exact consistency), ``"smooth"`` (cubic-interpolated
        once, approximate consistency), ``"smooth-exact"`` or ``None`` (no residual
        correction). See :func:`residual_correction`.
    aggregation
        Aggregation whose 1 km consistency the residual correction enforces.
    min_coverage
        Fraction of a 1 km pixel the NDVI must cover for the pixel to enter the fit.

    Returns
    -------
    xarray.DataArray
        LST (K) on the NDVI grid; attrs ``intercept_K``, ``slope_K``, ``r2`` of the 1 km fit.

    """
    _check_inputs(lst_1km, ndvi_250m)
    ndvi_1km = aggregate_to(ndvi_250m, lst_1km, method="mean", min_coverage=min_coverage)
    ok = _fit_mask(lst_1km, ndvi_1km)
    if ok.sum() < 3:
        raise AllNaNError(f"only {int(ok.sum())} 1 km pixels with LST and NDVI: cannot fit")
    x = ndvi_1km.values[ok].astype(np.float64)
    y = lst_1km.values[ok].astype(np.float64)
    slope, intercept = np.polyfit(x, y, 1)
    r2 = float(np.corrcoef(x, y)[0, 1] ** 2) if np.std(x) > 0 else 0.0
    logger.info("TsHARP fit on %d pixels: LST = %.2f %+.2f NDVI (r2 %.2f)", ok.sum(),
                intercept, slope, r2)
    pred = intercept + slope * ndvi_250m.astype(np.float64)
    if residual is not None:
        pred = residual_correction(pred, lst_1km, mode=residual, aggregation=aggregation)
    return _finish(pred.values, ndvi_250m, lst_1km, "tsharp", intercept_K=float(intercept),
                   slope_K=float(slope), r2=r2, residual=str(residual),
                   aggregation=aggregation, **_corr_attrs(pred))


def dms(
    lst_1km: xr.DataArray,
    ndvi_250m: xr.DataArray,
    *,
    covariates: Mapping[str, xr.DataArray] | None = None,
    n_estimators: int = 30,
    min_samples_leaf: int = 10,
    max_samples: float = 0.8,
    homogeneous_fraction: float = 0.8,
    residual: ResidualMode | None = "block",
    aggregation: Aggregation = "radiance",
    seed: int = 0,
) -> xr.DataArray:
    """Data-mining sharpener: bagged regression trees, homogeneity-weighted (Gao et al. 2012).

    Training happens at 1 km: the features of a 1 km pixel are the means of the fine NDVI
    (and of any ``covariates``) over it, the target its LST. Only complete 1 km pixels enter.
    Homogeneity is the coefficient of variation of the fine NDVI inside the 1 km pixel,
    ``CV = std / max(|mean|, 0.05)``; the ``homogeneous_fraction`` most homogeneous pixels are
    kept and weighted by ``w = m / (m + CV)`` with ``m`` the median CV of the kept pixels
    (``w = 1`` for a uniform pixel, ``0.5`` at the median). The ensemble is scikit-learn's
    ``BaggingRegressor`` of ``DecisionTreeRegressor`` (piecewise-constant leaves; Gao et al.
    used Cubist's linear leaves). It is applied to the fine features and the 1 km residual is
    added back (:func:`residual_correction`).

    Parameters
    ----------
    lst_1km
        MODIS LST (K).
    ndvi_250m
        Fine NDVI.
    covariates
        Extra fine predictors on the NDVI grid (e.g. reflectances), by name.
    n_estimators, min_samples_leaf, max_samples
        Ensemble size, minimum samples per leaf, bootstrap sample fraction.
    homogeneous_fraction
        Fraction of the complete 1 km pixels (lowest CV first) used for training.
    residual, aggregation
        As in :func:`tsharp`.
    seed
        Seed of the bagging.

    Returns
    -------
    xarray.DataArray
        LST (K) on the NDVI grid; attrs record the settings and the training size.

    """
    from sklearn.ensemble import BaggingRegressor
    from sklearn.tree import DecisionTreeRegressor

    _check_inputs(lst_1km, ndvi_250m)
    if not 0.0 < homogeneous_fraction <= 1.0:
        raise InputError(f"homogeneous_fraction must lie in (0, 1], got {homogeneous_fraction}")
    fine = {"ndvi": ndvi_250m}
    for name, cov in (covariates or {}).items():
        if cov.shape != ndvi_250m.shape or not (
            np.allclose(cov["x"], ndvi_250m["x"]) and np.allclose(cov["y"], ndvi_250m["y"])
        ):
            raise GridMismatchError(f"covariate {name!r} is not on the NDVI grid")
        fine[name] = cov
    coarse_feats = [aggregate_to(f, lst_1km, method="mean", min_coverage=1.0).values
                    for f in fine.values()]
    ndvi_sq = aggregate_to(ndvi_250m.astype(np.float64) ** 2, lst_1km, min_coverage=1.0).values
    mean = coarse_feats[0]
    std = np.sqrt(np.maximum(ndvi_sq - mean**2, 0.0))
    cv = std / np.maximum(np.abs(mean), 0.05)
    y = np.asarray(lst_1km.values, dtype=np.float64)
    ok = np.isfinite(y) & np.isfinite(cv)
    for f in coarse_feats:
        ok &= np.isfinite(f)
    if ok.sum() < 2 * min_samples_leaf:
        raise AllNaNError(f"only {int(ok.sum())} complete 1 km pixels: cannot train the trees")
    cv_ok = cv[ok]
    keep = cv_ok <= np.quantile(cv_ok, homogeneous_fraction)
    xtr = np.column_stack([f[ok] for f in coarse_feats])[keep]
    ytr = y[ok][keep]
    m = float(np.median(cv_ok[keep]))
    weights = m / (m + cv_ok[keep]) if m > 0 else np.ones(keep.sum())
    model = BaggingRegressor(
        estimator=DecisionTreeRegressor(min_samples_leaf=min_samples_leaf),
        n_estimators=n_estimators, max_samples=max_samples, bootstrap=True,
        random_state=seed, n_jobs=1,
    )
    model.fit(xtr, ytr, sample_weight=weights)
    logger.info("DMS trained on %d of %d complete 1 km pixels", len(ytr), int(ok.sum()))
    xf = np.column_stack([np.asarray(f.values, dtype=np.float64).ravel() for f in fine.values()])
    good = np.all(np.isfinite(xf), axis=1)
    pf = np.full(xf.shape[0], np.nan)
    pf[good] = model.predict(xf[good])
    pred = ndvi_250m.astype(np.float64).copy(data=pf.reshape(ndvi_250m.shape))
    if residual is not None:
        pred = residual_correction(pred, lst_1km, mode=residual, aggregation=aggregation)
    return _finish(pred.values, ndvi_250m, lst_1km, "dms", n_train=int(len(ytr)),
                   features=",".join(fine), n_estimators=n_estimators,
                   min_samples_leaf=min_samples_leaf, residual=str(residual),
                   aggregation=aggregation, seed=seed, **_corr_attrs(pred))


#: The baselines by name (an explicit registry).
BASELINES: dict[str, Baseline] = {
    "bicubic": bicubic,
    "tsharp": tsharp,
    "dms": dms,
    "tsharp_smooth": functools.partial(tsharp, residual="smooth"),
    "dms_smooth": functools.partial(dms, residual="smooth"),
}
