"""Landscape types: parameters, presets and the record of their exact truths.

:class:`LandscapeSpec` (the model's parameters), :data:`LANDSCAPES` (cropland, forest, urban,
mixed), :class:`LandscapeTruth` (what :func:`scalelaws.synthetic.landscape_truth` returns).
"""

from __future__ import annotations

from dataclasses import dataclass

from scalelaws.errors import InputError


@dataclass(frozen=True)
class LandscapeSpec:
    """Parameters of a synthetic landscape type.

    See :func:`scalelaws.synthetic.landscape` for the model.

    Attributes
    ----------
    name, description
        Identifier and one-line description.
    parcel_m
        Mean side of the rectangular parcels (m): parcel edges are two independent Poisson
        line processes (vertical and horizontal lines) of intensity ``1 / parcel_m``, so two
        points ``(dx, dy)`` apart lie in the same parcel with probability
        ``exp(-(|dx| + |dy|) / parcel_m)``.
    edge_m
        Standard deviation (m) of the Gaussian blur of the parcel mosaic (ecotones, mixed
        pixels, sensor PSF): it makes the fields smooth below ~``edge_m``.
    ndvi_classes
        Parcel NDVI distribution: a mixture of uniform laws, ``(probability, low, high)``.
    lst_mean
        Mean LST (K).
    parcel_slope
        LST response of a parcel to its NDVI (K per NDVI unit), ``dLST/dNDVI`` at field scale.
    parcel_lst_std
        Standard deviation (K) of the per-parcel LST residual (soil moisture, management).
    regional_ndvi_std
        Standard deviation of the regional NDVI component (NDVI units).
    regional_slope
        Regional LST-NDVI co-variation (K per NDVI unit) of the regional components.
    regional_lst_std
        Standard deviation (K) of the regional LST component independent of NDVI (relief,
        climate).
    regional_H, outer_m
        The regional components are stationary Gaussian fields with the von Karman spectrum
        ``(|k|**2 + (1 / outer_m)**2) ** -(1 + regional_H)`` (fBm-like with exponent
        ``regional_H`` below the outer scale ``outer_m``).
    fine_range_m, coarse_range_m
        Lag ranges (m) over which the documented ``H_fine`` and ``H_coarse`` are defined.

    """

    name: str
    description: str
    parcel_m: float
    edge_m: float
    ndvi_classes: tuple[tuple[float, float, float], ...]
    lst_mean: float
    parcel_slope: float
    parcel_lst_std: float
    regional_ndvi_std: float
    regional_slope: float
    regional_lst_std: float
    regional_H: float = 0.5
    outer_m: float = 30_000.0
    fine_range_m: tuple[float, float] = (250.0, 500.0)
    coarse_range_m: tuple[float, float] = (4000.0, 8000.0)

    @property
    def ndvi_mean(self) -> float:
        """Mean parcel NDVI (mixture of uniforms)."""
        return float(sum(p * (lo + hi) / 2.0 for p, lo, hi in self.ndvi_classes))

    @property
    def ndvi_parcel_var(self) -> float:
        """Variance of the parcel NDVI values (mixture of uniforms)."""
        m2 = sum(p * (lo * lo + lo * hi + hi * hi) / 3.0 for p, lo, hi in self.ndvi_classes)
        return float(m2 - self.ndvi_mean**2)

    def truth(self, shape: tuple[int, int] = (512, 512), pixel_size: float = 62.5) -> LandscapeTruth:
        """Documented truths of this landscape on a given grid.

        See :func:`scalelaws.synthetic.landscape_truth`.
        """
        from scalelaws.synthetic.landscape_truth import landscape_truth  # it imports this module

        return landscape_truth(self, shape=shape, pixel_size=pixel_size)


LANDSCAPES: dict[str, LandscapeSpec] = {
    "cropland": LandscapeSpec(
        name="cropland",
        description="rectangular fields of bare soil and crops, 600 m, strong field-scale cooling",
        parcel_m=600.0,
        edge_m=180.0,
        ndvi_classes=((0.35, 0.10, 0.25), (0.65, 0.55, 0.78)),
        lst_mean=305.0,
        parcel_slope=-25.0,
        parcel_lst_std=1.5,
        regional_ndvi_std=0.08,
        regional_slope=30.0,
        regional_lst_std=8.0,
    ),
    "forest": LandscapeSpec(
        name="forest",
        description="closed forest stands of 700 m with clearings, weak NDVI contrast",
        parcel_m=700.0,
        edge_m=240.0,
        ndvi_classes=((0.85, 0.68, 0.84), (0.15, 0.30, 0.55)),
        lst_mean=296.0,
        parcel_slope=-15.0,
        parcel_lst_std=0.8,
        regional_ndvi_std=0.04,
        regional_slope=20.0,
        regional_lst_std=8.0,
    ),
    "urban": LandscapeSpec(
        name="urban",
        description="300 m city blocks, parks and sealed surfaces, steep LST-NDVI slope",
        parcel_m=300.0,
        edge_m=110.0,
        ndvi_classes=((0.6, 0.02, 0.20), (0.25, 0.20, 0.45), (0.15, 0.50, 0.80)),
        lst_mean=312.0,
        parcel_slope=-35.0,
        parcel_lst_std=2.0,
        regional_ndvi_std=0.06,
        regional_slope=-5.0,
        regional_lst_std=8.0,
    ),
    "mixed": LandscapeSpec(
        name="mixed",
        description="mosaic of crops, woods and villages, 800 m parcels",
        parcel_m=800.0,
        edge_m=210.0,
        ndvi_classes=((0.3, 0.10, 0.30), (0.4, 0.50, 0.80), (0.3, 0.70, 0.84)),
        lst_mean=302.0,
        parcel_slope=-20.0,
        parcel_lst_std=1.2,
        regional_ndvi_std=0.08,
        regional_slope=15.0,
        regional_lst_std=8.0,
    ),
}


@dataclass(frozen=True)
class LandscapeTruth:
    """Exact expected properties of a synthetic landscape on a given grid.

    All values follow analytically from the model (exact second-order statistics of the
    generator; NDVI clipping, which touches < 0.5 % of pixels, is neglected).

    Attributes
    ----------
    H_fine, H_coarse
        Local Hurst exponent of the expected LST variogram along the axes,
        ``0.5 ln(g(r2) / g(r1)) / ln(r2 / r1)``, over ``fine_range_m`` and ``coarse_range_m``
        (lags rounded to whole pixels).
    break_m
        Scale (m) where the local exponent per octave ``[r, 2r]`` first falls below
        ``(H_fine + H_coarse) / 2``, reported as the octave centre ``sqrt(2) r`` (log-linear
        interpolation between integer lags).
    lst_mean, ndvi_mean
        Expected means (K, NDVI units).
    factors
        Aggregation factors (block means) of the regression truths.
    lst_ndvi_slope
        Expected OLS slope of LST on NDVI (K per NDVI unit) over the whole field after block
        averaging by each factor (ratio of the expected sample covariance to the expected
        sample variance).
    lst_ndvi_slope_fine, lst_ndvi_slope_coarse
        The slope at the native resolution and at the factor closest to the coarse range's
        lower bound.
    lags_px, variogram_lst, variogram_ndvi
        Expected variograms ``E[(f(p + r) - f(p))**2]`` along the axes at lags ``lags_px``.

    """

    H_fine: float
    H_coarse: float
    break_m: float
    lst_mean: float
    ndvi_mean: float
    factors: tuple[int, ...]
    lst_ndvi_slope: tuple[float, ...]
    lst_ndvi_slope_fine: float
    lst_ndvi_slope_coarse: float
    lags_px: tuple[int, ...]
    variogram_lst: tuple[float, ...]
    variogram_ndvi: tuple[float, ...]


def _get_spec(kind: str | LandscapeSpec) -> LandscapeSpec:
    if isinstance(kind, LandscapeSpec):
        return kind
    try:
        return LANDSCAPES[kind]
    except KeyError:
        raise InputError(
            f"unknown landscape {kind!r}; choose one of {sorted(LANDSCAPES)}"
        ) from None
