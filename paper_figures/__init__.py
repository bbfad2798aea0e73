"""Paper figures: one module per figure, each with ``main(out, smoke=False, results=None)``.

Every figure reads only result files written by :func:`analysis.pipeline.compute_results`
(NetCDF), from a results folder; ``scalelaws figures`` computes the missing ones first.
:data:`FIGURES` is the explicit, ordered registry (no file-name scanning).
"""

from __future__ import annotations

from types import ModuleType

from paper_figures import (
    fig_exponents,
    fig_invariance,
    fig_law,
    fig_lst_ndvi,
    fig_metrics,
    fig_overview,
    fig_polar,
    fig_sr_maps,
    fig_sr_spectra,
    fig_structure_functions,
)

#: Figure name -> module, in paper order.
FIGURES: dict[str, ModuleType] = {
    "overview": fig_overview,
    "structure_functions": fig_structure_functions,
    "exponents": fig_exponents,
    "lst_ndvi": fig_lst_ndvi,
    "invariance": fig_invariance,
    "law": fig_law,
    "sr_maps": fig_sr_maps,
    "metrics": fig_metrics,
    "sr_spectra": fig_sr_spectra,
    "polar": fig_polar,
}

__all__ = ["FIGURES", "required_files"]


def required_files(names: list[str] | None = None) -> list[str]:
    """Return the result files read by the given figures (default all), without duplicates."""
    out: list[str] = []
    for n in names or list(FIGURES):
        for f in FIGURES[n].REQUIRES:
            if f not in out:
                out.append(f)
    return out
