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
import os
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from scalelaws.errors import AllNaNError, GridMismatchError, InputError
from sr import normalise
from sr.modelfile import load_sr_model  # safe loading of model files and checkpoints (re-exported)

__all__ = [
    "load_sr_model",
    "predict_array",
    "predict_dataarray",
    "predict_file",
    "blend_window",
    "check_guide_covers",
]

log = logging.getLogger(__name__)


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


class _MemberView:
    """One network of a model file seen as a module (its container's normalisation and settings)."""

    def __init__(self, parent: Any, net: Any) -> None:
        self.net = net
        self.norm = parent.norm
        self.factor = parent.factor
        self.cond_dim = parent.cond_dim
        self.hparams = parent.hparams


def _members(module: Any) -> list[Any]:
    """Return the member networks of ``module``: its ``members``, a sequence's items, or itself."""
    if hasattr(module, "members"):
        # a model file (sr.modelfile.SRInferenceModel) holds bare networks sharing one norm
        members = [m if hasattr(m, "net") else _MemberView(module, m) for m in module.members]
    elif isinstance(module, (Sequence, torch.nn.ModuleList)) and not isinstance(module, str):
        members = list(module)
    else:
        members = [module]
    if not members:
        raise ValueError("the model ensemble has no member")
    f0, g0 = int(members[0].factor), bool(members[0].net.needs_guide)
    for m in members[1:]:
        if int(m.factor) != f0 or bool(m.net.needs_guide) != g0:
            raise ValueError("every ensemble member must have the same factor and the same guide (NDVI) need")
    return members


def _available_cores() -> int:
    """CPU cores this process may run on (``os.sched_getaffinity``; ``os.cpu_count`` elsewhere)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@contextmanager
def _inference_settings(members: list[Any], devices: list[torch.device], threads: int | None, channels_last: bool):
    """Torch threads and channels-last convolution weights for the duration of a prediction.

    The thread count is ``threads``, or the available cores unless ``OMP_NUM_THREADS`` is set;
    the previous thread count and the members' (contiguous) weight layout are restored after.
    """
    old_threads = torch.get_num_threads()
    on_cpu = any(d.type == "cpu" for d in devices)
    if on_cpu and threads is None and "OMP_NUM_THREADS" not in os.environ:
        threads = _available_cores()
    if on_cpu and threads is not None and threads != old_threads:
        torch.set_num_threads(int(threads))
    if channels_last:
        for m in members:
            m.net.to(memory_format=torch.channels_last)
    try:
        with torch.inference_mode():
            yield
    finally:
        if channels_last:
            for m in members:
                m.net.to(memory_format=torch.contiguous_format)
        if torch.get_num_threads() != old_threads:
            torch.set_num_threads(old_threads)


def _member_inputs(
    member: Any, filled: np.ndarray, ndvi: np.ndarray | None, cond: np.ndarray | None, cache: dict
) -> tuple[np.ndarray, np.ndarray | None, torch.Tensor | None]:
    """Normalised LST, normalised guide and conditioning row of one member (shared when equal)."""
    norm = member.norm
    key = ("lst", *norm.stats("lst"))
    if key not in cache:
        cache[key] = norm.apply(filled).astype(np.float32, copy=False)
    g = None
    if ndvi is not None:
        gkey = ("ndvi", *norm.stats("ndvi"))
        if gkey not in cache:
            cache[gkey] = norm.apply_masked(ndvi, "ndvi")[0]
        g = cache[gkey]
    c_t = None
    if member.cond_dim:
        c = cond
        if c is None:
            stored = member.hparams.get("predict_cond")
            if stored is None:
                raise InputError("the model is conditioned but no conditioning vector was given or stored")
            c = stored
        c_t = torch.as_tensor(np.asarray(c, dtype=np.float32))[None]
    return cache[key], g, c_t


def _edge_windows(starts: np.ndarray, t: int, n: int, ramp: int, blend: str) -> np.ndarray:
    """Return the ``(len(starts), t)`` float32 blending windows of the tiles along one axis.

    ``starts``, ``t`` and the axis length ``n`` are on the fine grid; a window is tapered except
    at the raster's borders, and each edge case is computed once.
    """
    cases = {}
    rows = []
    for s in starts:
        key = (s > 0, s + t < n)
        if key not in cases:
            cases[key] = blend_window(t, ramp, kind=blend, lo=key[0], hi=key[1]).astype(np.float32)
        rows.append(cases[key])
    return np.stack(rows)


def _weight_sum(starts: np.ndarray, win: np.ndarray, n: int) -> np.ndarray:
    """Sum of the 1-D windows of all tiles along one axis (length ``n``, fine grid, float64)."""
    total = np.zeros(n, dtype=np.float64)
    t = win.shape[1]
    for s, w in zip(starts, win, strict=True):
        total[s : s + t] += w
    return total


def predict_array(
    module: Any,
    lst: np.ndarray,
    ndvi: np.ndarray | None = None,
    *,
    tile: int = 64,
    overlap: int = 8,
    blend: str = "cosine",
    batch_size: int = 16,
    cond: np.ndarray | None = None,
    device: str | torch.device | None = None,
    return_std: bool = False,
    threads: int | None = None,
    channels_last: bool = True,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Super-resolve a whole LST array (kelvin) with overlapping tiles.

    Each tile's output is weighted by a separable cosine (or linear) ramp over the overlap; the
    weighted outputs are summed and divided by the sum of the weights, so that a model that is
    exact on each tile stays exact on the mosaic. All tiles have the same size (the last row
    and column of tiles are shifted to end at the border), are gathered with a strided view and
    run in batches of ``batch_size`` under ``torch.inference_mode``, in float32, with
    channels-last convolutions. Tiles whose coarse pixels are all missing are not run: every
    fine pixel they cover is NaN in the output anyway.

    Parameters
    ----------
    module
        A trained :class:`sr.module.SRModule` (or any object with ``net``, ``norm``,
        ``factor``, ``cond_dim`` and ``hparams`` like it), or an ensemble: a sequence of such
        modules or an object with a ``members`` list of them. Every member runs on each batch
        of tiles; the prediction is the members' mean.
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
        Conditioning vector (default: the one stored in each model for its inference band).
    device
        Where to run (default: each network's device); the networks are moved there.
    return_std
        Also return the per-pixel ensemble standard deviation (population, over the members),
        ``sqrt(E[y^2] - E[y]^2)`` from the blended first and second moments of the members'
        outputs. Where tiles overlap, it also holds the spread between the overlapping tiles'
        predictions (law of total variance; 0 for a seam-free model), so a single model gives
        0 except in the overlaps. The moments are accumulated in float64.
    threads
        Torch CPU threads during the call (default: the cores this process may run on, from
        ``os.sched_getaffinity``, unless ``OMP_NUM_THREADS`` is set); restored afterwards.
    channels_last
        Run the convolutions in channels-last memory layout (the weights are converted for the
        call and restored to the contiguous layout afterwards).

    Returns
    -------
    numpy.ndarray or tuple of numpy.ndarray
        ``(h * factor, w * factor)`` float32 kelvin, NaN under missing coarse pixels; with
        ``return_std``, ``(mean, std)`` (std in kelvin, NaN at the same pixels).

    """
    lst = np.asarray(lst, dtype=np.float32)
    if lst.ndim != 2:
        raise InputError(f"LST must be a 2-D array, got shape {lst.shape}")
    if overlap >= tile:
        raise ValueError(f"overlap ({overlap}) must be smaller than tile ({tile})")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    members = _members(module)
    ref = members[0]
    f = int(ref.factor)
    h, w = lst.shape
    if device is not None:
        for m in members:
            m.net.to(device)  # (members may be views of an ensemble's networks, not modules)
    devices = [next(iter(m.net.parameters()), torch.zeros(())).device for m in members]
    missing = ~np.isfinite(lst)
    filled = _fill_nearest(lst)
    if ref.net.needs_guide:
        if ndvi is None:
            raise InputError("this model needs an NDVI guide on the fine grid (--ndvi)")
        ndvi = np.asarray(ndvi, dtype=np.float32)
        if ndvi.shape != (h * f, w * f):
            raise GridMismatchError(f"NDVI shape {ndvi.shape} is not {f} x the LST shape {lst.shape}")
        # missing guide pixels (e.g. the 0-3 fine rows/columns the MODIS-ASTER NDVI patch does
        # not cover once placed by its transform) take the nearest valid NDVI
        if np.isfinite(ndvi).any():
            ndvi = _fill_nearest(ndvi)
    else:
        ndvi = None
    cache: dict = {}
    inputs = [_member_inputs(m, filled, ndvi, cond, cache) for m in members]
    # every member's output y_k (kelvin) in the first member's normalised units: a_k o_k + b_k
    mean0, std0 = ref.norm.stats("lst")
    affine = [normalise.convert(*m.norm.stats("lst"), mean0, std0) for m in members]

    th, tw = min(tile, h), min(tile, w)
    ys, xs = _starts(h, th, th - overlap), _starts(w, tw, tw - overlap)
    TH, TW = th * f, tw * f
    ys_a, xs_a = np.asarray(ys), np.asarray(xs)
    wy = _edge_windows(ys_a * f, TH, h * f, overlap * f, blend)
    wx = _edge_windows(xs_a * f, TW, w * f, overlap * f, blend)
    wy_t, wx_t = torch.from_numpy(wy), torch.from_numpy(wx)
    iy, ix = np.meshgrid(np.arange(len(ys)), np.arange(len(xs)), indexing="ij")
    # tiles with at least one valid coarse pixel (the others are NaN in the output anyway)
    valid = np.lib.stride_tricks.sliding_window_view(~missing, (th, tw))[ys_a][:, xs_a].any(axis=(2, 3))
    iy, ix = iy[valid], ix[valid]
    log.debug("predict_array: %d of %d tiles of %d x %d, %d member(s)", iy.size, valid.size, th, tw, len(members))
    acc_dtype = np.float64 if return_std else np.float32
    acc1 = np.zeros((h * f, w * f), dtype=acc_dtype)
    acc2 = np.zeros_like(acc1) if return_std else None
    views = [
        (
            np.lib.stride_tricks.sliding_window_view(x, (th, tw)),
            None if g is None else np.lib.stride_tricks.sliding_window_view(g, (TH, TW)),
        )
        for x, g, _ in inputs
    ]
    mem_fmt = torch.channels_last if channels_last else torch.contiguous_format
    with _inference_settings(members, devices, threads, channels_last):
        for b0 in range(0, iy.size, batch_size):
            bi, bj = iy[b0 : b0 + batch_size], ix[b0 : b0 + batch_size]
            r, c = ys_a[bi], xs_a[bj]
            s1 = s2 = None
            for m, (_, _, c_t), (xv, gv), (a, b), dev in zip(members, inputs, views, affine, devices, strict=True):
                lr_b = torch.from_numpy(xv[r, c])[:, None].to(dev).contiguous(memory_format=mem_fmt)
                g_b = None
                if gv is not None:
                    g_b = torch.from_numpy(gv[r * f, c * f])[:, None].to(dev).contiguous(memory_format=mem_fmt)
                cb = c_t.to(dev).expand(len(bi), -1) if c_t is not None else None
                y = m.net(lr_b, guide=g_b, cond=cb)[:, 0].float().cpu()
                if a != 1.0 or b != 0.0:
                    y = y * a + b
                if return_std:
                    y = y.double()
                    s1 = y if s1 is None else s1 + y
                    s2 = y * y if s2 is None else s2 + y * y
                else:
                    s1 = y if s1 is None else s1 + y
            wt = (wy_t[bi][:, :, None] * wx_t[bj][:, None, :]).to(s1.dtype)
            if len(members) > 1:
                wt = wt / len(members)
            m1 = (s1 * wt).numpy()
            m2 = (s2 * wt).numpy() if s2 is not None else None
            for k in range(len(bi)):
                sl = (slice(r[k] * f, r[k] * f + TH), slice(c[k] * f, c[k] * f + TW))
                acc1[sl] += m1[k]
                if m2 is not None:
                    acc2[sl] += m2[k]
    # the weights are separable and the tiles a product grid: their sum is an outer product
    inv_y = (1.0 / _weight_sum(ys_a * f, wy, h * f)).astype(acc_dtype)
    inv_x = (1.0 / _weight_sum(xs_a * f, wx, w * f)).astype(acc_dtype)
    acc1 *= inv_y[:, None]
    acc1 *= inv_x[None, :]
    hole = missing[:, None, :, None]
    if return_std:
        acc2 *= inv_y[:, None]
        acc2 *= inv_x[None, :]
        acc2 -= acc1 * acc1
        np.maximum(acc2, 0.0, out=acc2)
        sd = (np.sqrt(acc2) * std0).astype(np.float32)
        np.copyto(sd.reshape(h, f, w, f), np.float32(np.nan), where=hole)
    normalise.invert(acc1, mean0, std0, out=acc1)
    res = acc1.astype(np.float32, copy=False)
    np.copyto(res.reshape(h, f, w, f), np.float32(np.nan), where=hole)
    return (res, sd) if return_std else res



def predict_dataarray(
    module: Any,
    lst: xr.DataArray,
    ndvi: xr.DataArray | None = None,
    **kw: Any,
) -> xr.DataArray:
    """Super-resolve a georeferenced LST field onto the grid ``factor`` times finer.

    The NDVI (when given) is placed on the fine grid by its own transform
    (:func:`sr.data.place_on_fine_grid`). Isolated implausible input pixels are replaced by
    their local median first (:func:`despike`; ``despike=False`` to keep them), and the
    model's output smoothing is applied last (:func:`smooth_output`; ``output_sigma_px`` to
    override it). The other ``**kw`` go to :func:`predict_array`; the
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
    sigma = kw.pop("output_sigma_px", None)
    values = np.asarray(lst.values)
    if kw.pop("despike", True):
        values, spikes = despike(values)
        if spikes.any():
            log.warning("%d input LST pixel(s) far from their neighbourhood (e.g. %.1f K) were "
                        "replaced by the local median before super-resolution",
                        int(spikes.sum()), float(np.asarray(lst.values)[spikes][0]))
    with_std = bool(kw.pop("return_std", False))
    sigma = output_sigma(module) if sigma is None else float(sigma)
    res = predict_array(module, values, nd, return_std=with_std, **kw)
    out, std = res if with_std else (res, None)
    out = smooth_output(out, sigma)
    da = refine_like(lst, f, out, name="lst")
    cfg = module.hparams["config"]
    attrs = {
        "sr_mode": cfg["mode"],
        "sr_model": cfg["model"]["name"],
        "sr_factor": f,
        "sr_members": len(_members(module)),
        "sr_output_sigma_px": sigma,
    }
    da.attrs.update({"units": "K", "long_name": "super-resolved land surface temperature", **attrs})
    if not with_std:
        return da
    cal = {"std_floor": std_floor(module), "std_scale": std_scale(module),
           "std_grad_scale": std_grad_scale(module)}
    grad = local_gradient(out) if cal["std_grad_scale"] else None  # only when it has weight
    std = spread_model(smooth_output(std, sigma), cal["std_floor"], cal["std_scale"], grad,
                       cal["std_grad_scale"])
    sda = refine_like(lst, f, std.astype(np.float32), name="lst_std")
    sda.attrs.update({"units": "K", "long_name": "standard uncertainty of the super-resolved land "
                      "surface temperature: sqrt(std_floor**2 + (std_scale * ensemble spread)**2 "
                      "+ (std_grad_scale * local gradient of the estimate)**2)", **cal, **attrs})
    return da, sda


#: Fine-pixel lags whose structure function the realisations restore (232 m and 463 m at 250 m).
REALISATION_LAGS = (1, 2)


def realisation_law(module: Any, law: Any = None) -> tuple[Any, list[float]]:
    """Return the correction law and per-lag calibration that give the realisations their texture.

    Parameters
    ----------
    module
        The model; ``module.postprocess["realisation"]`` may name a law file (relative to the
        model file's folder) and a calibration ``kappa`` per lag of :data:`REALISATION_LAGS`.
    law
        A :class:`scalelaws.laws.CorrectionLaw` or a law file, overriding the model's (then
        ``kappa`` is 1 unless the model's law is the same file).

    Returns
    -------
    (law, kappa)

    Raises
    ------
    InputError
        Neither a law given nor one stored with the model.

    """
    from scalelaws.laws import CorrectionLaw, load_law

    spec = dict((getattr(module, "postprocess", None) or {}).get("realisation") or {})
    kappa = [float(k) for k in spec.get("kappa", [1.0] * len(REALISATION_LAGS))]
    if isinstance(law, CorrectionLaw):
        return law, [1.0] * len(REALISATION_LAGS)
    base = Path(getattr(module, "source", ".")).parent
    stored = base / spec["law"] if spec.get("law") else None
    if law is not None:
        path = Path(law)
        if stored is None or path.resolve() != stored.resolve():
            kappa = [1.0] * len(REALISATION_LAGS)
        return load_law(path), kappa
    if stored is None:
        raise InputError("realisations need a correction law: this model stores none; give --law "
                         "LAW.nc (scalelaws laws fit)", getattr(module, "source", None))
    return load_law(stored), kappa


def realisation_target(law: Any, lst: xr.DataArray, factor: int) -> np.ndarray:
    """Return the law's S2 (K^2) at :data:`REALISATION_LAGS` fine pixels, anchored on the coarse ``lst``.

    ``sr.lawtargets.LawTargets`` with ``anchor="block"`` (what a MODIS pixel sees), before the
    calibration ``kappa``; used by :func:`realise_dataarray` and to fit ``kappa``
    (:func:`analysis.realisations.fit_kappa`).
    """
    from scalelaws.grids import pixel_size
    from sr.lawtargets import LawTargets

    lt = LawTargets(law, q=(2.0,), lags=REALISATION_LAGS, coarse_lags=(1, 2, 4), anchor="block",
                    use_law_conditioning=False)
    return np.asarray(lt.sf_target(np.asarray(lst.values, dtype=np.float64), pixel_size(lst),
                                   int(factor))[0], dtype=np.float64)


def realise_dataarray(module: Any, mean: xr.DataArray, lst: xr.DataArray, n: int, *,
                      law: Any = None, seed: int = 0,
                      kappa: Sequence[float] | None = None) -> xr.DataArray:
    """``n`` realisations of the fine LST around the best estimate ``mean`` (:mod:`scalelaws.texture`).

    The target texture is the law's structure function at the fine lags
    :data:`REALISATION_LAGS`, anchored on the coarse ``lst`` as a MODIS pixel sees it
    (:class:`sr.lawtargets.LawTargets` with ``anchor="block"``), times the model's calibration
    ``kappa`` (the ASTER / law-target ratio fitted on training fields). Each realisation keeps
    the block means of ``mean`` (the 1 km consistency).

    Parameters
    ----------
    module
        The model (its ``factor``, and its law and ``kappa`` unless given).
    mean, lst
        The best estimate (fine grid) and the coarse LST it was made from.
    n, seed
        Number of realisations and the seed of the first.
    law, kappa
        Override the model's law (:func:`realisation_law`) and calibration.

    Returns
    -------
    xarray.DataArray
        ``(realisation, y, x)`` float32 on ``mean``'s grid, attrs with the texture fitted.

    """
    from scalelaws.texture import realisations

    f = int(module.factor)
    the_law, stored_kappa = realisation_law(module, law)
    kappa = list(stored_kappa if kappa is None else kappa)
    target = realisation_target(the_law, lst, f) * np.asarray(kappa)
    stack, info = realisations(np.asarray(mean.values), target, n, factor=f,
                               lags=REALISATION_LAGS, seed=seed)
    da = xr.DataArray(stack, dims=("realisation", *mean.dims),
                      coords={"realisation": np.arange(1, n + 1), **{d: mean[d] for d in mean.dims}},
                      name="lst_realisation")
    da.attrs.update({"units": "K", "long_name": "realisation of the super-resolved land surface "
                     "temperature (law texture, 1 km block means of the estimate kept)",
                     "seed": int(seed), "kappa": list(kappa),
                     **{f"texture_{k}": float(v) for k, v in info.items()}})
    if mean.rio.crs is not None:
        da = da.rio.write_crs(mean.rio.crs)
    return da


def _postprocess_value(module: Any, key: str, default: float) -> float:
    """``module.postprocess[key]`` as a float (``default`` when absent)."""
    post = getattr(module, "postprocess", None) or {}
    return float(post.get(key, default))


def std_scale(module: Any) -> float:
    """Return the calibration factor of the ensemble spread (``postprocess["std_scale"]``, 1)."""
    return _postprocess_value(module, "std_scale", 1.0)


def std_floor(module: Any) -> float:
    """Return the spread-independent part of the uncertainty (``postprocess["std_floor"]``, 0 K)."""
    return _postprocess_value(module, "std_floor", 0.0)


def std_grad_scale(module: Any) -> float:
    """Return the weight of the estimate's local gradient in the uncertainty (``postprocess["std_grad_scale"]``, 0)."""
    return _postprocess_value(module, "std_grad_scale", 0.0)


def local_gradient(field: np.ndarray) -> np.ndarray:
    """Magnitude of the gradient of a 2-D field, in its units per pixel (central differences).

    Missing pixels (NaN) are first filled with their nearest valid neighbour, so a valid pixel
    next to a gap gets a (one-sided) gradient instead of NaN, and the result is NaN exactly
    where the field is; one-sided differences at the edges as :func:`numpy.gradient`.
    """
    from scipy.ndimage import distance_transform_edt

    a = np.asarray(field, dtype=np.float64)
    bad = ~np.isfinite(a)
    if a.ndim != 2 or min(a.shape) < 2 or bad.all():
        return np.full(a.shape, np.nan)
    if bad.any():
        idx = distance_transform_edt(bad, return_distances=False, return_indices=True)
        a = a[tuple(idx)]
    gy, gx = np.gradient(a)
    out = np.hypot(gy, gx)
    out[bad] = np.nan
    return out


def spread_model(spread: np.ndarray, floor: float, scale: float, grad: np.ndarray | None = None,
                 grad_scale: float = 0.0) -> np.ndarray:
    """Per-pixel standard uncertainty: ``sqrt(floor**2 + (scale s)**2 + (grad_scale g)**2)``.

    ``s`` is the ensemble spread (the members' disagreement), ``g`` the magnitude of the
    estimate's local gradient (:func:`local_gradient`, K per output pixel: errors are larger
    where the field changes fast, where a misplaced edge costs most), ``floor`` (K) the error
    every member shares. ``floor``, ``scale`` and ``grad_scale`` are fitted by
    :func:`analysis.selection.fit_spread_model` on held-out pairs. With ``floor = 0`` and no
    gradient it is the spread times ``scale``; NaN stays NaN; the dtype of ``spread`` is kept.
    """
    s = np.asarray(spread)
    var = np.float64(floor) ** 2 + (np.float64(scale) * s) ** 2
    if grad is not None and grad_scale:
        var = var + (np.float64(grad_scale) * np.asarray(grad, dtype=np.float64)) ** 2
    return np.sqrt(var).astype(s.dtype, copy=False)


def despike(lst: np.ndarray, *, size: int = 5, min_k: float = 20.0,
            n_sigma: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    """Replace isolated implausible LST pixels (a 402 K pixel in a 300 K scene) by local medians.

    A pixel is a spike when it departs from the median of its ``size x size`` neighbourhood by
    more than ``max(min_k, n_sigma * s)``, ``s`` being the robust (MAD) standard deviation of
    those departures over the scene. Such values survive the product's QC now and then, and a
    network (or a regression fitted on the tile) would spread them over the fine grid.

    Returns
    -------
    (cleaned, spikes)
        A copy with the spikes replaced, and their boolean mask. NaN stays NaN.

    """
    from scipy.ndimage import median_filter

    a = np.asarray(lst, dtype=np.float64)
    ok = np.isfinite(a)
    if ok.sum() < 9:
        return a.astype(np.float32), np.zeros(a.shape, dtype=bool)
    med = median_filter(_fill_nearest(a), size=size, mode="nearest")
    dev = np.where(ok, a - med, np.nan)
    s = 1.4826 * float(np.nanmedian(np.abs(dev - np.nanmedian(dev))))
    spikes = ok & (np.abs(np.nan_to_num(dev)) > max(min_k, n_sigma * s))
    out = a.copy()
    out[spikes] = med[spikes]
    return out.astype(np.float32), spikes


def output_sigma(module: Any) -> float:
    """Return the model's output smoothing (fine pixels; 0 = none), chosen by the nested selection.

    Read from ``module.postprocess["gaussian_sigma_px"]`` (model files) or the hyper-parameter
    ``postprocess`` (0 when absent: a plain Lightning checkpoint).
    """
    post = getattr(module, "postprocess", None)
    if post is None:
        hp = getattr(module, "hparams", None) or {}
        post = hp.get("postprocess") if hasattr(hp, "get") else None
    return float((post or {}).get("gaussian_sigma_px", 0.0))


def smooth_output(arr: np.ndarray, sigma: float) -> np.ndarray:
    """NaN-preserving Gaussian smoothing of a prediction (:func:`scalelaws.grids.gaussian_smooth`).

    The MSE-optimal 250 m estimate is smoother than the 250 m field itself (the guide and the
    co-registration are imperfect): the nested selection chooses ``sigma`` on the ASTER RMSE of
    inner folds (:mod:`analysis.selection`). Missing pixels stay missing.
    """
    from scalelaws.grids import gaussian_smooth

    if sigma <= 0:
        return arr
    out = gaussian_smooth(arr, sigma).astype(np.float32)
    out[~np.isfinite(arr)] = np.nan
    return out


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


def write_prediction(da: xr.DataArray, out: str | Path, *, std: xr.DataArray | None = None,
                     realisations: xr.DataArray | None = None) -> Path:
    """Write a fine LST field as GeoTIFF (COG when available) or NetCDF (by the suffix).

    With ``std`` (the ensemble standard deviation on the same grid) the GeoTIFF has two bands,
    ``lst`` and ``lst_std``, and the NetCDF two variables. With ``realisations``
    (:func:`realise_dataarray`) they follow as bands ``lst_r1 ... lst_rN`` (GeoTIFF) or the
    variable ``lst_realisation (realisation, y, x)`` (NetCDF).

    The write is atomic (:func:`scalelaws.io.atomic.atomic_path`): an interrupted run leaves
    the previous file, never a truncated one.
    """
    from scalelaws.io.atomic import atomic_path

    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".tif", ".tiff", ".nc", ".nc4", ".netcdf"):
        raise InputError("output must end in .tif/.tiff (GeoTIFF) or .nc (NetCDF)", out)
    with atomic_path(out) as tmp:
        _write_prediction(da, tmp, suffix, std, realisations)
    return out


def _write_prediction(da: xr.DataArray, out: Path, suffix: str, std: xr.DataArray | None = None,
                      realisations: xr.DataArray | None = None) -> None:
    if suffix in (".tif", ".tiff"):
        driver = "COG" if _cog_available() else "GTiff"
        img = da
        layers, names = [da], ["lst"]
        if std is not None:
            layers.append(std.assign_coords(x=da["x"], y=da["y"]))
            names.append("lst_std")
        if realisations is not None:
            for k in range(realisations.sizes["realisation"]):
                layers.append(realisations.isel(realisation=k, drop=True).assign_coords(x=da["x"], y=da["y"]))
                names.append(f"lst_r{k + 1}")
        if len(layers) > 1:
            img = xr.concat([a.drop_vars("spatial_ref", errors="ignore") for a in layers], dim="band")
            img = img.assign_coords(band=np.arange(1, len(layers) + 1))
            img.attrs = dict(da.attrs)
            img.attrs["long_name"] = tuple(names)
            img = img.rio.write_crs(da.rio.crs).rio.write_transform(da.rio.transform())
        img.rio.write_nodata(np.nan, encoded=False, inplace=True)
        kw: dict[str, Any] = {"driver": driver}
        if driver == "COG":
            kw["compress"] = "DEFLATE"
        else:
            kw.update(compress="deflate", tiled=True)
        img.rio.to_raster(out, **kw)
    elif suffix in (".nc", ".nc4", ".netcdf"):
        ds = da.to_dataset(name="lst")
        if std is not None:
            ds["lst_std"] = std
        if realisations is not None:
            ds["lst_realisation"] = realisations
        ds.attrs.update({"title": "super-resolved LST", "Conventions": "CF-1.8", "source": "scalelaws sr"})
        ds.to_netcdf(out, engine="h5netcdf")


#: Margin (in coarse pixels) a guide may fall short of the LST extent on each side (the
#: MODIS-ASTER NDVI patches miss 0-3 fine pixels of the 1 km blocks).
GUIDE_MARGIN_PX = 1.0


def covers(outer: tuple[float, ...], outer_crs: Any, inner: tuple[float, ...], inner_crs: Any,
           tol: float) -> bool:
    """Whether bounds ``outer`` (in ``outer_crs``) cover ``inner`` (in ``inner_crs``) within ``tol``.

    The one footprint test of a guide against an LST (used by
    :func:`check_guide_covers` and the NDVI matching of :mod:`sr.produce`).
    """
    from rasterio.warp import transform_bounds

    ob = tuple(outer)
    if outer_crs is not None and inner_crs is not None and outer_crs != inner_crs:
        ob = transform_bounds(outer_crs, inner_crs, *ob)
    return (ob[0] <= inner[0] + tol and ob[1] <= inner[1] + tol
            and ob[2] >= inner[2] - tol and ob[3] >= inner[3] - tol)


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
    tol = GUIDE_MARGIN_PX * pixel_size(lst, default=0.0)
    if covers(nb, ndvi.rio.crs, lb, lst.rio.crs, tol):
        return
    if ndvi.rio.crs is not None and lst.rio.crs is not None and ndvi.rio.crs != lst.rio.crs:
        nb = transform_bounds(ndvi.rio.crs, lst.rio.crs, *nb)
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
    uncertainty: bool = False,
    realisations: int = 0,
    law: str | Path | None = None,
    seed: int = 0,
    **kw: Any,
) -> Path:
    """Read an LST raster (and NDVI), super-resolve it, write the fine raster.

    Parameters
    ----------
    model
        Model file or checkpoint path (read by :func:`load_sr_model`), or a loaded model.
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
    uncertainty
        Also write the ensemble standard deviation (K): band 2 ``lst_std`` of the GeoTIFF, or
        the variable ``lst_std`` of the NetCDF.
    realisations
        Also write this many realisations (:func:`realise_dataarray`): bands ``lst_r1...`` after
        the others, or the NetCDF variable ``lst_realisation``.
    law, seed
        The realisations' correction law (default: the one stored with the model) and seed.
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
    res = predict_dataarray(module, lst, ndvi, return_std=uncertainty, **kw)
    da, std = res if uncertainty else (res, None)
    da.attrs["source"] = str(lst_path)
    reals = (realise_dataarray(module, da, lst, int(realisations), law=law, seed=seed)
             if realisations else None)
    return write_prediction(da, out_path, std=std, realisations=reals)
