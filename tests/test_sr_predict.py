"""sr.predict: tiling, blending and NaN handling of whole-raster inference."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("lightning")

from sr.module import SRModule  # noqa: E402
from sr.predict import blend_window, predict_array  # noqa: E402
from sr.train import SRConfig  # noqa: E402


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
