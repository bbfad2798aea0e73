"""Short markdown report of the main job: tables read from the result files, figure links.

Everything in the report is read from the files written by
:func:`analysis.pipeline.compute_results` (no number is computed here except differences and
ranks of values read from them).
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from scalelaws.io.atomic import atomic_write_text

log = logging.getLogger(__name__)

__all__ = ["write_report", "report_text"]

_LABELS = {
    "bicubic": "bicubic", "tsharp": "TsHARP", "dms": "data-mining sharpener",
    "sisr_invariant": "SISR, scale-invariant (4 km -> 1 km, applied 1 km -> 250 m)",
    "sisr_corrected": "SISR + correction law", "disr": "DISR (NDVI-guided, consistency)",
    "disr_corrected": "DISR + correction law",
}


def _open(results: Path, name: str) -> xr.Dataset | None:
    p = results / name
    if not p.is_file():
        return None
    with xr.open_dataset(p, engine="h5netcdf") as ds:
        return ds.load()


def _f(v: float, nd: int = 2) -> str:
    return "n/a" if v is None or not np.isfinite(v) else f"{v:.{nd}f}"


def _ci(v: float, ci: Sequence[float], nd: int = 2) -> str:
    lo, hi = (float(c) for c in ci)
    if not np.isfinite(v):
        return "n/a"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return _f(v, nd)
    return f"{v:.{nd}f} [{lo:.{nd}f}, {hi:.{nd}f}]"


def _exponent_table(ds: xr.Dataset) -> list[str]:
    lines = [
        "| landscape | H = ζ(2)/2 | ζ(1) | ζ(4) | H below / above break | break (m) | c1 | c2 | β |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for ls in ds["landscape"].values:
        d = ds.sel(landscape=ls)
        z = d["zeta"].values
        zc = d["zeta_ci"].values
        q = list(np.asarray(ds["q"].values, dtype=float))
        i1, i4 = q.index(1.0), q.index(4.0)
        lines.append(
            f"| {ls} | {_ci(float(d['H']), d['H_ci'].values)} | {_ci(z[i1], zc[i1])} | "
            f"{_ci(z[i4], zc[i4])} | {_f(float(d['H_below']))} / {_f(float(d['H_above']))} | "
            f"{_ci(float(d['break_m']), d['break_m_ci'].values, 0)} | "
            f"{_ci(float(d['c1']), d['c1_ci'].values)} | {_ci(float(d['c2']), d['c2_ci'].values, 3)} | "
            f"{_ci(float(d['beta']), d['beta_ci'].values)} |")
    return lines


def _invariance_table(ds: xr.Dataset) -> list[str]:
    lines = [
        "| landscape | H, 4 km -> 1 km band | H, 1 km -> 250 m band | detail energy fine/coarse: "
        "measured | scale invariance | correction law |",
        "|---|---|---|---|---|---|",
    ]
    for ls in ds["landscape"].values:
        d = ds.sel(landscape=ls)
        lines.append(
            f"| {ls} | {_ci(float(d['H_coarse']), d['H_coarse_ci'].values)} | "
            f"{_ci(float(d['H_fine']), d['H_fine_ci'].values)} | "
            f"{_ci(float(d['detail_ratio']), d['detail_ratio_ci'].values, 3)} | "
            f"{_ci(float(d['detail_ratio_invariant']), d['detail_ratio_invariant_ci'].values, 3)} | "
            f"{_ci(float(d['detail_ratio_law']), d['detail_ratio_law_ci'].values, 3)} |")
    return lines


def _law_table(results: Path) -> list[str]:
    from scalelaws.laws import load_law

    law = load_law(results / "law.nc")
    a = law.ds.attrs
    lines = [
        f"Fitted on {a.get('fitted_on', a.get('n_scenes'))}; pixel {float(a['pixel_size_m']):.1f} m, "
        f"scales {a['scale_range_m'][0]:.0f}-{a['scale_range_m'][1]:.0f} m, "
        f"{a.get('n_boot')} bootstrap replicates ({a.get('bootstrap_unit')}). "
        "Full table: `results/law_summary.txt`.",
        "",
        "| landscape | ζ2/2 at 500 m | ζ2/2 at 2 km | detail ratio 1 km->250 m / 4 km->1 km (law) | "
        "law / scale invariance |",
        "|---|---|---|---|---|",
    ]
    import warnings

    for ls in law.landscapes:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            le = law.local_exponent([500.0, 2000.0], q=2, landscape=ls)
            r = law.detail_energy_ratio((4000.0, 1000.0), (1000.0, 250.0), landscape=ls)
        v, lo, hi = le["value"].values / 2, le["lower"].values / 2, le["upper"].values / 2
        lines.append(f"| {ls} | {_ci(v[0], (lo[0], hi[0]))} | {_ci(v[1], (lo[1], hi[1]))} | "
                     f"{_ci(r['law'], r['law_ci'], 3)} | "
                     f"{_ci(r['correction'], r['correction_ci'], 2)} |")
    return lines


def _metrics(results: Path, ds: xr.Dataset) -> list[str]:
    from analysis.evaluate import paired_difference

    methods = [str(m) for m in ds["method"].values]
    lag_m = np.asarray(ds["lag_m"].values, dtype=float)
    lag_txt = ", ".join(f"{v:.0f}" for v in lag_m[:3]) + " m"
    lines = [
        f"Scored against {ds.attrs.get('reference', 'the reference')} on {ds.sizes['pair']} "
        f"test scenes; mean over scenes [95 % bootstrap interval over scenes]. Networks trained on "
        f"{ds.attrs.get('trained_on', '?')}. Co-registration: {ds.attrs.get('offset_source', '?')}.",
        "",
        "| method | RMSE (K) | bias (K) | SSIM | r | 1 km consistency RMSE (K) | "
        f"S2 / S2 reference at {lag_txt} |",
        "|---|---|---|---|---|---|---|",
    ]

    def get(var: str, m: str) -> tuple[float, np.ndarray]:
        return (float(ds[f"{var}_mean"].sel({"method": m})),
                ds[f"{var}_ci"].sel({"method": m}).values)

    for m in methods:
        cells = [_ci(*get("rmse", m)), _ci(*get("bias", m)), _ci(*get("ssim", m), 3),
                 _ci(*get("r", m), 3), _ci(*get("consistency_rmse", m)),
                 ", ".join(f"{math.exp(v):.2f}" for v in
                           ds["sf_log_ratio_mean"].sel({"method": m}).values[:3])]
        lines.append(f"| {_LABELS.get(m, m)} | " + " | ".join(cells) + " |")
    rmse = np.array([get("rmse", m)[0] for m in methods])
    ssim = np.array([get("ssim", m)[0] for m in methods])
    best, best_s = methods[int(np.nanargmin(rmse))], methods[int(np.nanargmax(ssim))]
    lines += ["", "The last column (exp of the mean ln ratio over scenes) shows how much of the "
              "reference's variance at the finest lags each method restores (1 = all, < 1 too "
              "smooth).", "", f"**Winner by RMSE: {_LABELS.get(best, best)}** ({rmse.min():.2f} K); "
              f"by SSIM: {_LABELS.get(best_s, best_s)} ({np.nanmax(ssim):.3f})."]
    for ref in ("bicubic", "sisr_invariant"):
        if ref in methods and best != ref:
            d = paired_difference(ds, "rmse", ref).sel({"method": best})
            lo, hi = (float(v) for v in d["diff_ci"].values)
            sig = "an interval that excludes 0" if (hi < 0 or lo > 0) else "an interval that includes 0"
            lines.append(f"RMSE of {best} minus {ref}: {float(d['diff_mean']):+.2f} K "
                         f"[{lo:+.2f}, {hi:+.2f}] ({sig}).")
    for a, b in (("sisr_corrected", "sisr_invariant"), ("disr_corrected", "disr")):
        if a in methods and b in methods:
            d = paired_difference(ds, "rmse", b).sel({"method": a})
            lo, hi = (float(v) for v in d["diff_ci"].values)
            lines.append(f"Effect of the law, {a} minus {b}: RMSE {float(d['diff_mean']):+.3f} K "
                         f"[{lo:+.3f}, {hi:+.3f}].")
    return lines


def report_text(results: str | Path, figures: Sequence[str | Path], *, report_dir: str | Path,
                wall_s: float | None = None) -> str:
    """Markdown text of the report (see :func:`write_report`)."""
    results, report_dir = Path(results), Path(report_dir)
    info = {}
    if (results / "run_info.json").is_file():
        info = json.loads((results / "run_info.json").read_text())
    src = info.get("source", "?")
    lines = [
        "# scalelaws: how scale invariance fails from 1 km to 250 m, and what the correction "
        "laws buy",
        "",
        f"Data: **{'embedded synthetic landscapes' if src == 'synthetic' else 'MODIS-ASTER pairs'}**"
        f"{' (smoke sizes)' if info.get('smoke') else ''}; seed {info.get('seed', '?')}; "
        f"landscapes: {', '.join(info.get('landscapes', []))}."
        + (f" Wall time {wall_s:.0f} s." if wall_s is not None else ""),
        "",
        "Single-image super-resolution (SISR) is trained at 4 km -> 1 km and applied at "
        "1 km -> 250 m, which assumes that the statistics of the two bands are the same. "
        "The tables below measure whether they are, encode the difference as a correction law, "
        "and score SR networks with and without the law against an independent 250 m reference.",
        "",
    ]
    ex = _open(results, "exponents.nc")
    if ex is not None:
        lo, hi = ex.attrs.get("scale_range_m", [math.nan, math.nan])
        lines += ["## Exponents per landscape", "",
                  f"Structure-function exponents pooled over the reference scenes (lags "
                  f"{lo:.0f}-{hi:.0f} m), 95 % bootstrap intervals "
                  f"({ex.attrs.get('bootstrap_unit', '')}); c1, c2, β and the break from "
                  "`fit_scaling`.", ""] + _exponent_table(ex) + [""]
    inv = _open(results, "invariance.nc")
    if inv is not None:
        lines += ["## Scale-invariance test", "",
                  "Scale invariance requires the same exponent in both bands and a detail-energy "
                  "ratio equal to the coarse-band extrapolation.", ""] + _invariance_table(inv) + [""]
    if (results / "law.nc").is_file():
        lines += ["## Correction law", ""] + _law_table(results) + [""]
    met = _open(results, "metrics.nc")
    if met is not None:
        lines += ["## Super-resolution 1 km -> 250 m", ""] + _metrics(results, met) + [""]
    if figures:
        lines += ["## Figures", ""]
        for f in figures:
            rel = os.path.relpath(Path(f), report_dir)
            lines += [f"![{Path(f).stem}]({rel})", ""]
    if info.get("step_seconds"):
        lines += ["## Run", "", "Seconds per step: " + ", ".join(
            f"{k} {v:g}" for k, v in info["step_seconds"].items()) + ".", ""]
    return "\n".join(lines)


def write_report(out: str | Path, results: str | Path, figures: Sequence[str | Path], *,
                 wall_s: float | None = None) -> Path:
    """Write ``out/report.md`` from the result files and link the figures.

    Parameters
    ----------
    out
        Folder of the report.
    results
        Results folder.
    figures
        PNG paths to link (relative links from ``out``).
    wall_s
        Wall time of the run (reported when given).

    Returns
    -------
    pathlib.Path
        The report's path.

    """
    out = Path(out)
    path = out / "report.md"
    atomic_write_text(path, report_text(results, figures, report_dir=out, wall_s=wall_s))
    log.info("wrote %s", path)
    return path
