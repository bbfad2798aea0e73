"""The ``DataArray.scalelaws`` accessor: ``da.scalelaws.<name>(...)`` forwards to the function.

Importing this module registers the accessor (``import scalelaws`` does it). Every method only
forwards: ``da.scalelaws.structure_function(q=(1, 2))`` is exactly
``scalelaws.stats.structure.structure_function(da, q=(1, 2))``. The target modules are imported
inside each method, so the accessor costs nothing until it is used.

Examples
--------
>>> import scalelaws.accessor  # doctest: +SKIP
>>> ds = lst.scalelaws.structure_function(q=(1, 2, 3), direction="xy")  # doctest: +SKIP
>>> fit = lst.scalelaws.fit_scaling(q=(1, 2, 3, 4))  # doctest: +SKIP

"""

from __future__ import annotations

import importlib
from typing import Any

import xarray as xr

__all__ = ["ScalelawsAccessor"]


def _forward(module: str, name: str, da: xr.DataArray, args: tuple, kwargs: dict) -> Any:
    func = getattr(importlib.import_module(module), name)
    return func(da, *args, **kwargs)


@xr.register_dataarray_accessor("scalelaws")
class ScalelawsAccessor:
    """Multiscale statistics of a field, ``da.scalelaws.<name>(...)``; forwards only.

    Parameters
    ----------
    da
        The field (dims ``("y", "x")``, extra leading dims allowed).

    """

    def __init__(self, da: xr.DataArray) -> None:
        self._da = da

    def structure_function(self, *args: Any, **kwargs: Any) -> xr.Dataset:
        """Structure functions; see :func:`scalelaws.stats.structure.structure_function`.

        Parameters
        ----------
        *args, **kwargs
            Passed on unchanged after the field.

        Returns
        -------
        xarray.Dataset

        """
        return _forward("scalelaws.stats.structure", "structure_function", self._da, args, kwargs)

    def wavelet_cascade(self, *args: Any, **kwargs: Any) -> xr.Dataset:
        """Wavelet coefficients and leaders; see :func:`scalelaws.stats.wavelets.wavelet_cascade`.

        Parameters
        ----------
        *args, **kwargs
            Passed on unchanged after the field.

        Returns
        -------
        xarray.Dataset

        """
        return _forward("scalelaws.stats.wavelets", "wavelet_cascade", self._da, args, kwargs)

    def power_spectrum(self, *args: Any, **kwargs: Any) -> xr.Dataset:
        """Radially averaged power spectrum; see :func:`scalelaws.stats.spectra.power_spectrum`.

        Parameters
        ----------
        *args, **kwargs
            Passed on unchanged after the field.

        Returns
        -------
        xarray.Dataset

        """
        return _forward("scalelaws.stats.spectra", "power_spectrum", self._da, args, kwargs)

    def fit_scaling(self, *args: Any, **kwargs: Any) -> xr.Dataset:
        """Scaling exponents with intervals; see :func:`scalelaws.fit.fit_scaling`.

        Parameters
        ----------
        *args, **kwargs
            Passed on unchanged after the field.

        Returns
        -------
        xarray.Dataset

        """
        return _forward("scalelaws.fit", "fit_scaling", self._da, args, kwargs)

    def coarse_grain_stats(self, *args: Any, **kwargs: Any) -> xr.Dataset:
        """Statistics across aggregation scales; see :func:`scalelaws.stats.coarse.coarse_grain_stats`.

        Parameters
        ----------
        *args, **kwargs
            Passed on unchanged after the field.

        Returns
        -------
        xarray.Dataset

        """
        return _forward("scalelaws.stats.coarse", "coarse_grain_stats", self._da, args, kwargs)
