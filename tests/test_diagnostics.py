"""Gradient check, frozen-gradient detector (with the seed's bug planted), block scales."""

import jax.numpy as jnp
import numpy as np
import pytest

import iclv_jax as ij
from iclv_jax import diagnostics as dg
from iclv_jax.datasets import beverage

GAMMA_HC_PB = "gamma_health_concern_to_perceived_benefit"
GAMMA_PB_PI = "gamma_perceived_benefit_to_purchase_intention"
GAMMAS = [GAMMA_HC_PB, GAMMA_PB_PI]


@pytest.fixture(scope="module")
def study():
    """The beverage study: 3-LV chain, raw prices (1,000-5,000), 59 parameters."""
    df, model, truth = beverage(n_people=150, n_situations=10, seed=3)
    return ij.Problem(model, df, draws=25), truth


@pytest.fixture(scope="module")
def small():
    df, model, truth = beverage(n_people=60, n_situations=6, seed=4)
    return ij.Problem(model, df, draws=10), truth


# --- gradient check -------------------------------------------------------------------


def test_check_gradients_passes_on_correct_code(small):
    problem, truth = small
    for params in (truth, None):
        report = dg.check_gradients(problem, params=params, gradient="analytic")
        assert report.ok, report
        assert list(report.table.index) == list(problem.space.free_names)
        for column in (
            "block",
            "autodiff",
            "analytic",
            "finite_difference",
            "rel_analytic",
            "rel_fd",
            "ok",
        ):
            assert column in report.table
        assert set(report.table["block"]) == {"structural", "measurement", "choice"}
        assert report.max_rel_error < 1e-6
        assert report.max_rel_error_fd < 1e-5
        # finite differences really agree (not only through the floor)
        table = report.table
        big = table["autodiff"].abs() > 0.1
        rel = (table["finite_difference"] - table["autodiff"]).abs() / table["autodiff"].abs()
        assert (rel[big] < 1e-5).all()
        assert "internal parameter space" in str(report)


def test_check_gradients_from_model_and_data():
    df, model, truth = beverage(n_people=60, n_situations=6, seed=4)  # shapes as `small`
    report = dg.check_gradients(model, df, params=truth, draws=10, gradient="autodiff")
    assert report.ok and report.max_rel_error == 0.0


def test_check_gradients_reports_a_wrong_gradient(small):
    problem, truth = small
    report = dg.check_gradients(problem, params=truth, gradient=dg.seed_gradient())
    assert not report.ok
    assert report.failed == GAMMAS
    assert report.max_rel_error > 1e-3
    assert report.max_rel_error_fd < 1e-5  # finite differences still agree with autodiff
    assert "FAILED" in str(report) and GAMMA_HC_PB in str(report)


def test_check_gradients_notices_a_wrong_loglike(small):
    problem, truth = small

    def shifted(likelihood, u):
        ll, grad = likelihood.loglike_and_grad(u)
        return ll + 1.0, grad

    report = dg.check_gradients(problem, params=truth, gradient=shifted, finite_differences=False)
    assert not report.ok and not report.loglike_ok and report.failed == []


# --- frozen-gradient detector ---------------------------------------------------------


def test_correct_gradients_flag_nothing(study):
    """Also at the seed's start (raw prices, all 0.1: a saturated probit whose
    curvature is tiny beside its scores, which is not flatness)."""
    problem, truth = study
    for gradient, params in (("autodiff", truth), ("analytic", truth), ("analytic", 0.1)):
        report = dg.detect_frozen(problem, params=params, gradient=gradient)
        assert report.ok, report.message
        assert report.wrong == [] and report.flat == []
        assert (report.table["verdict"] == "ok").all()
        # finite differences of the gradient agree with the Hessian-vector products to
        # ~1e-8 (truth) or ~1e-5 (0.1: rounding noise of a saturated probit's gradient)
        assert report.table["response_error"].max() < 1e-4


def test_the_seed_structural_bug_is_wrong_gradient_code(study):
    problem, truth = study
    report = dg.detect_frozen(problem, params=truth, gradient=dg.seed_gradient())
    assert report.wrong == GAMMAS
    assert report.flat == []
    assert "WRONG GRADIENT CODE" in report.message and GAMMA_HC_PB in report.message
    assert "FLAT" not in report.message
    row = report.table.loc[GAMMA_HC_PB]
    assert row["rel_gradient"] > 1e-3
    # its response to gamma is not autodiff's curvature
    assert abs(row["scaled_response"] - row["scaled_curvature"]) > 1e-2


def test_the_planted_bug_is_the_seed_formula(study):
    """The AnalyticScores override equals the formula computed directly from the draws."""
    problem, truth = study
    likelihood = problem.likelihood
    u = problem.free_internal(truth)
    names = list(problem.space.free_names)
    planted = np.asarray(dg.seed_gradient()(likelihood, u)[1])
    correct = np.asarray(likelihood.loglike_and_grad(u)[1])
    direct = dg.seed_gamma_values(likelihood, u)  # [to, from]
    np.testing.assert_allclose(planted[names.index(GAMMA_HC_PB)], direct[1, 0], rtol=1e-10)
    np.testing.assert_allclose(planted[names.index(GAMMA_PB_PI)], direct[2, 1], rtol=1e-10)
    others = [i for i, n in enumerate(names) if n not in GAMMAS]
    np.testing.assert_allclose(planted[others], correct[others], rtol=1e-9, atol=1e-9)


def test_a_gradient_that_ignores_its_parameter_does_not_respond(study):
    problem, truth = study
    report = dg.detect_frozen(problem, params=truth, gradient=dg.seed_gradient("prior"))
    assert report.wrong == GAMMAS
    reason = report.table.loc[GAMMA_HC_PB, "reason"]
    assert "does not respond" in reason
    row = report.table.loc[GAMMA_HC_PB]
    assert abs(row["response"]) < 1e-6 * abs(row["curvature"])  # rounding only


def test_a_threshold_sign_error_is_caught(study):
    """A sign error in d/d tau_hc1_2 reaches the internal gradient of tau_hc1_1 too
    (``tau_2 = tau_1 + exp(u_2)``), and nothing else."""
    problem, truth = study
    scores = dg.FlippedThresholdScores.named(problem, "tau_hc1_2")
    report = dg.detect_frozen(problem, params=truth, gradient=dg.analytic_gradient_with(scores))
    assert report.wrong == ["tau_hc1_1", "tau_hc1_2"]
    assert report.flat == []
    with pytest.raises(ValueError, match="not the threshold"):
        dg.FlippedThresholdScores.named(problem, "lambda_hc1")


def _ascent_path(problem, gradient, u0, move, steps=5, rate=0.2):
    """Scaled gradient ascent ``u += rate * move * s^2 g / N`` (a diagonal BHHH step)."""
    likelihood = problem.likelihood
    scales = dg.natural_scales(likelihood, u0)
    u, iterates, gradients = np.asarray(u0, dtype=float), [], []
    for _ in range(steps):
        grad = np.asarray(gradient(likelihood, jnp.asarray(u))[1])
        iterates.append(u.copy())
        gradients.append(grad)
        u = u + rate * move * scales**2 * grad / likelihood.n_people
    return np.array(iterates), np.array(gradients)


def test_the_seed_symptom_along_an_optimiser_path(study):
    """The seed's formula with the simulation weights is ``sum_n mean_r zeta_pb eta_hc``:
    identical to every digit while gamma and every parameter except the b's of health
    concern (its only inputs) move.  The correct gradient on the same path moves."""
    problem, _ = study
    names = list(problem.space.free_names)
    u0 = problem.free_internal(0.1)  # the seed's start
    move = np.array([not n.startswith("b_") for n in names], dtype=float)
    i = names.index(GAMMA_HC_PB)

    iterates, gradients = _ascent_path(problem, dg.seed_gradient("prior"), u0, move)
    report = dg.detect_frozen_path(iterates, gradients, names)
    assert report.frozen == [GAMMA_HC_PB]
    assert report.table.loc[GAMMA_HC_PB, "longest_run"] == len(iterates)
    assert report.table.loc[GAMMA_HC_PB, "value_change"] > 1e-7
    assert np.all(np.diff(iterates[:, i]) != 0)
    assert np.all(np.diff(iterates[:, move == 1], axis=0) != 0)  # all the others moved too
    assert "FROZEN GRADIENT" in report.message

    for correct in (dg.autodiff_gradient, dg.analytic_gradient):
        iterates, gradients = _ascent_path(problem, correct, u0, move)
        assert dg.detect_frozen_path(iterates, gradients, names).ok


def test_importance_weights_keep_the_seed_formula_moving(study):
    """With importance weights ``w_nr`` the seed's formula still depends on gamma (through
    the weights): along a gamma-only path it changes in the 5th digit or earlier, so the
    path symptom needs weights that do not move; the point-wise detector catches it."""
    problem, _ = study
    names = list(problem.space.free_names)
    move = np.array([n == GAMMA_HC_PB for n in names], dtype=float)
    iterates, gradients = _ascent_path(
        problem, dg.seed_gradient(), problem.free_internal(0.1), move, steps=4
    )
    report = dg.detect_frozen_path(iterates, gradients, names)
    assert GAMMA_HC_PB not in report.frozen
    column = gradients[:, names.index(GAMMA_HC_PB)]
    assert np.all(np.abs(np.diff(column)) > 1e-9 * np.abs(column[1:]))


def test_detect_frozen_path_rules():
    names = ["a", "b", "c", "d"]
    x = np.array(
        [[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 1.0], [2.0, 2.0, 0.0, 2.0], [3.0, 3.0, 0.0, 3.0]]
    )
    g = np.array(
        [
            [-0.041543370, 1.0, 5.0, 2.0],
            [-0.0415433701, 2.0, 5.0, 2.0],
            [-0.041543370, 3.0, 5.0, 2.1],
            [-0.041543370, 4.0, 5.0, 2.1],
        ]
    )
    report = dg.detect_frozen_path(x, g, names)
    # a: same to 9 digits while moving; b: moves; c: same but never moved;
    # d: two runs of 2 iterations only
    assert report.frozen == ["a"]
    assert report.table.loc["a", "longest_run"] == 4
    assert report.table.loc["d", "longest_run"] == 2
    assert dg.detect_frozen_path(x[:2], g[:2], names).ok
    g_seventh = g.copy()
    g_seventh[1, 0] = -0.04154338  # differs in the 8th significant digit
    assert dg.detect_frozen_path(x, g_seventh, names).table.loc["a", "longest_run"] == 2
    with pytest.raises(ValueError, match="iterations"):
        dg.detect_frozen_path(x, g[:, :2], names)


def test_an_unidentified_constant_is_flat_not_wrong_code():
    """Two constants on identical dummy columns: the likelihood is flat along their
    difference; autodiff agrees, so it is a model problem, not wrong code."""
    df, model, truth = beverage(n_people=100, n_situations=6, seed=6)
    df["sugar_copy"] = df["sugar"]
    utility = ij.Utility(
        attributes={"price": "price", "health_label": "health_label"},
        constants={"sugar": "sugar", "sugar_free": "sugar_free", "sugar_copy": "sugar_copy"},
        lvs=["purchase_intention"],
    )
    duplicated = ij.ICLVModel(
        model.latent_variables, model.indicators, ij.BinaryProbit("buy", utility), person_id="id"
    )
    problem = ij.Problem(duplicated, df, draws=10)
    report = dg.detect_frozen(problem, params=truth, gradient="analytic")
    assert report.wrong == []
    assert report.flat == ["asc_sugar", "asc_sugar_copy"]
    assert not report.ok
    assert "FLAT LIKELIHOOD" in report.message and "WRONG" not in report.message
    (direction,) = report.flat_directions
    assert set(direction) == {"asc_sugar", "asc_sugar_copy"}
    np.testing.assert_allclose(sorted(direction.values()), [-(2**-0.5), 2**-0.5], atol=1e-6)


# --- block scales ---------------------------------------------------------------------


def test_gradient_scales_show_the_raw_price_imbalance(study):
    """Raw prices and every start 0.1 (the seed's set-up): the choice gradient dwarfs the
    structural one; in the BHHH-scaled coordinates ``v = u / s`` the blocks are
    comparable."""
    problem, _ = study
    u0 = problem.free_internal(0.1)
    scales = dg.natural_scales(problem.likelihood, u0)
    report = dg.gradient_scales(problem, params=0.1, scales=scales)
    assert list(report.table.index) == ["structural", "measurement", "choice_lv", "choice_other"]
    assert report.ratio("choice_other", "structural") > 100
    assert report.ratio("choice_lv", "structural") > 10
    scaled = report.ratio("choice_other", "structural", scaled=True)
    assert scaled < 10
    assert report.imbalance > 1000 * report.scaled_imbalance
    assert report.largest(1).index[0] == "beta_price"
    assert report.table.loc["choice_lv", "largest"] == "theta_purchase_intention"
    text = str(report)
    assert "choice: other" in text and "after scaling" in text
    by_name = dg.gradient_scales(problem, params=0.1, scales="bhhh")
    np.testing.assert_allclose(by_name.table["scaled_mean_abs"], report.table["scaled_mean_abs"])
    internal = report.gradient["internal"].to_numpy()
    np.testing.assert_allclose(report.gradient["scaled"], internal * scales)


def test_reported_gradient_is_d_loglike_d_theta(small):
    """Identity parameters keep their gradient; thresholds get ``J^-T g_u``: checked
    against a central difference in the reported value."""
    problem, truth = small
    report = dg.gradient_scales(problem, params=truth)
    gradient = report.gradient
    identity = gradient.loc["lambda_hc1"]
    assert identity["reported"] == identity["internal"]
    for name in ("tau_hc1_1", "tau_hc1_3"):
        h = 1e-5
        up, down = dict(truth), dict(truth)
        up[name] += h
        down[name] -= h
        fd = (problem.loglike(up) - problem.loglike(down)) / (2 * h)
        np.testing.assert_allclose(gradient.loc[name, "reported"], fd, rtol=1e-5)
    assert "scaled_mean_abs" not in report.table


def test_resolve_gradient_names():
    assert dg.resolve_gradient("autodiff")[1] is dg.autodiff_gradient
    assert dg.resolve_gradient("analytic")[1] is dg.analytic_gradient
    with pytest.raises(ValueError, match="gradient must be"):
        dg.resolve_gradient("numeric")
