"""The data a demo run works on: synthetic landscapes or the MODIS-ASTER pairs (:class:`Context`)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from analysis.pipeline.settings import KINDS, Settings
from scalelaws.errors import InputError

log = logging.getLogger(__name__)


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
    """Everything the steps of a run share (the demo and the benchmark): one object per run.

    The run's inputs (settings, source, seed, pairs and their split) and what the steps hand to
    the next (``laws``, ``checkpoints``, ``result``, ``timings``). The demo's steps read the
    scenes (``scenes``, ``law_scenes``, ``landscapes``); the benchmark's steps read ``ids``,
    ``folds`` and ``options`` (the command's choices: methods, offset, bootstrap, ...).

    Attributes
    ----------
    settings
        :class:`~analysis.pipeline.settings.Settings` (demo) or
        :class:`~analysis.pipeline.settings.ExperimentSettings` (benchmark).
    ids, folds
        The MODIS-ASTER pairs of the run and their split (:func:`make_folds`, the one split
        policy); empty for synthetic scenes.
    step_seconds
        Wall time of every step run so far (filled by :func:`analysis.pipeline.runner.run_steps`).

    """

    settings: Any
    source: str
    seed: int
    scenes: list[RefScene] = field(default_factory=list)
    landscapes: list[str] = field(default_factory=list)
    include_all: bool = False
    law_scenes: list[tuple[xr.DataArray, xr.DataArray, Any]] = field(default_factory=list)
    offset: tuple[float, float] = (0.0, 0.0)
    offset_source: str = ""
    sr_data: dict[str, Any] = field(default_factory=dict)
    data_root: Path | None = None
    ids: list[int] = field(default_factory=list)
    folds: list[list[int]] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    laws: dict[str, Path] = field(default_factory=dict)
    checkpoints: dict[str, dict[int, Path | list[Path]]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    step_seconds: dict[str, float] = field(default_factory=dict)
    result: xr.Dataset | None = None

    def train_ids(self, k: int) -> list[int]:
        """Pairs outside fold ``k`` (those a model that scores fold ``k`` may learn from)."""
        return [i for i in self.ids if i not in self.folds[k]]

    @property
    def pixel_m(self) -> float:
        """Pixel size (m) of the reference fields."""
        from scalelaws.grids import pixel_size

        return float(pixel_size(self.scenes[0].lst))

    @property
    def short(self) -> int:
        """Smallest side (pixels) of the reference fields."""
        return min(min(s.lst.shape) for s in self.scenes)


def make_folds(ids: Iterable[int], k: int = 2) -> list[list[int]]:
    """Cross-fitting folds: ids sorted numerically, id of rank ``i`` in fold ``i % k``.

    The one split policy of the workflow: the benchmark cross-fits over the ``k`` folds, the
    demo on real data fits its law on fold 0 and scores fold 1 (``k = 2``).
    """
    s = sorted(int(i) for i in ids)
    if k < 2 or len(s) < k:
        raise InputError(f"cross-fitting needs at least 2 folds and one pair per fold "
                         f"({len(s)} pairs, {k} folds)")
    return [s[i::k] for i in range(k)]


def registered_scene(pair: Any, offset: tuple[float, float] | None
                     ) -> tuple[xr.DataArray, xr.DataArray]:
    """Register a pair's fine fields (the one registration): ASTER LST and the NDVI on its grid.

    ASTER is moved back by ``offset`` onto the MODIS geolocation
    (:func:`analysis.evaluate.registered_aster`; ``None``: ASTER as distributed), and the
    250 m NDVI is re-projected bilinearly onto it. Used for every law fitted on ASTER (demo and
    benchmark) and for the demo's reference scenes.
    """
    from analysis.evaluate import registered_aster
    from scalelaws.grids import align

    lst = registered_aster(pair, offset) if offset is not None else pair.aster_250m
    return lst, align(pair.ndvi_250m, lst, resampling="bilinear")


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
    from analysis.evaluate import estimate_offset
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
    # the benchmark's split policy (make_folds): fold 0 fits the law, fold 1
    # is scored; the scoring protocol registers ASTER with the offset of all the pairs, the law
    # with the offset of its own pairs only (nothing that feeds the law sees a scored pair)
    off = estimate_offset(pairs)
    how = f"estimated from the 1 km correlation of {len(pairs)} pairs"
    by_id = {p.id: p for p in pairs}
    folds: list[list[int]] = []
    if len(pairs) < 2:
        log.warning("one pair only: the law and the evaluation use the same pair")
        law_pairs, eval_pairs = pairs, pairs
    else:
        folds = make_folds(ids, 2)
        law_ids, eval_ids = folds
        law_pairs, eval_pairs = [by_id[i] for i in law_ids], [by_id[i] for i in eval_ids]
    off_law = estimate_offset(law_pairs) if len(law_pairs) > 1 else off

    def ref(pair: Any, offset: tuple[float, float] = off) -> tuple[xr.DataArray, xr.DataArray, xr.DataArray]:
        lst, ndvi = registered_scene(pair, offset)
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
                   offset=off, offset_source=how, sr_data=sr_data, data_root=root,
                   ids=[int(i) for i in ids], folds=folds)
