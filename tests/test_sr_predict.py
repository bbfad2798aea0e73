"""sr.predict: tiling, blending and NaN handling of whole-raster inference."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("lightning")

from scalelaws.errors import AllNaNError, GridMismatchError, InputError  # noqa: E402,F401
from sr.data import Normalisation  # noqa: E402
from sr.module import SRModule  # noqa: E402
from sr.predict import _fill_nearest, _starts, blend_window, predict_array  # noqa: E402
from sr.train import LawConfig, SRConfig  # noqa: E402


def _module(name="bicubic", **opts):
    cfg = SRConfig(mode="sisr_invariant")
    cfg.model.name = name
    cfg.model.options = opts
    cfg.resolve()
    norm = {"lst_mean": 290.0, "lst_std": 5.0, "ndvi_mean": 0.0, "ndvi_std": 1.0}
    return SRModule(cfg.to_dict(), norm).eval()


@pytest.mark.parametrize("kind", ["cosine", "linear"])
def test_blend_windows_of_adjacent_tiles_sum_to_one(kind):
    n, ramp = 32, 8
    a = blend_window(n, ramp, kind=kind, lo=False, hi=True)
    b = blend_window(n, ramp, kind=kind, lo=True, hi=False)
    np.testing.assert_allclose(a[n - ramp :] + b[:ramp], 1.0, atol=1e-12)
    assert a[0] == 1.0 and b[-1] == 1.0 and (a > 0).all()


def test_tiled_prediction_matches_untiled_and_keeps_holes(rng):
    m = _module()
    y, x = np.mgrid[0:50, 0:70]
    lst = (290 + 0.05 * x + 0.02 * y + np.sin(x / 6.0)).astype(np.float32)
    lst[10:13, 20:24] = np.nan
    whole = predict_array(m, lst, tile=100, overlap=0)
    tiled = predict_array(m, lst, tile=16, overlap=6, blend="cosine")
    assert tiled.shape == (200, 280)
    hole = np.repeat(np.repeat(np.isnan(lst), 4, 0), 4, 1)
    np.testing.assert_array_equal(np.isnan(tiled), hole)
    ok = ~hole
    assert np.abs(tiled[ok] - whole[ok]).max() < 0.02  # no visible seams
    const = predict_array(m, np.full((30, 41), 301.5, np.float32), tile=8, overlap=3)
    np.testing.assert_allclose(const, 301.5, atol=1e-4)  # blending weights are normalised


def test_trained_like_network_tiles_seamlessly(rng):
    torch.manual_seed(0)
    m = _module("resnet", channels=8, n_blocks=2)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.02 * torch.randn_like(p))
    lst = (290 + np.cumsum(rng.normal(size=(40, 40)), axis=1) * 0.2).astype(np.float32)
    whole = predict_array(m, lst, tile=64, overlap=0)
    tiled = predict_array(m, lst, tile=20, overlap=8, blend="linear")
    assert np.abs(tiled - whole).max() < 0.05
    with pytest.raises(ValueError, match="overlap"):
        predict_array(m, lst, tile=8, overlap=8)


def test_missing_guide_pixels_take_the_nearest_ndvi(rng):
    """NaN NDVI (the uncovered edge of a placed MODIS-ASTER patch) is filled, not set to 0."""
    cfg = SRConfig(mode="disr")
    cfg.model.options = {"base": 4, "depth": 1, "base_interp": "tsharp"}
    cfg.resolve()
    norm = {"lst_mean": 290.0, "lst_std": 5.0, "ndvi_mean": 0.5, "ndvi_std": 0.2}
    m = SRModule(cfg.to_dict(), norm).eval()
    ndvi = np.repeat(rng.random((8, 8)), 4, axis=1).repeat(4, axis=0).astype(np.float32)
    lst = (300.0 - 20.0 * ndvi.reshape(8, 4, 8, 4).mean(axis=(1, 3))).astype(np.float32)
    full = predict_array(m, lst, ndvi)
    holed = ndvi.copy()
    holed[:, -2:] = np.nan  # two uncovered fine columns: the nearest column is the same block
    np.testing.assert_allclose(predict_array(m, lst, holed), full, atol=1e-3)


# ----------------------------------------------------------------------------------------------
# The fast predict_array (issue 13) against the implementation it replaced, kept here only as
# the oracle: same tiles, same blending, float64 accumulation, one tile at a time.


@torch.no_grad()
def _old_predict_array(
    module: Any,
    lst: np.ndarray,
    ndvi: np.ndarray | None = None,
    *,
    tile: int = 64,
    overlap: int = 8,
    blend: str = "cosine",
    batch_size: int = 8,
    cond: np.ndarray | None = None,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """The implementation of predict_array before issue 13 (oracle for the fast one)."""
    lst = np.asarray(lst, dtype=np.float32)
    if lst.ndim != 2:
        raise InputError(f"LST must be a 2-D array, got shape {lst.shape}")
    f = int(module.factor)
    h, w = lst.shape
    net = module.net
    norm = module.norm
    if overlap >= tile:
        raise ValueError(f"overlap ({overlap}) must be smaller than tile ({tile})")
    if device is not None:
        module = module.to(device)
    dev = next(iter(module.parameters()), torch.zeros(())).device
    missing = ~np.isfinite(lst)
    x = (_fill_nearest(lst) - norm.lst_mean) / norm.lst_std
    g = None
    if net.needs_guide:
        if ndvi is None:
            raise InputError("this model needs an NDVI guide on the fine grid (--ndvi)")
        ndvi = np.asarray(ndvi, dtype=np.float32)
        if ndvi.shape != (h * f, w * f):
            raise GridMismatchError(f"NDVI shape {ndvi.shape} is not {f} x the LST shape {lst.shape}")
        # missing guide pixels (e.g. the 0-3 fine rows/columns the MODIS-ASTER NDVI patch does
        # not cover once placed by its transform) take the nearest valid NDVI
        if np.isfinite(ndvi).any():
            ndvi = _fill_nearest(ndvi)
        g = np.where(np.isfinite(ndvi), (ndvi - norm.ndvi_mean) / norm.ndvi_std, 0.0).astype(np.float32)
    c_t = None
    if module.cond_dim:
        if cond is None:
            stored = module.hparams.get("predict_cond")
            if stored is None:
                raise InputError("the model is conditioned but no conditioning vector was given or stored")
            cond = np.asarray(stored, dtype=np.float32)
        c_t = torch.as_tensor(np.asarray(cond, dtype=np.float32), device=dev)[None]
    th, tw = min(tile, h), min(tile, w)
    ys, xs = _starts(h, th, th - overlap), _starts(w, tw, tw - overlap)
    acc = np.zeros((h * f, w * f), dtype=np.float64)
    wsum = np.zeros_like(acc)
    jobs = [(r, c) for r in ys for c in xs]
    for b0 in range(0, len(jobs), batch_size):
        part = jobs[b0 : b0 + batch_size]
        lr_b = torch.as_tensor(np.stack([x[r : r + th, c : c + tw] for r, c in part])[:, None], device=dev)
        g_b = None
        if g is not None:
            g_b = torch.as_tensor(
                np.stack([g[r * f : (r + th) * f, c * f : (c + tw) * f] for r, c in part])[:, None], device=dev
            )
        cb = c_t.expand(len(part), -1) if c_t is not None else None
        out = net(lr_b, guide=g_b, cond=cb).float().cpu().numpy()[:, 0]
        for (r, c), o in zip(part, out, strict=True):
            ov_y = overlap * f
            wy = blend_window(th * f, ov_y, kind=blend, lo=r > 0, hi=r + th < h)
            wx = blend_window(tw * f, ov_y, kind=blend, lo=c > 0, hi=c + tw < w)
            wt = wy[:, None] * wx[None, :]
            acc[r * f : (r + th) * f, c * f : (c + tw) * f] += wt * o
            wsum[r * f : (r + th) * f, c * f : (c + tw) * f] += wt
    res = acc / np.maximum(wsum, 1e-12)
    res = (res * norm.lst_std + norm.lst_mean).astype(np.float32)
    res[np.repeat(np.repeat(missing, f, axis=0), f, axis=1)] = np.nan
    return res


def _perturbed(m: Any, seed: int, scale: float = 0.02) -> Any:
    """Give an untrained network (zero output layer) a non-trivial residual."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(scale * torch.randn_like(p))
    return m.eval()


def _conditioned_unet() -> Any:
    cfg = SRConfig(mode="sisr_corrected")
    cfg.model.name = "unet"
    cfg.model.options = {"base": 4, "depth": 2}
    cfg.law = LawConfig(path="unused.nc")
    cfg.model.conditioning = True
    cfg.resolve()
    norm = {"lst_mean": 295.0, "lst_std": 8.0, "ndvi_mean": 0.0, "ndvi_std": 1.0}
    pc = list(np.linspace(-1, 1, 5))
    return SRModule(cfg.to_dict(), norm, cond_dim=5, predict_cond=pc, inference_res_m=1000.0)


def _disr() -> Any:
    cfg = SRConfig(mode="disr")
    cfg.model.options = {"base": 4, "depth": 2, "base_interp": "tsharp"}
    cfg.resolve()
    norm = {"lst_mean": 290.0, "lst_std": 5.0, "ndvi_mean": 0.5, "ndvi_std": 0.2}
    return SRModule(cfg.to_dict(), norm)


def _field(rng: np.random.Generator, h: int, w: int, hole_frac: float = 0.05) -> np.ndarray:
    lst = (290 + np.cumsum(rng.normal(size=(h, w)), axis=1) * 0.3 + rng.normal(0, 0.5, (h, w))).astype(np.float32)
    lst[rng.random((h, w)) < hole_frac] = np.nan
    lst[3:9, 5:14] = np.nan  # a cloud
    return lst


@pytest.mark.parametrize(
    ("model", "shape", "kw"),
    [
        pytest.param("resnet", (37, 53), {"tile": 16, "overlap": 6, "blend": "cosine", "batch_size": 5},
                     marks=pytest.mark.slow),
        ("resnet", (30, 30), {"tile": 12, "overlap": 7, "blend": "linear", "batch_size": 64}),  # 3 tiles overlap
        ("resnet", (9, 40), {"tile": 16, "overlap": 4}),  # raster thinner than a tile
        pytest.param("unet_cond", (33, 29), {"tile": 16, "overlap": 4, "batch_size": 3},
                     marks=pytest.mark.slow),
        ("disr", (26, 35), {"tile": 12, "overlap": 4, "batch_size": 4}),
    ],
)
def test_fast_prediction_equals_the_old_implementation(rng, model, shape, kw):
    """Same output as the one-tile-at-a-time float64 implementation, within 1e-4 K, same holes."""
    if model == "resnet":
        m = _perturbed(_module("resnet", channels=8, n_blocks=2), 1)
    elif model == "unet_cond":
        m = _perturbed(_conditioned_unet(), 2)
    else:
        m = _perturbed(_disr(), 3)
    lst = _field(rng, *shape)
    ndvi = None
    if model == "disr":
        ndvi = rng.uniform(0, 0.8, (shape[0] * 4, shape[1] * 4)).astype(np.float32)
        ndvi[:, -3:] = np.nan
    old = _old_predict_array(m, lst, ndvi, **kw)
    new = predict_array(m, lst, ndvi, **kw)
    assert new.dtype == np.float32 and new.shape == old.shape
    np.testing.assert_array_equal(np.isnan(new), np.isnan(old))
    ok = np.isfinite(old)
    assert np.abs(old[ok]).max() > 250  # kelvin, not normalised
    assert np.abs(new[ok] - old[ok]).max() <= 1e-4
    # the network is not trivial here: the residual moves the output away from bicubic
    assert np.abs(old[ok] - predict_array(_module(), lst, **{k: v for k, v in kw.items() if k != "batch_size"})[ok]).max() > 1e-2


def test_fully_missing_tiles_are_skipped_without_changing_the_output(rng):
    """Tiles with no valid coarse pixel are not run; every pixel they cover is NaN anyway."""
    m = _perturbed(_module("resnet", channels=8, n_blocks=2), 4)
    lst = _field(rng, 40, 40, hole_frac=0.0)
    lst[:, 10:30] = np.nan  # whole columns of tiles are missing
    kw = {"tile": 8, "overlap": 3}
    calls = []
    hook = m.net.register_forward_hook(lambda mod, inp, out: calls.append(inp[0].shape[0]))
    try:
        new = predict_array(m, lst, **kw)
    finally:
        hook.remove()
    n_tiles = len(_starts(40, 8, 5)) ** 2
    assert 0 < sum(calls) < n_tiles
    old = _old_predict_array(m, lst, **kw)
    np.testing.assert_array_equal(np.isnan(new), np.isnan(old))
    ok = np.isfinite(old)
    assert np.abs(new[ok] - old[ok]).max() <= 1e-4
    with pytest.raises(AllNaNError):
        predict_array(m, np.full((8, 8), np.nan, np.float32))


def test_prediction_restores_threads_and_weight_layout(rng):
    m = _perturbed(_module("resnet", channels=8, n_blocks=1), 5)
    before = torch.get_num_threads()
    predict_array(m, _field(rng, 20, 20), tile=8, overlap=2, threads=1)
    assert torch.get_num_threads() == before
    assert all(p.is_contiguous() and not p.is_inference() for p in m.parameters())
    m.net(torch.zeros(1, 1, 4, 4)).sum().backward()  # still trainable
    lst = _field(rng, 20, 20)
    a = predict_array(m, lst, tile=8, overlap=2, channels_last=False, batch_size=1)
    b = predict_array(m, lst, tile=8, overlap=2, channels_last=True, batch_size=64)
    np.testing.assert_allclose(a, b, atol=1e-4)


class _Ensemble:
    """An ensemble as the lead will add it: an object with a ``members`` list."""

    def __init__(self, members: list[Any]) -> None:
        self.members = members


class _View:
    """A member that is not a module: only the attributes predict_array reads (as a model file's
    networks are seen)."""

    def __init__(self, m: Any) -> None:
        self.net, self.norm, self.factor, self.cond_dim, self.hparams = m.net, m.norm, m.factor, m.cond_dim, m.hparams


def test_ensemble_of_one_member_is_the_single_model(rng):
    m = _perturbed(_module("resnet", channels=8, n_blocks=2), 6)
    lst = _field(rng, 30, 45)
    single = predict_array(m, lst, tile=16, overlap=6)
    # fine pixels covered by one tile only: there the blended moments are one tile's moments
    cover = [np.zeros(n * 4, int) for n in lst.shape]
    for cv, n in zip(cover, lst.shape, strict=True):
        for s in _starts(n, 16, 10):
            cv[s * 4 : (s + 16) * 4] += 1
    one_tile = (cover[0][:, None] == 1) & (cover[1][None, :] == 1)
    for ens in ([m], (m,), torch.nn.ModuleList([m]), _Ensemble([m]), _Ensemble([_View(m)])):
        mean, sd = predict_array(ens, lst, tile=16, overlap=6, return_std=True, device="cpu")
        np.testing.assert_allclose(mean, single, atol=1e-5)
        np.testing.assert_array_equal(np.isnan(sd), np.isnan(single))
        assert np.nanmax(sd[one_tile]) < 1e-4
        # in the overlaps the second moment also holds the (small) spread between the tiles
        assert np.nanmax(sd) < 0.5
        np.testing.assert_array_equal(predict_array(ens, lst, tile=16, overlap=6), single)
    with pytest.raises(ValueError, match="no member"):
        predict_array([], lst)


class _PointwiseNet(torch.nn.Module):
    """Nearest-neighbour upsampling then a member-specific affine map and a quadratic term:
    pointwise in the input, so tiling changes nothing (a seam-free case)."""

    needs_guide = False

    def __init__(self, a: float, b: float, c: float) -> None:
        super().__init__()
        self.coef = torch.nn.Parameter(torch.tensor([a, b, c]))

    def forward(self, lr, guide=None, cond=None):
        up = lr.repeat_interleave(4, dim=-2).repeat_interleave(4, dim=-1)
        return self.coef[0] * up + self.coef[1] + self.coef[2] * up * up


class _PointwiseMember(torch.nn.Module):
    factor = 4
    cond_dim = 0
    hparams: dict = {}

    def __init__(self, a: float, b: float, c: float, mean: float, std: float) -> None:
        super().__init__()
        self.net = _PointwiseNet(a, b, c)
        self.norm = Normalisation(lst_mean=mean, lst_std=std)


def test_ensemble_mean_and_std_are_the_members_mean_and_std(rng):
    """Seam-free members (pointwise): the blended moments give the members' mean and std."""
    members = [
        _PointwiseMember(1.0, 0.0, 0.0, 290.0, 5.0),
        _PointwiseMember(1.1, 0.2, 0.05, 291.0, 4.0),  # its own normalisation
        _PointwiseMember(0.9, -0.1, -0.03, 289.5, 6.0),
    ]
    lst = _field(rng, 31, 44)
    kw = {"tile": 10, "overlap": 4, "batch_size": 7}
    each = np.stack([predict_array(m, lst, **kw) for m in members])
    up = np.repeat(np.repeat(_fill_nearest(lst), 4, 0), 4, 1)
    expect0 = up  # the first member is the identity on the nearest-neighbour upsample
    ok = np.isfinite(each[0])
    np.testing.assert_allclose(each[0][ok], expect0[ok], atol=1e-4)  # tiling is exact here
    mean, sd = predict_array(_Ensemble(members), lst, return_std=True, **kw)
    np.testing.assert_array_equal(np.isnan(mean), ~ok)
    np.testing.assert_array_equal(np.isnan(sd), ~ok)
    np.testing.assert_allclose(mean[ok], each.mean(axis=0)[ok], atol=1e-4)
    np.testing.assert_allclose(sd[ok], each.std(axis=0)[ok], atol=1e-4)
    assert np.median(sd[ok]) > 0.1  # the members disagree: the test can fail


def test_ensemble_of_networks_on_one_tile(rng):
    """Real networks, one tile (no blending): mean and std of the members' own predictions."""
    members = [_perturbed(_module("resnet", channels=8, n_blocks=1), s) for s in (7, 8)]
    lst = _field(rng, 20, 24)
    each = np.stack([predict_array(m, lst, tile=32, overlap=0) for m in members])
    mean, sd = predict_array(members, lst, tile=32, overlap=0, return_std=True)
    ok = np.isfinite(mean)
    np.testing.assert_allclose(mean[ok], each.mean(axis=0)[ok], atol=1e-4)
    np.testing.assert_allclose(sd[ok], each.std(axis=0)[ok], atol=1e-4)
    assert np.median(sd[ok]) > 1e-3
