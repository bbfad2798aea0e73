"""One exception family for bad input.

Every error raised for a problem with the user's data derives from :class:`InputError`
and names the file (when there is one) and the problem, e.g.::

    scalelaws.errors.MissingCRSError: /data/scene.tif: raster has no CRS; ...
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = [
    "ScalelawsError",
    "InputError",
    "NotARasterError",
    "MissingCRSError",
    "GridMismatchError",
    "AllNaNError",
    "UnitsError",
    "ScaleRangeError",
    "ProductError",
    "OutputError",
    "naming",
    "one_line",
]


class ScalelawsError(Exception):
    """Base class of every exception raised on purpose by scalelaws."""


class InputError(ScalelawsError, ValueError):
    """Bad input data: the message names the file (if any) and the problem.

    Parameters
    ----------
    problem
        What is wrong, in words a user can act on.
    path
        The offending file, or ``None`` for in-memory data.

    """

    def __init__(self, problem: str, path: str | os.PathLike | None = None) -> None:
        self.problem = problem
        self.path = None if path is None else os.fspath(path)
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


class NotARasterError(InputError):
    """The file cannot be opened as a raster (or is not the product it claims to be)."""


class MissingCRSError(InputError):
    """The raster carries no coordinate reference system."""


class GridMismatchError(InputError):
    """Two fields that must share a grid (or a CRS) do not."""


class AllNaNError(InputError):
    """Every pixel is missing after masking."""


class UnitsError(InputError):
    """Units are unknown, not physical (e.g. Celsius LST), or scaled integers with no scale."""


class ScaleRangeError(InputError):
    """The field is too small for the requested scales or lags."""


class ProductError(InputError):
    """The product's metadata or layout is not what its reader expects."""


class OutputError(InputError):
    """An output cannot be written where asked (read-only folder, a file in the way, an input)."""


@contextmanager
def naming(path: str | os.PathLike | None) -> Iterator[None]:
    """Attach ``path`` to any :class:`InputError` raised inside the block without a file.

    Errors raised on in-memory data (e.g. by :func:`scalelaws.fit.fit_scaling`) know the
    problem but not the file; a command that read the data from ``path`` wraps the
    computation in ``with naming(path):`` so that the message names the file.

    Examples
    --------
    >>> with naming("scene.tif"):  # doctest: +SKIP
    ...     fit_scaling(da)

    """
    try:
        yield
    except InputError as exc:
        if exc.path is not None or path is None:
            raise
        new = type(exc).__new__(type(exc))
        InputError.__init__(new, exc.problem, path)
        raise new from exc


def one_line(exc: BaseException) -> str:
    """Return the message of ``exc`` on one line (newlines and runs of spaces collapsed)."""
    return " ".join(str(exc).split())
