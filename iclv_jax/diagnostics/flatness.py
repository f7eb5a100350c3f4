"""Flat directions of the likelihood: where the scaled Hessian and every person's score
vanish together (the model or the data, not the gradient code)."""

from __future__ import annotations

import numpy as np

__all__ = ["flat_directions", "typical_curvature"]


def typical_curvature(diagonal: np.ndarray) -> float:
    """The median of a non-negative diagonal (its largest entry if the median is 0)."""
    median = float(np.median(diagonal)) if diagonal.size else 0.0
    if median > 0:
        return median
    largest = float(np.max(diagonal)) if diagonal.size else 0.0
    return largest if largest > 0 else 1.0


def flat_directions(
    scaled_hessian: np.ndarray,
    scaled_bhhh: np.ndarray,
    names,
    typical: float,
    tolerance: float,
    weight: float = 0.1,
) -> list[dict[str, float]]:
    """Unit directions ``d`` (scaled coordinates) along which the likelihood is flat:
    in the span of the eigenvectors of the symmetrised scaled Hessian with
    ``|eigenvalue| <= tolerance * typical``, and with ``d' B d <= tolerance`` for the
    scaled BHHH matrix ``B = S (sum_n s_n s_n') S / N`` (unit diagonal): every person's
    score is zero along ``d`` too.  (Far from the optimum a parameter can have tiny
    curvature beside huge scores, e.g. a saturated probit at raw prices: not flat.)
    Returned as ``{name: component}`` for components of at least ``weight``."""
    values, vectors = np.linalg.eigh(0.5 * (scaled_hessian + scaled_hessian.T))
    span = vectors[:, np.abs(values) <= tolerance * typical]
    if span.shape[1] == 0:
        return []
    restricted = span.T @ scaled_bhhh @ span
    b_values, b_vectors = np.linalg.eigh(0.5 * (restricted + restricted.T))
    directions = []
    for k in np.flatnonzero(b_values <= tolerance):
        vector = span @ b_vectors[:, k]
        vector = vector / np.linalg.norm(vector)
        vector = vector * np.sign(vector[np.argmax(np.abs(vector))])
        order = np.argsort(-np.abs(vector))
        directions.append({names[i]: float(vector[i]) for i in order if abs(vector[i]) >= weight})
    return directions
