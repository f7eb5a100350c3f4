"""Checkpoints: a checkpoint of another specification, a crafted one and a checkpoint
another live run is writing are refused with a CheckpointError saying what is wrong.

One tiny estimation (one LV, three ordered-probit items, 30 people, 2 draws, one
iteration) writes the checkpoint every test starts from.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import socket
import subprocess
import sys

import pytest

import iclv_jax as ij
from iclv_jax import checkpoint, datasets

DRAWS = ij.Halton(2, seed=0)


def _tiny():
    df, model, _ = datasets.beverage_one_lv(n_people=30)
    model = dataclasses.replace(
        model, choice=ij.NoChoice(), latent_variables=[ij.LatentVariable("purchase_intention")]
    )
    return model, df.groupby("id").head(1)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """``(model, data, checkpoint path)`` after one iteration."""
    model, df = _tiny()
    path = tmp_path_factory.mktemp("checkpoint") / "run.json"
    ij.estimate(model, df, draws=DRAWS, max_iterations=1, checkpoint=str(path), verbose=False)
    return model, df, path


def _resume(model, df, path, **kwargs):
    return ij.estimate(
        model, df, draws=DRAWS, max_iterations=1, resume=str(path), verbose=False, **kwargs
    )


def test_checkpoint_error_is_exported():
    assert ij.CheckpointError is checkpoint.CheckpointError
    assert issubclass(ij.CheckpointError, ValueError)


def test_a_checkpoint_of_probit_items_is_refused_by_the_same_model_with_logit_items(written):
    model, df, path = written
    logit = dataclasses.replace(
        model,
        indicators=[dataclasses.replace(item, kind="ordered_logit") for item in model.indicators],
    )
    assert logit.indicators[0].kind == "ordered_logit"
    with pytest.raises(ij.CheckpointError, match=r"another model.*differs in: model;"):
        _resume(logit, df, path)


def test_a_checkpoint_without_bounds_is_refused_by_a_model_with_bounds(written):
    model, df, path = written
    bounded = dataclasses.replace(model, bounds={"lambda_pi1": (0.0, None)})
    with pytest.raises(ij.CheckpointError, match="differs in: model;"):
        _resume(bounded, df, path)


def test_a_checkpoint_of_another_optimizer_is_refused(written):
    model, df, path = written
    with pytest.raises(ij.CheckpointError, match="differs in: settings;"):
        _resume(model, df, path, optimizer="bhhh")


def _nan_first(saved):
    saved["internal"][0] = math.nan


def _one_short(saved):
    saved["internal"] = saved["internal"][:-1]


def _renamed(saved):
    saved["fingerprint"]["parameters"][0] = "lambda_elsewhere"


def _old_format(saved):
    saved["format"] = "iclv_jax-checkpoint-1"


def _negative_scale(saved):
    saved["scales"][1] = -1.0


def _text_iteration(saved):
    saved["iteration"] = "3"


def _infinite_scaled(saved):
    saved["scaled"] = [math.inf] * len(saved["internal"])


def _inconsistent_scaled(saved):
    saved["scaled"] = [2 * u / s for u, s in zip(saved["internal"], saved["scales"], strict=True)]


def _far_away(saved):
    """Finite values where the log-likelihood is not (thresholds of e^1000)."""
    saved["internal"] = [1000.0] * len(saved["internal"])
    saved["scaled"] = [u / s for u, s in zip(saved["internal"], saved["scales"], strict=True)]


@pytest.mark.parametrize(
    "craft, message",
    [
        (_nan_first, r"'internal' holds non-finite values for \['{first}'\]"),
        (_one_short, r"'internal' has shape \({short},\), expected \({n},\)"),
        (_renamed, r"parameters differ \(missing \['{first}'\], unexpected \['lambda_elsewhere'\]"),
        (_old_format, "format 'iclv_jax-checkpoint-1', written by another version"),
        (_negative_scale, "'scales' must be positive"),
        (_text_iteration, "'iteration' must be a non-negative integer, got '3'"),
        (_infinite_scaled, "'scaled' holds non-finite values"),
        (_inconsistent_scaled, "'scaled' times 'scales' is not 'internal'"),
        (_far_away, "the log-likelihood at its parameters is nan"),
    ],
)
def test_a_crafted_checkpoint_is_refused_naming_what_is_wrong(written, tmp_path, craft, message):
    model, df, path = written
    saved = json.loads(path.read_text())
    names = ij.Problem(model, df, draws=DRAWS).space.free_names
    craft(saved)
    crafted = tmp_path / "crafted.json"
    crafted.write_text(json.dumps(saved))
    expected = message.format(first=names[0], n=len(names), short=len(names) - 1)
    with pytest.raises(ij.CheckpointError, match=expected):
        _resume(model, df, crafted)


def test_the_written_checkpoint_itself_resumes(written):
    model, df, path = written
    saved = json.loads(path.read_text())
    resumed = _resume(model, df, path)
    assert resumed.history["iteration"].tolist()[: saved["iteration"]] == [
        row["iteration"] for row in saved["history"]
    ]
    assert resumed.loglike >= saved["loglike"]


def test_a_checkpoint_a_live_run_is_writing_is_refused(written, tmp_path):
    model, df, _ = written
    path = tmp_path / "shared.json"
    with checkpoint.locked(path):  # this process's run holds it
        with pytest.raises(
            ij.CheckpointError,
            match=rf"being written by another run \(pid "
            rf"{os.getpid()} on",
        ):
            ij.estimate(model, df, draws=DRAWS, checkpoint=str(path), verbose=False)
    assert not (tmp_path / "shared.json.lock").exists()


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path):
    path = tmp_path / "run.json"
    lock = tmp_path / "run.json.lock"
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # its pid no longer exists
    lock.write_text(f"{child.pid} {socket.gethostname()}\n")
    with checkpoint.locked(path):
        assert lock.read_text().split()[0] == str(os.getpid())
    assert not lock.exists()
