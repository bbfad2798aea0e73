"""Seeds and shapes of the synthetic generators: :func:`as_generator`, :func:`_check_shape`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from scalelaws.errors import InputError, ScaleRangeError

RngLike = np.random.Generator | int | None


def as_generator(rng: RngLike = None) -> np.random.Generator:
    """Return a :class:`numpy.random.Generator` from a generator, an integer seed or ``None``.

    Parameters
    ----------
    rng
        An existing generator (returned unchanged, so its stream continues), an ``int`` seed,
        or ``None`` for fresh entropy from the operating system.

    Returns
    -------
    numpy.random.Generator

    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise InputError(f"rng must be a numpy.random.Generator, an int seed or None, not {type(rng)!r}")


def _check_shape(shape: int | Sequence[int], minimum: int = 2) -> tuple[int, int]:
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape), int(shape))
    shape = tuple(int(s) for s in shape)
    if len(shape) != 2:
        raise InputError(f"shape must be (ny, nx), got {shape!r}")
    if min(shape) < minimum:
        raise ScaleRangeError(f"shape {shape} too small: each side needs at least {minimum} pixels")
    return shape  # type: ignore[return-value]
