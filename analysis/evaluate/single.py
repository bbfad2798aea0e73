"""Scoring a user's prediction against a user's reference (``scalelaws evaluate``).

:func:`evaluate_prediction` applies the benchmark's protocol to any pair of rasters;
:func:`metrics_json`, :func:`metrics_table` and :func:`write_metrics` report its result.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import xarray as xr

from analysis import metrics as M
from analysis.evaluate.protocol import _SUBSAMPLES, PROTOCOL, SCALAR_METRICS, OffsetSpec, ScaleGrid
from analysis.evaluate.registration import _crs, _pixel_m, _resolve_offset, estimate_offset
from analysis.evaluate.scoring import score_fields
from scalelaws import cf
from scalelaws.errors import GridMismatchError, InputError

logger = logging.getLogger(__name__)

__all__ = ["evaluate_prediction", "metrics_json", "metrics_table", "write_metrics"]


def _check_lst(da: xr.DataArray, what: str) -> None:
    _crs(da, what)
    units = str(da.attrs.get("units", "K"))
    if units not in ("K", "kelvin", "Kelvin"):
        raise InputError(f"{what} must be LST in kelvin, got units {units!r}")
    if da.ndim != 2:
        raise InputError(f"{what} must be a single 2-D field, got dims {da.dims}")


def _nests(pred: xr.DataArray, coarse: xr.DataArray) -> bool:
    from analysis.baselines import coarse_index

    try:
        coarse_index(pred, coarse)
    except GridMismatchError as exc:
        logger.warning("no consistency error: the prediction does not nest in the coarse grid "
                       "(%s)", exc)
        return False
    return True


def evaluate_prediction(
    pred: xr.DataArray,
    ref: xr.DataArray,
    *,
    offset: OffsetSpec = None,
    coarse: xr.DataArray | None = None,
    aggregate_ref: bool = True,
    step_m: float = 58.0,
    max_m: float = 500.0,
    lags: Sequence[int] = M.DEFAULT_LAGS_PX,
    bands_px: Sequence[tuple[float, float]] = M.DEFAULT_BANDS_PX,
    erode_px: int = 1,
    scale_grid: ScaleGrid = "native",
) -> xr.Dataset:
    """Score one LST prediction against one high-resolution reference (Landsat, ASTER, airborne).

    The protocol of :func:`score_fields` (the benchmark's): the prediction is reprojected
    bilinearly onto the reference grid translated back by the co-registration offset, the
    pixel-wise metrics are computed there, the scale-aware ones on each field's native grid.

    Parameters
    ----------
    pred
        Prediction (K) with CRS and transform.
    ref
        Reference LST (K) with CRS and transform.
    offset
        ``None`` / ``"none"``: no co-registration; ``(dx_m, dy_m)``: the reference's
        displacement (x east, y north) in the CRS of ``coarse`` when given, else of ``pred``;
        ``"estimate"``: estimated (:func:`estimate_offset`) by correlating the reference,
        block-averaged, with ``coarse`` when given (independent of the prediction: the
        benchmark's choice), else with the prediction itself (which favours it: a warning says
        so).
    coarse
        The coarse input (e.g. MODIS 1 km LST): frame of the offset estimate and, when the
        prediction nests in its grid, the consistency error (NaN otherwise).
    aggregate_ref
        When the reference pixel is at least 1.5 times finer than the prediction's, average it
        first (``(mean T^4)^(1/4)``, :func:`scalelaws.grids.degrade`, complete blocks only) by
        the nearest integer ratio, so that the scores do not count sub-pixel variance that no
        prediction at that resolution can hold.
    step_m, max_m
        Offset search grid (m).
    lags, bands_px
        Scales of the scale-aware metrics, in (possibly aggregated) reference pixels.
    erode_px
        Erosion of the prediction footprint (pixels).
    scale_grid
        ``"native"`` or ``"reference"`` (:func:`score_fields`).

    Returns
    -------
    xarray.Dataset
        The scalars of :data:`SCALAR_METRICS` (0-d variables with ``units``/``long_name``),
        ``sf_log_ratio``, ``s2_pred``, ``s2_ref`` (``lag``), ``spectral_ratio`` (``band``);
        attrs: offset and its source, the protocol, pixel sizes, the reference aggregation.

    Raises
    ------
    InputError
        A raster without CRS, not in kelvin, or rasters that do not overlap (subclasses of
        :class:`scalelaws.errors.InputError`).

    """
    _check_lst(pred, "the prediction")
    _check_lst(ref, "the reference")
    if coarse is not None:
        _check_lst(coarse, "the coarse field")
    ref, factor = _aggregate_reference(pred, ref, aggregate_ref)
    frame = coarse if coarse is not None else pred
    off, how = _offset_for(offset, frame, ref, coarse, step_m=step_m, max_m=max_m)
    lst_1km = coarse if coarse is not None and _nests(pred, coarse) else None
    sc = score_fields(pred, ref, offset=off, frame=frame, lst_1km=lst_1km, lags=lags,
                      bands_px=bands_px, erode_px=erode_px, scale_grid=scale_grid)
    ds = _scores_dataset(sc, lags, bands_px, _pixel_m(ref))
    ds.attrs = {
        "title": "LST prediction scored against a high-resolution reference",
        "Conventions": cf.CONVENTIONS,
        "history": cf.history("analysis.evaluate.evaluate_prediction"),
        "prediction": str(pred.attrs.get("source", "in memory")),
        "reference": str(ref.attrs.get("source", "in memory")),
        "offset_dx_m": float(off[0]),
        "offset_dy_m": float(off[1]),
        "offset_frame_crs": str(_crs(frame, "the offset frame")),
        "offset_source": how,
        "prediction_pixel_m": _pixel_m(pred),
        "reference_pixel_m": _pixel_m(ref),
        "reference_aggregation_factor": int(factor),
        "scale_metrics_grid": scale_grid,
        "protocol": PROTOCOL.replace("MODIS 250 m grid", "its own grid").replace(
            "MODIS-ASTER offset", "co-registration offset").replace(
            "ASTER", "reference").replace(", common to all methods of a pair", "")
        + ("" if lst_1km is not None else "; no consistency error (no coarse field nesting it)"),
    }
    return ds


def _aggregate_reference(pred: xr.DataArray, ref: xr.DataArray,
                         aggregate_ref: bool) -> tuple[xr.DataArray, int]:
    """Average a finer reference to the prediction's resolution; return it and the factor."""
    from scalelaws.grids import degrade

    pred_px, ref_px = _pixel_m(pred), _pixel_m(ref)
    if ref_px >= 1.5 * pred_px:
        logger.warning("the reference (%.1f m) is coarser than the prediction (%.1f m): the "
                       "prediction is sampled bilinearly at its pixels, not averaged; aggregate "
                       "the prediction first for a like-for-like comparison", ref_px, pred_px)
    factor = int(round(pred_px / ref_px))
    if not (aggregate_ref and pred_px / ref_px >= 1.5):
        return ref, 1
    logger.info("reference averaged by %d x %d (%.1f m -> %.1f m) to the prediction's "
                "resolution (%.1f m)", factor, factor, ref_px, ref_px * factor, pred_px)
    return degrade(ref, factor, method="radiance", max_missing=0.0), factor


def _offset_for(offset: OffsetSpec, frame: xr.DataArray, ref: xr.DataArray,
                coarse: xr.DataArray | None, *, step_m: float,
                max_m: float) -> tuple[tuple[float, float], str]:
    """Return the co-registration offset (given, none or estimated against ``frame``) and its source."""
    if not (isinstance(offset, str) and offset == "estimate"):
        return _resolve_offset(offset, [])
    if coarse is None:
        logger.warning("offset estimated against the prediction itself: this favours the "
                       "prediction; give the coarse input (--coarse) for an independent one")
    sub = int(np.clip(round(_pixel_m(frame) / _pixel_m(ref)), 1, _SUBSAMPLES))
    probe = SimpleNamespace(id=0, lst_1km=frame, aster_250m=ref)
    off = estimate_offset([probe], step_m=step_m, max_m=max_m, subsamples=sub)
    return off, "estimated (1 km correlation with the " + (
        "coarse field)" if coarse is not None else "prediction)")


def _scores_dataset(sc: dict[str, Any], lags: Sequence[int],
                    bands_px: Sequence[tuple[float, float]], px: float) -> xr.Dataset:
    """Gather the scores of :func:`score_fields` into a Dataset (lags and bands in reference pixels)."""
    ds = xr.Dataset(coords={
        "lag": ("lag", np.asarray(lags, dtype=np.int64),
                cf.attrs("lag in reference pixels", "pixel")),
        "lag_m": ("lag", np.asarray(lags, dtype=np.float64) * px, {"units": "m"}),
        "band": ("band", np.arange(len(bands_px)), cf.attrs("wavelength band index")),
        "wavelength_lo_m": ("band", np.array([b[0] for b in bands_px], float) * px,
                            {"units": "m"}),
        "wavelength_hi_m": ("band", np.array([b[1] for b in bands_px], float) * px,
                            {"units": "m"}),
    })
    for k, (units, long_name, better) in SCALAR_METRICS.items():
        ds[k] = ((), sc[k], cf.attrs(long_name.replace("ASTER", "the reference"), units,
                                     better=better or "n/a"))
    ds["sf_log_ratio"] = cf.var("lag", sc["sf_log_ratio"], "ln(S2 prediction / S2 reference)",
                                "1")
    ds["s2_pred"] = cf.var("lag", sc["s2_pred"],
                           "second-order structure function of the prediction", "K2")
    ds["s2_ref"] = cf.var("lag", sc["s2_aster"],
                          "second-order structure function of the reference", "K2")
    ds["spectral_ratio"] = cf.var("band", sc["spectral_ratio"],
                                  "band variance ratio prediction / reference", "1")
    return ds


def metrics_json(ds: xr.Dataset) -> dict[str, Any]:
    """Convert the output of :func:`evaluate_prediction` to a JSON-serialisable dict (NaN -> None)."""

    def num(v: Any) -> Any:
        v = float(v)
        return v if math.isfinite(v) else None

    return {
        "metrics": {k: num(ds[k]) for k in SCALAR_METRICS},
        "units": {k: ds[k].attrs["units"] for k in SCALAR_METRICS},
        "scale": {
            "lag_m": [num(v) for v in ds["lag_m"].values],
            "sf_log_ratio": [num(v) for v in ds["sf_log_ratio"].values],
            "s2_pred_K2": [num(v) for v in ds["s2_pred"].values],
            "s2_ref_K2": [num(v) for v in ds["s2_ref"].values],
            "wavelength_lo_m": [num(v) for v in ds["wavelength_lo_m"].values],
            "wavelength_hi_m": [num(v) for v in ds["wavelength_hi_m"].values],
            "spectral_ratio": [num(v) for v in ds["spectral_ratio"].values],
        },
        "attrs": {k: (v if not isinstance(v, (np.floating, np.integer)) else v.item())
                  for k, v in ds.attrs.items()},
    }


def metrics_table(ds: xr.Dataset) -> str:
    """Markdown tables of the output of :func:`evaluate_prediction`."""
    lines = ["| metric | value | units |", "|---|---|---|"]
    for k in SCALAR_METRICS:
        v = float(ds[k])
        nd = 0 if k == "n_scored" else 3 if k in ("ssim", "r") else 2
        lines.append(f"| {k} | {v:.{nd}f} | {ds[k].attrs['units']} |" if np.isfinite(v)
                     else f"| {k} | n/a | {ds[k].attrs['units']} |")
    lines += ["", "| lag (m) | ln(S2 pred / S2 ref) |", "|---|---|"]
    lines += [f"| {lag:.0f} | {v:+.2f} |" for lag, v in zip(ds["lag_m"].values,
                                                            ds["sf_log_ratio"].values, strict=True)]
    lines += ["", "| wavelengths (m) | band variance ratio |", "|---|---|"]
    for lo, hi, v in zip(ds["wavelength_lo_m"].values, ds["wavelength_hi_m"].values,
                         ds["spectral_ratio"].values, strict=True):
        lines.append(f"| {lo:.0f}-{hi:.0f} | " + (f"{v:.2f}" if np.isfinite(v) else "n/a") + " |")
    lines += ["", f"Offset: {ds.attrs['offset_dx_m']:.1f} m east, {ds.attrs['offset_dy_m']:.1f} m "
              f"north ({ds.attrs['offset_source']}); reference pixel "
              f"{ds.attrs['reference_pixel_m']:.1f} m"
              + (f" (averaged x{ds.attrs['reference_aggregation_factor']})"
                 if ds.attrs["reference_aggregation_factor"] > 1 else "")
              + f"; scale-aware metrics on the {ds.attrs['scale_metrics_grid']} grids."]
    return "\n".join(lines) + "\n"


def write_metrics(ds: xr.Dataset, path: str | Path) -> Path:
    """Write the output of :func:`evaluate_prediction` to NetCDF (``.nc``) or JSON (``.json``)."""
    import json

    p = Path(path)
    if p.suffix.lower() not in (".nc", ".json"):
        raise InputError("the metrics file must end in .nc or .json", p)
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.suffix.lower() == ".nc":
        ds.to_netcdf(p)
    else:
        p.write_text(json.dumps(metrics_json(ds), indent=2) + "\n")
    logger.info("metrics written to %s", p)
    return p
