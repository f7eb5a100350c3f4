"""Gauss-Hermite quadrature against simulation on two one-LV ICLV models.

Cases:

- ``beverage_one_lv``: the beverage study's one-LV variant (326 people, 10 binary
  probit purchases each, ``purchase_intention`` with its items ``pi1..pi3`` and
  covariates ``age``, ``female``; see ``iclv_jax.datasets.beverage_one_lv``:
  the reduced form of the three-LV chain, correctly specified), default start values;
- ``drug_choice``: the apollo drug-choice ICLV (1,000 people, 10 MNL tasks, 37
  parameters, ``../shared/data/drugchoice.csv``), its standard start values.

Methods: plain Gauss-Hermite at 10/20/40 nodes (``GH``), adaptive at 5/10 nodes
(``AGH``), MSL with scrambled Halton draws at 100/1,000/10,000 (``MSL``), and the
reference, plain Gauss-Hermite at 100 nodes.  For each: time to a verified optimum
(``estimate`` from the same start, after a warm-up ``estimate`` with one iteration
that compiles the functions for these shapes; the warm-up's time, compilation
included, is reported as ``warmup_seconds``), the LL error at its
estimates (its own LL minus the 100-node LL at the same estimates), the largest
difference from the reference estimates in reference (classical) SE units, and the
time of one LL evaluation at the reference estimates.

``--estimate-max-draws R``: MSL with more than ``R`` draws is not estimated (only its
LL at the reference estimates is evaluated: error against the exact LL there, and the
time of one evaluation); default 1,000 (estimation at 10,000 draws takes tens of
minutes on a CPU).  Saves ``benchmarks/results/quadrature-<device>.json`` and ``.png``.

    .venv/bin/python benchmarks/quadrature.py [--cases beverage_one_lv drug_choice]
        [--estimate-max-draws 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings

import jax
import matplotlib
import numpy as np
from _common import RESULTS, best_time, save

import iclv_jax as ij
from iclv_jax import datasets

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

REFERENCE_NODES = 100
METHODS = [
    ("GH", 10),
    ("GH", 20),
    ("GH", 40),
    ("AGH", 5),
    ("AGH", 10),
    ("MSL", 100),
    ("MSL", 1000),
    ("MSL", 10_000),
]


def case_data(name: str):
    """``(data, model, start)``."""
    if name == "beverage_one_lv":
        df, model, _ = datasets.beverage_one_lv()
        return df, model, None
    if name == "drug_choice":
        return datasets.drug_choice()
    raise ValueError(name)


def rule(method: str, size: int) -> ij.Draws:
    return {
        "GH": ij.Quadrature,
        "AGH": ij.AdaptiveQuadrature,
        "MSL": lambda r: ij.Halton(r, seed=0),
    }[method](size)


def run_case(name: str, estimate_max_draws: int) -> dict:
    df, model, start = case_data(name)
    print(f"== {name}")
    ij.estimate(
        model,
        df,
        draws=ij.Quadrature(REFERENCE_NODES),
        start=start,
        max_iterations=1,
        verbose=False,
    )  # compile (warm-up)
    began = time.perf_counter()
    reference = ij.estimate(
        model, df, draws=ij.Quadrature(REFERENCE_NODES), start=start, verbose=False
    )
    ref_seconds = time.perf_counter() - began
    exact = ij.Problem(model, df, draws=ij.Quadrature(REFERENCE_NODES))
    finer = ij.Problem(model, df, draws=ij.Quadrature(150)).loglike(reference.estimates)
    names = list(reference.covariance.index)
    se = reference.table.loc[names, "se"].to_numpy()
    ref_values = np.array([reference.estimates[n] for n in names])
    print(
        f"  reference GH-{REFERENCE_NODES}: LL {reference.loglike:.6f} "
        f"(150 nodes: {finer - reference.loglike:+.1e}), {ref_seconds:.1f} s, "
        f"converged {reference.converged}"
    )
    rows = []
    for method, size in METHODS:
        draws = rule(method, size)
        row = {"method": method, "size": size, "label": f"{method}-{size}"}
        problem = ij.Problem(model, df, draws=draws)
        problem.adapt(reference.estimates)
        u_ref = problem.free_internal(reference.estimates)
        row["loglike_at_reference"] = float(problem.likelihood.loglike(u_ref))
        row["error_at_reference"] = row["loglike_at_reference"] - reference.loglike
        row["loglike_seconds"] = best_time(
            problem.likelihood.loglike, u_ref, repeats=1 if size > 1000 else 3
        )
        row["estimated"] = not (method == "MSL" and size > estimate_max_draws)
        if row["estimated"]:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                began = time.perf_counter()
                ij.estimate(model, df, draws=draws, start=start, max_iterations=1, verbose=False)
                row["warmup_seconds"] = time.perf_counter() - began
                began = time.perf_counter()
                results = ij.estimate(model, df, draws=draws, start=start, verbose=False)
                seconds = time.perf_counter() - began
            values = np.array([results.estimates[n] for n in names])
            at_estimates = exact.loglike(results.estimates)
            row.update(
                seconds_to_optimum=seconds,
                converged=results.converged,
                iterations=results.iterations,
                loglike=results.loglike,
                exact_loglike_at_estimates=at_estimates,
                ll_error=results.loglike - at_estimates,
                exact_ll_loss=reference.loglike - at_estimates,
                max_abs_diff_se=float(np.max(np.abs(values - ref_values) / se)),
                worst_parameter=names[int(np.argmax(np.abs(values - ref_values) / se))],
            )
            print(
                f"  {row['label']:>9s}: LL error {row['ll_error']:+.2e} at its estimates "
                f"({row['error_at_reference']:+.2e} at the reference), max |diff| "
                f"{row['max_abs_diff_se']:.3f} SE ({row['worst_parameter']}), "
                f"{seconds:.1f} s (warm-up {row['warmup_seconds']:.1f} s), "
                f"converged {results.converged}, "
                f"LL {row['loglike_seconds'] * 1e3:.1f} ms"
            )
        else:
            print(
                f"  {row['label']:>9s}: LL error {row['error_at_reference']:+.2e} at the "
                f"reference estimates (not estimated), LL {row['loglike_seconds']:.2f} s"
            )
        rows.append(row)
        del problem
    return {
        "case": name,
        "n_people": int(reference.n_people),
        "n_params": len(names),
        "reference": {
            "nodes": REFERENCE_NODES,
            "loglike": reference.loglike,
            "loglike_150_nodes": finer,
            "seconds_to_optimum": ref_seconds,
            "converged": reference.converged,
            "estimates": dict(zip(names, ref_values.tolist(), strict=True)),
            "se": dict(zip(names, se.tolist(), strict=True)),
        },
        "methods": rows,
    }


def plot(cases: list[dict], path) -> None:
    fig, axes = plt.subplots(2, len(cases), figsize=(6 * len(cases), 8), squeeze=False)
    colours = {"GH": "tab:blue", "AGH": "tab:green", "MSL": "tab:red"}
    for column, case in enumerate(cases):
        top, bottom = axes[0, column], axes[1, column]
        for row in case["methods"]:
            error = abs(row["ll_error"] if row["estimated"] else row["error_at_reference"])
            x = row["seconds_to_optimum"] if row["estimated"] else None
            marker = "o" if row["estimated"] else "x"
            if x is not None:
                top.scatter(x, max(error, 1e-12), color=colours[row["method"]], marker=marker)
                top.annotate(row["label"], (x, max(error, 1e-12)), fontsize=8)
                bottom.scatter(x, max(row["max_abs_diff_se"], 1e-6), color=colours[row["method"]])
                bottom.annotate(row["label"], (x, max(row["max_abs_diff_se"], 1e-6)), fontsize=8)
            else:  # not estimated: its error at the reference estimates, as a line
                top.axhline(max(error, 1e-12), color=colours[row["method"]], ls=":", lw=1)
                top.annotate(
                    f"{row['label']} (LL at the GH-100 estimates only)",
                    (0.02, max(error, 1e-12)),
                    xycoords=top.get_yaxis_transform(),
                    fontsize=8,
                    va="bottom",
                )
        top.set(
            xscale="log",
            yscale="log",
            xlabel="seconds to a verified optimum",
            ylabel="|LL error| vs 100-node GH at the same estimates",
            title=f"{case['case']} (N={case['n_people']}, {case['n_params']} parameters)",
        )
        bottom.set(
            xscale="log",
            yscale="log",
            xlabel="seconds to a verified optimum",
            ylabel="max |estimate - GH-100 estimate| / SE",
        )
        for ax in (top, bottom):
            ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"saved {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="+", default=["beverage_one_lv", "drug_choice"])
    parser.add_argument("--estimate-max-draws", type=int, default=1000)
    parser.add_argument(
        "--replot", action="store_true", help="redraw the PNG from the saved JSON and exit"
    )
    args = parser.parse_args()
    device = jax.devices()[0].platform
    if args.replot:
        saved = json.loads((RESULTS / f"quadrature-{device}.json").read_text())
        plot(saved["cases"], RESULTS / f"quadrature-{device}.png")
        return
    cases = [run_case(name, args.estimate_max_draws) for name in args.cases]
    payload = {
        "estimate_max_draws": args.estimate_max_draws,
        "load_average": os.getloadavg(),
        "cases": cases,
    }
    save(f"quadrature-{device}", payload)
    plot(cases, RESULTS / f"quadrature-{device}.png")


if __name__ == "__main__":
    main()
