"""Coarse-graining statistics and cross-scale LST-NDVI relations.

:func:`coarse_grain_stats`
    Mean, variance, skewness, flatness, valid count and optional histograms of a field
    block-aggregated (:func:`scalelaws.grids.coarsen`) by dyadic factors.
:func:`lst_ndvi_relation`
    Per aggregation scale: Pearson correlation, ordinary least-squares slope of LST on NDVI
    (with its standard error and interval) and a total-least-squares slope, on a common grid
    (NDVI finer than LST is first aggregated onto the LST grid *through the coordinates*).
:func:`lst_ndvi_relation_many`
    The same pooled over many scenes (within-scene regression, cluster bootstrap over scenes),
    which makes statements such as "on the shared MODIS patches the LST~NDVI slope moves from
    X K at 1 km to Y K at 8 km" in one call.

Regression dilution: NDVI carries its own noise, so the OLS slope of LST on NDVI is
attenuated by the reliability ratio ``var(NDVI_true) / var(NDVI_observed)``. Aggregation
averages the noise away faster than the signal, so OLS slopes steepen with scale partly for a
statistical reason. The total-least-squares (Deming) slope corrects the attenuation given the
error-variance ratio ``error_ratio = var(LST error) / var(NDVI error)`` (K^2 per NDVI unit^2);
block averaging of independent errors divides both variances by the same factor, so one ratio
serves every scale. Without a stated ratio the orthogonal regression of the *standardised*
variables is used: the reduced-major-axis slope ``sign(r) * sd(LST) / sd(NDVI)``, which is
symmetric in the two variables but only unbiased when the error ratio equals
``var(LST) / var(NDVI)``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import xarray as xr
from scipy import stats as sps

from scalelaws import cf
from scalelaws.core.aggregate import aggregate_by_index, centre_index
from scalelaws.errors import AllNaNError, GridMismatchError, InputError, ScaleRangeError

__all__ = ["coarse_grain_stats", "lst_ndvi_relation", "lst_ndvi_relation_many"]

log = logging.getLogger(__name__)

RngLike = np.random.Generator | int | None

_BOUND = ("bound", ["lower", "upper"], cf.attrs("bound of the interval"))


def _as_field(da: Any, name: str) -> xr.DataArray:
    """Return a float 2-D ``(y, x)`` DataArray (length-1 extra dims squeezed); raise on bad input."""
    if isinstance(da, np.ndarray):
        if da.ndim != 2:
            raise InputError(f"{name}: expected a 2-D array, got shape {da.shape}")
        da = xr.DataArray(da, dims=("y", "x"), attrs={"pixel_size": 1.0})
    if not isinstance(da, xr.DataArray):
        raise InputError(f"{name}: expected an xarray.DataArray, got {type(da).__name__}")
    for d in [d for d in da.dims if d not in ("y", "x") and da.sizes[d] == 1]:
        da = da.squeeze(d, drop=True)
    if set(da.dims) != {"y", "x"}:
        raise InputError(f"{name}: expected dims ('y', 'x'), got {tuple(da.dims)}; loop over "
                         "extra dimensions (scenes, times) and analyse each field",
                         da.attrs.get("source"))
    da = da.transpose("y", "x")
    if not np.issubdtype(da.dtype, np.floating):
        da = da.astype(np.float64)
    if not np.isfinite(da.values).any():
        raise AllNaNError(f"{name}: every pixel is missing", da.attrs.get("source"))
    return da


def _check_factors(factors: Sequence[int], shape: tuple[int, int]) -> list[int]:
    fs = [int(f) for f in np.atleast_1d(np.asarray(factors))]
    if not fs or any(f < 1 or f != g for f, g in zip(fs, np.atleast_1d(factors), strict=True)):
        raise InputError(f"factors must be positive integers, got {factors!r}")
    if len(set(fs)) != len(fs):
        raise InputError(f"factors must be distinct, got {factors!r}")
    big = [f for f in fs if f > min(shape)]
    if big:
        raise ScaleRangeError(f"factor(s) {big} exceed the field ({shape[0]}x{shape[1]} px)")
    return fs


def _coarsen(da: xr.DataArray, f: int, method: str, max_missing: float) -> xr.DataArray:
    if f == 1:
        return da
    from scalelaws.grids import coarsen

    return coarsen(da, f, method=method, max_missing=max_missing)


# --------------------------------------------------------------------------------------------
# coarse-graining statistics
# --------------------------------------------------------------------------------------------


def coarse_grain_stats(
    da: xr.DataArray | np.ndarray,
    factors: Sequence[int] = (1, 2, 4, 8, 16),
    *,
    method: str = "mean",
    bins: int | Sequence[float] | None = None,
    max_missing: float = 0.5,
) -> xr.Dataset:
    """One-point statistics of a field block-aggregated by each factor.

    Parameters
    ----------
    da
        2-D field ``(y, x)``; NaN = missing.
    factors
        Aggregation factors (block sides in pixels).
    method
        ``"mean"`` or ``"radiance"`` (``(mean T^4)^(1/4)``, for LST in kelvin), passed to
        :func:`scalelaws.grids.coarsen`.
    bins
        ``None``: no histogram; an ``int``: that many equal bins spanning the range of the
        finest field (the same edges at every scale); a sequence: bin edges.
    max_missing
        A coarse pixel is NaN when more than this fraction of its fine pixels is missing.

    Returns
    -------
    xarray.Dataset
        Dim ``scale`` (the factor) with coordinate ``scale_m``; variables ``mean``,
        ``variance`` (unbiased, ``ddof=1``), ``skewness`` (``m3 / m2**1.5``), ``flatness``
        (``m4 / m2**2``, 3 for a Gaussian), ``n_valid``; with ``bins`` also
        ``histogram(scale, bin)`` (probability density) and coords ``bin_lo``, ``bin_hi``,
        ``bin_center``.

    Raises
    ------
    scalelaws.errors.ScaleRangeError
        A factor larger than the field.
    scalelaws.errors.AllNaNError
        Every pixel missing.

    Notes
    -----
    For white noise of variance ``s^2`` the variance of ``f x f`` block means is
    ``s^2 / f^2``. For a field with stationary increments and Hurst exponent ``H`` the
    variance of the block means over a finite domain is not a power law of ``f`` (it is the
    domain-scale variance minus a term growing as ``f^(2H)``): compare scales, not slopes.

    """
    da = _as_field(da, "field")
    from scalelaws.grids import pixel_size

    ps = float(pixel_size(da))
    fs = _check_factors(factors, da.shape)
    edges = _histogram_edges(da, bins)
    rows: dict[str, list[float]] = {k: [] for k in
                                    ("mean", "variance", "skewness", "flatness", "n_valid")}
    hists = []
    for f in fs:
        v = np.asarray(_coarsen(da, f, method, max_missing).values, dtype=float)
        v = v[np.isfinite(v)]
        for key, val in _one_point_stats(v).items():
            rows[key].append(val)
        if edges is not None:
            h = (np.histogram(v, bins=edges, density=True)[0] if v.size
                 else np.full(edges.size - 1, np.nan))
            hists.append(h)
    units = str(da.attrs.get("units", "1"))
    data = {
        "mean": ("scale", rows["mean"], cf.attrs("mean of the aggregated field", units)),
        "variance": ("scale", rows["variance"], cf.attrs("variance (ddof=1)", f"({units})^2")),
        "skewness": ("scale", rows["skewness"], cf.attrs("skewness m3/m2^1.5", "1")),
        "flatness": ("scale", rows["flatness"], cf.attrs("flatness (kurtosis) m4/m2^2", "1")),
        "n_valid": ("scale", np.asarray(rows["n_valid"], dtype=np.int64),
                    cf.attrs("number of valid aggregated pixels", "1")),
    }
    coords: dict[str, Any] = {
        "scale": ("scale", np.asarray(fs), cf.attrs("aggregation factor", "px")),
        "scale_m": ("scale", np.asarray(fs, dtype=float) * ps,
                    cf.attrs("aggregated pixel size", "m")),
    }
    if edges is not None:
        data["histogram"] = (("scale", "bin"), np.asarray(hists),
                             cf.attrs("probability density", f"1/({units})"))
        coords.update(
            bin_lo=("bin", edges[:-1], cf.attrs("lower edge of the histogram bin", units)),
            bin_hi=("bin", edges[1:], cf.attrs("upper edge of the histogram bin", units)),
            bin_center=("bin", 0.5 * (edges[:-1] + edges[1:]),
                        cf.attrs("centre of the histogram bin", units)),
        )
    return xr.Dataset(
        data, coords=coords,
        attrs={"title": "coarse-graining statistics", "Conventions": cf.CONVENTIONS,
               "history": cf.history("scalelaws.stats.coarse.coarse_grain_stats"),
               "source": str(da.attrs.get("source", "")), "method": method,
               "max_missing": float(max_missing), "pixel_size_m": ps},
    )


def _histogram_edges(da: xr.DataArray, bins: int | Sequence[float] | None) -> np.ndarray | None:
    """Histogram bin edges: ``bins`` equal bins over the field's range, or the given edges."""
    if bins is None:
        return None
    if np.ndim(bins) == 0:
        nb = int(bins)  # type: ignore[arg-type]
        if nb < 1:
            raise InputError(f"bins must be a positive integer or edges, got {bins!r}")
        vals = da.values[np.isfinite(da.values)]
        lo, hi = float(vals.min()), float(vals.max())
        if hi <= lo:
            hi = lo + 1.0
        return np.linspace(lo, hi, nb + 1)
    edges = np.asarray(bins, dtype=float)
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise InputError("bin edges must be a strictly increasing 1-D sequence")
    return edges


def _one_point_stats(v: np.ndarray) -> dict[str, float]:
    """Mean, variance (ddof=1), skewness, flatness and count of the valid values ``v``."""
    n = v.size
    if n == 0:
        return {"n_valid": n, **{key: np.nan for key in ("mean", "variance", "skewness",
                                                         "flatness")}}
    m = v.mean()
    d = v - m
    m2 = np.mean(d**2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "n_valid": n,
            "mean": m,
            "variance": d @ d / (n - 1) if n > 1 else np.nan,
            "skewness": np.mean(d**3) / m2**1.5 if m2 > 0 else np.nan,
            "flatness": np.mean(d**4) / m2**2 if m2 > 0 else np.nan,
        }


# --------------------------------------------------------------------------------------------
# common grid
# --------------------------------------------------------------------------------------------


def _axis(da: xr.DataArray, dim: str) -> tuple[np.ndarray, float]:
    if dim not in da.coords or da.sizes[dim] < 2:
        raise GridMismatchError(
            f"field needs regular 1-D '{dim}' coordinates to be placed on another grid",
            da.attrs.get("source"))
    c = np.asarray(da[dim].values, dtype=float)
    step = np.diff(c)
    if not np.allclose(step, step[0], rtol=1e-6, atol=0):
        raise GridMismatchError(f"'{dim}' coordinates are not regular", da.attrs.get("source"))
    return c, float(step[0])


def _crs_check(a: xr.DataArray, b: xr.DataArray) -> None:
    try:
        ca, cb = a.rio.crs, b.rio.crs
    except Exception:  # noqa: BLE001 - no rioxarray metadata: coordinates are all we have
        return
    if ca is not None and cb is not None and ca != cb:
        raise GridMismatchError(
            f"LST and NDVI are in different CRSs ({ca} vs {cb}); reproject one onto the other "
            "(scalelaws.grids.align) first", b.attrs.get("source"))


def _aggregate_onto(fine: xr.DataArray, ref: xr.DataArray, method: str,
                    max_missing: float) -> xr.DataArray:
    """Aggregate ``fine`` onto the coarser grid of ``ref`` by pixel-centre membership.

    Each fine pixel is assigned to the coarse pixel that contains its centre (computed from
    the coordinates, so any offset between the grids is honoured); a coarse pixel is the mean
    (or radiance mean) of its valid fine pixels and NaN when fewer than
    ``(1 - max_missing) * r**2`` of them are valid (``r`` = ratio of pixel sizes). Exact area
    aggregation when the fine grid nests in the coarse one (integer ``r``, offset a whole
    number of fine pixels, as for the MODIS 250 m / 1 km grids). The aggregation is the
    single definition :func:`scalelaws.core.aggregate.aggregate_by_index`.
    """
    fx, fdx = _axis(fine, "x")
    fy, fdy = _axis(fine, "y")
    cx, cdx = _axis(ref, "x")
    cy, cdy = _axis(ref, "y")
    if np.sign(fdx) != np.sign(cdx) or np.sign(fdy) != np.sign(cdy):
        raise GridMismatchError("the two grids have opposite axis orientations",
                                fine.attrs.get("source"))
    r = abs(cdx / fdx)
    if abs(r - round(r)) > 1e-3:
        log.warning("pixel-size ratio %.4f is not an integer: fine pixels are assigned to "
                    "the coarse pixel containing their centre (approximate areas)", r)
    col = centre_index(fx, cx[0] - cdx / 2, cdx)
    row = centre_index(fy, cy[0] - cdy / 2, cdy)
    v = np.asarray(fine.values, dtype=float)
    if method == "radiance" and np.nanmin(v, initial=np.inf) <= 0:
        from scalelaws.errors import UnitsError

        raise UnitsError("radiance mean needs temperatures in kelvin (> 0)",
                         fine.attrs.get("source"))
    m, _ = aggregate_by_index(v, row, col, (cy.size, cx.size), round(r), method=method,
                              min_coverage=1.0 - max_missing)
    out = ref.copy(data=m)
    out.attrs = dict(fine.attrs)
    out.attrs["aggregated_onto"] = f"grid of {ref.attrs.get('source', 'the other field')}"
    out.name = fine.name
    return out


def _common_grid(lst: xr.DataArray, ndvi: xr.DataArray, method: str,
                 max_missing: float) -> tuple[xr.DataArray, xr.DataArray]:
    from scalelaws.grids import pixel_size

    _crs_check(lst, ndvi)
    pl, pn = float(pixel_size(lst)), float(pixel_size(ndvi))
    if abs(pl - pn) <= 1e-6 * max(pl, pn):
        if lst.shape != ndvi.shape:
            raise GridMismatchError(f"LST {lst.shape} and NDVI {ndvi.shape} share a pixel size "
                                    "but not a grid", ndvi.attrs.get("source"))
        for d in ("x", "y"):
            if d in lst.coords and d in ndvi.coords and not np.allclose(
                    lst[d].values, ndvi[d].values, atol=1e-3 * pl, rtol=0):
                raise GridMismatchError(
                    "LST and NDVI have the same pixel size but offset grids; align them first "
                    "(scalelaws.grids.align)", ndvi.attrs.get("source"))
        return lst, ndvi
    if pn < pl:
        log.debug("aggregating NDVI (%.1f m) onto the LST grid (%.1f m)", pn, pl)
        return lst, _aggregate_onto(ndvi, lst, "mean", max_missing)
    log.debug("aggregating LST (%.1f m) onto the NDVI grid (%.1f m)", pl, pn)
    return _aggregate_onto(lst, ndvi, method, max_missing), ndvi


# --------------------------------------------------------------------------------------------
# regression statistics from moments
# --------------------------------------------------------------------------------------------

_MOM = ("n", "mx", "my", "sxx", "syy", "sxy")


def _moments(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    n = x.size
    if n == 0:
        return np.array([0, np.nan, np.nan, 0.0, 0.0, 0.0])
    mx, my = x.mean(), y.mean()
    dx, dy = x - mx, y - my
    return np.array([n, mx, my, dx @ dx, dy @ dy, dx @ dy])


def _tls_slope(sxx: np.ndarray, syy: np.ndarray, sxy: np.ndarray,
               error_ratio: float | None) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        if error_ratio is None:
            return np.sign(sxy) * np.sqrt(syy / sxx)
        lam = float(error_ratio)
        d = syy - lam * sxx
        return (d + np.sqrt(d * d + 4 * lam * sxy * sxy)) / (2 * sxy)


def _stats_from_moments(M: np.ndarray, error_ratio: float | None,
                        level: float) -> dict[str, np.ndarray]:
    """Regression statistics from moments ``M (..., 6)`` (n, mean x, mean y, sxx, syy, sxy)."""
    n, mx, my, sxx, syy, sxy = np.moveaxis(M, -1, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        b = sxy / sxx
        r = sxy / np.sqrt(sxx * syy)
        rss = np.maximum(syy - b * sxy, 0.0)
        dof = n - 2
        se = np.where(dof > 0, np.sqrt(rss / np.where(dof > 0, dof, 1) / sxx), np.nan)
        t = sps.t.ppf(0.5 + level / 2, np.where(dof > 0, dof, 1))
        bt = _tls_slope(sxx, syy, sxy, error_ratio)
    return {
        "n": n.astype(np.int64), "corr": r, "slope_ols": b, "slope_ols_se": se,
        "slope_ols_ci": np.stack([b - t * se, b + t * se], axis=-1),
        "intercept_ols": my - b * mx, "slope_tls": bt, "intercept_tls": my - bt * mx,
        "lst_mean": my, "ndvi_mean": mx,
        "lst_std": np.sqrt(syy / np.maximum(n - 1, 1)),
        "ndvi_std": np.sqrt(sxx / np.maximum(n - 1, 1)),
    }


_ATTRS = {
    "n": ("number of valid co-located pixels", "1"),
    "corr": ("Pearson correlation of LST and NDVI", "1"),
    "slope_ols": ("OLS slope of LST on NDVI", "K"),
    "slope_ols_se": ("OLS standard error (independent pixels; optimistic under spatial "
                     "autocorrelation)", "K"),
    "slope_ols_ci": ("OLS t interval (independent pixels)", "K"),
    "intercept_ols": ("OLS intercept (LST at NDVI = 0)", "K"),
    "slope_tls": ("total-least-squares slope of LST on NDVI", "K"),
    "intercept_tls": ("total-least-squares intercept", "K"),
    "lst_mean": ("mean LST", "K"),
    "ndvi_mean": ("mean NDVI", "1"),
    "lst_std": ("standard deviation of LST", "K"),
    "ndvi_std": ("standard deviation of NDVI", "1"),
}


def _tls_doc(error_ratio: float | None) -> str:
    if error_ratio is None:
        return ("orthogonal regression of standardised variables (reduced major axis: "
                "sign(r) sd(LST)/sd(NDVI))")
    return (f"Deming regression with error-variance ratio var(LST err)/var(NDVI err) = "
            f"{float(error_ratio):g} K^2")


def _mask_classes(mask: xr.DataArray | None, grid: xr.DataArray) -> list[tuple[Any, Any]]:
    """List of ``(label, boolean array)``; label ``None`` for no class dimension."""
    if mask is None:
        return [(None, np.ones(grid.shape, dtype=bool))]
    m = mask
    if isinstance(m, xr.DataArray):
        m = m.squeeze(drop=True)
        if set(m.dims) == {"y", "x"}:
            m = m.transpose("y", "x")
    arr = np.asarray(m.values if isinstance(m, xr.DataArray) else m)
    if arr.shape != grid.shape:
        raise GridMismatchError(
            f"mask shape {arr.shape} differs from the analysis grid {grid.shape} (the coarser "
            "of the LST and NDVI grids)")
    if arr.dtype == bool:
        return [(None, arr)]
    labels = np.unique(arr[np.isfinite(arr)] if np.issubdtype(arr.dtype, np.floating) else arr)
    return [(lab, arr == lab) for lab in labels]


def _relation_moments(lst: xr.DataArray, ndvi: xr.DataArray, fs: list[int], method: str,
                      max_missing: float, classes: list[tuple[Any, Any]]) -> np.ndarray:
    """Moments ``(class, scale, 6)``.

    A pixel missing in either field is set missing in both before aggregation, so that a
    coarse LST value and the coarse NDVI value it is regressed on average the same fine
    pixels (otherwise a block half covered by LST would be paired with the NDVI of the
    whole block).
    """
    out = np.empty((len(classes), len(fs), len(_MOM)))
    joint = np.isfinite(lst.values) & np.isfinite(ndvi.values)
    for ci, (_, sel) in enumerate(classes):
        keep = np.asarray(sel, dtype=bool) & joint
        lc, nc = lst.where(keep), ndvi.where(keep)
        for si, f in enumerate(fs):
            if not (np.isfinite(lc.values).any() and np.isfinite(nc.values).any()):
                out[ci, si] = _moments(np.array([]), np.array([]))
                continue
            a = _coarsen(lc, f, method, max_missing).values
            b = _coarsen(nc, f, "mean", max_missing).values
            out[ci, si] = _moments(np.asarray(b, float).ravel(), np.asarray(a, float).ravel())
    return out


def _check_common(lst: Any, ndvi: Any, method: str, max_missing: float
                  ) -> tuple[xr.DataArray, xr.DataArray, float]:
    from scalelaws.grids import pixel_size

    if method not in ("mean", "radiance"):
        raise InputError(f"method must be 'mean' or 'radiance', got {method!r}")
    if not 0.0 <= max_missing < 1.0:
        raise InputError(f"max_missing must lie in [0, 1), got {max_missing}")
    lst = _as_field(lst, "LST")
    ndvi = _as_field(ndvi, "NDVI")
    lst, ndvi = _common_grid(lst, ndvi, method, max_missing)
    return lst, ndvi, float(pixel_size(lst))


def lst_ndvi_relation(
    lst: xr.DataArray | np.ndarray,
    ndvi: xr.DataArray | np.ndarray,
    factors: Sequence[int] = (1, 2, 4, 8),
    *,
    mask: xr.DataArray | np.ndarray | None = None,
    method: str = "mean",
    error_ratio: float | None = None,
    max_missing: float = 0.5,
    level: float = 0.95,
) -> xr.Dataset:
    """Correlation and regression slopes of LST on NDVI at each aggregation scale.

    Both fields are first put on a common grid: the coarser of the two. When NDVI is finer
    (e.g. MODIS 250 m NDVI with 1 km LST) it is aggregated onto the LST grid using both
    grids' coordinates (each fine pixel goes to the coarse pixel containing its centre), so a
    grid offset (the MODIS-ASTER NDVI patches are shifted by 0-3 fine pixels from the 1 km
    blocks) is honoured; index slicing would mix neighbouring footprints. Then both are
    aggregated by each factor (:func:`scalelaws.grids.coarsen`; LST with ``method``, NDVI
    by its mean) and regressed over the pixels valid in both. A pixel missing in either
    field (on the common grid) is dropped from both before the aggregation, so each coarse
    LST value and its NDVI average the same footprint.

    Parameters
    ----------
    lst
        LST (K), 2-D ``(y, x)``.
    ndvi
        NDVI (1), 2-D, same CRS.
    factors
        Aggregation factors relative to the common grid.
    mask
        Optional mask on the common grid: boolean (keep True) or class labels (one
        regression per label, dim ``class``). Pixels outside are set missing *before*
        aggregation, so a coarse pixel needs ``1 - max_missing`` of its area in the class.
    method
        LST aggregation: ``"mean"`` or ``"radiance"`` (``(mean T^4)^(1/4)``).
    error_ratio
        ``var(LST error) / var(NDVI error)`` in K^2 for the total-least-squares (Deming)
        slope; ``None``: orthogonal regression of standardised variables (see module notes).
    max_missing
        Largest missing fraction of a coarse pixel.
    level
        Confidence level of the OLS interval.

    Returns
    -------
    xarray.Dataset
        Dims ``scale`` (factor; coordinate ``scale_m``) and, with class labels, ``class``:
        ``n``, ``corr``, ``slope_ols``, ``slope_ols_se``, ``slope_ols_ci(bound)``,
        ``intercept_ols``, ``slope_tls``, ``intercept_tls``, ``lst_mean``, ``ndvi_mean``,
        ``lst_std``, ``ndvi_std``. The OLS standard error treats pixels as independent and is
        optimistic for autocorrelated fields; for honest intervals pool several scenes with
        :func:`lst_ndvi_relation_many` (bootstrap over scenes).

    Raises
    ------
    scalelaws.errors.GridMismatchError
        Different CRSs, offset grids of equal pixel size, or a mask on another grid.
    scalelaws.errors.ScaleRangeError
        A factor larger than the common grid.

    """
    if not 0 < level < 1:
        raise InputError(f"level must lie in (0, 1), got {level}")
    lst, ndvi, ps = _check_common(lst, ndvi, method, max_missing)
    fs = _check_factors(factors, lst.shape)
    classes = _mask_classes(mask, lst)
    M = _relation_moments(lst, ndvi, fs, method, max_missing, classes)
    st = _stats_from_moments(M, error_ratio, level)
    has_class = classes[0][0] is not None
    if not has_class:
        st = {k: v[0] for k, v in st.items()}
    lead = ("class", "scale") if has_class else ("scale",)
    data = {}
    for k, v in st.items():
        name, units = _ATTRS[k]
        dims = (*lead, "bound") if k.endswith("_ci") else lead
        data[k] = (dims, v, cf.attrs(name, units))
    coords: dict[str, Any] = {
        "scale": ("scale", np.asarray(fs), cf.attrs("aggregation factor of the common "
                                                         "grid", "px")),
        "scale_m": ("scale", np.asarray(fs, dtype=float) * ps,
                    cf.attrs("aggregated pixel size", "m")),
        "bound": _BOUND,
    }
    if has_class:
        coords["class"] = ("class", np.asarray([c[0] for c in classes]),
                           cf.attrs("mask class label"))
    return xr.Dataset(
        data, coords=coords,
        attrs={"title": "LST-NDVI relation across scales", "Conventions": cf.CONVENTIONS,
               "history": cf.history("scalelaws.stats.coarse.lst_ndvi_relation"),
               "source": str(lst.attrs.get("source", "")), "lst_method": method,
               "tls": _tls_doc(error_ratio), "max_missing": float(max_missing),
               "level": float(level), "pixel_size_m": ps},
    )


def _pair_fields(p: Any) -> tuple[Any, Any, Any]:
    if isinstance(p, tuple | list) and len(p) == 2:
        return p[0], p[1], None
    if hasattr(p, "lst_1km") and hasattr(p, "ndvi_250m"):
        return p.lst_1km, p.ndvi_250m, getattr(p, "id", None)
    raise InputError("each pair must be an (lst, ndvi) tuple or a ModisAsterPair")


def lst_ndvi_relation_many(
    pairs: Iterable[Any],
    factors: Sequence[int] = (1, 2, 4, 8),
    *,
    method: str = "mean",
    error_ratio: float | None = None,
    max_missing: float = 0.5,
    n_boot: int = 1000,
    level: float = 0.95,
    rng: RngLike = None,
) -> xr.Dataset:
    """LST-NDVI relation per scale pooled over many scenes, with a bootstrap over scenes.

    Each scene is processed as in :func:`lst_ndvi_relation`. The pooled statistics are the
    *within-scene* (fixed-effects) estimates: each scene's LST and NDVI are centred on their
    own means, so differences between scenes (dates, climates) do not enter the slope; the
    pooled OLS slope is ``sum(sxy) / sum(sxx)`` over scenes, the pooled TLS slope and
    correlation use the pooled within-scene moments. Intervals: percentile cluster bootstrap
    (scenes resampled with replacement), which respects the spatial autocorrelation inside
    scenes. The median over scenes of the per-scene OLS slopes is given too.

    Parameters
    ----------
    pairs
        Iterable of ``(lst, ndvi)`` tuples or :class:`scalelaws.io.pairs.ModisAsterPair`
        objects (their ``lst_1km`` and ``ndvi_250m``). Every scene must give the same common
        pixel size.
    factors, method, error_ratio, max_missing, level
        As in :func:`lst_ndvi_relation`.
    n_boot
        Bootstrap replicates over scenes (0: no interval).
    rng
        Generator or seed.

    Returns
    -------
    xarray.Dataset
        Dims ``scale`` (coordinate ``scale_m``), ``pair``, ``bound``: pooled ``slope_ols``,
        ``slope_ols_ci``, ``slope_tls``, ``slope_tls_ci``, ``corr``, ``corr_ci``, ``n``;
        ``slope_ols_median``, ``slope_ols_median_ci``, ``slope_ols_mean``,
        ``slope_ols_mean_ci`` (mean of the per-scene slopes); per scene ``slope_ols_per_pair``,
        ``slope_tls_per_pair``, ``corr_per_pair``, ``n_per_pair`` (dims ``pair, scale``).

    Raises
    ------
    scalelaws.errors.InputError
        No pairs, or pairs with different common pixel sizes.

    """
    if not 0 < level < 1:
        raise InputError(f"level must lie in (0, 1), got {level}")
    M, ids, pss, fs = _scene_moments(pairs, factors, method, max_missing)
    per = _stats_from_moments(M, error_ratio, level)
    P = _pooled_stats(M, error_ratio)
    med = np.nanmedian(per["slope_ols"], axis=0)
    avg = np.nanmean(per["slope_ols"], axis=0)
    cis = _cluster_bootstrap(M, per["slope_ols"], error_ratio, n_boot, level, rng)
    ci_name = f"{100 * level:g} % cluster-bootstrap percentile interval (scenes resampled)"
    data = {
        "slope_ols": ("scale", P["slope_ols"], cf.attrs("pooled within-scene OLS slope "
                                                             "of LST on NDVI", "K")),
        "slope_ols_ci": (("scale", "bound"), cis["slope_ols"], cf.attrs(ci_name, "K")),
        "slope_tls": ("scale", P["slope_tls"], cf.attrs("pooled within-scene TLS slope", "K")),
        "slope_tls_ci": (("scale", "bound"), cis["slope_tls"], cf.attrs(ci_name, "K")),
        "corr": ("scale", P["corr"], cf.attrs("pooled within-scene correlation", "1")),
        "corr_ci": (("scale", "bound"), cis["corr"], cf.attrs(ci_name, "1")),
        "n": ("scale", P["n"].astype(np.int64), cf.attrs("pixels pooled", "1")),
        "slope_ols_median": ("scale", med, cf.attrs("median over scenes of the OLS slope", "K")),
        "slope_ols_median_ci": (("scale", "bound"), cis["slope_ols_median"],
                                cf.attrs(ci_name, "K")),
        "slope_ols_mean": ("scale", avg, cf.attrs("mean over scenes of the OLS slope", "K")),
        "slope_ols_mean_ci": (("scale", "bound"), cis["slope_ols_mean"],
                              cf.attrs(ci_name, "K")),
        "slope_ols_per_pair": (("pair", "scale"), per["slope_ols"],
                               cf.attrs("per-scene OLS slope", "K")),
        "slope_tls_per_pair": (("pair", "scale"), per["slope_tls"],
                               cf.attrs("per-scene TLS slope", "K")),
        "corr_per_pair": (("pair", "scale"), per["corr"],
                          cf.attrs("per-scene correlation", "1")),
        "n_per_pair": (("pair", "scale"), per["n"],
                       cf.attrs("per-scene valid pixels", "1")),
    }
    return xr.Dataset(
        data,
        coords={
            "scale": ("scale", np.asarray(fs), cf.attrs("aggregation factor", "px")),
            "scale_m": ("scale", np.asarray(fs, dtype=float) * float(np.mean(pss)),
                        cf.attrs("aggregated pixel size", "m")),
            "pair": ("pair", np.asarray(ids), cf.attrs("scene (pair id, or position)")),
            "bound": _BOUND,
        },
        attrs={"title": "LST-NDVI relation across scales, pooled over scenes",
               "Conventions": cf.CONVENTIONS,
               "history": cf.history("scalelaws.stats.coarse.lst_ndvi_relation_many"),
               "source": "", "lst_method": method, "tls": _tls_doc(error_ratio),
               "pooling": "within-scene (scene means removed); cluster bootstrap over scenes",
               "n_pairs": int(M.shape[0]), "n_boot": int(n_boot), "level": float(level),
               "max_missing": float(max_missing)},
    )


def _scene_moments(
    pairs: Iterable[Any], factors: Sequence[int], method: str, max_missing: float
) -> tuple[np.ndarray, list[Any], list[float], list[int]]:
    """Within-scene moments ``(pair, scale, 6)`` of every pair, their ids, pixel sizes, factors."""
    Ms, ids, pss = [], [], []
    fs: list[int] | None = None
    for i, p in enumerate(pairs):
        lst, ndvi, pid = _pair_fields(p)
        lst, ndvi, ps = _check_common(lst, ndvi, method, max_missing)
        if fs is None:
            fs = _check_factors(factors, lst.shape)
        Ms.append(_relation_moments(lst, ndvi, fs, method, max_missing, _mask_classes(None,
                                                                                       lst))[0])
        ids.append(pid if pid is not None else i)
        pss.append(ps)
    if not Ms:
        raise InputError("no pairs given")
    if np.ptp(pss) > 1e-3 * max(pss):
        raise InputError(f"pairs have different pixel sizes ({min(pss):g}-{max(pss):g} m)")
    assert fs is not None
    return np.stack(Ms), ids, pss, fs


def _pooled_stats(Mp: np.ndarray, error_ratio: float | None) -> dict[str, np.ndarray]:
    """Pooled OLS/TLS slopes, correlation and ``n`` from moments ``Mp`` (..., pair, scale, 6).

    The within-scene moments are summed over the ``pair`` axis.
    """
    n = Mp[..., 0].sum(axis=-2)
    sxx, syy, sxy = (Mp[..., j].sum(axis=-2) for j in (3, 4, 5))
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"slope_ols": sxy / sxx, "slope_tls": _tls_slope(sxx, syy, sxy, error_ratio),
                "corr": sxy / np.sqrt(sxx * syy), "n": n}


def _cluster_bootstrap(
    M: np.ndarray,
    slope_per_pair: np.ndarray,
    error_ratio: float | None,
    n_boot: int,
    level: float,
    rng: RngLike,
) -> dict[str, np.ndarray]:
    """Percentile intervals ``(scale, bound)`` of the pooled statistics, scenes resampled.

    NaN intervals when ``n_boot`` is 0 or there is a single scene.
    """
    alpha = 1.0 - level
    cis = {k: np.full((M.shape[1], 2), np.nan) for k in ("slope_ols", "slope_tls", "corr",
                                                        "slope_ols_median", "slope_ols_mean")}
    n_pair = M.shape[0]
    if n_boot > 0 and n_pair >= 2:
        g = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        idx = g.integers(0, n_pair, size=(int(n_boot), n_pair))
        Pb = _pooled_stats(M[idx], error_ratio)
        Pb["slope_ols_median"] = np.nanmedian(slope_per_pair[idx], axis=1)
        Pb["slope_ols_mean"] = np.nanmean(slope_per_pair[idx], axis=1)
        for k in cis:
            cis[k] = np.stack([np.nanquantile(Pb[k], alpha / 2, axis=0),
                               np.nanquantile(Pb[k], 1 - alpha / 2, axis=0)], axis=-1)
    return cis
