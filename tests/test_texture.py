"""Realisations (scalelaws.texture): target texture restored, coarse block means kept, seeded."""

from __future__ import annotations

import numpy as np
import pytest

from scalelaws.errors import InputError
from scalelaws.grids import degrade_array, gaussian_smooth
from scalelaws.texture import detail_field, fit_texture, realisations, s2_xy


def _rough_and_smooth(rng, n=128, factor=4):
    """A rough 'truth' field and its smooth estimate with the same block means."""
    truth = gaussian_smooth(rng.standard_normal((n, n)), 1.0) * 3.0 + 300.0
    blocks = degrade_array(truth, factor, method="mean")
    mean = gaussian_smooth(np.repeat(np.repeat(blocks, factor, 0), factor, 1), 1.5)
    # put the block means back exactly (the estimate is 1 km-consistent)
    mean += np.repeat(np.repeat(blocks - degrade_array(mean, factor, method="mean"), factor, 0), factor, 1)
    return truth, mean


def test_detail_field_unit_variance_zero_block_means(rng):
    e = detail_field((64, 96), 4, 1.0, rng)
    assert e.std() == pytest.approx(1.0, rel=1e-9)
    np.testing.assert_allclose(degrade_array(e, 4, method="mean"), 0.0, atol=1e-12)
    with pytest.raises(InputError, match="multiple"):
        detail_field((65, 96), 4, 1.0, rng)


def test_fit_texture_recovers_amplitude_and_smoothness(rng):
    lags = (1, 2)
    e = detail_field((256, 256), 4, 1.0, np.random.default_rng(7)) * 2.0   # known: 2 K, 1 px
    amp, smooth = fit_texture(s2_xy(e, lags), 4, lags)
    assert smooth == 1.0
    assert amp == pytest.approx(2.0, rel=0.05)
    assert fit_texture([-1.0, -2.0], 4, lags) == (0.0, 0.0)   # nothing missing: no detail


def test_realisations_carry_target_and_keep_block_means(rng):
    truth, mean = _rough_and_smooth(rng)
    lags = (1, 2)
    target = s2_xy(truth, lags)
    assert (s2_xy(mean, lags) < 0.5 * target).all()          # the estimate is too smooth
    mean_nan = mean.copy()
    mean_nan[:4, :4] = np.nan
    stack, info = realisations(mean_nan, target, 8, factor=4, lags=lags, seed=3)
    assert stack.shape == (8, 128, 128) and stack.dtype == np.float32
    assert np.isnan(stack[:, :4, :4]).all() and np.isfinite(stack[:, 4:, 4:]).all()
    for r in stack:
        # the target texture within 15 % at both lags (one 128 x 128 realisation)
        np.testing.assert_allclose(s2_xy(r[4:, 4:], lags), target, rtol=0.15)
        # the 1 km block means of the estimate are kept
        np.testing.assert_allclose(degrade_array(r.astype(np.float64), 4, method="mean")[1:, 1:],
                                   degrade_array(mean, 4, method="mean")[1:, 1:], atol=1e-3)
    # the realisations differ, are reproducible by seed, and their mean tends to the estimate
    assert np.nanmean(np.abs(stack[0] - stack[1])) > 0.1
    again, _ = realisations(mean_nan, target, 2, factor=4, lags=lags, seed=3)
    np.testing.assert_array_equal(again, stack[:2])
    assert info["amplitude_K"] > 0 and info["s2_target_1px"] == pytest.approx(target[0])
    # a target the estimate already meets: the realisations are the estimate
    same, info = realisations(mean, s2_xy(mean, lags) * 0.9, 2, factor=4, lags=lags)
    np.testing.assert_allclose(same[0], mean, atol=1e-4)
    assert info["amplitude_K"] == 0.0
