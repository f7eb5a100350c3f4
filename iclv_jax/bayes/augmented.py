"""The augmented formulation's LV errors: where the chains start, and what the sampled
errors say about every person's LVs.

Person ``n``'s errors ``zeta_n`` enter the LVs through the structural equations,
``eta_n = s(x_n, zeta_n; theta)``; with ``theta`` and ``zeta_n`` sampled jointly, every
kept draw ``(theta^(s), zeta_n^(s))`` gives a draw ``eta_n^(s)`` of the person's LVs from
their posterior, so posterior means and SDs of the LVs are sample moments (no importance
weights, unlike :func:`~iclv_jax.posterior_lv`).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..posterior import log_posterior_weights
from ..posthoc import map_people
from ..problem import Problem

__all__ = ["conditional_errors", "lv_summary"]


def conditional_errors(problem: Problem, u_hat, chains: int, rng) -> np.ndarray:
    """``(chains, N, D)`` starting errors: for every chain and person one of the person's
    draws ``zeta_nr``, picked with the posterior weights ``w_nr`` given all their data
    at ``u_hat`` (an approximate draw from ``p(zeta_n | y_n, theta_hat)``)."""

    def weights(components, person, zeta, log_weights):
        return log_posterior_weights(components, person, zeta, log_weights, "all")[1]

    log_w = np.asarray(map_people(weights, problem.likelihood, jnp.asarray(u_hat)))
    zeta = np.asarray(problem.likelihood.zeta)[: problem.panel.n_people]
    gumbel = rng.gumbel(size=(chains, *log_w.shape))
    picked = np.argmax(log_w[None] + gumbel, axis=-1)  # (chains, N)
    return zeta[np.arange(zeta.shape[0])[None, :], picked]


def _lv_draws(likelihood, internal, errors):
    """``(S, N, L)`` LVs ``eta_n^(s)`` of the ``S`` draws ``u^(s)`` ``(S, F)`` and
    ``zeta^(s)`` ``(S, N, D)`` (``likelihood`` has one draw per person)."""

    def one(args):
        u, zeta = args
        padded = jnp.zeros(likelihood.zeta.shape, likelihood.zeta.dtype)
        padded = padded.at[: zeta.shape[0], 0, :].set(zeta)
        conditional = eqx.tree_at(lambda lik: lik.zeta, likelihood, padded)

        def eta(components, person, z, log_weights):
            return components[0](person.covariates, z.T)[:, 0]

        return map_people(eta, conditional, u)

    return jax.lax.map(one, (internal, errors))


def lv_summary(problem: Problem, likelihood, internal, errors) -> pd.DataFrame | None:
    """Posterior mean and SD of every person's LVs from the kept draws (``internal``
    ``(S, F)``, ``errors`` ``(S, N, D)``), indexed by person id like
    :func:`~iclv_jax.posterior_lv`; None for a model without LVs."""
    lv_names = problem.model.lv_names
    if not lv_names:
        return None
    eta = np.asarray(
        eqx.filter_jit(_lv_draws)(likelihood, jnp.asarray(internal), jnp.asarray(errors))
    )
    columns = {}
    for l, lv in enumerate(lv_names):
        columns[f"{lv}_mean"] = eta[..., l].mean(axis=0)
        columns[f"{lv}_sd"] = eta[..., l].std(axis=0)
    return pd.DataFrame(
        columns, index=pd.Index(problem.panel.person_ids, name=problem.model.person_id)
    )
