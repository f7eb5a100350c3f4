"""The structural equations: a DAG of latent variables."""

import equinox as eqx
import jax.numpy as jnp
from jax.scipy.special import ndtr
from jaxtyping import Array, Float

from .measurement import along_draws


class Structural(eqx.Module):
    """``eta_l = sum_{m < l} gamma[l, m] eta_m + b[l] . x + sigma_l zeta_l`` in topological
    order (``sigma_l = 1`` unless the LV has a reference indicator).

    ``gamma`` is strictly lower triangular (LVs are stored in topological order), so
    ``eta = (I - gamma)^{-1} (b x + sigma zeta)``, evaluated by forward substitution.
    """

    gamma: Float[Array, "L L"]
    b: Float[Array, "L C"]
    sigma: Float[Array, " L"]
    random_mean: Float[Array, " K"]
    random_sd: Float[Array, " K"]
    random_kinds: tuple[str, ...] = eqx.field(static=True)

    def random_coefficients(self, z: Float[Array, " K"]):
        """``c_k`` from its standard normal draw (see
        :class:`~iclv_jax.spec.RandomCoefficient`)."""
        values = []
        for k, kind in enumerate(self.random_kinds):
            linear = self.random_mean[k] + self.random_sd[k] * z[k]
            if kind == "lognormal":
                values.append(jnp.exp(linear))
            elif kind == "negative_lognormal":
                values.append(-jnp.exp(linear))
            elif kind == "triangular":
                u = ndtr(z[k])
                t = jnp.where(u < 0.5, jnp.sqrt(2.0 * jnp.minimum(u, 0.5)) - 1.0,
                              1.0 - jnp.sqrt(2.0 * (1.0 - jnp.maximum(u, 0.5))))
                values.append(self.random_mean[k] + self.random_sd[k] * t)
            else:
                values.append(linear)
        return jnp.stack(values)

    def __call__(self, covariates: Float[Array, " C"], zeta: Float[Array, " LK *R"]):
        """``eta`` ``(L,)`` from the first ``L`` draws, followed by the ``K`` random
        coefficients from the rest when the model has any; ``zeta`` ``(LK, R)`` gives
        ``eta`` ``(LK, R)``, one column per draw."""
        n_lvs = self.b.shape[0]
        eta = self.latent_variables(covariates, zeta[:n_lvs])
        if self.random_kinds:
            return jnp.concatenate([eta, self.random_coefficients(zeta[n_lvs:])])
        return eta

    def latent_variables(self, covariates: Float[Array, " C"], zeta: Float[Array, " L *R"]):
        shifted = along_draws(self.b @ covariates, zeta) + along_draws(self.sigma, zeta) * zeta
        eta = jnp.zeros_like(shifted)
        for l in range(shifted.shape[0]):
            eta = eta.at[l].set(self.gamma[l] @ eta + shifted[l])
        return eta
