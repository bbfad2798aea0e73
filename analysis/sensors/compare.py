"""Side-by-side statistics of several laws.

Local and per-octave exponents, detail-energy ratios, LST-NDVI slopes, and differences to the
reference law, one row per law and landscape (:func:`compare_laws`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
import xarray as xr

from analysis.sensors.readers import SensorField
from scalelaws.errors import InputError
from scalelaws.laws import CorrectionLaw

#: Common evaluation scales (m): dyadic around 250 m, 7.8 m to 16 km.
SCALES_M: tuple[float, ...] = tuple(250.0 * 2.0**k for k in range(-5, 7))
#: The SR bands of the detail-energy ratio, (coarse_m, fine_m).
COARSE_BAND, FINE_BAND = (4000.0, 1000.0), (1000.0, 250.0)
#: Relative tolerance on the ends of a law's detail range before a band counts as outside.
EDGE_TOL = 0.10
#: Name of the reference law.
REFERENCE = "aster_250m"
#: Fewest valid pixels of a landscape (other than ``all``) reported by :func:`compare_laws`.
MIN_LANDSCAPE_PIXELS = 1000


@dataclass
class LawEntry:
    """A fitted law and the description of its field (the ``meta`` keys become variables)."""

    key: str
    law: CorrectionLaw
    meta: dict[str, Any]


def _entry_from_field(f: SensorField, law: CorrectionLaw) -> LawEntry:
    return LawEntry(f.key, law, {
        "platform": f.platform, "quantity": f.quantity, "region": f.region, "date": f.date,
        "class_source": f.class_source, "thermal_pixel_m": f.thermal_pixel_m, "note": f.note,
    })


def _in_range(s: np.ndarray, lo: float, hi: float, tol: float = 1e-3) -> np.ndarray:
    return (s >= lo * (1 - tol)) & (s <= hi * (1 + tol))


def _row(e: LawEntry, ls: str, s: np.ndarray, npx: float,
         spread: dict[str, xr.DataArray] | None) -> dict[str, Any]:
    """Statistics of landscape ``ls`` of one law at the common scales ``s`` (one output row)."""
    lo, hi = (float(v) for v in e.law.ds.attrs["scale_range_m"])
    dlo, dhi = (float(v) for v in e.law.ds.attrs["detail_range_m"])
    pix = float(e.law.ds.attrs.get("pixel_size_m", e.law.ds["scale_m"].values.min()))
    le = e.law.local_exponent(s, q=2, landscape=ls)
    inside = _in_range(s, lo, hi)
    H = np.where(inside, le["value"].values / 2, np.nan)
    Hci = np.where(inside[:, None],
                   np.stack([le["lower"].values, le["upper"].values], -1) / 2, np.nan)
    zo = e.law.ds["zeta_octave"].sel(landscape=ls, q=2.0).values / 2
    zoc = e.law.ds["zeta_octave_ci"].sel(landscape=ls, q=2.0).values / 2
    bm = e.law.ds["block_m"].values
    ok = _in_range(bm / 2, lo, hi) & _in_range(bm, lo, hi) & np.isfinite(zo)
    bands = np.concatenate([CorrectionLaw.band_parents(COARSE_BAND),
                            CorrectionLaw.band_parents(FINE_BAND)])
    det = {"law": np.nan, "law_ci": (np.nan, np.nan), "correction": np.nan,
           "correction_ci": (np.nan, np.nan)}
    if np.all(_in_range(bands, dlo, dhi, EDGE_TOL)) and np.isfinite(npx) and npx > 0:
        det = e.law.detail_energy_ratio(COARSE_BAND, FINE_BAND, landscape=ls)
    sl = sc = np.full(s.size, np.nan)
    slc = np.full((s.size, 2), np.nan)
    if "lst_ndvi_slope_block" in e.law.ds:
        rel = e.law.lst_ndvi(s, landscape=ls)
        sl, slc, sc = rel["slope"], rel["slope_ci"], rel["corr"]
    sd = np.zeros(s.size)
    if spread is not None and e.key in spread and ls in spread[e.key]["landscape"].values:
        sd = np.nan_to_num(spread[e.key].sel(landscape=ls).sel(scale_m=s).values, nan=0.0)
    hw = np.sqrt(((Hci[:, 1] - Hci[:, 0]) / 2) ** 2 + (1.96 * sd) ** 2)
    Htot = np.stack([H - hw, H + hw], -1)
    return {
        "key": e.key, "landscape": str(ls), "H": H, "Hci": Hci, "sd": np.where(inside, sd, np.nan),
        "Htot": Htot, "Ho": zo[ok],
        "Hoc": zoc[ok], "olo": bm[ok] / 2, "ohi": bm[ok], "det": det, "sl": sl, "slc": slc,
        "sc": sc, "lo": lo, "hi": hi, "pix": pix, "npx": npx, "meta": e.meta,
        "unit": str(e.law.ds.attrs.get("bootstrap_unit", "")),
        "nboot": int(e.law.ds.sizes.get("replicate", 0)),
    }


def _rows(entries: Sequence[LawEntry], s: np.ndarray, min_pixels: int,
          spread: dict[str, xr.DataArray] | None) -> tuple[list[dict[str, Any]], list[str]]:
    """One row per law and landscape; landscapes (not ``all``) below ``min_pixels`` are skipped."""
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    for e in entries:
        for ls in e.law.landscapes:
            npx = float(e.law.ds["n_pixels"].sel(landscape=ls))
            if ls != "all" and not npx >= min_pixels:
                skipped.append(f"{e.key}/{ls} ({npx:.0f} px)")
                continue
            rows.append(_row(e, ls, s, npx, spread))
    return rows, skipped


def _reference_differences(
    rows: list[dict[str, Any]], H: np.ndarray, Htot: np.ndarray, reference: str | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``H - H_ref`` of each row, its approximate interval and the reference row's name."""
    n, m = H.shape
    dH = np.full((n, m), np.nan)
    dHci = np.full((n, m, 2), np.nan)
    ref_row = np.full(n, "", dtype=object)
    if reference is not None:
        refs = {r["landscape"]: i for i, r in enumerate(rows) if r["key"] == reference}
        for i, r in enumerate(rows):
            if r["key"] == reference or not refs:
                continue
            j = refs.get(r["landscape"], refs.get("all"))
            if j is None:
                continue
            ref_row[i] = f"{reference}/{rows[j]['landscape']}"
            dH[i] = H[i] - H[j]
            hw = np.sqrt(((Htot[i, :, 1] - Htot[i, :, 0]) / 2) ** 2 + ((Htot[j, :, 1] - Htot[j, :, 0]) / 2) ** 2)
            dHci[i] = np.stack([dH[i] - hw, dH[i] + hw], -1)
    return dH, dHci, ref_row


def _pad(v: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    out = np.full(shape, np.nan)
    out[: v.shape[0]] = v
    return out


def _row_variables(rows: list[dict[str, Any]], reference: str | None) -> dict[str, Any]:
    """Build the comparison's variables along ``law`` (before the descriptions of ``meta``)."""
    no = max(1, max(r["Ho"].size for r in rows))
    H = np.stack([r["H"] for r in rows])
    Hci = np.stack([r["Hci"] for r in rows])
    Htot = np.stack([r["Htot"] for r in rows])
    dH, dHci, ref_row = _reference_differences(rows, H, Htot, reference)
    agrees = np.where(np.isfinite(dH), ((dHci[..., 0] <= 0) & (dHci[..., 1] >= 0)).astype(np.int8), -1)
    data: dict[str, Any] = {
        "H_local": (("law", "scale_m"), H, {"long_name": "local Hurst exponent zeta_2(l)/2 of the smooth law (NaN outside the fitted range)", "units": "1"}),
        "H_local_ci": (("law", "scale_m", "bound"), Hci, {"long_name": "95 % bootstrap interval of H_local", "units": "1"}),
        "H_local_sd_realisation": (("law", "scale_m"), np.stack([r["sd"] for r in rows]), {"long_name": "standard deviation of H_local between fBm surrogates of the field (0: not estimated)", "units": "1"}),
        "H_local_ci_total": (("law", "scale_m", "bound"), Htot, {"long_name": "H_local +- sqrt(bootstrap half-width^2 + (1.96 sd_realisation)^2)", "units": "1"}),
        "H_octave": (("law", "octave"), np.stack([_pad(r["Ho"], (no,)) for r in rows]), {"long_name": "Hurst exponent between lags octave_lo_m and octave_hi_m", "units": "1"}),
        "H_octave_ci": (("law", "octave", "bound"), np.stack([_pad(r["Hoc"], (no, 2)) for r in rows]), {"long_name": "95 % bootstrap interval of H_octave", "units": "1"}),
        "octave_lo_m": (("law", "octave"), np.stack([_pad(r["olo"], (no,)) for r in rows]), {"long_name": "smaller lag of the octave", "units": "m"}),
        "octave_hi_m": (("law", "octave"), np.stack([_pad(r["ohi"], (no,)) for r in rows]), {"long_name": "larger lag of the octave", "units": "m"}),
        "detail_ratio": ("law", np.array([r["det"]["law"] for r in rows]), {"long_name": "detail energy of the 1 km -> 250 m band / the 4 km -> 1 km band (law); NaN where the field does not cover both bands", "units": "1"}),
        "detail_ratio_ci": (("law", "bound"), np.array([r["det"]["law_ci"] for r in rows]), {"long_name": "95 % bootstrap interval of detail_ratio", "units": "1"}),
        "detail_correction": ("law", np.array([r["det"]["correction"] for r in rows]), {"long_name": "detail_ratio / its scale-invariant extrapolation", "units": "1"}),
        "detail_correction_ci": (("law", "bound"), np.array([r["det"]["correction_ci"] for r in rows]), {"long_name": "95 % bootstrap interval of detail_correction", "units": "1"}),
        "lst_ndvi_slope": (("law", "scale_m"), np.stack([r["sl"] for r in rows]), {"long_name": "OLS slope of temperature on NDVI of block means (block size scale_m)", "units": "K"}),
        "lst_ndvi_slope_ci": (("law", "scale_m", "bound"), np.stack([r["slc"] for r in rows]), {"long_name": "95 % bootstrap interval of lst_ndvi_slope", "units": "K"}),
        "lst_ndvi_corr": (("law", "scale_m"), np.stack([r["sc"] for r in rows]), {"long_name": "correlation of temperature and NDVI block means", "units": "1"}),
        "dH_reference": (("law", "scale_m"), dH, {"long_name": "H_local minus H_local of the reference row", "units": "1"}),
        "dH_reference_ci": (("law", "scale_m", "bound"), dHci, {"long_name": "approximate 95 % interval of dH_reference (total half-widths in quadrature)", "units": "1"}),
        "agrees": (("law", "scale_m"), agrees, {"long_name": "1: dH_reference interval contains 0, 0: it does not, -1: no overlap of ranges", "units": "1"}),
        "reference_row": ("law", ref_row.astype(str), {"long_name": "row of the reference law compared with"}),
        "sensor_key": ("law", np.array([r["key"] for r in rows]), {"long_name": "field / law key"}),
        "landscape": ("law", np.array([r["landscape"] for r in rows]), {"long_name": "landscape"}),
        "scale_lo_m": ("law", np.array([r["lo"] for r in rows]), {"long_name": "smallest lag of the fit", "units": "m"}),
        "scale_hi_m": ("law", np.array([r["hi"] for r in rows]), {"long_name": "largest lag of the fit", "units": "m"}),
        "pixel_m": ("law", np.array([r["pix"] for r in rows]), {"long_name": "analysis pixel", "units": "m"}),
        "n_pixels": ("law", np.array([r["npx"] for r in rows]), {"long_name": "valid pixels of the landscape", "units": "1"}),
        "bootstrap_unit": ("law", np.array([r["unit"] for r in rows]), {"long_name": "resampling unit of the intervals (scene or tile)"}),
        "n_boot": ("law", np.array([r["nboot"] for r in rows]), {"long_name": "bootstrap replicates", "units": "1"}),
    }
    return data


def _meta_variables(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-row descriptions: every ``meta`` key of the entries, numbers as floats."""
    data: dict[str, Any] = {}
    meta_keys = sorted({k for r in rows for k in r["meta"]})
    for k in meta_keys:
        vals = [r["meta"].get(k, "") for r in rows]
        if all(isinstance(v, (int, float)) for v in vals):
            data[k] = ("law", np.array(vals, dtype=np.float64),
                       {"units": "m" if k.endswith("_m") else "1", "long_name": k.replace("_", " ")})
        else:
            data[k] = ("law", np.array([str(v) for v in vals]), {"long_name": k.replace("_", " ")})
    return data


def compare_laws(
    entries: Sequence[LawEntry], *, reference: str | None = REFERENCE,
    scales_m: Sequence[float] = SCALES_M, title: str = "local exponents across sensors",
    min_pixels: int = MIN_LANDSCAPE_PIXELS,
    spread: dict[str, xr.DataArray] | None = None,
) -> xr.Dataset:
    """Side-by-side statistics of several laws (one row per law and landscape).

    Parameters
    ----------
    entries
        Fitted laws with their metadata; ``meta`` strings / numbers become per-row variables.
    reference
        Key of the reference entry (the ASTER law): each row is compared with the reference's
        row of the same landscape, or its ``all`` row. ``None``: no comparison.
    scales_m
        Common scales (m) of the local exponents and LST-NDVI slopes.
    title
        Global ``title``.
    min_pixels
        Landscapes other than ``all`` with fewer valid pixels are left out (listed in the
        ``skipped_landscapes`` attribute).
    spread
        Entry key -> :func:`~analysis.sensors.fits.realisation_spread` of its law. The total interval
        ``H_local_ci_total`` widens the bootstrap interval by ``1.96 sd`` (half-widths in
        quadrature); entries without a spread keep their bootstrap interval (right for a
        bootstrap over many scenes). The comparison with the reference uses the total intervals.

    Returns
    -------
    xarray.Dataset
        dims ``law`` (``key/landscape``), ``scale_m``, ``octave``, ``bound``; variables
        ``H_local``, ``H_local_ci`` (NaN outside the law's fitted range), ``H_octave``,
        ``H_octave_ci``, ``octave_lo_m``, ``octave_hi_m``, ``detail_ratio``,
        ``detail_ratio_ci``, ``detail_correction``, ``detail_correction_ci``,
        ``lst_ndvi_slope``, ``lst_ndvi_slope_ci``, ``lst_ndvi_corr``, ``dH_reference``,
        ``dH_reference_ci``, ``agrees`` and per-row descriptions.

    """
    s = np.asarray(scales_m, dtype=np.float64)
    rows, skipped = _rows(entries, s, min_pixels, spread)
    if not rows:
        raise InputError("no law to compare")
    data = _row_variables(rows, reference)
    data.update(_meta_variables(rows))
    no = max(1, max(r["Ho"].size for r in rows))
    ds = xr.Dataset(
        data,
        coords={
            "law": ("law", [f"{r['key']}/{r['landscape']}" for r in rows], {"long_name": "field key / landscape"}),
            "scale_m": ("scale_m", s, {"long_name": "scale (lag, or block size for lst_ndvi_*)", "units": "m"}),
            "octave": ("octave", np.arange(no), {"long_name": "octave index within each law's range", "units": "1"}),
            "bound": ["lower", "upper"],
        },
    )
    ds.attrs.update(
        title=title, Conventions="CF-1.8", reference=reference or "",
        coarse_band_m=list(COARSE_BAND), fine_band_m=list(FINE_BAND), edge_tolerance=EDGE_TOL,
        skipped_landscapes="; ".join(skipped) or "none", min_landscape_pixels=int(min_pixels),
        date_created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    return ds
