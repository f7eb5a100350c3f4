"""The posterior file: one ``.npz`` archive (NumPy's zip of arrays).

Entries (read with ``allow_pickle=False``):

- ``samples``: float64 ``(parameters, chains, draws)``, the free parameters in the
  order of ``meta["names"]``;
- ``diverging``: bool ``(chains, draws)``;
- ``meta``: a 0-d string array holding one JSON object::

    {"format": "iclv_jax-posterior-1", "versions": {...}, "names": [...],
     "fixed": {...}, "priors": {...}, "formulation": ..., "draws": {...} or null,
     "sampler": {...}, "mle": {...} or null, "lv_summary": <frame> or null,
     "model": <model_to_dict(model)> or null}

Floats are written with ``repr`` precision and non-finite ones as ``"NaN"``,
``"Infinity"``, ``"-Infinity"`` (:mod:`iclv_jax.jsonvalues`), data frames column by
column with their dtypes, so a round trip is exact.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..jsonvalues import NON_FINITE, decode_field, decode_float, encode_field
from ..modeldict import model_from_dict, model_to_dict
from ..spec import ICLVModel
from ..version import versions

__all__ = ["FORMAT", "read_posterior", "write_posterior"]

FORMAT = "iclv_jax-posterior-1"


def write_posterior(
    path: str | os.PathLike,
    samples: dict[str, np.ndarray],
    diverging: np.ndarray,
    fields: dict[str, Any],
    model: ICLVModel | None,
) -> Path:
    """Write the file of the module docstring at exactly ``path`` (no ``.npz`` is
    appended) and return the path.  ``fields``: fixed, priors, formulation, draws,
    sampler, mle and lv_summary."""
    path = Path(path)
    meta = {
        "format": FORMAT,
        "versions": versions(),
        "names": list(samples),
        **{name: encode_field(value) for name, value in fields.items()},
        "model": model_to_dict(model) if model is not None else None,
    }
    stacked = (
        np.stack([np.asarray(x, dtype=float) for x in samples.values()])
        if samples
        else np.empty((0, *diverging.shape))
    )
    text = json.dumps(meta, allow_nan=False)
    with path.open("wb") as handle:
        np.savez(handle, samples=stacked, diverging=np.asarray(diverging, dtype=bool), meta=text)
    return path


def _decode_plain(value: Any) -> Any:
    """The inverse of :func:`iclv_jax.jsonvalues.encode_value` on JSON data: the
    strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` back to floats, in nested
    mappings and lists too."""
    if isinstance(value, dict):
        return {k: _decode_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_plain(v) for v in value]
    return NON_FINITE.get(value, value) if isinstance(value, str) else value


def read_posterior(path: str | os.PathLike) -> dict[str, Any]:
    """The keyword arguments of ``Posterior`` from a file of :func:`write_posterior`;
    ``ValueError`` naming ``path`` for a file that is not one, or one whose entries
    are missing or malformed."""
    failure = ValueError(f"{str(path)!r} is not a saved iclv_jax posterior (format {FORMAT})")
    try:
        with np.load(path, allow_pickle=False) as archive:
            stacked, diverging = archive["samples"], archive["diverging"]
            meta = json.loads(str(archive["meta"]))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        if not Path(path).is_file():
            raise
        raise failure from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise failure
    try:
        return {
            "samples": dict(zip(meta["names"], stacked, strict=True)),
            "fixed": {k: decode_float(v) for k, v in meta["fixed"].items()},
            "priors": dict(meta["priors"]),
            "formulation": meta["formulation"],
            "draws": meta["draws"],
            "sampler": _decode_plain(meta["sampler"]),
            "diverging": diverging,
            "mle": decode_field("dict[str, float]", meta["mle"]),
            "lv_summary": decode_field("pd.DataFrame", meta["lv_summary"]),
            "model": model_from_dict(meta["model"]) if meta["model"] is not None else None,
        }
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{str(path)!r}: a damaged posterior file ({error!r})") from None
