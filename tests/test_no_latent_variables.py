"""Models without latent variables (MNL, binary and ordered probit, mixed logit): the
base models estimated before an ICLV, checked against independent numpy/scipy
implementations, and the LR test between them and an ICLV."""

import dataclasses

import jax
import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize
from scipy.special import logsumexp
from scipy.stats import chi2, norm

import iclv_jax as ij

NAMES = ["asc_A", "asc_B", "beta_time", "beta_cost"]
TRUTH = np.array([0.4, -0.3, -0.8, -1.2])


# --- an independent MNL in numpy ------------------------------------------------------


def mnl_study(n_people=150, n_situations=4, seed=0):
    """Three alternatives, ``V_A = asc_A + b_t t_A + b_c c_A``, ``V_B`` alike,
    ``V_C = b_t t_C + b_c c_C``; B and C each unavailable in about a fifth of the rows
    (never both)."""
    rng = np.random.default_rng(seed)
    n = n_people * n_situations
    time, cost = rng.uniform(0.2, 2.0, (n, 3)), rng.uniform(0.2, 2.0, (n, 3))
    unavailable = rng.choice(3, size=n, p=[0.6, 0.2, 0.2])  # 0: none, 1: B, 2: C
    available = np.ones((n, 3), dtype=bool)
    available[unavailable == 1, 1] = False
    available[unavailable == 2, 2] = False
    df = pd.DataFrame(
        {
            "id": np.repeat(np.arange(n_people), n_situations),
            **{f"time_{a}": time[:, j] for j, a in enumerate("ABC")},
            **{f"cost_{a}": cost[:, j] for j, a in enumerate("ABC")},
            "av_B": available[:, 1].astype(int),
            "av_C": available[:, 2].astype(int),
        }
    )
    v = np.where(available, mnl_design(df) @ TRUTH, -np.inf)
    return df.assign(choice=(v + rng.gumbel(size=v.shape)).argmax(axis=1) + 1)


def mnl_design(df):
    """``x[t, j, k]``: the regressor of parameter ``NAMES[k]`` in utility ``j``."""
    x = np.zeros((len(df), 3, 4))
    x[:, 0, 0] = x[:, 1, 1] = 1.0
    for j, a in enumerate("ABC"):
        x[:, j, 2], x[:, j, 3] = df[f"time_{a}"], df[f"cost_{a}"]
    return x


def mnl_model(specific=()):
    def utility(a):
        return ij.Utility(attributes={"time": f"time_{a}", "cost": f"cost_{a}"}, specific=specific)

    return ij.ICLVModel(
        latent_variables=[],
        indicators=[],
        choice=ij.MultinomialLogit(
            "choice",
            [
                ij.Alternative("A", 1, utility("A"), asc=True),
                ij.Alternative("B", 2, utility("B"), asc=True, available="av_B"),
                ij.Alternative("C", 3, utility("C"), available="av_C"),
            ],
        ),
    )


def specific_time_design(df):
    """The design of ``asc_A, asc_B, beta_time_A, beta_time_B, beta_time_C, beta_cost``
    (an alternative-specific time coefficient)."""
    generic = mnl_design(df)
    x = np.zeros((len(df), 3, 6))
    x[:, :, :2], x[:, :, 5] = generic[:, :, :2], generic[:, :, 3]
    for j in range(3):
        x[:, j, 2 + j] = generic[:, j, 2]
    return x


def numpy_mnl(df, b, design=mnl_design):
    """``(LL, gradient, Hessian, per-person scores)`` of the MNL at ``b``:
    ``log P_t = V_ti - logsumexp_{j available} V_tj``, ``d/db = x_ti - sum_j P_tj x_tj``,
    ``d2/db2 = -sum_j P_tj (x_tj - xbar_t)(x_tj - xbar_t)'``."""
    x = design(df)
    available = np.column_stack([np.ones(len(df)), df["av_B"], df["av_C"]]).astype(bool)
    v = np.where(available, x @ b, -np.inf)
    log_p = v - logsumexp(v, axis=1, keepdims=True)
    p = np.exp(log_p)
    rows, chosen = np.arange(len(df)), df["choice"].to_numpy() - 1
    centred = x - np.einsum("tj,tjk->tk", p, x)[:, None, :]
    scores = centred[rows, chosen]
    hessian = -np.einsum("tj,tjk,tjl->kl", p, centred, centred)
    per_person = pd.DataFrame(scores).groupby(df["id"].to_numpy()).sum().to_numpy()
    return log_p[rows, chosen].sum(), scores.sum(axis=0), hessian, per_person


def scipy_fit(loglike, gradient, x0):
    """The maximum of ``loglike`` by BFGS, to a gradient norm of 1e-9."""
    fit = minimize(lambda b: -loglike(b), x0, jac=lambda b: -gradient(b), method="BFGS", tol=1e-12)
    assert np.abs(gradient(fit.x)).max() < 1e-6
    return fit.x


@pytest.fixture(scope="module")
def mnl():
    df = mnl_study()
    return df, ij.estimate(mnl_model(), df, verbose=False)


def free_names(problem):
    return [problem.space.names[i] for i in problem.space.free_index]


def test_mnl_needs_no_draws_whatever_is_passed():
    df = mnl_study(n_people=20)
    for draws in (500, ij.Halton(200, seed=3), ij.Quadrature(20), ij.AdaptiveQuadrature(5)):
        problem = ij.Problem(mnl_model(), df, draws=draws)
        assert problem.draws == ij.NoDraws()
        assert problem.likelihood.zeta.shape[1:] == (1, 0)  # one point, no dimension
    with pytest.raises(ValueError, match="2 random term"):
        ij.NoDraws().for_dims(2)


def test_mnl_loglike_gradient_hessian_equal_numpy():
    df = mnl_study()
    problem = ij.Problem(mnl_model(), df)
    order = [free_names(problem).index(name) for name in NAMES]
    for b in (np.zeros(4), TRUTH, np.array([1.0, 0.5, -2.0, 0.3])):
        u = problem.free_internal(dict(zip(NAMES, b, strict=True)))
        loglike, gradient, hessian, _ = numpy_mnl(df, b)
        ll, grad = problem.likelihood.loglike_and_grad(u)
        assert float(ll) == pytest.approx(loglike, rel=1e-12, abs=1e-8)
        np.testing.assert_allclose(np.asarray(grad)[order], gradient, rtol=1e-10, atol=1e-8)
        for h in (problem.likelihood.hessian(u), jax.hessian(problem.likelihood.loglike)(u)):
            np.testing.assert_allclose(
                np.asarray(h)[np.ix_(order, order)], hessian, rtol=1e-10, atol=1e-8
            )


def test_mnl_estimates_and_standard_errors_equal_scipy(mnl):
    df, results = mnl
    b = scipy_fit(lambda b: numpy_mnl(df, b)[0], lambda b: numpy_mnl(df, b)[1], np.zeros(4))
    loglike, _, hessian, scores = numpy_mnl(df, b)
    assert results.converged
    assert results.loglike == pytest.approx(loglike, abs=1e-8)
    table = results.table.loc[NAMES]
    np.testing.assert_allclose(table["estimate"], b, rtol=1e-6, atol=1e-8)
    bread = np.linalg.inv(-hessian)
    np.testing.assert_allclose(table["se"], np.sqrt(np.diag(bread)), rtol=1e-6)
    robust = bread @ scores.T @ scores @ bread
    np.testing.assert_allclose(table["robust_se"], np.sqrt(np.diag(robust)), rtol=1e-6)
    assert results.loglike_null_choice == pytest.approx(numpy_mnl(df, np.zeros(4))[0])
    assert results.sign_anchors == {}


def test_constants_only_mnl_is_the_observed_shares():
    """``asc_k = log(n_k / n_C)`` and ``LL = sum_k n_k log(n_k / n)`` (all available)."""
    df = mnl_study(n_people=100).assign(av_B=1, av_C=1)
    alts = [ij.Alternative("A", 1, asc=True), ij.Alternative("B", 2, asc=True)]
    model = ij.ICLVModel([], [], ij.MultinomialLogit("choice", [*alts, ij.Alternative("C", 3)]))
    results = ij.estimate(model, df, verbose=False)
    counts = df["choice"].value_counts().sort_index().to_numpy()
    assert results.loglike == pytest.approx((counts * np.log(counts / counts.sum())).sum())
    assert results.estimates["asc_A"] == pytest.approx(np.log(counts[0] / counts[2]), abs=1e-7)
    assert results.estimates["asc_B"] == pytest.approx(np.log(counts[1] / counts[2]), abs=1e-7)
    assert results.loglike == pytest.approx(ij.loglike_constants_only(model, df), abs=1e-8)


def test_mnl_post_estimation(mnl, tmp_path):
    df, results = mnl
    b = np.array([results.estimates[name] for name in NAMES])
    available = np.column_stack([np.ones(len(df)), df["av_B"], df["av_C"]]).astype(bool)
    v = np.where(available, mnl_design(df) @ b, -np.inf)
    expected = np.exp(v - logsumexp(v, axis=1, keepdims=True))
    np.testing.assert_allclose(ij.predict(results, None, df)[["A", "B", "C"]], expected, atol=1e-12)
    with pytest.raises(ValueError, match="no latent variables"):
        ij.posterior_lv(results, None, df)
    with pytest.raises(ij.SpecificationError, match="need latent variables"):
        ij.estimate(mnl_model(), df, start="sequential", verbose=False)
    report = ij.check_gradients(mnl_model(), df, results.estimates)
    assert report.ok, str(report)
    results.save(tmp_path / "r.json")
    loaded = ij.load_results(tmp_path / "r.json")
    assert loaded == results
    assert ij.draws_from_dict(loaded.draws) == ij.NoDraws()
    np.testing.assert_allclose(ij.predict(loaded, None, df)[["A", "B", "C"]], expected, atol=1e-12)


# --- binary and ordered probit -----------------------------------------------------------


def probit_study(n=400, seed=1):
    rng = np.random.default_rng(seed)
    x, z = rng.normal(size=n), rng.normal(size=n)
    v = 0.3 + 0.8 * x - 0.5 * z
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "x": x,
            "z": z,
            "buy": (v + rng.normal(size=n) > 0).astype(int),
            "rating": 1 + np.searchsorted([-1.0, 0.2, 1.1], v + rng.normal(size=n)),
        }
    )


def test_binary_probit_equals_scipy():
    """``LL = sum log Phi(q V)``, ``q = 2y - 1``; ``dLL/db = sum q phi(qV)/Phi(qV) x``."""
    df = probit_study()
    utility = ij.Utility(attributes={"x": "x", "z": "z"}, constants={"one": None})
    model = ij.ICLVModel([], [], ij.BinaryProbit("buy", utility))
    problem = ij.Problem(model, df)
    names = free_names(problem)
    columns = {"beta_x": df["x"], "beta_z": df["z"], "asc_one": np.ones(len(df))}
    x = np.column_stack([columns[name] for name in names])
    q = 2.0 * df["buy"].to_numpy() - 1.0

    def loglike(b):
        return norm.logcdf(q * (x @ b)).sum()

    def gradient(b):
        s = q * (x @ b)
        return (q * np.exp(norm.logpdf(s) - norm.logcdf(s))) @ x

    b = np.array([0.5, -0.2, 0.1])
    ll, grad = problem.likelihood.loglike_and_grad(
        problem.free_internal(dict(zip(names, b, strict=True)))
    )
    assert float(ll) == pytest.approx(loglike(b), rel=1e-12)
    np.testing.assert_allclose(grad, gradient(b), rtol=1e-10)
    results = ij.estimate(model, df, verbose=False)
    best = scipy_fit(loglike, gradient, np.zeros(3))
    assert results.loglike == pytest.approx(loglike(best), abs=1e-8)
    np.testing.assert_allclose(results.table.loc[names, "estimate"], best, rtol=1e-6)


def numpy_ordered_probit(df, params):
    """``sum_t log(Phi(tau_y - V_t) - Phi(tau_{y-1} - V_t))``, ``V = b_x x + b_z z``,
    ``params = (b_x, b_z, tau_1, tau_2, tau_3)``."""
    v = df[["x", "z"]].to_numpy() @ params[:2]
    cuts = np.concatenate([[-np.inf], params[2:], [np.inf]])
    y = df["rating"].to_numpy()
    return np.log(norm.cdf(cuts[y] - v) - norm.cdf(cuts[y - 1] - v)).sum()


def central_differences(f, x, h=1e-5):
    return np.array([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(len(x))])


def test_ordered_probit_equals_scipy():
    df = probit_study()
    utility = ij.Utility(attributes={"x": "x", "z": "z"})
    model = ij.ICLVModel([], [], ij.OrderedProbitChoice("rating", utility, levels=4))
    names = ["beta_x", "beta_z", "tau_rating_1", "tau_rating_2", "tau_rating_3"]
    problem = ij.Problem(model, df)
    point = np.array([0.5, -0.2, -0.8, 0.1, 0.9])
    u = problem.free_internal(dict(zip(names, point, strict=True)))
    ll, grad = problem.likelihood.loglike_and_grad(u)
    assert float(ll) == pytest.approx(numpy_ordered_probit(df, point), rel=1e-12)
    # the gradient in reported coordinates: J' g_reported = g_internal
    jacobian = jax.jacfwd(problem.likelihood.to_reported)(u)[problem.space.free_index]
    reported = np.linalg.solve(np.asarray(jacobian).T, np.asarray(grad))
    order = [problem.space.free_names.index(name) for name in names]
    expected = central_differences(lambda p: numpy_ordered_probit(df, p), point)
    np.testing.assert_allclose(reported[order], expected, rtol=1e-6, atol=1e-6)
    results = ij.estimate(model, df, verbose=False)
    fit = minimize(
        lambda p: -numpy_ordered_probit(df, p),
        point,
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000},
    )
    best = minimize(lambda p: -numpy_ordered_probit(df, p), fit.x, method="BFGS", tol=1e-12).x
    assert np.abs(central_differences(lambda p: numpy_ordered_probit(df, p), best)).max() < 1e-5
    assert results.loglike == pytest.approx(numpy_ordered_probit(df, best), abs=1e-8)
    estimates = np.array([results.estimates[name] for name in names])
    np.testing.assert_allclose(estimates, best, rtol=1e-5, atol=1e-6)


# --- mixed logit ------------------------------------------------------------------------

MIXED_TRUTH = {"asc_A": 0.5, "asc_B": -0.3, "mu_cost": -1.0, "sigma_cost": 0.8}


def mixed_study(n_people=500, n_situations=8, seed=4):
    """MNL among A, B, C with ``V_j = asc_j + c_n cost_j``, ``c_n ~ N(mu, sigma^2)``, one
    ``c_n`` per person for all of their situations."""
    rng = np.random.default_rng(seed)
    n = n_people * n_situations
    cost = rng.uniform(0.0, 3.0, (n, 3))
    c = np.repeat(
        MIXED_TRUTH["mu_cost"] + MIXED_TRUTH["sigma_cost"] * rng.normal(size=n_people), n_situations
    )
    v = c[:, None] * cost + np.array([MIXED_TRUTH["asc_A"], MIXED_TRUTH["asc_B"], 0.0])
    return pd.DataFrame(
        {
            "id": np.repeat(np.arange(n_people), n_situations),
            **{f"cost_{a}": cost[:, j] for j, a in enumerate("ABC")},
            "choice": (v + rng.gumbel(size=v.shape)).argmax(axis=1) + 1,
        }
    )


def mixed_model():
    alts = [
        ij.Alternative(a, j + 1, ij.Utility(random={"cost": f"cost_{a}"}), asc=a != "C")
        for j, a in enumerate("ABC")
    ]
    return ij.ICLVModel(
        [],
        [],
        ij.MultinomialLogit("choice", alts),
        random_coefficients=[ij.RandomCoefficient("cost")],
    )


def numpy_mixed_loglike(df, params, z):
    """``sum_n log mean_r prod_t P(y_nt | c_nr)``, ``c_nr = mu + sigma z_nr``."""
    cost = df[["cost_A", "cost_B", "cost_C"]].to_numpy()
    person = df["id"].to_numpy()
    c = params["mu_cost"] + params["sigma_cost"] * z[person]  # (rows, R)
    asc = np.array([params["asc_A"], params["asc_B"], 0.0])
    v = c[:, :, None] * cost[:, None, :] + asc  # (rows, R, J)
    log_p = v - logsumexp(v, axis=2, keepdims=True)
    chosen = log_p[np.arange(len(df)), :, df["choice"].to_numpy() - 1]
    per_person = pd.DataFrame(chosen).groupby(person).sum().to_numpy()
    return (logsumexp(per_person, axis=1) - np.log(z.shape[1])).sum()


def test_mixed_logit_draws_are_the_random_coefficients_only():
    df = mixed_study(n_people=40)
    problem = ij.Problem(mixed_model(), df, draws=ij.Halton(50, seed=1))
    assert problem.likelihood.zeta.shape[1:] == (50, 1)
    z = np.asarray(problem.likelihood.zeta)[:40, :, 0]
    for params in (MIXED_TRUTH, {"asc_A": -0.2, "asc_B": 0.4, "mu_cost": 0.3, "sigma_cost": 1.5}):
        assert problem.loglike(params) == pytest.approx(
            numpy_mixed_loglike(df, params, z), rel=1e-12
        )


def test_mixed_logit_recovers_the_truth():
    results = ij.estimate(mixed_model(), mixed_study(), draws=ij.Halton(200, seed=2), verbose=False)
    assert results.converged
    for name, truth in MIXED_TRUTH.items():
        estimate, se = results.table.loc[name, ["estimate", "se"]]
        assert abs(estimate - truth) < 3.5 * se, (name, estimate, truth, se)


# --- model files --------------------------------------------------------------------------


@pytest.mark.parametrize("model", [mnl_model(), mixed_model()], ids=["mnl", "mixed"])
def test_model_files_round_trip(model, tmp_path):
    as_dict = ij.model_to_dict(model)
    assert as_dict["latent_variables"] == [] and as_dict["indicators"] == []
    assert ij.model_from_dict(as_dict) == model
    for suffix in (".yaml", ".toml"):
        ij.save_model(model, tmp_path / f"m{suffix}")
        assert ij.load_model(tmp_path / f"m{suffix}") == model


# --- LR tests -----------------------------------------------------------------------------


def test_lr_test_of_nested_mnls_is_the_statistic_by_hand(mnl):
    """Generic time coefficient nested in alternative-specific ones: ``2 (LL_u - LL_r)``
    of the two scipy maxima, ``chi2(2)``."""
    df, base = mnl
    bigger = ij.estimate(mnl_model(specific=("time",)), df, verbose=False)

    def fit(design, k):
        b = scipy_fit(
            lambda b: numpy_mnl(df, b, design)[0],
            lambda b: numpy_mnl(df, b, design)[1],
            np.zeros(k),
        )
        return numpy_mnl(df, b, design)[0]

    statistic = 2.0 * (fit(specific_time_design, 6) - fit(mnl_design, 4))
    with pytest.warns(UserWarning, match=r"\['beta_time'\]; are the models nested"):
        test = ij.lr_test(base, bigger)  # beta_time is beta_time_A = _B = _C
    assert (test.df, test.statistic) == (2, pytest.approx(statistic, abs=1e-7))
    assert test.p_value == pytest.approx(chi2.sf(statistic, 2), rel=1e-6)


def iclv_study(n=300, seed=5):
    """``a = 0.8 w + zeta``; three 5-level probit items ``q_k = a + e``; a binary probit
    ``buy = 1[0.2 + 0.7 x + 0.6 a + e > 0]``."""
    rng = np.random.default_rng(seed)
    w, x = rng.normal(size=n), rng.normal(size=n)
    a = 0.8 * w + rng.normal(size=n)
    df = pd.DataFrame({"id": np.arange(n), "w": w, "x": x})
    for k in (1, 2, 3):
        df[f"q{k}"] = 1 + np.searchsorted([-1.5, -0.5, 0.5, 1.5], a + rng.normal(size=n))
    return df.assign(buy=(0.2 + 0.7 * x + 0.6 * a + rng.normal(size=n) > 0).astype(int))


def test_lr_test_of_a_base_model_against_an_iclv():
    """The base probit explains the choices, the ICLV the choices and the items: refused
    alone; with the ICLV's measurement model (the ICLV at ``theta = 0`` factorises into
    the two, checked) it is the LR test of ``theta``."""
    df, draws = iclv_study(), ij.Quadrature(8)
    lvs = [ij.LatentVariable("a", covariates=["w"])]
    items = [ij.Indicator(f"q{k}", "a", levels=5) for k in (1, 2, 3)]
    utility = ij.Utility(attributes={"x": "x"}, constants={"one": None})
    choice = ij.BinaryProbit("buy", utility)
    iclv_model = ij.ICLVModel(
        lvs, items, ij.BinaryProbit("buy", dataclasses.replace(utility, lvs=("a",)))
    )
    base = ij.estimate(ij.ICLVModel([], [], choice), df, verbose=False)
    measurement = ij.estimate(ij.ICLVModel(lvs, items), df, draws=draws, verbose=False)
    iclv = ij.estimate(iclv_model, df, draws=draws, verbose=False)
    at_zero = {**base.estimates, **measurement.estimates, "theta_a": 0.0}
    factorised = ij.Problem(iclv_model, df, draws=draws).loglike(at_zero)
    assert factorised == pytest.approx(base.loglike + measurement.loglike, abs=1e-8)
    with pytest.raises(ValueError, match=r"different data.*\['q1', 'q2', 'q3'\]"):
        ij.lr_test(base, iclv)
    with pytest.raises(ValueError, match="both explain"):
        ij.lr_test([base, base], iclv)
    test = ij.lr_test([base, measurement], iclv)
    assert test.df == 1
    assert test.statistic == pytest.approx(
        2.0 * (iclv.loglike - base.loglike - measurement.loglike), rel=1e-12
    )
    assert test.statistic > chi2.isf(0.01, 1)  # theta = 0.6 in the simulation


def test_cli_estimates_a_model_file_without_latent_variables(mnl, tmp_path, capsys):
    from iclv_jax.cli import main

    df, results = mnl
    ij.save_model(mnl_model(), tmp_path / "mnl.yaml")
    df.to_csv(tmp_path / "mnl.csv", index=False)
    arguments = [str(tmp_path / "mnl.yaml"), str(tmp_path / "mnl.csv")]
    assert main(["estimate", *arguments, "--draws", "50", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "0 latent variables, 0 indicators" in out and "draws NoDraws()" in out
    written = ij.load_results(tmp_path / "out" / "results.json")
    assert written.loglike == pytest.approx(results.loglike, abs=1e-8)
    assert written.draws == results.draws
    assert main(["check-gradients", *arguments]) == 0
