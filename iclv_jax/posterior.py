"""Posterior weights of the draws, and the posterior (conditional) LVs of every person.

Person ``n``'s draws ``r`` carry the log integration weight ``log w_r``, the measurement
and choice log-terms ``m_nr`` and ``c_nr`` (:func:`~iclv_jax.drawterms.draw_terms`);
conditioning on a person's data reweights them by importance sampling with the
structural model as proposal,

    w_nr = softmax_r( log w_r [+ m_nr [+ c_nr]] ).
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pandas as pd
from jax.nn import logsumexp

from .drawterms import draw_terms
from .posthoc import map_people, model_of, prediction_frame, setup_problem
from .spec import ICLVModel

__all__ = [
    "CONDITIONAL",
    "log_posterior_weights",
    "posterior_lv",
    "posterior_moments",
    "weighting_mode",
]

CONDITIONAL = (False, "indicators", "all")


def weighting_mode(conditional) -> str:
    """The draws' weighting for ``conditional``: ``False`` -> ``"prior"``, ``True`` or
    ``"indicators"`` -> ``"indicators"``, ``"all"`` -> ``"all"``."""
    if conditional is True:
        return "indicators"
    if conditional not in CONDITIONAL:
        raise ValueError(
            f"conditional must be one of {CONDITIONAL} (True = 'indicators'), got {conditional!r}"
        )
    return "prior" if conditional is False else conditional


def log_posterior_weights(components, person, zeta, log_weights, mode: str):
    """``eta`` ``(R, L)``, and ``log w_nr`` normalised over ``r`` for ``mode``:
    ``prior`` (``log w_r``), ``indicators`` (``+ m_nr``) or ``all`` (``+ m_nr + c_nr``)."""
    eta, measurement, choices = draw_terms(components, person, zeta)
    log_w = log_weights
    if mode in ("indicators", "all"):
        log_w = log_w + measurement
    if mode == "all":
        log_w = log_w + choices
    return eta.T, log_w - logsumexp(log_w)


@eqx.filter_jit
def posterior_moments(likelihood, u, mode: str):
    """Per person the posterior mean ``sum_r w_nr eta_nr`` and SD of the LVs and the
    effective number of draws ``1 / sum_r w_nr^2``, the weights of ``mode``."""

    def person(components, p, zeta, log_weights):
        eta, log_w = log_posterior_weights(components, p, zeta, log_weights, mode)
        w = jnp.exp(log_w)[:, None]
        mean = (w * eta).sum(axis=0)
        sd = jnp.sqrt((w * (eta - mean) ** 2).sum(axis=0))
        return mean, sd, 1.0 / (jnp.exp(log_w) ** 2).sum()

    return map_people(person, likelihood, u)


def posterior_lv(
    results,
    model: ICLVModel | None,
    data: pd.DataFrame,
    draws=None,
    choices: bool = True,
    ess: bool = False,
) -> pd.DataFrame:
    """Conditional (posterior) means and SDs of the LVs of every person.

    Given person ``n``'s indicators and (with ``choices=True``) choices, by importance
    sampling with the structural model as proposal:

        w_nr = softmax_r( log w_r + m_nr [+ c_nr] ),
        E[eta_n | data]  = sum_r w_nr eta_nr,
        SD[eta_n | data] = sqrt( sum_r w_nr (eta_nr - E[eta_n | data])^2 ).

    The Monte-Carlo error grows as the effective number of draws
    ``1 / sum_r w_nr^2`` falls (``ess=True`` adds it as a column ``ess``).

    Args:
        results: :class:`~iclv_jax.results.Results` or a dict of parameter values (every parameter).
        model: the specification (``None``: ``results.model``).
        data: the estimation data or new data with the same columns.
        draws: draws object or count (default: the draws of the estimation, recreated
            from ``results.draws``).
        choices: condition on the choices too (default), or on the indicators only.

    Returns:
        DataFrame indexed by person id (sorted), columns ``<lv>_mean``, ``<lv>_sd`` per
        LV (in topological order).
    """
    model = model_of(results, model)
    if not model.latent_variables:
        raise ValueError("the model has no latent variables: there is no posterior to compute")
    frame = data if choices else prediction_frame(model, data, need_indicators=True)
    problem, u = setup_problem(results, model, frame, draws)
    mode = "all" if choices else "indicators"
    mean, sd, effective = (np.asarray(a) for a in posterior_moments(problem.likelihood, u, mode))
    columns = {}
    for l, lv in enumerate(model.lv_names):
        columns[f"{lv}_mean"] = mean[:, l]
        columns[f"{lv}_sd"] = sd[:, l]
    if ess:
        columns["ess"] = effective
    return pd.DataFrame(columns, index=pd.Index(problem.panel.person_ids, name=model.person_id))
