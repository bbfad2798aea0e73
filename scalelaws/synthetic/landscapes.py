"""Coupled synthetic LST and NDVI scenes, scale invariance false by design: :func:`landscape`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from scalelaws.synthetic.inputs import _check_shape, as_generator
from scalelaws.synthetic.landscape_specs import LandscapeSpec, LandscapeTruth, _get_spec
from scalelaws.synthetic.landscape_truth import _gauss_kernel, _von_karman_spectrum, landscape_truth

log = logging.getLogger(__name__)

LANDSCAPE_CRS = "EPSG:32631"  # UTM zone 31N (metres)
_ORIGIN = (500_000.0, 5_000_000.0)  # upper-left corner (x, y) of every synthetic landscape


def _parcel_index(n: int, length_px: float, tau_px: float, gen: np.random.Generator) -> np.ndarray:
    """Parcel index of each of ``n`` pixel centres along one axis (Poisson cut points)."""
    cuts = np.sort(gen.uniform(0.0, length_px, gen.poisson(tau_px * length_px)))
    return np.searchsorted(cuts, np.arange(n) + 0.5)


def landscape(
    kind: str | LandscapeSpec,
    *,
    shape: Sequence[int] = (512, 512),
    pixel_size: float = 62.5,
    seed: int | np.random.Generator | None = 0,
) -> xr.Dataset:
    r"""Coupled synthetic LST and NDVI fields in which scale invariance is false by design.

    Model (all components independent; ``v`` the parcel NDVI, ``R``, ``R'`` unit-variance
    stationary Gaussian fields with the von Karman spectrum of the spec):

    .. math::

        \mathrm{NDVI} &= \bar v + B * (v - \bar v) + \sigma_{RN} R \\
        \mathrm{LST}  &= T_0 + B * (b_p (v - \bar v) + e) + b_r \sigma_{RN} R + \sigma_{RT} R'

    * parcels: rectangles cut by Poisson lines of intensity ``1 / parcel_m`` in x and y, each
      with an independent NDVI ``v`` drawn from ``ndvi_classes`` and an independent LST
      residual ``e ~ N(0, parcel_lst_std**2)``; ``b_p = parcel_slope`` is the field-scale
      LST-NDVI slope;
    * ``B *``: Gaussian blur of standard deviation ``edge_m`` (the parcel mosaic is generated
      on a padded window, so the result is exactly stationary);
    * regional fields: periodic on the grid, with regional LST-NDVI slope
      ``b_r = regional_slope``.

    The LST variogram therefore rises steeply up to the parcel size, then flattens where only
    the regional fields still vary: a scale break at ``break_m``; and the LST-NDVI regression
    slope moves from near ``parcel_slope`` at fine scale towards ``regional_slope`` as
    aggregation averages the parcels out.  On the default 512 x 512 grid at 62.5 m
    (``H_fine`` over 250-500 m, ``H_coarse`` over 4-8 km, slopes in K per NDVI unit at
    62.5 m and 4 km): cropland 0.64 / 0.19, break ~0.9 km, slope -15.7 -> +3.6; forest
    0.53 / 0.25, ~2.0 km, -9.4 -> -0.2; urban 0.54 / 0.17, ~0.6 km, -30.4 -> -12.8; mixed
    0.61 / 0.20, ~1.2 km, -14.5 -> -6.0 (truths depend on the grid; tests recompute them).
    The exact values for the grid are in the output's attrs and in
    :func:`scalelaws.synthetic.landscape_truth`; NDVI is clipped to [-0.2, 0.95] (< 0.5 % of
    pixels).

    Parameters
    ----------
    kind
        ``"cropland"``, ``"forest"``, ``"urban"``, ``"mixed"`` (keys of
        :data:`scalelaws.synthetic.LANDSCAPES`) or
        a :class:`scalelaws.synthetic.LandscapeSpec`.
    shape
        ``(ny, nx)`` in pixels.
    pixel_size
        Pixel size in metres.
    seed
        Integer seed (or a Generator).

    Returns
    -------
    xarray.Dataset
        ``lst`` (K, float32) and ``ndvi`` ("1", float32) on ``(y, x)`` pixel-centre
        coordinates in metres, CRS UTM 31N (EPSG:32631) written with rioxarray; global attrs
        carry the spec and its truths (``H_fine``, ``H_coarse``, ``break_m``,
        ``lst_ndvi_slope_fine``, ``lst_ndvi_slope_coarse``, ``lst_ndvi_slope`` per
        ``lst_ndvi_slope_factors``, ``lst_mean``, ``ndvi_mean``).

    Examples
    --------
    >>> ds = landscape("cropland", shape=(256, 256), seed=1)
    >>> sorted(ds.data_vars), ds.lst.attrs["units"]
    (['lst', 'ndvi'], 'K')

    """
    spec = _get_spec(kind)
    ny, nx = _check_shape(shape, minimum=16)
    truth = landscape_truth(spec, shape=(ny, nx), pixel_size=pixel_size)
    gen = as_generator(seed)
    px = float(pixel_size)
    mosaic = _parcel_mosaic(spec, ny, nx, px, gen)
    r_n, r_t = _regional_fields(spec, ny, nx, px, gen)

    ndvi = spec.ndvi_mean + mosaic[0] + spec.regional_ndvi_std * r_n
    lst = (
        spec.lst_mean
        + mosaic[1]
        + spec.regional_slope * spec.regional_ndvi_std * r_n
        + spec.regional_lst_std * r_t
    )
    clipped = np.mean((ndvi < -0.2) | (ndvi > 0.95))
    if clipped > 0:
        log.debug("landscape %s: %.4f %% of NDVI pixels clipped", spec.name, 100 * clipped)
    ndvi = np.clip(ndvi, -0.2, 0.95)

    ds = _georeferenced_dataset(spec, lst, ndvi, px)
    ds.attrs = _landscape_attrs(spec, truth, seed, (ny, nx), px)
    return ds


def _parcel_mosaic(spec: LandscapeSpec, ny: int, nx: int, px: float,
                   gen: np.random.Generator) -> np.ndarray:
    """Blurred parcel NDVI anomaly and LST response, ``(2, ny, nx)``.

    Generated on a padded window, blurred, cropped (so the result is exactly stationary).
    """
    kernel = _gauss_kernel(spec.edge_m / px)
    pad = (kernel.size - 1) // 2 + 1
    tau = px / spec.parcel_m
    iy = _parcel_index(ny + 2 * pad, ny + 2 * pad, tau, gen)
    ix = _parcel_index(nx + 2 * pad, nx + 2 * pad, tau, gen)
    ncell = (int(iy.max()) + 1, int(ix.max()) + 1)
    probs = np.array([c[0] for c in spec.ndvi_classes], dtype=float)
    cls = gen.choice(len(probs), size=ncell, p=probs / probs.sum())
    lo = np.array([c[1] for c in spec.ndvi_classes])[cls]
    hi = np.array([c[2] for c in spec.ndvi_classes])[cls]
    v = lo + (hi - lo) * gen.random(ncell) - spec.ndvi_mean
    e = spec.parcel_lst_std * gen.standard_normal(ncell)
    cells = np.stack([v, spec.parcel_slope * v + e])[:, iy[:, None], ix[None, :]]
    if kernel.size > 1:
        from scipy.ndimage import convolve1d

        cells = convolve1d(cells, kernel, axis=1, mode="nearest")
        cells = convolve1d(cells, kernel, axis=2, mode="nearest")
    return cells[:, pad : pad + ny, pad : pad + nx]


def _regional_fields(spec: LandscapeSpec, ny: int, nx: int, px: float,
                     gen: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two independent unit-variance regional Gaussian fields from one complex FFT."""
    P = _von_karman_spectrum((ny, nx), px / spec.outer_m, spec.regional_H)
    w = gen.standard_normal((ny, nx)) + 1j * gen.standard_normal((ny, nx))
    reg = np.fft.fft2(np.sqrt(P) * w)
    return reg.real, reg.imag


def _georeferenced_dataset(spec: LandscapeSpec, lst: np.ndarray, ndvi: np.ndarray,
                           px: float) -> xr.Dataset:
    """``lst`` and ``ndvi`` (float32) on pixel-centre coordinates, UTM 31N, NaN nodata."""
    ny, nx = lst.shape
    x0, y0 = _ORIGIN
    x = x0 + (np.arange(nx) + 0.5) * px
    y = y0 - (np.arange(ny) + 0.5) * px
    coords = {"y": ("y", y, {"units": "m", "long_name": "northing (pixel centre)"}),
              "x": ("x", x, {"units": "m", "long_name": "easting (pixel centre)"})}
    common = {"sensor": "synthetic", "product": f"scalelaws.synthetic.landscape:{spec.name}"}
    ds = xr.Dataset(
        {
            "lst": (("y", "x"), lst.astype(np.float32),
                    {"units": "K", "long_name": "land surface temperature", **common}),
            "ndvi": (("y", "x"), ndvi.astype(np.float32),
                     {"units": "1", "long_name": "normalized difference vegetation index",
                      **common}),
        },
        coords=coords,
    )
    import rioxarray  # noqa: F401 - registers the .rio accessor
    from affine import Affine

    ds = ds.rio.write_crs(LANDSCAPE_CRS).rio.write_transform(Affine(px, 0.0, x0, 0.0, -px, y0))
    for name in ("lst", "ndvi"):
        ds[name] = ds[name].rio.write_nodata(np.nan, encoded=False)
    return ds


def _landscape_attrs(spec: LandscapeSpec, truth: LandscapeTruth,
                     seed: int | np.random.Generator | None, shape: tuple[int, int],
                     px: float) -> dict[str, Any]:
    """Global attrs of :func:`landscape`: provenance, the spec and its truths."""
    ny, nx = shape
    seed_attr = seed if isinstance(seed, (int, np.integer)) else -1
    return {
        "title": f"synthetic {spec.name} landscape: {spec.description}",
        "Conventions": "CF-1.8",
        "source": "scalelaws.synthetic.landscape",
        "history": f"scalelaws.synthetic.landscape({spec.name!r}, shape=({ny}, {nx}), "
        f"pixel_size={px:g}, seed={seed_attr})",
        "landscape": spec.name,
        "seed": int(seed_attr),
        "pixel_size": px,
        "H_fine": truth.H_fine,
        "H_coarse": truth.H_coarse,
        "break_m": truth.break_m,
        "fine_range_m": list(spec.fine_range_m),
        "coarse_range_m": list(spec.coarse_range_m),
        "lst_mean": truth.lst_mean,
        "ndvi_mean": truth.ndvi_mean,
        "lst_ndvi_slope_fine": truth.lst_ndvi_slope_fine,
        "lst_ndvi_slope_coarse": truth.lst_ndvi_slope_coarse,
        "lst_ndvi_slope_factors": list(truth.factors),
        "lst_ndvi_slope": list(truth.lst_ndvi_slope),
        "parcel_m": spec.parcel_m,
        "edge_m": spec.edge_m,
        "parcel_slope": spec.parcel_slope,
        "regional_slope": spec.regional_slope,
        "regional_H": spec.regional_H,
    }
