"""Command line: ``iclv-jax demo`` simulates the beverage study and estimates it."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="iclv-jax", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="simulate the beverage study, estimate it, print estimates beside the truth"
    )
    demo.add_argument("--people", type=_positive_int, default=326)
    demo.add_argument("--draws", type=_positive_int, default=100)
    demo.add_argument("--choice", choices=("probit", "logit", "ordered"), default="probit")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--json", metavar="PATH", help="write estimates, SEs and truth as JSON")
    return parser


def run_demo(args) -> dict:
    from . import Halton, datasets, estimate

    df, model, truth = datasets.beverage(n_people=args.people, seed=args.seed, choice=args.choice)
    print(f"beverage study ({args.choice}): {args.people} people, {len(df)} choice situations, "
          f"raw prices 1,000-5,000, {args.draws} Halton draws", flush=True)
    results = estimate(model, df, draws=Halton(args.draws, seed=args.seed))
    print(results.summary())
    table = results.table[["estimate", "robust_se"]].copy()
    table["truth"] = [truth.get(name, np.nan) for name in table.index]
    table["(est-truth)/se"] = (table["estimate"] - table["truth"]) / table["robust_se"]
    print("\nestimates beside the true values\n")
    print(table.to_string(float_format=lambda x: f"{x:.5g}"))
    report = {
        "estimates": results.table["estimate"].to_dict(),
        "se": results.table["se"].to_dict(),
        "robust_se": results.table["robust_se"].to_dict(),
        "truth": truth,
        "loglike": results.loglike,
        "converged": results.converged,
        "iterations": results.iterations,
        "n_params": results.n_params,
        "seconds": results.seconds,
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return report


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "demo":
        run_demo(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
