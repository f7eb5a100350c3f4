"""Long runs: the progress line, Ctrl-C (SIGINT) ending a CLI run cleanly with its last
iterate checkpointed, and ``--resume`` finishing at the optimum of an uninterrupted run."""

import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import iclv_jax as ij
from iclv_jax import checkpoint, cli, datasets
from iclv_jax.optimize import Tracker
from iclv_jax.optimize.progress import format_elapsed, progress_line


@pytest.fixture(autouse=True)
def interruptible():
    """Ctrl-C as in a terminal, whatever this process inherited: a process started with
    SIGINT ignored (as a shell starts background jobs; it happened to a pytest-xdist
    worker in CI) ignores it, and so do the CLI runs it starts, which would make the
    interruption tests fail for a reason that is not theirs."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


ROOT = Path(__file__).resolve().parent.parent
#: 300 people and 50 draws: 12 iterations of 0.1-0.2 s each after compilation, so a
#: SIGINT sent on the first progress line lands well before the run ends
N_PEOPLE, N_DRAWS = 300, 50


def test_elapsed_time_is_minutes_and_seconds_then_hours():
    assert [format_elapsed(s) for s in (0.0, 59.9, 60.0, 3599.0, 3600.0, 3725.4)] == [
        "0:00",
        "0:59",
        "1:00",
        "59:59",
        "1:00:00",
        "1:02:05",
    ]


def test_the_progress_line_shows_iteration_ll_gradient_and_elapsed_but_no_total():
    line = progress_line("simultaneous", 12, -6132.13561234, 3.2e-4, 1.5e-2, 3725.4)
    assert line == (
        "iclv_jax simultaneous iteration 12  LL -6132.135612  |grad| 3.200e-04  "
        "step 1.500e-02  elapsed 1:02:05"
    )
    for fake in ("ETA", "/", "%", "it/s", "<"):  # no total, share, rate or time to go
        assert fake not in line


def test_a_tracker_prints_one_line_per_iteration_and_a_resumed_one_continues_the_count(
    capsys, tmp_path
):
    blocks, scales = ("choice", "choice"), np.ones(2)
    tracker = Tracker(blocks=blocks, scales=scales, verbose=True, checkpoint=tmp_path / "c.json")
    for k in range(3):
        tracker.record(np.full(2, float(k)), -10.0 + k, np.array([1.0, -2.0]))
    lines = capsys.readouterr().err.splitlines()
    assert [line.split("  ")[0] for line in lines] == [
        f"iclv_jax simultaneous iteration {k}" for k in (1, 2, 3)
    ]
    assert "LL -8.000000" in lines[-1] and f"|grad| {np.sqrt(5):.3e}" in lines[-1]
    saved = json.loads((tmp_path / "c.json").read_text())
    assert saved["iteration"] == 3 and saved["loglike"] == -8.0

    resumed = Tracker(blocks=blocks, scales=scales, verbose=True, iteration=saved["iteration"])
    resumed.resumed(tmp_path / "c.json", np.asarray(saved["internal"]), saved["loglike"])
    resumed.record(np.full(2, 3.0), -7.5, np.array([0.5, 0.5]))
    first, second = capsys.readouterr().err.splitlines()
    assert "resumed from checkpoint" in first and "iteration 3, LL -8.000000" in first
    assert second.startswith("iclv_jax simultaneous iteration 4  LL -7.500000")
    assert f"step {np.sqrt(2):.3e}" in second  # measured from the checkpoint's point

    quiet = Tracker(blocks=blocks, scales=scales, verbose=False)
    quiet.record(np.zeros(2), -1.0, np.zeros(2))
    assert capsys.readouterr().err == ""


def test_a_sigint_during_a_checkpoint_write_takes_effect_after_the_file_is_in_place(
    tmp_path, monkeypatch
):
    """The signal is raised from inside ``json.dump``: the write completes, the file is
    the new checkpoint, and only then does KeyboardInterrupt arrive."""
    path = tmp_path / "c.json"
    dump = json.dump

    def interrupted_dump(obj, f):
        signal.raise_signal(signal.SIGINT)
        dump(obj, f)

    monkeypatch.setattr(checkpoint.json, "dump", interrupted_dump)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.write_atomic(path, {"iteration": 5})
    assert json.loads(path.read_text()) == {"format": checkpoint.FORMAT, "iteration": 5}
    assert [p.name for p in tmp_path.iterdir()] == ["c.json"]  # no temporary left
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("long")
    df, model, _ = datasets.beverage_one_lv(n_people=N_PEOPLE, seed=4)
    df.to_csv(folder / "data.csv", index=False)
    ij.save_model(model, folder / "model.yaml")
    return folder


def _environment() -> dict:
    path = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    return {**os.environ, "PYTHONPATH": path}


def test_ctrl_c_ends_a_cli_run_cleanly_and_resume_reaches_the_same_optimum(files, tmp_path):
    out = tmp_path / "out"
    argv = [*map(str, (files / "model.yaml", files / "data.csv")), "--draws", str(N_DRAWS)]
    argv += ["--out", str(out)]
    run = subprocess.Popen(
        [sys.executable, "-m", "iclv_jax", "estimate", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=_environment(),
    )
    seen = []
    try:
        for line in run.stderr:  # until the first iteration's progress line
            seen.append(line)
            if line.startswith("iclv_jax simultaneous iteration"):
                break
        run.send_signal(signal.SIGINT)
        _, rest = run.communicate(timeout=300)
    finally:
        run.kill()
    stderr = "".join(seen) + rest
    assert run.returncode == cli.INTERRUPTED == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    last = stderr.strip().splitlines()[-1]
    saved = json.loads((out / cli.CHECKPOINT).read_text())
    assert saved["iteration"] >= 1
    assert f"iteration {saved['iteration']}, LL {saved['loglike']:.6f}" in last
    command = last.split("resume with: ", 1)[1]
    assert shlex.split(command) == [sys.executable, "-m", "iclv_jax", "estimate", *argv, "--resume"]
    assert not Path(f"{out / cli.CHECKPOINT}.lock").exists()

    resumed = subprocess.run(
        shlex.split(command), capture_output=True, text=True, env=_environment(), timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr
    lines = resumed.stderr.splitlines()
    (at,) = [i for i, line in enumerate(lines) if "resumed from checkpoint" in line]
    assert not any(" LL " in line for line in lines[:at])  # the checkpoint's LL comes first
    assert f"iteration {saved['iteration']}, LL {saved['loglike']:.6f}" in lines[at]
    if "simultaneous iteration" in lines[at + 1]:  # unless the checkpoint was the optimum
        assert f"iteration {saved['iteration'] + 1} " in lines[at + 1]
    finished = ij.load_results(out / "results.json")

    uninterrupted = ij.estimate(
        ij.load_model(files / "model.yaml"),
        pd.read_csv(files / "data.csv"),
        draws=cli.make_draws("halton", N_DRAWS, 0),
        verbose=False,
    )
    assert finished.converged and uninterrupted.converged
    assert abs(finished.loglike - uninterrupted.loglike) < 1e-6
    np.testing.assert_allclose(
        finished.table["estimate"], uninterrupted.table["estimate"], rtol=1e-6, atol=1e-8
    )


def test_resume_without_a_checkpoint_is_refused_before_estimating(files, tmp_path, capsys):
    argv = [str(files / "model.yaml"), str(files / "data.csv"), "--out", str(tmp_path)]
    assert cli.main(["estimate", *argv, "--resume"]) == cli.USAGE_ERROR
    err = capsys.readouterr().err
    assert "no checkpoint" in err and str(tmp_path / cli.CHECKPOINT) in err


def test_the_interrupted_line_resumes_only_from_a_checkpoint_of_this_run(files, tmp_path):
    """No checkpoint, or an earlier run's (older than this run and not resumed from):
    the command that starts again, without ``--resume``; one written by this run, or
    the one resumed from: where the last iterate is and the command with ``--resume``."""
    argv = ["estimate", str(files / "model.yaml"), str(files / "data.csv"), "--out", str(tmp_path)]
    fresh, resuming = cli._parser().parse_args(argv), cli._parser().parse_args([*argv, "--resume"])
    path = tmp_path / cli.CHECKPOINT
    start_again = cli.interrupted_message(fresh, argv, started=0.0)
    assert "before the first iteration" in start_again and "--resume" not in start_again
    assert start_again.endswith(shlex.join(argv))

    checkpoint.write_atomic(path, {"iteration": 4, "loglike": -123.25})
    written = path.stat().st_mtime
    later = cli.interrupted_message(fresh, argv, started=written + 1.0)
    assert "before the first iteration" in later and "--resume" not in later
    for args, line in (
        (fresh, cli.interrupted_message(fresh, argv, started=written - 1.0)),
        (resuming, cli.interrupted_message(resuming, [*argv, "--resume"], written + 1.0)),
    ):
        assert f"(iteration 4, LL -123.250000) is in {path}" in line
        assert line.endswith(shlex.join([*argv, "--resume"])), args
