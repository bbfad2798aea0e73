"""Reports of :func:`analysis.evaluate.evaluate`: the markdown table and the result files."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import xarray as xr

from analysis.evaluate.protocol import SCALAR_METRICS
from analysis.evaluate.summary import paired_difference
from scalelaws.io.atomic import atomic_path, atomic_write_text

logger = logging.getLogger(__name__)

__all__ = ["markdown_table", "write_results"]


_TABLE_COLUMNS = ("rmse", "bias", "ubrmse", "mae", "r", "psnr", "ssim", "consistency_rmse",
                  "rmse_grad_low", "rmse_grad_mid", "rmse_grad_high")
_HEADERS = {"rmse": "RMSE (K)", "bias": "bias (K)", "ubrmse": "ubRMSE (K)", "mae": "MAE (K)",
            "r": "r", "psnr": "PSNR (dB)", "ssim": "SSIM", "consistency_rmse": "consist. (K)",
            "rmse_grad_low": "RMSE low grad (K)", "rmse_grad_mid": "RMSE mid grad (K)",
            "rmse_grad_high": "RMSE high grad (K)"}


def _fmt(mean: float, lo: float, hi: float, nd: int) -> str:
    if not np.isfinite(mean):
        return "n/a"
    return f"{mean:.{nd}f} [{lo:.{nd}f}, {hi:.{nd}f}]"


def markdown_table(ds: xr.Dataset, *, reference: str | None = None) -> str:
    """Markdown report: the metric table (means over pairs, bootstrap intervals) and scales.

    Parameters
    ----------
    ds
        Output of :func:`evaluate`.
    reference
        Method against which paired RMSE / SSIM differences are tabulated (default: ``bicubic``
        when present).

    """
    methods = [str(m) for m in ds["method"].values]
    if reference is None and "bicubic" in methods:
        reference = "bicubic"
    lines = _metric_table(ds, methods)
    if reference is not None and len(methods) > 1:
        lines += _difference_table(ds, methods, reference)
    lines += _scale_table(ds, methods)
    lines += _floor_lines(ds)
    rt = ds["runtime_s_mean"]
    lines += ["", "Mean prediction time per pair: " + ", ".join(
        f"{m} {float(rt.sel({'method': m})):.2f} s" for m in methods) + ".", "",
        f"Protocol: {ds.attrs['protocol']}."]
    return "\n".join(lines) + "\n"


def _floor_lines(ds: xr.Dataset) -> list[str]:
    """Report the MODIS-ASTER disagreement at 1 km: the floor of a 1 km-consistent method."""
    if "modis_aster_1km_rmse" not in ds:
        return []
    r, b, u = (np.asarray(ds[f"modis_aster_1km_{k}"].values, dtype=np.float64)
               for k in ("rmse", "bias", "ubrmse"))
    return ["", f"MODIS against co-registered ASTER averaged to 1 km (mean over pairs): RMSE "
            f"{np.nanmean(r):.2f} K, |bias| {np.nanmean(np.abs(b)):.2f} K, RMSE about the bias "
            f"{np.nanmean(u):.2f} K. A prediction whose 1 km means equal MODIS has a 250 m RMSE "
            "at least this large (a mean square is at least the square of the mean), up to "
            "the reprojection onto the ASTER grid."]


def _metric_table(ds: xr.Dataset, methods: list[str]) -> list[str]:
    """Write the header sentence and the table of means over pairs with their intervals."""
    lvl = float(ds.attrs.get("ci_level", 0.95))
    lines = [
        f"Mean over {ds.sizes['pair']} pairs, [{lvl:.0%} bootstrap interval over pairs, "
        f"{ds.attrs.get('n_boot', '?')} resamples]. MODIS-ASTER offset: "
        f"{ds.attrs['offset_dx_m']:.1f} m east, {-ds.attrs['offset_dy_m']:.1f} m south "
        f"({ds.attrs['offset_source']}).",
        "",
        "| method | " + " | ".join(_HEADERS[c] for c in _TABLE_COLUMNS) + " |",
        "|---|" + "---|" * len(_TABLE_COLUMNS),
    ]
    for m in methods:
        cells = []
        for c in _TABLE_COLUMNS:
            nd = 3 if c in ("ssim", "r") else 2
            mean = float(ds[f"{c}_mean"].sel({"method": m}))
            lo, hi = (float(v) for v in ds[f"{c}_ci"].sel({"method": m}).values)
            cells.append(_fmt(mean, lo, hi, nd))
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return lines


def _difference_table(ds: xr.Dataset, methods: list[str], reference: str) -> list[str]:
    """Paired RMSE and SSIM differences of every method against ``reference``."""
    lines = ["", f"Paired differences against {reference} (method - {reference}):", "",
             "| method | dRMSE (K) | dSSIM |", "|---|---|---|"]
    dr = paired_difference(ds, "rmse", reference)
    dsim = paired_difference(ds, "ssim", reference)
    for m in methods:
        if m == reference:
            continue
        a = dr.sel({"method": m})
        b = dsim.sel({"method": m})
        lines.append(
            f"| {m} | {_fmt(float(a.diff_mean), *map(float, a.diff_ci.values), 2)} | "
            f"{_fmt(float(b.diff_mean), *map(float, b.diff_ci.values), 3)} |")
    return lines


def _scale_table(ds: xr.Dataset, methods: list[str]) -> list[str]:
    """Tabulate the scale-aware metrics: ln S2 ratio per lag and spectral ratio per band."""
    where = ("each field on its own grid" if ds.attrs.get("scale_metrics_grid", "native")
             == "native" else "on the ASTER grid after the reprojection")
    lines = ["", "Scale-aware metrics (means over pairs, " + where + "): ln(S2 prediction / "
             "S2 ASTER) per lag (0 = ASTER's variance at that scale, < 0 too smooth) and "
             "spectral band-variance ratio per wavelength band (1 = ASTER's).", ""]
    lag_m = ds["lag_m"].values
    bands = list(zip(ds["wavelength_lo_m"].values, ds["wavelength_hi_m"].values, strict=True))
    lines.append("| method | " + " | ".join(f"lnS2 {v / 1000:.2g} km" for v in lag_m) + " | "
                 + " | ".join(f"P {lo / 1000:.2g}-{hi / 1000:.2g} km" for lo, hi in bands) + " |")
    lines.append("|---|" + "---|" * (len(lag_m) + len(bands)))
    for m in methods:
        sfm = ds["sf_log_ratio_mean"].sel({"method": m}).values
        spm = ds["spectral_ratio_mean"].sel({"method": m}).values
        lines.append(f"| {m} | " + " | ".join(f"{v:+.2f}" for v in sfm) + " | "
                     + " | ".join(f"{v:.2f}" if np.isfinite(v) else "n/a" for v in spm) + " |")
    return lines


def write_results(ds: xr.Dataset, out_dir: str | Path, *, stem: str = "modis_aster") -> dict[str, Path]:
    """Write the evaluation as NetCDF, CSV (per pair and summary) and a markdown table.

    Returns
    -------
    dict
        ``{"netcdf", "csv_pairs", "csv_summary", "markdown"}`` -> paths written.

    """
    import pandas as pd

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "netcdf": out / f"{stem}.nc",
        "csv_pairs": out / f"{stem}_per_pair.csv",
        "csv_summary": out / f"{stem}_summary.csv",
        "markdown": out / f"{stem}.md",
    }
    with atomic_path(paths["netcdf"]) as tmp:
        ds.to_netcdf(tmp)
    cols = [*SCALAR_METRICS, "runtime_s"]
    per_pair = ds[cols].to_dataframe().reset_index()[["method", "pair", *cols]]
    with atomic_path(paths["csv_pairs"]) as tmp:
        per_pair.to_csv(tmp, index=False, float_format="%.6g")
    rows = []
    for m in ds["method"].values:
        for c in cols:
            lo, hi = ds[f"{c}_ci"].sel({"method": m}).values
            rows.append({"method": str(m), "metric": c, "units": ds[c].attrs.get("units", ""),
                         "mean": float(ds[f"{c}_mean"].sel({"method": m})), "ci_low": float(lo),
                         "ci_high": float(hi), "n_pairs": int(ds.sizes["pair"])})
    with atomic_path(paths["csv_summary"]) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False, float_format="%.6g")
    atomic_write_text(paths["markdown"], markdown_table(ds))
    logger.info("results written to %s", out)
    return paths
