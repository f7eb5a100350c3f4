"""The drivers: per-person log-likelihoods and scores, and their sum, by hand-written
derivatives chunk by chunk (see :mod:`iclv_jax.analytic`)."""

from __future__ import annotations

from typing import cast

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.nn import logsumexp, softmax

from ..components import AbstractChoice
from ..likelihood import SimulatedLikelihood
from ..placement import PanelArrays
from .scores import CUSTOM_NOT_COVERED, DEFAULT, AnalyticScores

__all__ = ["loglike_and_grad", "per_person_and_scores"]


def _person(scores: AnalyticScores, components, person: PanelArrays, zeta, log_weights):
    """``(log L_n, field gradients)`` for one person (one dict per component, keyed by
    its field names); ``zeta`` is ``(R, L)``."""
    structural, ordered, continuous, choice = components
    base = choice.base_utility(person.design)

    def draw(z):
        eta = structural(person.covariates, z)
        items = ordered.log_prob(eta, person.ordered_levels)
        choices = choice.log_prob(base, eta, person.chosen, person.available)
        loglike = (
            items.sum()
            + continuous.log_prob(eta, person.continuous_values).sum()
            + jnp.where(person.situation_mask, choices, 0.0).sum()
        )

        o = scores.ordered(ordered, eta, person.ordered_levels, items)
        c = scores.continuous(continuous, eta, person.continuous_values)
        ch = scores.choice(
            choice, base, eta, person.chosen, person.available, person.situation_mask, choices
        )
        d_eta = o.eta + c.eta + ch.eta
        d_gamma, d_b = scores.structural(structural, eta, z, person.covariates, d_eta)
        d_sigma = scores.structural_scale(structural, z, d_eta)
        d_intercept = scores.structural_intercept(structural, d_eta)
        fields = (
            {"gamma": d_gamma, "b": d_b, "intercept": d_intercept, "sigma": d_sigma},
            {
                "loadings": o.loadings,
                "cuts": o.cuts,
                "intercepts": o.intercepts,
                "scales": o.scales,
            },
            {"intercepts": c.intercepts, "loadings": c.loadings, "sigmas": c.sigmas},
            {"utility": ch.utility, "theta": ch.theta, "scale": ch.scale, **ch.own},
        )
        return loglike, fields

    loglikes, per_draw = jax.vmap(draw)(zeta)
    shifted = loglikes + log_weights
    weights = softmax(shifted) * person.weight
    structural_f, ordered_f, continuous_f, choice_f = jax.tree.map(
        lambda g: jnp.tensordot(weights, g, axes=1), per_draw
    )
    linear_columns = person.design[..., : choice.beta.shape[0]]
    choice_f["beta"] = scores.beta(linear_columns, choice_f.pop("utility"))
    return logsumexp(shifted) * person.weight, (structural_f, ordered_f, continuous_f, choice_f)


def _chunk(
    likelihood: SimulatedLikelihood, scores: AnalyticScores, free_internal, panel, zeta, log_weights
):
    """``(log L_n, field gradients)`` for every person of a chunk."""
    return jax.vmap(_person, in_axes=(None, None, 0, 0, 0))(
        scores, likelihood.components(free_internal), panel, zeta, log_weights
    )


def _to_free(
    likelihood: SimulatedLikelihood, scores: AnalyticScores, free_internal, fields: tuple[dict, ...]
):
    n_params = likelihood.to_reported.fixed_internal.shape[0]
    d_reported = scores.gather(likelihood.layout, fields, n_params)
    return scores.transform(likelihood.to_reported, free_internal, d_reported)


def _check_covered(likelihood: SimulatedLikelihood, uncovered: bool) -> None:
    """Refuse a model with custom utility terms (their own parameters would get NaN
    scores) unless the caller takes NaN as "not covered" (``uncovered=True``)."""
    static = dict(likelihood.layout.choice.static)
    if static.get("custom_terms") and not uncovered:
        raise NotImplementedError(CUSTOM_NOT_COVERED)
    kernel = cast(type[AbstractChoice], likelihood.layout.choice.component)
    if not kernel.analytic_scores:
        raise NotImplementedError(
            f"analytic scores do not cover the choice kernel {kernel.__name__}; "
            "use gradient='autodiff'"
        )


@eqx.filter_jit
def per_person_and_scores(
    likelihood: SimulatedLikelihood, free_internal, scores: AnalyticScores = DEFAULT
):
    """``(log L_n [N], d log L_n / du [N, F])`` for every real person, by hand-written
    derivatives (same contract as :meth:`SimulatedLikelihood.per_person_and_scores`).

    Evaluated in chunks of ``likelihood.chunk_size`` people (``lax.map``) on every
    device's block of people.  ``scores`` replaces the per-component derivatives (see
    the module docstring).
    """

    _check_covered(likelihood, False)

    def chunk_scores(u, panel, zeta, log_weights):
        values, fields = _chunk(likelihood, scores, u, panel, zeta, log_weights)
        return values, jax.vmap(lambda f: _to_free(likelihood, scores, u, f))(fields)

    return likelihood.map_people(chunk_scores, free_internal)


@eqx.filter_jit
def loglike_and_grad(
    likelihood: SimulatedLikelihood,
    free_internal,
    scores: AnalyticScores = DEFAULT,
    uncovered: bool = False,
):
    """``(log L, d log L / du)`` by hand-written derivatives.

    Field gradients are summed over people chunk by chunk (``lax.map``) and over
    devices, and mapped to the free internal space once.  ``scores`` replaces the
    per-component derivatives.  ``uncovered=True`` accepts custom utility terms of data
    alone: the entries of their own parameters are NaN (not covered).
    """
    _check_covered(likelihood, uncovered)

    def chunk_sum(u, panel, zeta, log_weights):
        values, fields = _chunk(likelihood, scores, u, panel, zeta, log_weights)
        return values.sum(), jax.tree.map(lambda g: g.sum(axis=0), fields)

    value, fields = likelihood.sum_people(chunk_sum, free_internal)
    return value, _to_free(likelihood, scores, free_internal, fields)
