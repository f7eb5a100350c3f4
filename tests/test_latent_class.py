"""Latent classes (issue 16, item 3): the likelihood against an independent numpy
implementation (an LV in the membership model), one class against the plain model,
posterior class probabilities, label-switching order, model files and recovery."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from helpers import gradient_difference_hessian, numpy_lv_and_continuous_items
from scipy.special import log_softmax, logsumexp

import iclv_jax as ij
from iclv_jax.errors import SpecificationError
from iclv_jax.symmetry import lv_coefficients, mirror

ALTERNATIVES = "abc"
TRUTH = {
    "b_x_to_att": 0.8,
    **{f"alpha_i{k}": 2.0 for k in range(3)},
    **{f"lambda_i{k}": lam for k, lam in enumerate((1.0, 0.8, 1.2))},
    **{f"sigma_i{k}": 0.5 for k in range(3)},
    "beta_cost_class1": -2.0,
    "beta_cost_class2": -0.3,
    "beta_time_class1": -0.3,
    "beta_time_class2": -1.5,
    "asc_b_class1": 0.5,
    "asc_b_class2": -0.5,
    "pi_const_class2": -0.2,
    "pi_z_class2": 0.8,
    "pi_att_class2": 1.0,
}


def simulate(n: int, t: int, seed: int) -> pd.DataFrame:
    """``n`` people, ``t`` MNL situations each, from :data:`TRUTH`; ``true_class``."""
    rng = np.random.default_rng(seed)
    p = TRUTH
    x, z = rng.normal(size=n), rng.binomial(1, 0.5, n).astype(float)
    eta = p["b_x_to_att"] * x + rng.normal(size=n)
    second = p["pi_const_class2"] + p["pi_z_class2"] * z + p["pi_att_class2"] * eta
    cls = 1 + (rng.random(n) < 1 / (1 + np.exp(-second)))
    cost, time = rng.uniform(0.2, 2.0, (2, n, t, 3))
    v = np.stack(
        [p[f"beta_cost_class{c}"] * cost + p[f"beta_time_class{c}"] * time for c in (1, 2)]
    )[cls - 1, np.arange(n)]
    v[..., 1] += np.where(cls == 1, p["asc_b_class1"], p["asc_b_class2"])[:, None]
    choice = (
        np.cumsum(np.exp(v) / np.exp(v).sum(-1, keepdims=True), -1) < rng.random((n, t, 1))
    ).sum(-1)
    items = {
        f"i{k}": p[f"alpha_i{k}"] + p[f"lambda_i{k}"] * eta + p[f"sigma_i{k}"] * rng.normal(size=n)
        for k in range(3)
    }
    frame = {"id": np.repeat(np.arange(n), t), "choice": choice.ravel() + 1}
    for name, values in {"x": x, "z": z, "true_class": cls, **items}.items():
        frame[name] = np.repeat(values, t)
    for j, alt in enumerate(ALTERNATIVES):
        frame[f"cost_{alt}"] = cost[..., j].ravel()
        frame[f"time_{alt}"] = time[..., j].ravel()
    return pd.DataFrame(frame)


def base_choice() -> ij.MultinomialLogit:
    return ij.MultinomialLogit(
        "choice",
        [
            ij.Alternative(a, j + 1, f"beta_cost * cost_{a} + beta_time * time_{a}", asc=a == "b")
            for j, a in enumerate(ALTERNATIVES)
        ],
    )


def model(choice) -> ij.ICLVModel:
    return ij.ICLVModel(
        [ij.LatentVariable("att", covariates=["x"])],
        [ij.Indicator(f"i{k}", "att", kind="continuous") for k in range(3)],
        choice,
    )


def latent_class(classes=2, **options) -> ij.ICLVModel:
    return model(
        ij.LatentClass(
            base_choice(), classes=classes, membership=["z"], membership_lvs=["att"], **options
        )
    )


def numpy_class_terms(df: pd.DataFrame, p: dict, zeta: np.ndarray):
    """``(log w_r + m_nr [N, R], log pi_c + sum_t log P_c [N, C, R])`` by numpy."""
    people = df.groupby("id", sort=True)
    first = people.first()
    eta, m = numpy_lv_and_continuous_items(first, p, zeta)
    second = p["pi_const_class2"] + p["pi_z_class2"] * first["z"].to_numpy()[:, None]
    log_pi = log_softmax(
        np.stack([np.zeros_like(eta), second + p["pi_att_class2"] * eta], 1), axis=1
    )
    within = np.zeros((len(first), 2))
    for c in (1, 2):
        v = np.stack(
            [
                p[f"beta_cost_class{c}"] * df[f"cost_{a}"]
                + p[f"beta_time_class{c}"] * df[f"time_{a}"]
                for a in ALTERNATIVES
            ],
            1,
        )
        v[:, 1] += p[f"asc_b_class{c}"]
        log_p = v[np.arange(len(df)), df["choice"] - 1] - logsumexp(v, axis=1)
        within[:, c - 1] = pd.Series(log_p).groupby(df["id"].to_numpy()).sum().to_numpy()
    return m - np.log(zeta.shape[1]), log_pi + within[:, :, None]


@pytest.fixture(scope="module")
def small():
    df = simulate(40, 4, seed=1)
    problem = ij.Problem(latent_class(), df, 15)
    rng = np.random.default_rng(5)
    params = {
        name: value + 0.3 * rng.normal() if not name.startswith("sigma") else value
        for name, value in TRUTH.items()
    }
    zeta = np.asarray(problem.likelihood.zeta)[: problem.panel.n_people, :, 0]
    return df, problem, params, zeta


def test_loglike_equals_numpy_with_an_lv_in_membership(small):
    df, problem, params, zeta = small
    measurement, terms = numpy_class_terms(df, params, zeta)
    expected = logsumexp(measurement + logsumexp(terms, axis=1), axis=1).sum()
    assert problem.loglike(params) == pytest.approx(expected, rel=1e-12, abs=1e-9)


def test_posterior_classes_sum_to_one_and_match_numpy(small):
    df, problem, params, zeta = small
    posterior = ij.posterior_classes(params, latent_class(), df, draws=15)
    assert list(posterior.columns) == ["class1", "class2"]
    np.testing.assert_allclose(posterior.sum(axis=1), 1.0, atol=1e-12)
    measurement, terms = numpy_class_terms(df, params, zeta)
    joint = terms + measurement[:, None, :]
    expected = np.exp(logsumexp(joint, axis=2) - logsumexp(joint, axis=(1, 2))[:, None])
    np.testing.assert_allclose(posterior.to_numpy(), expected, rtol=1e-10)


def test_one_class_equals_the_plain_model():
    df = simulate(30, 3, seed=2)
    plain = ij.Problem(model(base_choice()), df, 10)
    one = ij.Problem(model(ij.LatentClass(base_choice(), classes=1)), df, 10)
    rng = np.random.default_rng(0)
    params = {name: rng.normal() for name in plain.space.names if not name.startswith("sigma")}
    renamed = {
        (f"{name}_class1" if f"{name}_class1" in one.space.names else name): value
        for name, value in params.items()
    }
    assert set(renamed) | {n for n in one.space.names if n.startswith("sigma")} == set(
        one.space.names
    )
    assert one.loglike(renamed) == pytest.approx(plain.loglike(params), rel=1e-13)


def test_shared_parameters_ordering_and_refusals():
    df = simulate(20, 2, seed=3)
    names = ij.Problem(latent_class(shared=["beta_time"]), df, 5).space.names
    assert "beta_time" in names and "beta_time_class1" not in names
    ordered = ij.Problem(latent_class(ordering="beta_cost"), df, 5)
    values = ordered.reported(ordered.free_internal(None))
    assert values["beta_cost_class1"] < values["beta_cost_class2"]
    with pytest.raises(SpecificationError, match="beta_prize"):
        ij.Problem(latent_class(shared=["beta_prize"]), df, 5)
    with pytest.raises(SpecificationError, match="shared by all classes"):
        latent_class(shared=["beta_cost"], ordering="beta_cost")


def test_prediction_mixes_classes(small):
    df, _, params, zeta = small
    probs = ij.predict(params, latent_class(), df, draws=15)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-12)
    # the prior class mixture of the class MNLs, by numpy, averaged over the draws
    first = df.groupby("id", sort=True).first()
    eta = params["b_x_to_att"] * first["x"].to_numpy()[:, None] + zeta
    second = params["pi_const_class2"] + params["pi_z_class2"] * first["z"].to_numpy()[:, None]
    pi2 = 1 / (1 + np.exp(-(second + params["pi_att_class2"] * eta)))  # [N, R]
    expected = np.zeros((len(df), 3))
    rows = df["id"].to_numpy()
    for c, weight in ((1, 1 - pi2), (2, pi2)):
        v = np.stack(
            [
                params[f"beta_cost_class{c}"] * df[f"cost_{a}"]
                + params[f"beta_time_class{c}"] * df[f"time_{a}"]
                for a in ALTERNATIVES
            ],
            1,
        )
        v[:, 1] += params[f"asc_b_class{c}"]
        share = np.exp(v - logsumexp(v, axis=1, keepdims=True))
        expected += share * weight[rows].mean(axis=1)[:, None]
    np.testing.assert_allclose(probs.to_numpy(), expected, rtol=1e-10)


def test_model_file_round_trip(tmp_path):
    spec = latent_class(shared=["beta_time"], ordering="beta_cost")
    data = ij.model_to_dict(spec)
    assert data["choice"]["kind"] == "latent_class"
    assert data["choice"]["base"]["kind"] == "multinomial_logit"
    assert ij.model_from_dict(data) == spec
    assert ij.load_model(ij.save_model(spec, tmp_path / "lc.yaml")) == spec
    data["choice"]["shared"] = "beta_time"
    with pytest.raises(SpecificationError, match="shared: expected a list"):
        ij.model_from_dict(data)


def test_check_gradients_names_autodiff_only_parameters(small):
    df, problem, params, _ = small
    check = ij.check_gradients(problem, None, params, gradient="analytic")
    assert check.ok, check.table
    assert set(check.not_covered) == set(problem.space.free_names)
    assert "LatentClassChoice" in check.implementation
    with pytest.raises(NotImplementedError, match="LatentClassChoice"):
        ij.analytic.loglike_and_grad(problem.likelihood, problem.free_internal(params))


def test_posterior_beats_prior_at_the_truth():
    """At the true parameters, the posterior of each person's true class is on average
    above its prior share: the choices and indicators are informative."""
    df = simulate(150, 8, seed=4)
    posterior = ij.posterior_classes(TRUTH, latent_class(), df, draws=50)
    truth = df.groupby("id", sort=True)["true_class"].first().to_numpy()
    true_posterior = posterior.to_numpy()[np.arange(len(truth)), truth - 1]
    prior = np.bincount(truth)[1:] / len(truth)
    assert true_posterior.mean() > prior[truth - 1].mean() + 0.15


def test_exact_hessian_of_the_mixed_classes(small):
    """The Hessian's seed compression treats the latent-class kernel as one additive
    term (``additive = "whole"``): it equals central differences of the gradient."""
    _, problem, params, _ = small
    u = jnp.asarray(problem.free_internal(params))
    exact = np.asarray(problem.likelihood.hessian(u))
    differences = gradient_difference_hessian(problem.likelihood, u)
    np.testing.assert_allclose(exact, differences, rtol=1e-5, atol=1e-5)


def test_scores_at_the_truth_average_to_zero():
    """At the true parameters the per-person scores have mean 0: every mean score is
    within 4 standard errors of 0 (a wrong likelihood, e.g. classes mixed per situation
    instead of per person, fails this)."""
    df = simulate(300, 8, seed=6)
    problem = ij.Problem(latent_class(), df, ij.AdaptiveQuadrature(8))
    scores = np.asarray(problem.likelihood.scores(problem.free_internal(TRUTH)))
    z = scores.mean(axis=0) / (scores.std(axis=0, ddof=1) / np.sqrt(len(scores)))
    assert np.abs(z).max() < 4.0, dict(zip(problem.space.free_names, z.round(2), strict=True))


def recover(n: int, t: int, nodes: int, seed: int = 11):
    """Simulate ``n`` people from :data:`TRUTH`, start from
    :func:`~iclv_jax.latent_class_start` (``start=`` that function) and estimate the 2-class
    model (``ordering`` on ``beta_cost``, adaptive quadrature with ``nodes`` nodes: no
    simulation error).  Returns ``(data, model, results)``."""
    df = simulate(n, t, seed=seed)
    spec = latent_class(ordering="beta_cost")
    draws = ij.AdaptiveQuadrature(nodes)
    return df, spec, ij.estimate(spec, df, draws=draws, start=ij.latent_class_start, verbose=False)


def test_class_starts_are_refused_for_a_model_without_classes():
    """``start=ij.latent_class_start`` names the choice kind that has no classes."""
    with pytest.raises(ValueError, match="'multinomial_logit'.*no latent classes"):
        ij.estimate(model(base_choice()), simulate(20, 2, seed=3), 5, start=ij.latent_class_start)


@pytest.mark.slow
def test_recovers_two_classes_with_an_lv_in_membership():
    """A known 2-class truth (membership on a covariate and the LV) is recovered within
    3.5 SEs from the automatic starts; posteriors beat the prior (``benchmarks/latent_class.py``
    prints the table)."""
    df, spec, results = recover(800, 8, 10)
    assert results.converged
    z = {
        name: (results.estimates[name] - v) / results.table.loc[name, "se"]
        for name, v in TRUTH.items()
    }
    assert max(abs(v) for v in z.values()) < 3.5, z
    posterior = ij.posterior_classes(results, spec, df).to_numpy()
    truth = df.groupby("id", sort=True)["true_class"].first().to_numpy()
    assert posterior[np.arange(len(truth)), truth - 1].mean() > 0.8


def test_mirror_image_negates_class_and_membership_lv_coefficients():
    """``eta -> -eta`` with every class's LV coefficient and the membership LV
    coefficients negated (``lv_coefficient_names``) leaves the likelihood unchanged
    (symmetric Gauss-Hermite nodes: exactly)."""
    df = simulate(30, 3, seed=8)
    mnl = ij.MultinomialLogit(
        "choice",
        [
            ij.Alternative(a, j + 1, f"beta_cost * cost_{a} + theta * att", asc=a == "b")
            for j, a in enumerate(ALTERNATIVES[:2])
        ]
        + [ij.Alternative("c", 3, "beta_cost * cost_c")],
    )
    spec = model(ij.LatentClass(mnl, classes=2, membership=["z"], membership_lvs=["att"]))
    names = lv_coefficients(spec)["att"]
    assert set(names) == {"theta_class1", "theta_class2", "pi_att_class2"}
    problem = ij.Problem(spec, df, ij.Quadrature(8))
    rng = np.random.default_rng(1)
    params = {n: rng.normal() for n in problem.space.names if not n.startswith("sigma")}
    mirrored = mirror(spec, {**problem.reported(problem.free_internal(params))}, ["att"])
    assert problem.loglike(mirrored) == pytest.approx(problem.loglike(params), rel=1e-12)
