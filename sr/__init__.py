"""Super-resolution of MODIS LST (1 km -> 250 m) with correction laws as losses and conditioning.

Modules (torch is imported only by those that need it, so ``import sr`` is light):

* :mod:`sr.models` - the model registry :data:`sr.models.MODELS` (``bicubic``, ``resnet``,
  ``unet``, ``disr_unet``), all with a global residual on a cubic first guess
  (``upsample_first_guess``; ``bicubic`` is the Keys ``a = -0.5`` baseline) and FiLM scale
  conditioning;
* :mod:`sr.losses` - pixel, consistency, law (torch structure functions), spectral-slope and
  NDVI-texture losses;
* :mod:`sr.degrade` - torch twin of :func:`scalelaws.grids.degrade_array`;
* :mod:`sr.lawtargets` - correction law -> structure-function targets, LST-NDVI coupling,
  conditioning vectors;
* :mod:`sr.data` - fields, scenes, patches, normalisation (:mod:`sr.normalise`: the one
  ``apply`` / ``invert`` pair);
* :mod:`sr.module` - LightningModule and LightningDataModule of the training modes (:data:`MODE_SPECS`);
* :mod:`sr.train` - configuration (JSON/TOML) and the training driver;
* :mod:`sr.predict` - tiled whole-raster inference written as GeoTIFF/COG or NetCDF;
* :mod:`sr.cli` - ``scalelaws train`` and ``scalelaws predict``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MODES", "Mode", "MODE_SPECS", "mode_spec"]


@dataclass(frozen=True)
class Mode:
    """What a training mode is, as properties (no string comparisons elsewhere).

    Attributes
    ----------
    name
        The mode's name.
    guided
        The network takes the fine NDVI guide (dual-image SR).
    supervised
        Trained on degraded pairs, the observed field being the target (pixel loss): the
        scale-invariant recipe, 4 km -> 1 km for MODIS, applied at 1 km -> 250 m.
        Otherwise the network is trained at the target scale without a fine truth
        (consistency with the observation and the NDVI texture coupling).
    corrected
        The correction law enters: FiLM conditioning, law loss and law texture targets.

    """

    name: str
    guided: bool
    supervised: bool
    corrected: bool

    @property
    def target_band(self) -> bool:
        """A supervised corrected mode also trains a branch on the target band (1 km -> 250 m)."""
        return self.supervised and self.corrected

    @property
    def default_model(self) -> str:
        """Registry name of the default network."""
        return "disr_unet" if self.guided else "unet"


#: Every training mode; each corrected mode has its scale-invariant counterpart.
MODE_SPECS: dict[str, Mode] = {
    m.name: m
    for m in (
        Mode("sisr_invariant", guided=False, supervised=True, corrected=False),
        Mode("sisr_corrected", guided=False, supervised=True, corrected=True),
        Mode("disr", guided=True, supervised=False, corrected=False),
        Mode("disr_corrected", guided=True, supervised=False, corrected=True),
        Mode("disr_invariant", guided=True, supervised=True, corrected=False),
        Mode("disr_invariant_corrected", guided=True, supervised=True, corrected=True),
    )
}

#: The training modes by name.
MODES = tuple(MODE_SPECS)


def mode_spec(name: str) -> Mode:
    """Return the :class:`Mode` of a name (``ValueError`` for an unknown one)."""
    try:
        return MODE_SPECS[name]
    except KeyError:
        raise ValueError(f"unknown mode {name!r}; use one of {MODES}") from None
