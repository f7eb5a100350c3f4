"""The structural equations: a DAG of latent variables."""

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float


class Structural(eqx.Module):
    """``eta_l = sum_{m < l} gamma[l, m] eta_m + b[l] . x + sigma_l zeta_l`` in topological
    order (``sigma_l = 1`` unless the LV has a reference indicator).

    ``gamma`` is strictly lower triangular (LVs are stored in topological order), so
    ``eta = (I - gamma)^{-1} (b x + sigma zeta)``, evaluated by forward substitution.
    """

    gamma: Float[Array, "L L"]
    b: Float[Array, "L C"]
    sigma: Float[Array, " L"]

    def __call__(self, covariates: Float[Array, " C"], zeta: Float[Array, " L"]):
        shifted = self.b @ covariates + self.sigma * zeta
        eta = jnp.zeros_like(shifted)
        for l in range(shifted.shape[0]):
            eta = eta.at[l].set(self.gamma[l] @ eta + shifted[l])
        return eta
