"""The units of the data do not matter: rescaling a column by ``c`` rescales its
coefficients (and their standard errors) by ``1 / c`` and changes nothing else.

Prices times ``c`` for ``c`` from 1e-6 to 1e9 and a continuous indicator times ``c``
must give the fit at ``c = 1`` in rescaled units: the same log-likelihood (shifted by
exactly ``-N log c`` per continuous item, the Jacobian of its density), the same
verdict (``converged``), a comparable number of iterations, and estimates and standard
errors that scale with ``c``.  The pure-numpy tests below check the pieces that make
this so: scales, relative gradient, curvature test and covariances in scaled
coordinates, and a warning that names the flat parameters and says what its sign says.
"""

import dataclasses
import math
import warnings

import numpy as np
import pandas as pd
import pytest

import iclv_jax as ij
from iclv_jax import datasets
from iclv_jax.inference import NotAMaximumWarning, covariances
from iclv_jax.optimize import clearly_negative_definite, relative_gradient, scales_from_curvature

DRAWS = ij.Halton(10, seed=0)
FACTORS = (1e-9, 1e-6, 1e-3, 1e3, 1e5, 1e9)


def _fit(model, data) -> ij.Results:
    with warnings.catch_warnings():
        warnings.simplefilter("error", NotAMaximumWarning)  # a unit change is no reason
        return ij.estimate(model, data, draws=DRAWS, verbose=False)


def _assert_rescaled(
    fit: ij.Results, reference: ij.Results, factors: dict[str, float], loglike_shift: float = 0.0
) -> None:
    """``fit`` is ``reference`` with parameter ``name`` (and its SEs) times
    ``factors[name]`` (1 for the others) and the LL shifted by ``loglike_shift``."""
    assert fit.converged, fit.message
    assert fit.loglike == pytest.approx(reference.loglike + loglike_shift, abs=1e-6)
    assert fit.iterations <= 2 * reference.iterations + 5
    factor = pd.Series(factors).reindex(reference.table.index).fillna(1.0)
    for column in ("estimate", "se", "robust_se"):
        np.testing.assert_allclose(
            fit.table[column], reference.table[column] * factor, rtol=1e-5, err_msg=column
        )


@pytest.fixture(scope="module")
def beverage():
    df, model, _ = datasets.beverage_one_lv(n_people=80, seed=3)
    return df, model


@pytest.fixture(scope="module")
def beverage_reference(beverage):
    df, model = beverage
    return _fit(model, df)


@pytest.mark.parametrize("c", FACTORS)
def test_price_in_any_unit_gives_the_same_fit(beverage, beverage_reference, c):
    """price x c: beta_price / c, its SEs / c; everything else the same."""
    df, model = beverage
    fit = _fit(model, df.assign(price=df["price"] * c))
    _assert_rescaled(fit, beverage_reference, {"beta_price": 1 / c})


@pytest.mark.slow  # the three-LV study (150 people, 20 draws): ~5 s a fit
def test_price_in_any_unit_gives_the_same_fit_three_lvs():
    df, model, _ = datasets.beverage(n_people=150, seed=0)
    draws = ij.Halton(20, seed=0)
    reference = ij.estimate(model, df, draws=draws, verbose=False)
    for c in FACTORS:
        fit = ij.estimate(model, df.assign(price=df["price"] * c), draws=draws, verbose=False)
        _assert_rescaled(fit, reference, {"beta_price": 1 / c})


def _with_spending(df: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """A continuous person-level item ``spend`` driven by the purchase-intention items."""
    rng = np.random.default_rng(seed)
    person = df.groupby("id")[["pi1", "pi2", "pi3"]].first().sum(axis=1)
    spend = 20.0 + 4.0 * person + rng.normal(scale=3.0, size=len(person))
    return df.assign(spend=df["id"].map(pd.Series(spend.to_numpy(), index=person.index)))


@pytest.fixture(scope="module")
def spending(beverage):
    df, model = beverage
    item = ij.Indicator("spend", "purchase_intention", kind="continuous")
    model = dataclasses.replace(model, indicators=(*model.indicators, item))
    return _with_spending(df), model


@pytest.fixture(scope="module")
def spending_reference(spending):
    df, model = spending
    return _fit(model, df)


@pytest.mark.parametrize("c", (1e-6, 1e3, 1e9))
def test_continuous_indicator_in_any_unit_gives_the_same_fit(spending, spending_reference, c):
    """spend x c: alpha, lambda and sigma of the item times c, LL shifted by exactly
    ``-N log c`` (the density of ``c y`` is that of ``y`` over ``c``)."""
    df, model = spending
    fit = _fit(model, df.assign(spend=df["spend"] * c))
    _assert_rescaled(
        fit,
        spending_reference,
        {"alpha_spend": c, "lambda_spend": c, "sigma_spend": c},
        loglike_shift=-fit.n_people * math.log(c),
    )


# --- the pieces, in numpy --------------------------------------------------------------


def _problem(seed: int = 0, n: int = 50, k: int = 4):
    """Scores and a negative definite Hessian of ``k`` parameters."""
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(n, k))
    return scores, -(scores.T @ scores) - n * np.eye(k)


def _rescaled(c: float, k: int = 4) -> np.ndarray:
    """``r``: the last data column times ``c``, so its coefficient ``u`` (and scale) go
    to ``u / c``, its gradient and scores to ``c g``, its Hessian row and column
    times ``c``."""
    r = np.ones(k)
    r[-1] = c
    return r


def test_scales_follow_a_rescaled_column_and_nothing_else():
    scores, hessian = _problem()
    base = scales_from_curvature(hessian, scores)
    for c in (1e-9, 1e9):
        r = _rescaled(c)
        moved = scales_from_curvature(hessian * np.outer(r, r), scores * r)
        np.testing.assert_allclose(moved, base / r, rtol=1e-12)


def test_relative_gradient_and_curvature_test_ignore_units():
    scores, hessian = _problem()
    gradient, u = scores.sum(axis=0) * 1e-4, np.array([0.5, -2.0, 0.01, 1e-3])
    reference = relative_gradient(gradient, u, -500.0, scales_from_curvature(hessian, scores))
    for c in (1e-9, 1e9):
        r = _rescaled(c)
        moved_h = hessian * np.outer(r, r)
        moved_scales = scales_from_curvature(moved_h, scores * r)
        assert relative_gradient(gradient * r, u / r, -500.0, moved_scales) == pytest.approx(
            reference, rel=1e-12
        )
        assert clearly_negative_definite(moved_h, moved_scales)


def test_covariances_scale_with_the_units_of_a_column():
    """A coefficient whose column is in units of 1e-9 .. 1e9 (curvature up to 1e18
    times the others'): its variance and covariances scale by ``1 / c^2`` and
    ``1 / c``, the others stay; no NaN, no warning."""
    scores, hessian = _problem()
    reference = covariances(hessian, scores, np.eye(4), list("abcd"))
    for c in (1e-9, 1e-3, 1e3, 1e9):
        r = _rescaled(c)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            moved = covariances(hessian * np.outer(r, r), scores * r, np.eye(4), list("abcd"))
        for new, old in ((moved.classical, reference.classical), (moved.robust, reference.robust)):
            np.testing.assert_allclose(new, old / np.outer(r, r), rtol=1e-10)
        assert moved.smallest_curvature == pytest.approx(reference.smallest_curvature, rel=1e-10)


def test_flat_direction_is_named_whatever_the_unit_of_another_column():
    """Only ``a + b`` is identified; ``d`` has curvature 1e18 (a column in tiny units).
    The warning names ``a`` and ``b`` (not ``c`` or ``d``) and, the smallest curvature
    being positive (rounding), calls the Hessian nearly singular, not "not negative
    definite"; a clearly wrong-way curvature is called not negative definite."""
    minus_h = np.diag([1.0, 1.0, 2.0, 3e18])
    minus_h[0, 1] = minus_h[1, 0] = 1.0 - 1e-14  # flat up to rounding, positive
    scores = np.sqrt(np.abs(np.diag(minus_h))) * np.array([[1, 1, 1, 1], [-1, 1, -1, 1.0]])
    with pytest.warns(NotAMaximumWarning) as caught:
        cov = covariances(-minus_h, scores, np.eye(4), list("abcd"))
    message = str(caught[0].message)
    assert cov.unidentified == ("a", "b"), message
    assert "['a', 'b']" in message or "['b', 'a']" in message, message
    assert cov.smallest_curvature > 0 and "nearly singular" in message, message
    assert "not negative definite" not in message, message
    assert np.isfinite(cov.classical[2:, 2:]).all()
    minus_h[0, 1] = minus_h[1, 0] = 1.5  # an indefinite Hessian: a saddle
    with pytest.warns(NotAMaximumWarning, match="not negative definite") as caught:
        cov = covariances(-minus_h, scores, np.eye(4), list("abcd"))
    assert cov.smallest_curvature < 0 and "<= 0" in str(caught[0].message)


def test_a_large_positive_coefficient_has_a_finite_gradient(beverage):
    """health_label x 1e-4 makes beta_health_label ~5e3: exp of it (the log and bound
    transforms' branch, not taken for a plain coefficient) is inf, and its gradient
    was NaN through ``where``."""
    df, model = beverage
    problem = ij.Problem(model, df.assign(health_label=df["health_label"] * 1e-4), draws=DRAWS)
    names = problem.space.free_names
    u = np.asarray(problem.free_internal({"beta_health_label": 5e3}))
    assert u[names.index("beta_health_label")] == 5e3
    _, gradient = problem.likelihood.loglike_and_grad(u)
    assert np.isfinite(np.asarray(gradient)).all()
