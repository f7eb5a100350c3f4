"""Specification options: shared and symmetric thresholds, choice scale, bounds,
cross-sectional data."""

import dataclasses
import math
import warnings

import numpy as np
import pytest
from scipy.stats import norm

import iclv_jax as ij
from iclv_jax import plots
from iclv_jax.datasets import beverage, beverage_one_lv


def _loglike(model, df, params, draws=None):
    problem = ij.Problem(model, df, draws=draws or ij.Halton(30, seed=1))
    return problem, problem.loglike(params)


def _pi_items(**changes):
    return [ij.Indicator(f"pi{k}", "purchase_intention", levels=5, **changes) for k in (1, 2, 3)]


def _measurement_model(indicators):
    return ij.ICLVModel([ij.LatentVariable("purchase_intention", covariates=["age"])], indicators)


_LOADINGS = {
    "lambda_pi1": 1.2,
    "lambda_pi2": 0.9,
    "lambda_pi3": 1.1,
    "b_age_to_purchase_intention": 0.3,
}


def test_shared_thresholds_are_one_set_with_the_loglike_of_equal_free_thresholds():
    df, _, _ = beverage(n_people=60, n_situations=1, seed=5)
    shared = _measurement_model(_pi_items(threshold_set="likert"))
    taus = (-1.5, -0.4, 0.6, 1.9)
    problem, ll_shared = _loglike(
        shared, df, {**_LOADINGS, **{f"tau_likert_{j}": t for j, t in enumerate(taus, 1)}}
    )
    assert [n for n in problem.space.names if n.startswith("tau")] == [
        f"tau_likert_{j}" for j in range(1, 5)
    ]
    free = _measurement_model(_pi_items())
    _, ll_free = _loglike(
        free,
        df,
        {**_LOADINGS, **{f"tau_pi{k}_{j}": t for k in (1, 2, 3) for j, t in enumerate(taus, 1)}},
    )
    np.testing.assert_allclose(ll_shared, ll_free, rtol=1e-12)


def test_symmetric_thresholds_match_a_direct_numpy_computation():
    """Four levels, symmetric: cut-points (-t3, 0, t3) with one parameter tau_<set>_3;
    log L = sum_n log sum_r w_r prod_k P(I_nk | eta_nr), computed in numpy."""
    df, _, _ = beverage(n_people=50, n_situations=1, seed=6)
    for k in (1, 2, 3):
        df[f"pi{k}"] = np.minimum(df[f"pi{k}"], 4)
    items = [
        ij.Indicator(
            f"pi{k}", "purchase_intention", levels=4, thresholds="symmetric", threshold_set="s4"
        )
        for k in (1, 2, 3)
    ]
    model = _measurement_model(items)
    params = {**_LOADINGS, "tau_s4_3": 0.8}
    problem, ll = _loglike(model, df, params)
    assert [n for n in problem.space.names if n.startswith("tau")] == ["tau_s4_3"]
    n = problem.panel.n_people
    zeta = np.asarray(problem.likelihood.zeta)[:n, :, 0]
    weights = np.exp(np.asarray(problem.likelihood.log_weights))
    eta = params["b_age_to_purchase_intention"] * problem.panel.covariates[:, :1] + zeta
    cuts = np.array([-np.inf, -0.8, 0.0, 0.8, np.inf])
    likelihood = np.ones_like(eta)
    for k in (1, 2, 3):
        level = problem.panel.ordered_levels[:, k - 1][:, None]
        index = params[f"lambda_pi{k}"] * eta
        likelihood *= norm.cdf(cuts[level + 1] - index) - norm.cdf(cuts[level] - index)
    np.testing.assert_allclose(ll, np.log(likelihood @ weights).sum(), rtol=1e-10)


def test_five_level_symmetric_thresholds_equal_mirrored_free_ones():
    df, _, _ = beverage(n_people=60, n_situations=1, seed=7)
    symmetric = _measurement_model(_pi_items(thresholds="symmetric"))
    upper = {3: 0.5, 4: 1.7}
    problem, ll_symmetric = _loglike(
        symmetric,
        df,
        {**_LOADINGS, **{f"tau_pi{k}_{j}": t for k in (1, 2, 3) for j, t in upper.items()}},
    )
    assert "tau_pi2_1" not in problem.space.names and "tau_pi2_4" in problem.space.names
    taus = (-1.7, -0.5, 0.5, 1.7)
    _, ll_free = _loglike(
        _measurement_model(_pi_items()),
        df,
        {**_LOADINGS, **{f"tau_pi{k}_{j}": t for k in (1, 2, 3) for j, t in enumerate(taus, 1)}},
    )
    np.testing.assert_allclose(ll_symmetric, ll_free, rtol=1e-12)


def test_threshold_options_are_checked():
    with pytest.raises(ij.SpecificationError, match="share the thresholds 'x'"):
        _measurement_model(
            [
                ij.Indicator("a", "purchase_intention", levels=5, threshold_set="x"),
                ij.Indicator("b", "purchase_intention", levels=4, threshold_set="x"),
            ]
        )
    with pytest.raises(ij.SpecificationError, match="unknown thresholds 'sym'"):
        ij.Indicator("a", "purchase_intention", levels=5, thresholds="sym")
    with pytest.raises(ij.SpecificationError, match="continuous indicator has no thresh"):
        ij.Indicator("a", "purchase_intention", kind="continuous", thresholds="symmetric")


@pytest.mark.parametrize("choice", ("logit", "probit"))
def test_a_free_scale_with_a_fixed_cost_is_a_reparametrisation(choice):
    """WTP space: ``V = mu (-price + w' x + t eta)`` equals ``V = -mu price + (mu w)' x
    + (mu t) eta``: the same LL at the mapped parameters."""
    df, model, truth = beverage(n_people=30, n_situations=3, seed=8, choice=choice)
    scaled = dataclasses.replace(
        model, choice=dataclasses.replace(model.choice, scale=True), fixed={"beta_price": -1.0}
    )
    mu = -truth["beta_price"]
    in_wtp_space = {
        name: (value / mu if name.startswith(("asc_", "beta_", "theta_")) else value)
        for name, value in truth.items()
    }
    in_wtp_space.update(
        {"beta_price": -1.0, "scale_buy" if choice == "probit" else "scale_choice": mu}
    )
    problem, ll_scaled = _loglike(scaled, df, in_wtp_space)
    assert problem.space.names[-1] == ("scale_buy" if choice == "probit" else "scale_choice")
    _, ll = _loglike(model, df, truth)
    np.testing.assert_allclose(ll_scaled, ll, rtol=1e-12)


def test_bounds_move_default_starts_inside_and_refuse_starts_outside():
    df, model, _ = beverage_one_lv(n_people=30)
    model = dataclasses.replace(
        model,
        choice=ij.NoChoice(),
        bounds={
            "b_age_to_purchase_intention": (None, -0.5),
            "lambda_pi1": (0.2, 3.0),
            "b_female_to_purchase_intention": (1.0, None),
        },
    )
    problem = ij.Problem(model, df, draws=10)
    start = dict(zip(problem.space.names, problem.space.start_reported(None), strict=True))
    assert start["b_age_to_purchase_intention"] == pytest.approx(-0.6)
    assert start["b_female_to_purchase_intention"] == pytest.approx(1.1)
    assert start["lambda_pi1"] == 1.0  # the default is inside
    reported = problem.reported(problem.free_internal({"lambda_pi1": 2.9}))
    assert reported["lambda_pi1"] == pytest.approx(2.9)
    with pytest.raises(ValueError, match=r"'lambda_pi1' = 3.5 is outside its bounds"):
        problem.free_internal({"lambda_pi1": 3.5})
    on_bound = problem.reported(problem.free_internal({"lambda_pi1": 3.0}))
    assert on_bound["lambda_pi1"] == 3.0  # a start on a bound is accepted
    with pytest.raises(ij.SpecificationError, match="only coefficients can be bounded"):
        ij.Problem(dataclasses.replace(model, bounds={"tau_pi1_1": (0, None)}), df, draws=10)
    with pytest.raises(ij.SpecificationError, match="bounded parameters not in the model"):
        ij.Problem(dataclasses.replace(model, bounds={"beta_x": (0, None)}), df, draws=10)
    with pytest.raises(ij.SpecificationError, match="lower 1.0 is not below upper 0.0"):
        dataclasses.replace(model, bounds={"lambda_pi1": (1, 0)})


def test_bounded_coefficients_are_their_own_internal_values_kept_in_a_box():
    df, model, _ = beverage_one_lv(n_people=30)
    bounds = {
        "b_age_to_purchase_intention": (None, -0.5),
        "lambda_pi1": (0.2, 3.0),
        "b_female_to_purchase_intention": (1.0, None),
    }
    problem = ij.Problem(dataclasses.replace(model, bounds=bounds), df, draws=5)
    space = problem.space
    lower, upper = space.internal_bounds()
    for i, name in enumerate(space.free_names):
        expected = bounds.get(name, (None, None))
        assert (lower[i], upper[i]) == (
            -np.inf if expected[0] is None else expected[0],
            np.inf if expected[1] is None else expected[1],
        ), name
    corner = np.where(np.isfinite(lower), lower, np.where(np.isfinite(upper), upper, 0.1))
    reported = problem.reported(corner)
    for name, (low, high) in bounds.items():
        assert reported[name] == (high if low is None else low)
    values = np.array(list(reported.values()))
    assert space.active_bounds(values) == {
        "b_age_to_purchase_intention": "upper",
        "b_female_to_purchase_intention": "lower",
        "lambda_pi1": "lower",
    }
    assert space.active_bounds(values + 1e-9 * (values == 0.2)) == {
        "b_age_to_purchase_intention": "upper",
        "b_female_to_purchase_intention": "lower",
    }


@pytest.mark.slow
def test_an_estimate_pushed_against_its_bound_stops_there_and_is_reported():
    df, model, truth = beverage_one_lv(n_people=80, seed=1)
    name = "b_age_to_purchase_intention"
    assert truth[name] > 0.1
    model = dataclasses.replace(model, choice=ij.NoChoice(), bounds={name: (None, 0.0)})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = ij.estimate(model, df, draws=ij.Halton(10, seed=0), verbose=False)
    assert results.estimates[name] == 0.0 and results.converged
    assert results.active_bounds == {name: "upper"}
    assert any("at a bound" in str(w.message) and name in str(w.message) for w in caught)
    assert f"at a bound: {name} (upper)" in results.summary()
    assert results.report_table().loc[name, "status"] == "at upper bound"
    assert math.isnan(results.simulation_sd[name])  # held: no SE, no simulation SD
    # no choice part: the measurement part is the whole LL, no choice statistics
    assert results.loglike_choice is None and results.loglike_constants_choice is None
    assert results.loglike_measurement == pytest.approx(results.loglike, abs=1e-9)
    assert "rho_squared_null" not in results.statistics()


def test_cross_sectional_data_give_every_row_its_own_draws():
    df, model, truth = beverage(n_people=20, n_situations=3, seed=9)
    cross = dataclasses.replace(model, panel=False)
    problem, ll_cross = _loglike(cross, df.sample(frac=1.0, random_state=0), truth)
    assert problem.panel.n_people == len(df) and problem.panel.situation_mask.shape[1] == 1
    by_row = df.sample(frac=1.0, random_state=0).assign(id=np.arange(len(df)))
    _, ll_rows = _loglike(model, by_row, truth)
    _, ll_panel = _loglike(model, df, truth)
    np.testing.assert_allclose(ll_cross, ll_rows, rtol=1e-12)
    assert abs(ll_cross - ll_panel) > 1.0
    assert ij.prepare_data(model, df, panel=False).n_people == len(df)


def test_new_options_round_trip_through_model_to_dict():
    import json
    import math

    model = ij.ICLVModel(
        [ij.LatentVariable("a", reference="q2")],
        [
            ij.Indicator(
                "q1",
                "a",
                levels=5,
                missing_codes=(6, math.nan),
                thresholds="symmetric",
                threshold_set="likert",
                location_scale=True,
            ),
            ij.Indicator("q2", "a", levels=5, thresholds="symmetric", threshold_set="likert"),
            ij.Indicator("c1", "a", kind="continuous", missing_codes=(-9,)),
        ],
        ij.MultinomialLogit(
            "y",
            [ij.Alternative("A", 1, ij.Utility(lvs=["a"]), asc=True), ij.Alternative("B", 2)],
            scale="mu",
        ),
        fixed={"asc_A": 0.5},
        missing_indicators="integrate",
        bounds={"theta_a_A": (None, 0)},
        panel=False,
    )
    data = ij.model_to_dict(model)
    again = ij.model_from_dict(json.loads(json.dumps(data, allow_nan=False)))
    assert ij.model_to_dict(again) == data
    assert again.indicators[0].allows_nan and again.choice.scale == "mu"
    assert again.indicators[0].location_scale and again.latent_variables[0].reference == "q2"
    assert (again.bounds, again.panel, again.missing_indicators) == (
        {"theta_a_A": (None, 0.0)},
        False,
        "integrate",
    )


def test_a_reference_indicator_reparametrises_the_default_normalisation():
    """``eta' = lambda_1 eta``: reference loading 1, ``sigma_<lv> = lambda_1``, the other
    loadings, the covariate effects and theta rescaled: the same LL."""
    df, model, params = beverage_one_lv(n_people=40, seed=2)
    lv = "purchase_intention"
    reference = dataclasses.replace(
        model, latent_variables=[dataclasses.replace(model.latent_variables[0], reference="pi1")]
    )
    s = params["lambda_pi1"]
    mapped = {name: value for name, value in params.items() if name != "lambda_pi1"}
    mapped.update(
        {
            f"sigma_{lv}": s,
            "lambda_pi2": params["lambda_pi2"] / s,
            "lambda_pi3": params["lambda_pi3"] / s,
            f"theta_{lv}": params[f"theta_{lv}"] / s,
            **{f"b_{c}_to_{lv}": params[f"b_{c}_to_{lv}"] * s for c in ("age", "female")},
        }
    )
    problem, ll_reference = _loglike(reference, df, mapped)
    assert "lambda_pi1" not in problem.space.names and f"sigma_{lv}" in problem.space.names
    _, ll_default = _loglike(model, df, params)
    np.testing.assert_allclose(ll_reference, ll_default, rtol=1e-12)


def _biogeme_normalisation():
    """Three-level items: shared ``(tau_1, tau_2)``, a reference item, the others with
    ``alpha_k``, ``sigma_k``, ``lambda_k``, and ``sigma_<lv>`` free; and the same model with
    free thresholds per item and a unit-variance LV at the values that identify the same:
    ``tau_kj = (tau_j - alpha_k) / sigma_k``, ``lambda_k sigma_lv / sigma_k``, ``b / sigma_lv``.
    Returns ``(df, biogeme model, its values, default model, mapped values)``."""
    df, _, _ = beverage(n_people=60, n_situations=1, seed=11)
    for k in (1, 2, 3):
        df[f"pi{k}"] = np.clip(df[f"pi{k}"] - 1, 1, 3)
    lv = "purchase_intention"
    biogeme = ij.ICLVModel(
        [ij.LatentVariable(lv, covariates=["age"], reference="pi1")],
        [
            ij.Indicator(f"pi{k}", lv, levels=3, threshold_set="likert", location_scale=k > 1)
            for k in (1, 2, 3)
        ],
    )
    values = {
        "tau_likert_1": -0.4,
        "tau_likert_2": 0.9,
        f"sigma_{lv}": 1.3,
        f"b_age_to_{lv}": 0.5,
        "alpha_pi2": 0.2,
        "sigma_pi2": 0.7,
        "lambda_pi2": 1.1,
        "alpha_pi3": -0.3,
        "sigma_pi3": 1.6,
        "lambda_pi3": 0.6,
    }
    default = _measurement_model([ij.Indicator(f"pi{k}", lv, levels=3) for k in (1, 2, 3)])
    s = values[f"sigma_{lv}"]
    mapped = {
        f"b_age_to_{lv}": values[f"b_age_to_{lv}"] / s,
        "lambda_pi1": s,
        "tau_pi1_1": -0.4,
        "tau_pi1_2": 0.9,
    }
    for k in (2, 3):
        alpha, sigma = values[f"alpha_pi{k}"], values[f"sigma_pi{k}"]
        mapped[f"lambda_pi{k}"] = values[f"lambda_pi{k}"] * s / sigma
        mapped.update(
            {f"tau_pi{k}_{j}": (values[f"tau_likert_{j}"] - alpha) / sigma for j in (1, 2)}
        )
    return df, biogeme, values, default, mapped


def test_biogeme_location_scale_items_with_shared_thresholds_map_onto_free_thresholds():
    """The two normalisations of :func:`_biogeme_normalisation` give the same LL."""
    df, biogeme, values, default, mapped = _biogeme_normalisation()
    problem, ll_biogeme = _loglike(biogeme, df, values)
    assert len(problem.space.names) == len(values)
    _, ll_default = _loglike(default, df, mapped)
    np.testing.assert_allclose(ll_biogeme, ll_default, rtol=1e-12)
    with pytest.raises(ij.SpecificationError, match="reference indicator 'pi1' must be"):
        dataclasses.replace(
            biogeme,
            indicators=[
                dataclasses.replace(ind, location_scale=True) for ind in biogeme.indicators
            ],
        )


def test_predicted_indicator_shares_use_the_items_location_and_scale():
    """Predicted shares come from the measurement model itself: the two equivalent
    normalisations predict the same shares (item intercepts and scales included)."""
    df, biogeme, values, default, mapped = _biogeme_normalisation()
    draws = ij.Halton(30, seed=1)
    predicted = plots.predicted_indicator_shares(values, biogeme, df, draws=draws)
    expected = plots.predicted_indicator_shares(mapped, default, df, draws=draws)
    np.testing.assert_allclose(predicted.to_numpy(), expected.to_numpy(), rtol=1e-10)
    assert predicted["predicted"].groupby(level="indicator").sum().to_numpy() == (
        pytest.approx(1.0, abs=1e-12)
    )
