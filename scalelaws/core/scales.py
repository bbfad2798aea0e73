"""The lag policy: which integer lags (pixels) a structure function is evaluated at.

One rule, :func:`log_lags`: the distinct integers ``round(2**(k / per_octave))``, ``k = 0, 1,
...``, up to ``max_lag``. The callers differ only by explicit parameters, kept as they were so
that published numbers do not move:

========================================================  ===========  ========  ===============
caller                                                    per_octave   bound     default max lag
========================================================  ===========  ========  ===============
``scalelaws.stats.structure.default_lags``                2            rounded   ``min(ny, nx) // 4``
``scalelaws.landscapes.default_lags``                     4 (option)   exponent  ``max(short // 5, 1)``
``scalelaws.fit.bootstrap_structure_function``            1 (dyadic)   either    ``MAX_SCALE_FRACTION``
``scalelaws.fit.scaling._fit_lags`` (dyadic part)         1            either    the fit range
``analysis.pipeline`` (spectra / S figures)               2            rounded   ``short // 3``
========================================================  ===========  ========  ===============

``bound="rounded"`` keeps every rounded lag ``<= max_lag``; ``bound="exponent"`` keeps the
``k`` with ``2**(k / per_octave) <= max_lag`` before rounding (it can drop one lag just below
``max_lag``, e.g. 11 for ``max_lag = 11``: ``2**3.5 = 11.3``). For ``per_octave = 1`` the two
coincide.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

__all__ = ["log_lags"]


def log_lags(max_lag: int, per_octave: int = 2, *,
             bound: Literal["rounded", "exponent"] = "rounded") -> np.ndarray:
    """Log-spaced integer lags ``round(2**(k / per_octave)) <= max_lag``, powers of 2 included.

    Parameters
    ----------
    max_lag
        Largest lag in pixels (>= 1; the caller checks and raises its own error).
    per_octave
        Lags per octave before rounding to distinct integers (>= 1).
    bound
        ``"rounded"``: keep the rounded lags ``<= max_lag``. ``"exponent"``: keep only the ``k``
        with ``k / per_octave <= log2(max_lag)`` (to ``1e-9``).

    Returns
    -------
    numpy.ndarray
        Sorted unique int64 lags, starting at 1.

    """
    max_lag, per_octave = int(max_lag), int(per_octave)
    if max_lag < 1 or per_octave < 1:
        raise ValueError(f"max_lag and per_octave must be >= 1, got {max_lag}, {per_octave}")
    if bound == "exponent":
        kmax = int(np.floor(np.log2(max_lag) * per_octave + 1e-9))
    elif bound == "rounded":
        kmax = int(math.floor(per_octave * math.log2(max_lag))) + 1
    else:
        raise ValueError(f"bound must be 'rounded' or 'exponent', got {bound!r}")
    lags = np.unique(np.round(2.0 ** (np.arange(kmax + 1) / per_octave)).astype(np.int64))
    return lags[lags <= max_lag]
