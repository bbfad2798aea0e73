"""Core sub-commands of the ``scalelaws`` CLI (statistics and laws; no torch)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the core sub-commands to ``app``."""
