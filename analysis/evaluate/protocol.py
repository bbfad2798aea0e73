"""The protocol's constants: its description, the scalar metrics, the types of its arguments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import xarray as xr

__all__ = ["PROTOCOL", "SCALAR_METRICS", "OffsetSpec", "Predictor", "ScaleGrid"]


#: A predictor maps a pair to an LST prediction (K) on the pair's 250 m MODIS (NDVI) grid.
Predictor = Callable[[Any], xr.DataArray]
OffsetSpec = str | tuple[float, float] | None

PROTOCOL = (
    "prediction (K, MODIS 250 m grid) reprojected bilinearly onto the ASTER grid translated back "
    "by the MODIS-ASTER offset (UTM vector at the patch centre); scored: ASTER-valid pixels "
    "inside the prediction footprint eroded by 1 px (3x3), common to all methods of a pair; PSNR/SSIM peak R = max-min of ASTER "
    "over scored pixels; SSIM 7x7 uniform window, K1=0.01, K2=0.03, sample covariance, mean over "
    "pixels whose whole window is scored; consistency: (mean T^4)^(1/4) re-aggregation to the "
    "1 km grid; scale-aware: ln(S2_pred/S2_ASTER) per lag, spectral band-variance ratio per band, "
    "each field on its own grid (prediction pixels whose centres fall in the scored area; the "
    "same lags and bands in metres)"
)

#: Scalar metrics of :func:`score_pair`: name -> (units, long name, better: "low"/"high"/"zero").
SCALAR_METRICS: dict[str, tuple[str, str, str]] = {
    "rmse": ("K", "root-mean-square error against ASTER", "low"),
    "bias": ("K", "mean error (prediction - ASTER)", "zero"),
    "ubrmse": ("K", "unbiased RMSE (standard deviation of the error)", "low"),
    "mae": ("K", "mean absolute error", "low"),
    "r": ("1", "Pearson correlation with ASTER", "high"),
    "psnr": ("dB", "peak signal-to-noise ratio (peak = ASTER range)", "high"),
    "ssim": ("1", "structural similarity (7x7 uniform window, R = ASTER range)", "high"),
    "consistency_rmse": ("K", "RMSE of the T^4 re-aggregated prediction against the 1 km LST", "low"),
    "rmse_grad_low": ("K", "RMSE in the lowest tercile of ASTER gradient magnitude", "low"),
    "rmse_grad_mid": ("K", "RMSE in the middle tercile of ASTER gradient magnitude", "low"),
    "rmse_grad_high": ("K", "RMSE in the highest tercile of ASTER gradient magnitude", "low"),
    "data_range": ("K", "ASTER max - min over the scored pixels (PSNR/SSIM peak)", ""),
    "n_scored": ("1", "number of scored ASTER pixels", ""),
}

#: Number of bilinear ASTER samples per 1 km pixel side in the offset search.
_SUBSAMPLES = 4

#: Where the scale-aware metrics are computed (see :func:`analysis.evaluate.score_fields`).
ScaleGrid = Literal["native", "reference"]
