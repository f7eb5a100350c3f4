"""Gauss-Hermite quadrature (plain and adaptive) against closed forms, numpy sums,
simulation, and the rest of the library (analytic scores, Hessian, estimation)."""

import dataclasses
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from helpers import (
    analytic_study,
    assert_scores_match,
    continuous_study,
    gaussian_marginal_loglike,
    ordered_probit_study,
    refused,
)
from scipy.stats import norm

import iclv_jax as ij
from iclv_jax import datasets, report
from iclv_jax import diagnostics as dg
from iclv_jax.likelihood import person_loglike
from iclv_jax.quadrature import MAX_NODES, adaptation, gauss_hermite

DRUG_DATA = datasets.drug_choice_path()
needs_drug_data = pytest.mark.skipif(not DRUG_DATA.is_file(), reason=f"{DRUG_DATA} absent")


# --- the rule -------------------------------------------------------------------------


def _normal_moment(k):
    return 0.0 if k % 2 else float(math.prod(range(k - 1, 0, -2)))


@pytest.mark.parametrize(("n_nodes", "n_dims"), [(1, 1), (7, 1), (30, 1), (5, 2), (4, 3)])
def test_the_rule_integrates_polynomials_of_degree_2n_minus_1(n_nodes, n_dims):
    nodes, log_w = gauss_hermite(n_nodes, n_dims)
    assert nodes.shape == (n_nodes**n_dims, n_dims) and log_w.shape == (n_nodes**n_dims,)
    w = np.exp(log_w)
    assert abs(w.sum() - 1) < 1e-14
    for powers in np.ndindex(*([2 * n_nodes] * n_dims)):
        terms = w * np.prod(nodes ** np.array(powers), axis=1)
        expected = math.prod(_normal_moment(p) for p in powers)
        assert abs(terms.sum() - expected) < 1e-12 * max(1.0, np.abs(terms).sum()), powers
    # the rule is not exact beyond: E x^(2n) misses
    assert abs(np.sum(w * nodes[:, 0] ** (2 * n_nodes)) - _normal_moment(2 * n_nodes)) > 1e-3


def test_quadrature_is_a_draws_rule():
    rule = ij.Quadrature(7)
    assert isinstance(rule, ij.Draws) and rule.n_draws == 7 and rule.n_dims is None
    two = rule.for_dims(2)
    assert two.n_draws == 49 and two.n_dims == 2 and two.for_dims(2) is two
    assert two == ij.Quadrature(7, n_dims=2) and "n_nodes=7" in repr(two)
    z = two.normals(3, 2)
    assert z.shape == (3, 49, 2) and np.all(z == z[0])
    np.testing.assert_array_equal(z[0], gauss_hermite(7, 2)[0])
    assert abs(np.exp(two.log_weights()).sum() - 1) < 1e-14
    u = two.uniforms(3, 2)
    assert np.all((u > 0) & (u < 1))
    with pytest.raises(dataclasses.FrozenInstanceError):
        rule.n_nodes = 3
    with pytest.raises(ValueError, match="built for 2 latent variables"):
        two.for_dims(1)
    for bad in (0, 2.0, True, 301):
        with refused(ValueError, match="n_nodes"):
            ij.Quadrature(bad)
    adaptive = ij.AdaptiveQuadrature(5).for_dims(3)
    assert isinstance(adaptive, ij.Quadrature) and adaptive.n_draws == 125


def test_too_many_latent_variables_are_refused_with_the_node_count():
    with pytest.raises(ValueError, match=r"5\^4 = 625 nodes per person.*Halton"):
        ij.Quadrature(5).for_dims(4)
    with pytest.raises(ValueError, match=r"5\^4 = 625"):
        ij.Quadrature(5).normals(10, 4)
    with pytest.raises(ValueError, match=r"47\^3 = 103,823 nodes per person.*Halton"):
        ij.AdaptiveQuadrature(47).for_dims(3)
    assert ij.Quadrature(46).for_dims(3).n_draws == 46**3 <= MAX_NODES
    df, model, _ = datasets.beverage(n_people=5, n_situations=1)  # three LVs
    with pytest.raises(ValueError, match=r"50\^3 = 125,000 nodes per person"):
        ij.Problem(model, df, draws=ij.Quadrature(50))
    problem = ij.Problem(model, df, draws=ij.Quadrature(4))
    assert problem.draws.n_draws == 64 and problem.likelihood.zeta.shape[1:] == (64, 3)


# --- exactness ------------------------------------------------------------------------


def test_problem_loglike_adapts_the_nodes_at_the_point_it_evaluates():
    """``Problem.loglike(params)`` with adaptive quadrature is the adaptive rule
    centred at ``params`` (exact for a Gaussian posterior with one node), not at the
    defaults the problem was built at, and not at the last point adapted."""
    df, model, truth = continuous_study()
    exact = gaussian_marginal_loglike(df, truth)
    problem = ij.Problem(model, df, draws=ij.AdaptiveQuadrature(1))
    assert abs(problem.loglike(truth) - exact) < 1e-8
    elsewhere = {name: 1.3 * value for name, value in truth.items()}
    problem.adapt(elsewhere)
    assert abs(problem.loglike(truth) - exact) < 1e-8
    stale = ij.Problem(model, df, draws=ij.AdaptiveQuadrature(1))  # defaults
    assert abs(float(stale.likelihood.loglike(stale.free_internal(truth))) - exact) > 1e-3


def test_continuous_indicators_equal_the_gaussian_marginal():
    df, model, truth = continuous_study()
    exact = gaussian_marginal_loglike(df, truth)
    assert abs(ij.Problem(model, df, draws=ij.Quadrature(60)).loglike(truth) - exact) < 1e-8
    # the posterior is Gaussian: one adaptive node (the Laplace approximation) is exact
    problem = ij.Problem(model, df, draws=ij.AdaptiveQuadrature(1))
    problem.adapt(truth)
    assert abs(problem.loglike(truth) - exact) < 1e-8
    # a coarse plain rule is measurably off (the comparison can fail)
    assert abs(ij.Problem(model, df, draws=ij.Quadrature(10)).loglike(truth) - exact) > 1e-3


def _two_lv_study(n_people=5, seed=7):
    rng = np.random.default_rng(seed)
    rows = []
    for n in range(n_people):
        person = {
            "id": n,
            "x": rng.normal(),
            "c1": rng.normal(0.5, 1.2),
            "q": int(rng.integers(1, 4)),
        }
        rows += [
            {**person, "z": rng.normal(), "buy": int(rng.integers(0, 2))} for _ in range(1 + n % 3)
        ]
    model = ij.ICLVModel(
        [ij.LatentVariable("a", covariates=["x"]), ij.LatentVariable("b", predictors=["a"])],
        [ij.Indicator("c1", "a", kind="continuous"), ij.Indicator("q", "b", levels=3)],
        ij.BinaryProbit(
            "buy", ij.Utility(attributes={"z": "z"}, constants={"c": None}, lvs=["a", "b"])
        ),
    )
    params = {
        "b_x_to_a": 0.7,
        "gamma_a_to_b": -0.8,
        "alpha_c1": 0.3,
        "lambda_c1": 1.1,
        "sigma_c1": 0.7,
        "lambda_q": 1.4,
        "tau_q_1": -0.5,
        "tau_q_2": 0.6,
        "asc_c": 0.2,
        "beta_z": -0.6,
        "theta_a": 0.9,
        "theta_b": -1.2,
    }
    return pd.DataFrame(rows), model, params


def _two_lv_double_sum(df, p, n_nodes):
    """``sum_n log sum_i sum_j w_i w_j f_n(x_i, x_j)`` in plain numpy (``[i, j]`` grids)."""
    x, v = np.polynomial.hermite_e.hermegauss(n_nodes)
    w = v / v.sum()
    total = 0.0
    for _, person in df.groupby("id"):
        first = person.iloc[0]
        a = (p["b_x_to_a"] * first["x"] + x)[:, None]  # [i, 1]
        b = p["gamma_a_to_b"] * a + x[None, :]  # [i, j]
        f = norm.pdf(first["c1"], p["alpha_c1"] + p["lambda_c1"] * a, p["sigma_c1"])
        cuts = [-np.inf, p["tau_q_1"], p["tau_q_2"], np.inf]
        level = int(first["q"])
        f = f * (
            norm.cdf(cuts[level] - p["lambda_q"] * b)
            - norm.cdf(cuts[level - 1] - p["lambda_q"] * b)
        )
        for z, buy in zip(person["z"], person["buy"], strict=True):
            v_buy = p["asc_c"] + p["beta_z"] * z + p["theta_a"] * a + p["theta_b"] * b
            f = f * norm.cdf(v_buy if buy == 1 else -v_buy)
        total += np.log(np.sum(w[:, None] * w[None, :] * f))
    return total


def test_two_lv_tensor_product_equals_a_numpy_double_sum():
    df, model, params = _two_lv_study()
    problem = ij.Problem(model, df, draws=ij.Quadrature(6))
    assert set(problem.space.free_names) == set(params)
    assert problem.draws.n_draws == 36
    assert abs(problem.loglike(params) - _two_lv_double_sum(df, params, 6)) < 1e-10
    # adaptive in two dimensions (a full 2x2 scale root: the LVs are correlated)
    exact = _two_lv_double_sum(df, params, 100)
    assert abs(exact - _two_lv_double_sum(df, params, 80)) < 1e-10
    adaptive = ij.Problem(model, df, draws=ij.AdaptiveQuadrature(12))
    adaptive.adapt(params)
    roots = np.asarray(adaptation(adaptive.likelihood, adaptive.free_internal(params)).root)
    assert np.all(np.abs(roots[: len(df["id"].unique()), 0, 1]) > 1e-3)
    assert abs(adaptive.loglike(params) - exact) < 1e-6
    assert abs(_two_lv_double_sum(df, params, 12) - exact) > 1e-3  # plain 12 x 12 is not


# --- drug choice: quadrature against simulation --------------------------------------


@pytest.fixture(scope="module")
def drug():
    return datasets.drug_choice()


@needs_drug_data
def test_drug_choice_40_nodes_equal_100_nodes(drug):
    df, model, start = drug
    at_40 = ij.Problem(model, df, draws=ij.Quadrature(40)).loglike(start)
    at_100 = ij.Problem(model, df, draws=ij.Quadrature(100)).loglike(start)
    assert abs(at_40 - at_100) < 1e-6
    assert abs(ij.Problem(model, df, draws=ij.Quadrature(10)).loglike(start) - at_100) > 1e-4


@eqx.filter_jit
def _relative_variances(likelihood, free_internal):
    """Per person ``var_r(L_nr) / (R mean_r(L_nr)^2)``: the variance of the simulated
    ``log L_n`` under plain Monte Carlo (delta method), chunk by chunk."""
    components = likelihood.components(free_internal)

    def person(p, zeta):
        log_l = jax.vmap(lambda z: person_loglike(components, p, z[None], jnp.zeros(1)))(zeta)
        scaled = jnp.exp(log_l - log_l.max())
        return scaled.var() / scaled.mean() ** 2 / zeta.shape[0]

    values = likelihood.map_chunks(lambda p, z: jax.vmap(person)(p, z))
    return values.reshape(-1)[: likelihood.n_people]


@needs_drug_data
@pytest.mark.parametrize("n_people", [150, pytest.param(1000, marks=pytest.mark.slow)])
def test_msl_with_10000_halton_draws_is_within_its_monte_carlo_error(drug, n_people):
    """The default run uses the first 150 people (all 1,000 take ~6 times longer:
    ``-m slow``).  Bound: 4 standard errors of ``sum_n log mean_r L_nr`` under plain
    Monte Carlo plus its Jensen bias ``sum_n var / (2 R mean^2)``; people are
    independent, so the variances add.  Scrambled Halton draws are at least as accurate
    as plain Monte Carlo on a smooth one-dimensional integrand, so the bound is
    conservative for them."""
    df, model, start = drug
    df = df[df["ID"].isin(df["ID"].unique()[:n_people])]
    exact = ij.Problem(model, df, draws=ij.Quadrature(100)).loglike(start)
    problem = ij.Problem(model, df, draws=ij.Halton(10_000))
    relative = float(np.sum(_relative_variances(problem.likelihood, problem.free_internal(start))))
    bound = 4 * math.sqrt(relative) + 0.5 * relative
    assert abs(problem.loglike(start) - exact) < bound
    assert bound < 0.05 * math.sqrt(n_people)  # the bound is tight: the test has power
    coarse = ij.Problem(model, df, draws=ij.PseudoRandom(3, seed=1)).loglike(start)
    assert abs(coarse - exact) > bound


# --- adaptive quadrature --------------------------------------------------------------


@pytest.fixture(scope="module")
def beverage_one():
    df, model, params = datasets.beverage_one_lv()
    plain = ij.Problem(model, df, draws=ij.Quadrature(100))
    return df, model, params, plain


def test_adaptive_10_nodes_match_plain_100_nodes_on_the_one_lv_beverage_study(beverage_one):
    """The total to 1e-6 relative: it is a sum of 326 per-person errors of up to ~1e-5
    (about 1e-4 absolute; the posterior of PI is skewed: a prior on one side, saturating
    probits on the other).  20 adaptive nodes give the total to 1e-6 absolute.  Plain
    quadrature needs ~100 nodes for that (40 nodes: 6e-3 off)."""
    df, model, params, plain = beverage_one
    u = plain.free_internal(params)
    reference = np.asarray(plain.likelihood.per_person(u))
    total = reference.sum()
    problem = ij.Problem(model, df, draws=ij.AdaptiveQuadrature(10))
    ll_defaults = float(problem.likelihood.loglike(u))  # nodes adapted at the defaults
    problem.adapt(params)
    per_person = np.asarray(problem.likelihood.per_person(u))
    assert abs(per_person.sum() - total) < 1e-6 * abs(total)
    assert np.max(np.abs(per_person - reference)) < 1e-4
    assert abs(problem.loglike(params) - total) < 0.1 * abs(ll_defaults - total)
    twenty = ij.Problem(model, df, draws=ij.AdaptiveQuadrature(20))
    twenty.adapt(params)
    assert abs(twenty.loglike(params) - total) < 1e-6

    # the nodes are centred on each person's posterior mode (against a fine grid)
    found = adaptation(problem.likelihood, u)
    assert np.max(np.abs(np.asarray(found.gradient))) < 1e-6
    lik, person = problem.likelihood, 4
    components = lik.components(u)
    one = jax.tree.map(lambda a: a[person], lik.panel)
    grid = np.linspace(-4, 4, 8001)
    log_g = jax.vmap(
        lambda z: person_loglike(components, one, z[None, None], jnp.zeros(1)) - 0.5 * z**2
    )(jnp.asarray(grid))
    assert abs(grid[int(np.argmax(log_g))] - float(found.mode[person, 0])) < 2e-3
    padded = slice(problem.panel.n_people, None)  # padded people keep (0, I)
    assert problem.panel.n_people < found.mode.shape[0]
    assert np.all(np.asarray(found.mode[padded]) == 0)
    assert np.allclose(np.asarray(found.root[padded]), 1.0)


# --- derivatives, chunks, estimation --------------------------------------------------


def test_analytic_scores_equal_autodiff_with_plain_quadrature():
    """Two correlated LVs, mixed indicators, MNL with availabilities, 26 people in
    chunks of 8 (padding), 12 x 12 nodes: per-person scores, analytic vs autodiff."""
    df, model = analytic_study("mixed", "mnl")
    problem = ij.Problem(model, df, draws=ij.Quadrature(12), chunk_size=8)
    u0 = np.asarray(problem.free_internal(None))
    assert_scores_match(
        problem, jnp.asarray(u0 + 0.3 * np.random.default_rng(5).normal(size=u0.shape))
    )


@pytest.fixture(scope="module")
def adaptive_study():
    """The same study on adaptive quadrature, adapted elsewhere than where it is
    evaluated (per-person weights, padded people included)."""
    df, model = analytic_study("mixed", "mnl")
    problem = ij.Problem(model, df, draws=ij.AdaptiveQuadrature(5), chunk_size=8)
    u0 = np.asarray(problem.free_internal(None))
    problem.adapt(u0 + 0.1)
    u = jnp.asarray(u0 + 0.3 * np.random.default_rng(5).normal(size=u0.shape))
    return df, model, problem, u


def test_analytic_gradient_equals_autodiff_with_adaptive_quadrature(adaptive_study):
    _, _, problem, u = adaptive_study
    assert problem.likelihood.log_weights.shape == (32, 25)
    # totals (analytic and autodiff) and central finite differences
    report = dg.check_gradients(problem, params=u, gradient="analytic")
    assert report.ok, report
    assert report.max_rel_error < 1e-6


def test_per_person_weights_in_chunks_hessian_and_scores(adaptive_study):
    df, model, problem, u = adaptive_study
    likelihood = problem.likelihood
    ll, grad = likelihood.loglike_and_grad(u)
    np.testing.assert_allclose(np.asarray(likelihood.scores(u)).sum(0), grad, rtol=1e-10)
    # the chunked Hessian against central differences of the autodiff gradient
    hessian = np.asarray(likelihood.hessian(u))
    step = 1e-5
    columns = [
        (
            np.asarray(likelihood.loglike_and_grad(u + step * e)[1])
            - np.asarray(likelihood.loglike_and_grad(u - step * e)[1])
        )
        / (2 * step)
        for e in np.eye(len(u))
    ]
    np.testing.assert_allclose(
        hessian, np.array(columns).T, rtol=1e-5, atol=1e-6 * np.abs(hessian).max()
    )
    # one chunk of 32 (other padding) with the same adaptation: the same LL and gradient
    whole = ij.Problem(model, df, draws=ij.AdaptiveQuadrature(5), chunk_size=32)
    whole.likelihood = eqx.tree_at(
        lambda lik: (lik.zeta, lik.log_weights),
        whole.likelihood,
        (likelihood.zeta, likelihood.log_weights),
    )
    ll_whole, grad_whole = whole.likelihood.loglike_and_grad(u)
    assert abs(float(ll_whole) - float(ll)) < 1e-10
    np.testing.assert_allclose(grad_whole, grad, rtol=1e-10, atol=1e-10)


def test_estimation_with_adaptive_quadrature_reaches_the_exact_optimum():
    """A verified optimum with robust SEs, where the accurate likelihood (plain
    quadrature, 100 nodes) has its maximum: the BHHH step of the accurate likelihood from
    the estimates is below 0.05 SE, and the reported LL is the accurate one.  The nodes
    are re-adapted between iterations: fixed at the start values instead, the optimiser
    drives ``lambda_q3`` beyond 700 and the approximate LL above the true maximum.  (Plain
    quadrature estimates through the same code as simulation draws.)"""
    df, model, params = ordered_probit_study(n_people=60)
    results = ij.estimate(model, df, draws=ij.AdaptiveQuadrature(8), start=params, verbose=False)
    assert results.converged, results.message
    robust = results.table["robust_se"].to_numpy()
    assert np.all(np.isfinite(robust)) and np.all(robust > 0)
    assert "AdaptiveQuadrature(n_draws=8" in results.draws["repr"]
    # exact integration: no simulation error, so no verdict on the draws
    assert math.isnan(results.simulation_sd_loglike) and results.simulation_sd == {}
    assert report.simulation_verdict(results) is None
    fine = ij.Problem(model, df, draws=ij.Quadrature(100))
    per_person, scores = fine.likelihood.per_person_and_scores(
        fine.free_internal(results.estimates)
    )
    assert abs(results.loglike - float(per_person.sum())) < 1e-2
    scores = np.asarray(scores)
    step = np.linalg.solve(scores.T @ scores, scores.sum(0))  # internal parameters
    internal_se = np.sqrt(np.diag(np.linalg.inv(scores.T @ scores)))
    assert np.max(np.abs(step) / internal_se) < 0.05
