"""Layout of a law: the variables every law holds, the file format version, the conditioning vector."""

from __future__ import annotations

#: Names of the entries of :meth:`scalelaws.laws.CorrectionLaw.conditioning`, in order.
CONDITIONING_NAMES: list[str] = [
    "scale_factor",
    "log2_target_res_km",
    "zeta2_fine",
    "zeta2_coarse",
    "zeta2_fine_halfwidth",
    "log_detail_ratio_law",
    "log_detail_correction",
    "lst_ndvi_slope_fine",
    "lst_ndvi_corr_fine",
    "has_ndvi",
]

#: Variables without which a Dataset is not a correction law.
_REQUIRED = ("log_S", "zeta_local", "coef_log_S", "coef_log_D", "detail_energy")

#: Version of the law file layout; :func:`scalelaws.laws.load_law` refuses files of a newer layout.
LAW_FORMAT_VERSION = 1
