"""The command line: ``iclv-jax demo`` estimates the beverage study and writes JSON."""

import json
import subprocess
import sys

import pytest

from iclv_jax.cli import main


def test_demo_prints_the_summary_and_writes_the_json(tmp_path, capsys):
    path = tmp_path / "demo.json"
    main(["demo", "--people", "120", "--draws", "30", "--seed", "3", "--json", str(path)])
    out = capsys.readouterr().out
    assert "estimates beside the true values" in out and "beta_price" in out
    report = json.loads(path.read_text())
    assert {"estimates", "se", "robust_se", "truth", "loglike", "converged", "iterations",
            "n_params", "seconds"} <= set(report)
    assert set(report["estimates"]) == set(report["truth"]) == set(report["se"])
    assert report["n_params"] == len(report["estimates"])
    assert report["converged"] is True
    assert report["loglike"] < 0


def test_module_entry_point_and_bad_arguments():
    run = subprocess.run([sys.executable, "-m", "iclv_jax", "demo", "--people", "0"],
                         capture_output=True, text=True)
    assert run.returncode == 2
    assert "--people" in run.stderr and "must be at least 1" in run.stderr
    with pytest.raises(SystemExit):
        main(["demo", "--choice", "tobit"])
