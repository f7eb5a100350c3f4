"""Finite differences and Hessian-vector products of the simulated log-likelihood.

Steps are shrunk to the BHHH scales ``s_i = (mean_n s_ni^2)^{-1/2}`` (``s_ni`` the
per-person autodiff scores): in ``v = u / s`` every parameter's squared scores sum to
``N`` whatever the units of the data (raw prices of 1,000-5,000 included).  ``H v`` is
``jax.jvp`` of the autodiff gradient (forward over reverse): no dense Hessian is formed
by differentiation.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ..likelihood import SimulatedLikelihood
from ..optimize.optimality import scales_from_curvature
from .gradients import GradientFn

__all__ = [
    "EPS",
    "exact_steps",
    "finite_difference_gradient",
    "finite_steps",
    "gradient_response",
    "hessian_vector_products",
    "natural_scales",
]

EPS = float(np.finfo(np.float64).eps)


def natural_scales(likelihood: SimulatedLikelihood, free_internal) -> np.ndarray:
    """BHHH scales ``s_i = (mean_n s_ni^2)^{-1/2}`` at ``u`` from the per-person autodiff
    scores (1 where every score is 0; :func:`iclv_jax.optimize.scales_from_curvature`
    without a Hessian)."""
    return scales_from_curvature(None, np.asarray(likelihood.scores(jnp.asarray(free_internal))))


def finite_steps(free_internal, scales) -> np.ndarray:
    """``h_i = eps^(1/3) min(max(|u_i|, 1), s_i)``: the usual relative central-difference
    step, shrunk to the parameter's natural scale ``s_i`` where that is smaller (a price
    coefficient moves utilities by ``h x 5,000``)."""
    u = np.abs(np.asarray(free_internal, dtype=float))
    return EPS ** (1 / 3) * np.minimum(np.maximum(u, 1.0), np.asarray(scales, dtype=float))


def exact_steps(u: np.ndarray, steps: np.ndarray):
    """``(u + h, u - h, (u + h) - (u - h))`` with the step as the floats actually differ."""
    up, down = u + steps, u - steps
    return up, down, up - down


def finite_difference_gradient(
    likelihood: SimulatedLikelihood, free_internal, steps=None
) -> np.ndarray:
    """Central differences ``(log L(u + h_i e_i) - log L(u - h_i e_i)) / (2 h_i)``
    (``2 F`` likelihood evaluations; ``steps`` default :func:`finite_steps`)."""
    u = np.asarray(free_internal, dtype=float)
    if steps is None:
        steps = finite_steps(u, natural_scales(likelihood, u))
    up, down, width = exact_steps(u, np.asarray(steps, dtype=float))
    grad = np.empty_like(u)
    for i in range(len(u)):
        plus = float(likelihood.loglike(jnp.asarray(u).at[i].set(up[i])))
        minus = float(likelihood.loglike(jnp.asarray(u).at[i].set(down[i])))
        grad[i] = (plus - minus) / width[i]
    return grad


def gradient_response(
    gradient_fn: GradientFn, likelihood: SimulatedLikelihood, free_internal, steps
) -> np.ndarray:
    """``[F, F]`` central differences of a gradient implementation: column ``i`` is
    ``(g(u + h_i e_i) - g(u - h_i e_i)) / 2 h_i``, so entry ``(k, i)`` approximates
    ``d g_k / d u_i`` (``2 F`` gradient evaluations)."""
    u = np.asarray(free_internal, dtype=float)
    up, down, width = exact_steps(u, np.asarray(steps, dtype=float))
    response = np.empty((len(u), len(u)))
    for i in range(len(u)):
        plus = np.asarray(gradient_fn(likelihood, jnp.asarray(u).at[i].set(up[i]))[1])
        minus = np.asarray(gradient_fn(likelihood, jnp.asarray(u).at[i].set(down[i]))[1])
        response[:, i] = (plus - minus) / width[i]
    return response


@eqx.filter_jit
def _hvp_map(likelihood: SimulatedLikelihood, free_internal, directions, batch_size: int):
    """``H v`` for every row ``v`` of ``directions``, ``batch_size`` rows per step."""

    def hvp(direction):
        return jax.jvp(lambda x: likelihood.loglike_and_grad(x)[1], (free_internal,), (direction,))[
            1
        ]

    return lax.map(hvp, directions, batch_size=batch_size)


def hessian_vector_products(
    likelihood: SimulatedLikelihood, free_internal, directions, batch_size: int = 4
) -> np.ndarray:
    """``H v`` for each row ``v`` of ``directions`` (``[K, F]``): ``jax.jvp`` of the autodiff
    gradient (forward over reverse), ``batch_size`` directions at a time (memory: about
    ``batch_size`` times that of one chunked gradient; use 1 on a tight device)."""
    directions = jnp.atleast_2d(jnp.asarray(directions, dtype=float))
    batch_size = max(1, min(int(batch_size), directions.shape[0]))
    return np.asarray(_hvp_map(likelihood, jnp.asarray(free_internal), directions, batch_size))
