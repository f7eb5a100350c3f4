"""The structural equations: a DAG of latent variables, and the random coefficients
drawn beside them."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jax.scipy.special import ndtr
from jaxtyping import Array, Float

from .declarations import AbstractComponent, ComponentPlan, Declarations
from .links import along_draws

__all__ = [
    "Structural",
    "covariate_name",
    "lv_intercept_name",
    "lv_scale_name",
    "path_name",
    "random_coefficient_names",
]


def path_name(upstream: str, lv: str) -> str:
    """``gamma_<upstream>_to_<lv>``: the structural path from one LV to another."""
    return f"gamma_{upstream}_to_{lv}"


def covariate_name(covariate: str, lv: str) -> str:
    """``b_<covariate>_to_<lv>``: a covariate's effect on an LV."""
    return f"b_{covariate}_to_{lv}"


def lv_scale_name(lv: str) -> str:
    """``sigma_<lv>``: the free scale of an LV with a reference indicator."""
    return f"sigma_{lv}"


def lv_intercept_name(lv: str) -> str:
    """``intercept_<lv>``: an LV's structural intercept (``LatentVariable(intercept=True)``)."""
    return f"intercept_{lv}"


def random_coefficient_names(name: str) -> tuple[str, str]:
    """``(mu_<name>, sigma_<name>)``: the mean and spread of a random coefficient (declared
    with the utilities they enter, see :meth:`AbstractChoice.declare_utilities`)."""
    return f"mu_{name}", f"sigma_{name}"


class Structural(AbstractComponent):
    """``eta_l = sum_{m < l} gamma[l, m] eta_m + b[l] . x + c_l + sigma_l zeta_l`` in
    topological order (``sigma_l = 1`` unless the LV has a reference indicator, ``c_l = 0``
    unless it has an intercept).

    ``gamma`` is strictly lower triangular (LVs are stored in topological order), so
    ``eta = (I - gamma)^{-1} (b x + c + sigma zeta)``, evaluated by forward substitution.
    """

    additive: ClassVar = "shared"

    gamma: Float[Array, "L L"]
    b: Float[Array, "L C"]
    intercept: Float[Array, " L"]
    sigma: Float[Array, " L"]
    random_mean: Float[Array, " K"]
    random_sd: Float[Array, " K"]
    random_kinds: tuple[str, ...] = eqx.field(static=True)

    def random_coefficients(self, z: Float[Array, " K *R"]):
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
                t = jnp.where(
                    u < 0.5,
                    jnp.sqrt(2.0 * jnp.minimum(u, 0.5)) - 1.0,
                    1.0 - jnp.sqrt(2.0 * (1.0 - jnp.maximum(u, 0.5))),
                )
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
        mean = self.b @ covariates + self.intercept
        shifted = along_draws(mean, zeta) + along_draws(self.sigma, zeta) * zeta
        eta = jnp.zeros_like(shifted)
        for l in range(shifted.shape[0]):
            eta = eta.at[l].set(self.gamma[l] @ eta + shifted[l])
        return eta

    @classmethod
    def declare(cls, model, panel, declarations: Declarations) -> ComponentPlan:
        """``gamma_<m>_to_<l>`` for every path, ``b_<c>_to_<l>`` for every covariate,
        ``intercept_<l>`` for an LV with an intercept (else 0), ``sigma_<l>`` (log) for
        an LV with a reference indicator (else 1), all starting at 0 (1 for ``sigma``);
        the random coefficients' ``mu`` and ``sigma`` are
        gathered here and declared by the choice model."""
        lvs, covariates = model.lv_names, model.covariates
        gamma: list[list[str | None]] = [[None] * len(lvs) for _ in lvs]
        b: list[list[str | None]] = [[None] * len(covariates) for _ in lvs]
        for l, name in enumerate(lvs):
            lv = model.lv(name)
            for upstream in lv.predictors:
                gamma[l][lvs.index(upstream)] = declarations.add(
                    path_name(upstream, name), "structural", 0.0
                )
            for cov in lv.covariates:
                b[l][covariates.index(cov)] = declarations.add(
                    covariate_name(cov, name), "structural", 0.0
                )
        sigma = [
            "1"
            if model.lv(name).reference is None
            else declarations.add(lv_scale_name(name), "structural", 1.0, "log")
            for name in lvs
        ]
        intercept = [
            declarations.add(lv_intercept_name(name), "structural", 0.0)
            if model.lv(name).intercept
            else None
            for name in lvs
        ]
        pairs = [random_coefficient_names(rc.name) for rc in model.random_coefficients]
        n, k = len(lvs), len(pairs)
        return ComponentPlan(
            component=cls,
            names={
                "gamma": (gamma, (n, n)),
                "b": (b, (n, len(covariates))),
                "intercept": (intercept, (n,)),
                "sigma": (sigma, (n,)),
                "random_mean": ([mean for mean, _ in pairs], (k,)),
                "random_sd": ([sd for _, sd in pairs], (k,)),
            },
            signs={},
            data={},
            static=(("random_kinds", tuple(rc.distribution for rc in model.random_coefficients)),),
        )
