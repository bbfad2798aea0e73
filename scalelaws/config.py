"""Package-wide settings: where the real data lives.

The real data is found through one setting, the environment variable ``SCALELAWS_DATA``.
Its default is ``../shared/data`` relative to the current working directory (the layout of a
checkout beside its ``shared`` folder); a relative value is also taken from the working directory.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_DATA = "SCALELAWS_DATA"
DEFAULT_DATA = "../shared/data"


def data_dir() -> Path:
    """Return the root of the real data (it may not exist).

    Returns
    -------
    pathlib.Path
        ``$SCALELAWS_DATA`` or ``../shared/data``, resolved against the working directory.

    """
    return Path(os.environ.get(ENV_DATA, DEFAULT_DATA)).expanduser().resolve()


def has_data(subdir: str = "") -> bool:
    """Whether the real data (or one sub-folder of it) is present."""
    return (data_dir() / subdir).is_dir()
