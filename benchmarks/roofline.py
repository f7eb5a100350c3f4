"""Issue 18: how far the LL and LL + gradient are from a roofline, per model part.

The roofline (:func:`roofline`) does only the unavoidable arithmetic of every
person-draw on flat arrays, draws last, with a hand-written reverse pass: the LVs
(structural equations), each ordered item's two CDF values (and, for the gradient, its
two densities) and ``log P``, the choice probabilities (MNL: ``exp`` of every utility
and one ``log``; binary probit: one ``erfc``, one ``log``, one density), the logsumexp
over draws, and the contractions of the adjoints with the data.  No tail safeguards,
no custom derivatives, no parameter transforms.  Its value is checked against the
library's LL, its gradient against ``jax.grad`` of its own value.

Per case and R, in one process, interleaved (median of ``--repeats`` rounds), the
library's ``Problem`` LL and LL + gradient, restricted to each part as in
``profile_loglike.py`` (``structural`` alone, ``measurement`` = structural +
indicators, ``choice`` = structural + choice model, ``all``), and the roofline doing the
same; ``--baseline REF`` also times the library as it was at git ``REF`` (imported as a
second package, so both run side by side).  Cases: the drug choice (as in
``peer_biogeme.py``), the beverage study (N = 326 x 10) and a cross-sectional study
(one row per person, N = 5,000, 1 LV, nine ordered-probit items, MNL of three
alternatives).  Writes ``benchmarks/results/roofline.{json,md}``.

    PYTHONPATH=. python benchmarks/roofline.py [--draws 100 500] [--baseline f272924]
"""

from __future__ import annotations

import argparse
import importlib
import math
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from _common import RESULTS, baseline_package, save
from jax import lax
from jax.nn import logsumexp
from jax.scipy.special import erfc
from profile_loglike import part_loglikes

import iclv_jax

PARTS = ("structural", "measurement", "choice", "all")
ROOT_HALF = math.sqrt(0.5)
ROOT_TWO_PI = math.sqrt(2.0 * math.pi)


# --- the cases -----------------------------------------------------------------------


def cross_sectional(ij, n_people: int = 5000, seed: int = 0):
    """One row per person: ``attitude = 0.5 age + 0.4 female + zeta``, nine five-level
    ordered-probit items ``q1..q9`` (loadings 0.8..1.6), and an MNL among two products
    (``asc``, price, label, ``theta_p attitude``) and none: ``(df, model, truth)``."""
    rng = np.random.default_rng(seed)
    n = n_people
    age, female = rng.uniform(-1.8, 2.0, n), rng.integers(0, 2, n).astype(float)
    attitude = 0.5 * age + 0.4 * female + rng.standard_normal(n)
    truth = {"b_age_to_attitude": 0.5, "b_female_to_attitude": 0.4}
    columns = {"id": np.arange(1, n + 1), "age": age, "female": female}
    for k in range(1, 10):
        loading, taus = 0.7 + 0.1 * k, (-1.8, -0.6, 0.5, 1.7)
        columns[f"q{k}"] = ij.datasets.ordered_response(loading * attitude, taus, rng)
        truth[f"lambda_q{k}"] = loading
        truth.update({f"tau_q{k}_{j}": tau for j, tau in enumerate(taus, start=1)})
    utilities = [np.zeros(n)]
    for product, (asc, theta) in {"a": (1.0, 0.6), "b": (0.5, -0.4)}.items():
        columns[f"price_{product}"] = rng.uniform(1.0, 5.0, n)
        columns[f"label_{product}"] = rng.integers(0, 2, n).astype(float)
        utilities.append(
            asc - 0.5 * columns[f"price_{product}"] + 0.3 * columns[f"label_{product}"]
        )
        utilities[-1] = utilities[-1] + theta * attitude
        truth.update({f"asc_{product}": asc, f"theta_attitude_{product}": theta})
    truth.update(beta_price=-0.5, beta_label=0.3)
    noisy = np.stack(utilities, axis=1) + rng.gumbel(size=(n, 3))
    columns["choice"] = 1 + noisy.argmax(axis=1)
    alternatives = [ij.Alternative(name="none", code=1)] + [
        ij.Alternative(
            name=p,
            code=code,
            asc=True,
            utility=ij.Utility(
                attributes={"price": f"price_{p}", "label": f"label_{p}"}, lvs=["attitude"]
            ),
        )
        for code, p in ((2, "a"), (3, "b"))
    ]
    model = ij.ICLVModel(
        latent_variables=[ij.LatentVariable("attitude", covariates=("age", "female"))],
        indicators=[
            ij.Indicator(f"q{k}", "attitude", kind="ordered_probit", levels=5) for k in range(1, 10)
        ],
        choice=ij.MultinomialLogit(choice="choice", alternatives=alternatives),
        person_id="id",
    )
    import pandas as pd

    return pd.DataFrame(columns), model, truth


def build(ij, case: str, n_draws: int):
    """``(problem, u)`` of ``case`` with ``n_draws`` draws, built by package ``ij``."""
    datasets = importlib.import_module(f"{ij.__name__}.datasets")  # older: not an attribute
    if case == "drug_choice":
        df, model, params = datasets.drug_choice(iclv_jax.datasets.drug_choice_path())
        draws = ij.ApolloHalton(n_draws)
    elif case == "beverage":
        df, model, params = datasets.beverage(n_people=326, seed=0)
        draws = ij.Halton(n_draws, seed=0)
    else:
        df, model, params = cross_sectional(ij)
        draws = ij.Halton(n_draws, seed=0)
    problem = ij.Problem(model, df, draws=draws)
    return problem, problem.free_internal(params)


CASES = ("drug_choice", "beverage", "cross_sectional")


# --- the roofline ---------------------------------------------------------------------


def roofline_inputs(problem, u) -> tuple[dict, dict]:
    """``(params, data)``: the reported parameters the roofline differentiates and the
    padded data arrays (people first), read off the library's components at ``u``."""
    lik = problem.likelihood
    structural, ordered, continuous, choice = lik.components(u)
    if continuous.loadings.shape[0] or choice.custom_terms or choice.random_terms:
        raise ValueError("the roofline covers ordered items and plain utilities only")
    if np.any(np.asarray(ordered.scales) != 1.0) or np.any(np.asarray(ordered.intercepts)):
        raise ValueError("the roofline assumes unit scales and no item intercepts")
    n_beta, n_lvs = choice.beta.shape[0], structural.b.shape[0]
    params = {
        "b": structural.b,
        "gamma": structural.gamma,
        "cuts": ordered.cuts,
        "loadings": ordered.loadings,
        "beta": choice.beta,
        "theta": choice.theta,
    }
    panel = lik.panel
    data = {
        "x": panel.covariates,
        "zeta": jnp.swapaxes(lik.zeta, 1, 2),  # (N, L, R)
        "intercept": jnp.broadcast_to(structural.intercept, panel.covariates.shape[:1] + (n_lvs,)),
        "sigma": jnp.broadcast_to(structural.sigma, panel.covariates.shape[:1] + (n_lvs,)),
        "levels": panel.ordered_levels,
        "design": panel.design[..., :n_beta],
        "chosen": panel.chosen,
        "available": panel.available,
        "mask": panel.situation_mask,
        "weight": panel.weight,
        "log_weights": jnp.broadcast_to(lik.log_weights, lik.zeta.shape[:2]),
    }
    static = {
        "lv_index": tuple(int(i) for i in np.asarray(ordered.lv_index)),
        "links": ordered.links,
        "choice": problem.model.choice.kind,
        "chunk": lik.chunk_size,
    }
    return params, {"data": data, "static": static}


def _eta(p, d):
    """``eta`` ``(c, L, R)``: ``eta_l = b_l . x + zeta_l + sum_{m<l} gamma_lm eta_m``."""
    mean = d["x"] @ p["b"].T + d["intercept"]
    shifted = mean[:, :, None] + d["sigma"][:, :, None] * d["zeta"]
    rows = []
    for l in range(shifted.shape[1]):
        rows.append(shifted[:, l] + sum(p["gamma"][l, m] * rows[m] for m in range(l)))
    return jnp.stack(rows, axis=1)


def _eta_adjoint(p, d, eta, a_eta):
    """Back through :func:`_eta`: ``(d/db, d/dgamma)`` from ``a_eta = d LL / d eta``."""
    n_lvs = eta.shape[1]
    adj = [None] * n_lvs
    d_gamma = jnp.zeros_like(p["gamma"])
    for l in reversed(range(n_lvs)):
        adj[l] = a_eta[:, l] + sum(p["gamma"][m, l] * adj[m] for m in range(l + 1, n_lvs))
        for m in range(l):
            d_gamma = d_gamma.at[l, m].set(jnp.sum(adj[l] * eta[:, m]))
    adjoint = jnp.stack(adj, axis=1)
    return adjoint.sum(axis=2).T @ d["x"], d_gamma


def _ordered(p, d, s, eta, grad: bool):
    """Per draw ``sum_k log P_k`` ``(c, R)`` and, with ``grad``, the items' adjoint
    factors: ``(log_p_sum, (g_lower, g_upper))`` with ``g = d log P / d z``."""
    levels = jnp.maximum(d["levels"], 0)
    lower = jnp.take_along_axis(p["cuts"][None], levels[:, :, None], axis=2)[..., 0]
    upper = jnp.take_along_axis(p["cuts"][None], levels[:, :, None] + 1, axis=2)[..., 0]
    index = p["loadings"][None, :, None] * eta[:, list(s["lv_index"]), :]
    z_lower, z_upper = lower[..., None] - index, upper[..., None] - index
    # F(u) - F(l) = F(-l) - F(-u): reflected left of the median, no cancellation
    reflect = z_lower + z_upper > 0
    z_lower, z_upper = (
        jnp.where(reflect, -z_upper, z_lower),
        jnp.where(reflect, -z_lower, z_upper),
    )
    if set(s["links"]) == {"logit"}:
        cdf_lower, cdf_upper = jax.nn.sigmoid(z_lower), jax.nn.sigmoid(z_upper)
    else:
        cdf_lower = 0.5 * erfc(-z_lower * ROOT_HALF)
        cdf_upper = 0.5 * erfc(-z_upper * ROOT_HALF)
    answered = (d["levels"] >= 0)[..., None]
    prob = cdf_upper - cdf_lower
    log_p = jnp.where(answered, jnp.log(prob), 0.0).sum(axis=1)
    if not grad:
        return log_p, None
    if set(s["links"]) == {"logit"}:
        pdf_lower = cdf_lower * (1.0 - cdf_lower)
        pdf_upper = cdf_upper * (1.0 - cdf_upper)
    else:
        pdf_lower = jnp.exp(-0.5 * z_lower**2) / ROOT_TWO_PI
        pdf_upper = jnp.exp(-0.5 * z_upper**2) / ROOT_TWO_PI
    inverse = jnp.where(answered, 1.0 / prob, 0.0)
    g_lower, g_upper = -pdf_lower * inverse, pdf_upper * inverse
    return log_p, (jnp.where(reflect, -g_upper, g_lower), jnp.where(reflect, -g_lower, g_upper))


def _ordered_adjoint(p, d, s, eta, factors, w):
    """``(d/dcuts, d/dloadings, d/deta)`` from the items' factors and the draw weights
    ``w`` ``(c, R)``."""
    g_lower, g_upper = factors[0] * w[:, None], factors[1] * w[:, None]
    g_index = -(g_lower + g_upper)  # (c, K, R)
    items_eta = eta[:, list(s["lv_index"]), :]
    d_loadings = jnp.sum(g_index * items_eta, axis=(0, 2))
    levels = jnp.maximum(d["levels"], 0)
    width = p["cuts"].shape[1]
    hot_lower = jax.nn.one_hot(levels, width)
    hot_upper = jax.nn.one_hot(levels + 1, width)
    d_cuts = jnp.einsum("ck,ckj->kj", g_lower.sum(axis=2), hot_lower) + jnp.einsum(
        "ck,ckj->kj", g_upper.sum(axis=2), hot_upper
    )
    by_item = g_index * p["loadings"][None, :, None]
    hot_lv = jax.nn.one_hot(jnp.asarray(s["lv_index"]), eta.shape[1])
    return d_cuts, d_loadings, jnp.einsum("ckr,kl->clr", by_item, hot_lv)


def _choice(p, d, s, eta, grad: bool):
    """Per draw ``sum_t log P(y_t)`` ``(c, R)`` and, with ``grad``, ``d log P / d V``."""
    base = d["design"] @ p["beta"]  # (c, T, J)
    v = base[..., None] + jnp.einsum("jl,clr->cjr", p["theta"], eta)[:, None]
    mask = d["mask"][..., None]
    if s["choice"] == "binary_probit":
        sign = jnp.where(d["chosen"] == 1, 1.0, -1.0)[..., None]
        x = sign * v[:, :, 0]
        cdf = 0.5 * erfc(-x * ROOT_HALF)
        log_p = jnp.where(mask, jnp.log(cdf), 0.0).sum(axis=1)
        if not grad:
            return log_p, None
        slope = jnp.where(mask, sign * jnp.exp(-0.5 * x * x) / (ROOT_TWO_PI * cdf), 0.0)
        return log_p, slope[:, :, None]
    exps = jnp.where(d["available"][..., None], jnp.exp(v), 0.0)
    total = exps.sum(axis=2)
    chosen = jax.nn.one_hot(d["chosen"], v.shape[2])[..., None]
    log_p = jnp.where(mask, (chosen * v).sum(axis=2) - jnp.log(total), 0.0).sum(axis=1)
    if not grad:
        return log_p, None
    return log_p, jnp.where(mask[..., None], chosen - exps / total[:, :, None], 0.0)


def _choice_adjoint(p, d, eta, g_v, w):
    """``(d/dbeta, d/dtheta, d/deta)`` from ``d log P / d V`` and the draw weights."""
    weighted = g_v * w[:, None, None]  # (c, T, J, R)
    d_beta = jnp.einsum("ctjp,ctj->p", d["design"], weighted.sum(axis=3))
    by_alt = weighted.sum(axis=1)  # (c, J, R)
    return (
        d_beta,
        jnp.einsum("cjr,clr->jl", by_alt, eta),
        jnp.einsum("cjr,jl->clr", by_alt, p["theta"]),
    )


def roofline_chunk(p, d, s, part: str, grad: bool):
    """The chunk's ``sum_n weight_n logsumexp_r(a_nr + log w_r)`` restricted to ``part``,
    and with ``grad`` its gradient in ``p`` by a hand-written reverse pass."""
    eta = _eta(p, d)
    a = eta.sum(axis=1) if part == "structural" else jnp.zeros(eta[:, 0].shape)
    factors = g_v = None
    if part in ("measurement", "all"):
        m, factors = _ordered(p, d, s, eta, grad)
        a = a + m
    if part in ("choice", "all"):
        c, g_v = _choice(p, d, s, eta, grad)
        a = a + c
    shifted = a + d["log_weights"]
    person = logsumexp(shifted, axis=1)
    value = jnp.sum(d["weight"] * person)
    if not grad:
        return value
    w = d["weight"][:, None] * jnp.exp(shifted - person[:, None])  # (c, R)
    zero = jax.tree.map(jnp.zeros_like, p)
    grads = dict(zero)
    a_eta = jnp.broadcast_to(w[:, None], eta.shape) if part == "structural" else 0.0
    if factors is not None:
        grads["cuts"], grads["loadings"], e = _ordered_adjoint(p, d, s, eta, factors, w)
        a_eta = a_eta + e
    if g_v is not None:
        grads["beta"], grads["theta"], e = _choice_adjoint(p, d, eta, g_v, w)
        a_eta = a_eta + e
    grads["b"], grads["gamma"] = _eta_adjoint(p, d, eta, jnp.broadcast_to(a_eta, eta.shape))
    return value, grads


def roofline(inputs, part: str, grad: bool):
    """A jitted ``f(params)``: :func:`roofline_chunk` over chunks of people (``lax.map``),
    summed."""
    data, static = inputs["data"], inputs["static"]
    chunk = static["chunk"]
    chunked = jax.tree.map(lambda x: x.reshape((-1, chunk) + x.shape[1:]), data)

    def f(p):
        out = lax.map(lambda d: roofline_chunk(p, d, static, part, grad), chunked)
        return jax.tree.map(lambda x: x.sum(axis=0), out)

    return jax.jit(f)


# --- the library, part by part --------------------------------------------------------


def library(problem, part: str, grad: bool):
    """A freshly jitted ``f(u)``: the library's chunked LL (with ``grad``: LL and
    gradient) of the draw log-likelihood restricted to ``part`` (``"all"``: exactly
    ``SimulatedLikelihood.loglike`` / ``loglike_and_grad``)."""
    lik = problem.likelihood
    if part == "all":
        return jax.jit(lambda u: (lik.loglike_and_grad if grad else lik.loglike)(u))
    loglikes = part_loglikes(part)

    def chunk_sum(v, panel, zeta, log_weights):
        person = jax.vmap(loglikes, in_axes=(None, 0, 0))(lik.components(v), panel, zeta)
        return (logsumexp(person + log_weights, axis=1) * panel.weight).sum()

    fn = jax.value_and_grad(chunk_sum) if grad else chunk_sum
    return jax.jit(lambda u: lik.sum_people(fn, u))


# --- timing ---------------------------------------------------------------------------


def interleaved(functions: dict, repeats: int) -> dict:
    """``label -> median seconds`` of ``(fn, arg)``, one call of each in turn per round
    (after a compiling call of each), so every label sees the same machine load."""
    for fn, arg in functions.values():
        jax.block_until_ready(fn(arg))
    times: dict = {label: [] for label in functions}
    for _ in range(repeats):
        for label, (fn, arg) in functions.items():
            start = time.perf_counter()
            jax.block_until_ready(fn(arg))
            times[label].append(time.perf_counter() - start)
    return {label: statistics.median(t) for label, t in times.items()}


def check_roofline(problem, u, inputs, params) -> dict:
    """The roofline's LL against the library's, its hand-written gradient against
    ``jax.grad`` of its own value (relative differences)."""
    ll = float(problem.likelihood.loglike(u))
    value = float(roofline(inputs, "all", False)(params))
    _, grads = roofline(inputs, "all", True)(params)
    auto = jax.grad(roofline(inputs, "all", False))(params)
    scale = max(float(jnp.max(jnp.abs(g))) for g in jax.tree.leaves(auto))
    gap = max(float(jnp.max(jnp.abs(grads[name] - auto[name]))) for name in auto if auto[name].size)
    return {
        "loglike_relative_difference": abs(value - ll) / abs(ll),
        "gradient_relative_difference": gap / scale,
    }


def measure(case: str, n_draws: int, repeats: int, ref) -> dict:
    problem, u = build(iclv_jax, case, n_draws)
    params, inputs = roofline_inputs(problem, u)
    functions = {}
    for part in PARTS:
        for grad in (False, True):
            kind = "loglike_and_grad" if grad else "loglike"
            functions[("roofline", part, kind)] = (roofline(inputs, part, grad), params)
            functions[("iclv_jax", part, kind)] = (library(problem, part, grad), u)
    if ref is not None:
        old, old_u = build(ref, case, n_draws)
        for part in PARTS:
            for grad in (False, True):
                kind = "loglike_and_grad" if grad else "loglike"
                functions[("baseline", part, kind)] = (library(old, part, grad), old_u)
    times = interleaved(functions, repeats)
    out: dict = {
        "n_people": problem.panel.n_people,
        "n_draws": n_draws,
        "n_items": len(inputs["static"]["links"]),
        "check": check_roofline(problem, u, inputs, params),
        "seconds": {},
    }
    for (who, part, kind), seconds in times.items():
        out["seconds"].setdefault(who, {}).setdefault(part, {})[kind] = seconds
    if ref is not None:
        out["baseline_loglike"] = float(old.likelihood.loglike(old_u))
        out["loglike"] = float(problem.likelihood.loglike(u))
    return out


def ratios(result: dict) -> dict:
    """``who -> part -> kind -> seconds / roofline seconds``."""
    roof = result["seconds"]["roofline"]
    return {
        who: {
            part: {kind: s / roof[part][kind] for kind, s in kinds.items()}
            for part, kinds in parts.items()
        }
        for who, parts in result["seconds"].items()
        if who != "roofline"
    }


def markdown(results: dict, ref) -> str:
    lines = [
        "# Roofline: LL and LL + gradient against the unavoidable arithmetic",
        "",
        "Median of interleaved rounds in one process; ms, and the ratio to the roofline "
        "doing the same part (x).  `LL share`: LL alone / LL + gradient."
        + (f"  `baseline`: the library at `{ref}`." if ref else ""),
        "",
        "| case | R | who | part | LL ms | LL+grad ms | LL x | LL+grad x | LL share |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, result in results.items():
        case, draws = key.rsplit("/R=", 1)
        rel = ratios(result)
        for who, parts in result["seconds"].items():
            for part, kinds in parts.items():
                ll, both = kinds["loglike"], kinds["loglike_and_grad"]
                x = rel.get(who, {}).get(part)
                lines.append(
                    f"| {case} | {draws} | {who} | {part} | {1e3 * ll:.2f} | {1e3 * both:.2f} | "
                    + (f"{x['loglike']:.2f} | {x['loglike_and_grad']:.2f}" if x else "1 | 1")
                    + f" | {ll / both:.2f} |"
                )
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--draws", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--baseline", help="a git ref: also time the library as it was there")
    parser.add_argument("--name", default="roofline")
    args = parser.parse_args()
    ref = baseline_package(args.baseline) if args.baseline else None
    results = {}
    for case in args.cases:
        for n_draws in args.draws:
            key = f"{case}/R={n_draws}"
            results[key] = measure(case, n_draws, args.repeats, ref)
            print(key, results[key]["check"], flush=True)
            for who, parts in ratios(results[key]).items():
                print(
                    f"  {who}: "
                    + ", ".join(
                        f"{part} {x['loglike']:.2f}/{x['loglike_and_grad']:.2f}"
                        for part, x in parts.items()
                    ),
                    flush=True,
                )
    save(args.name, {"baseline": args.baseline, "results": results})
    (RESULTS / f"{args.name}.md").write_text(markdown(results, args.baseline))


if __name__ == "__main__":
    main()
