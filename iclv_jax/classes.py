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
from .drawterms import draw_terms
from .estimation import Problem, estimate
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


def _spreads(
    estimates: dict[str, float], se: dict[str, float], names: set[str], classes: int, spread: float
) -> dict[str, np.ndarray]:
    """``base name -> class offsets`` ``d_p (2 (c - 1) / (C - 1) - 1)``, ``c = 1..C``, with
    ``d_p = spread max(|b_p|, s_p)`` for every class-specific base parameter."""
    positions = np.linspace(-1.0, 1.0, classes) if classes > 1 else np.zeros(1)
    return {
        name: spread * max(abs(value), se[name]) * positions
        for name, value in estimates.items()
        if class_parameter(name, 1) in names
    }


def _patterns(names: list[str], ordering: str | None, patterns: int, seed: int) -> np.ndarray:
    """Sign patterns ``[K, len(names)]`` for the class offsets: all ``2^k`` (one overall
    sign dropped, it relabels the classes; the ordering parameter's sign kept ``+``) if
    at most ``patterns``, else ``patterns`` drawn at random with ``seed``."""
    free = [i for i, name in enumerate(names) if name != ordering]
    if ordering is None and free:
        free = free[1:]  # the first parameter's sign only relabels the classes
    n = len(free)
    if 2**n <= patterns:
        bits = (np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1
    else:
        bits = np.random.default_rng(seed).integers(0, 2, (patterns, n))
    signs = np.ones((len(bits), len(names)))
    signs[:, free] = 1.0 - 2.0 * bits
    return signs


def latent_class_start(
    model: ICLVModel,
    data: pd.DataFrame,
    draws=100,
    spread: float = 0.5,
    patterns: int = 64,
    seed: int = 0,
    **options,
) -> dict[str, float]:
    """Starting values for a latent-class model that do not collapse to one class.

    Estimates the one-class model (the base choice model, the same LVs and
    measurement), then spreads each class-specific estimate ``b_p`` (SE ``s_p``) over
    the classes ``c = 1..C`` as ``b_p + sign_p d_p (2 (c - 1) / (C - 1) - 1)``,
    ``d_p = spread max(|b_p|, s_p)``, and keeps the sign pattern ``sign_p = +-1`` (the
    ordering parameter's ``+``, so the ordering holds; at most ``patterns`` patterns,
    drawn with ``seed`` beyond) with the highest latent-class log-likelihood: the
    classes differ along the direction the data favour, not an arbitrary one.  Shared
    and other parameters keep the one-class estimate, membership coefficients start
    at 0.  ``options`` go to :func:`~iclv_jax.estimate` for the one-class fit.
    """
    _class_labels(model)
    choice = cast(LatentClass, model.choice)
    one_class = dataclasses.replace(model, choice=choice.base)
    fitted = estimate(one_class, data, draws, **{"verbose": False, **options})
    se = fitted.table["se"].reindex(list(fitted.estimates)).to_numpy(dtype=float)
    se = dict(zip(fitted.estimates, np.where(np.isfinite(se), se, 0.0), strict=True))
    problem = Problem(model, data, draws)
    names = set(problem.space.names)
    common = {name: float(value) for name, value in fitted.estimates.items() if name in names}
    offsets = _spreads(fitted.estimates, se, names, choice.classes, spread)
    spread_names = list(offsets)

    def candidate(signs: np.ndarray) -> dict[str, float]:
        start = dict(common)
        for sign, name in zip(signs, spread_names, strict=True):
            for c, offset in enumerate(offsets[name], start=1):
                start[class_parameter(name, c)] = float(fitted.estimates[name] + sign * offset)
        return start

    candidates = [
        candidate(signs) for signs in _patterns(spread_names, choice.ordering, patterns, seed)
    ]
    loglikes = [problem.loglike(start) for start in candidates]
    return candidates[int(np.nanargmax(loglikes))]
