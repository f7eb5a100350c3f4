"""``iclv-jax sample``: posterior draws of a model file's model from the command line,
with priors by name, and one-line errors for bad priors."""

import pytest

import iclv_jax as ij
from iclv_jax import datasets
from iclv_jax.bayes.priors import parse_prior
from iclv_jax.cli import main

pytest.importorskip("numpyro")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli-sample")
    df, model, _ = datasets.beverage_one_lv(n_people=60, seed=4)
    df.to_csv(folder / "data.csv", index=False)
    ij.save_model(model, folder / "model.yaml")
    return folder


@pytest.mark.slow  # a NUTS run (see tests/test_bayes_sampling.py)
def test_sample_writes_the_posterior_its_table_and_summary(files, tmp_path, capsys):
    out = tmp_path / "post"
    args = ["sample", str(files / "model.yaml"), str(files / "data.csv"), "--draws", "10"]
    args += ["--chains", "2", "--warmup", "30", "--samples", "20", "--out", str(out)]
    args += ["--prior", "lambda_pi1=normal(1, 0.5)", "--prior", "theta_purchase_intention=Flat"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "Normal(1, 0.5): lambda_pi1" in printed and "Flat(): theta_purchase_intention" in printed
    posterior = ij.load_posterior(out / "posterior.npz")
    assert posterior.samples["lambda_pi1"].shape == (2, 20)
    assert posterior.priors["beta_price"] == "Normal(0, 100)"
    assert (out / "summary.txt").read_text().strip() == posterior.summary().strip()
    table = (out / "posterior.csv").read_text().splitlines()
    assert table[0].startswith("parameter,mean") and len(table) == 1 + len(posterior.samples)


@pytest.mark.parametrize(
    ("prior", "message"),
    [
        ("lambda_pi1=gamma(1, 2)", "expected one of"),
        ("lambda_pi1=normal(a, 1)", "must be numbers"),
        ("lambda_pi1", "expected NAME=PRIOR"),
        ("lambda_pi9=normal(0, 1)", "lambda_pi9"),
        ("asc_sugar=halfnormal(1)", "can be negative"),
    ],
)
def test_a_bad_prior_is_one_line_and_status_2(files, tmp_path, capsys, prior, message):
    args = ["sample", str(files / "model.yaml"), str(files / "data.csv"), "--prior", prior]
    assert main([*args, "--out", str(tmp_path / "o")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("iclv-jax sample: error:")
    assert message in lines[0]


def test_priors_read_back_from_their_descriptions():
    for text in ("Normal(0.5, 2)", "HalfNormal(1.5)", "LogNormal(0, 10)", "Uniform(-1, 3)"):
        assert parse_prior(text).describe() == text
    assert parse_prior("half-normal(2)") == parse_prior("HALF_NORMAL(2)")
    with pytest.raises(ValueError, match="too many values"):
        parse_prior("normal(1, 2, 3)")
