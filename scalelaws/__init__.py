"""scalelaws: multiscale statistics of LST and NDVI fields and correction laws across scales."""

from __future__ import annotations

__version__ = "0.1.0"
