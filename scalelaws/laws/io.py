"""Reading a law file: :func:`load_law` (writing is :meth:`scalelaws.laws.CorrectionLaw.to_netcdf`)."""

from __future__ import annotations

import os

import numpy as np
import xarray as xr

from scalelaws.errors import InputError
from scalelaws.laws.law import CorrectionLaw
from scalelaws.laws.schema import _REQUIRED, LAW_FORMAT_VERSION


def load_law(path: str | os.PathLike) -> CorrectionLaw:
    """Read a law written by :meth:`CorrectionLaw.to_netcdf`.

    Parameters
    ----------
    path
        NetCDF file.

    Returns
    -------
    CorrectionLaw

    Raises
    ------
    InputError
        The file is missing or is not a correction law.

    """
    p = os.fspath(path)
    if not os.path.exists(p):
        raise InputError("no such file", p)
    try:
        ds = xr.load_dataset(p)
    except Exception as exc:  # the NetCDF backends raise several types for non-NetCDF files
        raise InputError(f"cannot read as NetCDF: {exc}", p) from exc
    for key in ("scale_range_m", "detail_range_m"):
        if key in ds.attrs:
            ds.attrs[key] = [float(v) for v in np.atleast_1d(ds.attrs[key])]
    fmt = ds.attrs.get("law_format_version", 1)
    try:
        fmt = int(np.atleast_1d(fmt)[0])
    except (TypeError, ValueError):
        raise InputError(f"not a correction law (law_format_version {fmt!r})", p) from None
    if fmt > LAW_FORMAT_VERSION:
        raise InputError(
            f"law written by scalelaws {ds.attrs.get('scalelaws_version', '?')} in format "
            f"version {fmt}; this scalelaws reads format {LAW_FORMAT_VERSION}: upgrade scalelaws",
            p,
        )
    missing = [v for v in _REQUIRED if v not in ds]
    if missing:
        raise InputError(
            f"not a correction law, or one from an incompatible scalelaws version (missing "
            f"variables {missing})",
            p,
        )
    return CorrectionLaw(ds)
