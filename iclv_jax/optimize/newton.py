"""Line-search Newton on the scaled objective: modified (saddle-free) and projected
(Bertsekas 1982) directions, the hybrid BHHH / exact-Hessian rule, Armijo backtracking
along the projected arc."""

from __future__ import annotations

import numpy as np

from .objective import ScaledObjective

__all__ = [
    "hybrid_next",
    "line_search_newton",
    "modified_newton_direction",
    "projected_newton_direction",
]

#: the largest distance (in scaled units) from a bound at which projected Newton moves a
#: coordinate whose gradient pushes it onto that bound by a gradient step (Bertsekas's
#: epsilon; it shrinks with the projected gradient near a solution)
_BOUND_EPSILON = 1e-3


def modified_newton_direction(gradient, matrix):
    """``d = -|B|^{-1} g`` with the eigenvalues of ``B`` replaced by their absolute values
    (floored at ``1e-8`` of the largest): a descent direction even where ``B`` is
    indefinite (saddle-free Newton).  Where ``B`` has clearly negative curvature a unit
    step along its most negative eigenvector (signed downhill) is added, so that a
    saddle point, where the gradient vanishes, is escaped rather than crept up to.
    "Clearly" is scale-free: ``lambda_min < -max(1e-6 median |lambda|, 1e-12 max |lambda|)``
    (the typical curvature, not the largest, sets the scale, so one stiff direction
    cannot hide a saddle; the second term stays above eigh's rounding).
    Returns ``(d, predicted decrease)``."""
    eigenvalues, vectors = np.linalg.eigh(matrix)
    largest = max(1.0, float(np.max(np.abs(eigenvalues))))
    modified = np.maximum(np.abs(eigenvalues), 1e-8 * largest)
    projected = vectors.T @ gradient
    direction = -vectors @ (projected / modified)
    predicted = 0.5 * float(np.sum(projected**2 / modified))
    magnitudes = np.abs(eigenvalues)
    clearly = max(1e-6 * float(np.median(magnitudes)), 1e-12 * float(magnitudes.max()))
    if eigenvalues[0] < -clearly:
        downhill = -1.0 if projected[0] > 0 else 1.0
        direction = direction + downhill * vectors[:, 0]
        predicted += -0.5 * float(eigenvalues[0]) + abs(float(projected[0]))
    return direction, predicted


def projected_newton_direction(v, gradient, matrix, lower, upper):
    """Bertsekas's (1982) projected Newton direction in the box ``lower <= v <= upper``.

    A coordinate within ``epsilon = min(_BOUND_EPSILON, |v - P(v - g)|)`` of a bound
    with the gradient ``g`` of the minimised ``f`` pushing it onto the bound is
    *binding*: it takes the gradient step ``-g_i`` (the projection stops it on the
    bound).  The others take the modified Newton direction of
    :func:`modified_newton_direction` on their own block of ``matrix``; one on a bound
    that this direction would push out of the box is *pinned* (direction 0) and the
    direction of the rest recomputed, so that a small enough step moves only inside the
    box and the projected arc ``P(v + t d)`` is a descent path.
    Returns ``(d, predicted decrease of the free block)``.
    """
    distance = float(np.linalg.norm(v - np.clip(v - gradient, lower, upper)))
    epsilon = min(_BOUND_EPSILON, distance)
    binding = ((v <= lower + epsilon) & (gradient > 0)) | ((v >= upper - epsilon) & (gradient < 0))
    pinned = np.zeros_like(binding)
    while True:
        free = ~(binding | pinned)
        direction = np.where(binding, -gradient, 0.0)
        predicted = 0.0
        if free.any():
            direction[free], predicted = modified_newton_direction(
                gradient[free], matrix[np.ix_(free, free)]
            )
        outward = free & (((v <= lower) & (direction < 0)) | ((v >= upper) & (direction > 0)))
        if not outward.any():
            return direction, predicted
        pinned |= outward


def hybrid_next(
    used_exact: bool, step: float, rho: float, bhhh_streak: int, max_streak: int = 10
) -> tuple[bool, int]:
    """Which matrix the hybrid uses next: ``(use_exact, BHHH streak)``.

    BHHH costs about one gradient, the exact Hessian about ten; BHHH overstates
    curvature far from the optimum (e.g. in a probit tail) and converges only linearly
    near it.  So: after an exact step that behaved like Newton in its quadratic region
    (full step, actual/predicted decrease ``rho`` in ``[0.8, 1.2]``) stay exact to
    finish quadratically; otherwise try BHHH, and keep it while its model predicts
    usefully (full step, ``rho`` in ``[0.5, 2]``: an overstated curvature gains more
    than predicted), but for at most ``max_streak`` steps in a row before an exact step
    checks the curvature again.  (Against ``[0.5, 1.5]`` and 5 steps, measured with
    ``benchmarks/fit_profile.py``: exact Hessians per fit 7 -> 3 on drug choice and
    8 -> 6 on the beverage study, to the same optimum.)
    """
    full = step == 1.0
    if used_exact:
        return (full and 0.8 <= rho <= 1.2), 0
    if full and 0.5 <= rho <= 2.0 and bhhh_streak + 1 < max_streak:
        return False, bhhh_streak + 1
    return True, 0


def line_search_newton(
    objective: ScaledObjective, v0, max_iterations: int, mode: str, tolerance: float
):
    """Newton-type steps with Armijo backtracking on ``f(v) = -log L(s v) / N``, projected
    onto the objective's box (:func:`projected_newton_direction`; the Armijo test
    along the arc is ``f(P(v + t d)) <= f(v) + 1e-4 g'(P(v + t d) - v)``).

    ``mode``: ``"newton"`` uses the exact Hessian at every iteration, ``"bhhh"`` the
    BHHH matrix, ``"hybrid"`` switches between them (:func:`hybrid_next`).  Stops
    when iclv_jax's relative gradient (held coordinates left out) is below ``tolerance``.
    """
    v = np.asarray(v0, dtype=float)
    state = objective.tracker.optimizer_state  # resumed runs continue the same path
    use_exact = state.get("use_exact", mode in ("newton", "hybrid"))
    bhhh_streak = state.get("bhhh_streak", 0)
    for iteration in range(1, max_iterations + 1):
        value, grad = objective.value_and_grad(v)
        if objective.relative_gradient(v) < tolerance:
            return v, iteration - 1, "relative gradient below tolerance"
        matrix = objective.exact_hessian(v) if use_exact else objective.bhhh(v)
        direction, predicted = projected_newton_direction(
            v, grad, matrix, objective.lower, objective.upper
        )
        step = 1.0
        while True:
            trial = objective.project(v + step * direction)
            trial_value, _ = objective.value_and_grad(trial)
            if trial_value <= value + 1e-4 * float(grad @ (trial - v)):
                break
            step /= 2
            if step < 1e-12:
                if not use_exact and mode == "hybrid":
                    break
                return v, iteration - 1, "line search failed to improve the log-likelihood"
        if step < 1e-12:  # BHHH direction useless here: retry with the exact Hessian
            use_exact = True
            continue
        rho = (value - trial_value) / predicted if predicted > 0 else 0.0
        v = trial
        if mode == "hybrid":
            use_exact, bhhh_streak = hybrid_next(use_exact, step, rho, bhhh_streak)
        state.update(use_exact=bool(use_exact), bhhh_streak=int(bhhh_streak))
        objective.callback(v)
    return v, max_iterations, "maximum number of iterations reached"
