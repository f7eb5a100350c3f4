"""Normalisations Biogeme and Apollo users need: a structural intercept where an item
pins the LV's mean, any non-zero reference loading, ordered probit and logit items in
one model, and the parameter table before fitting (``ij.parameters``)."""

import dataclasses
import json
import math

import jax
import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from scipy.stats import norm

import iclv_jax as ij
from iclv_jax.identification import check_data
from iclv_jax.symmetry import sign_parameters

LV = "att"
LIKERT = 5


def _categories(latent: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Levels ``1..J`` of a latent response cut at ``cuts`` (``J - 1`` increasing)."""
    return 1 + np.searchsorted(cuts, latent)


def simulate(truth: dict, items: dict, n_people: int, n_situations: int, seed: int):
    """One LV ``eta = intercept + b x + sigma zeta`` (``intercept_att``, ``b_x_to_att``,
    ``sigma_att`` taken as 0, 0, 1 when absent from ``truth``); ordered items
    ``name -> (link, cuts, alpha, lambda, scale)``: ``I = j`` where ``alpha + lambda eta
    + scale eps`` falls in ``(cuts[j-1], cuts[j]]``, ``eps`` normal or logistic; a binary
    probit choice ``buy = 1[asc + beta p + theta eta + e > 0]`` per situation."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n_people)
    eta = (
        truth.get(f"intercept_{LV}", 0.0)
        + truth.get(f"b_x_to_{LV}", 0.0) * x
        + truth.get(f"sigma_{LV}", 1.0) * rng.normal(size=n_people)
    )
    person = {"id": np.arange(n_people), "x": x}
    for name, (link, cuts, alpha, loading, scale) in items.items():
        errors = rng.normal(size=n_people) if link == "probit" else rng.logistic(size=n_people)
        person[name] = _categories(alpha + loading * eta + scale * errors, np.asarray(cuts))
    people = pd.DataFrame(person).loc[np.repeat(np.arange(n_people), n_situations)]
    price = rng.uniform(-1.5, 1.5, size=len(people))
    utility = truth["asc_k"] + truth["beta_p"] * price + truth[f"theta_{LV}"] * eta[people["id"]]
    buy = (utility + rng.normal(size=len(people)) > 0).astype(int)
    return people.assign(p=price, buy=buy).reset_index(drop=True)


CHOICE = ij.BinaryProbit("buy", ij.Utility(attributes={"p": "p"}, constants={"k": None}, lvs=[LV]))


def biogeme_model(intercept=True, thresholds="symmetric", reference_loading=1.0, covariates=("x",)):
    """Biogeme's optima normalisation: reference item ``q1`` (loading fixed, no
    intercept or scale), thresholds shared by every item, ``location_scale`` on the
    others, a free ``sigma_att``."""
    items = [
        ij.Indicator(
            f"q{k}",
            LV,
            levels=LIKERT,
            thresholds=thresholds,
            threshold_set="likert",
            location_scale=k > 1,
        )
        for k in (1, 2, 3)
    ]
    lv = ij.LatentVariable(
        LV,
        covariates=covariates,
        reference="q1",
        intercept=intercept,
        reference_loading=reference_loading,
    )
    return ij.ICLVModel([lv], items, CHOICE)


INTERCEPT_TRUTH = {
    f"intercept_{LV}": 0.6,
    f"b_x_to_{LV}": 0.8,
    f"sigma_{LV}": 1.2,
    "tau_likert_3": 0.5,
    "tau_likert_4": 1.6,
    "alpha_q2": 0.4,
    "sigma_q2": 0.8,
    "lambda_q2": 0.9,
    "alpha_q3": -0.3,
    "sigma_q3": 1.3,
    "lambda_q3": 1.2,
    "asc_k": -0.2,
    "beta_p": -1.0,
    f"theta_{LV}": 0.7,
}


def _biogeme_items(truth, reference_loading=1.0):
    cuts = [-truth["tau_likert_4"], -truth["tau_likert_3"], truth["tau_likert_3"]]
    cuts.append(truth["tau_likert_4"])
    items = {"q1": ("probit", cuts, 0.0, reference_loading, 1.0)}
    for k in (2, 3):
        items[f"q{k}"] = (
            "probit",
            cuts,
            truth[f"alpha_q{k}"],
            truth[f"lambda_q{k}"],
            truth[f"sigma_q{k}"],
        )
    return items


def _assert_recovers(results, truth, n_se=3.0):
    table = results.table
    assert results.converged
    assert set(table.index) == set(truth)
    z = {
        name: (table.loc[name, "estimate"] - value) / table.loc[name, "se"]
        for name, value in truth.items()
    }
    assert max(abs(v) for v in z.values()) < n_se, z


def test_an_intercept_identified_by_a_symmetric_reference_item_recovers_the_truth():
    df = simulate(INTERCEPT_TRUTH, _biogeme_items(INTERCEPT_TRUTH), 1500, 3, seed=3)
    model = biogeme_model()
    results = ij.estimate(model, df, draws=ij.AdaptiveQuadrature(8), verbose=False)
    _assert_recovers(results, INTERCEPT_TRUTH)


def test_an_intercept_no_item_identifies_is_refused_naming_it_and_the_remedy():
    with pytest.raises(ij.SpecificationError, match="intercept_att is not identified") as error:
        biogeme_model(thresholds="free")
    assert "thresholds='symmetric'" in str(error.value)
    assert biogeme_model(thresholds="free", intercept=False).latent_variables[0].intercept is False
    fixed = dataclasses.replace(biogeme_model(intercept=False, thresholds="free"), fixed={})
    with pytest.raises(ij.SpecificationError, match="not identified"):
        dataclasses.replace(
            fixed, latent_variables=[dataclasses.replace(fixed.latent_variables[0], intercept=True)]
        )
    # fixing the intercept is always accepted
    dataclasses.replace(
        fixed,
        latent_variables=[dataclasses.replace(fixed.latent_variables[0], intercept=True)],
        fixed={f"intercept_{LV}": 0.5},
    )


def test_a_constant_covariate_is_the_intercept_where_one_is_identified():
    """``b_one_to_att * 1`` is ``intercept_att``: the same LL at the same value; accepted
    by the identification checks where the intercept is identified, refused (saying
    why) where it is not, or beside an intercept."""
    df = simulate(INTERCEPT_TRUTH, _biogeme_items(INTERCEPT_TRUTH), 80, 2, seed=4).assign(one=1.0)
    draws = ij.Quadrature(12)
    with_intercept = ij.Problem(biogeme_model(), df, draws).loglike(INTERCEPT_TRUTH)
    constant = biogeme_model(intercept=False, covariates=("x", "one"))
    values = {k: v for k, v in INTERCEPT_TRUTH.items() if k != f"intercept_{LV}"}
    values[f"b_one_to_{LV}"] = INTERCEPT_TRUTH[f"intercept_{LV}"]
    problem = ij.Problem(constant, df, draws)
    np.testing.assert_allclose(problem.loglike(values), with_intercept, rtol=1e-12)
    check_data(constant, problem.panel)  # accepted
    free = biogeme_model(intercept=False, thresholds="free", covariates=("x", "one"))
    with pytest.raises(ij.DataError, match="mean is not identified") as error:
        check_data(free, ij.Problem(free, df, draws).panel)
    assert "'one'" in str(error.value) and "thresholds='symmetric'" in str(error.value)
    both = biogeme_model(intercept=True, covariates=("x", "one"))
    with pytest.raises(ij.DataError, match="second intercept"):
        check_data(both, ij.Problem(both, df, draws).panel)


def test_a_reference_loading_of_minus_one_is_the_mirror_image_of_plus_one():
    """``eta -> -eta`` maps the ``reference_loading=-1`` model at ``p`` onto the ``+1``
    model at ``p`` with every parameter that multiplies ``eta`` negated (Gauss-Hermite
    nodes are symmetric, so the mirror is exact for the integrated likelihood too)."""
    df = simulate(INTERCEPT_TRUTH, _biogeme_items(INTERCEPT_TRUTH), 60, 2, seed=5)
    plus, minus = biogeme_model(), biogeme_model(reference_loading=-1.0)
    flipped = dict(INTERCEPT_TRUTH)
    for name in sign_parameters(plus, LV):
        flipped[name] = -flipped[name]
    assert {f"theta_{LV}", f"intercept_{LV}", "lambda_q2"} <= set(sign_parameters(plus, LV))
    draws = ij.Quadrature(20)
    ll_minus = ij.Problem(minus, df, draws).loglike(flipped)
    ll_plus = ij.Problem(plus, df, draws).loglike(INTERCEPT_TRUTH)
    assert abs(ll_minus - ll_plus) < 1e-10
    assert abs(ij.Problem(plus, df, draws).loglike(flipped) - ll_plus) > 1.0
    with pytest.raises(ij.SpecificationError, match="finite non-zero"):
        biogeme_model(reference_loading=0.0)
    with pytest.raises(ij.SpecificationError, match="needs a reference"):
        ij.LatentVariable(LV, reference_loading=-1.0)


def test_a_fit_with_reference_loading_minus_one_converges_to_the_mirrored_optimum(tmp_path):
    truth = {**INTERCEPT_TRUTH, f"theta_{LV}": -0.7, "lambda_q2": -0.9, "lambda_q3": -1.2}
    truth.update({f"intercept_{LV}": -0.6, f"b_x_to_{LV}": -0.8})
    df = simulate(truth, _biogeme_items(truth, reference_loading=-1.0), 300, 2, seed=6)
    draws = ij.AdaptiveQuadrature(8)
    minus = ij.estimate(biogeme_model(reference_loading=-1.0), df, draws=draws, verbose=False)
    plus = ij.estimate(biogeme_model(), df, draws=draws, verbose=False)
    assert minus.converged and plus.converged
    np.testing.assert_allclose(minus.loglike, plus.loglike, rtol=0, atol=1e-6)
    signs = {name: -1.0 for name in sign_parameters(biogeme_model(), LV)}
    for name, value in plus.estimates.items():
        np.testing.assert_allclose(
            minus.estimates[name], signs.get(name, 1.0) * value, atol=2e-4, err_msg=name
        )
    assert f"intercept_{LV}" in minus.summary()
    minus.save(tmp_path / "minus.json")
    loaded = ij.load_results(tmp_path / "minus.json")
    assert loaded.model == biogeme_model(reference_loading=-1.0)
    assert loaded.estimates == minus.estimates


MIXED_TRUTH = {
    f"b_x_to_{LV}": 0.7,
    "lambda_p1": 1.2,
    "lambda_p2": 0.8,
    "lambda_l1": 1.6,
    "lambda_l2": 1.0,
    "tau_p1_1": -1.0,
    "tau_p1_2": 0.2,
    "tau_p1_3": 1.3,
    "tau_p2_1": -0.6,
    "tau_p2_2": 0.5,
    "tau_p2_3": 1.5,
    "tau_l1_1": -2.0,
    "tau_l1_2": 0.0,
    "tau_l1_3": 2.2,
    "tau_l2_1": -1.2,
    "tau_l2_2": 0.6,
    "tau_l2_3": 2.5,
    "asc_k": 0.3,
    "beta_p": -1.0,
    f"theta_{LV}": 0.6,
}

MIXED_ITEMS = {"p1": "probit", "l1": "logit", "p2": "probit", "l2": "logit"}


def mixed_model():
    kinds = {"probit": "ordered_probit", "logit": "ordered_logit"}
    items = [
        ij.Indicator(name, LV, kind=kinds[link], levels=4) for name, link in MIXED_ITEMS.items()
    ]
    return ij.ICLVModel([ij.LatentVariable(LV, covariates=["x"])], items, CHOICE)


def simulate_mixed(n_people, seed):
    items = {
        name: (
            link,
            [MIXED_TRUTH[f"tau_{name}_{j}"] for j in (1, 2, 3)],
            0.0,
            MIXED_TRUTH[f"lambda_{name}"],
            1.0,
        )
        for name, link in MIXED_ITEMS.items()
    }
    return simulate(MIXED_TRUTH, items, n_people, 2, seed)


def independent_mixed_loglike(df, p, n_nodes):
    """``sum_n log sum_r w_r prod_k P(I_nk | eta_r) prod_t P(buy_nt | eta_r)`` with
    ``eta_r = b x_n + z_r`` at Gauss-Hermite (probabilists') nodes, scipy's CDFs."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(n_nodes)
    weights = weights / weights.sum()
    cdf = {"probit": norm.cdf, "logit": expit}
    total = 0.0
    for _, rows in df.groupby("id", sort=True):
        eta = p[f"b_x_to_{LV}"] * rows["x"].iloc[0] + nodes
        likelihood = np.ones_like(nodes)
        for name, link in MIXED_ITEMS.items():
            cuts = np.r_[-np.inf, [p[f"tau_{name}_{j}"] for j in (1, 2, 3)], np.inf]
            level = rows[name].iloc[0]
            index = p[f"lambda_{name}"] * eta
            likelihood *= cdf[link](cuts[level] - index) - cdf[link](cuts[level - 1] - index)
        for price, buy in zip(rows["p"], rows["buy"], strict=True):
            prob = norm.cdf(p["asc_k"] + p["beta_p"] * price + p[f"theta_{LV}"] * eta)
            likelihood *= prob if buy else 1.0 - prob
        total += math.log(likelihood @ weights)
    return total


def test_mixed_links_match_an_independent_scipy_loglike():
    df = simulate_mixed(40, seed=7)
    problem = ij.Problem(mixed_model(), df, ij.Quadrature(15))
    expected = independent_mixed_loglike(df, MIXED_TRUTH, 15)
    assert abs(problem.loglike(MIXED_TRUTH) - expected) < 1e-10
    # the links are per item: every item probit is another likelihood
    all_probit = dataclasses.replace(
        mixed_model(),
        indicators=[
            dataclasses.replace(i, kind="ordered_probit") for i in mixed_model().indicators
        ],
    )
    assert abs(ij.Problem(all_probit, df, ij.Quadrature(15)).loglike(MIXED_TRUTH) - expected) > 1.0


def test_mixed_links_recover_the_truth():
    df = simulate_mixed(1500, seed=8)
    results = ij.estimate(mixed_model(), df, draws=ij.AdaptiveQuadrature(8), verbose=False)
    _assert_recovers(results, MIXED_TRUTH)


def test_analytic_scores_and_the_hessian_agree_with_autodiff():
    """An intercept, reference loading -1 and mixed links in one model: analytic,
    autodiff and finite-difference gradients, and the structured Hessian against
    ``jax.hessian``."""
    items = _biogeme_items(INTERCEPT_TRUTH, reference_loading=-1.0)
    items["q3"] = ("logit", *items["q3"][1:])
    mixed = {
        name: (
            "probit" if name == "p1" else "logit",
            [MIXED_TRUTH[f"tau_{name}_{j}"] for j in (1, 2, 3)],
            0.0,
            MIXED_TRUTH[f"lambda_{name}"],
            1.0,
        )
        for name in ("p1", "l1")
    }
    df = simulate(INTERCEPT_TRUTH, {**items, **mixed}, 50, 2, seed=9)
    base = biogeme_model(reference_loading=-1.0)
    model = dataclasses.replace(
        base,
        indicators=[
            *base.indicators[:2],
            dataclasses.replace(base.indicators[2], kind="ordered_logit"),
            *(ind for ind in mixed_model().indicators if ind.name in mixed),
        ],
    )
    values = dict(INTERCEPT_TRUTH)
    values.update({k: v for k, v in MIXED_TRUTH.items() if k.split("_")[1] in mixed})
    at = {k: (v if k.startswith("tau") else 0.9 * v) for k, v in values.items()}
    check = ij.check_gradients(model, df, at, draws=ij.Halton(20, seed=2))
    assert check.ok, check.table
    assert {f"intercept_{LV}", "lambda_q2", "tau_p1_1", "tau_l1_3"} <= set(check.table.index)
    problem = ij.Problem(model, df, ij.Halton(20, seed=2))
    u = problem.free_internal(at)
    dense = np.asarray(jax.hessian(problem.likelihood.loglike)(u))
    np.testing.assert_allclose(
        np.asarray(problem.likelihood.hessian(u)), dense, atol=1e-8 * np.abs(dense).max(), rtol=1e-8
    )


def test_normalisation_options_round_trip_through_model_files(tmp_path):
    model = dataclasses.replace(
        biogeme_model(reference_loading=-1.5),
        indicators=[*biogeme_model().indicators[:2], *mixed_model().indicators],
    )
    data = ij.model_to_dict(model)
    assert data["latent_variables"][0]["intercept"] is True
    assert ij.model_from_dict(json.loads(json.dumps(data))) == model
    for suffix in ("yaml", "toml"):
        path = tmp_path / f"m.{suffix}"
        ij.save_model(model, path)
        assert ij.load_model(path) == model
    with pytest.raises(ij.SpecificationError, match="reference_loading: expected a number"):
        ij.model_from_dict(
            {
                **data,
                "latent_variables": [{**data["latent_variables"][0], "reference_loading": "-1"}],
            }
        )


def test_parameters_is_the_table_estimate_starts_from():
    df = simulate_mixed(150, seed=10)
    model = dataclasses.replace(
        mixed_model(), fixed={"lambda_p2": 0.8}, bounds={"beta_p": (None, 0.0)}
    )
    table = ij.parameters(model, df)
    assert list(table.columns) == ["block", "start", "lower", "upper", "fixed", "value"]
    draws = ij.Halton(20, seed=1)
    with pytest.warns(UserWarning, match="did not converge"):  # only its start matters
        results = ij.estimate(model, df, draws=draws, verbose=False, max_iterations=2)
    assert list(table.index) == list(results.estimates)
    assert set(results.table.index) == set(table.index[~table["fixed"]])
    assert table.loc["lambda_p2", "fixed"] and table.loc["lambda_p2", "value"] == 0.8
    assert table.loc["beta_p", "upper"] == 0.0 and table.loc["beta_p", "lower"] == -math.inf
    assert table.loc[f"b_x_to_{LV}", "block"] == "structural"
    assert table.loc["tau_l1_1", "block"] == "measurement"
    start_ll = ij.Problem(model, df, draws).loglike(table["start"].to_dict())
    assert start_ll == pytest.approx(results.loglike_start, rel=1e-13)
    symmetric = ij.parameters(
        biogeme_model(), simulate(INTERCEPT_TRUTH, _biogeme_items(INTERCEPT_TRUTH), 150, 1, seed=11)
    )
    assert (
        symmetric.loc["sigma_q2", "lower"] == 0.0 and symmetric.loc["tau_likert_3", "lower"] == 0.0
    )
    assert symmetric.loc["tau_likert_4", "lower"] == -math.inf
