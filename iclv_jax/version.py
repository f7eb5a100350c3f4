"""The version of iclv_jax and of the libraries it runs on."""

from __future__ import annotations

import platform

import jax
import jaxlib
import numpy as np
import pandas as pd
import scipy

__all__ = ["__version__", "versions"]

__version__ = "0.1.0"


def versions() -> dict[str, str]:
    """Versions of iclv_jax and the libraries it runs on (written into results files)."""
    return {
        "iclv_jax": __version__,
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scipy": scipy.__version__,
        "python": platform.python_version(),
    }
