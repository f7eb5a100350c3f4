"""iclv_jax's nested logit against Biogeme 3.3.5.

Two cases:

(a) **Swissmetro, no LV**: Biogeme's own example ``b09nested`` (its Swissmetro data, SP
    rows with ``PURPOSE`` 1 or 3 and ``CHOICE != 0``: 6,768 observations; train,
    Swissmetro, car; the nest "existing" = train + car with ``mu >= 1``, Swissmetro
    alone; ``asc_train``, ``asc_car``, ``b_time``, ``b_cost`` on times and costs / 100,
    costs 0 for GA holders), estimated by each library with its default optimiser;
    LL, estimates, SEs, robust SEs and wall times side by side.  Each observation is its
    own "person" in iclv_jax (Biogeme's b09nested is cross-sectional), so the robust
    SEs are per observation in both.
(b) **Nested logit + one LV** with two ordered-logit indicators (simulated), the LV in
    two utilities: both libraries' LL and gradient at the start values and at the true
    parameters on the **same** draws (iclv_jax's, exported as in ``peer_biogeme.py``),
    LL+gradient timings, and both estimations from the same start.

Biogeme runs in its own venv (``benchmarks/.biogeme-venv``, see ``peer_biogeme.py``)
through ``_biogeme_nested_worker.py``.

    .venv/bin/python benchmarks/peer_nested.py            # both cases
    .venv/bin/python benchmarks/peer_nested.py --cases swissmetro

Saves ``benchmarks/results/peer_nested.json`` and ``peer_nested.md``; the Swissmetro
numbers there are what ``tests/test_nested_logit.py`` compares with (the data is not
copied into the repository: Biogeme's licence says nothing of redistributing it).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import RESULTS, save
from _peer_export import biogeme_python, export_arrays, flat_model, model_columns
from peer_biogeme import compare_points, iclv_timing

import iclv_jax as ij

HERE = Path(__file__).resolve().parent
WORKER = HERE / "_biogeme_nested_worker.py"
SWISSMETRO = Path(
    os.environ.get(
        "ICLV_JAX_SWISSMETRO",
        HERE / ".biogeme-venv/lib/python3.12/site-packages/biogeme/data/data/swissmetro.dat",
    )
)
# iclv_jax name -> Biogeme's name in b09nested
BIOGEME_NAMES = {"mu_existing": "nest_parameter"}


# --- (a) Swissmetro ------------------------------------------------------------------


def swissmetro_data(path: Path = SWISSMETRO) -> pd.DataFrame:
    """b09nested's rows: ``PURPOSE`` 1 or 3, ``CHOICE != 0``; ``obs`` numbers them."""
    df = pd.read_csv(path, sep="\t")
    keep = df["PURPOSE"].isin([1, 3]) & (df["CHOICE"] != 0)
    return df[keep].reset_index(drop=True).assign(obs=lambda d: np.arange(len(d)))


def swissmetro_model() -> ij.ICLVModel:
    """b09nested as an iclv_jax model (its derived variables as ``variables``)."""
    time_cost = "b_time * {0}_TT / 100 + b_cost * {1} / 100"
    return ij.ICLVModel(
        [],
        [],
        ij.NestedLogit(
            "CHOICE",
            [
                ij.Alternative(
                    "train",
                    1,
                    "asc_train + " + time_cost.format("TRAIN", "TRAIN_COST"),
                    available="TRAIN_AV_SP",
                ),
                ij.Alternative("sm", 2, time_cost.format("SM", "SM_COST"), available="SM_AV"),
                ij.Alternative(
                    "car",
                    3,
                    "asc_car + " + time_cost.format("CAR", "CAR_CO"),
                    available="CAR_AV_SP",
                ),
            ],
            nests={"existing": ["train", "car"]},
        ),
        person_id="obs",
        variables={
            "SM_COST": "SM_CO * (GA == 0)",
            "TRAIN_COST": "TRAIN_CO * (GA == 0)",
            "CAR_AV_SP": "CAR_AV * (SP != 0)",
            "TRAIN_AV_SP": "TRAIN_AV * (SP != 0)",
        },
    )


def run_worker(python: Path, job: dict, folder: Path) -> dict:
    job_path, out_path = folder / "job.json", folder / "out.json"
    job_path.write_text(json.dumps(job))
    subprocess.run([str(python), str(WORKER), str(job_path), str(out_path)], check=True)
    return json.loads(out_path.read_text())


def estimate_iclv(case: dict, draws) -> dict:
    """iclv_jax's ``estimate()`` of ``case`` (model, data, start): wall seconds, LL,
    iterations, estimates and both kinds of SEs."""
    began = time.perf_counter()
    results = ij.estimate(
        case["model"], case["data"], draws=draws, start=case["start"], verbose=False
    )
    return {
        "seconds": time.perf_counter() - began,
        "loglike": results.loglike,
        "iterations": results.iterations,
        "converged": results.converged,
        "relative_gradient": results.relative_gradient,
        "estimates": {n: results.estimates[n] for n in results.table.index},
        "std_errors": results.table["se"].to_dict(),
        "robust_std_errors": results.table["robust_se"].to_dict(),
        "optimizer": results.optimizer,
        "message": results.message,
    }


def run_swissmetro(python: Path, folder: Path) -> dict:
    print("[swissmetro] Biogeme b09nested", file=sys.stderr)
    theirs = run_worker(python, {"case": "swissmetro", "data": str(SWISSMETRO)}, folder)
    print("[swissmetro] iclv_jax", file=sys.stderr)
    data = swissmetro_data()
    case = {"model": swissmetro_model(), "data": data, "start": None}
    mine = estimate_iclv(case, 1)
    by_their_name = {name: BIOGEME_NAMES.get(name, name) for name in mine["estimates"]}
    estimates = {
        name: {
            "iclv_jax": mine["estimates"][name],
            "biogeme": theirs["estimates"][their],
            "relative_difference": abs(mine["estimates"][name] / theirs["estimates"][their] - 1),
            "se_iclv_jax": mine["std_errors"][name],
            "se_biogeme": theirs["std_errors"][their],
            "robust_se_iclv_jax": mine["robust_std_errors"][name],
            "robust_se_biogeme": theirs["robust_std_errors"][their],
        }
        for name, their in by_their_name.items()
    }
    return {
        "label": "Biogeme's b09nested: Swissmetro SP, train/SM/car, nest existing = "
        f"train + car, {len(data)} observations, 5 parameters",
        "observations": len(data),
        "biogeme_versions": theirs["versions"],
        "loglike": {"iclv_jax": mine["loglike"], "biogeme": theirs["loglike"]},
        "seconds": {"iclv_jax": mine["seconds"], "biogeme": theirs["seconds"]},
        "iterations": {"iclv_jax": mine["iterations"], "biogeme": theirs["iterations"]},
        "converged": {"iclv_jax": mine["converged"], "biogeme": theirs["algorithm_converged"]},
        "estimates": estimates,
    }


# --- (b) nested logit + one LV -------------------------------------------------------


def nl_probabilities(v, available, nest_of, mu):
    """Nested-logit probabilities by the textbook formula (no log space):
    ``S_m = sum_{i in m, available} exp(mu_m V_i)``,
    ``P_j = exp(mu_m V_j) / S_m * S_m^(1/mu_m) / sum_m' S_m'^(1/mu_m')``."""
    v, available = np.asarray(v, float), np.asarray(available, bool)
    mu, nest_of = np.asarray(mu, float), np.asarray(nest_of)
    terms = np.where(available, np.exp(mu[nest_of] * v), 0.0)
    sums = np.stack([terms[:, nest_of == m].sum(axis=1) for m in range(len(mu))], axis=1)
    upper = np.where(sums > 0, sums ** (1.0 / mu), 0.0)
    own = sums[:, nest_of]
    return np.where(available, terms / np.where(own > 0, own, 1.0), 0.0) * (
        upper[:, nest_of] / upper.sum(axis=1, keepdims=True)
    )


LV_TRUTH = {
    "b_x_to_att": 0.6,
    "lambda_i1": 1.5,
    "tau_i1_1": -2.0,
    "tau_i1_2": -0.5,
    "tau_i1_3": 1.0,
    "tau_i1_4": 2.5,
    "lambda_i2": 1.0,
    "tau_i2_1": -1.5,
    "tau_i2_2": 0.0,
    "tau_i2_3": 1.5,
    "asc_bus": 0.3,
    "asc_car": 0.8,
    "beta_time": -1.2,
    "beta_cost": -0.8,
    "theta_att_bus": 0.7,
    "theta_att_car": -0.5,
    "mu_public": 1.8,
}


def lv_model() -> ij.ICLVModel:
    """Rail, bus, car; nest "public" = rail + bus; the LV ``att`` (covariate ``x``, two
    ordered-logit items) in the bus and car utilities."""
    return ij.ICLVModel(
        [ij.LatentVariable("att", covariates=["x"])],
        [
            ij.Indicator("i1", "att", kind="ordered_logit", levels=5),
            ij.Indicator("i2", "att", kind="ordered_logit", levels=4),
        ],
        ij.NestedLogit(
            "mode",
            [
                ij.Alternative("rail", 1, ij.Utility({"time": "t_rail", "cost": "c_rail"})),
                ij.Alternative(
                    "bus",
                    2,
                    ij.Utility({"time": "t_bus", "cost": "c_bus"}, lvs=["att"]),
                    asc=True,
                    available="av_bus",
                ),
                ij.Alternative(
                    "car", 3, ij.Utility({"time": "t_car", "cost": "c_car"}, lvs=["att"]), asc=True
                ),
            ],
            nests={"public": ["rail", "bus"]},
        ),
        person_id="id",
    )


def _ordered_logit(rng, index, cuts):
    """Levels ``1..J`` of ``y* = index + logistic`` cut at ``cuts``."""
    latent = index + rng.logistic(size=index.shape)
    return 1 + (latent[:, None] > np.asarray(cuts)[None, :]).sum(axis=1)


def simulate_lv(n_people: int = 300, n_tasks: int = 5, seed: int = 0) -> pd.DataFrame:
    """Data from :func:`lv_model` at :data:`LV_TRUTH` (bus unavailable in 20% of tasks)."""
    rng = np.random.default_rng(seed)
    p = LV_TRUTH
    x = rng.normal(size=n_people)
    att = p["b_x_to_att"] * x + rng.normal(size=n_people)
    i1 = _ordered_logit(rng, p["lambda_i1"] * att, [p[f"tau_i1_{j}"] for j in range(1, 5)])
    i2 = _ordered_logit(rng, p["lambda_i2"] * att, [p[f"tau_i2_{j}"] for j in range(1, 4)])
    n = n_people * n_tasks
    person = np.repeat(np.arange(n_people), n_tasks)
    times = rng.uniform(0.2, 1.5, size=(n, 3))
    costs = rng.uniform(0.2, 2.0, size=(n, 3))
    available = np.ones((n, 3), bool)
    available[:, 1] = rng.uniform(size=n) > 0.2
    v = p["beta_time"] * times + p["beta_cost"] * costs
    v[:, 1] += p["asc_bus"] + p["theta_att_bus"] * att[person]
    v[:, 2] += p["asc_car"] + p["theta_att_car"] * att[person]
    prob = nl_probabilities(v, available, np.array([0, 0, 1]), [p["mu_public"], 1.0])
    chosen = (prob.cumsum(axis=1) < rng.uniform(size=(n, 1))).sum(axis=1)
    frame = {"id": person, "x": x[person], "i1": i1[person], "i2": i2[person], "mode": chosen + 1}
    for j, alt in enumerate(("rail", "bus", "car")):
        frame[f"t_{alt}"], frame[f"c_{alt}"] = times[:, j], costs[:, j]
    frame["av_bus"] = available[:, 1].astype(int)
    return pd.DataFrame(frame)


def nested_flat(model: ij.ICLVModel, free_names) -> dict:
    """``peer_biogeme.flat_model`` of the MNL on the same alternatives, its choice made
    a nested logit (``nests``: parameter and alternative codes)."""
    choice = model.choice
    flat = flat_model(dataclasses.replace(model, choice=choice.logit()), free_names)
    codes = dict(zip(choice.outcome_labels(), choice.outcome_codes(), strict=True))
    flat["choice"]["kind"] = "nested_logit"
    flat["choice"]["nests"] = [
        {"parameter": choice.nest_parameters()[nest], "codes": [codes[a] for a in members]}
        for nest, members in choice.nests.items()
    ]
    return flat


def run_lv(python: Path, folder: Path, draws: int, repeats: int) -> dict:
    model, data = lv_model(), simulate_lv()
    problem = ij.Problem(model, data, draws=ij.Halton(draws, seed=0))
    free = problem.space.free_names
    start = problem.reported(problem.free_internal(None))
    points = {"start": {n: start[n] for n in free}, "truth": {n: LV_TRUTH[n] for n in free}}
    flat = nested_flat(model, free)
    arrays = folder / "nested-lv.npz"
    normals = problem.draws.normals(problem.panel.n_people, len(model.lv_names))
    export_arrays(arrays, data, model_columns(flat), normals)
    job = {
        "case": "iclv",
        "arrays": str(arrays),
        "flat": flat,
        "start": points["start"],
        "points": points,
        "timing_point": "truth",
        "repeats": repeats,
        "hessian_repeats": 0,
        "estimate": True,
    }
    print(f"[nested_lv] Biogeme, R={draws}", file=sys.stderr)
    theirs = run_worker(python, job, folder)
    print("[nested_lv] iclv_jax", file=sys.stderr)
    began = time.perf_counter()
    problem.likelihood.loglike_and_grad(problem.free_internal(points["truth"]))
    first_call = time.perf_counter() - began
    mine = estimate_iclv({"model": model, "data": data, "start": None}, ij.Halton(draws, seed=0))
    est = theirs["estimation"]
    return {
        "label": f"nested logit (rail, bus | car) + 1 LV, 2 ordered-logit items, "
        f"N={problem.panel.n_people} x 5, {len(free)} parameters, R={draws} Halton draws",
        "biogeme_versions": theirs["versions"],
        "agreement": compare_points(problem, points, theirs["points"]),
        "timing": {
            "iclv_jax": {
                **iclv_timing(problem, points["truth"], repeats, 0),
                "first_call_s": first_call,
            },
            "biogeme": {k: theirs[k] for k in ("loglike_and_grad", "first_call_s")},
        },
        "iclv_jax_estimation": mine,
        "biogeme_estimation": {
            k: est[k]
            for k in (
                "seconds",
                "loglike",
                "iterations",
                "estimates",
                "std_errors",
                "algorithm_converged",
                "relative_gradient",
            )
        },
        "truth": {n: LV_TRUTH[n] for n in free},
    }


# --- report ---------------------------------------------------------------------------


def markdown(report: dict) -> str:
    lines = ["# iclv_jax's nested logit against Biogeme", ""]
    sm = report["cases"].get("swissmetro")
    if sm:
        ll = sm["loglike"]
        lines += [
            "## Swissmetro (Biogeme's b09nested)",
            "",
            sm["label"],
            "",
            "| | iclv_jax | Biogeme |",
            "|---|---:|---:|",
            f"| LL | {ll['iclv_jax']:.6f} | {ll['biogeme']:.6f} |",
            f"| wall s (incl. compile, SEs) | {sm['seconds']['iclv_jax']:.1f} | "
            f"{sm['seconds']['biogeme']:.1f} |",
            f"| iterations | {sm['iterations']['iclv_jax']} | {sm['iterations']['biogeme']} |",
            f"| converged | {sm['converged']['iclv_jax']} | {sm['converged']['biogeme']} |",
            "",
            "| parameter | iclv_jax | Biogeme | rel. diff | SE iclv_jax | SE Biogeme "
            "| robust SE iclv_jax | robust SE Biogeme |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name, e in sm["estimates"].items():
            lines.append(
                f"| {name} | {e['iclv_jax']:.6f} | {e['biogeme']:.6f} | "
                f"{e['relative_difference']:.1e} | {e['se_iclv_jax']:.5f} | "
                f"{e['se_biogeme']:.5f} | {e['robust_se_iclv_jax']:.5f} | "
                f"{e['robust_se_biogeme']:.5f} |"
            )
        lines.append("")
    lv = report["cases"].get("nested_lv")
    if lv:
        lines += [
            "## Nested logit + LV, same draws",
            "",
            lv["label"],
            "",
            "| | iclv_jax | Biogeme | |",
            "|---|---:|---:|---|",
        ]
        for label, agree in lv["agreement"].items():
            lines.append(
                f"| LL at {label} | {agree['iclv_jax']:.10f} | {agree['biogeme']:.10f} | "
                f"diff {agree['abs_difference']:.1e}; gradient diff "
                f"{agree['gradient_max_abs_difference']:.1e} of max "
                f"{agree['gradient_max_abs']:.1e} |"
            )
        t = lv["timing"]
        mine, theirs = (
            t["iclv_jax"]["loglike_and_grad"]["median_s"],
            t["biogeme"]["loglike_and_grad"]["median_s"],
        )
        a, b = lv["iclv_jax_estimation"], lv["biogeme_estimation"]
        lines += [
            f"| LL+gradient, ms (median) | {1e3 * mine:.1f} | {1e3 * theirs:.1f} "
            f"| {theirs / mine:.1f}x |",
            f"| first LL+gradient call incl. compile, s | {t['iclv_jax']['first_call_s']:.1f} "
            f"| {t['biogeme']['first_call_s']:.1f} | |",
            f"| estimation wall s | {a['seconds']:.1f} | {b['seconds']:.1f} "
            f"| {b['seconds'] / a['seconds']:.1f}x |",
            f"| final LL | {a['loglike']:.6f} | {b['loglike']:.6f} | |",
            "",
            "| parameter | truth | iclv_jax | Biogeme | SE iclv_jax | SE Biogeme |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, value in a["estimates"].items():
            lines.append(
                f"| {name} | {lv['truth'][name]:.3f} | {value:.5f} | {b['estimates'][name]:.5f} | "
                f"{a['std_errors'][name]:.5f} | {b['std_errors'][name]:.5f} |"
            )
        lines.append("")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="+", default=["swissmetro", "nested_lv"])
    parser.add_argument("--draws", type=int, default=50, help="draws of the LV case")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    python = biogeme_python()
    stored = RESULTS / "peer_nested.json"
    previous = json.loads(stored.read_text())["cases"] if stored.exists() else {}
    report: dict = {"settings": vars(args), "cases": previous}  # cases not rerun are kept
    with tempfile.TemporaryDirectory() as folder:
        for name in args.cases:
            if name == "swissmetro":
                report["cases"][name] = run_swissmetro(python, Path(folder))
            else:
                report["cases"][name] = run_lv(python, Path(folder), args.draws, args.repeats)
            path = save("peer_nested", report)
            text = markdown(json.loads(path.read_text()))
            (RESULTS / "peer_nested.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
