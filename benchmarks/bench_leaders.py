"""2-D wavelet leaders on 4096 x 4096: numba kernel against plain NumPy, same run.

Command: ``python -m benchmarks leaders`` (``--quick``: 1024 x 1024).

Compared on the same DWT coefficients (db3, periodization, every octave, NaN masks):

* baseline: :func:`scalelaws.kernels.leaders.leaders_numpy` (max over orientations, children
  max by reshape, 3 x 3 neighbourhood max by nine shifted ``np.maximum``; NaN propagates);
* candidate: :func:`scalelaws.kernels.leaders.leaders_numba` (one fused, row-parallel pass
  for the children and one for the neighbourhood, per octave).

Also timed: the whole :func:`scalelaws.stats.wavelet_cascade` (transform, masks, leaders,
moments for six orders, log-cumulants) with each engine.
"""

from __future__ import annotations

import logging

import numpy as np

from benchmarks import best_of, machine_note
from scalelaws.kernels.leaders import leaders_numba, leaders_numpy
from scalelaws.stats.wavelets import _dwt_octaves, _n_octaves, wavelet_cascade


def main(quick: bool = False) -> list[dict]:
    """Run the leader benchmark; print details; return the summary rows."""
    n = 1024 if quick else 4096
    repeat = 3 if quick else 2
    rng = np.random.default_rng(0)
    # a rough field (Brownian-like by cumulative sums) with a few missing squares
    x = np.cumsum(np.cumsum(rng.standard_normal((n, n)), axis=0), axis=1) / n
    for _ in range(8):
        i, j = rng.integers(0, n - 64, size=2)
        x[i : i + 64, j : j + 64] = np.nan
    levels = _n_octaves(n, n, "db3")
    coefs, invs = _dwt_octaves(x, "db3", levels)
    factors = [2.0 ** (-j) for j in range(1, levels + 1)]
    n_coef = sum(c[0].size * 3 for c in coefs)
    print(f"field {n} x {n}, {levels} octaves, {n_coef / 1e6:.1f} M coefficients; "
          f"{machine_note()}")

    leaders_numba(coefs[:2], invs[:2], factors[:2])  # compile (cached on disk afterwards)
    t_np, ref = best_of(lambda: leaders_numpy(coefs, invs, factors), repeat=repeat)
    t_nb, out = best_of(lambda: leaders_numba(coefs, invs, factors), repeat=repeat)
    for a, b in zip(out, ref, strict=True):
        if not (np.array_equal(np.isnan(a), np.isnan(b)) and np.array_equal(a[~np.isnan(a)],
                                                                           b[~np.isnan(b)])):
            raise AssertionError("numba and NumPy leaders differ")
    # bytes touched by the candidate: 3 orientations + mask read, M written and re-read, L
    # written (float64), i.e. the minimum traffic of a two-pass kernel
    nbytes = sum(c[0].size * (3 * 8 + 1 + 8 + 8 + 8) for c in coefs)
    print(f"leaders: NumPy {t_np:.3f} s, numba {t_nb:.3f} s, ratio {t_np / t_nb:.1f}x "
          f"(numba moves {nbytes / 1e6:.0f} MB: {nbytes / t_nb / 1e9:.1f} GB/s)")

    log = logging.getLogger("scalelaws.stats.wavelets")
    level = log.level
    log.setLevel(logging.ERROR)  # the h_min warning is irrelevant here
    try:
        t_full_np, _ = best_of(lambda: wavelet_cascade(x, j1=3, engine="numpy"), repeat=1)
        t_full_nb, _ = best_of(lambda: wavelet_cascade(x, j1=3, engine="numba"), repeat=1)
    finally:
        log.setLevel(level)
    print(f"wavelet_cascade: engine=numpy {t_full_np:.2f} s, engine=numba {t_full_nb:.2f} s "
          f"(the DWT, masks and moments are shared)")
    return [
        {
            "name": f"wavelet leaders {n}x{n}, all octaves",
            "baseline": "leaders_numpy (plain NumPy)",
            "candidate": "leaders_numba (fused, parallel)",
            "baseline_s": t_np,
            "candidate_s": t_nb,
        },
        {
            "name": f"wavelet_cascade {n}x{n} (q=6 orders)",
            "baseline": "engine='numpy'",
            "candidate": "engine='numba'",
            "baseline_s": t_full_np,
            "candidate_s": t_full_nb,
        },
    ]


if __name__ == "__main__":
    main()
