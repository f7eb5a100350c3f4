"""Ordered probit choice, as the ordered indicators with ``c - V``: the cut-points get
``(d_a, d_b)`` at the chosen interval's ends, ``V`` gets ``-(d_a + d_b)``."""

import jax.numpy as jnp

from ..components import OrderedProbitChoiceModule
from .registry import register
from .scores import interval_scores


@register(OrderedProbitChoiceModule)
def ordered_probit(module, v, chosen, available, mask, log_prob):
    d_lower, d_upper = interval_scores(
        module.cuts[chosen] - v[:, 0], module.cuts[chosen + 1] - v[:, 0], log_prob, "probit"
    )
    d_lower = jnp.where(mask, d_lower, 0.0)
    d_upper = jnp.where(mask, d_upper, 0.0)
    cuts = jnp.zeros_like(module.cuts).at[chosen].add(d_lower).at[chosen + 1].add(d_upper)
    return -(d_lower + d_upper)[:, None], {"cuts": cuts}
