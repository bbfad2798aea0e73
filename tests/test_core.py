"""The single definitions of ``scalelaws.core`` against brute-force references."""

from __future__ import annotations

import numpy as np
import pytest

from scalelaws.core import aggregate as agg


def _brute(values: np.ndarray, f: int, method: str, min_coverage: float) -> np.ndarray:
    ny, nx = values.shape[0] // f, values.shape[1] // f
    out = np.full((ny, nx), np.nan)
    for i in range(ny):
        for j in range(nx):
            b = values[i * f:(i + 1) * f, j * f:(j + 1) * f]
            v = b[np.isfinite(b)]
            if v.size == 0 or v.size / f**2 < min_coverage - 1e-9:
                continue
            out[i, j] = np.mean(v) if method == "mean" else np.mean(v**4) ** 0.25
    return out


@pytest.mark.parametrize("method", ["mean", "radiance"])
@pytest.mark.parametrize("min_coverage", [1e-9, 0.5, 0.75, 1.0])
def test_aggregate_blocks_equals_brute_force(method, min_coverage):
    rng = np.random.default_rng(0)
    a = rng.uniform(280.0, 320.0, (23, 18))
    a[rng.random(a.shape) < 0.3] = np.nan
    got = agg.aggregate_blocks(a, 4, method=method, min_coverage=min_coverage)
    ref = _brute(a, 4, method, min_coverage)
    assert got.shape == (5, 4)
    np.testing.assert_allclose(got, ref, rtol=1e-13, equal_nan=True)


def test_radiance_mean_is_not_below_mean_and_equal_on_constant_blocks():
    rng = np.random.default_rng(1)
    a = rng.uniform(250.0, 330.0, (16, 16))
    a[:4, :4] = 300.0
    m = agg.aggregate_blocks(a, 4, method="mean", min_coverage=1.0)
    r = agg.aggregate_blocks(a, 4, method="radiance", min_coverage=1.0)
    assert np.all(r >= m - 1e-12)
    assert r[0, 0] == pytest.approx(300.0, rel=1e-14)
    assert np.all(r[1:, 1:] > m[1:, 1:])


def test_coverage_rule_is_inclusive_at_the_threshold():
    count = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    assert agg.covered(count, 4, 0.5).tolist() == [False, False, True, True, True]
    assert agg.covered(count, 4, 0.0).tolist() == [False, True, True, True, True]
    # 1 - 0.9 is not exactly 0.1 in floating point: the named fraction is still kept
    assert agg.covered(np.array([1.0]), 10, 1.0 - 0.9)[0]


def test_valid_mask_decides_coverage_not_the_values():
    a = np.full((4, 4), 2.0)
    valid = np.ones((4, 4), bool)
    valid[:2, :2] = False  # a quarter of each 4x4 block "was" missing before a filter
    assert np.isnan(agg.aggregate_blocks(a, 4, min_coverage=0.8, valid=valid)[0, 0])
    assert agg.aggregate_blocks(a, 4, min_coverage=0.75, valid=valid)[0, 0] == 2.0


@pytest.mark.parametrize("offset", [0, 1, 3])
def test_index_aggregation_equals_blocks_on_nested_grids(offset):
    rng = np.random.default_rng(2)
    f = 4
    a = rng.uniform(280.0, 320.0, (6 * f, 5 * f))
    a[rng.random(a.shape) < 0.2] = np.nan
    # fine centres in map units; the coarse grid starts `offset` fine pixels before the fine one
    ys = (np.arange(a.shape[0]) + 0.5 + offset) * 1.0
    xs = (np.arange(a.shape[1]) + 0.5) * 1.0
    rows, cols = agg.centre_index(ys, 0.0, float(f)), agg.centre_index(xs, 0.0, float(f))
    shape = (7, 5)
    mean, coverage = agg.aggregate_by_index(a, rows, cols, shape, f, method="radiance",
                                            min_coverage=0.5)
    padded = np.full((shape[0] * f, shape[1] * f), np.nan)
    padded[offset:offset + a.shape[0], :a.shape[1]] = a
    np.testing.assert_allclose(
        mean, agg.aggregate_blocks(padded, f, method="radiance", min_coverage=0.5),
        rtol=1e-13, equal_nan=True)
    _, count = agg.block_sums(padded, f)
    np.testing.assert_array_equal(coverage, count / f**2)


def test_centre_index_north_up():
    # y decreasing: coarse pixel 0 spans (100, 90], fine centres every 2.5 m from 98.75
    ys = 100.0 - (np.arange(8) + 0.5) * 2.5
    assert agg.centre_index(ys, 100.0, -10.0).tolist() == [0, 0, 0, 0, 1, 1, 1, 1]


def test_dask_stays_lazy_and_equal():
    da = pytest.importorskip("dask.array")
    rng = np.random.default_rng(3)
    a = rng.uniform(280.0, 320.0, (2, 32, 40))
    a[rng.random(a.shape) < 0.25] = np.nan
    lazy = agg.aggregate_blocks(da.from_array(a, chunks=(1, 16, 20)), 3, method="radiance")
    assert isinstance(lazy, da.Array)
    np.testing.assert_array_equal(lazy.compute(), agg.aggregate_blocks(a, 3, method="radiance"))


def test_unknown_method():
    with pytest.raises(ValueError, match="aggregation method"):
        agg.aggregate_blocks(np.ones((4, 4)), 2, method="median")


# ---------------------------------------------------------------- estimate
def test_ols_slope_equals_polyfit_and_drops_nan():
    from scalelaws.core.estimate import ols_slope

    rng = np.random.default_rng(4)
    x = np.log(np.arange(1.0, 13.0))
    y = 0.7 * x + 1.3 + 0.05 * rng.normal(size=(3, x.size))
    y[1, 4] = np.nan
    slope, icpt = ols_slope(x, y)
    for i in range(3):
        ok = np.isfinite(y[i])
        ref = np.polyfit(x[ok], y[i, ok], 1)
        assert slope[i] == pytest.approx(ref[0], rel=1e-12)
        assert icpt[i] == pytest.approx(ref[1], rel=1e-12)
    s_prop, _ = ols_slope(x, y, propagate_nan=True)
    assert np.isnan(s_prop[1]) and s_prop[0] == pytest.approx(slope[0], rel=1e-14)
    assert np.isnan(ols_slope(x[:1], y[:, :1])[0]).all()  # one point: no slope


def test_percentile_interval_covers_the_stated_fraction():
    from scalelaws.core.estimate import percentile_interval

    rng = np.random.default_rng(5)
    a = rng.normal(size=(20000, 2))
    a[:, 1] = np.nan
    a[0, 1] = 1.0
    iv = percentile_interval(a, 0.9)
    assert iv.shape == (2, 2)
    np.testing.assert_allclose(iv[0], [-1.6449, 1.6449], atol=0.05)
    assert iv[1, 0] == iv[1, 1] == 1.0  # one finite replicate
    assert np.isnan(percentile_interval(a, 0.9, min_finite=2)[1]).all()
    with pytest.raises(Exception, match="ci must be in"):
        percentile_interval(a, 1.5)


def test_pooled_ratio_is_the_ratio_of_sums_and_respects_min_pairs():
    from scalelaws.core.estimate import pooled_ratio

    sums = np.array([[[2.0, 4.0], [6.0, 8.0]], [[1.0, 1.0], [1.0, 1.0]]])  # (U=2, Q=2, K=2)
    counts = np.array([[1.0, 50.0], [1.0, 60.0]])  # (U=2, K=2): broadcast over q
    S = pooled_ratio(sums, counts, 100)
    assert np.isnan(S[:, 0]).all()  # 2 pairs < 100
    np.testing.assert_allclose(S[:, 1], [5.0 / 110.0, 9.0 / 110.0])
    w = np.array([[2.0, 0.0], [1.0, 1.0]])  # two replicates
    Sb = pooled_ratio(sums, counts, 100, weights=w)
    assert Sb.shape == (2, 2, 2)
    np.testing.assert_allclose(Sb[0, :, 1], [8.0 / 100.0, 16.0 / 100.0])  # unit 0 twice: 100 pairs
    assert np.isnan(Sb[0, :, 0]).all()
    np.testing.assert_allclose(Sb[1], S, equal_nan=True)


# ---------------------------------------------------------------- lags
def test_log_lags_rule_and_bounds():
    from scalelaws.core.scales import log_lags

    assert log_lags(32, 2).tolist() == [1, 2, 3, 4, 6, 8, 11, 16, 23, 32]
    assert log_lags(40, 1).tolist() == [1, 2, 4, 8, 16, 32]
    assert 11 in log_lags(11, 2) and 11 not in log_lags(11, 2, bound="exponent")
    for m in (1, 7, 64, 1000):
        assert np.array_equal(log_lags(m, 1), log_lags(m, 1, bound="exponent"))
        assert np.all(np.diff(log_lags(m, 4)) > 0) and log_lags(m, 4)[-1] <= m
