"""Settings of the demo workflow: the result files of each step, the job sizes, the fixed constants."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

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
