"""Local scaling exponents between successive dyadic lags: :func:`local_slopes`."""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from scalelaws.core.estimate import percentile_interval
from scalelaws.errors import InputError
from scalelaws.fit.inputs import _check_level


def local_slopes(sf_ds: xr.Dataset, q: float = 2, *, level: float = 0.95) -> xr.Dataset:
    """Local scaling exponent per octave from a structure-function Dataset.

    For successive dyadic lags ``l, 2 l`` (starting at the smallest lag present and doubling
    while the lag is present) the local exponent is
    ``zeta_q(l) = log(S_q(2 l) / S_q(l)) / log 2``; ``H_local = zeta_q / q`` (the Hurst
    exponent for ``q = 2``). When ``sf_ds`` holds bootstrap replicates ``S_boot`` (from
    :func:`scalelaws.fit.bootstrap_structure_function` or :func:`scalelaws.fit.fit_scaling`)
    the percentile interval of each local exponent is returned; otherwise the interval is NaN.

    Parameters
    ----------
    sf_ds
        Dataset with ``S(q, lag)`` and coordinate ``lag_m`` (e.g. from
        :func:`scalelaws.stats.structure.structure_function`); extra dims are not allowed.
    q
        Moment order (must be in ``sf_ds.q``).
    level
        Confidence level.

    Returns
    -------
    xarray.Dataset
        Dims ``scale``: ``zeta_local``, ``H_local``, ``zeta_local_ci(scale, bound)``,
        ``H_local_ci(scale, bound)``; coordinates ``scale_m`` (geometric mean of the two lags,
        m), ``lag_lo``, ``lag_hi`` (px), ``lag_lo_m``, ``lag_hi_m``.

    Raises
    ------
    scalelaws.errors.InputError
        No ``S`` variable, ``q`` absent, or fewer than two dyadic lags.

    """
    _check_level(level)
    if "S" not in sf_ds:
        raise InputError("local_slopes needs a Dataset with a structure function 'S(q, lag)'")
    qv = np.asarray(sf_ds["q"].values, dtype=float)
    hit = np.flatnonzero(np.isclose(qv, float(q)))
    if hit.size == 0:
        raise InputError(f"q={q} not in the structure-function orders {qv.tolist()}")
    S = sf_ds["S"].isel(q=int(hit[0]))
    extra = [d for d in S.dims if d != "lag"]
    if extra:
        raise InputError(f"local_slopes expects S(q, lag) only; extra dims {extra}")
    lags = np.asarray(sf_ds["lag"].values, dtype=int)
    lag_m = (np.asarray(sf_ds["lag_m"].values, dtype=float) if "lag_m" in sf_ds.coords
             else lags.astype(float))
    pos = {int(v): i for i, v in enumerate(lags)}
    chain = []
    lv = int(lags.min())
    while lv in pos:
        chain.append(pos[lv])
        lv *= 2
    if len(chain) < 2:
        raise InputError(f"need at least two successive dyadic lags (l, 2l) from the smallest "
                         f"lag {int(lags.min())}; lags are {lags.tolist()}")
    lo_i, hi_i = np.array(chain[:-1]), np.array(chain[1:])
    Sv = np.asarray(S.values, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.log(Sv[hi_i] / Sv[lo_i]) / math.log(2.0)
    ci = np.full((z.size, 2), np.nan)
    if "S_boot" in sf_ds and sf_ds.sizes.get("boot", 0) >= 2:
        Sb = np.asarray(sf_ds["S_boot"].isel(q=int(hit[0])).transpose("boot", "lag").values,
                        dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            zb = np.log(Sb[:, hi_i] / Sb[:, lo_i]) / math.log(2.0)
        ci = percentile_interval(zb, level)
    qf = float(q)
    scale_m = np.sqrt(lag_m[lo_i] * lag_m[hi_i])
    return xr.Dataset(
        {
            "zeta_local": ("scale", z, {"long_name": f"local exponent of S_{qf:g}",
                                        "units": "1"}),
            "zeta_local_ci": (("scale", "bound"), ci,
                              {"long_name": f"local exponent: {100 * level:g} % block-"
                                            "bootstrap percentile interval", "units": "1"}),
            "H_local": ("scale", z / qf, {"long_name": f"local zeta_{qf:g} / {qf:g}",
                                          "units": "1"}),
            "H_local_ci": (("scale", "bound"), ci / qf,
                           {"long_name": "H_local interval", "units": "1"}),
        },
        coords={
            "scale_m": ("scale", scale_m, {"long_name": "geometric mean of the two lags",
                                           "units": "m"}),
            "lag_lo": ("scale", lags[lo_i], {"units": "px"}),
            "lag_hi": ("scale", lags[hi_i], {"units": "px"}),
            "lag_lo_m": ("scale", lag_m[lo_i], {"units": "m"}),
            "lag_hi_m": ("scale", lag_m[hi_i], {"units": "m"}),
            "bound": ("bound", ["lower", "upper"]),
        },
        attrs={"q": qf, "level": float(level), "Conventions": "CF-1.8",
               "title": "local scaling exponents per octave"},
    )
