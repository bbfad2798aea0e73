"""Pixel, structural and scale-aware metrics of a predicted field against a reference.

Every metric takes ``pred`` and ``ref`` (NumPy arrays or DataArrays of the same shape, on the
same grid) and an optional boolean ``mask`` of the pixels to score; pixels where either field is
NaN are never scored. The definitions follow the evaluation protocol of the shared MODIS-ASTER
data (its README, "Evaluation protocol"), in kelvin:

* ``rmse = sqrt(mean(e^2))``, ``bias = mean(e)``, ``mae = mean(|e|)`` with ``e = pred - ref``;
  ``ubrmse`` = standard deviation of ``e`` (population, ``ddof=0``), so
  ``rmse^2 = bias^2 + ubrmse^2``; ``pearson_r`` the correlation coefficient.
* ``psnr = 10 log10(R^2 / MSE)`` dB with the peak ``R = max(ref) - min(ref)`` over the scored
  pixels (or a fixed ``data_range`` given by the caller).
* ``ssim``: Wang et al. (2004) with a ``7 x 7`` uniform window, ``K1 = 0.01``, ``K2 = 0.03``,
  sample (``N - 1``) variances and covariance, data range ``R`` as for PSNR, averaged over the
  pixels whose whole window is scored.
* ``gradient_stratified_rmse``: RMSE inside the terciles (low / mid / high) of the reference's
  gradient magnitude (central differences).
* ``consistency_error``: the prediction re-aggregated onto the 1 km grid with
  ``(mean T^4)^(1/4)`` against the 1 km input.
* ``structure_function_error``: ``ln(S2_pred(l) / S2_ref(l))`` for lags ``l = 1, 2, 4, ...``
  pixels (one per octave), ``S2`` the second-order structure function pooled over the x and y
  directions and computed over the *same* pixel pairs (both ends scored) for both fields.
  Negative = the prediction lacks variance at that scale (too smooth), positive = too much.
* ``spectral_ratio``: ratio of the band variances (``band_variance``: radially binned power
  spectrum, plane-detrended, Hann-tapered, on the largest axis-aligned rectangle of scored
  pixels, normalised so that fields on different grids compare) in octave wavelength bands
  ``[2, 4), [4, 8), ...`` pixels.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import xarray as xr
from scipy import ndimage

from scalelaws.errors import AllNaNError, GridMismatchError, InputError, ScaleRangeError

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_BANDS_PX",
    "DEFAULT_LAGS_PX",
    "band_variance",
    "bias",
    "consistency_error",
    "data_range",
    "gradient_stratified_rmse",
    "largest_rectangle",
    "mae",
    "pearson_r",
    "psnr",
    "radial_band_power",
    "rmse",
    "spectral_ratio",
    "ssim",
    "ssim_map",
    "structure_function_s2",
    "structure_function_error",
    "ubrmse",
]

#: Lags (pixels) of the structure-function error: one per octave.
DEFAULT_LAGS_PX: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
#: Wavelength bands (pixels) of the spectral ratio: octaves from the Nyquist wavelength.
DEFAULT_BANDS_PX: tuple[tuple[float, float], ...] = ((2, 4), (4, 8), (8, 16), (16, 32), (32, 64))

ArrayLike = np.ndarray | xr.DataArray


def _arr(a: ArrayLike) -> np.ndarray:
    return np.asarray(a.values if isinstance(a, xr.DataArray) else a, dtype=np.float64)


def _prep(
    pred: ArrayLike, ref: ArrayLike, mask: ArrayLike | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Float64 copies of both fields and the boolean mask of scored pixels."""
    p, r = _arr(pred), _arr(ref)
    if p.shape != r.shape:
        raise GridMismatchError(f"prediction {p.shape} and reference {r.shape} differ in shape")
    m = np.isfinite(p) & np.isfinite(r)
    if mask is not None:
        mk = np.asarray(mask.values if isinstance(mask, xr.DataArray) else mask, dtype=bool)
        if mk.shape != p.shape:
            raise GridMismatchError(f"mask {mk.shape} and fields {p.shape} differ in shape")
        m &= mk
    if not m.any():
        raise AllNaNError("no pixel is scored (prediction, reference and mask never overlap)")
    return p, r, m


def rmse(pred: ArrayLike, ref: ArrayLike, mask: ArrayLike | None = None) -> float:
    """Root-mean-square error over the scored pixels (units of the fields)."""
    p, r, m = _prep(pred, ref, mask)
    return float(np.sqrt(np.mean((p[m] - r[m]) ** 2)))


def bias(pred: ArrayLike, ref: ArrayLike, mask: ArrayLike | None = None) -> float:
    """Mean error ``mean(pred - ref)`` over the scored pixels."""
    p, r, m = _prep(pred, ref, mask)
    return float(np.mean(p[m] - r[m]))


def mae(pred: ArrayLike, ref: ArrayLike, mask: ArrayLike | None = None) -> float:
    """Mean absolute error over the scored pixels."""
    p, r, m = _prep(pred, ref, mask)
    return float(np.mean(np.abs(p[m] - r[m])))


def ubrmse(pred: ArrayLike, ref: ArrayLike, mask: ArrayLike | None = None) -> float:
    """Unbiased RMSE: population standard deviation of ``pred - ref`` over the scored pixels."""
    p, r, m = _prep(pred, ref, mask)
    return float(np.std(p[m] - r[m]))


def pearson_r(pred: ArrayLike, ref: ArrayLike, mask: ArrayLike | None = None) -> float:
    """Pearson correlation coefficient over the scored pixels (NaN if a field is constant)."""
    p, r, m = _prep(pred, ref, mask)
    a, b = p[m] - p[m].mean(), r[m] - r[m].mean()
    den = np.sqrt(np.sum(a * a) * np.sum(b * b))
    return float(np.sum(a * b) / den) if den > 0 else float("nan")


def data_range(ref: ArrayLike, mask: ArrayLike | None = None) -> float:
    """Peak ``R = max - min`` of the reference over the scored pixels."""
    r = _arr(ref)
    m = np.isfinite(r) if mask is None else np.isfinite(r) & np.asarray(mask, dtype=bool)
    if not m.any():
        raise AllNaNError("the reference has no valid pixel in the mask")
    return float(r[m].max() - r[m].min())


def psnr(
    pred: ArrayLike, ref: ArrayLike, mask: ArrayLike | None = None, *,
    data_range: float | None = None,
) -> float:
    """Peak signal-to-noise ratio ``10 log10(R^2 / MSE)`` in dB.

    Parameters
    ----------
    pred, ref, mask
        Fields and optional scored-pixel mask.
    data_range
        The peak ``R``; default ``max(ref) - min(ref)`` over the scored pixels.

    Returns
    -------
    float
        PSNR in dB (``inf`` for a perfect prediction).

    """
    p, r, m = _prep(pred, ref, mask)
    peak = float(r[m].max() - r[m].min()) if data_range is None else float(data_range)
    if peak <= 0:
        raise InputError(f"the data range must be positive, got {peak}")
    mse = float(np.mean((p[m] - r[m]) ** 2))
    return float("inf") if mse == 0 else float(10.0 * np.log10(peak**2 / mse))


def ssim_map(
    pred: ArrayLike, ref: ArrayLike, mask: ArrayLike | None = None, *,
    data_range: float | None = None, win_size: int = 7, k1: float = 0.01, k2: float = 0.03,
) -> np.ndarray:
    """Local SSIM on a uniform ``win_size x win_size`` window; NaN where a window is not scored.

    Parameters
    ----------
    pred, ref, mask
        Fields and optional scored-pixel mask.
    data_range
        ``R`` in ``C1 = (k1 R)^2``, ``C2 = (k2 R)^2``; default ``max(ref) - min(ref)`` over the
        scored pixels.
    win_size
        Odd window side.
    k1, k2
        SSIM constants.

    Returns
    -------
    numpy.ndarray
        SSIM at each pixel whose whole window (centred on it) is scored, NaN elsewhere.

    """
    if win_size < 2 or win_size % 2 == 0:
        raise InputError(f"win_size must be an odd integer >= 3, got {win_size}")
    p, r, m = _prep(pred, ref, mask)
    peak = float(r[m].max() - r[m].min()) if data_range is None else float(data_range)
    if peak <= 0:
        raise InputError(f"the data range must be positive, got {peak}")
    n = win_size * win_size
    full = ndimage.uniform_filter(m.astype(np.float64), win_size, mode="constant", cval=0.0)
    inside = full > 1.0 - 0.5 / n
    if not inside.any():
        raise ScaleRangeError(f"no {win_size}x{win_size} window is entirely scored")
    # moments of the centred fields (exact cancellation); means added back for the luminance
    c = float(r[m].mean())
    x = np.where(m, p - c, 0.0)
    y = np.where(m, r - c, 0.0)

    def filt(a: np.ndarray) -> np.ndarray:
        return ndimage.uniform_filter(a, win_size, mode="constant", cval=0.0)

    mx, my = filt(x), filt(y)
    cov_norm = n / (n - 1.0)
    vx = cov_norm * (filt(x * x) - mx * mx)
    vy = cov_norm * (filt(y * y) - my * my)
    vxy = cov_norm * (filt(x * y) - mx * my)
    ux, uy = mx + c, my + c
    c1, c2 = (k1 * peak) ** 2, (k2 * peak) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    return np.where(inside, s, np.nan)


def ssim(
    pred: ArrayLike, ref: ArrayLike, mask: ArrayLike | None = None, *,
    data_range: float | None = None, win_size: int = 7, k1: float = 0.01, k2: float = 0.03,
) -> float:
    """Mean SSIM over the pixels whose whole window is scored (see :func:`ssim_map`)."""
    s = ssim_map(pred, ref, mask, data_range=data_range, win_size=win_size, k1=k1, k2=k2)
    return float(np.nanmean(s))


def gradient_stratified_rmse(
    pred: ArrayLike, ref: ArrayLike, mask: ArrayLike | None = None, *, n_strata: int = 3,
) -> tuple[np.ndarray, np.ndarray]:
    """RMSE in quantile strata of the reference's gradient magnitude.

    The gradient is ``np.gradient`` (central differences, one-sided at the array edges) of the
    reference, in field units per pixel; pixels with an invalid neighbour get no gradient and
    are left out. Strata are the ``n_strata`` quantile classes (terciles by default) of the
    gradient magnitude over the scored pixels.

    Returns
    -------
    rmse_per_stratum : numpy.ndarray
        ``n_strata`` values, low gradient first.
    edges : numpy.ndarray
        The ``n_strata + 1`` gradient-magnitude quantiles bounding the strata (units/pixel).

    """
    p, r, m = _prep(pred, ref, mask)
    if n_strata < 1:
        raise InputError(f"n_strata must be >= 1, got {n_strata}")
    gy, gx = np.gradient(np.where(np.isfinite(r), r, np.nan))
    g = np.hypot(gx, gy)
    ok = m & np.isfinite(g)
    if ok.sum() < n_strata:
        raise AllNaNError("too few scored pixels with a defined reference gradient")
    edges = np.quantile(g[ok], np.linspace(0.0, 1.0, n_strata + 1))
    cls = np.clip(np.searchsorted(edges, g[ok], side="right") - 1, 0, n_strata - 1)
    err2 = (p[ok] - r[ok]) ** 2
    out = np.array([np.sqrt(err2[cls == k].mean()) if np.any(cls == k) else np.nan
                    for k in range(n_strata)])
    return out, edges


def structure_function_s2(
    field: ArrayLike, mask: ArrayLike | None = None, lags: Sequence[int] = DEFAULT_LAGS_PX,
) -> tuple[np.ndarray, np.ndarray]:
    """Second-order structure function pooled over x and y, on scored pixel pairs only.

    :func:`scalelaws.stats.structure.s2_xy` (the one definition) with the protocol's default lags.

    Returns
    -------
    s2 : numpy.ndarray
        One value per lag (NaN when a lag has no pair).
    count : numpy.ndarray
        Number of pairs per lag.

    """
    from scalelaws.stats.structure import s2_xy

    return s2_xy(_arr(field), mask, lags)


def structure_function_error(
    pred: ArrayLike, ref: ArrayLike, mask: ArrayLike | None = None,
    lags: Sequence[int] = DEFAULT_LAGS_PX,
) -> np.ndarray:
    """``ln(S2_pred(l) / S2_ref(l))`` per lag, both on the same scored pixel pairs."""
    p, r, m = _prep(pred, ref, mask)
    sp, _ = structure_function_s2(p, m, lags)
    sr, _ = structure_function_s2(r, m, lags)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(sp / sr)


def largest_rectangle(mask: np.ndarray) -> tuple[slice, slice]:
    """Largest axis-aligned rectangle of True pixels (maximal-histogram algorithm).

    Returns
    -------
    rows, cols : slice
        The rectangle as slices (empty slices when the mask has no True pixel).

    """
    mk = np.asarray(mask, dtype=bool)
    ny, nx = mk.shape
    col_h = np.zeros(nx, dtype=np.int64)
    best = (0, 0, 0, 0, 0)  # area, row_end (exclusive), col0, col1 (exclusive), height
    for i in range(ny):
        col_h = np.where(mk[i], col_h + 1, 0)
        heights = [*col_h.tolist(), 0]  # sentinel flushes the stack
        stack: list[int] = []
        for j, h in enumerate(heights):
            while stack and heights[stack[-1]] >= h:
                height = heights[stack.pop()]
                left = stack[-1] + 1 if stack else 0
                if height * (j - left) > best[0]:
                    best = (height * (j - left), i + 1, left, j, height)
            stack.append(j)
    area, r1, c0, c1, h = best
    if area == 0:
        return slice(0, 0), slice(0, 0)
    return slice(r1 - h, r1), slice(c0, c1)


def _detrended_tapered(f: np.ndarray) -> np.ndarray:
    ny, nx = f.shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    a = np.column_stack([np.ones(f.size), xx.ravel(), yy.ravel()])
    coef, *_ = np.linalg.lstsq(a, f.ravel(), rcond=None)
    d = f - (a @ coef).reshape(f.shape)
    return d * np.outer(np.hanning(ny), np.hanning(nx))


def _periodogram(f: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Periodogram of the detrended, tapered field, wavelengths (pixels) and taper energy.

    Returns ``|FFT|^2`` of the plane-detrended, Hann-tapered field, the wavelength ``1 / |k|``
    of each wavevector and ``sum w^2``.
    """
    p = np.abs(np.fft.fft2(_detrended_tapered(f))) ** 2
    ky = np.fft.fftfreq(f.shape[0])[:, None]
    kx = np.fft.fftfreq(f.shape[1])[None, :]
    k = np.hypot(kx, ky)
    with np.errstate(divide="ignore"):
        wl = np.where(k > 0, 1.0 / k, np.inf)
    w2 = float(np.sum(np.hanning(f.shape[0]) ** 2) * np.sum(np.hanning(f.shape[1]) ** 2))
    return p, wl, w2


def _gap_free(field: np.ndarray, what: str) -> np.ndarray:
    f = np.asarray(field, dtype=np.float64)
    if not np.isfinite(f).all():
        raise InputError(f"{what} needs a gap-free field")
    return f


def radial_band_power(
    field: np.ndarray, bands_px: Sequence[tuple[float, float]] = DEFAULT_BANDS_PX,
) -> np.ndarray:
    """Mean power of a gap-free field in wavelength bands (pixels).

    The field is plane-detrended and Hann-tapered; ``|FFT|^2`` is averaged over the
    wavevectors whose wavelength ``1 / |k|`` (``k`` in cycles per pixel) lies in
    ``[lo, hi)``. NaN for a band with no wavevector.
    """
    p, wl, _ = _periodogram(_gap_free(field, "radial_band_power"))
    out = np.full(len(bands_px), np.nan)
    for i, (lo, hi) in enumerate(bands_px):
        sel = (wl >= lo) & (wl < hi)
        if sel.any():
            out[i] = p[sel].mean()
    return out


def band_variance(
    field: ArrayLike, mask: ArrayLike | None = None,
    bands_px: Sequence[tuple[float, float]] = DEFAULT_BANDS_PX, *, min_side: int = 16,
) -> np.ndarray:
    """Variance of a field in wavelength bands, on the largest fully scored rectangle.

    ``sum_{k in band} |FFT(w d)|^2 / (N sum w^2)`` with ``d`` the plane-detrended field, ``w``
    the Hann taper and ``N`` the rectangle's pixel count: for an untapered field the band
    variances add up to the variance (Parseval), and the value does not depend on the size of
    the rectangle or of the pixel, so fields on different grids compare (give each its bands
    in its own pixels).

    Parameters
    ----------
    field, mask
        Field (NaN = missing) and optional scored-pixel mask.
    bands_px
        Wavelength bands ``[lo, hi)`` in pixels of this field.
    min_side
        Smallest accepted rectangle side (pixels).

    Returns
    -------
    numpy.ndarray
        One variance per band (field units squared); NaN for bands whose longest wavelength
        exceeds half the rectangle's shorter side (the Hann taper halves the effective window).

    Raises
    ------
    ScaleRangeError
        When the scored rectangle is smaller than ``min_side``.

    """
    f = _arr(field)
    m = np.isfinite(f)
    if mask is not None:
        m &= np.asarray(mask.values if isinstance(mask, xr.DataArray) else mask, dtype=bool)
    rs, cs = largest_rectangle(m)
    h, w = rs.stop - rs.start, cs.stop - cs.start
    if min(h, w) < min_side:
        raise ScaleRangeError(f"the largest scored rectangle ({h} x {w}) is below {min_side} px")
    p, wl, w2 = _periodogram(f[rs, cs])
    out = np.full(len(bands_px), np.nan)
    for i, (lo, hi) in enumerate(bands_px):
        sel = (wl >= lo) & (wl < hi)
        if sel.any() and hi <= min(h, w) / 2:
            out[i] = p[sel].sum() / (h * w * w2)
    return out


def spectral_ratio(
    pred: ArrayLike, ref: ArrayLike, mask: ArrayLike | None = None,
    bands_px: Sequence[tuple[float, float]] = DEFAULT_BANDS_PX, *, min_side: int = 16,
) -> np.ndarray:
    """Ratio of band variances ``P_pred / P_ref`` on the largest rectangle scored in both.

    Parameters
    ----------
    pred, ref, mask
        Fields (same grid) and optional scored-pixel mask.
    bands_px
        Wavelength bands in pixels.
    min_side
        Smallest accepted rectangle side (pixels).

    Returns
    -------
    numpy.ndarray
        One ratio per band (1 = the prediction has the reference's variance at that scale);
        NaN for bands whose longest wavelength exceeds half the rectangle's shorter side
        (see :func:`band_variance`).

    Raises
    ------
    ScaleRangeError
        When the scored rectangle is smaller than ``min_side``.

    """
    p, r, m = _prep(pred, ref, mask)
    return (band_variance(p, m, bands_px, min_side=min_side)
            / band_variance(r, m, bands_px, min_side=min_side))


def consistency_error(
    pred: xr.DataArray, lst_1km: xr.DataArray, *, method: str = "radiance",
) -> dict[str, float]:
    """Error of the prediction re-aggregated onto the 1 km grid, against the 1 km input.

    Only 1 km pixels fully covered by valid predicted pixels are compared; the aggregation is
    :func:`analysis.baselines.aggregate_to` (geotransform-based, ``(mean T^4)^(1/4)`` for
    ``method="radiance"``).

    Returns
    -------
    dict
        ``rmse`` and ``max_abs`` (K) and ``n`` (1 km pixels compared).

    """
    from analysis.baselines import aggregate_to

    agg = aggregate_to(pred, lst_1km, method=method, min_coverage=1.0)
    d = np.asarray(agg.values, dtype=np.float64) - np.asarray(lst_1km.values, dtype=np.float64)
    ok = np.isfinite(d)
    if not ok.any():
        raise AllNaNError("no 1 km pixel is fully covered by the prediction")
    return {"rmse": float(np.sqrt(np.mean(d[ok] ** 2))), "max_abs": float(np.abs(d[ok]).max()),
            "n": int(ok.sum())}
