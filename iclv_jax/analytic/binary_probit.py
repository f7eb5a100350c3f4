"""Binary probit: ``d log Phi(s V) / d V = s phi(s V) / Phi(s V)``, ``s = 2 y - 1``
(a log-space ratio)."""

import jax.numpy as jnp

from ..components import BinaryProbitChoice
from .registry import register
from .scores import log_density


@register(BinaryProbitChoice)
def binary_probit(module, v, chosen, available, mask, log_prob):
    sign = jnp.where(chosen == 1, 1.0, -1.0)
    d_v = sign * jnp.exp(log_density(sign * v[:, 0], "probit") - log_prob)
    return d_v[:, None], {}
