"""Detail energy of one field per octave (what the law's ``detail_energy`` smooths)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from scalelaws import cf
from scalelaws.core.estimate import pooled_ratio
from scalelaws.errors import InputError
from scalelaws.landscapes import landscape_sums


def detail_energy(
    da: xr.DataArray, *, levels: Sequence[int] | None = None, max_missing: float = 0.5
) -> xr.Dataset:
    """Detail energy of one field per octave (the statistic the law's ``detail_energy`` encodes).

    Parameters
    ----------
    da
        2-D field (``y, x``).
    levels
        Parent block sizes ``2**level`` pixels (default 1 .. largest with at least 4 blocks).
    max_missing
        Largest missing fraction of a block mean.

    Returns
    -------
    xarray.Dataset
        ``detail_energy(scale_m)`` = ``var(X_{l/2} - upsampled X_l)`` for parent blocks of size
        ``l = scale_m`` (units of the field squared) and ``weight(scale_m)`` (pixels used).

    """
    if not isinstance(da, xr.DataArray) or da.ndim != 2:
        raise InputError("detail_energy expects a 2-D DataArray (y, x)")
    top = max(min(da.shape) // 2, 2)  # the largest lag sets the number of levels (one lag: cheap)
    sums = landscape_sums(da, None, q=(2,), lags=[top], block_px=max(da.shape), max_missing=max_missing)
    d = sums["det_sum"].isel(landscape=0).values  # (unit, level)
    w = sums["det_weight"].isel(landscape=0).values
    out = xr.Dataset(
        {
            "detail_energy": ("scale_m", pooled_ratio(d, w, 1.0)),
            "weight": ("scale_m", w.sum(0)),
        },
        coords={"scale_m": sums["block_m"].values},
    ).isel(scale_m=slice(1, None))
    if levels is not None:
        out = out.sel(scale_m=sums.attrs["pixel_size_m"] * 2.0 ** np.asarray(levels), method="nearest")
    units = da.attrs.get("units", "K")
    out["detail_energy"].attrs = cf.attrs(
        "variance of the detail added when refining from l to l/2 (block means)", f"{units}^2")
    out["weight"].attrs = cf.attrs("pixels used", "1")
    out["scale_m"].attrs = cf.attrs("parent block size l", "m")
    return out
