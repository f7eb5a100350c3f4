"""Standard errors: exact Hessian, robust sandwich, and the delta method.

With ``H`` the Hessian of ``log L`` and ``s_n`` the per-person scores in the internal
space ``u``, the classical covariance is ``(-H)^{-1}`` and the robust (sandwich) one
``(-H)^{-1} (sum_n s_n s_n') (-H)^{-1}``.  Both map to reported parameters by the
delta method, ``Cov(theta) = J Cov(u) J'`` with ``J = d theta / d u``.  The inverses
are taken in scaled coordinates (``-D H D``, ``D`` the parameter scales), where the
matrix is well conditioned whatever the units of the data.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from .optimize.optimality import flat_threshold, scaled_curvature, scales_from_curvature

#: A direction is taken for unidentified where the share of its curvature that is
#: information (:func:`noise_dominated`) is below this fraction of what sampling noise
#: alone can leave, ``(1 - sqrt(F / N))^2``.
INFORMATION_SHARE = 0.25
#: Fewer people per free parameter leave the shares dominated by sampling noise (the
#: cross products of scores are indefinite, their smallest shares far below 0 on an
#: identified 59-parameter model with 120 people): no check there.
PEOPLE_PER_PARAMETER = 4


class NotAMaximumWarning(UserWarning):
    """The Hessian at the estimate is not clearly negative definite (singular along a
    flat direction, or with a wrong-way curvature)."""


@dataclass(frozen=True)
class Covariances:
    """Covariances of the reported free parameters; rows and columns of the
    ``unidentified`` ones are NaN."""

    classical: np.ndarray
    robust: np.ndarray
    smallest_curvature: float
    unidentified: tuple[str, ...] = ()


def weakest_direction(curvature: np.ndarray, names, top: int = 3) -> tuple[float, list[str]]:
    """Smallest eigenvalue of the (scaled) curvature ``C`` and the parameters that carry
    its eigenvector."""
    values, vectors = np.linalg.eigh(curvature)
    weights = np.abs(vectors[:, 0])
    order = np.argsort(weights)[::-1][:top]
    return float(values[0]), [names[i] for i in order if weights[i] > 0.1]


def flat_internal(curvature: np.ndarray, threshold: float) -> np.ndarray:
    """Internal parameters that carry (weight > 0.1) an eigenvector of the (scaled)
    curvature ``C`` whose eigenvalue is at most ``threshold``: the directions the data
    do not identify."""
    values, vectors = np.linalg.eigh(curvature)
    flat = vectors[:, values <= threshold]
    return np.any(np.abs(flat) > 0.1, axis=1)


def sampling_floor(n_people: int, n_free: int) -> float:
    """``(1 - sqrt(F / N))^2`` (0 when ``F >= N``): about the smallest generalised
    eigenvalue of an outer product of ``N`` scores in ``F`` dimensions against the
    information it estimates (the lower edge of the Marchenko-Pastur law), so what an
    identified direction can show from sampling noise alone."""
    return max(0.0, 1.0 - np.sqrt(n_free / n_people)) ** 2


def noise_dominated(
    hessian: np.ndarray,
    scores: np.ndarray,
    other_scores: np.ndarray,
    share: float = INFORMATION_SHARE,
) -> tuple[float, np.ndarray]:
    """The smallest share of the curvature that is information rather than simulation
    noise, over directions ``v``, and the internal parameters that carry (weight > 0.1
    of the unit vector) a direction whose share is below ``share`` times
    :func:`sampling_floor`.

    ``scores`` ``S_A`` (the draws of ``H``) and ``other_scores`` ``S_B`` are per-person
    scores at the estimate on two independent draw sets.  Their simulation errors are
    independent, so ``C = (S_A'S_B + S_B'S_A) / 2`` estimates the outer product of the
    exact scores without the noise's own square: the information ``-v'Hv`` along an
    identified direction (information equality), 0 along one the data do not identify
    (every person's exact score is 0 there, and the simulated curvature ``-v'Hv > 0``
    is noise alone).  The shares are the generalised eigenvalues ``v'Cv / -v'Hv``
    (``-H`` positive definite).
    """
    cross = scores.T @ other_scores
    shares, vectors = scipy.linalg.eigh(0.5 * (cross + cross.T), -hessian)
    unit = vectors / np.linalg.norm(vectors, axis=0)
    noisy = unit[:, shares < share * sampling_floor(*scores.shape)]
    return float(shares[0]), np.any(np.abs(noisy) > 0.1, axis=1)


def _named(names, mask: np.ndarray) -> list[str]:
    return [names[i] for i in np.flatnonzero(mask)]


def _blank(matrix: np.ndarray, rows: np.ndarray) -> np.ndarray:
    out = matrix.copy()
    out[rows, :] = np.nan
    out[:, rows] = np.nan
    return out


def _not_a_maximum_message(curvature: float, threshold: float, involved, blanked) -> str:
    """The warning's text; its wording follows the sign of the curvature it prints."""
    if curvature <= 0:
        state = (
            f"the Hessian is not negative definite at the estimate (smallest scaled "
            f"curvature {curvature:.3g} <= 0): the likelihood is not at a maximum"
        )
    else:
        state = (
            f"the Hessian is nearly singular at the estimate (smallest scaled "
            f"curvature {curvature:.3g}, positive but below {threshold:.3g}): the "
            f"likelihood is flat"
        )
    return (
        f"{state} along {involved}: these parameters may be unidentified; standard "
        f"errors of {blanked} are NaN, the others use a pseudo-inverse"
    )


def covariances(
    hessian: np.ndarray,
    scores: np.ndarray,
    jacobian: np.ndarray,
    names,
    noisy: np.ndarray | None = None,
    stacklevel: int = 3,
) -> Covariances:
    """Classical and robust covariances of the reported free parameters.

    Everything is computed in the scaled coordinates ``v = u / s`` of
    :func:`~iclv_jax.optimize.scales_from_curvature` (``D = diag(s)``): with the scaled
    curvature ``C = -D H D`` and scaled scores ``s_n D``, ``Cov(u) = D C^{-1} D`` and the
    sandwich ``D C^{-1} (D S'S D) C^{-1} D``, so the flatness test, the parameters it
    names and the standard errors do not depend on the units of the data (a price
    coefficient's SE scales exactly with the price unit).  When ``C`` is not positive
    definite (:func:`~iclv_jax.optimize.flat_threshold`) the covariance along the
    other directions uses the pseudo-inverse, and every reported parameter that
    depends (``J_ij != 0``) on an internal parameter of a flat direction gets NaN
    variances and covariances (not the pseudo-inverse's 0, which would read as SE 0,
    t = inf).  So do those depending on the internal parameters ``noisy`` (a mask):
    directions whose curvature is simulation noise (:func:`noise_dominated`).  Both
    warn with :class:`NotAMaximumWarning` naming them.
    """
    scales = scales_from_curvature(hessian, scores)
    curvature_matrix = scaled_curvature(hessian, scales)
    curvature, involved = weakest_direction(curvature_matrix, names)
    threshold = flat_threshold(curvature_matrix)
    unidentified = np.zeros(len(names), dtype=bool)
    if curvature <= threshold:
        flat = flat_internal(curvature_matrix, threshold)
        unidentified = np.any(jacobian[:, flat] != 0, axis=1)
        blanked = _named(names, unidentified)
        warnings.warn(
            _not_a_maximum_message(curvature, threshold, involved, blanked),
            NotAMaximumWarning,
            stacklevel=stacklevel,
        )
        inverse = np.linalg.pinv(curvature_matrix)
    else:
        inverse = np.linalg.inv(curvature_matrix)
    if noisy is not None and noisy.any():
        on_noise = np.any(jacobian[:, noisy] != 0, axis=1)
        unidentified |= on_noise
        warnings.warn(
            f"the curvature of the log-likelihood along {_named(names, on_noise)} is no "
            "larger than its simulation noise: the data do not identify these parameters "
            "(or the draws are too few to tell); their standard errors are NaN",
            NotAMaximumWarning,
            stacklevel=stacklevel,
        )
    inverse = 0.5 * (inverse + inverse.T)
    scaled_scores = scores * scales
    robust = scales[:, None] * (inverse @ (scaled_scores.T @ scaled_scores) @ inverse) * scales
    classical = scales[:, None] * inverse * scales
    return Covariances(
        classical=_blank(jacobian @ classical @ jacobian.T, unidentified),
        robust=_blank(jacobian @ robust @ jacobian.T, unidentified),
        smallest_curvature=curvature,
        unidentified=tuple(_named(names, unidentified)),
    )


def covariances_held_at_bounds(
    hessian: np.ndarray,
    scores: np.ndarray,
    jacobian: np.ndarray,
    names,
    held: np.ndarray,
    noisy: np.ndarray | None = None,
) -> Covariances:
    """:func:`covariances` with the parameters ``held`` at a bound treated as fixed there.

    An estimate on the boundary of the parameter space has no standard error (its
    sampling distribution is not normal), so the rows and columns of the held ones are
    NaN; the others use the Hessian, scores and Jacobian of the others alone, as if
    the held ones were fixed at their bounds.  Held parameters are bounded
    coefficients, which no other reported parameter depends on.
    """
    free = ~np.asarray(held, dtype=bool)
    if free.all():
        return covariances(hessian, scores, jacobian, names, noisy, stacklevel=4)
    kept = np.ix_(free, free)
    reduced = covariances(
        hessian[kept],
        scores[:, free],
        jacobian[kept],
        [name for name, f in zip(names, free, strict=True) if f],
        None if noisy is None else noisy[free],
        stacklevel=4,
    )

    def embedded(matrix):
        full = np.full(hessian.shape, np.nan)
        full[kept] = matrix
        return full

    return Covariances(
        classical=embedded(reduced.classical),
        robust=embedded(reduced.robust),
        smallest_curvature=reduced.smallest_curvature,
        unidentified=reduced.unidentified,
    )
