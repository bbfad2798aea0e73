"""Whole-raster inference: tiled, blended, NaN-aware, georeferenced.

:func:`predict_array` super-resolves an array of any size by overlapping tiles whose outputs
are blended with a cosine (or linear) ramp over the overlap and normalised by the sum of the
weights, so a model that is exact on each tile stays exact on the mosaic (no seams).
Missing input pixels (NaN: cloud, fill) are filled for the network by the nearest valid pixel,
and the output is NaN again on the fine pixels of every missing coarse pixel.
:func:`predict_dataarray` puts the result on the grid ``factor`` times finer (same bounds, pixel
size divided by the factor, same CRS) and :func:`predict_file` reads a raster and writes a
GeoTIFF (Cloud-Optimised when GDAL's COG driver is available) or a NetCDF.
"""

from __future__ import annotations

import logging
import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from scalelaws.errors import AllNaNError, GridMismatchError, InputError

__all__ = [
    "load_sr_model",
    "predict_array",
    "predict_dataarray",
    "predict_file",
    "blend_window",
    "check_guide_covers",
]

log = logging.getLogger(__name__)


def load_sr_model(path: str | Path, *, map_location: str = "cpu") -> Any:
    """Load a trained :class:`sr.module.SRModule` from a Lightning checkpoint, in eval mode."""
    from sr.module import SRModule

    path = Path(path)
    if not path.is_file():
        raise InputError("model checkpoint not found", path)
    try:
        module = SRModule.load_from_checkpoint(path, map_location=map_location)
    except (RuntimeError, KeyError, EOFError, TypeError, pickle.UnpicklingError) as exc:
        raise InputError(f"not a scalelaws SR checkpoint: {exc}", path) from exc
    module.eval()
    return module


def blend_window(n: int, ramp: int, *, kind: str = "cosine", lo: bool = True, hi: bool = True) -> np.ndarray:
    """1-D blending weights of length ``n`` with ramps of ``ramp`` pixels at the tapered ends.

    Two adjacent tiles overlapping by ``ramp`` pixels have weights that sum to one over the
    overlap: ``cosine`` uses ``sin^2`` / ``cos^2`` halves, ``linear`` a straight ramp.

    Parameters
    ----------
    n
        Tile length.
    ramp
        Ramp length (the overlap); 0 gives flat weights.
    kind
        ``"cosine"`` or ``"linear"``.
    lo, hi
        Taper the start / the end (not at the raster's borders).

    """
    w = np.ones(n, dtype=np.float64)
    if ramp <= 0:
        return w
    t = (np.arange(ramp) + 0.5) / ramp
    if kind == "cosine":
        up = np.sin(0.5 * np.pi * t) ** 2
    elif kind == "linear":
        up = t
    else:
        raise ValueError(f"blend must be 'cosine' or 'linear', got {kind!r}")
    if lo:
        w[:ramp] *= up
    if hi:
        w[n - ramp :] *= up[::-1]
    return w


def _starts(n: int, tile: int, step: int) -> list[int]:
    if n <= tile:
        return [0]
    s = list(range(0, n - tile + 1, step))
    if s[-1] != n - tile:
        s.append(n - tile)
    return s


def _fill_nearest(a: np.ndarray) -> np.ndarray:
    """Replace NaN by the nearest valid value (Euclidean distance transform)."""
    from scipy.ndimage import distance_transform_edt

    bad = ~np.isfinite(a)
    if not bad.any():
        return a
    if bad.all():
        raise AllNaNError("every input pixel is missing")
    idx = distance_transform_edt(bad, return_distances=False, return_indices=True)
    return a[tuple(idx)]


@torch.no_grad()
def predict_array(
    module: Any,
    lst: np.ndarray,
    ndvi: np.ndarray | None = None,
    *,
    tile: int = 64,
    overlap: int = 8,
    blend: str = "cosine",
    batch_size: int = 8,
    cond: np.ndarray | None = None,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Super-resolve a whole LST array (kelvin) with overlapping tiles.

    Parameters
    ----------
    module
        A trained :class:`sr.module.SRModule` (or any object with ``net``, ``norm``,
        ``factor`` and ``cond_dim`` like it).
    lst
        ``(h, w)`` LST in kelvin; NaN = missing.
    ndvi
        ``(h * factor, w * factor)`` NDVI on the fine grid (required by guided models).
    tile
        Tile size in coarse pixels.
    overlap
        Overlap between tiles in coarse pixels (``< tile``); the blending ramps span it.
    blend
        ``"cosine"`` or ``"linear"``.
    batch_size
        Tiles per forward pass.
    cond
        Conditioning vector (default: the one stored in the model for its inference band).
    device
        Where to run (default: the module's device).

    Returns
    -------
    numpy.ndarray
        ``(h * factor, w * factor)`` float32 kelvin; NaN under missing coarse pixels.

    """
    lst = np.asarray(lst, dtype=np.float32)
    if lst.ndim != 2:
        raise InputError(f"LST must be a 2-D array, got shape {lst.shape}")
    f = int(module.factor)
    h, w = lst.shape
    net = module.net
    norm = module.norm
    if overlap >= tile:
        raise ValueError(f"overlap ({overlap}) must be smaller than tile ({tile})")
    if device is not None:
        module = module.to(device)
    dev = next(iter(module.parameters()), torch.zeros(())).device
    missing = ~np.isfinite(lst)
    x = (_fill_nearest(lst) - norm.lst_mean) / norm.lst_std
    g = None
    if net.needs_guide:
        if ndvi is None:
            raise InputError("this model needs an NDVI guide on the fine grid (--ndvi)")
        ndvi = np.asarray(ndvi, dtype=np.float32)
        if ndvi.shape != (h * f, w * f):
            raise GridMismatchError(f"NDVI shape {ndvi.shape} is not {f} x the LST shape {lst.shape}")
        # missing guide pixels (e.g. the 0-3 fine rows/columns the MODIS-ASTER NDVI patch does
        # not cover once placed by its transform) take the nearest valid NDVI
        if np.isfinite(ndvi).any():
            ndvi = _fill_nearest(ndvi)
        g = np.where(np.isfinite(ndvi), (ndvi - norm.ndvi_mean) / norm.ndvi_std, 0.0).astype(np.float32)
    c_t = None
    if module.cond_dim:
        if cond is None:
            stored = module.hparams.get("predict_cond")
            if stored is None:
                raise InputError("the model is conditioned but no conditioning vector was given or stored")
            cond = np.asarray(stored, dtype=np.float32)
        c_t = torch.as_tensor(np.asarray(cond, dtype=np.float32), device=dev)[None]
    th, tw = min(tile, h), min(tile, w)
    ys, xs = _starts(h, th, th - overlap), _starts(w, tw, tw - overlap)
    acc = np.zeros((h * f, w * f), dtype=np.float64)
    wsum = np.zeros_like(acc)
    jobs = [(r, c) for r in ys for c in xs]
    for b0 in range(0, len(jobs), batch_size):
        part = jobs[b0 : b0 + batch_size]
        lr_b = torch.as_tensor(np.stack([x[r : r + th, c : c + tw] for r, c in part])[:, None], device=dev)
        g_b = None
        if g is not None:
            g_b = torch.as_tensor(
                np.stack([g[r * f : (r + th) * f, c * f : (c + tw) * f] for r, c in part])[:, None], device=dev
            )
        cb = c_t.expand(len(part), -1) if c_t is not None else None
        out = net(lr_b, guide=g_b, cond=cb).float().cpu().numpy()[:, 0]
        for (r, c), o in zip(part, out, strict=True):
            ov_y = overlap * f
            wy = blend_window(th * f, ov_y, kind=blend, lo=r > 0, hi=r + th < h)
            wx = blend_window(tw * f, ov_y, kind=blend, lo=c > 0, hi=c + tw < w)
            wt = wy[:, None] * wx[None, :]
            acc[r * f : (r + th) * f, c * f : (c + tw) * f] += wt * o
            wsum[r * f : (r + th) * f, c * f : (c + tw) * f] += wt
    res = acc / np.maximum(wsum, 1e-12)
    res = (res * norm.lst_std + norm.lst_mean).astype(np.float32)
    res[np.repeat(np.repeat(missing, f, axis=0), f, axis=1)] = np.nan
    return res


def predict_dataarray(
    module: Any,
    lst: xr.DataArray,
    ndvi: xr.DataArray | None = None,
    **kw: Any,
) -> xr.DataArray:
    """Super-resolve a georeferenced LST field onto the grid ``factor`` times finer.

    The NDVI (when given) is placed on the fine grid by its own transform
    (:func:`sr.data.place_on_fine_grid`). ``**kw`` go to :func:`predict_array`; the
    conditioning vector is recomputed when the model stores a law path and the input's pixel
    size differs from the one the model was trained for.

    Returns
    -------
    xarray.DataArray
        Fine LST (K, float32) with the same bounds, the pixel size divided by the factor, the
        input's CRS, and attrs documenting the model.

    """
    from scalelaws.grids import pixel_size, refine_like

    f = int(module.factor)
    nd = None
    if ndvi is not None:
        from sr.data import place_on_fine_grid

        nd = place_on_fine_grid(ndvi, lst, f).values
    res_in = pixel_size(lst, default=float("nan"))
    expected = module.hparams.get("inference_res_m")
    if module.cond_dim and "cond" not in kw and expected and math.isfinite(res_in):
        if abs(res_in / expected - 1.0) > 0.05:
            kw["cond"] = _conditioning_for(module, res_in / f)
    out = predict_array(module, np.asarray(lst.values), nd, **kw)
    da = refine_like(lst, f, out, name="lst")
    cfg = module.hparams["config"]
    da.attrs.update(
        {
            "units": "K",
            "long_name": "super-resolved land surface temperature",
            "sr_mode": cfg["mode"],
            "sr_model": cfg["model"]["name"],
            "sr_factor": f,
        }
    )
    return da


def _conditioning_for(module: Any, target_res_m: float) -> np.ndarray:
    from sr.train import SRConfig, build_targets

    cfg = SRConfig.from_dict(module.hparams["config"])
    targets = build_targets(cfg)
    log.info("conditioning recomputed for a target resolution of %.1f m", target_res_m)
    return targets.conditioning(int(module.factor), target_res_m)


def _cog_available() -> bool:
    import rasterio

    with rasterio.Env() as env:
        return "COG" in env.drivers()


def write_prediction(da: xr.DataArray, out: str | Path) -> Path:
    """Write a fine LST field as GeoTIFF (COG when available) or NetCDF (by the suffix).

    The write is atomic (:func:`scalelaws.io.atomic.atomic_path`): an interrupted run leaves
    the previous file, never a truncated one.
    """
    from scalelaws.io.atomic import atomic_path

    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".tif", ".tiff", ".nc", ".nc4", ".netcdf"):
        raise InputError("output must end in .tif/.tiff (GeoTIFF) or .nc (NetCDF)", out)
    with atomic_path(out) as tmp:
        _write_prediction(da, tmp, suffix)
    return out


def _write_prediction(da: xr.DataArray, out: Path, suffix: str) -> None:
    if suffix in (".tif", ".tiff"):
        driver = "COG" if _cog_available() else "GTiff"
        da.rio.write_nodata(np.nan, encoded=False, inplace=True)
        kw: dict[str, Any] = {"driver": driver}
        if driver == "COG":
            kw["compress"] = "DEFLATE"
        else:
            kw.update(compress="deflate", tiled=True)
        da.rio.to_raster(out, **kw)
    elif suffix in (".nc", ".nc4", ".netcdf"):
        ds = da.to_dataset(name="lst")
        ds.attrs.update({"title": "super-resolved LST", "Conventions": "CF-1.8", "source": "scalelaws sr"})
        ds.to_netcdf(out, engine="h5netcdf")


#: Margin (in coarse pixels) a guide may fall short of the LST extent on each side (the
#: MODIS-ASTER NDVI patches miss 0-3 fine pixels of the 1 km blocks).
GUIDE_MARGIN_PX = 1.0


def check_guide_covers(ndvi: xr.DataArray, lst: xr.DataArray, ndvi_path: Any = None,
                       lst_path: Any = None) -> None:
    """Refuse an NDVI guide whose footprint does not cover the LST extent.

    Parameters
    ----------
    ndvi, lst
        Georeferenced fields (any CRS: the NDVI bounds are transformed into the LST's).
    ndvi_path, lst_path
        Files named in the error.

    Raises
    ------
    GridMismatchError
        The NDVI falls short of the LST extent by more than :data:`GUIDE_MARGIN_PX` coarse
        pixels on a side; the message gives both extents and the covered fraction.

    """
    from rasterio.warp import transform_bounds

    from scalelaws.grids import pixel_size

    lb = lst.rio.bounds()
    nb = ndvi.rio.bounds()
    if ndvi.rio.crs is not None and lst.rio.crs is not None and ndvi.rio.crs != lst.rio.crs:
        nb = transform_bounds(ndvi.rio.crs, lst.rio.crs, *nb)
    tol = GUIDE_MARGIN_PX * pixel_size(lst, default=0.0)
    if nb[0] <= lb[0] + tol and nb[1] <= lb[1] + tol and nb[2] >= lb[2] - tol and nb[3] >= lb[3] - tol:
        return
    ix = max(0.0, min(nb[2], lb[2]) - max(nb[0], lb[0]))
    iy = max(0.0, min(nb[3], lb[3]) - max(nb[1], lb[1]))
    frac = ix * iy / max((lb[2] - lb[0]) * (lb[3] - lb[1]), 1e-12)

    def fmt(b: Any) -> str:
        return "(" + ", ".join(f"{v:.1f}" for v in b) + ")"

    raise GridMismatchError(
        f"the NDVI guide covers only {frac:.0%} of the LST {lst_path or ''}: NDVI extent "
        f"{fmt(nb)} vs LST extent {fmt(lb)} (xmin, ymin, xmax, ymax in the LST's CRS); give an "
        "NDVI that covers the whole LST, or crop the LST to the NDVI",
        ndvi_path,
    )


def _open_input(path: str | Path, kind: str, band: int, **opts: Any) -> xr.DataArray:
    from scalelaws.io import open_lst, open_ndvi, open_raster

    opts = {k: v for k, v in opts.items() if v is not None}
    if band == 1:
        # product-aware readers: MODIS / Landsat / ASTER names get their own scale, QC and masks;
        # other files go to the generic reader with the declared units / scale / nodata / CRS
        da = (open_lst if kind == "lst" else open_ndvi)(path, **opts)
    else:
        da = open_raster(path, kind=kind, band=band, **opts)
    if da.ndim != 2:
        raise InputError(f"expected one 2-D band, got dims {da.dims}", path)
    return da


def predict_file(
    model: str | Path | Any,
    lst_path: str | Path,
    out_path: str | Path,
    *,
    ndvi_path: str | Path | None = None,
    band: int = 1,
    ndvi_band: int = 1,
    units: str | None = None,
    nodata: float | None = None,
    scale: float | None = None,
    offset: float | None = None,
    crs: str | None = None,
    ndvi_scale: float | None = None,
    **kw: Any,
) -> Path:
    """Read an LST raster (and NDVI), super-resolve it, write the fine raster.

    Parameters
    ----------
    model
        Checkpoint path or a loaded module.
    lst_path
        LST raster in kelvin (GeoTIFF or NetCDF readable by :func:`scalelaws.io.open_raster`).
    out_path
        ``.tif`` (GeoTIFF/COG) or ``.nc``.
    ndvi_path
        NDVI raster for guided models (any grid that covers the LST; placed by transforms).
    band, ndvi_band
        Bands to read.
    units
        Units of the LST file when it declares none (``"K"``); Celsius is refused.
    nodata
        Extra stored value marking missing LST pixels (e.g. ``0`` in MODIS exports).
    scale, offset, crs
        Generic LST rasters: ``physical = stored * scale + offset``; CRS of a file without one.
    ndvi_scale
        Generic NDVI rasters of scaled integers: ``NDVI = stored * ndvi_scale``.
    **kw
        Passed to :func:`predict_array` (``tile``, ``overlap``, ``blend``, ``batch_size``).

    """
    # the inputs are checked before the model is loaded: a bad raster fails fast
    lst = _open_input(lst_path, "lst", band, units=units, nodata=nodata, scale=scale,
                      offset=offset, crs=crs)
    ndvi = (_open_input(ndvi_path, "ndvi", ndvi_band, scale=ndvi_scale)
            if ndvi_path is not None else None)
    if lst.rio.crs is None:
        raise InputError("the LST raster has no CRS: the output could not be georeferenced", lst_path)
    if ndvi is not None:
        check_guide_covers(ndvi, lst, ndvi_path, lst_path)
    module = load_sr_model(model) if isinstance(model, (str, Path)) else model
    da = predict_dataarray(module, lst, ndvi, **kw)
    da.attrs["source"] = str(lst_path)
    return write_prediction(da, out_path)
