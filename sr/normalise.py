"""The affine normalisation of the networks' inputs and outputs: one ``apply`` / ``invert`` pair.

``x_n = (x - mean) / std`` and back ``x = x_n * std + mean``, with the ``mean`` / ``std`` of
LST (K) or NDVI stored with every model (:class:`sr.data.Normalisation`). The functions work on
NumPy arrays and torch tensors alike; every normalisation in ``sr`` (training items, the
consistency loss, validation, prediction, ensembles of members with different statistics) goes
through them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["apply", "apply_masked", "convert", "invert"]


def apply(x: Any, mean: float, std: float) -> Any:
    """Normalise: ``(x - mean) / std``."""
    return (x - mean) / std


def invert(x: Any, mean: float, std: float, *, out: np.ndarray | None = None) -> Any:
    """Undo :func:`apply`: ``x * std + mean`` (in place into ``out`` for NumPy arrays)."""
    if out is None:
        return x * std + mean
    np.multiply(x, std, out=out)
    np.add(out, mean, out=out)
    return out


def apply_masked(a: np.ndarray, mean: float, std: float) -> tuple[np.ndarray, np.ndarray]:
    """Normalise a field with missing data: NaN pixels become 0 (the mean) and a validity mask.

    Returns
    -------
    values, valid
        float32 normalised values (0 where missing) and the boolean mask of valid pixels.

    """
    ok = np.isfinite(a)
    return np.where(ok, apply(a, mean, std), 0.0).astype(np.float32), ok


def convert(mean_from: float, std_from: float, mean_to: float, std_to: float) -> tuple[float, float]:
    """Affine ``(scale, offset)`` mapping values normalised one way to values normalised another.

    ``apply(invert(x, mean_from, std_from), mean_to, std_to) == scale * x + offset`` (used to
    average ensemble members whose normalisations differ).
    """
    return std_from / std_to, (mean_from - mean_to) / std_to
