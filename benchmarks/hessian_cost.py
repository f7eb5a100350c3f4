"""The exact Hessian's cost in LL + gradient evaluations, before and after the closed-form
choice block, side by side in one process.

On the two peer cases of ``peer_biogeme.py`` (drug choice: MNL + 4 ordered-logit items,
1 LV, N = 1,000 x 10; beverage: binary probit + 10 ordered-probit items, 3 LVs,
N = 326 x 10; the cross-sectional case, MNL + 9 ordered-probit items, 1 LV, N = 5,000
x 1, at its default starts) at R = 100 and R = 500: LL + gradient and the exact Hessian of this
checkout, and the exact Hessian of the package at commit ``--before`` (extracted with
``git archive`` and imported as ``iclv_ref``, same data and draws), called in turn
``--repeats`` times; the best of each (on a machine shared with other work, the least
disturbed call; medians are saved too), in wall and in process CPU time (all threads:
less sensitive to other processes on the machine), and their ratios.  The two Hessians
must agree to 1e-9 relative (checked).  Writes
``benchmarks/results/hessian_cost.{json,md}``.

    PYTHONPATH=. .venv/bin/python benchmarks/hessian_cost.py [--before f272924]
        [--repeats 5] [--draws 100 500]
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import time
from pathlib import Path

import jax
import numpy as np
from _common import RESULTS, baseline_package, machine, save
from _peer_cases import CASES

import iclv_jax as ij

ROOT = Path(__file__).resolve().parent.parent


def seeds_through_terms(plan) -> int:
    """The seeds passed through the items or the utilities (forward-over-reverse): all
    but those whose products come through the LVs (``lv_seeds``, where the plan has
    them)."""
    through_lvs = plan.lv_seeds.shape[0] if hasattr(plan, "lv_seeds") else 0
    return int(plan.seeds.shape[0]) - through_lvs


def cases(package) -> dict:
    """``name -> (model, data, draws(R), parameters)``: the peer cases, built by
    ``package`` (this checkout's or the one before: each checks its own classes)."""
    datasets = importlib.import_module(f"{package.__name__}.datasets")  # older: no attribute
    drug, drug_model, drug_start = datasets.drug_choice(ij.datasets.drug_choice_path())
    beverage, beverage_model, truth = datasets.beverage(n_people=326, seed=0)
    built = {
        "drug_choice": (drug_model, drug, package.ApolloHalton, drug_start),
        "beverage": (beverage_model, beverage, lambda r: package.Halton(r, seed=0), truth),
    }
    cross = CASES["cross_sectional"]()
    try:  # the specification as plain data, read by ``package`` (an older one may not)
        cross_model = importlib.import_module(f"{package.__name__}.modeldict").model_from_dict(
            ij.modeldict.model_to_dict(cross.model)
        )
    except package.SpecificationError as error:
        print(f"cross_sectional left out: {package.__name__} cannot read it ({error})")
        return built
    draws = lambda r: package.Halton(r, seed=0)  # noqa: E731
    return {**built, "cross_sectional": (cross_model, cross.data, draws, None)}


def timed(fn) -> tuple[float, float]:
    """Wall and process CPU time (all threads) of one blocking call."""
    wall, cpu = time.perf_counter(), time.process_time()
    jax.block_until_ready(fn())
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(before, case: tuple, case_before: tuple, r: int, repeats: int) -> dict:
    """Best and median LL + gradient and Hessian times (this checkout's and the one
    before's Hessian, each on its own ``case``), called in turn after one compiling call
    each."""
    model, data, draws, params = case
    problem = ij.Problem(model, data, draws=draws(r))
    likelihood = problem.likelihood
    u = problem.free_internal(params)
    model, data, draws, params = case_before
    old = before.Problem(model, data, draws=draws(r)).likelihood
    calls = {
        "loglike_and_grad": lambda: likelihood.loglike_and_grad(u),
        "hessian_before": lambda: old.hessian(u),
        "hessian_after": lambda: likelihood.hessian(u),
    }
    hessian_before = np.asarray(calls["hessian_before"]())
    hessian_after = np.asarray(calls["hessian_after"]())
    difference = float(np.abs(hessian_after - hessian_before).max() / np.abs(hessian_before).max())
    if difference > 1e-9:
        raise AssertionError(f"the Hessians differ by {difference:.1e} relative")
    times: dict[str, list[float]] = {name: [] for name in calls}
    cpu_times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            wall, cpu = timed(call)
            times[name].append(wall)
            cpu_times[name].append(cpu)
    medians = {name: statistics.median(values) for name, values in times.items()}
    best = {name: min(values) for name, values in times.items()}
    best_cpu = {name: min(values) for name, values in cpu_times.items()}
    grad, grad_cpu = best["loglike_and_grad"], best_cpu["loglike_and_grad"]
    return {
        "n_free": int(u.shape[0]),
        "seeds_before": seeds_through_terms(old.plan),
        "seeds_after": seeds_through_terms(likelihood.plan),
        "closed_form_parameters": int(likelihood.plan.closed.shape[0]),
        "max_relative_difference": difference,
        "best_s": best,
        "median_s": medians,
        "all_s": times,
        "best_cpu_s": best_cpu,
        "all_cpu_s": cpu_times,
        "hessian_over_grad_before": best["hessian_before"] / grad,
        "hessian_over_grad_after": best["hessian_after"] / grad,
        "cpu_hessian_over_grad_before": best_cpu["hessian_before"] / grad_cpu,
        "cpu_hessian_over_grad_after": best_cpu["hessian_after"] / grad_cpu,
    }


def markdown(report: dict) -> str:
    lines = [
        "# Exact Hessian cost, in LL + gradient evaluations",
        "",
        f"Machine: {report['machine']['cpu_model']}, {report['machine']['cpu_count']} CPUs, "
        f"shared with other work; best of {report['repeats']} calls in turn, this checkout "
        f"against commit {report['before']} (`benchmarks/hessian_cost.py`); ÷: in LL + "
        "gradient evaluations (wall; CPU time of all threads in the last column).",
        "",
        "| case | R | F | seeds through the terms before → after | LL+grad ms "
        "| Hessian before ms (÷) | Hessian after ms (÷) | CPU time ÷ before → after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in report["rows"]:
        m = row["best_s"]
        lines.append(
            f"| {row['case']} | {row['draws']} | {row['n_free']} | {row['seeds_before']} → "
            f"{row['seeds_after']} | {1e3 * m['loglike_and_grad']:.1f} | "
            f"{1e3 * m['hessian_before']:.1f} ({row['hessian_over_grad_before']:.1f}) | "
            f"{1e3 * m['hessian_after']:.1f} ({row['hessian_over_grad_after']:.1f}) | "
            f"{row['cpu_hessian_over_grad_before']:.1f} → "
            f"{row['cpu_hessian_over_grad_after']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", default="f272924", help="the commit to compare with")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--draws", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--name", default="hessian_cost", help="results file name")
    args = parser.parse_args()
    rows = []
    before = baseline_package(args.before)
    cases_before = cases(before)
    for name, case in cases(ij).items():
        if name not in cases_before:
            continue
        for r in args.draws:
            row = {
                "case": name,
                "draws": r,
                **measure(before, case, cases_before[name], r, args.repeats),
            }
            print(
                f"{name} R={r}: Hessian {row['hessian_over_grad_before']:.1f} -> "
                f"{row['hessian_over_grad_after']:.1f} LL+grad (CPU time: "
                f"{row['cpu_hessian_over_grad_before']:.1f} -> "
                f"{row['cpu_hessian_over_grad_after']:.1f}) "
                f"(seeds {row['seeds_before']} -> {row['seeds_after']})",
                flush=True,
            )
            rows.append(row)
    report = {"rows": rows, "repeats": args.repeats, "before": args.before}
    save(args.name, report)
    (RESULTS / f"{args.name}.md").write_text(markdown({"machine": machine(), **report}))


if __name__ == "__main__":
    main()
