"""Aggregation over pairs: means with paired percentile-bootstrap intervals.

:func:`summarize` adds the mean over pairs of every per-pair variable and its bootstrap
interval; :func:`paired_difference` gives method-minus-reference differences with intervals
from the same (paired) resamples.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import xarray as xr

from scalelaws.errors import InputError

__all__ = ["paired_difference", "summarize"]


def _boot_index(n: int, n_boot: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def summarize(ds: xr.Dataset, *, n_boot: int = 2000, seed: int = 0,
              level: float = 0.95) -> xr.Dataset:
    """Add means over pairs with percentile bootstrap intervals (resampling pairs).

    For each per-pair variable ``v(method, pair[, ...])`` adds ``v_mean(method[, ...])`` and
    ``v_ci(method[, ...], bound)`` (``bound = ["low", "high"]``). The same resamples are used
    for every method, so intervals of differences are paired (:func:`paired_difference`).
    """
    if n_boot < 10:
        raise InputError(f"n_boot must be >= 10, got {n_boot}")
    out = ds.copy()
    idx = _boot_index(ds.sizes["pair"], n_boot, seed)
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    for name in list(ds.data_vars):
        v = ds[name]
        if "pair" not in v.dims or "method" not in v.dims or name.endswith(("_mean", "_ci")):
            continue
        v = v.transpose("method", "pair", ...)
        arr = v.values
        with _quiet_nanmean():
            mean = np.nanmean(arr, axis=1)
            boot = np.nanmean(arr[:, idx], axis=2)  # (method, n_boot, ...)
            ci = np.nanpercentile(boot, q, axis=1)  # (2, method, ...)
        rest = v.dims[2:]
        out[f"{name}_mean"] = (("method", *rest), mean, {**v.attrs,
                               "long_name": f"mean over pairs of {name}"})
        out[f"{name}_ci"] = (("method", *rest, "bound"), np.moveaxis(ci, 0, -1),
                             {**v.attrs, "long_name": f"{level:.0%} bootstrap interval of "
                              f"the mean of {name} over pairs"})
    out = out.assign_coords(bound=["low", "high"])
    out.attrs.update(n_boot=int(n_boot), bootstrap_seed=int(seed), ci_level=float(level))
    return out


@contextlib.contextmanager
def _quiet_nanmean():
    """Silence the 'mean of empty slice' warnings of all-NaN columns (they give NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def paired_difference(ds: xr.Dataset, metric: str, reference: str, *,
                      level: float | None = None) -> xr.Dataset:
    """Mean over pairs of ``metric[method] - metric[reference]`` with a paired bootstrap interval.

    Returns
    -------
    xarray.Dataset
        ``diff_mean(method)`` and ``diff_ci(method, bound)`` in the metric's units.

    """
    if reference not in ds["method"].values:
        raise InputError(f"reference method {reference!r} not in {list(ds['method'].values)}")
    n_boot = int(ds.attrs.get("n_boot", 2000))
    seed = int(ds.attrs.get("bootstrap_seed", 0))
    lvl = float(ds.attrs.get("ci_level", 0.95)) if level is None else level
    arr = ds[metric].transpose("method", "pair").values
    iref = [str(m) for m in ds["method"].values].index(reference)
    d = arr - arr[iref][None, :]
    idx = _boot_index(ds.sizes["pair"], n_boot, seed)
    with _quiet_nanmean():
        boot = np.nanmean(d[:, idx], axis=2)
        ci = np.nanpercentile(boot, [(1 - lvl) / 2 * 100, (1 + lvl) / 2 * 100], axis=1)
        mean = np.nanmean(d, axis=1)
    units = ds[metric].attrs.get("units", "")
    return xr.Dataset(
        {"diff_mean": ("method", mean, {"units": units}),
         "diff_ci": (("method", "bound"), ci.T, {"units": units})},
        coords={"method": ds["method"].values, "bound": ["low", "high"]},
        attrs={"metric": metric, "reference": reference},
    )
