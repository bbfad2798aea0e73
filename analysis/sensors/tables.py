"""Reports of a comparison: the Markdown tables and the long-format CSV."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from analysis.sensors.compare import EDGE_TOL


def _cell(v: float, ci: Sequence[float], nd: int = 2) -> str:
    if not np.isfinite(v):
        return ""
    lo, hi = (float(c) for c in ci)
    if np.isfinite(lo) and np.isfinite(hi):
        return f"{v:.{nd}f} [{lo:.{nd}f}, {hi:.{nd}f}]"
    return f"{v:.{nd}f}"


def _fmt_m(v: float) -> str:
    return f"{v / 1000:.3g} km" if v >= 1000 else f"{v:.3g} m"


def _fields_table(ds: xr.Dataset, laws: list[str]) -> list[str]:
    """One line per law: quantity, platform, region, date, pixels, range, CI unit."""
    lines = ["Fields (one law per field and landscape; pixel = analysis pixel after block-averaging "
             "to the thermal pixel; range = lags of the fit):", "",
             "| law | quantity | platform | region | date | pixel | thermal pixel | range | pixels | CI unit |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for i, name in enumerate(laws):
        g = {k: ds[k].values[i] for k in ("quantity", "platform", "region", "date") if k in ds}
        lines.append(
            f"| {name} | {g.get('quantity', '')} | {g.get('platform', '')} | {g.get('region', '')} | "
            f"{g.get('date', '')} | {ds['pixel_m'].values[i]:.4g} m | "
            + (f"{ds['thermal_pixel_m'].values[i]:.4g} m | " if "thermal_pixel_m" in ds else " | ") +
            f"{_fmt_m(ds['scale_lo_m'].values[i])}-{_fmt_m(ds['scale_hi_m'].values[i])} | "
            f"{int(ds['n_pixels'].values[i])} | {ds['bootstrap_unit'].values[i]} |")
    return lines


def _local_h_table(ds: xr.Dataset, laws: list[str], used: list[int]) -> list[str]:
    """Local H with its total interval at the common scales any law covers."""
    s = ds["scale_m"].values
    lines = ["", "Local Hurst exponent H(l) = zeta_2(l)/2 of the smooth law at common scales "
             "[95 % interval: bootstrap widened by the fBm-surrogate spread for single fields]; "
             "empty outside the law's fitted range:", "",
             "| law | " + " | ".join(_fmt_m(s[k]) for k in used) + " |",
             "|---|" + "---|" * len(used)]
    for i, name in enumerate(laws):
        cells = [_cell(ds["H_local"].values[i, k], ds["H_local_ci_total"].values[i, k]) for k in used]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _difference_table(ds: xr.Dataset, laws: list[str], used: list[int]) -> list[str]:
    """``H - H_ref`` where the ranges overlap (empty without a reference)."""
    ref = ds.attrs.get("reference", "")
    if not (ref and np.isfinite(ds["dH_reference"].values).any()):
        return []
    s = ds["scale_m"].values
    lines = ["", f"Difference to the {ref} law where the ranges overlap (H - H_ref "
             "[approximate 95 % interval]; * = interval excludes 0):", "",
             "| law | vs | " + " | ".join(_fmt_m(s[k]) for k in used) + " |",
             "|---|---|" + "---|" * len(used)]
    for i, name in enumerate(laws):
        if not np.isfinite(ds["dH_reference"].values[i]).any():
            continue
        cells = []
        for k in used:
            c = _cell(ds["dH_reference"].values[i, k], ds["dH_reference_ci"].values[i, k])
            cells.append(c + ("*" if c and ds["agrees"].values[i, k] == 0 else ""))
        lines.append(f"| {name} | {ds['reference_row'].values[i]} | " + " | ".join(cells) + " |")
    return lines


def _octave_table(ds: xr.Dataset, laws: list[str]) -> list[str]:
    """Raw per-octave H of each law on its own lags."""
    lines = ["", "Per-octave H (raw slope between lags l/2 and l), each law on its own grid:", "",
             "| law | octaves: lags (m) H [95 %] |", "|---|---|"]
    for i, name in enumerate(laws):
        parts = []
        for o in range(ds.sizes["octave"]):
            v = ds["H_octave"].values[i, o]
            if np.isfinite(v):
                parts.append(f"{ds['octave_lo_m'].values[i, o]:.4g}-{ds['octave_hi_m'].values[i, o]:.4g}: "
                             + _cell(v, ds["H_octave_ci"].values[i, o]))
        lines.append(f"| {name} | " + "; ".join(parts) + " |")
    return lines


def _detail_table(ds: xr.Dataset, laws: list[str]) -> list[str]:
    """Detail-energy ratio of the SR bands and its correction, for the fields covering both."""
    det = np.isfinite(ds["detail_ratio"].values)
    lines = ["", "Detail energy of the 1 km -> 250 m band relative to the 4 km -> 1 km band "
             "(only fields whose detail range covers 250 m-4 km within "
             f"{ds.attrs.get('edge_tolerance', EDGE_TOL):.0%}):", ""]
    if not det.any():
        return lines + ["(no field covers both bands)"]
    lines += ["| law | ratio (law) | correction (law / scale invariance) |", "|---|---|---|"]
    for i in np.flatnonzero(det):
        lines.append(f"| {laws[i]} | {_cell(ds['detail_ratio'].values[i], ds['detail_ratio_ci'].values[i], 3)} | "
                     f"{_cell(ds['detail_correction'].values[i], ds['detail_correction_ci'].values[i], 3)} |")
    return lines


def _ndvi_table(ds: xr.Dataset, laws: list[str]) -> list[str]:
    """LST-NDVI slope of block means by block size (empty without NDVI)."""
    s = ds["scale_m"].values
    sl = ds["lst_ndvi_slope"].values
    used_b = [k for k in range(s.size) if np.isfinite(sl[:, k]).any()]
    if not used_b:
        return []
    lines = ["", "Slope of temperature on NDVI of block means (K per NDVI unit) [95 %], by block size:", "",
             "| law | " + " | ".join(_fmt_m(s[k]) for k in used_b) + " |", "|---|" + "---|" * len(used_b)]
    for i, name in enumerate(laws):
        if not np.isfinite(sl[i]).any():
            continue
        cells = [_cell(sl[i, k], ds["lst_ndvi_slope_ci"].values[i, k], 1) for k in used_b]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def markdown_table(ds: xr.Dataset) -> str:
    """Markdown report of :func:`~analysis.sensors.compare.compare_laws`: fields, local H, differences, bands, NDVI."""
    laws = [str(v) for v in ds["law"].values]
    used = [k for k in range(ds.sizes["scale_m"]) if np.isfinite(ds["H_local"].values[:, k]).any()]
    lines = (_fields_table(ds, laws) + _local_h_table(ds, laws, used) + _difference_table(ds, laws, used)
             + _octave_table(ds, laws) + _detail_table(ds, laws) + _ndvi_table(ds, laws))
    return "\n".join(lines) + "\n"


def to_csv(ds: xr.Dataset, path: str | Path) -> Path:
    """Long-format CSV: one line per law and common scale with a value."""
    import csv

    path = Path(path)
    cols = ["law", "sensor_key", "landscape", "quantity", "scale_m", "H_local", "H_lower", "H_upper",
            "H_sd_realisation", "H_total_lower", "H_total_upper",
            "reference_row", "dH_reference", "dH_lower", "dH_upper", "agrees", "lst_ndvi_slope_K",
            "lst_ndvi_slope_lower", "lst_ndvi_slope_upper", "lst_ndvi_corr", "detail_ratio",
            "detail_correction"]
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for i, name in enumerate(ds["law"].values):
            for k, sm in enumerate(ds["scale_m"].values):
                h = ds["H_local"].values[i, k]
                sl = ds["lst_ndvi_slope"].values[i, k]
                if not (np.isfinite(h) or np.isfinite(sl)):
                    continue
                w.writerow([
                    name, ds["sensor_key"].values[i], ds["landscape"].values[i],
                    ds["quantity"].values[i] if "quantity" in ds else "", f"{sm:g}",
                    *(f"{v:.4f}" for v in (h, *ds["H_local_ci"].values[i, k])),
                    *(f"{v:.4f}" for v in (ds["H_local_sd_realisation"].values[i, k], *ds["H_local_ci_total"].values[i, k])),
                    ds["reference_row"].values[i],
                    *(f"{v:.4f}" for v in (ds["dH_reference"].values[i, k], *ds["dH_reference_ci"].values[i, k])),
                    int(ds["agrees"].values[i, k]),
                    *(f"{v:.3f}" for v in (sl, *ds["lst_ndvi_slope_ci"].values[i, k], ds["lst_ndvi_corr"].values[i, k])),
                    f"{ds['detail_ratio'].values[i]:.4f}", f"{ds['detail_correction'].values[i]:.4f}",
                ])
    return path
