"""Argument checks shared by the fits: confidence level, field, pixel size, random generator."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from scalelaws.errors import InputError

RngLike = np.random.Generator | int | None


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise InputError(f"confidence level must lie in (0, 1), got {level}")


def _as_field(da: Any) -> xr.DataArray:
    """Return a float 2-D ``(y, x)`` DataArray; raise on bad input."""
    from scalelaws.stats.coarse import _as_field as as_field

    return as_field(da, "field")


def _pixel_size(da: xr.DataArray) -> float:
    from scalelaws.grids import pixel_size

    return float(pixel_size(da))


def _rng(rng: RngLike) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
