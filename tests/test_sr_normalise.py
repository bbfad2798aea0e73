"""sr.normalise: the one affine normalisation pair inverts, on arrays and tensors."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sr import normalise  # noqa: E402
from sr.data import Normalisation  # noqa: E402


def test_apply_invert_round_trip_numpy_and_torch():
    rng = np.random.default_rng(0)
    x = rng.normal(295.0, 8.0, (5, 7))
    mean, std = 291.3, 6.7
    xn = normalise.apply(x, mean, std)
    assert abs(xn.mean()) < 1.0  # (x - mean) / std, not its inverse
    np.testing.assert_allclose(normalise.invert(xn, mean, std), x, rtol=0, atol=1e-12)
    out = np.empty_like(xn)
    assert normalise.invert(xn, mean, std, out=out) is out
    np.testing.assert_allclose(out, x, rtol=0, atol=1e-12)
    t = torch.from_numpy(x)
    torch.testing.assert_close(normalise.invert(normalise.apply(t, mean, std), mean, std), t)


def test_apply_masked_and_convert():
    a = np.array([[290.0, np.nan], [300.0, 310.0]])
    v, ok = normalise.apply_masked(a, 300.0, 10.0)
    assert v.dtype == np.float32 and ok.tolist() == [[True, False], [True, True]]
    np.testing.assert_array_equal(v, [[-1.0, 0.0], [0.0, 1.0]])
    # values normalised by one member's statistics, re-expressed in another's
    x = np.array([-1.0, 0.5, 2.0])
    s, o = normalise.convert(290.0, 5.0, 300.0, 10.0)
    np.testing.assert_allclose(s * x + o, normalise.apply(normalise.invert(x, 290.0, 5.0), 300.0, 10.0))


def test_normalisation_methods_use_the_pair():
    n = Normalisation(lst_mean=290.0, lst_std=5.0, ndvi_mean=0.4, ndvi_std=0.2)
    assert n.apply(300.0) == 2.0 and n.invert(2.0) == 300.0
    assert n.apply(0.6, "ndvi") == pytest.approx(1.0) and n.invert(1.0, "ndvi") == pytest.approx(0.6)
    assert n.slope(-10.0) == pytest.approx(-10.0 * 0.2 / 5.0)
    with pytest.raises(ValueError):
        n.apply(1.0, "albedo")
