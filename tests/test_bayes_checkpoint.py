"""Sampling runs that stop and resume: NUTS in blocks with a checkpoint after each
(:mod:`iclv_jax.bayes.blocks`) gives the draws of one uninterrupted run with the same
seed, also after an interruption and a resume; a checkpoint of another run is refused."""

import numpy as np
import pytest
from helpers import continuous_study

import iclv_jax as ij
from iclv_jax.bayes import blocks

pytest.importorskip("numpyro")

SETTINGS = {"num_warmup": 40, "num_samples": 50, "chains": 2, "seed": 7, "progress": False}


@pytest.fixture(scope="module")
def study():
    df, model, _ = continuous_study(n_people=80, seed=3)
    draws = ij.Halton(5)
    return df, model, draws, ij.estimate(model, df, draws=draws, verbose=False)


def _sample(study, **options):
    df, model, draws, results = study
    return ij.sample(model, df, draws=draws, start=results, **SETTINGS, **options)


@pytest.mark.slow  # NUTS runs (see tests/test_bayes_sampling.py)
def test_an_interrupted_run_resumes_to_the_draws_of_an_uninterrupted_one(
    study, tmp_path, monkeypatch
):
    plain = _sample(study)
    path = tmp_path / "chains.pkl"
    calls = []
    run_block = blocks.run_block

    def interrupted(mcmc, key):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        run_block(mcmc, key)

    monkeypatch.setattr(blocks, "run_block", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _sample(study, checkpoint=path, checkpoint_every=20)
    monkeypatch.setattr(blocks, "run_block", run_block)
    resumed = _sample(study, checkpoint=path, checkpoint_every=20, resume=True)
    for name in plain.samples:  # blocks of 20 (interrupted in the second), 20 and 10
        np.testing.assert_array_equal(resumed.samples[name], plain.samples[name])
    np.testing.assert_array_equal(resumed.diverging, plain.diverging)

    with pytest.raises(ij.CheckpointError, match="seed"):
        df, model, draws, results = study
        ij.sample(
            model,
            df,
            draws=draws,
            start=results,
            checkpoint=path,
            resume=True,
            **{**SETTINGS, "seed": 8},
        )
