"""The training modes as small strategy objects (no torch import: ``import sr`` stays light).

A :class:`Mode` is a name, a :class:`Recipe` and whether the correction law enters
(``corrected``). The recipe is the one place of every behaviour that differs between modes:

=====================================  =========================================================
behaviour                              where
=====================================  =========================================================
scenes a mode trains on (resolution)   :meth:`Recipe.make_scene`: a builder of :mod:`sr.data`
targets attached to a scene            :meth:`Recipe.attach_targets` (law ones: ``corrected``)
network input (the NDVI guide)         :attr:`Recipe.guided`, :attr:`Recipe.default_model`
loss terms of the training step        :meth:`Recipe.loss_terms`: names of
                                       :data:`sr.module.LOSS_TERMS` (torch side)
default consistency weight             :attr:`Recipe.default_w_consistency`
inference resolution                   :meth:`Recipe.inference_res_m`
=====================================  =========================================================

The built-in recipes are :class:`SingleImagePairs` (``sisr_*``: learn the observed field from
its degradation), :class:`GuidedPairs` (``disr_invariant*``: the same with the NDVI guide) and
:class:`TargetScale` (``disr``, ``disr_corrected``: trained at the target scale, no fine truth).
A new mode is a new :class:`Mode` of an existing recipe or of a small subclass, added with
:func:`register_mode`; configurations, checkpoints and model files store only its name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "Recipe",
    "SingleImagePairs",
    "GuidedPairs",
    "TargetScale",
    "Mode",
    "MODE_SPECS",
    "MODES",
    "mode_spec",
    "register_mode",
]


@dataclass(frozen=True)
class Recipe:
    """How a mode trains: its scenes, their targets, its loss terms, its inference band.

    Subclasses set :attr:`guided`, :attr:`supervised` and :attr:`scene_builder`; the methods
    have defaults built on those attributes that a subclass may override.
    """

    #: The network takes the fine NDVI guide (dual-image SR).
    guided = False
    #: Trained on degraded pairs, the observed field being the target (pixel loss).
    supervised = True

    @property
    def default_model(self) -> str:
        """Registry name (:data:`sr.models.MODELS`) of the default network."""
        return "disr_unet" if self.guided else "unet"

    @property
    def default_w_consistency(self) -> float:
        """Default weight of the consistency loss: none when a fine target supervises."""
        return 0.0 if self.supervised else 1.0

    def target_band(self, corrected: bool) -> bool:
        """Whether a branch is also trained on the target band (supervised and corrected)."""
        return self.supervised and corrected

    def loss_terms(self, corrected: bool) -> tuple[str, ...]:
        """Names of the loss terms of the training step, in the order they are summed.

        Each name is a key of :data:`sr.module.LOSS_TERMS`; a term whose weight is 0, or
        whose inputs a batch lacks, adds nothing.
        """
        on = {
            "pixel": self.supervised,
            "consistency": True,
            "law": corrected,
            "texture": not self.supervised,
            "spectral": True,
            "target_band": self.target_band(corrected),
        }
        return tuple(name for name, used in on.items() if used)

    #: Name of the scene builder of :mod:`sr.data` that :meth:`make_scene` calls.
    scene_builder = ""

    def make_scene(self, f: Any, factor: int, method: str, max_missing: float, dkw: dict[str, Any]) -> Any:
        """Build the :class:`sr.data.Scene` of one :class:`sr.data.Field` (:attr:`scene_builder`).

        A recipe whose scenes no builder of :mod:`sr.data` makes overrides this method.
        """
        import sr.data

        if not self.scene_builder:
            raise NotImplementedError(f"{type(self).__name__} names no scene builder")
        return getattr(sr.data, self.scene_builder)(f, factor, method, max_missing, dkw)

    def attach_targets(self, s: Any, targets: Any, *, corrected: bool, conditioned: bool) -> None:
        """Attach the recipe's own targets to a scene (after its conditioning and law targets)."""

    def inference_res_m(self, s: Any) -> float:
        """Pixel size (m) of the inputs the trained model is applied to: the observed field.

        Supervised recipes learn the observed field (the fine grid of their scenes) from its
        degradation; the others take the observed field as input (the coarse grid).
        """
        return s.hr_res_m if self.supervised else s.lr_res_m


@dataclass(frozen=True)
class SingleImagePairs(Recipe):
    """Single image: the observed field is the target, its degradation the input."""

    guided = False
    supervised = True
    scene_builder = "degraded_pair_scene"

    def attach_targets(self, s: Any, targets: Any, *, corrected: bool, conditioned: bool) -> None:
        """Attach the target band: the observed field -> ``factor`` times finer, no truth needed."""
        if self.target_band(corrected) and s.hr is not None:
            _attach_target_band(s, targets, conditioned=conditioned)


@dataclass(frozen=True)
class GuidedPairs(SingleImagePairs):
    """Guided pairs: degraded LST + NDVI on the observed grid -> observed LST."""

    guided = True
    supervised = True
    scene_builder = "guided_pair_scene"

    def attach_targets(self, s: Any, targets: Any, *, corrected: bool, conditioned: bool) -> None:
        """Attach the guided target band (needs the NDVI ``factor`` times finer than the target)."""
        if self.target_band(corrected) and s.hr is not None and s.ndvi_band is not None:
            _attach_target_band(s, targets, conditioned=conditioned)
            s.tex_fine = targets.lst_ndvi(s.hr_res_m / s.factor, landscape=s.landscape)


@dataclass(frozen=True)
class TargetScale(Recipe):
    """Guided, trained at the target scale: the observed field is the input, no fine truth.

    The losses are consistency with the observation and the NDVI texture coupling, whose slope
    and correlation are the law's at the fine scale (``corrected``) or measured on the coarse
    observation.
    """

    guided = True
    supervised = False
    scene_builder = "target_scale_scene"

    def attach_targets(self, s: Any, targets: Any, *, corrected: bool, conditioned: bool) -> None:
        """Attach the LST-NDVI texture target ``tex``: the law's (corrected) or the coarse measured one."""
        if s.ndvi is None:
            return
        if corrected:
            s.tex = targets.lst_ndvi(s.hr_res_m, landscape=s.landscape)
        else:
            from sr.lawtargets import coarse_lst_ndvi

            s.tex = coarse_lst_ndvi(s.lr, s.ndvi, s.factor)


def _attach_target_band(s: Any, targets: Any, *, conditioned: bool) -> None:
    """Law targets (and conditioning) of the target band: the observed field -> factor times finer."""
    s.sf_target_fine = targets.sf_target(s.hr, s.hr_res_m, s.factor, landscape=s.landscape)
    if conditioned:
        s.cond_fine = targets.conditioning(s.factor, s.hr_res_m / s.factor, landscape=s.landscape)


@dataclass(frozen=True)
class Mode:
    """A training mode: a name, a :class:`Recipe` and whether the correction law enters.

    Attributes
    ----------
    name
        The mode's name (what configurations, checkpoints and model files store).
    recipe
        Its :class:`Recipe` (data, targets, loss terms, inference band).
    corrected
        The correction law enters: FiLM conditioning, law loss and law texture targets.

    """

    name: str
    recipe: Recipe
    corrected: bool = False

    @property
    def guided(self) -> bool:
        """The network takes the fine NDVI guide (dual-image SR)."""
        return self.recipe.guided

    @property
    def supervised(self) -> bool:
        """Trained on degraded pairs, the observed field being the target (pixel loss).

        The scale-invariant recipe, 4 km -> 1 km for MODIS, applied at 1 km -> 250 m.
        Otherwise the network is trained at the target scale without a fine truth
        (consistency with the observation and the NDVI texture coupling).
        """
        return self.recipe.supervised

    @property
    def target_band(self) -> bool:
        """A supervised corrected mode also trains a branch on the target band (1 km -> 250 m)."""
        return self.recipe.target_band(self.corrected)

    @property
    def default_model(self) -> str:
        """Registry name of the default network."""
        return self.recipe.default_model

    @property
    def loss_terms(self) -> tuple[str, ...]:
        """Names of the training step's loss terms (keys of :data:`sr.module.LOSS_TERMS`)."""
        return self.recipe.loss_terms(self.corrected)


#: Every training mode by name (the registry; :func:`register_mode` adds to it). Each corrected
#: built-in mode has its scale-invariant counterpart.
MODE_SPECS: dict[str, Mode] = {}


def register_mode(mode: Mode) -> Mode:
    """Add a mode to :data:`MODE_SPECS` (``ValueError`` if its name is taken); return it."""
    if mode.name in MODE_SPECS:
        raise ValueError(f"mode {mode.name!r} is already registered")
    MODE_SPECS[mode.name] = mode
    return mode


for _m in (
    Mode("sisr_invariant", SingleImagePairs(), corrected=False),
    Mode("sisr_corrected", SingleImagePairs(), corrected=True),
    Mode("disr", TargetScale(), corrected=False),
    Mode("disr_corrected", TargetScale(), corrected=True),
    Mode("disr_invariant", GuidedPairs(), corrected=False),
    Mode("disr_invariant_corrected", GuidedPairs(), corrected=True),
):
    register_mode(_m)

#: The built-in training modes by name (:data:`MODE_SPECS` also holds registered ones).
MODES = tuple(MODE_SPECS)


def mode_spec(name: str) -> Mode:
    """Return the :class:`Mode` of a name (``ValueError`` for an unknown one)."""
    try:
        return MODE_SPECS[name]
    except KeyError:
        raise ValueError(f"unknown mode {name!r}; use one of {tuple(MODE_SPECS)}") from None
