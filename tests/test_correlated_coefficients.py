"""Correlated random coefficients: a Cholesky-parametrised normal / log-normal vector of
coefficients per person, optionally correlated with an LV's structural error."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp
from scipy.stats import norm

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


def _alternatives(expressions):
    if expressions:
        utility = {
            "A": "asc_A + time * time_A + cost * cost_A + theta_a_A * a",
            "B": "asc_B + time * time_B + cost * cost_B",
            "C": "time * time_C + cost * cost_C",
        }
        return [ij.Alternative(j, i + 1, utility[j]) for i, j in enumerate(ALTERNATIVES)]
    return [
        ij.Alternative(
            j,
            i + 1,
            ij.Utility(
                lvs={"a": "theta_a_A"} if j == "A" else (),
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
        ij.MultinomialLogit("choice", _alternatives(expressions)),
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
    cuts = np.array([-np.inf, *THRESHOLDS, np.inf])
    log_l = np.zeros_like(a)
    for k in range(3):
        level = panel.ordered_levels[:, k][:, None]
        log_l += np.log(norm.cdf(cuts[level + 1] - a) - norm.cdf(cuts[level] - a))
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
