"""Joint choice components sharing the LVs (issue 16, item 4): an empty second component
is the single model, independence without LVs, the likelihood against numpy with one
LV, prediction by component, model files, refusals and recovery of a relative scale."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from helpers import gradient_difference_hessian, numpy_lv_and_continuous_items
from scipy.special import logsumexp
from scipy.stats import norm

import iclv_jax as ij
from iclv_jax.errors import DataError, SpecificationError
from iclv_jax.plots import observed_choice_shares

ALTERNATIVES = "abc"
TRUTH = {
    "b_x_to_att": 0.8,
    **{f"alpha_i{k}": 2.0 for k in range(3)},
    **{f"lambda_i{k}": lam for k, lam in enumerate((1.0, 0.8, 1.2))},
    **{f"sigma_i{k}": 0.5 for k in range(3)},
    "beta_cost": -1.5,
    "beta_time": -0.8,
    "asc_b": 0.4,
    "theta_att_b": 0.7,
    "asc_sp": 0.3,
    "theta_att_sp": -0.5,
}


def simulate(n: int, t: int, seed: int, scale: float, lv: bool = True) -> pd.DataFrame:
    """``n`` people, ``t`` rows each: the first half experiment 1 (MNL ``choice``), the
    rest experiment 2 (the same MNL's utilities times ``scale`` in ``choice``; a binary
    probit ``buy`` of ``asc_sp + beta_cost cost_a + theta_att_sp att``)."""
    rng = np.random.default_rng(seed)
    p = TRUTH
    x = rng.normal(size=n)
    eta = (p["b_x_to_att"] * x + rng.normal(size=n)) if lv else np.zeros(n)
    experiment = np.where(np.arange(t) < t // 2, 1, 2)[None, :].repeat(n, 0)
    cost, time = rng.uniform(0.2, 2.0, (2, n, t, 3))
    v = p["beta_cost"] * cost + p["beta_time"] * time
    v[..., 1] += p["asc_b"] + p["theta_att_b"] * eta[:, None]
    v = np.where((experiment == 2)[..., None], scale * v, v)
    gumbel = rng.gumbel(size=v.shape)
    buy_v = p["asc_sp"] + p["beta_cost"] * cost[..., 0] + p["theta_att_sp"] * eta[:, None]
    frame = {
        "id": np.repeat(np.arange(n), t),
        "experiment": experiment.ravel(),
        "choice": (v + gumbel).argmax(-1).ravel() + 1,
        "buy": (buy_v + rng.normal(size=buy_v.shape) > 0).astype(float).ravel(),
        "rating": np.digitize(buy_v + rng.normal(size=buy_v.shape), [-0.5, 0.5]).ravel() + 1,
        "x": np.repeat(x, t),
    }
    for k in range(3):
        item = p[f"alpha_i{k}"] + p[f"lambda_i{k}"] * eta + p[f"sigma_i{k}"] * rng.normal(size=n)
        frame[f"i{k}"] = np.repeat(item, t)
    for j, alt in enumerate(ALTERNATIVES):
        frame[f"cost_{alt}"] = cost[..., j].ravel()
        frame[f"time_{alt}"] = time[..., j].ravel()
    return pd.DataFrame(frame)


def mnl(lv: bool = True) -> ij.MultinomialLogit:
    att = " + theta_att_b * att" if lv else ""
    return ij.MultinomialLogit(
        "choice",
        [
            ij.Alternative(
                a,
                j + 1,
                f"beta_cost * cost_{a} + beta_time * time_{a}" + (att if a == "b" else ""),
                asc=a == "b",
            )
            for j, a in enumerate(ALTERNATIVES)
        ],
    )


def probit(lv: bool = True) -> ij.BinaryProbit:
    att = " + theta_att_sp * att" if lv else ""
    return ij.BinaryProbit("buy", "asc_sp + beta_cost * cost_a" + att)


def model(choice, lv: bool = True) -> ij.ICLVModel:
    if not lv:
        return ij.ICLVModel([], [], choice)
    return ij.ICLVModel(
        [ij.LatentVariable("att", covariates=["x"])],
        [ij.Indicator(f"i{k}", "att", kind="continuous") for k in range(3)],
        choice,
    )


def joint(second=None, lv: bool = True) -> ij.ICLVModel:
    components = {"rp": mnl(lv), "sp": probit(lv) if second is None else second}
    return model(ij.JointChoice(components, experiment="experiment"), lv)


def random_params(names, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {
        name: (0.6 + 0.2 * rng.random()) if name.startswith(("sigma", "scale")) else rng.normal()
        for name in names
    }


def test_an_empty_second_component_is_the_single_model():
    df = simulate(25, 4, seed=1, scale=1.0).assign(experiment=1)
    single = ij.Problem(model(mnl()), df, 10)
    both = ij.Problem(joint(), df, 10)
    params = random_params(both.space.names, seed=2)
    assert set(single.space.names) < set(both.space.names)
    assert {"scale_sp", "asc_sp", "theta_att_sp"} <= set(both.space.names)
    assert both.loglike(params) == single.loglike({n: params[n] for n in single.space.names})
    with pytest.raises(DataError, match="component 'sp' has no rows"):
        ij.estimate(joint(), df, draws=5, verbose=False)


ORDERED = ij.OrderedProbitChoice("rating", "beta_cost * cost_a", levels=3)
NESTED = ij.NestedLogit(
    "choice",
    [ij.Alternative(a, j + 1, f"beta_cost * cost_{a}", asc=a == "b") for j, a in enumerate("abc")],
    nests={"ab": ["a", "b"]},
)


@pytest.mark.parametrize(
    "second", [None, ORDERED, NESTED], ids=["binary_probit", "ordered_probit", "nested_logit"]
)
def test_without_lvs_the_loglike_is_the_sum_of_the_components(second):
    """Independence: ``LL = LL_MNL(rows 1) + LL_second(rows 2)``, the second's
    coefficients times the relative scale (its utility is linear in them; ordered
    thresholds and nest parameters are not scaled)."""
    df = simulate(30, 6, seed=3, scale=1.0, lv=False)
    both = ij.Problem(joint(second, lv=False), df)
    params = random_params(both.space.names, seed=4)
    if second is ORDERED:  # increasing thresholds
        params.update(tau_rating_1=-0.4, tau_rating_2=0.7)
    if second is NESTED:  # mu >= 1
        params.update(mu_ab=1.7)
    rp = ij.Problem(model(mnl(False), False), df[df["experiment"] == 1])
    sp = ij.Problem(model(second or probit(False), False), df[df["experiment"] == 2])
    scaled = {
        n: params[n] * (1 if n.startswith(("tau", "mu_")) else params["scale_sp"])
        for n in sp.space.names
    }
    expected = rp.loglike({n: params[n] for n in rp.space.names}) + sp.loglike(scaled)
    assert both.loglike(params) == pytest.approx(expected, rel=1e-13)


def numpy_loglike(df: pd.DataFrame, p: dict, zeta: np.ndarray) -> float:
    """The joint MNL (experiment 1) + scaled probit (experiment 2) ICLV by numpy on the
    draws ``zeta`` ``[N, R]``."""
    first = df.groupby("id", sort=True).first()
    eta, m = numpy_lv_and_continuous_items(first, p, zeta)
    person = df["id"].to_numpy()
    e = eta[person]  # [rows, R]
    v = (
        np.stack(
            [p["beta_cost"] * df[f"cost_{a}"] + p["beta_time"] * df[f"time_{a}"] for a in "abc"], 1
        )[:, :, None]
        + np.zeros_like(e)[:, None, :]
    )
    v[:, 1] += p["asc_b"] + p["theta_att_b"] * e
    chosen = df["choice"].to_numpy() - 1
    log_mnl = v[np.arange(len(df)), chosen] - logsumexp(v, axis=1)
    w = p["scale_sp"] * (
        p["asc_sp"] + p["beta_cost"] * df["cost_a"].to_numpy()[:, None] + p["theta_att_sp"] * e
    )
    log_probit = norm.logcdf(np.where(df["buy"].to_numpy()[:, None] == 1, w, -w))
    rows = np.where(df["experiment"].to_numpy()[:, None] == 1, log_mnl, log_probit)
    choice = pd.DataFrame(rows).groupby(person).sum().to_numpy()
    return float(logsumexp(m + choice, axis=1).sum() - len(first) * np.log(zeta.shape[1]))


@pytest.fixture(scope="module")
def small():
    df = simulate(30, 6, seed=5, scale=0.5)
    problem = ij.Problem(joint(), df, 12)
    params = random_params(problem.space.names, seed=6)
    zeta = np.asarray(problem.likelihood.zeta)[: problem.panel.n_people, :, 0]
    return df, problem, params, zeta


def test_loglike_equals_numpy_with_one_lv(small):
    df, problem, params, zeta = small
    assert problem.loglike(params) == pytest.approx(numpy_loglike(df, params, zeta), rel=1e-12)


def test_check_gradients_names_autodiff_only_parameters():
    df = simulate(20, 4, seed=8, scale=1.0, lv=False)
    problem = ij.Problem(joint(lv=False), df)
    params = random_params(problem.space.names, seed=9)
    check = ij.check_gradients(problem, None, params, gradient="analytic")
    assert check.ok, check.table
    assert set(check.not_covered) == set(problem.space.free_names)
    assert "JointChoiceKernel" in check.implementation


def test_prediction_by_component(small):
    df, _, params, zeta = small
    probs = ij.predict(params, joint(), df, draws=12)
    assert list(probs.columns) == ["rp:a", "rp:b", "rp:c", "sp:0", "sp:1"]
    rp = df["experiment"].to_numpy() == 1
    np.testing.assert_allclose(probs.to_numpy()[rp, :3].sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(probs.to_numpy()[~rp, 3:].sum(axis=1), 1.0, atol=1e-12)
    assert (probs.to_numpy()[rp, 3:] == 0).all() and (probs.to_numpy()[~rp, :3] == 0).all()
    # the probit rows by numpy: Phi(w) averaged over the prior draws
    first = df.groupby("id", sort=True).first()
    eta = (params["b_x_to_att"] * first["x"].to_numpy()[:, None] + zeta)[df["id"].to_numpy()]
    w = params["scale_sp"] * (
        params["asc_sp"]
        + params["beta_cost"] * df["cost_a"].to_numpy()[:, None]
        + params["theta_att_sp"] * eta
    )
    np.testing.assert_allclose(probs["sp:1"][~rp], norm.cdf(w).mean(axis=1)[~rp], rtol=1e-10)
    observed = observed_choice_shares(joint(), df)
    assert observed["sp:1"] == pytest.approx(((~rp) & (df["buy"] == 1)).mean())
    assert observed["rp:b"] == pytest.approx((rp & (df["choice"] == 2)).mean())
    assert observed.sum() == pytest.approx(1.0)


def test_model_file_round_trip_and_refusals(tmp_path):
    spec = joint()
    data = ij.model_to_dict(spec)
    assert data["choice"]["kind"] == "joint"
    assert data["choice"]["components"]["sp"]["kind"] == "binary_probit"
    assert ij.model_from_dict(data) == spec
    assert ij.load_model(ij.save_model(spec, tmp_path / "joint.yaml")) == spec
    df = simulate(6, 2, seed=7, scale=1.0)
    df.loc[3, "experiment"] = 3
    with pytest.raises(DataError, match=r"row 3 of person 1 holds 3"):
        ij.Problem(joint(), df, 5)
    with pytest.raises(SpecificationError, match="at least two"):
        ij.JointChoice({"rp": mnl()}, experiment="experiment")
    with pytest.raises(SpecificationError, match="frees its own scale"):
        ij.JointChoice(
            {"rp": mnl(), "sp": ij.BinaryProbit("buy", "asc_sp", scale=True)}, "experiment"
        )


def recover(n: int, t: int, scale: float, lv: bool, draws, seed: int = 11):
    """Two MNL experiments with shared tastes, the second's utilities times ``scale``:
    ``(data, results)`` of the joint estimate."""
    df = simulate(n, t, seed=seed, scale=scale, lv=lv)
    spec = model(ij.JointChoice({"sp1": mnl(lv), "sp2": mnl(lv)}, "experiment"), lv)
    return df, ij.estimate(spec, df, draws=draws, verbose=False)


def test_recovers_a_relative_scale_without_lvs(tmp_path):
    df, results = recover(400, 6, 0.5, lv=False, draws=1)
    assert results.converged
    for name in ("beta_cost", "beta_time", "asc_b", "scale_sp2"):
        truth = 0.5 if name == "scale_sp2" else TRUTH[name]
        assert abs(results.estimates[name] - truth) < 3.5 * results.table.loc[name, "se"], name
    assert "scale_sp2" in results.summary()
    loaded = ij.load_results(results.save(tmp_path / "r.json"))
    assert loaded.estimates == pytest.approx(results.estimates)


@pytest.mark.slow
def test_recovers_a_relative_scale_with_an_lv():
    """Two simulated experiments sharing the tastes and the LV, the second at relative
    scale 2: every true value within 3.5 SEs (``benchmarks/joint_choice.py`` prints the
    table)."""
    _, results = recover(1000, 8, 2.0, lv=True, draws=ij.AdaptiveQuadrature(10))
    assert results.converged
    truth = {**{k: v for k, v in TRUTH.items() if "sp" not in k}, "scale_sp2": 2.0}
    z = {n: (results.estimates[n] - v) / results.table.loc[n, "se"] for n, v in truth.items()}
    assert max(abs(v) for v in z.values()) < 3.5, z


def test_exact_hessian_of_the_joint_kernel(small):
    """The Hessian's seed compression treats the joint kernel as one additive term: it
    equals central differences of the gradient."""
    _, problem, params, _ = small
    u = jnp.asarray(problem.free_internal(params))
    exact = np.asarray(problem.likelihood.hessian(u))
    differences = gradient_difference_hessian(problem.likelihood, u)
    np.testing.assert_allclose(exact, differences, rtol=1e-5, atol=1e-5)
