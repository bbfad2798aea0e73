"""Torch twin of the package's degradation operator :func:`scalelaws.grids.degrade_array`.

The degradation that makes training pairs and that the consistency loss applies to network
outputs has one definition, in :mod:`scalelaws.grids`. Training pairs are made with that numpy
function directly; this module re-implements it in torch so that it is differentiable and runs on
the network's device. ``tests/test_sr_core.py::test_torch_degrade_equals_package_degrade`` checks the two agree on fields with NaN holes.

Methods (``factor`` = block size in fine pixels, blocks anchored at the top-left corner, trailing
rows/columns that do not fill a block dropped):

* ``"mean"``: block mean of the valid fine pixels;
* ``"radiance"``: ``(mean T^4)^(1/4)`` over the valid fine pixels (kelvin in, kelvin out);
* ``"psf"``: Gaussian point-spread function whose MTF at the coarse Nyquist frequency equals
  ``mtf_nyquist`` (sigma from :func:`gaussian_sigma`, kernel truncated at 4 sigma as
  ``scipy.ndimage.gaussian_filter``), normalised convolution ``G*(v T) / G*v`` with zero padding
  (``v`` the validity mask, so missing pixels are filled by their neighbours), then block mean.

A coarse pixel is NaN when more than ``max_missing`` of its fine pixels are missing.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["degrade_tensor", "gaussian_sigma", "METHODS"]

METHODS = ("mean", "radiance", "psf")


def gaussian_sigma(factor: float, mtf_nyquist: float) -> float:
    """Sigma (fine pixels) of the Gaussian PSF whose MTF at the coarse Nyquist is ``mtf_nyquist``.

    The MTF of a Gaussian of standard deviation ``s`` is ``exp(-2 pi^2 s^2 f^2)``; at the coarse
    Nyquist frequency ``f = 1 / (2 factor)`` cycles per fine pixel this gives
    ``s = factor * sqrt(-2 ln(mtf)) / pi``. Same formula as
    :func:`scalelaws.grids.gaussian_sigma_for_mtf`.
    """
    if not 0.0 < mtf_nyquist < 1.0:
        raise ValueError(f"mtf_nyquist must lie in (0, 1), got {mtf_nyquist}")
    return float(factor) * math.sqrt(-2.0 * math.log(mtf_nyquist)) / math.pi


def _gaussian_kernel(sigma: float, dtype: torch.dtype, device: torch.device, truncate: float = 4.0) -> Tensor:
    radius = max(1, int(truncate * sigma + 0.5))
    t = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def _blur(x: Tensor, w: Tensor, sigma: float) -> tuple[Tensor, Tensor]:
    """Separable Gaussian blur of ``x * w`` and of ``w`` with zero padding (``scipy`` kernel)."""
    k = _gaussian_kernel(sigma, x.dtype, x.device)
    r = (k.numel() - 1) // 2
    b, c, h, wd = x.shape
    xx = torch.cat([x * w, w], dim=1).reshape(b * 2 * c, 1, h, wd)
    xx = F.conv2d(xx, k.view(1, 1, 1, -1), padding=(0, r))
    xx = F.conv2d(xx, k.view(1, 1, -1, 1), padding=(r, 0))
    xx = xx.reshape(b, 2 * c, h, wd)
    return xx[:, :c], xx[:, c:]


def degrade_tensor(
    x: Tensor,
    factor: int,
    *,
    method: str = "mean",
    max_missing: float = 0.5,
    mtf_nyquist: float = 0.3,
) -> Tensor:
    """Degrade fine fields to the coarse grid (differentiable, NaN-aware).

    Parameters
    ----------
    x
        ``(..., H, W)`` fields; NaN = missing. ``method="radiance"`` expects kelvin.
    factor
        Integer block size.
    method
        ``"mean"``, ``"radiance"`` or ``"psf"``.
    max_missing
        A coarse pixel is NaN when more than this fraction of its fine pixels is missing.
    mtf_nyquist
        MTF at the coarse Nyquist frequency for ``method="psf"``.

    Returns
    -------
    Tensor
        ``(..., H // factor, W // factor)``.

    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    factor = int(factor)
    if factor < 1:
        raise ValueError(f"factor must be a positive integer, got {factor}")
    lead = x.shape[:-2]
    h, w = x.shape[-2:]
    ny, nx = h // factor, w // factor
    if ny == 0 or nx == 0:
        raise ValueError(f"field {h}x{w} smaller than one {factor}x{factor} block")
    x4 = x.reshape(-1, 1, h, w)[..., : ny * factor, : nx * factor]
    ok = torch.isfinite(x4)
    okf = ok.to(x4.dtype)
    zero = torch.zeros((), dtype=x4.dtype, device=x4.device)
    xf = torch.where(ok, x4, zero)
    frac_valid = F.avg_pool2d(okf, factor)
    if method == "mean":
        num = F.avg_pool2d(xf, factor)
        out = num / frac_valid.clamp_min(1e-12)
    elif method == "radiance":
        num = F.avg_pool2d(xf**4, factor)
        out = (num / frac_valid.clamp_min(1e-12)).clamp_min(0.0) ** 0.25
    else:
        sigma = gaussian_sigma(factor, mtf_nyquist)
        bx, bw = _blur(xf, okf, sigma)
        # normalised convolution: missing fine pixels get the weighted mean of their neighbours
        has = bw >= 1e-12
        blurred = torch.where(has, bx / bw.clamp_min(1e-12), zero)
        hasf = F.avg_pool2d(has.to(x4.dtype), factor)
        out = F.avg_pool2d(blurred, factor) / hasf.clamp_min(1e-12)
        frac_valid = torch.where(hasf > 0, frac_valid, torch.zeros_like(frac_valid))
    bad = ((1.0 - frac_valid) > max_missing + 1e-9) | (frac_valid <= 0)
    out = torch.where(bad, torch.full((), float("nan"), dtype=out.dtype, device=out.device), out)
    return out.reshape(*lead, ny, nx)
