"""Delta method, WTP, posterior LVs, prediction, elasticities, LR test, rho-squared."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
from helpers import fake_results
from scipy.stats import chi2

import iclv_jax as ij
from iclv_jax import datasets
from iclv_jax.postestimation import parse_expression


def test_delta_method_ratio_equals_the_hand_linearisation():
    a, b = 2.0, -4.0
    cov = np.array([[0.09, 0.03], [0.03, 0.16]])
    res = fake_results({"beta_a": a, "beta_b": b}, cov)
    # g = a / b: grad = (1/b, -a/b^2); var = v_aa/b^2 - 2 a v_ab / b^3 + a^2 v_bb / b^4
    by_hand = np.sqrt(0.09 / b**2 - 2 * a * 0.03 / b**3 + a**2 * 0.16 / b**4)
    table = ij.delta_method(res, "beta_a / beta_b")
    assert table.loc["beta_a / beta_b", "estimate"] == pytest.approx(a / b, rel=1e-14)
    assert table.loc["beta_a / beta_b", "se"] == pytest.approx(by_hand, rel=1e-12)
    # independent case, the textbook formula
    indep = fake_results({"beta_a": a, "beta_b": b}, np.diag([0.09, 0.16]))
    se = ij.delta_method(indep, lambda p: p["beta_a"] / p["beta_b"])["se"].iloc[0]
    assert se == pytest.approx(np.sqrt(0.09 / 16 + 4 * 0.16 / 256), rel=1e-12)
    # the classical covariance when asked
    robust = fake_results({"beta_a": a, "beta_b": b}, cov, robust_covariance=4 * cov)
    assert ij.delta_method(robust, "beta_a / beta_b")["se"].iloc[0] == pytest.approx(2 * by_hand)
    assert ij.delta_method(robust, "beta_a / beta_b", robust=False)["se"].iloc[0] == pytest.approx(
        by_hand
    )


def test_delta_method_several_expressions_and_fixed_parameters():
    cov = np.array([[0.04, 0.01], [0.01, 0.09]])
    res = fake_results({"x": 1.5, "y": 0.5}, cov, fixed={"z": 2.0})
    table = ij.delta_method(
        res, {"sum": "x + y + z", "exp": "exp(x) * z", "f": lambda p: p["x"] ** 2}
    )
    gradients = np.array([[1.0, 1.0], [2.0 * np.exp(1.5), 0.0], [3.0, 0.0]])
    expected = np.sqrt(np.einsum("ij,jk,ik->i", gradients, cov, gradients))
    np.testing.assert_allclose(table["se"], expected, rtol=1e-12)
    np.testing.assert_allclose(table["estimate"], [4.0, 2 * np.exp(1.5), 2.25], rtol=1e-14)
    np.testing.assert_allclose(
        table.attrs["covariance"].to_numpy(), gradients @ cov @ gradients.T, rtol=1e-12
    )
    assert list(table.index) == ["sum", "exp", "f"]


def test_expressions_are_parsed_not_evaluated():
    names = ["beta_a", "lambda", "beta b"]
    f = parse_expression("-(beta_a + 2.5e-1) / `beta b` ** 2 + sqrt(lambda)", names)
    assert float(f({"beta_a": 1.0, "lambda": 4.0, "beta b": 2.0})) == pytest.approx(-1.25 / 4 + 2.0)
    for bad in [
        "__import__('os').system('true')",
        "beta_a.real",
        "beta_c + 1",
        "open('x')",
        "beta_a if 1 else 2",
        "[beta_a][0]",
        "beta_a; beta_a",
        "'s'",
    ]:
        with pytest.raises(ValueError):
            parse_expression(bad, names)


def test_wtp_is_minus_the_ratio():
    cov = np.diag([0.01, 1e-8])
    res = fake_results({"beta_health_label": 0.5, "beta_price": -0.0004}, cov)
    table = ij.wtp(res, "beta_health_label")
    assert table.loc["beta_health_label", "estimate"] == pytest.approx(1250.0)
    ratio = ij.delta_method(res, "beta_health_label / beta_price")
    assert table["se"].iloc[0] == pytest.approx(ratio["se"].iloc[0], rel=1e-12)
    with pytest.raises(ValueError, match="unknown parameter"):
        ij.wtp(res, "beta_nothing")


# --- the LR test ------------------------------------------------------------------------


def test_lr_test_against_chi2_critical_values():
    base = fake_results({"p0": 1.0}, [[1.0]], loglike=-1000.0)
    for df in (1, 2, 5):
        critical = chi2.isf(0.05, df)
        names = {f"p{i}": 0.0 for i in range(1 + df)}
        bigger = fake_results(names, np.eye(1 + df), loglike=-1000.0 + critical / 2)
        test = ij.lr_test(base, bigger)
        assert test.df == df
        assert test.statistic == pytest.approx(critical)
        assert test.p_value == pytest.approx(0.05, rel=1e-9)
    assert "df = 5" in str(test)
    with pytest.raises(ValueError, match="fewer free parameters"):
        ij.lr_test(bigger, base)
    with pytest.raises(ValueError, match="different data"):
        ij.lr_test(base, dataclasses.replace(bigger, n_people=51))
    with pytest.warns(UserWarning, match="above the unrestricted"):
        worse = dataclasses.replace(bigger, loglike=-1001.0)
        assert ij.lr_test(base, worse).p_value == 1.0


# --- posterior LVs ------------------------------------------------------------------------


def _continuous_study(n_people=40, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n_people)
    truth = {
        "b_x_to_a": 0.5,
        "alpha_c1": 0.2,
        "alpha_c2": -0.3,
        "lambda_c1": 1.0,
        "lambda_c2": 0.7,
        "sigma_c1": 0.8,
        "sigma_c2": 1.1,
    }
    eta = truth["b_x_to_a"] * x + rng.normal(size=n_people)
    data = {"id": np.arange(n_people), "x": x}
    for k in (1, 2):
        data[f"c{k}"] = (
            truth[f"alpha_c{k}"]
            + truth[f"lambda_c{k}"] * eta
            + truth[f"sigma_c{k}"] * rng.normal(size=n_people)
        )
    model = ij.ICLVModel(
        [ij.LatentVariable("a", covariates=["x"])],
        [ij.Indicator(f"c{k}", "a", kind="continuous") for k in (1, 2)],
    )
    return pd.DataFrame(data), model, truth


def test_posterior_equals_the_gaussian_conditional():
    """eta ~ N(b x, 1), c_k | eta ~ N(alpha_k + lambda_k eta, sigma_k^2): the posterior is
    normal with precision 1 + sum lambda_k^2 / sigma_k^2 and mean
    (b x + sum lambda_k (c_k - alpha_k) / sigma_k^2) / precision."""
    df, model, p = _continuous_study()
    lam = np.array([p["lambda_c1"], p["lambda_c2"]])
    sig = np.array([p["sigma_c1"], p["sigma_c2"]])
    alpha = np.array([p["alpha_c1"], p["alpha_c2"]])
    c = df[["c1", "c2"]].to_numpy()
    precision = 1 + (lam**2 / sig**2).sum()
    mean = (p["b_x_to_a"] * df["x"].to_numpy() + ((c - alpha) * lam / sig**2).sum(1)) / precision
    post = ij.posterior_lv(p, model, df, draws=ij.Halton(2000, seed=2))
    assert list(post.columns) == ["a_mean", "a_sd"]
    np.testing.assert_array_equal(post.index, df["id"])
    np.testing.assert_allclose(post["a_mean"], mean, atol=0.02)
    np.testing.assert_allclose(post["a_sd"], 1 / np.sqrt(precision), atol=0.02)
    # few draws are measurably worse: the comparison has power
    coarse = ij.posterior_lv(p, model, df, draws=ij.PseudoRandom(5, seed=2))
    assert np.abs(coarse["a_mean"] - mean).max() > 0.05
    # adaptive Gauss-Hermite quadrature (per-person nodes and weights) is exact here
    if hasattr(ij, "AdaptiveQuadrature"):
        exact = ij.posterior_lv(p, model, df, draws=ij.AdaptiveQuadrature(5))
        np.testing.assert_allclose(exact["a_mean"], mean, atol=1e-10)
        np.testing.assert_allclose(exact["a_sd"], 1 / np.sqrt(precision), atol=1e-10)


def test_posterior_means_track_the_true_lvs_of_the_beverage_study():
    n, seed = 300, 5
    df, model, truth = datasets.beverage(n_people=n, n_situations=4, seed=seed)
    rng = np.random.default_rng(seed)  # replay beverage()'s draws of the true LVs
    people = datasets._people(n, rng)
    eta = datasets.simulate_lvs(
        datasets.BEVERAGE_LVS, {c: people[c].to_numpy() for c in ("age", "female")}, truth, rng
    )
    post = ij.posterior_lv(truth, model, df, draws=ij.Halton(100, seed=1))
    assert (post.filter(like="_sd") > 0).all().all()
    for lv, values in eta.items():
        assert np.corrcoef(post[f"{lv}_mean"], values)[0, 1] > 0.7, lv
        # conditioning shrinks the spread below the prior SD of that LV
        assert post[f"{lv}_sd"].mean() < np.std(values)


# --- prediction ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def logit_study():
    df, model, truth = datasets.beverage(n_people=2000, n_situations=5, seed=11, choice="logit")
    return df, model, truth, ij.Halton(10, seed=3)


def test_predicted_shares_match_observed_shares_at_the_truth(logit_study):
    df, model, truth, draws = logit_study
    probs = ij.predict(truth, model, df, draws)
    assert list(probs.columns) == ["sugar", "sugar_free", "none"]
    assert probs.index.equals(df.index)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-12)
    observed = pd.get_dummies(df["choice"]).to_numpy(dtype=float)
    residual = pd.DataFrame(observed - probs.to_numpy()).groupby(df["id"].to_numpy()).sum()
    # sampling SE of the mean residual, clustered by person (the LV is shared)
    se = np.sqrt((residual**2).sum().to_numpy()) / len(df)
    gap = observed.mean(axis=0) - probs.mean(axis=0).to_numpy()
    assert np.all(np.abs(gap) < 4 * se), (gap, se)
    shares = ij.market_shares(truth, model, df, draws)
    np.testing.assert_allclose(shares.to_numpy(), probs.mean(axis=0).to_numpy())
    # new data: no choice or indicator columns, rows shuffled; same probabilities
    new = df.drop(columns=["choice", *(i.name for i in model.indicators)]).sample(
        frac=1.0, random_state=0
    )
    again = ij.predict(truth, model, new, draws)
    np.testing.assert_allclose(again.loc[df.index].to_numpy(), probs.to_numpy(), atol=1e-12)
    with pytest.raises(ij.DataError, match="indicator"):
        ij.predict(truth, model, new, draws, conditional=True)
    # conditioning on the indicators sharpens the prediction of the observed choices
    conditional = ij.predict(truth, model, df, draws, conditional="indicators")
    np.testing.assert_allclose(conditional.sum(axis=1), 1.0, atol=1e-12)
    hit = lambda p: np.log((p.to_numpy() * observed).sum(1)).mean()  # noqa: E731
    assert hit(conditional) > hit(probs)


@pytest.mark.parametrize("choice", ["probit", "ordered"])
def test_binary_and_ordered_predictions(choice):
    df, model, truth = datasets.beverage(n_people=600, n_situations=3, seed=4, choice=choice)
    probs = ij.predict(truth, model, df, ij.Halton(10, seed=1))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-12)
    column = model.choice.choice
    assert list(probs.columns) == sorted(df[column].unique())
    observed = pd.get_dummies(df[column]).to_numpy(dtype=float)
    residual = pd.DataFrame(observed - probs.to_numpy()).groupby(df["id"].to_numpy()).sum()
    se = np.sqrt((residual**2).sum().to_numpy()) / len(df)
    assert np.all(np.abs(observed.mean(axis=0) - probs.mean(axis=0).to_numpy()) < 4 * se)


def test_one_situation_per_person_choice_loglike_is_the_log_prediction():
    """With T = 1, log P(chosen) from predict() summed over people is exactly the
    choice-only LL of rho_squared(), and the three LL parts are consistent."""
    df, model, truth = datasets.beverage(n_people=200, n_situations=1, seed=6, choice="logit")
    draws = ij.Halton(15, seed=2)
    probs = ij.predict(truth, model, df, draws)
    chosen = probs.to_numpy()[np.arange(len(df)), df["choice"].to_numpy() - 1]
    fit = ij.rho_squared(truth, model, df, draws)
    assert fit["loglike_choice"] == pytest.approx(np.log(chosen).sum(), rel=1e-12)
    assert fit["loglike"] == pytest.approx(ij.Problem(model, df, draws).loglike(truth), rel=1e-12)
    assert fit["loglike_null"] == pytest.approx(200 * np.log(1 / 3))
    assert fit["loglike_null"] < fit["loglike_constants"] < fit["loglike_choice"] < 0
    assert 0 < fit["rho_squared_constants"] < fit["rho_squared_null"] < 1
    assert fit["n_choice_params"] == 6


@pytest.mark.parametrize("choice", datasets.CHOICE_KINDS)
def test_one_null_loglike_for_the_results_and_rho_squared(choice):
    """Equal shares, one definition: the value estimate stores and the one rho_squared
    uses agree for every choice kind (ordered choice: ``n log 1/J``, which
    ``Problem.null_choice_loglike`` once left undefined)."""
    df, model, truth = datasets.beverage(n_people=30, n_situations=4, seed=3, choice=choice)
    draws = ij.Halton(5, seed=1)
    null = ij.Problem(model, df, draws).null_choice_loglike()
    assert null == pytest.approx(ij.rho_squared(truth, model, df, draws)["loglike_null"])
    n_levels = {"probit": 2, "logit": 3, "ordered": 5}[choice]
    assert null == pytest.approx(120 * np.log(1 / n_levels))


def test_elasticities_equal_finite_differences_of_the_prediction(logit_study):
    df, model, truth, draws = logit_study
    df = df[df["id"] <= 300]
    table = ij.elasticities(truth, model, df, "price", draws)
    assert list(table.index) == ["sugar", "sugar_free"]
    base = ij.predict(truth, model, df, draws).to_numpy()
    h = 1e-5
    for alt in table.index:
        column = f"price_{alt}"
        up = ij.predict(truth, model, df.assign(**{column: df[column] * (1 + h)}), draws)
        down = ij.predict(truth, model, df.assign(**{column: df[column] * (1 - h)}), draws)
        fd = ((up.to_numpy() - down.to_numpy()) / (2 * h) / base).mean(axis=0)
        np.testing.assert_allclose(table.loc[alt].to_numpy(), fd, rtol=1e-5)
    # a price rise lowers its own share and raises the others'
    assert table.loc["sugar", "sugar"] < 0 < table.loc["sugar", "sugar_free"]
    aggregate = ij.elasticities(truth, model, df, "price", draws, aggregate=True)
    assert np.all(np.sign(aggregate) == np.sign(table))
    with pytest.raises(ValueError, match="attributes"):
        ij.elasticities(truth, model, df, "colour", draws)


def test_constants_only_loglike():
    df = pd.DataFrame(
        {"id": np.arange(8), "y": [1, 1, 1, 2, 2, 3, 3, 3], "i": 1, "av3": [1, 1, 1, 1, 1, 1, 1, 1]}
    )
    alternatives = [ij.Alternative(f"a{k}", k, asc=k > 1) for k in (1, 2, 3)]
    model = ij.ICLVModel(
        [ij.LatentVariable("l")],
        [ij.Indicator("i", "l", levels=2)],
        choice=ij.MultinomialLogit("y", alternatives),
    )
    shares = np.array([3, 2, 3]) / 8
    assert ij.loglike_constants_only(model, df) == pytest.approx(
        (8 * shares * np.log(shares)).sum(), rel=1e-10
    )
    # with availability: the maximised LL beats any other constants
    alternatives[2] = ij.Alternative("a3", 3, asc=True, available="av3")
    model = dataclasses.replace(model, choice=ij.MultinomialLogit("y", alternatives))
    df["av3"] = [0, 1, 0, 0, 1, 1, 1, 1]
    best = ij.loglike_constants_only(model, df)
    y = df["y"].to_numpy() - 1
    av = np.ones((8, 3), bool)
    av[:, 2] = df["av3"] == 1
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = np.r_[0.0, rng.normal(size=2)]
        v = np.where(av, a, -np.inf)
        ll = (v[np.arange(8), y] - np.log(np.exp(v).sum(1))).sum()
        assert ll <= best + 1e-9


# --- on estimated results -------------------------------------------------------------------


def test_wtp_delta_method_agrees_with_finite_differences_and_bootstrap(fitted_small):
    results, _, _ = fitted_small
    names = list(results.table.index)
    theta = results.table["estimate"].to_numpy()
    cov = results.robust_covariance.to_numpy()
    i, j = names.index("beta_health_label"), names.index("beta_price")
    table = ij.wtp(results, "beta_health_label")
    value, se = table["estimate"].iloc[0], table["se"].iloc[0]
    assert value == pytest.approx(-theta[i] / theta[j])
    # finite-difference gradient
    g = np.zeros(len(theta))
    for k in (i, j):
        step = 1e-5 * abs(theta[k])
        up, down = theta.copy(), theta.copy()
        up[k] += step
        down[k] -= step
        g[k] = (-up[i] / up[j] + down[i] / down[j]) / (2 * step)
    assert se == pytest.approx(np.sqrt(g @ cov @ g), rel=1e-6)
    # parametric bootstrap: theta* ~ N(theta, V).  The ratio's tails (cv(beta_price)
    # about 0.18 here) inflate its SD, so compare the half-width of the central 68%
    # interval, which a normal with SD = se would give; MC error about 1% at 20,000.
    draws = np.random.default_rng(0).multivariate_normal(theta, cov, size=20000)
    lower, upper = np.percentile(-draws[:, i] / draws[:, j], [15.865, 84.135])
    assert (upper - lower) / 2 == pytest.approx(se, rel=0.05)


def test_rho_squared_on_estimated_results(fitted_small):
    results, model, df = fitted_small
    fit = ij.rho_squared(results, None if results.model else model, df)
    assert fit["loglike"] == pytest.approx(results.loglike, rel=1e-10)
    assert fit["loglike_null"] == pytest.approx(results.loglike_null_choice)
    assert fit["loglike_choice"] < 0 and fit["loglike_measurement"] < 0
    assert 0 < fit["rho_squared_null"] < 1
    assert fit["adjusted_rho_squared_null"] < fit["rho_squared_null"]
