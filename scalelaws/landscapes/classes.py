"""Landscape classes: NDVI classes, land-cover classes and boolean masks.

Labels are integer DataArrays with CF ``flag_values`` / ``flag_meanings`` attributes and
:data:`UNCLASSIFIED` (-1) where no class applies; :func:`class_masks` turns labels (or a dict
of masks) into a dict of boolean masks.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from scalelaws import cf
from scalelaws.errors import GridMismatchError, InputError

__all__ = [
    "ALL",
    "DEFAULT_NDVI_THRESHOLDS",
    "NDVI_CLASSES",
    "UNCLASSIFIED",
    "ClassesLike",
    "class_masks",
    "classes_from_landcover",
    "classify_ndvi",
]

#: NDVI class edges: ``ndvi < water`` is water, ``water <= ndvi < bare_urban`` bare or urban,
#: ``bare_urban <= ndvi < grass_crop`` grass or crop, ``ndvi >= grass_crop`` forest.
DEFAULT_NDVI_THRESHOLDS: dict[str, float] = {"water": 0.0, "bare_urban": 0.2, "grass_crop": 0.5}
#: Names of the NDVI classes, in label order 0..3.
NDVI_CLASSES: tuple[str, ...] = ("water", "bare_or_urban", "grass_or_crop", "forest")
#: Label of pixels with no class (missing NDVI, land-cover codes outside the mapping).
UNCLASSIFIED = -1
#: Name of the pseudo-landscape made of every valid pixel.
ALL = "all"

ClassesLike = xr.DataArray | Mapping[str, xr.DataArray] | None


def _flag_attrs(names: Sequence[str], long_name: str, **extra: Any) -> dict[str, Any]:
    return cf.attrs(
        long_name, "1",
        flag_values=np.arange(len(names), dtype=np.int16),
        flag_meanings=" ".join(n.replace(" ", "_") for n in names),
        valid_min=np.int16(0),
        missing_label=np.int16(UNCLASSIFIED),
        **extra,
    )


def classify_ndvi(
    ndvi: xr.DataArray, *, thresholds: Mapping[str, float] | None = None
) -> xr.DataArray:
    """Classify NDVI into water, bare or urban, grass or crop and forest.

    Parameters
    ----------
    ndvi
        NDVI field (dims ``y, x``; extra leading dims are kept), NaN = missing.
    thresholds
        Class edges ``{"water": t0, "bare_urban": t1, "grass_crop": t2}`` with
        ``t0 < t1 < t2`` (default :data:`DEFAULT_NDVI_THRESHOLDS`: 0.0, 0.2, 0.5). Missing keys
        take the default.

    Returns
    -------
    xarray.DataArray
        ``int16`` labels 0 water (``ndvi < t0``), 1 bare_or_urban, 2 grass_or_crop, 3 forest
        (``ndvi >= t2``), :data:`UNCLASSIFIED` where NDVI is NaN; CF ``flag_values`` and
        ``flag_meanings`` attributes, coordinates (and CRS) of ``ndvi``.

    Raises
    ------
    InputError
        Unknown threshold keys or edges not increasing.

    """
    th = dict(DEFAULT_NDVI_THRESHOLDS)
    if thresholds is not None:
        unknown = set(thresholds) - set(th)
        if unknown:
            raise InputError(
                f"unknown NDVI threshold(s) {sorted(unknown)}; expected keys {sorted(th)}"
            )
        th.update({k: float(v) for k, v in thresholds.items()})
    edges = [th["water"], th["bare_urban"], th["grass_crop"]]
    if not (edges[0] < edges[1] < edges[2]):
        raise InputError(f"NDVI thresholds must increase water < bare_urban < grass_crop, got {th}")
    if not isinstance(ndvi, xr.DataArray):
        raise InputError("classify_ndvi expects an xarray.DataArray of NDVI")
    v = np.asarray(ndvi.values, dtype=np.float64)
    lab = np.digitize(v, edges).astype(np.int16)
    lab[~np.isfinite(v)] = UNCLASSIFIED
    out = ndvi.copy(data=lab)
    out.attrs = _flag_attrs(
        NDVI_CLASSES,
        "landscape class from NDVI",
        thresholds=", ".join(f"{k}={v:g}" for k, v in th.items()),
        source=str(ndvi.attrs.get("source", "")),
    )
    out.name = "landscape"
    return out


def classes_from_landcover(
    path_or_da: str | os.PathLike | xr.DataArray,
    mapping: Mapping[str, int | Sequence[int]] | None = None,
    like: xr.DataArray | None = None,
) -> xr.DataArray:
    """Landscape labels from a land-cover raster, optionally re-projected onto an LST grid.

    Parameters
    ----------
    path_or_da
        A land-cover raster (any file GDAL reads) or a DataArray of integer codes.
    mapping
        ``{name: code}`` or ``{name: [codes]}``; codes not listed become
        :data:`UNCLASSIFIED`. ``None``: one class per distinct code, named ``class_<code>``
        (nodata excluded).
    like
        Target grid (e.g. the LST field). The land cover is re-projected onto it with
        nearest-neighbour resampling (``rio.reproject_match``), so codes are never blended.
        Both need a CRS.

    Returns
    -------
    xarray.DataArray
        ``int16`` labels ``0..n-1`` in the order of ``mapping`` with ``flag_values`` /
        ``flag_meanings`` and ``flag_codes`` (the land-cover codes of each class, ``;``-separated).

    Raises
    ------
    InputError
        The file cannot be read, or a code appears in two classes.
    MissingCRSError, GridMismatchError
        ``like`` is given but a CRS is missing (re-projection impossible).

    """
    lc, path, nodata = _read_landcover(path_or_da, like)
    codes = np.asarray(lc.values)
    if mapping is None:
        valid = np.isfinite(codes) if codes.dtype.kind == "f" else np.ones(codes.shape, bool)
        if nodata is not None and np.isfinite(nodata):
            valid &= codes != nodata
        uniq = np.unique(codes[valid]).astype(np.int64)
        mapping = {f"class_{c}": int(c) for c in uniq}
    lab, flag_codes = _labels_from_codes(codes, mapping, path)
    out = lc.copy(data=lab)
    out.attrs = _flag_attrs(
        list(mapping),
        "landscape class from land cover",
        flag_codes="; ".join(flag_codes),
        source=str(path or lc.attrs.get("source", "")),
    )
    out.name = "landscape"
    return out


def _read_landcover(
    path_or_da: str | os.PathLike | xr.DataArray, like: xr.DataArray | None
) -> tuple[xr.DataArray, str | None, Any]:
    """Open the land cover (nearest-neighbour onto ``like`` when given): ``(codes, path, nodata)``."""
    import rioxarray  # noqa: F401  (registers the .rio accessor)
    from rasterio.enums import Resampling

    from scalelaws.errors import MissingCRSError

    path = None
    if isinstance(path_or_da, xr.DataArray):
        lc = path_or_da
    else:
        path = os.fspath(path_or_da)
        try:
            lc = rioxarray.open_rasterio(path, masked=False).squeeze("band", drop=True)
        except Exception as exc:  # rasterio raises several unrelated types
            from scalelaws.errors import NotARasterError

            raise NotARasterError(f"cannot read land cover: {exc}", path=path) from exc
    nodata = lc.rio.nodata if hasattr(lc, "rio") else None
    if like is not None:
        if lc.rio.crs is None:
            raise MissingCRSError("land cover has no CRS; cannot re-project it onto the LST grid", path)
        if like.rio.crs is None:
            raise MissingCRSError("the target grid (like) has no CRS; cannot re-project the land cover")
        lc = lc.rio.reproject_match(like, resampling=Resampling.nearest)
        nodata = lc.rio.nodata
    return lc, path, nodata


def _labels_from_codes(
    codes: np.ndarray, mapping: Mapping[str, int | Sequence[int]], path: str | None
) -> tuple[np.ndarray, list[str]]:
    """Labels ``0..n-1`` in the order of ``mapping`` and each class's codes (``,``-separated)."""
    lab = np.full(codes.shape, UNCLASSIFIED, dtype=np.int16)
    seen: dict[int, str] = {}
    flag_codes = []
    for k, (name, cs) in enumerate(mapping.items()):
        cs_list = [int(cs)] if np.isscalar(cs) else [int(c) for c in cs]
        for c in cs_list:
            if c in seen:
                raise InputError(f"land-cover code {c} is mapped to both {seen[c]!r} and {name!r}", path)
            seen[c] = name
        lab[np.isin(codes, cs_list)] = k
        flag_codes.append(",".join(str(c) for c in cs_list))
    return lab, flag_codes


def class_masks(classes: ClassesLike, *, like: xr.DataArray | None = None) -> dict[str, xr.DataArray]:
    """Boolean masks ``{name: DataArray}`` from labels or from a dict of masks.

    Parameters
    ----------
    classes
        Integer labels with ``flag_meanings`` (from :func:`classify_ndvi` or
        :func:`classes_from_landcover`; without ``flag_meanings`` each distinct non-negative
        label ``k`` becomes ``class_k``), or a mapping ``{name: bool DataArray}``.
    like
        When given, every mask must have its shape (``GridMismatchError`` otherwise).

    Returns
    -------
    dict of str to xarray.DataArray
        One boolean mask per class, in label order.

    """
    if classes is None:
        return {}
    if isinstance(classes, Mapping):
        out = {str(name): _as_mask(name, m) for name, m in classes.items()}
    elif isinstance(classes, xr.DataArray):
        out = _masks_from_labels(classes)
    else:
        raise InputError(
            f"classes must be integer labels (DataArray) or a dict of masks, got {type(classes).__name__}"
        )
    if like is not None:
        for name, m in out.items():
            if m.shape[-2:] != like.shape[-2:]:
                raise GridMismatchError(
                    f"mask {name!r} has shape {m.shape[-2:]} but the field has {like.shape[-2:]}; "
                    "re-project it first (classes_from_landcover(..., like=field))"
                )
    return out


def _as_mask(name: Any, m: Any) -> xr.DataArray:
    """Return a boolean DataArray from a 0/1 (or boolean) mask; ``InputError`` otherwise."""
    arr = m if isinstance(m, xr.DataArray) else xr.DataArray(np.asarray(m), dims=("y", "x"))
    if arr.dtype != bool:
        vals = np.asarray(arr.values)
        if not np.isin(vals[np.isfinite(vals)] if vals.dtype.kind == "f" else vals, [0, 1]).all():
            raise InputError(f"mask {name!r} is not boolean (values other than 0/1)")
        arr = arr.fillna(0).astype(bool) if vals.dtype.kind == "f" else arr.astype(bool)
    return arr


def _masks_from_labels(classes: xr.DataArray) -> dict[str, xr.DataArray]:
    """One mask per class of integer labels (named by ``flag_meanings``, else ``class_<k>``)."""
    vals = np.asarray(classes.values)
    if "flag_meanings" in classes.attrs:
        names = str(classes.attrs["flag_meanings"]).split()
        fv = classes.attrs.get("flag_values", np.arange(len(names)))
        fv = np.atleast_1d(np.asarray(fv)).tolist()
    else:
        fv = [int(v) for v in np.unique(vals[np.isfinite(vals)]) if v >= 0]
        names = [f"class_{v}" for v in fv]
    return {n: classes == v for n, v in zip(names, fv, strict=True)}
