"""Nested logit (issue 16, item 1): the kernel against closed forms and an independent
implementation, its hand-written scores, recovery, model files, post-estimation, and
Biogeme's b09nested on Swissmetro."""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import analytic_study, assert_scores_match

import iclv_jax as ij
from iclv_jax.cli import main
from iclv_jax.errors import DataError, SpecificationError
from iclv_jax.modeldict import model_from_dict, model_to_dict
from iclv_jax.prediction import probabilities

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import peer_nested as pn  # noqa: E402


def _nested(choice: ij.MultinomialLogit, nests) -> ij.NestedLogit:
    return ij.NestedLogit(choice.choice, choice.alternatives, nests=nests)


@pytest.fixture(scope="module")
def lv_study():
    """The analytic study's MNL (LVs, availability on B and C, so the nest {B, C} is
    empty in some situations) and the same alternatives nested."""
    df, model = analytic_study("ordered_logit", "mnl", n_people=30, seed=1)
    nested = ij.ICLVModel(
        model.latent_variables,
        model.indicators,
        _nested(model.choice, {"BC": ["B", "C"]}),
        fixed=model.fixed,
    )
    return df, model, nested


def test_every_mu_one_is_the_multinomial_logit(lv_study):
    """``mu = 1``: the NL likelihood and its probabilities are the MNL's (with LVs,
    availability and a nest with nothing available in some situations)."""
    df, mnl, nested = lv_study
    assert (((df["av2"] == 0) & (df["av3"] == 0)).sum()) > 0  # the nest is sometimes empty
    p_mnl = ij.Problem(mnl, df, draws=ij.Halton(6, seed=2))
    p_nl = ij.Problem(nested, df, draws=ij.Halton(6, seed=2))
    rng = np.random.default_rng(3)
    u_mnl = p_mnl.free_internal(None) + 0.3 * rng.normal(size=p_mnl.space.n_free)
    reported = p_mnl.reported(u_mnl)
    mnl_params = {n: reported[n] for n in p_mnl.space.free_names}
    assert p_nl.loglike({**mnl_params, "mu_BC": 1.0}) == pytest.approx(
        p_mnl.loglike(mnl_params), abs=1e-10
    )
    u_nl = p_nl.free_internal({**mnl_params, "mu_BC": 1.0})
    np.testing.assert_allclose(
        probabilities(p_nl.likelihood, u_nl, "prior"),
        probabilities(p_mnl.likelihood, u_mnl, "prior"),
        atol=1e-13,
    )


def test_analytic_scores_match_autodiff(lv_study):
    """Hand-written ``d log P / d V`` and ``d / d mu`` against autodiff, per person, at a
    point with ``mu`` away from 1 (LVs, an empty nest in some situations)."""
    df, _, nested = lv_study
    problem = ij.Problem(nested, df, draws=ij.Halton(5, seed=0))
    rng = np.random.default_rng(0)
    u = problem.free_internal(None) + 0.2 * rng.normal(size=problem.space.n_free)
    u = u.at[problem.space.free_names.index("mu_BC")].set(2.3)
    assert_scores_match(problem, u)
    check = ij.check_gradients(nested, df, problem.reported(u), draws=ij.Halton(5, seed=0))
    assert "mu_BC" in list(check.table.index)


def _cross_section(n=400, seed=0, mu=(2.0,), beta=(-1.0, 0.5)):
    """Four alternatives, nest {a, b} (and {c, d} when two mus are given), random
    availability of b and d; utilities ``asc_j + beta_x x_j + beta_z z_j``."""
    rng = np.random.default_rng(seed)
    x, z = rng.normal(size=(n, 4)), rng.normal(size=(n, 4))
    available = np.ones((n, 4), bool)
    available[:, 1] = rng.uniform(size=n) > 0.3
    available[:, 3] = rng.uniform(size=n) > 0.3
    asc = np.array([0.0, 0.4, -0.3, 0.2])
    v = asc + beta[0] * x + beta[1] * z
    nest_of = np.array([0, 0, 1, 1]) if len(mu) == 2 else np.array([0, 0, 1, 2])
    mus = np.array([*mu, 1.0, 1.0][: nest_of.max() + 1])
    prob = pn.nl_probabilities(v, available, nest_of, mus)
    chosen = (prob.cumsum(axis=1) < rng.uniform(size=(n, 1))).sum(axis=1)
    frame = {
        "id": np.arange(n),
        "choice": chosen + 1,
        "av_b": available[:, 1],
        "av_d": available[:, 3],
    }
    for j, alt in enumerate("abcd"):
        frame[f"x_{alt}"], frame[f"z_{alt}"] = x[:, j], z[:, j]
    df = pd.DataFrame(frame).astype({"av_b": int, "av_d": int})
    alternatives = [
        ij.Alternative(
            alt,
            j + 1,
            f"beta_x * x_{alt} + beta_z * z_{alt}",
            asc=j > 0,
            available={"b": "av_b", "d": "av_d"}.get(alt),
        )
        for j, alt in enumerate("abcd")
    ]
    nests = {"ab": ["a", "b"], "cd": ["c", "d"]} if len(mu) == 2 else {"ab": ["a", "b"]}
    model = ij.ICLVModel([], [], ij.NestedLogit("choice", alternatives, nests), person_id="id")
    truth = {"asc_b": 0.4, "asc_c": -0.3, "asc_d": 0.2, "beta_x": beta[0], "beta_z": beta[1]}
    truth.update({f"mu_{n}": m for n, m in zip(nests, mu, strict=True)})
    return df, model, v, available, nest_of, truth


def test_log_probabilities_match_an_independent_implementation():
    """LL, per-situation probabilities (``ij.predict``) at random parameters against the
    textbook formula in NumPy (:func:`peer_nested.nl_probabilities`); probabilities sum
    to 1 and are 0 where unavailable."""
    df, model, _, available, nest_of, _ = _cross_section(n=60, mu=(1.7, 2.6), seed=5)
    rng = np.random.default_rng(1)
    params = {
        "asc_b": rng.normal(), "asc_c": rng.normal(), "asc_d": rng.normal(),
        "beta_x": rng.normal(), "beta_z": rng.normal(),
        "mu_ab": 1.0 + 2 * rng.uniform(), "mu_cd": 1.0 + 2 * rng.uniform(),
    }  # fmt: skip
    asc = np.array([0.0, params["asc_b"], params["asc_c"], params["asc_d"]])
    x = df[[f"x_{a}" for a in "abcd"]].to_numpy()
    z = df[[f"z_{a}" for a in "abcd"]].to_numpy()
    v = asc + params["beta_x"] * x + params["beta_z"] * z
    expected = pn.nl_probabilities(v, available, nest_of, [params["mu_ab"], params["mu_cd"]])
    chosen = df["choice"].to_numpy() - 1
    problem = ij.Problem(model, df, draws=1)
    assert problem.loglike(params) == pytest.approx(
        np.log(expected[np.arange(len(df)), chosen]).sum(), abs=1e-10
    )
    predicted = _prior_probabilities(model, df, params)
    np.testing.assert_allclose(predicted, expected, atol=1e-12)
    np.testing.assert_allclose(predicted.sum(axis=1), 1.0, atol=1e-12)
    assert (predicted[~available] == 0).all()


def _prior_probabilities(model, df, params):
    """``(rows, J)`` probabilities at ``params`` (no LVs: no draws needed)."""
    problem = ij.Problem(model, df, draws=1)
    probs = np.asarray(probabilities(problem.likelihood, problem.free_internal(params), "prior"))
    return probs.reshape(-1, probs.shape[-1])[: len(df)]


@pytest.fixture(scope="module")
def recovered():
    df, model, *_, truth = _cross_section(n=1500, mu=(2.0,), seed=11)
    return df, model, truth, ij.estimate(model, df, draws=1, verbose=False)


def test_estimation_recovers_a_simulated_truth(recovered):
    """N = 1500 situations simulated from a known NL: every estimate within 3.5 SEs of
    the truth, ``mu_ab`` clearly above 1, a converged fit."""
    _, _, truth, results = recovered
    assert results.converged
    z = {n: (results.estimates[n] - v) / results.table.loc[n, "se"] for n, v in truth.items()}
    assert max(abs(v) for v in z.values()) < 3.5, z
    assert results.estimates["mu_ab"] > 1.3


def test_results_save_load_predict_shares_elasticities(recovered, tmp_path):
    """The fitted NL round-trips through a results file and prints its nest parameter;
    its predictions sum to 1, its market shares are near the observed ones, and its
    elasticities w.r.t. ``x_a`` are the closed form: with ``P(a|ab) = P_a / (P_a + P_b)``,
    ``x_a beta_x (mu - (mu - 1) P(a|ab) - P_a)`` for ``a`` itself,
    ``-x_a beta_x ((mu - 1) P(a|ab) + P_a)`` for ``b`` in its nest, ``-x_a beta_x P_a``
    for ``c`` and ``d`` (row averages where the outcome is possible)."""
    df, model, _, results = recovered
    path = tmp_path / "nl.json"
    results.save(path)
    loaded = ij.load_results(path)
    assert loaded.estimates == pytest.approx(results.estimates)
    assert loaded.model == model
    assert "mu_ab" in results.summary()
    predicted = ij.predict(loaded, model, df).to_numpy()
    np.testing.assert_allclose(predicted.sum(axis=1), 1.0, atol=1e-12)
    shares = ij.market_shares(loaded, model, df).to_numpy()
    observed = df["choice"].value_counts(normalize=True).sort_index().to_numpy()
    np.testing.assert_allclose(shares, observed, atol=0.03)

    e = results.estimates
    mu, beta = e["mu_ab"], e["beta_x"]
    available = np.column_stack([np.ones(len(df)), df["av_b"], np.ones(len(df)), df["av_d"]])
    v = (
        np.array([0.0, e["asc_b"], e["asc_c"], e["asc_d"]])
        + beta * df[[f"x_{a}" for a in "abcd"]].to_numpy()
        + e["beta_z"] * df[[f"z_{a}" for a in "abcd"]].to_numpy()
    )
    p = pn.nl_probabilities(v, available.astype(bool), np.array([0, 0, 1, 2]), [mu, 1.0, 1.0])
    np.testing.assert_allclose(predicted, p, atol=1e-12)
    in_nest = p[:, 0] / (p[:, 0] + p[:, 1])
    d_log_p = np.column_stack(
        [mu - (mu - 1) * in_nest - p[:, 0], -(mu - 1) * in_nest - p[:, 0], -p[:, 0], -p[:, 0]]
    )
    closed = beta * df["x_a"].to_numpy()[:, None] * d_log_p
    expected = [closed[p[:, k] > 0, k].mean() for k in range(4)]
    got = ij.elasticities(loaded, model, df, "x_a").loc["a"].to_numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_model_file_round_trip(tmp_path):
    df, model, *_ = _cross_section(n=20)
    data = model_to_dict(model)
    assert data["choice"]["kind"] == "nested_logit"
    assert data["choice"]["nests"] == {"ab": ["a", "b"]}
    assert model_from_dict(data) == model
    for suffix in ("yaml", "toml"):
        path = tmp_path / f"nl.{suffix}"
        ij.save_model(model, path)
        assert ij.load_model(path) == model
    bad = {**data, "choice": {**data["choice"], "nests": {"ab": "a b"}}}
    with pytest.raises(SpecificationError, match="nests, ab: expected a list"):
        model_from_dict(bad)


@pytest.mark.slow  # 20-40 s on 2 shared cores: compiling, then the report's figures
def test_cli_estimates_a_nested_logit_model_file(tmp_path, capsys):
    """``iclv-jax estimate`` on a nested-logit model file: the results file holds the
    nest parameter, and its LL is that of the written estimates."""
    df, model, *_ = _cross_section(n=120, seed=2)
    ij.save_model(model, tmp_path / "nl.yaml")
    df.to_csv(tmp_path / "nl.csv", index=False)
    out = tmp_path / "out"
    status = main(
        ["estimate", str(tmp_path / "nl.yaml"), str(tmp_path / "nl.csv"), "--out", str(out)]
    )
    assert status == 0
    assert "mu_ab" in capsys.readouterr().out
    results = ij.load_results(out / "results.json")
    assert results.model == model
    assert ij.Problem(model, df, draws=1).loglike(results.estimates) == pytest.approx(
        results.loglike, abs=1e-8
    )


def test_bad_nests_are_refused():
    alts = [ij.Alternative(a, j, f"b * x_{a}", asc=j > 1) for j, a in enumerate("abc", 1)]
    for nests, match in (
        ({"n": ["a", "z"]}, "names \\['z'\\], which are not alternatives"),
        ({"n": ["a", "b"], "m": ["b", "c"]}, "'b' is in nests 'n' and 'm'"),
        ({"n": ["a"]}, "a nest of one alternative"),
        ({}, "non-empty mapping"),
    ):
        with pytest.raises(SpecificationError, match=match):
            ij.NestedLogit("y", alts, nests)


def test_a_nest_never_available_together_is_refused():
    df, model, *_ = _cross_section(n=30)
    df["av_d"] = 1 - df["av_b"]  # b and d never available together
    df.loc[(df["choice"] == 2) & (df["av_b"] == 0), "choice"] = 1
    df.loc[(df["choice"] == 4) & (df["av_d"] == 0), "choice"] = 1
    model = ij.ICLVModel([], [], _nested(model.choice, {"bd": ["b", "d"]}), person_id="id")
    with pytest.raises(DataError, match="mu_bd is not identified"):
        ij.estimate(model, df, draws=1, verbose=False)


# --- Biogeme's b09nested on Swissmetro (data from the Biogeme venv; skipped without) -----

STORED = BENCHMARKS / "results" / "peer_nested.json"
needs_swissmetro = pytest.mark.skipif(
    not pn.SWISSMETRO.exists(), reason=f"Swissmetro data not found at {pn.SWISSMETRO}"
)


def _biogeme_swissmetro() -> dict:
    """Biogeme 3.3.5's b09nested results, stored by ``benchmarks/peer_nested.py``."""
    return json.loads(STORED.read_text())["cases"]["swissmetro"]


@needs_swissmetro
def test_swissmetro_loglike_at_biogeme_estimates():
    """Our LL at Biogeme's estimates is Biogeme's LL (1e-6)."""
    stored = _biogeme_swissmetro()
    params = {n: e["biogeme"] for n, e in stored["estimates"].items()}
    problem = ij.Problem(pn.swissmetro_model(), pn.swissmetro_data(), draws=1)
    assert problem.panel.n_people == stored["observations"] == 6768
    assert problem.loglike(params) == pytest.approx(stored["loglike"]["biogeme"], abs=1e-6)


@pytest.mark.slow
@needs_swissmetro
def test_swissmetro_estimates_match_biogeme():
    """The fit reproduces Biogeme's b09nested: LL to 1e-4, estimates to 1e-3 relative,
    SEs to 1e-2 relative."""
    stored = _biogeme_swissmetro()
    results = ij.estimate(pn.swissmetro_model(), pn.swissmetro_data(), draws=1, verbose=False)
    assert results.converged
    assert results.loglike == pytest.approx(stored["loglike"]["biogeme"], abs=1e-4)
    for name, e in stored["estimates"].items():
        assert results.estimates[name] == pytest.approx(e["biogeme"], rel=1e-3), name
        assert results.table.loc[name, "se"] == pytest.approx(e["se_biogeme"], rel=1e-2), name
