"""Step ``overview``: fine reference LST, NDVI and 1 km LST of a few scenes (``overview.nc``)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import xarray as xr

from analysis.pipeline.context import Context
from analysis.pipeline.writing import _var, _write

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------
# step: overview
# ----------------------------------------------------------------------------------------------
def _pad(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    out = np.full(shape, np.nan, dtype=np.float32)
    out[: a.shape[0], : a.shape[1]] = a
    return out


def step_overview(ctx: Context, out: Path, progress: bool) -> list[Path]:
    """Overview fields of a few scenes (one per landscape for synthetic, three pairs for real)."""
    from scalelaws.grids import pixel_size

    if ctx.source == "synthetic":
        picks, seen = [], set()
        for s in ctx.scenes:
            if s.landscape not in seen:
                seen.add(s.landscape)
                picks.append(s)
    else:
        picks = ctx.scenes[:3]
    fine = [np.asarray(s.pair.aster_250m.values) for s in picks]
    nd = [np.asarray(s.pair.ndvi_250m.values) for s in picks]
    co = [np.asarray(s.pair.lst_1km.values) for s in picks]
    shp = {k: (max(a.shape[0] for a in v), max(a.shape[1] for a in v))
           for k, v in (("f", fine), ("n", nd), ("c", co))}
    names = ("250 m truth LST", "250 m NDVI", "1 km LST") if ctx.source == "synthetic" else (
        "ASTER LST (~250 m)", "MODIS NDVI (250 m)", "MODIS LST (1 km)")
    ds = xr.Dataset(
        {
            "lst_fine": _var(("panel", "yf", "xf"), np.stack([_pad(a, shp["f"]) for a in fine]),
                             "K", names[0]),
            "ndvi": _var(("panel", "yn", "xn"), np.stack([_pad(a, shp["n"]) for a in nd]),
                         "1", names[1]),
            "lst_coarse": _var(("panel", "yc", "xc"), np.stack([_pad(a, shp["c"]) for a in co]),
                               "K", names[2]),
            "px_fine": _var(("panel",), [pixel_size(s.pair.aster_250m) for s in picks], "m",
                            "pixel size of lst_fine"),
            "px_ndvi": _var(("panel",), [pixel_size(s.pair.ndvi_250m) for s in picks], "m",
                            "pixel size of ndvi"),
            "px_coarse": _var(("panel",), [pixel_size(s.pair.lst_1km) for s in picks], "m",
                              "pixel size of lst_coarse"),
        },
        coords={"panel": [s.name for s in picks],
                "landscape": ("panel", [s.landscape for s in picks])},
        attrs={"fine_name": names[0], "ndvi_name": names[1], "coarse_name": names[2]},
    )
    return [_write(ds, out / "overview.nc", "overview of the fields", ctx)]
