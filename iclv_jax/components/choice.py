"""Choice models on utilities ``V_tj = x_tj . beta + theta_j . eta``."""

import equinox as eqx
import jax.numpy as jnp
from jax.nn import logsumexp
from jax.scipy.special import log_ndtr
from jaxtyping import Array, Bool, Float, Int

from .measurement import log_interval_probability


class _LinearUtility(eqx.Module):
    """``V_tj = mu (x_tj . beta + theta_j . eta)``; ``x . beta`` is draw-free and computed
    once; ``mu`` is the choice scale (1 unless the model frees it)."""

    beta: Float[Array, " P"]
    theta: Float[Array, "J L"]
    scale: Float[Array, ""]

    def base_utility(self, design: Float[Array, "T J P"]):
        return design @ self.beta

    def utilities(self, base: Float[Array, "T J"], eta: Float[Array, " L"]):
        return self.scale * (base + self.theta @ eta)


class BinaryProbitChoice(_LinearUtility):
    """``log P(y_t) = log Phi((2 y_t - 1) V_t)``."""

    def log_prob(self, base, eta, chosen: Int[Array, " T"], available):
        v = self.utilities(base, eta)[:, 0]
        return log_ndtr(jnp.where(chosen == 1, v, -v))


class OrderedProbitChoiceModule(_LinearUtility):
    """``log P(y_t = j) = log(Phi(c[j+1] - V_t) - Phi(c[j] - V_t))`` (0-based j)."""

    cuts: Float[Array, " Jp1"]

    def log_prob(self, base, eta, chosen: Int[Array, " T"], available):
        v = self.utilities(base, eta)[:, 0]
        return log_interval_probability(self.cuts[chosen] - v, self.cuts[chosen + 1] - v, "probit")


class MultinomialLogitChoice(_LinearUtility):
    """``log P(y_t = i) = V_ti - log sum_{j available} exp(V_tj)``."""

    def log_prob(self, base, eta, chosen: Int[Array, " T"], available: Bool[Array, "T J"]):
        v = self.utilities(base, eta)
        chosen_v = jnp.take_along_axis(v, chosen[:, None], axis=1)[:, 0]
        return chosen_v - logsumexp(v, axis=1, where=available)


class NoChoiceModule(_LinearUtility):
    """No choice model: contributes ``log 1 = 0`` per situation."""

    def log_prob(self, base, eta, chosen: Int[Array, " T"], available):
        return jnp.zeros(chosen.shape, base.dtype)
