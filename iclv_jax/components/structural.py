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
    "cholesky_name",
    "cholesky_names",
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


def cholesky_name(coefficient: str, other: str) -> str:
    """``chol_<coefficient>_<other>``: the Cholesky element of ``coefficient``'s row in
    the column of ``other`` (an earlier random coefficient or an LV), as Biogeme and
    Apollo users write the correlated draws."""
    return f"chol_{coefficient}_{other}"


def cholesky_names(model) -> list[list[str | None]]:
    """The ``(K, L + K)`` Cholesky factor of the random coefficients over all draws (the
    LVs' first) as parameter names: row ``k`` holds ``sigma_<k>`` on its diagonal
    (column ``L + k``), ``chol_<k>_<j>`` for every ``j`` in its ``correlated_with`` (an
    LV or an earlier coefficient) and ``None`` (0) elsewhere."""
    lvs = list(model.lv_names)
    columns = lvs + [rc.name for rc in model.random_coefficients]
    rows: list[list[str | None]] = []
    for k, rc in enumerate(model.random_coefficients):
        row: list[str | None] = [None] * len(columns)
        row[len(lvs) + k] = random_coefficient_names(rc.name)[1]
        for other in rc.correlated_with:
            row[columns.index(other)] = cholesky_name(rc.name, other)
        rows.append(row)
    return rows


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
    random_chol: Float[Array, "K LK"]
    random_kinds: tuple[str, ...] = eqx.field(static=True)

    def random_coefficients(self, zeta: Float[Array, " LK *R"]):
        """``c_k`` from ``e = L zeta`` over all draws, ``L`` = ``random_chol`` (see
        :mod:`~iclv_jax.randomcoefficients`); a triangular one from its own draw."""
        n_lvs = zeta.shape[0] - len(self.random_kinds)
        z = zeta[n_lvs:]
        spread = jnp.tensordot(self.random_chol, zeta, axes=1)
        values = []
        for k, kind in enumerate(self.random_kinds):
            linear = self.random_mean[k] + spread[k]
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
            return jnp.concatenate([eta, self.random_coefficients(zeta)])
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
        the random coefficients' ``mu``, ``sigma`` and ``chol_<k>_<j>`` are
        gathered here (``sigma`` and ``chol`` as the Cholesky factor ``random_chol``,
        see :func:`~iclv_jax.randomcoefficients.cholesky_names`) and declared by the
        choice model."""
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
                "random_chol": (cholesky_names(model), (k, n + k)),
            },
            signs={},
            data={},
            static=(("random_kinds", tuple(rc.distribution for rc in model.random_coefficients)),),
        )
