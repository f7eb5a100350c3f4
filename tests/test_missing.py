"""Missing indicator answers: declared codes and opted-in NaN are integrated out."""

import dataclasses
import math

import numpy as np
import pytest

import iclv_jax as ij
from iclv_jax.datasets import beverage, beverage_one_lv


def _per_person(model, df, params):
    problem = ij.Problem(model, df, draws=ij.Halton(30, seed=1))
    names = set(problem.space.names)
    u = problem.free_internal({k: v for k, v in params.items() if k in names})
    return problem, np.asarray(problem.likelihood.per_person(u))


def _without(model, item):
    return dataclasses.replace(
        model, indicators=[ind for ind in model.indicators if ind.name != item]
    )


def _replaced(model, item, **changes):
    return dataclasses.replace(
        model,
        indicators=[
            dataclasses.replace(ind, **changes) if ind.name == item else ind
            for ind in model.indicators
        ],
    )


def test_nan_answers_are_an_error_that_says_how_to_allow_them():
    df, model, _ = beverage(n_people=10, n_situations=2, seed=1)
    df.loc[df["id"] == 4, "hc2"] = np.nan
    with pytest.raises(ij.DataError, match=r"'hc2'.*person 4.*missing_codes.*integrate"):
        ij.prepare_data(model, df)
    df.loc[df["id"] == 4, "hc2"] = 6  # an undeclared code is still out of range
    with pytest.raises(ij.DataError, match="'hc2' must be an integer in 1..5; person 4"):
        ij.prepare_data(model, df)


@pytest.mark.parametrize("kind", ("ordered_probit", "continuous"))
def test_a_missing_answer_gives_the_loglike_of_the_model_without_that_item(kind):
    """Per person: with the answer missing, log L_n equals log L_n of the model without
    the item; with it answered, log L_n of the model where nothing is declared."""
    df, model, truth = beverage(n_people=40, n_situations=2, seed=3)
    missing_people = df["id"] % 10 == 0
    declared = df.copy()
    if kind == "ordered_probit":
        no_opinion = df["id"] % 10 == 5
        declared.loc[missing_people, "hc1"] = 6
        declared.loc[no_opinion, "hc1"] = -1
        missing_people |= no_opinion
        with_codes = _replaced(model, "hc1", missing_codes=(6, -1))
    else:  # hc1 read as a continuous indicator, NaN opted in model-wide
        declared.loc[missing_people, "hc1"] = np.nan
        with_codes = dataclasses.replace(
            _replaced(model, "hc1", kind="continuous", levels=None), missing_indicators="integrate"
        )
        model = with_codes
        truth = {**truth, "alpha_hc1": 3.0, "lambda_hc1": 0.8, "sigma_hc1": 1.1}
    problem, ll = _per_person(with_codes, declared, truth)
    _, ll_without = _per_person(_without(model, "hc1"), df, truth)
    _, ll_full = _per_person(model, df, truth)
    missing = np.isin(problem.panel.person_ids, df.loc[missing_people, "id"].unique())
    expected = 8 if kind == "ordered_probit" else 4
    assert problem.panel.missing_answers["hc1"] == missing.sum() == expected
    np.testing.assert_allclose(ll[missing], ll_without[missing], rtol=1e-12)
    np.testing.assert_allclose(ll[~missing], ll_full[~missing], rtol=1e-12)
    assert np.all(np.abs(ll_full[missing] - ll_without[missing]) > 1e-3)  # item matters


def test_indicator_level_nan_opt_in_and_counts():
    df, model, _ = beverage(n_people=12, n_situations=1, seed=2)
    df.loc[df["id"].isin([2, 3]), "pb2"] = np.nan
    df.loc[df["id"] == 5, "pb2"] = 9
    panel = ij.prepare_data(_replaced(model, "pb2", missing_codes=(9, math.nan)), df)
    assert panel.missing_answers == {"pb2": 3}
    assert list(panel.ordered_levels[[1, 2, 4], 5]) == [-1, -1, -1]  # ids 2, 3, 5
    df.loc[:, "pb2"] = 9
    with pytest.raises(ij.DataError, match="'pb2': every answer is missing"):
        ij.prepare_data(_replaced(model, "pb2", missing_codes=(9,)), df)


@pytest.mark.slow
def test_estimates_with_ten_percent_no_opinion_answers_recover_the_truth():
    df, model, truth = beverage_one_lv(n_people=400, seed=4)
    rng = np.random.default_rng(0)
    people = df["id"].unique()
    for item in ("pi1", "pi2", "pi3"):
        chosen = rng.choice(people, size=len(people) // 10, replace=False)
        df.loc[df["id"].isin(chosen), item] = 6
    model = dataclasses.replace(
        model, indicators=[dataclasses.replace(ind, missing_codes=(6,)) for ind in model.indicators]
    )
    results = ij.estimate(model, df, draws=ij.Halton(100, seed=0), verbose=False)
    assert results.converged
    assert results.missing_answers == {"pi1": 40, "pi2": 40, "pi3": 40}
    assert "missing indicator answers (integrated out): pi1 40" in results.summary()
    z = results.table["estimate"] - np.array([truth[n] for n in results.table.index])
    z /= results.table["robust_se"]
    assert np.all(np.abs(z) < 3), z[np.abs(z) >= 3]
