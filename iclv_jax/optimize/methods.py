"""One of :data:`OPTIMIZERS`, by name, run in the scaled coordinates ``v = u / s``."""

from __future__ import annotations

import numpy as np

from .evaluator import Evaluator
from .external import optax_lbfgs, restarted_quasi_newton, trust_exact
from .newton import line_search_newton
from .objective import ScaledObjective
from .progress import Tracker

__all__ = ["BOUNDED_OPTIMIZERS", "OPTIMIZERS", "minimise"]

OPTIMIZERS = ("hybrid", "newton", "bhhh", "trust-exact", "bfgs", "lbfgs", "lbfgsb")
_LINE_SEARCH_NEWTON = ("hybrid", "newton", "bhhh")
#: the optimisers that keep a box on the parameters
BOUNDED_OPTIMIZERS = (*_LINE_SEARCH_NEWTON, "lbfgsb")


def _scaled_start(u0, scales, tracker: Tracker) -> np.ndarray:
    """``v0 = u0 / s``, or the exact ``v`` a resumed checkpoint recorded."""
    resumed = tracker.optimizer_state.pop("resume_scaled", None)
    return np.asarray(resumed, dtype=float) if resumed is not None else np.asarray(u0) / scales


def minimise(
    evaluator: Evaluator,
    u0,
    scales,
    method: str,
    max_iterations: int,
    tracker: Tracker,
    tolerance: float = 1e-6,
    bounds=None,
):
    """Run one of :data:`OPTIMIZERS` in ``v = u / s``; returns ``(u, iterations, message)``.

    ``bounds``: ``(lower, upper)``, the box of ``u`` (``-inf`` / ``inf`` for open
    sides; default none), kept by the :data:`BOUNDED_OPTIMIZERS` (callers refuse the
    others for bounded problems: :func:`iclv_jax.estimation.check_bounds_kept`).

    ``hybrid`` (default), ``newton``, ``bhhh``: line-search Newton steps on the BHHH
    matrix ``sum_n s_n s_n' / N`` where it models the likelihood well and the exact
    Hessian where it does not, the exact Hessian always, or BHHH always (see
    :func:`~iclv_jax.optimize.newton.line_search_newton`); ``trust-exact``: SciPy's
    exact trust region with the exact Hessian; ``bfgs``, ``lbfgsb``: SciPy's
    quasi-Newton methods; ``lbfgs``: optax's L-BFGS
    (:mod:`iclv_jax.optimize.external`).
    """
    if method not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {method!r}")
    v0 = _scaled_start(u0, scales, tracker)
    objective = ScaledObjective(evaluator, scales, tracker, v0, u0, bounds)
    if method in _LINE_SEARCH_NEWTON:
        v, iterations, message = line_search_newton(
            objective, v0, max_iterations, method, tolerance
        )
    elif method == "lbfgs":
        v, iterations, message = optax_lbfgs(objective, v0, max_iterations, 1e-9)
    elif method == "trust-exact":
        v, iterations, message = trust_exact(objective, v0, max_iterations)
    else:
        v, iterations, message = restarted_quasi_newton(
            objective, v0, method, max_iterations, tolerance
        )
    return objective.internal(v), iterations, message
