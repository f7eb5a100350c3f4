"""Time and peak memory of the LL, LL + gradient and exact Hessian over N x R.

Beverage study (binary probit, 3 LVs, 59 parameters, 10 situations a person).  Every
(N, R) case runs in its own subprocess, so its peak memory is its own: the peak
resident memory of the process on CPU, the allocator's peak on an accelerator.  The
Hessian is skipped (and the JSON says so) where LL+gradient time x the Hessian/gradient
ratio measured on the smaller cases predicts more than ``--hessian-limit`` seconds.
Also compares float32 with float64 on the beverage study: the LL at every case and the
estimates on a small sample.  Saves ``scaling-<device>[-quick].json`` and ``.png`` in
``benchmarks/results/`` (or ``--results``).

    PYTHONPATH=. .venv/bin/python benchmarks/scaling.py --quick  # N {500, 2000} x R {50, 200}
    PYTHONPATH=. .venv/bin/python benchmarks/scaling.py  # N {1e3, 1e4, 1e5} x R {100, 1000}
    PYTHONPATH=. .venv/bin/python benchmarks/scaling.py --people 1000 10000 --draws 100
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
from _common import RESULTS, best_time, machine, peak_rss_gib, save

import iclv_jax as ij
from iclv_jax import datasets

FULL = {"people": [1_000, 10_000, 100_000], "draws": [100, 1000]}
QUICK = {"people": [500, 2000], "draws": [50, 200]}


def peak_memory_gib() -> float:
    """The accelerator allocator's peak, else this process's peak resident memory."""
    stats = jax.devices()[0].memory_stats() if jax.devices()[0].platform != "cpu" else None
    if stats and "peak_bytes_in_use" in stats:
        return stats["peak_bytes_in_use"] / 2**30
    return peak_rss_gib()


def timed_first_call(fn, *args) -> float:
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - start


def run_case(n_people: int, n_draws: int, hessian_limit: float, ratio: float, repeats: int) -> dict:
    """One (N, R) case: set-up, first (compiling) and best timed calls, float32 LL.  The
    Hessian only if ``2 x LL+gradient time x ratio`` (a compiling and a timed call at
    the Hessian/gradient ratio seen so far) is within ``hessian_limit`` seconds."""
    df, model, truth = datasets.beverage(n_people=n_people, seed=1)
    start = time.perf_counter()
    problem = ij.Problem(model, df, draws=n_draws)
    record = {
        "n_people": n_people,
        "n_draws": n_draws,
        "setup_s": time.perf_counter() - start,
        "chunk_size": problem.likelihood.chunk_size,
        "hessian_chunk_size": problem.likelihood.hessian_chunk_size,
    }
    lik, u = problem.likelihood, problem.free_internal(truth)
    record["loglike_first_call_s"] = timed_first_call(lik.loglike, u)
    record["loglike"] = float(lik.loglike(u))
    record["loglike_s"] = best_time(lik.loglike, u, repeats=repeats)
    record["loglike_and_grad_first_call_s"] = timed_first_call(lik.loglike_and_grad, u)
    record["loglike_and_grad_s"] = best_time(lik.loglike_and_grad, u, repeats=repeats)
    predicted = 2 * record["loglike_and_grad_s"] * ratio
    if predicted <= hessian_limit:
        record["hessian_first_call_s"] = timed_first_call(lik.hessian, u)
        record["hessian_s"] = best_time(lik.hessian, u, repeats=1)
        record["hessian_over_grad"] = record["hessian_s"] / record["loglike_and_grad_s"]
    else:
        record["hessian_skipped"] = f"predicted {predicted:.0f} s > limit {hessian_limit:.0f} s"
    record["peak_memory_gib"] = peak_memory_gib()
    single = ij.Problem(model, df, draws=n_draws, dtype="float32").likelihood
    record["loglike_float32"] = float(single.loglike(u))
    record["float32_relative_difference"] = abs(
        record["loglike_float32"] - record["loglike"]
    ) / abs(record["loglike"])
    record["loglike_float32_s"] = best_time(single.loglike, u, repeats=repeats)
    record["loglike_and_grad_float32_s"] = best_time(single.loglike_and_grad, u, repeats=repeats)
    return record


def case_in_subprocess(
    n_people: int, n_draws: int, hessian_limit: float, ratio: float, repeats: int
) -> dict:
    """:func:`run_case` in a fresh process (its own peak memory); errors are recorded."""
    command = [
        sys.executable,
        __file__,
        "--case",
        str(n_people),
        str(n_draws),
        "--hessian-limit",
        str(hessian_limit),
        "--ratio",
        str(ratio),
        "--repeats",
        str(repeats),
    ]
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode != 0:
        return {
            "n_people": n_people,
            "n_draws": n_draws,
            "error": (run.stderr.strip().splitlines() or ["killed"])[-1],
        }
    return json.loads(run.stdout.strip().splitlines()[-1])


def scaling_grid(people, draws, hessian_limit: float, repeats: int) -> list[dict]:
    """Every case, smallest first; the Hessian/gradient ratio (first guess 30) is the
    largest measured so far."""
    records, ratios = [], []
    for n_draws in draws:
        for n_people in people:
            record = case_in_subprocess(
                n_people, n_draws, hessian_limit, max(ratios, default=30.0), repeats
            )
            if "hessian_over_grad" in record:
                ratios.append(record["hessian_over_grad"])
            print(json.dumps(record), flush=True)
            records.append(record)
    return records


def float32_estimates(n_people: int, n_draws: int) -> dict:
    """Estimates in float32 and float64 on one small beverage sample, compared in
    float64 standard errors."""
    df, model, truth = datasets.beverage(n_people=n_people, seed=2)
    fits = {
        dtype: ij.estimate(model, df, draws=n_draws, start=truth, dtype=dtype, verbose=False)
        for dtype in ("float64", "float32")
    }
    double, single = fits["float64"], fits["float32"]
    names = list(double.table.index)
    difference = np.array([single.estimates[n] - double.estimates[n] for n in names])
    se = double.table["se"].to_numpy()
    return {
        "n_people": n_people,
        "n_draws": n_draws,
        "loglike_float64": double.loglike,
        "loglike_float32": single.loglike,
        "converged": {"float64": double.converged, "float32": single.converged},
        "seconds": {"float64": double.seconds, "float32": single.seconds},
        "max_abs_estimate_difference": float(np.abs(difference).max()),
        "max_difference_in_standard_errors": float(np.abs(difference / se).max()),
    }


def plot(records: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for key, marker in (("loglike_s", "o"), ("loglike_and_grad_s", "s"), ("hessian_s", "^")):
        for n_draws in sorted({r["n_draws"] for r in records}):
            rows = [r for r in records if r["n_draws"] == n_draws and key in r]
            if rows:
                axes[0].loglog(
                    [r["n_people"] for r in rows],
                    [r[key] for r in rows],
                    marker=marker,
                    label=f"{key[:-2]}, R={n_draws}",
                )
    for n_draws in sorted({r["n_draws"] for r in records}):
        rows = [r for r in records if r["n_draws"] == n_draws and "peak_memory_gib" in r]
        axes[1].loglog(
            [r["n_people"] for r in rows],
            [r["peak_memory_gib"] for r in rows],
            marker="o",
            label=f"R={n_draws}",
        )
    axes[0].set(xlabel="people N", ylabel="seconds (best call)", title="time")
    axes[1].set(xlabel="people N", ylabel="GiB", title="peak memory (whole process)")
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="N in {500, 2000} x R in {50, 200}")
    parser.add_argument("--people", type=int, nargs="+")
    parser.add_argument("--draws", type=int, nargs="+")
    parser.add_argument("--hessian-limit", type=float, default=120.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--estimates",
        type=int,
        nargs=2,
        default=(300, 50),
        metavar=("N", "R"),
        help="float32 vs float64 estimation sample",
    )
    parser.add_argument("--no-estimates", action="store_true")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--case", type=int, nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--ratio", type=float, default=30.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(*args.case, args.hessian_limit, args.ratio, args.repeats)))
        return
    grid = QUICK if args.quick else FULL
    people, draws = args.people or grid["people"], args.draws or grid["draws"]
    print(machine())
    payload = {
        "grid": {"people": people, "draws": draws},
        "hessian_limit_s": args.hessian_limit,
        "cases": scaling_grid(people, draws, args.hessian_limit, args.repeats),
    }
    if not args.no_estimates:
        payload["float32_vs_float64_estimates"] = float32_estimates(*args.estimates)
        print(payload["float32_vs_float64_estimates"])
    name = f"scaling-{jax.devices()[0].platform}" + ("-quick" if args.quick else "")
    save(name, payload, args.results)
    plot(payload["cases"], args.results / f"{name}.png")


if __name__ == "__main__":
    main()
