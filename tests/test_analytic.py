"""Hand-written analytic scores against autodiff and finite differences."""

import dataclasses
import functools
import importlib
import inspect
import pkgutil
import re

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from helpers import ITEMS, analytic_study, assert_close, assert_scores_match, choice_model

import iclv_jax as ij
from iclv_jax import analytic
from iclv_jax.datasets import beverage

MEASUREMENTS = ("ordered_probit", "ordered_logit", "continuous", "mixed")
CHOICES = ("binary_probit", "ordered_probit", "mnl", "none")


def _perturbed(problem, seed, scale=0.4):
    u = np.asarray(problem.free_internal(None))
    return jnp.asarray(u + scale * np.random.default_rng(seed).normal(size=u.shape))


def _assert_total_matches(problem, u, reference):
    """Analytic ``loglike_and_grad`` vs ``reference = (LL, gradient)`` from autodiff."""
    ll_a, grad_a = analytic.loglike_and_grad(problem.likelihood, u)
    assert np.all(np.isfinite(grad_a))
    np.testing.assert_allclose(float(ll_a), float(reference[0]), rtol=1e-12)
    assert_close(np.asarray(grad_a), np.asarray(reference[1]), problem.space.free_names)
    return np.asarray(grad_a)


# The three ordered-probit combinations with binary probit, MNL and ordered choice are
# covered by the beverage chain below; these are the other thirteen.
_HAND_BUILT = [
    (m, c) for m in MEASUREMENTS for c in CHOICES if not (m == "ordered_probit" and c != "none")
]


def _problem(df, model):
    """26 people in chunks of 8 (so 6 padding people), 20 draws: every problem of these
    shapes and this model structure reuses the compiled functions."""
    return ij.Problem(model, df, draws=ij.Halton(20, seed=1), chunk_size=8)


@functools.cache
def _hand_built_problem(measurement, choice):
    problem = _problem(*analytic_study(measurement, choice))
    u = _perturbed(problem, seed=10 * MEASUREMENTS.index(measurement) + CHOICES.index(choice))
    return problem, u


@pytest.mark.parametrize(("measurement", "choice"), _HAND_BUILT)
def test_analytic_equals_autodiff_on_every_combination(measurement, choice):
    problem, u = _hand_built_problem(measurement, choice)
    assert problem.likelihood.chunk_size < problem.panel.n_people  # chunks and padding
    _, scores = assert_scores_match(problem, u)
    # every structural parameter gets a non-trivial gradient
    names = problem.space.free_names
    structural = [i for i, n in enumerate(names) if n.startswith(("gamma_", "b_"))]
    assert len(structural) == 4 and np.all(np.abs(scores[:, structural].sum(0)) > 1e-6)
    assert f"lambda_{next(iter(ITEMS[measurement]))}" not in names  # fixed
    if choice == "mnl":
        assert "lambda" in names and "theta_b_B" in names
        assert not problem.panel.available.all()


@functools.cache
def _beverage_problem(choice):
    df, model, truth = beverage(n_people=24, n_situations=3, seed=2, choice=choice)
    problem = ij.Problem(model, df, draws=ij.Halton(20, seed=2), chunk_size=8)
    u = np.asarray(problem.free_internal(truth))
    noise = 0.2 * np.random.default_rng(3).normal(size=u.shape)
    noise[problem.space.free_names.index("beta_price")] *= 1e-3  # prices are in 1000s
    return problem, jnp.asarray(u + noise)


@pytest.mark.parametrize("choice", ("probit", "logit", "ordered"))
def test_analytic_equals_autodiff_on_the_beverage_chain(choice):
    problem, u = _beverage_problem(choice)
    if choice == "probit":  # the totals (the planted-bug test reuses these compilations)
        grad = _assert_total_matches(problem, u, problem.likelihood.loglike_and_grad(u))
    else:
        grad = assert_scores_match(problem, u)[1].sum(0)
    gammas = [i for i, n in enumerate(problem.space.free_names) if n.startswith("gamma_")]
    assert len(gammas) == 2 and np.all(np.abs(grad[gammas]) > 1e-3)


def test_analytic_and_autodiff_match_central_finite_differences():
    problem, u = _hand_built_problem("mixed", "binary_probit")
    lik = problem.likelihood
    _, scores_a = analytic.per_person_and_scores(lik, u)  # compiled by the test above
    _, scores_d = lik.per_person_and_scores(u)
    grad_a, grad_d = np.asarray(scores_a).sum(0), np.asarray(scores_d).sum(0)
    u = np.asarray(u)
    step = 1e-6
    for i, name in enumerate(problem.space.free_names):
        e = np.zeros_like(u)
        e[i] = step
        fd = (float(lik.loglike(jnp.asarray(u + e))) - float(lik.loglike(jnp.asarray(u - e)))) / (
            2 * step
        )
        assert abs(fd - grad_d[i]) < 1e-5 * max(1.0, abs(fd)), name
        assert abs(fd - grad_a[i]) < 1e-5 * max(1.0, abs(fd)), name


@pytest.mark.parametrize(
    ("measurement", "choice", "params"),
    [
        # MNL utilities about +-40: the chosen alternative is often far below the others
        ("mixed", "mnl", {"asc_A": 40.0, "asc_B": -40.0, "lambda": 5.0, "b_x_to_a": 3.0}),
        # binary probit with V about +-40
        ("ordered_logit", "binary_probit", {"asc_c": 40.0, "theta_a": 2.0, "b_x_to_a": -3.0}),
        ("ordered_logit", "binary_probit", {"asc_c": -40.0, "theta_a": 2.0, "b_x_to_a": 3.0}),
    ],
)
def test_extreme_values_stay_finite_and_match_autodiff(measurement, choice, params):
    # and an ordered item with loading 50 answered in its lowest or highest category
    df, model = analytic_study(measurement, choice, fixed_loading=50.0)
    df["q1"] = np.where(df["id"] % 2 == 0, 1, 4)
    problem = _problem(df, model)  # the shapes of the hand-built problems: no new compile
    u = problem.free_internal({**params, "lambda_q3": 30.0})
    assert_scores_match(problem, u)


class _SeedStructural(analytic.AnalyticScores):
    """The seed's formula: ``(target - gamma pred) pred`` with both LVs from the draws."""

    def structural(self, module, eta, zeta, covariates, d_eta):
        d_gamma = (eta[:, None] - module.gamma * eta[None, :]) * eta[None, :]
        return d_gamma, jnp.outer(d_eta, covariates)


class _FlippedThreshold(analytic.AnalyticScores):
    """A sign error in the derivative of every item's second threshold."""

    def ordered(self, module, eta, levels, log_prob):
        out = super().ordered(module, eta, levels, log_prob)
        return analytic.OrderedScores(out.loadings, out.cuts.at[:, 2].multiply(-1.0), out.eta)


def test_a_planted_bug_in_one_piece_shows_in_its_parameters_only():
    problem, u = _beverage_problem("probit")
    _, reference = problem.likelihood.loglike_and_grad(u)
    names = np.array(problem.space.free_names)

    def disagreeing(scores=None):
        if scores is None:  # the same call as the beverage test: compiled already
            _, grad = analytic.loglike_and_grad(problem.likelihood, u)
        else:
            _, grad = analytic.loglike_and_grad(problem.likelihood, u, scores=scores)
        return set(names[~np.isclose(grad, reference, rtol=1e-4, atol=1e-8)])

    assert not disagreeing()
    wrong = disagreeing(_SeedStructural())
    assert {
        "gamma_health_concern_to_perceived_benefit",
        "gamma_perceived_benefit_to_purchase_intention",
    } <= wrong
    assert all(n.startswith(("gamma_", "b_")) for n in wrong), wrong
    # thresholds are cumulated: tau_2's derivative reaches the internal u_1 and u_2
    wrong = disagreeing(_FlippedThreshold())
    assert {f"tau_{item}_2" for item in ("hc1", "pb1", "pi1")} <= wrong
    assert all(n.startswith("tau_") and n.endswith(("_1", "_2")) for n in wrong), wrong


_FORBIDDEN = re.compile(
    r"\bgrad\s*\(|value_and_grad|jvp|vjp|jacobian|jacfwd|jacrev|hessian|linearize",
    re.IGNORECASE,
)


def test_the_module_uses_no_automatic_differentiation(monkeypatch):
    modules = [
        importlib.import_module(f"iclv_jax.analytic.{info.name}")
        for info in pkgutil.iter_modules(analytic.__path__)
    ]
    assert len(modules) >= 7  # scores, drivers, registry and one file per choice kind
    source = "\n".join(inspect.getsource(module) for module in [analytic, *modules])
    hits = [line for line in source.splitlines() if _FORBIDDEN.search(line)]
    assert not hits, hits

    # and at trace time: every autodiff entry point raises, a fresh trace still works
    def refuse(*args, **kwargs):
        raise AssertionError("autodiff called from iclv_jax.analytic")

    problem, u = _hand_built_problem("continuous", "ordered_probit")
    reference = problem.likelihood.per_person_and_scores(u)

    class Fresh(analytic.AnalyticScores):  # a new static argument: traced afresh
        pass

    for name in (
        "grad",
        "value_and_grad",
        "vjp",
        "jvp",
        "linearize",
        "jacfwd",
        "jacrev",
        "hessian",
    ):
        monkeypatch.setattr(jax, name, refuse)
    ll, grad = analytic.loglike_and_grad(problem.likelihood, u, scores=Fresh())
    np.testing.assert_allclose(float(ll), float(reference[0].sum()), rtol=1e-12)
    assert_close(np.asarray(grad), np.asarray(reference[1]).sum(0), problem.space.free_names)


def _declarative_study(choice, seed=5):
    """Every declarative specification option at once: missing answers (a code on an
    ordered item, NaN on a continuous one), thresholds shared across items (free and
    symmetric), a reference indicator (free LV scale) and an item with its own
    intercept and scale, a free choice scale with a fixed coefficient, and bounded
    coefficients (lower, upper, interval)."""
    df, _ = analytic_study("mixed", choice, seed=seed)
    rng = np.random.default_rng(seed)
    people = df["id"].unique()
    extra = pd.DataFrame(
        {"id": people, "q5": rng.integers(1, 6, len(people)), "q6": rng.integers(1, 5, len(people))}
    )
    df = df.merge(extra, on="id")
    df.loc[df["id"] % 5 == 1, "q1"] = 6  # "no opinion"
    df.loc[df["id"] % 7 == 2, "c2"] = np.nan
    df.loc[df["id"] % 6 == 3, "q5"] = -1
    scaled_choice = dataclasses.replace(choice_model(choice), scale=True)
    indicators = [
        ij.Indicator(
            "q1", "a", levels=4, missing_codes=(6,), threshold_set="four", location_scale=True
        ),
        ij.Indicator("q6", "b", levels=4, threshold_set="four"),
        ij.Indicator("c2", "a", kind="continuous"),
        ij.Indicator("q3", "b", levels=5, thresholds="symmetric", threshold_set="likert"),
        ij.Indicator(
            "q5", "a", levels=5, thresholds="symmetric", threshold_set="likert", missing_codes=(-1,)
        ),
        ij.Indicator("c3", "b", kind="continuous"),
    ]
    fixed = {"beta_z": 0.7} if choice != "mnl" else {"beta_p": -1.0}
    model = ij.ICLVModel(
        [
            ij.LatentVariable("a", covariates=["x", "w"]),
            ij.LatentVariable("b", covariates=["w"], predictors=["a"], reference="q6"),
        ],
        indicators,
        scaled_choice,
        fixed={"lambda_q1": 0.8, **fixed},
        missing_indicators="integrate",
        bounds={"b_x_to_a": (0.0, None), "b_w_to_b": (None, 1.0), "gamma_a_to_b": (-2.0, 2.0)},
    )
    return df, model


@pytest.mark.parametrize("choice", ("ordered_probit", "mnl"))
def test_analytic_equals_autodiff_with_every_declarative_option(choice):
    df, model = _declarative_study(choice)
    problem = _problem(df, model)
    names = problem.space.free_names
    assert {
        "tau_four_1",
        "tau_four_3",
        "tau_likert_3",
        "tau_likert_4",
        f"scale_{model.choice.choice}",
    } <= set(names)
    assert not any(n.startswith(("tau_q", "tau_likert_1", "tau_likert_2")) for n in names)
    assert problem.panel.missing_answers == {
        "q1": int((df.groupby("id")["q1"].first() == 6).sum()),
        "c2": int(df.groupby("id")["c2"].first().isna().sum()),
        "c3": 0,
        "q3": 0,
        "q6": 0,
        "q5": int((df.groupby("id")["q5"].first() == -1).sum()),
    }
    u = _perturbed(problem, seed=7, scale=0.3)
    _, scores = assert_scores_match(problem, u)
    # the scale, the shared and the symmetric thresholds, and the bounded
    # coefficients all get non-trivial gradients
    assert "lambda_q6" not in names
    for name in (
        f"scale_{model.choice.choice}",
        "tau_four_2",
        "tau_likert_4",
        "b_x_to_a",
        "b_w_to_b",
        "gamma_a_to_b",
        "sigma_b",
        "alpha_q1",
        "sigma_q1",
    ):
        assert abs(scores[:, names.index(name)].sum()) > 1e-6, name


def test_structured_hessian_equals_jax_hessian_with_every_declarative_option():
    """The likelihood's Hessian (seeds grouped by measurement row and choice term) stays
    exact with item intercepts and scales, shared and symmetric thresholds, a choice
    scale and bounded coefficients."""
    df, model = _declarative_study("ordered_probit")
    problem = _problem(df, model)
    u = _perturbed(problem, seed=3, scale=0.3)
    dense = np.asarray(jax.hessian(problem.likelihood.loglike)(u))
    np.testing.assert_allclose(
        np.asarray(problem.likelihood.hessian(u)), dense, atol=1e-8 * np.abs(dense).max(), rtol=1e-8
    )
