"""Measurement equations: ordered probit/logit and continuous indicators."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.scipy.special import log_ndtr
from jax.scipy.stats import norm
from jaxtyping import Array, Float, Int

# Cut-points beyond the outermost thresholds: finite, so that gradients and Hessians
# of the outer categories stay finite (F(+-1e6) is 1 or 0 to machine precision).
OUTER_CUT = 1e6


def _log_cdf(x, link: str):
    return log_ndtr(x) if link == "probit" else jax.nn.log_sigmoid(x)


def _log1mexp(x):
    """``log(1 - exp(x))`` for ``x <= 0``, accurate on both sides of ``-log 2``."""
    x = jnp.minimum(x, -1e-300)
    return jnp.where(x > -jnp.log(2.0), jnp.log(-jnp.expm1(x)), jnp.log1p(-jnp.exp(x)))


def log_interval_probability(lower, upper, link: str):
    """``log(F(upper) - F(lower))`` for ``lower < upper`` without cancellation.

    Left of the median it is ``log F(u) + log(1 - F(l)/F(u))``; right of it, by
    symmetry of ``F``, ``log F(-l) + log(1 - F(-u)/F(-l))``.
    """
    left = _log_cdf(upper, link) + _log1mexp(_log_cdf(lower, link) - _log_cdf(upper, link))
    right = _log_cdf(-lower, link) + _log1mexp(
        _log_cdf(-upper, link) - _log_cdf(-lower, link)
    )
    return jnp.where(lower + upper > 0, right, left)


class OrderedIndicators(eqx.Module):
    """``P(I_k = j) = F(c_k[j+1] - lambda_k eta) - F(c_k[j] - lambda_k eta)`` (0-based j).

    ``cuts[k] = (-OUTER_CUT, tau_k1, ..., tau_k,J-1, OUTER_CUT, ...)`` padded with
    ``OUTER_CUT`` for items with fewer levels than the longest.
    """

    loadings: Float[Array, " K"]
    cuts: Float[Array, "K Jp1"]
    lv_index: Int[Array, " K"]
    link: str = eqx.field(static=True)

    def log_prob(self, eta: Float[Array, " L"], levels: Int[Array, " K"]):
        index = eta[self.lv_index] * self.loadings
        lower = jnp.take_along_axis(self.cuts, levels[:, None], axis=1)[:, 0]
        upper = jnp.take_along_axis(self.cuts, levels[:, None] + 1, axis=1)[:, 0]
        return log_interval_probability(lower - index, upper - index, self.link)


class ContinuousIndicators(eqx.Module):
    """``I_k = alpha_k + lambda_k eta + sigma_k eps``, ``eps ~ N(0, 1)``."""

    intercepts: Float[Array, " K"]
    loadings: Float[Array, " K"]
    sigmas: Float[Array, " K"]
    lv_index: Int[Array, " K"]

    def log_prob(self, eta: Float[Array, " L"], values: Float[Array, " K"]):
        mean = self.intercepts + self.loadings * eta[self.lv_index]
        return norm.logpdf(values, mean, self.sigmas)
