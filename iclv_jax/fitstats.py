"""The fit statistics of the estimation report, from what ``estimate`` already holds.

At the final point ``u`` (free internal parameters), with the compiled likelihood, the
exact Hessian ``H`` and the per-person scores ``s_n`` the standard errors use:

- the log-likelihood's parts (:func:`loglike_parts`): per person
  ``log sum_r w_r exp(m_nr + c_nr)`` (everything), ``log sum_r w_r exp(m_nr)`` (the
  indicators alone, LVs integrated) and ``log sum_r w_r exp(c_nr)`` (the choices
  alone, the LVs from the structural model; what ``rho^2`` is computed on);
- the choice part's baselines: equal shares (the choice kind's ``null_loglike``) and
  constants only (its ``constants_loglike``);
- the eigenvalues of the scaled curvature ``C = -D H D`` over the parameters not held
  at a bound (:func:`curvature_eigenvalues`; ``D`` the scales at the estimate, about
  ``N`` on the diagonal, so they do not depend on the data's units);
- the simulation SD of the LL and of every reported estimate
  (:mod:`iclv_jax.simerror`).

:func:`report_fields` returns them as keyword arguments of
:class:`~iclv_jax.results.Results`.
"""

from __future__ import annotations

import math

import numpy as np

from .inference import weakest_direction
from .optimize import scaled_curvature, scales_from_curvature
from .simerror import estimate_simulation_covariance, loglike_simulation_sd

__all__ = ["curvature_eigenvalues", "loglike_parts", "report_fields"]


def loglike_parts(likelihood, u):
    """Per person ``(log L_n, log L_n^measurement, log L_n^choice)``:
    ``logsumexp_r(log w_r + m_nr + c_nr)``, the same without ``c`` and without ``m``
    (``m``, ``c``: the draw's indicator and choice log-terms,
    :func:`~iclv_jax.drawterms.draw_terms`), from the compiled function that gives the
    scores
    (:meth:`~iclv_jax.likelihood.SimulatedLikelihood.per_person_scores_and_parts`): a
    fit has compiled it already, so the report compiles nothing."""
    values, _, (measurement, choice) = likelihood.per_person_scores_and_parts(u)
    return values, measurement, choice


def curvature_eigenvalues(
    hessian: np.ndarray, scores: np.ndarray, free: np.ndarray, names
) -> tuple[float, float, list[str]]:
    """``(smallest, largest eigenvalue, parameters of the weakest direction)`` of the
    scaled curvature ``-D H D`` over the internal parameters ``free`` (a mask), ``D``
    from :func:`~iclv_jax.optimize.scales_from_curvature` (as the standard errors);
    ``(nan, nan, [])`` when none is free."""
    free = np.asarray(free, dtype=bool)
    if not free.any():
        return math.nan, math.nan, []
    h = np.asarray(hessian)[np.ix_(free, free)]
    curvature = scaled_curvature(h, scales_from_curvature(h, np.asarray(scores)[:, free]))
    values = np.linalg.eigvalsh(curvature)
    _, weakest = weakest_direction(curvature, [n for n, f in zip(names, free, strict=True) if f])
    return float(values[0]), float(values[-1]), weakest


def report_fields(
    problem,
    likelihood,
    final,
    scores: np.ndarray,
    held: np.ndarray,
    other: tuple[np.ndarray, np.ndarray] | None,
    jacobian: np.ndarray,
    se,
) -> dict:
    """The report's fields of :class:`~iclv_jax.results.Results` at ``final`` (the
    verified optimum, with its Hessian; ``likelihood`` the one it was verified on):
    LL parts, choice baselines, the number of choice parameters, curvature
    eigenvalues, and the simulation SDs (``other``: the per-person ``(log L_nk, s_nk)``
    on independent draw sets ``k``, ``None`` for quadrature; ``se``: the classical SEs,
    whose NaN the simulation SDs share)."""
    names = problem.space.free_names
    free = ~np.asarray(held, dtype=bool)
    per_person, measurement, choice = (
        np.asarray(x) for x in loglike_parts(likelihood, final.internal)
    )
    mask = problem.panel.situation_mask
    chosen, available = problem.panel.chosen[mask], problem.panel.available[mask]
    has_choice = not problem.model.choice.empty
    smallest, largest, weakest = curvature_eigenvalues(final.hessian, scores, free, names)
    fields: dict = {
        "loglike_measurement": float(measurement.sum()),
        "loglike_choice": float(choice.sum()) if has_choice else None,
        "loglike_constants_choice": (
            problem.model.choice.constants_loglike(chosen, available) if has_choice else None
        ),
        "n_choice_params": sum(b in ("choice", "choice_lv") for b in problem.space.blocks()),
        "largest_curvature": largest,
        "weakest_parameters": weakest,
    }
    if other is None:
        return fields
    score_sets = np.concatenate([scores[None], other[1]])
    covariance = jacobian @ estimate_simulation_covariance(final.hessian, score_sets, free)
    sd = np.sqrt(np.maximum(np.diag(covariance @ jacobian.T), 0.0))
    sd = np.where(np.isnan(np.asarray(se, dtype=float)), np.nan, sd)
    fields["simulation_sd_loglike"] = loglike_simulation_sd(
        np.concatenate([per_person[None], other[0]])
    )
    fields["simulation_sd"] = dict(zip(names, sd.tolist(), strict=True))
    return fields
