"""Latent classes: recovery of a known 2-class truth with an LV in the membership model
(the simulation of ``tests/test_latent_class.py``), with the time of each step.

    PYTHONPATH=. .venv/bin/python benchmarks/latent_class.py [--people 800] [--nodes 10]

Prints the starting values (one-class fit, then the best sign pattern of the class
spreads), the estimates against the truth with their z-scores, the mean posterior
probability of each person's true class, and the seconds of each step.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_latent_class import TRUTH, latent_class, simulate  # noqa: E402

import iclv_jax as ij  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=800)
    parser.add_argument("--situations", type=int, default=8)
    parser.add_argument("--nodes", type=int, default=10)
    args = parser.parse_args()
    df = simulate(args.people, args.situations, seed=11)
    spec = latent_class(ordering="beta_cost")
    draws = ij.AdaptiveQuadrature(args.nodes)
    began = time.perf_counter()
    start = ij.latent_class_start(spec, df, draws=draws)
    started = time.perf_counter()
    results = ij.estimate(spec, df, draws=draws, start=start, verbose=False)
    fitted = time.perf_counter()
    posterior = ij.posterior_classes(results, spec, df).to_numpy()
    done = time.perf_counter()
    print(f"start (one-class fit + sign patterns): {started - began:.1f} s")
    print(
        f"latent-class fit: {fitted - started:.1f} s, converged {results.converged}, "
        f"LL {results.loglike:.3f}, {results.iterations} iterations"
    )
    print(f"posterior class probabilities: {done - fitted:.1f} s")
    print(f"{'parameter':20s} {'true':>7s} {'start':>7s} {'estimate':>9s} {'se':>6s} {'z':>6s}")
    for name, value in TRUTH.items():
        est, se = results.estimates[name], results.table.loc[name, "se"]
        z = (est - value) / se
        print(f"{name:20s} {value:7.3f} {start.get(name, 0.0):7.3f} {est:9.3f} {se:6.3f} {z:6.2f}")
    truth = df.groupby("id", sort=True)["true_class"].first().to_numpy()
    hit = posterior[np.arange(len(truth)), truth - 1].mean()
    prior = (np.bincount(truth)[1:] / len(truth))[truth - 1].mean()
    print(f"mean posterior of the true class {hit:.3f} (prior share of it {prior:.3f})")


if __name__ == "__main__":
    main()
