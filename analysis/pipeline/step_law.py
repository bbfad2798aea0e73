"""Step ``law``: correction laws fitted on high-resolution evidence.

* demo (:func:`step_law`): one law from the context's law scenes (``law.nc``);
* benchmark (:func:`step_fold_laws`): one law per fold from the registered ASTER of the pairs
  outside the fold (:func:`fit_aster_law`, ``laws/law_aster_fold<k>.nc``) and one from the
  synthetic landscapes (``laws/law_synthetic.nc``), as the settings' law variants need.

Both register ASTER with :func:`analysis.pipeline.context.registered_scene`.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

from analysis.pipeline.context import Context, registered_scene
from analysis.pipeline.settings import SR_METHODS, Q
from scalelaws.errors import InputError
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


# ----------------------------------------------------------------------------------------------
# benchmark: one law per fold (ASTER of the other folds) and the synthetic law
# ----------------------------------------------------------------------------------------------
def fit_aster_law(ids: Sequence[int], path: str | Path, *, root: str | Path | None = None,
                  n_boot: int = 50, seed: int = 0,
                  offset: tuple[float, float] | str | None = "estimate"):
    """Fit a correction law on the ASTER LST of the given pairs (never the evaluated ones).

    The law is a handful of statistics per scale (structure functions, detail energies,
    LST-NDVI slope; :class:`scalelaws.laws.CorrectionLaw`), landscapes from the MODIS NDVI
    re-projected bilinearly onto each ASTER grid. Written to ``path``.

    ``offset``: the MODIS-ASTER co-registration applied to ASTER before the NDVI is placed on it
    (:func:`analysis.evaluate.registered_aster`): ``"estimate"`` (default) estimates it on
    **these pairs only** (:func:`analysis.evaluate.estimate_offset`), a ``(dx_m, dy_m)`` tuple
    is used as given, ``None`` fits on ASTER as distributed (about 0.75 of a 250 m pixel off,
    which weakens the fine-scale LST-NDVI relation).
    """
    from analysis.evaluate import estimate_offset, offset_correlation
    from scalelaws.io import open_modis_aster_pair
    from scalelaws.laws import CorrectionLaw

    pairs = [open_modis_aster_pair(int(pid), root) for pid in ids]
    if isinstance(offset, str):
        if offset != "estimate":
            raise InputError(f"offset must be 'estimate', None or (dx_m, dy_m), got {offset!r}")
        offset = estimate_offset(offset_correlation(pairs)) if len(pairs) > 1 else None
    lst, ndvi = [], []
    for pair in pairs:
        aster, nd = registered_scene(pair, offset)
        lst.append(aster)
        ndvi.append(nd)
    law = CorrectionLaw.fit(
        lst, ndvi=ndvi, classes="ndvi", q=(1, 2), n_boot=n_boot, rng=seed,
        sources=[f"modis_aster pair {int(p)} aster_lst_250m.tif" for p in ids])
    law.to_netcdf(path)
    return law



def step_fold_laws(ctx: Context, out: Path, progress: bool) -> list[Path]:
    """Fit the laws the benchmark's SR methods need (``ctx.laws``: ``aster<k>``, ``synthetic``).

    The law of fold ``k`` comes from the ASTER LST of the pairs outside fold ``k`` only.
    """
    st = ctx.settings
    root = ctx.data_root
    (out / "laws").mkdir(exist_ok=True)
    need = {SR_METHODS[m][1] for m in ctx.options["sr_methods"]}
    paths = []
    if "aster" in need:
        for k in range(len(ctx.folds)):
            path = out / "laws" / f"law_aster_fold{k}.nc"
            t1 = time.perf_counter()
            fit_aster_law(ctx.train_ids(k), path, root=root, n_boot=st.law_n_boot, seed=ctx.seed)
            ctx.timings[f"law_aster_fold{k}"] = time.perf_counter() - t1
            ctx.laws[f"aster{k}"] = path
            paths.append(path)
    if "synthetic" in need:
        from sr.train import _fit_law

        t1 = time.perf_counter()
        path = out / "laws" / "law_synthetic.nc"
        _fit_law(dict(st.synthetic_law)).to_netcdf(path)
        ctx.timings["law_synthetic"] = time.perf_counter() - t1
        ctx.laws["synthetic"] = path
        paths.append(path)
    return paths
