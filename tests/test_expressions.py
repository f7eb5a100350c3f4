"""Utility expressions on their own: the safe parser, printing, resolution, the split
into linear / LV / rest terms, the functions and derived variables on odd data."""

import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import iclv_jax as ij
from iclv_jax.binding import bind
from iclv_jax.expressions import FUNCTIONS, parse
from iclv_jax.expressions.evaluate import evaluate
from iclv_jax.expressions.linear import split
from iclv_jax.expressions.nodes import (
    Beta,
    Binary,
    Call,
    Compare,
    Latent,
    Logical,
    Name,
    Number,
    Unary,
    Var,
)
from iclv_jax.expressions.resolve import resolve

# -- the parser and the printer -----------------------------------------------------------

_names = st.sampled_from(["a", "b_1", "TimeCar", "x"]).map(Name)
_numbers = st.floats(0.0, 1e6, allow_nan=False).map(Number)


def _grow(children):
    binary = st.builds(Binary, st.sampled_from(["+", "-", "*", "/", "**"]), children, children)
    compare = st.builds(Compare, st.sampled_from(["==", "<", ">="]), children, children)
    logical = st.builds(Logical, st.sampled_from(["and", "or"]), children, children)
    negated = children.map(lambda e: Number(-e.value) if isinstance(e, Number) else Unary("-", e))
    return binary | compare | logical | negated


expressions = st.recursive(_names | _numbers, _grow, max_leaves=12)


@given(expressions)
def test_printing_then_parsing_gives_the_same_tree(expr):
    assert parse(str(expr)) == expr


@pytest.mark.parametrize(
    "text", ["max(a, -b, 3)", "where(x > 1, exp(-a * x), log(x) ** 2)", "boxcox(x, l) / 2"]
)
def test_calls_print_and_parse_back(text):
    # (calls hold a tuple: the run-time type checker samples it with ``random``, which
    # hypothesis forbids inside strategies, so calls are checked on examples here)
    assert parse(str(parse(text))) == parse(text)


def test_python_precedence_is_kept():
    assert parse("-x ** 2") == Unary("-", Binary("**", Name("x"), Number(2.0)))
    assert parse("a - b - c") == Binary("-", Binary("-", Name("a"), Name("b")), Name("c"))
    assert parse("a - (b - c)") == Binary("-", Name("a"), Binary("-", Name("b"), Name("c")))
    assert parse("2 ** 3 ** 2") == Binary("**", Number(2), Binary("**", Number(3), Number(2)))
    assert parse("a & b | c") == Logical("or", Logical("and", Name("a"), Name("b")), Name("c"))


HOSTILE = {
    "attribute access": "x.__class__",
    "unknown function": "system('rm -rf /')",
    "dunder name": "__import__",
    "subscript": "x[0]",
    "lambda": "lambda: 1",
    "comprehension": "[x for x in y]",
    "keyword arguments": "exp(x=1)",
    "starred call": "max(*x)",
    "walrus": "(y := 1)",
    "conditional": "a if b else c",
    "million characters": "a + " * 250_000 + "a",
    "deep brackets": "(" * 5_000 + "a" + ")" * 5_000,
    "deep unary": "-" * 5_000 + "a",
    "long sum": " + ".join(["a"] * 1_000),
    "huge integer": "9" * 400,
    "infinite float": "1e999",
    "chained comparison": "a < b < c",
    "bytes": "b'x'",
    "empty": "   ",
}


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_expressions_are_refused_quickly(text):
    began = time.perf_counter()
    with pytest.raises(ij.SpecificationError):
        parse(text)
    assert time.perf_counter() - began < 1.0  # a guard against denial of service


def test_hostile_expressions_in_a_model_file_are_a_model_file_error(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(
        "latent_variables: [{name: a}]\nindicators: [{name: i1, lv: a, levels: 3}]\n"
        "choice: {kind: binary_probit, choice: y, utility: 'x.__class__'}\n"
    )
    with pytest.raises(ij.ModelFileError, match="attribute is not allowed"):
        ij.load_model(path)


def test_errors_give_the_position():
    with pytest.raises(ij.SpecificationError, match=r"column 9: unknown function 'foo'"):
        parse("b * x + foo(x)")


# -- resolution and the split -------------------------------------------------------------


def test_names_resolve_to_column_then_lv_then_parameter():
    expr = resolve(parse("b * x + t * eta"), {"x"}, {"eta"}, "u")
    assert expr == Beta("b") * Var("x") + Beta("t") * Latent("eta")


def test_a_name_both_column_and_lv_is_refused_naming_both():
    with pytest.raises(ij.SpecificationError, match="'eta' is both a data column and a latent"):
        resolve(parse("b * eta"), {"eta"}, {"eta"}, "u")


def test_operator_form_equals_the_text_form():
    built = ij.Beta("asc") + ij.Beta("beta_time") * ij.Var("TimeCar") / 60
    assert resolve(parse("asc + beta_time * TimeCar / 60"), {"TimeCar"}, (), "u") == built


def test_split_sorts_linear_lv_and_other_terms():
    expr = resolve(
        parse("asc - b * x / 60 + 2 * c * x * y + t * eta + exp(g * eta) * x - b * z"),
        {"x", "y", "z"},
        {"eta"},
        "u",
    )
    parts = split(expr)
    assert parts.linear == {
        "asc": None,
        "b": Binary("+", Unary("-", Var("x")) / Number(60), Unary("-", Var("z"))),
        "c": Number(2) * (Var("x") * Var("y")),
    }
    assert parts.lvs == {"eta": "t"}
    assert parts.rest == Call("exp", (Beta("g") * Latent("eta"),)) * Var("x")


def test_nonlinear_in_parameters_stays_in_the_rest():
    expr = resolve(parse("s * (bw * P + bo * (1 - P)) * d + b * b * x"), {"P", "d", "x"}, (), "u")
    parts = split(expr)
    assert parts.linear == {} and parts.lvs == {}
    assert str(parts.rest) == "s * (bw * P + bo * (1 - P)) * d + b * b * x"


# -- the functions ------------------------------------------------------------------------


def _value(text, **values):
    expr = resolve(parse(text), set(values), (), "u")
    return evaluate(expr, lambda leaf: values[str(leaf)], np)


def test_functions_against_numpy():
    x = np.array([0.5, 1.0, 3.0, 12.0])
    assert np.allclose(_value("segment(x, 1, 10)", x=x), np.clip(x - 1, 0, 9))
    assert np.allclose(_value("min(x, 2, 2.5)", x=x), np.minimum(x, 2))
    assert np.allclose(_value("where(x > 2, log(x), -x)", x=x), np.where(x > 2, np.log(x), -x))
    assert np.allclose(_value("boxcox(x, 0.5)", x=x), (np.sqrt(x) - 1) / 0.5)
    assert np.allclose(_value("boxcox(x, 0)", x=x), np.log(x))
    assert np.allclose(_value("boxcox(x, 1e-9)", x=x), np.log(x), atol=1e-8)
    assert np.allclose(_value("(x > 1) and not (x > 5)", x=x), [0, 0, 1, 0])
    assert set(FUNCTIONS) >= {"exp", "log", "where", "min", "max", "boxcox", "segment"}


def test_piecewise_segments_add_up_to_the_variable():
    x = np.linspace(-5, 50, 23)
    total = _value("segment(x, -100, 0) + segment(x, 0, 10) + segment(x, 10, 1000)", x=x)
    assert np.allclose(total, x + 100)


def test_boxcox_gradient_is_finite_at_zero():
    import jax
    import jax.numpy as jnp

    expr = resolve(parse("boxcox(x, l)"), {"x"}, (), "u")

    def f(lam):
        return evaluate(expr, lambda leaf: {"x": jnp.array(2.0), "l": lam}[str(leaf)], jnp)

    assert np.isfinite(jax.grad(f)(0.0))
    assert jax.grad(f)(0.0) == pytest.approx(np.log(2.0) ** 2 / 2)


# -- derived variables --------------------------------------------------------------------


def _two_person_data(**columns):
    return pd.DataFrame({"id": [1, 1, 2, 2], "y": [0, 1, 1, 0], "i1": [1, 1, 3, 3], **columns})


def _model(utility="b * x + t * eta", variables=None, **kwargs):
    return ij.ICLVModel(
        [ij.LatentVariable("eta", **kwargs)],
        [ij.Indicator("i1", "eta", levels=3)],
        ij.BinaryProbit("y", utility),
        variables=variables or {},
    )


def test_text_and_categorical_columns_compare_with_strings():
    brands = ["Novum", "Artemis", "Novum", "PainAway"]
    for column in (brands, pd.Categorical(brands), pd.array(brands, dtype="string")):
        df = _two_person_data(brand=column)
        bound, data = bind(_model("b * (brand == 'Novum') + t * eta"), df)
        assert data["brand == 'Novum'"].tolist() == [1.0, 0.0, 1.0, 0.0]
        assert bound.choice.utility.terms == {"b": "brand == 'Novum'"}


def test_variables_feed_utilities_and_covariates_with_nullable_and_raw_units():
    df = _two_person_data(
        price=pd.array([1_500_000, 2_500_000, 1_000_000, 3_000_000], dtype="Int64"),
        age=[30, 30, 61, 61],
    )
    model = _model(
        "b * price_m + t * eta",
        variables={"price_m": "price / 1e6", "over_60": "age > 60"},
        covariates=["over_60"],
    )
    _, data = bind(model, df)
    assert data["price_m"].tolist() == [1.5, 2.5, 1.0, 3.0]
    assert data["over_60"].tolist() == [0.0, 0.0, 1.0, 1.0]
    assert ij.Problem(model, df, draws=5).panel.covariates[:, 0].tolist() == [0.0, 1.0]


def test_a_missing_value_in_a_used_text_column_names_column_and_person():
    df = _two_person_data(brand=["Novum", "Artemis", None, "Novum"])
    with pytest.raises(ij.DataError, match=r"column 'brand' is missing \(NaN\) for person 2"):
        bind(_model("b * (brand == 'Novum') + t * eta"), df)


def test_arithmetic_on_text_is_refused():
    df = _two_person_data(brand=["Novum", "Artemis", "Novum", "Novum"])
    with pytest.raises(ij.SpecificationError, match="column 'brand' holds text"):
        bind(_model("b * (brand + 1) + t * eta"), df)
    with pytest.raises(ij.DataError, match=r"column 'brand' \(attribute\) is not numeric"):
        ij.prepare_data(_model("b * brand + t * eta"), df)


def test_a_variable_naming_nothing_is_refused_with_its_position():
    with pytest.raises(ij.SpecificationError, match=r"'prise' \(column 1\) is neither a column"):
        bind(_model(variables={"x": "prise / 1000"}), _two_person_data(price=[1, 2, 3, 4]))


def test_variable_names_must_be_identifiers():
    with pytest.raises(ij.SpecificationError, match="must be an identifier"):
        _model(variables={"price k": "price / 1000"})


def test_a_misspelt_column_is_caught_as_parameters_alone():
    df = _two_person_data(TimeCar=[1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ij.SpecificationError, match="is one a misspelt column"):
        bind(_model("beta_time * TimeCarr + t * eta"), df)


def test_a_missing_explicit_column_suggests_close_names():
    df = _two_person_data(TimeCar=[1.0, 2.0, 3.0, 4.0])
    utility = ij.Beta("b") * ij.Var("TimeCarr") + ij.Beta("t") * ij.Latent("eta")
    with pytest.raises(ij.SpecificationError, match=r"did you mean \['TimeCar'\]"):
        bind(_model(utility), df)


def test_the_asc_check_reads_expression_constants():
    """One alternative with a constant, the other without: identified (a parameter
    times data is no constant, even before the data are seen)."""
    car = ij.Alternative("car", 1, "asc_car + beta_time * TimeCar / 60")
    bus = ij.Alternative("bus", 2, ij.Beta("beta_time") * ij.Var("TimeBus") / 60)
    ij.MultinomialLogit("choice", [car, bus])
    with pytest.raises(ij.SpecificationError, match="an asc for every alternative"):
        ij.MultinomialLogit("choice", [car, ij.Alternative("bus", 2, "asc_bus + b * TimeBus")])


def test_python_keywords_and_backticks_are_names():
    """Apollo's drug-choice model calls its LV coefficient ``lambda``; a name that is
    no identifier is written in backticks."""
    assert parse("lambda * attitude") == Binary("*", Name("lambda"), Name("attitude"))
    expr = parse("`beta x` ** 2 + sqrt(in)")
    assert expr.left.left == Name("beta x") and str(expr) == "`beta x` ** 2 + sqrt(in)"
    with pytest.raises(ij.SpecificationError, match=r"column 5: attribute is not allowed"):
        parse("a + x.__class__")
