r"""2-D discrete wavelet coefficients, wavelet leaders and log-cumulants.

The multifractal formalism of wavelet leaders (Jaffard 2004; Wendt, Abry & Jaffard 2007;
Wendt, Roux, Jaffard & Abry 2009) estimates the scaling function :math:`\zeta(q)` and the
log-cumulants :math:`c_m` of a field :math:`X` from the leaders :math:`L(j, k)`:

.. math::

    S_L(q, j) = \langle L(j, \cdot)^q \rangle \propto 2^{j \zeta(q)}, \qquad
    C_m(j) = \mathrm{Cum}_m[\ln L(j, \cdot)] = C_m^0 + c_m \ln 2^j,

with :math:`\zeta(q) = \sum_m c_m q^m / m!`. For a fractional Brownian surface of Hurst
exponent :math:`H`: :math:`c_1 = H`, :math:`c_2 = c_3 = 0`, :math:`\zeta(q) = qH`.

Conventions used here (and documented in the output attributes):

* **Transform.** Orthonormal 2-D DWT of PyWavelets (``pywt.dwt2``, mode
  ``"periodization"``) applied octave by octave; an approximation with an odd number of
  rows (columns) loses its last row (column) before the next octave, so that every octave
  has exactly half the size of the previous one and each coarse cube has four children.
* **Normalisation.** The coefficients are L1-normalised as in the leader literature,
  :math:`d(j, k) = 2^{-j} d_{\mathrm{pywt}}(j, k)` (PyWavelets is L2-normalised for unit
  sample spacing), so that :math:`\mathbb E|d(j, \cdot)|^q \propto 2^{jqH}` for fBm.
* **Fractional integration.** ``gamma > 0`` multiplies the coefficients by
  :math:`2^{\gamma j}` (the coefficients of the fractionally integrated field), needed when
  the field's minimal regularity is small or negative (leaders require it to be > 0). The
  per-octave arrays (``S_leaders``, ``S_coef``, ``C1``) describe the *integrated* field;
  the fitted ``c1`` and ``zeta(q)`` are shifted back to the original field
  (:math:`c_1 - \gamma`, :math:`\zeta(q) - q\gamma`). ``c2`` and ``c3`` do not depend on it.
* **Leaders.** :math:`L(j, k) = \sup` of :math:`|d|` over the three orientations, the
  3 x 3 neighbourhood of dyadic cubes around :math:`\lambda(j, k)` and all finer octaves
  inside it (:mod:`scalelaws.kernels.leaders`). ``p_exp`` gives p-leaders instead.
* **Missing data and edges.** A coefficient whose support (the filter footprint, computed
  exactly from the wavelet's impulse responses) contains a missing pixel, or wraps around
  the edge of the periodised transform, is invalid; so is a leader built from one, and a
  leader whose 3 x 3 neighbourhood leaves the grid. Invalid values are dropped; ``n(j)``
  counts what is left. The periodic wrap is therefore never used: no edge pollution.
* **Fits.** :math:`c_m` is the slope of :math:`C_m(j)` against :math:`j \ln 2`, and
  :math:`\zeta(q)` the slope of :math:`\log_2 S_L(q, j)` against :math:`j`, by weighted
  least squares with weights :math:`n(j)` over octaves ``j1..j2``
  (:func:`fit_log_cumulants`, reusable to refit or bootstrap the per-octave arrays).

References
----------
S. Jaffard (2004). Wavelet techniques in multifractal analysis. *Proc. Symp. Pure Math.* 72.

H. Wendt, P. Abry & S. Jaffard (2007). Bootstrap for empirical multifractal analysis.
*IEEE Signal Processing Magazine* 24(4), 38-48.

H. Wendt, S. G. Roux, S. Jaffard & P. Abry (2009). Wavelet leaders and bootstrap for
multifractal analysis of images. *Signal Processing* 89(6), 1100-1114.

S. Jaffard, C. Melot, R. Leonarduzzi, H. Wendt, P. Abry, S. G. Roux & M. E. Torres (2016).
p-exponent and p-leaders, Part I. *Physica A* 448, 300-318.

"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Sequence

import numpy as np
import pywt
import xarray as xr

from scalelaws import cf
from scalelaws.core.estimate import wls_slope
from scalelaws.errors import AllNaNError, InputError, ScaleRangeError
from scalelaws.grids import pixel_size
from scalelaws.kernels.leaders import leaders_numba, leaders_numpy, log_moments

__all__ = ["DEFAULT_Q", "wavelet_cascade", "fit_log_cumulants", "coefficient_support"]

log = logging.getLogger(__name__)

DEFAULT_Q: tuple[float, ...] = (-2.0, -1.0, 1.0, 2.0, 3.0, 4.0)
"""Default moment orders of :func:`wavelet_cascade`."""

#: Default minimum number of valid leaders of an octave for it to enter the default fit.
MIN_COUNT = 64

#: ``h_min + gamma`` below which :func:`wavelet_cascade` warns that leaders are biased.
#: Empirical, on exact fBm of 512 x 512 pixels, fit j = 3..5 (20 fields each; the h_min
#: estimate runs about 0.18 below H, spread 0.09): H = 0.3 with gamma = 0 (h_min ~ 0.13)
#: gives c1 = 0.19; gamma = 0.5 (~0.63) gives 0.28; gamma = 1 gives 0.295; H = 0.7 with
#: gamma = 0 (~0.52) gives 0.700.
H_MIN_WARN = 0.3


@functools.lru_cache(maxsize=32)
def coefficient_support(wavelet: str) -> tuple[int, int]:
    """Footprint of one periodised DWT step along one axis.

    Output index ``k`` of ``pywt.dwt(x, wavelet, mode="periodization")`` (approximation and
    detail alike) depends on the inputs ``x[(2k + lo) mod n] .. x[(2k + hi) mod n]``.
    Found from impulse responses, so it holds for any PyWavelets wavelet.

    Parameters
    ----------
    wavelet
        A discrete PyWavelets wavelet name (``"db3"``, ``"sym4"``, ``"coif2"``, ...).

    Returns
    -------
    tuple of int
        ``(lo, hi)``, inclusive offsets.

    """
    w = pywt.Wavelet(wavelet)
    n = 8 * w.dec_len + 8
    k = n // 4
    offsets = []
    for p in range(n):
        x = np.zeros(n)
        x[p] = 1.0
        ca, cd = pywt.dwt(x, w, mode="periodization")
        if ca[k] != 0.0 or cd[k] != 0.0:
            offsets.append(p - 2 * k)
    return min(offsets), max(offsets)


def _propagate_invalid(inv: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Invalid mask of the next octave from that of the (even-sized) approximation.

    A coefficient is invalid when its footprint contains an invalid input or wraps around.
    """
    for axis in (0, 1):
        n = inv.shape[axis]
        k = np.arange(n // 2)
        out = None
        wrap = np.zeros(n // 2, dtype=bool)
        for o in range(lo, hi + 1):
            idx = 2 * k + o
            wrap |= (idx < 0) | (idx >= n)
            taken = np.take(inv, idx % n, axis=axis)
            out = taken if out is None else (out | taken)
        shape = [1, 1]
        shape[axis] = n // 2
        inv = out | wrap.reshape(shape)
    return inv


def _dwt_octaves(x: np.ndarray, wavelet: str, n_octaves: int, return_approx: bool = False):
    """Detail coefficients (pywt, L2) and invalid masks of octaves 1..n_octaves.

    With ``return_approx`` the last approximation and its invalid mask are returned too
    (the transform can be continued from them: :mod:`scalelaws.stats.chunked`).
    """
    lo, hi = coefficient_support(wavelet)
    inv = ~np.isfinite(x)
    a = np.where(inv, 0.0, x)  # value irrelevant: no valid coefficient sees these pixels
    coefs, invs = [], []
    for _ in range(n_octaves):
        ny, nx = a.shape
        a = a[: ny - ny % 2, : nx - nx % 2]
        inv = inv[: ny - ny % 2, : nx - nx % 2]
        a, details = pywt.dwt2(a, wavelet, mode="periodization")
        inv = _propagate_invalid(inv, lo, hi)
        coefs.append(details)
        invs.append(inv)
    if return_approx:
        return coefs, invs, a, inv
    return coefs, invs


def _n_octaves(ny: int, nx: int, wavelet: str) -> int:
    """Count the octaves whose detail arrays are larger than the filter footprint."""
    lo, hi = coefficient_support(wavelet)
    width = hi - lo + 1
    j, m = 0, min(ny, nx)
    while (m // 2) >= width + 2:
        m //= 2
        j += 1
    return j


def _cascade_2d(
    x: np.ndarray,
    *,
    wavelet: str,
    n_octaves: int,
    qs: np.ndarray,
    gamma: float,
    leaders: bool,
    p_exp: float | None,
    engine: str,
) -> dict[str, np.ndarray]:
    coefs, invs = _dwt_octaves(x, wavelet, n_octaves)
    js = np.arange(1, n_octaves + 1)
    factors = [2.0 ** ((gamma - 1.0) * j) for j in js]
    nq = qs.size
    out = {
        "S_coef": np.full((nq, n_octaves), np.nan),
        "n_coef": np.zeros(n_octaves, dtype=np.int64),
        "sup_coef": np.full(n_octaves, np.nan),
        "S_leaders": np.full((nq, n_octaves), np.nan),
        "C1": np.full(n_octaves, np.nan),
        "C2": np.full(n_octaves, np.nan),
        "C3": np.full(n_octaves, np.nan),
        "n": np.zeros(n_octaves, dtype=np.int64),
    }
    for i, (c, inv, fac) in enumerate(zip(coefs, invs, factors, strict=True)):
        stacked = np.concatenate(c, axis=0)
        r = log_moments(stacked, qs, invalid=np.concatenate([inv, inv, inv], axis=0), factor=fac)
        out["n_coef"][i] = r["n"] + r["n_zero"]
        if out["n_coef"][i] > 0:
            out["sup_coef"][i] = r["max"]
        if r["n"] > 0:
            out["S_coef"][:, i] = np.exp(r["log_S"])
        if not leaders:
            out["n"][i] = r["n"]
            for m in ("C1", "C2", "C3"):
                out[m][i] = r[m]
    if leaders:
        fn = leaders_numba if engine == "numba" else leaders_numpy
        lead = fn(coefs, invs, factors, p_exp)
        n_zero = 0
        for i, lj in enumerate(lead):
            r = log_moments(lj, qs)
            n_zero += r["n_zero"]
            out["n"][i] = r["n"]
            if r["n"] > 0:
                out["S_leaders"][:, i] = np.exp(r["log_S"])
            for m in ("C1", "C2", "C3"):
                out[m][i] = r[m]
        if n_zero:
            log.warning(
                "%d valid leaders are exactly zero (locally constant field): left out of the "
                "log-cumulants and of the moments",
                n_zero,
            )
    return out


def fit_log_cumulants(ds: xr.Dataset, j1: int, j2: int) -> dict[str, xr.DataArray]:
    r"""Fit log-cumulants and the scaling function on octaves ``j1..j2`` of a cascade.

    Weighted least squares with weights ``n(j)`` (the number of valid leaders, or of
    coefficients when the cascade was computed with ``leaders=False``):
    :math:`c_m` = slope of ``C_m(j)`` against :math:`j\ln 2`; :math:`\zeta(q)` = slope of
    :math:`\log_2 S(q, j)` against :math:`j`. ``c1`` and ``zeta`` are returned for the
    original field (``ds.attrs["gamma"]`` removed: :math:`c_1 - \gamma`,
    :math:`\zeta(q) - q\gamma`). Octaves with fewer than 3 valid values are ignored.

    Parameters
    ----------
    ds
        Output of :func:`wavelet_cascade` (any subset of it along ``j`` or leading dims, or
        a resampled copy: only ``C1``, ``C2``, ``C3``, ``n``, ``S_leaders``/``S_coef`` and
        the ``gamma`` attribute are read).
    j1, j2
        Inclusive octave range; at least two octaves.

    Returns
    -------
    dict of xarray.DataArray
        ``c1``, ``c2``, ``c3`` (leading dims), ``zeta`` (leading dims, ``q``), the
        intercepts ``C1_0``, ``C2_0``, ``C3_0``, and (when ``sup_coef`` is present)
        ``h_min``: the unweighted slope of :math:`\log_2 \sup_k |d(j, k)|` against ``j``,
        minus ``gamma`` (the uniform regularity estimate; biased low by the growth of the
        supremum of many coefficients, about 0.2 for fBm at 512 x 512).

    Raises
    ------
    scalelaws.errors.ScaleRangeError
        Fewer than two octaves of ``ds`` in ``[j1, j2]``.

    """
    j1, j2 = int(j1), int(j2)
    sel = ds.sel(j=[j for j in ds["j"].values.tolist() if j1 <= j <= j2])
    if sel.sizes["j"] < 2:
        raise ScaleRangeError(
            f"the fit range j1={j1}..j2={j2} holds {sel.sizes['j']} octave(s) of the cascade "
            f"(available: {ds['j'].values.min()}..{ds['j'].values.max()}); need at least 2"
        )
    gamma = float(ds.attrs.get("gamma", 0.0))
    jj = sel["j"].values.astype(float)
    w = sel["n"].where(sel["n"] >= 3, 0).astype(float)
    res: dict[str, xr.DataArray] = {}
    for m in (1, 2, 3):
        y, ww = xr.broadcast(sel[f"C{m}"], w)
        slope, icpt = wls_slope(jj * math.log(2.0), y.transpose(..., "j").values,
                                 ww.transpose(..., "j").values)
        dims = [d for d in y.transpose(..., "j").dims if d != "j"]
        coords = {d: y.coords[d] for d in dims if d in y.coords}
        if m == 1:
            slope = slope - gamma
        res[f"c{m}"] = xr.DataArray(slope, dims=dims, coords=coords)
        res[f"C{m}_0"] = xr.DataArray(icpt, dims=dims, coords=coords)
    s = sel["S_leaders"] if "S_leaders" in sel else sel["S_coef"]
    y, ww = xr.broadcast(np.log2(s), w)
    y = y.transpose(..., "q", "j")
    ww = ww.transpose(*y.dims)
    slope, _ = wls_slope(jj, y.values, ww.values)
    dims = list(y.dims[:-1])
    coords = {d: y.coords[d] for d in dims if d in y.coords}
    zeta = xr.DataArray(slope, dims=dims, coords=coords) - gamma * sel["q"]
    res["zeta"] = zeta
    if "sup_coef" in sel:
        y = np.log2(sel["sup_coef"]).transpose(..., "j")
        slope, _ = wls_slope(jj, y.values, np.ones(y.shape))
        dims = list(y.dims[:-1])
        coords = {d: y.coords[d] for d in dims if d in y.coords}
        res["h_min"] = xr.DataArray(slope - gamma, dims=dims, coords=coords)
    return res


def _lead_coords(da: xr.DataArray) -> dict[str, xr.DataArray]:
    """Coordinates of ``da`` that do not depend on the spatial dims (time, scene, ...)."""
    lead = set(da.dims[:-2])
    return {
        name: c
        for name, c in da.coords.items()
        if set(c.dims) <= lead and name not in ("spatial_ref", "x", "y")
    }


def _as_field(da: xr.DataArray | np.ndarray) -> xr.DataArray:
    if isinstance(da, np.ndarray):
        if da.ndim < 2:
            raise InputError(f"a field needs at least 2 dimensions, got shape {da.shape}")
        dims = tuple(f"dim_{i}" for i in range(da.ndim - 2)) + ("y", "x")
        da = xr.DataArray(da, dims=dims)
    if not isinstance(da, xr.DataArray):
        raise InputError(f"expected an xarray.DataArray, got {type(da).__name__}")
    if da.ndim < 2:
        raise InputError(f"a field needs at least 2 dimensions, got dims {da.dims}")
    if "y" in da.dims and "x" in da.dims:
        da = da.transpose(..., "y", "x")
    return da


def wavelet_cascade(
    da: xr.DataArray,
    *,
    wavelet: str = "db3",
    j1: int = 3,
    j2: int | None = None,
    q: Sequence[float] = DEFAULT_Q,
    gamma: float = 0.0,
    leaders: bool = True,
    p_exp: float | None = None,
    min_count: int = MIN_COUNT,
    engine: str = "numba",
) -> xr.Dataset:
    r"""Wavelet coefficients, wavelet leaders, their structure functions and log-cumulants.

    See the module documentation for the conventions (L1 normalisation, fractional
    integration, exact NaN/edge masks, weighted fits).

    Parameters
    ----------
    da
        Field with dims ``(..., y, x)`` (extra leading dims, e.g. ``time``, are analysed
        slice by slice); NaN marks missing pixels. A plain 2-D array is accepted (pixel
        size 1).
    wavelet
        Orthogonal PyWavelets wavelet; its number of vanishing moments should exceed the
        regularity of the field plus ``gamma`` (``db3``: 3).
    j1, j2
        Octave range of the fit (octave ``j`` has scale ``2**j`` pixels). ``j2=None``: the
        largest octave with at least ``min_count`` valid leaders in every slice.
    q
        Moment orders of the structure functions (any real, non-zero).
    gamma
        Fractional integration order (>= 0).
    leaders
        Use leaders (default) or, if False, the coefficients themselves for ``C_m(j)`` and
        ``zeta(q)`` (then ``S_leaders`` is absent and ``n`` counts non-zero coefficients).
    p_exp
        ``None`` for leaders, a positive number for p-leaders.
    min_count
        Minimum number of valid leaders of an octave for the default ``j2``.
    engine
        ``"numba"`` (default) or ``"numpy"`` (reference) for the leader computation.

    Returns
    -------
    xarray.Dataset
        Dims ``j`` (coords ``j``, ``scale_m`` = ``2**j`` times the pixel size) and ``q``
        (plus leading dims). Variables: ``S_leaders(q, j)``, ``S_coef(q, j)``,
        ``C1(j)``, ``C2(j)``, ``C3(j)``, ``n(j)``, ``n_coef(j)``; fitted ``c1``, ``c2``,
        ``c3``, ``zeta(q)``. Attributes record the wavelet, ``gamma``, ``p_exp``, the fit
        range ``j1``, ``j2`` and ``scale_range_m``.

    Raises
    ------
    scalelaws.errors.InputError
        Bad arguments (unknown or non-orthogonal wavelet, ``gamma < 0``, ``q`` containing 0).
    scalelaws.errors.AllNaNError
        Every pixel missing.
    scalelaws.errors.ScaleRangeError
        Field too small for two octaves with valid leaders, or a fit range outside them.

    Examples
    --------
    >>> from scalelaws.synthetic import fbm
    >>> ds = wavelet_cascade(fbm((256, 256), 0.5, rng=0))  # j1=3: the first octaves are biased
    >>> round(float(ds["c1"]), 1)
    0.5

    """
    da = _as_field(da)
    src = da.attrs.get("source")
    wav, gamma, qs = _check_cascade_args(wavelet, gamma, q, p_exp, engine, src)
    ny, nx = da.shape[-2:]
    n_oct = _n_octaves(ny, nx, wavelet)
    if n_oct < 2:
        raise ScaleRangeError(
            f"field of {ny} x {nx} pixels is too small for two octaves of {wavelet!r} leaders",
            src,
        )
    values = np.asarray(da.values, dtype=np.float64)
    if not np.isfinite(values).any():
        raise AllNaNError("every pixel is missing", src)
    per = _cascade_slices(
        values, wavelet=wavelet, n_octaves=n_oct, qs=qs, gamma=gamma,
        leaders=leaders, p_exp=p_exp, engine=engine,
    )
    n_keep = _octaves_kept(per["n"], values, src)
    dx = pixel_size(da, default=1.0)
    ds = _cascade_dataset(da, per, n_keep, qs, dx, leaders=leaders, p_exp=p_exp)
    kind = "leaders" if leaders else "coefficients"
    j1, j2 = _fit_octaves(ds["n"].values, j1, j2, min_count, kind, (ny, nx), src)
    ds.attrs.update(gamma=gamma)
    _add_fit(ds, j1, j2, kind)
    if leaders:
        _warn_h_min(float(np.nanmin(ds["h_min"].values + gamma)), gamma, wav)
    kind_sym = _kind_symbol(leaders, p_exp)
    ds.attrs = {
        "title": f"2-D wavelet {kind_sym} cascade",
        "Conventions": cf.CONVENTIONS,
        "history": cf.history(
            f"scalelaws.stats.wavelet_cascade(wavelet={wavelet!r}, gamma={gamma}, "
            f"leaders={leaders}, p_exp={p_exp}, j1={j1}, j2={j2})"),
        "source": str(src) if src is not None else "",
        "wavelet": wavelet,
        "normalisation": "L1: d = 2**-j * (orthonormal pywt.dwt2 detail, periodization mode; "
        "coefficients whose footprint wraps around or touches NaN are dropped)",
        "gamma": gamma,
        "p_exp": "none" if p_exp is None else float(p_exp),
        "based_on": kind_sym,
        "j1": j1,
        "j2": j2,
        "scale_range_m": [float(dx * 2.0**j1), float(dx * 2.0**j2)],
        "pixel_size_m": dx,
        "fit": "weighted least squares, weights n(j); c_m vs j ln 2, log2 S vs j",
    }
    log.debug("wavelet_cascade: %s octaves, fit j=%d..%d, c1=%s", n_keep, j1, j2,
              ds["c1"].values)
    return ds


def _check_cascade_args(
    wavelet: str,
    gamma: float,
    q: Sequence[float],
    p_exp: float | None,
    engine: str,
    src: str | None,
) -> tuple[pywt.Wavelet, float, np.ndarray]:
    """Check the arguments of :func:`wavelet_cascade`; return ``(wavelet, gamma, q array)``."""
    try:
        wav = pywt.Wavelet(wavelet)
    except (ValueError, TypeError) as exc:
        raise InputError(f"unknown discrete wavelet {wavelet!r}: {exc}", src) from exc
    if not wav.orthogonal:
        raise InputError(f"wavelet {wavelet!r} is not orthogonal; use e.g. 'db3'", src)
    gamma = float(gamma)
    if not gamma >= 0.0:
        raise InputError(f"gamma must be >= 0, got {gamma}", src)
    qs = np.asarray(q, dtype=np.float64).ravel()
    if qs.size == 0 or np.any(qs == 0) or not np.all(np.isfinite(qs)):
        raise InputError(f"q must be finite, non-zero moment orders, got {list(q)}", src)
    if p_exp is not None and not (p_exp > 0):
        raise InputError(f"p_exp must be positive (or None for leaders), got {p_exp}", src)
    if engine not in ("numba", "numpy"):
        raise InputError(f"engine must be 'numba' or 'numpy', got {engine!r}", src)
    return wav, gamma, qs


def _cascade_slices(values: np.ndarray, **kwargs) -> dict[str, np.ndarray]:
    """Run :func:`_cascade_2d` on every 2-D slice of ``values`` (leading dims first)."""
    lead_shape = values.shape[:-2]
    per: dict[str, np.ndarray] = {}
    for idx in np.ndindex(*lead_shape):
        r = _cascade_2d(values[idx], **kwargs)
        for key, val in r.items():
            if key not in per:
                per[key] = np.empty(lead_shape + val.shape, dtype=val.dtype)
            per[key][idx] = val
    return per


def _octaves_kept(n: np.ndarray, values: np.ndarray, src: str | None) -> int:
    """Count the octaves up to the last one with any valid leader (at least two, else raise)."""
    n_oct = n.shape[-1]
    alive = np.nonzero((n.reshape(-1, n_oct) > 0).any(axis=0))[0]
    if alive.size < 2:
        ny, nx = values.shape[-2:]
        raise ScaleRangeError(
            f"fewer than two octaves have valid leaders (field {ny} x {nx}, "
            f"{np.isnan(values).mean():.0%} missing)", src
        )
    return int(alive[-1]) + 1


def _kind_symbol(leaders: bool, p_exp: float | None) -> str:
    """Return what the log-cumulants are based on: ``"leaders"``, ``"p-leaders"``, ``"|coefficients|"``."""
    return ("p-leaders" if p_exp is not None else "leaders") if leaders else "|coefficients|"


def _cascade_dataset(
    da: xr.DataArray,
    per: dict[str, np.ndarray],
    n_keep: int,
    qs: np.ndarray,
    dx: float,
    *,
    leaders: bool,
    p_exp: float | None,
) -> xr.Dataset:
    """Per-octave variables (octaves ``1..n_keep``) and coordinates of :func:`wavelet_cascade`."""
    lead_dims = da.dims[:-2]
    js = np.arange(1, n_keep + 1)
    coords = _lead_coords(da)
    coords.update({"j": js, "scale_m": ("j", dx * 2.0**js), "q": qs})
    units = str(da.attrs.get("units", "1"))
    kind_sym = _kind_symbol(leaders, p_exp)

    def var(key, dims, attrs):
        arr = per[key][..., :n_keep]
        return xr.DataArray(arr, dims=(*lead_dims, *dims), attrs=attrs)

    data_vars = {
        "S_coef": var("S_coef", ("q", "j"), cf.attrs(
            "structure function of L1-normalised wavelet coefficients: "
            "mean over orientations and positions of |d(j,k)|**q", f"({units})**q")),
        "n_coef": var("n_coef", ("j",), cf.attrs(
            "number of valid wavelet coefficients (3 orientations)", "1")),
        "sup_coef": var("sup_coef", ("j",), cf.attrs(
            "largest |d(j,k)| of the valid L1-normalised (integrated) coefficients", units)),
        "n": var("n", ("j",), cf.attrs(
            f"number of valid {kind_sym} entering C1..C3 and the fit weights", "1")),
    }
    if leaders:
        data_vars["S_leaders"] = var("S_leaders", ("q", "j"), cf.attrs(
            f"structure function of wavelet {kind_sym}: mean of L(j,k)**q", f"({units})**q"))
    for m, name in ((1, "mean"), (2, "variance"), (3, "third cumulant")):
        data_vars[f"C{m}"] = var(f"C{m}", ("j",), cf.attrs(
            f"{name} (k-statistic) of the natural log of the {kind_sym}",
            "1" if m > 1 else f"ln({units})"))
    ds = xr.Dataset(data_vars, coords=coords)
    ds["j"].attrs.update(long_name="octave (scale 2**j pixels)", units="1")
    ds["scale_m"].attrs.update(long_name="scale of the octave, 2**j pixel sizes", units="m")
    ds["q"].attrs.update(long_name="moment order", units="1")
    return ds


def _fit_octaves(
    n: np.ndarray,
    j1: int,
    j2: int | None,
    min_count: int,
    kind: str,
    shape: tuple[int, int],
    src: str | None,
) -> tuple[int, int]:
    """Return the checked fit range ``(j1, j2)``; ``j2=None``: the default rule on the counts ``n``."""
    n_keep = n.shape[-1]
    j2_rule = "given"
    if j2 is None:
        j2_rule = f"default: the largest octave with >= {min_count} valid {kind} in every slice"
        counts = n.reshape(-1, n_keep).min(axis=0)
        ok = np.nonzero(counts >= min_count)[0]
        if ok.size == 0:
            raise ScaleRangeError(
                f"no octave has {min_count} valid {kind} (per octave j=1..{n_keep}: "
                f"{counts.tolist()}); pass j2 or lower min_count", src
            )
        j2 = int(ok[-1]) + 1
    j1, j2 = int(j1), int(j2)
    if not 1 <= j1 < j2 <= n_keep:
        counts = n.reshape(-1, n_keep).min(axis=0).tolist()
        raise ScaleRangeError(
            f"fit range j1={j1}, j2={j2} ({j2_rule}) must satisfy 1 <= j1 < j2 <= {n_keep} "
            f"(octaves with valid {kind}); valid {kind} per octave j=1..{n_keep}: {counts} "
            f"(field {shape[0]} x {shape[1]}); pass j1/j2 or a lower min_count", src
        )
    return j1, j2


def _add_fit(ds: xr.Dataset, j1: int, j2: int, kind: str) -> None:
    """Add the fitted ``c1``..``c3``, ``zeta`` and ``h_min`` (with attributes) to ``ds``."""
    fit = fit_log_cumulants(ds, j1, j2)
    for m in (1, 2, 3):
        ds[f"c{m}"] = fit[f"c{m}"]
        ds[f"c{m}"].attrs.update(
            long_name=f"log-cumulant c{m}: slope of C{m}(j) against j ln 2"
            + (" minus gamma" if m == 1 else ""),
            units="1",
        )
    ds["zeta"] = fit["zeta"]
    ds["h_min"] = fit["h_min"]
    ds["h_min"].attrs.update(
        long_name="uniform regularity estimate: slope of log2 sup|d(j,k)| against j, "
        "minus gamma",
        units="1",
    )
    ds["zeta"].attrs.update(
        long_name=f"scaling function zeta(q): slope of log2 S_{kind}(q, j) against j, "
        "minus q gamma",
        units="1",
    )


def _warn_h_min(worst: float, gamma: float, wav: pywt.Wavelet) -> None:
    """Warn when ``h_min + gamma`` (``worst``, over slices) is below :data:`H_MIN_WARN`."""
    if worst >= H_MIN_WARN:
        return
    # smallest multiple of 0.5 bringing h_min + gamma to >= 1 (fBm H = 0.3: gamma = 1)
    suggest = max(gamma + 0.5, math.ceil(2.0 * (1.0 - (worst - gamma)) - 1e-9) / 2.0)
    log.warning(
        "h_min + gamma = %.2f < %.1f (gamma=%g): the leaders may be dominated by the "
        "finest octaves and c1, zeta(q) biased low (exact fBm with H=0.3 gives c1 = 0.19 "
        "with gamma=0, 0.295 with gamma=1); consider gamma=%g%s",
        worst,
        H_MIN_WARN,
        gamma,
        suggest,
        "" if suggest + 1.0 < wav.vanishing_moments_psi
        else f" with a wavelet of more vanishing moments (e.g. 'db{math.ceil(suggest) + 2}')",
    )
