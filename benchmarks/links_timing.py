"""Issue 15: LL+gradient time of the beverage study (N=1000, R=100), all items
ordered probit, and (argument 1) with the pb and pi items ordered logit (the links chosen per item).

Run alternately in fresh processes against another tree to compare the one-link case:

    PYTHONPATH=TREE python benchmarks/links_timing.py 0   # all ordered probit
    PYTHONPATH=.    python benchmarks/links_timing.py 1   # probit and logit items
"""

import dataclasses
import json
import sys
import time

import numpy as np

import iclv_jax as ij
from iclv_jax.datasets import beverage

mixed = sys.argv[1] == "1"
df, model, truth = beverage(n_people=1000, seed=0)
if mixed:
    model = dataclasses.replace(
        model,
        indicators=[
            dataclasses.replace(i, kind="ordered_logit") if not i.name.startswith("hc") else i
            for i in model.indicators
        ],
    )
problem = ij.Problem(model, df, draws=ij.Halton(100, seed=0))
u = problem.free_internal(None)
loglike_and_grad = problem.likelihood.loglike_and_grad
loglike_and_grad(u)[1].block_until_ready()  # compile
times = []
for _ in range(15):
    begin = time.perf_counter()
    loglike_and_grad(u)[1].block_until_ready()
    times.append(time.perf_counter() - begin)
summary = {"mixed": mixed, "median_s": float(np.median(times)), "min_s": float(min(times))}
print(json.dumps(summary))
