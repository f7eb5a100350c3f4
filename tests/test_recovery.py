"""Estimation end to end: parameter recovery against a known truth, and the real data.

The binary probit study is the representative recovery check of the default run; the
MNL and ordered-choice variants (the same checks, ~30 s each) are slow."""

import numpy as np
import pytest
from scipy.stats import norm

import iclv_jax as ij
from iclv_jax import datasets


def _assert_recovers(choice: str, n_people: int, n_draws: int, seed: int, z_limit=3.0):
    df, model, truth = datasets.beverage(n_people=n_people, choice=choice, seed=seed)
    results = ij.estimate(model, df, draws=ij.Halton(n_draws, seed=seed), verbose=False)
    assert results.converged, results.message
    assert results.relative_gradient < 1e-6
    assert set(results.table.index) == set(truth)
    table = results.table
    z = (table["estimate"] - np.array([truth[name] for name in table.index])) / table["robust_se"]
    assert np.all(np.isfinite(z))
    assert np.all(np.abs(z) < z_limit), z[np.abs(z) >= z_limit]
    # the maximum is at least as good as the truth under the same draws
    problem = ij.Problem(model, df, draws=ij.Halton(n_draws, seed=seed))
    assert results.loglike >= problem.loglike(truth)
    assert abs(problem.loglike(results.estimates) - results.loglike) < 1e-8
    return results


def test_binary_probit_beverage_study_recovers_the_truth_from_raw_prices():
    results = _assert_recovers("probit", n_people=2000, n_draws=200, seed=1)
    assert results.loglike_null_choice == pytest.approx(20000 * np.log(0.5))
    np.testing.assert_allclose(results.table["se"], results.table["robust_se"], rtol=0.35)


def _familywise_z(n_params: int, level: float = 0.01) -> float:
    """Bonferroni: all ``n_params`` |z| below it with probability ``1 - level``."""
    return float(norm.isf(level / (2 * n_params)))


@pytest.mark.slow
def test_multinomial_logit_variant_recovers_the_truth():
    _assert_recovers("logit", n_people=800, n_draws=150, seed=2, z_limit=_familywise_z(61))


@pytest.mark.slow
def test_ordered_probit_choice_variant_recovers_the_truth():
    results = _assert_recovers(
        "ordered", n_people=800, n_draws=150, seed=3, z_limit=_familywise_z(62)
    )
    assert results.loglike_null_choice == pytest.approx(800 * 10 * np.log(1 / 5))


def test_drug_choice_iclv_reproduces_the_reference_loglikelihood():
    """README of ../shared/data: LL -19734.47 at the start, -16545.03 at the optimum
    (Apollo-compatible Halton, R = 100, 37 parameters)."""
    df, model, start = datasets.drug_choice()
    draws = ij.ApolloHalton(100)
    assert ij.Problem(model, df, draws=draws).loglike(start) == pytest.approx(-19734.47, abs=0.01)
    results = ij.estimate(model, df, draws=draws, start=start, verbose=False)
    assert results.n_params == 37
    assert results.converged
    assert results.loglike == pytest.approx(-16545.03, abs=0.05)
    assert results.estimates["beta_price"] == pytest.approx(-0.724, abs=0.01)
    assert results.table.loc["beta_price", "se"] == pytest.approx(0.018, abs=0.002)
    assert results.estimates["lambda"] == pytest.approx(0.638, abs=0.02)
    summary = results.summary()
    assert "beta_price" in summary and "-16545.03" in summary
