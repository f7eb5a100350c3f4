"""The simulated log-likelihood against independent values, and its derivatives."""

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
from helpers import continuous_study, gaussian_marginal_loglike, ordered_probit_study
from scipy.stats import logistic, norm

import iclv_jax as ij
from iclv_jax import datasets
from iclv_jax.components import log_interval_probability, log_normal_cdf
from iclv_jax.likelihood import person_loglike


def _monte_carlo_bound(problem, params):
    """4 standard errors of ``sum_n log mean_r L_nr`` under plain Monte Carlo, plus its
    Jensen bias ``sum_n var_r(L_nr) / (2 R mean^2)``."""
    lik = problem.likelihood
    components = lik.components(problem.free_internal(params))

    def per_draw(person, zeta):
        return jax.vmap(lambda z: person_loglike(components, person, z[None], jnp.zeros(1)))(zeta)

    log_l = np.asarray(jax.vmap(per_draw)(lik.panel, lik.zeta))[: lik.n_people]
    l_rel = np.exp(log_l - log_l.max(axis=1, keepdims=True))
    rel_var = l_rel.var(axis=1) / l_rel.mean(axis=1) ** 2 / log_l.shape[1]
    return 4 * np.sqrt(rel_var.sum()) + 0.5 * rel_var.sum()


def test_continuous_indicators_converge_to_the_gaussian_marginal():
    df, model, truth = continuous_study()
    exact = gaussian_marginal_loglike(df, truth)
    problem = ij.Problem(model, df, draws=ij.PseudoRandom(4000, seed=3))
    simulated = problem.loglike(truth)
    bound = _monte_carlo_bound(problem, truth)
    assert abs(simulated - exact) < bound
    assert bound < 1.0  # the test has power: the bound is tight
    # a coarse simulation is measurably off (the comparison can fail)
    coarse = ij.Problem(model, df, draws=ij.PseudoRandom(3, seed=3)).loglike(truth)
    assert abs(coarse - exact) > bound


def _gauss_hermite_loglike(df, params, n_nodes=80):
    """Independent numpy integral over ``zeta ~ N(0,1)`` by Gauss-Hermite quadrature."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(n_nodes)
    weights = weights / weights.sum()
    total = 0.0
    for _, person in df.groupby("id"):
        eta = params["b_x_to_a"] * person["x"].iloc[0] + nodes
        log_p = np.zeros(n_nodes)
        for k in (1, 2, 3):
            cuts = np.r_[-np.inf, [params[f"tau_q{k}_{j}"] for j in range(1, 5)], np.inf]
            level = int(person[f"q{k}"].iloc[0])
            index = params[f"lambda_q{k}"] * eta
            with np.errstate(divide="ignore"):  # far-out nodes: probability 0, weight 0
                log_p += np.log(norm.cdf(cuts[level] - index) - norm.cdf(cuts[level - 1] - index))
        for _, row in person.iterrows():
            v = params["asc_c"] + params["beta_z"] * row["z"] + params["theta_a"] * eta
            log_p += norm.logcdf(v if row["buy"] == 1 else -v)
        total += np.log(np.sum(weights * np.exp(log_p)))
    return total


def test_ordered_probit_converges_to_gauss_hermite_quadrature():
    df, model, params = ordered_probit_study()
    exact = _gauss_hermite_loglike(df, params)
    assert abs(exact - _gauss_hermite_loglike(df, params, n_nodes=60)) < 1e-6
    problem = ij.Problem(model, df, draws=ij.PseudoRandom(4000, seed=4))
    bound = _monte_carlo_bound(problem, params)
    assert abs(problem.loglike(params) - exact) < bound
    assert bound < 1.0
    halton = ij.Problem(model, df, draws=ij.Halton(4000, seed=4)).loglike(params)
    assert abs(halton - exact) < bound


def test_interval_probability_is_accurate_in_both_tails():
    lower = np.array([-40.0, 8.0, 30.0, -1e6, -0.1])
    upper = np.array([-39.0, 9.0, 31.0, -35.0, 0.1])
    got = np.asarray(log_interval_probability(jnp.asarray(lower), jnp.asarray(upper), "probit"))
    # reference: scipy's log-CDF, taking the tail each interval lies in
    with np.errstate(divide="ignore"):  # the branch not taken may overflow
        left = norm.logcdf(upper) + np.log1p(-np.exp(norm.logcdf(lower) - norm.logcdf(upper)))
        right = norm.logsf(lower) + np.log1p(-np.exp(norm.logsf(upper) - norm.logsf(lower)))
    expected = np.where(lower > 0, right, left)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, expected, rtol=1e-10)


@pytest.mark.parametrize("link", ["probit", "logit"])
def test_interval_probability_derivatives_are_mills_ratios_in_both_tails(link):
    """The custom JVP: d log P / d upper = f(upper) / P, d log P / d lower = -f(lower) / P
    (scipy's densities and log-CDFs), and the second derivative equals a central
    difference of the first."""
    dist = norm if link == "probit" else logistic
    lower = jnp.array([-40.0, 8.0, 30.0, -1e6, -0.1, 2.0])
    upper = jnp.array([-39.0, 9.0, 31.0, -35.0, 0.1, 1e6])
    f = lambda lo, up: log_interval_probability(lo, up, link)  # noqa: E731
    log_p = np.asarray(f(lower, upper))
    d_lower, d_upper = jax.vmap(jax.grad(f, argnums=(0, 1)))(lower, upper)
    np.testing.assert_allclose(d_upper, np.exp(dist.logpdf(upper) - log_p), rtol=1e-8)
    np.testing.assert_allclose(d_lower, -np.exp(dist.logpdf(lower) - log_p), rtol=1e-8)
    second = jax.vmap(jax.grad(jax.grad(f, argnums=1), argnums=1))(lower, upper)
    h = 1e-5
    numeric = (
        jax.vmap(jax.grad(f, argnums=1))(lower, upper + h)
        - jax.vmap(jax.grad(f, argnums=1))(lower, upper - h)
    ) / (2 * h)
    np.testing.assert_allclose(second, numeric, rtol=1e-5, atol=1e-12)


def _mp_cdf(link: str):
    return mpmath.ncdf if link == "probit" else (lambda x: 1 / (1 + mpmath.exp(-x)))


def _mp_log_interval(lower: float, upper: float, link: str) -> float:
    """log(F(upper) - F(lower)) in 120-digit arithmetic, on the side of the median where
    neither value is close to 1."""
    cdf = _mp_cdf(link)
    with mpmath.workdps(120):
        a, b = mpmath.mpf(lower), mpmath.mpf(upper)
        if a + b > 0:
            a, b = -b, -a
        return float(mpmath.log(cdf(b) - cdf(a)))


@pytest.mark.parametrize("link", ["probit", "logit"])
def test_interval_probability_matches_high_precision_everywhere(link):
    """Against 120-digit arithmetic: intervals of width 1e-3 to 30 centred anywhere in
    [-60, 60], the outer categories (one end at -+1e6) from -80 to 80, both sides of the
    switch to the asymptotic normal tail (-30), and far tails."""
    rng = np.random.default_rng(0)
    centre, width = rng.uniform(-60, 60, 400), 10 ** rng.uniform(-3, 1.5, 400)
    outer = np.linspace(-80, 80, 81)
    lower = np.concatenate(
        [centre - width / 2, np.full(81, -1e6), outer, [-31.0, -1e6, -1e6, -3000.0, -1e6]]
    )
    upper = np.concatenate(
        [
            centre + width / 2,
            outer,
            np.full(81, 1e6),
            [-29.5, -30.000001, -29.999999, -2999.0, -500.0],
        ]
    )
    got = np.asarray(log_interval_probability(jnp.asarray(lower), jnp.asarray(upper), link))
    expected = np.array([_mp_log_interval(a, b, link) for a, b in zip(lower, upper, strict=True)])
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def _mp_interval_hessian(lower: float, upper: float, link: str) -> np.ndarray:
    """``d^2 log(F(u) - F(l)) / d(l, u)^2`` by 60-digit numerical differentiation."""
    cdf = _mp_cdf(link)
    with mpmath.workdps(60):
        a, b = mpmath.mpf(lower), mpmath.mpf(upper)

        def log_p(x, y):
            if x + y > 0:  # the side of the median where neither value is close to 1
                x, y = -y, -x
            return mpmath.log(cdf(y) - cdf(x))

        def entry(order):
            return float(mpmath.diff(log_p, (a, b), order))

        cross = entry((1, 1))
        return np.array([[entry((2, 0)), cross], [cross, entry((0, 2))]])


@pytest.mark.parametrize("link", ["probit", "logit"])
def test_interval_probability_second_derivatives_match_high_precision(link):
    """The slopes' closed-form JVP (``d s_u = s_u (kappa(u) - s_u) du - s_l s_u dl``, ...)
    gives the Hessian in both ends against 60-digit numerical differentiation: narrow and
    wide intervals, the outer categories (one end at -+1e6, where that end's entries are
    0) and the normal's asymptotic tail below -30."""
    lower = np.array([-4.9, -0.3, 1.0, -1e6, 2.0, -40.0, -31.0, -12.0, 25.0])
    upper = np.array([-4.3, -0.29, 6.0, -1.5, 1e6, -39.0, -29.5, -11.999, 26.0])
    f = lambda lo, up: log_interval_probability(lo, up, link)  # noqa: E731
    got = np.asarray(
        jax.vmap(jax.hessian(lambda x: f(x[0], x[1])))(jnp.stack([lower, upper], axis=1))
    )
    for k in range(len(lower)):
        ends = [lower[k], upper[k]]
        if abs(lower[k]) == 1e6 or abs(upper[k]) == 1e6:  # that end's derivatives vanish
            inner = 1 if abs(lower[k]) == 1e6 else 0
            expected = np.zeros((2, 2))
            shift = np.sign(ends[1 - inner]) * 60.0  # an outer end far out, exactly 0 or 1
            ends[1 - inner] = shift
            expected[inner, inner] = _mp_interval_hessian(*ends, link)[inner, inner]
        else:
            expected = _mp_interval_hessian(lower[k], upper[k], link)
        np.testing.assert_allclose(got[k], expected, rtol=1e-8, atol=1e-10, err_msg=f"{ends}")


def test_log_normal_cdf_second_derivative_matches_high_precision():
    """``d^2 log Phi / dx^2 = s (-x - s)``, ``s = phi / Phi``, from the slope's closed-form
    JVP, against 60-digit arithmetic, both sides of the asymptotic tail at -30."""
    x = np.array([-200.0, -40.0, -30.000001, -29.999999, -5.0, -0.5, 0.0, 3.0, 12.0])
    got = np.asarray(jax.vmap(jax.grad(jax.grad(log_normal_cdf)))(jnp.asarray(x)))
    with mpmath.workdps(60):
        expected = np.array(
            [float(mpmath.diff(lambda t: mpmath.log(mpmath.ncdf(t)), mpmath.mpf(v), 2)) for v in x]
        )
    np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-14)


def test_log_normal_cdf_and_its_slope_match_high_precision():
    x = np.concatenate(
        [np.linspace(-200, 40, 961), -(10 ** np.linspace(0, 6, 25)), [-30.000001, -29.999999]]
    )
    got = np.asarray(log_normal_cdf(jnp.asarray(x)))
    slope = np.asarray(jax.vmap(jax.grad(log_normal_cdf))(jnp.asarray(x)))
    with mpmath.workdps(60):
        expected = np.array([float(mpmath.log(mpmath.ncdf(v))) for v in x])
        mills = np.array([float(mpmath.npdf(v) / mpmath.ncdf(v)) for v in x])
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(slope, mills, rtol=1e-11, atol=1e-14)


@pytest.fixture(scope="module")
def small_problem():
    df, model, params = ordered_probit_study(n_people=30)
    return ij.Problem(model, df, draws=ij.Halton(16, seed=0), chunk_size=8), params


def test_chunked_hessian_equals_dense_jax_hessian(small_problem):
    problem, params = small_problem
    u = problem.free_internal(params)
    dense = np.asarray(jax.hessian(problem.likelihood.loglike)(u))
    chunked = np.asarray(problem.likelihood.hessian(u))
    np.testing.assert_allclose(chunked, dense, atol=1e-8, rtol=1e-10)


def test_scores_sum_to_the_gradient_and_chunks_do_not_matter(small_problem):
    problem, params = small_problem
    u = problem.free_internal(params)
    ll, grad = problem.likelihood.loglike_and_grad(u)
    np.testing.assert_allclose(np.asarray(problem.likelihood.scores(u)).sum(0), grad, rtol=1e-10)
    np.testing.assert_allclose(float(problem.likelihood.per_person(u).sum()), ll, rtol=1e-12)
    df, model, _ = ordered_probit_study(n_people=30)
    whole = ij.Problem(model, df, draws=ij.Halton(16, seed=0), chunk_size=32)
    ll_whole, grad_whole = whole.likelihood.loglike_and_grad(u)
    assert abs(float(ll_whole) - float(ll)) < 1e-10
    np.testing.assert_allclose(grad_whole, grad, rtol=1e-10, atol=1e-10)


def test_gradient_matches_finite_differences(small_problem):
    problem, params = small_problem
    u = np.asarray(problem.free_internal(params))
    _, grad = problem.likelihood.loglike_and_grad(jnp.asarray(u))
    step = 1e-6
    for i in range(len(u)):
        e = np.zeros_like(u)
        e[i] = step
        fd = (
            float(problem.likelihood.loglike(jnp.asarray(u + e)))
            - float(problem.likelihood.loglike(jnp.asarray(u - e)))
        ) / (2 * step)
        assert abs(fd - float(grad[i])) < 1e-5 * max(1.0, abs(fd)), problem.space.free_names[i]


@pytest.mark.parametrize("study", ["continuous", "beverage_logit"])
def test_compressed_hessian_equals_dense_jax_hessian(study):
    """Private parameters of different measurement rows and the choice model share
    Hessian seeds (K < F); the result is still the exact Hessian."""
    if study == "continuous":
        df, model, params = continuous_study(n_people=20)
    else:
        df, model, params = datasets.beverage(n_people=20, seed=1, choice="logit")
    problem = ij.Problem(model, df, draws=ij.Halton(8, seed=0), chunk_size=8)
    u = problem.free_internal(params)
    n_seeds, n_free = problem.likelihood.plan.seeds.shape
    assert n_seeds < n_free / 2
    dense = np.asarray(jax.hessian(problem.likelihood.loglike)(u))
    compressed = np.asarray(problem.likelihood.hessian(u))
    np.testing.assert_allclose(
        compressed, dense, atol=1e-8 * max(1.0, np.abs(dense).max()), rtol=1e-10
    )
