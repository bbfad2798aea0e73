"""Turn a correction law and a coarse field into loss targets and conditioning vectors.

A :class:`scalelaws.laws.CorrectionLaw` describes how the statistics of LST change from one
scale band to the next. The super-resolution networks consume it in three ways:

* **structure-function targets** for :class:`sr.losses.LawLoss`: the structure functions of the
  coarse field are measured (numba, :func:`scalelaws.stats.structure.structure_function`) and
  the law predicts those of the field ``factor`` times finer
  (:meth:`CorrectionLaw.predict_sf`); the network output is pulled towards them. With
  ``anchor="block"`` the law's ratio is taken between its fine-pixel field and its field
  block-averaged to the coarse pixel (:meth:`LawTargets.regularized_sf`), so that the coarse
  observation is compared with what the law says a coarse *pixel* field looks like;
* **LST-NDVI coupling** for :class:`sr.losses.NDVITextureLoss`: slope and correlation of LST on
  NDVI at the fine scale (:meth:`CorrectionLaw.lst_ndvi`);
* **conditioning vectors** for the FiLM layers: ``[log2(factor), log2(target_res_m / 1000)]``
  followed by :meth:`CorrectionLaw.conditioning` for the scene's landscape.

Without a law only the two scale features remain (:func:`scale_features`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

__all__ = ["LawTargets", "scale_features", "N_SCALE_FEATURES", "coarse_lst_ndvi"]

log = logging.getLogger(__name__)

#: Number of scale features at the head of every conditioning vector.
N_SCALE_FEATURES = 2


def scale_features(factor: float, target_res_m: float) -> np.ndarray:
    """Scale part of the conditioning vector: ``[log2(factor), log2(target_res_m / 1000)]``.

    Parameters
    ----------
    factor
        Super-resolution factor.
    target_res_m
        Pixel size of the output, in metres.

    Returns
    -------
    numpy.ndarray
        float32, length :data:`N_SCALE_FEATURES`.

    """
    if factor <= 0 or target_res_m <= 0:
        raise ValueError(f"factor and target_res_m must be positive, got {factor}, {target_res_m}")
    return np.asarray([math.log2(factor), math.log2(target_res_m / 1000.0)], dtype=np.float32)


def _field(arr: np.ndarray, res_m: float) -> xr.DataArray:
    ny, nx = arr.shape
    return xr.DataArray(
        np.asarray(arr, dtype=np.float64),
        dims=("y", "x"),
        coords={"y": -(np.arange(ny) + 0.5) * res_m, "x": (np.arange(nx) + 0.5) * res_m},
        attrs={"units": "K"},
    )


def coarse_lst_ndvi(lr: np.ndarray, ndvi_fine: np.ndarray, factor: int, *, min_pixels: int = 8) -> tuple[float, float]:
    """Slope (K per NDVI unit) and correlation of LST on NDVI measured at the coarse scale.

    The NDVI is block-averaged to the LST grid with :func:`scalelaws.grids.degrade_array`; the
    slope is the ordinary least-squares slope of LST on NDVI over the pixels valid in both.
    This is the scale-invariant assumption of TsHARP (the coarse relation holds at the fine
    scale) and the texture target of plain DISR.

    Returns
    -------
    tuple of float
        ``(slope, corr)``; ``(nan, nan)`` with fewer than ``min_pixels`` valid pixels or a flat
        NDVI.

    """
    from scalelaws.grids import degrade_array

    nd = degrade_array(np.asarray(ndvi_fine, dtype=np.float64), factor, method="mean")
    h, w = min(nd.shape[0], lr.shape[0]), min(nd.shape[1], lr.shape[1])
    t = np.asarray(lr[:h, :w], dtype=np.float64)
    n = nd[:h, :w]
    ok = np.isfinite(t) & np.isfinite(n)
    if ok.sum() < min_pixels:
        return float("nan"), float("nan")
    t, n = t[ok] - t[ok].mean(), n[ok] - n[ok].mean()
    vn, vt = float((n * n).mean()), float((t * t).mean())
    if vn <= 1e-12 or vt <= 1e-12:
        return float("nan"), float("nan")
    cov = float((t * n).mean())
    return cov / vn, cov / math.sqrt(vn * vt)


class LawTargets:
    """Targets and conditioning derived from a correction law (or from scale alone).

    Parameters
    ----------
    law
        A :class:`scalelaws.laws.CorrectionLaw` (or ``None``: scale features only, no targets).
    q
        Orders of the structure-function targets.
    lags
        Lags of the targets, in pixels of the **fine** (super-resolved) grid.
    coarse_lags
        Lags, in coarse pixels, at which the coarse structure functions are measured and handed
        to the law.
    use_law_conditioning
        Append the law's conditioning vector to the scale features.
    landscape_aware
        Use the scene's landscape when the law has it (else always the pooled law).
    anchor
        How the law is anchored on the coarse field. ``"point"``: the law's structure functions
        at the coarse lags (those of its own high-resolution pixels) are matched to the coarse
        field's (:meth:`CorrectionLaw.predict_sf`). ``"block"``: they are first regularised to
        the coarse pixel (block means, :meth:`regularized_sf`) and the fine targets to the fine
        pixel, i.e. ``S_fine = S_obs(coarse) * S_law,fine-pixel(l_f) / S_law,coarse-pixel(l_c)``
        (geometric mean over the coarse lags); this removes the loss of variance of a block
        mean that the point anchoring attributes to the scene.

    """

    def __init__(
        self,
        law: Any | None = None,
        *,
        q: Sequence[float] = (1.0, 2.0),
        lags: Sequence[int] = (1, 2, 3, 4),
        coarse_lags: Sequence[int] = (1, 2, 4),
        use_law_conditioning: bool = True,
        landscape_aware: bool = True,
        anchor: str = "point",
    ) -> None:
        if anchor not in ("point", "block"):
            raise ValueError(f"anchor must be 'point' or 'block', got {anchor!r}")
        self.anchor = anchor
        self._reg_cache: dict[tuple, np.ndarray] = {}
        self.law = law
        self.landscape_aware = bool(landscape_aware)
        self.q = tuple(float(v) for v in q)
        self.lags = tuple(int(v) for v in lags)
        self.coarse_lags = tuple(int(v) for v in coarse_lags)
        self.use_law_conditioning = bool(use_law_conditioning and law is not None)

    @property
    def cond_dim(self) -> int:
        """Length of the conditioning vectors this object makes."""
        return len(self.conditioning(4, 250.0))

    def conditioning_names(self) -> list[str]:
        """Names of the entries of the conditioning vector."""
        names = ["log2_factor", "log2_target_res_km"]
        if self.use_law_conditioning:
            names += [f"law_{n}" for n in self.law.conditioning_names]
        return names

    def conditioning(self, factor: int, target_res_m: float, *, landscape: str | None = None) -> np.ndarray:
        """Conditioning vector for a band (float32).

        Parameters
        ----------
        factor
            Super-resolution factor.
        target_res_m
            Output pixel size in metres.
        landscape
            Landscape class of the scene when the law has several (``None``: the law's pooled
            parameters).

        """
        feats = [scale_features(factor, target_res_m)]
        if self.use_law_conditioning:
            lc = np.asarray(
                self.law.conditioning(landscape=self._landscape(landscape), scale_factor=factor, target_res_m=target_res_m),
                dtype=np.float32,
            ).ravel()
            feats.append(np.nan_to_num(lc, nan=0.0, posinf=0.0, neginf=0.0))
        return np.concatenate(feats).astype(np.float32)

    def _landscape(self, landscape: str | None) -> str | None:
        """Return the law's landscape for a scene: its own when the law has it, else the pooled one."""
        if landscape is None or self.law is None or not self.landscape_aware:
            return None
        names = getattr(self.law, "landscapes", None)
        if names is not None and landscape not in names:
            log.debug("landscape %r not in the law %s: using the pooled law", landscape, names)
            return None
        return landscape

    def _require_law(self, what: str) -> Any:
        if self.law is None:
            raise ValueError(f"{what} needs a correction law (config 'law' or 'law_fit')")
        return self.law

    def sf_target(
        self,
        coarse: np.ndarray,
        coarse_res_m: float,
        factor: int,
        *,
        landscape: str | None = None,
        invariant: bool = False,
    ) -> np.ndarray:
        """Law-predicted structure functions of the field ``factor`` times finer than ``coarse``.

        Parameters
        ----------
        coarse
            Coarse field (kelvin), NaN = missing.
        coarse_res_m
            Its pixel size in metres.
        factor
            Refinement factor: the targets are at lags ``self.lags`` fine pixels, i.e.
            ``lags * coarse_res_m / factor`` metres.
        landscape
            Landscape class for per-landscape laws.
        invariant
            Return the law's scale-invariant extrapolation (``S_invariant``) instead.

        Returns
        -------
        numpy.ndarray
            ``(len(q), len(lags))`` in K^q (float32); NaN where the law gives nothing.

        """
        from scalelaws.stats.structure import structure_function

        law = self._require_law("structure-function targets")
        lags_c = [lag for lag in self.coarse_lags if lag < min(coarse.shape)]
        if not lags_c:
            raise ValueError(f"coarse field {coarse.shape} too small for lags {self.coarse_lags}")
        sf = structure_function(_field(coarse, coarse_res_m), q=self.q, lags=lags_c)
        if self.anchor == "block" and not invariant:
            return self._block_target(sf, lags_c, coarse_res_m, factor, landscape)
        lags_m = np.asarray(self.lags, dtype=float) * coarse_res_m / factor
        pred = law.predict_sf(sf, lags_m, landscape=self._landscape(landscape))
        var = "S_invariant" if invariant else "S"
        S = pred[var]
        lag_dim = next(d for d in S.dims if d != "q")
        S = S.sel(q=list(self.q), method="nearest").transpose("q", lag_dim)
        return np.asarray(S.values, dtype=np.float32)

    def regularized_sf(
        self, q: float, block_m: float, lags_px: Sequence[int], *, landscape: str | None = None
    ) -> np.ndarray:
        """Law structure functions of its field block-averaged to pixels of ``block_m``.

        The law's smooth ``S_2(r)`` (isotropic) is the variogram ``2 gamma(r)`` of its
        high-resolution field (pixel ``p``). A block of ``m = round(block_m / p)`` law pixels
        has ``S_2,B(h) = mean_{u in B_0, v in B_h} S_2(|u - v|) - mean_{u, v in B_0} S_2(|u - v|)``
        at a lag of ``h`` blocks along an axis (exact for block means of a stationary field).
        Other orders keep the law's shape: ``S_q,B = S_q(h block_m) (S_2,B / S_2)^(q/2)``
        (Gaussian increments). ``m <= 1`` returns the law's own ``S_q(h block_m)``.

        Returns
        -------
        numpy.ndarray
            ``S_q,B`` at ``lags_px`` (float64).

        """
        law = self._require_law("structure-function targets")
        name = law.landscape_name(self._landscape(landscape))
        key = (name, float(q), round(float(block_m), 3), tuple(int(v) for v in lags_px))
        if key in self._reg_cache:
            return self._reg_cache[key]
        pix = float(law.ds.attrs["pixel_size_m"])
        h = np.asarray(lags_px, dtype=float)
        Sq = law.sf_curve(h * block_m, q=q, landscape=name)
        m = int(round(block_m / pix))
        if m > 1:
            s = block_m / m
            d = np.arange(-(m - 1), m, dtype=float)
            w = (m - np.abs(d)) / float(m * m)
            W = w[:, None] * w[None, :]

            def mean_s2(dx: np.ndarray, dy: np.ndarray) -> float:
                r = s * np.hypot(dx, dy)
                v = np.zeros_like(r)
                nz = r > 0
                v[nz] = law.sf_curve(r[nz], q=2.0, landscape=name)
                return float((W * v).sum())

            dx, dy = np.meshgrid(d, d, indexing="ij")
            within = mean_s2(dx, dy)
            S2B = np.array([mean_s2(dx + hh * m, dy) for hh in h]) - within
            S2P = law.sf_curve(h * block_m, q=2.0, landscape=name)
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = np.where(S2B > 0, S2B / S2P, np.nan)
            Sq = Sq * ratio ** (float(q) / 2.0)
        self._reg_cache[key] = Sq
        return Sq

    def _block_target(
        self, sf: xr.Dataset, lags_c: Sequence[int], coarse_res_m: float, factor: int, landscape: str | None
    ) -> np.ndarray:
        """``anchor="block"`` targets: observed coarse S times the law's fine-pixel / coarse-pixel ratio."""
        S = sf["S"]
        lag_dim = next(d for d in S.dims if d != "q")
        out = np.full((len(self.q), len(self.lags)), np.nan)
        for i, qv in enumerate(self.q):
            y = np.log(np.asarray(S.sel(q=qv, method="nearest").transpose(lag_dim).values, dtype=np.float64))
            with np.errstate(divide="ignore", invalid="ignore"):
                yc = np.log(self.regularized_sf(qv, coarse_res_m, lags_c, landscape=landscape))
            ok = np.isfinite(y) & np.isfinite(yc)
            if ok.sum() < 1:
                continue
            off = float(np.mean(y[ok] - yc[ok]))
            out[i] = off + np.log(self.regularized_sf(qv, coarse_res_m / factor, self.lags, landscape=landscape))
        return np.exp(out).astype(np.float32)

    def lst_ndvi(self, scale_m: float, *, landscape: str | None = None) -> tuple[float, float]:
        """Slope (K per NDVI unit) and correlation of LST on NDVI at ``scale_m`` from the law."""
        law = self._require_law("the LST-NDVI coupling")
        rel = law.lst_ndvi(scale_m, landscape=self._landscape(landscape))
        return float(rel["slope"]), float(rel["corr"])
