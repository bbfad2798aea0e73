"""Exact expected scaling of a synthetic landscape on a grid: :func:`landscape_truth`.

Variograms, break scale and LST-NDVI regression slopes follow analytically from the model's
second-order statistics (blurred parcel mosaic plus von Karman regional fields); cached per
``(spec, shape, pixel size)``.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Sequence

import numpy as np

from scalelaws.errors import InputError
from scalelaws.synthetic.inputs import _check_shape
from scalelaws.synthetic.landscape_specs import LandscapeSpec, LandscapeTruth, _get_spec

log = logging.getLogger(__name__)


def _gauss_kernel(sigma_px: float) -> np.ndarray:
    """Normalised 1-D Gaussian kernel truncated at 4 sigma (``[1.]`` for tiny sigma)."""
    if sigma_px < 0.25:
        return np.ones(1)
    radius = int(math.ceil(4.0 * sigma_px))
    x = np.arange(-radius, radius + 1, dtype=float)
    k = np.exp(-0.5 * (x / sigma_px) ** 2)
    return k / k.sum()


def _mosaic_corr(n: int, tau_px: float, kernel: np.ndarray) -> np.ndarray:
    """Exact 1-D factor ``c(d), d = 0..n`` of the blurred mosaic covariance.

    ``c = exp(-tau |d|) (*) (kernel (*) kernel)``; the 2-D covariance is ``var c(dy) c(dx)``.
    """
    rad = (kernel.size - 1) // 2
    d = np.arange(-(n + 2 * rad), n + 2 * rad + 1)
    e = np.exp(-tau_px * np.abs(d))
    auto = np.convolve(kernel, kernel)
    c = np.convolve(e, auto, mode="same")
    centre = n + 2 * rad
    return c[centre : centre + n + 1]


def _von_karman_spectrum(shape: tuple[int, int], k0: float, H: float) -> np.ndarray:
    """Spectral variance per Fourier mode, normalised to unit total variance, zero mean mode."""
    ny, nx = shape
    ky = np.fft.fftfreq(ny)[:, None]
    kx = np.fft.fftfreq(nx)[None, :]
    P = (ky**2 + kx**2 + k0**2) ** (-(1.0 + H))
    P[0, 0] = 0.0
    return P / P.sum()


def _box_gain(n: int, width: int) -> np.ndarray:
    """``|D(k)|**2`` of the mean over ``width`` consecutive samples, for the n Fourier modes."""
    k = np.fft.fftfreq(n)
    with np.errstate(invalid="ignore", divide="ignore"):
        g = (np.sin(np.pi * k * width) / (width * np.sin(np.pi * k))) ** 2
    g[k == 0] = 1.0
    return g


def _mosaic_block_var(c: np.ndarray, width: int) -> float:
    """Variance factor of a 1-D block mean over ``width`` samples of correlation ``c``."""
    d = np.arange(-(width - 1), width)
    return float(np.sum((width - np.abs(d)) * c[np.abs(d)]) / width**2)


@functools.lru_cache(maxsize=32)
def _landscape_truth_cached(
    spec: LandscapeSpec, shape: tuple[int, int], pixel_size: float
) -> LandscapeTruth:
    """Exact truths of ``spec`` on the grid (see :func:`landscape_truth`; cached)."""
    ny, nx = shape
    px = pixel_size
    n = max(ny, nx)
    kernel = _gauss_kernel(spec.edge_m / px)
    c = _mosaic_corr(n, px / spec.parcel_m, kernel)
    var_v = spec.ndvi_parcel_var
    var_lm = spec.parcel_slope**2 * var_v + spec.parcel_lst_std**2
    P = _von_karman_spectrum(shape, px / spec.outer_m, spec.regional_H)
    cov_r = np.real(np.fft.ifft2(P)) * (ny * nx)  # unit-variance regional covariance
    var_rn = spec.regional_ndvi_std**2
    var_rl = spec.regional_slope**2 * var_rn + spec.regional_lst_std**2

    lags = np.arange(1, n // 2 + 1)
    lags_y = np.minimum(lags, ny - 1)
    lags_x = np.minimum(lags, nx - 1)
    g_mosaic = c[0] * (c[0] - 0.5 * (c[lags_y] + c[lags_x]))
    g_region = cov_r[0, 0] - 0.5 * (cov_r[lags_y, 0] + cov_r[0, lags_x])
    g_lst = 2.0 * (var_lm * g_mosaic + var_rl * g_region)
    g_ndvi = 2.0 * (var_v * g_mosaic + var_rn * g_region)

    H_fine = _local_h(g_lst, lags, *spec.fine_range_m, px=px, shape=shape)
    H_coarse = _local_h(g_lst, lags, *spec.coarse_range_m, px=px, shape=shape)
    mid = 0.5 * (H_fine + H_coarse)  # NaN when a range does not fit: break_m is then NaN
    start = max(1, round(spec.fine_range_m[0] / px)) - 1
    break_m = _break_scale(g_lst, lags, mid, start, px)
    factors, slopes = _regression_slopes(spec, shape, px, c, P)
    coarse_f = min(factors, key=lambda f: abs(math.log(f * px / spec.coarse_range_m[0])))
    return LandscapeTruth(
        H_fine=H_fine,
        H_coarse=H_coarse,
        break_m=break_m,
        lst_mean=spec.lst_mean,
        ndvi_mean=spec.ndvi_mean,
        factors=factors,
        lst_ndvi_slope=tuple(slopes),
        lst_ndvi_slope_fine=slopes[0],
        lst_ndvi_slope_coarse=slopes[factors.index(coarse_f)],
        lags_px=tuple(int(v) for v in lags),
        variogram_lst=tuple(float(v) for v in g_lst),
        variogram_ndvi=tuple(float(v) for v in g_ndvi),
    )


def _local_h(g_lst: np.ndarray, lags: np.ndarray, r1: float, r2: float, *, px: float,
             shape: tuple[int, int]) -> float:
    """Local Hurst exponent of the variogram ``g_lst`` between lags ``r1`` and ``r2`` (m)."""
    a, b = max(1, round(r1 / px)), round(r2 / px)
    if b > lags[-1] or b <= a:
        log.warning(
            "grid %s at %g m is too small for the lag range %g-%g m: exponent is NaN",
            shape, px, r1, r2,
        )
        return float("nan")
    return 0.5 * math.log(float(g_lst[b - 1]) / float(g_lst[a - 1])) / math.log(b / a)


def _break_scale(g_lst: np.ndarray, lags: np.ndarray, mid: float, start: int,
                 px: float) -> float:
    """Octave centre (m) where the local exponent per octave first falls below ``mid``.

    Searched from lag index ``start``; log-linear interpolation between integer lags; NaN
    when it never does (or ``mid`` is NaN).
    """
    r = lags[: lags.size // 2]
    h_oct = 0.5 * np.log(g_lst[2 * r - 1] / g_lst[r - 1]) / math.log(2.0)
    below = np.nonzero(h_oct[start:] < mid)[0]
    if below.size == 0:
        return float("nan")
    i = start + int(below[0])
    if i == 0:
        r_cross = float(r[0])
    else:  # log-linear interpolation between r[i-1] and r[i]
        h0, h1 = h_oct[i - 1], h_oct[i]
        t = (h0 - mid) / (h0 - h1)
        r_cross = float(np.exp(np.log(r[i - 1]) + t * (np.log(r[i]) - np.log(r[i - 1]))))
    return math.sqrt(2.0) * r_cross * px


def _regression_slopes(spec: LandscapeSpec, shape: tuple[int, int], px: float, c: np.ndarray,
                       P: np.ndarray) -> tuple[tuple[int, ...], list[float]]:
    """Return the aggregation factors and the expected LST-on-NDVI slope of the block means.

    ``c`` is the 1-D mosaic correlation (:func:`_mosaic_corr`), ``P`` the regional spectrum
    (:func:`_von_karman_spectrum`); each slope is the ratio of the expected sample covariance
    to the expected sample variance of the block means.
    """
    ny, nx = shape
    var_v = spec.ndvi_parcel_var
    var_rn = spec.regional_ndvi_std**2
    factors = tuple(f for f in (1, 2, 4, 8, 16, 32, 64, 128) if min(ny, nx) // f >= 4)
    slopes = []
    for f in factors:
        wy, wx = ny // f * f, nx // f * f
        m_blk = _mosaic_block_var(c, f) ** 2 - _mosaic_block_var(c, wy) * _mosaic_block_var(c, wx)
        gy, gx = _box_gain(ny, f), _box_gain(nx, f)
        wgy, wgx = _box_gain(ny, wy), _box_gain(nx, wx)
        r_blk = float(np.sum(P * (gy[:, None] * gx[None, :] - wgy[:, None] * wgx[None, :])))
        cov_xy = spec.parcel_slope * var_v * m_blk + spec.regional_slope * var_rn * r_blk
        var_x = var_v * m_blk + var_rn * r_blk
        slopes.append(cov_xy / var_x)
    return factors, slopes


def landscape_truth(
    kind: str | LandscapeSpec,
    *,
    shape: Sequence[int] = (512, 512),
    pixel_size: float = 62.5,
) -> LandscapeTruth:
    """Exact expected scaling properties of :func:`scalelaws.synthetic.landscape` on a given grid.

    Parameters
    ----------
    kind
        A key of :data:`scalelaws.synthetic.LANDSCAPES` or a
        :class:`scalelaws.synthetic.LandscapeSpec`.
    shape, pixel_size
        The grid (pixels, metres).

    Returns
    -------
    LandscapeTruth

    """
    ny, nx = _check_shape(shape, minimum=16)
    if not pixel_size > 0:
        raise InputError(f"pixel_size must be positive, got {pixel_size}")
    return _landscape_truth_cached(_get_spec(kind), (ny, nx), float(pixel_size))
