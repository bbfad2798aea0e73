"""The ``da.scalelaws`` accessor only forwards to the package functions."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import xarray as xr

import scalelaws.accessor  # noqa: F401  (registers the accessor)
from scalelaws.stats.structure import structure_function


@pytest.fixture
def field(rng):
    a = np.cumsum(rng.standard_normal((40, 48)), axis=0)
    a[3, 5] = np.nan
    return xr.DataArray(
        a,
        dims=("y", "x"),
        coords={"y": -250.0 * np.arange(40), "x": 250.0 * np.arange(48)},
        attrs={"units": "K"},
    )


def test_structure_function_accessor_equals_function(field):
    got = field.scalelaws.structure_function(
        q=(1, 2.5), lags=[1, 3, 5], direction="xy", signed=True
    )
    ref = structure_function(field, q=(1, 2.5), lags=[1, 3, 5], direction="xy", signed=True)
    xr.testing.assert_identical(got.drop_attrs(), ref.drop_attrs())
    assert {k: v for k, v in got.attrs.items() if k != "history"} == {
        k: v for k, v in ref.attrs.items() if k != "history"
    }
    # positional arguments are forwarded too
    xr.testing.assert_identical(
        field.scalelaws.structure_function((2,), [2, 4]).drop_attrs(),
        structure_function(field, (2,), [2, 4]).drop_attrs(),
    )


@pytest.mark.parametrize(
    "method, module",
    [
        ("wavelet_cascade", "scalelaws.stats.wavelets"),
        ("power_spectrum", "scalelaws.stats.spectra"),
        ("fit_scaling", "scalelaws.fit"),
        ("coarse_grain_stats", "scalelaws.stats.coarse"),
        ("structure_function", "scalelaws.stats.structure"),
    ],
)
def test_accessor_forwards_arguments_and_result(field, monkeypatch, method, module):
    """Each method calls its module's function with the field first and returns its result."""
    calls = []
    sentinel = object()

    def fake(da, *args, **kwargs):
        calls.append((da, args, kwargs))
        return sentinel

    fake_module = types.ModuleType(module)
    setattr(fake_module, method, fake)
    monkeypatch.setitem(sys.modules, module, fake_module)
    out = getattr(field.scalelaws, method)(1, 2, key="value")
    assert out is sentinel
    assert len(calls) == 1
    da, args, kwargs = calls[0]
    assert da is field and args == (1, 2) and kwargs == {"key": "value"}
