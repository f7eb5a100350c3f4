"""Nested logit, ``log P(i) = mu_k V_i - (1 - 1/mu_k) L_k - D`` for ``i`` in nest ``k``
(``L_m = log sum_{j in m} exp(mu_m V_j)``, ``I_m = L_m / mu_m``, ``D = log sum_m exp(I_m)``;
see :mod:`iclv_jax.components.nested_logit`):

    d log P(i) / d V_j  = mu_k 1[j = i] - (mu_k - 1) P(j | k) 1[j in k] - P_j,
    d log P(i) / d mu_m = 1[m = k] (V_i - L_k / mu_k^2 - (1 - 1/mu_k) Vbar_k)
                          - P(m) (Vbar_m / mu_m - L_m / mu_m^2),

with ``Vbar_m = sum_{j in m} P(j | m) V_j`` (``d L_m / d mu_m``); unavailable
alternatives and empty nests have probability 0.  With every ``mu = 1`` the first is the
MNL's ``1[j = i] - P_j``."""

import jax
import jax.numpy as jnp

from ..components import NestedLogitChoice
from ..components.nested_logit import nest_terms
from .registry import register


@register(NestedLogitChoice)
def nested_logit(module, v, chosen, available, mask, log_prob):
    mu, nest_of = module.nest_mu, module.nest_of
    n_nests = mu.shape[0]
    log_p, log_conditional, log_nest, log_sum, _ = nest_terms(v, available, mu, nest_of)
    prob, conditional, nest_prob = jnp.exp(log_p), jnp.exp(log_conditional), jnp.exp(log_nest)
    nest = nest_of[chosen]  # (T,) the chosen alternative's nest k
    mu_k = mu[nest][:, None]
    same_nest = nest_of[None, :] == nest[:, None]
    d_v = (
        mu_k * jax.nn.one_hot(chosen, v.shape[1], dtype=v.dtype)
        - (mu_k - 1.0) * jnp.where(same_nest, conditional, 0.0)
        - prob
    )
    member = nest_of[None, :] == jnp.arange(n_nests)[:, None]  # (M, J)
    v_bar = jnp.where(available, conditional * v, 0.0) @ member.T.astype(v.dtype)  # (T, M)
    d_inclusive = v_bar / mu - log_sum / mu**2
    v_chosen = jnp.take_along_axis(v, chosen[:, None], axis=1)[:, 0]
    at_k = lambda x: jnp.take_along_axis(x, nest[:, None], axis=1)[:, 0]  # noqa: E731
    own_nest = v_chosen - at_k(log_sum) / mu[nest] ** 2 - (1.0 - 1.0 / mu[nest]) * at_k(v_bar)
    d_mu = (
        jax.nn.one_hot(nest, n_nests, dtype=v.dtype) * own_nest[:, None] - nest_prob * d_inclusive
    )
    return d_v, {"nest_mu": jnp.where(mask[:, None], d_mu, 0.0).sum(axis=0)}
