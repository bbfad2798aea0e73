"""Shared style, paths and helpers of the paper figures.

Importing this module selects matplotlib's non-interactive Agg backend; :func:`apply` loads
the one ``matplotlibrc`` of the package. Figures only read result files from a results folder
(:func:`open_result`); they never compute one. A missing file is a
:class:`MissingResultError` that names the command writing it (:func:`made_by`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

from scalelaws.errors import InputError  # noqa: E402

log = logging.getLogger(__name__)

#: The package's matplotlib style file.
RCFILE = Path(__file__).with_name("matplotlibrc")
#: Default results folder (``SCALELAWS_RESULTS`` or ``./results``).
RESULTS_DIR = Path(os.environ.get("SCALELAWS_RESULTS", "results"))
#: Default output folder of the figures (``SCALELAWS_FIGURES`` or ``./figures``).
FIGURES_DIR = Path(os.environ.get("SCALELAWS_FIGURES", "figures"))

LANDSCAPE_COLORS: dict[str, str] = {
    "cropland": "#d95f02", "forest": "#1b9e77", "urban": "#7570b3", "mixed": "#e7298a",
    "all": "#333333", "water": "#1f78b4", "bare_or_urban": "#a6761d",
    "grass_or_crop": "#66a61e", "forest_ndvi": "#1b9e77",
}
METHOD_LABELS: dict[str, str] = {
    "reference": "reference", "bicubic": "bicubic", "tsharp": "TsHARP",
    "dms": "data-mining sharpener", "sisr_invariant": "SISR (scale-invariant)",
    "sisr_corrected": "SISR + law", "disr": "DISR", "disr_corrected": "DISR + law",
}
METHOD_COLORS: dict[str, str] = {
    "reference": "#000000", "bicubic": "#999999", "tsharp": "#a6761d", "dms": "#e6ab02",
    "sisr_invariant": "#7570b3", "sisr_corrected": "#3b2f8f", "disr": "#66a61e",
    "disr_corrected": "#1b5e20",
}
BASELINES = ("bicubic", "tsharp", "dms")


#: The command that writes the results folder ``DIR/results`` read by the paper figures.
DEMO_COMMAND = "scalelaws demo -o DIR"
#: Result files written by another command than :data:`DEMO_COMMAND`: file name -> command.
MADE_BY: dict[str, str] = {
    "sensors.nc": "scalelaws benchmark sensors -o RESULTS",
}


class MissingResultError(InputError):
    """A result file a figure reads is absent; the message names the command that writes it."""


def made_by(name: str) -> str:
    """Return the command that writes the result file ``name`` (default :data:`DEMO_COMMAND`)."""
    return MADE_BY.get(name, DEMO_COMMAND)


def require(results: str | Path | None, names: Iterable[str]) -> Path:
    """Check that every result file of ``names`` is in the results folder; return the folder.

    Raises
    ------
    MissingResultError
        One line naming the first missing file, the command that writes it, and how many
        other files are missing.

    """
    folder = results_dir(results)
    missing = [n for n in dict.fromkeys(names) if not (folder / n).is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        cmd = made_by(missing[0])
        where = " (it writes DIR/results)" if cmd == DEMO_COMMAND else ""
        raise MissingResultError(f"result file missing{more}; figures only read results: run "
                                 f"`{cmd}` first{where}", folder / missing[0])
    return folder


def apply() -> None:
    """Load the package's matplotlibrc (and keep the Agg backend)."""
    matplotlib.rc_file(RCFILE)
    matplotlib.use("Agg")


def results_dir(results: str | Path | None) -> Path:
    """Return the results folder to read (``results`` or :data:`RESULTS_DIR`)."""
    return Path(results) if results is not None else RESULTS_DIR


def open_result(results: str | Path | None, name: str) -> xr.Dataset:
    """Load one result file (fully into memory) or raise :class:`MissingResultError`."""
    path = require(results, [name]) / name
    try:
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            return ds.load()
    except Exception as exc:  # noqa: BLE001 - the NetCDF backends raise several types
        raise InputError(f"cannot read this result file as NetCDF ({exc})", path) from exc


def save(fig: plt.Figure, out: str | Path, stem: str, smoke: bool = False) -> Path:
    """Write ``fig`` as ``out/stem.png`` and close it."""
    from scalelaws.io.atomic import atomic_path

    path = Path(out) / f"{stem}.png"
    try:
        with atomic_path(path) as tmp:  # never a truncated PNG
            fig.savefig(tmp, dpi=90 if smoke else 150)
    finally:
        plt.close(fig)
    log.info("wrote %s", path)
    return path


def color(name: str, i: int = 0) -> str:
    """Colour of a landscape or method (cycle colour ``i`` for unknown names)."""
    name = str(name)
    if name in LANDSCAPE_COLORS:
        return LANDSCAPE_COLORS[name]
    if name in METHOD_COLORS:
        return METHOD_COLORS[name]
    return f"C{i % 8}"


def label(method: str) -> str:
    """Readable name of a method."""
    return METHOD_LABELS.get(str(method), str(method))


def robust_limits(arrays: Iterable[np.ndarray], pct: tuple[float, float] = (1.0, 99.0)
                  ) -> tuple[float, float]:
    """Shared colour limits: percentiles of the finite values of all arrays together."""
    vals = np.concatenate([np.asarray(a, dtype=float).ravel() for a in arrays])
    vals = vals[np.isfinite(vals)]
    if vals.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(vals, pct)
    if hi <= lo:
        hi = lo + 1e-6
    return float(lo), float(hi)


def symmetric_limit(arrays: Iterable[np.ndarray], pct: float = 99.0) -> float:
    """Half-width of a symmetric colour scale around 0."""
    vals = np.concatenate([np.abs(np.asarray(a, dtype=float)).ravel() for a in arrays])
    vals = vals[np.isfinite(vals)]
    return float(np.percentile(vals, pct)) if vals.size else 1.0


def errorbar_from_ci(value: np.ndarray, ci: np.ndarray) -> np.ndarray:
    """``yerr`` (2, n) from values and ``(n, 2)`` intervals (NaN -> 0, negative -> 0)."""
    v = np.asarray(value, dtype=float)
    c = np.asarray(ci, dtype=float).reshape(v.shape + (2,))
    err = np.stack([v - c[..., 0], c[..., 1] - v])
    return np.clip(np.nan_to_num(err), 0, None)


def mark_bands(ax: plt.Axes, pixel_m: float, *, text: bool = True) -> None:
    """Shade the 1 km -> 250 m and 4 km -> 1 km bands (in reference pixels: 1-4 and 4-16)."""
    ax.axvspan(pixel_m, 4 * pixel_m, color="#1f78b4", alpha=0.07, lw=0)
    ax.axvspan(4 * pixel_m, 16 * pixel_m, color="#e31a1c", alpha=0.07, lw=0)
    if text:
        ax.text(2 * pixel_m, 0.98, "1 km→250 m", transform=ax.get_xaxis_transform(),
                ha="center", va="top", fontsize=7, color="#1f78b4")
        ax.text(8 * pixel_m, 0.98, "4 km→1 km", transform=ax.get_xaxis_transform(),
                ha="center", va="top", fontsize=7, color="#e31a1c")


def names(ds: xr.Dataset, dim: str) -> list[str]:
    """Values of a string coordinate as a list of str."""
    return [str(v) for v in ds[dim].values]


def km_extent(shape: Sequence[int], pixel_m: float) -> list[float]:
    """``imshow`` extent in km from the field's upper-left corner."""
    ny, nx = shape
    return [0.0, nx * pixel_m / 1000.0, ny * pixel_m / 1000.0, 0.0]


_SCALE_TICKS = (15.625, 31.25, 62.5, 125, 250, 500, 1000, 2000, 4000, 8000, 16000, 32000, 64000)


def _fmt_m(v: float) -> str:
    if v >= 1000:
        return f"{v / 1000:g} km"
    return f"{v:g} m"


def scale_axis(ax: plt.Axes, which: str = "x") -> None:
    """Log scale axis in metres with dyadic ticks labelled "250 m", "1 km", ... (no minor labels)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    lo, hi = (ax.get_xlim() if which == "x" else ax.get_ylim())
    lo, hi = min(lo, hi), max(lo, hi)
    ticks = [t for t in _SCALE_TICKS if lo <= t <= hi]
    if len(ticks) > 6:
        ticks = ticks[::2]
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FuncFormatter(lambda v, _: _fmt_m(v)))
    axis.set_minor_formatter(NullFormatter())
