"""Paper figures: one module per figure, each with ``main(out, smoke=False, results=None)``.

Every figure only reads result files (NetCDF) from a results folder and never computes one:
``scalelaws demo -o DIR`` writes ``DIR/results`` (every file of :data:`FIGURES`), ``scalelaws
benchmark sensors -o RESULTS`` writes the file of the ``sensors`` figure. A missing file is an
error naming that command (:class:`paper_figures._style.MissingResultError`). No module here but
:mod:`paper_figures.demo` (the composition root) imports ``analysis``, ``sr`` or torch.

:data:`FIGURES` is the explicit, ordered registry of the figures drawn by default;
:data:`EXTRA_FIGURES` those drawn on request or when their file is in the results folder.
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
    fig_sensors,
    fig_sr_maps,
    fig_sr_spectra,
    fig_structure_functions,
)

#: Figure name -> module, in paper order; their files are written by ``scalelaws demo``.
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

#: Figures whose result file comes from another command (see ``_style.MADE_BY``): drawn with
#: ``--only NAME``, or by default when their file is already in the results folder.
EXTRA_FIGURES: dict[str, ModuleType] = {
    "sensors": fig_sensors,
}

__all__ = ["EXTRA_FIGURES", "FIGURES", "required_files"]


def required_files(names: list[str] | None = None) -> list[str]:
    """Return the result files read by the given figures (default all), without duplicates."""
    figures = FIGURES | EXTRA_FIGURES
    out: list[str] = []
    for n in names or list(FIGURES):
        for f in figures[n].REQUIRES:
            if f not in out:
                out.append(f)
    return out
