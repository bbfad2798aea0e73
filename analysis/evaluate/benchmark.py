"""Many methods on many MODIS-ASTER pairs: :func:`evaluate` (and :func:`open_pairs`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from analysis import metrics as M
from analysis.evaluate.protocol import PROTOCOL, SCALAR_METRICS, OffsetSpec, Predictor, ScaleGrid
from analysis.evaluate.registration import _resolve_offset, coarse_disagreement, reproject_to_aster
from analysis.evaluate.scoring import score_pair
from analysis.evaluate.summary import summarize
from scalelaws import cf
from scalelaws.errors import InputError

logger = logging.getLogger(__name__)

__all__ = ["evaluate", "open_pairs"]


def open_pairs(pairs: Iterable | None = None, root: str | Path | None = None) -> list:
    """Open MODIS-ASTER pairs given by id (or pass opened pairs through); default: ``dev``."""
    from scalelaws.io import list_modis_aster_pairs, open_modis_aster_pair

    if pairs is None:
        pairs = list_modis_aster_pairs(root, split="dev")
    out = [open_modis_aster_pair(int(p), root) if isinstance(p, (int, np.integer, str)) else p
           for p in pairs]
    if not out:
        raise InputError("no MODIS-ASTER pair to evaluate")
    return out


def evaluate(
    predictors: Mapping[str, Predictor],
    pairs: Iterable | None = None,
    *,
    offset: OffsetSpec = "estimate",
    root=None,
    lags: Sequence[int] = M.DEFAULT_LAGS_PX,
    bands_px: Sequence[tuple[float, float]] = M.DEFAULT_BANDS_PX,
    n_boot: int = 2000,
    seed: int = 0,
    on_prediction: Callable[[str, Any, xr.DataArray], None] | None = None,
    scale_grid: ScaleGrid = "native",
) -> xr.Dataset:
    """Run every predictor on every pair and score it against ASTER.

    Parameters
    ----------
    predictors
        ``name -> predictor(pair) -> DataArray`` on the pair's 250 m MODIS grid (K).
    pairs
        Pair ids or :class:`scalelaws.io.ModisAsterPair` objects; default: the ``dev`` pairs.
    offset
        ``"estimate"`` (:func:`estimate_offset` on these pairs), ``"none"``, or ``(dx_m, dy_m)``.
    root
        Folder of the pairs (default: the shared data).
    lags, bands_px
        Scales of the scale-aware metrics (ASTER pixels).
    n_boot, seed
        Bootstrap resamples over pairs and their seed (see :func:`summarize`).
    on_prediction
        Called as ``on_prediction(method, pair, prediction)`` after each prediction (e.g. to
        save it).
    scale_grid
        Grid of the scale-aware metrics: ``"native"`` (each field on its own grid) or
        ``"reference"`` (after reprojection onto the ASTER grid); see :func:`score_fields`.

    Returns
    -------
    xarray.Dataset
        Per-pair metrics ``<metric>(method, pair)``, ``sf_log_ratio``/``s2_pred``
        (``method, pair, lag``), ``s2_aster(pair, lag)``, ``spectral_ratio(method, pair, band)``,
        ``runtime_s(method, pair)``, and the summary of :func:`summarize`.

    """
    if not predictors:
        raise InputError("no predictor given")
    plist = open_pairs(pairs, root)
    off, how = _resolve_offset(offset, plist)
    methods = list(predictors)
    nm, npair = len(methods), len(plist)
    res = {k: np.full((nm, npair), np.nan) for k in (*SCALAR_METRICS, "runtime_s")}
    res.update({k: np.full((nm, npair, len(lags)), np.nan) for k in ("sf_log_ratio", "s2_pred")})
    res["spectral_ratio"] = np.full((nm, npair, len(bands_px)), np.nan)
    res["s2_aster"] = np.full((npair, len(lags)), np.nan)
    floor = {k: np.full(npair, np.nan) for k in _FLOOR}
    for j, pair in enumerate(plist):
        for k, v in coarse_disagreement(pair, off).items():
            if k in floor:
                floor[k][j] = v
        preds = _run_predictors(predictors, pair, res["runtime_s"][:, j], on_prediction)
        # one scored set per pair: the footprint common to every method
        common = np.ones(pair.aster_250m.shape, dtype=bool)
        for pred in preds.values():
            common &= np.isfinite(reproject_to_aster(pred, pair, offset=off).values)
        for i, name in enumerate(methods):
            sc = score_pair(preds[name], pair, offset=off, lags=lags, bands_px=bands_px,
                            mask=common, scale_grid=scale_grid)
            for k in (*SCALAR_METRICS, "sf_log_ratio", "s2_pred", "spectral_ratio"):
                res[k][i, j] = sc[k]
            res["s2_aster"][j] = sc["s2_aster"]
            logger.info("pair %s %-10s RMSE %.2f K  SSIM %.3f  (%.2f s)", pair.id, name,
                        sc["rmse"], sc["ssim"], res["runtime_s"][i, j])
    ds = _evaluation_dataset(res, methods, plist, lags, bands_px)
    for k, (long_name, units) in _FLOOR.items():
        ds[f"modis_aster_1km_{k}"] = cf.var(("pair",), floor[k], long_name, units)
    ds.attrs = {
        "title": "1 km -> 250 m LST super-resolution scored against ASTER",
        "Conventions": cf.CONVENTIONS,
        "source": "MODIS-ASTER pairs (hal-04925380), " + str(plist[0].aster_250m.attrs.get(
            "source", "in memory")).rsplit("/", 2)[0],
        "history": cf.history("analysis.evaluate.evaluate"),
        "protocol": PROTOCOL if scale_grid == "native" else PROTOCOL.split(", each field")[0]
        + ", on the ASTER grid after the reprojection",
        "scale_metrics_grid": scale_grid,
        "offset_dx_m": off[0],
        "offset_dy_m": off[1],
        "offset_source": how,
        "aster_pixel_m": _aster_pixel_m(plist),
    }
    return summarize(ds, n_boot=n_boot, seed=seed)


def _run_predictors(
    predictors: Mapping[str, Predictor], pair: Any, runtime: np.ndarray,
    on_prediction: Callable[[str, Any, xr.DataArray], None] | None,
) -> dict[str, xr.DataArray]:
    """Every method's prediction for ``pair``; wall times written into ``runtime``."""
    preds = {}
    for i, name in enumerate(predictors):
        t0 = time.perf_counter()
        preds[name] = predictors[name](pair)
        runtime[i] = time.perf_counter() - t0
        if on_prediction is not None:
            on_prediction(name, pair, preds[name])
    return preds


def _aster_pixel_m(plist: list) -> float:
    return float(abs(plist[0].aster_250m.rio.transform(recalc=False).a))


#: Per-pair variables of :func:`evaluate`: name -> (dims, long name, units).
_PER_PAIR = {
    "runtime_s": (("method", "pair"), "wall time of the prediction", "s"),
    "sf_log_ratio": (("method", "pair", "lag"), "ln(S2 prediction / S2 ASTER)", "1"),
    "s2_pred": (("method", "pair", "lag"), "second-order structure function of the prediction",
                "K2"),
    "s2_aster": (("pair", "lag"), "second-order structure function of ASTER", "K2"),
    "spectral_ratio": (("method", "pair", "band"), "power spectrum ratio prediction / ASTER",
                       "1"),
}


#: Per-pair disagreement of MODIS with ASTER at 1 km (:func:`coarse_disagreement`): the floor
#: of a 1 km-consistent method. Key -> (long name, units); variables ``modis_aster_1km_<key>``.
_FLOOR = {
    "rmse": ("RMSE of MODIS 1 km LST against co-registered ASTER averaged to 1 km", "K"),
    "bias": ("mean of MODIS 1 km LST minus co-registered ASTER averaged to 1 km", "K"),
    "ubrmse": ("RMSE about the bias of MODIS 1 km LST against ASTER averaged to 1 km", "K"),
}


def _evaluation_dataset(res: dict[str, np.ndarray], methods: list[str], plist: list,
                        lags: Sequence[int],
                        bands_px: Sequence[tuple[float, float]]) -> xr.Dataset:
    """Gather the per-pair scores of :func:`evaluate` into a Dataset (without global attributes)."""
    px = _aster_pixel_m(plist)
    lo = np.array([b[0] for b in bands_px], dtype=np.float64)
    hi = np.array([b[1] for b in bands_px], dtype=np.float64)
    ds = xr.Dataset(
        coords={
            "method": methods,
            "pair": [int(p.id) for p in plist],
            "lag": ("lag", np.asarray(lags, dtype=np.int64),
                    cf.attrs("lag in ASTER pixels", "pixel")),
            "lag_m": ("lag", np.asarray(lags, dtype=np.float64) * px, {"units": "m"}),
            "band": ("band", np.arange(len(bands_px)), cf.attrs("wavelength band index")),
            "wavelength_lo_m": ("band", lo * px, {"units": "m"}),
            "wavelength_hi_m": ("band", hi * px, {"units": "m"}),
        }
    )
    for k, (units, long_name, better) in SCALAR_METRICS.items():
        ds[k] = (("method", "pair"), res[k], cf.attrs(long_name, units, better=better or "n/a"))
    for k, (dims, long_name, units) in _PER_PAIR.items():
        ds[k] = cf.var(dims, res[k], long_name, units)
    return ds
