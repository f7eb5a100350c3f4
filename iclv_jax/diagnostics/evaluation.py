"""Common set-up of every diagnostic: the problem, the point, the autodiff truth there,
and the relative difference ``|a - b| / max(|a|, |b|, floor)`` used to compare."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..estimation import Problem
from ..likelihood import SimulatedLikelihood

__all__ = ["as_problem", "autodiff_at", "free_internal_at", "relative_difference"]


def as_problem(model, data, draws, chunk_size) -> Problem:
    """``model`` may already be a :class:`~iclv_jax.Problem` (``data`` None)."""
    if isinstance(model, Problem):
        if data is not None:
            raise ValueError("pass data=None together with a Problem")
        return model
    if data is None:
        raise ValueError("data is required (or pass a Problem as the first argument)")
    return Problem(model, data, draws, chunk_size=chunk_size)


def free_internal_at(problem: Problem, params) -> jax.Array:
    """``params``: reported values as :meth:`Problem.free_internal` accepts (dict by
    name, a number, ``None``), or an array of the ``F`` free internal values."""
    if isinstance(params, (np.ndarray, jax.Array)):
        u = jnp.asarray(params, dtype=float)
        if u.shape != (problem.space.n_free,):
            raise ValueError(
                f"an array of params must hold the {problem.space.n_free} "
                f"free internal values, got shape {u.shape}"
            )
        return u
    return problem.free_internal(params)


def autodiff_at(likelihood: SimulatedLikelihood, u):
    """Autodiff ``(log L, gradient)`` as numpy; raises if either is not finite."""
    ll, grad = (np.asarray(x) for x in likelihood.loglike_and_grad(u))
    if not np.isfinite(ll) or not np.all(np.isfinite(grad)):
        raise ValueError(
            f"the log-likelihood ({float(ll)}) or its autodiff gradient is not "
            "finite at these parameters; diagnose at another point"
        )
    return ll, grad


def relative_difference(a, b, floor) -> np.ndarray:
    """``|a - b| / max(|a|, |b|, floor)``."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), floor)
