"""The results file format: one JSON object per estimation.

::

    {"format": "iclv_jax-results-2",
     "versions": {"iclv_jax": ..., "jax": ..., "jaxlib": ..., "numpy": ..., ...},
     "model": <model_to_dict(model)> or null,
     "draws": {"repr": "Halton(n_draws=500, seed=0, ...)", "class": "Halton",
               "fields": {"n_draws": 500, "seed": 0, ...}},
     "results": {<every Results field but model and draws>}}

``"draws"`` is ``Results.draws``, the record of :mod:`iclv_jax.drawsdict`.  Files of
format ``iclv_jax-results-1`` (where ``"results"`` also held the repr of the draws,
which was ``Results.draws`` then) are read too: their ``"draws"`` record is the same.

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
from typing import TYPE_CHECKING, Any

from .draws import Draws
from .drawsdict import check_draws_record, draws_to_dict
from .jsonvalues import decode_field, encode_field
from .modeldict import model_from_dict, model_to_dict
from .spec import ICLVModel
from .version import versions

if TYPE_CHECKING:
    from .results import Results

__all__ = [
    "FORMAT",
    "READABLE_FORMATS",
    "draws_record",
    "read_results_file",
    "results_fields",
    "results_to_json",
    "save_results",
]

FORMAT = "iclv_jax-results-2"
#: the formats :func:`read_results_file` reads: this one and the one before it
READABLE_FORMATS = (FORMAT, "iclv_jax-results-1")
#: ``Results`` fields stored outside the file's ``"results"`` object
_OUTSIDE = ("model", "draws")


def draws_record(record: dict, draws: Draws | None) -> dict:
    """The file's ``"draws"`` entry: ``record`` (``Results.draws``), or the record of
    ``draws`` (optional), which must have the same repr (it fills in the class and
    fields of a record that has only the repr)."""
    if draws is None:
        return record
    if repr(draws) != record["repr"]:
        raise ValueError(f"draws {draws!r} are not the draws of these results ({record['repr']})")
    return draws_to_dict(draws)


def results_to_json(
    results: Results, model: ICLVModel | None = None, draws: Draws | None = None
) -> dict:
    """The JSON object of the module docstring (``model`` defaults to
    ``results.model``)."""
    model = model if model is not None else results.model
    return {
        "format": FORMAT,
        "versions": versions(),
        "model": model_to_dict(model) if model is not None else None,
        "draws": draws_record(results.draws, draws),
        "results": {
            f.name: encode_field(getattr(results, f.name))
            for f in dataclasses.fields(results)
            if f.name not in _OUTSIDE
        },
    }


def save_results(
    results: Results,
    path: str | os.PathLike,
    model: ICLVModel | None = None,
    draws: Draws | None = None,
) -> Path:
    """Write ``results`` to a JSON file (see the module docstring); returns the path.

    ``model`` defaults to ``results.model``; without either the file has ``"model":
    null``.  ``draws`` (optional) must be the estimation draws; by default the file
    holds ``results.draws``.
    """
    path = Path(path)
    text = json.dumps(results_to_json(results, model, draws), indent=1, allow_nan=False)
    path.write_text(text + "\n")
    return path


def read_results_file(path: str | os.PathLike) -> Mapping:
    """The JSON object of a results file; ``ValueError`` for a format not in
    :data:`READABLE_FORMATS`."""
    payload = json.loads(Path(path).read_text())
    if not isinstance(payload, Mapping) or payload.get("format") not in READABLE_FORMATS:
        raise ValueError(f"{str(path)!r} is not an iclv_jax results file (format {FORMAT})")
    return payload


def results_fields(
    payload: Mapping, fields: Sequence[dataclasses.Field], path: str | os.PathLike
) -> dict:
    """The keyword arguments of ``Results`` (whose dataclass ``fields`` are given) from
    a file's JSON object: each field decoded by its annotation, ``draws`` the file's
    draws record, ``model`` rebuilt from the file's spec when it has one.  A required
    field the file lacks, or a malformed draws record, is a ``ValueError`` naming
    ``path``."""
    values = payload["results"]
    try:
        kwargs: dict[str, Any] = {"draws": check_draws_record(payload.get("draws"))}
    except ValueError as error:
        raise ValueError(f"{str(path)!r}: {error}") from None
    for f in fields:
        if f.name in _OUTSIDE:
            continue
        if f.name not in values:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ValueError(f"{str(path)!r} has no {f.name!r}")
            continue
        kwargs[f.name] = decode_field(str(f.type), values[f.name])
    if payload.get("model") is not None:
        kwargs["model"] = model_from_dict(payload["model"])
    return kwargs
