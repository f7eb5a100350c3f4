"""Measurement equations: ordered probit/logit and continuous indicators."""

import functools

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
    """``log(1 - exp(x))`` for ``x < 0``, accurate on both sides of ``-log 2``.

    Each branch only sees arguments where it is finite (the double-``where`` rule), so
    the gradient of the branch not taken cannot turn into a NaN.
    """
    x = jnp.minimum(x, -1e-300)
    near_zero = x > -jnp.log(2.0)
    x_near = jnp.where(near_zero, x, -1.0)
    x_far = jnp.where(near_zero, -1.0, x)
    return jnp.where(near_zero, jnp.log(-jnp.expm1(x_near)), jnp.log1p(-jnp.exp(x_far)))


def _log_pdf(x, link: str):
    """``log f(x)``: the standard normal density (probit) or the logistic density
    ``F(x) F(-x)`` (logit)."""
    if link == "probit":
        return -0.5 * x**2 - 0.5 * jnp.log(2.0 * jnp.pi)
    return jax.nn.log_sigmoid(x) + jax.nn.log_sigmoid(-x)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
def log_interval_probability(lower, upper, link: str):
    """``log P = log(F(upper) - F(lower))`` for ``lower < upper`` without cancellation.

    By the symmetry ``F(u) - F(l) = F(-l) - F(-u)`` the interval is first reflected to
    the left of the median (``a + b <= 0``); there
    ``log(F(b) - F(a)) = log F(b) + log(1 - exp(log F(a) - log F(b)))``,
    with both logs from the stable log-CDF.

    Derivatives (a custom JVP, so autodiff does not run back through the branches of
    the log-CDF): ``d log P / d upper = f(upper) / P`` and
    ``d log P / d lower = -f(lower) / P``, each formed as ``exp(log f - log P)``, finite
    wherever ``log P`` is (the ratio is a Mills ratio in the tails).
    """
    reflect = lower + upper > 0
    a = jnp.where(reflect, -upper, lower)
    b = jnp.where(reflect, -lower, upper)
    log_fb = _log_cdf(b, link)
    return log_fb + _log1mexp(_log_cdf(a, link) - log_fb)


@log_interval_probability.defjvp
def _log_interval_probability_jvp(link: str, primals, tangents):
    lower, upper = primals
    d_lower, d_upper = tangents
    log_p = log_interval_probability(lower, upper, link)
    return log_p, (jnp.exp(_log_pdf(upper, link) - log_p) * d_upper
                   - jnp.exp(_log_pdf(lower, link) - log_p) * d_lower)


class OrderedIndicators(eqx.Module):
    """``P(I_k = j) = F((c_k[j+1] - m_k) / s_k) - F((c_k[j] - m_k) / s_k)`` (0-based j),
    ``m_k = alpha_k + lambda_k eta`` (``alpha_k = 0``, ``s_k = 1`` unless the item has
    ``location_scale``).

    ``cuts[k] = (-OUTER_CUT, tau_k1, ..., tau_k,J-1, OUTER_CUT, ...)`` padded with
    ``OUTER_CUT`` for items with fewer levels than the longest.  A level ``-1`` marks a
    missing answer: that item contributes ``log 1 = 0``.
    """

    loadings: Float[Array, " K"]
    cuts: Float[Array, "K Jp1"]
    intercepts: Float[Array, " K"]
    scales: Float[Array, " K"]
    lv_index: Int[Array, " K"]
    link: str = eqx.field(static=True)

    def log_prob(self, eta: Float[Array, " L"], levels: Int[Array, " K"]):
        index = self.intercepts + eta[self.lv_index] * self.loadings
        answered = jnp.maximum(levels, 0)  # a missing answer reads level 0, then masked
        lower = jnp.take_along_axis(self.cuts, answered[:, None], axis=1)[:, 0]
        upper = jnp.take_along_axis(self.cuts, answered[:, None] + 1, axis=1)[:, 0]
        log_p = log_interval_probability((lower - index) / self.scales,
                                         (upper - index) / self.scales, self.link)
        return jnp.where(levels >= 0, log_p, 0.0)


class ContinuousIndicators(eqx.Module):
    """``I_k = alpha_k + lambda_k eta + sigma_k eps``, ``eps ~ N(0, 1)``; a NaN value is a
    missing answer contributing ``log 1 = 0``."""

    intercepts: Float[Array, " K"]
    loadings: Float[Array, " K"]
    sigmas: Float[Array, " K"]
    lv_index: Int[Array, " K"]

    def log_prob(self, eta: Float[Array, " L"], values: Float[Array, " K"]):
        mean = self.intercepts + self.loadings * eta[self.lv_index]
        observed = ~jnp.isnan(values)
        log_p = norm.logpdf(jnp.where(observed, values, mean), mean, self.sigmas)
        return jnp.where(observed, log_p, 0.0)
