"""Planted bugs, for demonstrations and tests: the seed's structural derivative
(:class:`SeedStructuralScores`, :func:`seed_gradient`) and a sign error in one
ordered-indicator threshold derivative (:class:`FlippedThresholdScores`)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.nn import softmax

from ..analytic import AnalyticScores
from ..components.declarations import scatter
from ..estimation import Problem
from ..likelihood import SimulatedLikelihood, person_loglike
from .gradients import GradientFn, analytic_gradient_with

__all__ = ["FlippedThresholdScores", "SeedStructuralScores", "seed_gamma_values", "seed_gradient"]


class SeedStructuralScores(AnalyticScores):
    """The seed's structural derivative, every other derivative correct.

    Per draw, for every path ``m -> l``:
    ``d l / d gamma_{m->l} = (eta_l - gamma eta_m) / sigma^2 * eta_m`` with ``sigma = 1``
    and both LVs taken from the draws (the caller then forms ``sum_r w_nr ...`` with the
    importance weights).  When ``eta_l = gamma eta_m + zeta_l`` this is
    ``zeta_l eta_m``: the effect of gamma through ``eta_l`` on the indicators, the
    choices and the LVs downstream (the chain rule) is missing.  The ``b``
    derivatives keep the correct adjoint.
    """

    def structural(self, module, eta, zeta, covariates, d_eta, *args, **kwargs):
        _, d_b = super().structural(module, eta, zeta, covariates, d_eta, *args, **kwargs)
        d_gamma = (eta[:, None] - module.gamma * eta[None, :]) * eta[None, :]
        return d_gamma, d_b


class FlippedThresholdScores(AnalyticScores):
    """A sign error in the derivative with respect to one ordered-indicator cut-point
    (``item``: position among the ordered indicators; ``position``: column of the
    cut-points ``(-inf, tau_1, ..., tau_J-1, +inf)``, so ``tau_j`` is ``position = j``).

    Build it by name with :meth:`named`.  Through the threshold transform
    (``tau_j = tau_1 + sum exp(u_k)``) the error reaches the internal gradient of
    ``tau_1`` up to ``tau_j`` of the item.
    """

    item: int = eqx.field(static=True)
    position: int = eqx.field(static=True)

    @classmethod
    def named(cls, problem: Problem, name: str) -> FlippedThresholdScores:
        index = problem.space.index.get(name)
        cuts = np.asarray(problem.likelihood.layout.ordered.gathers["cuts"])
        where = np.argwhere(cuts == index) if index is not None else np.empty((0, 2))
        if len(where) != 1:
            raise ValueError(f"{name!r} is not the threshold of one ordered indicator")
        return cls(item=int(where[0, 0]), position=int(where[0, 1]))

    def ordered(self, module, eta, levels, *args, **kwargs):
        out = super().ordered(module, eta, levels, *args, **kwargs)
        return eqx.tree_at(
            lambda o: o.cuts, out, out.cuts.at[self.item, self.position].multiply(-1.0)
        )


@eqx.filter_jit
def _seed_gamma_fields(likelihood: SimulatedLikelihood, free_internal, importance: bool):
    """``sum_n sum_r w_nr (eta_l - gamma_lm eta_m) eta_m`` for every ``(l, m)``, with
    ``w_nr`` the importance weights ``softmax_r(log w_r + l_nr)`` or the simulation
    weights ``w_r``; computed directly from the components (no AnalyticScores)."""
    components = likelihood.components(free_internal)
    structural = components[0]

    def person(p, zeta):
        etas = jax.vmap(lambda z: structural(p.covariates, z))(zeta)
        if importance:
            draw_ll = jax.vmap(lambda z: person_loglike(components, p, z[None], jnp.zeros(1)))(zeta)
            weights = softmax(draw_ll + likelihood.log_weights)
        else:
            weights = jnp.exp(likelihood.log_weights)
        terms = (etas[:, :, None] - structural.gamma * etas[:, None, :]) * etas[:, None, :]
        return jnp.tensordot(weights, terms, axes=1) * p.weight

    fields = likelihood.map_chunks(lambda p, z: jax.vmap(person)(p, z).sum(axis=0))
    return fields.sum(axis=0)


def _gamma_positions(likelihood: SimulatedLikelihood):
    """Free positions of the structural path parameters (the reported indices the
    ``gamma`` gathers of the layout hold, as positions among the free parameters)."""
    n_params = likelihood.to_reported.fixed_internal.shape[0]
    free_index = np.asarray(likelihood.to_reported.free_index)
    reported = likelihood.layout.structural.field_positions("gamma", n_params)
    return [int(np.flatnonzero(free_index == k)[0]) for k in reported if k in free_index]


def seed_gradient(weights: str = "importance") -> GradientFn:
    """The seed's wrong structural gradient (see :class:`SeedStructuralScores`).

    ``weights="importance"``: ``sum_n sum_r w_nr zeta_l eta_m`` with the importance
    weights, built on the analytic scores (the formula as the seed wrote it).  Its
    value still moves with gamma, through ``w_nr``.

    ``weights="prior"``: the same per-draw formula averaged with the simulation weights
    ``w_r = 1/R`` (autodiff for every other entry).  ``sum_n mean_r zeta_l eta_m``
    involves no parameter but those of ``eta_m``'s own equation (for
    ``gamma_health_concern_to_perceived_benefit``: the ``b`` of health concern), so it
    stays identical to every digit while gamma and everything else move, and is near
    zero (products of independent draws), like the seed's -0.041543370.
    """
    if weights == "importance":
        return analytic_gradient_with(SeedStructuralScores(), "seed structural gradient")
    if weights != "prior":
        raise ValueError(f"weights must be 'importance' or 'prior', got {weights!r}")

    def gradient(likelihood, free_internal):
        ll, grad = likelihood.loglike_and_grad(free_internal)
        fields = _seed_gamma_fields(likelihood, free_internal, False)
        n_params = likelihood.to_reported.fixed_internal.shape[0]
        reported = scatter(
            [likelihood.layout.structural.entries("gamma", fields)], n_params, fields.dtype
        )
        seeded = reported[likelihood.to_reported.free_index]
        positions = jnp.asarray(_gamma_positions(likelihood), dtype=int)
        return ll, grad.at[positions].set(seeded[positions])

    gradient.__name__ = "seed structural gradient (prior weights)"
    return gradient


def seed_gamma_values(
    likelihood: SimulatedLikelihood, free_internal, weights: str = "importance"
) -> np.ndarray:
    """The ``[L, L]`` seed formula summed over people and draws, computed directly
    (independent of :class:`SeedStructuralScores`; entries off the paths are not
    parameters)."""
    return np.asarray(
        _seed_gamma_fields(likelihood, jnp.asarray(free_internal), weights == "importance")
    )
