"""Models written as utility expressions against the same models written with columns:
the same design, so the same LL, gradient and Hessian (1e-10) and estimates; the
examples run; model files and results keep the expressions."""

import dataclasses
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import iclv_jax as ij
from iclv_jax import cli, datasets
from iclv_jax.binding import bind

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _derivatives(problem, params):
    """``(LL, gradient, Hessian)`` by parameter name at reported ``params``."""
    u = problem.free_internal(params)
    ll, grad = problem.likelihood.loglike_and_grad(u)
    names = list(problem.space.free_names)
    hessian = pd.DataFrame(np.asarray(problem.likelihood.hessian(u)), names, names)
    return float(ll), pd.Series(np.asarray(grad), names), hessian


def _assert_same_likelihood(column_problem, expression_problem, params, rename=None):
    """LL, gradient and Hessian of the two problems agree to 1e-10 (relative), the
    expression form's parameters named as ``rename`` maps the column form's."""
    rename = rename or {}
    ll_a, grad_a, hess_a = _derivatives(column_problem, params)
    renamed = {rename.get(k, k): v for k, v in params.items()}
    ll_b, grad_b, hess_b = _derivatives(expression_problem, renamed)
    order = [rename.get(n, n) for n in grad_a.index]
    assert sorted(order) == sorted(grad_b.index)
    assert ll_b == pytest.approx(ll_a, rel=1e-12)
    scale = np.abs(grad_a.to_numpy()).max()
    np.testing.assert_allclose(grad_b[order].to_numpy(), grad_a.to_numpy(), atol=1e-10 * scale)
    h_a, h_b = hess_a.to_numpy(), hess_b.loc[order, order].to_numpy()
    np.testing.assert_allclose(h_b, h_a, atol=1e-10 * np.abs(h_a).max())


def test_beverage_model_file_equals_the_column_form():
    df, model, truth = datasets.beverage(n_people=120, seed=3)
    expression_model = ij.load_model(EXAMPLES / "beverage.yaml")
    assert isinstance(expression_model.choice.utility, ij.Expression)
    _assert_same_likelihood(ij.Problem(model, df, 20), ij.Problem(expression_model, df, 20), truth)


DRUG_NAMES = {
    f"beta_{attribute}_{label}": f"b_{label}"
    for attribute, levels in datasets.DRUG_DUMMIES.items()
    for label in levels
} | {"beta_risk": "b_risk", "beta_price": "b_price", "lambda": "lambda"}


@pytest.fixture(scope="module")
def raw_drug():
    return pd.read_csv(datasets.drug_choice_path())


def test_drug_choice_on_the_raw_csv_equals_the_dummy_coded_form(raw_drug):
    df, model, start = datasets.drug_choice()
    expression_model = ij.load_model(EXAMPLES / "drug_choice.yaml")
    params = start | {name: 0.1 * k for k, name in enumerate(DRUG_NAMES)}
    _assert_same_likelihood(
        ij.Problem(model, df, ij.ApolloHalton(5)),
        ij.Problem(expression_model, raw_drug, ij.ApolloHalton(5)),
        params,
        DRUG_NAMES,
    )


def test_drug_choice_example_reproduces_the_reference_from_the_cli(tmp_path, capsys):
    """README of ../shared/data: LL -16545.03 at R = 100 (Apollo's Halton draws)."""
    status = cli.main(
        [
            "estimate",
            str(EXAMPLES / "drug_choice.yaml"),
            str(datasets.drug_choice_path()),
            "--draw-type",
            "apollo-halton",
            "--draws",
            "100",
            "--out",
            str(tmp_path),
        ]
    )
    assert status == 0
    results = ij.load_results(tmp_path / "results.json")
    assert results.converged
    assert results.loglike == pytest.approx(-16545.03, abs=0.05)
    assert results.n_params == 37
    assert results.estimates["b_price"] == pytest.approx(-0.724, abs=0.01)
    assert results.table.loc["b_price", "se"] == pytest.approx(0.018, abs=0.002)
    assert results.estimates["lambda"] == pytest.approx(0.638, abs=0.02)
    assert "-16545.03" in results.summary()
    assert ij.model_to_dict(results.model) == ij.model_to_dict(
        ij.load_model(EXAMPLES / "drug_choice.yaml")
    )
    assert len((EXAMPLES / "drug_choice.yaml").read_text().splitlines()) <= 40


def test_beverage_example_script_recovers_the_truth(capsys):
    sys.path.insert(0, str(EXAMPLES))
    try:
        import beverage as example
    finally:
        sys.path.remove(str(EXAMPLES))
    results, truth = example.main(people=150, draws=30, seed=1)
    assert results.converged
    z = (results.estimates["beta_price"] - truth["beta_price"]) / results.table.loc[
        "beta_price", "robust_se"
    ]
    assert abs(z) < 4
    assert "beta_price" in capsys.readouterr().out


# -- an MNL with availability, asc=True, shared and specific terms, two LVs -------------


def _mnl_data(n_people=150, n_situations=4, seed=0):
    rng = np.random.default_rng(seed)
    n = n_people * n_situations
    df = pd.DataFrame(
        {
            "person": np.repeat(np.arange(n_people), n_situations),
            "t_car": rng.uniform(10, 60, n),
            "c_car": rng.uniform(1, 9, n),
            "t_bus": rng.uniform(15, 90, n),
            "c_bus": rng.uniform(1, 4, n),
            "peak": rng.integers(0, 2, n),
            "bus_av": rng.random(n) < 0.8,
            "i1": np.repeat(rng.integers(1, 5, n_people), n_situations),
            "i2": np.repeat(rng.integers(1, 8, n_people), n_situations),
        }
    )
    df["y"] = np.where(df["bus_av"], rng.integers(1, 4, n), rng.choice([1, 3], n))
    return df


def _mnl_models():
    column_model = next(
        m
        for m in _example_models()
        if isinstance(m.choice, ij.MultinomialLogit) and m.choice.alternatives[0].name == "car"
    )
    alternatives = [
        ij.Alternative(
            "car",
            1,
            "beta_time_car * t_car + beta_cost * c_car + theta_a_car * a + theta_b_car * b",
        ),
        ij.Alternative(
            "bus",
            2,
            ij.Beta("beta_time") * ij.Var("t_bus")
            + ij.Beta("beta_cost") * ij.Var("c_bus")
            + ij.Beta("asc_peak") * ij.Var("peak")
            + ij.Beta("theta_shared") * ij.Latent("a"),
            asc=True,
            available="bus_av",
        ),
        ij.Alternative("walk", 3, "theta_shared * a", asc=True),
    ]
    choice = ij.MultinomialLogit("y", alternatives)
    return column_model, dataclasses.replace(column_model, choice=choice, person_id="person")


def _example_models():
    sys.path.insert(0, str(Path(__file__).parent))
    from helpers import example_models

    return example_models()


def test_mnl_with_availability_expression_equals_columns_and_estimates_agree():
    df = _mnl_data()
    column_model, expression_model = _mnl_models()
    column_model = dataclasses.replace(column_model, person_id="person")
    a, b = ij.Problem(column_model, df, 15), ij.Problem(expression_model, df, 15)
    params = a.reported(a.free_internal(None)) | {
        name: 0.01 * (k % 7 - 3)
        for k, name in enumerate(a.space.free_names)
        if name.startswith(("beta", "theta", "asc"))
    }
    _assert_same_likelihood(a, b, params)


def _beverage_logit(n_people, seed=0):
    """The beverage study's MNL (data from its truth), ``sugar_free`` unavailable in
    about a fifth of the situations where it was not chosen; column and expression
    forms."""
    df, model, truth = datasets.beverage(n_people=n_people, seed=seed, choice="logit")
    rng = np.random.default_rng(seed)
    df["av_sugar_free"] = ((df["choice"] == 2) | (rng.random(len(df)) < 0.8)).astype(int)
    column = dataclasses.replace(
        model,
        choice=dataclasses.replace(
            model.choice,
            alternatives=[
                dataclasses.replace(alt, available="av_sugar_free")
                if alt.name == "sugar_free"
                else alt
                for alt in model.choice.alternatives
            ],
        ),
    )
    alternatives = [
        ij.Alternative(
            product,
            code,
            f"beta_price * price_{product} + beta_health_label * health_label_{product}"
            f" + theta_purchase_intention_{product} * purchase_intention",
            asc=True,
            available="av_sugar_free" if product == "sugar_free" else None,
        )
        for code, product in ((1, "sugar"), (2, "sugar_free"))
    ] + [ij.Alternative("none", 3)]
    expression = dataclasses.replace(model, choice=ij.MultinomialLogit("choice", alternatives))
    return df, column, expression


def test_mnl_estimates_equal_between_expression_and_column_forms():
    df, column_model, expression_model = _beverage_logit(n_people=150)
    fit_a = ij.estimate(column_model, df, draws=20, verbose=False)
    fit_b = ij.estimate(expression_model, df, draws=20, verbose=False)
    assert fit_a.converged and fit_b.converged
    assert fit_b.loglike == pytest.approx(fit_a.loglike, abs=1e-8)
    names = list(fit_a.estimates)
    np.testing.assert_allclose(
        [fit_b.estimates[n] for n in names], [fit_a.estimates[n] for n in names], atol=1e-5
    )
    by_label = ij.elasticities(fit_a, column_model, df, "price", draws=20)
    by_column = ij.elasticities(fit_b, expression_model, df, "price_sugar", draws=20)
    np.testing.assert_allclose(by_column.loc["sugar"], by_label.loc["sugar"], rtol=1e-6)


# -- terms that are not linear in parameters ---------------------------------------------


def test_nonlinear_terms_match_the_same_custom_function():
    """``exp(b_att * a) * cost`` and ``s * (bw * peak + bo * (1 - peak)) * t_car``
    (evaluated draw by draw) against the same terms written as ``ij.Custom``."""
    df = _mnl_data(n_people=60)
    model = ij.ICLVModel(
        [ij.LatentVariable("a")],
        [ij.Indicator("i1", "a", levels=4)],
        ij.BinaryProbit(
            "buy",
            "asc + exp(b_att * a) * c_car + s * (bw * peak + bo * (1 - peak)) * t_car / 60",
        ),
        person_id="person",
    )

    def custom(p, x, lv):
        slope = p["bw"] * x["peak"] + p["bo"] * (1 - x["peak"])
        return jnp.exp(p["b_att"] * lv["a"]) * x["c_car"] + p["s"] * slope * x["t_car"] / 60

    reference = dataclasses.replace(
        model,
        choice=ij.BinaryProbit(
            "buy",
            ij.Utility(
                constants={"": None},
                extra=ij.Custom(
                    custom, ["b_att", "s", "bw", "bo"], ["c_car", "peak", "t_car"], ["a"]
                ),
            ),
        ),
    )
    df["buy"] = (df["y"] == 1).astype(int)
    params = {"asc": 0.2, "b_att": -0.3, "s": 0.8, "bw": -0.5, "bo": -0.2, "lambda_i1": 1.0}
    a = ij.Problem(reference, df, 12)
    b = ij.Problem(model, df, 12)
    reference_params = {"asc_" if k == "asc" else k: v for k, v in params.items()}
    ll_a, grad_a = a.likelihood.loglike_and_grad(a.free_internal(reference_params))
    names = {"asc_": "asc"}
    ll_b, grad_b = b.likelihood.loglike_and_grad(b.free_internal(params))
    assert float(ll_b) == pytest.approx(float(ll_a), rel=1e-12)
    order = [list(b.space.free_names).index(names.get(n, n)) for n in a.space.free_names]
    np.testing.assert_allclose(np.asarray(grad_b)[order], np.asarray(grad_a), rtol=1e-10)
    check = ij.check_gradients(model, df, params, draws=12, gradient="analytic")
    assert check.ok and "not available" in check.implementation


# -- model files and results keep expressions and variables ------------------------------


@pytest.mark.parametrize("suffix", [".yaml", ".toml"])
def test_expressions_and_variables_round_trip_through_model_files(tmp_path, suffix):
    """Text expressions come back identical; an operator-form one (explicit ij.Beta,
    ij.Var, ij.Latent) is written as its text, read back as names, and binds to the
    same model on the data."""
    _, model = _mnl_models()
    model = dataclasses.replace(
        model, variables={"t_car_h": "t_car / 60", "cheap": "(c_bus < 2) and (peak == 0)"}
    )
    path = tmp_path / f"m{suffix}"
    ij.save_model(model, path)
    loaded = ij.load_model(path)
    text_form = [0, 2]
    for k in text_form:
        assert loaded.choice.alternatives[k] == model.choice.alternatives[k]
    assert loaded.variables == model.variables
    df = _mnl_data(n_people=5)
    assert bind(loaded, df)[0] == bind(model, df)[0]
    ij.save_model(loaded, path)
    assert ij.load_model(path) == loaded


def test_results_save_and_load_keep_the_expression_model(tmp_path):
    df, _, model = _beverage_logit(n_people=80, seed=1)
    results = ij.estimate(model, df, draws=10, verbose=False)
    results.save(tmp_path / "r.json")
    loaded = ij.load_results(tmp_path / "r.json")
    assert loaded.model == model
    assert ij.Problem(loaded.model, df, 10).loglike(loaded.estimates) == pytest.approx(
        results.loglike, abs=1e-8
    )


def test_analytic_scores_cover_all_but_the_parameters_of_data_only_rest_terms():
    """``s * (bw * peak + bo * (1 - peak)) * t_car`` is no LV's: the hand-written scores
    cover every other parameter (LV, structural, measurement, linear) and say which
    they do not; a rest term of an LV leaves them all to autodiff vs finite
    differences; estimation with the analytic gradient is refused."""
    df = _mnl_data(n_people=50, seed=4)
    df["buy"] = (df["y"] == 1).astype(int)
    model = ij.ICLVModel(
        [ij.LatentVariable("a")],
        [ij.Indicator("i1", "a", levels=4), ij.Indicator("i2", "a", levels=7)],
        ij.BinaryProbit(
            "buy", "c + b * c_car + s * (bw * peak + bo * (1 - peak)) * t_car / 60 + t * a"
        ),
        person_id="person",
    )
    params = {"c": 0.1, "b": -0.2, "s": 0.7, "bw": -0.4, "bo": -0.3, "t": 0.5}
    check = ij.check_gradients(model, df, params, draws=8, gradient="analytic")
    assert check.ok
    assert check.not_covered == ["s", "bw", "bo"]
    covered = check.table.drop(index=check.not_covered)
    assert covered["rel_analytic"].max() < 1e-8 and len(covered) > 10
    assert "not covered by analytic" in str(check)
    with pytest.raises(NotImplementedError, match="do not cover custom utility terms"):
        ij.estimate(model, df, draws=8, gradient="analytic", verbose=False)
    with_lv = dataclasses.replace(model, choice=ij.BinaryProbit("buy", "c + exp(s * a) * c_car"))
    check = ij.check_gradients(with_lv, df, {"c": 0.1, "s": 0.2}, draws=8, gradient="analytic")
    assert check.ok and set(check.not_covered) == set(check.table.index)


def test_the_parameter_table_of_an_expression_model_names_what_estimate_fits():
    df, _, model = _beverage_logit(n_people=40, seed=2)
    table = ij.parameters(model, df)
    assert list(table.index) == list(ij.Problem(model, df, 5).space.names)
    assert {"beta_price", "asc_sugar", "theta_purchase_intention_sugar"} <= set(table.index)
    with pytest.raises(ValueError, match="bound to the data"):
        from iclv_jax.layout import build_layout

        build_layout(model, ij.prepare_data(model, df))
