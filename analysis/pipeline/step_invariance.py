"""Step ``invariance``: the 4 km -> 1 km band against the 1 km -> 250 m band (``invariance.nc/.csv``)."""

from __future__ import annotations

import logging
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from analysis.pipeline.context import Context
from analysis.pipeline.settings import COARSE_LEVELS, FINE_LEVELS
from analysis.pipeline.step_sf import sf_stats
from analysis.pipeline.writing import _pct, _var, _write
from scalelaws.core.estimate import ols_slope
from scalelaws.io.atomic import atomic_path

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------
# step: scale-invariance test
# ----------------------------------------------------------------------------------------------
def step_invariance(ctx: Context, out: Path, progress: bool) -> list[Path]:
    """Test scale invariance: the 4 km -> 1 km band against the 1 km -> 250 m band."""
    from scalelaws.laws import load_law

    law = load_law(out / "law.nc")
    st = sf_stats(ctx, "lst", np.random.default_rng(ctx.seed + 51))
    px = st.pixel_m
    i2 = int(np.flatnonzero(np.isclose(st.q, 2.0))[0])
    fine_sel = (st.lag >= 1) & (st.lag <= 4)
    coarse_sel = (st.lag >= 4) & (st.lag <= 16)
    x = np.log(st.lag_m)
    logS = np.log(st.S[:, i2])
    logSb = np.log(st.Sb[:, :, i2])
    H = {}
    for band, sel in (("fine", fine_sel), ("coarse", coarse_sel)):
        H[band] = ols_slope(x[sel], logS[:, sel], propagate_nan=True)[0] / 2
        H[band + "_ci"] = _pct(ols_slope(x[sel], logSb[..., sel], propagate_nan=True)[0] / 2)
    lev = {int(round(math.log2(b / px))): j for j, b in enumerate(st.block_m)}
    jc = [lev[v] for v in COARSE_LEVELS]
    jf = [lev[v] for v in FINE_LEVELS]

    def ratios(D: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        meas = D[..., jf].sum(-1) / D[..., jc].sum(-1)
        beta = np.log2(D[..., jc[0]] / D[..., jc[1]])  # coarse-band exponent of D
        pf = 2.0 ** np.asarray(FINE_LEVELS, dtype=float)
        pc = 2.0 ** np.asarray(COARSE_LEVELS, dtype=float)
        inv = (pf[None, :] ** beta.reshape(-1, 1)).sum(-1) / (pc[None, :] ** beta.reshape(-1, 1)).sum(-1)
        return meas, inv.reshape(beta.shape)

    meas, inv = ratios(st.D)
    meas_b, inv_b = ratios(st.Db)
    L = len(st.names)
    law_ratio = np.full(L, np.nan)
    law_ratio_ci = np.full((L, 2), np.nan)
    lagf = st.lag[fine_sel]
    S2_law = np.full((L, lagf.size), np.nan)
    S2_law_ci = np.full((L, lagf.size, 2), np.nan)
    S2_inv = np.full((L, lagf.size), np.nan)
    cb = (2.0 ** COARSE_LEVELS[0] * px, 2.0 ** FINE_LEVELS[0] * px)
    fb = (2.0 ** FINE_LEVELS[0] * px, px)
    for i, name in enumerate(st.names):
        if name not in law.landscapes:
            log.warning("landscape %s is not in the law: no law prediction", name)
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            r = law.detail_energy_ratio(cb, fb, landscape=name)
            law_ratio[i], law_ratio_ci[i] = r["law"], r["law_ci"]
            sfc = xr.Dataset({"S": (("q", "lag"), st.S[i][:, coarse_sel])},
                             coords={"q": st.q, "lag": st.lag[coarse_sel],
                                     "lag_m": ("lag", st.lag_m[coarse_sel])})
            p = law.predict_sf(sfc, st.lag_m[fine_sel], landscape=name)
        k = int(np.flatnonzero(np.isclose(p["q"].values, 2.0))[0])
        S2_law[i], S2_law_ci[i] = p["S"].values[k], p["S_ci"].values[k]
        S2_inv[i] = p["S_invariant"].values[k]
    ds = xr.Dataset(
        {
            "H_fine": _var(("landscape",), H["fine"], "1",
                           "zeta(2)/2 over the 1 km -> 250 m band (lags 1-4 px)"),
            "H_fine_ci": _var(("landscape", "bound"), H["fine_ci"], "1", "95 % interval"),
            "H_coarse": _var(("landscape",), H["coarse"], "1",
                             "zeta(2)/2 over the 4 km -> 1 km band (lags 4-16 px)"),
            "H_coarse_ci": _var(("landscape", "bound"), H["coarse_ci"], "1", "95 % interval"),
            "detail_ratio": _var(("landscape",), meas, "1",
                                 "measured detail energy of the fine band / coarse band"),
            "detail_ratio_ci": _var(("landscape", "bound"), _pct(meas_b), "1", "95 % interval"),
            "detail_ratio_invariant": _var(("landscape",), inv, "1",
                                           "fine / coarse detail energy assumed by scale "
                                           "invariance (coarse-band exponent extrapolated)"),
            "detail_ratio_invariant_ci": _var(("landscape", "bound"), _pct(inv_b), "1",
                                              "95 % interval"),
            "detail_ratio_law": _var(("landscape",), law_ratio, "1",
                                     "fine / coarse detail energy predicted by the law"),
            "detail_ratio_law_ci": _var(("landscape", "bound"), law_ratio_ci, "1",
                                        "95 % interval (law bootstrap)"),
            "S2_measured": _var(("landscape", "lag_fine"), st.S[:, i2][:, fine_sel], "K^2",
                                "measured S2 at the fine-band lags"),
            "S2_measured_ci": _var(("landscape", "lag_fine", "bound"),
                                   _pct(st.Sb[:, :, i2][..., fine_sel]), "K^2", "95 % interval"),
            "S2_law": _var(("landscape", "lag_fine"), S2_law, "K^2",
                           "S2 predicted by the law from the coarse band"),
            "S2_law_ci": _var(("landscape", "lag_fine", "bound"), S2_law_ci, "K^2",
                              "95 % interval (law bootstrap)"),
            "S2_invariant": _var(("landscape", "lag_fine"), S2_inv, "K^2",
                                 "S2 extrapolated from the coarse band by scale invariance"),
        },
        coords={"landscape": st.names, "bound": ["lower", "upper"],
                "lag_fine": ("lag_fine", lagf, {"units": "px"}),
                "lag_fine_m": ("lag_fine", lagf * px, {"units": "m", "long_name": "lag"})},
        attrs={"pixel_size_m": px, "coarse_band_m": list(cb), "fine_band_m": list(fb),
               "bootstrap_unit": st.unit},
    )
    paths = [_write(ds, out / "invariance.nc", "scale-invariance test", ctx)]
    rows = []
    for i, n in enumerate(st.names):
        rows.append({
            "landscape": n,
            "H_coarse_band": float(H["coarse"][i]), "H_fine_band": float(H["fine"][i]),
            "detail_ratio_measured": float(meas[i]),
            "detail_ratio_invariant": float(inv[i]), "detail_ratio_law": float(law_ratio[i]),
        })
    with atomic_path(out / "invariance.csv") as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False, float_format="%.5g")
    paths.append(out / "invariance.csv")
    return paths
