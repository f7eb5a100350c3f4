"""Parameter names, the reported <-> internal maps, and start values."""

import dataclasses

import jax
import numpy as np
import pandas as pd
import pytest

import iclv_jax as ij
from iclv_jax.datasets import (
    BEVERAGE_ITEMS,
    beverage,
    drug_choice,
    drug_choice_model,
    drug_choice_path,
)
from iclv_jax.layout import build_layout
from iclv_jax.params import ParameterSpace

DRUG_DATA = drug_choice_path()
needs_drug_data = pytest.mark.skipif(not DRUG_DATA.is_file(), reason=f"{DRUG_DATA} absent")
ITEMS = tuple(BEVERAGE_ITEMS)


def space_of(model, df) -> ParameterSpace:
    return build_layout(model, ij.prepare_data(model, df))[0]


@pytest.fixture(scope="module", params=["probit", "logit", "ordered"])
def beverage_case(request):
    df, model, truth = beverage(n_people=30, n_situations=2, seed=5, choice=request.param)
    return request.param, model, df, truth, space_of(model, df)


@pytest.fixture(scope="module")
def probit_case():
    df, model, truth = beverage(n_people=30, n_situations=2, seed=5)
    return model, df, truth, space_of(model, df)


@pytest.fixture(scope="module")
def drug():
    if not DRUG_DATA.is_file():
        pytest.skip(f"{DRUG_DATA} absent")
    df, model, start = drug_choice()
    df = df[df["ID"].isin(df["ID"].unique()[:60])]
    return model, df, start, space_of(model, df)


def continuous_data(n_people=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n_people)
    eta = 0.5 * x + rng.normal(size=n_people)
    df = pd.DataFrame(
        {
            "id": np.arange(n_people),
            "x": x,
            "score": 3.0 + 2.0 * eta + 1.5 * rng.normal(size=n_people),
            "item": 1 + (eta + rng.normal(size=n_people) > 0),
        }
    )
    model = ij.ICLVModel(
        [ij.LatentVariable("a", covariates=["x"])],
        [ij.Indicator("score", "a", kind="continuous"), ij.Indicator("item", "a", levels=2)],
    )
    return model, df


def mnl_data(utilities, n_people=8, seed=0, **model_kwargs):
    """An MNL over alternatives ``one`` (code 1) and ``two`` (code 2) with
    ``utilities[name]`` and columns ``p1``, ``p2``, ``q1``, ``q2``."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "id": np.arange(n_people),
            "y": rng.integers(1, 3, n_people),
            "ind": rng.integers(1, 4, n_people),
            **{c: rng.normal(size=n_people) for c in ("p1", "p2", "q1", "q2")},
        }
    )
    choice = ij.MultinomialLogit(
        "y",
        [
            ij.Alternative(name, code, utilities[name], asc=asc)
            for name, code, asc in (("one", 1, True), ("two", 2, False))
        ],
    )
    model = ij.ICLVModel(
        [ij.LatentVariable("a")],
        [ij.Indicator("ind", "a", levels=3)],
        choice=choice,
        **model_kwargs,
    )
    return model, df


def round_trip(space: ParameterSpace, reported: np.ndarray) -> np.ndarray:
    internal = space.to_internal(reported)
    to_reported = space.reported_map(internal)
    return np.asarray(jax.jit(lambda u: to_reported(u))(internal[space.free_index]))


# --- round trips ---------------------------------------------------------------------


def test_beverage_round_trip_at_the_truth(beverage_case):
    _, _, _, truth, space = beverage_case
    assert set(space.free_names) == set(truth)
    reported = space.start_reported(truth)
    np.testing.assert_allclose(round_trip(space, reported), reported, rtol=0, atol=1e-12)


def test_beverage_round_trip_at_the_defaults(beverage_case):
    space = beverage_case[-1]
    reported = space.start_reported(None)
    np.testing.assert_allclose(round_trip(space, reported), reported, rtol=0, atol=1e-12)


def test_drug_choice_round_trip(drug):
    _, _, start, space = drug
    assert set(start) == set(space.names)
    reported = space.start_reported(start)
    np.testing.assert_allclose(round_trip(space, reported), reported, rtol=0, atol=1e-12)


def test_round_trip_with_continuous_indicator():
    model, df = continuous_data()
    space = space_of(model, df)
    reported = space.start_reported({"sigma_score": 0.37, "alpha_score": -2.0})
    np.testing.assert_allclose(round_trip(space, reported), reported, rtol=0, atol=1e-12)


def test_round_trip_keeps_fixed_values(probit_case):
    model, df, truth, _ = probit_case
    fixed = {
        "lambda_hc1": 1.0,
        "beta_price": -0.001,
        **{f"tau_pb2_{j}": t for j, t in enumerate((-1.0, 0.0, 0.25, 2.0), start=1)},
    }
    space = space_of(dataclasses.replace(model, fixed=fixed), df)
    assert space.n_free == len(space.names) - 6
    assert not set(fixed) & set(space.free_names)
    reported = space.start_reported(truth)
    for name, value in fixed.items():
        assert reported[space.index[name]] == value
    back = round_trip(space, reported)
    np.testing.assert_allclose(back, reported, rtol=0, atol=1e-12)
    # the free entries move, the fixed ones do not
    internal = space.to_internal(reported)
    moved = np.asarray(space.reported_map(internal)(internal[space.free_index] + 0.1))
    for name, value in fixed.items():
        assert moved[space.index[name]] == pytest.approx(value, abs=1e-12)
    assert np.all(moved[space.free_index] != back[space.free_index])


def _groups(space):
    groups = {}
    for i, p in enumerate(space.parameters):
        if p.group is not None:
            groups.setdefault(p.group, []).append(i)
    return groups


@pytest.mark.parametrize("scale", [0.5, 1.0, 3.0])
def test_thresholds_increase_for_any_internal_vector(beverage_case, scale):
    kind, *_, space = beverage_case
    groups = _groups(space)
    assert len(groups) == 10 + (kind == "ordered")
    assert all(len(g) == 4 for g in groups.values())
    rng = np.random.default_rng(int(scale * 10))
    mapping = jax.jit(space.reported_map(np.zeros(len(space.names))).__call__)
    for _ in range(20):
        reported = np.asarray(mapping(scale * rng.standard_normal(space.n_free)))
        assert np.all(np.isfinite(reported))
        for indices in groups.values():
            assert np.all(np.diff(reported[indices]) > 0), reported[indices]


def test_threshold_map_is_the_documented_cumulative_sum(probit_case):
    space = probit_case[-1]
    u = np.random.default_rng(1).standard_normal(space.n_free)
    reported = np.asarray(space.reported_map(np.zeros(len(space.names)))(u))
    first = space.index["tau_hc3_1"]
    expected = np.cumsum([u[first], *np.exp(u[first + 1 : first + 4])])
    np.testing.assert_allclose(reported[first : first + 4], expected, rtol=1e-14)
    lam = space.index["lambda_hc3"]
    assert reported[lam] == u[lam]


def test_sigma_is_positive_for_any_internal_value():
    model, df = continuous_data()
    space = space_of(model, df)
    sigma = space.index["sigma_score"]
    mapping = space.reported_map(np.zeros(len(space.names)))
    for value in (-30.0, -3.0, 0.0, 2.0, 30.0):
        u = np.zeros(space.n_free)
        u[list(space.free_index).index(sigma)] = value
        reported = np.asarray(mapping(u))
        assert reported[sigma] > 0
        assert reported[sigma] == pytest.approx(np.exp(value), rel=1e-14)


def every_transform(fixed=None):
    """An MNL with an LV, ordered, symmetric and continuous items: every transform."""
    model, df = mnl_data(
        {
            "one": ij.Utility(attributes={"p": "p1"}, lvs=["a"]),
            "two": ij.Utility(attributes={"p": "p2"}),
        },
        n_people=12,
    )
    df["sym"], df["c"] = df["ind"], df["q1"]
    model = dataclasses.replace(
        model,
        indicators=[
            *model.indicators,
            ij.Indicator("sym", "a", levels=3, thresholds="symmetric"),
            ij.Indicator("c", "a", kind="continuous"),
        ],
        fixed=fixed or {},
    )
    return model, df


def test_reported_map_jacobian_is_finite_wherever_its_values_are():
    """Each entry of the reported map evaluates only its own transform: moving one
    internal value to +-720, 700 or 1e6 (coefficients, the scale, thresholds, symmetric
    thresholds), wherever the reported values stay finite so does the Jacobian, and a
    coefficient's column is the unit vector (no NaN from ``exp(720)`` in a branch not
    taken)."""
    model, df = every_transform()
    space = space_of(model, df)
    internal = space.to_internal(space.start_reported(None))
    to_reported, u0 = space.reported_map(internal), internal[space.free_index]
    assert space.n_free == len(space.names)
    jacobian_of = jax.jit(jax.jacobian(to_reported))
    kinds = {p.transform for p in space.parameters}
    assert kinds == {"identity", "log", "threshold", "positive_threshold"}
    checked = set()
    for i, p in enumerate(space.parameters):
        for value in (720.0, -720.0, 700.0, 1e6):
            u = u0.copy()
            u[i] = value
            if not np.all(np.isfinite(np.asarray(to_reported(u)))):
                continue
            jacobian = np.asarray(jacobian_of(u))
            assert np.all(np.isfinite(jacobian)), (p.name, value)
            if p.transform == "identity":
                np.testing.assert_array_equal(jacobian[:, i], np.eye(len(u))[i])
            checked.add((p.transform, value))
    assert {
        ("identity", 720.0),
        ("identity", 1e6),
        ("log", 700.0),
        ("log", -720.0),
        ("threshold", 700.0),
        ("positive_threshold", -720.0),
    } <= checked


def test_host_map_and_jacobian_are_the_compiled_map_and_its_autodiff_jacobian():
    """``ToReported.on_host`` (numpy, closed form) against the jitted map and
    ``jax.jacobian`` of it, every transform, one parameter fixed (the Jacobian keeps
    the free rows and columns), at random points and at the extremes where the
    reported values stay finite."""
    model, df = every_transform(fixed={"beta_p": 0.5})
    space = space_of(model, df)
    internal = space.to_internal(space.start_reported(None))
    to_reported, u0 = space.reported_map(internal), internal[space.free_index]
    free = to_reported.free_index
    compiled = jax.jit(lambda u: (to_reported(u), jax.jacobian(lambda v: to_reported(v)[free])(u)))
    rng = np.random.default_rng(0)
    points = [u0 + rng.normal(scale=2.0, size=u0.shape) for _ in range(3)]
    for i in range(len(u0)):
        for value in (700.0, -720.0):
            points.append(u0.copy())
            points[-1][i] = value
    for u in points:
        values, jacobian = (np.asarray(x) for x in compiled(u))
        if not np.all(np.isfinite(values)):
            continue
        host_values, host_jacobian = to_reported.on_host(u)
        np.testing.assert_allclose(host_values, values, rtol=1e-13, atol=1e-300)
        np.testing.assert_allclose(
            host_jacobian, jacobian, rtol=1e-13, atol=1e-300
        )  # XLA: no subnormals
    assert space.names[int(np.flatnonzero(~np.isin(np.arange(len(internal)), free))[0])] == "beta_p"


# --- to_internal refuses values outside the domain -----------------------------------


@pytest.mark.parametrize("bad", ["equal", "decreasing"])
def test_to_internal_refuses_non_increasing_thresholds(probit_case, bad):
    *_, truth, space = probit_case
    values = dict(truth)
    values["tau_pi2_3"] = values["tau_pi2_2"] - (bad == "decreasing") * 0.5
    with pytest.raises(ValueError, match="tau_pi2_3") as excinfo:
        space.to_internal(space.start_reported(values))
    assert "tau_pi2_2" in str(excinfo.value)


def test_thresholds_of_different_items_need_not_increase(probit_case):
    *_, truth, space = probit_case
    assert truth["tau_hc1_4"] > truth["tau_hc2_1"]  # adjacent in the vector
    space.to_internal(space.start_reported(truth))


@pytest.mark.parametrize("sigma", [0.0, -1.0])
def test_to_internal_refuses_non_positive_sigma(sigma):
    model, df = continuous_data()
    space = space_of(model, df)
    with pytest.raises(ValueError, match="sigma_score"):
        space.to_internal(space.start_reported({"sigma_score": sigma}))


def test_problem_refuses_non_positive_fixed_sigma():
    model, df = continuous_data()
    with pytest.raises(ValueError, match="sigma_score"):
        ij.Problem(dataclasses.replace(model, fixed={"sigma_score": -0.5}), df, draws=5)


# --- start values ------------------------------------------------------------------


def test_start_none_gives_the_defaults(probit_case):
    *_, space = probit_case
    start = space.start_reported(None)
    np.testing.assert_array_equal(start, [p.default for p in space.parameters])
    by_name = dict(zip(space.names, start, strict=True))
    for item in ITEMS:
        assert by_name[f"lambda_{item}"] == 1.0
        taus = [by_name[f"tau_{item}_{j}"] for j in range(1, 5)]
        assert np.all(np.diff(taus) > 0)
    assert by_name["beta_price"] == 0.0 and by_name["theta_purchase_intention"] == 0.0
    space.to_internal(start)  # the defaults are in the domain


def test_start_number_sets_every_identity_parameter(beverage_case):
    *_, space = beverage_case
    defaults = space.start_reported(None)
    start = space.start_reported(0.25)
    for i, p in enumerate(space.parameters):
        assert start[i] == (0.25 if p.transform == "identity" else defaults[i]), p.name
    assert sum(p.transform == "threshold" for p in space.parameters) >= 40
    assert space.start_reported(2)[space.index["lambda_hc1"]] == 2.0


def test_start_number_leaves_sigma_at_its_default():
    model, df = continuous_data()
    space = space_of(model, df)
    start = space.start_reported(-1.0)
    assert (
        start[space.index["sigma_score"]]
        == space.start_reported(None)[space.index["sigma_score"]]
        > 0
    )
    assert start[space.index["alpha_score"]] == -1.0
    space.to_internal(start)


def test_start_dict_sets_by_name(probit_case):
    *_, space = probit_case
    defaults = space.start_reported(None)
    start = space.start_reported({"beta_price": -0.002, "tau_hc1_2": 0.1})
    changed = {space.names[i] for i in np.flatnonzero(start != defaults)}
    assert changed == {"beta_price", "tau_hc1_2"}
    assert start[space.index["beta_price"]] == -0.002


def test_start_dict_with_unknown_names(probit_case):
    *_, space = probit_case
    with pytest.raises(ValueError, match="beta_cost") as excinfo:
        space.start_reported({"beta_price": 0.0, "beta_cost": 1.0, "lambda_hc99": 1.0})
    assert "lambda_hc99" in str(excinfo.value)
    assert "beta_price" not in str(excinfo.value)


@pytest.mark.parametrize("start", [True, "0.1", [0.0, 1.0]])
def test_start_of_another_type(probit_case, start):
    *_, space = probit_case
    with pytest.raises(TypeError, match="start"):
        space.start_reported(start)


def test_fixed_values_override_start(probit_case):
    model, df, _, _ = probit_case
    space = space_of(dataclasses.replace(model, fixed={"lambda_hc1": 1.0, "beta_price": -0.5}), df)
    for start in (None, 3.0, {"lambda_hc1": 5.0, "beta_price": 7.0, "lambda_hc2": 0.5}):
        values = space.start_reported(start)
        assert values[space.index["lambda_hc1"]] == 1.0
        assert values[space.index["beta_price"]] == -0.5
    assert space.start_reported({"lambda_hc2": 0.5})[space.index["lambda_hc2"]] == 0.5


def test_problem_free_internal_skips_fixed(probit_case):
    model, df, truth, _ = probit_case
    problem = ij.Problem(dataclasses.replace(model, fixed={"lambda_hc1": 1.2}), df, draws=4)
    u = problem.free_internal(truth)
    assert u.shape == (problem.space.n_free,) == (len(truth) - 1,)
    reported = problem.reported(u)
    assert reported["lambda_hc1"] == 1.2
    for name, value in truth.items():
        assert reported[name] == pytest.approx(value, abs=1e-12), name


# --- names ---------------------------------------------------------------------------


def test_beverage_probit_names(probit_case):
    *_, space = probit_case
    expected = [
        "b_age_to_health_concern",
        "b_female_to_health_concern",
        "gamma_health_concern_to_perceived_benefit",
        "gamma_perceived_benefit_to_purchase_intention",
    ]
    for item in ITEMS:
        expected += [f"lambda_{item}"] + [f"tau_{item}_{j}" for j in range(1, 5)]
    expected += [
        "asc_sugar",
        "asc_sugar_free",
        "beta_price",
        "beta_health_label",
        "theta_purchase_intention",
    ]
    assert sorted(space.names) == sorted(expected)
    assert len(space.names) == len(set(space.names)) == 59
    assert space.free_names == space.names


def test_blocks_and_transforms(probit_case):
    *_, space = probit_case
    by_name = {p.name: p for p in space.parameters}
    assert by_name["gamma_health_concern_to_perceived_benefit"].block == "structural"
    assert by_name["b_age_to_health_concern"].block == "structural"
    assert by_name["lambda_hc1"].block == by_name["tau_hc1_1"].block == "measurement"
    assert by_name["beta_price"].block == "choice"
    assert by_name["theta_purchase_intention"].block == "choice_lv"
    assert by_name["tau_pi3_4"].transform == "threshold" and by_name["tau_pi3_4"].group == "pi3"
    assert {by_name[n].transform for n in by_name if not n.startswith("tau_")} == {"identity"}
    assert len(space.blocks()) == space.n_free


def test_beverage_mnl_names():
    df, model, truth = beverage(n_people=30, n_situations=2, seed=5, choice="logit")
    names = set(space_of(model, df).names)
    assert {
        "theta_purchase_intention_sugar",
        "theta_purchase_intention_sugar_free",
        "asc_sugar",
        "asc_sugar_free",
        "beta_price",
        "beta_health_label",
    } <= names
    assert not {"theta_purchase_intention", "asc_none", "theta_purchase_intention_none"} & names


def test_beverage_ordered_choice_names():
    df, model, truth = beverage(n_people=30, n_situations=2, seed=5, choice="ordered")
    names = space_of(model, df).names
    assert [n for n in names if n.startswith("tau_likelihood")] == [
        f"tau_likelihood_{j}" for j in range(1, 5)
    ]
    assert not [n for n in names if n.startswith("asc_")]


def test_alternative_specific_coefficient():
    utilities = {
        "one": ij.Utility(
            attributes={"price": "p1", "quality": "q1"}, specific=("price",), lvs=["a"]
        ),
        "two": ij.Utility(attributes={"price": "p2", "quality": "q2"}, specific=("price",)),
    }
    model, df = mnl_data(utilities)
    space = space_of(model, df)
    assert {"beta_price_one", "beta_price_two", "beta_quality", "asc_one", "theta_a_one"} <= set(
        space.names
    )
    assert "beta_price" not in space.names and "beta_quality_one" not in space.names
    assert sum(n.startswith("beta_") for n in space.names) == 3
    panel = ij.prepare_data(model, df)
    design = panel.design[:, 0]
    p_one = panel.linear_names.index("beta_price_one")
    np.testing.assert_array_equal(design[:, 0, p_one], df["p1"])
    np.testing.assert_array_equal(design[:, 1, p_one], 0.0)


def test_named_lv_parameter_shared_across_alternatives():
    utilities = {
        "one": ij.Utility(attributes={"price": "p1"}, lvs={"a": "kappa"}),
        "two": ij.Utility(attributes={"price": "p2"}, lvs={"a": "kappa"}),
    }
    model, df = mnl_data(utilities)
    space = space_of(model, df)
    assert space.names.count("kappa") == 1
    assert not [n for n in space.names if n.startswith("theta_")]
    # lambda_ind, tau_ind_1, tau_ind_2, asc_one, beta_price, kappa
    assert space.n_free == 6


@needs_drug_data
def test_drug_choice_has_37_free_parameters(drug):
    model, _, start, space = drug
    assert space.n_free == 37 == len(space.free_names)
    assert space.names.count("lambda") == 1
    assert set(space.names) == set(start)
    assert not [n for n in space.names if n.startswith("theta_")]


def test_drug_choice_model_names_without_data():
    model = drug_choice_model()
    params = {alt.name: alt.utility.lv_parameters(alt.name) for alt in model.choice.alternatives}
    assert params == {
        "alt1": {"attitude": "lambda"},
        "alt2": {"attitude": "lambda"},
        "alt3": {},
        "alt4": {},
    }


def test_continuous_indicator_names():
    model, df = continuous_data()
    space = space_of(model, df)
    by_name = {p.name: p for p in space.parameters}
    assert {
        "alpha_score",
        "lambda_score",
        "sigma_score",
        "b_x_to_a",
        "lambda_item",
        "tau_item_1",
    } == set(by_name)
    assert by_name["sigma_score"].transform == "log"
    assert by_name["alpha_score"].transform == by_name["lambda_score"].transform == "identity"
    assert by_name["sigma_score"].default > 0
    assert by_name["alpha_score"].default == pytest.approx(df["score"].mean())


def test_parameter_space_rejects_unknown_fixed_names(probit_case):
    *_, space = probit_case
    with pytest.raises(ij.SpecificationError, match="lambda_hc0"):
        ParameterSpace(space.parameters, {"lambda_hc0": 1.0})
