"""Law fits of the comparison: one field, the ASTER reference, and the fBm-surrogate spread."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from analysis.sensors.compare import SCALES_M, _in_range
from analysis.sensors.readers import SensorField
from scalelaws.errors import InputError, ScaleRangeError
from scalelaws.grids import align, pixel_size
from scalelaws.io import list_modis_aster_pairs, open_modis_aster_pair
from scalelaws.laws import CorrectionLaw


def fit_field_law(
    f: SensorField, *, n_boot: int = 200, seed: int = 0, q: Sequence[float] = (2.0,)
) -> CorrectionLaw:
    """Fit a law on one field, from two analysis pixels to a quarter of the shorter side.

    The bootstrap is over spatial tiles of about a quarter of the shorter side (8-64 pixels),
    so that every field has at least 16 tiles.

    Raises
    ------
    ScaleRangeError
        The field is too small for 3 lags in the range.

    """
    px = pixel_size(f.lst)
    short = min(f.lst.shape)
    lo, hi = 2.0 * px, (short // 4) * px
    if hi <= lo:
        raise ScaleRangeError(f"{f.key}: field of {short} px is too small for a law")
    block = int(min(64, max(8, short // 4)))
    return CorrectionLaw.fit(
        [f.lst], ndvi=None if f.ndvi is None else [f.ndvi],
        classes=None if f.classes is None else [f.classes], q=q, scales_m=(lo, hi),
        n_boot=n_boot, rng=seed, block_px=block, bootstrap="tile",
        sources=[str(f.lst.attrs.get("source", f.key))],
    )


def realisation_spread(
    lst: xr.DataArray | Sequence[xr.DataArray],
    law: CorrectionLaw,
    *,
    classes: Any = None,
    n: int = 20,
    seed: int = 0,
    scales_m: Sequence[float] = SCALES_M,
) -> xr.DataArray:
    """Estimate the standard deviation of ``H_local`` between realisations from fBm surrogates.

    A tile bootstrap of one field misses most of the sampling variance of long-range
    correlated fields (docs/laws.md). This parametric estimate draws ``n`` exact fBm fields
    (:func:`scalelaws.synthetic.fbm`) with the shape, pixel and missing-data mask of each scene
    and with ``H`` = the law's mean local exponent (landscape ``all``, clipped to 0.05-0.95),
    refits the law with the same scale range, tiles and landscapes (no bootstrap) and returns the
    spread of the smooth local exponent. Real fields, non-Gaussian and non-stationary, vary
    more: read it as a lower bound.

    Parameters
    ----------
    lst
        The scene(s) the law was fitted on.
    law
        The fitted law.
    classes
        The landscapes the law was fitted with (labels per scene), or ``None``.
    n
        Number of surrogates (>= 2).
    seed
        Seed of the surrogates.
    scales_m
        Scales (m) of the spread.

    Returns
    -------
    xarray.DataArray
        ``(landscape, scale_m)``, NaN outside the law's range.

    """
    from scalelaws.synthetic import fbm

    if n < 2:
        raise InputError(f"realisation_spread needs n >= 2 surrogates, got {n}")
    scenes = [lst] if isinstance(lst, xr.DataArray) else list(lst)
    s = np.asarray(scales_m, dtype=np.float64)
    lo, hi = (float(v) for v in law.ds.attrs["scale_range_m"])
    inside = _in_range(s, lo, hi)
    names = list(law.landscapes)
    vals = np.full((n, len(names), s.size), np.nan)
    if inside.any():
        h = law.local_exponent(s[inside], q=2, landscape="all" if "all" in names else None)
        H = float(np.clip(np.nanmean(h["value"].values) / 2, 0.05, 0.95))
        rng = np.random.default_rng(seed)
        for i in range(n):
            sur = [sc.copy(data=np.where(np.isfinite(sc.values), fbm(sc.shape, H, rng=rng), np.nan)
                           .astype(np.float32)) for sc in scenes]
            try:
                lw = CorrectionLaw.fit(sur, classes=classes, q=(2.0,), scales_m=(lo, hi), n_boot=0,
                                       block_px=int(law.ds.attrs["block_px"]))
            except ScaleRangeError:
                continue
            for j, ls in enumerate(names):
                if ls in lw.landscapes:
                    vals[i, j, inside] = lw.local_exponent(s[inside], q=2, landscape=ls)["value"].values / 2
    enough = np.isfinite(vals).sum(0) >= 2
    sd = np.full(vals.shape[1:], np.nan)
    if enough.any():
        sd[enough] = np.nanstd(vals[:, enough], axis=0, ddof=1)
    return xr.DataArray(
        sd, dims=("landscape", "scale_m"), coords={"landscape": names, "scale_m": s},
        attrs={"long_name": "standard deviation of H_local between fBm surrogates", "units": "1",
               "n_surrogates": int(n)},
    )


def fit_aster_law(
    root: str | Path | None = None, *, n_boot: int = 200, seed: int = 0,
    pairs: Sequence[int] | None = None, q: Sequence[float] = (2.0,),
) -> CorrectionLaw:
    """Fit the ASTER law of ``docs/make_laws_example.py`` (the 40 ASTER 250 m fields, NDVI classes).

    MODIS 250 m NDVI is re-projected bilinearly onto each ASTER grid; default scale range (one
    pixel to a fifth of the smallest field); bootstrap over scenes.
    """
    pair_root = None if root is None else Path(root) / "modis_aster" / "pairs"
    ids = list(pairs) if pairs else list_modis_aster_pairs(pair_root)
    lst, ndvi = [], []
    for pid in ids:
        pair = open_modis_aster_pair(pid, pair_root)
        lst.append(pair.aster_250m)
        ndvi.append(align(pair.ndvi_250m, pair.aster_250m, resampling="bilinear"))
    return CorrectionLaw.fit(
        lst, ndvi=ndvi, classes="ndvi", q=q, n_boot=n_boot, rng=seed,
        sources=[f"modis_aster pair {pid} aster_lst_250m.tif" for pid in ids],
    )

