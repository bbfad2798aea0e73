"""Writing the demo workflow's result files (NetCDF with CF attributes) and small helpers."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from analysis.pipeline.context import Context
from scalelaws.core.estimate import percentile_interval
from scalelaws.io.atomic import atomic_path

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------
# writing
# ----------------------------------------------------------------------------------------------
def _clean_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in attrs.items():
        if v is None:
            continue
        if isinstance(v, (bool, np.bool_)):
            out[k] = int(v)
        elif isinstance(v, (dict, tuple)) or (isinstance(v, list) and v and
                                              not all(isinstance(e, (int, float)) for e in v)):
            out[k] = json.dumps(v, default=str)
        elif isinstance(v, list) and not v:
            continue
        else:
            out[k] = v
    return out


def _write(ds: xr.Dataset, path: Path, title: str, ctx: Context) -> Path:
    """Write a result Dataset with CF global attributes (h5netcdf)."""
    ds = ds.copy()
    for name in list(ds.variables):
        ds[name].attrs = _clean_attrs(dict(ds[name].attrs))
        ds[name].encoding = {}
        if ds[name].dtype == bool:
            ds[name] = ds[name].astype(np.int8)
        if ds[name].dtype.kind in "OU" and name not in ds.dims:
            ds[name] = ds[name].astype(str)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    attrs = _clean_attrs(dict(ds.attrs))
    attrs.update(title=title, Conventions="CF-1.8",
                 history=f"{now} analysis.pipeline (scalelaws)",
                 source=("synthetic landscapes (scalelaws.synthetic.landscape)"
                         if ctx.source == "synthetic" else f"MODIS-ASTER pairs at {ctx.data_root}"),
                 data_source=ctx.source, seed=int(ctx.seed), smoke=int(ctx.settings.smoke))
    ds.attrs = attrs
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="h5netcdf")
    log.info("wrote %s", path)
    return path


def _var(dims: Sequence[str], values: Any, units: str, long_name: str) -> tuple:
    return (tuple(dims), np.asarray(values), {"units": units, "long_name": long_name})


def _pct(a: np.ndarray, level: float = 0.95, axis: int = 0) -> np.ndarray:
    """Percentile interval along ``axis``, bound last; NaN where fewer than 2 finite values."""
    return percentile_interval(a, level, axis=axis, min_finite=2)


def _masked(da: xr.DataArray, mask: xr.DataArray) -> xr.DataArray:
    return da.where(mask.values)
