"""Training data for the super-resolution networks: fields, scenes, patches, normalisation.

Three layers:

1. **Fields** (:class:`Field`): an observed LST field (the "1 km" level of the task) with,
   when available, an NDVI guide on the grid ``factor`` times finer (placed by geotransforms),
   an NDVI on the LST grid, and a fine LST truth (synthetic only, for validation). Sources:
   :func:`synthetic_fields`, :func:`modis_lst_2020_fields` (1 km MOD11A1 crops, MOD13A2 1 km
   NDVI), :func:`modis_aster_fields` (MODIS 1 km LST + 250 m NDVI of the MODIS-ASTER pairs; the
   ASTER LST is **never** read).
2. **Scenes** (:class:`Scene`, :func:`make_scenes`): coarse input, optional fine target and
   optional fine NDVI for one training mode, built by the mode's recipe (:mod:`sr.modes`)
   with one of the scene builders below. Pairs are made with the package's single
   degradation operator :func:`scalelaws.grids.degrade`:

   * SISR (``sisr_invariant``, ``sisr_corrected``; :func:`degraded_pair_scene`): the observed
     field is the target and its degradation by ``factor`` the input (4 km -> 1 km for MODIS);
   * guided pairs (``disr_invariant``, ``disr_invariant_corrected``; :func:`guided_pair_scene`):
     the same with the NDVI on the observed grid as guide;
   * DISR (``disr``, ``disr_corrected``; :func:`target_scale_scene`): the observed field is the input and the fine NDVI the
     guide (1 km + 250 m -> 250 m for the MODIS-ASTER pairs, no fine LST needed); with only a
     1 km NDVI (MODIS 2020 crops) the LST is degraded first (4 km + 1 km NDVI -> 1 km).
3. **Patches** (:class:`PatchDataset`): crops of the scenes, the 8 dihedral transforms
   (flips and rotations) as augmentation, normalised by :class:`Normalisation` (stored with
   the model), with per-scene law targets and conditioning vectors attached by
   :func:`attach_targets`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch.utils.data import Dataset

from scalelaws.errors import GridMismatchError, InputError, ScaleRangeError

__all__ = [
    "MODES",
    "SISR_MODES",
    "DISR_MODES",
    "Field",
    "Scene",
    "Normalisation",
    "PatchDataset",
    "synthetic_fields",
    "modis_lst_2020_fields",
    "modis_aster_fields",
    "load_fields",
    "place_on_fine_grid",
    "make_scenes",
    "degraded_pair_scene",
    "guided_pair_scene",
    "target_scale_scene",
    "attach_targets",
    "patch_index",
    "split_scenes",
    "dihedral",
]

log = logging.getLogger(__name__)

from sr import MODE_SPECS, MODES, mode_spec, normalise  # noqa: E402 - the single table of training modes

#: Single-image modes (no guide).
SISR_MODES = tuple(m for m, spec in MODE_SPECS.items() if not spec.guided)
#: Guided modes trained at the target scale (no fine truth: consistency and texture losses).
DISR_MODES = tuple(m for m, spec in MODE_SPECS.items() if spec.guided and not spec.supervised)
#: Modes that use a correction law.
CORRECTED_MODES = tuple(m for m, spec in MODE_SPECS.items() if spec.corrected)


@dataclass
class Field:
    """An observed LST field and its companions.

    Attributes
    ----------
    name
        Identifier (file name, pair id, landscape and seed).
    lst
        Observed LST (K) with ``x``/``y`` coordinates in metres.
    ndvi_fine
        NDVI on the grid ``factor`` times finer than ``lst`` (same bounds), or ``None``.
    ndvi_obs
        NDVI on the grid of ``lst``, or ``None``.
    lst_fine
        Fine LST truth on the grid of ``ndvi_fine`` (synthetic data only), or ``None``.
    landscape
        Landscape class (for per-landscape laws), or ``None``.

    """

    name: str
    lst: xr.DataArray
    ndvi_fine: xr.DataArray | None = None
    ndvi_obs: xr.DataArray | None = None
    lst_fine: xr.DataArray | None = None
    landscape: str | None = None


@dataclass
class Scene:
    """One training scene: coarse input, optional fine target and guide, and targets.

    Arrays are float32 in physical units (K, NDVI), NaN = missing; the fine arrays are exactly
    ``factor`` times the coarse shape. ``ndvi_band`` (guided supervised modes with a fine NDVI)
    is the NDVI ``factor`` times finer than ``hr``: the guide of the target-band branch
    (1 km -> 250 m) whose texture target is ``tex_fine``.
    """

    name: str
    lr: np.ndarray
    factor: int
    lr_res_m: float
    hr: np.ndarray | None = None
    ndvi: np.ndarray | None = None
    hr_is_target: bool = True
    landscape: str | None = None
    cond: np.ndarray | None = None
    sf_target: np.ndarray | None = None
    cond_fine: np.ndarray | None = None
    sf_target_fine: np.ndarray | None = None
    tex: tuple[float, float] | None = None
    ndvi_band: np.ndarray | None = None
    tex_fine: tuple[float, float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def hr_res_m(self) -> float:
        """Pixel size of the fine grid (m)."""
        return self.lr_res_m / self.factor


@dataclass
class Normalisation:
    """Affine normalisation of LST and NDVI, stored with the model: ``x_n = (x - mean) / std``."""

    lst_mean: float = 290.0
    lst_std: float = 10.0
    ndvi_mean: float = 0.0
    ndvi_std: float = 1.0

    @classmethod
    def fit(cls, scenes: Sequence[Scene]) -> Normalisation:
        """Statistics of the coarse LST and of the NDVI over the valid pixels of ``scenes``."""
        lst = np.concatenate([s.lr[np.isfinite(s.lr)].ravel() for s in scenes])
        if lst.size == 0:
            raise InputError("no valid LST pixel in the training scenes")
        nd = [s.ndvi[np.isfinite(s.ndvi)].ravel() for s in scenes if s.ndvi is not None]
        nd_all = np.concatenate(nd) if nd else np.zeros(0)
        return cls(
            lst_mean=float(lst.mean()),
            lst_std=float(max(lst.std(), 1e-3)),
            ndvi_mean=float(nd_all.mean()) if nd_all.size else 0.0,
            ndvi_std=float(max(nd_all.std(), 1e-3)) if nd_all.size else 1.0,
        )

    def to_dict(self) -> dict[str, float]:
        """Plain dict (JSON-serialisable)."""
        return {k: float(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, float]) -> Normalisation:
        """Inverse of :meth:`to_dict`."""
        return cls(**{k: float(d[k]) for k in ("lst_mean", "lst_std", "ndvi_mean", "ndvi_std")})

    def stats(self, var: str = "lst") -> tuple[float, float]:
        """``(mean, std)`` of ``var`` (``"lst"`` or ``"ndvi"``)."""
        if var not in ("lst", "ndvi"):
            raise ValueError(f"var must be 'lst' or 'ndvi', got {var!r}")
        return float(getattr(self, f"{var}_mean")), float(getattr(self, f"{var}_std"))

    def apply(self, x: Any, var: str = "lst") -> Any:
        """Normalise ``x`` (array or tensor): :func:`sr.normalise.apply`."""
        return normalise.apply(x, *self.stats(var))

    def invert(self, x: Any, var: str = "lst") -> Any:
        """Back to physical units (K for LST): :func:`sr.normalise.invert`."""
        return normalise.invert(x, *self.stats(var))

    def apply_masked(self, a: np.ndarray, var: str = "lst") -> tuple[np.ndarray, np.ndarray]:
        """Normalise with missing data (0 and a mask): :func:`sr.normalise.apply_masked`."""
        return normalise.apply_masked(a, *self.stats(var))

    def slope(self, slope_k_per_ndvi: float) -> float:
        """Express an LST-on-NDVI slope (K per NDVI unit) in normalised units."""
        return slope_k_per_ndvi * self.ndvi_std / self.lst_std


# ----------------------------------------------------------------------------------------------
# sources
# ----------------------------------------------------------------------------------------------


def synthetic_fields(
    *,
    factor: int = 4,
    kinds: Sequence[str] | None = None,
    n_per_kind: int = 2,
    shape: Sequence[int] = (256, 256),
    pixel_size: float = 62.5,
    obs_factor: int = 4,
    seed: int = 0,
    method: str = "mean",
) -> list[Field]:
    """Observed fields made from :func:`scalelaws.synthetic.landscape`.

    Each landscape is generated at ``pixel_size``; the observed LST is its degradation by
    ``obs_factor`` (the "1 km" level), the fine NDVI and fine LST truth its degradation by
    ``obs_factor / factor`` (the "250 m" level).

    Parameters
    ----------
    factor
        Super-resolution factor; must divide ``obs_factor``.
    kinds
        Landscape kinds (default: every kind of :data:`scalelaws.synthetic.LANDSCAPES`).
    n_per_kind
        Realisations per kind (seeds ``seed, seed + 1, ...``).
    shape, pixel_size
        Size and pixel size (m) of the generated landscapes.
    obs_factor
        Degradation from the landscape to the observed field.
    seed
        First seed.
    method
        Degradation method of the LST (the NDVI is always block-averaged).

    """
    from scalelaws.grids import degrade
    from scalelaws.synthetic import LANDSCAPES, landscape

    kinds = list(LANDSCAPES) if kinds is None else kinds
    if obs_factor % factor:
        raise ValueError(f"factor {factor} must divide obs_factor {obs_factor}")
    fine_f = obs_factor // factor
    out = []
    for kind in kinds:
        for i in range(n_per_kind):
            s = seed + i
            ds = landscape(kind, shape=tuple(shape), pixel_size=pixel_size, seed=s)
            lst = ds["lst"].astype("float32")
            ndvi = ds["ndvi"].astype("float32")
            lst_obs = degrade(lst, obs_factor, method=method)
            lst_fine = degrade(lst, fine_f, method=method) if fine_f > 1 else lst
            ndvi_fine = degrade(ndvi, fine_f, method="mean") if fine_f > 1 else ndvi
            ndvi_obs = degrade(ndvi, obs_factor, method="mean")
            out.append(
                Field(
                    name=f"synthetic-{kind}-{s}",
                    lst=lst_obs,
                    ndvi_fine=ndvi_fine,
                    ndvi_obs=ndvi_obs,
                    lst_fine=lst_fine,
                    landscape=kind,
                )
            )
    return out


def _ndvi_from_mod13a2(path: Path, like: xr.DataArray) -> xr.DataArray:
    """NDVI from the red (band 1) and NIR (band 2) of a MOD13A2 crop of ``modis_lst_2020``."""
    import rasterio

    try:
        with rasterio.open(path) as src:
            if src.count < 2:
                raise InputError(f"expected red and NIR bands, found {src.count} band(s)", path)
            red = src.read(1).astype(np.float64)
            nir = src.read(2).astype(np.float64)
            transform = src.transform
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"cannot open the MOD13A2 crop: {exc}", path) from exc
    t_lst = like.rio.transform()
    if red.shape != like.shape or not np.allclose(tuple(transform)[:6], tuple(t_lst)[:6], rtol=0, atol=1e-3):
        raise GridMismatchError("the NDVI crop is not on the grid of its LST crop", path)
    with np.errstate(invalid="ignore", divide="ignore"):
        ndvi = (nir - red) / (nir + red)
    ndvi[(red <= 0) | (nir <= 0) | ~np.isfinite(ndvi)] = np.nan
    out = like.copy(data=np.clip(ndvi, -1, 1).astype(np.float32))
    out.attrs = {"units": "1", "long_name": "NDVI", "product": "MOD13A2", "source": str(path)}
    return out


def modis_lst_2020_fields(
    *,
    root: str | Path | None = None,
    which: Sequence[str] = ("day",),
    limit: int | None = None,
    min_valid: float = 0.9,
    with_ndvi: bool = False,
    seed: int = 0,
) -> list[Field]:
    """Load the MOD11A1 1 km crops of ``modis_lst_2020`` as observed fields.

    Parameters
    ----------
    root
        The ``modis_lst_2020`` folder (default: under :func:`scalelaws.config.data_dir`).
    which
        ``"day"`` and/or ``"night"`` bands.
    limit
        Use at most this many crops (a seeded random subset).
    min_valid
        Skip crops with a smaller fraction of valid (cloud-free) pixels.
    with_ndvi
        Attach the MOD13A2 1 km NDVI (``ndvi_obs``) and skip crops without one.
    seed
        Seed of the subset.

    """
    from scalelaws.io import list_modis_lst_2020, open_modis_lst_2020

    table = list_modis_lst_2020(root)
    if with_ndvi:
        table = table[table["ndvi_path"].notna()]
    idx = np.arange(len(table))
    if limit is not None and limit < len(idx):
        idx = np.sort(np.random.default_rng(seed).permutation(len(idx))[: limit * 3])
    out: list[Field] = []
    for i in idx:
        row = table.iloc[int(i)]
        for w in which:
            lst = open_modis_lst_2020(row["lst_path"], which=w)
            if float(np.isfinite(lst.values).mean()) < min_valid:
                continue
            ndvi = _ndvi_from_mod13a2(Path(row["ndvi_path"]), lst) if with_ndvi else None
            out.append(Field(name=f"{Path(row['lst_path']).name}:{w}", lst=lst, ndvi_obs=ndvi))
        if limit is not None and len(out) >= limit:
            break
    if not out:
        raise InputError(f"no MODIS 2020 crop with at least {min_valid:.0%} valid pixels", root)
    log.info("modis_lst_2020: %d fields", len(out))
    return out


def place_on_fine_grid(da: xr.DataArray, coarse: xr.DataArray, factor: int) -> xr.DataArray:
    """Place ``da`` on the grid ``factor`` times finer than ``coarse`` (same bounds), by transforms.

    When ``da``'s grid is the fine grid shifted by whole pixels (the MODIS-ASTER NDVI is offset
    by 0-3 fine pixels from the 4 x 4 blocks of the 1 km grid) the values are moved by that shift
    exactly (NaN where ``da`` does not reach); otherwise ``da`` is reprojected bilinearly with
    :func:`scalelaws.grids.align`: :func:`scalelaws.grids.place_on_grid` onto the refined grid.

    Returns
    -------
    xarray.DataArray
        On :func:`scalelaws.grids.refine_like` ``(coarse, factor)``'s grid.

    """
    from scalelaws.grids import place_on_grid, refine_like

    return place_on_grid(da, refine_like(coarse, factor), dtype=np.float32)


def modis_aster_fields(
    *,
    ids: Sequence[int] | None = None,
    root: str | Path | None = None,
    factor: int = 4,
) -> list[Field]:
    """MODIS 1 km LST and 250 m NDVI of the MODIS-ASTER pairs (the ASTER LST is not used).

    The NDVI is placed on the grid 4 times finer than the LST by the two geotransforms
    (:func:`place_on_fine_grid`), never by index arithmetic.

    Parameters
    ----------
    ids
        Pair ids (default: every pair of the stored split).
    root
        The ``pairs`` folder (default: under :func:`scalelaws.config.data_dir`).
    factor
        Fine grid factor (the NDVI is ~231.7 m, the LST ~926.6 m: 4).

    """
    from scalelaws.io import list_modis_aster_pairs, open_modis_aster_pair

    ids = list(ids) if ids is not None else list_modis_aster_pairs(root)
    out = []
    for pid in ids:
        pair = open_modis_aster_pair(int(pid), root)
        ndvi = place_on_fine_grid(pair.ndvi_250m, pair.lst_1km, factor)
        out.append(Field(name=f"pair-{int(pid)}", lst=pair.lst_1km, ndvi_fine=ndvi))
    return out


def load_fields(source: str, *, factor: int = 4, mode: str = "sisr_invariant", **kw: Any) -> list[Field]:
    """Dispatch on a source name: ``"synthetic"``, ``"modis_lst_2020"`` or ``"modis_aster"``."""
    if source == "synthetic":
        return synthetic_fields(factor=factor, **kw)
    if source == "modis_lst_2020":
        kw.setdefault("with_ndvi", mode_spec(mode).guided)
        return modis_lst_2020_fields(**kw)
    if source == "modis_aster":
        return modis_aster_fields(factor=factor, **kw)
    raise ValueError(f"unknown data source {source!r}; use synthetic, modis_lst_2020 or modis_aster")


# ----------------------------------------------------------------------------------------------
# scenes
# ----------------------------------------------------------------------------------------------


def _values(da: xr.DataArray) -> np.ndarray:
    return np.asarray(da.values, dtype=np.float32)


def make_scenes(
    fields: Sequence[Field],
    mode: str,
    factor: int,
    *,
    method: str = "mean",
    max_missing: float = 0.5,
    mtf_nyquist: float = 0.3,
) -> list[Scene]:
    """Build the scenes of a training mode from observed fields (see the module docstring).

    Each field goes through the mode's recipe (:meth:`sr.modes.Recipe.make_scene`: one of
    :func:`degraded_pair_scene`, :func:`guided_pair_scene`, :func:`target_scale_scene`).
    ``method``, ``max_missing`` and ``mtf_nyquist`` (``method="psf"`` only) are those of
    :func:`scalelaws.grids.degrade`, which makes the coarse inputs of the pairs.
    """
    recipe = mode_spec(mode).recipe
    dkw = {"mtf_nyquist": mtf_nyquist} if method == "psf" else {}
    return [recipe.make_scene(f, factor, method, max_missing, dkw) for f in fields]


def _observed_blocks(f: Field, factor: int) -> xr.DataArray:
    """Crop the observed LST to whole ``factor x factor`` blocks."""
    ny, nx = (f.lst.shape[0] // factor) * factor, (f.lst.shape[1] // factor) * factor
    return f.lst.isel(y=slice(0, ny), x=slice(0, nx))


def degraded_pair_scene(f: Field, factor: int, method: str, max_missing: float,
                        dkw: dict[str, Any]) -> Scene:
    """Scene of a single-image pair: the observed LST is the target, its degradation the input."""
    from scalelaws.grids import degrade, pixel_size

    hr_da = _observed_blocks(f, factor)
    lr_da = degrade(hr_da, factor, method=method, max_missing=max_missing, **dkw)
    return Scene(name=f.name, lr=_values(lr_da), hr=_values(hr_da), factor=factor,
                 lr_res_m=pixel_size(lr_da), landscape=f.landscape)


def guided_pair_scene(f: Field, factor: int, method: str, max_missing: float,
                      dkw: dict[str, Any]) -> Scene:
    """Scene of a guided pair: degraded LST + NDVI on the observed grid -> observed LST.

    The NDVI on the observed grid is the field's own (``ndvi_obs``) or the block mean of its fine
    NDVI (:func:`scalelaws.grids.degrade`, method ``mean``); the fine NDVI, when present, is kept
    as the guide of the target-band branch.
    """
    from scalelaws.grids import degrade, pixel_size

    hr_da = _observed_blocks(f, factor)
    ny, nx = hr_da.shape
    if f.ndvi_obs is not None:
        nd_obs = _values(f.ndvi_obs)[:ny, :nx]
    elif f.ndvi_fine is not None:
        nd_obs = _values(degrade(f.ndvi_fine, factor, method="mean", max_missing=max_missing))[:ny, :nx]
    else:
        raise InputError(f"{f.name}: a guided mode needs an NDVI field")
    band = None
    if f.ndvi_fine is not None:
        band = _values(f.ndvi_fine)[: ny * factor, : nx * factor]
    lr_da = degrade(hr_da, factor, method=method, max_missing=max_missing, **dkw)
    return Scene(name=f.name, lr=_values(lr_da), ndvi=nd_obs, hr=_values(hr_da), factor=factor,
                 lr_res_m=pixel_size(lr_da), landscape=f.landscape, ndvi_band=band)


def target_scale_scene(f: Field, factor: int, method: str, max_missing: float,
                       dkw: dict[str, Any]) -> Scene:
    """Scene of a guided mode trained at the target scale: observed LST + fine NDVI, no fine target.

    With only an NDVI on the observed grid (MODIS 2020 crops) the LST is degraded first
    (4 km + 1 km NDVI -> 1 km). A fine LST truth (synthetic data) is kept for validation only.
    """
    from scalelaws.grids import degrade, pixel_size

    if f.ndvi_fine is not None:
        lr = _values(f.lst)
        nd = _values(f.ndvi_fine)
        if nd.shape != (lr.shape[0] * factor, lr.shape[1] * factor):
            raise GridMismatchError(f"{f.name}: fine NDVI {nd.shape} is not {factor} x the LST grid {lr.shape}")
        hr = _values(f.lst_fine) if f.lst_fine is not None else None
        return Scene(name=f.name, lr=lr, ndvi=nd, hr=hr, hr_is_target=False, factor=factor,
                     lr_res_m=pixel_size(f.lst), landscape=f.landscape)
    if f.ndvi_obs is not None:
        hr_da = _observed_blocks(f, factor)
        ny, nx = hr_da.shape
        lr_da = degrade(hr_da, factor, method=method, max_missing=max_missing, **dkw)
        return Scene(name=f.name, lr=_values(lr_da), ndvi=_values(f.ndvi_obs)[:ny, :nx], hr=_values(hr_da),
                     hr_is_target=False, factor=factor, lr_res_m=pixel_size(lr_da), landscape=f.landscape)
    raise InputError(f"{f.name}: a guided mode needs an NDVI field")


def attach_targets(
    scenes: Sequence[Scene],
    mode: str,
    targets: Any,
    *,
    conditioned: bool,
) -> None:
    """Attach conditioning vectors, law targets and texture targets to each scene (in place).

    The conditioning and the law's structure-function targets (corrected modes) are common;
    the rest is the recipe's (:meth:`sr.modes.Recipe.attach_targets`: target band, texture).

    Parameters
    ----------
    scenes
        Scenes of ``mode``.
    mode
        Training mode.
    targets
        A :class:`sr.lawtargets.LawTargets`.
    conditioned
        Whether the model takes conditioning vectors.

    """
    spec = mode_spec(mode)
    for s in scenes:
        if conditioned:
            s.cond = targets.conditioning(s.factor, s.hr_res_m, landscape=s.landscape)
        if spec.corrected:
            s.sf_target = targets.sf_target(s.lr, s.lr_res_m, s.factor, landscape=s.landscape)
        spec.recipe.attach_targets(s, targets, corrected=spec.corrected, conditioned=conditioned)


def split_scenes(scenes: Sequence[Scene], val_fraction: float, seed: int) -> tuple[list[Scene], list[Scene]]:
    """Seeded split of whole scenes into training and validation (no patch leaks across)."""
    n = len(scenes)
    if n == 0:
        raise InputError("no scene to train on")
    n_val = int(round(val_fraction * n))
    if val_fraction > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    else:
        n_val = 0
    perm = np.random.default_rng(seed).permutation(n)
    val = [scenes[i] for i in sorted(perm[:n_val])]
    train = [scenes[i] for i in sorted(perm[n_val:])]
    return train, val


# ----------------------------------------------------------------------------------------------
# patches
# ----------------------------------------------------------------------------------------------


def _starts(n: int, p: int, stride: int) -> list[int]:
    if n < p:
        return []
    s = list(range(0, n - p + 1, stride))
    if s[-1] != n - p:
        s.append(n - p)
    return s


def patch_index(
    scenes: Sequence[Scene], patch: int, stride: int | None = None, *, max_missing: float = 0.25
) -> list[tuple[int, int, int]]:
    """Coarse-grid crops ``(scene, row, col)`` of ``patch x patch`` pixels.

    Crops lie on a regular grid of step ``stride`` (default ``patch``) plus one flush with the
    far edges; a crop is kept when at most ``max_missing`` of its coarse pixels (and of its fine
    target/guide pixels) are missing.
    """
    stride = stride or patch
    out = []
    for k, s in enumerate(scenes):
        f = s.factor
        for r in _starts(s.lr.shape[0], patch, stride):
            for c in _starts(s.lr.shape[1], patch, stride):
                if np.isnan(s.lr[r : r + patch, c : c + patch]).mean() > max_missing:
                    continue
                fine = [a for a in (s.ndvi, s.hr if s.hr_is_target else None) if a is not None]
                win = (slice(r * f, (r + patch) * f), slice(c * f, (c + patch) * f))
                if any(np.isnan(a[win]).mean() > max_missing for a in fine):
                    continue
                out.append((k, r, c))
    return out


def dihedral(a: np.ndarray, k: int) -> np.ndarray:
    """Element ``k`` (0-7) of the dihedral group on the last two axes: rotation then flip."""
    out = np.rot90(a, k % 4, axes=(-2, -1))
    if k >= 4:
        out = out[..., ::-1]
    return np.ascontiguousarray(out)


class PatchDataset(Dataset):
    """Normalised patches of scenes with dihedral augmentation.

    Each item is a dict of tensors: ``lr`` ``(1, p, p)`` and ``lr_mask``; ``hr``/``hr_mask``
    ``(1, P, P)`` with ``P = p * factor`` when the scenes carry a fine LST; ``ndvi``/``ndvi_mask``
    when they carry an NDVI; ``cond`` when conditioned; ``sf_target`` (law targets, K^q);
    ``fine_in``/``fine_in_mask``/``cond_fine``/``sf_target_fine`` (the target-band branch of
    the supervised corrected modes: a ``p x p`` crop of the observed field), with
    ``ndvi_fine_in``/``ndvi_fine_in_mask``/``tex_fine`` for the guided one; ``tex`` ``(2,)`` (LST-NDVI slope in
    normalised units and correlation). Missing values are 0 in the normalised tensors and
    ``False`` in the masks.

    Parameters
    ----------
    scenes
        Scenes (with targets attached).
    index
        Crops from :func:`patch_index`.
    patch
        Coarse patch size.
    norm
        Normalisation.
    augment
        Apply a random dihedral transform (deterministic given ``seed``, the epoch and the
        item).
    seed
        Augmentation seed.
    guide_dropout
        Probability that an item's NDVI guide is dropped (set missing: 0 in the normalised
        tensor, ``False`` in its mask), drawn like the augmentation. A network trained so must
        also predict from the LST alone, which limits how much detail it copies from the guide.

    """

    def __init__(
        self,
        scenes: Sequence[Scene],
        index: Sequence[tuple[int, int, int]],
        patch: int,
        norm: Normalisation,
        *,
        augment: bool = True,
        seed: int = 0,
        guide_dropout: float = 0.0,
    ) -> None:
        if not 0.0 <= float(guide_dropout) < 1.0:
            raise ValueError(f"guide_dropout must be in [0, 1), got {guide_dropout}")
        if not index:
            raise ScaleRangeError(f"no usable {patch} x {patch} patch in {len(scenes)} scene(s)")
        self.scenes = list(scenes)
        self.index = list(index)
        self.patch = int(patch)
        self.norm = norm
        self.augment = augment
        self.seed = int(seed)
        self.guide_dropout = float(guide_dropout)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Change the augmentation draw (called at the start of every training epoch)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.index)

    def _norm(self, a: np.ndarray, var: str, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        v, ok = self.norm.apply_masked(dihedral(a, k), var)
        return torch.from_numpy(v)[None], torch.from_numpy(ok)[None]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        k_scene, r, c = self.index[i]
        s = self.scenes[k_scene]
        p, f = self.patch, s.factor
        rng = np.random.default_rng([self.seed, self.epoch, i])
        aug = int(rng.integers(8)) if self.augment else 0
        drop = self.guide_dropout > 0 and rng.random() < self.guide_dropout
        nm = self.norm
        item: dict[str, torch.Tensor] = {}
        item["lr"], item["lr_mask"] = self._norm(s.lr[r : r + p, c : c + p], "lst", aug)
        win = (slice(r * f, (r + p) * f), slice(c * f, (c + p) * f))
        if s.hr is not None:
            item["hr"], item["hr_mask"] = self._norm(s.hr[win], "lst", aug)
        if s.ndvi is not None:
            item["ndvi"], item["ndvi_mask"] = self._norm(s.ndvi[win], "ndvi", aug)
            if drop:
                item["ndvi"] = torch.zeros_like(item["ndvi"])
                item["ndvi_mask"] = torch.zeros_like(item["ndvi_mask"])
        if s.cond is not None:
            item["cond"] = torch.from_numpy(s.cond)
        if s.sf_target is not None:
            item["sf_target"] = torch.from_numpy(s.sf_target)
        if s.sf_target_fine is not None and s.hr is not None:
            # centre p x p crop of the fine (observed) window: input of the target-band branch
            o = (p * f - p) // 2
            fine = s.hr[win][o : o + p, o : o + p]
            item["fine_in"], item["fine_in_mask"] = self._norm(fine, "lst", aug)
            item["sf_target_fine"] = torch.from_numpy(s.sf_target_fine)
            if s.cond_fine is not None:
                item["cond_fine"] = torch.from_numpy(s.cond_fine)
            if s.ndvi_band is not None:
                r0, c0 = (r * f + o) * f, (c * f + o) * f
                band = s.ndvi_band[r0 : r0 + p * f, c0 : c0 + p * f]
                item["ndvi_fine_in"], item["ndvi_fine_in_mask"] = self._norm(band, "ndvi", aug)
            if s.tex_fine is not None:
                slope, corr = s.tex_fine
                item["tex_fine"] = torch.tensor([nm.slope(slope), corr], dtype=torch.float32)
        if s.tex is not None:
            slope, corr = s.tex
            item["tex"] = torch.tensor([nm.slope(slope), corr], dtype=torch.float32)
        return item
