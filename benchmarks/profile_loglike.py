"""Where the time of one LL + gradient goes, per model part and per evaluation layout.

For the beverage study (binary probit, 10 ordered-probit items, 3 LVs; N = 1,000) and
the drug-choice ICLV (MNL, 4 ordered-logit items, 1 LV; N = 1,000), R = 100, in one run:

- LL and LL + gradient of the draw log-likelihood restricted to its parts: the
  structural equations alone, plus the measurement rows, plus the choice model, all;
- the same full likelihood with the components called one draw at a time under
  ``vmap`` ("draws first", the layout before) and with all draws at once, draws last
  (the layout the library uses);
- float32 against float64;
- ``log Phi`` by :func:`iclv_jax.components.log_normal_cdf` against
  :func:`jax.scipy.special.log_ndtr` on 10^6 points, value and gradient;
- the exact Hessian and its cost in LL + gradient evaluations.

Prints and saves ``benchmarks/results/profile_loglike_<device>.json``.

    PYTHONPATH=. .venv/bin/python benchmarks/profile_loglike.py
"""

import jax
import jax.numpy as jnp
import numpy as np
from _common import best_time, machine, save
from jax.nn import logsumexp
from jax.scipy.special import log_ndtr

import iclv_jax as ij
from iclv_jax import datasets
from iclv_jax.components import log_normal_cdf
from iclv_jax.drawterms import draw_loglikes


def part_loglikes(parts: str):
    """The draw log-likelihood ``(R,)`` of one person restricted to ``parts``:
    ``"structural"`` (the sum of the LVs, a stand-in of the same shape),
    ``"measurement"`` (structural + indicators) or ``"choice"`` (structural + choice)."""

    def loglikes(components, person, zeta):
        structural, ordered, continuous, choice = components
        eta = structural(person.covariates, zeta.T)
        if parts == "structural":
            return eta.sum(axis=0)
        if parts == "measurement":
            return ordered.log_prob(eta, person.ordered_levels).sum(axis=0) + continuous.log_prob(
                eta, person.continuous_values
            ).sum(axis=0)
        choices = choice.log_prob(
            choice.base_utility(person.design), eta, person.chosen, person.available
        )
        return jnp.where(person.situation_mask[:, None], choices, 0.0).sum(axis=0)

    return loglikes


def draws_first_loglikes(components, person, zeta):
    """The full draw log-likelihood with the components called one draw at a time."""
    structural, ordered, continuous, choice = components
    base = choice.base_utility(person.design)

    def one_draw(z):
        eta = structural(person.covariates, z)
        choices = choice.log_prob(base, eta, person.chosen, person.available)
        return (
            ordered.log_prob(eta, person.ordered_levels).sum()
            + continuous.log_prob(eta, person.continuous_values).sum()
            + jnp.where(person.situation_mask, choices, 0.0).sum()
        )

    return jax.vmap(one_draw)(zeta)


def timed(likelihood, loglikes, u) -> dict:
    """LL and LL + gradient of ``sum_n logsumexp_r(loglikes + log w)`` over the chunks."""

    def chunk_sum(v, panel, zeta, log_weights):
        person = jax.vmap(loglikes, in_axes=(None, 0, 0))(likelihood.components(v), panel, zeta)
        return (logsumexp(person + log_weights, axis=1) * panel.weight).sum()

    loglike = jax.jit(lambda v: likelihood.sum_people(chunk_sum, v))
    with_grad = jax.jit(lambda v: likelihood.sum_people(jax.value_and_grad(chunk_sum), v))
    return {"loglike_s": best_time(loglike, u), "loglike_and_grad_s": best_time(with_grad, u)}


def profile(model, df, draws, params) -> dict:
    problem = ij.Problem(model, df, draws=draws)
    u = problem.free_internal(params)
    lik = problem.likelihood
    out = {
        "n_people": problem.panel.n_people,
        "n_draws": problem.draws.n_draws,
        "n_params": int(u.shape[0]),
        "hessian_seeds": int(lik.plan.seeds.shape[0]),
    }
    for label, loglikes in (
        ("structural", part_loglikes("structural")),
        ("measurement", part_loglikes("measurement")),
        ("choice", part_loglikes("choice")),
        ("full, draws first", draws_first_loglikes),
        ("full, draws last", draw_loglikes),
    ):
        out[label] = timed(lik, loglikes, u)
        print(
            f"  {label:20s} LL {out[label]['loglike_s']:.4f} s   "
            f"LL+grad {out[label]['loglike_and_grad_s']:.4f} s",
            flush=True,
        )
    single = ij.Problem(model, df, draws=draws, dtype="float32")
    out["full, draws last, float32"] = timed(single.likelihood, draw_loglikes, u)
    print(
        f"  {'float32':20s} LL+grad {out['full, draws last, float32']['loglike_and_grad_s']:.4f} s",
        flush=True,
    )
    out["hessian_s"] = best_time(lik.hessian, u, repeats=2)
    out["hessian_over_grad"] = out["hessian_s"] / out["full, draws last"]["loglike_and_grad_s"]
    print(
        f"  hessian {out['hessian_s']:.3f} s = {out['hessian_over_grad']:.1f} LL+grad "
        f"({out['hessian_seeds']} seeds for {out['n_params']} parameters)",
        flush=True,
    )
    return out


def log_cdf_speed(n: int = 1_000_000) -> dict:
    x = jnp.asarray(np.random.default_rng(0).normal(scale=3.0, size=n))
    out = {}
    for label, fn in (("log_normal_cdf", log_normal_cdf), ("jax log_ndtr", log_ndtr)):
        value = jax.jit(lambda v, fn=fn: fn(v).sum())
        grad = jax.jit(jax.value_and_grad(lambda v, fn=fn: fn(v).sum()))
        out[label] = {"value_s": best_time(value, x), "value_and_grad_s": best_time(grad, x)}
        print(f"  {label:15s} {out[label]}", flush=True)
    return out


def main():
    print(machine())
    df, model, truth = datasets.beverage(n_people=1000, seed=1)
    print("beverage, N=1000, R=100")
    beverage = profile(model, df, 100, truth)
    df, model, start = datasets.drug_choice()
    print("drug choice, N=1000, R=100 (Apollo Halton)")
    drug = profile(model, df, ij.ApolloHalton(100), start)
    print("log Phi on 1e6 points")
    save(
        f"profile_loglike_{jax.devices()[0].platform}",
        {"beverage": beverage, "drug_choice": drug, "log_phi_1e6": log_cdf_speed()},
    )


if __name__ == "__main__":
    main()
