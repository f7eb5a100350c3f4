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
    classical: np.ndarray
    robust: np.ndarray
    smallest_curvature: float


def weakest_direction(hessian: np.ndarray, names, top: int = 3) -> tuple[float, list[str]]:
    """Smallest curvature ``min eig(-H)`` and the parameters that carry its eigenvector."""
    values, vectors = np.linalg.eigh(-hessian)
    weights = np.abs(vectors[:, 0])
    order = np.argsort(weights)[::-1][:top]
    return float(values[0]), [names[i] for i in order if weights[i] > 0.1]


def covariances(hessian: np.ndarray, scores: np.ndarray, jacobian: np.ndarray,
                names) -> Covariances:
    """Classical and robust covariances of the reported free parameters.

    Warns with :class:`NotAMaximumWarning`, naming the parameters involved, when
    ``-H`` is not positive definite; the covariance then uses the pseudo-inverse.
    """
    curvature, involved = weakest_direction(hessian, names)
    scale = max(1.0, float(np.max(np.abs(np.diag(hessian)))))
    if curvature <= 1e-10 * scale:
        warnings.warn(
            f"the Hessian is not negative definite at the estimate (smallest curvature "
            f"{curvature:.3g}); the likelihood is flat or not at a maximum along "
            f"{involved}: these parameters may be unidentified; standard errors use a "
            "pseudo-inverse",
            NotAMaximumWarning,
            stacklevel=3,
        )
        inverse = np.linalg.pinv(-hessian)
    else:
        inverse = np.linalg.inv(-hessian)
    inverse = 0.5 * (inverse + inverse.T)
    meat = scores.T @ scores
    robust = inverse @ meat @ inverse
    return Covariances(
        classical=jacobian @ inverse @ jacobian.T,
        robust=jacobian @ robust @ jacobian.T,
        smallest_curvature=curvature,
    )
