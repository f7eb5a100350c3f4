"""Prediction: choice probabilities with the LVs integrated out, and market shares.

For situation ``t`` of person ``n`` and outcome ``k``,

    P(y_nt = k) = sum_r w_nr P(y_nt = k | eta_nr),

with ``w_nr`` the draws' prior or posterior weights
(:func:`~iclv_jax.posterior.log_posterior_weights`).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import pandas as pd

from .posterior import log_posterior_weights, weighting_mode
from .posthoc import frame_rows, map_people, model_of, prediction_frame, setup_problem
from .spec import ICLVModel

__all__ = [
    "market_shares",
    "outcome_labels",
    "outcome_probabilities",
    "predict",
    "prediction_setup",
    "probabilities",
]


def outcome_probabilities(choice, base, eta, available):
    """``P(y_t = k | eta)`` for every situation ``t`` and outcome ``k``, shape ``(T, K)``.

    MNL: ``exp(V_tk) / sum_{j available} exp(V_tj)`` (0 if ``k`` is unavailable);
    binary probit: ``(Phi(-V_t), Phi(V_t))`` for ``y = 0, 1``; ordered probit:
    ``Phi(tau_k - V_t) - Phi(tau_{k-1} - V_t)`` for levels ``k = 1..J``.
    """
    return choice.probabilities(base, eta, available)


def outcome_labels(model: ICLVModel) -> list:
    """Column labels of :func:`predict`: MNL alternative names, ``0, 1`` for binary
    probit, levels ``1..J`` for ordered choice."""
    return model.choice.outcome_labels()


def probabilities(likelihood, u, mode: str, multiplier=None):
    """``(N, T, K)`` probabilities ``sum_r w_nr P(y_nt = k | eta_nr)``; ``multiplier``
    ``(J, P)`` rescales the design (for elasticities)."""
    if multiplier is not None:
        likelihood = eqx.tree_at(
            lambda lik: lik.panel.design, likelihood, likelihood.panel.design * multiplier
        )

    def person(components, p, zeta, log_weights):
        choice = components[3]
        eta, log_w = log_posterior_weights(components, p, zeta, log_weights, mode)
        probs = jax.vmap(lambda e: choice.person_probabilities(p, e))(eta)
        return jnp.einsum("r,rtk->tk", jnp.exp(log_w), probs)

    return map_people(person, likelihood, u)


_probabilities_jit = eqx.filter_jit(probabilities)


def prediction_setup(results, model, data, draws, conditional):
    """What :func:`predict` and :func:`~iclv_jax.elasticity.elasticities` share:
    ``(model, outcome labels, weighting mode, prediction frame, problem, internal
    estimates)``."""
    model = model_of(results, model)
    mode = weighting_mode(conditional)
    frame = prediction_frame(
        model, data, need_indicators=mode != "prior", need_choice=mode == "all"
    )
    problem, u = setup_problem(results, model, frame, draws)
    return model, outcome_labels(model), mode, frame, problem, u


def predict(
    results, model: ICLVModel | None, data: pd.DataFrame, draws=None, conditional=False
) -> pd.DataFrame:
    """Choice probabilities of every row of ``data`` with the LVs integrated out.

    Unconditional (default): ``P(y_nt = k) = sum_r w_r P(y_nt = k | eta_nr)``, the LVs
    drawn from the structural model given the person's covariates; indicators and
    choices in ``data`` are not used and may be absent (see
    :func:`~iclv_jax.posthoc.prediction_frame`), as may the person-id column (each row
    is then its own person).
    ``conditional="indicators"`` (or ``True``) weights the draws by the posterior given
    each person's indicators, ``w_nr = softmax_r(log w_r + m_nr)``; ``"all"`` given
    indicators and observed choices (``+ c_nr``), an in-sample quantity.

    Returns:
        DataFrame with ``data``'s index and one column per outcome (see
        :func:`outcome_labels`): MNL alternative names, ``0, 1`` for binary probit
        (column ``1`` is ``P(y = 1)``), levels ``1..J`` for ordered choice.  Rows sum
        to 1.
    """
    model, labels, mode, frame, problem, u = prediction_setup(
        results, model, data, draws, conditional
    )
    probs = _probabilities_jit(problem.likelihood, u, mode)
    return pd.DataFrame(
        frame_rows(model, frame, probs), index=data.index, columns=pd.Index(labels, name="outcome")
    )


def market_shares(
    results, model: ICLVModel | None, data: pd.DataFrame, draws=None, conditional=False
) -> pd.Series:
    """Predicted market shares: the mean of :func:`predict` over the rows of ``data``,
    ``S_k = (1 / #rows) sum_{n,t} P(y_nt = k)``."""
    return predict(results, model, data, draws, conditional).mean(axis=0).rename("share")
