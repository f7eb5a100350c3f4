"""Every optimiser of :data:`iclv_jax.optimize.OPTIMIZERS` on two problems, to a verified optimum.

(a) the beverage study of the project notes: binary probit, raw prices 1,000-5,000,
    every start value 0.1, 326 people, ``Halton(100, seed=0)`` draws, 59 parameters;
(b) the drug-choice ICLV (apollo data, 1,000 people, 37 parameters) from its usual
    start values with ``ApolloHalton(100)`` draws (reference optimum -16545.03).

For each run: iterations (history rows of the simultaneous and Newton-verification
stages), the number of per-person-score (log-likelihood and gradient included) and
exact-Hessian computations of :class:`iclv_jax.optimize.Evaluator` (counted by wrapping
its compute methods here, so cached points count once; optax L-BFGS evaluates inside a
jitted step, so its line-search evaluations are counted as ``lbfgs_steps`` only), wall
time to the verified optimum (after a warm-up that compiles every function, so compile
time is excluded), final LL, relative gradient, ``converged``, and the gap to the best
LL of any converged run on that problem.  Runs are capped at ``--max-iterations``
(``--hessian-iterations`` for the optimisers that evaluate the exact Hessian at every
iteration); a capped run must report ``converged=False``.

Saves ``benchmarks/results/convergence-<device>.json`` and ``convergence-<device>.png``
(LL and gradient norm per iteration, one column per problem, a line per optimiser)
and prints a table.

    .venv/bin/python benchmarks/convergence.py [--quick] [--optimizers hybrid newton]
"""

from __future__ import annotations

import argparse
import time
import warnings
from contextlib import contextmanager

import jax
import matplotlib
import numpy as np
from _common import RESULTS, machine, save

import iclv_jax as ij
from iclv_jax import datasets
from iclv_jax import optimize as opt
from iclv_jax.optimize import external

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HESSIAN_EVERY_ITERATION = ("newton", "trust-exact")


class Counts:
    """Computations of the Evaluator (and optax L-BFGS steps) while active."""

    def __init__(self):
        self.scores = self.hessian = self.lbfgs_steps = 0

    def as_dict(self) -> dict:
        return dict(vars(self))


@contextmanager
def counting():
    """Wrap ``Evaluator._compute_scores``, ``._compute_hessian`` and optax's step."""
    counts = Counts()
    originals = {name: getattr(opt.Evaluator, f"_compute_{name}") for name in ("scores", "hessian")}
    step = external.lbfgs_step

    def wrap(name):
        def method(self, *args, **kwargs):
            setattr(counts, name, getattr(counts, name) + 1)
            return originals[name](self, *args, **kwargs)

        return method

    def counted_step(*args, **kwargs):
        counts.lbfgs_steps += 1
        return step(*args, **kwargs)

    try:
        for name in originals:
            setattr(opt.Evaluator, f"_compute_{name}", wrap(name))
        external.lbfgs_step = counted_step
        yield counts
    finally:
        for name, method in originals.items():
            setattr(opt.Evaluator, f"_compute_{name}", method)
        external.lbfgs_step = step


def problems(quick: bool) -> dict:
    df, model, _ = datasets.beverage(n_people=326, seed=0)
    cases = {
        "beverage": {
            "data": df,
            "model": model,
            "start": 0.1,
            "draws": ij.Halton(100, seed=0),
            "label": "beverage probit, raw prices, start 0.1, N=326, R=100",
        }
    }
    if not quick:
        df, model, start = datasets.drug_choice()
        cases["drug_choice"] = {
            "data": df,
            "model": model,
            "start": start,
            "draws": ij.ApolloHalton(100),
            "label": "drug-choice ICLV (apollo), N=1000, R=100",
        }
    return cases


def warm_up(case: dict, optimizers) -> float:
    """Compile the likelihood, gradient, scores and Hessian (and optax's step)."""
    start = time.perf_counter()
    problem = ij.Problem(case["model"], case["data"], draws=case["draws"])
    u = problem.free_internal(case["start"])
    likelihood = problem.likelihood
    for fn in (
        likelihood.loglike,
        likelihood.loglike_and_grad,
        likelihood.per_person_and_scores,
        likelihood.hessian,
    ):
        jax.block_until_ready(fn(u))
    if "lbfgs" in optimizers:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ij.estimate(
                case["model"],
                case["data"],
                draws=case["draws"],
                start=case["start"],
                optimizer="lbfgs",
                max_iterations=1,
                verbose=False,
            )
    return time.perf_counter() - start


def run(case: dict, optimizer: str, max_iterations: int) -> dict:
    with counting() as counts, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        began = time.perf_counter()
        results = ij.estimate(
            case["model"],
            case["data"],
            draws=case["draws"],
            start=case["start"],
            optimizer=optimizer,
            max_iterations=max_iterations,
            verbose=False,
        )
        wall = time.perf_counter() - began
    history = results.history
    return {
        "optimizer": optimizer,
        "max_iterations": max_iterations,
        "iterations": results.iterations,
        "newton_verification_steps": int((history["stage"] == "newton").sum())
        if len(history)
        else 0,
        "evaluations": counts.as_dict(),
        "wall_s": wall,
        "loglike": results.loglike,
        "relative_gradient": results.relative_gradient,
        "converged": results.converged,
        "message": results.message,
        "warnings": sorted({f"{w.category.__name__}: {str(w.message)[:160]}" for w in caught}),
        "history": {
            "iteration": history["iteration"].tolist(),
            "stage": history["stage"].tolist(),
            "loglike": history["loglike"].tolist(),
            "gradient_norm": history["gradient_norm"].tolist(),
        }
        if len(history)
        else {},
    }


def table(name: str, runs: list[dict]) -> str:
    header = (
        f"{'optimizer':12s} {'iter':>5s} {'scores':>9s} {'hess':>5s} "
        f"{'wall s':>7s} {'final LL':>14s} {'gap':>9s} {'rel grad':>9s} converged"
    )
    lines = [f"== {name}", header]
    for r in runs:
        e = r["evaluations"]
        evals = f"{e['scores']}" + (f"+{e['lbfgs_steps']}st" if e["lbfgs_steps"] else "")
        gap = r["gap_to_best"]
        lines.append(
            f"{r['optimizer']:12s} {r['iterations']:5d} {evals:>9s} "
            f"{e['hessian']:5d} {r['wall_s']:7.1f} {r['loglike']:14.4f} "
            f"{gap:9.2e} {r['relative_gradient']:9.1e} {r['converged']}"
        )
    return "\n".join(lines)


def plot(report: dict, path) -> None:
    names = list(report)
    fig, axes = plt.subplots(2, len(names), figsize=(6.5 * len(names), 8), squeeze=False)
    for column, name in enumerate(names):
        best = report[name]["best_converged_loglike"]
        top, bottom = axes[0, column], axes[1, column]
        for i, r in enumerate(report[name]["runs"]):
            h = r["history"]
            if not h:
                continue
            x = np.asarray(h["iteration"])
            label = f"{r['optimizer']} ({'converged' if r['converged'] else 'NOT converged'})"
            ll = np.asarray(h["loglike"], dtype=float)
            # distance to the best converged LL, so that both ends of the path show
            gap = best - ll if best is not None else -ll
            top.plot(x, np.where(gap > 0, gap, np.nan), color=f"C{i}", label=label)
            bottom.plot(x, np.asarray(h["gradient_norm"], dtype=float), color=f"C{i}", label=label)
        top.set_yscale("log")
        top.set_ylabel("best converged LL - LL")
        top.set_title(report[name]["label"], fontsize=9)
        bottom.set_yscale("log")
        bottom.set_ylabel("gradient norm")
        bottom.set_xlabel("iteration")
        for ax in (top, bottom):
            ax.set_xscale("log")
            ax.grid(True, which="both", alpha=0.3)
        top.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"saved {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the beverage study only")
    parser.add_argument(
        "--optimizers", nargs="+", default=list(opt.OPTIMIZERS), choices=opt.OPTIMIZERS
    )
    parser.add_argument("--max-iterations", type=int, default=200)
    parser.add_argument(
        "--hessian-iterations",
        type=int,
        default=60,
        help=f"iteration cap for {HESSIAN_EVERY_ITERATION}",
    )
    parser.add_argument("--name", default=None, help="result stem (default convergence-<device>)")
    args = parser.parse_args()
    info = machine()
    print(info)
    report = {}
    for name, case in problems(args.quick).items():
        compile_s = warm_up(case, args.optimizers)
        print(f"{name}: warm-up (compile) {compile_s:.1f} s", flush=True)
        runs = []
        for optimizer in args.optimizers:
            cap = (
                args.hessian_iterations
                if optimizer in HESSIAN_EVERY_ITERATION
                else args.max_iterations
            )
            r = run(case, optimizer, cap)
            runs.append(r)
            print(
                f"  {optimizer:12s} {r['wall_s']:7.1f} s  LL {r['loglike']:.6f}  "
                f"rel grad {r['relative_gradient']:.1e}  converged {r['converged']}  "
                f"{r['iterations']} iterations",
                flush=True,
            )
        converged = [r["loglike"] for r in runs if r["converged"]]
        best = max(converged) if converged else None
        for r in runs:
            r["gap_to_best"] = (best - r["loglike"]) if best is not None else float("nan")
        report[name] = {
            "label": case["label"],
            "warm_up_s": compile_s,
            "best_converged_loglike": best,
            "runs": runs,
        }
    device = jax.devices()[0].platform
    stem = args.name or f"convergence-{device}"
    save(
        stem,
        {
            "quick": args.quick,
            "max_iterations": args.max_iterations,
            "hessian_iterations": args.hessian_iterations,
            "problems": report,
        },
    )
    plot(report, RESULTS / f"{stem}.png")
    print()
    for name, entry in report.items():
        best = entry["best_converged_loglike"]
        print(table(f"{name}: {entry['label']} (best converged LL {best})", entry["runs"]))


if __name__ == "__main__":
    main()
