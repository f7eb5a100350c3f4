"""Posterior samples as an ArviZ ``InferenceData`` (ArviZ is optional)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..jsonvalues import encode_value
from .extra import import_arviz

__all__ = ["inference_data"]


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
