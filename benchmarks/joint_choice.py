"""Joint choice components: recovery of a known relative scale from two simulated
experiments sharing the tastes and the LV (the simulation of ``tests/test_joint.py``),
with the time of the fit.

    PYTHONPATH=. .venv/bin/python benchmarks/joint_choice.py [--people 1000] [--scale 2]

Prints the estimates against the truth with their z-scores, and the seconds of the fit.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_joint import TRUTH, recover  # noqa: E402

import iclv_jax as ij  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--situations", type=int, default=8)
    parser.add_argument("--scale", type=float, default=2.0)
    parser.add_argument("--nodes", type=int, default=10)
    args = parser.parse_args()
    began = time.perf_counter()
    _, results = recover(
        args.people, args.situations, args.scale, lv=True, draws=ij.AdaptiveQuadrature(args.nodes)
    )
    fitted = time.perf_counter()
    print(
        f"joint fit: {fitted - began:.1f} s, converged {results.converged}, "
        f"LL {results.loglike:.3f}, {results.iterations} iterations"
    )
    truth = {**{k: v for k, v in TRUTH.items() if "sp" not in k}, "scale_sp2": args.scale}
    print(f"{'parameter':20s} {'true':>7s} {'estimate':>9s} {'se':>6s} {'z':>6s}")
    for name, value in truth.items():
        est, se = results.estimates[name], results.table.loc[name, "se"]
        print(f"{name:20s} {value:7.3f} {est:9.3f} {se:6.3f} {(est - value) / se:6.2f}")


if __name__ == "__main__":
    main()
