"""Super-resolution of MODIS LST (1 km -> 250 m) with correction laws as losses and conditioning.

Modules (torch is imported only by those that need it, so ``import sr`` is light):

* :mod:`sr.models` - the model registry :data:`sr.models.MODELS` (``bicubic``, ``resnet``,
  ``unet``, ``disr_unet``), all with a global bicubic residual and FiLM scale conditioning;
* :mod:`sr.losses` - pixel, consistency, law (torch structure functions), spectral-slope and
  NDVI-texture losses;
* :mod:`sr.degrade` - torch twin of :func:`scalelaws.grids.degrade_array`;
* :mod:`sr.lawtargets` - correction law -> structure-function targets, LST-NDVI coupling,
  conditioning vectors;
* :mod:`sr.data` - fields, scenes, patches, normalisation;
* :mod:`sr.module` - LightningModule and LightningDataModule of the four training modes;
* :mod:`sr.train` - configuration (JSON/TOML) and the training driver;
* :mod:`sr.predict` - tiled whole-raster inference written as GeoTIFF/COG or NetCDF;
* :mod:`sr.cli` - ``scalelaws train`` and ``scalelaws predict``.
"""

from __future__ import annotations

__all__ = ["MODES"]

#: The four training modes.
MODES = ("sisr_invariant", "sisr_corrected", "disr", "disr_corrected")
