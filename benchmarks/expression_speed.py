"""Utility expressions against the column form, side by side in one process: the
beverage study (``examples/beverage.yaml``) and the drug-choice ICLV
(``examples/drug_choice.yaml`` on the raw CSV) against their dummy-coded column forms.

For each study and form: LL alone, LL + gradient and the exact Hessian, timed in
alternating rounds (A, B, A, B, ...) so drift in the machine's load hits both forms
alike; the table reports the median of each form and the ratio expression / column,
and the largest differences of LL, gradient and Hessian (they share one design matrix,
so they agree to rounding).  Also a nonlinear rest term: the drug-choice price effect
written as ``b_price * price_j * exp(c * attitude)`` is evaluated draw by draw.

    python benchmarks/expression_speed.py [--people 1000] [--draws 100] [--rounds 7]

Writes ``benchmarks/results/expression_speed.{json,md}``.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import jax
import numpy as np
import pandas as pd
from _common import RESULTS, machine, save

import iclv_jax as ij
from iclv_jax import datasets

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DRUG_NAMES = {
    f"beta_{attribute}_{label}": f"b_{label}"
    for attribute, levels in datasets.DRUG_DUMMIES.items()
    for label in levels
} | {"beta_risk": "b_risk", "beta_price": "b_price", "lambda": "lambda"}


def _studies(people: int, draws: int):
    """``name -> (column problem, expression problem, params, renaming)``."""
    df, model, truth = datasets.beverage(n_people=people, seed=0)
    beverage = (
        ij.Problem(model, df, draws),
        ij.Problem(ij.load_model(EXAMPLES / "beverage.yaml"), df, draws),
        truth,
        {},
    )
    dummies, drug_model, start = datasets.drug_choice()
    raw = pd.read_csv(datasets.drug_choice_path())
    keep = raw["ID"].isin(np.unique(raw["ID"])[:people])
    halton = ij.ApolloHalton(draws)
    drug = (
        ij.Problem(drug_model, dummies[keep], halton),
        ij.Problem(ij.load_model(EXAMPLES / "drug_choice.yaml"), raw[keep], halton),
        start,
        DRUG_NAMES,
    )
    return {"beverage": beverage, "drug_choice": drug}


def _nonlinear_drug(people: int, draws: int):
    """The drug-choice model with ``b_price * price_j * exp(c * attitude)`` in the
    branded alternatives (a rest term evaluated draw by draw)."""
    model = ij.load_model(EXAMPLES / "drug_choice.yaml")
    alternatives = [
        dataclasses.replace(
            alt,
            utility=str(alt.utility).replace(
                f"b_price * price_{alt.code}",
                f"b_price * price_{alt.code} * exp(c_price * attitude)",
            ),
        )
        for alt in model.choice.alternatives
    ]
    model = dataclasses.replace(model, choice=ij.MultinomialLogit("best", alternatives))
    raw = pd.read_csv(datasets.drug_choice_path())
    keep = raw["ID"].isin(np.unique(raw["ID"])[:people])
    return ij.Problem(model, raw[keep], ij.ApolloHalton(draws))


def _operations(problem, u):
    likelihood = problem.likelihood
    return {
        "loglike": lambda: likelihood.loglike(u),
        "loglike_and_grad": lambda: likelihood.loglike_and_grad(u),
        "hessian": lambda: likelihood.hessian(u),
    }


def _timed(fn) -> float:
    began = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - began


def _agreement(column, expression, params, rename) -> dict:
    """Largest relative differences of LL, gradient and Hessian between the forms."""
    u_a = column.free_internal(params)
    u_b = expression.free_internal({rename.get(k, k): v for k, v in params.items()})
    order = [
        list(expression.space.free_names).index(rename.get(n, n)) for n in column.space.free_names
    ]
    ll_a, g_a = column.likelihood.loglike_and_grad(u_a)
    ll_b, g_b = expression.likelihood.loglike_and_grad(u_b)
    h_a = np.asarray(column.likelihood.hessian(u_a))
    h_b = np.asarray(expression.likelihood.hessian(u_b))[np.ix_(order, order)]
    g_a, g_b = np.asarray(g_a), np.asarray(g_b)[order]
    return {
        "loglike": abs(float(ll_b - ll_a)) / abs(float(ll_a)),
        "gradient": float(np.abs(g_b - g_a).max() / np.abs(g_a).max()),
        "hessian": float(np.abs(h_b - h_a).max() / np.abs(h_a).max()),
    }


def run(people: int, draws: int, rounds: int) -> dict:
    rows = []
    for study, (column, expression, params, rename) in _studies(people, draws).items():
        u = {
            "column": column.free_internal(params),
            "expression": expression.free_internal(
                {rename.get(k, k): v for k, v in params.items()}
            ),
        }
        forms = {"column": column, "expression": expression}
        operations = {form: _operations(p, u[form]) for form, p in forms.items()}
        agreement = _agreement(column, expression, params, rename)
        for operation in operations["column"]:
            times: dict[str, list[float]] = {"column": [], "expression": []}
            for form in forms:  # compile and warm up
                _timed(operations[form][operation])
            for _ in range(rounds):
                for form in forms:
                    times[form].append(_timed(operations[form][operation]))
            medians = {form: float(np.median(t)) for form, t in times.items()}
            rows.append(
                {
                    "study": study,
                    "operation": operation,
                    "column_s": medians["column"],
                    "expression_s": medians["expression"],
                    "ratio": medians["expression"] / medians["column"],
                    "column_spread": float(np.ptp(times["column"]) / medians["column"]),
                    "max_rel_difference": agreement[operation.removesuffix("_and_grad")]
                    if operation != "loglike_and_grad"
                    else agreement["gradient"],
                }
            )
            print(rows[-1])
    nonlinear = _nonlinear_drug(people, draws)
    u = nonlinear.free_internal(None)
    linear = _studies(people, draws)["drug_choice"][1]
    u_linear = linear.free_internal(None)
    for operation in ("loglike", "loglike_and_grad"):
        fns = {
            "linear": _operations(linear, u_linear)[operation],
            "with_rest": _operations(nonlinear, u)[operation],
        }
        for fn in fns.values():
            _timed(fn)
        times = {k: [] for k in fns}
        for _ in range(rounds):
            for k, fn in fns.items():
                times[k].append(_timed(fn))
        medians = {k: float(np.median(t)) for k, t in times.items()}
        rows.append(
            {
                "study": "drug_choice, price x exp(c attitude)",
                "operation": operation,
                "column_s": medians["linear"],
                "expression_s": medians["with_rest"],
                "ratio": medians["with_rest"] / medians["linear"],
                "column_spread": float(np.ptp(times["linear"]) / medians["linear"]),
                "max_rel_difference": float("nan"),
            }
        )
        print(rows[-1])
    return {"people": people, "draws": draws, "rounds": rounds, "rows": rows}


def markdown(payload: dict) -> str:
    lines = [
        f"# Utility expressions vs columns ({payload['people']} people, "
        f"{payload['draws']} draws, median of {payload['rounds']} alternating rounds)",
        "",
        f"Machine: {payload['machine']['cpu_model']}, {payload['machine']['cpu_count']} CPUs, "
        f"jax {payload['machine']['versions']['jax']}.  The last rows compare the linear "
        "drug-choice expression with one holding a draw-by-draw rest term.",
        "",
        "| study | operation | column (s) | expression (s) | ratio | column spread "
        "| max rel. difference |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in payload["rows"]:
        lines.append(
            f"| {row['study']} | {row['operation']} | {row['column_s']:.4f} | "
            f"{row['expression_s']:.4f} | {row['ratio']:.3f} | {row['column_spread']:.2f} | "
            f"{row['max_rel_difference']:.1e} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--draws", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--name", default="expression_speed")
    args = parser.parse_args()
    payload = run(args.people, args.draws, args.rounds) | {"machine": machine()}
    save(args.name, payload)
    (RESULTS / f"{args.name}.md").write_text(markdown(payload))
    print(markdown(payload))


if __name__ == "__main__":
    main()
