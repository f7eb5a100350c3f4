"""The posterior mode and curvature that precondition the sampler.

In the unconstrained space ``v`` of :mod:`iclv_jax.bayes.target` (``u = box(v)``), from
the maximum-likelihood estimate, scipy's trust-region Newton (``trust-exact``)
maximises ``log p(v | y)``; the covariance ``Sigma = (-H)^-1`` at the mode (eigenvalues
floored) then gives ``v = v* + L z``.  Starting from the MLE and using the posterior's
own curvature matters where the two differ: an informative prior, or a scale whose MLE
is 0 (``u = log sigma -> -inf``, the likelihood flat there), which only the prior
bounds.

The Hessian is the library's memory-bounded exact Hessian of the log-likelihood in
``u``, carried to ``v`` by the chain rule, plus autodiff's Hessian of the cheap rest
(priors, Jacobians, the box's curvature):

    d^2 log p / dv^2 = D H_u D + d^2 (g_u . box(v)) / dv^2 + d^2 rest / dv^2,

with ``D = diag(du/dv)`` and ``g_u`` the log-likelihood's gradient in ``u`` (held fixed in
the middle term, which is the box's second derivative weighted by ``g_u``).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize

from .target import IntegratedTarget

__all__ = ["floored_covariance", "posterior_mode"]


def floored_covariance(negative_hessian: np.ndarray) -> np.ndarray:
    """The inverse of ``-H`` with its eigenvalues' magnitudes floored at ``1e-8`` of the
    largest (a flat or indefinite direction gets a wide, finite spread)."""
    values, vectors = np.linalg.eigh(0.5 * (negative_hessian + negative_hessian.T))
    values = np.maximum(np.abs(values), 1e-8 * np.abs(values).max())
    return (vectors / values) @ vectors.T


def _unscaled(target: IntegratedTarget) -> IntegratedTarget:
    """``target`` as a function of ``v`` itself (centre 0, identity scale)."""
    n = target.n_params
    return eqx.tree_at(lambda t: (t.centre, t.cholesky), target, (jnp.zeros(n), jnp.eye(n)))


def _log_posterior_hessian(flat: IntegratedTarget, v) -> jax.Array:
    """``d^2 log p / dv^2`` as the module docstring assembles it."""
    u = flat.box(v)
    likelihood = flat.likelihood
    g_u = jax.grad(likelihood.loglike)(u)
    slope = flat.box.derivative(v)
    through_box = jax.hessian(lambda w: jnp.dot(g_u, flat.box(w)))(v)
    rest = jax.hessian(lambda w: flat.log_prior_and_jacobian(w)[0])(v)
    return likelihood.hessian(u) * jnp.outer(slope, slope) + through_box + rest


def posterior_mode(target: IntegratedTarget, v0: np.ndarray, max_iterations: int = 100):
    """``(v*, -H(v*))``: the mode of ``log p(v | y)`` from ``v0`` and the negative Hessian
    there (``target``'s centre and scale are ignored)."""
    flat = _unscaled(target)
    value_and_grad = jax.jit(jax.value_and_grad(flat))
    hessian = jax.jit(lambda v: _log_posterior_hessian(flat, v))

    def negative(v):
        value, grad = value_and_grad(jnp.asarray(v))
        return -float(value), -np.asarray(grad)

    found = scipy.optimize.minimize(
        negative,
        np.asarray(v0, dtype=float),
        jac=True,
        hess=lambda v: -np.asarray(hessian(jnp.asarray(v))),
        method="trust-exact",
        options={"gtol": 1e-6, "maxiter": max_iterations},
    )
    return found.x, -np.asarray(hessian(jnp.asarray(found.x)))
