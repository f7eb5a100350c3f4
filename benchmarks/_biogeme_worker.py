"""The Biogeme side of ``peer_biogeme.py``; runs in Biogeme's own Python 3.12 venv.

    benchmarks/.biogeme-venv/bin/python benchmarks/_biogeme_worker.py JOB.json OUT.json

``JOB.json`` (written by :func:`peer_biogeme.run_case`) names an ``.npz`` holding the
data matrix, its column names and the normal draws ``xi[n, r, l]`` (people in sorted id
order, LVs in the model's order), and gives the flat model (every parameter already
named by iclv_jax), the parameter vectors to evaluate at, the start values, what to
time and (``settings``) Biogeme parameters to override.  The model is written in
Biogeme's own expressions, panel form (``flat["panel"]``; without it one row per person,
the same without the product over rows):

    LL_n = log( (1/R) sum_r  prod_t P(y_nt | eta_nr) * prod_k P(I_nk | eta_nr) ),
    eta_l = sum_c b_{c_to_l} x_c + sum_m gamma_{m_to_l} eta_m + xi_l,

with ``PanelLikelihoodTrajectory`` for the product over a person's rows, ``MonteCarlo``
for the mean over draws, ``OrderedLogit``/``OrderedProbit`` with the thresholds as free
parameters (``enforce_order=False``: no softplus re-mapping, so the values are the
thresholds themselves) and user-defined draw generators that return the given draws.

Writes ``OUT.json``: ``evaluate`` mode (``job["cold_fit"]`` false): Biogeme's LL and
gradient at each point, the median wall time of LL alone, of LL+gradient and of the
Hessian (after a first, compiling call); ``cold_fit`` mode: only ``estimate()`` with
Biogeme's defaults (estimates, both kinds of standard errors, iterations, final LL) and
the moment it finished, so that the caller times the whole process, imports included.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from importlib.metadata import version

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for _common
LOG_TO = tempfile.mkdtemp(prefix="biogeme-peer-")
os.chdir(LOG_TO)  # Biogeme writes its report/iteration files to the working directory

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import biogeme.biogeme as bio  # noqa: E402
from _common import median_time  # noqa: E402
from biogeme.database import Database  # noqa: E402
from biogeme.draws import RandomNumberGeneratorTuple  # noqa: E402
from biogeme.expressions import (  # noqa: E402
    Beta,
    Draws,
    MonteCarlo,
    NormalCdf,
    OrderedLogit,
    OrderedProbit,
    PanelLikelihoodTrajectory,
    Variable,
    exp,
    log,
)
from biogeme.models import loglogit  # noqa: E402
from biogeme.results_processing import EstimateVarianceCovariance  # noqa: E402

ORDERED = {"ordered_logit": OrderedLogit, "ordered_probit": OrderedProbit}

# Switch off every file and every source of hidden state (saved iterations, random seeds)
SETTINGS = {
    "save_iterations": False,
    "generate_html": False,
    "generate_yaml": False,
    "generate_netcdf": False,
    "seed": 1,
}


def draw_type(index: int) -> str:
    return f"ICLV_PEER_{index}"


def generators(normals: np.ndarray) -> dict[str, RandomNumberGeneratorTuple]:
    """One user-defined draw type per LV dimension ``l``, returning ``normals[:, :, l]``."""

    def make(index: int):
        def generate(sample_size: int, number_of_draws: int) -> np.ndarray:
            block = normals[:, :, index]
            if block.shape != (sample_size, number_of_draws):
                raise ValueError(
                    f"Biogeme asked for {(sample_size, number_of_draws)} draws, "
                    f"the exported draws are {block.shape}"
                )
            return np.ascontiguousarray(block)

        return generate

    return {
        draw_type(i): RandomNumberGeneratorTuple(make(i), "draws exported by iclv_jax")
        for i in range(normals.shape[2])
    }


class Builder:
    """Biogeme expressions for the flat model of ``peer_biogeme.flat_model``."""

    def __init__(self, flat: dict, start: dict[str, float]):
        self.flat = flat
        self.betas = {name: Beta(name, float(start[name]), None, None, 0) for name in flat["free"]}
        self.betas.update(
            {name: Beta(name, float(value), None, None, 1) for name, value in flat["fixed"].items()}
        )
        self.lv_order = [lv["name"] for lv in flat["lvs"]]
        self._lvs: dict = {}

    def linear(self, terms: dict[str, str | None]):
        """``sum_p beta_p x_p`` (``x_p = 1`` where the column is ``None``)."""
        total = 0.0
        for name, column in terms.items():
            total = total + (
                self.betas[name] if column is None else self.betas[name] * Variable(column)
            )
        return total

    def lv(self, name: str):
        """``eta_l = sum_c b_c x_c + sum_m gamma_m eta_m + xi_l`` (built once per LV)."""
        if name not in self._lvs:
            spec = next(lv for lv in self.flat["lvs"] if lv["name"] == name)
            value = self.linear(spec["covariates"]) + Draws(
                f"xi_{name}", draw_type(self.lv_order.index(name))
            )
            for parameter, upstream in spec["predictors"].items():
                value = value + self.betas[parameter] * self.lv(upstream)
            self._lvs[name] = value
        return self._lvs[name]

    def lv_terms(self, terms: dict[str, str]):
        total = 0.0
        for parameter, lv in terms.items():
            total = total + self.betas[parameter] * self.lv(lv)
        return total

    def ordered(self, kind: str, index, thresholds: list[str], column: str):
        return ORDERED[kind](
            eta=index,
            cutpoints=[self.betas[t] for t in thresholds],
            y=Variable(column),
            categories=list(range(1, len(thresholds) + 2)),
            enforce_order=False,
        )

    def indicators(self):
        """``prod_k P(I_k | eta)`` over the person-level indicators."""
        product = 1.0
        for ind in self.flat["indicators"]:
            index = self.betas[ind["loading"]] * self.lv(ind["lv"])
            product = product * self.ordered(ind["kind"], index, ind["thresholds"], ind["column"])
        return product

    def choice(self):
        """``P(y_t | eta)`` of one row."""
        choice = self.flat["choice"]
        kind = choice["kind"]
        if kind == "multinomial_logit":
            utilities, available = {}, {}
            for alt in choice["alternatives"]:
                utilities[alt["code"]] = self.linear(alt["terms"]) + self.lv_terms(alt["lvs"])
                available[alt["code"]] = (
                    1.0 if alt["available"] is None else Variable(alt["available"])
                )
            return exp(loglogit(utilities, available, Variable(choice["column"])))
        index = self.linear(choice["terms"]) + self.lv_terms(choice["lvs"])
        if kind == "binary_probit":
            return NormalCdf((2 * Variable(choice["column"]) - 1) * index)
        if kind == "ordered_probit":
            return self.ordered("ordered_probit", index, choice["thresholds"], choice["column"])
        raise ValueError(f"choice kind {kind!r} is not translated to Biogeme")

    def loglike(self):
        """Panel: the product of a person's rows inside the mean over draws; else one
        row per person."""
        if self.flat["panel"]:
            return log(MonteCarlo(PanelLikelihoodTrajectory(self.choice()) * self.indicators()))
        return log(MonteCarlo(self.choice() * self.indicators()))


def biogeme_object(job: dict, arrays, start: dict[str, float], name: str) -> bio.BIOGEME:
    frame = pd.DataFrame(arrays["data"], columns=[str(c) for c in arrays["columns"]])
    database = Database(f"peer_{name}", frame)
    if job["flat"]["panel"]:
        database.panel(job["flat"]["person_id"])
    normals = arrays["normals"]
    the_biogeme = bio.BIOGEME(
        database,
        Builder(job["flat"], start).loglike(),
        random_number_generators=generators(normals),
        number_of_draws=int(normals.shape[1]),
        **SETTINGS,
        **job.get("settings", {}),
    )
    the_biogeme.model_name = f"peer_{name}"
    return the_biogeme


def evaluate(job: dict, arrays) -> dict:
    flat = job["flat"]
    the_biogeme = biogeme_object(job, arrays, job["start"], "evaluate")
    the_biogeme.use_flatten_database = flat["panel"]  # what estimate() sets for panel data
    evaluator = the_biogeme.function_evaluator
    names = evaluator.free_betas_names
    if sorted(names) != sorted(flat["free"]):
        raise ValueError(
            f"Biogeme's free parameters {sorted(names)} differ from "
            f"iclv_jax's {sorted(flat['free'])}"
        )
    out = {"points": {}, "names": list(names)}
    for label, point in job["points"].items():
        began = time.perf_counter()
        result = evaluator.evaluate(point, gradient=True, hessian=False, bhhh=False)
        out.setdefault("first_call_s", time.perf_counter() - began)  # compiles
        out["points"][label] = {
            "loglike": result.function,
            "gradient": dict(zip(names, result.gradient.tolist(), strict=True)),
        }
    point = job["points"][job["timing_point"]]
    out["loglike"] = median_time(
        lambda: evaluator.evaluate(point, gradient=False, hessian=False, bhhh=False), job["repeats"]
    )
    out["loglike_and_grad"] = median_time(
        lambda: evaluator.evaluate(point, gradient=True, hessian=False, bhhh=False), job["repeats"]
    )
    if job["hessian_repeats"]:
        out["hessian"] = median_time(
            lambda: evaluator.evaluate(point, gradient=True, hessian=True, bhhh=False),
            job["hessian_repeats"],
        )
    return out


def standard_errors(results, kind) -> dict[str, float]:
    return {
        name: float(results.get_parameter_std_err(name, estimate_var_covar=kind))
        for name in results.get_beta_values()
    }


def estimate(job: dict, arrays) -> dict:
    """Biogeme's ``estimate()`` with its defaults (plus ``job["settings"]``), standard
    errors included; ``fit_done_unix`` is ``time.time()`` when they are ready."""
    the_biogeme = biogeme_object(job, arrays, job["start"], "estimate")
    began = time.perf_counter()
    results = the_biogeme.estimate()
    estimates = results.get_beta_values()
    std_errors = standard_errors(results, EstimateVarianceCovariance.RAO_CRAMER)
    robust = standard_errors(results, EstimateVarianceCovariance.ROBUST)
    done = time.time()
    messages = results.raw_estimation_results.optimization_messages
    return {
        "fit_done_unix": done,
        "seconds_in_process": time.perf_counter() - began,
        "loglike": float(results.final_loglikelihood),
        "estimates": estimates,
        "std_errors": std_errors,
        "robust_std_errors": robust,
        "iterations": int(messages.get("Number of iterations", -1)),
        "function_evaluations": messages.get("Number of function evaluations"),
        "messages": {k: str(v) for k, v in messages.items()},
        "algorithm_converged": bool(results.algorithm_has_converged),
    }


def main(job_path: str, out_path: str) -> None:
    job = json.loads(open(job_path).read())
    with np.load(job["arrays"], allow_pickle=False) as stored:
        arrays = {key: stored[key] for key in stored.files}
    out = {
        "versions": {
            "biogeme": version("biogeme"),
            "jax": jax.__version__,
            "numpy": np.__version__,
            "python": sys.version.split()[0],
        },
        "devices": str(jax.devices()),
    }
    if job["cold_fit"]:
        out["estimation"] = estimate(job, arrays)
    else:
        out.update(evaluate(job, arrays))
    with open(out_path, "w") as handle:
        json.dump(out, handle, indent=2)


if __name__ == "__main__":
    main(*sys.argv[1:3])
