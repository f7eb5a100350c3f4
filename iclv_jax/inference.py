"""Standard errors: exact Hessian, robust sandwich, and the delta method.

With ``H`` the Hessian of ``log L`` and ``s_n`` the per-person scores in the internal
space ``u``, the classical covariance is ``(-H)^{-1}`` and the robust (sandwich) one
``(-H)^{-1} (sum_n s_n s_n') (-H)^{-1}``.  Both map to reported parameters by the
delta method, ``Cov(theta) = J Cov(u) J'`` with ``J = d theta / d u``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np


class NotAMaximumWarning(UserWarning):
    """The Hessian at the estimate is not negative definite."""


@dataclass(frozen=True)
class Covariances:
    """Covariances of the reported free parameters; rows and columns of the
    ``unidentified`` ones are NaN."""

    classical: np.ndarray
    robust: np.ndarray
    smallest_curvature: float
    unidentified: tuple[str, ...] = ()


def weakest_direction(hessian: np.ndarray, names, top: int = 3) -> tuple[float, list[str]]:
    """Smallest curvature ``min eig(-H)`` and the parameters that carry its eigenvector."""
    values, vectors = np.linalg.eigh(-hessian)
    weights = np.abs(vectors[:, 0])
    order = np.argsort(weights)[::-1][:top]
    return float(values[0]), [names[i] for i in order if weights[i] > 0.1]


def flat_internal(hessian: np.ndarray, threshold: float) -> np.ndarray:
    """Internal parameters that carry (weight > 0.1) an eigenvector of ``-H`` whose
    curvature is at most ``threshold``: the directions the data do not identify."""
    values, vectors = np.linalg.eigh(-hessian)
    flat = vectors[:, values <= threshold]
    return np.any(np.abs(flat) > 0.1, axis=1)


def _blank(matrix: np.ndarray, rows: np.ndarray) -> np.ndarray:
    out = matrix.copy()
    out[rows, :] = np.nan
    out[:, rows] = np.nan
    return out


def covariances(hessian: np.ndarray, scores: np.ndarray, jacobian: np.ndarray,
                names, stacklevel: int = 3) -> Covariances:
    """Classical and robust covariances of the reported free parameters.

    When ``-H`` is not positive definite the covariance along the other directions
    uses the pseudo-inverse, and every reported parameter that depends
    (``J_ij != 0``) on an internal parameter of a flat direction gets NaN variances
    and covariances (not the pseudo-inverse's 0, which would read as SE 0, t = inf).
    Warns with :class:`NotAMaximumWarning` naming them.
    """
    curvature, involved = weakest_direction(hessian, names)
    scale = max(1.0, float(np.max(np.abs(np.diag(hessian)))))
    threshold = 1e-10 * scale
    unidentified = np.zeros(len(names), dtype=bool)
    if curvature <= threshold:
        unidentified = np.any(jacobian[:, flat_internal(hessian, threshold)] != 0, axis=1)
        blanked = [names[i] for i in np.flatnonzero(unidentified)]
        warnings.warn(
            f"the Hessian is not negative definite at the estimate (smallest curvature "
            f"{curvature:.3g}); the likelihood is flat or not at a maximum along "
            f"{involved}: these parameters may be unidentified; standard errors of "
            f"{blanked} are NaN, the others use a pseudo-inverse",
            NotAMaximumWarning,
            stacklevel=stacklevel,
        )
        inverse = np.linalg.pinv(-hessian)
    else:
        inverse = np.linalg.inv(-hessian)
    inverse = 0.5 * (inverse + inverse.T)
    meat = scores.T @ scores
    robust = inverse @ meat @ inverse
    return Covariances(
        classical=_blank(jacobian @ inverse @ jacobian.T, unidentified),
        robust=_blank(jacobian @ robust @ jacobian.T, unidentified),
        smallest_curvature=curvature,
        unidentified=tuple(names[i] for i in np.flatnonzero(unidentified)),
    )


def covariances_held_at_bounds(hessian: np.ndarray, scores: np.ndarray, jacobian: np.ndarray,
                               names, held: np.ndarray) -> Covariances:
    """:func:`covariances` with the parameters ``held`` at a bound treated as fixed there.

    An estimate on the boundary of the parameter space has no standard error (its
    sampling distribution is not normal), so the rows and columns of the held ones are
    NaN; the others use the Hessian, scores and Jacobian of the others alone, as if
    the held ones were fixed at their bounds.  Held parameters are bounded
    coefficients, which no other reported parameter depends on.
    """
    free = ~np.asarray(held, dtype=bool)
    if free.all():
        return covariances(hessian, scores, jacobian, names, stacklevel=4)
    kept = np.ix_(free, free)
    reduced = covariances(hessian[kept], scores[:, free], jacobian[kept],
                          [name for name, f in zip(names, free, strict=True) if f],
                          stacklevel=4)

    def embedded(matrix):
        full = np.full(hessian.shape, np.nan)
        full[kept] = matrix
        return full

    return Covariances(classical=embedded(reduced.classical), robust=embedded(reduced.robust),
                       smallest_curvature=reduced.smallest_curvature,
                       unidentified=reduced.unidentified)
