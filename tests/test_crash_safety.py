"""Crash safety and determinism: a SIGKILLed estimation resumes to the same optimum.

The SIGKILL test (a subprocess, a 150-person study) is slow; its resume-to-the-same-
optimum check runs by default in process, on a run stopped by its iteration limit
(``test_convergence.py::test_a_run_resumed_from_its_checkpoint_reaches_the_same_optimum``)."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import iclv_jax as ij
from iclv_jax import datasets

SETTINGS = dict(n_people=150, n_situations=6, seed=5)
DRAWS = 30


def _run_script(checkpoint: str) -> str:
    return textwrap.dedent(f"""
        import iclv_jax as ij
        from iclv_jax import datasets
        df, model, _ = datasets.beverage(**{SETTINGS!r})
        ij.estimate(model, df, draws=ij.Halton({DRAWS}, seed=0), start=0.1, verbose=False,
                    checkpoint={checkpoint!r})
    """)


def _wait_for_iteration(path, process, iteration: int, timeout: float = 240.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail("the estimation finished before it could be killed")
        try:
            if json.loads(open(path).read())["iteration"] >= iteration:
                return
        except (FileNotFoundError, json.JSONDecodeError, KeyError):
            pass
        time.sleep(0.05)
    pytest.fail("no checkpoint appeared in time")


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_reaches_the_same_optimum(tmp_path):
    checkpoint = str(tmp_path / "run.json")
    process = subprocess.Popen(
        [sys.executable, "-c", _run_script(checkpoint)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_iteration(checkpoint, process, iteration=3)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    saved = json.loads(open(checkpoint).read())  # atomic: never a torn file
    assert saved["format"].startswith("iclv_jax-checkpoint")
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]

    df, model, _ = datasets.beverage(**SETTINGS)
    draws = ij.Halton(DRAWS, seed=0)
    resumed = ij.estimate(model, df, draws=draws, resume=checkpoint, verbose=False)
    straight = ij.estimate(model, df, draws=draws, start=0.1, verbose=False)
    assert resumed.converged and straight.converged
    assert resumed.loglike == pytest.approx(straight.loglike, abs=1e-8)
    assert len(resumed.history) > saved["iteration"]
    np.testing.assert_allclose(
        resumed.table["estimate"], straight.table["estimate"], rtol=1e-5, atol=1e-7
    )


def test_same_seed_gives_bit_identical_draws_and_estimates():
    df, model, _ = datasets.beverage(n_people=60, n_situations=4, seed=2)
    first = ij.estimate(model, df, draws=ij.Halton(20, seed=7), verbose=False)
    second = ij.estimate(model, df, draws=ij.Halton(20, seed=7), verbose=False)
    assert first.loglike == second.loglike
    np.testing.assert_array_equal(first.table["estimate"], second.table["estimate"])
    other = ij.Problem(model, df, draws=ij.Halton(20, seed=8)).loglike(first.estimates)
    assert other != first.loglike


def test_chunk_size_does_not_change_the_loglikelihood():
    df, model, truth = datasets.beverage(n_people=50, n_situations=3, seed=3)
    values = [
        ij.Problem(model, df, draws=ij.Halton(16, seed=1), chunk_size=c).loglike(truth)
        for c in (8, 24, 56)
    ]
    assert max(values) - min(values) < 1e-10
