"""The correction law: a fitted Dataset and its queries.

:class:`CorrectionLaw` holds the Dataset written by :func:`scalelaws.laws.fitting.fit_dataset`
and answers from it: the smooth structure function and local exponent
(:meth:`~CorrectionLaw.sf_curve`, :meth:`~CorrectionLaw.local_exponent`), predictions of a fine
band from a coarse one (:meth:`~CorrectionLaw.predict_sf`,
:meth:`~CorrectionLaw.detail_energy_ratio`), the LST-NDVI relation
(:meth:`~CorrectionLaw.lst_ndvi`) and the conditioning vector of the SR networks
(:meth:`~CorrectionLaw.conditioning`). See :mod:`scalelaws.laws` for the definitions.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from scalelaws import cf
from scalelaws.core.estimate import percentile_interval
from scalelaws.errors import InputError, ScaleRangeError
from scalelaws.landscapes import ALL
from scalelaws.laws.curves import _Poly
from scalelaws.laws.fitting import fit_dataset
from scalelaws.laws.schema import _REQUIRED, CONDITIONING_NAMES

log = logging.getLogger(__name__)


class CorrectionLaw:
    """A per-landscape correction law (see :mod:`scalelaws.laws`).

    Build it with :meth:`fit` or :func:`~scalelaws.laws.load_law`; its content is the Dataset
    :attr:`ds` (dims ``landscape``, ``q``, ``scale_m``, ``bound``, and ``block_m`` for per-octave
    measurements, ``replicate`` and ``power`` for the bootstrap polynomial coefficients).

    Parameters
    ----------
    ds
        A Dataset written by :meth:`fit` (checked for the required variables).

    """

    conditioning_names: list[str] = CONDITIONING_NAMES

    def __init__(self, ds: xr.Dataset) -> None:
        missing = [v for v in _REQUIRED if v not in ds]
        if missing:
            raise InputError(f"not a correction law: missing variables {missing}")
        self.ds = ds
        self._warned: set[str] = set()

    def _warn_once(self, msg: str, *args: object) -> None:
        """Log an extrapolation warning once per law (later ones at DEBUG level)."""
        level = logging.DEBUG if msg in self._warned else logging.WARNING
        self._warned.add(msg)
        log.log(level, msg, *args)

    # ----------------------------------------------------------------------------- fitting
    @classmethod
    def fit(
        cls,
        lst: xr.DataArray | Sequence[xr.DataArray],
        *,
        ndvi: xr.DataArray | Sequence[xr.DataArray] | None = None,
        classes: Any = None,
        q: Sequence[float] = (1, 2, 3, 4),
        scales_m: tuple[float, float] | None = None,
        n_boot: int = 100,
        rng: np.random.Generator | int | None = None,
        sources: Sequence[str] | None = None,
        degree: int = 3,
        block_px: int = 64,
        bootstrap: str = "auto",
        max_missing: float = 0.5,
        ci: float = 0.95,
        min_pairs: int = 100,
        include_all: bool = True,
        scene_sums: Any = None,
    ) -> CorrectionLaw:
        """Fit the law on high-resolution scenes, pooled per landscape.

        Parameters
        ----------
        lst
            High-resolution LST scene(s) in K: a 2-D DataArray, one with a ``scene`` dim, or a
            list. All scenes must share the pixel size (within 2 %).
        ndvi
            NDVI on the same grid as each scene: enables the LST-NDVI relations (and
            ``classes="ndvi"``).
        classes
            Landscapes: labels / masks per scene (see
            :func:`scalelaws.landscapes.class_masks`), ``"ndvi"`` to classify ``ndvi`` with
            :func:`scalelaws.landscapes.classify_ndvi`, or ``None`` (only ``"all"``).
        q
            Structure-function orders.
        scales_m
            ``(min_m, max_m)``: scale range of the law. Default: one pixel to a fifth of the
            smallest scene's shorter side. Detail energies use parent blocks up to ``2 max_m``.
        n_boot
            Bootstrap replicates (0: no intervals).
        rng
            Generator or seed of the bootstrap.
        sources
            Names of the inputs recorded in the provenance (default: each scene's ``source``).
        degree
            Degree of the polynomial in ``log l`` that smooths ``log S_q`` and ``log D``
            (reduced to ``n_points - 2`` when there are few scales).
        block_px, bootstrap, max_missing, min_pairs, include_all
            See :func:`scalelaws.landscapes.landscape_sums` and
            :func:`~scalelaws.landscapes.bootstrap_weights`; lags (and blocks) with fewer than
            ``min_pairs`` pairs (pixels) in a landscape are left out.
        ci
            Coverage of the percentile intervals.
        scene_sums
            Per-scene sums hook of :func:`scalelaws.landscapes.landscape_sums` (rasters
            larger than memory: :func:`scalelaws.stats.chunked.law_scene_sums`).

        Returns
        -------
        CorrectionLaw

        """
        return cls(fit_dataset(
            lst, ndvi=ndvi, classes=classes, q=q, scales_m=scales_m, n_boot=n_boot, rng=rng,
            sources=sources, degree=degree, block_px=block_px, bootstrap=bootstrap,
            max_missing=max_missing, ci=ci, min_pairs=min_pairs, include_all=include_all,
            scene_sums=scene_sums,
        ))

    # ----------------------------------------------------------------------------- access
    @property
    def landscapes(self) -> list[str]:
        """Names of the landscapes."""
        return [str(v) for v in self.ds["landscape"].values]

    def _pick(self, landscape: str | None) -> str:
        names = self.landscapes
        if landscape is None:
            if ALL in names:
                return ALL
            if len(names) == 1:
                return names[0]
            raise InputError(f"the law has several landscapes {names}; choose one with landscape=")
        if landscape not in names:
            raise InputError(f"unknown landscape {landscape!r}; the law has {names}")
        return landscape

    def _polyS(self, landscape: str, q: float, boot: bool = False) -> _Poly:
        if not np.any(np.isclose(self.ds["q"].values, q)):
            raise InputError(f"order q={q:g} not in the law (q = {list(self.ds['q'].values)})")
        name = "coef_log_S_boot" if boot else "coef_log_S"
        coef = self.ds[name].sel(landscape=landscape).sel(q=q, method="nearest").values
        lo, hi = self.ds.attrs["scale_range_m"]
        return _Poly(coef, float(self.ds.attrs["l_ref_m"]), lo, hi)

    def _polyD(self, landscape: str, boot: bool = False) -> _Poly:
        name = "coef_log_D_boot" if boot else "coef_log_D"
        coef = self.ds[name].sel(landscape=landscape).values
        lo, hi = self.ds.attrs["detail_range_m"]
        return _Poly(coef, float(self.ds.attrs["l_ref_m"]), lo, hi)

    def _ci_pair(self, boot: np.ndarray) -> np.ndarray:
        ci = float(self.ds.attrs["ci"])
        if boot.shape[0] < 2:
            return np.full(boot.shape[1:] + (2,), np.nan)
        return percentile_interval(boot, ci)

    # ----------------------------------------------------------------------------- queries
    def landscape_name(self, landscape: str | None = None) -> str:
        """Resolve a landscape argument to a landscape of the law.

        ``None`` means the pooled law (or the only landscape there is).

        Raises
        ------
        InputError
            An unknown landscape, or ``None`` with several landscapes and no pooled law.

        """
        return self._pick(landscape)

    def sf_curve(self, scale_m: float | Sequence[float] | np.ndarray, *, q: float = 2.0,
                 landscape: str | None = None) -> np.ndarray:
        """Evaluate the law's smooth structure function ``S_q`` (K^q) at ``scale_m`` (metres).

        The fitted polynomial in log scale, evaluated as is (extrapolated outside the fitted
        ``scale_range_m``; :meth:`predict_sf` flags that). Any array shape.
        """
        poly = self._polyS(self._pick(landscape), float(q))
        r = np.asarray(scale_m, dtype=np.float64)
        return np.exp(poly.value(r.ravel())).reshape(r.shape)

    def local_exponent(
        self, scale_m: float | Sequence[float], *, q: float = 2, landscape: str | None = None
    ) -> xr.Dataset:
        """Local exponent ``zeta_q(l)`` of the law with its bootstrap interval.

        Parameters
        ----------
        scale_m
            Scale(s) in metres.
        q
            Order (one of the law's).
        landscape
            Landscape name (default ``"all"``, or the only one).

        Returns
        -------
        xarray.Dataset
            ``value``, ``lower``, ``upper`` and ``extrapolated`` (outside the fitted range the
            exponent is held at its value at the nearest end) along ``scale_m``.

        """
        name = self._pick(landscape)
        s = np.atleast_1d(np.asarray(scale_m, dtype=np.float64))
        if np.any(s <= 0):
            raise InputError("scales must be > 0 m")
        p, pb = self._polyS(name, q), self._polyS(name, q, boot=True)
        ci = self._ci_pair(pb.slope(s))
        out = xr.Dataset(
            {
                "value": ("scale_m", p.slope(s), cf.attrs(f"local exponent zeta_{q:g}", "1")),
                "lower": ("scale_m", ci[..., 0], cf.attrs("lower bound", "1")),
                "upper": ("scale_m", ci[..., 1], cf.attrs("upper bound", "1")),
                "extrapolated": ("scale_m", p.outside(s), cf.attrs("outside the fitted range")),
            },
            coords={"scale_m": ("scale_m", s, {"units": "m"})},
        )
        out.attrs.update(landscape=name, q=float(q), ci=float(self.ds.attrs["ci"]))
        return out

    def _coarse_sf(self, sf_coarse: xr.Dataset | xr.DataArray, name: str) -> tuple[xr.DataArray, np.ndarray]:
        """Check the coarse-band ``S(q, lag)`` of ``predict_sf``; return it and its lags in metres."""
        S = sf_coarse["S"] if isinstance(sf_coarse, xr.Dataset) else sf_coarse
        if "landscape" in S.dims:
            S = S.sel(landscape=name)
        if "direction" in S.dims:
            raise InputError("sf_coarse has a direction dim: use the pooled structure function")
        lag_name = "lag_m" if "lag_m" in S.coords else "scale_m" if "scale_m" in S.coords else None
        if lag_name is None or "q" not in S.dims:
            raise InputError("sf_coarse must have a 'q' dim and a 'lag_m' (metres) coordinate")
        lag_dim = S[lag_name].dims[0]
        S = S.transpose("q", lag_dim)
        return S, np.asarray(S[lag_name].values, dtype=np.float64)

    def _anchor(
        self, name: str, S: xr.DataArray, qs: list[float], lc: np.ndarray, lf: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Anchor the law (and its replicates) on ``ln S`` at the coarse lags ``lc``, evaluate at ``lf``.

        Returns the law's ``ln S`` ``(q, lf)``, its replicates ``(replicate, q, lf)``, the
        scale-invariant ``ln S`` ``(q, lf)`` and the coarse-band exponents ``(q,)``.
        """
        nb = self.ds.sizes["replicate"]
        pred = np.full((len(qs), lf.size), np.nan)
        pred_b = np.full((nb, len(qs), lf.size), np.nan)
        inv = np.full((len(qs), lf.size), np.nan)
        zinv = np.full(len(qs), np.nan)
        for i, qv in enumerate(qs):
            y = np.log(np.asarray(S.sel(q=qv).values, dtype=np.float64))
            ok = np.isfinite(y) & (lc > 0)
            if ok.sum() < 2:
                raise ScaleRangeError(f"sf_coarse has fewer than 2 valid lags for q={qv:g}")
            p, pb = self._polyS(name, qv), self._polyS(name, qv, boot=True)
            off = np.mean(y[ok] - p.value(lc[ok]))
            pred[i] = off + p.value(lf)
            if nb:
                offb = np.mean(y[ok] - pb.value(lc[ok]), axis=-1)
                pred_b[:, i] = offb[:, None] + pb.value(lf)
            x = np.log(lc[ok])
            zinv[i] = np.polyfit(x, y[ok], 1)[0]
            inv[i] = np.polyval(np.polyfit(x, y[ok], 1), np.log(lf))
        return pred, pred_b, inv, zinv

    def predict_sf(
        self,
        sf_coarse: xr.Dataset | xr.DataArray,
        lags_m: float | Sequence[float],
        *,
        landscape: str | None = None,
    ) -> xr.Dataset:
        """Predict structure functions at fine lags from those measured in a coarse band.

        For every order ``q`` shared by the law and ``sf_coarse`` the law's smooth
        ``ln S_q(l)`` is anchored on the measured coarse-band values (least squares offset over
        all their lags, i.e. the average of the downward integrations
        ``ln S(l_fine) = ln S(l_c) - int_{l_fine}^{l_c} zeta_local dln l`` from each coarse lag
        ``l_c``). The scale-invariant alternative fits one exponent (OLS in log-log) on the
        coarse band and extrapolates it.

        Parameters
        ----------
        sf_coarse
            Output of :func:`scalelaws.stats.structure_function` (variable ``S(q, lag)`` with a
            ``lag_m`` coordinate) restricted to the coarse band, or the ``S`` DataArray itself.
            Every lag it holds is used.
        lags_m
            Fine lags (m) at which to predict.
        landscape
            Landscape of the law.

        Returns
        -------
        xarray.Dataset
            ``S(q, scale_m)`` (law prediction) with ``S_ci(q, scale_m, bound)`` (law
            uncertainty: bootstrap replicates of the law anchored the same way),
            ``S_invariant(q, scale_m)``, ``correction = S / S_invariant`` with
            ``correction_ci``, ``zeta_invariant(q)`` and ``extrapolated(scale_m)``.

        """
        name = self._pick(landscape)
        S, lc = self._coarse_sf(sf_coarse, name)
        lf = np.atleast_1d(np.asarray(lags_m, dtype=np.float64))
        if np.any(lf <= 0):
            raise InputError("lags_m must be > 0")
        law_q = self.ds["q"].values
        qs = [float(v) for v in S["q"].values if np.any(np.isclose(law_q, v))]
        if not qs:
            raise InputError(f"no order of sf_coarse ({list(S['q'].values)}) is in the law ({list(law_q)})")
        pred, pred_b, inv, zinv = self._anchor(name, S, qs, lc, lf)
        p0 = self._polyS(name, qs[0])
        extrap = p0.outside(lf)
        if extrap.any() or p0.outside(lc).any():
            self._warn_once(
                "predict_sf: scales outside the law's fitted range %s m are extrapolated with a "
                "constant exponent", self.ds.attrs["scale_range_m"],
            )
        ci_S = np.exp(self._ci_pair(pred_b))
        corr_b = np.exp(pred_b - inv[None])
        out = xr.Dataset(
            {
                "S": (("q", "scale_m"), np.exp(pred), cf.attrs("structure function predicted by the law")),
                "S_ci": (("q", "scale_m", "bound"), ci_S, cf.attrs("bootstrap interval of the law prediction")),
                "S_invariant": (("q", "scale_m"), np.exp(inv), cf.attrs("scale-invariant extrapolation of the coarse band")),
                "correction": (("q", "scale_m"), np.exp(pred - inv), cf.attrs("law / scale-invariant", "1")),
                "correction_ci": (("q", "scale_m", "bound"), self._ci_pair(corr_b), cf.attrs("bootstrap interval of correction", "1")),
                "zeta_invariant": ("q", zinv, cf.attrs("exponent fitted on the coarse band", "1")),
                "extrapolated": ("scale_m", extrap, cf.attrs("outside the law's fitted range")),
            },
            coords={"q": qs, "scale_m": ("scale_m", lf, cf.attrs("lag", "m")), "bound": ["lower", "upper"]},
        )
        units = S.attrs.get("units")
        if units:
            for v in ("S", "S_ci", "S_invariant"):
                out[v].attrs["units"] = units
        out.attrs.update(landscape=name, coarse_lags_m=[float(v) for v in lc])
        return out

    @staticmethod
    def band_parents(band: tuple[float, float]) -> np.ndarray:
        """Parent scales of the octaves of a band: ``l_c, l_c/2, ..., 2 l_f`` for ``(l_c, l_f)``.

        Parameters
        ----------
        band
            ``(coarse_m, fine_m)`` with ``coarse > fine > 0``, a whole number of octaves apart.

        Returns
        -------
        numpy.ndarray
            The parent block sizes (m) whose detail energies make up the band.

        Raises
        ------
        InputError
            The band is not ordered or does not span a whole number of octaves.

        """
        a, b = (float(v) for v in band)
        if not a > b > 0:
            raise InputError(f"a band is (coarse_m, fine_m) with coarse > fine > 0, got {band}")
        n = round(math.log2(a / b))
        if n < 1 or abs(math.log2(a / b) - n) > 1e-6:
            raise InputError(f"band {band} does not span a whole number of octaves")
        return a / 2.0 ** np.arange(n)

    def detail_energy_ratio(
        self,
        coarse_band: tuple[float, float] = (4000.0, 1000.0),
        fine_band: tuple[float, float] = (1000.0, 250.0),
        *,
        landscape: str | None = None,
    ) -> dict[str, Any]:
        """Detail energy added by the fine band relative to the coarse band.

        A band ``(l_c, l_f)`` adds the details of the octaves ``l_c -> l_c/2 -> ... -> l_f``;
        its energy is the sum of the law's ``D(l)`` over the parent scales
        ``l_c, l_c/2, ..., 2 l_f``. Scale invariance extrapolates ``D`` with the single
        exponent ``ln D`` has over the coarse band (OLS of the law's ``ln D`` at the coarse
        parents; ``D ~ l^zeta_2`` for a scale-invariant field).

        Parameters
        ----------
        coarse_band, fine_band
            ``(coarse_m, fine_m)`` of each band, each a whole number of octaves.
        landscape
            Landscape of the law.

        Returns
        -------
        dict
            ``law`` (fine / coarse energy by the law), ``law_ci`` (its bootstrap interval),
            ``invariant``, ``correction = law / invariant`` with ``correction_ci``, and
            ``exponent_invariant`` (the coarse-band exponent of ``D``).

        """
        name = self._pick(landscape)
        pc, pf = self.band_parents(coarse_band), self.band_parents(fine_band)
        p, pb = self._polyD(name), self._polyD(name, boot=True)
        if p.outside(np.concatenate([pc, pf])).any():
            self._warn_once("detail_energy_ratio: bands outside the law's detail range %s m are "
                        "extrapolated with a constant exponent", self.ds.attrs["detail_range_m"])
        law = np.exp(p.value(pf)).sum() / np.exp(p.value(pc)).sum()
        lawb = np.exp(pb.value(pf)).sum(-1) / np.exp(pb.value(pc)).sum(-1)

        def invariant(poly_vals_c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            x = np.log(pc)
            if pc.size == 1:  # one coarse octave: use the law's local slope there
                raise InputError("the coarse band must span at least 2 octaves to fit an exponent")
            beta = np.polyfit(x, np.moveaxis(np.atleast_2d(poly_vals_c), -1, 0), 1)[0]
            r = (pf[None, :] ** beta[:, None]).sum(-1) / (pc[None, :] ** beta[:, None]).sum(-1)
            return r, beta

        inv, beta = invariant(p.value(pc))
        invb, _ = invariant(pb.value(pc)) if pb.coef.shape[0] else (np.zeros(0), None)
        ci = self._ci_pair(lawb) if lawb.size else np.full(2, np.nan)
        cci = self._ci_pair(lawb / invb) if lawb.size else np.full(2, np.nan)
        return {
            "law": float(law),
            "law_ci": (float(ci[0]), float(ci[1])),
            "invariant": float(inv[0]),
            "correction": float(law / inv[0]),
            "correction_ci": (float(cci[0]), float(cci[1])),
            "exponent_invariant": float(beta[0]),
            "landscape": name,
        }

    def lst_ndvi(self, scale_m: float | Sequence[float], *, landscape: str | None = None) -> dict[str, Any]:
        """LST-NDVI regression slope and correlation of block means at a block size.

        Parameters
        ----------
        scale_m
            Block size(s) in metres (interpolated linearly in ``ln l`` between the measured
            octaves; NaN outside them).
        landscape
            Landscape of the law.

        Returns
        -------
        dict
            ``slope`` (K per NDVI unit), ``slope_ci``, ``corr``, ``corr_ci`` (floats for a scalar
            ``scale_m``, arrays otherwise).

        """
        if "lst_ndvi_slope_block" not in self.ds:
            raise InputError("the law was fitted without NDVI: no LST-NDVI relation")
        name = self._pick(landscape)
        s = np.atleast_1d(np.asarray(scale_m, dtype=np.float64))
        lb = np.log(self.ds["block_m"].values)
        out: dict[str, Any] = {}
        for key, var in (("slope", "lst_ndvi_slope_block"), ("corr", "lst_ndvi_corr_block")):
            for suffix, arr in (("", self.ds[var].sel(landscape=name).values),
                                ("_ci", self.ds[var + "_ci"].sel(landscape=name).values)):
                arr2 = arr[:, None] if arr.ndim == 1 else arr
                vals = []
                for j in range(arr2.shape[1]):
                    ok = np.isfinite(arr2[:, j])
                    vals.append(np.interp(np.log(s), lb[ok], arr2[ok, j], left=np.nan, right=np.nan)
                                if ok.sum() >= 2 else np.full(s.size, np.nan))
                v = np.stack(vals, -1)
                v = v[:, 0] if arr.ndim == 1 else v
                if np.ndim(scale_m) == 0:
                    v = float(v[0]) if arr.ndim == 1 else (float(v[0, 0]), float(v[0, 1]))
                out[key + suffix] = v
        return out

    def conditioning(
        self, *, landscape: str | None = None, scale_factor: int = 4, target_res_m: float = 250.0
    ) -> np.ndarray:
        """Return the scale-conditioning vector fed to the SR networks' FiLM layers.

        Entries (names in :attr:`conditioning_names`), with ``f = scale_factor``,
        ``r = target_res_m``, fine band ``(f r, r)`` and coarse band ``(f^2 r, f r)``:

        0. ``scale_factor`` - ``f``;
        1. ``log2_target_res_km`` - ``log2(r / 1000 m)`` (-2 for 250 m);
        2. ``zeta2_fine`` - the law's local ``zeta_2`` at the fine band's geometric centre
           ``r sqrt(f)``;
        3. ``zeta2_coarse`` - the same at the coarse band's centre ``f r sqrt(f)``;
        4. ``zeta2_fine_halfwidth`` - half the width of the interval of entry 2 (0 without
           bootstrap);
        5. ``log_detail_ratio_law`` - ``ln`` of the fine/coarse detail-energy ratio by the law;
        6. ``log_detail_correction`` - ``ln(law / scale-invariant)`` of that ratio;
        7. ``lst_ndvi_slope_fine`` - LST-NDVI slope of block means at ``r`` (K per NDVI unit;
           0 without NDVI);
        8. ``lst_ndvi_corr_fine`` - their correlation at ``r`` (0 without NDVI);
        9. ``has_ndvi`` - 1 when entries 7-8 are measured, else 0.

        Scales outside the law's range use a constant exponent (logged). NaN entries (e.g.
        the LST-NDVI relation undefined at ``r``) are replaced by 0.

        Parameters
        ----------
        landscape
            Landscape of the law.
        scale_factor
            SR factor ``f`` (>= 2).
        target_res_m
            Target pixel size ``r`` in metres.

        Returns
        -------
        numpy.ndarray of float32, shape (len(conditioning_names),)

        """
        if scale_factor < 2 or target_res_m <= 0:
            raise InputError("scale_factor must be >= 2 and target_res_m > 0")
        f, r = float(scale_factor), float(target_res_m)
        name = self._pick(landscape)
        le = self.local_exponent([r * math.sqrt(f), f * r * math.sqrt(f)], q=2, landscape=name)
        half = 0.5 * float(le["upper"].values[0] - le["lower"].values[0])
        dr = self.detail_energy_ratio((f * f * r, f * r), (f * r, r), landscape=name)
        slope = corr = 0.0
        has = 0.0
        if "lst_ndvi_slope_block" in self.ds:
            rel = self.lst_ndvi(r, landscape=name)
            slope, corr, has = rel["slope"], rel["corr"], 1.0
        vec = np.array(
            [f, math.log2(r / 1000.0), le["value"].values[0], le["value"].values[1], half,
             math.log(dr["law"]), math.log(dr["correction"]), slope, corr, has],
            dtype=np.float64,
        )
        return np.nan_to_num(vec, nan=0.0).astype(np.float32)

    # ----------------------------------------------------------------------------- I/O
    def to_netcdf(self, path: str | os.PathLike) -> None:
        """Write the law as NetCDF-4, provenance in the global attributes.

        The backend is the first one xarray finds (netCDF4, or h5netcdf with h5py).
        """
        from scalelaws.io.atomic import atomic_path

        with atomic_path(path) as tmp:  # an interrupted write never leaves a truncated law
            self.ds.to_netcdf(tmp)

    def summary(self) -> str:
        """Return a readable table: per landscape and octave, the local exponent and detail energy."""
        from scalelaws.laws.report import summary_text

        return summary_text(self)

    def plot(self, ax: Any = None, *, q: float = 2.0, landscapes: Sequence[str] | None = None) -> Any:
        """Law curves with intervals.

        Parameters
        ----------
        ax
            A matplotlib Axes: draw only the local Hurst exponent ``zeta_q(l)/q`` there.
            ``None``: a new figure with the local exponent, the detail energy and (with NDVI)
            the LST-NDVI slope.
        q
            Order of the local exponent panel.
        landscapes
            Subset to draw (default all).

        Returns
        -------
        matplotlib.figure.Figure or matplotlib.axes.Axes

        """
        from scalelaws.laws.report import plot_law

        return plot_law(self, ax, q=q, landscapes=landscapes)

    def __repr__(self) -> str:
        a = self.ds.attrs
        return (f"<CorrectionLaw landscapes={self.landscapes} q={list(self.ds['q'].values)} "
                f"scales={a.get('scale_range_m')} m n_scenes={a.get('n_scenes')}>")

