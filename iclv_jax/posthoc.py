"""The set-up shared by the post-estimation functions that read data.

From estimated parameter values (a :class:`~iclv_jax.results.Results` or a dict), a
model, data and draws to the :class:`~iclv_jax.estimation.Problem` on those data and
the free internal vector ``u`` of the estimates; a per-person map of the likelihood's
pieces at ``u``; the data completed with placeholder columns for prediction; and the
way back from the ``(people, situations)`` panel to the rows of the data.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from .data import DataError, person_index, situation_slots
from .draws import Draws, as_draws
from .drawsdict import draws_from_dict
from .estimation import Problem
from .results import Results
from .spec import ICLVModel

__all__ = [
    "draws_of",
    "frame_rows",
    "map_people",
    "model_of",
    "parameters_of",
    "prediction_frame",
    "setup_problem",
]


def model_of(results, model) -> ICLVModel:
    """``model``, or where it is ``None`` the model the results carry."""
    model = model if model is not None else getattr(results, "model", None)
    if model is None:
        raise ValueError("pass the model: these results do not carry it (results.model is None)")
    return model


def draws_of(results, draws) -> Draws:
    """``draws`` as a draws object, or where it is ``None`` the estimation's draws
    recreated from ``results.draws`` (:func:`~iclv_jax.drawsdict.draws_from_dict`)."""
    if draws is not None:
        return as_draws(draws)
    if not isinstance(results, Results):
        raise ValueError("pass draws= when giving parameter values instead of results")
    return draws_from_dict(results.draws)


def parameters_of(results) -> dict[str, float]:
    """Every parameter's reported value, ``name -> float``, from results or a dict."""
    if isinstance(results, Results):
        return dict(results.estimates)
    if isinstance(results, Mapping):
        return {k: float(v) for k, v in results.items()}
    raise TypeError(f"expected Results or a dict of parameter values, not {type(results).__name__}")


def setup_problem(results, model, data, draws) -> tuple[Problem, jnp.ndarray]:
    """The problem on ``data`` and the free internal vector of the estimates."""
    problem = Problem(model, data, draws_of(results, draws))
    params = parameters_of(results)
    names = set(problem.space.names)
    missing = sorted(names - set(params))
    extra = sorted(set(params) - names)
    if missing or extra:
        raise ValueError(
            f"the parameter values do not fit the model: missing {missing}, unknown {extra}"
        )
    adapt = getattr(problem, "adapt", None)
    if adapt is not None:  # adaptive quadrature: nodes centred at these parameters
        adapt(params)
    return problem, problem.free_internal(params)


def _row_positions(model: ICLVModel, data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(person index, situation slot)`` of every row of ``data`` in its order, as
    :func:`iclv_jax.prepare_data` lays the panel out (:func:`~iclv_jax.data.person_index`,
    rows kept in order)."""
    person = person_index(data, model.person_id)[1]
    return person, situation_slots(person)


def prediction_frame(
    model: ICLVModel, data: pd.DataFrame, need_indicators: bool, need_choice: bool = False
) -> pd.DataFrame:
    """``data`` completed with placeholder columns the likelihood set-up requires but an
    unconditional prediction does not read.

    - no person-id column: every row is its own person (ids ``0..rows-1``);
    - no choice column (only where ``need_choice`` is false): the first available
      alternative (MNL), ``0`` (binary), or levels ``1..J`` in turn (ordered; in turn so
      that the set-up's default thresholds are increasing);
    - no indicator column (only where ``need_indicators`` is false): levels ``1..J``
      in turn over people (ordered), ``0.0`` (continuous).

    The placeholders never enter an unconditional prediction: only the structural
    model, the covariates and the attributes do.  Raises :class:`DataError` where a
    column that is needed is missing.
    """
    filled: dict[str, object] = {}
    if model.person_id in data.columns:
        person = person_index(data, model.person_id)[1]
    else:
        person = filled[model.person_id] = np.arange(len(data))
    for column, placeholder in model.choice.placeholders(data).items():
        if column not in data.columns:
            if need_choice:
                raise DataError(
                    f"column {column!r} (choice) is not in the data; "
                    "conditioning on choices needs it"
                )
            filled[column] = placeholder()
    for ind in model.indicators:
        if ind.name not in data.columns:
            if need_indicators:
                raise DataError(
                    f"column {ind.name!r} (indicator) is not in the data; "
                    "conditioning on indicators needs it"
                )
            filled[ind.name] = 1 + person % ind.n_levels if ind.ordered else 0.0
    return data.assign(**filled) if filled else data


def frame_rows(model: ICLVModel, data: pd.DataFrame, array) -> np.ndarray:
    """The ``(N, T, ...)`` panel ``array`` read back at the rows of ``data``, in order:
    ``array[person_i, slot_i]`` for row ``i``."""
    person, slot = _row_positions(model, data)
    return np.asarray(array)[person, slot]


def map_people(fn, likelihood, u):
    """``fn(components, person, zeta, log_weights)`` for every real person, the
    components at ``u``: in the likelihood's chunks (``lax.map`` over chunks, ``vmap``
    within) on every device's block of people (see
    :meth:`~iclv_jax.likelihood.SimulatedLikelihood.map_people`).  The log
    weights are the person's ``(R,)`` row: shared by everyone (simulation, quadrature)
    or per person (adaptive quadrature)."""

    def chunk(v, panel, zeta, log_weights):
        components = likelihood.components(v)
        return jax.vmap(lambda p, z, w: fn(components, p, z, w))(panel, zeta, log_weights)

    return likelihood.map_people(chunk, u)
