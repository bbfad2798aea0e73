"""Landscape classes and per-landscape scaling exponents.

A *landscape* is a set of pixels (a class of a land-cover map, an NDVI class, or a user mask).
Statistics restricted to a landscape use only the pairs (structure functions) or the blocks
(detail energies, LST-NDVI regressions) that lie inside it: the field is set to NaN outside the
class and the NaN-aware sums skip every pair with a missing end.

Three ways to build classes

* :func:`classify_ndvi` - water, bare or urban, grass or crop, forest from NDVI thresholds;
* :func:`classes_from_landcover` - a user land-cover raster, re-projected (nearest) onto the LST
  grid, with an optional ``{name: codes}`` mapping;
* a plain ``dict`` of boolean masks ``{name: DataArray}`` (masks may overlap).

Labels are integer DataArrays with CF ``flag_values`` / ``flag_meanings`` attributes and
:data:`UNCLASSIFIED` (-1) where no class applies; :func:`class_masks` turns labels (or a dict
of masks) into a dict of boolean masks.

The statistics
--------------
:func:`landscape_sums` is the single accumulation pass: for every scene, every spatial *unit*
(a tile of ``block_px`` x ``block_px`` pixels) and every landscape it returns **sums and counts**
(never ratios): structure-function sums of ``|X(p + l) - X(p)|^q`` over the pairs whose first end
lies in the unit (lags along x and along y, pooled), block-mean detail energies per octave and
centred LST-NDVI cross products per block scale. Sums from several scenes, tiles or calls add up
exactly; a bootstrap resamples the units. Scenes are processed as one ``dask.delayed`` task each
and gathered with :func:`dask.compute`, so the same call runs on the threaded scheduler or, with
no change, on a ``dask.distributed`` cluster when a ``Client`` is active.

:func:`exponents_by_landscape` fits the scaling exponents ``zeta(q)`` per landscape with
bootstrap intervals; :func:`windowed_exponents` maps local exponents over moving windows.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import dask
import numpy as np
import xarray as xr

from scalelaws.core.aggregate import aggregate_blocks, block_sum, block_sums, covered
from scalelaws.core.estimate import ols_slope, percentile_interval, pooled_ratio
from scalelaws.core.scales import log_lags
from scalelaws.errors import AllNaNError, GridMismatchError, InputError, ScaleRangeError
from scalelaws.kernels.sf import pooled_tile_sums

__all__ = [
    "DEFAULT_NDVI_THRESHOLDS",
    "NDVI_CLASSES",
    "UNCLASSIFIED",
    "ALL",
    "classify_ndvi",
    "classes_from_landcover",
    "class_masks",
    "default_lags",
    "landscape_sums",
    "bootstrap_weights",
    "exponents_by_landscape",
    "windowed_exponents",
]

log = logging.getLogger(__name__)

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


# --------------------------------------------------------------------------------------------
# classes
# --------------------------------------------------------------------------------------------
def _flag_attrs(names: Sequence[str], long_name: str, **extra: Any) -> dict[str, Any]:
    return {
        "long_name": long_name,
        "units": "1",
        "flag_values": np.arange(len(names), dtype=np.int16),
        "flag_meanings": " ".join(n.replace(" ", "_") for n in names),
        "valid_min": np.int16(0),
        "missing_label": np.int16(UNCLASSIFIED),
        **extra,
    }


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
    codes = np.asarray(lc.values)
    if mapping is None:
        valid = np.isfinite(codes) if codes.dtype.kind == "f" else np.ones(codes.shape, bool)
        if nodata is not None and np.isfinite(nodata):
            valid &= codes != nodata
        uniq = np.unique(codes[valid]).astype(np.int64)
        mapping = {f"class_{c}": int(c) for c in uniq}
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
    out = lc.copy(data=lab)
    out.attrs = _flag_attrs(
        list(mapping),
        "landscape class from land cover",
        flag_codes="; ".join(flag_codes),
        source=str(path or lc.attrs.get("source", "")),
    )
    out.name = "landscape"
    return out


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
        out = {}
        for name, m in classes.items():
            arr = m if isinstance(m, xr.DataArray) else xr.DataArray(np.asarray(m), dims=("y", "x"))
            if arr.dtype != bool:
                vals = np.asarray(arr.values)
                if not np.isin(vals[np.isfinite(vals)] if vals.dtype.kind == "f" else vals, [0, 1]).all():
                    raise InputError(f"mask {name!r} is not boolean (values other than 0/1)")
                arr = arr.fillna(0).astype(bool) if vals.dtype.kind == "f" else arr.astype(bool)
            out[str(name)] = arr
    elif isinstance(classes, xr.DataArray):
        vals = np.asarray(classes.values)
        if "flag_meanings" in classes.attrs:
            names = str(classes.attrs["flag_meanings"]).split()
            fv = classes.attrs.get("flag_values", np.arange(len(names)))
            fv = np.atleast_1d(np.asarray(fv)).tolist()
        else:
            fv = [int(v) for v in np.unique(vals[np.isfinite(vals)]) if v >= 0]
            names = [f"class_{v}" for v in fv]
        out = {n: classes == v for n, v in zip(names, fv, strict=True)}
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


# --------------------------------------------------------------------------------------------
# kernels
# --------------------------------------------------------------------------------------------
def _check_q(q: float | Sequence[float]) -> np.ndarray:
    qs = np.atleast_1d(np.asarray(q, dtype=np.float64))
    if qs.size == 0 or not np.all(np.isfinite(qs)) or np.any(qs <= 0):
        raise InputError(f"orders q must be finite and > 0, got {list(qs)}")
    return qs


def tile_sf_sums(
    a: np.ndarray, lags: np.ndarray, q: Sequence[float], tile: int, *, parallel: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Structure-function sums per tile of the first end (pooled x and y).

    One call of the package's structure-function kernel
    (:func:`scalelaws.kernels.sf.pooled_tile_sums`) for every tile.

    Parameters
    ----------
    a
        2-D field, NaN = missing.
    lags
        Positive integer lags in pixels.
    q
        Orders (> 0).
    tile
        Tile size in pixels; the pair ``(p, p + l)`` is added to the tile holding ``p``.
    parallel
        Parallel over tiles (numba threads); ``False`` inside dask tasks. Same result.

    Returns
    -------
    sums : ndarray, shape (nty, ntx, n_lags, n_q)
    counts : ndarray, shape (nty, ntx, n_lags)
        Summed over the tiles they equal the whole field's pooled sums and pair counts.

    """
    lags = np.ascontiguousarray(lags, dtype=np.int64)
    return pooled_tile_sums(a, lags, _check_q(q), int(tile), parallel=parallel)


def _pyramid(val: np.ndarray, n_levels: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Sum valid values and counts in ``2^k`` blocks, ``k < n_levels``, each from the level below.

    Level ``k`` equals :func:`scalelaws.core.aggregate.block_sums` ``(val, 2**k)``.
    """
    ok = np.isfinite(val)
    out = [(np.where(ok, val, 0.0), ok.astype(np.float64))]
    for _ in range(1, n_levels):
        s, n = out[-1]
        out.append((block_sum(s, 2), block_sum(n, 2)))
    return out


def _tile_ids(shape: tuple[int, int], b: int, tile: int, ntx: int) -> np.ndarray:
    iy = (np.arange(shape[0]) * b) // tile
    ix = (np.arange(shape[1]) * b) // tile
    return (iy[:, None] * ntx + ix[None, :]).ravel()


def _detail_level(
    a: np.ndarray,
    k: int,
    tile: int,
    ntiles: tuple[int, int],
    max_missing: float,
    children: tuple[np.ndarray, np.ndarray] | None = None,
):
    """Pixel-weighted energy of the 2x2 children of each ``2^k`` block around the block mean.

    Returns per-tile ``(sum n_c (m_c - m_p)^2, sum n_c)`` for the parents (size ``2^k``) whose
    valid fraction is at least ``1 - max_missing`` and that have >= 2 valid children (each
    child also ``>= 1 - max_missing`` valid: the coverage rule
    :func:`scalelaws.core.aggregate.covered`). ``children``: ``block_sums(a, 2**(k - 1))`` when
    already computed (:func:`_pyramid`).
    """
    sc, nc = block_sums(a, 2 ** (k - 1)) if children is None else children
    py, px = sc.shape[0] // 2, sc.shape[1] // 2
    sc = sc[: 2 * py, : 2 * px].reshape(py, 2, px, 2)
    nc = nc[: 2 * py, : 2 * px].reshape(py, 2, px, 2)
    okc = covered(nc, 4.0 ** (k - 1), 1.0 - max_missing)
    mc = np.where(okc, sc / np.where(nc > 0, nc, 1.0), 0.0)
    wc = np.where(okc, nc, 0.0)
    wp = wc.sum(axis=(1, 3))
    nchild = okc.sum(axis=(1, 3))
    okp = covered(wp, 4.0**k, 1.0 - max_missing) & (nchild >= 2)
    mp = (wc * mc).sum(axis=(1, 3)) / np.where(wp > 0, wp, 1.0)
    e = (wc * (mc - mp[:, None, :, None]) ** 2).sum(axis=(1, 3))
    ids = _tile_ids((py, px), 2**k, tile, ntiles[1])
    nt = ntiles[0] * ntiles[1]
    es = np.bincount(ids, weights=np.where(okp, e, 0.0).ravel(), minlength=nt)
    ws = np.bincount(ids, weights=np.where(okp, wp, 0.0).ravel(), minlength=nt)
    return es, ws


def _regression_level(y: np.ndarray, x: np.ndarray, k: int, tile: int, ntiles, max_missing: float):
    """Centred cross products of block means of ``y`` (LST) and ``x`` (NDVI) per tile."""
    # y and x share their missing pixels, hence their coverage
    ym = aggregate_blocks(y, 2**k, min_coverage=1.0 - max_missing)
    xm = aggregate_blocks(x, 2**k, min_coverage=1.0 - max_missing)
    ok = np.isfinite(ym) & np.isfinite(xm)
    nt = ntiles[0] * ntiles[1]
    out = np.zeros((6, nt))
    if not ok.any():
        return out
    my = ym[ok]
    mx = xm[ok]
    dy = my - my.mean()
    dx = mx - mx.mean()
    ids = _tile_ids(ym.shape, 2**k, tile, ntiles[1])[ok.ravel()]
    for r, w in enumerate((np.ones_like(dx), dx, dy, dx * dx, dx * dy, dy * dy)):
        out[r] = np.bincount(ids, weights=w, minlength=nt)
    return out


def _scene_sums(
    values: np.ndarray,
    masks: np.ndarray,
    ndvi: np.ndarray | None,
    lags: np.ndarray,
    qs: np.ndarray,
    tile: int,
    n_levels: int,
    max_missing: float,
    detail: bool = True,
) -> dict[str, np.ndarray]:
    """All sums of one scene (one dask task). ``masks`` has shape ``(L, ny, nx)``."""
    ny, nx = values.shape
    ntiles = (-(-ny // tile), -(-nx // tile))
    nt = ntiles[0] * ntiles[1]
    L = masks.shape[0]
    sf_sum = np.zeros((nt, L, qs.size, lags.size))
    sf_cnt = np.zeros((nt, L, lags.size))
    det = np.zeros((nt, L, n_levels))
    detw = np.zeros((nt, L, n_levels))
    reg = np.zeros((6, nt, L, n_levels)) if ndvi is not None else None
    npix = np.zeros((nt, L))
    tid = _tile_ids((ny, nx), 1, tile, ntiles[1])
    for c in range(L):
        a = np.where(masks[c], values, np.nan)
        npix[:, c] = np.bincount(tid, weights=np.isfinite(a).ravel().astype(float), minlength=nt)
        if npix[:, c].sum() == 0:
            continue
        s, n = tile_sf_sums(a, lags, qs, tile, parallel=False)  # inside a dask task
        sf_sum[:, c] = s.reshape(nt, lags.size, qs.size).transpose(0, 2, 1)
        sf_cnt[:, c] = n.reshape(nt, lags.size)
        if detail:
            pyr = _pyramid(a, n_levels - 1)
            for k in range(1, n_levels):
                det[:, c, k], detw[:, c, k] = _detail_level(
                    a, k, tile, ntiles, max_missing, children=pyr[k - 1]
                )
        if ndvi is not None:
            b = np.where(np.isfinite(ndvi), a, np.nan)
            x = np.where(np.isfinite(b), ndvi, np.nan)
            for k in range(n_levels):
                reg[:, :, c, k] = _regression_level(b, x, k, tile, ntiles, max_missing)
    out = {"sf_sum": sf_sum, "sf_count": sf_cnt, "n_pixels": npix}
    if detail:
        out.update(det_sum=det, det_weight=detw)
    if reg is not None:
        out["reg"] = reg
    return out


def _scene_task(
    values: Any,
    mask_data: list[Any],
    ndvi: Any,
    lags: np.ndarray,
    qs: np.ndarray,
    tile: int,
    n_levels: int,
    max_missing: float,
    index: int,
    source: str | None,
    detail: bool = True,
) -> dict[str, np.ndarray]:
    """One dask task: materialise the scene, its masks and NDVI, then :func:`_scene_sums`.

    ``mask_data`` holds, per landscape, ``None`` (every pixel: :data:`ALL`), ``False`` (the
    landscape is absent from this scene) or a boolean array.
    """
    vals = np.asarray(values, dtype=np.float64)
    if not np.isfinite(vals).any():
        raise AllNaNError(f"scene {index} has no valid pixel", source)
    stack = np.zeros((len(mask_data),) + vals.shape, dtype=bool)
    for j, md in enumerate(mask_data):
        if md is None:
            stack[j] = True
        elif md is not False:
            stack[j] = np.asarray(md, dtype=bool)
    nv = None if ndvi is None else np.asarray(ndvi, dtype=np.float64)
    return _scene_sums(vals, stack, nv, lags, qs, tile, n_levels, max_missing, detail)


# --------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------
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


def landscape_sums(
    lst: xr.DataArray | Sequence[xr.DataArray],
    classes: ClassesLike | Sequence[ClassesLike] = None,
    *,
    ndvi: xr.DataArray | Sequence[xr.DataArray] | None = None,
    q: Sequence[float] = (1, 2, 3, 4),
    lags: Sequence[int] | None = None,
    max_lag: int | None = None,
    block_px: int = 64,
    max_missing: float = 0.5,
    include_all: bool = True,
    detail: bool = True,
    scene_sums: Any = None,
) -> xr.Dataset:
    """Additive per-unit sums of every multiscale statistic, per landscape, for many scenes.

    Parameters
    ----------
    lst
        One field (``y, x``), a DataArray with a leading ``scene`` dim, or a list of fields.
        All scenes must share the pixel size (within 2 %): scales are compared in metres.
    classes
        Landscape definition for each scene: labels or a dict of boolean masks (see
        :func:`class_masks`), a list with one per scene, or ``None`` (only :data:`ALL`).
    ndvi
        Optional NDVI on the same grid as each LST scene (enables the LST-NDVI sums).
    q
        Structure-function orders.
    lags
        Integer lags in pixels (default :func:`default_lags` up to ``max_lag``).
    max_lag
        Largest lag in pixels (default a fifth of the smallest scene's shorter side).
    block_px
        Tile size of the bootstrap units, in pixels.
    max_missing
        A block mean (detail energies, LST-NDVI) exists when at most this fraction of its pixels
        is missing or outside the landscape (same meaning as in :func:`scalelaws.grids.coarsen`).
    include_all
        Add the pseudo-landscape :data:`ALL` (every valid pixel).
    detail
        Compute the detail energies ``det_sum`` / ``det_weight`` (``False`` leaves them out:
        about half the cost when only structure functions are needed).
    scene_sums
        Optional ``f(index, scene, mask_data, ndvi, lags, q, block_px, n_levels, max_missing,
        detail)`` returning a ``dask.delayed`` dict of one scene's sums (or ``None`` for the
        default single task): :func:`scalelaws.stats.chunked.law_scene_sums` reads a raster
        larger than memory block by block.

    Returns
    -------
    xarray.Dataset
        Dims ``unit`` (tiles of all scenes; coordinates ``scene`` and ``tile``), ``landscape``,
        ``q``, ``lag`` (coordinate ``lag_m``), ``level`` (block size ``2**level`` pixels,
        coordinate ``block_m``). Variables ``sf_sum(unit, landscape, q, lag)`` (sum of
        ``|dX|^q`` over pairs along x and y whose first end is in the unit), ``sf_count``,
        ``det_sum(unit, landscape, level)`` / ``det_weight`` (detail energy of blocks of size
        ``2**level`` into their four children, pixel weighted: ratio = variance of
        ``X_{l/2} - upsampled X_l``), ``n_pixels(unit, landscape)`` and, with NDVI,
        ``reg_n, reg_sx, reg_sy, reg_sxx, reg_sxy, reg_syy(unit, landscape, level)``: block-mean
        NDVI (x) and LST (y) centred on their scene mean at that block size. Every variable is a
        sum: add units (or concatenate calls) to pool.

    Raises
    ------
    InputError, GridMismatchError, AllNaNError, ScaleRangeError

    """
    scenes = _as_scenes(lst)
    n = len(scenes)
    cls = _per_scene(classes, n, "classes")
    nd = _per_scene(ndvi, n, "ndvi")
    if any(v is None for v in nd) and not all(v is None for v in nd):
        raise InputError("give NDVI for every scene or for none")
    qs = _check_q(q)
    if not 0.0 <= max_missing < 1.0:
        raise InputError(f"max_missing must be in [0, 1), got {max_missing}")
    if block_px < 4:
        raise InputError(f"block_px must be >= 4, got {block_px}")
    px = np.array([_pixel_size(s) for s in scenes])
    if np.any(np.abs(px / px[0] - 1.0) > 0.02):
        odd = int(np.argmax(np.abs(px / px[0] - 1.0)))
        raise GridMismatchError(
            f"scenes have different pixel sizes {sorted(set(np.round(px, 2)))} m (this scene: "
            f"{px[odd]:g} m, scene 0: {px[0]:g} m); scales are pooled in metres, so resample them "
            "to one pixel size first (scalelaws.grids.coarsen/align)",
            scenes[odd].attrs.get("source"),
        )
    pixel = float(np.mean(px))
    short = min(min(s.shape) for s in scenes)
    smallest = scenes[int(np.argmin([min(s.shape) for s in scenes]))].attrs.get("source")
    if max_lag is None:
        max_lag = max(short // 5, 1)
    lags_arr = default_lags(int(max_lag)) if lags is None else np.unique(np.asarray(lags, np.int64))
    if lags_arr.size == 0 or lags_arr.min() < 1:
        raise ScaleRangeError(f"lags must be positive integers, got {lags}")
    if lags_arr.max() >= short:
        raise ScaleRangeError(
            f"largest lag {lags_arr.max()} px does not fit in the smallest scene ({short} px)",
            smallest,
        )
    n_levels = max(int(np.floor(np.log2(lags_arr.max()))) + 1, 2)
    n_levels = min(n_levels, int(np.floor(np.log2(short))) + 1)

    names: list[str] = [ALL] if include_all else []
    per_scene_masks: list[dict[str, xr.DataArray]] = []
    for s, c in zip(scenes, cls, strict=True):
        m = class_masks(c, like=s) if c is not None else {}
        per_scene_masks.append(m)
        for k in m:
            if k not in names:
                names.append(k)
    if not names:
        raise InputError("no landscape: give classes or include_all=True")

    tasks = []
    for i, (s, m, v) in enumerate(zip(scenes, per_scene_masks, nd, strict=True)):
        if v is not None and v.shape != s.shape:
            raise GridMismatchError(
                f"scene {i}: NDVI shape {v.shape} differs from LST shape {s.shape}; put NDVI "
                "on the LST grid first (scalelaws.grids.align)",
                s.attrs.get("source") or v.attrs.get("source"),
            )
        # pass the arrays as they are (numpy or dask): a dask-backed scene is read inside its
        # task (on a worker under dask.distributed), not in the calling process
        mask_data = [None if name == ALL else (m[name].data if name in m else False) for name in names]
        task = None if scene_sums is None else scene_sums(
            i, s, mask_data, v, lags_arr, qs, int(block_px), n_levels, float(max_missing),
            bool(detail))
        tasks.append(
            task if task is not None else dask.delayed(_scene_task, pure=True)(
                s.data,
                mask_data,
                None if v is None else v.data,
                lags_arr,
                qs,
                int(block_px),
                n_levels,
                float(max_missing),
                i,
                s.attrs.get("source"),
                bool(detail),
            )
        )
    log.info("accumulating %d scene(s), %d landscape(s), %d lags", n, len(names), lags_arr.size)
    results = dask.compute(*tasks)

    scene_idx = np.concatenate([np.full(r["n_pixels"].shape[0], i) for i, r in enumerate(results)])
    tile_idx = np.concatenate([np.arange(r["n_pixels"].shape[0]) for r in results])

    def cat(key: str) -> np.ndarray:
        return np.concatenate([r[key] for r in results], axis=0)

    levels = np.arange(n_levels)
    ds = xr.Dataset(
        {
            "sf_sum": (("unit", "landscape", "q", "lag"), cat("sf_sum")),
            "sf_count": (("unit", "landscape", "lag"), cat("sf_count")),
            "n_pixels": (("unit", "landscape"), cat("n_pixels")),
        },
        coords={
            "unit": np.arange(scene_idx.size),
            "scene": ("unit", scene_idx),
            "tile": ("unit", tile_idx),
            "landscape": names,
            "q": qs,
            "lag": lags_arr,
            "lag_m": ("lag", lags_arr * pixel, {"units": "m", "long_name": "lag"}),
            "level": levels,
            "block_m": ("level", pixel * 2.0**levels, {"units": "m", "long_name": "block size"}),
        },
    )
    if detail:
        ds["det_sum"] = (("unit", "landscape", "level"), cat("det_sum"))
        ds["det_weight"] = (("unit", "landscape", "level"), cat("det_weight"))
    if nd[0] is not None:
        reg = np.concatenate([r["reg"] for r in results], axis=1)
        for r, key in enumerate(("reg_n", "reg_sx", "reg_sy", "reg_sxx", "reg_sxy", "reg_syy")):
            ds[key] = (("unit", "landscape", "level"), reg[r])
    ds["sf_sum"].attrs = {"long_name": "sum of |increment|^q over pairs (x and y)"}
    ds["sf_count"].attrs = {"long_name": "number of valid pairs", "units": "1"}
    if detail:
        ds["det_sum"].attrs = {"long_name": "pixel-weighted sum of squared child-minus-parent block means"}
        ds["det_weight"].attrs = {"long_name": "number of pixels in the detail sums", "units": "1"}
    ds["n_pixels"].attrs = {"long_name": "valid pixels in the landscape", "units": "1"}
    ds.attrs.update(
        pixel_size_m=pixel,
        block_px=int(block_px),
        max_missing=float(max_missing),
        n_scenes=n,
        sources="; ".join(str(s.attrs.get("source", f"scene {i}")) for i, s in enumerate(scenes)),
        units_lst=str(scenes[0].attrs.get("units", "K")),
    )
    return ds


def bootstrap_weights(
    sums: xr.Dataset, n_boot: int, *, unit: str = "auto", rng: np.random.Generator | int | None = None
) -> tuple[xr.DataArray, str]:
    """Multinomial resampling weights of the units of :func:`landscape_sums`.

    Parameters
    ----------
    sums
        Output of :func:`landscape_sums`.
    n_boot
        Number of replicates (>= 1).
    unit
        ``"scene"`` resamples whole scenes (independent scenes: the right choice with many),
        ``"tile"`` resamples tiles (spatial block bootstrap), ``"auto"``: scenes when there are
        at least 10, tiles otherwise.
    rng
        Generator or seed.

    Returns
    -------
    weights : xarray.DataArray, dims (replicate, unit)
        How many times each unit enters each replicate (a scene's tiles share its weight).
    unit : str
        The resampling unit used.

    """
    rng = np.random.default_rng(rng)
    if n_boot < 1:
        raise InputError(f"n_boot must be >= 1, got {n_boot}")
    scene = sums["scene"].values
    n_scenes = int(scene.max()) + 1
    if unit == "auto":
        unit = "scene" if n_scenes >= 10 else "tile"
    if unit == "scene":
        w = rng.multinomial(n_scenes, np.full(n_scenes, 1.0 / n_scenes), size=n_boot)[:, scene]
    elif unit == "tile":
        # only tiles that hold data are units (empty tiles would dilute nothing but cost draws)
        has = sums["n_pixels"].sum("landscape").values > 0
        idx = np.flatnonzero(has)
        w = np.zeros((n_boot, scene.size))
        w[:, idx] = rng.multinomial(idx.size, np.full(idx.size, 1.0 / idx.size), size=n_boot)
    else:
        raise InputError(f"bootstrap unit must be 'auto', 'scene' or 'tile', got {unit!r}")
    return xr.DataArray(w.astype(np.float64), dims=("replicate", "unit")), unit


# --------------------------------------------------------------------------------------------
# exponents
# --------------------------------------------------------------------------------------------
def _cf_dataset(ds: xr.Dataset, title: str, source: str) -> xr.Dataset:
    from datetime import datetime, timezone

    from scalelaws import __version__

    ds.attrs.update(
        title=title,
        Conventions="CF-1.8",
        source=source,
        history=f"{datetime.now(timezone.utc).isoformat(timespec='seconds')} scalelaws {__version__}",
    )
    return ds


def exponents_by_landscape(
    lst: xr.DataArray | Sequence[xr.DataArray],
    classes: ClassesLike | Sequence[ClassesLike] = None,
    *,
    q: Sequence[float] = (1, 2, 3, 4),
    scale_range: tuple[float, float] | None = None,
    n_boot: int = 100,
    lags: Sequence[int] | None = None,
    max_lag: int | None = None,
    block_px: int = 64,
    bootstrap: str = "auto",
    ci: float = 0.95,
    min_pairs: int = 100,
    include_all: bool = True,
    rng: np.random.Generator | int | None = None,
    wavelet: bool = True,
    detect_break: bool = True,
    calibrate: bool = True,
    n_calib: int = 20,
) -> xr.Dataset:
    """Scaling exponents, log-cumulants, spectral slope and break per landscape, with intervals.

    The field is set to NaN outside each landscape, so only pairs with both ends inside it
    count. Several scenes (a list or a ``scene`` dim) are pooled: sums and counts add up.

    Per landscape also (one scene only; NaN for pooled scenes):

    * ``c1``, ``c2`` with ``c1_ci``, ``c2_ci``: wavelet-leader log-cumulants of the field
      masked to the landscape (:func:`scalelaws.fit.leader_log_cumulants`: the NaN-aware
      leaders drop every leader whose support touches a pixel outside the landscape; fBm
      bias correction and calibrated block bootstrap as in :func:`scalelaws.fit.fit_scaling`,
      calibrated on fBm with the landscape's own mask and ``H``);
    * ``beta`` with ``beta_ci``: the 2-D spectral slope implied by the structure function,
      ``beta = 2 + zeta(2)`` (``P(k) ~ k**-beta`` for a self-similar isotropic field with
      ``0 < H < 1``; ``2 + 2 H`` when 2 is not among the orders), interval from ``zeta_ci``;
    * ``break_m`` with ``break_ci`` and ``break_significant``: two-segment fit of the
      landscape's ``S_2`` (:func:`scalelaws.fit.fit_break`, profile-likelihood interval).

    Parameters
    ----------
    lst
        LST field(s) in K (see :func:`landscape_sums`).
    classes
        Landscape labels or masks (one per scene for several scenes), or ``None``.
    q
        Orders.
    scale_range
        ``(min_m, max_m)`` lag range of the log-log fit in metres. Default: from 2 pixels (the
        sensor's first octave is excluded) to the largest lag.
    n_boot
        Bootstrap replicates (0 disables the intervals).
    lags, max_lag, block_px
        See :func:`landscape_sums`.
    bootstrap
        Resampling unit, see :func:`bootstrap_weights`.
    ci
        Coverage of the percentile intervals.
    min_pairs
        Lags with fewer pooled pairs in a landscape are dropped from its fit (set to NaN).
    include_all
        Add the pseudo-landscape :data:`ALL`.
    rng
        Generator or seed of the bootstrap.
    wavelet
        Estimate ``c1``, ``c2`` per landscape (wavelet leaders).
    detect_break
        Fit the break of ``S_2`` per landscape.
    calibrate, n_calib
        fBm bias correction and interval calibration of ``c1``, ``c2`` (see
        :func:`scalelaws.fit.fit_scaling`); ``n_calib`` fBm fields per landscape (cached).

    Returns
    -------
    xarray.Dataset
        ``S(landscape, q, lag)`` (K^q), ``S_ci(..., bound)``, ``count(landscape, lag)``,
        ``zeta(landscape, q)`` with ``zeta_ci(landscape, q, bound)``, ``H(landscape)``
        (= ``zeta(2)/2`` when 2 is among the orders, else ``zeta(q_min)/q_min``) with ``H_ci``,
        ``c1``, ``c2``, ``beta``, ``break_m`` with ``c1_ci``, ``c2_ci``, ``beta_ci``,
        ``break_ci`` ``(landscape, bound)``, ``break_significant(landscape)``,
        ``n_pixels(landscape)``; coordinates ``lag`` (px) and ``lag_m`` (m); attrs
        ``scale_range_m``, ``bootstrap_unit``, ``n_boot``, ``wavelet_octaves`` (per
        landscape, ``j1, j2``).

    """
    sums = landscape_sums(
        lst, classes, q=q, lags=lags, max_lag=max_lag, block_px=block_px, include_all=include_all,
        detail=False,  # only the structure-function sums are used here
    )
    pixel = sums.attrs["pixel_size_m"]
    lag_m = sums["lag_m"].values
    if scale_range is None:
        scale_range = (2.0 * pixel, float(lag_m.max()))
    lo_m, hi_m = (float(v) for v in scale_range)
    sel = (lag_m >= lo_m * (1 - 1e-9)) & (lag_m <= hi_m * (1 + 1e-9))
    if sel.sum() < 2:
        raise ScaleRangeError(
            f"scale range {lo_m:g}-{hi_m:g} m holds {int(sel.sum())} lag(s) of "
            f"{lag_m.min():g}-{lag_m.max():g} m; need at least 2"
        )
    tot_s = sums["sf_sum"].sum("unit").values  # (L, Q, K)
    tot_c = sums["sf_count"].sum("unit").values  # (L, K)
    S = pooled_ratio(tot_s[None], tot_c[None], min_pairs)
    x = np.log(lag_m[sel])
    zeta, _ = ols_slope(x, np.log(S[..., sel]))
    qs = sums["q"].values
    iq = int(np.flatnonzero(qs == 2)[0]) if np.any(qs == 2) else int(np.argmin(qs))
    H = zeta[:, iq] / qs[iq]

    bound = ["lower", "upper"]
    S_ci = np.full(S.shape + (2,), np.nan)
    zeta_ci = np.full(zeta.shape + (2,), np.nan)
    H_ci = np.full(H.shape + (2,), np.nan)
    unit = "none"
    if n_boot > 0:
        w, unit = bootstrap_weights(sums, n_boot, unit=bootstrap, rng=rng)
        Sb = pooled_ratio(sums["sf_sum"].values, sums["sf_count"].values, min_pairs,
                          weights=w.values)
        with np.errstate(invalid="ignore", divide="ignore"):
            zb, _ = ols_slope(x, np.log(Sb[..., sel]))
        S_ci = percentile_interval(Sb, ci)
        zeta_ci = percentile_interval(zb, ci)
        H_ci = percentile_interval(zb[:, :, iq] / qs[iq], ci)
    per = _per_landscape_extras(
        lst, classes, list(sums["landscape"].values), lag_m[sel], S[:, iq, sel], H, H_ci,
        (lo_m, hi_m), n_boot=n_boot, ci=ci, rng=rng, wavelet=wavelet,
        detect_break=detect_break, calibrate=calibrate, n_calib=n_calib,
        zeta2=(zeta[:, iq], zeta_ci[:, iq]) if qs[iq] == 2 else None,
    )
    units = sums.attrs["units_lst"]
    ds = xr.Dataset(
        {
            "S": (("landscape", "q", "lag"), S, {"long_name": "structure function <|dX|^q>", "units": f"{units}^q"}),
            "S_ci": (("landscape", "q", "lag", "bound"), S_ci, {"long_name": f"{ci:.0%} bootstrap interval of S", "units": f"{units}^q"}),
            "count": (("landscape", "lag"), tot_c, {"long_name": "number of pairs", "units": "1"}),
            "zeta": (("landscape", "q"), zeta, {"long_name": "scaling exponent zeta(q)", "units": "1"}),
            "zeta_ci": (("landscape", "q", "bound"), zeta_ci, {"long_name": f"{ci:.0%} bootstrap interval of zeta", "units": "1"}),
            "H": ("landscape", H, {"long_name": f"Hurst exponent zeta({qs[iq]:g})/{qs[iq]:g}", "units": "1"}),
            "H_ci": (("landscape", "bound"), H_ci, {"long_name": f"{ci:.0%} bootstrap interval of H", "units": "1"}),
            "n_pixels": ("landscape", sums["n_pixels"].sum("unit").values, {"long_name": "valid pixels", "units": "1"}),
            **per,
        },
        coords={
            "landscape": sums["landscape"].values,
            "q": qs,
            "lag": sums["lag"].values,
            "lag_m": sums["lag_m"],
            "bound": bound,
        },
    )
    ds.attrs.update(
        scale_range_m=[lo_m, hi_m],
        pixel_size_m=pixel,
        n_boot=int(n_boot),
        bootstrap_unit=unit,
        ci=float(ci),
        n_scenes=int(sums.attrs["n_scenes"]),
    )
    return _cf_dataset(ds, "scaling exponents per landscape", sums.attrs["sources"])


def _per_landscape_extras(
    lst: Any,
    classes: Any,
    names: list[str],
    lag_m: np.ndarray,
    S2: np.ndarray,
    H: np.ndarray,
    H_ci: np.ndarray,
    scale_range: tuple[float, float],
    *,
    n_boot: int,
    ci: float,
    rng: Any,
    wavelet: bool,
    detect_break: bool,
    calibrate: bool,
    n_calib: int,
    zeta2: tuple[np.ndarray, np.ndarray] | None,
) -> dict[str, tuple]:
    """``c1``, ``c2``, ``beta``, break (and intervals) of every landscape, as Dataset vars."""
    from scalelaws.fit import fit_break, leader_log_cumulants

    nl = len(names)
    c = {k: np.full(nl, np.nan) for k in ("c1", "c2", "beta", "break_m")}
    c_ci = {k: np.full((nl, 2), np.nan) for k in c}
    sig = np.zeros(nl, dtype=bool)
    octaves = np.full((nl, 2), -1, dtype=np.int64)
    if zeta2 is not None:
        c["beta"], c_ci["beta"] = 2.0 + zeta2[0], 2.0 + zeta2[1]
    else:
        c["beta"], c_ci["beta"] = 2.0 + 2.0 * H, 2.0 + 2.0 * H_ci
    if detect_break:
        for i in range(nl):
            ok = np.isfinite(S2[i]) & (S2[i] > 0)
            if ok.sum() < 6:
                continue
            try:
                br = fit_break(lag_m[ok], S2[i][ok], min_points=3, level=ci)
            except InputError as exc:
                log.info("break of %s not fitted: %s", names[i], exc)
                continue
            c["break_m"][i], c_ci["break_m"][i] = br.break_scale, np.asarray(br.break_ci)
            sig[i] = bool(br.significant)
    scenes = _as_scenes(lst)
    if wavelet and len(scenes) > 1:
        log.info("c1, c2 per landscape are computed for one scene only (%d given): NaN",
                 len(scenes))
    elif wavelet:
        field = scenes[0]
        masks = class_masks(_per_scene(classes, 1, "classes")[0], like=field)
        gen = np.random.default_rng(rng)
        for i, name in enumerate(names):
            if name == ALL:
                da = field
            elif name in masks:
                da = field.where(np.asarray(masks[name].values, dtype=bool))
            else:
                continue
            if not np.isfinite(np.asarray(da.values, dtype=float)).any():
                continue
            try:
                r = leader_log_cumulants(da, scale_range=scale_range, n_boot=n_boot, level=ci,
                                         rng=gen, H=float(H[i]), calibrate=calibrate,
                                         n_calib=n_calib)
            except InputError as exc:  # e.g. too few valid leaders in a sparse class
                log.warning("c1, c2 of landscape %s not estimated: %s", name, exc)
                continue
            for k in ("c1", "c2"):
                c[k][i], c_ci[k][i] = r[k], r[f"{k}_ci"]
            octaves[i] = (r["j1"], r["j2"])
    lab = {"c1": "first log-cumulant of wavelet leaders (fBm bias-corrected)",
           "c2": "second log-cumulant of wavelet leaders (intermittency, fBm bias-corrected)",
           "beta": "spectral slope P(k) ~ k^-beta implied by the structure function, "
                   "2 + zeta(2)",
           "break_m": "break scale of S_2 (two-segment fit)"}
    out: dict[str, tuple] = {}
    for k in c:
        units = "m" if k == "break_m" else "1"
        out[k] = ("landscape", c[k], {"long_name": lab[k], "units": units})
        name = "break_ci" if k == "break_m" else f"{k}_ci"
        out[name] = (("landscape", "bound"), c_ci[k],
                     {"long_name": f"{ci:.0%} interval of {k}", "units": units})
    out["break_significant"] = ("landscape", sig, {"long_name": "two segments preferred "
                                                   "(F test and BIC)", "units": "1"})
    out["wavelet_octaves"] = (("landscape", "bound"), octaves,
                              {"long_name": "octaves j1, j2 of the c1, c2 fit", "units": "1"})
    return out


def windowed_exponents(
    lst: xr.DataArray,
    *,
    window_px: int = 64,
    step_px: int = 32,
    q: Sequence[float] = (2,),
    lags: Sequence[int] | None = None,
    scale_range: tuple[float, float] | None = None,
    min_valid: float = 0.75,
) -> xr.Dataset:
    """Map of local scaling exponents over moving windows.

    Parameters
    ----------
    lst
        2-D field (``y, x``).
    window_px, step_px
        Window side and step in pixels.
    q
        Orders.
    lags
        Lags in pixels used inside each window (default :func:`default_lags` up to
        ``window_px // 4``).
    scale_range
        ``(min_m, max_m)`` fit range (default: all lags from 2 pixels).
    min_valid
        Windows with a smaller fraction of valid pixels are NaN.

    Returns
    -------
    xarray.Dataset
        ``zeta(q, y, x)``, ``H(y, x)`` (= ``zeta(2)/2``, or ``zeta(q0)/q0`` for the smallest
        order), ``valid_fraction(y, x)``; ``y``/``x`` are the window centres in the field's
        coordinates; attrs ``window_px``, ``step_px``, ``scale_range_m``. Point estimates (OLS
        on the window's log-log structure function); use :func:`exponents_by_landscape` for
        intervals.

    """
    if not isinstance(lst, xr.DataArray) or lst.ndim != 2:
        raise InputError("windowed_exponents expects a 2-D DataArray (y, x)")
    ny, nx = lst.shape
    if window_px < 8 or window_px > min(ny, nx):
        raise ScaleRangeError(f"window_px must be in [8, {min(ny, nx)}], got {window_px}")
    if step_px < 1:
        raise InputError(f"step_px must be >= 1, got {step_px}")
    qs = _check_q(q)
    pixel = _pixel_size(lst)
    lags_arr = default_lags(window_px // 4) if lags is None else np.unique(np.asarray(lags, np.int64))
    lag_m = lags_arr * pixel
    lo_m, hi_m = scale_range if scale_range is not None else (2 * pixel, lag_m.max())
    sel = (lag_m >= lo_m * (1 - 1e-9)) & (lag_m <= hi_m * (1 + 1e-9))
    if sel.sum() < 2:
        raise ScaleRangeError(f"fewer than 2 lags in {lo_m:g}-{hi_m:g} m inside a {window_px} px window")
    a = np.asarray(lst.values, dtype=np.float64)
    i0s = np.arange(0, ny - window_px + 1, step_px)
    j0s = np.arange(0, nx - window_px + 1, step_px)
    x = np.log(lag_m[sel])
    # valid fraction of every window from a summed-area table
    ok = np.zeros((ny + 1, nx + 1))
    ok[1:, 1:] = np.cumsum(np.cumsum(np.isfinite(a), axis=0), axis=1)
    ie, je = i0s + window_px, j0s + window_px
    frac = (
        ok[ie][:, je] - ok[i0s][:, je] - ok[ie][:, j0s] + ok[i0s][:, j0s]
    ) / float(window_px * window_px)
    # every window in one kernel call; pairs with both ends inside the window
    s, c = pooled_tile_sums(a, lags_arr[sel], qs, window_px, ys=i0s, xs=j0s, contained=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        S = s / c[..., None]  # (wy, wx, K, Q)
        zeta = np.moveaxis(ols_slope(x, np.log(np.moveaxis(S, -1, -2)))[0], -1, 0)
    zeta = np.where(frac[None] >= min_valid, zeta, np.nan)
    iq = int(np.flatnonzero(qs == 2)[0]) if np.any(qs == 2) else int(np.argmin(qs))
    half = (window_px - 1) / 2.0
    yc = np.interp(i0s + half, np.arange(ny), lst["y"].values) if "y" in lst.coords else i0s + half
    xc = np.interp(j0s + half, np.arange(nx), lst["x"].values) if "x" in lst.coords else j0s + half
    ds = xr.Dataset(
        {
            "zeta": (("q", "y", "x"), zeta, {"long_name": "local scaling exponent zeta(q)", "units": "1"}),
            "H": (("y", "x"), zeta[iq] / qs[iq], {"long_name": "local Hurst exponent", "units": "1"}),
            "valid_fraction": (("y", "x"), frac, {"long_name": "valid pixels in the window", "units": "1"}),
        },
        coords={"q": qs, "y": yc, "x": xc},
    )
    ds.attrs.update(window_px=int(window_px), step_px=int(step_px), scale_range_m=[float(lo_m), float(hi_m)])
    if getattr(lst, "rio", None) is not None:
        try:
            crs = lst.rio.crs
            if crs is not None:
                ds.attrs["crs_wkt"] = crs.to_wkt()
        except Exception:  # noqa: BLE001 - no rioxarray accessor / no CRS: nothing to copy
            log.debug("no CRS copied to the windowed exponents")
    return _cf_dataset(ds, "windowed scaling exponents", str(lst.attrs.get("source", "")))
