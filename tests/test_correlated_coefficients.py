"""Correlated random coefficients: a Cholesky-parametrised normal / log-normal vector of
coefficients per person, optionally correlated with an LV's structural error."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
from helpers import numpy_ordered_probit_items
from scipy.special import logsumexp

import iclv_jax as ij
from iclv_jax.symmetry import sign_parameters

THRESHOLDS = (-1.2, -0.3, 0.5, 1.4)
# e = L z over the draws (a, time, cost): time = mu + e_1, cost = -exp(mu + e_2)
TRUTH = {
    "asc_A": 0.3,
    "asc_B": -0.2,
    "mu_time": -0.8,
    "mu_cost": 0.1,
    "sigma_time": 0.7,
    "sigma_cost": 0.4,
    "chol_cost_time": 0.35,
    "chol_cost_a": -0.3,
    "theta_a_A": 0.6,
    "b_w_to_a": 0.5,
}
ALTERNATIVES = ("A", "B", "C")


def _cholesky(p):
    """``L`` ``(2, 3)`` over the draws ``(zeta_a, z_time, z_cost)``."""
    return np.array(
        [
            [0.0, p["sigma_time"], 0.0],
            [p["chol_cost_a"], p["chol_cost_time"], p["sigma_cost"]],
        ]
    )


def _coefficients(p, z):
    """``(time, cost)`` coefficients from draws ``z`` ``(..., 3)``."""
    e = z @ _cholesky(p).T
    return p["mu_time"] + e[..., 0], -np.exp(p["mu_cost"] + e[..., 1])


def _study(n_people, n_situations, seed, p=TRUTH):
    """``a = b w + zeta``; three 5-level probit items (loading 1); an MNL among A, B, C
    with ``V_j = asc_j + c_time time_j + c_cost cost_j (+ theta a for A)``, the person's
    ``(zeta, c_time, c_cost)`` drawn jointly through ``L``."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=n_people)
    z = rng.normal(size=(n_people, 3))
    a = p["b_w_to_a"] * w + z[:, 0]
    c_time, c_cost = _coefficients(p, z)
    people = pd.DataFrame({"id": np.arange(n_people), "w": w})
    for k in (1, 2, 3):
        people[f"q{k}"] = 1 + np.searchsorted(THRESHOLDS, a + rng.normal(size=n_people))
    rows = people.loc[people.index.repeat(n_situations)].reset_index(drop=True)
    time = rng.uniform(0.5, 3.0, size=(len(rows), 3))
    cost = rng.uniform(0.5, 3.0, size=(len(rows), 3))
    person = np.repeat(np.arange(n_people), n_situations)
    v = c_time[person, None] * time + c_cost[person, None] * cost
    v[:, 0] += p["asc_A"] + p["theta_a_A"] * a[person]
    v[:, 1] += p["asc_B"]
    chosen = (v + rng.gumbel(size=v.shape)).argmax(axis=1) + 1
    data = {f"time_{j}": time[:, i] for i, j in enumerate(ALTERNATIVES)}
    data |= {f"cost_{j}": cost[:, i] for i, j in enumerate(ALTERNATIVES)}
    return rows.assign(**data, choice=chosen)


def _alternatives(expressions, lv=True):
    if expressions:
        utility = {
            "A": "asc_A + time * time_A + cost * cost_A" + (" + theta_a_A * a" if lv else ""),
            "B": "asc_B + time * time_B + cost * cost_B",
            "C": "time * time_C + cost * cost_C",
        }
        return [ij.Alternative(j, i + 1, utility[j]) for i, j in enumerate(ALTERNATIVES)]
    return [
        ij.Alternative(
            j,
            i + 1,
            ij.Utility(
                lvs={"a": "theta_a_A"} if j == "A" and lv else (),
                random={"time": f"time_{j}", "cost": f"cost_{j}"},
            ),
            asc=j != "C",
        )
        for i, j in enumerate(ALTERNATIVES)
    ]


def _model(expressions=False, correlated_with=("time", "a"), lv=True):
    coefficients = [
        ij.RandomCoefficient("time"),
        ij.RandomCoefficient("cost", "negative_lognormal", correlated_with=correlated_with),
    ]
    return ij.ICLVModel(
        [ij.LatentVariable("a", covariates=["w"])] if lv else [],
        [ij.Indicator(f"q{k}", "a", levels=5) for k in (1, 2, 3)] if lv else [],
        ij.MultinomialLogit("choice", _alternatives(expressions, lv)),
        fixed={f"lambda_q{k}": 1.0 for k in (1, 2, 3)} if lv else {},
        random_coefficients=coefficients,
    )


def _numpy_loglike(problem, p):
    """``sum_n log mean_r prod_k P(q_nk | a_nr) prod_t P(y_nt | a_nr, c_nr)`` with
    ``(zeta_a, z_time, z_cost)`` the problem's draws and ``c_nr`` from ``L``."""
    panel, n = problem.panel, problem.panel.n_people
    z = np.asarray(problem.likelihood.zeta)[:n]  # (N, R, 3)
    a = p["b_w_to_a"] * panel.covariates[:, :1] + z[..., 0]
    c_time, c_cost = _coefficients(p, z)
    log_l = numpy_ordered_probit_items(panel.ordered_levels[:, :3], a, THRESHOLDS)
    names = panel.linear_names + panel.custom_columns

    def column(name):
        return np.stack(
            [
                panel.design[:, :, j, names.index(f"{name}_{alt}")]
                for j, alt in enumerate(ALTERNATIVES)
            ],
            axis=2,
        )

    time, cost = column("time"), column("cost")  # (N, T, J)
    v = (
        c_time[:, None, :, None] * time[:, :, None, :]
        + c_cost[:, None, :, None] * cost[:, :, None, :]
    )
    v[..., 0] += p["asc_A"] + p["theta_a_A"] * a[:, None, :]
    v[..., 1] += p["asc_B"]
    chosen = np.take_along_axis(v, panel.chosen[:, :, None, None], axis=3)[..., 0]
    log_p = chosen - logsumexp(v, axis=3)
    log_l += np.where(panel.situation_mask[:, :, None], log_p, 0.0).sum(axis=1)
    return (logsumexp(log_l, axis=1) - np.log(log_l.shape[1])).sum()


def _random_point(seed):
    rng = np.random.default_rng(seed)
    p = {k: v + rng.normal(scale=0.2) for k, v in TRUTH.items()}
    p["sigma_time"], p["sigma_cost"] = abs(p["sigma_time"]), abs(p["sigma_cost"])
    return p | {f"tau_q{k}_{j}": t for k in (1, 2, 3) for j, t in enumerate(THRESHOLDS, 1)}


@pytest.mark.parametrize("expressions", (False, True))
def test_the_loglike_matches_a_numpy_implementation_at_random_parameters(expressions):
    df = _study(n_people=20, n_situations=3, seed=1)
    problem = ij.Problem(_model(expressions), df, draws=ij.Halton(16, seed=2))
    for seed in (3, 4):
        p = _random_point(seed)
        np.testing.assert_allclose(problem.loglike(p), _numpy_loglike(problem, p), rtol=1e-11)


def test_zero_cholesky_elements_give_the_independent_model():
    """With ``chol_*`` fixed at 0 the correlated model is the independent one, exactly."""
    df = _study(n_people=15, n_situations=2, seed=6)
    p = _random_point(7)
    independent = ij.Problem(_model(correlated_with=()), df, draws=ij.Halton(8, seed=1))
    zero = ij.Problem(_model(), df, draws=ij.Halton(8, seed=1))
    own = {k: v for k, v in p.items() if not k.startswith("chol_")}
    at_zero = own | {"chol_cost_time": 0.0, "chol_cost_a": 0.0}
    assert zero.loglike(at_zero) == pytest.approx(independent.loglike(own), rel=1e-13)
    assert zero.loglike(p) != pytest.approx(independent.loglike(own), rel=1e-6)


def test_autodiff_covers_the_cholesky_elements_and_agrees_with_finite_differences():
    df = _study(n_people=12, n_situations=2, seed=8)
    check = ij.check_gradients(_model(), df, _random_point(9), draws=ij.Halton(8, seed=1))
    assert check.ok
    assert {"chol_cost_time", "chol_cost_a", "sigma_cost"} <= set(check.table.index)
    assert check.implementation.startswith("analytic not available")
    assert {"chol_cost_time", "chol_cost_a"} <= set(check.not_covered)


def test_a_coefficient_correlated_with_an_lv_changes_sign_with_it():
    assert "chol_cost_a" in sign_parameters(_model(), "a")
    assert "chol_cost_a" not in sign_parameters(_model(correlated_with=("time",)), "a")


def test_model_files_keep_the_correlations():
    model = _model(expressions=True)
    data = ij.model_to_dict(model)
    assert data["random_coefficients"][1]["correlated_with"] == ["time", "a"]
    assert "correlated_with" not in data["random_coefficients"][0]
    assert ij.model_from_dict(data) == model


@pytest.mark.parametrize(
    ("correlated_with", "distribution", "message"),
    [
        (("cost",), "normal", r"correlated_with \['cost'\] must name"),
        (("price",), "normal", r"\['price'\] are not"),
        (("time", "time"), "normal", r"\['time'\] are not"),
        (("time",), "triangular", "triangular coefficient cannot be correlated"),
    ],
)
def test_bad_correlations_are_refused(correlated_with, distribution, message):
    with pytest.raises(ij.SpecificationError, match=message):
        ij.ICLVModel(
            [],
            [],
            ij.MultinomialLogit("choice", _alternatives(False, lv=False)),
            random_coefficients=[
                ij.RandomCoefficient("time"),
                ij.RandomCoefficient("cost", distribution, correlated_with=correlated_with),
            ],
        )


def test_a_random_coefficient_used_nonlinearly_in_an_expression_is_refused():
    alternatives = [
        ij.Alternative("A", 1, "asc_A + exp(time) * time_A + cost * cost_A"),
        ij.Alternative("B", 2, "time * time_B + cost * cost_B"),
    ]
    model = ij.ICLVModel(
        [],
        [],
        ij.MultinomialLogit("choice", alternatives),
        random_coefficients=[ij.RandomCoefficient("time"), ij.RandomCoefficient("cost")],
    )
    df = _study(n_people=5, n_situations=2, seed=1).assign(choice=1)
    with pytest.raises(ij.SpecificationError, match="random coefficient 'time' enters"):
        ij.Problem(model, df, draws=4)


MIXED_TRUTH = TRUTH | {"chol_cost_a": 0.0, "theta_a_A": 0.0}


def _sigma(p):
    """``Sigma = L L'`` of ``(e_time, e_cost)`` (numpy, the test's own)."""
    chol = _cholesky(p)
    return chol @ chol.T


@pytest.fixture(scope="module")
def mixed_fit():
    """A mixed logit with a normal time and a log-normal cost coefficient, correlated:
    400 people, 6 choices each, 25 Halton draws (about 10 s)."""
    df = _study(n_people=400, n_situations=6, seed=5, p=MIXED_TRUTH)
    model = _model(correlated_with=("time",), lv=False)
    return ij.estimate(model, df, draws=ij.Halton(25, seed=0), verbose=False)


def test_a_small_mixed_logit_recovers_the_covariance(mixed_fit):
    assert mixed_fit.converged
    table = mixed_fit.random_coefficient_covariance()
    truth = _sigma(MIXED_TRUTH)
    expected = [truth[0, 0], truth[1, 0], truth[1, 1]]
    assert list(table.index) == [("time", "time"), ("cost", "time"), ("cost", "cost")]
    z = (table["covariance"].to_numpy() - expected) / table["se"].to_numpy()
    assert np.all(np.abs(z) < 3), z
    correlation = truth[1, 0] / np.sqrt(truth[0, 0] * truth[1, 1])
    row = table.loc[("cost", "time")]
    assert abs(row["correlation"] - correlation) < 3 * row["correlation_se"]
    names = [n for n in mixed_fit.table.index if n in MIXED_TRUTH]
    estimates = mixed_fit.table.loc[names]
    z = (estimates["estimate"] - pd.Series(MIXED_TRUTH)[names]) / estimates["se"]
    assert np.all(np.abs(z) < 3), z


def test_sigma_ses_are_the_delta_method_with_finite_differences(mixed_fit):
    """``se = sqrt(diag(J V J'))`` with ``J`` central differences of the numpy mapping
    from the estimates to ``(Sigma_11, Sigma_21, Sigma_22, rho_21)``."""
    names = list(mixed_fit.table.index)
    x0 = mixed_fit.table["estimate"].to_numpy()

    def mapping(x):
        p = MIXED_TRUTH | dict(zip(names, x, strict=True))
        s = _sigma(p)
        return np.array([s[0, 0], s[1, 0], s[1, 1], s[1, 0] / np.sqrt(s[0, 0] * s[1, 1])])

    h = 1e-6
    jacobian = np.column_stack(
        [(mapping(x0 + h * e) - mapping(x0 - h * e)) / (2 * h) for e in np.eye(len(x0))]
    )
    for robust in (False, True):
        v = (mixed_fit.robust_covariance if robust else mixed_fit.covariance).loc[names, names]
        se = np.sqrt(np.diag(jacobian @ v.to_numpy() @ jacobian.T))
        table = mixed_fit.random_coefficient_covariance(robust=robust)
        got = [*table["se"], table.loc[("cost", "time"), "correlation_se"]]
        np.testing.assert_allclose(got, se, rtol=1e-6)


def test_a_parameter_without_se_leaves_nan_only_where_it_enters(mixed_fit):
    covariance = mixed_fit.covariance.copy()
    covariance.loc["sigma_cost", :] = covariance.loc[:, "sigma_cost"] = np.nan
    table = dataclasses.replace(mixed_fit, covariance=covariance).random_coefficient_covariance()
    assert (
        table.loc[("time", "time"), "se"]
        == mixed_fit.random_coefficient_covariance().loc[("time", "time"), "se"]
    )
    assert np.isnan(table.loc[("cost", "cost"), "se"])


def test_the_summary_and_saved_results_hold_the_covariance(mixed_fit, tmp_path):
    assert "random coefficients' covariance" in mixed_fit.summary()
    assert "## Random coefficients' covariance" in ij.report.markdown_report(mixed_fit)
    loaded = ij.load_results(mixed_fit.save(tmp_path / "fit.json"))
    pd.testing.assert_frame_equal(
        loaded.random_coefficient_covariance(), mixed_fit.random_coefficient_covariance()
    )


@pytest.mark.slow
def test_an_iclv_recovers_a_coefficient_correlated_with_the_lv():
    """The full model (an LV with items, ``cost`` correlated with ``time`` and with the
    LV's structural error): 2,000 people, 8 choices, 100 Halton draws."""
    df = _study(n_people=2000, n_situations=8, seed=11)
    results = ij.estimate(_model(), df, draws=ij.Halton(100, seed=0), verbose=False)
    assert results.converged
    names = list(TRUTH)
    z = (results.table.loc[names, "estimate"] - pd.Series(TRUTH)) / results.table.loc[names, "se"]
    assert np.all(np.abs(z) < 3), z
    table = results.random_coefficient_covariance()
    truth = _sigma(TRUTH)
    row = table.loc[("a", "cost")]
    assert abs(row["covariance"] - TRUTH["chol_cost_a"]) < 3 * row["se"]
    row = table.loc[("cost", "cost")]
    assert abs(row["covariance"] - truth[1, 1]) < 3 * row["se"]
