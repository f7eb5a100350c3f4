"""iclv_jax against Biogeme on a mixed logit with two correlated random coefficients,
the same data and the same draws.

Swissmetro (Biogeme's own data: SP rows, purposes 1 and 3, 752 people x 9 choices), a
panel mixed logit among train, Swissmetro and car with a normal time coefficient and a
negative log-normal cost coefficient, correlated:

    c_time = mu_time + sigma_time z_1,
    c_cost = -exp(mu_cost + chol_cost_time z_1 + sigma_cost z_2),

written in iclv_jax as ``RandomCoefficient("cost", "negative_lognormal",
correlated_with=["time"])`` with the coefficients used by name in utility expressions,
and in Biogeme with the Cholesky elements written out as free parameters
(``_biogeme_rc_worker.py``).  iclv_jax generates the normal draws (scrambled Halton);
Biogeme receives the same matrix through user-defined draw generators (the route of
``peer_biogeme.py``), so both compute the same simulated LL at any parameter vector.

Reported: LL and gradient of both at the start values, at a random point and at
iclv_jax's optimum; each library's estimation from the same start (iclv_jax keeps the
Cholesky diagonal positive; Biogeme's is free-signed, so its estimates are compared
after making each column of ``L`` positive on the diagonal, which leaves ``Sigma = L
L'`` unchanged); ``Sigma`` with SEs from iclv_jax; LL+gradient times.

    .venv/bin/python benchmarks/peer_random_coefficients.py [--draws 100] [--quick]

Saves ``benchmarks/results/peer_random_coefficients.{json,md}`` (``--quick``: R=10, no
estimation, ``peer_random_coefficients-quick.*``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import tempfile
import time
from pathlib import Path

import jax
import numpy as np
import pandas as pd
from _common import RESULTS, save
from _peer_export import HERE, biogeme_python, export_arrays
from peer_biogeme import compare_points, fresh_problem, iclv_timing

import iclv_jax as ij

WORKER = HERE / "_biogeme_rc_worker.py"
SWISSMETRO = Path(
    "/work/bench/biogeme-venv/lib/python3.12/site-packages/biogeme/data/data/swissmetro.dat"
)
ALTERNATIVES = {  # name: (code, availability, constant, time column, cost column)
    "train": (1, "TRAIN_AV_SP", "asc_train", "TRAIN_TT_SCALED", "TRAIN_COST_SCALED"),
    "sm": (2, "SM_AV", None, "SM_TT_SCALED", "SM_COST_SCALED"),
    "car": (3, "CAR_AV_SP", "asc_car", "CAR_TT_SCALED", "CAR_CO_SCALED"),
}
COLUMNS = ["ID", "CHOICE", "TRAIN_AV_SP", "SM_AV", "CAR_AV_SP"] + [
    c for _, _, _, time_col, cost_col in ALTERNATIVES.values() for c in (time_col, cost_col)
]


def swissmetro(path: Path = SWISSMETRO) -> pd.DataFrame:
    """Biogeme's Swissmetro preparation: purposes 1 and 3, a choice made; costs zero
    for GA holders; times and costs divided by 100; availability of SP rows."""
    df = pd.read_csv(path, sep="\t")
    df = df[df["PURPOSE"].isin([1, 3]) & (df["CHOICE"] != 0)].copy()
    sp = (df["SP"] != 0).astype(float)
    df["TRAIN_AV_SP"] = df["TRAIN_AV"] * sp
    df["CAR_AV_SP"] = df["CAR_AV"] * sp
    df["TRAIN_TT_SCALED"] = df["TRAIN_TT"] / 100
    df["TRAIN_COST_SCALED"] = df["TRAIN_CO"] * (df["GA"] == 0) / 100
    df["SM_TT_SCALED"] = df["SM_TT"] / 100
    df["SM_COST_SCALED"] = df["SM_CO"] * (df["GA"] == 0) / 100
    df["CAR_TT_SCALED"] = df["CAR_TT"] / 100
    df["CAR_CO_SCALED"] = df["CAR_CO"] / 100
    return df[COLUMNS].reset_index(drop=True)


def model() -> ij.ICLVModel:
    alternatives = []
    for name, (code, available, constant, time_col, cost_col) in ALTERNATIVES.items():
        text = f"time * {time_col} + cost * {cost_col}"
        text = f"{constant} + {text}" if constant else text
        alternatives.append(ij.Alternative(name, code, text, available=available))
    return ij.ICLVModel(
        [],
        [],
        ij.MultinomialLogit("CHOICE", alternatives),
        person_id="ID",
        random_coefficients=[
            ij.RandomCoefficient("time"),
            ij.RandomCoefficient("cost", "negative_lognormal", correlated_with=["time"]),
        ],
    )


def job_model(spec: ij.ICLVModel, free: list[str]) -> dict:
    """The mixed logit as the worker builds it: Cholesky rows as ``(draw, parameter)``."""
    rows = ij.components.structural.cholesky_names(spec)
    return {
        "free": free,
        "person_id": spec.person_id,
        "choice": "CHOICE",
        "n_draws": spec.n_draw_dims,
        "coefficients": [
            {
                "name": rc.name,
                "distribution": rc.distribution,
                "mean": f"mu_{rc.name}",
                "row": [(j, name) for j, name in enumerate(row) if name is not None],
            }
            for rc, row in zip(spec.random_coefficients, rows, strict=True)
        ],
        "alternatives": [
            {
                "code": code,
                "available": available,
                "terms": {constant: None} if constant else {},
                "random": {"time": time_col, "cost": cost_col},
            }
            for code, available, constant, time_col, cost_col in ALTERNATIVES.values()
        ],
    }


def run_worker(job: dict, folder: Path) -> dict:
    job_path, out_path = folder / "job.json", folder / "out.json"
    job_path.write_text(json.dumps(job))
    subprocess.run([str(biogeme_python()), str(WORKER), str(job_path), str(out_path)], check=True)
    return json.loads(out_path.read_text())


def positive_diagonal(estimates: dict) -> dict:
    """Biogeme's estimates with each column of ``L`` signed so that its diagonal is
    positive (``Sigma = L L'`` unchanged): ``sigma_cost < 0`` flips it alone,
    ``sigma_time < 0`` flips it and ``chol_cost_time``."""
    out = dict(estimates)
    if out["sigma_time"] < 0:
        out["sigma_time"], out["chol_cost_time"] = -out["sigma_time"], -out["chol_cost_time"]
    out["sigma_cost"] = abs(out["sigma_cost"])
    return out


def hessian_covariance(results: ij.Results, spec, data, draws) -> pd.DataFrame:
    """``J (-H)^-1 J'``: the classical covariance from the exact Hessian alone, without
    iclv_jax's simulation-noise check (what Biogeme's Rao-Cramer SEs are)."""
    problem = ij.Problem(spec, data, draws=draws)
    names = list(results.table.index)
    u = problem.free_internal({k: results.estimates[k] for k in names})
    free = problem.space.free_index
    jacobian = np.asarray(jax.jacobian(lambda v: problem.likelihood.to_reported(v)[free])(u))
    inverse = np.linalg.inv(-np.asarray(problem.likelihood.hessian(u)))
    return pd.DataFrame(jacobian @ inverse @ jacobian.T, index=names, columns=names)


def fit_summary(spec: ij.ICLVModel, data: pd.DataFrame, draws, start) -> dict:
    """An iclv_jax fit from ``start``: time, LL, convergence, estimates, SEs (also from
    the Hessian alone), ``Sigma`` with delta-method SEs from the latter."""
    began = time.perf_counter()
    results = ij.estimate(spec, data, draws=draws, start=start, verbose=False)
    seconds = time.perf_counter() - began
    raw = dataclasses.replace(results, covariance=hessian_covariance(results, spec, data, draws))
    covariance = raw.random_coefficient_covariance()
    return {
        "smallest_curvature": results.smallest_curvature,
        "hessian_std_errors": dict(
            zip(raw.covariance.index, np.sqrt(np.diag(raw.covariance)), strict=True)
        ),
        "seconds": seconds,
        "loglike": results.loglike,
        "converged": results.converged,
        "message": results.message,
        "iterations": results.iterations,
        "estimates": results.table["estimate"].to_dict(),
        "std_errors": results.table["se"].to_dict(),
        "sigma": {f"{a}, {b}": row for (a, b), row in covariance.to_dict("index").items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--draws", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="R=10, no estimation")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    r = 10 if args.quick else args.draws
    data, spec = swissmetro(), model()
    draws = ij.Halton(r, seed=0)
    problem, first_call = fresh_problem(spec, data, draws, None)
    n = problem.panel.n_people
    normals = problem.draws.normals(n, spec.n_draw_dims)
    assert np.array_equal(np.asarray(problem.likelihood.zeta)[:n], normals)
    free = list(problem.space.free_names)
    start = problem.reported(problem.free_internal(None))
    start = {k: start[k] for k in free}
    rng = np.random.default_rng(0)
    points = {
        "start": start,
        "random": {k: v + 0.3 * rng.normal() for k, v in start.items()},
    }
    out: dict = {"people": n, "rows": len(data), "draws": r, "parameters": len(free)}
    if not args.quick:
        out["iclv_jax_estimation"] = fit_summary(spec, data, draws, start=None)
        points["iclv_jax_optimum"] = out["iclv_jax_estimation"]["estimates"]
    with tempfile.TemporaryDirectory() as folder:
        arrays = Path(folder) / "arrays.npz"
        export_arrays(arrays, data, COLUMNS, normals)
        job = {
            **job_model(spec, free),
            "arrays": str(arrays),
            "start": start,
            "points": points,
            "repeats": args.repeats,
            "estimate": not args.quick,
        }
        theirs = run_worker(job, Path(folder))
    out["biogeme_versions"] = theirs["versions"]
    out["agreement"] = compare_points(problem, points, theirs["points"])
    for row in out["agreement"].values():
        row["relative_difference"] = row["abs_difference"] / abs(row["biogeme"])
    out["timing"] = {
        "iclv_jax": {**iclv_timing(problem, start, args.repeats, 0), "first_call_s": first_call},
        "biogeme": {k: theirs[k] for k in ("loglike_and_grad", "first_call_s")},
    }
    if not args.quick:
        est = theirs["estimation"]
        est["estimates_positive_diagonal"] = theirs_optimum = positive_diagonal(est["estimates"])
        out["biogeme_estimation"] = est
        out["iclv_jax_loglike_at_biogeme_optimum"] = problem.loglike(theirs_optimum)
        # the same optimum reached from Biogeme's estimates: estimates and SEs compared
        out["iclv_jax_from_biogeme_optimum"] = fit_summary(spec, data, draws, start=theirs_optimum)
        mine = out["iclv_jax_from_biogeme_optimum"]["estimates"]
        out["estimate_relative_difference"] = {
            k: abs(mine[k] - v) / max(abs(v), 1e-12) for k, v in theirs_optimum.items()
        }
        out["se_relative_difference"] = {
            k: abs(out["iclv_jax_from_biogeme_optimum"]["hessian_std_errors"][k] - v) / v
            for k, v in est["std_errors"].items()
        }
    stem = "peer_random_coefficients-quick" if args.quick else "peer_random_coefficients"
    path = save(stem, out)
    (RESULTS / f"{stem}.md").write_text(markdown(json.loads(path.read_text())))
    print((RESULTS / f"{stem}.md").read_text())


def markdown(out: dict) -> str:
    lines = [
        "# Correlated random coefficients: iclv_jax against Biogeme, same draws",
        "",
        f"Swissmetro panel mixed logit, {out['people']} people, {out['rows']} rows, "
        f"R = {out['draws']} scrambled Halton draws, {out['parameters']} parameters, "
        f"Biogeme {out['biogeme_versions']['biogeme']}.",
        "",
        "| point | iclv_jax LL | Biogeme LL | abs diff | rel diff | max abs gradient diff |",
        "|---|---|---|---|---|---|",
    ]
    for label, row in out["agreement"].items():
        lines.append(
            f"| {label} | {row['iclv_jax']:.10f} | {row['biogeme']:.10f} | "
            f"{row['abs_difference']:.2e} | {row['relative_difference']:.2e} | "
            f"{row['gradient_max_abs_difference']:.2e} |"
        )
    timing = out["timing"]
    lines += [
        "",
        "LL+gradient median s: iclv_jax "
        f"{timing['iclv_jax']['loglike_and_grad']['median_s']:.4f}, Biogeme "
        f"{timing['biogeme']['loglike_and_grad']['median_s']:.4f}; first call "
        f"{timing['iclv_jax']['first_call_s']:.2f} / {timing['biogeme']['first_call_s']:.2f} s.",
    ]
    if "biogeme_estimation" in out:
        default, theirs = out["iclv_jax_estimation"], out["biogeme_estimation"]
        mine = out["iclv_jax_from_biogeme_optimum"]
        lines += [
            "",
            f"Estimation from the same start (iclv_jax's defaults): Biogeme LL "
            f"{theirs['loglike']:.6f} ({theirs['seconds']:.1f} s, relative gradient "
            f"{theirs['relative_gradient']:.1e}); iclv_jax LL {default['loglike']:.6f} "
            f"({default['seconds']:.1f} s, converged {default['converged']}: "
            f"{default['message']}).  iclv_jax's LL at Biogeme's optimum: "
            f"{out['iclv_jax_loglike_at_biogeme_optimum']:.6f}.  iclv_jax started at "
            f"Biogeme's optimum: LL {mine['loglike']:.6f} ({mine['seconds']:.1f} s, "
            f"converged {mine['converged']}; smallest eigenvalue of -DHD "
            f"{mine['smallest_curvature']:.3g}, at the default start's end "
            f"{default['smallest_curvature']:.3g}).  SE: iclv_jax's report (NaN where its "
            "simulation-noise check rejects the curvature at this R) / from the exact "
            "Hessian alone, as Biogeme's:",
            "",
            "| parameter | iclv_jax (default start) | iclv_jax (from Biogeme's optimum) | SE "
            "| Biogeme (diagonal made positive) | SE | rel diff estimate | rel diff SE |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for k, v in mine["estimates"].items():
            lines.append(
                f"| {k} | {default['estimates'][k]:.6f} | {v:.6f} | {mine['std_errors'][k]:.6f} / "
                f"{mine['hessian_std_errors'][k]:.6f} | "
                f"{theirs['estimates_positive_diagonal'][k]:.6f} | "
                f"{theirs['std_errors'][k]:.6f} | {out['estimate_relative_difference'][k]:.1e} "
                f"| {out['se_relative_difference'][k]:.1e} |"
            )
        lines += [
            "",
            "Sigma at that optimum (iclv_jax; delta-method SEs from the Hessian alone):",
            "",
        ]
        lines += ["| pair | covariance | SE | correlation | SE |", "|---|---|---|---|---|"]
        for pair, row in mine["sigma"].items():
            lines.append(
                f"| {pair} | {row['covariance']:.5f} | {row['se']:.5f} | "
                f"{row['correlation']:.5f} | {row['correlation_se']:.5f} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
