"""Issue 18 target 5: LL + gradient of the beverage study at N = 100,000 x R = 1,000 on
this machine, memory bounded; with ``--baseline REF`` also the library as it was at git
``REF`` (imported as a second package, run first, then freed), in the same process.

Per version: set-up time, the first (compiling) and a second LL + gradient call, and the
LL; then the peak resident memory of the process.  Saves
``benchmarks/results/scale_100k.json``.

    PYTHONPATH=. python benchmarks/scale_100k.py [--people 100000] [--draws 1000]
        [--baseline f272924]
"""

import argparse
import gc
import time

import jax
from _common import baseline_package, peak_rss_gib, save

import iclv_jax


def run(ij, n_people: int, n_draws: int) -> dict:
    df, model, truth = ij.datasets.beverage(n_people=n_people, seed=1)
    start = time.perf_counter()
    problem = ij.Problem(model, df, draws=n_draws)
    record = {"setup_s": time.perf_counter() - start, "chunk_size": problem.likelihood.chunk_size}
    u = problem.free_internal(truth)
    for label in ("loglike_and_grad_first_call_s", "loglike_and_grad_s"):
        start = time.perf_counter()
        ll, _ = jax.block_until_ready(problem.likelihood.loglike_and_grad(u))
        record[label] = time.perf_counter() - start
    record["loglike"] = float(ll)
    record["peak_rss_gib_so_far"] = peak_rss_gib()
    print(record, flush=True)
    return record


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--baseline", help="a git ref: also time the library as it was there")
    args = parser.parse_args()
    out = {"n_people": args.people, "n_draws": args.draws, "baseline": args.baseline}
    if args.baseline:
        out["before"] = run(baseline_package(args.baseline), args.people, args.draws)
        gc.collect()
    out["after"] = run(iclv_jax, args.people, args.draws)
    save("scale_100k", out)


if __name__ == "__main__":
    main()
