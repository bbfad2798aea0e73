"""Super-resolution networks and their registry.

Every model maps a coarse LST batch ``lr`` ``(B, 1, h, w)`` (plus, for the dual-image model, an
NDVI guide ``(B, 1, h * factor, w * factor)``) to ``(B, 1, h * factor, w * factor)`` with a
**global residual**: ``output = first_guess + residual``, the first guess being
:func:`upsample_first_guess` ``(lr)`` (PyTorch's cubic mode, Keys ``a = -0.75``; *not* the
``bicubic`` baseline, which is Keys ``a = -0.5``: :func:`keys_upsample`), or, for the dual-image
model with ``base_interp="tsharp"``, the TsHARP sharpening of ``lr`` by the guide,
:func:`tsharp_upsample`. The first guess is kept as it is because the shipped weights were
trained with it; ``base_interp="bicubic"`` is the historical name of that first guess in the
model files. The residual branch of every trainable
model ends with a zero-initialised convolution, so an untrained network is exactly its first guess.

**Scale conditioning.** With ``cond_dim > 0`` a model takes a conditioning vector ``cond``
``(B, cond_dim)`` (the scale factor, the target resolution and the correction law's parameters for
the scene, see :mod:`sr.lawtargets`) through FiLM layers: an MLP embeds ``cond`` and each FiLM layer
maps the embedding to a per-channel scale and shift, ``h * (1 + gamma) + beta`` (zero-initialised,
so conditioning starts as the identity).

The registry :data:`MODELS` is an explicit dict; :func:`build_model` instantiates by name.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from scalelaws.core.interpolate import KEYS_A, cubic_matrix, nested_positions

__all__ = [
    "FiLM",
    "CondEmbedding",
    "SRModel",
    "BicubicSR",
    "ResNetSR",
    "UNetSR",
    "DISRUNet",
    "MODELS",
    "build_model",
    "keys_upsample",
    "tsharp_upsample",
    "upsample_first_guess",
    "BASE_INTERPOLATIONS",
    "UPSAMPLINGS",
]


def upsample_first_guess(lr: Tensor, factor: int) -> Tensor:
    """Upsample to the networks' first guess: PyTorch's cubic mode (Keys ``a = -0.75``).

    With ``align_corners=False`` the centre of coarse pixel ``i`` maps to fine coordinate
    ``factor * (i + 0.5)``: the centre of its ``factor x factor`` block, the placement of the
    ``bicubic`` baseline on nested grids; the edge samples are replicated. It differs from the
    baseline (:func:`keys_upsample`, ``a = -0.5``) only by the Keys parameter
    (``tests/test_sr_core.py`` checks both statements). It is not called "bicubic" in the code
    because that name means the baseline; the shipped weights were trained on it, so it stays.
    """
    return F.interpolate(lr, scale_factor=factor, mode="bicubic", align_corners=False)


@functools.lru_cache(maxsize=64)
def _keys_weights(n: int, factor: int, a: float) -> np.ndarray:
    return cubic_matrix(nested_positions(n, factor), n, a)


def keys_upsample(lr: Tensor, factor: int, *, a: float = KEYS_A) -> Tensor:
    """Upsample by the ``bicubic`` baseline in torch: Keys cubic convolution, nested fine grid.

    The separable matrices are :func:`scalelaws.core.interpolate.cubic_matrix` at the nested
    fine centres (the definition ``analysis.baselines.bicubic`` uses), applied by matrix
    products, so the result equals the baseline on a grid nested in the coarse one.

    Parameters
    ----------
    lr
        ``(..., h, w)`` coarse field (no NaN).
    factor
        Upsampling factor.
    a
        Keys parameter (``-0.5``: "bicubic").

    Returns
    -------
    torch.Tensor
        ``(..., h * factor, w * factor)``, dtype and device of ``lr``.

    """
    h, w = lr.shape[-2:]
    wy = torch.as_tensor(_keys_weights(int(h), int(factor), float(a)), dtype=lr.dtype, device=lr.device)
    wx = torch.as_tensor(_keys_weights(int(w), int(factor), float(a)), dtype=lr.dtype, device=lr.device)
    return wy @ lr @ wx.T


def tsharp_upsample(lr: Tensor, guide: Tensor, factor: int, *, eps: float = 1e-6,
                    interpolate: Callable[[Tensor, int], Tensor] = upsample_first_guess) -> Tensor:
    """TsHARP sharpening in torch (no parameters): the first guess of the guided models.

    Per sample, ``LST = a + b NDVI`` is fitted by ordinary least squares on the coarse pixels
    (the guide block-averaged by ``factor``), applied to the fine guide, and the coarse residual
    ``lr - blockmean(a + b guide)`` is interpolated by ``interpolate`` and added back.  It is the
    ``tsharp_smooth`` baseline of :mod:`analysis.baselines` (one smooth residual pass) up to two
    stated differences, both tested in ``tests/test_sr_core.py``: the residual is interpolated by
    the first-guess kernel (:func:`upsample_first_guess`, ``a = -0.75``; the baseline uses
    ``a = -0.5``, pass ``interpolate=keys_upsample`` to get it) and the prediction is aggregated by
    the block mean (the baseline's default is the radiance mean, ``aggregation="mean"`` gives the
    block mean). With both switched the two agree to float precision. A flat guide gives
    ``b = 0``, i.e. ``interpolate(lr)``.

    Parameters
    ----------
    lr
        ``(B, 1, h, w)`` coarse LST (any affine units, e.g. normalised).
    guide
        ``(B, 1, h * factor, w * factor)`` fine NDVI (any affine units).
    factor
        Upsampling factor.
    eps
        Guide variance below which the slope is taken as 0.
    interpolate
        Interpolation of the coarse residual (default: the networks' first guess).

    """
    gc = F.avg_pool2d(guide, factor)
    mt = lr.mean(dim=(-2, -1), keepdim=True)
    mg = gc.mean(dim=(-2, -1), keepdim=True)
    cov = ((lr - mt) * (gc - mg)).mean(dim=(-2, -1), keepdim=True)
    var = ((gc - mg) ** 2).mean(dim=(-2, -1), keepdim=True)
    b = torch.where(var > eps, cov / var.clamp_min(eps), torch.zeros_like(var))
    pred = mt + b * (guide - mg)
    res = lr - F.avg_pool2d(pred, factor)
    return pred + interpolate(res, factor)


#: First guesses of the guided models (``base_interp`` argument; ``"bicubic"`` is the historical
#: name, stored in the model files, of :func:`upsample_first_guess`).
BASE_INTERPOLATIONS = ("bicubic", "tsharp")


class CondEmbedding(nn.Module):
    """Two-layer MLP embedding of the conditioning vector."""

    def __init__(self, cond_dim: int, emb_dim: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(cond_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim), nn.SiLU())
        self.emb_dim = emb_dim

    def forward(self, cond: Tensor) -> Tensor:
        """Return ``(B, emb_dim)``."""
        return self.net(cond)


class FiLM(nn.Module):
    """Feature-wise linear modulation ``h * (1 + gamma(e)) + beta(e)`` (identity at init)."""

    def __init__(self, emb_dim: int, channels: int) -> None:
        super().__init__()
        # emb_dim = 0: an unconditioned model, no parameters (identity)
        self.proj = nn.Linear(emb_dim, 2 * channels) if emb_dim > 0 else None
        if self.proj is not None:
            nn.init.zeros_(self.proj.weight)
            nn.init.zeros_(self.proj.bias)

    def forward(self, h: Tensor, emb: Tensor | None) -> Tensor:
        """Modulate ``h`` ``(B, C, H, W)`` with the embedding ``emb`` ``(B, E)``; no-op for None."""
        if emb is None or self.proj is None:
            return h
        gamma, beta = self.proj(emb).chunk(2, dim=1)
        return h * (1.0 + gamma[:, :, None, None]) + beta[:, :, None, None]


class SRModel(nn.Module):
    """Base class: global residual on the first guess, optional conditioning and guide.

    Parameters
    ----------
    factor
        Upsampling factor (a power of two for the learned models).
    cond_dim
        Length of the conditioning vector (0 = unconditioned).
    emb_dim
        Width of the conditioning embedding.

    """

    #: whether ``forward`` needs an NDVI guide
    needs_guide: bool = False

    def __init__(self, factor: int = 4, cond_dim: int = 0, emb_dim: int = 64) -> None:
        super().__init__()
        if factor < 1:
            raise ValueError(f"factor must be >= 1, got {factor}")
        self.factor = int(factor)
        self.cond_dim = int(cond_dim)
        self.embed = CondEmbedding(cond_dim, emb_dim) if cond_dim > 0 else None
        # width of the embedding the FiLM layers see (0 = unconditioned: FiLM layers are identities)
        self.emb_dim = emb_dim if cond_dim > 0 else 0

    def _embed(self, cond: Tensor | None, batch: int) -> Tensor | None:
        if self.embed is None:
            return None
        if cond is None:
            raise ValueError(f"{type(self).__name__} was built with cond_dim={self.cond_dim}: pass cond")
        if cond.shape != (batch, self.cond_dim):
            raise ValueError(f"cond must have shape ({batch}, {self.cond_dim}), got {tuple(cond.shape)}")
        return self.embed(cond)

    def residual(self, lr: Tensor, up: Tensor, guide: Tensor | None, emb: Tensor | None) -> Tensor:
        """Learned residual on the fine grid (subclasses)."""
        raise NotImplementedError

    def forward(self, lr: Tensor, guide: Tensor | None = None, cond: Tensor | None = None) -> Tensor:
        """Super-resolve ``lr`` ``(B, 1, h, w)`` to ``(B, 1, h * factor, w * factor)``."""
        if lr.dim() != 4 or lr.shape[1] != 1:
            raise ValueError(f"lr must have shape (B, 1, h, w), got {tuple(lr.shape)}")
        up = upsample_first_guess(lr, self.factor)
        if self.needs_guide:
            if guide is None:
                raise ValueError(f"{type(self).__name__} needs an NDVI guide")
            if guide.shape[-2:] != up.shape[-2:] or guide.shape[0] != lr.shape[0]:
                raise ValueError(
                    f"guide shape {tuple(guide.shape)} does not match the fine grid {tuple(up.shape)}"
                )
        emb = self._embed(cond, lr.shape[0])
        base = self.first_guess(lr, up, guide)
        return base + self.residual(lr, base, guide, emb)

    def first_guess(self, lr: Tensor, up: Tensor, guide: Tensor | None) -> Tensor:
        """Return the field the residual is added to (``up``, :func:`upsample_first_guess`, here)."""
        return up


class BicubicSR(SRModel):
    """Bicubic interpolation (no parameters): the ``bicubic`` baseline, :func:`keys_upsample`."""

    def __init__(self, factor: int = 4, cond_dim: int = 0, **_: object) -> None:
        super().__init__(factor, cond_dim=0)

    def first_guess(self, lr: Tensor, up: Tensor, guide: Tensor | None) -> Tensor:
        """Keys ``a = -0.5`` (the baseline), not the networks' first guess."""
        return keys_upsample(lr, self.factor)

    def residual(self, lr: Tensor, up: Tensor, guide: Tensor | None, emb: Tensor | None) -> Tensor:
        """Zero residual."""
        return torch.zeros_like(up)


class _ResBlock(nn.Module):
    def __init__(self, ch: int, emb_dim: int, res_scale: float) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.c2 = nn.Conv2d(ch, ch, 3, padding=1)
        self.film = FiLM(emb_dim, ch)
        self.res_scale = res_scale

    def forward(self, h: Tensor, emb: Tensor | None) -> Tensor:
        r = self.c2(F.relu(self.c1(h)))
        return h + self.res_scale * self.film(r, emb)


def _check_pow2(factor: int, name: str) -> int:
    n = int(round(math.log2(factor)))
    if 2**n != factor:
        raise ValueError(f"{name} needs a power-of-two factor, got {factor}")
    return n


class ResNetSR(SRModel):
    """EDSR-like residual CNN: residual blocks at the coarse resolution, pixel-shuffle upsampling.

    Parameters
    ----------
    factor
        Power-of-two upsampling factor.
    channels
        Feature width.
    n_blocks
        Number of residual blocks (each with a FiLM layer).
    res_scale
        Scale of each block's residual (EDSR uses 0.1).
    cond_dim, emb_dim
        Conditioning, see :class:`SRModel`.

    """

    def __init__(
        self,
        factor: int = 4,
        channels: int = 32,
        n_blocks: int = 8,
        res_scale: float = 0.1,
        cond_dim: int = 0,
        emb_dim: int = 64,
    ) -> None:
        super().__init__(factor, cond_dim, emb_dim)
        n_up = _check_pow2(factor, "ResNetSR")
        self.head = nn.Conv2d(1, channels, 3, padding=1)
        self.blocks = nn.ModuleList([_ResBlock(channels, self.emb_dim, res_scale) for _ in range(n_blocks)])
        self.body_tail = nn.Conv2d(channels, channels, 3, padding=1)
        ups: list[nn.Module] = []
        for _ in range(n_up):
            ups += [nn.Conv2d(channels, 4 * channels, 3, padding=1), nn.PixelShuffle(2), nn.ReLU()]
        self.up = nn.Sequential(*ups)
        self.out = nn.Conv2d(channels, 1, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def residual(self, lr: Tensor, up: Tensor, guide: Tensor | None, emb: Tensor | None) -> Tensor:
        """Residual computed at the coarse resolution then pixel-shuffled."""
        h = self.head(lr)
        x = h
        for blk in self.blocks:
            x = blk(x, emb)
        x = self.body_tail(x) + h
        return self.out(self.up(x))


class _ConvBlock(nn.Module):
    def __init__(self, cin: int, cout: int, emb_dim: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.c2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.film = FiLM(emb_dim, cout)

    def forward(self, x: Tensor, emb: Tensor | None) -> Tensor:
        x = F.leaky_relu(self.c1(x), 0.1)
        x = self.film(self.c2(x), emb)
        return F.leaky_relu(x, 0.1)


#: Decoder up-sampling of the U-Nets: ``"resize"`` (bilinear x 2 then a 3 x 3 convolution, which
#: cannot make a checkerboard) or ``"transpose"`` (a 2 x 2 stride-2 transposed convolution, the
#: original design, kept to read earlier checkpoints: its uneven kernel overlap prints a period-2
#: pattern on smooth inputs).
UPSAMPLINGS = ("resize", "transpose")


class _ResizeConv(nn.Module):
    """Bilinear up-sampling by 2 followed by a 3 x 3 convolution (no checkerboard artefacts)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, padding_mode="replicate")

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False))


class _UNet(nn.Module):
    """U-Net on the fine grid with FiLM in every block; input padded to a multiple of 2^depth."""

    def __init__(self, in_ch: int, base: int, depth: int, emb_dim: int, upsample: str = "resize") -> None:
        super().__init__()
        if upsample not in UPSAMPLINGS:
            raise ValueError(f"upsample must be one of {UPSAMPLINGS}, got {upsample!r}")
        self.depth = depth
        chs = [base * 2**i for i in range(depth + 1)]
        self.enc = nn.ModuleList()
        cin = in_ch
        for c in chs[:-1]:
            self.enc.append(_ConvBlock(cin, c, emb_dim))
            cin = c
        self.mid = _ConvBlock(chs[-2], chs[-1], emb_dim)
        self.upconv = nn.ModuleList()
        self.dec = nn.ModuleList()
        for i in reversed(range(depth)):
            self.upconv.append(
                _ResizeConv(chs[i + 1], chs[i]) if upsample == "resize"
                else nn.ConvTranspose2d(chs[i + 1], chs[i], 2, stride=2)
            )
            self.dec.append(_ConvBlock(2 * chs[i], chs[i], emb_dim))
        self.out = nn.Conv2d(chs[0], 1, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor, emb: Tensor | None) -> Tensor:
        h, w = x.shape[-2:]
        m = 2**self.depth
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            mode = "reflect" if min(h, w) > max(ph, pw) else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        skips = []
        for blk in self.enc:
            x = blk(x, emb)
            skips.append(x)
            x = F.avg_pool2d(x, 2)
        x = self.mid(x, emb)
        for up, blk, skip in zip(self.upconv, self.dec, reversed(skips), strict=True):
            x = blk(torch.cat([up(x), skip], dim=1), emb)
        return self.out(x)[..., :h, :w]


class UNetSR(SRModel):
    """U-Net single-image SR working on the first-guess upsample (VDSR-style residual, fine grid).

    Parameters
    ----------
    factor
        Upsampling factor.
    base
        Width of the first level (doubles per level).
    depth
        Number of down-sampling levels.
    upsample
        Decoder up-sampling, one of :data:`UPSAMPLINGS` (default ``"resize"``: bilinear then a
        convolution, free of checkerboard artefacts).
    cond_dim, emb_dim
        Conditioning, see :class:`SRModel`.

    """

    def __init__(self, factor: int = 4, base: int = 16, depth: int = 3, cond_dim: int = 0, emb_dim: int = 64,
                 upsample: str = "resize") -> None:
        super().__init__(factor, cond_dim, emb_dim)
        self.unet = _UNet(1, base, depth, self.emb_dim, upsample)

    def residual(self, lr: Tensor, up: Tensor, guide: Tensor | None, emb: Tensor | None) -> Tensor:
        """U-Net residual from the first-guess upsample."""
        return self.unet(up, emb)


class DISRUNet(SRModel):
    """Dual-image SR U-Net: upsampled LST and the fine NDVI guide as two input channels.

    Parameters are those of :class:`UNetSR`, plus ``base_interp``: the first guess the
    residual is added to, ``"bicubic"`` (default; the historical name of
    :func:`upsample_first_guess`, kept for the model files) or ``"tsharp"`` (:func:`tsharp_upsample`:
    the NDVI-regression sharpening of the scene or tile, so that an untrained network is the
    ``tsharp_smooth`` baseline). ``forward(lr, guide, cond)`` needs ``guide``, the
    (normalised) NDVI on the fine grid.
    """

    needs_guide = True

    def __init__(self, factor: int = 4, base: int = 16, depth: int = 3, cond_dim: int = 0, emb_dim: int = 64,
                 base_interp: str = "bicubic", upsample: str = "resize") -> None:
        super().__init__(factor, cond_dim, emb_dim)
        if base_interp not in BASE_INTERPOLATIONS:
            raise ValueError(f"base_interp must be one of {BASE_INTERPOLATIONS}, got {base_interp!r}")
        self.base_interp = base_interp
        self.unet = _UNet(2, base, depth, self.emb_dim, upsample)

    def first_guess(self, lr: Tensor, up: Tensor, guide: Tensor | None) -> Tensor:
        """Bicubic upsample, or TsHARP sharpening with the guide (``base_interp``)."""
        if self.base_interp == "tsharp" and guide is not None:
            return tsharp_upsample(lr, guide, self.factor)
        return up

    def residual(self, lr: Tensor, up: Tensor, guide: Tensor | None, emb: Tensor | None) -> Tensor:
        """U-Net residual from the upsampled LST and the NDVI guide."""
        assert guide is not None  # checked in forward
        return self.unet(torch.cat([up, guide], dim=1), emb)


#: Explicit model registry: name -> class.
MODELS: dict[str, type[SRModel]] = {
    "bicubic": BicubicSR,
    "resnet": ResNetSR,
    "unet": UNetSR,
    "disr_unet": DISRUNet,
}


def build_model(name: str, *, factor: int = 4, cond_dim: int = 0, **kwargs: object) -> SRModel:
    """Instantiate a registered model.

    Parameters
    ----------
    name
        A key of :data:`MODELS`.
    factor
        Upsampling factor.
    cond_dim
        Length of the conditioning vector (0 = none).
    **kwargs
        Architecture arguments of the model class.

    """
    try:
        cls = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; registered: {sorted(MODELS)}") from None
    return cls(factor=factor, cond_dim=cond_dim, **kwargs)
