"""Bounds on coefficients: kept by the optimiser, not by a transform.

A small simulated ICLV (one LV with a covariate and two continuous items, an MNL of
three alternatives with generic ``time`` and ``dist`` coefficients, true values -1
and +0.4), integrated exactly by Gauss-Hermite quadrature.  ``beta_time <= 0`` does
not bind at the optimum: the bounded fit must be the unbounded one, from any start
(on the bound included).  ``beta_dist <= 0`` binds: the fit must be the
Karush-Kuhn-Tucker point, i.e. the fit of the model with ``beta_dist`` fixed at 0
(an independent computation), with the gradient on ``beta_dist`` pointing out of the
bounds.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest

import iclv_jax as ij
from iclv_jax.optimize import BOUNDED_OPTIMIZERS, OPTIMIZERS

DRAWS = ij.Quadrature(12)
LL_RTOL = 1e-10


def _study(n_people=300, seed=0):
    """``eta = 0.8 x + zeta``; items ``q1 = 1 + 1.2 eta + e``, ``q2 = -0.5 + 0.8 eta +
    e`` (sd 0.6); ``V_j = -time_j + 0.4 dist_j`` (+ ``0.3 + 0.7 eta`` for ``a1``)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n_people)
    eta = 0.8 * x + rng.normal(size=n_people)
    df = pd.DataFrame(
        {
            "id": np.arange(n_people),
            "x": x,
            "q1": 1.0 + 1.2 * eta + 0.6 * rng.normal(size=n_people),
            "q2": -0.5 + 0.8 * eta + 0.6 * rng.normal(size=n_people),
        }
    )
    for j in (1, 2, 3):
        df[f"time{j}"] = rng.uniform(0, 2, n_people)
        df[f"dist{j}"] = rng.uniform(0, 2, n_people)
    utility = np.stack([-df[f"time{j}"] + 0.4 * df[f"dist{j}"] for j in (1, 2, 3)], axis=1)
    utility[:, 0] += 0.3 + 0.7 * eta
    df["y"] = 1 + np.argmax(utility + rng.gumbel(size=utility.shape), axis=1)
    alternatives = [
        ij.Alternative(
            f"a{j}",
            j,
            ij.Utility(
                attributes={"time": f"time{j}", "dist": f"dist{j}"}, lvs=["a"] if j == 1 else []
            ),
            asc=j == 1,
        )
        for j in (1, 2, 3)
    ]
    model = ij.ICLVModel(
        [ij.LatentVariable("a", covariates=["x"])],
        [ij.Indicator("q1", "a", kind="continuous"), ij.Indicator("q2", "a", kind="continuous")],
        ij.MultinomialLogit("y", alternatives),
    )
    return df, model


def _fit(model, df, **kwargs) -> ij.Results:
    with warnings.catch_warnings():
        # a binding bound is reported (and its SEs are NaN): expected, asserted on below
        warnings.filterwarnings("ignore", "estimates at a bound", UserWarning)
        return ij.estimate(model, df, draws=DRAWS, verbose=False, **kwargs)


@pytest.fixture(scope="module")
def study():
    df, model = _study()
    return df, model, _fit(model, df)


@pytest.fixture(scope="module")
def fixed_at_bounds(study):
    """The independent reference of the binding case: the bound parameters fixed."""
    df, model, _ = study
    return _fit(dataclasses.replace(model, fixed={"beta_dist": 0.0, "beta_time": -1.0}), df)


@pytest.mark.parametrize("optimizer", BOUNDED_OPTIMIZERS)
@pytest.mark.parametrize(
    "start", [{"beta_time": 0.0}, {"beta_time": -1e-9}], ids=["on the bound", "1e-9 inside"]
)
def test_a_bound_that_does_not_bind_leaves_the_optimum_unchanged(study, optimizer, start):
    df, model, free = study
    assert free.converged and free.estimates["beta_time"] < -1.0  # the bound does not bind
    bounded = _fit(
        dataclasses.replace(model, bounds={"beta_time": (None, 0.0)}),
        df,
        optimizer=optimizer,
        start=start,
    )
    assert bounded.converged and bounded.active_bounds == {}
    assert bounded.iterations < 100  # a transform to the bound took ~500 from 1e-9
    np.testing.assert_allclose(bounded.loglike, free.loglike, rtol=LL_RTOL)
    for name in free.table.index:
        np.testing.assert_allclose(
            bounded.estimates[name], free.estimates[name], rtol=1e-5, atol=1e-7, err_msg=name
        )
    np.testing.assert_allclose(bounded.table["se"], free.table["se"], rtol=1e-4)


@pytest.mark.parametrize("optimizer", BOUNDED_OPTIMIZERS)
def test_a_binding_bound_gives_the_kkt_point(study, fixed_at_bounds, optimizer):
    """Upper bound 0 on ``beta_dist`` (estimate +0.6 unbounded) and lower bound -1 of an
    interval on ``beta_time`` (estimate -1.42): both bind.  The fit is the fit with
    both fixed at their bounds, and the gradient points out of the bounds there."""
    df, model, free = study
    assert free.estimates["beta_dist"] > 0.3 and free.estimates["beta_time"] < -1.2
    bounds = {"beta_dist": (None, 0.0), "beta_time": (-1.0, 3.0)}
    bounded = _fit(dataclasses.replace(model, bounds=bounds), df, optimizer=optimizer)
    assert bounded.converged, bounded.message
    assert bounded.estimates["beta_dist"] == 0.0 and bounded.estimates["beta_time"] == -1.0
    assert bounded.active_bounds == {"beta_dist": "upper", "beta_time": "lower"}
    summary = bounded.summary()
    assert "beta_dist (upper)" in summary and "beta_time (lower)" in summary
    reference = fixed_at_bounds
    np.testing.assert_allclose(bounded.loglike, reference.loglike, rtol=LL_RTOL)
    others = list(reference.table.index)
    for name in others:
        np.testing.assert_allclose(
            bounded.estimates[name], reference.estimates[name], rtol=1e-5, atol=1e-7, err_msg=name
        )
    for column in ("se", "robust_se"):  # the others' SEs: as if fixed at the bound
        np.testing.assert_allclose(
            bounded.table.loc[others, column], reference.table[column], rtol=1e-4
        )
        assert bounded.table.loc[list(bounds), column].isna().all()
    problem = ij.Problem(model, df, draws=DRAWS)
    u = np.asarray(problem.free_internal(bounded.estimates))
    loglike, gradient = (np.asarray(x) for x in problem.likelihood.loglike_and_grad(u))
    by_name = dict(zip(problem.space.free_names, gradient * np.maximum(np.abs(u), 1), strict=True))
    assert by_name["beta_dist"] > 1.0 and by_name["beta_time"] < -1.0  # out of the box
    assert max(abs(by_name[name]) for name in others) < 1e-6 * abs(loglike)  # zero inside


def test_a_start_on_a_binding_bound_stays_there(study, fixed_at_bounds):
    df, model, _ = study
    bounded = _fit(
        dataclasses.replace(model, bounds={"beta_dist": (None, 0.0), "beta_time": (-1.0, 3.0)}),
        df,
        start={"beta_dist": 0.0, "beta_time": -1.0},
    )
    assert bounded.converged and bounded.estimates["beta_dist"] == 0.0
    np.testing.assert_allclose(bounded.loglike, fixed_at_bounds.loglike, rtol=LL_RTOL)


@pytest.mark.parametrize("optimizer", sorted(set(OPTIMIZERS) - set(BOUNDED_OPTIMIZERS)))
def test_optimizers_that_cannot_keep_bounds_refuse_them(study, optimizer):
    df, model, _ = study
    with pytest.raises(
        ij.SpecificationError,
        match=rf"{optimizer!r} cannot keep the "
        r"bounds on \['beta_time'\]",
    ):
        ij.estimate(
            dataclasses.replace(model, bounds={"beta_time": (None, 0.0)}),
            df,
            draws=DRAWS,
            optimizer=optimizer,
            verbose=False,
        )


def test_a_start_outside_the_bounds_is_refused_naming_the_parameter(study):
    df, model, _ = study
    problem = ij.Problem(
        dataclasses.replace(model, bounds={"beta_time": (-1.0, 0.0)}), df, draws=DRAWS
    )
    with pytest.raises(ValueError, match=r"'beta_time' = 0.5 is outside its bounds"):
        problem.free_internal({"beta_time": 0.5})


def test_loglike_gradient_is_finite_at_extreme_coefficients(study):
    """A coefficient of +-720 or 1e6 (whose ``exp`` in the scales' branch of the
    reported map would overflow) gives a finite gradient of the LL."""
    df, model, _ = study
    problem = ij.Problem(model, df, draws=DRAWS)
    u = np.asarray(problem.free_internal(None))
    index = problem.space.free_names.index
    for name, value in (
        ("beta_time", 720.0),
        ("beta_time", -720.0),
        ("beta_dist", 1e6),
        ("asc_a1", 800.0),
        ("b_x_to_a", 720.0),
    ):
        extreme = u.copy()
        extreme[index(name)] = value
        _, gradient = problem.likelihood.loglike_and_grad(extreme)
        assert np.all(np.isfinite(gradient)), (name, value)
