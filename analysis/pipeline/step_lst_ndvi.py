"""Step ``lst_ndvi``: the LST-NDVI slope and correlation across scales (``lst_ndvi.nc``)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from analysis.pipeline.context import Context
from analysis.pipeline.writing import _masked, _var, _write

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------
# step: LST-NDVI relation
# ----------------------------------------------------------------------------------------------
def step_lst_ndvi(ctx: Context, out: Path, progress: bool) -> list[Path]:
    """LST-NDVI regression slope and correlation of block means across scales, per landscape."""
    from scalelaws.stats.coarse import lst_ndvi_relation, lst_ndvi_relation_many

    factors = [f for f in (1, 2, 4, 8, 16) if f <= ctx.short // 4]
    keys = ("slope_ols", "slope_tls", "corr", "n")
    res = {k: np.full((len(ctx.landscapes), len(factors)), np.nan) for k in keys}
    ci = {k: np.full((len(ctx.landscapes), len(factors), 2), np.nan)
          for k in ("slope_ols", "slope_tls", "corr")}
    how = []
    for i, name in enumerate(tqdm(ctx.landscapes, desc="LST-NDVI", leave=False,
                                  disable=not progress)):
        fields = []
        for s in ctx.scenes:
            if name == "all" and ctx.include_all:
                fields.append((s.lst, s.ndvi))
            elif name in s.masks:
                fields.append((_masked(s.lst, s.masks[name]), _masked(s.ndvi, s.masks[name])))
        if not fields:
            how.append("none")
            continue
        if len(fields) == 1:
            r = lst_ndvi_relation(fields[0][0], fields[0][1], factors)
            how.append("one scene: OLS interval (pixels independent, optimistic)")
            ci["slope_ols"][i] = r["slope_ols_ci"].values
        else:
            r = lst_ndvi_relation_many(fields, factors, n_boot=ctx.settings.n_boot * 5,
                                       rng=ctx.seed + 31)
            how.append(f"{len(fields)} scenes: bootstrap over scenes")
            for k in ci:
                ci[k][i] = r[f"{k}_ci"].values
        for k in keys:
            res[k][i] = r[k].values
    scale_m = np.asarray(factors, dtype=float) * ctx.pixel_m
    ds = xr.Dataset(
        {
            "slope_ols": _var(("landscape", "scale"), res["slope_ols"], "K",
                              "OLS slope of LST on NDVI (K per NDVI unit)"),
            "slope_ols_ci": _var(("landscape", "scale", "bound"), ci["slope_ols"], "K",
                                 "95 % interval of slope_ols"),
            "slope_tls": _var(("landscape", "scale"), res["slope_tls"], "K",
                              "total-least-squares slope of LST on NDVI"),
            "slope_tls_ci": _var(("landscape", "scale", "bound"), ci["slope_tls"], "K",
                                 "95 % interval of slope_tls"),
            "corr": _var(("landscape", "scale"), res["corr"], "1", "LST-NDVI correlation"),
            "corr_ci": _var(("landscape", "scale", "bound"), ci["corr"], "1",
                            "95 % interval of corr"),
            "n": _var(("landscape", "scale"), res["n"], "1", "block means used"),
            "interval_method": (("landscape",), np.asarray(how, dtype=str)),
        },
        coords={"landscape": ctx.landscapes,
                "scale": ("scale", np.asarray(factors), {"units": "px",
                                                         "long_name": "aggregation factor"}),
                "scale_m": ("scale", scale_m, {"units": "m", "long_name": "block size"}),
                "bound": ["lower", "upper"]},
    )
    tr = [s for s in ctx.scenes if s.truth]
    if tr:
        tf = np.asarray(tr[0].truth["lst_ndvi_slope_factors"], dtype=float)
        vals = np.full((len(ctx.landscapes), tf.size), np.nan)
        for i, name in enumerate(ctx.landscapes):
            t = [s.truth for s in tr if s.landscape == name]
            if t:
                vals[i] = np.asarray(t[0]["lst_ndvi_slope"], dtype=float)
        ds = ds.assign_coords(truth_scale_m=("truth_scale", tf * ctx.settings.gen_px,
                                             {"units": "m", "long_name": "block size"}))
        ds["slope_truth"] = _var(("landscape", "truth_scale"), vals, "K",
                                 "expected OLS slope of the synthetic model")
    return [_write(ds, out / "lst_ndvi.nc", "LST-NDVI relation across scales", ctx)]
