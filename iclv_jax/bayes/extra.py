"""The optional extra's packages (``pip install 'iclv_jax[bayes]'``), imported where
they are used, each with a clear ``ImportError`` naming the command when missing and
without their import-time notices."""

from __future__ import annotations

import warnings
from typing import Any

from tqdm import TqdmWarning

__all__ = ["INSTALL", "import_arviz", "import_numpyro"]

INSTALL = "pip install 'iclv_jax[bayes]'"


def import_numpyro() -> Any:
    """NumPyro, imported without tqdm's notice that a Jupyter kernel lacks ipywidgets
    (its progress bar then falls back to text)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TqdmWarning)
            import numpyro
            import numpyro.diagnostics
            import numpyro.infer
    except ImportError as error:  # pragma: no cover (the dev extra installs it)
        raise ImportError(f"posterior sampling and diagnostics need NumPyro: {INSTALL}") from error
    return numpyro


def import_arviz() -> Any:
    """The ``arviz`` module.  ArviZ 0.23 warns of its coming refactor (a FutureWarning,
    once a day) when imported: that warning alone is silenced."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning, module=r"arviz(\.|$)")
            import arviz
    except ImportError as error:
        raise ImportError(f"to_arviz needs ArviZ: {INSTALL}") from error
    return arviz
