"""The field-wide computations of :func:`scalelaws.fit.fit_scaling`: :class:`FieldBackend`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from scalelaws.fit.bootstrap import _boot_core
from scalelaws.fit.calibration import _lrd_inflation, _wavelet_calibration
from scalelaws.fit.inputs import _as_field
from scalelaws.fit.leaders import _log_leaders


class FieldBackend:
    """Field-wide computations of :func:`scalelaws.fit.fit_scaling`, for a field held in memory.

    :func:`scalelaws.fit.fit_scaling` asks its backend for everything that touches every pixel (the
    structure-function sums and bootstrap tiles, the log-leaders, the fBm calibrations and
    the spectrum) and does the rest (lags, fits, intervals) itself, so that a backend that
    reads a raster block by block (:class:`scalelaws.stats.chunked.ChunkedBackend`) gives
    the same exponents without the field in memory.
    """

    def field(self, da: Any) -> xr.DataArray:
        """Validate the field (a float ``(y, x)`` DataArray with a valid pixel)."""
        return _as_field(da)

    def boot_core(self, da: xr.DataArray, qs: Sequence[float], lags: np.ndarray, B: int,
                  stride: int, k: int, n_boot: int, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[int, int]]]:
        """Whole-field ``S``, counts, bootstrap replicates and tile corners.

        See :func:`scalelaws.fit.bootstrap._boot_core`.
        """
        return _boot_core(da, qs, lags, B, stride, k, n_boot, rng)

    def lrd_inflation(self, da: xr.DataArray, H: float, qs: Sequence[float], lags: np.ndarray,
                      B: int, stride: int, k: int, n_calib: int
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Calibrate the ``zeta`` intervals on fBm.

        See :func:`scalelaws.fit.calibration._lrd_inflation`.
        """
        return _lrd_inflation(~np.isfinite(da.values), H, qs, lags, B, stride, k, n_calib)

    def leader_counts(self, da: xr.DataArray, wavelet: str) -> tuple[np.ndarray, np.ndarray]:
        """Octaves ``j`` and numbers of valid leaders ``n(j)`` (independent of ``gamma``)."""
        from scalelaws.stats.wavelets import wavelet_cascade

        wc = wavelet_cascade(da, wavelet=wavelet, j1=1, min_count=3, gamma=1.0)
        self._cascade = (id(da), wavelet, wc)  # reused by raw_c12 when gamma = 1
        return wc["j"].values, wc["n"].values

    def raw_c12(self, da: xr.DataArray, j1: int, j2: int, gamma: float,
                wavelet: str) -> tuple[float, float]:
        """Uncorrected ``c1``, ``c2`` over octaves ``j1..j2``."""
        from scalelaws.stats.wavelets import fit_log_cumulants, wavelet_cascade

        cached = getattr(self, "_cascade", None)
        if gamma == 1.0 and cached is not None and cached[:2] == (id(da), wavelet):
            wc = cached[2]
        else:
            wc = wavelet_cascade(da, wavelet=wavelet, j1=j1, j2=j2, gamma=gamma)
        fit = fit_log_cumulants(wc, j1, j2)
        return float(fit["c1"]), float(fit["c2"])

    def log_leaders(self, da: xr.DataArray, j2: int, gamma: float,
                    wavelet: str) -> list[np.ndarray | None]:
        """Log-leaders of octaves ``1..j2`` (:func:`scalelaws.fit.leaders._log_leaders`)."""
        return _log_leaders(da.values, j2, gamma, wavelet)

    def wavelet_calibration(self, da: xr.DataArray, H: float, j1: int, j2: int, gamma: float,
                            n_calib: int, *, bootstrap: bool, wavelet: str
                            ) -> tuple[np.ndarray, np.ndarray]:
        """Calibrate ``c1``, ``c2`` on fBm.

        See :func:`scalelaws.fit.calibration._wavelet_calibration`.
        """
        return _wavelet_calibration(~np.isfinite(da.values), H, j1, j2, gamma, n_calib,
                                    bootstrap=bootstrap, wavelet=wavelet)

    def spectrum(self, da: xr.DataArray) -> xr.Dataset:
        """Power spectrum and ``beta`` (:func:`scalelaws.stats.spectra.power_spectrum`)."""
        from scalelaws.stats.spectra import power_spectrum

        return power_spectrum(da)
