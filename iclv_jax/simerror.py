"""Simulation error of a maximum simulated likelihood fit, from a few independent draw sets.

With ``R`` draws per person the simulated ``log L_n`` differs from the exact one by a
random simulation error ``e_n``, independent across people (each person has draws of
their own).  Evaluated at the same parameters on the estimation draws and on ``K``
independent draw sets of the same kind (:func:`independent_draws`), the ``K + 1``
values of ``log L_n`` have sample variance ``v_n`` (``K`` degrees of freedom) whose
expectation is ``Var(e_n)``, so

    Var_sim(LL) = sum_n Var(e_n)  is estimated by  sum_n v_n.

The same holds for the per-person scores: ``Sigma = sum_n`` (sample covariance of
``s_n`` over the sets) estimates the simulation covariance of the score sum
``sum_n s_n``.  The estimate solves ``sum_n s_n(u) = 0``, so to first order its
simulation error is ``-H^{-1} sum_n e_n^s`` and

    Cov_sim(u_hat) = H^{-1} Sigma H^{-1}       (a sandwich, internal parameters),

carried to the reported parameters by their Jacobian ``J``.  Unlike the textbook
``Var_r(L_nr) / (R mean_r(L_nr)^2)`` this needs no independence of the draws within a
person, so it holds for scrambled Halton, Sobol' and MLHS draws, whose error is far
below that of independent draws (3.7 times on the LL of ``tests/test_simerror.py``'s
small fit, R = 10).  It costs ``K`` evaluations of the per-person scores at the
estimate (:data:`SIMULATION_SETS`; the first set is also the noise check's of
:func:`information_share`), far less than one Hessian.  With one set (``K = 1``) the
SD of an estimate was itself uncertain by 34% (Halton, R = 10, N = 150; 12% with
pseudo-random draws); four sets halve that.  Quadrature has no simulation error.
"""

from __future__ import annotations

import dataclasses
import math

import jax.numpy as jnp
import numpy as np

from .draws import MLHS, Draws, Halton, NoDraws, PseudoRandom, Sobol
from .inference import PEOPLE_PER_PARAMETER, noise_dominated
from .optimize import scaled_curvature, scales_from_curvature
from .quadrature import AdaptiveQuadrature, Quadrature

__all__ = [
    "SIMULATION_SETS",
    "SIMULATION_SHARE",
    "estimate_simulation_covariance",
    "independent_draws",
    "information_share",
    "loglike_simulation_sd",
    "on_independent_draws",
    "simulation_draws_needed",
]

#: independent draw sets beside the estimation draws
SIMULATION_SETS = 4
#: a fit has enough draws when every estimate's simulation SD is at most this share of
#: its standard error (the simulation then adds at most 1% to the variance)
SIMULATION_SHARE = 0.1


def independent_draws(draws: Draws, k: int = 1) -> Draws | None:
    """The ``k``-th draw set of the same kind as ``draws``, independent of it: the seed
    plus ``k`` for randomised rules (scrambled Halton or Sobol', MLHS, pseudo-random);
    scrambled Halton with the seed plus ``k`` for a deterministic rule (plain Halton or
    Sobol', Apollo's Halton), whose error it stands in for; ``None`` for quadrature
    and :class:`~iclv_jax.draws.NoDraws` (no simulation error)."""
    if isinstance(draws, Quadrature | AdaptiveQuadrature | NoDraws):
        return None
    randomised = isinstance(draws, MLHS | PseudoRandom) or (
        isinstance(draws, Halton | Sobol) and draws.scramble
    )
    if randomised:
        return dataclasses.replace(draws, seed=draws.seed + k)
    return Halton(draws.n_draws, seed=draws.seed + k)


def on_independent_draws(
    problem, u, n_sets: int = SIMULATION_SETS
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(log L_nk, scores s_nk)`` per set ``k`` and person ``n`` at the free internal
    ``u`` on the sets ``k = 1..n_sets`` of :func:`independent_draws`, shapes ``(K, N)``
    and ``(K, N, F)`` (the compiled per-person function is reused: same shapes);
    ``None`` for quadrature."""
    loglikes, scores = [], []
    for k in range(1, n_sets + 1):
        other = independent_draws(problem.draws, k)
        if other is None:
            return None
        zeta = other.normals(problem.panel.n_people, problem.model.n_draw_dims)
        values = problem.likelihood.with_draws(zeta).per_person_and_scores(jnp.asarray(u))
        loglikes.append(np.asarray(values[0]))
        scores.append(np.asarray(values[1]))
    return np.stack(loglikes), np.stack(scores)


def loglike_simulation_sd(loglikes) -> float:
    """``sqrt(sum_n v_n)``, ``v_n`` the sample variance of person ``n``'s
    ``log L_n`` over independent draw sets (``loglikes``: sets by people): the
    simulation SD of the summed log-likelihood."""
    values = np.asarray(loglikes, dtype=float)
    return float(np.sqrt(np.var(values, axis=0, ddof=1).sum()))


def estimate_simulation_covariance(hessian: np.ndarray, scores, free: np.ndarray) -> np.ndarray:
    """``H^{-1} Sigma H^{-1}`` over the internal parameters ``free`` (a mask; the others,
    held at a bound, get 0), ``Sigma = sum_n`` the sample covariance of person ``n``'s
    scores over independent draw sets (``scores``: sets by people by parameters).
    ``H^{-1}`` is taken as ``D C^{-1} D`` with the scaled curvature ``C = -D H D``
    (:func:`~iclv_jax.optimize.scaled_curvature`), a pseudo-inverse where ``C`` is
    singular."""
    free = np.asarray(free, dtype=bool)
    covariance = np.zeros((len(free), len(free)))
    if not free.any():
        return covariance
    h = np.asarray(hessian)[np.ix_(free, free)]
    sets = np.asarray(scores, dtype=float)[:, :, free]
    scales = scales_from_curvature(h, sets[0])
    inverse = scales[:, None] * np.linalg.pinv(scaled_curvature(h, scales)) * scales
    deviations = (sets - sets.mean(axis=0)).reshape(-1, sets.shape[2])
    sigma = deviations.T @ deviations / (sets.shape[0] - 1)
    covariance[np.ix_(free, free)] = inverse @ sigma @ inverse
    return covariance


def simulation_draws_needed(n_draws: int, ratio: float) -> int:
    """The draws per person that bring a simulation SD now ``ratio`` times its target
    down to the target, ``R ratio^2`` (the ``1/sqrt(R)`` rate of independent draws;
    quasi-random draws usually do better, so this errs on the safe side), rounded up
    to two significant digits."""
    needed = n_draws * ratio**2
    if not math.isfinite(needed) or needed <= n_draws:
        return n_draws
    step = 10 ** max(0, math.floor(math.log10(needed)) - 1)
    return int(math.ceil(needed / step) * step)


def information_share(
    problem, final, held: np.ndarray, scores: np.ndarray, other_scores: np.ndarray | None
) -> tuple[float, np.ndarray]:
    """``(smallest share of the curvature that is information, internal parameters on
    directions whose curvature is simulation noise)`` at the final point, over the
    parameters not ``held`` at a bound, from the per-person ``scores`` on the
    estimation draws and ``other_scores`` on an independent set
    (:func:`on_independent_draws`) (see :func:`iclv_jax.inference.noise_dominated`);
    ``(nan, none)`` for quadrature (``other_scores`` None: no simulation noise), where
    ``-H`` is not positive definite, or with fewer than
    :data:`~iclv_jax.inference.PEOPLE_PER_PARAMETER` people per free parameter."""
    none = np.zeros(problem.space.n_free, dtype=bool)
    free = ~np.asarray(held, dtype=bool)
    if (
        other_scores is None
        or not final.negative_definite
        or problem.panel.n_people < PEOPLE_PER_PARAMETER * free.sum()
        or not free.any()
    ):
        return float("nan"), none
    share, noisy_free = noise_dominated(
        final.hessian[np.ix_(free, free)], scores[:, free], other_scores[:, free]
    )
    noisy = none.copy()
    noisy[free] = noisy_free
    return share, noisy
