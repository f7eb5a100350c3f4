"""Time one LL, LL+gradient, per-person scores and exact Hessian.

Beverage study (binary probit, 3 LVs, 59 parameters), N = 2,000, R = 200 by default;
also the drug-choice ICLV (37 parameters, N = 1,000, R = 100). Prints and saves
``benchmarks/results/loglike_speed_<device>.json``.

    .venv/bin/python benchmarks/loglike_speed.py [--people 2000] [--draws 200]
"""

import argparse

import jax
from _common import best_time, machine, save

import iclv_jax as ij
from iclv_jax import datasets


def time_problem(problem: ij.Problem, params) -> dict:
    u = problem.free_internal(params)
    lik = problem.likelihood
    timings = {
        "n_people": problem.panel.n_people,
        "n_draws": problem.draws.n_draws,
        "n_params": int(u.shape[0]),
        "chunk_size": lik.chunk_size,
        "loglike_s": best_time(lik.loglike, u),
        "loglike_and_grad_s": best_time(lik.loglike_and_grad, u),
        "scores_s": best_time(lik.per_person_and_scores, u),
        "hessian_s": best_time(lik.hessian, u, repeats=1),
    }
    timings["hessian_over_grad"] = timings["hessian_s"] / timings["loglike_and_grad_s"]
    for key, value in timings.items():
        print(f"  {key:22s} {value:.4g}" if isinstance(value, float) else f"  {key:22s} {value}")
    return timings


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--draws", type=int, default=200)
    args = parser.parse_args()
    print(machine())
    df, model, truth = datasets.beverage(n_people=args.people, seed=1)
    print(f"beverage probit, N={args.people}, R={args.draws}")
    beverage = time_problem(ij.Problem(model, df, draws=args.draws), truth)
    df, model, start = datasets.drug_choice()
    print("drug choice ICLV, N=1000, R=100 (Apollo Halton)")
    drug = time_problem(ij.Problem(model, df, draws=ij.ApolloHalton(100)), start)
    device = jax.devices()[0].platform
    save(f"loglike_speed_{device}", {"beverage_probit": beverage, "drug_choice": drug})


if __name__ == "__main__":
    main()
