"""Multinomial logit: ``d log P(i) / d V_j = 1[j = i] - P_j`` (``P_j = 0`` for an
unavailable alternative)."""

import jax
import jax.numpy as jnp

from ..components import MultinomialLogitChoice
from .registry import register


@register(MultinomialLogitChoice)
def multinomial_logit(module, v, chosen, available, mask, log_prob):
    # log sum_j exp(V_j) over the available = V_chosen - log P(chosen)
    chosen_v = jnp.take_along_axis(v, chosen[:, None], axis=1)
    log_p = v - (chosen_v - log_prob[:, None])
    prob = jnp.exp(jnp.where(available, log_p, -jnp.inf))
    return jax.nn.one_hot(chosen, v.shape[1], dtype=v.dtype) - prob, {}
