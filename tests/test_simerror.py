"""Simulation error of an MSL fit, predicted from one independent draw set, against the
spread over many independent draw sets (iclv_jax.simerror)."""

import numpy as np
import pytest

import iclv_jax as ij
from iclv_jax import datasets
from iclv_jax.simerror import (
    estimate_simulation_covariance,
    independent_draws,
    loglike_simulation_sd,
    on_independent_draws,
    simulation_draws_needed,
)

SEEDS = range(20)


def test_loglike_simulation_sd_matches_twenty_halton_seeds():
    """Beverage study at its true parameters, R = 50 scrambled Halton draws: the SD
    predicted from the estimation draws (seed 0) and the independent sets (seeds 1-4),
    as ``estimate`` reports it, against the SD of the LL over 20 seeds 100..119."""
    df, model, truth = datasets.beverage()
    problem = ij.Problem(model, df, ij.Halton(50, seed=0))
    u = problem.free_internal(truth)
    others = on_independent_draws(problem, u)[0]
    predicted = loglike_simulation_sd(np.vstack([problem.likelihood.per_person(u), others]))
    n, dims = problem.panel.n_people, model.n_draw_dims
    sets = [ij.Halton(50, seed=100 + s).normals(n, dims) for s in SEEDS]
    loglikes = [float(problem.likelihood.with_draws(z).loglike(u)) for z in sets]
    observed = np.std(loglikes, ddof=1)
    assert observed > 1.0  # a real simulation error at R = 50
    assert predicted == pytest.approx(observed, rel=0.3)


def test_estimate_simulation_sd_matches_the_spread_of_newton_steps(fitted_small):
    """The reported simulation SDs of the estimates against the spread, over 20 draw
    sets, of the Newton step each set's score sum asks for at the estimate,
    ``J (-H)^{-1} sum_n s_n``: to first order the estimate on that set minus the
    estimate."""
    results, model, df = fitted_small
    problem = ij.Problem(model, df, ij.draws_from_dict(results.draws))
    u = problem.free_internal(results.estimates)
    hessian = np.asarray(problem.likelihood.hessian(u))
    jacobian = problem.likelihood.to_reported.on_host(u)[1]
    n, dims = problem.panel.n_people, model.n_draw_dims
    steps = []
    for s in SEEDS:
        other = problem.likelihood.with_draws(ij.Halton(10, seed=100 + s).normals(n, dims))
        gradient = np.asarray(other.scores(u)).sum(axis=0)
        steps.append(np.asarray(jacobian) @ np.linalg.solve(-hessian, gradient))
    observed = np.std(steps, axis=0, ddof=1)
    predicted = np.array([results.simulation_sd[name] for name in results.table.index])
    ratio = predicted / observed
    assert np.median(ratio) == pytest.approx(1.0, abs=0.3)
    assert np.all((ratio > 0.4) & (ratio < 2.5))
    # and the same as recomputed from the estimation draws and the independent sets
    scores = np.vstack([problem.likelihood.scores(u)[None], on_independent_draws(problem, u)[1]])
    free = np.ones(len(u), dtype=bool)
    covariance = np.asarray(jacobian) @ estimate_simulation_covariance(hessian, scores, free)
    direct = np.sqrt(np.diag(covariance @ np.asarray(jacobian).T))
    np.testing.assert_allclose(predicted, direct, rtol=1e-6)


def test_independent_draws_and_draws_needed():
    assert independent_draws(ij.Halton(100, seed=3)) == ij.Halton(100, seed=4)
    assert independent_draws(ij.Halton(100, seed=3), 2) == ij.Halton(100, seed=5)
    assert independent_draws(ij.MLHS(7, seed=0)) == ij.MLHS(7, seed=1)
    # a deterministic rule: scrambled Halton stands in
    assert independent_draws(ij.ApolloHalton(20)) == ij.Halton(20, seed=1)
    assert independent_draws(ij.Halton(5, scramble=False)) == ij.Halton(5, seed=1)
    assert independent_draws(ij.Quadrature(5)) is None
    # SD twice the target: four times the draws; rounded up to two digits
    assert simulation_draws_needed(100, 2.0) == 400
    assert simulation_draws_needed(100, 3.1) == 970  # 961 rounded up
    assert simulation_draws_needed(100, 0.5) == 100  # enough already
