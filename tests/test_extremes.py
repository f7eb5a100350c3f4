"""Numerical extremes stay finite, and the optimisers never accept a non-finite point.

Log-likelihood, gradient (autodiff and the hand-written analytic scores) and exact
Hessian are finite at utilities of +-40, thresholds 20 apart, loadings of 50, one
draw per person, and with an indicator level observed by nobody.  The optimisers
are run on an objective that is NaN beyond a radius that their first steps overshoot.
"""

import types
from unittest import mock

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import iclv_jax as ij
from iclv_jax import analytic
from iclv_jax.likelihood import SimulatedLikelihood
from iclv_jax.optimize import Evaluator, ScaledObjective, Tracker, minimise
from iclv_jax.optimize.newton import modified_newton_direction

# --- the likelihood at extreme parameter values ----------------------------------------


def tiny_frame(n_people=8, n_situations=2, seed=0, levels=(1, 2, 3)):
    """One LV ``a`` (covariate ``c``), an ordered item ``ord`` with answers drawn from
    ``levels``, a continuous item ``cont``, attribute ``x``, binary ``y2`` and a
    3-way ``y3``."""
    rng = np.random.default_rng(seed)
    rows = n_people * n_situations
    person = lambda values: np.repeat(values, n_situations)  # noqa: E731
    return pd.DataFrame(
        {
            "id": person(np.arange(n_people)),
            "x": rng.normal(size=rows),
            "y2": rng.integers(0, 2, rows),
            "y3": rng.integers(1, 4, rows),
            "ord": person(rng.choice(levels, n_people)),
            "cont": person(rng.normal(size=n_people)),
            "c": person(rng.normal(size=n_people)),
        }
    )


def tiny_model(choice: str, link: str = "ordered_probit") -> ij.ICLVModel:
    lvs = [ij.LatentVariable("a", covariates=["c"])]
    indicators = [
        ij.Indicator("ord", "a", kind=link, levels=3),
        ij.Indicator("cont", "a", kind="continuous"),
    ]
    if choice == "probit":
        model = ij.BinaryProbit(
            "y2", ij.Utility(attributes={"x": "x"}, constants={"k": None}, lvs=["a"])
        )
    elif choice == "ordered":
        model = ij.OrderedProbitChoice("y3", ij.Utility(attributes={"x": "x"}, lvs=["a"]), 3)
    else:
        model = ij.MultinomialLogit(
            "y3",
            [
                ij.Alternative("p", 1, ij.Utility(attributes={"x": "x"}, lvs=["a"]), asc=True),
                ij.Alternative("q", 2, ij.Utility(attributes={"x": "x"}), asc=True),
                ij.Alternative("r", 3),
            ],
        )
    return ij.ICLVModel(lvs, indicators, choice=model)


#: reported values; names a model lacks are skipped.  ``asc``: +-40 utilities;
#: ``tau``: thresholds 20 apart (indicator and ordered choice); ``lambda``/``theta``:
#: loadings of 50 (so the index reaches +-150 on the draws).
EXTREMES = {
    "utility +40": {"asc_k": 40.0, "asc_p": 40.0, "asc_q": -40.0, "beta_x": 40.0},
    "utility -40": {"asc_k": -40.0, "asc_p": -40.0, "asc_q": 40.0, "beta_x": -40.0},
    "thresholds 20 apart": {
        "tau_ord_1": -10.0,
        "tau_ord_2": 10.0,
        "tau_y3_1": -10.0,
        "tau_y3_2": 10.0,
    },
    "loadings 50": {"lambda_ord": 50.0, "lambda_cont": 50.0, "theta_a": 50.0, "theta_a_p": 50.0},
    "all at once": {
        "tau_ord_1": -10.0,
        "tau_ord_2": 10.0,
        "lambda_ord": 50.0,
        "beta_x": 40.0,
        "asc_k": -40.0,
        "theta_a": 40.0,
        "theta_a_p": 40.0,
        "tau_y3_1": -10.0,
        "tau_y3_2": 10.0,
    },
}

#: (choice, indicator link).  Compiling a Hessian takes ~13 s, so the fast run checks
#: it on the binary probit only (log_ndtr tails, ordered probit items); the MNL
#: (logsumexp, ordered logit items) and the ordered choice (whose interval probability
#: is the ordered items') get theirs in the slow run.
PROBIT = ("probit", "ordered_probit")
MNL = ("mnl", "ordered_logit")
ORDERED = ("ordered", "ordered_logit")


def _problem(choice, link) -> ij.Problem:
    """R = 1: the simulated likelihood is a single draw's, no averaging to soften it."""
    return ij.Problem(tiny_model(choice, link), tiny_frame(), draws=1)


PROBLEMS = {}


def problem_for(case) -> ij.Problem:
    """One problem per case, so each compiled function is reused across extremes."""
    if case not in PROBLEMS:
        PROBLEMS[case] = _problem(*case)
    return PROBLEMS[case]


def finite_loglike_and_gradients(problem: ij.Problem, params: dict):
    """``(u, log L)`` after checking that log L and both gradients are finite and agree."""
    u = problem.free_internal({k: v for k, v in params.items() if k in problem.space.names})
    ll, grad = problem.likelihood.loglike_and_grad(u)
    ll_analytic, grad_analytic = analytic.loglike_and_grad(problem.likelihood, u)
    assert np.isfinite(float(ll)) and np.isfinite(float(ll_analytic))
    assert np.all(np.isfinite(grad)) and np.all(np.isfinite(grad_analytic))
    # two independent implementations agree, so "finite" is also "right"
    np.testing.assert_allclose(float(ll_analytic), float(ll), rtol=1e-10)
    np.testing.assert_allclose(
        grad_analytic, grad, rtol=1e-8, atol=1e-8 * max(1.0, float(np.max(np.abs(grad))))
    )
    return u, float(ll)


def case_params(fast_cases, slow_cases):
    return [pytest.param(c, id="-".join(c)) for c in fast_cases] + [
        pytest.param(c, id="-".join(c), marks=pytest.mark.slow) for c in slow_cases
    ]


@pytest.mark.parametrize("extreme", list(EXTREMES))
@pytest.mark.parametrize("case", case_params([PROBIT, MNL], [ORDERED]))
def test_extreme_values_give_finite_loglike_and_gradients(case, extreme):
    _, ll = finite_loglike_and_gradients(problem_for(case), EXTREMES[extreme])
    assert ll < 0


@pytest.mark.parametrize("extreme", list(EXTREMES))
@pytest.mark.parametrize("case", case_params([PROBIT], [MNL, ORDERED]))
def test_extreme_values_give_a_finite_symmetric_hessian(case, extreme):
    problem = problem_for(case)
    u, _ = finite_loglike_and_gradients(problem, EXTREMES[extreme])
    hessian = np.asarray(problem.likelihood.hessian(u))
    assert np.all(np.isfinite(hessian))
    np.testing.assert_allclose(
        hessian, hessian.T, rtol=1e-8, atol=1e-8 * float(np.max(np.abs(hessian)))
    )


def test_probit_tail_loglike_is_the_normal_log_cdf():
    """Binary probit, V = -40 for everyone who bought, +40 for the others: the choice
    part of log L is a sum of log Phi(-40) ~ -804.6, not -inf."""
    df = tiny_frame()
    problem = problem_for(PROBIT)
    at_zero = {"asc_k": 0.0, "beta_x": 0.0, "theta_a": 0.0}
    extreme = {"asc_k": -40.0, "beta_x": 0.0, "theta_a": 0.0}
    n_bought = int(df["y2"].sum())
    n_not = len(df) - n_bought
    from scipy.special import log_ndtr

    expected = n_bought * log_ndtr(-40.0) + n_not * log_ndtr(40.0) - len(df) * np.log(0.5)
    np.testing.assert_allclose(
        problem.loglike(extreme) - problem.loglike(at_zero), expected, rtol=1e-10
    )


def test_an_indicator_level_observed_by_nobody_stays_finite():
    """Level 2 of ``ord`` is never answered: the likelihood, gradient and Hessian stay
    finite, and estimation warns naming the indicator and the level."""
    df = tiny_frame(levels=(1, 3))
    problem = ij.Problem(tiny_model("probit"), df, draws=1)
    assert 2 not in set(df["ord"])
    for params in ({}, EXTREMES["all at once"]):
        u, _ = finite_loglike_and_gradients(problem, params)
        assert np.all(np.isfinite(np.asarray(problem.likelihood.hessian(u))))
    from iclv_jax.identification import UnobservedLevelWarning, check_data

    with pytest.warns(UnobservedLevelWarning, match=r"'ord'.*\[2\]"):
        check_data(problem.model, problem.panel)


# --- the optimisers never accept a non-finite point -------------------------------------

#: the log-likelihood is NaN where any coordinate is below this (the optimum is above)
NAN_BELOW = -0.5


class NaNBeyondTheOptimum(Evaluator):
    """``log L(u) = -sum_n sum_i log cosh(u_i - c_ni)``, NaN where ``min_i u_i < NAN_BELOW``.

    Newton on ``log cosh`` overshoots from ``|u_i - c| > 1.09`` (the step is
    ``-sinh(2 x) / 2``), and quasi-Newton steps from the flat far side overshoot too,
    so from ``u0 = (2.5, 2)`` the first steps land in the NaN region past the maximum.
    Every evaluated point is logged.
    """

    def __init__(self, centres: np.ndarray):
        self.centres = centres  # (N, F)
        self.likelihood = types.SimpleNamespace(n_people=centres.shape[0])
        self.evaluated: list[tuple[np.ndarray, float]] = []

    def scores(self, u):
        u = np.asarray(u, dtype=float)
        x = u[None, :] - self.centres
        per_person, scores = -np.log(np.cosh(x)), -np.tanh(x)
        if np.min(u) < NAN_BELOW:
            per_person, scores = per_person * np.nan, scores * np.nan
        ll = float(per_person.sum())
        self.evaluated.append((u, ll))
        return ll, scores.sum(axis=0), scores

    def value_and_grad(self, u):
        ll, grad, _ = self.scores(u)
        return ll, grad

    def hessian(self, u):
        u = np.asarray(u, dtype=float)
        hessian = -np.diag(np.sum(1.0 / np.cosh(u[None, :] - self.centres) ** 2, axis=0))
        return hessian * np.nan if np.min(u) < NAN_BELOW else hessian


def _optimum(centres):
    """The maximiser, by the first-order condition ``sum_n tanh(u_i - c_ni) = 0``."""
    from scipy.optimize import brentq

    return np.array([brentq(lambda v, c=col: np.tanh(v - c).sum(), -5, 5) for col in centres.T])


@pytest.mark.parametrize("method", ["newton", "hybrid", "bhhh", "trust-exact", "bfgs", "lbfgsb"])
def test_optimiser_rejects_non_finite_trial_points_and_recovers(method):
    centres = np.array([[0.1, -0.2], [-0.1, 0.3], [0.05, 0.0], [0.2, -0.1]])
    evaluator = NaNBeyondTheOptimum(centres)
    tracker = Tracker(blocks=("choice", "choice"), scales=np.ones(2), fingerprint={})
    u, _, message = minimise(
        evaluator, np.array([2.5, 2.0]), np.ones(2), method, 200, tracker, 1e-10
    )
    assert any(not np.isfinite(ll) for _, ll in evaluator.evaluated), (
        f"{method} never tried a non-finite point: the test does not test anything"
    )
    assert np.all(np.isfinite(u)), message
    accepted = [entry["loglike"] for entry in tracker.history]
    assert accepted and np.all(np.isfinite(accepted)), accepted
    np.testing.assert_allclose(u, _optimum(centres), atol=1e-5, err_msg=message)


# --- the newton optimiser's saddle escape is scale-free ---------------------------------


def test_saddle_escape_is_not_hidden_by_one_stiff_direction():
    """Curvatures ``(1e8, 1, -0.5)``: a saddle along the third axis, with one stiff
    direction (a badly scaled problem).  Relative to the largest eigenvalue ``-0.5`` is
    only ``-5e-9``, which the old criterion (``< -1e-6 max``) ignored: the step then
    never left the saddle plane.  The direction must move along the third axis, downhill
    in the quadratic model."""
    matrix = np.diag([1e8, 1.0, -0.5])
    gradient = np.array([1.0, 1.0, 0.0])
    direction, predicted = modified_newton_direction(gradient, matrix)
    assert abs(direction[2]) == pytest.approx(1.0)
    model_change = gradient @ direction + 0.5 * direction @ matrix @ direction
    assert model_change < 0 and predicted > 0


@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
def test_saddle_escape_decision_does_not_depend_on_units(scale):
    matrix = scale * np.diag([1e8, 1.0, 2.0, -0.5])
    direction, _ = modified_newton_direction(np.array([1.0, 1.0, 1.0, 0.0]), matrix)
    assert abs(direction[3]) == pytest.approx(1.0)


def test_rounding_level_negative_curvature_is_not_a_saddle():
    """``-1e-14`` beside eigenvalues of order 1 is eigh's rounding, not curvature."""
    matrix = np.diag([1.0, 2.0, -1e-14])
    direction, _ = modified_newton_direction(np.array([1.0, 1.0, 0.0]), matrix)
    assert direction[2] == 0.0


class FiniteOnlyAtTheStart(eqx.Module):
    """A jax log-likelihood (optax's L-BFGS calls it inside jit) that is finite at
    ``start`` only: every step optax proposes reaches a NaN."""

    start: jnp.ndarray
    n_people: int = eqx.field(static=True, default=1)

    def loglike(self, u):
        return jnp.where(jnp.all(u == self.start), -jnp.sum(u**2), jnp.nan)


@pytest.mark.slow  # compiling optax's zoom line search takes ~30 s
def test_optax_lbfgs_never_takes_a_non_finite_step():
    """optax's zoom line search rejects the NaN trial points itself: L-BFGS stays at the
    start, and every recorded iteration has a finite log-likelihood."""
    start = np.array([1.0, -2.0])
    evaluator = NaNBeyondTheOptimum(np.zeros((1, 2)))  # its scores ...
    evaluator.scores = lambda u: (  # ... replaced by the jax likelihood's
        float(evaluator.likelihood.loglike(jnp.asarray(u))),
        -2.0 * np.asarray(u),
        -2.0 * np.asarray(u)[None],
    )
    evaluator.likelihood = FiniteOnlyAtTheStart(jnp.asarray(start))
    tracker = Tracker(blocks=("choice", "choice"), scales=np.ones(2), fingerprint={})
    u, _, _ = minimise(evaluator, start, np.ones(2), "lbfgs", 5, tracker)
    np.testing.assert_array_equal(u, start)
    accepted = [entry["loglike"] for entry in tracker.history]
    assert accepted and np.all(np.isfinite(accepted))


def test_a_gradient_beyond_float64_is_inf_and_its_point_rejected_without_a_warning():
    """Per-person scores that are finite but whose sum exceeds the largest float64 (a
    line-search trial far in a probit tail, raw prices): the gradient is ``+-inf``, no
    numpy overflow warning escapes (the suite turns warnings into errors), and the
    scaled objective rejects the point (``+inf``)."""
    big = np.finfo(float).max / 2
    scores = np.array([[big, -big, 1.0], [big, -big, 2.0], [big, -big, 3.0]])
    likelihood = mock.Mock(spec=SimulatedLikelihood)  # passes the run's type checks
    likelihood.n_people = 3
    likelihood.per_person_and_scores = lambda u: (jnp.full(3, -1.0), jnp.asarray(scores))
    evaluator = Evaluator(likelihood)
    ll, gradient, kept = evaluator.scores(np.zeros(3))
    assert ll == -3.0 and np.array_equal(kept, scores)
    assert gradient.tolist() == [np.inf, -np.inf, 6.0]
    tracker = Tracker(blocks=("choice",) * 3, scales=np.ones(3), fingerprint={})
    value, grad = ScaledObjective(evaluator, np.ones(3), tracker).value_and_grad(np.zeros(3))
    assert value == np.inf and not grad.any()
