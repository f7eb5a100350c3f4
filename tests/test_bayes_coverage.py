"""Coverage of NUTS's 90% credible intervals on simulated data with a known truth, run
small (``benchmarks/bayes_coverage.py`` runs the study at size and saves the table)."""

import sys
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("numpyro")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import bayes_coverage as bc  # noqa: E402


def test_covered_checks_each_interval_against_its_own_truth():
    table = pd.DataFrame({"q5": [0.0, 1.0, -2.0], "q95": [1.0, 2.0, -1.0]}, index=["a", "b", "c"])
    hits = bc.covered(table, {"c": -1.0, "a": 1.5, "b": 1.0, "unused": 0.0})
    assert hits.to_dict() == {"a": False, "b": True, "c": True}
    assert bc.binomial_se(100) == pytest.approx(0.03)


@pytest.mark.slow
def test_credible_intervals_cover_the_truth_at_about_the_nominal_rate():
    """Three data sets of 300 people, 22 parameters each: 66 intervals, binomial SE
    0.037 at 0.90.  A broken sampler (wrong scale, stuck chains, a wrong Jacobian)
    covers far less; the bound 0.75 is 4 SEs below nominal (the intervals of a data set
    are correlated, so the spread is wider than binomial)."""
    report = bc.coverage_study(3, people=300, nodes=12, warmup=100, samples=100, chains=2)
    assert report["pooled"]["intervals"] == 3 * len(report["per_parameter"]) == 66
    assert report["pooled"]["coverage"] >= 0.75, report["per_parameter"]
    assert max(r["max_r_hat"] for r in report["runs"]) < 1.1
