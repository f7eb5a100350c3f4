"""iclv_jax against Biogeme on the same ICLV, the same data and the same draws.

The models are the registry ``_peer_cases.CASES``: (a) the drug-choice ICLV (apollo
data: 1,000 people x 10 tasks, MNL, four ordered-logit indicators, one LV, 37
parameters) with ``ApolloHalton`` draws, (b) the beverage study (326 people x 10
situations, binary probit on raw prices, ten ordered-probit indicators, a chain of three
LVs, 59 parameters) and (c) a cross-sectional ICLV simulated from a known truth (5,000
people, one row each, MNL over three modes, nine ordered-probit items, one LV, 53
parameters), both with scrambled Halton draws.  iclv_jax generates the normal draws;
Biogeme receives the very same matrix through user-defined draw generators, so both
compute the same simulated likelihood and their values must agree to rounding at any
parameter vector.

Biogeme (3.3.x, Python >= 3.12, not a dependency of this project) runs in its own venv,
``benchmarks/.biogeme-venv``, created on first use with pyenv's 3.12 and ``pip install
biogeme``; ``_biogeme_worker.py`` runs there as a subprocess, reading the data and draws
written here (``.npz``) and a JSON job, and answering in JSON.

Reported per model and number of draws R (100 and 500; ``--quick``: 10): cold fits
(``_peer_cold.py``: a fresh process per library timed end to end, imports, compilation
and standard errors included; iclv_jax with an empty and with a filled persistent
compilation cache), both optima checked with one test (a negative definite Hessian and
a Newton step that would gain less than 1e-6 in LL) and their LLs compared; LL (and
gradient) of both at the start values and at both optima; median wall times of LL
alone, LL+gradient and (first R only) the Hessian after a compiling first call; ratios
Biogeme / iclv_jax.  The machine may be shared: times are medians.

    .venv/bin/python benchmarks/peer_biogeme.py           # R=100 and R=500, all cases
    .venv/bin/python benchmarks/peer_biogeme.py --quick   # R=10 (smoke run)
    .venv/bin/python benchmarks/peer_biogeme.py --quick --no-cold  # agreement + timing

Saves ``benchmarks/results/peer_biogeme.json`` and ``peer_biogeme.md`` (``--quick``:
``peer_biogeme-quick.*``) after each case; ``--readme`` rewrites the README's summary
table from the saved results.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np
from _common import RESULTS, median_time, save
from _peer_cases import CASES, Case
from _peer_cold import iclv_cold_fit, verify
from _peer_export import biogeme_python, export_arrays, flat_model, model_columns, run_worker
from _peer_report import TIMED, markdown, ratios, update_readme

import iclv_jax as ij

VERIFIED = 1e-6  # a verified optimum: a Newton step would gain less in LL
README = Path(__file__).resolve().parent.parent / "README.md"


def reported_gradient_to_internal(problem: ij.Problem, u, gradient: dict) -> np.ndarray:
    """``J' g`` with ``J = d reported / d internal`` (free parts): Biogeme's gradient in
    the reported parameters expressed in iclv_jax's internal ones."""
    free = problem.space.free_index
    jac = np.asarray(jax.jacobian(lambda v: problem.likelihood.to_reported(v)[free])(u))
    g = np.array([gradient[name] for name in problem.space.free_names])
    return jac.T @ g


def fresh_problem(model, data, draws, start) -> tuple[ij.Problem, float]:
    """A new Problem and the wall time of its first (compiling) LL+gradient call."""
    problem = ij.Problem(model, data, draws=draws)
    u = problem.free_internal(start)
    began = time.perf_counter()
    jax.block_until_ready(problem.likelihood.loglike_and_grad(u))
    return problem, time.perf_counter() - began


def iclv_point(problem: ij.Problem, params: dict) -> tuple[float, np.ndarray, np.ndarray]:
    u = problem.free_internal(params)
    ll, grad = problem.likelihood.loglike_and_grad(u)
    return float(ll), np.asarray(grad), u


def iclv_timing(problem: ij.Problem, params: dict, repeats: int, hessian_repeats: int) -> dict:
    u = problem.free_internal(params)
    likelihood = problem.likelihood
    out = {
        "loglike": median_time(lambda: jax.block_until_ready(likelihood.loglike(u)), repeats),
        "loglike_and_grad": median_time(
            lambda: jax.block_until_ready(likelihood.loglike_and_grad(u)), repeats
        ),
    }
    if hessian_repeats:
        out["hessian"] = median_time(
            lambda: jax.block_until_ready(likelihood.hessian(u)), hessian_repeats
        )
    return out


def compare_points(problem: ij.Problem, points: dict, biogeme_points: dict) -> dict:
    """Both libraries' LL and gradient (in iclv_jax's internal parameters) at each point."""
    out = {}
    for label, params in points.items():
        ll, grad, u = iclv_point(problem, params)
        theirs = biogeme_points[label]
        their_grad = reported_gradient_to_internal(problem, u, theirs["gradient"])
        out[label] = {
            "iclv_jax": ll,
            "biogeme": theirs["loglike"],
            "abs_difference": abs(ll - theirs["loglike"]),
            "gradient_max_abs_difference": float(np.max(np.abs(grad - their_grad))),
            "gradient_max_abs": float(np.max(np.abs(grad))),
        }
    return out


def cold_fits(name: str, case: Case, r: int, python: Path, job: dict, folder: Path) -> dict:
    """Both libraries' cold fits at ``r`` draws: iclv_jax with an empty, then a filled
    compilation cache, Biogeme in a fresh process with its defaults (and the case's
    ``biogeme_settings``)."""
    cache = folder / f"cache-{name}-R{r}"
    out: dict = {}
    for key in ("iclv_jax_first", "iclv_jax_cached"):
        print(f"[{name}] iclv_jax cold fit ({key}), R={r}", file=sys.stderr)
        out[key] = iclv_cold_fit(name, r, cache, folder / f"cold-{name}-R{r}.json")
    print(f"[{name}] Biogeme cold fit, R={r}", file=sys.stderr)
    # Biogeme's `full` analytical Hessian refuses above its memory budget at R=500;
    # `automatic` is what its error message proposes (full where it fits)
    theirs = run_worker(
        python,
        {
            **job,
            "cold_fit": True,
            "settings": {"analytical_hessian_mode": "automatic", **case.biogeme_settings},
        },
        folder,
    )
    out["biogeme"] = {
        **theirs["estimation"],
        "cold_s": theirs["estimation"]["fit_done_unix"] - theirs["launched_unix"],
    }
    mine_ll, their_ll = out["iclv_jax_first"]["loglike"], out["biogeme"]["loglike"]
    out["loglike_relative_difference"] = abs(mine_ll - their_ll) / abs(mine_ll)
    return out


def run_draws(
    name: str, case: Case, r: int, python: Path, folder: Path, settings: dict
) -> tuple[dict, dict]:
    """Cold fits, agreement and timing at ``r`` draws; also the job for later calls."""
    model, data = case.model, case.data
    problem, first_call = fresh_problem(model, data, case.draws(r), case.start)
    flat = flat_model(model, problem.space.free_names)
    start = problem.reported(problem.free_internal(case.start))
    start = {n: start[n] for n in problem.space.free_names}
    arrays = folder / f"{name}-R{r}.npz"
    normals = problem.draws.normals(problem.panel.n_people, len(model.lv_names))
    export_arrays(arrays, data, model_columns(flat), normals)
    job = {"arrays": str(arrays), "flat": flat, "start": start, "cold_fit": False}
    out: dict = {}
    points = {"start": start}
    if settings["cold"]:
        out["cold_fit"] = cold = cold_fits(name, case, r, python, job, folder)
        for key, label in (("iclv_jax_first", "iclv_jax"), ("biogeme", "biogeme")):
            points[f"{label}_optimum"] = {n: cold[key]["estimates"][n] for n in start}
        cold["verification"] = {
            label: verify(problem, points[f"{label}_optimum"], VERIFIED)
            for label in ("iclv_jax", "biogeme")
        }
    timing_point = "iclv_jax_optimum" if "iclv_jax_optimum" in points else "start"
    hessian_repeats = settings["hessian_repeats"]
    print(f"[{name}] Biogeme agreement and timing, R={r}", file=sys.stderr)
    theirs = run_worker(
        python,
        {
            **job,
            "points": points,
            "timing_point": timing_point,
            "repeats": settings["repeats"],
            "hessian_repeats": hessian_repeats,
            # Biogeme refuses to build its evaluator at R=500 when its full jacfwd
            # Hessian would exceed its memory budget; LL and LL+gradient need none
            "settings": case.biogeme_settings
            if hessian_repeats
            else {"calculating_second_derivatives": "never"},
        },
        folder,
    )
    out["agreement"] = compare_points(problem, points, theirs["points"])
    out["timing"] = {
        "iclv_jax": {
            **iclv_timing(problem, points[timing_point], settings["repeats"], hessian_repeats),
            "first_call_s": first_call,
        },
        "biogeme": {k: theirs[k] for k in ("first_call_s", *TIMED) if k in theirs},
    }
    out["timing_point"] = timing_point
    return out, theirs["versions"]


def run_case(name: str, python: Path, folder: Path, args) -> dict:
    case = CASES[name]()
    draws = [10] if args.quick else args.draws
    out: dict = {"label": case.label, "draws": {}}
    for i, r in enumerate(draws):
        settings = {
            "cold": not args.no_cold and (args.cold_draws is None or r in args.cold_draws),
            "repeats": 3 if args.quick else args.repeats,
            "hessian_repeats": 0 if args.quick or i else 3,
        }
        out["draws"][f"R={r}"], out["biogeme_versions"] = run_draws(
            name, case, r, python, folder, settings
        )
    problem = ij.Problem(case.model, case.data, draws=case.draws(2))
    out["parameters"], out["people"] = problem.space.n_free, problem.panel.n_people
    out["ratios"] = ratios(out)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="R=10 only, no Hessian timing")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold fits")
    parser.add_argument("--draws", type=int, nargs="+", default=[100, 500])
    parser.add_argument(
        "--cold-draws", type=int, nargs="+", help="cold fits at these R only (default: all)"
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument(
        "--readme", action="store_true", help="only rewrite README's table from the results"
    )
    args = parser.parse_args()
    stem = "peer_biogeme-quick" if args.quick else "peer_biogeme"
    if args.readme:
        written = update_readme(README, json.loads((RESULTS / f"{stem}.json").read_text()))
        print(f"README table {'rewritten' if written else 'markers not found'}")
        return
    python = biogeme_python()
    report: dict = {"settings": vars(args), "cases": {}}
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        for name in args.cases:  # saved after each case
            report["cases"][name] = run_case(name, python, Path(folder), args)
            report["biogeme_versions"] = report["cases"][name]["biogeme_versions"]
            report["seconds"] = time.perf_counter() - began
            path = save(stem, report)
            saved = json.loads(path.read_text())
            (RESULTS / f"{stem}.md").write_text(markdown(saved))
    print(markdown(saved))


if __name__ == "__main__":
    main()
