"""Exact-Hessian Newton steps that verify an optimum (relative gradient and curvature,
judged in scaled coordinates, the coordinates held at a bound left out)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .evaluator import Evaluator
from .optimality import (
    clearly_negative_definite,
    on_active_bound,
    relative_gradient,
    scaled_curvature,
    scales_from_curvature,
    unbounded,
)
from .progress import Tracker

__all__ = ["Verified", "verify"]


@dataclass(frozen=True)
class Verified:
    """The final point and what iclv_jax's own test says about it."""

    internal: np.ndarray
    loglike: float
    gradient: np.ndarray
    hessian: np.ndarray
    newton_steps: int
    relative_gradient: float
    negative_definite: bool


def verify(
    evaluator: Evaluator,
    u,
    tolerance: float,
    tracker: Tracker,
    max_steps: int = 8,
    reach: float = 1e-2,
    bounds=None,
) -> Verified:
    """Newton steps with the exact Hessian (and step halving) until the optimum is
    verified: relative gradient below ``tolerance`` and ``-H`` positive definite, both
    judged with the scales :func:`scales_from_curvature` gives at the point.

    No Newton step is tried from a point whose relative gradient exceeds ``reach``
    (far from an optimum the optimiser, not Newton, must do the work).  ``bounds``: the
    box of ``u`` (default none); the coordinates held at a bound
    (:func:`on_active_bound`) are left out of both tests and of the Newton steps, which
    are projected onto the box.  The step ``D (-D H D)^{-1} D g`` (over the free
    coordinates) is solved in scaled coordinates.
    """
    u = np.asarray(u)
    lower, upper = unbounded(len(u)) if bounds is None else bounds
    ll, grad, scores = evaluator.scores(u)
    step = 0
    while True:
        hessian = evaluator.hessian(u)
        scales = scales_from_curvature(hessian, scores)
        free = ~on_active_bound(u, grad, lower, upper)
        reduced = hessian[np.ix_(free, free)]
        finite = np.all(np.isfinite(hessian))
        negative_definite = bool(
            finite and (not free.any() or clearly_negative_definite(reduced, scales[free]))
        )
        rel = relative_gradient(np.where(free, grad, 0.0), u, ll, scales)
        if (
            (rel < tolerance and negative_definite)
            or step == max_steps
            or rel > reach
            or not negative_definite
        ):
            return Verified(u, ll, grad, hessian, step, rel, negative_definite)
        direction = np.zeros_like(u)
        direction[free] = scales[free] * np.linalg.solve(
            scaled_curvature(reduced, scales[free]), scales[free] * grad[free]
        )
        for _ in range(30):
            candidate = np.clip(u + direction, lower, upper)
            ll_new, grad_new, scores_new = evaluator.scores(candidate)
            if np.isfinite(ll_new) and ll_new >= ll - 1e-12 * abs(ll):
                u, ll, grad, scores = candidate, ll_new, grad_new, scores_new
                break
            direction = direction / 2
        else:
            return Verified(u, ll, grad, hessian, step, rel, negative_definite)
        step += 1
        tracker.stage = "newton"
        tracker.record(u, ll, grad)
