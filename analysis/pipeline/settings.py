"""Settings of the workflow: the steps and files of the demo and of the benchmark, the job sizes, the constants."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from scalelaws.synthetic import LANDSCAPES

log = logging.getLogger(__name__)


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
# the benchmark (``scalelaws benchmark modis-aster --train``): train on MODIS only, cross-fit
# over the pairs, score against ASTER
# ----------------------------------------------------------------------------------------------
#: Steps of the benchmark, in the order they run (``analysis/pipeline/step_<name>.py``).
BENCHMARK_STEPS: tuple[str, ...] = ("folds", "law", "sr", "score", "report")

#: Methods run when none are named.
DEFAULT_METHODS: tuple[str, ...] = ("bicubic", "tsharp", "dms")

#: The SR methods of the experiment: name -> (training mode, law variant or None).
SR_METHODS: dict[str, tuple[str, str | None]] = {
    "sisr_invariant": ("sisr_invariant", None),
    "sisr_corrected": ("sisr_corrected", "aster"),
    "sisr_corrected_synlaw": ("sisr_corrected", "synthetic"),
    "disr": ("disr", None),
    "disr_corrected": ("disr_corrected", "aster"),
    "disr_corrected_synlaw": ("disr_corrected", "synthetic"),
    "disr_invariant": ("disr_invariant", None),
    "disr_invariant_corrected": ("disr_invariant_corrected", "aster"),
}

#: Baselines of the experiment (``tsharp_smooth`` is the strongest on these pairs).
EXPERIMENT_BASELINES: tuple[str, ...] = ("bicubic", "tsharp", "dms", "tsharp_smooth")


@dataclass
class ExperimentSettings:
    """Sizes and options of the benchmark (the defaults are the documented run).

    Read by the benchmark's steps (:func:`analysis.pipeline.benchmark.run_experiment`).

    Attributes
    ----------
    folds
        Number of cross-fitting folds over the pairs (sorted ids, pair ``i`` in fold
        ``i % folds``).
    steps
        Optimiser steps per network (every network gets the same number).
    batch_size, lr
        Mini-batch size and AdamW learning rate.
    sisr_patch, disr_patch, disr_stride, disr_invariant_patch, disr_invariant_stride
        Coarse patch sizes (pixels of the network input: 4 km for SISR and the guided
        scale-invariant modes, 1 km for DISR) and the crop strides.
    sisr_crops
        MODIS 2020 day crops (>= 90 % valid) the SISR networks train on.
    unet
        U-Net options of every network (``base``, ``depth``).
    disr_first_guess
        ``"tsharp"`` (the residual is added to the TsHARP sharpening of the tile) or
        ``"bicubic"``.
    forward
        Forward model of the consistency losses and of the SISR training pairs: ``"psf"``
        (Gaussian PSF, MTF ``mtf_nyquist`` at the coarse Nyquist) or ``"mean"`` (1 km boxes).
    w_consistency, w_texture, w_law
        Loss weights (DISR consistency, NDVI texture, law).
    law_n_boot
        Bootstrap replicates of the laws.
    synthetic_law
        ``[law.fit]`` table of the synthetic-landscape law (see :class:`sr.train.LawConfig`).
    law_variants
        Which corrected variants run: ``"aster"`` (law from the ASTER LST of the training
        folds) and/or ``"synthetic"``.
    guide_dropout
        Probability that a training patch's NDVI guide is dropped (guided modes; see
        :class:`sr.data.PatchDataset`).
    predict_tile
        Inference tile (coarse pixels); the DISR TsHARP first guess is fitted per tile.
    dms_estimators
        Trees of the DMS baseline.

    """

    folds: int = 2
    steps: int = 120
    batch_size: int = 16
    lr: float = 1e-3
    sisr_patch: int = 16
    disr_patch: int = 16
    disr_stride: int = 8
    disr_invariant_patch: int = 8
    disr_invariant_stride: int = 2
    sisr_crops: int = 600
    unet: dict[str, Any] = field(default_factory=lambda: {"base": 16, "depth": 3})
    disr_first_guess: str = "tsharp"
    forward: str = "mean"
    mtf_nyquist: float = 0.3
    w_consistency: float = 0.1
    w_texture: float = 0.1
    w_law: float = 0.1
    law_n_boot: int = 50
    synthetic_law: dict[str, Any] = field(default_factory=lambda: {
        "kinds": list(LANDSCAPES), "n_per_kind": 2,
        "shape": [512, 512], "pixel_size": 62.5, "seed": 1000, "n_boot": 50, "q": [1, 2]})
    law_variants: tuple[str, ...] = ("aster", "synthetic")
    guide_dropout: float = 0.0
    predict_tile: int = 64
    dms_estimators: int = 30

    @classmethod
    def quick(cls) -> ExperimentSettings:
        """Tiny settings for a smoke test (2 pairs, a few steps, tiny networks)."""
        return cls(steps=2, batch_size=4, sisr_crops=8, unet={"base": 4, "depth": 1},
                   law_n_boot=0, dms_estimators=5,
                   synthetic_law={"kinds": ["mixed"], "n_per_kind": 1, "shape": [256, 256],
                                  "pixel_size": 62.5, "seed": 1000, "n_boot": 0, "q": [1, 2]})

