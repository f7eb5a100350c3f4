"""The Biogeme side of ``peer_nested.py``; runs in Biogeme's own Python 3.12 venv.

    benchmarks/.biogeme-venv/bin/python benchmarks/_biogeme_nested_worker.py JOB.json OUT.json

Two jobs (``job["case"]``):

- ``"swissmetro"``: Biogeme's own example ``b09nested`` on its Swissmetro data, as the
  example and its ``swissmetro_data`` script define it (SP rows, ``PURPOSE`` 1 or 3,
  ``CHOICE != 0``; train, Swissmetro, car; the nest "existing" of train and car with
  ``nest_parameter`` in ``[1, 3]``, starting at 1), estimated with Biogeme's default
  optimiser; its LL, estimates, standard errors, robust standard errors and wall time.
- ``"iclv"``: the job of ``_biogeme_worker.py`` (the flat model, data and exported
  draws), its choice a nested logit (``lognested``); everything else is that worker's
  (its ``Builder`` with :meth:`NestedBuilder.choice` in place of its own).
"""

from __future__ import annotations

import json
import os
import sys
import time
from importlib.metadata import version

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _biogeme_worker as worker  # noqa: E402  (moves to a scratch working directory)
import biogeme.biogeme as bio  # noqa: E402
import pandas as pd  # noqa: E402
from biogeme.database import Database  # noqa: E402
from biogeme.expressions import Beta, Variable, exp  # noqa: E402
from biogeme.models import lognested  # noqa: E402
from biogeme.nests import NestsForNestedLogit, OneNestForNestedLogit  # noqa: E402
from biogeme.results_processing import EstimateVarianceCovariance  # noqa: E402


class NestedBuilder(worker.Builder):
    """The worker's model with a nested-logit choice: ``flat["choice"]`` as for an MNL
    plus ``nests``: ``[{"parameter": mu name, "codes": [alternative codes]}]``."""

    def choice(self):
        choice = self.flat["choice"]
        if choice["kind"] != "nested_logit":
            return super().choice()
        utilities, available = {}, {}
        for alt in choice["alternatives"]:
            utilities[alt["code"]] = self.linear(alt["terms"]) + self.lv_terms(alt["lvs"])
            available[alt["code"]] = 1.0 if alt["available"] is None else Variable(alt["available"])
        nests = NestsForNestedLogit(
            choice_set=list(utilities),
            tuple_of_nests=tuple(
                OneNestForNestedLogit(
                    nest_param=self.betas[nest["parameter"]],
                    list_of_alternatives=nest["codes"],
                    name=nest["parameter"],
                )
                for nest in choice["nests"]
            ),
        )
        return exp(lognested(utilities, available, nests, Variable(choice["column"])))


def swissmetro(path: str) -> dict:
    """``b09nested``: Biogeme's nested-logit example on its Swissmetro data."""
    df = pd.read_csv(path, sep="\t")
    database = Database("swissmetro", df)
    v = {name: Variable(name) for name in df.columns}
    exclude = ((v["PURPOSE"] != 1) * (v["PURPOSE"] != 3) + (v["CHOICE"] == 0)) > 0
    database.remove(exclude)
    define = database.define_variable
    sm_cost = define("SM_COST", v["SM_CO"] * (v["GA"] == 0))
    train_cost = define("TRAIN_COST", v["TRAIN_CO"] * (v["GA"] == 0))
    car_av_sp = define("CAR_AV_SP", v["CAR_AV"] * (v["SP"] != 0))
    train_av_sp = define("TRAIN_AV_SP", v["TRAIN_AV"] * (v["SP"] != 0))
    train_tt_scaled = define("TRAIN_TT_SCALED", v["TRAIN_TT"] / 100)
    train_cost_scaled = define("TRAIN_COST_SCALED", train_cost / 100)
    sm_tt_scaled = define("SM_TT_SCALED", v["SM_TT"] / 100)
    sm_cost_scaled = define("SM_COST_SCALED", sm_cost / 100)
    car_tt_scaled = define("CAR_TT_SCALED", v["CAR_TT"] / 100)
    car_co_scaled = define("CAR_CO_SCALED", v["CAR_CO"] / 100)

    asc_car = Beta("asc_car", 0, None, None, 0)
    asc_train = Beta("asc_train", 0, None, None, 0)
    asc_sm = Beta("asc_sm", 0, None, None, 1)
    b_time = Beta("b_time", 0, None, None, 0)
    b_cost = Beta("b_cost", 0, None, None, 0)
    nest_parameter = Beta("nest_parameter", 1, 1, 3, 0)
    utilities = {
        1: asc_train + b_time * train_tt_scaled + b_cost * train_cost_scaled,
        2: asc_sm + b_time * sm_tt_scaled + b_cost * sm_cost_scaled,
        3: asc_car + b_time * car_tt_scaled + b_cost * car_co_scaled,
    }
    availability = {1: train_av_sp, 2: v["SM_AV"], 3: car_av_sp}
    existing = OneNestForNestedLogit(
        nest_param=nest_parameter, list_of_alternatives=[1, 3], name="existing"
    )
    nests = NestsForNestedLogit(choice_set=[1, 2, 3], tuple_of_nests=(existing,))
    logprob = lognested(utilities, availability, nests, v["CHOICE"])
    the_biogeme = bio.BIOGEME(database, logprob, **worker.SETTINGS)
    the_biogeme.model_name = "b09nested"
    began = time.perf_counter()
    results = the_biogeme.estimate()
    seconds = time.perf_counter() - began
    messages = results.raw_estimation_results.optimization_messages
    return {
        "observations": int(database.num_rows()),
        "seconds": seconds,
        "loglike": float(results.final_loglikelihood),
        "estimates": results.get_beta_values(),
        "std_errors": worker.standard_errors(results, EstimateVarianceCovariance.RAO_CRAMER),
        "robust_std_errors": worker.standard_errors(results, EstimateVarianceCovariance.ROBUST),
        "iterations": int(messages.get("Number of iterations", -1)),
        "algorithm_converged": bool(results.algorithm_has_converged),
    }


def main(job_path: str, out_path: str) -> None:
    job = json.loads(open(job_path).read())
    if job["case"] == "swissmetro":
        out = {"versions": {"biogeme": version("biogeme")}, **swissmetro(job["data"])}
        with open(out_path, "w") as handle:
            json.dump(out, handle, indent=2)
        return
    worker.Builder = NestedBuilder
    worker.main(job_path, out_path)


if __name__ == "__main__":
    main(*sys.argv[1:3])
