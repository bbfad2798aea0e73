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

from scalelaws.core.aggregate import aggregate_by_index, centre_index
from scalelaws.core.interpolate import KEYS_A, cubic_interpolate, keys_kernel
from scalelaws.errors import AllNaNError, GridMismatchError, InputError

logger = logging.getLogger(__name__)

__all__ = [
    "BASELINES",
    "Baseline",
    "aggregate_to",
    "atp_kriging",
    "atprk",
    "bicubic",
    "coarse_index",
    "dms",
    "fit_point_variogram",
    "keys_kernel",
    "point_covariance",
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
    r, c = _centre_positions(fine, coarse)  # already in coarse pixel units from the edge
    return centre_index(r, 0.0, 1.0), centre_index(c, 0.0, 1.0)


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
    out, coverage = aggregate_by_index(fine.values, rows, cols, coarse.shape, factor,
                                       method=method, min_coverage=min_coverage)
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


def upsample_cubic(coarse: xr.DataArray, like: xr.DataArray, *, a: float = KEYS_A) -> xr.DataArray:
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
    out = cubic_interpolate(coarse.values, r - 0.5, c - 0.5, a)
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


def bicubic(lst_1km: xr.DataArray, ndvi_250m: xr.DataArray, *, a: float = KEYS_A) -> xr.DataArray:
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




# ----------------------------------------------------------------------------------------------
# ATPRK: area-to-point regression kriging
# ----------------------------------------------------------------------------------------------
VariogramModel = Literal["exponential", "spherical", "gaussian"]


def point_covariance(d: np.ndarray, model: VariogramModel, sill: float, range_m: float,
                     nugget: float = 0.0) -> np.ndarray:
    """Isotropic point-support covariance ``C(d)`` of a variogram model.

    Parameters
    ----------
    d
        Distances (m).
    model
        ``"exponential"`` (``sill exp(-d / range)``), ``"spherical"`` (``sill (1 - 1.5 h +
        0.5 h^3)`` for ``h = d / range < 1``, 0 beyond) or ``"gaussian"``
        (``sill exp(-(d / range)^2)``).
    sill, range_m
        Partial sill (field units squared) and range parameter (m).
    nugget
        Nugget variance, added at ``d = 0`` only.

    Returns
    -------
    numpy.ndarray
        ``C(d)``; the semivariogram is ``sill + nugget - C(d)``.

    """
    d = np.abs(np.asarray(d, dtype=np.float64))
    h = d / range_m
    if model == "exponential":
        c = np.exp(-h)
    elif model == "gaussian":
        c = np.exp(-(h**2))
    elif model == "spherical":
        c = np.where(h < 1.0, 1.0 - 1.5 * h + 0.5 * h**3, 0.0)
    else:
        raise InputError(f"variogram model must be exponential, spherical or gaussian, got {model!r}")
    return sill * c + np.where(d < 1e-9, nugget, 0.0)


class _AtpGeometry:
    """Block-to-block and block-to-point covariances of a regular coarse grid.

    A coarse pixel (block) is discretised into ``s x s`` points at the centres of its sub-pixels
    (the fine point support); positions are in coarse pixel units (the block ``(i, j)`` spans
    ``[i, i+1) x [j, j+1)``), distances in metres through the pixel sizes ``py``, ``px``.
    """

    def __init__(self, s: int, py: float, px: float, model: VariogramModel, sill: float,
                 range_m: float, nugget: float = 0.0) -> None:
        self.s, self.py, self.px = s, py, px
        self.cov = functools.partial(point_covariance, model=model, sill=sill, range_m=range_m,
                                     nugget=nugget)
        k = np.arange(-(s - 1), s)
        self._k = k / s  # sub-point separations inside a pair of blocks
        self._w = (s - np.abs(k)) / float(s * s)  # their frequencies (sum 1 per axis)
        self._sub = (np.arange(s) + 0.5) / s

    def block_block(self, di: np.ndarray, dj: np.ndarray) -> np.ndarray:
        """``C_VV`` between blocks ``di`` rows and ``dj`` columns apart (broadcast arrays)."""
        di = np.asarray(di, dtype=np.float64)[..., None, None]
        dj = np.asarray(dj, dtype=np.float64)[..., None, None]
        d = np.hypot((di + self._k[:, None]) * self.py, (dj + self._k[None, :]) * self.px)
        return np.sum(self.cov(d) * self._w[:, None] * self._w[None, :], axis=(-2, -1))

    def block_point(self, di: np.ndarray, dj: np.ndarray, u: np.ndarray,
                    v: np.ndarray) -> np.ndarray:
        """``C_Vx`` between the block at ``(di, dj)`` and the point ``(u, v)`` (broadcast)."""
        ry = (np.asarray(u, float) - np.asarray(di, float))[..., None, None] - self._sub[:, None]
        rx = (np.asarray(v, float) - np.asarray(dj, float))[..., None, None] - self._sub[None, :]
        return np.mean(self.cov(np.hypot(ry * self.py, rx * self.px)), axis=(-2, -1))

    def regularised_semivariogram(self, lags: np.ndarray) -> np.ndarray:
        """Block semivariogram at axis lags (coarse pixels), averaged over x and y."""
        lags = np.asarray(lags, dtype=np.float64)
        c0 = self.block_block(0.0, 0.0)
        return c0 - 0.5 * (self.block_block(lags, 0.0) + self.block_block(0.0, lags))


def fit_point_variogram(
    residual: np.ndarray,
    factor: int,
    pixel_m: tuple[float, float],
    *,
    model: VariogramModel = "exponential",
    max_lag: int | None = None,
    fit_nugget: bool = False,
) -> dict[str, float]:
    """Point-support variogram whose block-regularised version matches the coarse one.

    The empirical semivariogram of the coarse field (``S2 / 2`` pooled over x and y,
    :func:`analysis.metrics.structure_function_s2`) at lags ``1..max_lag`` coarse pixels is
    matched, by weighted least squares on the log-parameters (weights ``sqrt`` of the pair
    counts), by the regularised semivariogram of a point model: each coarse pixel is the mean
    of its ``factor x factor`` sub-pixel points (deconvolution by model fitting, the
    non-iterative form of Goovaerts 2008).

    Parameters
    ----------
    residual
        Coarse field (NaN = missing).
    factor
        Sub-pixels per coarse pixel side.
    pixel_m
        Coarse pixel size ``(py, px)`` in metres.
    model
        Point model (:func:`point_covariance`).
    max_lag
        Largest lag fitted (coarse pixels); default ``min(10, min(shape) // 2)``.
    fit_nugget
        Fit a point nugget too (otherwise 0).

    Returns
    -------
    dict
        ``model``, ``sill``, ``range_m``, ``nugget``, ``rms_misfit`` (field units squared).

    """
    from scipy.optimize import least_squares

    from analysis.metrics import structure_function_s2

    r = np.asarray(residual, dtype=np.float64)
    if max_lag is None:
        max_lag = int(min(10, min(r.shape) // 2))
    lags = np.arange(1, max_lag + 1)
    s2, cnt = structure_function_s2(r, None, lags)
    ok = np.isfinite(s2) & (cnt > 0)
    if ok.sum() < 3:
        raise AllNaNError(f"only {int(ok.sum())} coarse lags with pairs: cannot fit a variogram")
    lags, gam, w = lags[ok].astype(np.float64), s2[ok] / 2.0, np.sqrt(cnt[ok] / cnt[ok].max())
    var = float(np.nanvar(r))
    if var <= 0:
        return {"model": model, "sill": 0.0, "range_m": float(pixel_m[1]), "nugget": 0.0,
                "rms_misfit": 0.0}
    py, px = pixel_m
    scale = float(np.max(gam))

    def params(p: np.ndarray) -> tuple[float, float, float]:
        return float(np.exp(p[0])), float(np.exp(p[1])), float(np.exp(p[2])) if fit_nugget else 0.0

    def resid(p: np.ndarray) -> np.ndarray:
        sill, rng, nug = params(p)
        g = _AtpGeometry(factor, py, px, model, sill, rng, nug).regularised_semivariogram(lags)
        return w * (g - gam) / scale

    pix = float(np.sqrt(py * px))
    p0 = [np.log(var), np.log(2.0 * pix)] + ([np.log(0.1 * var)] if fit_nugget else [])
    lo = [np.log(var * 1e-4), np.log(pix / (4.0 * factor))] + ([np.log(var * 1e-6)] if fit_nugget else [])
    hi = [np.log(var * 1e2), np.log(pix * 10.0 * max(r.shape))] + ([np.log(var * 10.0)] if fit_nugget else [])
    sol = least_squares(resid, p0, bounds=(lo, hi))
    sill, rng, nug = params(sol.x)
    misfit = float(np.sqrt(np.mean((resid(sol.x) * scale / w) ** 2)))
    logger.info("ATPK point variogram: %s, sill %.3g, range %.0f m, nugget %.3g (coarse misfit "
                "%.2g)", model, sill, rng, nug, misfit)
    return {"model": model, "sill": sill, "range_m": rng, "nugget": nug, "rms_misfit": misfit}


def atp_kriging(
    coarse: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    factor: int,
    pixel_m: tuple[float, float],
    variogram: Mapping[str, float | str],
    *,
    neighbourhood: int = 5,
) -> np.ndarray:
    """Area-to-point (ordinary) kriging of a coarse field at fine points.

    Each fine point is predicted from the ``neighbourhood x neighbourhood`` coarse pixels
    centred on the coarse pixel that contains it (those inside the grid with a finite value),
    with weights solving ``sum_j l_j C_VV(V_i, V_j) + mu = C_Vx(V_i, x)``, ``sum l = 1``. All
    points of a block share its neighbourhood, so the mean of the predictions over the block's
    ``factor x factor`` sub-pixels reproduces the block value exactly (coherence). Blocks with the
    same neighbourhood pattern share one factorisation.

    Parameters
    ----------
    coarse
        Coarse field ``(nyc, nxc)``; NaN = missing (left out of every neighbourhood; fine points
        of a missing block are NaN).
    rows, cols
        Fine pixel-centre positions in continuous coarse pixel units (:func:`_centre_positions`).
    factor
        Sub-pixels per coarse pixel side (the point support).
    pixel_m
        Coarse pixel size ``(py, px)`` (m).
    variogram
        ``model``, ``sill``, ``range_m``, ``nugget`` (:func:`fit_point_variogram`).
    neighbourhood
        Odd side of the coarse neighbourhood (pixels).

    Returns
    -------
    numpy.ndarray
        ``(len(rows), len(cols))`` predictions.

    """
    if neighbourhood < 1 or neighbourhood % 2 == 0:
        raise InputError(f"neighbourhood must be an odd positive integer, got {neighbourhood}")
    z = np.asarray(coarse, dtype=np.float64)
    nyc, nxc = z.shape
    geom = _AtpGeometry(factor, *pixel_m, variogram["model"], float(variogram["sill"]),
                        float(variogram["range_m"]), float(variogram.get("nugget", 0.0)))
    h = neighbourhood // 2
    oi, oj = (a.ravel() for a in np.mgrid[-h:h + 1, -h:h + 1])
    bi = np.clip(np.floor(rows).astype(np.int64), 0, nyc - 1)
    bj = np.clip(np.floor(cols).astype(np.int64), 0, nxc - 1)
    uu, iu = np.unique(np.round(rows - bi, 9), return_inverse=True)
    vv, iv = np.unique(np.round(cols - bj, 9), return_inverse=True)
    rhs = geom.block_point(oi[None, None, :], oj[None, None, :], uu[:, None, None],
                           vv[None, :, None])  # (nu, nv, K)
    lhs = geom.block_block(oi[:, None] - oi[None, :], oj[:, None] - oj[None, :])  # (K, K)
    # neighbour values and validity per block
    ii = np.arange(nyc)[:, None, None] + oi[None, None, :]
    jj = np.arange(nxc)[None, :, None] + oj[None, None, :]
    inside = (ii >= 0) & (ii < nyc) & (jj >= 0) & (jj < nxc)
    vals = z[np.clip(ii, 0, nyc - 1), np.clip(jj, 0, nxc - 1)]
    valid = inside & np.isfinite(vals)
    vals = np.where(valid, vals, 0.0)
    patterns, pid = np.unique(valid.reshape(nyc * nxc, -1), axis=0, return_inverse=True)
    pid = pid.reshape(nyc, nxc)
    nu, nv, k = rhs.shape
    weights = np.zeros((len(patterns), nu, nv, k))
    for p, pat in enumerate(patterns):
        idx = np.flatnonzero(pat)
        if idx.size == 0:
            continue
        n = idx.size
        a = np.ones((n + 1, n + 1))
        a[:n, :n] = lhs[np.ix_(idx, idx)]
        a[n, n] = 0.0
        b = np.ones((n + 1, nu * nv))
        b[:n] = rhs[:, :, idx].reshape(nu * nv, n).T
        sol = np.linalg.solve(a, b)
        weights[p][:, :, idx] = sol[:n].T.reshape(nu, nv, n)
    logger.debug("ATPK: %d neighbourhood patterns, %d x %d point positions", len(patterns), nu, nv)
    w = weights[pid[np.ix_(bi, bj)], iu[:, None], iv[None, :], :]  # (ny, nx, K)
    out = np.einsum("yxk,yxk->yx", w, vals[np.ix_(bi, bj)])
    out[~np.isfinite(z[np.ix_(bi, bj)])] = np.nan
    return out


def atprk(
    lst_1km: xr.DataArray,
    ndvi_250m: xr.DataArray,
    *,
    model: VariogramModel = "exponential",
    neighbourhood: int = 5,
    fit_nugget: bool = True,
    max_lag: int | None = None,
    min_coverage: float = 1.0,
) -> xr.DataArray:
    """ATPRK: TsHARP's regression plus area-to-point kriging of its 1 km residual.

    After Wang, Shi, Atkinson et al. (2015, 2016), applied to LST since. (1) The linear LST-NDVI regression of :func:`tsharp` (``residual=None``) is applied at
    250 m. (2) Its 1 km residual ``LST - A(pred)`` (``A`` = :func:`aggregate_to`, arithmetic
    mean: the kriging is linear) gets a point-support variogram by deconvolution
    (:func:`fit_point_variogram`: a model whose block-regularised version matches the empirical
    1 km residual variogram, the 250 m point support approximated by the ``factor x factor``
    sub-pixels of each 1 km pixel). (3) The residual is kriged to the 250 m pixel centres by
    area-to-point kriging on a local neighbourhood (:func:`atp_kriging`) and added.

    Coherence: re-aggregating the kriged residual over a complete 1 km pixel reproduces its
    residual exactly, so the output re-aggregated with the arithmetic mean reproduces the
    1 km LST (to rounding; with the radiance aggregation to a few hundredths of a kelvin).

    Parameters
    ----------
    lst_1km
        MODIS LST (K).
    ndvi_250m
        Fine NDVI (defines the output grid).
    model
        Point variogram model (:func:`point_covariance`).
    neighbourhood
        Odd side of the coarse kriging neighbourhood (5: 25 coarse pixels).
    fit_nugget
        Fit a point nugget (default): the part of the 1 km residual without spatial structure
        (retrieval noise, geolocation) goes into it instead of shortening the range, which
        would make the kriging sharpen noise (on three MODIS-ASTER pairs: RMSE 1.93, 1.81,
        1.16 K with the nugget, 1.98, 1.86, 1.19 K without).
    max_lag
        Largest coarse lag of the variogram fit (default ``min(10, n // 2)``).
    min_coverage
        As in :func:`tsharp` (NDVI coverage of a 1 km pixel for it to enter the regression).

    Returns
    -------
    xarray.DataArray
        LST (K) on the NDVI grid; attrs of the regression (``intercept_K``, ``slope_K``,
        ``r2``), of the variogram (``variogram_model``, ``variogram_sill_K2``,
        ``variogram_range_m``, ``variogram_nugget_K2``), ``neighbourhood`` and
        ``consistency_max_abs_K`` (mean aggregation, complete 1 km pixels).

    References
    ----------
    Kyriakidis, P. C. (2004). A geostatistical framework for area-to-point spatial
    interpolation. Geogr. Anal. 36, 259-289.
    Goovaerts, P. (2008). Kriging and semivariogram deconvolution in the presence of irregular
    geographical units. Math. Geosci. 40, 101-128.
    Wang, Q., Shi, W., Atkinson, P. M., Zhao, Y. (2015). Downscaling MODIS images with
    area-to-point regression kriging. Remote Sens. Environ. 166, 191-204.
    Wang, Q., Shi, W., Atkinson, P. M. (2016). Area-to-point regression kriging for
    pan-sharpening. ISPRS J. Photogramm. Remote Sens. 114, 151-165.

    """
    factor = _check_inputs(lst_1km, ndvi_250m)
    reg = tsharp(lst_1km, ndvi_250m, residual=None, min_coverage=min_coverage)
    pred = reg.astype(np.float64)
    res_c = (np.asarray(lst_1km.values, dtype=np.float64)
             - aggregate_to(pred, lst_1km, method="mean", min_coverage=1e-9).values)
    tc = _affine(lst_1km, "the coarse field")
    pixel_m = (abs(tc.e), abs(tc.a))
    vg = fit_point_variogram(res_c, factor, pixel_m, model=model, max_lag=max_lag,
                             fit_nugget=fit_nugget)
    rows, cols = _centre_positions(ndvi_250m, lst_1km)
    fine_res = atp_kriging(res_c, rows, cols, factor, pixel_m, vg, neighbourhood=neighbourhood)
    out = pred + fine_res
    agg = aggregate_to(out, lst_1km, method="mean", min_coverage=1.0).values
    d = np.abs(agg - np.asarray(lst_1km.values, dtype=np.float64))
    worst = float(np.nanmax(d)) if np.isfinite(d).any() else float("nan")
    return _finish(out.values, ndvi_250m, lst_1km, "atprk",
                   intercept_K=reg.attrs["intercept_K"], slope_K=reg.attrs["slope_K"],
                   r2=reg.attrs["r2"], variogram_model=model, variogram_sill_K2=vg["sill"],
                   variogram_range_m=vg["range_m"], variogram_nugget_K2=vg["nugget"],
                   neighbourhood=int(neighbourhood), aggregation="mean",
                   consistency_max_abs_K=worst)


#: The baselines by name (an explicit registry).
BASELINES: dict[str, Baseline] = {
    "bicubic": bicubic,
    "tsharp": tsharp,
    "dms": dms,
    "tsharp_smooth": functools.partial(tsharp, residual="smooth"),
    "dms_smooth": functools.partial(dms, residual="smooth"),
    "atprk": atprk,
}
