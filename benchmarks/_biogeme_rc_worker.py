"""The Biogeme side of ``peer_random_coefficients.py``; runs in Biogeme's venv.

    benchmarks/.biogeme-venv/bin/python benchmarks/_biogeme_rc_worker.py JOB.json OUT.json

A panel mixed logit with correlated random coefficients written out as Biogeme users
write it: ``c_k = mu_k + sum_j chol_kj z_j`` (``exp`` of it for a log-normal one, minus
that for a negative log-normal one), the Cholesky elements free parameters, and the
draws ``z_j`` the user-defined generators of ``_biogeme_worker.py`` returning the
normals exported by iclv_jax, so both libraries compute the same simulated likelihood

    LL_n = log( (1/R) sum_r prod_t P(y_nt | c_nr) ).

Writes ``OUT.json``: LL and gradient at each point, the median time of LL+gradient and,
when asked, Biogeme's estimation (as ``_biogeme_worker.estimate`` reports it).
"""

from __future__ import annotations

import json
import sys
import time
from importlib.metadata import version

import biogeme.biogeme as bio
import numpy as np
import pandas as pd
from _biogeme_worker import (
    SETTINGS,
    draw_type,
    generators,
    standard_errors,
)
from _common import median_time
from biogeme.database import Database
from biogeme.expressions import (
    Beta,
    Draws,
    MonteCarlo,
    PanelLikelihoodTrajectory,
    Variable,
    exp,
    log,
)
from biogeme.models import loglogit
from biogeme.results_processing import EstimateVarianceCovariance


def relative_gradient(gradient: np.ndarray, values: np.ndarray, loglike: float) -> float:
    """``max_i |g_i| max(|x_i|, 1) / |LL|`` (the test iclv_jax uses)."""
    return float(np.max(np.abs(gradient) * np.maximum(np.abs(values), 1.0)) / abs(loglike))


def loglike(job: dict, start: dict[str, float]):
    """``log MonteCarlo(prod_t P(y_t | c))`` of the job's mixed logit."""
    betas = {name: Beta(name, float(start[name]), None, None, 0) for name in job["free"]}
    draws = [Draws(f"z_{j}", draw_type(j)) for j in range(job["n_draws"])]
    coefficients = {}
    for rc in job["coefficients"]:
        linear = betas[rc["mean"]]
        for j, name in rc["row"]:
            linear = linear + betas[name] * draws[j]
        coefficients[rc["name"]] = {
            "normal": linear,
            "lognormal": exp(linear),
            "negative_lognormal": -exp(linear),
        }[rc["distribution"]]
    utilities, available = {}, {}
    for alt in job["alternatives"]:
        value = 0.0
        for name, column in alt["terms"].items():
            value = value + (betas[name] if column is None else betas[name] * Variable(column))
        for name, column in alt["random"].items():
            value = value + coefficients[name] * Variable(column)
        utilities[alt["code"]] = value
        available[alt["code"]] = Variable(alt["available"])
    probability = exp(loglogit(utilities, available, Variable(job["choice"])))
    return log(MonteCarlo(PanelLikelihoodTrajectory(probability)))


def biogeme_object(job: dict, arrays, start: dict[str, float], name: str) -> bio.BIOGEME:
    frame = pd.DataFrame(arrays["data"], columns=[str(c) for c in arrays["columns"]])
    database = Database(f"rc_{name}", frame)
    database.panel(job["person_id"])
    normals = arrays["normals"]
    the_biogeme = bio.BIOGEME(
        database,
        loglike(job, start),
        random_number_generators=generators(normals),
        number_of_draws=int(normals.shape[1]),
        **SETTINGS,
    )
    the_biogeme.model_name = f"rc_{name}"
    return the_biogeme


def evaluate(job: dict, arrays) -> dict:
    the_biogeme = biogeme_object(job, arrays, job["start"], "evaluate")
    the_biogeme.use_flatten_database = True
    evaluator = the_biogeme.function_evaluator
    names = evaluator.free_betas_names
    out: dict = {"points": {}}
    for label, point in job["points"].items():
        began = time.perf_counter()
        result = evaluator.evaluate(point, gradient=True, hessian=False, bhhh=False)
        out.setdefault("first_call_s", time.perf_counter() - began)
        out["points"][label] = {
            "loglike": result.function,
            "gradient": dict(zip(names, result.gradient.tolist(), strict=True)),
        }
    point = job["points"]["start"]
    out["loglike_and_grad"] = median_time(
        lambda: evaluator.evaluate(point, gradient=True, hessian=False, bhhh=False), job["repeats"]
    )
    return out


def estimate(job: dict, arrays) -> dict:
    the_biogeme = biogeme_object(job, arrays, job["start"], "estimate")
    began = time.perf_counter()
    results = the_biogeme.estimate()
    seconds = time.perf_counter() - began
    estimates = results.get_beta_values()
    check = biogeme_object(job, arrays, estimates, "check")
    check.use_flatten_database = True
    final = check.function_evaluator.evaluate(estimates, gradient=True, hessian=True, bhhh=False)
    names = check.function_evaluator.free_betas_names
    values = np.array([estimates[n] for n in names])
    return {
        "seconds": seconds,
        "loglike": float(results.final_loglikelihood),
        "estimates": estimates,
        "std_errors": standard_errors(results, EstimateVarianceCovariance.RAO_CRAMER),
        "relative_gradient": relative_gradient(final.gradient, values, final.function),
        "hessian_negative_definite": bool(np.all(np.linalg.eigvalsh(final.hessian) < 0)),
    }


def main(job_path: str, out_path: str) -> None:
    job = json.loads(open(job_path).read())
    with np.load(job["arrays"], allow_pickle=False) as stored:
        arrays = {key: stored[key] for key in stored.files}
    out = {"versions": {"biogeme": version("biogeme"), "python": sys.version.split()[0]}}
    out.update(evaluate(job, arrays))
    if job["estimate"]:
        out["estimation"] = estimate(job, arrays)
    with open(out_path, "w") as handle:
        json.dump(out, handle, indent=2)


if __name__ == "__main__":
    main(*sys.argv[1:3])
