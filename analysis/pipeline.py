"""The main job: every result file the paper figures and the report read.

:func:`compute_results` runs the whole story in steps and writes one result file (or a few)
per step into a results folder. Every figure of :mod:`paper_figures` reads only these files.

Two sources of data:

* **synthetic** (default, offline): the embedded landscapes of
  :func:`scalelaws.synthetic.landscape` (cropland, forest, urban, mixed) are generated at
  62.5 m; the "250 m truth" is their degradation by 4 and the "1 km observation" by 16, with
  the project's single degradation operator :func:`scalelaws.grids.degrade`. The landscape of
  a scene is its kind. Scenes are drawn with disjoint seeds for the SR training set
  (``seed + i``), the correction law (``seed + 500 + i``, at 62.5 m) and the reference / test
  set (``seed + 1000 + i``).
* **real** (``data=PATH``): the shared MODIS-ASTER pairs. The ASTER-vs-MODIS displacement is
  estimated from the 1 km correlation (:func:`analysis.evaluate.estimate_offset`); ASTER is
  put back on the MODIS geolocation and the 250 m NDVI is re-projected onto it (bilinear), and
  landscapes are the NDVI classes of :func:`scalelaws.landscapes.classify_ndvi` per pixel (plus
  ``all``). The pairs are split in two halves (seeded): the correction law is fitted on the
  ASTER fields of the first half, the SR methods are evaluated on the second half only, and
  the networks are trained on the MODIS 1 km crops of ``modis_lst_2020`` (never on ASTER).

Steps and their files (all NetCDF written with ``engine="h5netcdf"``, variables with ``units``
and ``long_name``; tables as CSV):

=============  ===========================================================================
``overview``   ``overview.nc``: fine reference LST, NDVI, 1 km LST of a few scenes
``sf``         ``sf_lst.nc``, ``sf_ndvi.nc``: structure functions and local slopes per landscape
``exponents``  ``exponents.nc``, ``exponents.csv``: zeta(q), H, c1, c2, beta, break
``lst_ndvi``   ``lst_ndvi.nc``: LST-NDVI slope and correlation across scales
``law``        ``law.nc``, ``law_summary.txt``: the correction law
``invariance`` ``invariance.nc``, ``invariance.csv``: the 4 km -> 1 km band against 1 km -> 250 m
``sr``         ``sr_maps.nc``, ``metrics.nc``, ``metrics.csv``, ``metrics_summary.csv``,
               ``metrics_per_pair.csv``, ``metrics.md``, ``sr_spectra.nc``; checkpoints under
               ``sr_runs/<mode>/``
``polar``      ``polar.nc``: direction-dependent structure-function maps
=============  ===========================================================================
"""

from __future__ import annotations

import json
import logging
import math
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm

from scalelaws.core.estimate import ols_slope, percentile_interval, pooled_ratio
from scalelaws.errors import InputError
from scalelaws.io.atomic import atomic_path, atomic_write_text
from scalelaws.synthetic import LANDSCAPES

log = logging.getLogger(__name__)

__all__ = [
    "FILES",
    "STEPS",
    "Settings",
    "compute_results",
    "missing_steps",
    "settings_for",
]

#: Result files of each step, in the order the steps run.
FILES: dict[str, tuple[str, ...]] = {
    "overview": ("overview.nc",),
    "sf": ("sf_lst.nc", "sf_ndvi.nc"),
    "exponents": ("exponents.nc", "exponents.csv"),
    "lst_ndvi": ("lst_ndvi.nc",),
    "law": ("law.nc", "law_summary.txt"),
    "invariance": ("invariance.nc", "invariance.csv"),
    "sr": ("sr_maps.nc", "metrics.nc", "metrics.csv", "sr_spectra.nc"),
    "polar": ("polar.nc",),
}
STEPS: tuple[str, ...] = tuple(FILES)

#: SR training modes (the order of the tables and figures).
SR_MODES: tuple[str, ...] = ("sisr_invariant", "sisr_corrected", "disr", "disr_corrected")
#: Statistical baselines (names of :data:`analysis.baselines.BASELINES`).
BASELINE_METHODS: tuple[str, ...] = ("bicubic", "tsharp", "dms")
KINDS: tuple[str, ...] = tuple(LANDSCAPES)  # the synthetic landscape registry
Q: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0)
#: Parent levels (block of 2**level reference pixels) of the two bands of the invariance test:
#: refining 16 px -> 4 px ("4 km -> 1 km") and 4 px -> 1 px ("1 km -> 250 m").
COARSE_LEVELS, FINE_LEVELS = (4, 3), (2, 1)
#: Minimum pooled pairs for a structure function / detail energy (the same value as the
#: ``min_pairs=100`` default of :meth:`scalelaws.laws.CorrectionLaw.fit` and
#: :func:`scalelaws.landscapes.exponents_by_landscape`; pooling is
#: :func:`scalelaws.core.estimate.pooled_ratio`).
MIN_PAIRS = 100


@dataclass(frozen=True)
class Settings:
    """Sizes of the job (see :func:`settings_for`)."""

    smoke: bool = False
    gen_px: float = 62.5
    gen_shape: int = 1024
    n_ref: int = 1
    n_train: int = 2
    law_shape: int = 1024
    n_law: int = 1
    n_boot: int = 100
    fit_boot: int = 100
    calibrate: bool = True
    n_calib: int = 6
    steps: int = 150
    patch: int = 8
    batch_size: int = 16
    unet: dict[str, int] = field(default_factory=lambda: {"base": 16, "depth": 2})
    map_max_lag: int = 16
    eval_boot: int = 1000
    n_pairs: int | None = None
    n_modis: int = 160
    dms_estimators: int = 20


def settings_for(smoke: bool) -> Settings:
    """Return the job sizes: the full demo (about 3 minutes on 2 cores, 159 s measured) or a smoke run (< 60 s)."""
    if not smoke:
        return Settings()
    return Settings(
        smoke=True, gen_shape=256, n_ref=1, n_train=1, law_shape=512, n_law=1, n_boot=20,
        fit_boot=20, calibrate=False, n_calib=0, steps=3, patch=4, batch_size=8,
        unet={"base": 8, "depth": 2}, map_max_lag=6, eval_boot=50, n_pairs=4, n_modis=8,
        dms_estimators=5,
    )


# ----------------------------------------------------------------------------------------------
# scenes
# ----------------------------------------------------------------------------------------------
@dataclass
class ScenePair:
    """A pair in the layout :func:`analysis.evaluate.evaluate` scores (a synthetic stand-in).

    ``aster_250m`` holds the independent fine reference: the synthetic 250 m truth.
    """

    id: int
    lst_1km: xr.DataArray
    ndvi_250m: xr.DataArray
    aster_250m: xr.DataArray
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class RefScene:
    """One reference scene: fine LST and NDVI on the same grid, landscape masks, the pair."""

    name: str
    landscape: str
    lst: xr.DataArray
    ndvi: xr.DataArray
    masks: dict[str, xr.DataArray]
    pair: Any
    truth: dict[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    """Everything the steps share: settings, scenes, landscapes, provenance."""

    settings: Settings
    source: str
    seed: int
    scenes: list[RefScene]
    landscapes: list[str]
    include_all: bool
    law_scenes: list[tuple[xr.DataArray, xr.DataArray, Any]]
    offset: tuple[float, float]
    offset_source: str
    sr_data: dict[str, Any]
    data_root: Path | None = None

    @property
    def pixel_m(self) -> float:
        """Pixel size (m) of the reference fields."""
        from scalelaws.grids import pixel_size

        return float(pixel_size(self.scenes[0].lst))

    @property
    def short(self) -> int:
        """Smallest side (pixels) of the reference fields."""
        return min(min(s.lst.shape) for s in self.scenes)


def _synthetic_context(st: Settings, seed: int) -> Context:
    from scalelaws.grids import degrade
    from scalelaws.synthetic import landscape

    scenes = []
    for kind in KINDS:
        for i in range(st.n_ref):
            s = seed + 1000 + i
            ds = landscape(kind, shape=(st.gen_shape, st.gen_shape), pixel_size=st.gen_px, seed=s)
            lst = degrade(ds["lst"], 4)
            ndvi = degrade(ds["ndvi"], 4)
            lst_1km = degrade(ds["lst"], 16)
            for da, src in ((lst, "250 m truth"), (ndvi, "250 m NDVI"), (lst_1km, "1 km")):
                da.attrs["source"] = f"synthetic {kind} seed {s} ({src})"
            pair = ScenePair(id=len(scenes), lst_1km=lst_1km, ndvi_250m=ndvi, aster_250m=lst,
                             meta={"landscape": kind, "seed": s})
            truth = {k: ds.attrs[k] for k in ("H_fine", "H_coarse", "break_m",
                                               "lst_ndvi_slope_factors", "lst_ndvi_slope")}
            scenes.append(RefScene(name=f"{kind}-{s}", landscape=kind, lst=lst, ndvi=ndvi,
                                   masks={kind: lst.notnull()}, pair=pair, truth=truth))
    law_scenes = []
    for kind in KINDS:
        for i in range(st.n_law):
            s = seed + 500 + i
            ds = landscape(kind, shape=(st.law_shape, st.law_shape), pixel_size=st.gen_px, seed=s)
            ds["lst"].attrs["source"] = f"synthetic {kind} seed {s} (62.5 m)"
            law_scenes.append((ds["lst"], ds["ndvi"], {kind: ds["lst"].notnull()}))
    sr_data = {
        "source": "synthetic",
        "options": {"kinds": list(KINDS), "n_per_kind": st.n_train,
                    "shape": [st.gen_shape, st.gen_shape], "pixel_size": st.gen_px,
                    "obs_factor": 16, "seed": seed},
    }
    return Context(settings=st, source="synthetic", seed=seed, scenes=scenes,
                   landscapes=list(KINDS), include_all=False, law_scenes=law_scenes,
                   offset=(0.0, 0.0), offset_source="none (synthetic: same grid)",
                   sr_data=sr_data)


def _resolve_data(path: Path) -> tuple[Path, Path | None]:
    """Return ``(pairs folder, modis_lst_2020 folder or None)`` from a data root or pairs folder."""
    path = Path(path)
    if (path / "modis_aster" / "pairs").is_dir():
        pairs = path / "modis_aster" / "pairs"
        modis = path / "modis_lst_2020"
    elif (path / "pairs").is_dir():
        pairs = path / "pairs"
        modis = path.parent / "modis_lst_2020"
    elif (path / "split.json").is_file() or any(path.glob("*/aster_lst_250m.tif")):
        pairs = path
        modis = path.parent.parent / "modis_lst_2020"
    else:
        raise InputError("no MODIS-ASTER pairs found (expected modis_aster/pairs/ inside)", path)
    if not modis.is_dir():
        from scalelaws.config import data_dir

        modis = data_dir() / "modis_lst_2020"
    return pairs, modis if modis.is_dir() else None


def _real_context(st: Settings, seed: int, data: Path, progress: bool) -> Context:
    from analysis.evaluate import estimate_offset, registered_aster
    from analysis.experiment import make_folds
    from scalelaws.grids import align
    from scalelaws.io import list_modis_aster_pairs, open_modis_aster_pair
    from scalelaws.landscapes import class_masks, classify_ndvi

    root, modis = _resolve_data(data)
    # fBm calibration of fit_scaling costs ~10 s per scene: too slow for tens of pairs
    st = replace(st, calibrate=False)
    ids = list_modis_aster_pairs(root)
    if not ids:
        raise InputError("no MODIS-ASTER pair in the folder", root)
    perm = np.random.default_rng(seed).permutation(len(ids))
    if st.n_pairs is not None:
        perm = perm[: st.n_pairs]
    ids = sorted(ids[i] for i in perm)
    pairs = [open_modis_aster_pair(i, root) for i in tqdm(ids, desc="open pairs", leave=False,
                                                            disable=not progress)]
    # the benchmark's split policy (analysis.experiment.make_folds): fold 0 fits the law, fold 1
    # is scored; the scoring protocol registers ASTER with the offset of all the pairs, the law
    # with the offset of its own pairs only (nothing that feeds the law sees a scored pair)
    off = estimate_offset(pairs)
    how = f"estimated from the 1 km correlation of {len(pairs)} pairs"
    by_id = {p.id: p for p in pairs}
    if len(pairs) < 2:
        log.warning("one pair only: the law and the evaluation use the same pair")
        law_pairs, eval_pairs = pairs, pairs
    else:
        law_ids, eval_ids = make_folds(ids, 2)
        law_pairs, eval_pairs = [by_id[i] for i in law_ids], [by_id[i] for i in eval_ids]
    off_law = estimate_offset(law_pairs) if len(law_pairs) > 1 else off

    def ref(pair: Any, offset: tuple[float, float] = off) -> tuple[xr.DataArray, xr.DataArray, xr.DataArray]:
        lst = registered_aster(pair, offset)
        ndvi = align(pair.ndvi_250m, lst, resampling="bilinear")
        ndvi = ndvi.where(lst.notnull())
        labels = classify_ndvi(ndvi)
        return lst, ndvi, labels

    scenes = []
    for pair in tqdm(eval_pairs, desc="register ASTER", leave=False, disable=not progress):
        lst, ndvi, labels = ref(pair)
        masks = {k: v for k, v in class_masks(labels).items() if int(v.sum()) >= 400}
        counts = {k: int(v.sum()) for k, v in masks.items()}
        dominant = max(counts, key=counts.get) if counts else "all"
        lst.attrs.update(units="K", long_name="ASTER land surface temperature",
                         source=f"pair {pair.id} ASTER (offset-corrected)")
        scenes.append(RefScene(name=f"pair-{pair.id}", landscape=dominant, lst=lst, ndvi=ndvi,
                               masks=masks, pair=pair))
    totals: dict[str, int] = {}
    for s in scenes:
        for k, v in s.masks.items():
            totals[k] = totals.get(k, 0) + int(v.sum())
    landscapes = ["all"] + [k for k in ("water", "bare_or_urban", "grass_or_crop", "forest")
                            if totals.get(k, 0) >= 2000]
    law_scenes = []
    for pair in law_pairs:
        lst, ndvi, labels = ref(pair, off_law)
        lst.attrs.update(units="K", source=f"pair {pair.id} ASTER (law)")
        law_scenes.append((lst, ndvi, labels))
    if modis is None:
        raise InputError("no modis_lst_2020 folder: the SR networks train on MODIS crops only",
                         data)
    sr_data = {"source": "modis_lst_2020",
               "options": {"root": str(modis), "limit": st.n_modis, "which": ["day"],
                           "seed": seed}}
    return Context(settings=st, source="modis_aster", seed=seed, scenes=scenes,
                   landscapes=landscapes, include_all=True, law_scenes=law_scenes,
                   offset=off, offset_source=how, sr_data=sr_data, data_root=root)


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


# ----------------------------------------------------------------------------------------------
# step: exponents
# ----------------------------------------------------------------------------------------------
def _rect(da: xr.DataArray) -> xr.DataArray:
    """Largest rectangle of valid pixels (fit_scaling and spectra need complete fields)."""
    from analysis.metrics import largest_rectangle

    valid = np.isfinite(np.asarray(da.values))
    if valid.all():
        return da
    rows, cols = largest_rectangle(valid)
    return da.isel(y=rows, x=cols)


def _fit_scene(da: xr.DataArray, st: Settings, rng: np.random.Generator) -> xr.Dataset:
    from scalelaws.fit import fit_scaling

    da = _rect(da)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_scaling(da, q=Q, n_boot=st.fit_boot, rng=rng, calibrate=st.calibrate,
                           n_calib=max(st.n_calib, 2))


def _combine(vals: list[float], cis: list[np.ndarray], rng: np.random.Generator
             ) -> tuple[float, np.ndarray]:
    """Mean over scenes; interval: bootstrap over scenes (>= 5) or the envelope of the scenes'."""
    v = np.asarray(vals, dtype=float)
    if v.size == 0 or not np.isfinite(v).any():
        return math.nan, np.full(2, np.nan)
    if v.size == 1:
        return float(v[0]), np.asarray(cis[0], dtype=float)
    mean = float(np.nanmean(v))
    if v.size >= 5:
        idx = rng.integers(0, v.size, size=(1000, v.size))
        return mean, _pct(np.nanmean(v[idx], axis=1))
    c = np.asarray(cis, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return mean, np.array([np.nanmin(c[:, 0]), np.nanmax(c[:, 1])])


def _ci_of(f: xr.Dataset, key: str) -> np.ndarray:
    """Interval of one fit_scaling estimate (beta: +-1.96 standard errors)."""
    if key == "beta":
        b, se = float(f["beta"]), float(f["beta_se"])
        return np.array([b - 1.96 * se, b + 1.96 * se])
    name = "break_ci" if key == "break_m" else f"{key}_ci"
    return np.asarray(f[name].values, dtype=float)


def step_exponents(ctx: Context, out: Path, progress: bool) -> list[Path]:
    """Exponents per landscape: pooled zeta(q) (exponents_by_landscape) and fit_scaling extras."""
    from scalelaws.landscapes import exponents_by_landscape

    st = ctx.settings
    rng = np.random.default_rng(ctx.seed + 21)
    fields = [s.lst for s in ctx.scenes]
    masks = [{k: v for k, v in s.masks.items() if k in ctx.landscapes} for s in ctx.scenes]
    px = ctx.pixel_m
    lo, hi = 2 * px, min(_max_lag(ctx), ctx.short // 6) * px
    ebl = exponents_by_landscape(fields, masks, q=Q, scale_range=(lo, hi), n_boot=st.n_boot,
                                 max_lag=_max_lag(ctx), block_px=_block_px(ctx),
                                 include_all=ctx.include_all, rng=rng,
                                 wavelet=False, detect_break=False)  # c1/c2/break: fit_scaling below
    names = [str(v) for v in ebl["landscape"].values]
    keys = ("c1", "c2", "beta", "break_m", "H_below", "H_above")
    fits: dict[str, list[xr.Dataset]] = {n: [] for n in names}
    bar = tqdm(ctx.scenes, desc="fit_scaling", leave=False, disable=not progress)
    for s in bar:
        f = _fit_scene(s.lst, st, rng)
        for n in names:
            if n == s.landscape or (n == "all" and ctx.include_all):
                fits[n].append(f)
    extra = {k: np.full(len(names), np.nan) for k in keys}
    extra_ci = {k: np.full((len(names), 2), np.nan) for k in keys}
    n_fit = np.zeros(len(names), dtype=int)
    for i, n in enumerate(names):
        fl = fits[n]
        n_fit[i] = len(fl)
        for k in keys:
            vals = [float(f[k]) for f in fl]
            cis = [_ci_of(f, k) for f in fl]
            extra[k][i], extra_ci[k][i] = _combine(vals, cis, rng)
    truth_fine = np.full(len(names), np.nan)
    truth_coarse = np.full(len(names), np.nan)
    truth_break = np.full(len(names), np.nan)
    for i, n in enumerate(names):
        tr = [s.truth for s in ctx.scenes if s.landscape == n and s.truth]
        if tr:
            truth_fine[i], truth_coarse[i] = tr[0]["H_fine"], tr[0]["H_coarse"]
            truth_break[i] = tr[0]["break_m"]
    ds = xr.Dataset(
        {
            "zeta": _var(("landscape", "q"), ebl["zeta"].values, "1",
                         "scaling exponent zeta(q) (pooled over scenes)"),
            "zeta_ci": _var(("landscape", "q", "bound"), ebl["zeta_ci"].values, "1",
                            "95 % bootstrap interval of zeta"),
            "H": _var(("landscape",), ebl["H"].values, "1", "Hurst exponent zeta(2)/2"),
            "H_ci": _var(("landscape", "bound"), ebl["H_ci"].values, "1",
                         "95 % bootstrap interval of H"),
            "n_pixels": _var(("landscape",), ebl["n_pixels"].values, "1", "valid pixels"),
            "n_fit_scenes": _var(("landscape",), n_fit, "1",
                                 "scenes of this (dominant) landscape in fit_scaling"),
            "H_fine_truth": _var(("landscape",), truth_fine, "1",
                                 "documented H of the synthetic model, 250-500 m"),
            "H_coarse_truth": _var(("landscape",), truth_coarse, "1",
                                   "documented H of the synthetic model, 4-8 km"),
            "break_truth": _var(("landscape",), truth_break, "m",
                                "documented break scale of the synthetic model"),
        },
        coords={"landscape": names, "q": ("q", np.asarray(Q), {"units": "1"}),
                "bound": ["lower", "upper"]},
        attrs={"scale_range_m": [float(lo), float(hi)], "n_boot": int(st.n_boot),
               "bootstrap_unit": str(ebl.attrs.get("bootstrap_unit", "")),
               "fit_scaling": "c1, c2 (wavelet-leader log-cumulants), beta (spectral slope), "
                              "break of S2 and H below/above it from scalelaws.fit.fit_scaling "
                              "on each scene's largest valid rectangle; several scenes: mean, "
                              "interval by bootstrap over scenes (>= 5) or envelope of the "
                              "scenes' intervals; beta interval +-1.96 beta_se",
               "calibrated": int(st.calibrate)},
    )
    units = {"c1": "1", "c2": "1", "beta": "1", "break_m": "m", "H_below": "1", "H_above": "1"}
    longs = {"c1": "first log-cumulant of wavelet leaders",
             "c2": "second log-cumulant of wavelet leaders (intermittency)",
             "beta": "spectral slope", "break_m": "break scale of S2",
             "H_below": "zeta(2)/2 below the break", "H_above": "zeta(2)/2 above the break"}
    for k in keys:
        ds[k] = _var(("landscape",), extra[k], units[k], longs[k])
        ds[f"{k}_ci"] = _var(("landscape", "bound"), extra_ci[k], units[k],
                             f"95 % interval of {k}")
    paths = [_write(ds, out / "exponents.nc", "scaling exponents per landscape", ctx)]
    rows = []
    for i, n in enumerate(names):
        row: dict[str, Any] = {"landscape": n, "n_pixels": int(ds["n_pixels"][i])}
        for j, qv in enumerate(Q):
            row[f"zeta{qv:g}"] = float(ds["zeta"][i, j])
            row[f"zeta{qv:g}_lo"], row[f"zeta{qv:g}_hi"] = (float(v) for v in ds["zeta_ci"][i, j])
        for k in ("H", *keys):
            row[k] = float(ds[k][i])
            row[f"{k}_lo"], row[f"{k}_hi"] = (float(v) for v in ds[f"{k}_ci"][i])
        rows.append(row)
    with atomic_path(out / "exponents.csv") as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False, float_format="%.5g")
    paths.append(out / "exponents.csv")
    return paths


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
# step: scale-invariance test
# ----------------------------------------------------------------------------------------------
def step_invariance(ctx: Context, out: Path, progress: bool) -> list[Path]:
    """Test scale invariance: the 4 km -> 1 km band against the 1 km -> 250 m band."""
    from scalelaws.laws import load_law

    law = load_law(out / "law.nc")
    st = sf_stats(ctx, "lst", np.random.default_rng(ctx.seed + 51))
    px = st.pixel_m
    i2 = int(np.flatnonzero(np.isclose(st.q, 2.0))[0])
    fine_sel = (st.lag >= 1) & (st.lag <= 4)
    coarse_sel = (st.lag >= 4) & (st.lag <= 16)
    x = np.log(st.lag_m)
    logS = np.log(st.S[:, i2])
    logSb = np.log(st.Sb[:, :, i2])
    H = {}
    for band, sel in (("fine", fine_sel), ("coarse", coarse_sel)):
        H[band] = ols_slope(x[sel], logS[:, sel], propagate_nan=True)[0] / 2
        H[band + "_ci"] = _pct(ols_slope(x[sel], logSb[..., sel], propagate_nan=True)[0] / 2)
    lev = {int(round(math.log2(b / px))): j for j, b in enumerate(st.block_m)}
    jc = [lev[v] for v in COARSE_LEVELS]
    jf = [lev[v] for v in FINE_LEVELS]

    def ratios(D: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        meas = D[..., jf].sum(-1) / D[..., jc].sum(-1)
        beta = np.log2(D[..., jc[0]] / D[..., jc[1]])  # coarse-band exponent of D
        pf = 2.0 ** np.asarray(FINE_LEVELS, dtype=float)
        pc = 2.0 ** np.asarray(COARSE_LEVELS, dtype=float)
        inv = (pf[None, :] ** beta.reshape(-1, 1)).sum(-1) / (pc[None, :] ** beta.reshape(-1, 1)).sum(-1)
        return meas, inv.reshape(beta.shape)

    meas, inv = ratios(st.D)
    meas_b, inv_b = ratios(st.Db)
    L = len(st.names)
    law_ratio = np.full(L, np.nan)
    law_ratio_ci = np.full((L, 2), np.nan)
    lagf = st.lag[fine_sel]
    S2_law = np.full((L, lagf.size), np.nan)
    S2_law_ci = np.full((L, lagf.size, 2), np.nan)
    S2_inv = np.full((L, lagf.size), np.nan)
    cb = (2.0 ** COARSE_LEVELS[0] * px, 2.0 ** FINE_LEVELS[0] * px)
    fb = (2.0 ** FINE_LEVELS[0] * px, px)
    for i, name in enumerate(st.names):
        if name not in law.landscapes:
            log.warning("landscape %s is not in the law: no law prediction", name)
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            r = law.detail_energy_ratio(cb, fb, landscape=name)
            law_ratio[i], law_ratio_ci[i] = r["law"], r["law_ci"]
            sfc = xr.Dataset({"S": (("q", "lag"), st.S[i][:, coarse_sel])},
                             coords={"q": st.q, "lag": st.lag[coarse_sel],
                                     "lag_m": ("lag", st.lag_m[coarse_sel])})
            p = law.predict_sf(sfc, st.lag_m[fine_sel], landscape=name)
        k = int(np.flatnonzero(np.isclose(p["q"].values, 2.0))[0])
        S2_law[i], S2_law_ci[i] = p["S"].values[k], p["S_ci"].values[k]
        S2_inv[i] = p["S_invariant"].values[k]
    ds = xr.Dataset(
        {
            "H_fine": _var(("landscape",), H["fine"], "1",
                           "zeta(2)/2 over the 1 km -> 250 m band (lags 1-4 px)"),
            "H_fine_ci": _var(("landscape", "bound"), H["fine_ci"], "1", "95 % interval"),
            "H_coarse": _var(("landscape",), H["coarse"], "1",
                             "zeta(2)/2 over the 4 km -> 1 km band (lags 4-16 px)"),
            "H_coarse_ci": _var(("landscape", "bound"), H["coarse_ci"], "1", "95 % interval"),
            "detail_ratio": _var(("landscape",), meas, "1",
                                 "measured detail energy of the fine band / coarse band"),
            "detail_ratio_ci": _var(("landscape", "bound"), _pct(meas_b), "1", "95 % interval"),
            "detail_ratio_invariant": _var(("landscape",), inv, "1",
                                           "fine / coarse detail energy assumed by scale "
                                           "invariance (coarse-band exponent extrapolated)"),
            "detail_ratio_invariant_ci": _var(("landscape", "bound"), _pct(inv_b), "1",
                                              "95 % interval"),
            "detail_ratio_law": _var(("landscape",), law_ratio, "1",
                                     "fine / coarse detail energy predicted by the law"),
            "detail_ratio_law_ci": _var(("landscape", "bound"), law_ratio_ci, "1",
                                        "95 % interval (law bootstrap)"),
            "S2_measured": _var(("landscape", "lag_fine"), st.S[:, i2][:, fine_sel], "K^2",
                                "measured S2 at the fine-band lags"),
            "S2_measured_ci": _var(("landscape", "lag_fine", "bound"),
                                   _pct(st.Sb[:, :, i2][..., fine_sel]), "K^2", "95 % interval"),
            "S2_law": _var(("landscape", "lag_fine"), S2_law, "K^2",
                           "S2 predicted by the law from the coarse band"),
            "S2_law_ci": _var(("landscape", "lag_fine", "bound"), S2_law_ci, "K^2",
                              "95 % interval (law bootstrap)"),
            "S2_invariant": _var(("landscape", "lag_fine"), S2_inv, "K^2",
                                 "S2 extrapolated from the coarse band by scale invariance"),
        },
        coords={"landscape": st.names, "bound": ["lower", "upper"],
                "lag_fine": ("lag_fine", lagf, {"units": "px"}),
                "lag_fine_m": ("lag_fine", lagf * px, {"units": "m", "long_name": "lag"})},
        attrs={"pixel_size_m": px, "coarse_band_m": list(cb), "fine_band_m": list(fb),
               "bootstrap_unit": st.unit},
    )
    paths = [_write(ds, out / "invariance.nc", "scale-invariance test", ctx)]
    rows = []
    for i, n in enumerate(st.names):
        rows.append({
            "landscape": n,
            "H_coarse_band": float(H["coarse"][i]), "H_fine_band": float(H["fine"][i]),
            "detail_ratio_measured": float(meas[i]),
            "detail_ratio_invariant": float(inv[i]), "detail_ratio_law": float(law_ratio[i]),
        })
    with atomic_path(out / "invariance.csv") as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False, float_format="%.5g")
    paths.append(out / "invariance.csv")
    return paths


# ----------------------------------------------------------------------------------------------
# step: SR (training, prediction, metrics, maps, spectra)
# ----------------------------------------------------------------------------------------------
def _train_models(ctx: Context, out: Path, progress: bool) -> dict[str, Path]:
    try:
        from sr import mode_spec
        from sr.train import SRConfig, quiet_lightning, sr_config, train
    except ImportError as exc:  # torch missing
        raise InputError(f"the SR step needs the 'sr' package and torch ({exc})") from exc
    quiet_lightning()
    st = ctx.settings
    ckpts = {}
    for mode in tqdm(SR_MODES, desc="train SR", leave=False, disable=not progress):
        # SISR crops the 4 km level (few pixels): overlapping crops; DISR: a regular grid;
        # the same number of optimiser steps for every mode (their patch counts differ)
        data = {"source": ctx.sr_data["source"], "factor": 4, "patch": st.patch,
                "stride": max(1, st.patch // 4) if not mode_spec(mode).guided else None,
                "batch_size": st.batch_size, "options": dict(ctx.sr_data["options"])}
        cfg = SRConfig.from_dict(sr_config(mode, out / "sr_runs" / mode, data, unet=st.unet,
                                           steps=st.steps, seed=ctx.seed, law=out / "law.nc",
                                           limit_val_batches=4))
        t0 = time.perf_counter()
        ckpts[mode] = Path(train(cfg))
        log.info("trained %s in %.1f s", mode, time.perf_counter() - t0)
    return ckpts


def _display_scene(ctx: Context) -> RefScene:
    if ctx.source == "synthetic":
        for s in ctx.scenes:
            if s.landscape == "mixed":
                return s
    return ctx.scenes[0]


def _spectra(preds: dict[int, dict[str, xr.DataArray]], ctx: Context, methods: list[str]
             ) -> xr.Dataset:
    """Mean S2 and power spectra of every method and of the reference over the test scenes."""
    from analysis.evaluate import reproject_to_aster
    from analysis.metrics import largest_rectangle
    from scalelaws.stats.spectra import power_spectrum
    from scalelaws.stats.structure import structure_function

    names = ["reference", *methods]
    by_id = {int(s.pair.id): s for s in ctx.scenes}
    crops = []
    for pid, pm in preds.items():
        ref = by_id[pid].pair.aster_250m
        reps = {m: reproject_to_aster(pm[m], by_id[pid].pair, offset=ctx.offset) for m in methods}
        valid = np.isfinite(ref.values)
        for r in reps.values():
            valid &= np.isfinite(r.values)
        rows, cols = largest_rectangle(valid)
        if rows.stop - rows.start < 16 or cols.stop - cols.start < 16:
            continue
        crop = {"reference": ref.isel(y=rows, x=cols)}
        for m, r in reps.items():
            crop[m] = r.isel(y=rows, x=cols).assign_attrs(units="K")
        crops.append(crop)
    if not crops:
        raise InputError("no test scene has a 16 x 16 px common valid rectangle for spectra")
    short = min(min(c["reference"].shape) for c in crops)
    from scalelaws.stats.structure import default_lags

    lags = default_lags(max(2, short // 3))
    kmin = 1.0 / (short * ctx.pixel_m)
    kgrid = np.geomspace(kmin, 0.5 / ctx.pixel_m, 4 * int(max(2, math.log2(short))))
    logS = np.full((len(crops), len(names), lags.size), np.nan)
    logP = np.full((len(crops), len(names), kgrid.size), np.nan)
    for c, crop in enumerate(crops):
        for j, m in enumerate(names):
            da = crop[m]
            sf = structure_function(da, q=(2,), lags=lags)
            logS[c, j] = np.log(sf["S"].values[0])
            ps = power_spectrum(da)
            k = ps["k"].values
            p = ps["P"].values
            ok = np.isfinite(p) & (p > 0)
            logP[c, j] = np.interp(np.log(kgrid), np.log(k[ok]), np.log(p[ok]),
                                   left=np.nan, right=np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        S = np.exp(np.nanmean(logS, 0))
        P = np.exp(np.nanmean(logP, 0))
    return xr.Dataset(
        {
            "S2": _var(("method", "lag"), S, "K^2",
                       "second-order structure function (geometric mean over test scenes)"),
            "P": _var(("method", "k"), P, "K^2 m^2",
                      "radially averaged power spectrum (geometric mean over test scenes)"),
        },
        coords={"method": names,
                "lag": ("lag", lags, {"units": "px"}),
                "lag_m": ("lag", lags * ctx.pixel_m, {"units": "m", "long_name": "lag"}),
                "k": ("k", kgrid, {"units": "m-1", "long_name": "wavenumber (cycles per m)"}),
                "wavelength_m": ("k", 1.0 / kgrid, {"units": "m", "long_name": "wavelength"})},
        attrs={"n_scenes": len(crops),
               "domain": "largest rectangle valid for the reference and every method, on the "
                         "reference grid"},
    )


def step_sr(ctx: Context, out: Path, progress: bool) -> list[Path]:
    """Train the four SR modes, run them and the baselines on the test scenes, score them."""
    from analysis.evaluate import evaluate, reproject_to_aster, write_results
    from analysis.experiment import baseline_predictor, model_predictor

    if not (out / "law.nc").is_file():
        raise InputError("the SR step needs law.nc (run the law step first)", out)
    st = ctx.settings
    ckpts = _train_models(ctx, out, progress)
    preds_fn: dict[str, Callable] = {}
    for m in BASELINE_METHODS:
        kw = {"n_estimators": st.dms_estimators, "seed": ctx.seed} if m == "dms" else {}
        preds_fn[m] = baseline_predictor(m, **kw)
    for mode, ck in ckpts.items():
        preds_fn[mode] = model_predictor(ck)
    methods = list(preds_fn)
    pairs = [s.pair for s in ctx.scenes]
    bar = tqdm(total=len(pairs) * len(methods), desc="predict + score", leave=False,
               disable=not progress)
    collected: dict[int, dict[str, xr.DataArray]] = {}

    def hook(method: str, pair: Any, pred: xr.DataArray) -> None:
        collected.setdefault(int(pair.id), {})[method] = pred
        bar.update(1)

    ds = evaluate(preds_fn, pairs, offset=ctx.offset, n_boot=st.eval_boot, seed=ctx.seed,
                  on_prediction=hook)
    bar.close()
    ds.attrs["offset_source"] = ctx.offset_source
    ds.attrs["reference"] = ("synthetic 250 m truth" if ctx.source == "synthetic"
                             else "ASTER LST (evaluation half of the pairs)")
    ds.attrs["trained_on"] = ("synthetic landscapes (seeds disjoint from the test scenes)"
                              if ctx.source == "synthetic" else "MODIS 1 km crops (modis_lst_2020)")
    paths = []
    written = write_results(ds, out, stem="metrics")
    # the NetCDF again through h5netcdf with CF attrs (write_results uses the default engine)
    _write(ds, out / "metrics.nc", "1 km -> 250 m super-resolution scored against the reference",
           ctx)
    paths += [written["csv_pairs"], written["csv_summary"], written["markdown"], out / "metrics.nc"]
    wide = []
    for m in methods:
        row: dict[str, Any] = {"method": m}
        for k in ("rmse", "bias", "mae", "r", "psnr", "ssim", "consistency_rmse"):
            row[k] = float(ds[f"{k}_mean"].sel({"method": m}))
            row[f"{k}_lo"], row[f"{k}_hi"] = (float(v) for v in ds[f"{k}_ci"].sel({"method": m}).values)
        wide.append(row)
    with atomic_path(out / "metrics.csv") as tmp:
        pd.DataFrame(wide).to_csv(tmp, index=False, float_format="%.5g")
    paths.append(out / "metrics.csv")

    # maps of the display scene on the reference grid
    disp = _display_scene(ctx)
    pm = collected[int(disp.pair.id)]
    ref = disp.pair.aster_250m
    reps = np.stack([reproject_to_aster(pm[m], disp.pair, offset=ctx.offset).values
                     for m in methods]).astype(np.float32)
    refv = np.asarray(ref.values, dtype=np.float32)
    maps = xr.Dataset(
        {
            "reference": _var(("y", "x"), refv, "K", ds.attrs["reference"]),
            "ndvi": _var(("y", "x"), np.asarray(disp.ndvi.values, dtype=np.float32), "1",
                         "NDVI on the reference grid"),
            "lst_1km": _var(("yc", "xc"), np.asarray(disp.pair.lst_1km.values, np.float32), "K",
                            "1 km LST (input)"),
            "prediction": _var(("method", "y", "x"), reps, "K",
                               "prediction on the reference grid"),
            "error": _var(("method", "y", "x"), reps - refv[None], "K",
                          "prediction - reference"),
        },
        coords={"method": methods,
                "x": ("x", ref["x"].values, {"units": "m"}),
                "y": ("y", ref["y"].values, {"units": "m"}),
                "xc": ("xc", disp.pair.lst_1km["x"].values, {"units": "m"}),
                "yc": ("yc", disp.pair.lst_1km["y"].values, {"units": "m"})},
        attrs={"scene": disp.name, "landscape": disp.landscape},
    )
    paths.append(_write(maps, out / "sr_maps.nc", "SR maps and error maps", ctx))
    spec = _spectra(collected, ctx, methods)
    paths.append(_write(spec, out / "sr_spectra.nc", "structure functions and spectra of SR "
                        "outputs", ctx))
    return paths


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


_STEP_FUNCS: dict[str, Callable[[Context, Path, bool], list[Path]]] = {
    "overview": step_overview,
    "sf": step_sf,
    "exponents": step_exponents,
    "lst_ndvi": step_lst_ndvi,
    "law": step_law,
    "invariance": step_invariance,
    "sr": step_sr,
    "polar": step_polar,
}
#: Steps that read the files of another step.
_NEEDS: dict[str, tuple[str, ...]] = {"invariance": ("law",), "sr": ("law",)}


def missing_steps(results_dir: str | Path) -> list[str]:
    """Return the steps whose result files are not all present in ``results_dir``."""
    r = Path(results_dir)
    return [s for s in STEPS if not all((r / f).is_file() for f in FILES[s])]


def build_context(*, data: str | Path | None, smoke: bool, seed: int, progress: bool
                  ) -> Context:
    """Generate (synthetic) or load (real) the scenes shared by the steps."""
    st = settings_for(smoke)
    if data is None:
        return _synthetic_context(st, seed)
    return _real_context(st, seed, Path(data), progress)


def compute_results(
    results_dir: str | Path,
    *,
    data: str | Path | None = None,
    smoke: bool = False,
    seed: int = 0,
    progress: bool = True,
    steps: Iterable[str] | None = None,
) -> dict[str, Path]:
    """Compute every result file the figures and the report read.

    Parameters
    ----------
    results_dir
        Output folder (created).
    data
        ``None``: the embedded synthetic landscapes. A path: the shared data root (holding
        ``modis_aster/pairs`` and ``modis_lst_2020``) or the pairs folder itself.
    smoke
        Tiny sizes for CI (well under a minute).
    seed
        Seed of every random draw (landscapes, bootstraps, splits, training).
    progress
        Show tqdm progress bars.
    steps
        Subset of :data:`STEPS` (default all). Steps that need another step's file (``law.nc``)
        run that step too when the file is missing.

    Returns
    -------
    dict
        ``file name -> path`` of every file written.

    Raises
    ------
    scalelaws.errors.InputError
        Unknown step, unreadable data, or a missing dependency (e.g. torch for ``sr``).

    """
    out = Path(results_dir)
    wanted = list(STEPS) if steps is None else list(steps)
    unknown = [s for s in wanted if s not in _STEP_FUNCS]
    if unknown:
        raise InputError(f"unknown step(s) {unknown}; known: {list(STEPS)}")
    for s in list(wanted):
        for dep in _NEEDS.get(s, ()):
            if dep not in wanted and not all((out / f).is_file() for f in FILES[dep]):
                wanted.append(dep)
    order = [s for s in STEPS if s in wanted]
    t0 = time.perf_counter()
    ctx = build_context(data=data, smoke=smoke, seed=seed, progress=progress)
    out.mkdir(parents=True, exist_ok=True)  # once the data are known to be readable
    log.info("scenes ready in %.1f s (%d reference scenes, landscapes %s)",
             time.perf_counter() - t0, len(ctx.scenes), ctx.landscapes)
    written: dict[str, Path] = {}
    timings: dict[str, float] = {}
    bar = tqdm(order, desc="results", disable=not progress)
    for name in bar:
        bar.set_postfix_str(name)
        t1 = time.perf_counter()
        for p in _STEP_FUNCS[name](ctx, out, progress):
            written[p.name] = p
        timings[name] = round(time.perf_counter() - t1, 1)
        log.info("step %s done in %.1f s", name, timings[name])
    info = {"source": ctx.source, "smoke": bool(smoke), "seed": int(seed),
            "landscapes": ctx.landscapes, "n_reference_scenes": len(ctx.scenes),
            "offset_m": list(ctx.offset), "offset_source": ctx.offset_source,
            "settings": {k: v for k, v in vars(replace(ctx.settings)).items()},
            "step_seconds": timings}
    prev = out / "run_info.json"
    if prev.is_file():
        try:
            old = json.loads(prev.read_text())
            old_t = old.get("step_seconds", {})
            old_t.update(timings)
            info["step_seconds"] = old_t
        except (json.JSONDecodeError, OSError):
            pass
    atomic_write_text(prev, json.dumps(info, indent=2, default=str))
    written["run_info.json"] = prev
    return written
