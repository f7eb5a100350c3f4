"""Other libraries' optimisers on the scaled objective: SciPy's trust-exact, BFGS and
L-BFGS-B (restarted), optax's L-BFGS (driven from Python, one step per call)."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import optax
import scipy.optimize

from ..likelihood import SimulatedLikelihood
from .objective import ScaledObjective

__all__ = ["lbfgs_step", "optax_lbfgs", "restarted_quasi_newton", "trust_exact"]

_LBFGS = optax.lbfgs()


@eqx.filter_jit
def lbfgs_step(likelihood: SimulatedLikelihood, scales, v, state):
    """One optax L-BFGS step (zoom line search) on ``-log L(s v) / N``, all in jax."""

    def objective(x):
        return -likelihood.loglike(x * scales) / likelihood.n_people

    value, grad = optax.value_and_grad_from_state(objective)(v, state=state)
    updates, state = _LBFGS.update(grad, state, v, value=value, grad=grad, value_fn=objective)
    return optax.apply_updates(v, updates), state


def optax_lbfgs(objective: ScaledObjective, v0, max_iterations: int, gtol: float):
    """optax's L-BFGS driven from Python so every iteration reports and checkpoints.

    The line search differentiates the log-likelihood with autodiff."""
    likelihood, scales = objective.evaluator.likelihood, jnp.asarray(objective.scales)
    v = jnp.asarray(v0)
    state = _LBFGS.init(v)
    for iteration in range(1, max_iterations + 1):
        v, state = lbfgs_step(likelihood, scales, v, state)
        objective.callback(np.asarray(v))
        _, grad = objective.value_and_grad(np.asarray(v))
        if np.max(np.abs(grad)) < gtol:
            return np.asarray(v), iteration, "gradient below tolerance"
    return np.asarray(v), max_iterations, "maximum number of iterations reached"


def _initial_radius(objective: ScaledObjective, v0) -> float:
    """The length of the first model step: Newton's if the scaled Hessian at the start
    is positive definite (the Cauchy step otherwise), at least 1."""
    _, grad = objective.value_and_grad(v0)
    hessian = objective.exact_hessian(v0)
    eigenvalues, vectors = np.linalg.eigh(hessian)
    if eigenvalues[0] > 0:
        return max(1.0, float(np.linalg.norm(vectors @ ((vectors.T @ grad) / eigenvalues))))
    curvature = float(grad @ hessian @ grad)
    cauchy = float(grad @ grad) / curvature if curvature > 0 else 1.0
    return max(1.0, cauchy * float(np.linalg.norm(grad)))


def trust_exact(objective: ScaledObjective, v0, max_iterations: int):
    """SciPy's exact trust region (the exact Hessian of ``f``) from ``v0``, its first
    radius :func:`_initial_radius`; returns ``(v, iterations, message)``."""
    options = {
        "maxiter": max_iterations,
        "gtol": 1e-8,
        "max_trust_radius": 1e10,
        "initial_trust_radius": _initial_radius(objective, v0),
    }
    result = scipy.optimize.minimize(
        objective.value_and_grad,
        v0,
        jac=True,
        hess=objective.exact_hessian,
        method="trust-exact",
        callback=objective.callback,
        options=options,
    )
    return result.x, int(result.nit), str(result.message)


def restarted_quasi_newton(
    objective: ScaledObjective,
    v0,
    method: str,
    max_iterations: int,
    tolerance: float,
    max_restarts: int = 10,
):
    """SciPy's BFGS or L-BFGS-B, restarted (fresh curvature memory, a short first step)
    from where a run stopped while iclv_jax's relative gradient is above ``tolerance``
    and the run moved.  A trial point with a non-finite log-likelihood is ``+inf`` to
    SciPy, and L-BFGS-B then stops with "converged" at a point that is not an optimum;
    the restart carries on from there.  Returns ``(v, iterations, message)``."""
    v, iterations = np.asarray(v0, dtype=float), 0
    for _ in range(max_restarts + 1):
        options = {"maxiter": max_iterations - iterations, "gtol": 1e-9}
        box = None
        if method == "lbfgsb":
            options.update(ftol=1e-15, maxcor=20)
            box = scipy.optimize.Bounds(objective.lower, objective.upper)
        result = scipy.optimize.minimize(
            objective.value_and_grad,
            v,
            jac=True,
            method={"bfgs": "BFGS", "lbfgsb": "L-BFGS-B"}[method],
            bounds=box,
            callback=objective.callback,
            options=options,
        )
        iterations += int(result.nit)
        moved = not np.array_equal(result.x, v)
        v = result.x
        if objective.relative_gradient(v) < tolerance or not moved or iterations >= max_iterations:
            break
    return v, iterations, str(result.message)
