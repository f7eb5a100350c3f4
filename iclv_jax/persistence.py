"""Saving and loading results: :func:`save_results`, :func:`load_results`.

The file format is described in :mod:`iclv_jax.resultsfile`; model specifications
as data are in :mod:`iclv_jax.modeldict` (their schema in :mod:`iclv_jax.modelschema`),
draws as data in :mod:`iclv_jax.drawsdict` and tables as Markdown/LaTeX text in
:mod:`iclv_jax.tables`.  Their public names are re-exported here, where they used to
live.
"""

from __future__ import annotations

import dataclasses
import os

from .drawsdict import draws_from_dict, draws_from_repr, draws_to_dict
from .modeldict import model_from_dict, model_to_dict
from .modelschema import check_model_dict
from .results import Results
from .resultsfile import FORMAT, read_results_file, results_fields, save_results
from .tables import table_to_latex, table_to_markdown
from .version import versions

__all__ = [
    "FORMAT",
    "check_model_dict",
    "draws_from_dict",
    "draws_from_repr",
    "draws_to_dict",
    "load_results",
    "model_from_dict",
    "model_to_dict",
    "save_results",
    "table_to_latex",
    "table_to_markdown",
    "versions",
]


def load_results(path: str | os.PathLike) -> Results:
    """Read a file written by :meth:`Results.save` / :func:`save_results`.

    Returns a :class:`Results` equal to the saved one (``model`` set from the file's
    spec when it has one).  ``Results.draws`` is the draws record; recreate the
    object with :func:`draws_from_dict`.  Reads the previous format too (see
    :mod:`iclv_jax.resultsfile`).  Raises ``ValueError`` for another format.
    """
    payload = read_results_file(path)
    return Results(**results_fields(payload, dataclasses.fields(Results), path))
