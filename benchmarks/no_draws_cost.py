"""What a model without random terms costs: LL + gradient of an MNL (no LV, no random
coefficient: :class:`~iclv_jax.NoDraws`, one point of zero dimensions) against the same
MNL with a normal random cost coefficient (mixed logit) at R = 100 and 500 draws.

    PYTHONPATH=. .venv/bin/python benchmarks/no_draws_cost.py [--people 1000]

Prints each model's draw array shape and the median of 7 timed LL + gradient calls
(after one compiling call).
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np
import pandas as pd

import iclv_jax as ij


def study(n_people: int, n_situations: int = 8, seed: int = 0) -> pd.DataFrame:
    """Three alternatives, ``V_j = asc_j + c_n cost_j``, ``c_n ~ N(-1, 0.8^2)``."""
    rng = np.random.default_rng(seed)
    cost = rng.uniform(0.0, 3.0, (n_people * n_situations, 3))
    c = np.repeat(-1.0 + 0.8 * rng.normal(size=n_people), n_situations)
    v = c[:, None] * cost + np.array([0.5, -0.3, 0.0])
    return pd.DataFrame(
        {
            "id": np.repeat(np.arange(n_people), n_situations),
            **{f"cost_{a}": cost[:, j] for j, a in enumerate("ABC")},
            "choice": (v + rng.gumbel(size=v.shape)).argmax(axis=1) + 1,
        }
    )


def model(random: bool) -> ij.ICLVModel:
    def utility(a: str) -> ij.Utility:
        column = {"cost": f"cost_{a}"}
        return ij.Utility(random=column) if random else ij.Utility(attributes=column)

    alts = [ij.Alternative(a, j + 1, utility(a), asc=a != "C") for j, a in enumerate("ABC")]
    rcs = [ij.RandomCoefficient("cost")] if random else []
    return ij.ICLVModel([], [], ij.MultinomialLogit("choice", alts), random_coefficients=rcs)


def median_seconds(problem: ij.Problem, repeats: int = 7) -> float:
    u = problem.free_internal(None)
    jax.block_until_ready(problem.likelihood.loglike_and_grad(u))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(problem.likelihood.loglike_and_grad(u))
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1000)
    args = parser.parse_args()
    df = study(args.people)
    cases = [
        ("MNL (NoDraws)", model(False), 500),
        ("mixed, R=100", model(True), ij.Halton(100)),
        ("mixed, R=500", model(True), ij.Halton(500)),
    ]
    for name, spec, draws in cases:
        problem = ij.Problem(spec, df, draws=draws)
        seconds = median_seconds(problem)
        shape = tuple(problem.likelihood.zeta.shape)
        print(f"{name:14s} draws {shape}  LL+gradient {1e3 * seconds:.2f} ms")


if __name__ == "__main__":
    main()
