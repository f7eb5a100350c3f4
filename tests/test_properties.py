"""Property-based tests of the data layer (hypothesis).

Every generated frame either gets a :class:`iclv_jax.DataError` whose message names the
culprit column (and person, where there is one), or is valid, and then its simulated
log-likelihood is finite, at the default start and at random parameter values.

The model: MNL over ``one`` (code 1, attribute ``x1``, LV ``a``, availability ``av1``)
and ``two`` (code 2, ``x2``, an asc, availability ``av2``); LV ``a`` with covariate
``c``; a 3-level ordered indicator ``ind`` and a continuous indicator ``cont``.
"""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import iclv_jax as ij

MODEL = ij.ICLVModel(
    [ij.LatentVariable("a", covariates=["c"])],
    [ij.Indicator("ind", "a", levels=3), ij.Indicator("cont", "a", kind="continuous")],
    choice=ij.MultinomialLogit(
        "y",
        [
            ij.Alternative(
                "one", 1, ij.Utility(attributes={"x": "x1"}, lvs=["a"]), available="av1"
            ),
            ij.Alternative("two", 2, ij.Utility(attributes={"x": "x2"}), asc=True, available="av2"),
        ],
    ),
)
PERSON_LEVEL = ("c", "ind", "cont")
NUMERIC = ("x1", "x2", "av1", "av2", "y", *PERSON_LEVEL)

SETTINGS = settings(
    max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)

finite = st.floats(-50, 50, allow_nan=False, allow_infinity=False)
UP_TO_6_PEOPLE = st.integers(1, 6)
UP_TO_3_SITUATIONS = st.integers(1, 3)


@st.composite
def valid_frames(draw, n_people=UP_TO_6_PEOPLE, n_situations=UP_TO_3_SITUATIONS):
    """A frame the model accepts: ids of any hashable kind, rows in any order, every
    situation with at least one available alternative, the chosen one available."""
    n = draw(n_people)
    kind = draw(st.sampled_from(["int", "str", "float"]))
    ids = draw(st.lists(st.integers(0, 10_000), min_size=n, max_size=n, unique=True))
    ids = {"int": ids, "str": [f"p{i}" for i in ids], "float": [i + 0.5 for i in ids]}[kind]
    rows = []
    for person in ids:
        level = {"c": draw(finite), "ind": draw(st.integers(1, 3)), "cont": draw(finite)}
        for _ in range(draw(n_situations)):  # a ragged panel unless n_situations is fixed
            av = draw(st.sampled_from([(1, 1), (1, 0), (0, 1)]))
            chosen = draw(st.sampled_from([code for code, a in zip((1, 2), av, strict=True) if a]))
            rows.append(
                {
                    "id": person,
                    "x1": draw(finite),
                    "x2": draw(finite),
                    "av1": av[0],
                    "av2": av[1],
                    "y": chosen,
                    **level,
                }
            )
    df = pd.DataFrame(rows)
    order = draw(st.permutations(range(len(df))))
    return df.iloc[list(order)].reset_index(drop=True)


def data_error(df, *culprits) -> str:
    """``prepare_data`` raises DataError naming every culprit."""
    with pytest.raises(ij.DataError) as excinfo:
        ij.prepare_data(MODEL, df)
    message = str(excinfo.value)
    for culprit in culprits:
        assert culprit in message, (culprit, message)
    return message


def person_name(person) -> str:
    return repr(person.item() if isinstance(person, np.generic) else person)


# --- valid frames ---------------------------------------------------------------------


@SETTINGS
@given(df=valid_frames())
def test_valid_frames_are_accepted_with_every_row_kept(df):
    panel = ij.prepare_data(MODEL, df)
    assert panel.n_people == df["id"].nunique()
    assert panel.n_situations == len(df)  # nothing silently dropped
    assert np.isfinite(panel.design).all() and np.isfinite(panel.covariates).all()


#: one shape (4 people x 2 situations) so the likelihood compiles once
SAME_SHAPE = valid_frames(n_people=st.just(4), n_situations=st.just(2))


@SETTINGS
@given(df=SAME_SHAPE, u=st.lists(st.floats(-5, 5), min_size=10, max_size=10))
def test_valid_frames_have_a_finite_loglike(df, u):
    problem = ij.Problem(MODEL, df, draws=3)
    assert problem.space.n_free == 10
    assert np.isfinite(problem.loglike())
    assert np.isfinite(float(problem.likelihood.loglike(np.asarray(u))))


# --- bad values: the column and the person are named ----------------------------------


@SETTINGS
@given(df=valid_frames(), data=st.data())
def test_non_finite_value_names_column_and_person(df, data):
    column = data.draw(st.sampled_from(NUMERIC))
    value = data.draw(st.sampled_from([np.nan, np.inf, -np.inf, None]))
    person = data.draw(st.sampled_from(sorted(set(df["id"]), key=str)))
    bad = df.astype({column: float})
    bad.loc[bad["id"] == person, column] = value
    data_error(bad, f"'{column}'", f"person {person_name(person)}")


@SETTINGS
@given(df=valid_frames(), data=st.data())
def test_indicator_code_out_of_range_or_not_an_integer(df, data):
    value = data.draw(st.sampled_from([0, 4, -1, 99, 1.5, 2.0001]))
    person = data.draw(st.sampled_from(sorted(set(df["id"]), key=str)))
    bad = df.astype({"ind": float})
    bad.loc[bad["id"] == person, "ind"] = value
    message = data_error(bad, "'ind'", "1..3")
    # the first offending person in sorted order is the only one
    assert f"person {person_name(person)}" in message


@SETTINGS
@given(df=valid_frames(), data=st.data())
def test_string_in_a_numeric_column(df, data):
    column = data.draw(st.sampled_from(NUMERIC))
    bad = df.astype({column: object})
    bad.loc[data.draw(st.integers(0, len(df) - 1)), column] = "n/a"
    data_error(bad, f"'{column}'", "not numeric")


@SETTINGS
@given(df=valid_frames(n_situations=st.integers(2, 3)), data=st.data())
def test_person_level_value_varying_within_a_person(df, data):
    column = data.draw(st.sampled_from(PERSON_LEVEL))
    counts = df["id"].value_counts()
    person = data.draw(st.sampled_from(sorted(counts.index[counts > 1], key=str)))
    rows = np.flatnonzero(df["id"] == person)
    bad = df.copy()
    old = bad.loc[rows[-1], column]
    bad.loc[rows[-1], column] = 1 + old % 3 if column == "ind" else old + 1.0
    data_error(bad, f"'{column}'", f"person {person_name(person)}")


@SETTINGS
@given(df=valid_frames(n_people=st.integers(2, 6)), data=st.data())
def test_duplicated_id_merges_rows_into_one_person(df, data):
    """Rows sharing an id are one person's situations: kept, none dropped; if their
    person-level values disagree, that is a DataError naming the merged person."""
    ids = sorted(set(df["id"]), key=str)
    first, second = data.draw(st.permutations(ids))[:2]
    merged = df.assign(id=df["id"].where(df["id"] != second, first))
    people = df.groupby("id")[list(PERSON_LEVEL)].first()
    if (people.loc[first] == people.loc[second]).all():
        panel = ij.prepare_data(MODEL, merged)
        assert panel.n_people == len(ids) - 1 and panel.n_situations == len(df)
    else:
        data_error(merged, f"person {person_name(first)}", "person-level")


@SETTINGS
@given(df=valid_frames(), data=st.data())
def test_missing_id(df, data):
    bad = df.astype({"id": object})
    bad.loc[data.draw(st.integers(0, len(df) - 1)), "id"] = None
    data_error(bad, "'id'", "missing")


@SETTINGS
@given(df=valid_frames(), data=st.data())
def test_situation_with_no_available_alternative(df, data):
    row = data.draw(st.integers(0, len(df) - 1))
    bad = df.copy()
    bad.loc[row, ["av1", "av2"]] = 0
    data_error(
        bad,
        "no available alternative",
        "'av1'",
        "'av2'",
        f"person {person_name(df.loc[row, 'id'])}",
    )


@SETTINGS
@given(df=valid_frames(), data=st.data())
def test_choice_code_not_an_alternative_or_unavailable(df, data):
    row = data.draw(st.integers(0, len(df) - 1))
    bad = df.copy()
    person = f"person {person_name(df.loc[row, 'id'])}"
    if data.draw(st.booleans()):
        bad.loc[row, "y"] = data.draw(st.sampled_from([0, 3, -1, 7]))
        data_error(bad, "'y'", person, "not an alternative code")
    else:  # the chosen alternative made unavailable (the other one made available)
        chosen = int(df.loc[row, "y"])
        bad.loc[row, [f"av{chosen}", f"av{3 - chosen}"]] = (0, 1)
        data_error(bad, person, f"'av{chosen}'", "unavailable")


@SETTINGS
@given(df=valid_frames(), data=st.data())
def test_missing_column(df, data):
    column = data.draw(st.sampled_from(NUMERIC + ("id",)))
    data_error(df.drop(columns=column), f"'{column}'", "not in the data")


@pytest.mark.parametrize(
    "frame",
    [pd.DataFrame(), pd.DataFrame({c: [] for c in ("id",) + NUMERIC})],
    ids=["no columns", "no rows"],
)
def test_empty_frame(frame):
    data_error(frame, "empty")


@SETTINGS
@given(df=valid_frames(n_people=st.just(1)))
def test_a_single_person_is_a_valid_panel(df):
    """Documented handling: one person is a valid panel (its likelihood can be
    evaluated); :func:`iclv_jax.estimate` refuses it (tests/test_identification.py)."""
    panel = ij.prepare_data(MODEL, df)
    assert panel.n_people == 1 and panel.n_situations == len(df)
