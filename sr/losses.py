"""Loss terms of the super-resolution networks.

Every loss is an :class:`torch.nn.Module` taking ``weight`` and ``reduction`` arguments (never a
device: the tensors it receives decide). Inputs are batches ``(B, 1, H, W)`` (or ``(B, H, W)``);
masks are boolean tensors of the same shape, ``True`` where a pixel is valid. Each loss first
computes one value per sample, then reduces it with ``reduction`` (``"mean"``, ``"sum"`` or
``"none"``) and multiplies by ``weight``.

The differentiable statistics behind the scale-aware losses live here too:

* :func:`structure_function_torch`: NaN/mask-aware structure functions pooled over x and y,
  ``S_q(l) = sum |X(p + l e) - X(p)|^q / count`` over both axes, the definition of
  :func:`scalelaws.stats.structure.structure_function` with ``direction="pooled"``;
* :func:`spectral_slope_torch`: slope ``beta`` of the radially averaged power spectrum
  (``P(k) ~ k^-beta``) with a Hann taper;
* :func:`detail`: the part of a fine field that a block mean by ``factor`` removes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sr import normalise
from sr.degrade import degrade_tensor

__all__ = [
    "structure_function_torch",
    "spectral_slope_torch",
    "detail",
    "PixelLoss",
    "ConsistencyLoss",
    "LawLoss",
    "SpectralSlopeLoss",
    "NDVITextureLoss",
]

_REDUCTIONS = ("mean", "sum", "none")


def _as4d(x: Tensor) -> Tensor:
    """Return ``x`` as ``(B, C, H, W)``; a ``(B, H, W)`` or ``(H, W)`` tensor gains dims."""
    if x.dim() == 2:
        return x[None, None]
    if x.dim() == 3:
        return x[:, None]
    if x.dim() == 4:
        return x
    raise ValueError(f"expected a (B, C, H, W), (B, H, W) or (H, W) tensor, got shape {tuple(x.shape)}")


def structure_function_torch(
    x: Tensor,
    q: Sequence[float] = (1.0, 2.0),
    lags: Sequence[int] = (1, 2, 4),
    *,
    mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Differentiable structure functions pooled over the x and y axes.

    Parameters
    ----------
    x
        Field(s), shape ``(B, C, H, W)``, ``(B, H, W)`` or ``(H, W)``; NaN = missing.
    q
        Orders (any real ``q > 0``).
    lags
        Integer lags in pixels.
    mask
        Optional validity mask (``True`` = valid), broadcastable to ``x``. A pair is used only
        when both ends are valid and finite.

    Returns
    -------
    S : Tensor
        ``(B, C, len(q), len(lags))``: mean of ``|increment|^q`` over the valid pairs along x and y
        together; NaN where a lag has no valid pair.
    count : Tensor
        ``(B, C, len(lags))``: number of valid pairs per lag (float).

    Notes
    -----
    The gradient of ``|d|^q`` at ``d = 0`` is taken as 0 (a zero increment goes through a safe
    branch), so fields with flat areas train without NaN gradients, for ``q < 1`` too.

    """
    x4 = _as4d(x)
    ok = torch.isfinite(x4)
    if mask is not None:
        ok = ok & _as4d(mask).to(torch.bool)
    xf = torch.where(ok, x4, torch.zeros((), dtype=x4.dtype, device=x4.device))
    qs = torch.as_tensor([float(v) for v in q], dtype=x4.dtype, device=x4.device)
    if torch.any(qs <= 0):
        raise ValueError(f"orders q must be > 0, got {list(q)}")
    h, w = x4.shape[-2:]
    s_all, c_all = [], []
    for lag in lags:
        lag = int(lag)
        if lag < 1:
            raise ValueError(f"lags must be positive integers, got {lag}")
        sums = torch.zeros(x4.shape[:2] + (len(qs),), dtype=x4.dtype, device=x4.device)
        cnt = torch.zeros(x4.shape[:2], dtype=x4.dtype, device=x4.device)
        for dim, n in ((-1, w), (-2, h)):
            if lag >= n:
                continue
            a = xf.narrow(dim, 0, n - lag)
            b = xf.narrow(dim, lag, n - lag)
            m = ok.narrow(dim, 0, n - lag) & ok.narrow(dim, lag, n - lag)
            d = (b - a).abs()
            # |d|^q with a zero gradient at d = 0 and no NaN from 0**(q-1) for q < 1
            safe = torch.where(d > 0, d, torch.ones((), dtype=d.dtype, device=d.device))
            p = torch.where(
                (d > 0)[..., None, :, :],
                safe[..., None, :, :] ** qs[:, None, None],
                torch.zeros((), dtype=d.dtype, device=d.device),
            )
            mf = m.to(x4.dtype)
            sums = sums + (p * mf[..., None, :, :]).sum(dim=(-2, -1))
            cnt = cnt + mf.sum(dim=(-2, -1))
        s_all.append(sums / cnt.clamp_min(1.0)[..., None])
        c_all.append(cnt)
    S = torch.stack(s_all, dim=-1)
    count = torch.stack(c_all, dim=-1)
    S = torch.where(count[..., None, :] > 0, S, torch.full((), float("nan"), dtype=S.dtype, device=S.device))
    return S, count


def spectral_slope_torch(
    x: Tensor,
    *,
    k_range: tuple[float, float] = (0.05, 0.45),
    nbins: int = 12,
) -> Tensor:
    """Slope ``beta`` of the radially averaged power spectrum, ``P(k) ~ k^-beta``.

    Parameters
    ----------
    x
        Fields ``(B, C, H, W)`` (or ``(B, H, W)``), finite.
    k_range
        Range of radial frequency in cycles per pixel over which the slope is fitted.
    nbins
        Number of logarithmic frequency bins.

    Returns
    -------
    Tensor
        ``(B, C)`` slopes, differentiable.

    """
    x4 = _as4d(x)
    h, w = x4.shape[-2:]
    wy = torch.hann_window(h, periodic=False, dtype=x4.dtype, device=x4.device)
    wx = torch.hann_window(w, periodic=False, dtype=x4.dtype, device=x4.device)
    win = wy[:, None] * wx[None, :]
    xm = x4 - (x4 * win).sum(dim=(-2, -1), keepdim=True) / win.sum()
    spec = torch.fft.rfft2(xm * win)
    power = spec.real**2 + spec.imag**2
    ky = torch.fft.fftfreq(h, device=x4.device, dtype=x4.dtype)
    kx = torch.fft.rfftfreq(w, device=x4.device, dtype=x4.dtype)
    k = torch.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2)
    edges = torch.logspace(
        math.log10(k_range[0]), math.log10(k_range[1]), nbins + 1, dtype=x4.dtype, device=x4.device
    )
    logk, logp = [], []
    for i in range(nbins):
        sel = (k >= edges[i]) & (k < edges[i + 1])
        n = int(sel.sum())
        if n == 0:
            continue
        pm = (power * sel).sum(dim=(-2, -1)) / n
        logk.append(torch.log(torch.sqrt(edges[i] * edges[i + 1])))
        logp.append(torch.log(pm + 1e-20))
    if len(logk) < 2:
        raise ValueError(f"field {h}x{w} too small for a spectral slope in k_range={k_range}")
    lk = torch.stack(logk)
    lp = torch.stack(logp, dim=-1)
    lkc = lk - lk.mean()
    slope = ((lp - lp.mean(dim=-1, keepdim=True)) * lkc).sum(dim=-1) / (lkc**2).sum()
    return -slope


def detail(x: Tensor, factor: int) -> Tensor:
    """Fine detail of ``x``: ``x`` minus its ``factor`` block mean upsampled by repetition.

    Parameters
    ----------
    x
        ``(B, C, H, W)`` with ``H`` and ``W`` multiples of ``factor``; finite.
    factor
        Block size in pixels.

    """
    x4 = _as4d(x)
    coarse = F.avg_pool2d(x4, factor)
    return x4 - F.interpolate(coarse, scale_factor=factor, mode="nearest")


class _Loss(nn.Module):
    """Common ``weight`` and ``reduction`` handling."""

    def __init__(self, weight: float = 1.0, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        self.weight = float(weight)
        self.reduction = reduction

    def _reduce(self, per_sample: Tensor) -> Tensor:
        if self.reduction == "none":
            out = per_sample
        elif self.reduction == "sum":
            out = per_sample.sum()
        else:
            out = per_sample.mean()
        return self.weight * out

    def extra_repr(self) -> str:
        return f"weight={self.weight}, reduction={self.reduction!r}"


def _masked_mean(v: Tensor, ok: Tensor) -> Tensor:
    """Per-sample mean of ``v`` over ``ok`` (``(B, ...)`` -> ``(B,)``); 0 for an empty sample."""
    v = torch.where(ok, v, torch.zeros((), dtype=v.dtype, device=v.device))
    dims = tuple(range(1, v.dim()))
    n = ok.to(v.dtype).sum(dim=dims)
    return v.sum(dim=dims) / n.clamp_min(1.0)


class PixelLoss(_Loss):
    """Pixel loss between a prediction and its target: L1 (``kind="l1"``) or MSE (``"mse"``).

    Pixels that are NaN in either tensor, or ``False`` in ``mask``, are ignored.
    """

    def __init__(self, kind: str = "l1", weight: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(weight, reduction)
        if kind not in ("l1", "mse"):
            raise ValueError(f"kind must be 'l1' or 'mse', got {kind!r}")
        self.kind = kind

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        """Return the (weighted, reduced) loss."""
        pred, target = _as4d(pred), _as4d(target)
        ok = torch.isfinite(target) & torch.isfinite(pred)
        if mask is not None:
            ok = ok & _as4d(mask).to(torch.bool)
        diff = torch.where(ok, pred - target, torch.zeros((), dtype=pred.dtype, device=pred.device))
        v = diff.abs() if self.kind == "l1" else diff**2
        return self._reduce(_masked_mean(v, ok))


class ConsistencyLoss(_Loss):
    """Consistency of a super-resolved field with its coarse observation.

    The prediction is degraded with :func:`sr.degrade.degrade_tensor` (the torch twin of
    :func:`scalelaws.grids.degrade_array`) and compared to the coarse field with an L1 or MSE
    pixel loss. Fields may be normalised: ``mean`` and ``std`` convert them back to kelvin before
    the (nonlinear, for ``method="radiance"``) degradation.

    Parameters
    ----------
    factor
        Resolution ratio fine / coarse.
    method
        ``"mean"``, ``"radiance"`` or ``"psf"``.
    kind
        ``"l1"`` or ``"mse"``.
    mean, std
        Normalisation of the inputs (``x_K = x * std + mean``).
    weight, reduction
        See the module docstring.
    **degrade_kw
        Passed to :func:`sr.degrade.degrade_tensor` (``mtf_nyquist``, ``max_missing``).

    """

    def __init__(
        self,
        factor: int,
        *,
        method: str = "mean",
        kind: str = "l1",
        mean: float = 0.0,
        std: float = 1.0,
        weight: float = 1.0,
        reduction: str = "mean",
        **degrade_kw: float,
    ) -> None:
        super().__init__(weight, reduction)
        self.factor = int(factor)
        self.method = method
        self.mean = float(mean)
        self.std = float(std)
        self.degrade_kw = degrade_kw
        self.pixel = PixelLoss(kind, weight=1.0, reduction="none")

    def forward(self, sr: Tensor, coarse: Tensor, mask: Tensor | None = None) -> Tensor:
        """Return the loss between ``degrade(sr)`` and ``coarse`` (``mask`` on the coarse grid)."""
        sr = _as4d(sr)
        if self.method == "mean":
            deg = degrade_tensor(sr, self.factor, method="mean", **self.degrade_kw)
        else:
            kelvin = normalise.invert(sr, self.mean, self.std)
            deg = normalise.apply(degrade_tensor(kelvin, self.factor, method=self.method, **self.degrade_kw),
                                  self.mean, self.std)
        return self._reduce(self.pixel(deg, _as4d(coarse), mask))


class LawLoss(_Loss):
    """Match the structure functions of a field to the correction law's prediction.

    The per-sample loss is the mean over orders and lags of
    ``(log S_q(l) - log S_q^target(l))^2``, where ``S_q`` is :func:`structure_function_torch` of
    the (de-normalised) field and ``S_q^target`` the law's prediction for the band (see
    :mod:`sr.lawtargets`). Entries whose target is NaN or non-positive are skipped.

    Parameters
    ----------
    q
        Orders, in the order of the target's second axis.
    lags
        Lags in pixels of the field, in the order of the target's last axis.
    std
        Normalisation scale of the field (``S_q`` in physical units is ``std^q`` times the
        normalised one); the mean does not matter for increments.
    eps
        Floor added to both structure functions before the logarithm.
    weight, reduction
        See the module docstring.

    """

    def __init__(
        self,
        q: Sequence[float] = (1.0, 2.0),
        lags: Sequence[int] = (1, 2, 3, 4),
        *,
        std: float = 1.0,
        eps: float = 1e-8,
        weight: float = 1.0,
        reduction: str = "mean",
    ) -> None:
        super().__init__(weight, reduction)
        self.q = tuple(float(v) for v in q)
        self.lags = tuple(int(v) for v in lags)
        self.std = float(std)
        self.eps = float(eps)

    def forward(self, field: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        """Return the loss; ``target`` has shape ``(B, len(q), len(lags))`` in physical units."""
        S, _ = structure_function_torch(field, self.q, self.lags, mask=mask)
        S = S[:, 0]  # (B, nq, nlag): first channel
        scale = torch.as_tensor([self.std**qq for qq in self.q], dtype=S.dtype, device=S.device)
        S = S * scale[None, :, None]
        target = target.to(S.dtype)
        ok = torch.isfinite(target) & (target > 0) & torch.isfinite(S)
        t = torch.where(ok, target, torch.ones((), dtype=S.dtype, device=S.device))
        s = torch.where(ok, S, torch.ones((), dtype=S.dtype, device=S.device))
        d = torch.log(s + self.eps) - torch.log(t + self.eps)
        return self._reduce(_masked_mean(d**2, ok))


class SpectralSlopeLoss(_Loss):
    """Squared difference between the spectral slope of a field and a target slope.

    Parameters
    ----------
    k_range, nbins
        See :func:`spectral_slope_torch`.
    weight, reduction
        See the module docstring.

    """

    def __init__(
        self,
        *,
        k_range: tuple[float, float] = (0.05, 0.45),
        nbins: int = 12,
        weight: float = 1.0,
        reduction: str = "mean",
    ) -> None:
        super().__init__(weight, reduction)
        self.k_range = tuple(k_range)
        self.nbins = int(nbins)

    def forward(self, field: Tensor, beta_target: Tensor | float) -> Tensor:
        """Return the loss; ``beta_target`` is a scalar or a ``(B,)`` tensor (NaN = skip)."""
        beta = spectral_slope_torch(field, k_range=self.k_range, nbins=self.nbins)[:, 0]
        bt = torch.as_tensor(beta_target, dtype=beta.dtype, device=beta.device).expand_as(beta)
        ok = torch.isfinite(bt)
        d = torch.where(ok, beta - bt, torch.zeros((), dtype=beta.dtype, device=beta.device))
        return self._reduce(d**2)


class NDVITextureLoss(_Loss):
    """Couple the fine detail of LST to that of NDVI with a given slope and correlation.

    With ``dT`` and ``dN`` the details (:func:`detail`) of the super-resolved LST and of the NDVI
    guide at the fine scale, the per-sample loss is::

        |corr| * ((b - slope) / (|slope| + slope_floor))^2 + (r - corr)^2

    where ``b = cov(dT, dN) / var(dN)`` is the regression slope of the LST detail on the NDVI
    detail and ``r`` their correlation. ``slope`` (in the units of the LST tensor per NDVI unit)
    and ``corr`` come from the correction law's LST-NDVI relation at the fine scale (corrected
    DISR) or from the coarse observation itself (plain DISR); their sign sets the direction of the
    texture, ``|corr|`` how much the slope term counts.

    Parameters
    ----------
    factor
        Block size defining the detail (the super-resolution factor).
    slope_floor
        Floor of the slope scale, in LST units per NDVI unit.
    weight, reduction
        See the module docstring.

    """

    def __init__(
        self, factor: int, *, slope_floor: float = 0.1, weight: float = 1.0, reduction: str = "mean"
    ) -> None:
        super().__init__(weight, reduction)
        self.factor = int(factor)
        self.slope_floor = float(slope_floor)

    def forward(
        self,
        lst: Tensor,
        ndvi: Tensor,
        slope: Tensor | float,
        corr: Tensor | float,
        mask: Tensor | None = None,
    ) -> Tensor:
        """Return the loss for LST ``(B, 1, H, W)`` and NDVI of the same shape."""
        lst, ndvi = _as4d(lst), _as4d(ndvi)
        ok = torch.isfinite(ndvi) & torch.isfinite(lst)
        if mask is not None:
            ok = ok & _as4d(mask).to(torch.bool)
        zero = torch.zeros((), dtype=lst.dtype, device=lst.device)
        dT = detail(torch.where(ok, lst, zero), self.factor)
        dN = detail(torch.where(ok, ndvi, zero), self.factor)
        okf = ok.to(lst.dtype)
        n = okf.sum(dim=(1, 2, 3)).clamp_min(2.0)
        mT = (dT * okf).sum(dim=(1, 2, 3)) / n
        mN = (dN * okf).sum(dim=(1, 2, 3)) / n
        aT = (dT - mT[:, None, None, None]) * okf
        aN = (dN - mN[:, None, None, None]) * okf
        cov = (aT * aN).sum(dim=(1, 2, 3)) / n
        vN = (aN**2).sum(dim=(1, 2, 3)) / n
        vT = (aT**2).sum(dim=(1, 2, 3)) / n
        b = cov / (vN + 1e-12)
        r = cov / torch.sqrt(vN * vT + 1e-12)
        s = torch.as_tensor(slope, dtype=lst.dtype, device=lst.device).expand_as(b)
        c = torch.as_tensor(corr, dtype=lst.dtype, device=lst.device).expand_as(b)
        good = torch.isfinite(s) & torch.isfinite(c)
        s = torch.where(good, s, zero)
        c = torch.where(good, c, zero)
        per = c.abs() * ((b - s) / (s.abs() + self.slope_floor)) ** 2 + (r - c) ** 2
        return self._reduce(torch.where(good, per, zero))
