"""Bounded memory: evaluate the LL (and its gradient) at N x R up to 10^8 person-draws.

Beverage study (3 LVs, binary probit, 10 situations), default N = 100,000, R = 1,000.
Reports the chunk size, time and peak resident memory; saves
``benchmarks/results/memory_scale_<device>.json``.

    .venv/bin/python benchmarks/memory_scale.py [--people 100000] [--draws 1000] [--grad]
"""

import argparse
import time

import jax
from _common import peak_rss_gib, save

import iclv_jax as ij
from iclv_jax import datasets


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--grad", action="store_true", help="also time LL + gradient")
    args = parser.parse_args()
    df, model, truth = datasets.beverage(n_people=args.people, seed=1)
    start = time.perf_counter()
    problem = ij.Problem(model, df, draws=args.draws)
    setup_s = time.perf_counter() - start
    u = problem.free_internal(truth)
    start = time.perf_counter()
    loglike = float(problem.likelihood.loglike(u))
    loglike_s = time.perf_counter() - start
    record = {
        "n_people": args.people,
        "n_draws": args.draws,
        "person_draws": args.people * args.draws,
        "chunk_size": problem.likelihood.chunk_size,
        "setup_s (data, draws, transfer)": setup_s,
        "loglike_first_call_s (incl. compile)": loglike_s,
        "loglike": loglike,
    }
    if args.grad:
        start = time.perf_counter()
        jax.block_until_ready(problem.likelihood.loglike_and_grad(u))
        record["loglike_and_grad_first_call_s"] = time.perf_counter() - start
    record["peak_rss_gib"] = peak_rss_gib()
    for key, value in record.items():
        print(f"  {key:40s} {value}")
    save(f"memory_scale_{jax.devices()[0].platform}", record)


if __name__ == "__main__":
    main()
