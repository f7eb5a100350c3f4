"""Identification: refused before estimation, or reported as NaN after it.

Specification-level checks (a structural cycle, an MNL with one alternative, an asc on
every MNL alternative, an LV with no indicator and no choice effect) are in
tests/test_validation.py; here: an LV whose every link to the data is fixed to 0, the
data-dependent checks of :mod:`iclv_jax.identification` (``DataError`` naming the
column or alternative) and NaN standard errors for parameters the Hessian does not
identify.
"""

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest

import iclv_jax as ij
from iclv_jax import datasets
from iclv_jax.estimation import mirror
from iclv_jax.identification import UnobservedLevelWarning, check_data, single_item_scale
from iclv_jax.inference import (
    INFORMATION_SHARE,
    NotAMaximumWarning,
    covariances,
    noise_dominated,
    sampling_floor,
)
from iclv_jax.results import UndefinedStandardErrorWarning, parameter_table
from iclv_jax.spec import mirror_parameters, sign_anchors


def frame(n_people=12, n_situations=2, seed=0):
    """Person-level ``ord`` (1..3), ``cont``, ``c``; per situation ``x``, ``y2``
    (0/1), ``y3`` (1..3) and ``av3`` (0/1)."""
    rng = np.random.default_rng(seed)
    rows = n_people * n_situations
    person = lambda values: np.repeat(values, n_situations)  # noqa: E731
    return pd.DataFrame(
        {
            "id": person(np.arange(n_people)),
            "x": rng.normal(size=rows),
            "y2": rng.integers(0, 2, rows),
            "y3": rng.integers(1, 4, rows),
            "av3": np.ones(rows, dtype=np.int64),
            "ord": person(np.resize([1, 2, 3], n_people)),
            "cont": person(rng.normal(size=n_people)),
            "c": person(rng.normal(size=n_people)),
        }
    )


LV = [ij.LatentVariable("a", covariates=["c"])]
INDICATORS = [ij.Indicator("ord", "a", levels=3), ij.Indicator("cont", "a", kind="continuous")]
PROBIT = ij.BinaryProbit("y2", ij.Utility(attributes={"x": "x"}, constants={"k": None}, lvs=["a"]))
MNL = ij.MultinomialLogit(
    "y3",
    [
        ij.Alternative("p", 1, ij.Utility(attributes={"x": "x"}, lvs=["a"]), asc=True),
        ij.Alternative("q", 2, ij.Utility(attributes={"x": "x"}), asc=True),
        ij.Alternative("r", 3, available="av3"),
    ],
)
ORDERED = ij.OrderedProbitChoice("y3", ij.Utility(attributes={"x": "x"}, lvs=["a"]), 3)


def model(choice=PROBIT, **kwargs):
    return ij.ICLVModel(LV, INDICATORS, choice=choice, **kwargs)


def data_error(model, df, *culprits):
    """``check_data`` raises DataError whose message names every culprit (quoted)."""
    with pytest.raises(ij.DataError) as excinfo:
        check_data(model, ij.prepare_data(model, df))
    message = str(excinfo.value)
    for culprit in culprits:
        assert f"'{culprit}'" in message, message
    return message


# --- specification --------------------------------------------------------------------


def test_lv_whose_loadings_and_choice_effect_are_all_fixed_to_zero():
    fixed = {"lambda_ord": 0.0, "lambda_cont": 0.0, "theta_a": 0.0}
    with pytest.raises(ij.SpecificationError, match="'a'.*not identified") as excinfo:
        model(fixed=fixed)
    for name in fixed:
        assert name in str(excinfo.value)


def test_lv_with_one_loading_left_free_is_fine():
    model(fixed={"lambda_ord": 0.0, "theta_a": 0.0})


def test_lv_in_an_mnl_utility_with_its_theta_fixed_to_zero():
    ij.ICLVModel(LV, [INDICATORS[0]], choice=MNL, fixed={"theta_a_p": 0.0})
    with pytest.raises(ij.SpecificationError, match="'a'.*theta_a_p"):
        ij.ICLVModel(LV, [], choice=MNL, fixed={"theta_a_p": 0.0})


# --- data -----------------------------------------------------------------------------


def test_clean_data_pass_every_check():
    df = frame()
    for choice in (PROBIT, MNL, ORDERED):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            check_data(model(choice), ij.prepare_data(model(choice), df))


def test_ordered_indicator_with_a_single_level():
    message = data_error(model(), frame().assign(ord=2), "ord")
    assert "single level 2" in message


def test_ordered_choice_with_a_single_level():
    data_error(model(ORDERED), frame().assign(y3=3), "y3")


def test_level_observed_by_nobody_warns_naming_indicator_and_level():
    df = frame()
    df = df.assign(ord=np.where(df["ord"] == 3, 1, df["ord"]))
    with pytest.warns(UnobservedLevelWarning, match=r"indicator 'ord': level\(s\) \[3\]"):
        check_data(model(), ij.prepare_data(model(), df))


def test_constant_continuous_indicator():
    message = data_error(model(), frame().assign(cont=4.0), "cont")
    assert "sigma_cont" in message


def test_constant_covariate():
    data_error(model(), frame().assign(c=1.0), "c")


def test_binary_choice_with_the_same_outcome_everywhere():
    data_error(model(), frame().assign(y2=1), "y2")


def test_mnl_with_one_alternative_ever_chosen():
    data_error(model(MNL), frame().assign(y3=2), "y3", "q")


def test_mnl_alternative_available_to_nobody():
    df = frame()
    df = df.assign(av3=0, y3=np.where(df["y3"] == 3, 1, df["y3"]))
    data_error(model(MNL), df, "r", "av3")


def test_estimate_runs_the_checks_before_optimising():
    with pytest.raises(ij.DataError, match="'ord'"):
        ij.estimate(model(), frame().assign(ord=1), draws=5, verbose=False)


def test_a_single_person_cannot_be_estimated_but_can_be_evaluated():
    """One person: every person-level column is constant, so estimation is refused
    naming the first such column; the likelihood itself is still finite."""
    df = frame()
    alone = df[df["id"] == 0]
    problem = ij.Problem(model(), alone, draws=5)
    assert np.isfinite(problem.loglike())
    with pytest.raises(ij.DataError, match="'ord'"):
        ij.estimate(model(), alone, draws=5, verbose=False)


# --- unidentified parameters after estimation: NaN, not SE 0 and t = inf --------------


def test_flat_direction_gives_nan_covariance_for_the_parameters_on_it():
    """``-H`` has the null vector ``(1, -1, 0)``: only ``a + b`` is identified.  The
    reported ``c`` keeps ``1 / 2``; ``a`` and ``b`` get NaN, and so does ``d = b + c``
    (its Jacobian row touches ``b``)."""
    minus_h = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 2.0]])
    jacobian = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [0, 1.0, 1.0]])
    names = ["a", "b", "c"]
    scores = np.array([[0.1, 0.2, 0.3], [-0.2, 0.1, 0.1]])
    with pytest.warns(NotAMaximumWarning) as caught:
        cov = covariances(-minus_h, scores, jacobian, names + ["d"])
    message = str(caught[0].message)
    assert "['a', 'b', 'd']" in message, message
    assert cov.unidentified == ("a", "b", "d")
    for matrix in (cov.classical, cov.robust):
        assert np.isnan(matrix[[0, 1, 3]]).all() and np.isnan(matrix[:, [0, 1, 3]]).all()
    assert cov.classical[2, 2] == pytest.approx(0.5)
    assert cov.robust[2, 2] == pytest.approx(0.3**2 * 0.25 + 0.1**2 * 0.25)


def test_identified_problem_has_no_nan():
    minus_h = np.array([[2.0, 0.5], [0.5, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cov = covariances(-minus_h, np.eye(2), np.eye(2), ["a", "b"])
    np.testing.assert_allclose(cov.classical, np.linalg.inv(minus_h))
    assert cov.unidentified == ()


def test_parameter_table_reports_nan_not_zero_and_inf():
    cov = np.diag([np.nan, 0.0, 0.25])
    with pytest.warns(UndefinedStandardErrorWarning, match=r"\['a', 'b'\]"):
        table = parameter_table(["a", "b", "c"], np.array([1.0, 2.0, 1.0]), cov, cov)
    assert table.loc[["a", "b"]].drop(columns="estimate").isna().all().all()
    assert not np.isinf(table.to_numpy()).any()
    assert table.loc["c", "se"] == 0.5 and table.loc["c", "t"] == 2.0


@pytest.mark.slow  # ~30 s of compiling; the fast tests above check the same behaviour
def test_estimate_with_a_duplicated_constant_reports_nan_for_both():
    """``asc_k`` and ``asc_k2`` multiply the same constant 1: only their sum is
    identified.  Estimation warns and reports NaN SEs for both, never SE 0 / t = inf."""
    choice = ij.BinaryProbit(
        "y2", ij.Utility(attributes={"x": "x"}, constants={"k": None, "k2": None})
    )
    duplicated = ij.ICLVModel(LV, INDICATORS, choice=choice)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = ij.estimate(
            duplicated, frame(n_people=60), draws=10, max_iterations=20, verbose=False
        )
    messages = [str(w.message) for w in caught if issubclass(w.category, NotAMaximumWarning)]
    assert messages and "asc_k" in messages[0] and "asc_k2" in messages[0], messages
    table = results.table
    assert table.loc[["asc_k", "asc_k2"], ["se", "t", "p", "robust_se"]].isna().all().all()
    assert np.isfinite(table.loc["beta_x", ["se", "t"]]).all()
    assert not np.isinf(table[["t", "robust_t"]].to_numpy()).any()
    assert not results.converged


# --- an LV measured by one item and nothing else: refused up front ---------------------

ONE_ITEM_DATA = pd.DataFrame(
    {"id": np.arange(40), "q": np.resize([1, 2, 2, 3, 3, 3, 4, 5], 40), "x": np.linspace(-1, 1, 40)}
)


def single_item(lv=None, item=None, **kwargs):
    return ij.ICLVModel(
        [lv or ij.LatentVariable("a")], [item or ij.Indicator("q", "a", levels=5)], **kwargs
    )


def test_single_item_lv_is_refused_by_estimate_naming_lv_item_and_parameter():
    with pytest.raises(ij.SpecificationError) as excinfo:
        ij.estimate(single_item(), ONE_ITEM_DATA, draws=ij.Halton(5), verbose=False)
    message = str(excinfo.value)
    for culprit in ("'a'", "'q'", "lambda_q", "choice effect", "fixed={'lambda_q': 1.0}"):
        assert culprit in message, message


@pytest.mark.parametrize(
    "lv, item, refused",
    [
        (None, None, "lambda_q"),
        (None, ij.Indicator("q", "a", kind="ordered_logit", levels=5), "lambda_q"),
        (None, ij.Indicator("q", "a", levels=5, thresholds="symmetric"), "lambda_q"),
        (None, ij.Indicator("q", "a", kind="continuous"), "lambda_q"),
        (ij.LatentVariable("a", reference="q"), None, "sigma_a"),
        (ij.LatentVariable("a", covariates=["x"]), None, "lambda_q"),  # probit
        (
            ij.LatentVariable("a", covariates=["x"]),
            ij.Indicator("q", "a", kind="ordered_logit", levels=5),
            None,
        ),  # logit: not normal
    ],
)
def test_single_item_rule(lv, item, refused):
    assert single_item_scale(single_item(lv, item), "a") == refused


def test_routes_that_can_identify_a_single_item_lv_are_not_refused():
    q = ij.Indicator("q", "a", levels=5)
    probit = ij.BinaryProbit("y", ij.Utility(attributes={"x": "x"}, lvs=["a"]))
    b_items = [ij.Indicator(f"r{k}", "b", levels=3) for k in (1, 2, 3)]
    models = [
        ij.ICLVModel([ij.LatentVariable("a")], [q, ij.Indicator("q2", "a", levels=5)]),
        ij.ICLVModel([ij.LatentVariable("a")], [q], choice=probit),
        ij.ICLVModel(
            [ij.LatentVariable("a"), ij.LatentVariable("b", predictors=["a"])], [q, *b_items]
        ),
        ij.ICLVModel([ij.LatentVariable("a")], [q], fixed={"lambda_q": 1.0}),
        ij.ICLVModel(
            [ij.LatentVariable("a")],
            [q, ij.Indicator("r", "a", levels=5, threshold_set="q")],
            fixed={"lambda_r": 0.0},
        ),  # shares q's thresholds
    ]
    for model in models:
        assert single_item_scale(model, "a") is None, model
    # a loading fixed to 0 is no second item
    lone = ij.ICLVModel(
        [ij.LatentVariable("a")], [q, ij.Indicator("q2", "a", levels=5)], fixed={"lambda_q2": 0.0}
    )
    assert single_item_scale(lone, "a") == "lambda_q"


@pytest.mark.parametrize("covariate", [False, True])
def test_refused_single_item_likelihood_is_the_same_along_its_ridge(covariate):
    """What the refusal rests on, by (near-exact) quadrature: with ``s = sqrt(1 +
    lambda^2)`` only ``tau / s`` and ``lambda b / s`` enter the ordered-probit
    likelihood, so moving ``lambda`` and rescaling the thresholds (and ``b``) leaves it
    unchanged."""
    lv = ij.LatentVariable("a", covariates=["x"] if covariate else [])
    problem = ij.Problem(single_item(lv), ONE_ITEM_DATA, draws=ij.Quadrature(60))
    base = {
        "lambda_q": 1.0,
        "b_x_to_a": 0.7,
        **{f"tau_q_{j}": t for j, t in enumerate((-1.2, -0.3, 0.4, 1.5), 1)},
    }
    base = {k: v for k, v in base.items() if covariate or not k.startswith("b_")}

    def ridge(lam):
        ratio = np.sqrt(1 + lam**2) / np.sqrt(2.0)
        return {
            **{k: v * ratio for k, v in base.items() if k.startswith("tau")},
            "lambda_q": lam,
            **({"b_x_to_a": 0.7 * ratio / lam} if covariate else {}),
        }

    values = [problem.loglike(ridge(lam)) for lam in (0.5, 1.0, 2.0)]
    np.testing.assert_allclose(values, values[1], rtol=0, atol=1e-9)
    assert problem.loglike({**base, "lambda_q": 2.0}) < values[1] - 1e-3  # not flat off it


# --- curvature that is simulation noise is not a verified maximum -----------------------


def test_noise_dominated_flags_the_direction_whose_scores_disagree_across_draw_sets():
    """Scores on two draw sets: parameter 0 carries the same exact score plus small
    independent noise, parameter 1 independent noise alone (an unidentified direction
    whose simulated curvature equals the noise's square)."""
    rng = np.random.default_rng(0)
    exact = rng.normal(size=500)
    a = np.column_stack([exact + 0.1 * rng.normal(size=500), rng.normal(size=500)])
    b = np.column_stack([exact + 0.1 * rng.normal(size=500), rng.normal(size=500)])
    hessian = -np.diag([np.sum(a[:, 0] ** 2), np.sum(a[:, 1] ** 2)])
    share, noisy = noise_dominated(hessian, a, b)
    assert noisy.tolist() == [False, True]
    assert abs(share) < 0.15
    share, noisy = noise_dominated(hessian[:1, :1], a[:, :1], b[:, :1])
    assert share == pytest.approx(1.0, abs=0.05) and not noisy.any()


def test_estimate_does_not_report_an_unidentified_loading_converged():
    """Two ordered-probit items and nothing else: only the correlation of their latent
    responses, ``lambda_1 lambda_2 / sqrt((1 + lambda_1^2)(1 + lambda_2^2))``, is
    identified; simulation noise curves the flat direction.  Not refused up front
    (two items can be identified by covariates), caught at the optimum."""
    rng = np.random.default_rng(1)
    eta = rng.normal(size=150)
    cuts = np.array([-0.8, 0.0, 0.8])
    df = pd.DataFrame(
        {
            "id": np.arange(150),
            **{
                f"q{k}": 1 + (eta[:, None] + rng.normal(size=(150, 1)) > cuts).sum(1)
                for k in (1, 2)
            },
        }
    )
    model = ij.ICLVModel(
        [ij.LatentVariable("a")], [ij.Indicator(f"q{k}", "a", levels=4) for k in (1, 2)]
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = ij.estimate(model, df, draws=ij.Halton(10), verbose=False)
    messages = [str(w.message) for w in caught if issubclass(w.category, NotAMaximumWarning)]
    assert messages and "lambda_q1" in messages[0] and "lambda_q2" in messages[0], messages
    assert not results.converged
    assert results.information_share < INFORMATION_SHARE * sampling_floor(150, 8)
    assert results.table.loc[["lambda_q1", "lambda_q2"], "se"].isna().all()


# --- mirror images: each LV's sign anchored ---------------------------------------------


def test_sign_anchors_default_to_the_first_free_loading_and_can_be_chosen():
    _, model, _ = datasets.beverage(n_people=2, n_situations=1)
    assert sign_anchors(model) == {
        "health_concern": "lambda_hc1",
        "perceived_benefit": "lambda_pb1",
        "purchase_intention": "lambda_pi1",
    }
    chosen = dataclasses.replace(
        model,
        latent_variables=[
            dataclasses.replace(model.latent_variables[0], sign_anchor="hc3"),
            model.latent_variables[1],
            dataclasses.replace(model.latent_variables[2], sign_anchor="theta_purchase_intention"),
        ],
    )
    assert sign_anchors(chosen)["health_concern"] == "lambda_hc3"
    assert sign_anchors(chosen)["purchase_intention"] == "theta_purchase_intention"
    # the first loading fixed: the next free one anchors; a fixed non-zero one: none needed
    assert (
        sign_anchors(dataclasses.replace(model, fixed={"lambda_hc1": 0.0}))["health_concern"]
        == "lambda_hc2"
    )
    assert "health_concern" not in sign_anchors(
        dataclasses.replace(model, fixed={"lambda_hc2": 0.8})
    )


def test_a_bad_sign_anchor_is_refused_naming_it():
    items = [ij.Indicator(f"q{k}", "a", levels=3) for k in (1, 2, 3)]
    with pytest.raises(ij.SpecificationError, match="'a'.*'ghost'.*'q1'"):
        ij.ICLVModel([ij.LatentVariable("a", sign_anchor="ghost")], items)
    with pytest.raises(ij.SpecificationError, match="'a'.*'q2'.*not needed"):
        ij.ICLVModel([ij.LatentVariable("a", reference="q1", sign_anchor="q2")], items)


def test_mirror_image_has_the_same_likelihood_by_quadrature_but_not_with_halton():
    """Negating an LV and every parameter of ``mirror_parameters`` is an exact symmetry
    (Gauss-Hermite nodes are symmetric); simulated draws are not symmetric."""
    df, model, truth = datasets.beverage(n_people=30, n_situations=3, seed=3)
    assert set(mirror_parameters(model, "perceived_benefit")) == {
        "lambda_pb1",
        "lambda_pb2",
        "lambda_pb3",
        "gamma_health_concern_to_perceived_benefit",
        "gamma_perceived_benefit_to_purchase_intention",
    }
    flipped = mirror(model, truth, ["perceived_benefit", "purchase_intention"])
    assert (
        flipped["gamma_perceived_benefit_to_purchase_intention"]
        == truth["gamma_perceived_benefit_to_purchase_intention"]
    )  # negated twice
    assert flipped["theta_purchase_intention"] == -truth["theta_purchase_intention"]
    exact = ij.Problem(model, df, draws=ij.Quadrature(6))
    assert exact.loglike(flipped) == pytest.approx(exact.loglike(truth), rel=1e-13)
    simulated = ij.Problem(model, df, draws=ij.Halton(10))
    assert abs(simulated.loglike(flipped) - simulated.loglike(truth)) > 1e-6


def test_a_fit_that_reaches_the_mirror_image_reports_the_anchored_solution():
    """From the mirror image of the truth the optimiser converges to the mirror image of
    the optimum next to the truth; the estimate negates it and re-optimises, so it
    reports the optimum that the truth as start finds (anchors positive) and says so.
    (The simulated likelihood is not exactly sign-symmetric: the flipped point itself
    is not that optimum, only close to it.)"""
    df, model, truth = datasets.beverage_one_lv(n_people=200, seed=2)
    draws = ij.Halton(10)
    anchored = ij.estimate(model, df, draws=draws, start=truth, verbose=False)
    fit = ij.estimate(
        model, df, draws=draws, start=mirror(model, truth, ["purchase_intention"]), verbose=False
    )
    assert fit.converged and anchored.converged
    assert "re-optimised" in fit.message and "purchase_intention" in fit.message
    assert "re-optimised" not in anchored.message
    assert "lambda_pi1 > 0" in fit.summary()
    assert all(fit.estimates[name] > 0 for name in fit.sign_anchors.values())
    assert fit.loglike == pytest.approx(anchored.loglike, abs=1e-6)
    for name, value in anchored.estimates.items():
        assert fit.estimates[name] == pytest.approx(value, abs=1e-4), name


@pytest.mark.slow  # three minutes on two shared cores: three fits of the full study
def test_beverage_study_from_start_0_1_reports_the_default_solution():
    """With 20 Halton draws the all-0.1 start of the seed notes reaches an LV's mirror
    image (before sign anchors: a different answer, LL equal to 1e-12, both
    "converged"); now both starts report the same estimates."""
    df, model, _ = datasets.beverage()
    fits = [
        ij.estimate(model, df, draws=ij.Halton(20), start=start, verbose=False)
        for start in (None, 0.1)
    ]
    assert "re-optimised" in fits[1].message
    assert fits[1].loglike == pytest.approx(fits[0].loglike, abs=1e-6)
    for name, value in fits[0].estimates.items():
        assert fits[1].estimates[name] == pytest.approx(value, abs=1e-4), name
