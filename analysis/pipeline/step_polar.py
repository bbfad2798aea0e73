"""Step ``polar``: direction-dependent structure-function maps (``polar.nc``)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from analysis.pipeline.context import Context
from analysis.pipeline.writing import _masked, _var, _write
from scalelaws.errors import InputError

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------
# step: polar structure-function maps
# ----------------------------------------------------------------------------------------------
def step_polar(ctx: Context, out: Path, progress: bool) -> list[Path]:
    """Direction-dependent S2 lag maps and their polar view, per landscape."""
    from scalelaws.stats.structure import polar_view, structure_function

    L = int(min(ctx.settings.map_max_lag, ctx.short // 4))
    maps, polars = [], []
    for name in tqdm(ctx.landscapes, desc="polar maps", leave=False, disable=not progress):
        tot_s = tot_c = None
        template = None
        for s in ctx.scenes:
            if name == "all" and ctx.include_all:
                da = s.lst
            elif name in s.masks:
                da = _masked(s.lst, s.masks[name])
            else:
                continue
            sf = structure_function(da, q=(2,), direction="map", max_lag=L)
            c = sf["count"].values
            sv = np.nan_to_num(sf["S"].values * c)
            tot_s = sv if tot_s is None else tot_s + sv
            tot_c = c if tot_c is None else tot_c + c
            template = sf
        if template is None:
            raise InputError(f"no scene holds landscape {name!r}")
        with np.errstate(invalid="ignore", divide="ignore"):
            pooled = template.copy()
            pooled["S"] = (template["S"].dims, np.where(tot_c > 0, tot_s / tot_c, np.nan))
            pooled["count"] = (template["count"].dims, tot_c)
        pv = polar_view(pooled, nr=L, ntheta=12)
        maps.append(pooled["S"].isel(q=0, drop=True).expand_dims(landscape=[name]))
        polars.append(pv[["S", "anisotropy", "theta_major"]].isel(q=0, drop=True)
                      .expand_dims(landscape=[name]))
    lagmap = xr.concat(maps, dim="landscape")
    pol = xr.concat(polars, dim="landscape")
    px = ctx.pixel_m
    ds = xr.Dataset(
        {
            "S2_map": _var(("landscape", "ly", "lx"), lagmap.values, "K^2",
                           "S2 at lag vector (ly, lx)"),
            "S2_polar": _var(("landscape", "r", "theta"), pol["S"].values, "K^2",
                             "S2 binned by lag length and direction"),
            "anisotropy": _var(("landscape", "r"), pol["anisotropy"].values, "1",
                               "S2 along the direction of largest increments / perpendicular"),
            "theta_major": _var(("landscape", "r"), pol["theta_major"].values, "degree",
                                "direction of largest increments"),
        },
        coords={"landscape": ctx.landscapes,
                "ly": ("ly", lagmap["ly"].values, {"units": "px"}),
                "lx": ("lx", lagmap["lx"].values, {"units": "px"}),
                "ly_m": ("ly", lagmap["ly"].values * px, {"units": "m"}),
                "lx_m": ("lx", lagmap["lx"].values * px, {"units": "m"}),
                "r": ("r", pol["r"].values, {"units": "px"}),
                "r_m": ("r", pol["r"].values * px, {"units": "m", "long_name": "lag length"}),
                "theta": ("theta", pol["theta"].values,
                          {"units": "degree", "long_name": "lag direction from +x towards +row"})},
        attrs={"pixel_size_m": px, "max_lag_px": L},
    )
    return [_write(ds, out / "polar.nc", "direction-dependent structure functions", ctx)]
