"""CF attributes of variables and datasets: the one place that spells them.

Every output of the package is a CF-1.8 NetCDF-ready :class:`xarray.Dataset`. The attribute
dicts of its variables (``long_name``, ``units``, ``standard_name`` where CF defines one,
``cell_methods``, coverage notes) and of the dataset (``title``, ``Conventions``, ``source``,
``history``) are built here, so that a module states *what* a variable is in one call:

>>> attrs("number of valid pairs", "1")
{'long_name': 'number of valid pairs', 'units': '1'}
>>> var("lag", [1.0, 2.0], "mean", "K")
('lag', [1.0, 2.0], {'long_name': 'mean', 'units': 'K'})
>>> interval("zeta", 0.95)
{'long_name': '95% bootstrap interval of zeta', 'units': '1'}

The helpers only assemble dicts: the keys they write are the keys given (nothing is added
behind the caller's back), in the order ``long_name``, ``units``, ``standard_name``,
``cell_methods``, ``coverage_content_type``, ``comment``, then any extra attribute.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

__all__ = ["CONVENTIONS", "attrs", "dataset_attrs", "history", "interval", "now", "var"]

#: The CF version every output declares.
CONVENTIONS = "CF-1.8"


def attrs(
    long_name: str,
    units: str | None = None,
    *,
    standard_name: str | None = None,
    cell_methods: str | None = None,
    coverage: str | None = None,
    comment: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """CF attributes of one variable.

    Parameters
    ----------
    long_name
        What the variable is, in words.
    units
        UDUNITS string (``"1"`` for dimensionless); ``None`` writes no ``units``.
    standard_name
        The CF standard name, where one exists (e.g. ``"surface_temperature"``).
    cell_methods
        CF ``cell_methods`` (e.g. ``"area: mean"``).
    coverage
        ``coverage_content_type`` (e.g. ``"modelResult"``, ``"auxiliaryInformation"``).
    comment
        Free-text note (e.g. which pixels a sum covers).
    **extra
        Further attributes, written as given after the CF ones.

    Returns
    -------
    dict
        The attributes, with only the keys given.

    """
    out: dict[str, Any] = {"long_name": long_name}
    if units is not None:
        out["units"] = units
    for key, value in (("standard_name", standard_name), ("cell_methods", cell_methods),
                       ("coverage_content_type", coverage), ("comment", comment)):
        if value is not None:
            out[key] = value
    out.update(extra)
    return out


def var(dims: Any, data: Any, long_name: str, units: str | None = None,
        **kw: Any) -> tuple[Any, Any, dict[str, Any]]:
    """``(dims, data, attrs)``: a variable for the :class:`xarray.Dataset` constructor.

    ``long_name``, ``units`` and ``**kw`` as in :func:`attrs`.
    """
    return dims, data, attrs(long_name, units, **kw)


def interval(of: str, ci: float, units: str | None = "1", *,
             kind: str = "bootstrap interval") -> dict[str, Any]:
    """Attributes of the interval of a variable: ``"95% bootstrap interval of <of>"``.

    Parameters
    ----------
    of
        Name of the variable the interval bounds.
    ci
        Coverage in (0, 1), written as a percentage.
    units
        Units of the bounds (those of the variable).
    kind
        Words after the percentage (``"interval"``, ``"bootstrap interval"``...).

    """
    return attrs(f"{ci:.0%} {kind} of {of}", units)


def now() -> str:
    """Return the current UTC time, ISO 8601 to the second (the timestamp of ``history``)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def history(what: str) -> str:
    """Return a CF ``history`` line: ``"<UTC time> <what>"``."""
    return f"{now()} {what}"


def dataset_attrs(title: str, source: str, what: str, **extra: Any) -> dict[str, Any]:
    """Global attributes: ``title``, ``Conventions``, ``source``, ``history`` and ``extra``.

    Parameters
    ----------
    title
        Title of the dataset.
    source
        The input(s) it was computed from (file names; ``""`` when in memory).
    what
        What made it, for the ``history`` line (see :func:`history`).
    **extra
        Further global attributes, after the CF ones.

    """
    return {"title": title, "Conventions": CONVENTIONS, "source": source,
            "history": history(what), **extra}
