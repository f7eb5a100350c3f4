"""Spec and results files (JSON), draws as data and from their repr, tables as
CSV/LaTeX/Markdown."""

import dataclasses
import io
import json
import math
from pathlib import Path

import jax
import numpy as np
import pandas as pd
import pytest
from helpers import example_models, fake_results

import iclv_jax as ij
from iclv_jax import datasets
from iclv_jax.persistence import draws_from_dict, draws_to_dict, table_to_latex, table_to_markdown
from iclv_jax.resultsfile import FORMAT

#: a results file written by the version before ``Results.draws`` became data (format
#: iclv_jax-results-1: ``"results"`` holds the draws' repr): ``fitted_small``, saved
OLD_FILE = Path(__file__).parent / "data" / "results-format-1.json"


@pytest.mark.parametrize("model", list(example_models()))
def test_model_round_trip_is_equal(model):
    data = ij.model_to_dict(model)
    text = json.dumps(data)  # plain JSON
    again = ij.model_from_dict(json.loads(text))
    assert again == model
    assert ij.model_to_dict(again) == data


def test_model_from_dict_names_bad_keys():
    data = ij.model_to_dict(datasets.drug_choice_model())
    data["choice"]["alternatives"][0]["utilty"] = {}
    with pytest.raises(ij.SpecificationError, match="alternative 0.*utilty"):
        ij.model_from_dict(data)
    with pytest.raises(ij.SpecificationError, match="unknown kind"):
        ij.model_from_dict({**data, "choice": {"kind": "tobit"}})
    with pytest.raises(ij.SpecificationError, match="missing keys"):
        ij.model_from_dict({"indicators": []})


@pytest.mark.parametrize(
    "draws",
    [
        ij.Halton(20, seed=3),
        ij.Halton(5, scramble=False, burn_in=7),
        ij.ApolloHalton(4),
        ij.MLHS(9, seed=2),
        ij.Sobol(8, seed=1),
        ij.PseudoRandom(3, seed=5),
        ij.Quadrature(5).for_dims(2),
        ij.AdaptiveQuadrature(4, newton_steps=7).for_dims(1),
    ],
)
def test_draws_are_recreated_from_their_repr(draws):
    assert ij.draws_from_repr(repr(draws)) == draws
    assert draws_from_dict(json.loads(json.dumps(draws_to_dict(draws)))) == draws


@pytest.mark.parametrize(
    "text",
    [
        "Halton(n_draws=__import__('os'))",
        "os.system('x')",
        "Halton(10)",
        "Unknown(n_draws=3)",
        "Halton(n_draws=-1)",
    ],
)
def test_draws_from_repr_refuses_anything_else(text):
    with pytest.raises(ValueError, match="draws="):
        ij.draws_from_repr(text)


def _strict_json(path):
    def refuse(name):
        raise AssertionError(f"non-standard JSON constant {name}")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_save_load_round_trip_is_exact(tmp_path):
    cov = np.array([[0.04, 0.01], [0.01, 0.09]])
    original = fake_results({"beta_x": 0.1 + 0.2, "sigma_y": np.nextafter(1.0, 2.0)}, cov)
    history = pd.DataFrame(
        {
            "iteration": [1, 2],
            "stage": pd.Series(["a", "b"], dtype="str"),
            "loglike": [-10.5, math.nan],
            "step_norm": [math.inf, 1e-300],
        }
    )
    model = datasets.beverage(n_people=2, n_situations=1)[1]
    original = dataclasses.replace(
        original,
        history=history,
        loglike_null_choice=-math.inf,
        relative_gradient=math.nan,
        scales={"beta_x": 3.0, "sigma_y": 1e-17},
        stage_iterations={"measurement": 4},
        model=model,
    )
    path = original.save(tmp_path / "results.json")
    payload = _strict_json(path)
    assert payload["versions"]["jax"] == jax.__version__
    assert payload["versions"]["iclv_jax"] == ij.__version__
    assert payload["draws"]["class"] == "Halton"
    assert payload["draws"]["fields"] == {
        "n_draws": 10,
        "seed": 0,
        "scramble": True,
        "burn_in": None,
    }
    loaded = ij.load_results(path)
    assert loaded == original
    assert loaded.table.equals(original.table)
    assert loaded.history.dtypes.equals(original.history.dtypes)
    assert loaded.model == model
    assert loaded != dataclasses.replace(original, loglike=original.loglike + 1e-12)
    # without a model: "model": null, and the field stays None
    bare = dataclasses.replace(original, model=None, history=pd.DataFrame())
    assert ij.load_results(bare.save(tmp_path / "bare.json")) == bare
    (tmp_path / "other.json").write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="not an iclv_jax results file"):
        ij.load_results(tmp_path / "other.json")


def test_estimated_results_round_trip_and_reproduce(tmp_path, fitted_small):
    """Real results: save with the model, load, and the loaded spec, estimates and draws
    (recreated from the file alone) give the same LL and the same predictions."""
    results, model, df = fitted_small
    path = results.save(tmp_path / "fit.json", model=model)
    loaded = ij.load_results(path)
    assert loaded == dataclasses.replace(results, model=model)
    assert loaded.table.equals(results.table)
    assert loaded.covariance.equals(results.covariance)
    draws = ij.draws_from_dict(loaded.draws)
    assert ij.Problem(loaded.model, df, draws).loglike(loaded.estimates) == pytest.approx(
        results.loglike, rel=1e-12, abs=0
    )
    head = df[df["id"] <= 20]
    np.testing.assert_array_equal(
        ij.predict(loaded, None, head), ij.predict(results, model, head, draws)
    )


@pytest.mark.parametrize(
    "draws",
    [
        ij.Halton(7, seed=3),
        ij.ApolloHalton(4),
        ij.MLHS(9, seed=2),
        ij.Sobol(8, seed=1),
        ij.PseudoRandom(3, seed=5),
        ij.Quadrature(5).for_dims(2),
        ij.AdaptiveQuadrature(4, newton_steps=7).for_dims(1),
    ],
)
def test_results_draws_are_data_that_survive_the_file(tmp_path, draws):
    """``Results.draws`` is the plain record of the draws; results -> file -> results
    keeps it, and the draws rebuilt from it give bit-identical arrays."""
    results = dataclasses.replace(
        fake_results({"beta_x": 0.5}, [[0.01]]), draws=draws_to_dict(draws)
    )
    assert json.loads(json.dumps(results.draws)) == results.draws  # plain JSON values
    assert f"draws                            {draws!r}" in results.summary()
    path = results.save(tmp_path / "results.json")
    payload = _strict_json(path)
    assert payload["format"] == FORMAT and payload["draws"] == results.draws
    assert "draws" not in payload["results"]  # stored once
    loaded = ij.load_results(path)
    assert loaded == results and loaded.draws == results.draws
    again = draws_from_dict(loaded.draws)
    assert again == draws
    dims = getattr(draws, "n_dims", None) or 2  # a quadrature rule knows its own
    np.testing.assert_array_equal(again.normals(6, dims), draws.normals(6, dims))


def test_saving_with_other_draws_is_refused(tmp_path):
    results = fake_results({"beta_x": 0.5}, [[0.01]])
    with pytest.raises(ValueError, match="not the draws of these results"):
        results.save(tmp_path / "r.json", draws=ij.Halton(11, seed=0))
    same = ij.load_results(results.save(tmp_path / "r.json", draws=ij.Halton(10, seed=0)))
    assert same.draws == results.draws


def test_an_old_format_file_still_loads_and_reproduces(tmp_path, fitted_small):
    """A file of the previous format (draws as a repr in ``"results"``) loads with its
    draws as data, and post-estimation rebuilds those draws from the file alone."""
    _, model, df = fitted_small
    payload = json.loads(OLD_FILE.read_text())
    assert payload["format"] == "iclv_jax-results-1"
    assert isinstance(payload["results"]["draws"], str)
    loaded = ij.load_results(OLD_FILE)
    assert loaded.draws == draws_to_dict(ij.Halton(10, seed=1))
    assert loaded.model == model
    draws = draws_from_dict(loaded.draws)
    assert ij.Problem(model, df, draws).loglike(loaded.estimates) == pytest.approx(
        loaded.loglike, rel=1e-10, abs=0
    )
    head = df[df["id"] <= 5]
    np.testing.assert_array_equal(
        ij.predict(loaded, None, head), ij.predict(loaded, None, head, ij.Halton(10, seed=1))
    )
    resaved = ij.load_results(loaded.save(tmp_path / "new.json"))  # in the new format
    assert resaved == loaded and _strict_json(tmp_path / "new.json")["format"] == FORMAT


def test_old_draws_that_cannot_be_rebuilt_keep_their_repr(tmp_path, fitted_small):
    """An old file whose draws record has only the repr (class and fields null) loads;
    post-estimation then asks for the draws."""
    _, _, df = fitted_small
    payload = json.loads(OLD_FILE.read_text())
    payload["draws"] = {"repr": "MyDraws(n_draws=10)", "class": None, "fields": None}
    payload["results"]["draws"] = "MyDraws(n_draws=10)"
    path = tmp_path / "old.json"
    path.write_text(json.dumps(payload))
    loaded = ij.load_results(path)
    assert loaded.draws == payload["draws"]
    assert "MyDraws(n_draws=10)" in loaded.summary()
    head = df[df["id"] <= 5]
    with pytest.raises(ValueError, match="pass draws= explicitly"):
        ij.predict(loaded, None, head)
    np.testing.assert_array_equal(
        ij.predict(loaded, None, head, ij.Halton(10, seed=1)),
        ij.predict(ij.load_results(OLD_FILE), None, head),
    )


@pytest.mark.parametrize(
    "record",
    [
        None,
        "Halton(n_draws=10, seed=0, scramble=True, burn_in=None)",
        {"repr": 3, "class": "Halton", "fields": {}},
        {"repr": "Halton(n_draws=3)", "class": "Halton", "fields": None},
        {"repr": "Halton(n_draws=3)", "class": "Halton", "fields": {"n_draws": 3}, "extra": 1},
    ],
)
def test_a_malformed_draws_record_is_refused(tmp_path, record):
    payload = json.loads(OLD_FILE.read_text())
    payload["draws"] = record
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(payload))
    with pytest.raises(ValueError, match="bad.json.*draws record"):
        ij.load_results(path)


def test_tables_as_csv_markdown_and_latex(tmp_path):
    results = fake_results({"beta_price": -0.0004123456, "theta_a_b": 1.5}, np.diag([1e-8, 0.25]))
    text = results.to_csv()
    back = pd.read_csv(io.StringIO(text), index_col=0)
    pd.testing.assert_frame_equal(back, results.table)
    results.to_csv(tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text() == text

    markdown = results.to_markdown(tmp_path / "t.md")
    assert (tmp_path / "t.md").read_text() == markdown
    lines = markdown.splitlines()
    assert len(lines) == 2 + len(results.table)
    assert [c.strip() for c in lines[0].strip("|").split("|")] == [
        "parameter",
        *results.table.columns,
    ]
    assert set(lines[1]) <= set("|-: ")
    assert "-0.00041235" in lines[2] and lines[2].startswith("| beta_price")
    assert len({len(line) for line in lines}) == 1  # aligned columns

    latex = results.to_latex(float_format=".3f")
    assert r"\toprule" in latex and r"\bottomrule" in latex
    assert r"beta\_price & -0.000 & 0.000" in latex
    assert latex.count(r"\\") == 1 + len(results.table)
    wrapped = table_to_latex(results.table, caption="WTP & more", label="tab:x")
    assert r"\caption{WTP \& more}" in wrapped and r"\label{tab:x}" in wrapped
    nan_table = pd.DataFrame({"v": [1.0, math.nan]}, index=pd.Index(["a|b", "c"], name="p"))
    assert "a\\|b" in table_to_markdown(nan_table)
    assert table_to_markdown(nan_table).splitlines()[3].rstrip().endswith("|")
