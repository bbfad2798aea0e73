"""The ``scalelaws`` command line.

The core sub-commands (statistics and laws) live here. Downstream packages (``sr``,
``analysis``, ``paper_figures``) add theirs through the ``scalelaws.cli`` entry-point group,
so imports keep pointing one way: ``scalelaws`` never imports them.

Errors: every command runs inside :class:`ErrorHandlingGroup`, the one place where a bad input
(:class:`scalelaws.errors.InputError`: the file and the problem) becomes one line on stderr,
``error: FILE: PROBLEM``, and exit code 2 - no traceback. Command modules simply let
``InputError`` propagate.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points
from typing import Any

import typer
from typer.core import TyperGroup

from scalelaws import commands
from scalelaws.errors import InputError, one_line

__all__ = ["app", "main", "ErrorHandlingGroup", "EXIT_BAD_INPUT"]

#: Exit code of a command refused because of its input (also click's code for usage errors).
EXIT_BAD_INPUT = 2


class ErrorHandlingGroup(TyperGroup):
    """Root command group that answers every :class:`InputError` with one line and exit code 2.

    Sub-groups (``laws``, ``benchmark``) and plugin commands are invoked inside the root
    group's :meth:`invoke`, so the handler covers every command.
    """

    def invoke(self, ctx: Any) -> Any:
        """Invoke the command; an :class:`InputError` becomes ``error: ...`` and exit code 2."""
        try:
            return super().invoke(ctx)
        except InputError as exc:
            typer.echo(f"error: {one_line(exc)}", err=True)
            raise typer.Exit(EXIT_BAD_INPUT) from None


app = typer.Typer(
    name="scalelaws",
    help="Multiscale statistics of LST/NDVI, correction laws and law-corrected super-resolution.",
    no_args_is_help=True,
    add_completion=False,
    cls=ErrorHandlingGroup,
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


def _load_plugins(target: typer.Typer | None = None) -> list[str]:
    """Register the entry-point sub-commands; say loudly (stderr) which ones failed to load.

    Returns
    -------
    list of str
        Names of the entry points that could not be loaded.

    """
    target = app if target is None else target
    failed = []
    for ep in entry_points(group="scalelaws.cli"):
        try:
            register = ep.load()
            register(target)
        except Exception as exc:  # noqa: BLE001 - any failure: the core commands still work
            failed.append(ep.name)
            hint = ""
            if isinstance(exc, ModuleNotFoundError) and exc.name:
                hint = f" (missing package {exc.name!r}: pip install 'scalelaws[all]')"
            typer.echo(
                f"warning: the {ep.name!r} sub-commands are unavailable: "
                f"{type(exc).__name__}: {one_line(exc)}{hint}",
                err=True,
            )
    return failed


_load_plugins()


def main() -> None:
    """Entry point of the ``scalelaws`` console script."""
    app()
