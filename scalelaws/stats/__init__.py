"""Multiscale statistics: structure functions, wavelet leaders, spectra, coarse-graining."""

from scalelaws.stats.coarse import coarse_grain_stats, lst_ndvi_relation, lst_ndvi_relation_many
from scalelaws.stats.spectra import power_spectrum
from scalelaws.stats.structure import polar_view, structure_function, structure_function_numpy
from scalelaws.stats.wavelets import fit_log_cumulants, wavelet_cascade

__all__ = [
    "coarse_grain_stats",
    "fit_log_cumulants",
    "lst_ndvi_relation",
    "lst_ndvi_relation_many",
    "polar_view",
    "power_spectrum",
    "structure_function",
    "structure_function_numpy",
    "wavelet_cascade",
]
