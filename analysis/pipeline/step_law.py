"""Step ``law``: the correction law fitted on the high-resolution scenes (``law.nc``)."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from analysis.pipeline.context import Context
from analysis.pipeline.settings import Q
from scalelaws.io.atomic import atomic_path, atomic_write_text

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------
# step: correction law
# ----------------------------------------------------------------------------------------------
def step_law(ctx: Context, out: Path, progress: bool) -> list[Path]:
    """Fit the correction law on the high-resolution scenes and save it with a summary."""
    from scalelaws.grids import pixel_size
    from scalelaws.laws import CorrectionLaw

    st = ctx.settings
    lst = [s[0] for s in ctx.law_scenes]
    ndvi = [s[1] for s in ctx.law_scenes]
    classes = [s[2] for s in ctx.law_scenes]
    px = pixel_size(lst[0])
    short = min(min(a.shape) for a in lst)
    hi = min(8000.0, (short // 3) * px)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        law = CorrectionLaw.fit(lst, ndvi=ndvi, classes=classes, q=Q, scales_m=(px, hi),
                                n_boot=st.n_boot, rng=ctx.seed + 41, block_px=64,
                                include_all=True)
    law.ds.attrs["fitted_on"] = ("synthetic landscapes at 62.5 m (seeds disjoint from the test "
                                 "and training scenes)" if ctx.source == "synthetic" else
                                 "ASTER LST of the law half of the MODIS-ASTER pairs")
    path = out / "law.nc"
    with atomic_path(path) as tmp:
        law.ds.to_netcdf(tmp, engine="h5netcdf")
    atomic_write_text(out / "law_summary.txt", law.summary() + "\n")
    return [path, out / "law_summary.txt"]
