"""The results file format: one JSON object per estimation.

::

    {"format": "iclv_jax-results-1",
     "versions": {"iclv_jax": ..., "jax": ..., "jaxlib": ..., "numpy": ..., ...},
     "model": <model_to_dict(model)> or null,
     "draws": {"repr": "Halton(n_draws=500, seed=0, ...)", "class": "Halton",
               "fields": {"n_draws": 500, "seed": 0, ...}},
     "results": {<every Results field but model>}}

Data frames (table, covariance matrices, history) are stored column by column with
their dtypes and index; floats are written with ``repr`` precision, so a save/load
round trip is exact.  Non-finite floats, which strict JSON lacks, are written as the
strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` (:mod:`iclv_jax.jsonvalues`).

This module writes a :class:`~iclv_jax.results.Results` and decodes its fields; it
needs the class only for typing, so ``Results.save`` can call it.
:func:`iclv_jax.persistence.load_results` builds the ``Results``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .draws import Draws
from .drawsdict import draws_from_repr, draws_to_dict
from .jsonvalues import decode_field, encode_field
from .modeldict import model_from_dict, model_to_dict
from .spec import ICLVModel
from .version import versions

if TYPE_CHECKING:
    from .results import Results

__all__ = ["FORMAT", "draws_record", "read_results_file", "results_fields", "results_to_json",
           "save_results"]

FORMAT = "iclv_jax-results-1"


def draws_record(draws_repr: str, draws: Draws | None) -> dict:
    """The file's ``"draws"`` entry for draws whose repr is ``draws_repr``.

    ``draws`` (optional) must have that repr; without it the object is rebuilt with
    :func:`draws_from_repr`, and when that fails only the repr is kept (``"class"``
    and ``"fields"`` null).
    """
    if draws is not None:
        if repr(draws) != draws_repr:
            raise ValueError(f"draws {draws!r} are not the draws of these results "
                             f"({draws_repr})")
        return draws_to_dict(draws)
    try:
        return draws_to_dict(draws_from_repr(draws_repr))
    except (ValueError, TypeError):
        return {"repr": draws_repr, "class": None, "fields": None}


def results_to_json(results: Results, model: ICLVModel | None = None,
                    draws: Draws | None = None) -> dict:
    """The JSON object of the module docstring (``model`` defaults to
    ``results.model``)."""
    model = model if model is not None else results.model
    return {
        "format": FORMAT,
        "versions": versions(),
        "model": model_to_dict(model) if model is not None else None,
        "draws": draws_record(results.draws, draws),
        "results": {f.name: encode_field(getattr(results, f.name))
                    for f in dataclasses.fields(results) if f.name != "model"},
    }


def save_results(results: Results, path: str | os.PathLike, model: ICLVModel | None = None,
                 draws: Draws | None = None) -> Path:
    """Write ``results`` to a JSON file (see the module docstring); returns the path.

    ``model`` defaults to ``results.model``; without either the file has ``"model":
    null``.  ``draws`` (optional) must be the estimation draws; by default they are
    recreated from ``results.draws``.
    """
    path = Path(path)
    text = json.dumps(results_to_json(results, model, draws), indent=1, allow_nan=False)
    path.write_text(text + "\n")
    return path


def read_results_file(path: str | os.PathLike) -> Mapping:
    """The JSON object of a results file; ``ValueError`` for another format."""
    payload = json.loads(Path(path).read_text())
    if not isinstance(payload, Mapping) or payload.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not an iclv_jax results file (format {FORMAT})")
    return payload


def results_fields(payload: Mapping, fields: Sequence[dataclasses.Field],
                   path: str | os.PathLike) -> dict:
    """The keyword arguments of ``Results`` (whose dataclass ``fields`` are given) from
    a file's JSON object: each field decoded by its annotation, ``model`` rebuilt from
    the file's spec when it has one.  A required field the file lacks is a
    ``ValueError`` naming ``path``."""
    values = payload["results"]
    kwargs = {}
    for f in fields:
        if f.name == "model":
            continue
        if f.name not in values:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ValueError(f"{str(path)!r} has no {f.name!r}")
            continue
        kwargs[f.name] = decode_field(str(f.type), values[f.name])
    if payload.get("model") is not None:
        kwargs["model"] = model_from_dict(payload["model"])
    return kwargs
