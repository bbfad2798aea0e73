"""scalelaws: multiscale statistics of LST and NDVI fields and correction laws across scales.

Top-level API (imported lazily so that ``import scalelaws`` stays fast)::

    scalelaws.structure_function(da, q=(1, 2, 3, 4))
    scalelaws.wavelet_cascade(da)
    scalelaws.power_spectrum(da)
    scalelaws.fit_scaling(da)
    scalelaws.coarse_grain_stats(da)
    scalelaws.lst_ndvi_relation(lst, ndvi)

Importing the package registers the ``DataArray.scalelaws`` accessor, which only forwards to
these functions. ``scalelaws`` never imports torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "structure_function": "scalelaws.stats.structure",
    "wavelet_cascade": "scalelaws.stats.wavelets",
    "power_spectrum": "scalelaws.stats.spectra",
    "coarse_grain_stats": "scalelaws.stats.coarse",
    "lst_ndvi_relation": "scalelaws.stats.coarse",
    "lst_ndvi_relation_many": "scalelaws.stats.coarse",
    "polar_view": "scalelaws.stats.structure",
    "fit_scaling": "scalelaws.fit",
    "local_slopes": "scalelaws.fit",
    "CorrectionLaw": "scalelaws.laws",
    "load_law": "scalelaws.laws",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'scalelaws' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)

# Register the ``DataArray.scalelaws`` accessor (it forwards lazily; importing it is cheap).
from scalelaws import accessor as _accessor  # noqa: E402,F401
