"""Step ``sf``: structure functions and local slopes per landscape (``sf_lst.nc``, ``sf_ndvi.nc``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from analysis.pipeline.context import Context
from analysis.pipeline.settings import MIN_PAIRS, Q
from analysis.pipeline.writing import _pct, _var, _write
from scalelaws.core.estimate import pooled_ratio

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------
# step: structure functions + local slopes (and the shared sums)
# ----------------------------------------------------------------------------------------------
@dataclass
class SFStats:
    """Pooled structure functions and detail energies per landscape, with bootstrap replicates."""

    names: list[str]
    q: np.ndarray
    lag: np.ndarray
    lag_m: np.ndarray
    S: np.ndarray  # (L, Q, K)
    Sb: np.ndarray  # (B, L, Q, K)
    count: np.ndarray  # (L, K)
    block_m: np.ndarray
    D: np.ndarray  # (L, levels)
    Db: np.ndarray  # (B, L, levels)
    unit: str
    pixel_m: float


def _max_lag(ctx: Context) -> int:
    return int(min(ctx.short // 3, 64))


def _block_px(ctx: Context) -> int:
    return int(max(16, min(64, ctx.short // 4)))


def sf_stats(ctx: Context, var: str, rng: np.random.Generator) -> SFStats:
    """Landscape sums of one variable over the reference scenes, pooled, with replicates."""
    from scalelaws.landscapes import bootstrap_weights, landscape_sums

    fields = [getattr(s, var) for s in ctx.scenes]
    masks = [{k: v for k, v in s.masks.items() if k in ctx.landscapes} for s in ctx.scenes]
    sums = landscape_sums(fields, masks, q=Q, max_lag=_max_lag(ctx), block_px=_block_px(ctx),
                          include_all=ctx.include_all)
    names = [str(v) for v in sums["landscape"].values]
    w, unit = bootstrap_weights(sums, ctx.settings.n_boot, rng=rng)
    wv = w.values
    ss, sc = sums["sf_sum"].values, sums["sf_count"].values
    ds_, dw = sums["det_sum"].values, sums["det_weight"].values
    cnt = sc.sum(0)
    S = pooled_ratio(ss, sc, MIN_PAIRS)
    Sb = pooled_ratio(ss, sc, MIN_PAIRS, weights=wv)
    D = pooled_ratio(ds_, dw, MIN_PAIRS)
    Db = pooled_ratio(ds_, dw, MIN_PAIRS, weights=wv)
    return SFStats(names=names, q=sums["q"].values.astype(float), lag=sums["lag"].values,
                   lag_m=sums["lag_m"].values.astype(float), S=S, Sb=Sb, count=cnt,
                   block_m=sums["block_m"].values.astype(float), D=D, Db=Db, unit=unit,
                   pixel_m=float(sums.attrs["pixel_size_m"]))


def _local_slopes(st: SFStats) -> xr.Dataset:
    from scalelaws.fit import local_slopes

    parts = []
    for i, name in enumerate(st.names):
        d = xr.Dataset(
            {"S": (("q", "lag"), st.S[i]), "S_boot": (("boot", "q", "lag"), st.Sb[:, i])},
            coords={"q": st.q, "lag": st.lag, "lag_m": ("lag", st.lag_m)},
        )
        ls = local_slopes(d, q=2)
        parts.append(ls.expand_dims(landscape=[name]))
    return xr.concat(parts, dim="landscape")


def step_sf(ctx: Context, out: Path, progress: bool) -> list[Path]:
    """Structure functions and local slopes per landscape, for LST and NDVI."""
    paths = []
    for var, units, long in (("lst", "K", "LST"), ("ndvi", "1", "NDVI")):
        st = sf_stats(ctx, var, np.random.default_rng(ctx.seed + 11))
        ls = _local_slopes(st)
        su = f"{units}^q" if units != "1" else "1"
        ds = xr.Dataset(
            {
                "S": _var(("landscape", "q", "lag"), st.S, su, f"structure function of {long}"),
                "S_ci": _var(("landscape", "q", "lag", "bound"),
                             _pct(st.Sb, axis=0), su, "95 % bootstrap interval of S"),
                "count": _var(("landscape", "lag"), st.count, "1", "number of pairs"),
                "H_local": _var(("landscape", "scale"), ls["H_local"].values, "1",
                                "local Hurst exponent per octave, ln(S2(2l)/S2(l))/(2 ln 2)"),
                "H_local_ci": _var(("landscape", "scale", "bound"), ls["H_local_ci"].values, "1",
                                   "95 % bootstrap interval of H_local"),
            },
            coords={
                "landscape": st.names,
                "q": ("q", st.q, {"units": "1", "long_name": "moment order"}),
                "lag": ("lag", st.lag, {"units": "px", "long_name": "lag"}),
                "lag_m": ("lag", st.lag_m, {"units": "m", "long_name": "lag"}),
                "scale_m": ("scale", ls["scale_m"].values,
                            {"units": "m", "long_name": "geometric mean of the octave's lags"}),
                "bound": ["lower", "upper"],
            },
            attrs={"variable": long, "units_field": units, "bootstrap_unit": st.unit,
                   "n_boot": int(ctx.settings.n_boot), "pixel_size_m": st.pixel_m,
                   "reference": ("synthetic 250 m truth" if ctx.source == "synthetic"
                                 else "ASTER LST, offset-corrected")},
        )
        paths.append(_write(ds, out / f"sf_{var}.nc", f"structure functions of {long}", ctx))
    return paths
