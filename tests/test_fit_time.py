"""Each likelihood evaluation of ``estimate()`` is computed once per point.

The evaluator caches by point: the start values' scores and Hessian (scales, then the
optimiser's first iteration) and the final point's (the optimiser's last iterate, the
verification, the standard errors) are computed once, and the results are bit for bit
those of the same run with the cache switched off.
"""

from __future__ import annotations

import functools
from collections import Counter

import jax.numpy as jnp
import numpy as np
import pytest

import iclv_jax as ij
from iclv_jax import datasets, optimize
from iclv_jax.likelihood import SimulatedLikelihood


@pytest.fixture(scope="module")
def small():
    df, model, _ = datasets.beverage_one_lv(n_people=80, seed=3)
    return model, df, ij.Halton(20, seed=1)


def _counting(monkeypatch) -> dict[str, Counter]:
    """Count the likelihood's Hessian computations by point (``u`` bytes), its scores
    by draw set and point (the simulation-error check evaluates the final point's
    scores on independent draw sets too, each once)."""
    points = {"scores": Counter(), "hessian": Counter()}
    for method, label in (("per_person_and_scores", "scores"), ("hessian", "hessian")):
        descriptor = SimulatedLikelihood.__dict__[method]

        def counted(self, u, descriptor=descriptor, label=label):
            point = np.asarray(u).tobytes()
            draws = hash(np.asarray(self.zeta).tobytes())
            points[label][(draws, point) if label == "scores" else point] += 1
            return descriptor.__get__(self, SimulatedLikelihood)(u)

        monkeypatch.setattr(SimulatedLikelihood, method, counted)
    return points


def _fit(model, df, draws) -> ij.Results:
    return ij.estimate(model, df, draws=draws, start=0.1, verbose=False)


def test_every_point_is_evaluated_once_and_the_final_hessian_once(small, monkeypatch):
    model, df, draws = small
    points = _counting(monkeypatch)
    results = _fit(model, df, draws)
    assert results.converged
    final = ij.Problem(model, df, draws).free_internal(results.estimates)
    # the reported estimates map back to the final internal point up to rounding; find it
    hessian_points = [np.frombuffer(key) for key in points["hessian"]]
    nearest = min(hessian_points, key=lambda u: np.max(np.abs(u - np.asarray(final))))
    np.testing.assert_allclose(nearest, final, rtol=1e-10, atol=1e-12)
    assert points["hessian"][nearest.tobytes()] == 1
    assert max(points["hessian"].values()) == 1
    for i, u in enumerate(hessian_points):  # nor at a point equal to another but for rounding
        for other in hessian_points[i + 1 :]:
            assert not np.allclose(u, other, rtol=1e-12, atol=0)
    assert max(points["scores"].values()) == 1
    assert sum(points["scores"].values()) > results.iterations  # the line-search trials


def test_cached_results_are_identical_to_the_uncached_path(small, monkeypatch):
    model, df, draws = small
    cached_points = _counting(monkeypatch)
    cached = _fit(model, df, draws)
    cached_hessians = sum(cached_points["hessian"].values())
    uncached_points = _counting(monkeypatch)
    monkeypatch.setattr(
        optimize.Evaluator,
        "__init__",
        functools.partialmethod(optimize.Evaluator.__init__, cache_size=0),
    )
    uncached = _fit(model, df, draws)
    assert sum(uncached_points["hessian"].values()) > cached_hessians
    assert uncached.loglike == cached.loglike
    np.testing.assert_array_equal(uncached.table.to_numpy(), cached.table.to_numpy())
    np.testing.assert_array_equal(
        uncached.robust_covariance.to_numpy(), cached.robust_covariance.to_numpy()
    )


def test_evaluator_cache_keeps_the_last_points(small):
    model, df, draws = small
    problem = ij.Problem(model, df, draws)
    evaluator = optimize.Evaluator(problem.likelihood, cache_size=2)
    u = [np.asarray(problem.free_internal(value)) for value in (0.1, 0.2, 0.3)]
    ll, grad, scores = evaluator.scores(u[0])
    per_person, expected = problem.likelihood.per_person_and_scores(jnp.asarray(u[0]))
    assert ll == pytest.approx(float(per_person.sum()), rel=1e-14)
    np.testing.assert_allclose(grad, np.asarray(expected).sum(axis=0), rtol=1e-12)
    assert evaluator.value_and_grad(u[0])[0] == ll
    with pytest.raises(ValueError, match="read-only"):  # shared: no caller may change it
        grad[0] = 0.0
    evaluator.scores(u[1])
    evaluator.scores(u[0])  # recently used: kept when u[2] arrives
    evaluator.scores(u[2])
    assert evaluator.computed["scores"] == 3
    evaluator.scores(u[1])  # evicted: computed again
    assert evaluator.computed["scores"] == 4
    np.testing.assert_array_equal(evaluator.hessian(u[2]), evaluator.hessian(u[2]))
    assert evaluator.computed["hessian"] == 1
