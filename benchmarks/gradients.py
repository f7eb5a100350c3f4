"""Time the log-likelihood alone, with the autodiff gradient and with the analytic one.

Beverage study (binary probit, 3-LV chain, 10 situations, 59 parameters) at the true
parameters, for N in {326, 2,000, 20,000} people and R in {100, 500, 1,000} draws
(``--quick``: N in {326, 2,000}, R in {100, 200}).  Each function is called once to
compile (``compile_s`` = first call minus the median run), then timed ``--repeats``
times (median, min and max reported).  Also the largest relative difference
``|a - b| / max(|a|, |b|, 1e-8)`` between the two gradients.  Saves
``benchmarks/results/gradients-<device>.json`` and ``gradients-<device>.png``.

    .venv/bin/python benchmarks/gradients.py [--quick] [--people 2000 --draws 500]
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import matplotlib
import numpy as np
from _common import RESULTS, machine, save

import iclv_jax as ij
from iclv_jax import analytic, datasets

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

FULL = {"people": [326, 2000, 20000], "draws": [100, 500, 1000]}
QUICK = {"people": [326, 2000], "draws": [100, 200]}


def timed(fn, repeats: int) -> dict:
    """First call (compile + run), then ``repeats`` timed calls."""
    start = time.perf_counter()
    out = jax.block_until_ready(fn())
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return {
        "median_s": median,
        "min_s": min(times),
        "max_s": max(times),
        "compile_s": max(0.0, first - median),
        "first_call_s": first,
        "repeats": repeats,
    }, out


def max_relative_difference(a, b, floor: float = 1e-8) -> float:
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), floor)))


def run_case(n_people: int, n_draws: int, repeats: int) -> dict:
    df, model, truth = datasets.beverage(n_people=n_people, seed=1)
    start = time.perf_counter()
    problem = ij.Problem(model, df, draws=n_draws)
    setup_s = time.perf_counter() - start
    likelihood = problem.likelihood
    u = problem.free_internal(truth)
    loglike, _ = timed(lambda: likelihood.loglike(u), repeats)
    autodiff, (ll_a, grad_a) = timed(lambda: likelihood.loglike_and_grad(u), repeats)
    hand, (ll_h, grad_h) = timed(lambda: analytic.loglike_and_grad(likelihood, u), repeats)
    grad_a, grad_h = np.asarray(grad_a), np.asarray(grad_h)
    case = {
        "n_people": n_people,
        "n_draws": n_draws,
        "n_params": int(u.shape[0]),
        "chunk_size": likelihood.chunk_size,
        "setup_s": setup_s,
        "loglike": loglike,
        "loglike_and_autodiff_grad": autodiff,
        "loglike_and_analytic_grad": hand,
        "analytic_over_autodiff": hand["median_s"] / autodiff["median_s"],
        "autodiff_over_loglike": autodiff["median_s"] / loglike["median_s"],
        "max_rel_diff_gradients": max_relative_difference(grad_a, grad_h),
        "max_abs_diff_over_max_abs_gradient": float(
            np.max(np.abs(grad_a - grad_h)) / np.max(np.abs(grad_a))
        ),
        "loglike_abs_diff": abs(float(ll_a) - float(ll_h)),
    }
    print(
        f"N={n_people:6d} R={n_draws:5d}  LL {loglike['median_s']:.4f}s  "
        f"LL+autodiff {autodiff['median_s']:.4f}s (compile {autodiff['compile_s']:.1f}s)  "
        f"LL+analytic {hand['median_s']:.4f}s (compile {hand['compile_s']:.1f}s)  "
        f"analytic/autodiff {case['analytic_over_autodiff']:.2f}  "
        f"max rel diff {case['max_rel_diff_gradients']:.1e}",
        flush=True,
    )
    return case


def plot(cases: list[dict], title: str, path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    work = np.array([c["n_people"] * c["n_draws"] for c in cases])
    order = np.argsort(work)
    for key, label, marker in (
        ("loglike", "LL", "o"),
        ("loglike_and_autodiff_grad", "LL + autodiff gradient", "s"),
        ("loglike_and_analytic_grad", "LL + analytic gradient", "^"),
    ):
        seconds = np.array([c[key]["median_s"] for c in cases])
        ax.plot(work[order], seconds[order], marker=marker, label=label)
    for c in cases:
        ax.annotate(
            f"N={c['n_people']}\nR={c['n_draws']}",
            (c["n_people"] * c["n_draws"], c["loglike_and_autodiff_grad"]["median_s"]),
            fontsize=6,
            textcoords="offset points",
            xytext=(3, 3),
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("person-draws N x R")
    ax.set_ylabel("median wall time per call (s)")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"saved {path}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="N in {326, 2000}, R in {100, 200}")
    parser.add_argument("--people", type=int, nargs="+", help="override the N grid")
    parser.add_argument("--draws", type=int, nargs="+", help="override the R grid")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--name", default=None, help="result file stem (default gradients-<device>)"
    )
    args = parser.parse_args()
    grid = dict(QUICK if args.quick else FULL)
    if args.people:
        grid["people"] = args.people
    if args.draws:
        grid["draws"] = args.draws
    info = machine()
    print(info)
    cases = [run_case(n, r, max(5, args.repeats)) for n in grid["people"] for r in grid["draws"]]
    device = jax.devices()[0].platform
    name = args.name or f"gradients-{device}"
    save(name, {"grid": grid, "quick": args.quick, "cases": cases})
    title = (
        f"beverage probit, 59 parameters; {info['device']} "
        f"({info['processor']}), jax {info['versions']['jax']}"
    )
    plot(cases, title, RESULTS / f"{name}.png")


if __name__ == "__main__":
    main()
