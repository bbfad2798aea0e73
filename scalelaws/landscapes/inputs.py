"""Inputs of the landscape statistics: scenes, per-scene arguments, pixel size, lags."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from scalelaws.core.scales import log_lags
from scalelaws.errors import InputError, ScaleRangeError

__all__ = ["default_lags"]


def _pixel_size(da: xr.DataArray) -> float:
    from scalelaws.grids import pixel_size  # the package's single definition

    return float(pixel_size(da))


def _as_scenes(fields: xr.DataArray | Sequence[xr.DataArray], what: str = "lst") -> list[xr.DataArray]:
    if isinstance(fields, xr.DataArray):
        if "scene" in fields.dims:
            return [fields.isel(scene=i) for i in range(fields.sizes["scene"])]
        scenes = [fields]
    elif isinstance(fields, Sequence) and not isinstance(fields, str):
        scenes = list(fields)
    else:
        raise InputError(f"{what} must be a DataArray, a DataArray with a 'scene' dim or a list of them")
    for s in scenes:
        if not isinstance(s, xr.DataArray) or s.ndim != 2:
            raise InputError(
                f"every {what} scene must be a 2-D DataArray (y, x); got "
                f"{type(s).__name__} with dims {getattr(s, 'dims', None)}"
            )
    if not scenes:
        raise InputError(f"no {what} scene given")
    return scenes


def _per_scene(obj: Any, n: int, what: str) -> list[Any]:
    """Broadcast a per-scene argument (None, single item, list, or DataArray with scene dim)."""
    if obj is None:
        return [None] * n
    if isinstance(obj, xr.DataArray) and "scene" in obj.dims:
        return [obj.isel(scene=i) for i in range(obj.sizes["scene"])]
    if isinstance(obj, xr.DataArray | Mapping):
        if n != 1:
            if isinstance(obj, Mapping) and all(
                isinstance(m, xr.DataArray) and "scene" in m.dims for m in obj.values()
            ):
                return [{k: m.isel(scene=i) for k, m in obj.items()} for i in range(n)]
            raise InputError(f"{n} scenes but a single {what}; pass one {what} per scene (a list)")
        return [obj]
    if isinstance(obj, Sequence) and not isinstance(obj, str):
        if len(obj) != n:
            raise InputError(f"{len(obj)} {what} for {n} scenes")
        return list(obj)
    raise InputError(f"cannot interpret {what} of type {type(obj).__name__}")


def default_lags(max_lag: int, per_octave: int = 4) -> np.ndarray:
    """Integer lags ``1 .. max_lag`` spaced by about ``2^(1/per_octave)`` (powers of 2 included).

    Parameters
    ----------
    max_lag
        Largest lag in pixels (>= 1).
    per_octave
        Lags per octave before rounding to distinct integers.

    Returns
    -------
    numpy.ndarray of int64

    """
    if max_lag < 1:
        raise ScaleRangeError(f"max_lag must be >= 1 pixel, got {max_lag}")
    # the project's lag rule (scalelaws.core.scales), with this module's historical bound
    return log_lags(max_lag, per_octave, bound="exponent")

