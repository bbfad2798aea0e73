"""The ``scalelaws`` command line.

The core sub-commands (statistics and laws) live here. Downstream packages (``sr``,
``analysis``, ``paper_figures``) add theirs through the ``scalelaws.cli`` entry-point group,
so imports keep pointing one way: ``scalelaws`` never imports them.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

import typer

from scalelaws import commands

app = typer.Typer(
    name="scalelaws",
    help="Multiscale statistics of LST/NDVI, correction laws and law-corrected super-resolution.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at INFO level."),
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


commands.register(app)


def _load_plugins() -> None:
    for ep in entry_points(group="scalelaws.cli"):
        try:
            register = ep.load()
        except ImportError as exc:  # e.g. torch not installed: the core commands still work
            logging.getLogger(__name__).debug("sub-commands %s unavailable: %s", ep.name, exc)
            continue
        register(app)


_load_plugins()


def main() -> None:
    """Entry point of the ``scalelaws`` console script."""
    app()
