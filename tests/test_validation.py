"""Validation of data and specifications: the right error, naming the culprit.

Data errors are :class:`iclv_jax.DataError` (a ``ValueError``) whose message names the
column and the first offending person; specification errors are
:class:`iclv_jax.SpecificationError` (also a ``ValueError``) naming what is wrong.
Unsorted person ids are sorted, not rejected.
"""

import dataclasses
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from helpers import refused, stopped_short

import iclv_jax as ij
from iclv_jax.checkpoint import fingerprint
from iclv_jax.data import LARGEST_VALUE
from iclv_jax.datasets import beverage

# --- helpers -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def probit():
    """20 people x 3 situations of the beverage study, binary probit choice ``buy``."""
    df, model, truth = beverage(n_people=20, n_situations=3, seed=3)
    return df, model, truth


@pytest.fixture(scope="module")
def ordered():
    df, model, truth = beverage(n_people=20, n_situations=3, seed=4, choice="ordered")
    return df, model, truth


def mnl_data(n_people=6, n_situations=2, seed=0):
    """A hand-made MNL: alternative ``one`` always available, ``two`` available per
    ``av2``; one LV ``a`` with covariate ``c`` and a 3-level indicator ``ind``."""
    rng = np.random.default_rng(seed)
    rows = n_people * n_situations
    df = pd.DataFrame(
        {
            "pid": np.repeat(np.arange(1, n_people + 1), n_situations),
            "x1": rng.normal(size=rows),
            "x2": rng.normal(size=rows),
            "av2": np.ones(rows, dtype=np.int64),
            "y": rng.integers(1, 3, size=rows),
            "ind": np.repeat(rng.integers(1, 4, size=n_people), n_situations),
            "c": np.repeat(rng.normal(size=n_people), n_situations),
        }
    )
    model = ij.ICLVModel(
        [ij.LatentVariable("a", covariates=["c"])],
        [ij.Indicator("ind", "a", levels=3)],
        choice=ij.MultinomialLogit(
            "y",
            [
                ij.Alternative("one", 1, ij.Utility(attributes={"x": "x1"}, lvs=["a"])),
                ij.Alternative(
                    "two", 2, ij.Utility(attributes={"x": "x2"}), asc=True, available="av2"
                ),
            ],
        ),
        person_id="pid",
    )
    return df, model


def names_person(message: str, person) -> bool:
    """``message`` names ``person`` after the word "person" (tolerating a numpy repr
    such as ``np.int64(7)``)."""
    pattern = rf"person\s+(?:np\.\w+\()?'?{re.escape(str(person))}'?(?![\d.])"
    return re.search(pattern, message) is not None


def check_data_error(model, df, column, person=None):
    """``prepare_data`` raises DataError naming ``column`` (quoted) and ``person``."""
    with pytest.raises(ij.DataError) as excinfo:
        ij.prepare_data(model, df)
    assert isinstance(excinfo.value, ValueError)
    message = str(excinfo.value)
    assert f"'{column}'" in message, message
    if person is not None:
        assert names_person(message, person), message
    return message


def with_value(df, column, person, value, id_column="id", rows=None):
    """A copy of ``df`` with ``column`` set to ``value`` on ``person``'s rows (all of
    them, or the ``rows``-th ones of that person)."""
    out = df.copy()
    if isinstance(value, float) and not pd.api.types.is_float_dtype(out[column]):
        out[column] = out[column].astype(float)
    where = np.flatnonzero(out[id_column].to_numpy() == person)
    if rows is not None:
        where = where[rows]
    out.iloc[where, out.columns.get_loc(column)] = value
    return out


# --- missing and non-finite values --------------------------------------------------


def test_data_error_is_a_value_error():
    assert issubclass(ij.DataError, ValueError)
    assert issubclass(ij.SpecificationError, ValueError)


def test_clean_data_pass(probit):
    df, model, _ = probit
    panel = ij.prepare_data(model, df)
    assert panel.n_people == 20 and panel.n_situations == 60


@pytest.mark.parametrize(
    ("column", "person", "value", "rows"),
    [
        ("price", 7, np.nan, [1]),  # attribute, one situation
        ("hc3", 11, np.nan, None),  # indicator, every row of the person
        ("age", 9, np.inf, None),  # covariate
        ("age", 4, -np.inf, None),
        ("buy", 15, np.nan, [2]),  # choice
        ("sugar", 2, np.nan, [0]),  # constant dummy
    ],
)
def test_non_finite_value_names_column_and_person(probit, column, person, value, rows):
    df, model, _ = probit
    message = check_data_error(
        model, with_value(df, column, person, value, rows=rows), column, person
    )
    assert "missing" in message or "finite" in message


def test_non_finite_value_names_the_first_offending_person(probit):
    df, model, _ = probit
    bad = with_value(with_value(df, "price", 5, np.nan, rows=[2]), "price", 12, np.inf)
    message = check_data_error(model, bad, "price", 5)
    assert not names_person(message, 12)


def test_pandas_na_in_a_nullable_column(probit):
    df, model, _ = probit
    bad = df.astype({"female": "Int64"})
    bad.loc[bad["id"] == 8, "female"] = pd.NA
    check_data_error(model, bad, "female", 8)


def test_unused_column_with_nan_is_ignored(probit):
    df, model, _ = probit
    ij.prepare_data(model, df.assign(situation=np.nan, notes="free text"))


# --- levels and choice codes ---------------------------------------------------------


@pytest.mark.parametrize("value", [0, 6, 2.5, -1])
def test_indicator_level_outside_1_to_5(probit, value):
    df, model, _ = probit
    message = check_data_error(model, with_value(df, "pb2", 13, value), "pb2", 13)
    assert "1..5" in message
    assert re.search(rf"(?<![\d.]){re.escape(str(value))}", message), message


def test_indicator_level_names_the_first_offending_person(probit):
    df, model, _ = probit
    bad = with_value(with_value(df, "hc1", 6, 9), "hc1", 17, 0)
    check_data_error(model, bad, "hc1", 6)


def test_binary_choice_value_2(probit):
    df, model, _ = probit
    message = check_data_error(model, with_value(df, "buy", 10, 2, rows=[1]), "buy", 10)
    assert "0 or 1" in message


@pytest.mark.parametrize("value", [6, 0])
def test_ordered_choice_outside_levels(ordered, value):
    df, model, _ = ordered
    bad = with_value(df, "likelihood", 14, value, rows=[2])
    message = check_data_error(model, bad, "likelihood", 14)
    assert "1..5" in message


def test_mnl_data_is_valid():
    df, model = mnl_data()
    panel = ij.prepare_data(model, df)
    assert panel.available.all()
    assert panel.linear_names == ("beta_x", "asc_two")


def test_mnl_chosen_alternative_unavailable():
    df, model = mnl_data()
    bad = with_value(df, "av2", 4, 0, id_column="pid", rows=[1])
    bad = with_value(bad, "y", 4, 2, id_column="pid", rows=[1])
    message = check_data_error(model, bad, "two", 4)
    assert "unavailable" in message and "av2" in message


def test_mnl_unchosen_unavailable_alternative_is_fine():
    df, model = mnl_data()
    bad = with_value(df, "av2", 4, 0, id_column="pid", rows=[1])
    bad = with_value(bad, "y", 4, 1, id_column="pid", rows=[1])
    panel = ij.prepare_data(model, bad)
    assert panel.available.sum() == panel.available.size - 1
    assert not panel.available[3, 1, 1]


def test_mnl_situation_with_no_available_alternative():
    """Alternative ``one`` made unavailable too (``av1``), beside ``av2 = 0``."""
    df, model = mnl_data()
    alternatives = [
        dataclasses.replace(model.choice.alternatives[0], available="av1"),
        model.choice.alternatives[1],
    ]
    model = dataclasses.replace(
        model, choice=dataclasses.replace(model.choice, alternatives=alternatives)
    )
    bad = with_value(df.assign(av1=1), "av2", 4, 0, id_column="pid", rows=[1])
    bad = with_value(bad, "av1", 4, 0, id_column="pid", rows=[1])
    message = check_data_error(model, bad, "av1", 4)
    assert "no available alternative" in message and "'av2'" in message


def test_mnl_choice_code_not_an_alternative():
    df, model = mnl_data()
    bad = with_value(df, "y", 5, 3, id_column="pid", rows=[0])
    message = check_data_error(model, bad, "y", 5)
    assert "alternative code" in message


def test_mnl_availability_value_2():
    df, model = mnl_data()
    bad = with_value(df, "av2", 3, 2, id_column="pid", rows=[0])
    message = check_data_error(model, bad, "av2", 3)
    assert "0 or 1" in message


# --- person-level columns ------------------------------------------------------------


def test_covariate_differing_within_a_person(probit):
    df, model, _ = probit
    bad = with_value(df, "age", 6, 0.123, rows=[2])
    message = check_data_error(model, bad, "age", 6)
    assert "person-level" in message


def test_indicator_differing_within_a_person(probit):
    df, model, _ = probit
    level = int(df.loc[df["id"] == 13, "hc2"].iloc[0])
    bad = with_value(df, "hc2", 13, 1 + level % 5, rows=[1])
    check_data_error(model, bad, "hc2", 13)


def test_person_level_check_names_the_first_offending_person(probit):
    df, model, _ = probit
    bad = with_value(df, "female", 16, 1 - int(df.loc[df["id"] == 16, "female"].iloc[0]), rows=[0])
    bad = with_value(bad, "female", 3, 1 - int(df.loc[df["id"] == 3, "female"].iloc[0]), rows=[2])
    check_data_error(model, bad, "female", 3)


def test_attributes_may_vary_within_a_person(probit):
    df, model, _ = probit
    assert df.groupby("id")["price"].nunique().max() > 1
    ij.prepare_data(model, df)


# --- columns -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "use"),
    [
        ("price", "attribute"),
        ("age", "covariate"),
        ("hc2", "indicator"),
        ("buy", "choice"),
        ("sugar_free", "attribute"),
        ("id", "person id"),
    ],
)
def test_missing_column(probit, column, use):
    df, model, _ = probit
    message = check_data_error(model, df.drop(columns=column), column)
    assert use in message and "not in the data" in message


def test_missing_availability_column():
    df, model = mnl_data()
    message = check_data_error(model, df.drop(columns="av2"), "av2")
    assert "availability" in message


def test_several_missing_columns_are_all_listed(probit):
    df, model, _ = probit
    message = check_data_error(model, df.drop(columns=["female", "pi3"]), "female")
    assert "pi3" in message


@pytest.mark.parametrize("column", ["price", "age", "hc4", "buy"])
def test_non_numeric_column(probit, column):
    df, model, _ = probit
    bad = df.assign(**{column: df[column].astype(str)})
    message = check_data_error(model, bad, column)
    assert "numeric" in message


def test_boolean_column_is_numeric_enough(probit):
    df, model, _ = probit
    panel = ij.prepare_data(model, df.assign(female=df["female"].astype(bool)))
    np.testing.assert_array_equal(panel.covariates, ij.prepare_data(model, df).covariates)


def test_duplicated_column_name_is_a_data_error():
    df, model = mnl_data()
    bad = pd.concat([df, df[["x1"]]], axis=1)
    check_data_error(model, bad, "x1")


def test_empty_frame(probit):
    df, model, _ = probit
    with pytest.raises(ij.DataError, match="empty"):
        ij.prepare_data(model, df.iloc[:0])


@pytest.mark.parametrize("data", [None, {"id": [1]}, np.zeros((3, 3))])
def test_not_a_data_frame(probit, data):
    _, model, _ = probit
    with refused(ij.DataError, match="DataFrame") as excinfo:
        ij.prepare_data(model, data)
    if excinfo.type is ij.DataError:  # the library's own message names the type given
        assert type(data).__name__ in str(excinfo.value)


def test_data_errors_are_raised_by_problem(probit):
    df, model, _ = probit
    with pytest.raises(ij.DataError, match="'hc1'"):
        ij.Problem(model, with_value(df, "hc1", 2, 7), draws=5)


def test_messages_show_plain_person_ids_and_values(probit):
    df, model, _ = probit
    with pytest.raises(ij.DataError) as excinfo:
        ij.prepare_data(model, with_value(df, "hc1", 7, 2.5))
    message = str(excinfo.value)
    assert "np." not in message
    assert re.search(r"person 7\b", message) and "2.5" in message


# --- unsorted and ragged panels ------------------------------------------------------


def _panel_equal(a: ij.Panel, b: ij.Panel):
    for f in dataclasses.fields(ij.Panel):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and x.shape == y.shape, f.name
            np.testing.assert_array_equal(x, y, err_msg=f.name)
        else:
            assert x == y, f.name


def _shuffle_people(df, seed):
    order = np.random.default_rng(seed).permutation(df["id"].unique())
    return pd.concat([df[df["id"] == i] for i in order], ignore_index=True)


def _interleave(df):
    """Rows ordered by situation, then by descending id: no person is contiguous."""
    return df.sort_values(["situation", "id"], ascending=[True, False], kind="stable")


@pytest.mark.parametrize(
    "reorder",
    [lambda d: _shuffle_people(d, 1), _interleave],
    ids=["shuffled people", "interleaved rows"],
)
def test_unsorted_ids_are_sorted_not_rejected(probit, reorder):
    df, model, truth = probit
    messy = reorder(df)
    assert not messy["id"].is_monotonic_increasing
    _panel_equal(ij.prepare_data(model, df), ij.prepare_data(model, messy))
    np.testing.assert_array_equal(ij.prepare_data(model, messy).person_ids, np.arange(1, 21))
    draws = ij.Halton(16, seed=2)
    ll = ij.Problem(model, df, draws=draws).loglike(truth)
    ll_messy = ij.Problem(model, messy, draws=draws).loglike(truth)
    assert np.isfinite(ll)
    assert abs(ll - ll_messy) <= 1e-10 * max(1.0, abs(ll))


def test_unsorted_data_error_still_names_an_offending_person(probit):
    df, model, _ = probit
    bad = _shuffle_people(with_value(df, "hc2", 9, 0), 5)
    check_data_error(model, bad, "hc2", 9)


def test_situation_order_within_a_person_is_kept(probit):
    df, model, _ = probit
    panel = ij.prepare_data(model, _shuffle_people(df, 2))
    price = panel.linear_names.index("beta_price")
    expected = df["price"].to_numpy().reshape(20, 3)
    np.testing.assert_array_equal(panel.design[:, :, 0, price], expected)


@dataclass(frozen=True)
class SameDrawsForEveryone(ij.Draws):
    """Every person gets the same R points, so a person's simulated likelihood does not
    depend on their position in the panel."""

    def _raw_uniforms(self, n_people, n_dims):
        points = ij.Halton(self.n_draws, seed=self.seed).uniforms(1, n_dims)
        return np.repeat(points, n_people, axis=0)


@pytest.fixture(scope="module")
def ragged(probit):
    """The probit data with person 5 keeping 2 rows and person 12 keeping 1."""
    df, model, truth = probit
    drop = ((df["id"] == 5) & (df["situation"] == 3)) | ((df["id"] == 12) & (df["situation"] > 1))
    return df[~drop].reset_index(drop=True), model, truth


def test_ragged_panel_mask_counts(ragged):
    df, model, _ = ragged
    panel = ij.prepare_data(model, df)
    counts = df.groupby("id").size().to_numpy()
    assert panel.situation_mask.shape == (20, 3)
    np.testing.assert_array_equal(panel.situation_mask.sum(axis=1), counts)
    assert counts[4] == 2 and counts[11] == 1
    # the mask is a prefix: real situations first, padding after
    np.testing.assert_array_equal(panel.situation_mask, np.arange(3)[None, :] < counts[:, None])
    assert panel.n_situations == len(df)


def test_ragged_panel_person_loglike_equals_the_person_alone(ragged):
    df, model, truth = ragged
    draws = SameDrawsForEveryone(32, seed=1)
    problem = ij.Problem(model, df, draws=draws)
    per_person = np.asarray(problem.likelihood.per_person(problem.free_internal(truth)))
    assert per_person.shape == (20,)
    np.testing.assert_allclose(per_person.sum(), problem.loglike(truth), rtol=1e-12)
    for person in (5, 12, 1):
        alone = ij.Problem(model, df[df["id"] == person], draws=draws)
        np.testing.assert_allclose(per_person[person - 1], alone.loglike(truth), rtol=1e-10)


# --- person ids of any dtype ---------------------------------------------------------


def _shuffled_categories(ids):
    return pd.Categorical(ids, categories=np.random.default_rng(7).permutation(ids.unique()))


def _named(ids):
    """Ids as text whose order is not the numbers' order (``"p10" < "p2"``)."""
    return ids.map("p{}".format)


ID_DTYPES = {
    "int": lambda ids: ids,
    "categorical, categories shuffled": _shuffled_categories,
    "categorical of strings, categories shuffled": lambda ids: _shuffled_categories(_named(ids)),
    "ordered categorical, reversed": lambda ids: pd.Categorical(
        ids, categories=sorted(ids.unique(), reverse=True), ordered=True
    ),
    "nullable Int64": lambda ids: ids.astype("Int64"),
    "string dtype": lambda ids: _named(ids).astype("string"),
    "object str": lambda ids: _named(ids).astype(object),
    "object int": lambda ids: ids.astype(object),
    "float": lambda ids: ids / 4,
}


@pytest.mark.parametrize("as_dtype", ID_DTYPES.values(), ids=ID_DTYPES.keys())
def test_any_id_dtype_gives_the_same_loglike(probit, as_dtype):
    """People shuffled, ids recoded: the panel holds the ids sorted by value and every
    person's indicators and covariates stay with that person's choices (with draws
    that are the same for everyone the LL does not depend on the person order, so it
    must equal the plain-int frame's)."""
    df, model, truth = probit
    messy = _shuffle_people(df, 3)
    messy = messy.assign(id=as_dtype(messy["id"]))
    panel = ij.prepare_data(model, messy)
    values = np.asarray(messy["id"].astype(object))
    assert list(panel.person_ids) == sorted(set(values.tolist()))
    draws = SameDrawsForEveryone(8, seed=1)
    ll = ij.Problem(model, df, draws=draws).loglike(truth)
    assert ij.Problem(model, messy, draws=draws).loglike(truth) == pytest.approx(ll, rel=1e-12)


def _people_shuffled_keeping_the_index(df, id_column, seed):
    order = np.random.default_rng(seed).permutation(df[id_column].unique())
    return pd.concat([df[df[id_column] == i] for i in order])


def test_categorical_ids_give_the_same_short_fit():
    """Categorical ids with shuffled categories (people shuffled) are ordered by value,
    so with the same draws a short fit gives the estimates of the plain-int frame."""
    df, model = mnl_data(n_people=30, n_situations=3)
    messy = _people_shuffled_keeping_the_index(df, "pid", 5)
    messy = messy.assign(pid=_shuffled_categories(messy["pid"]))
    with pytest.warns(UserWarning, match="did not converge"), stopped_short():
        fits = [
            ij.estimate(model, frame, draws=ij.Halton(8, seed=2), max_iterations=3, verbose=False)
            for frame in (df, messy)
        ]
    assert fits[1].estimates == pytest.approx(fits[0].estimates, rel=1e-8, abs=1e-10)


def test_categorical_ids_post_estimation_is_keyed_by_the_ids(probit):
    """Posterior LV means come back indexed by the user's ids (sorted by value) and
    row-wise predictions by the rows, equal to those of the plain-int frame."""
    df, model, truth = probit
    messy = _people_shuffled_keeping_the_index(df, "id", 4)
    messy = messy.assign(id=_shuffled_categories(messy["id"]))
    draws = ij.Halton(8, seed=2)
    posterior = [ij.posterior_lv(truth, model, frame, draws=draws) for frame in (df, messy)]
    assert list(posterior[1].index) == list(range(1, 21))
    pd.testing.assert_frame_equal(posterior[1], posterior[0], rtol=1e-10, check_index_type=False)
    predicted = [
        ij.predict(truth, model, frame, draws=draws, conditional=True) for frame in (df, messy)
    ]
    pd.testing.assert_frame_equal(predicted[1].loc[df.index], predicted[0], rtol=1e-10)


def test_checkpoint_fingerprint_of_string_ids_is_their_text(probit):
    """Equal string ids (distinct objects, as in another process) give one fingerprint,
    other ids another: a run with string ids can be resumed."""
    df, model, _ = probit
    panels = [
        ij.prepare_data(model, df.assign(id=_named(df["id"]).astype(object))) for _ in range(2)
    ]
    other = ij.prepare_data(model, df.assign(id=df["id"].map("q{}".format).astype(object)))
    prints = [fingerprint(["x"], model, panel, "draws", {})["data"] for panel in (*panels, other)]
    assert prints[0] == prints[1] != prints[2]


def test_ids_mixing_numbers_and_strings_are_refused(probit):
    df, model, _ = probit
    mixed = df.assign(id=[i if i % 2 else f"p{i}" for i in df["id"]])
    message = check_data_error(model, mixed, "id")
    assert "int" in message and "str" in message


def test_an_index_level_named_like_the_id_column_is_refused(probit):
    df, model, _ = probit
    message = check_data_error(model, df.set_index("id", drop=False), "id")
    assert "index" in message


def test_an_id_only_in_the_index_is_named_as_such(probit):
    df, model, _ = probit
    message = check_data_error(model, df.set_index("id"), "id")
    assert "index level" in message


# --- values the arithmetic cannot hold -------------------------------------------------


def test_complex_column_is_refused(probit):
    df, model, _ = probit
    message = check_data_error(model, df.assign(price=df["price"] + 0j), "price")
    assert "complex" in message


@pytest.mark.parametrize(("column", "person"), [("age", 6), ("price", 13)])
def test_a_value_beyond_the_bound_names_column_and_person(probit, column, person):
    df, model, _ = probit
    bad = with_value(df, column, person, 1e300)
    message = check_data_error(model, bad, column, person)
    assert "1e+300" in message


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_values_at_the_bound_give_a_finite_loglike_and_gradient(probit, dtype):
    """At |x| = LARGEST_VALUE the float64 LL and gradient at the truth stay finite
    (float32: at the start values); just beyond it the value is refused."""
    df, model, truth = probit
    bound = LARGEST_VALUE[dtype]
    sign = np.where(df["id"].to_numpy() % 2, 1.0, -1.0)
    at_bound = df.assign(
        age=np.where(df["id"] % 5 == 0, sign * bound, df["age"]),
        price=np.where(df["situation"] == 2, sign * bound, df["price"]),
    )
    problem = ij.Problem(model, at_bound, draws=ij.Halton(4, seed=1), dtype=dtype)
    u = problem.free_internal(truth if dtype == "float64" else None)
    ll, grad = problem.likelihood.loglike_and_grad(u)
    assert np.isfinite(float(ll)) and np.isfinite(np.asarray(grad)).all()
    with pytest.raises(ij.DataError, match="'age'"):
        ij.Problem(model, at_bound.assign(age=at_bound["age"] * 1.01), draws=4, dtype=dtype)


def test_raw_prices_in_the_millions_are_accepted(probit):
    df, model, truth = probit
    millions = df.assign(price=df["price"] * 1e6)
    values = {**truth, "beta_price": truth["beta_price"] / 1e6}
    draws = ij.Halton(4, seed=1)
    assert ij.Problem(model, millions, draws=draws, dtype="float32").loglike(
        values
    ) == pytest.approx(ij.Problem(model, df, draws=draws).loglike(truth), rel=1e-5)


@pytest.mark.parametrize(
    "value", [pd.Timestamp("2024-01-01"), pd.Timedelta(days=1)], ids=["datetime", "timedelta"]
)
def test_datetime_columns_are_refused(probit, value):
    df, model, _ = probit
    message = check_data_error(model, df.assign(age=value), "age")
    assert "numeric" in message


def test_nullable_columns_without_missing_values_are_plain_numbers(probit):
    df, model, truth = probit
    nullable = df.astype({"female": "boolean", "age": "Float64", "hc1": "Int64", "buy": "Int8"})
    _panel_equal(ij.prepare_data(model, nullable), ij.prepare_data(model, df))


@pytest.mark.parametrize("dtype", ["boolean", "Float64"])
def test_pandas_na_in_other_nullable_dtypes(probit, dtype):
    df, model, _ = probit
    bad = df.astype({"buy": dtype})
    bad.loc[(bad["id"] == 3) & (bad["situation"] == 2), "buy"] = pd.NA
    check_data_error(model, bad, "buy", 3)


# --- specification errors ------------------------------------------------------------

ONE_LV = [ij.LatentVariable("a")]
ONE_ITEM = [ij.Indicator("i1", "a", levels=3)]


def _spec_error(build, *culprits, wrong_type=False):
    """``build()`` raises a SpecificationError naming every culprit; with ``wrong_type``
    (an argument of the wrong type) the type checks may refuse it first
    (:func:`helpers.refused`), also naming them."""
    expect = refused(ij.SpecificationError) if wrong_type else pytest.raises(ij.SpecificationError)
    with expect as excinfo:
        build()
    message = str(excinfo.value)
    for culprit in culprits:
        assert culprit in message, message
    return message


def _cycle_model():
    """a -> b -> c -> a (b is predicted by a, c by b, a by c)."""
    return ij.ICLVModel(
        [
            ij.LatentVariable("a", predictors=["c"]),
            ij.LatentVariable("b", predictors=["a"]),
            ij.LatentVariable("c", predictors=["b"]),
        ],
        [ij.Indicator(f"i_{x}", x, levels=3) for x in "abc"],
    )


def test_structural_cycle_is_rejected():
    message = _spec_error(_cycle_model, "cycle", "a", "b", "c")
    assert " -> " in message


def test_structural_cycle_message_shows_the_cycle():
    message = _spec_error(_cycle_model)
    rotations = ("a -> b -> c -> a", "b -> c -> a -> b", "c -> a -> b -> c")
    assert any(r in message for r in rotations), message
    assert not re.search(r"(\w+) -> \1\b", message), message


def test_self_loop_is_a_cycle():
    _spec_error(
        lambda: ij.ICLVModel([ij.LatentVariable("a", predictors=["a"])], ONE_ITEM),
        "cycle",
        "a -> a",
    )


def test_unknown_predictor():
    _spec_error(
        lambda: ij.ICLVModel([ij.LatentVariable("a", predictors=["ghost"])], ONE_ITEM),
        "'ghost'",
        "'a'",
    )


def test_indicator_of_unknown_lv():
    _spec_error(
        lambda: ij.ICLVModel(ONE_LV, [ij.Indicator("i1", "ghost", levels=3)]), "'ghost'", "'i1'"
    )


def test_choice_uses_unknown_lv():
    choice = ij.BinaryProbit("y", ij.Utility(lvs=["ghost"]))
    _spec_error(lambda: ij.ICLVModel(ONE_LV, ONE_ITEM, choice=choice), "'ghost'")


def test_lv_with_no_indicators_and_no_choice_effect():
    _spec_error(
        lambda: ij.ICLVModel([*ONE_LV, ij.LatentVariable("lonely")], ONE_ITEM),
        "'lonely'",
        "not identified",
    )


def test_lv_identified_by_the_choice_alone_is_fine():
    choice = ij.BinaryProbit("y", ij.Utility(lvs=["b"]))
    ij.ICLVModel([*ONE_LV, ij.LatentVariable("b")], ONE_ITEM, choice=choice)


def test_duplicated_lv_names():
    _spec_error(lambda: ij.ICLVModel([*ONE_LV, ij.LatentVariable("a")], ONE_ITEM), "twice", "'a'")


def test_duplicated_indicator_names():
    _spec_error(lambda: ij.ICLVModel(ONE_LV, ONE_ITEM * 2), "twice", "'i1'")


def test_no_latent_variables_and_no_choice():
    _spec_error(lambda: ij.ICLVModel([], []), "no latent variables", "no choice model")


def test_indicators_without_latent_variables():
    choice = ij.BinaryProbit("y", ij.Utility(attributes={"x": "x"}))
    _spec_error(lambda: ij.ICLVModel([], ONE_ITEM, choice), "'i1'", "no latent variables")


def test_mnl_with_an_asc_on_every_alternative():
    alts = [ij.Alternative("x", 1, asc=True), ij.Alternative("z", 2, asc=True)]
    _spec_error(lambda: ij.MultinomialLogit("y", alts), "'y'", "asc", "every alternative")


def test_mnl_with_a_constant_in_every_utility():
    alts = [
        ij.Alternative("x", 1, ij.Utility(constants={"kx": None})),
        ij.Alternative("z", 2, asc=True),
    ]
    _spec_error(lambda: ij.MultinomialLogit("y", alts), "'y'")


def test_mnl_with_one_alternative():
    _spec_error(
        lambda: ij.MultinomialLogit("y", [ij.Alternative("x", 1)]), "'y'", "two alternatives"
    )


def test_mnl_duplicated_alternative_names():
    alts = [ij.Alternative("x", 1), ij.Alternative("x", 2)]
    _spec_error(lambda: ij.MultinomialLogit("y", alts), "names", "'x'")


def test_mnl_duplicated_alternative_codes():
    alts = [ij.Alternative("x", 7), ij.Alternative("z", 7)]
    _spec_error(lambda: ij.MultinomialLogit("y", alts), "codes", "'7'")


@pytest.mark.parametrize("levels", [None, 1, 2.0])
def test_ordered_indicator_needs_integer_levels(levels):
    _spec_error(
        lambda: ij.Indicator("i1", "a", kind="ordered_logit", levels=levels),
        "'i1'",
        "levels",
    )


def test_continuous_indicator_takes_no_levels():
    _spec_error(lambda: ij.Indicator("c1", "a", kind="continuous", levels=5), "'c1'")


def test_unknown_indicator_kind():
    _spec_error(
        lambda: ij.Indicator("i1", "a", kind="probit", levels=3),
        "'i1'",
        "'probit'",
    )


def test_specific_attribute_not_in_the_utility():
    _spec_error(lambda: ij.Utility(attributes={"price": "p"}, specific=("cost",)), "cost")


def test_ordered_choice_with_a_constant_asc():
    utility = ij.Utility(attributes={"price": "p"}, constants={"k": None})
    _spec_error(lambda: ij.OrderedProbitChoice("y", utility, levels=3), "'y'", "asc")


def test_ordered_choice_with_a_dummy_constant_is_fine():
    ij.OrderedProbitChoice("y", ij.Utility(constants={"k": "dummy"}), levels=3)


@pytest.mark.parametrize("levels", [1, None])
def test_ordered_choice_levels(levels):
    _spec_error(
        lambda: ij.OrderedProbitChoice("y", ij.Utility(), levels=levels),
        "'y'",
        wrong_type=levels is None,
    )


def test_unknown_fixed_parameter_is_listed(probit):
    df, model, _ = probit
    bad = dataclasses.replace(model, fixed={"lambda_hc9": 1.0, "beta_cost": 0.0, "lambda_hc1": 1.0})
    with pytest.raises(ij.SpecificationError) as excinfo:
        ij.Problem(bad, df, draws=5)
    message = str(excinfo.value)
    assert "lambda_hc9" in message and "beta_cost" in message
    assert "not in the model" in message


def test_fixing_only_some_thresholds_of_an_item(probit):
    df, model, _ = probit
    bad = dataclasses.replace(model, fixed={"tau_hc2_1": -1.0, "tau_hc2_3": 0.5})
    with pytest.raises(ij.SpecificationError) as excinfo:
        ij.Problem(bad, df, draws=5)
    message = str(excinfo.value)
    assert "'hc2'" in message and "tau_hc2_2" in message and "tau_hc2_4" in message


def test_fixing_every_threshold_of_an_item_is_fine(probit):
    df, model, _ = probit
    fixed = {f"tau_hc2_{j}": tau for j, tau in enumerate((-1.5, -0.5, 0.5, 1.5), start=1)}
    problem = ij.Problem(dataclasses.replace(model, fixed=fixed), df, draws=5)
    assert problem.space.n_free == len(problem.space.names) - 4
    reported = problem.reported(problem.free_internal())
    assert [reported[name] for name in fixed] == pytest.approx(list(fixed.values()), abs=1e-12)


def test_fixed_thresholds_must_increase(probit):
    df, model, _ = probit
    fixed = {f"tau_hc2_{j}": tau for j, tau in enumerate((-1.5, 0.5, 0.5, 1.5), start=1)}
    with pytest.raises(ValueError, match="tau_hc2_3"):
        ij.Problem(dataclasses.replace(model, fixed=fixed), df, draws=5)
