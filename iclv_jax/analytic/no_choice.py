"""No choice part: no derivative."""

import jax.numpy as jnp

from ..components import NoChoiceModule
from .registry import register


@register(NoChoiceModule)
def no_choice(module, v, chosen, available, mask, log_prob):
    return jnp.zeros_like(v), {}
