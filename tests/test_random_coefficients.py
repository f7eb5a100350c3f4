"""Random coefficients in the choice model, integrated alongside the LVs."""

import numpy as np
import pandas as pd
import pytest
from helpers import numpy_ordered_probit_items
from scipy.special import logsumexp
from scipy.stats import norm

import iclv_jax as ij

TRUTH = {
    "asc_A": 0.4,
    "asc_B": -0.2,
    "mu_price": 0.2,
    "sigma_price": 0.6,
    "theta_a_A": 0.8,
    "theta_a_B": -0.5,
    "b_w_to_a": 0.7,
}
THRESHOLDS = (-1.2, -0.3, 0.5, 1.4)


def _study(n_people, n_situations, seed):
    """``a = b w + zeta``; three 5-level probit items with loading 1; MNL among A, B
    and C with ``V_j = asc_j + c_n price_j + theta_j a`` (``V_C = c_n price_C``) and
    ``c_n = -exp(mu + sigma z_n)``, one ``c_n`` per person."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=n_people)
    a = TRUTH["b_w_to_a"] * w + rng.normal(size=n_people)
    price_coefficient = -np.exp(
        TRUTH["mu_price"] + TRUTH["sigma_price"] * rng.normal(size=n_people)
    )
    people = pd.DataFrame({"id": np.arange(n_people), "w": w})
    for k in (1, 2, 3):
        people[f"q{k}"] = 1 + np.searchsorted(THRESHOLDS, a + rng.normal(size=n_people))
    rows = people.loc[people.index.repeat(n_situations)].reset_index(drop=True)
    prices = rng.uniform(0.5, 2.5, size=(len(rows), 3))
    c = np.repeat(price_coefficient, n_situations)[:, None]
    a_rows = np.repeat(a, n_situations)
    v = c * prices + np.column_stack(
        [
            TRUTH["asc_A"] + TRUTH["theta_a_A"] * a_rows,
            TRUTH["asc_B"] + TRUTH["theta_a_B"] * a_rows,
            np.zeros(len(rows)),
        ]
    )
    chosen = (v + rng.gumbel(size=v.shape)).argmax(axis=1) + 1
    return rows.assign(
        price_A=prices[:, 0], price_B=prices[:, 1], price_C=prices[:, 2], choice=chosen
    )


def _model(distribution="negative_lognormal"):
    return ij.ICLVModel(
        [ij.LatentVariable("a", covariates=["w"])],
        [ij.Indicator(f"q{k}", "a", levels=5) for k in (1, 2, 3)],
        ij.MultinomialLogit(
            "choice",
            [
                ij.Alternative(
                    "A", 1, ij.Utility(lvs=["a"], random={"price": "price_A"}), asc=True
                ),
                ij.Alternative(
                    "B", 2, ij.Utility(lvs=["a"], random={"price": "price_B"}), asc=True
                ),
                ij.Alternative("C", 3, ij.Utility(random={"price": "price_C"})),
            ],
        ),
        fixed={f"lambda_q{k}": 1.0 for k in (1, 2, 3)},
        random_coefficients=[ij.RandomCoefficient("price", distribution)],
    )


def _coefficient(distribution, z):
    linear = TRUTH["mu_price"] + TRUTH["sigma_price"] * z
    if distribution == "negative_lognormal":
        return -np.exp(linear)
    if distribution == "lognormal":
        return np.exp(linear)
    if distribution == "normal":
        return linear
    u = norm.cdf(z)
    triangle = np.where(u < 0.5, np.sqrt(2 * u) - 1, 1 - np.sqrt(2 * (1 - u)))
    return TRUTH["mu_price"] + TRUTH["sigma_price"] * triangle


@pytest.mark.parametrize(
    "distribution", ("negative_lognormal", "lognormal", "normal", "triangular")
)
def test_the_loglike_matches_a_direct_numpy_computation(distribution):
    """``log L = sum_n log mean_r prod_k P(I_nk | a_nr) prod_t P(y_nt | a_nr, c_nr)``
    with ``a_nr`` from draw dimension 0 and ``c_nr`` from dimension 1."""
    df = _study(n_people=25, n_situations=3, seed=1)
    problem = ij.Problem(_model(distribution), df, draws=ij.Halton(16, seed=2))
    params = {
        **TRUTH,
        **{f"tau_q{k}_{j}": t for k in (1, 2, 3) for j, t in enumerate(THRESHOLDS, 1)},
    }
    panel, n = problem.panel, problem.panel.n_people
    zeta = np.asarray(problem.likelihood.zeta)[:n]
    assert zeta.shape[2] == 2
    a = TRUTH["b_w_to_a"] * panel.covariates[:, :1] + zeta[:, :, 0]  # (N, R)
    c = _coefficient(distribution, zeta[:, :, 1])
    log_l = numpy_ordered_probit_items(panel.ordered_levels[:, :3], a, THRESHOLDS)
    names = panel.linear_names + panel.custom_columns
    price = np.stack(
        [panel.design[:, :, j, names.index(f"price_{alt}")] for j, alt in enumerate("ABC")], axis=2
    )  # (N, T, J)
    v = c[:, None, :, None] * price[:, :, None, :]  # (N, T, R, J)
    v[..., 0] += TRUTH["asc_A"] + TRUTH["theta_a_A"] * a[:, None, :]
    v[..., 1] += TRUTH["asc_B"] + TRUTH["theta_a_B"] * a[:, None, :]
    chosen = np.take_along_axis(v, panel.chosen[:, :, None, None], axis=3)[..., 0]
    log_p = chosen - logsumexp(v, axis=3)
    log_l += np.where(panel.situation_mask[:, :, None], log_p, 0.0).sum(axis=1)
    expected = (logsumexp(log_l, axis=1) - np.log(log_l.shape[1])).sum()
    np.testing.assert_allclose(problem.loglike(params), expected, rtol=1e-10)


def test_random_coefficients_are_declared_and_used():
    model = _model()
    with pytest.raises(ij.SpecificationError, match="undeclared random coefficients"):
        ij.ICLVModel(model.latent_variables, model.indicators, model.choice)
    with pytest.raises(ij.SpecificationError, match=r"\['time'\] are in no utility"):
        ij.ICLVModel(
            model.latent_variables,
            model.indicators,
            model.choice,
            random_coefficients=[*model.random_coefficients, ij.RandomCoefficient("time")],
        )
    with pytest.raises(ij.SpecificationError, match="unknown distribution 'gamma'"):
        ij.RandomCoefficient("price", "gamma")


@pytest.mark.slow
def test_mixed_logit_with_a_lognormal_price_and_one_lv_recovers_the_truth():
    df = _study(n_people=600, n_situations=6, seed=3)
    results = ij.estimate(_model(), df, draws=ij.Halton(100, seed=0), verbose=False)
    assert results.converged
    names = list(TRUTH)
    z = (results.table.loc[names, "estimate"] - pd.Series(TRUTH)) / results.table.loc[
        names, "robust_se"
    ]
    assert np.all(np.abs(z) < 3), z
