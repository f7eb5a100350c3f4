"""Custom utility terms: JAX functions of named parameters, attributes and LVs."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

import iclv_jax as ij
from iclv_jax.datasets import beverage

TRUTH = {"asc_c": 0.3, "beta_x": -0.8, "b_exp": 0.5, "b_w_to_a": 0.6}
THRESHOLDS = (-1.2, -0.3, 0.5, 1.4)


def _exp_study(n_people=300, n_situations=4, seed=0):
    """``a = b_w w + zeta``; three 5-level probit items with loading 1; binary probit
    ``V = asc + beta_x x + exp(b_exp a) z``."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=n_people)
    a = TRUTH["b_w_to_a"] * w + rng.normal(size=n_people)
    people = pd.DataFrame({"id": np.arange(n_people), "w": w})
    for k in (1, 2, 3):
        latent = a + rng.normal(size=n_people)
        people[f"q{k}"] = 1 + np.searchsorted(THRESHOLDS, latent)
    rows = people.loc[people.index.repeat(n_situations)].reset_index(drop=True)
    x, z = rng.normal(size=len(rows)), rng.uniform(0.5, 1.5, size=len(rows))
    a_rows = np.repeat(a, n_situations)
    v = TRUTH["asc_c"] + TRUTH["beta_x"] * x + np.exp(TRUTH["b_exp"] * a_rows) * z
    rows = rows.assign(x=x, z=z, buy=(v + rng.normal(size=len(rows)) > 0).astype(int))
    return rows


def _model(extra, **utility):
    return ij.ICLVModel(
        [ij.LatentVariable("a", covariates=["w"])],
        [ij.Indicator(f"q{k}", "a", levels=5) for k in (1, 2, 3)],
        ij.BinaryProbit(
            "buy", ij.Utility(attributes={"x": "x"}, constants={"c": None}, extra=extra, **utility)
        ),
        fixed={f"lambda_q{k}": 1.0 for k in (1, 2, 3)},
    )


EXP_TERM = ij.Custom(
    lambda p, x, lv: jnp.exp(p["b_exp"] * lv["a"]) * x["z"],
    parameters=["b_exp"],
    attributes=["z"],
    lvs=["a"],
)


def test_a_custom_linear_term_equals_the_declarative_one():
    df, model, truth = beverage(n_people=30, n_situations=2, seed=1)
    utility = model.choice.utility
    linear_lv = ij.Custom(
        lambda p, x, lv: (
            p["theta_purchase_intention"] * lv["purchase_intention"]
            + p["beta_health_label"] * x["health_label"]
        ),
        parameters=["theta_purchase_intention", "beta_health_label"],
        attributes=["health_label"],
        lvs=["purchase_intention"],
    )
    custom = dataclasses.replace(
        model,
        choice=dataclasses.replace(
            model.choice,
            utility=dataclasses.replace(
                utility, lvs=(), attributes={"price": "price"}, extra=linear_lv
            ),
        ),
    )
    draws = ij.Halton(20, seed=1)
    problem = ij.Problem(custom, df, draws=draws)
    assert set(problem.space.names) == set(truth)
    np.testing.assert_allclose(
        problem.loglike(truth), ij.Problem(model, df, draws=draws).loglike(truth), rtol=1e-12
    )


def test_check_gradients_says_analytic_is_not_available_and_uses_finite_differences():
    df = _exp_study(n_people=40, n_situations=2)
    model = _model(EXP_TERM)
    check = ij.check_gradients(model, df, {**TRUTH, "tau_q1_2": -0.2}, draws=20)
    assert "analytic not available for custom terms" in check.implementation
    assert "analytic not available for custom terms" in str(check)
    assert check.table["analytic"].isna().all()
    assert check.ok and check.max_rel_error_fd < 1e-5
    assert abs(check.table.loc["b_exp", "autodiff"]) > 1e-3
    with pytest.raises(ValueError, match="analytic scores do not cover custom"):
        ij.check_gradients(model, df, TRUTH, draws=20, finite_differences=False)
    with pytest.raises(TypeError, match="custom utility term"):
        ij.model_to_dict(model)


def test_the_loglike_with_a_custom_term_matches_numpy():
    """One person-free check of the wiring: ``log P(buy | a)`` for fixed ``a``."""
    df = _exp_study(n_people=20, n_situations=3, seed=2)
    problem = ij.Problem(_model(EXP_TERM), df, draws=ij.Halton(15, seed=0))
    params = {
        **TRUTH,
        **{f"tau_q{k}_{j}": t for k in (1, 2, 3) for j, t in enumerate(THRESHOLDS, 1)},
    }
    n = problem.panel.n_people
    a = (
        TRUTH["b_w_to_a"] * problem.panel.covariates[:, :1]
        + np.asarray(problem.likelihood.zeta)[:n, :, 0]
    )
    cuts = np.array([-np.inf, *THRESHOLDS, np.inf])
    log_l = np.zeros_like(a)
    for k in range(3):
        level = problem.panel.ordered_levels[:, k][:, None]
        log_l += np.log(norm.cdf(cuts[level + 1] - a) - norm.cdf(cuts[level] - a))
    design = problem.panel.design[:, :, 0, :]  # asc, beta_x, then the custom column z
    names = problem.panel.linear_names + problem.panel.custom_columns
    v = (
        TRUTH["asc_c"] * design[..., names.index("asc_c")][:, :, None]
        + TRUTH["beta_x"] * design[..., names.index("beta_x")][:, :, None]
        + np.exp(TRUTH["b_exp"] * a)[:, None, :] * design[..., names.index("z")][:, :, None]
    )
    sign = np.where(problem.panel.chosen == 1, 1.0, -1.0)[:, :, None]
    log_l += np.where(problem.panel.situation_mask[:, :, None], norm.logcdf(sign * v), 0.0).sum(
        axis=1
    )
    expected = np.log(np.exp(log_l).mean(axis=1)).sum()
    np.testing.assert_allclose(problem.loglike(params), expected, rtol=1e-10)


@pytest.mark.slow
def test_a_custom_exp_interaction_recovers_its_true_value():
    df = _exp_study(n_people=400, n_situations=5, seed=3)
    results = ij.estimate(_model(EXP_TERM), df, draws=ij.Halton(100, seed=0), verbose=False)
    assert results.converged
    z = (results.table["estimate"] - pd.Series(TRUTH)) / results.table["robust_se"]
    assert np.all(np.abs(z.dropna()) < 3), z
