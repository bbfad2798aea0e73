"""Step ``exponents``: zeta(q), H, c1, c2, beta and the break per landscape (``exponents.nc/.csv``)."""

from __future__ import annotations

import logging
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm

from analysis.pipeline.context import Context
from analysis.pipeline.settings import Q, Settings
from analysis.pipeline.step_sf import _block_px, _max_lag
from analysis.pipeline.writing import _pct, _var, _write
from scalelaws.io.atomic import atomic_path

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------
# step: exponents
# ----------------------------------------------------------------------------------------------
def _rect(da: xr.DataArray) -> xr.DataArray:
    """Largest rectangle of valid pixels (fit_scaling and spectra need complete fields)."""
    from analysis.metrics import largest_rectangle

    valid = np.isfinite(np.asarray(da.values))
    if valid.all():
        return da
    rows, cols = largest_rectangle(valid)
    return da.isel(y=rows, x=cols)


def _fit_scene(da: xr.DataArray, st: Settings, rng: np.random.Generator) -> xr.Dataset:
    from scalelaws.fit import fit_scaling

    da = _rect(da)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_scaling(da, q=Q, n_boot=st.fit_boot, rng=rng, calibrate=st.calibrate,
                           n_calib=max(st.n_calib, 2))


def _combine(vals: list[float], cis: list[np.ndarray], rng: np.random.Generator
             ) -> tuple[float, np.ndarray]:
    """Mean over scenes; interval: bootstrap over scenes (>= 5) or the envelope of the scenes'."""
    v = np.asarray(vals, dtype=float)
    if v.size == 0 or not np.isfinite(v).any():
        return math.nan, np.full(2, np.nan)
    if v.size == 1:
        return float(v[0]), np.asarray(cis[0], dtype=float)
    mean = float(np.nanmean(v))
    if v.size >= 5:
        idx = rng.integers(0, v.size, size=(1000, v.size))
        return mean, _pct(np.nanmean(v[idx], axis=1))
    c = np.asarray(cis, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return mean, np.array([np.nanmin(c[:, 0]), np.nanmax(c[:, 1])])


def _ci_of(f: xr.Dataset, key: str) -> np.ndarray:
    """Interval of one fit_scaling estimate (beta: +-1.96 standard errors)."""
    if key == "beta":
        b, se = float(f["beta"]), float(f["beta_se"])
        return np.array([b - 1.96 * se, b + 1.96 * se])
    name = "break_ci" if key == "break_m" else f"{key}_ci"
    return np.asarray(f[name].values, dtype=float)


def step_exponents(ctx: Context, out: Path, progress: bool) -> list[Path]:
    """Exponents per landscape: pooled zeta(q) (exponents_by_landscape) and fit_scaling extras."""
    from scalelaws.landscapes import exponents_by_landscape

    st = ctx.settings
    rng = np.random.default_rng(ctx.seed + 21)
    fields = [s.lst for s in ctx.scenes]
    masks = [{k: v for k, v in s.masks.items() if k in ctx.landscapes} for s in ctx.scenes]
    px = ctx.pixel_m
    lo, hi = 2 * px, min(_max_lag(ctx), ctx.short // 6) * px
    ebl = exponents_by_landscape(fields, masks, q=Q, scale_range=(lo, hi), n_boot=st.n_boot,
                                 max_lag=_max_lag(ctx), block_px=_block_px(ctx),
                                 include_all=ctx.include_all, rng=rng,
                                 wavelet=False, detect_break=False)  # c1/c2/break: fit_scaling below
    names = [str(v) for v in ebl["landscape"].values]
    keys = ("c1", "c2", "beta", "break_m", "H_below", "H_above")
    fits: dict[str, list[xr.Dataset]] = {n: [] for n in names}
    bar = tqdm(ctx.scenes, desc="fit_scaling", leave=False, disable=not progress)
    for s in bar:
        f = _fit_scene(s.lst, st, rng)
        for n in names:
            if n == s.landscape or (n == "all" and ctx.include_all):
                fits[n].append(f)
    extra = {k: np.full(len(names), np.nan) for k in keys}
    extra_ci = {k: np.full((len(names), 2), np.nan) for k in keys}
    n_fit = np.zeros(len(names), dtype=int)
    for i, n in enumerate(names):
        fl = fits[n]
        n_fit[i] = len(fl)
        for k in keys:
            vals = [float(f[k]) for f in fl]
            cis = [_ci_of(f, k) for f in fl]
            extra[k][i], extra_ci[k][i] = _combine(vals, cis, rng)
    truth_fine = np.full(len(names), np.nan)
    truth_coarse = np.full(len(names), np.nan)
    truth_break = np.full(len(names), np.nan)
    for i, n in enumerate(names):
        tr = [s.truth for s in ctx.scenes if s.landscape == n and s.truth]
        if tr:
            truth_fine[i], truth_coarse[i] = tr[0]["H_fine"], tr[0]["H_coarse"]
            truth_break[i] = tr[0]["break_m"]
    ds = xr.Dataset(
        {
            "zeta": _var(("landscape", "q"), ebl["zeta"].values, "1",
                         "scaling exponent zeta(q) (pooled over scenes)"),
            "zeta_ci": _var(("landscape", "q", "bound"), ebl["zeta_ci"].values, "1",
                            "95 % bootstrap interval of zeta"),
            "H": _var(("landscape",), ebl["H"].values, "1", "Hurst exponent zeta(2)/2"),
            "H_ci": _var(("landscape", "bound"), ebl["H_ci"].values, "1",
                         "95 % bootstrap interval of H"),
            "n_pixels": _var(("landscape",), ebl["n_pixels"].values, "1", "valid pixels"),
            "n_fit_scenes": _var(("landscape",), n_fit, "1",
                                 "scenes of this (dominant) landscape in fit_scaling"),
            "H_fine_truth": _var(("landscape",), truth_fine, "1",
                                 "documented H of the synthetic model, 250-500 m"),
            "H_coarse_truth": _var(("landscape",), truth_coarse, "1",
                                   "documented H of the synthetic model, 4-8 km"),
            "break_truth": _var(("landscape",), truth_break, "m",
                                "documented break scale of the synthetic model"),
        },
        coords={"landscape": names, "q": ("q", np.asarray(Q), {"units": "1"}),
                "bound": ["lower", "upper"]},
        attrs={"scale_range_m": [float(lo), float(hi)], "n_boot": int(st.n_boot),
               "bootstrap_unit": str(ebl.attrs.get("bootstrap_unit", "")),
               "fit_scaling": "c1, c2 (wavelet-leader log-cumulants), beta (spectral slope), "
                              "break of S2 and H below/above it from scalelaws.fit.fit_scaling "
                              "on each scene's largest valid rectangle; several scenes: mean, "
                              "interval by bootstrap over scenes (>= 5) or envelope of the "
                              "scenes' intervals; beta interval +-1.96 beta_se",
               "calibrated": int(st.calibrate)},
    )
    units = {"c1": "1", "c2": "1", "beta": "1", "break_m": "m", "H_below": "1", "H_above": "1"}
    longs = {"c1": "first log-cumulant of wavelet leaders",
             "c2": "second log-cumulant of wavelet leaders (intermittency)",
             "beta": "spectral slope", "break_m": "break scale of S2",
             "H_below": "zeta(2)/2 below the break", "H_above": "zeta(2)/2 above the break"}
    for k in keys:
        ds[k] = _var(("landscape",), extra[k], units[k], longs[k])
        ds[f"{k}_ci"] = _var(("landscape", "bound"), extra_ci[k], units[k],
                             f"95 % interval of {k}")
    paths = [_write(ds, out / "exponents.nc", "scaling exponents per landscape", ctx)]
    rows = []
    for i, n in enumerate(names):
        row: dict[str, Any] = {"landscape": n, "n_pixels": int(ds["n_pixels"][i])}
        for j, qv in enumerate(Q):
            row[f"zeta{qv:g}"] = float(ds["zeta"][i, j])
            row[f"zeta{qv:g}_lo"], row[f"zeta{qv:g}_hi"] = (float(v) for v in ds["zeta_ci"][i, j])
        for k in ("H", *keys):
            row[k] = float(ds[k][i])
            row[f"{k}_lo"], row[f"{k}_hi"] = (float(v) for v in ds[f"{k}_ci"][i])
        rows.append(row)
    with atomic_path(out / "exponents.csv") as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False, float_format="%.5g")
    paths.append(out / "exponents.csv")
    return paths
