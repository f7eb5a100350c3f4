"""Posterior samples as an ArviZ ``InferenceData`` (ArviZ is optional)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..jsonvalues import encode_value

__all__ = ["import_arviz", "inference_data"]

INSTALL = "pip install 'iclv_jax[bayes]'"


def import_arviz() -> Any:
    """The ``arviz`` module; ``ImportError`` with the pip command when it is missing.
    ArviZ 0.23 warns of its coming refactor (a FutureWarning, once a day) when
    imported: that warning alone is silenced."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning, module=r"arviz(\.|$)")
            import arviz
    except ImportError as error:
        raise ImportError(f"to_arviz needs ArviZ: {INSTALL}") from error
    return arviz


def inference_data(
    samples: Mapping[str, np.ndarray], diverging: np.ndarray, attrs: Mapping[str, Any]
) -> Any:
    """``arviz.InferenceData`` with a ``posterior`` group (one variable per parameter,
    dimensions ``chain, draw``) and ``sample_stats`` holding ``diverging``; ``attrs``
    (JSON-able) are stored on both groups, entries that are not strings or numbers as
    JSON text."""
    arviz = import_arviz()
    plain = {
        k: v if isinstance(v, str | int | float) else json.dumps(encode_value(v))
        for k, v in attrs.items()
    }
    return arviz.from_dict(
        posterior={name: np.asarray(x) for name, x in samples.items()},
        sample_stats={"diverging": np.asarray(diverging, dtype=bool)},
        posterior_attrs=plain,
        sample_stats_attrs=dict(plain),
    )
