"""Latent classes after and before estimation: each person's posterior class
probabilities, and starting values spread from the one-class estimates.

Posterior (Bayes over classes and draws, the indicators' terms ``m_nr`` included):

    P(c | data_n) = sum_r w_r exp(m_nr) pi_c(z_n, eta_nr) L_nc,r
                    / sum_r w_r exp(m_nr) sum_c pi_c(z_n, eta_nr) L_nc,r,

with ``L_nc,r = prod_t P_c(y_nt | eta_nr)`` (see
:class:`~iclv_jax.components.LatentClass`).
"""

from __future__ import annotations

import dataclasses
from typing import cast

import equinox as eqx
import numpy as np
import pandas as pd
from jax.nn import logsumexp

from .components.latent_class import LatentClass, class_parameter
from .estimation import Problem, estimate
from .likelihood import draw_terms
from .posthoc import map_people, model_of, setup_problem
from .spec import ICLVModel

__all__ = ["latent_class_start", "posterior_classes"]


def _class_labels(model: ICLVModel) -> list[str]:
    """The model's class labels; a model without latent classes is refused."""
    labels = getattr(model.choice, "class_labels", None)
    if labels is None:
        raise ValueError(
            f"the choice model ({model.choice.kind!r}) has no latent classes: use "
            "ij.LatentClass(base, classes=C)"
        )
    return labels()


def log_class_posterior(components, person, zeta, log_weights):
    """``log P(c | data_n)`` ``(C,)`` of one person: ``log w_r + m_nr + log pi_c +
    sum_t log P_c(y_t)``, normalised over ``(c, r)`` and summed over ``r``."""
    eta, measurement, _ = draw_terms(components, person, zeta)
    joint = components[3].class_log_terms(person, eta) + (measurement + log_weights)[None, :]
    return logsumexp(joint, axis=1) - logsumexp(joint)


_posterior_jit = eqx.filter_jit(
    lambda likelihood, u: map_people(log_class_posterior, likelihood, u)
)


def posterior_classes(
    results, model: ICLVModel | None, data: pd.DataFrame, draws=None
) -> pd.DataFrame:
    """Posterior class probabilities of every person (see the module docstring).

    Args:
        results: :class:`~iclv_jax.results.Results` or a dict of every parameter's value.
        model: the specification (``None``: ``results.model``).
        data: the estimation data or new data with the same columns (choices and
            indicators are conditioned on).
        draws: draws object or count (default: the estimation's).

    Returns:
        DataFrame indexed by person id (sorted), one column per class
        (``class1 .. classC``); rows sum to 1.
    """
    model = model_of(results, model)
    labels = _class_labels(model)
    problem, u = setup_problem(results, model, data, draws)
    log_post = np.asarray(_posterior_jit(problem.likelihood, u))
    return pd.DataFrame(
        np.exp(log_post),
        index=pd.Index(problem.panel.person_ids, name=model.person_id),
        columns=pd.Index(labels, name="class"),
    )


def latent_class_start(
    model: ICLVModel, data: pd.DataFrame, draws=100, spread: float = 1.0, **options
) -> dict[str, float]:
    """Starting values for a latent-class model that do not collapse to one class.

    Estimates the one-class model (the base choice model, the same LVs and
    measurement) and copies each class-specific estimate ``b`` (SE ``s``) to class
    ``c = 1..C`` as ``b + spread s (2 (c - 1) / (C - 1) - 1)`` (from ``b - spread s`` to
    ``b + spread s``, increasing, so an ordering constraint holds); shared and other
    parameters keep the one-class estimate, the membership coefficients start at 0.
    ``options`` go to :func:`~iclv_jax.estimate` for the one-class fit.
    """
    _class_labels(model)
    choice = cast(LatentClass, model.choice)
    one_class = dataclasses.replace(model, choice=choice.base)
    fitted = estimate(one_class, data, draws, **{"verbose": False, **options})
    se = fitted.table["se"].reindex(list(fitted.estimates)).to_numpy(dtype=float)
    se = dict(zip(fitted.estimates, np.where(np.isfinite(se), se, 0.1), strict=True))
    names = set(Problem(model, data, draws).space.names)
    start: dict[str, float] = {}
    positions = np.linspace(-1.0, 1.0, choice.classes) if choice.classes > 1 else np.zeros(1)
    for name, value in fitted.estimates.items():
        if name in names:
            start[name] = float(value)
        for c, position in enumerate(positions, start=1):
            if class_parameter(name, c) in names:
                start[class_parameter(name, c)] = float(value + spread * se[name] * position)
    return start
