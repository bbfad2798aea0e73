"""The fields of a comparison: the shared fields that can be read, and degraded controls."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from analysis.sensors.readers import FIELD_LOADERS, SensorField
from scalelaws.errors import AllNaNError, InputError
from scalelaws.grids import pixel_size

log = logging.getLogger(__name__)

#: Fewest valid pixels a field needs for a law.
MIN_PIXELS = 400

#: Controls: a field degraded within the data to a coarser pixel, to separate the effect of the
#: pixel (aggregation, PSF) from that of the surface. Key -> (base key, method of
#: :func:`scalelaws.grids.degrade`, factor). ``landsat7_raleigh`` x 4 gives 228 m, the pixel
#: of the ASTER fields; ``desirex_madrid_20m`` x 5 gives the 100 m of the DESIREX 100 m product.
CONTROLS: dict[str, tuple[str, str, int]] = {
    "desirex_madrid_20m_mean100m": ("desirex_madrid_20m", "mean", 5),
    "desirex_madrid_20m_psf100m": ("desirex_madrid_20m", "psf", 5),
    "landsat7_raleigh_mean228m": ("landsat7_raleigh", "mean", 4),
    "landsat7_raleigh_psf228m": ("landsat7_raleigh", "psf", 4),
}


def control_fields(fields: Sequence[SensorField]) -> list[SensorField]:
    """Degraded copies of the fields named in :data:`CONTROLS` (one class, no NDVI).

    ``mean`` is the block mean (:func:`scalelaws.grids.coarsen`), ``psf`` a Gaussian PSF whose
    MTF at the coarse Nyquist frequency is 0.3 followed by decimation
    (:func:`scalelaws.grids.psf_degrade`).
    """
    from scalelaws.grids import degrade

    by = {f.key: f for f in fields}
    out = []
    for key, (base, method, factor) in CONTROLS.items():
        if base not in by:
            continue
        b = by[base]
        lst = degrade(b.lst, factor, method=method)
        px = pixel_size(lst)
        out.append(SensorField(
            key, f"control: {b.key} degraded x{factor} ({method})", b.quantity, b.region, b.date,
            lst, px, None, None, "one class",
            f"{b.key} degraded by {factor} with scalelaws.grids.degrade(method={method!r}) to "
            f"{px:.4g} m: same surface, coarser pixel",
        ))
    return out


def load_fields(
    root: str | Path | None = None, keys: Sequence[str] | None = None
) -> tuple[list[SensorField], dict[str, str]]:
    """Read the shared thermal fields.

    Parameters
    ----------
    root
        Data root (default :func:`scalelaws.config.data_dir`).
    keys
        Subset of :data:`~analysis.sensors.readers.FIELD_LOADERS` (default all).

    Returns
    -------
    fields
        The fields that could be read and hold at least :data:`MIN_PIXELS` valid pixels.
    excluded
        Key -> reason for each field left out (absent, empty after masking, ...).

    """
    from scalelaws.config import data_dir

    root = Path(root) if root is not None else data_dir()
    keys = list(keys) if keys else list(FIELD_LOADERS)
    unknown = [k for k in keys if k not in FIELD_LOADERS]
    if unknown:
        raise InputError(f"unknown field(s) {unknown}; known: {list(FIELD_LOADERS)}")
    fields: list[SensorField] = []
    excluded: dict[str, str] = {}
    for k in keys:
        loader, rel = FIELD_LOADERS[k]
        if not (root / rel).exists():
            excluded[k] = f"absent ({rel} not under {root})"
            continue
        try:
            f = loader(root)
        except AllNaNError as exc:
            excluded[k] = f"no valid pixel after masking ({exc.problem})"
            continue
        n = int(np.isfinite(f.lst.values).sum())
        if n < MIN_PIXELS:
            excluded[k] = f"{n} valid pixels after masking (< {MIN_PIXELS})"
            continue
        fields.append(f)
        log.info("%s: %s %s, %s px at %.1f m, %d valid", k, f.platform, f.quantity, f.lst.shape,
                 pixel_size(f.lst), n)
    return fields, excluded
