"""The Posterior container (issue 19) on synthetic samples, no MCMC: diagnostics
against closed forms and ArviZ, summaries against numpy, WTP against the delta method,
save/load, ArviZ export and the summary text."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from iclv_jax import datasets
from iclv_jax.bayes import Posterior, load_posterior
from iclv_jax.bayes.extra import import_arviz
from iclv_jax.bayes.summary import ess_bulk, ess_tail, r_hat, summary_row
from iclv_jax.draws import Halton
from iclv_jax.drawsdict import draws_to_dict

CHAINS, DRAWS = 4, 1000


def _ar1(rng, rho: float, shape=(CHAINS, DRAWS)) -> np.ndarray:
    """Stationary AR(1) chains ``x_t = rho x_{t-1} + e_t``, unit innovations."""
    x = np.empty(shape)
    x[:, 0] = rng.normal(size=shape[0]) / np.sqrt(1 - rho**2)
    e = rng.normal(size=shape)
    for t in range(1, shape[1]):
        x[:, t] = rho * x[:, t - 1] + e[:, t]
    return x


def _posterior(samples, **changes) -> Posterior:
    fields = {
        "samples": samples,
        "fixed": {"asc_b": 0.0},
        "priors": {name: "Normal(0, 10)" for name in samples},
        "formulation": "integrated",
        "draws": draws_to_dict(Halton(100, seed=1)),
        "sampler": {"library": "numpyro", "algorithm": "NUTS", "num_warmup": 500},
        "diverging": np.zeros(next(iter(samples.values())).shape, dtype=bool),
        "mle": None,
        "lv_summary": None,
    }
    return Posterior(**{**fields, **changes})


@pytest.fixture(scope="module")
def normal():
    """iid normal draws with known means and SDs; ``beta_price`` near-normal and far
    from zero, so a ratio over it is near-normal too."""
    rng = np.random.default_rng(19)
    truth = {"beta_a": (1.0, 0.1), "beta_b": (-0.5, 0.3), "beta_price": (-2.0, 0.05)}
    samples = {k: rng.normal(m, s, size=(CHAINS, DRAWS)) for k, (m, s) in truth.items()}
    priors = {"beta_a": "Normal(0, 10)", "beta_b": "Normal(0, 10)", "beta_price": "Normal(0, 1)"}
    return _posterior(samples, priors=priors, mle={"beta_a": 1.0, "beta_b": -0.5})


def test_r_hat_near_one_for_iid_chains_and_large_for_a_shifted_chain():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(CHAINS, DRAWS))
    assert abs(r_hat(x) - 1) < 0.01
    x[0] += 2.0
    assert r_hat(x) > 1.1


def test_ess_of_iid_draws_and_of_ar1_chains():
    rng = np.random.default_rng(2)
    n = CHAINS * DRAWS
    iid = rng.normal(size=(CHAINS, DRAWS))
    assert ess_bulk(iid) == pytest.approx(n, rel=0.25)
    assert ess_tail(iid) == pytest.approx(n, rel=0.25)
    rho = 0.9
    theory = n * (1 - rho) / (1 + rho)  # the integrated autocorrelation of AR(1)
    assert ess_bulk(_ar1(rng, rho)) == pytest.approx(theory, rel=0.3)


def _arviz():
    """ArviZ, imported as the library imports it (its once-a-day FutureWarning about a
    coming refactor silenced: in a fresh cache folder it is always due); skips when
    ArviZ is missing."""
    try:
        return import_arviz()
    except ImportError:
        pytest.skip("ArviZ is not installed")


def test_diagnostics_agree_with_arviz():
    """ArviZ implements the same definitions (Vehtari et al. 2021) independently; its
    ESS truncates the autocorrelation sum as later Stan versions do (NumPyro's as
    Stan 2.18), a difference of a few percent for autocorrelated or unmixed chains."""
    arviz = _arviz()
    rng = np.random.default_rng(3)
    shifted = rng.normal(size=(CHAINS, 301))
    shifted[1] += 0.7
    for x in (rng.normal(size=(CHAINS, 300)), _ar1(rng, 0.8, (3, 400)), shifted):
        assert r_hat(x) == pytest.approx(float(arviz.rhat(x)), rel=1e-9)
        assert ess_tail(x) == pytest.approx(float(arviz.ess(x, method="tail")), rel=0.05)
        assert ess_bulk(x) == pytest.approx(float(arviz.ess(x, method="bulk")), rel=0.05)


def test_too_few_draws_give_nan_diagnostics():
    x = np.random.default_rng(4).normal(size=(2, 3))
    assert np.isnan(r_hat(x)) and np.isnan(ess_bulk(x)) and np.isnan(ess_tail(x))


def test_table_agrees_with_numpy(normal):
    table = normal.summary_table()
    assert list(table.index) == ["beta_a", "beta_b", "beta_price"]
    assert list(table.columns) == [
        *["mean", "sd", "mcse", "q5", "q50", "q95", "r_hat", "ess_bulk", "ess_tail"],
        *["prior", "mle"],
    ]
    for name, x in normal.samples.items():
        row = table.loc[name]
        flat = x.reshape(-1)
        assert row["mean"] == pytest.approx(np.mean(flat), rel=1e-12)
        assert row["sd"] == pytest.approx(np.std(flat, ddof=1), rel=1e-12)
        assert [row["q5"], row["q50"], row["q95"]] == pytest.approx(
            np.quantile(flat, [0.05, 0.5, 0.95]), rel=1e-12
        )
        assert row["mcse"] == pytest.approx(row["sd"] / np.sqrt(row["ess_bulk"]))
        assert np.array_equal(normal.draws_of(name), flat)
    assert table.loc["beta_price", "prior"] == "Normal(0, 1)"
    assert np.isnan(table.loc["beta_price", "mle"]) and table.loc["beta_a", "mle"] == 1.0
    # the truth: mean within 4 Monte Carlo SEs
    assert abs(table.loc["beta_b", "mean"] + 0.5) < 4 * table.loc["beta_b", "mcse"]


def test_to_frame_rows_are_chain_and_draw():
    rng = np.random.default_rng(5)
    post = _posterior({"b1": rng.normal(size=(3, 7)), "b2": rng.normal(size=(3, 7))})
    frame = post.to_frame()
    assert list(frame.columns) == ["chain", "draw", "b1", "b2"] and len(frame) == 21
    row = frame.iloc[9]  # chain 1, draw 2
    assert (row["chain"], row["draw"]) == (1, 2) and row["b2"] == post.samples["b2"][1, 2]


def test_wtp_samples_are_the_ratios_and_match_the_delta_method(normal):
    wtp = normal.wtp(["beta_a", "beta_b"])
    a, b, cost = (normal.samples[k] for k in ("beta_a", "beta_b", "beta_price"))
    assert np.array_equal(wtp.samples["beta_a"], -a / cost)
    assert np.array_equal(wtp.samples["beta_b"], -b / cost)
    # delta method from the posterior moments: var = v_aa/c^2 - 2 a v_ac/c^3 + a^2 v_cc/c^4
    for name, x in (("beta_a", a), ("beta_b", b)):
        m, c = x.mean(), cost.mean()
        v = np.cov(x.reshape(-1), cost.reshape(-1))
        se = np.sqrt(v[0, 0] / c**2 - 2 * m * v[0, 1] / c**3 + m**2 * v[1, 1] / c**4)
        assert wtp.table.loc[name, "mean"] == pytest.approx(-m / c, abs=0.05 * se)
        assert wtp.table.loc[name, "sd"] == pytest.approx(se, rel=0.05)
    assert list(wtp.table.columns) == list(normal.table.columns[:9])


def test_functions_of_parameters(normal):
    both = normal.function(lambda p: {"sum": p["beta_a"] + p["beta_b"], "asc": p["asc_b"] + 1})
    assert np.array_equal(both.samples["sum"], normal.samples["beta_a"] + normal.samples["beta_b"])
    assert np.all(both.samples["asc"] == 1.0) and both.samples["asc"].shape == (CHAINS, DRAWS)
    text = normal.function("beta_a / beta_price", name="ratio")
    assert np.allclose(
        text.draws_of("ratio"), normal.draws_of("beta_a") / normal.draws_of("beta_price")
    )
    with pytest.raises(ValueError, match="shape"):
        normal.function(lambda p: p["beta_a"].reshape(-1))


def test_unknown_names_raise(normal):
    with pytest.raises(ValueError, match="unknown parameter 'beta_z'"):
        normal.wtp("beta_z")
    with pytest.raises(ValueError, match="unknown parameter 'beta_cost'"):
        normal.wtp("beta_a", denominator="beta_cost")
    with pytest.raises(ValueError, match="unknown parameter 'beta_z'"):
        normal.draws_of("beta_z")
    with pytest.raises(ValueError, match="it is fixed"):
        normal.draws_of("asc_b")
    with pytest.raises(ValueError, match="unknown parameter 'beta_z'"):
        normal.function("beta_z * 2")


def test_invalid_fields_raise(normal):
    x = np.zeros((2, 5))
    with pytest.raises(ValueError, match="samples of 'b'"):
        _posterior({"b": x}, diverging=np.zeros((2, 6), dtype=bool))
    with pytest.raises(ValueError, match="formulation"):
        _posterior({"b": x}, formulation="marginal")
    with pytest.raises(ValueError, match=r"\['c'\]"):
        _posterior({"b": x}, priors={"b": "Normal(0, 1)", "c": "Normal(0, 1)"})
    with pytest.raises(ValueError, match="both sampled and fixed"):
        _posterior({"asc_b": x})


def test_save_load_round_trip(tmp_path, normal):
    lv = pd.DataFrame(
        {"person": [1, 1, 2], "lv": ["a", "b", "a"], "mean": [0.1, -0.2, np.nan], "sd": 1.0}
    )
    post = _posterior(
        normal.samples,
        model=datasets.drug_choice_model(),
        formulation="augmented",
        draws=None,
        lv_summary=lv,
        mle={"beta_a": 1.0},
        sampler={"seed": np.int64(3), "step_size": (0.1, 0.2), "accept": float("nan")},
        diverging=np.arange(CHAINS * DRAWS).reshape(CHAINS, DRAWS) % 97 == 0,
    )
    path = post.save(tmp_path / "posterior.file")
    assert path == tmp_path / "posterior.file" and path.exists()
    loaded = load_posterior(path)
    assert loaded == post and loaded.model == post.model
    assert loaded.summary() == post.summary()
    assert load_posterior(normal.save(tmp_path / "p.npz")) == normal
    assert loaded != normal
    changed = {**post.samples, "beta_a": post.samples["beta_a"].copy()}
    changed["beta_a"][0, 0] += 1e-15
    assert _posterior(changed, **{k: getattr(post, k) for k in ("model", "mle")}) != post


def test_loading_something_else_names_the_file(tmp_path):
    text = tmp_path / "results.json"
    text.write_text('{"format": "iclv_jax-results-2"}')
    arrays = tmp_path / "arrays.npz"
    np.savez(arrays, samples=np.zeros((1, 2, 4)))
    for path in (text, arrays):
        with pytest.raises(ValueError, match=f"{path.name}.*is not a saved iclv_jax posterior"):
            load_posterior(path)
    damaged = tmp_path / "damaged.npz"
    meta = '{"format": "iclv_jax-posterior-1", "names": ["b"]}'
    np.savez(damaged, samples=np.zeros((1, 2, 4)), diverging=np.zeros((2, 4), bool), meta=meta)
    with pytest.raises(ValueError, match="damaged.npz.*damaged posterior file.*fixed"):
        load_posterior(damaged)
    with pytest.raises(FileNotFoundError):
        load_posterior(tmp_path / "missing.npz")


def test_to_arviz(normal):
    _arviz()
    diverging = np.zeros((CHAINS, DRAWS), dtype=bool)
    diverging[2, 5] = True
    data = _posterior(normal.samples, diverging=diverging).to_arviz()
    means = data.posterior.mean(dim=("chain", "draw"))
    for name in normal.samples:
        assert float(means[name]) == pytest.approx(normal.table.loc[name, "mean"], rel=1e-12)
    assert data.posterior["beta_a"].shape == (CHAINS, DRAWS)
    assert np.array_equal(data.sample_stats["diverging"].values, diverging)
    assert data.posterior.attrs["formulation"] == "integrated"


def test_to_arviz_without_arviz_names_the_pip_command(normal, monkeypatch):
    monkeypatch.setitem(sys.modules, "arviz", None)
    with pytest.raises(ImportError, match=r"pip install 'iclv_jax\[bayes\]'"):
        normal.to_arviz()


def test_summary_text(normal):
    text = str(normal)
    for name in normal.samples:
        assert name in text
    assert "priors: Normal(0, 10): beta_a, beta_b; Normal(0, 1): beta_price" in text
    assert "Halton(n_draws=100" in text and "num_warmup=500" in text
    assert "4 chains x 1000 draws, 0 divergent" in text and "WARNING" not in text
    assert text.split("\n")[5].split()[:3] == ["mean", "mle", "sd"]
    assert repr(normal) == (
        "Posterior(integrated, 4 chains x 1000 draws, parameters "
        "['beta_a', 'beta_b', 'beta_price'])"
    )
    shifted = {k: v.copy() for k, v in normal.samples.items()}
    shifted["beta_b"][3] += 1.0
    diverging = np.zeros((CHAINS, DRAWS), dtype=bool)
    diverging[0, :3] = True
    warned = _posterior(shifted, diverging=diverging).summary()
    assert "WARNING: r_hat > 1.01 (or undefined) for beta_b:" in warned
    assert "WARNING: 3 divergent transitions" in warned


def test_importing_the_package_does_not_import_numpyro_or_arviz():
    code = (
        "import sys, iclv_jax, iclv_jax.bayes; "
        "assert 'numpyro' not in sys.modules and 'arviz' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_ess_of_antithetic_chains_takes_stans_bound_not_numpyros_negative_value():
    """Chains alternating +-1 (negatively autocorrelated, as short NUTS chains can be):
    NumPyro's ``S / tau`` is negative; Stan bounds ``tau >= 1 / log10(S)``, so the ESS
    is ``S log10(S)`` and the MCSE finite."""
    from numpyro.diagnostics import effective_sample_size

    rng = np.random.default_rng(0)
    x = np.where(np.arange(200) % 2 == 0, 1.0, -1.0) + 0.1 * rng.normal(size=(4, 200))
    assert effective_sample_size(x) < 0
    row = summary_row(x)
    assert row["ess_bulk"] == pytest.approx(800 * np.log10(800))
    assert np.isfinite(row["mcse"]) and row["mcse"] > 0
