"""The log posterior densities NUTS samples, on an unconstrained, preconditioned space.

Three maps lead from the sampled vector ``z`` to the reported parameters ``theta``:

1. ``v = v_hat + L z`` (preconditioning: ``v_hat`` the mode, ``L L' = Sigma_v`` the inverse
   of the negative Hessian there, so the posterior of ``z`` is close to ``N(0, I)``; a
   constant Jacobian);
2. ``u = box(v)`` keeps a bounded coefficient in its box: ``lo + (hi - lo) sigmoid(v)``,
   ``lo + exp(v)``, ``hi - exp(v)`` or ``v`` (``log |du/dv|`` = ``log(hi - lo) +
   log sigmoid(v) + log sigmoid(-v)``, ``v``, ``v`` or 0);
3. ``theta = T(u)``, the library's map (:class:`~iclv_jax.params.ToReported`): exp for
   scales, cumulated exp increments for thresholds.  Its Jacobian is triangular with
   diagonal ``exp(u_i)`` on exponentiated entries and 1 elsewhere, so
   ``log |dtheta/du| = sum_{i exponentiated} u_i``.

The priors are densities of ``theta``, so

    log p(z | y) = log L(theta) + sum_i log p_i(theta_i) + log |du/dv| + log |dtheta/du| + c.

**Integrated** (:class:`IntegratedTarget`): ``L`` is the simulated or quadrature
likelihood of :mod:`iclv_jax.likelihood`, the LVs integrated out as in MSL.
**Augmented** (:class:`AugmentedTarget`): ``z = (z_theta, zeta)`` with every person's
standard normal LV (and random-coefficient) errors ``zeta_n`` sampled too; the likelihood
is the same function on one "draw" per person, ``zeta_n`` itself, with weight 1:

    log p = sum_n [ log P(I_n, y_n | theta, zeta_n) + sum_l log phi(zeta_nl) ] + log prior + ...

so there is no simulation error.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.nn import log_sigmoid, sigmoid
from jax.scipy.stats import norm
from jaxtyping import Array, Bool, Float

from ..likelihood import SimulatedLikelihood
from .priors import Prior

__all__ = ["AugmentedTarget", "Box", "IntegratedTarget", "box_from_bounds"]


class Box(eqx.Module):
    """``v -> u``: the map of item 2 above, per entry by which sides are bounded."""

    lower: Float[Array, " F"]
    upper: Float[Array, " F"]
    has_lower: Bool[Array, " F"]
    has_upper: Bool[Array, " F"]

    def __call__(self, v):
        both = self.has_lower & self.has_upper
        one_sided = self.has_lower ^ self.has_upper
        width = jnp.where(both, self.upper - self.lower, 1.0)
        exp_v = jnp.exp(jnp.where(one_sided, v, 0.0))
        lower = jnp.where(self.has_lower, self.lower, 0.0)
        upper = jnp.where(self.has_upper, self.upper, 0.0)
        return jnp.where(
            both,
            lower + width * sigmoid(v),
            jnp.where(self.has_lower, lower + exp_v, jnp.where(self.has_upper, upper - exp_v, v)),
        )

    def log_slopes(self, v):
        """``log |du_i / dv_i|`` per entry: ``log(hi - lo) + log sigmoid(v) + log
        sigmoid(-v)`` in an interval, ``v`` on one side, 0 where open."""
        both = self.has_lower & self.has_upper
        width = jnp.where(both, self.upper - self.lower, 1.0)
        interval = jnp.log(width) + log_sigmoid(v) + log_sigmoid(-v)
        one_sided = self.has_lower ^ self.has_upper
        return jnp.where(both, interval, jnp.where(one_sided, v, 0.0))

    def log_jacobian(self, v):
        """``sum_i log |du_i / dv_i|``."""
        return jnp.sum(self.log_slopes(v))

    def derivative(self, v):
        """``|du_i / dv_i|`` per entry."""
        return jnp.exp(self.log_slopes(v))

    def inverse(self, u: np.ndarray) -> np.ndarray:
        """``u -> v`` on the host (``u`` strictly inside its box)."""
        lower, upper = np.asarray(self.lower), np.asarray(self.upper)
        has_lower, has_upper = np.asarray(self.has_lower), np.asarray(self.has_upper)
        v = np.array(u, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            fraction = (v - lower) / (upper - lower)
            interval = np.log(fraction) - np.log1p(-fraction)
            v = np.where(
                has_lower & has_upper,
                interval,
                np.where(has_lower, np.log(v - lower), np.where(has_upper, np.log(upper - v), v)),
            )
        return v


def box_from_bounds(lower: np.ndarray, upper: np.ndarray) -> Box:
    """The :class:`Box` of the free internal bounds (``-inf`` / ``inf`` where open)."""
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    has_lower, has_upper = np.isfinite(lower), np.isfinite(upper)
    put = jax.device_put
    return Box(
        put(np.where(has_lower, lower, 0.0)),
        put(np.where(has_upper, upper, 0.0)),
        put(has_lower),
        put(has_upper),
    )


class IntegratedTarget(eqx.Module):
    """``log p(z | y)`` with the LVs integrated out by ``likelihood`` (see the module)."""

    likelihood: SimulatedLikelihood
    priors: tuple[Prior, ...]
    box: Box
    centre: Float[Array, " F"]
    cholesky: Float[Array, "F F"]
    exponentiated: Bool[Array, " F"]

    @property
    def n_params(self) -> int:
        return int(self.centre.shape[0])

    @property
    def parameters(self) -> IntegratedTarget:
        """The target of the parameters (itself; the augmented target's parameter part)."""
        return self

    def internal(self, z_theta):
        """``u = box(v_hat + L z)``."""
        return self.box(self.centre + self.cholesky @ z_theta)

    def reported(self, z_theta):
        """The free reported parameters at ``z``."""
        free = self.likelihood.to_reported.free_index
        return self.likelihood.to_reported(self.internal(z_theta))[free]

    def log_prior_and_jacobian(self, z_theta):
        """``sum_i log p_i(theta_i) + log |du/dv| + log |dtheta/du|``, and ``u``."""
        v = self.centre + self.cholesky @ z_theta
        u = self.box(v)
        theta = self.likelihood.to_reported(u)[self.likelihood.to_reported.free_index]
        log_prior = sum(prior.log_density(theta[i]) for i, prior in enumerate(self.priors))
        jacobian = self.box.log_jacobian(v) + jnp.sum(jnp.where(self.exponentiated, u, 0.0))
        return log_prior + jacobian, u

    def __call__(self, z):
        """``log p(z | y)`` up to a constant."""
        log_prior, u = self.log_prior_and_jacobian(z)
        return self.likelihood.loglike(u) + log_prior


class AugmentedTarget(eqx.Module):
    """``log p(z_theta, zeta | y)``: ``z`` is ``z_theta`` followed by the ``N x D``
    errors ``zeta`` (row-major); ``likelihood`` has one draw per person of weight 1."""

    parameters: IntegratedTarget
    n_people: int = eqx.field(static=True)
    n_dims: int = eqx.field(static=True)

    def split(self, z):
        """``(z_theta, zeta (N, D))``."""
        n = self.parameters.n_params
        return z[:n], z[n:].reshape(self.n_people, self.n_dims)

    def __call__(self, z):
        z_theta, zeta = self.split(z)
        log_prior, u = self.parameters.log_prior_and_jacobian(z_theta)
        likelihood = self.parameters.likelihood
        padded = jnp.zeros(likelihood.zeta.shape, likelihood.zeta.dtype)
        padded = padded.at[: self.n_people, 0, :].set(zeta.astype(likelihood.zeta.dtype))
        conditional = eqx.tree_at(lambda lik: lik.zeta, likelihood, padded)
        return conditional.loglike(u) + jnp.sum(norm.logpdf(zeta)) + log_prior
