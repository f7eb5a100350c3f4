"""Helpers shared by several test modules (studies, example models, a fake Results, the
warnings a stopped run gives), so that no test module imports another."""

import contextlib
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from jaxtyping import TypeCheckError
from scipy.stats import multivariate_normal, norm

import iclv_jax as ij
from iclv_jax import analytic, datasets
from iclv_jax.drawsdict import draws_to_dict
from iclv_jax.inference import NotAMaximumWarning
from iclv_jax.results import UndefinedStandardErrorWarning, parameter_table

RTOL, ATOL = 1e-6, 1e-8


def refused(error: type[Exception], match: str | None = None):
    """``pytest.raises`` for an argument of the wrong type (``2.5`` where an ``int`` is
    declared): the library's own validation raises ``error``, but in the test run the
    run-time type checks (tests/conftest.py) refuse it first with jaxtyping's
    ``TypeCheckError``, which also names the parameter; either is accepted."""
    return pytest.raises((error, TypeCheckError), match=match)


# --- what a run stopped short of a maximum says ---------------------------------------


@contextlib.contextmanager
def stopped_short():
    """A run stopped by its iteration limit is expected to say that its Hessian is not
    negative definite and that some standard errors are undefined: those two warnings are
    silenced here (the tests assert on ``converged`` and the message); any other warning,
    "did not converge" included, still reaches the caller."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotAMaximumWarning)
        warnings.simplefilter("ignore", UndefinedStandardErrorWarning)
        yield


# --- a Results without an estimation --------------------------------------------------


def fake_results(
    estimates: dict,
    covariance,
    loglike=-100.0,
    n_people=50,
    n_observations=200,
    robust_covariance=None,
    fixed=None,
) -> ij.Results:
    """A Results with the given free estimates and covariance (everything else dummy)."""
    names = list(estimates)
    cov = np.asarray(covariance, dtype=float)
    robust = cov if robust_covariance is None else np.asarray(robust_covariance, dtype=float)
    frame = lambda m: pd.DataFrame(m, index=names, columns=names)  # noqa: E731
    values = np.array(list(estimates.values()), dtype=float)
    return ij.Results(
        table=parameter_table(names, values, cov, robust),
        estimates={**estimates, **(fixed or {})},
        fixed=dict(fixed or {}),
        covariance=frame(cov),
        robust_covariance=frame(robust),
        loglike=loglike,
        loglike_start=loglike - 10,
        loglike_null_choice=None,
        n_people=n_people,
        n_observations=n_observations,
        converged=True,
        message="fake",
        iterations=1,
        gradient_norm=0.0,
        relative_gradient=0.0,
        smallest_curvature=1.0,
        optimizer="none",
        draws=draws_to_dict(ij.Halton(10, seed=0)),
        seconds=0.0,
    )


# --- example models of every shape (round trips) -------------------------------------


def example_models():
    """One model of each kind: every beverage choice, the drug model, continuous, MNL with
    shared and specific terms, ordered choice, a sign anchor."""
    yield from (
        datasets.beverage(n_people=2, n_situations=1, choice=c)[1] for c in datasets.CHOICE_KINDS
    )
    yield datasets.drug_choice_model()
    yield ij.ICLVModel(
        [ij.LatentVariable("a", covariates=("x", "z")), ij.LatentVariable("b", predictors=["a"])],
        [ij.Indicator("c1", "a", kind="continuous"), ij.Indicator("c2", "b", kind="continuous")],
        person_id="person",
        fixed={"lambda_c1": 1.0, "alpha_c1": 0.0},
    )
    yield ij.ICLVModel(
        [ij.LatentVariable("a"), ij.LatentVariable("b")],
        [
            ij.Indicator("i1", "a", kind="ordered_logit", levels=4),
            ij.Indicator("i2", "b", kind="ordered_logit", levels=7),
        ],
        choice=ij.MultinomialLogit(
            "y",
            [
                ij.Alternative(
                    "car",
                    1,
                    ij.Utility(
                        {"time": "t_car", "cost": "c_car"}, lvs=("a", "b"), specific=("time",)
                    ),
                ),
                ij.Alternative(
                    "bus",
                    2,
                    ij.Utility(
                        {"time": "t_bus", "cost": "c_bus"},
                        constants={"peak": "peak"},
                        lvs={"a": "theta_shared"},
                    ),
                    asc=True,
                    available="bus_av",
                ),
                ij.Alternative("walk", 3, ij.Utility(lvs={"a": "theta_shared"}), asc=True),
            ],
        ),
    )
    yield ij.ICLVModel(
        [ij.LatentVariable("a")],
        [ij.Indicator("i", "a", levels=3)],
        choice=ij.OrderedProbitChoice("r", ij.Utility({"p": "p"}, lvs=["a"]), 4),
    )
    yield ij.ICLVModel(
        [ij.LatentVariable("a", sign_anchor="i2")],
        [ij.Indicator(f"i{k}", "a", levels=3) for k in (1, 2, 3)],
    )


# --- the analytic-score study: two LVs, every measurement and choice kind -------------

# indicator name -> (LV, levels); levels None: continuous.  Ragged level counts, so
# some items have padding cut-points.
ITEMS = {
    "ordered_probit": {"q1": ("a", 4), "q2": ("a", 3), "q3": ("b", 5), "q4": ("b", 2)},
    "ordered_logit": {"q1": ("a", 4), "q2": ("a", 3), "q3": ("b", 5), "q4": ("b", 2)},
    "continuous": {"c1": ("a", None), "c2": ("a", None), "c3": ("b", None)},
    "mixed": {"q1": ("a", 4), "c2": ("a", None), "q3": ("b", 5), "c3": ("b", None)},
}


def choice_model(kind):
    """The choice part of the analytic study: binary probit, ordered probit, MNL or none."""
    if kind == "binary_probit":
        return ij.BinaryProbit(
            "buy", ij.Utility(attributes={"z": "z"}, constants={"c": None}, lvs=["a", "b"])
        )
    if kind == "ordered_probit":
        return ij.OrderedProbitChoice(
            "rating", ij.Utility(attributes={"z": "z"}, lvs=["b"]), levels=4
        )
    if kind == "mnl":
        return ij.MultinomialLogit(
            "pick",
            [
                ij.Alternative(
                    "A", 1, ij.Utility(attributes={"p": "p1"}, lvs={"a": "lambda"}), asc=True
                ),
                ij.Alternative(
                    "B",
                    2,
                    ij.Utility(
                        attributes={"p": "p2", "z": "z"},
                        lvs={"a": "lambda", "b": "theta_b_B"},
                        specific=["p"],
                    ),
                    asc=True,
                    available="av2",
                ),
                ij.Alternative("C", 3, ij.Utility(attributes={"p": "p3"}), available="av3"),
            ],
        )
    return ij.NoChoice()


def analytic_study(measurement, choice, n_people=26, seed=0, fixed_loading=0.8):
    """Two LVs ``a -> b`` with covariates, ragged panels (1 to 4 situations), random
    answers, the first item's loading fixed."""
    rng = np.random.default_rng(seed)
    items = ITEMS[measurement]
    rows = []
    for n in range(n_people):
        person = {"id": n, "x": rng.normal(), "w": float(rng.integers(0, 2))}
        for name, (_, levels) in items.items():
            person[name] = (
                int(rng.integers(1, levels + 1)) if levels else float(rng.normal(0.3, 1.5))
            )
        for _ in range(1 + n % 4):
            av2, av3 = int(rng.random() < 0.7), int(rng.random() < 0.6)
            options = [1] + [2] * av2 + [3] * av3
            rows.append(
                {
                    **person,
                    "z": rng.normal(),
                    "buy": int(rng.integers(0, 2)),
                    "rating": int(rng.integers(1, 5)),
                    "p1": rng.normal(),
                    "p2": rng.normal(),
                    "p3": rng.normal(),
                    "av2": av2,
                    "av3": av3,
                    "pick": int(rng.choice(options)),
                }
            )
    first = next(iter(items))
    model = ij.ICLVModel(
        [
            ij.LatentVariable("a", covariates=["x", "w"]),
            ij.LatentVariable("b", covariates=["w"], predictors=["a"]),
        ],
        [
            ij.Indicator(
                name,
                lv,
                kind="continuous"
                if levels is None
                else ("ordered_logit" if measurement == "ordered_logit" else "ordered_probit"),
                levels=levels,
            )
            for name, (lv, levels) in items.items()
        ],
        choice_model(choice),
        fixed={f"lambda_{first}": fixed_loading},
    )
    return pd.DataFrame(rows), model


def assert_close(analytic_values, autodiff_values, names):
    """Column ``i`` of both arrays equal to ``RTOL``/``ATOL``; a failure names parameter
    ``names[i]``."""
    for i, name in enumerate(names):
        np.testing.assert_allclose(
            analytic_values[..., i], autodiff_values[..., i], rtol=RTOL, atol=ATOL, err_msg=name
        )


def assert_scores_match(problem, u):
    """Per-person LL and scores, analytic vs autodiff; returns autodiff's."""
    ll_a, scores_a = analytic.per_person_and_scores(problem.likelihood, u)
    ll_d, scores_d = problem.likelihood.per_person_and_scores(u)
    assert scores_a.shape == (problem.panel.n_people, problem.space.n_free)
    assert np.all(np.isfinite(scores_a)) and np.all(np.isfinite(ll_a))
    np.testing.assert_allclose(ll_a, ll_d, rtol=1e-12, atol=1e-9)
    assert_close(np.asarray(scores_a), np.asarray(scores_d), problem.space.free_names)
    return np.asarray(ll_d), np.asarray(scores_d)


# --- closed-form studies (continuous Gaussian, ordered probit) -----------------------


def continuous_study(n_people=60, seed=1):
    """One LV ``eta = 0.5 x + zeta``, three continuous items ``c_k = alpha_k + lambda_k eta +
    sigma_k e``; returns the data, the model and the truth."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n_people)
    eta = 0.5 * x + rng.normal(size=n_people)
    truth = {
        "b_x_to_a": 0.5,
        "alpha_c1": 0.2,
        "alpha_c2": -0.3,
        "alpha_c3": 1.0,
        "lambda_c1": 1.0,
        "lambda_c2": 0.7,
        "lambda_c3": -0.4,
        "sigma_c1": 0.8,
        "sigma_c2": 1.1,
        "sigma_c3": 0.6,
    }
    data = {"id": np.arange(n_people), "x": x}
    for k in (1, 2, 3):
        data[f"c{k}"] = (
            truth[f"alpha_c{k}"]
            + truth[f"lambda_c{k}"] * eta
            + truth[f"sigma_c{k}"] * rng.normal(size=n_people)
        )
    model = ij.ICLVModel(
        [ij.LatentVariable("a", covariates=["x"])],
        [ij.Indicator(f"c{k}", "a", kind="continuous") for k in (1, 2, 3)],
    )
    return pd.DataFrame(data), model, truth


def gaussian_marginal_loglike(df, p):
    """``I_n ~ N(alpha + lambda b x_n, lambda lambda' + diag(sigma^2))``, exactly."""
    alpha = np.array([p[f"alpha_c{k}"] for k in (1, 2, 3)])
    lam = np.array([p[f"lambda_c{k}"] for k in (1, 2, 3)])
    sigma = np.array([p[f"sigma_c{k}"] for k in (1, 2, 3)])
    cov = np.outer(lam, lam) + np.diag(sigma**2)
    values = df[["c1", "c2", "c3"]].to_numpy()
    means = alpha + np.outer(p["b_x_to_a"] * df["x"].to_numpy(), lam)
    return sum(multivariate_normal(m, cov).logpdf(v) for m, v in zip(means, values, strict=True))


def ordered_probit_study(n_people=80, seed=2):
    """One LV, three ordered probit items, a ragged binary probit panel."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, n_people)
    eta = 0.6 * x + rng.normal(size=n_people)
    cuts = np.array([-1.2, -0.2, 0.7, 1.6])
    loadings = np.array([1.2, 0.8, 1.5])
    rows = []
    for n in range(n_people):
        items = [1 + np.sum(cuts < loadings[k] * eta[n] + rng.normal()) for k in range(3)]
        for _ in range(1 + n % 4):
            z = rng.normal()
            buy = int(0.3 - 0.8 * z + 0.9 * eta[n] + rng.normal() > 0)
            rows.append(dict(id=n, x=x[n], z=z, buy=buy, q1=items[0], q2=items[1], q3=items[2]))
    model = ij.ICLVModel(
        [ij.LatentVariable("a", covariates=["x"])],
        [ij.Indicator(f"q{k}", "a", levels=5) for k in (1, 2, 3)],
        ij.BinaryProbit("buy", ij.Utility(attributes={"z": "z"}, constants={"c": None}, lvs=["a"])),
    )
    params = {"b_x_to_a": 0.6, "asc_c": 0.3, "beta_z": -0.8, "theta_a": 0.9}
    for k in (1, 2, 3):
        params[f"lambda_q{k}"] = loadings[k - 1]
        params.update({f"tau_q{k}_{j + 1}": c for j, c in enumerate(cuts)})
    return pd.DataFrame(rows), model, params


def gradient_difference_hessian(likelihood, u, step: float = 1e-5) -> np.ndarray:
    """``H_ij ~ (g_i(u + h e_j) - g_i(u - h e_j)) / 2h``: central differences of the
    likelihood's gradient (``loglike_and_grad``), an independent witness of its exact
    Hessian."""
    columns = []
    for j in range(len(u)):
        shift = np.zeros_like(u)
        shift[j] = step
        plus = likelihood.loglike_and_grad(u + shift)[1]
        minus = likelihood.loglike_and_grad(u - shift)[1]
        columns.append((np.asarray(plus) - np.asarray(minus)) / (2 * step))
    return np.stack(columns, axis=1)


def numpy_lv_and_continuous_items(first: pd.DataFrame, p: dict, zeta: np.ndarray, items=3):
    """``(eta [N, R], m [N, R])`` by numpy: ``eta = b_x_to_att x_n + zeta_nr`` and
    ``m = sum_k log N(i_k | alpha_k + lambda_k eta, sigma_k)`` over continuous items
    ``i0, i1, ...`` (``first``: one row per person)."""
    eta = p["b_x_to_att"] * first["x"].to_numpy()[:, None] + zeta
    m = sum(
        norm.logpdf(
            first[f"i{k}"].to_numpy()[:, None],
            p[f"alpha_i{k}"] + p[f"lambda_i{k}"] * eta,
            p[f"sigma_i{k}"],
        )
        for k in range(items)
    )
    return eta, m


def numpy_ordered_probit_items(levels: np.ndarray, index: np.ndarray, thresholds) -> np.ndarray:
    """``sum_k log(Phi(tau_(j+1) - a) - Phi(tau_j - a))`` ``[N, R]`` by numpy: items with
    0-based levels ``levels`` ``[N, K]``, shared thresholds, index ``a`` ``[N, R]``."""
    cuts = np.array([-np.inf, *thresholds, np.inf])
    log_l = np.zeros_like(index)
    for k in range(levels.shape[1]):
        level = levels[:, k][:, None]
        log_l += np.log(norm.cdf(cuts[level + 1] - index) - norm.cdf(cuts[level] - index))
    return log_l


def json_on_two_devices(script: str, xla_flags: str = "") -> dict:
    """Run ``script`` in a fresh Python on two simulated CPU devices (the flag must be
    set before JAX starts) from the repository root; its last stdout line, as JSON."""
    env = {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": f"--xla_force_host_platform_device_count=2 {xla_flags}".strip(),
    }
    run = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])
