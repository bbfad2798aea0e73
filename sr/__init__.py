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
* :mod:`sr.modes` - the training modes (:data:`MODE_SPECS`) as small strategy objects, torch-free;
* :mod:`sr.module` - LightningModule (its loss terms: :data:`sr.module.LOSS_TERMS`) and
  LightningDataModule of the training modes;
* :mod:`sr.train` - configuration (JSON/TOML) and the training driver;
* :mod:`sr.predict` - tiled whole-raster inference written as GeoTIFF/COG or NetCDF;
* :mod:`sr.cli` - ``scalelaws train`` and ``scalelaws predict``.
"""

from __future__ import annotations

from sr.modes import MODE_SPECS, MODES, Mode, mode_spec, register_mode

__all__ = ["MODES", "Mode", "MODE_SPECS", "mode_spec", "register_mode"]
