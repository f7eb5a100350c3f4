"""The beverage study from its model file: simulate the data (known truth), estimate
the expression-form model of ``examples/beverage.yaml``, print estimates beside the
truth.

    python examples/beverage.py [--people 326] [--draws 200] [--seed 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

import iclv_jax as ij
from iclv_jax import datasets

MODEL_FILE = Path(__file__).with_name("beverage.yaml")


def main(people: int = 326, draws: int = 200, seed: int = 0) -> tuple[ij.Results, dict]:
    """Estimate the model file's model on a fresh simulation; returns the results and
    the true parameter values."""
    df, _, truth = datasets.beverage(n_people=people, seed=seed)
    model = ij.load_model(MODEL_FILE)
    results = ij.estimate(model, df, draws=draws, verbose=False)
    table = results.table[["estimate", "robust_se"]].assign(truth=pd.Series(truth))
    print(results.summary())
    print(table.to_string(float_format="{:.4f}".format))
    return results, truth


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=326)
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(args.people, args.draws, args.seed)
