"""``ij.sample``: the log posterior it hands NUTS, and the draws it returns.

The tests that run NUTS are marked ``slow`` (``pytest -m slow``): in fresh-clone runs of the
whole suite an xdist worker died of a segmentation fault inside XLA (compiling or
serialising an unrelated test's program) after this session's sampling tests; until that is
understood they stay out of the default run.

The targets are checked against independent witnesses (scipy's densities, an autodiff
log-determinant of the whole map ``z -> theta``, the augmented likelihood in closed form
for a Gaussian ICLV); the draws against importance sampling of the same posterior from
its normal approximation (20,000 weighted points, effective size ~8,000, so its mean and
SD are exact to well under NUTS's own Monte-Carlo error), against the MLE and its
robust SEs, and the augmented formulation against the integrated one.
"""

import dataclasses
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from helpers import analytic_study, continuous_study, json_on_two_devices
from scipy import stats

import iclv_jax as ij
from iclv_jax.bayes import priors as bp
from iclv_jax.bayes.sampling import parameter_target
from iclv_jax.bayes.target import AugmentedTarget, box_from_bounds
from iclv_jax.problem import Problem
from iclv_jax.spec import SpecificationError

pytest.importorskip("numpyro")

N_PEOPLE = 1000
DRAWS = ij.AdaptiveQuadrature(6)


def _free_parameters(problem):
    return tuple(problem.space.parameters[i] for i in problem.space.free_index)


def test_prior_log_densities_are_scipys():
    x = np.array([0.05, 0.7, 2.5, 9.0])
    cases = [
        (bp.Normal(1.0, 2.0), stats.norm(1.0, 2.0).logpdf(x)),
        (bp.HalfNormal(1.5), stats.halfnorm(scale=1.5).logpdf(x)),
        (bp.LogNormal(0.3, 0.8), stats.lognorm(s=0.8, scale=np.exp(0.3)).logpdf(x)),
        (bp.Uniform(0.0, 3.0), stats.uniform(0.0, 3.0).logpdf(x)),
        (bp.Flat(), np.zeros(4)),
    ]
    for prior, expected in cases:
        np.testing.assert_allclose(prior.log_density(jnp.asarray(x)), expected, rtol=1e-12)
    assert bp.Normal(0, 100).describe() == "Normal(0, 100)"


def test_priors_by_name_are_checked_against_the_model():
    df, model, _ = continuous_study(n_people=30)
    problem = Problem(model, df, 5)
    free = _free_parameters(problem)
    resolved = bp.resolve_priors(free, {"lambda_c2": bp.Normal(0.0, 2.0)})
    described = {p.name: q.describe() for p, q in zip(free, resolved, strict=True)}
    assert described["lambda_c2"] == "Normal(0, 2)"
    assert described["sigma_c1"] == "LogNormal(0, 10)"  # a scale's default
    assert described["alpha_c1"] == "Normal(0, 100)"
    with pytest.raises(SpecificationError, match="lambda_c9"):
        bp.resolve_priors(free, {"lambda_c9": bp.Normal(0, 1)})
    with pytest.raises(SpecificationError, match="alpha_c1"):  # can be negative
        bp.resolve_priors(free, {"alpha_c1": bp.HalfNormal(1.0)})
    with pytest.raises(TypeError, match="sigma_c1"):
        bp.resolve_priors(free, {"sigma_c1": "half-normal"})
    bp.resolve_priors(free, {"sigma_c1": bp.HalfNormal(1.0)})  # a scale is positive
    with pytest.raises(SpecificationError, match="lambda_c9"):  # before any estimation
        ij.sample(model, df, draws=5, priors={"lambda_c9": bp.Normal(0, 1)})
    with pytest.raises(ValueError, match="formulation"):
        ij.sample(model, df, draws=5, formulation="gibbs")


def test_box_map_inverts_and_its_log_jacobian_is_autodiffs():
    lower = np.array([-np.inf, 0.0, -np.inf, 1.0])
    upper = np.array([np.inf, np.inf, 2.0, 4.0])
    box = box_from_bounds(lower, upper)
    v = jnp.array([0.3, -1.2, 0.8, 0.4])
    u = box(v)
    assert np.all((np.asarray(u) > lower) & (np.asarray(u) < upper))
    np.testing.assert_allclose(box.inverse(np.asarray(u)), v, rtol=1e-12)
    jacobian = jax.jacfwd(box)(v)
    np.testing.assert_allclose(jacobian, np.diag(np.diag(jacobian)), atol=0)
    np.testing.assert_allclose(box.log_jacobian(v), np.log(np.abs(np.diag(jacobian))).sum())
    np.testing.assert_allclose(box.derivative(np.asarray(v)), np.abs(np.diag(jacobian)))


def test_log_posterior_is_likelihood_plus_priors_plus_the_log_determinant_of_z_to_theta():
    """Thresholds (cumulated exp increments), a fixed loading, two bounded coefficients:
    ``target(z) - log L - log prior`` must be ``log |det dtheta/dz|`` (autodiff's
    Jacobian of the whole map, through ``slogdet``) minus the constant ``log |det L|``."""
    df, model = analytic_study("mixed", "binary_probit", n_people=20)
    model = dataclasses.replace(model, bounds={"beta_z": (-1.0, 3.0), "b_x_to_a": (0.0, None)})
    problem = Problem(model, df, 7)
    u0 = np.asarray(problem.free_internal(None))
    priors = bp.resolve_priors(_free_parameters(problem), {"theta_a": bp.Normal(0.2, 0.5)})
    target = parameter_target(problem, u0, priors)
    z = jnp.asarray(np.random.default_rng(0).normal(0, 0.3, target.n_params))
    theta = target.reported(z)
    log_prior = sum(p.log_density(theta[i]) for i, p in enumerate(priors))
    rest = target(z) - problem.likelihood.loglike(target.internal(z)) - log_prior
    log_det = np.linalg.slogdet(np.asarray(jax.jacfwd(target.reported)(z)))[1]
    log_det_l = np.log(np.abs(np.diag(np.asarray(target.cholesky)))).sum()
    np.testing.assert_allclose(rest, log_det - log_det_l, rtol=1e-10)


def test_augmented_target_is_the_gaussian_iclv_in_closed_form():
    """``log p(z_theta, zeta) - log prior/Jacobian`` = ``sum_n [sum_k log N(c_nk | alpha_k
    + lambda_k eta_n, sigma_k) + log phi(zeta_n)]`` with ``eta_n = b x_n + zeta_n``."""
    df, model, _ = continuous_study(n_people=40)
    problem = Problem(model, df, 3)
    integrated = parameter_target(
        problem,
        np.asarray(problem.free_internal(None)),
        bp.resolve_priors(_free_parameters(problem), None),
    )
    single = Problem(model, df, ij.Halton(1))
    augmented = AugmentedTarget(
        eqx.tree_at(lambda t: t.likelihood, integrated, single.likelihood),
        n_people=40,
        n_dims=1,
    )
    rng = np.random.default_rng(1)
    z_theta, zeta = rng.normal(0, 0.5, integrated.n_params), rng.normal(size=40)
    value = augmented(jnp.asarray(np.concatenate([z_theta, zeta])))
    rest, _ = integrated.log_prior_and_jacobian(jnp.asarray(z_theta))
    p = dict(zip(problem.space.free_names, np.asarray(integrated.reported(z_theta)), strict=True))
    eta = p["b_x_to_a"] * df["x"].to_numpy() + zeta
    expected = stats.norm.logpdf(zeta).sum() + sum(
        stats.norm.logpdf(
            df[f"c{k}"], p[f"alpha_c{k}"] + p[f"lambda_c{k}"] * eta, p[f"sigma_c{k}"]
        ).sum()
        for k in (1, 2, 3)
    )
    np.testing.assert_allclose(value - rest, expected, rtol=1e-11)


@pytest.fixture(scope="module")
def gaussian_iclv():
    """A Gaussian ICLV (one LV with a covariate, three continuous items; 1,000 people,
    adaptive quadrature), its MLE, and the posterior's mean and SD by importance sampling
    from the normal approximation at the mode (``z ~ N(0, 1.3^2 I)``)."""
    df, model, _ = continuous_study(n_people=N_PEOPLE, seed=4)
    results = ij.estimate(model, df, draws=DRAWS, verbose=False)
    problem = Problem(model, df, DRAWS)
    names = problem.space.names
    u_hat = np.asarray(problem.free_internal({k: results.estimates[k] for k in names}))
    problem.adapt(jnp.asarray(u_hat))
    target = parameter_target(problem, u_hat, bp.resolve_priors(_free_parameters(problem), None))
    z = 1.3 * np.random.default_rng(0).standard_normal((20_000, target.n_params))
    log_p = np.asarray(jax.jit(lambda x: jax.lax.map(target, x, batch_size=500))(z))
    log_w = log_p + 0.5 * (z**2).sum(axis=1) / 1.3**2
    w = np.exp(log_w - log_w.max())
    w /= w.sum()
    assert 1 / (w**2).sum() > 5_000
    theta = np.asarray(jax.jit(jax.vmap(target.reported))(z))
    mean = w @ theta
    sd = np.sqrt(w @ (theta - mean) ** 2)
    return df, model, results, mean, sd


def _posterior(gaussian_iclv, **options):
    df, model, results, _, _ = gaussian_iclv
    return ij.sample(model, df, draws=DRAWS, start=results, chains=2, progress=False, **options)


@pytest.fixture(scope="module")
def integrated_posterior(gaussian_iclv):
    return _posterior(gaussian_iclv, num_warmup=200, num_samples=600, seed=3)


@pytest.mark.slow  # NUTS runs: see the module docstring
def test_nuts_draws_the_posterior_importance_sampling_finds(gaussian_iclv, integrated_posterior):
    _, _, results, mean, sd = gaussian_iclv
    table = integrated_posterior.table
    assert (table["r_hat"] < 1.01).all(), table["r_hat"]
    assert (table["ess_bulk"] > 800).all(), table["ess_bulk"]
    assert not integrated_posterior.diverging.any()
    np.testing.assert_array_less(np.abs(table["mean"] - mean), 4 * table["mcse"])
    np.testing.assert_allclose(table["sd"], sd, rtol=0.08)


@pytest.mark.slow  # NUTS runs: see the module docstring
def test_posterior_is_the_mle_and_its_robust_standard_errors(gaussian_iclv, integrated_posterior):
    """With 1,000 people and weak priors: posterior means within 0.2 SE of the MLE (the
    mean of a slightly skewed posterior is not its mode: importance sampling puts them
    up to 0.13 SE apart here) and posterior SDs within 10% of the robust SEs."""
    _, _, results, _, _ = gaussian_iclv
    table = integrated_posterior.table
    robust = results.table["robust_se"]
    np.testing.assert_array_less(np.abs(table["mean"] - table["mle"]), 0.2 * robust)
    np.testing.assert_allclose(table["sd"], robust, rtol=0.10)
    assert integrated_posterior.mle == pytest.approx(results.estimates)


@pytest.fixture(scope="module")
def augmented_posterior(gaussian_iclv):
    return _posterior(
        gaussian_iclv, formulation="augmented", num_warmup=300, num_samples=700, seed=5
    )


@pytest.mark.slow  # NUTS runs: see the module docstring
def test_augmented_formulation_draws_the_same_posterior(gaussian_iclv, augmented_posterior):
    """The errors of 1,000 people sampled beside the parameters: the parameters' marginal
    posterior is importance sampling's (exact integration, no simulation error)."""
    _, _, _, mean, sd = gaussian_iclv
    table = augmented_posterior.table
    assert augmented_posterior.sampler["dimension"] == 10 + N_PEOPLE
    assert (table["r_hat"] < 1.05).all(), table["r_hat"]
    np.testing.assert_array_less(np.abs(table["mean"] - mean), 4 * table["mcse"])
    np.testing.assert_allclose(table["sd"], sd, rtol=0.15)


@pytest.mark.slow  # NUTS runs: see the module docstring
def test_augmented_lv_draws_match_the_conditional_lv_moments(gaussian_iclv, augmented_posterior):
    """Every person's LV posterior (means and SDs of the sampled ``eta_n``) against the
    importance-sampled conditional moments at the MLE (which ignore the parameters'
    uncertainty, so the SDs are a little smaller)."""
    df, model, results, _, _ = gaussian_iclv
    at_mle = ij.posterior_lv(results, model, df, draws=ij.Halton(2000))
    sampled = augmented_posterior.lv_summary
    assert list(sampled.index) == list(at_mle.index)
    difference = sampled["a_mean"] - at_mle["a_mean"]
    assert np.abs(difference).max() < 0.5 * at_mle["a_sd"].mean()
    assert np.corrcoef(sampled["a_mean"], at_mle["a_mean"])[0, 1] > 0.99
    ratio = sampled["a_sd"].mean() / at_mle["a_sd"].mean()
    assert 0.98 < ratio < 1.15


PARALLEL_SCRIPT = """
import json, sys
sys.path.insert(0, "tests")
import jax, numpy as np, iclv_jax as ij
from helpers import continuous_study
df, model, _ = continuous_study(n_people=150, seed=4)
draws = ij.Halton(10)
results = ij.estimate(model, df, draws=draws, verbose=False)
runs = [
    ij.sample(model, df, draws=draws, start=results, num_warmup=60, num_samples=60, chains=2,
              seed=1, progress=False)
    for _ in range(2)
]
print(json.dumps({
    "devices": jax.local_device_count(),
    "method": runs[0].sampler["chain_method"],
    "same": all(np.array_equal(runs[0].samples[k], runs[1].samples[k]) for k in runs[0].samples),
    "chain_means": {k: v.mean(axis=1).tolist() for k, v in runs[0].samples.items()},
    "mle": runs[0].mle,
    "se": results.table["se"].to_dict(),
}))
"""


@pytest.mark.slow  # NUTS runs: see the module docstring
def test_chains_run_one_per_device_and_a_seed_reproduces_them():
    """Two (simulated) CPU devices, two chains: NumPyro's parallel method, each chain with
    the whole likelihood on its device; the same seed gives the same draws; each chain's
    mean is near the MLE."""
    out = json_on_two_devices(PARALLEL_SCRIPT)
    assert out["devices"] == 2 and out["method"] == "parallel" and out["same"]
    for name, means in out["chain_means"].items():
        assert np.abs(np.array(means) - out["mle"][name]).max() < out["se"][name], name


def test_default_priors_that_are_not_weak_at_the_mle_are_named():
    """An indicator in raw units (thousands): its intercept and loading are far outside
    ``Normal(0, 100)``, which would pull the posterior; a user prior silences it."""
    df, model, _ = continuous_study(n_people=60)
    df["c1"] = 5000.0 + 2000.0 * df["c1"]
    results = ij.estimate(model, df, draws=ij.AdaptiveQuadrature(4), verbose=False)
    problem = Problem(model, df, 4)
    free = _free_parameters(problem)
    names = [p.name for p in free]
    estimates = np.array([results.estimates[n] for n in names])
    se = results.table["se"].reindex(names).to_numpy(dtype=float)
    priors = bp.resolve_priors(free, None)
    pulls = dict(zip(names, bp.prior_pull(priors, estimates, se), strict=True))
    assert pulls["alpha_c1"] > 1 and pulls["lambda_c1"] > 1
    assert pulls["alpha_c2"] < 1e-3 and pulls["lambda_c3"] < 1e-3
    with pytest.warns(bp.InformativePriorWarning, match="alpha_c1") as caught:
        bp.warn_informative_defaults(free, priors, set(), estimates, se)
    assert "lambda_c1" in str(caught[0].message) and "alpha_c2" not in str(caught[0].message)
    user = {"alpha_c1": bp.Normal(5000, 1000), "lambda_c1": bp.Normal(0, 1e4)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bp.warn_informative_defaults(free, bp.resolve_priors(free, user), set(user), estimates, se)


def _homogeneous_mixed_logit(n_people=100, n_situations=4, seed=0):
    """Two alternatives, ``V_A = asc + c price_A``, ``V_B = c price_B`` with one price
    coefficient ``c = -1`` for everyone, estimated as a normal random coefficient: the
    likelihood is flat as ``sigma_price -> 0``."""
    rng = np.random.default_rng(seed)
    rows = n_people * n_situations
    prices = rng.uniform(0.5, 2.5, size=(rows, 2))
    v = -prices + np.array([0.3, 0.0])
    df = pd.DataFrame(
        {
            "id": np.repeat(np.arange(n_people), n_situations),
            "price_A": prices[:, 0],
            "price_B": prices[:, 1],
            "choice": (v + rng.gumbel(size=v.shape)).argmax(axis=1) + 1,
        }
    )
    alternatives = [
        ij.Alternative("A", 1, ij.Utility(random={"price": "price_A"}), asc=True),
        ij.Alternative("B", 2, ij.Utility(random={"price": "price_B"})),
    ]
    model = ij.ICLVModel(
        [],
        [],
        ij.MultinomialLogit("choice", alternatives),
        random_coefficients=[ij.RandomCoefficient("price", "normal")],
    )
    return df, model


def test_the_sampler_is_centred_on_the_posterior_mode_even_from_a_scale_at_zero():
    """A random coefficient whose MLE scale is 0 (``u = log sigma = -60``; the
    likelihood flat there, the default prior ``Normal(0, 10)`` on ``log sigma`` six SDs
    out): the chains are centred on the posterior mode found from there instead (a
    small, finite scale, the gradient 0), with a positive-definite curvature, and
    chains started at ``z ~ N(0, I)`` have finite, sensible scales."""
    df, model = _homogeneous_mixed_logit()
    problem = Problem(model, df, 20)
    names = problem.space.free_names
    u_hat = np.array(problem.free_internal({"asc_A": 0.3, "mu_price": -1.0}))
    u_hat[names.index("sigma_price")] = -60.0
    priors = bp.resolve_priors(_free_parameters(problem), None)
    target = parameter_target(problem, u_hat, priors)
    centre = dict(zip(names, np.asarray(target.reported(jnp.zeros(3))), strict=True))
    assert 1e-6 < centre["sigma_price"] < 1.0
    assert abs(centre["mu_price"] + 1.0) < 0.3
    gradient = np.asarray(jax.grad(target)(jnp.zeros(3)))
    assert np.abs(gradient).max() < 1e-4
    cholesky = np.asarray(target.cholesky)
    assert np.all(np.isfinite(cholesky)) and np.all(np.linalg.eigvalsh(cholesky @ cholesky.T) > 0)
    starts = np.random.default_rng(0).standard_normal((200, 3))
    reported = np.asarray(jax.vmap(target.reported)(jnp.asarray(starts)))
    assert np.all(np.isfinite(reported)) and np.abs(reported).max() < 1e3
