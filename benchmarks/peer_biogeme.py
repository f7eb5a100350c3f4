"""iclv_jax against Biogeme on the same ICLV, the same data and the same draws.

Two models: (a) the drug-choice ICLV (apollo data: 1,000 people x 10 tasks, MNL, four
ordered-logit indicators, one LV, 37 parameters) with ``ApolloHalton`` draws, and (b) the
beverage study (326 people x 10 situations, binary probit on raw prices, ten
ordered-probit indicators, a chain of three LVs, 59 parameters) with scrambled Halton
draws.  iclv_jax generates the normal draws; Biogeme receives the very same matrix
through user-defined draw generators, so both compute the same simulated likelihood and
their values must agree to rounding at any parameter vector.

Biogeme (3.3.x, Python >= 3.12, not a dependency of this project) runs in its own venv,
``benchmarks/.biogeme-venv``, created on first use with pyenv's 3.12 and ``pip install
biogeme``; ``_biogeme_worker.py`` runs there as a subprocess, reading the data and draws
written here (``.npz``) and a JSON job, and answering in JSON.

Reported per model: LL (and gradient) of both at the start values and at iclv_jax's
optimum; median wall time of LL+gradient and of the Hessian after a compiling first call;
each library's estimation with its default optimiser from the same start values
(iterations, wall time including compilation and standard errors, final LL, whether the
optimum is verified: relative gradient ``max_i |g_i| max(|x_i|, 1) / |LL| < 1e-6`` and a
negative definite Hessian), estimates side by side and ratios.  The machine may be shared:
times are medians.

    .venv/bin/python benchmarks/peer_biogeme.py           # R=100 estimation, R=500 timing
    .venv/bin/python benchmarks/peer_biogeme.py --quick   # R=10, timing only (smoke run)

Saves ``benchmarks/results/peer_biogeme.json`` and ``peer_biogeme.md`` (``--quick``:
``peer_biogeme-quick.*``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np
from _common import RESULTS, median_time, save

import iclv_jax as ij
from iclv_jax import datasets
from iclv_jax.spec import BinaryProbit, ICLVModel, MultinomialLogit, OrderedProbitChoice

HERE = Path(__file__).resolve().parent
VENV = HERE / ".biogeme-venv"
WORKER = HERE / "_biogeme_worker.py"
BIOGEME_REQUIREMENT = "biogeme>=3.3,<3.4"
VERIFIED = 1e-6  # relative-gradient test of a verified optimum


# --- the Biogeme venv ----------------------------------------------------------------


def python312() -> str:
    """A Python 3.12 interpreter: pyenv's 3.12.x, else ``python3.12`` on the PATH."""
    try:
        root = subprocess.run(
            ["pyenv", "root"], capture_output=True, text=True, check=True
        ).stdout.strip()
        found = sorted(Path(root, "versions").glob("3.12*/bin/python"))
        if found:
            return str(found[-1])
    except (OSError, subprocess.CalledProcessError):
        pass
    exe = shutil.which("python3.12")
    if exe is None:
        raise RuntimeError(
            "Biogeme 3.3 needs Python >= 3.12: install it (pyenv install 3.12) "
            "or put python3.12 on the PATH"
        )
    return exe


def biogeme_python() -> Path:
    """The venv's interpreter, creating the venv and installing Biogeme if needed."""
    python = VENV / "bin" / "python"
    ready = (
        python.exists()
        and subprocess.run(
            [str(python), "-c", "import biogeme.biogeme"], capture_output=True
        ).returncode
        == 0
    )
    if not ready:
        print(f"creating {VENV} with Biogeme (about 1.2 GB)", file=sys.stderr)
        subprocess.run([python312(), "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", BIOGEME_REQUIREMENT], check=True)
    return python


# --- export: the model, data and draws as Biogeme reads them -------------------------


def flat_model(model: ICLVModel, free_names) -> dict:
    """The model with every parameter named: LVs (``covariates``: parameter -> column,
    ``predictors``: parameter -> upstream LV), indicators (column, LV, kind, loading,
    thresholds) and the choice (terms: parameter -> column or ``None`` for 1; lvs:
    parameter -> LV), the free and the fixed parameters.  Raises ValueError for parts the
    worker does not translate, and where a derived name is not a parameter."""
    lvs = [
        {
            "name": lv.name,
            "covariates": {f"b_{c}_to_{lv.name}": c for c in lv.covariates},
            "predictors": {f"gamma_{m}_to_{lv.name}": m for m in lv.predictors},
        }
        for lv in model.latent_variables
    ]
    indicators = []
    for ind in model.indicators:
        if ind.kind not in ("ordered_logit", "ordered_probit"):
            raise ValueError(
                f"indicator {ind.name!r}: kind {ind.kind!r} is not translated "
                "to Biogeme (ordered_logit and ordered_probit are)"
            )
        indicators.append(
            {
                "column": ind.name,
                "lv": ind.lv,
                "kind": ind.kind,
                "loading": f"lambda_{ind.name}",
                "thresholds": [f"tau_{ind.name}_{j}" for j in range(1, ind.levels)],
            }
        )
    choice = model.choice
    utilities = choice.utilities()
    if isinstance(choice, MultinomialLogit):
        flat_choice = {
            "kind": "multinomial_logit",
            "column": choice.choice,
            "alternatives": [
                {
                    "code": alt.code,
                    "available": alt.available,
                    "terms": utilities[alt.name].linear_terms(choice.lv_suffix(alt.name)),
                    "lvs": _lv_terms(utilities[alt.name], choice.lv_suffix(alt.name)),
                }
                for alt in choice.alternatives
            ],
        }
    elif isinstance(choice, BinaryProbit | OrderedProbitChoice):
        utility = utilities[""]
        flat_choice = {
            "kind": ("binary_probit" if isinstance(choice, BinaryProbit) else "ordered_probit"),
            "column": choice.choice,
            "terms": utility.linear_terms(None),
            "lvs": _lv_terms(utility, None),
        }
        if isinstance(choice, OrderedProbitChoice):
            flat_choice["thresholds"] = [
                f"tau_{choice.choice}_{j}" for j in range(1, choice.levels)
            ]
    else:
        raise ValueError(f"choice model {type(choice).__name__} is not translated to Biogeme")
    flat = {
        "person_id": model.person_id,
        "lvs": lvs,
        "indicators": indicators,
        "choice": flat_choice,
        "free": list(free_names),
        "fixed": dict(model.fixed),
    }
    unknown = sorted(set(_parameters(flat)) - set(free_names) - set(model.fixed))
    if unknown:
        raise ValueError(f"derived parameter names {unknown} are not parameters of the model")
    return flat


def _lv_terms(utility, suffix) -> dict[str, str]:
    """``parameter -> LV`` of a utility (its ``lv_parameters`` inverted)."""
    return {parameter: lv for lv, parameter in utility.lv_parameters(suffix).items()}


def _parameters(flat: dict) -> list[str]:
    found = [p for lv in flat["lvs"] for p in (*lv["covariates"], *lv["predictors"])]
    for ind in flat["indicators"]:
        found += [ind["loading"], *ind["thresholds"]]
    choice = flat["choice"]
    for part in choice.get("alternatives", [choice]):
        found += [*part["terms"], *part["lvs"]]
    return found + choice.get("thresholds", [])


def model_columns(flat: dict) -> list[str]:
    """Every data column the flat model reads, person id first."""
    columns = [flat["person_id"]]
    for lv in flat["lvs"]:
        columns += lv["covariates"].values()
    columns += [ind["column"] for ind in flat["indicators"]]
    choice = flat["choice"]
    columns.append(choice["column"])
    for part in choice.get("alternatives", [choice]):
        columns += [c for c in part["terms"].values() if c is not None]
        if part.get("available"):
            columns.append(part["available"])
    return list(dict.fromkeys(columns))


def export_arrays(path: Path, data, columns: list[str], normals: np.ndarray) -> None:
    """Write ``data[columns]`` as float64 (rows sorted by person, stably) and the draws."""
    frame = data[columns].astype(float)
    frame = frame.sort_values(columns[0], kind="stable")
    np.savez(path, data=frame.to_numpy(), columns=np.array(columns), normals=normals)


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as stored:
        return {key: stored[key] for key in stored.files}


def run_worker(python: Path, job: dict, folder: Path) -> dict:
    job_path, out_path = folder / "job.json", folder / "out.json"
    job_path.write_text(json.dumps(job))
    subprocess.run([str(python), str(WORKER), str(job_path), str(out_path)], check=True)
    return json.loads(out_path.read_text())


# --- the iclv_jax side ---------------------------------------------------------------


def cases(quick: bool) -> dict:
    draws = 10 if quick else 100
    df, model, start = datasets.drug_choice()
    bev_df, bev_model, _ = datasets.beverage(n_people=326, seed=0)
    return {
        "drug_choice": {
            "model": model,
            "data": df,
            "start": start,
            "draws": lambda r: ij.ApolloHalton(r),
            "estimation_draws": draws,
            "label": "drug choice (apollo): MNL + 4 ordered-logit indicators, "
            "1 LV, N=1000 x 10, 37 parameters, ApolloHalton draws",
        },
        "beverage": {
            "model": bev_model,
            "data": bev_df,
            "start": None,
            "draws": lambda r: ij.Halton(r, seed=0),
            "estimation_draws": draws,
            "label": "beverage: binary probit (raw prices) + 10 ordered-probit "
            "indicators, 3 chained LVs, N=326 x 10, 59 parameters, "
            "scrambled Halton draws, iclv_jax default starts",
        },
    }


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
        "loglike_and_grad": median_time(
            lambda: jax.block_until_ready(likelihood.loglike_and_grad(u)), repeats
        )
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


def estimate_iclv(case: dict, draws) -> dict:
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


def run_case(
    name: str, case: dict, python: Path, folder: Path, quick: bool, timing_draws: int, repeats: int
) -> dict:
    model, data = case["model"], case["data"]
    r = case["estimation_draws"]
    problem, first_call = fresh_problem(model, data, case["draws"](r), case["start"])
    flat = flat_model(model, problem.space.free_names)
    columns = model_columns(flat)
    start = problem.reported(problem.free_internal(case["start"]))
    start = {n: start[n] for n in problem.space.free_names}
    out = {
        "label": case["label"],
        "parameters": problem.space.n_free,
        "people": problem.panel.n_people,
        "estimation_draws": r,
    }

    points = {"start": start}
    if not quick:
        print(f"[{name}] iclv_jax estimation, R={r}", file=sys.stderr)
        out["iclv_jax_estimation"] = mine = estimate_iclv(case, case["draws"](r))
        points["iclv_jax_optimum"] = {n: mine["estimates"][n] for n in start}
    timing_point = "iclv_jax_optimum" if "iclv_jax_optimum" in points else "start"

    print(f"[{name}] Biogeme, R={r}", file=sys.stderr)
    arrays = folder / f"{name}-R{r}.npz"
    export_arrays(
        arrays, data, columns, problem.draws.normals(problem.panel.n_people, len(model.lv_names))
    )
    job = {
        "arrays": str(arrays),
        "flat": flat,
        "start": start,
        "points": points,
        "timing_point": timing_point,
        "repeats": repeats,
        "hessian_repeats": 0 if quick else 3,
        "estimate": not quick,
    }
    theirs = run_worker(python, job, folder)
    out["biogeme_versions"] = theirs["versions"]
    out["agreement"] = compare_points(problem, points, theirs["points"])
    out["timing"] = {
        f"R={r}": {
            "iclv_jax": {
                **iclv_timing(problem, points[timing_point], repeats, job["hessian_repeats"]),
                "first_call_s": first_call,
            },
            "biogeme": {
                k: theirs[k] for k in ("loglike_and_grad", "hessian", "first_call_s") if k in theirs
            },
        }
    }
    if not quick:
        est = theirs["estimation"]
        est["converged"] = bool(
            est["relative_gradient"] < VERIFIED and est["hessian_negative_definite"]
        )
        out["biogeme_estimation"] = est
        ll_at_theirs, _, _ = iclv_point(problem, est["estimates"])
        out["agreement"]["biogeme_optimum"] = {
            "iclv_jax": ll_at_theirs,
            "biogeme": est["loglike"],
            "abs_difference": abs(ll_at_theirs - est["loglike"]),
        }

        print(f"[{name}] timing at R={timing_draws}", file=sys.stderr)
        big, big_first_call = fresh_problem(model, data, case["draws"](timing_draws), case["start"])
        export_arrays(
            arrays, data, columns, big.draws.normals(big.panel.n_people, len(model.lv_names))
        )
        # Biogeme refuses to build its evaluator at R=500 when its full jacfwd Hessian
        # would exceed a quarter of the free memory; LL+gradient needs no Hessian
        job.update(
            points={timing_point: points[timing_point]},
            hessian_repeats=0,
            estimate=False,
            settings={"calculating_second_derivatives": "never"},
        )
        theirs = run_worker(python, job, folder)
        out["agreement"][f"{timing_point}_R{timing_draws}"] = compare_points(
            big, job["points"], theirs["points"]
        )[timing_point]
        out["timing"][f"R={timing_draws}"] = {
            "iclv_jax": {
                **iclv_timing(big, points[timing_point], repeats, 0),
                "first_call_s": big_first_call,
            },
            "biogeme": {k: theirs[k] for k in ("loglike_and_grad", "first_call_s")},
        }
    out["ratios"] = ratios(out)
    return out


def ratios(out: dict) -> dict:
    """Biogeme time / iclv_jax time (> 1: iclv_jax faster)."""
    found = {}
    for draws, timing in out["timing"].items():
        for what in ("loglike_and_grad", "hessian"):
            if what in timing["biogeme"]:
                found[f"{what} {draws}"] = (
                    timing["biogeme"][what]["median_s"] / timing["iclv_jax"][what]["median_s"]
                )
    if "biogeme_estimation" in out:
        found["estimation"] = (
            out["biogeme_estimation"]["seconds"] / out["iclv_jax_estimation"]["seconds"]
        )
    return found


# --- report --------------------------------------------------------------------------


def markdown(report: dict) -> str:
    lines = [
        "# iclv_jax vs Biogeme: same model, data and draws",
        "",
        f"Machine: {report['machine']['platform']}, {report['machine']['cpu_count']} "
        f"CPUs ({report['machine']['device']}), shared with other work: times are "
        "medians after a compiling first call.  Versions: iclv_jax "
        f"{report['machine']['versions']['iclv_jax']} (jax "
        f"{report['machine']['versions']['jax']}); Biogeme "
        f"{report['biogeme_versions']['biogeme']} (jax {report['biogeme_versions']['jax']},"
        f" Python {report['biogeme_versions']['python']}).",
        "",
        "Both compute with JAX on the same draws (exported by iclv_jax, passed to Biogeme "
        "as user-defined draws), so the LLs agree to rounding; gradients are compared in "
        "iclv_jax's internal parameters.  Estimation: each library's default optimiser "
        "from the same start values (iclv_jax `estimate()`: hybrid BHHH/Newton, then "
        "exact-Hessian verification; Biogeme `estimate()`: `automatic`, i.e. BFGS trust "
        "region for a simulated likelihood, stopping at relative gradient "
        "eps^(1/3) = 6.1e-6, then its analytical Hessian for SEs).  Wall times include "
        "compilation and standard errors.  Biogeme's Hessian is one `jax.jacfwd` over "
        "all rows (its `full` mode), iclv_jax's is chunked over people; at R=500 Biogeme "
        "refuses to build its Hessian (memory estimate above its budget), so LL+gradient "
        "is timed there with `calculating_second_derivatives='never'`.",
        "",
    ]
    for name, case in report["cases"].items():
        lines += [
            f"## {name}",
            "",
            case["label"],
            "",
            "| | iclv_jax | Biogeme | ratio |",
            "|---|---:|---:|---:|",
        ]
        for label, agree in case["agreement"].items():
            gradient = (
                f"; gradient diff {agree['gradient_max_abs_difference']:.1e} of max "
                f"{agree['gradient_max_abs']:.1e}"
                if "gradient_max_abs" in agree
                else ""
            )
            lines.append(
                f"| LL at {label} | {agree['iclv_jax']:.6f} | {agree['biogeme']:.6f} "
                f"| diff {agree['abs_difference']:.1e}{gradient} |"
            )
        for draws, timing in case["timing"].items():
            for what in ("loglike_and_grad", "hessian"):
                if what in timing["biogeme"]:
                    mine = timing["iclv_jax"][what]["median_s"]
                    theirs = timing["biogeme"][what]["median_s"]
                    lines.append(
                        f"| {what.replace('_', ' ').replace('and', '+')} ({draws}), "
                        f"ms | {1e3 * mine:.1f} | {1e3 * theirs:.1f} "
                        f"| {theirs / mine:.1f}x |"
                    )
            first_mine = timing["iclv_jax"]["first_call_s"]
            first_theirs = timing["biogeme"]["first_call_s"]
            lines.append(
                f"| first LL+grad call incl. compile ({draws}), s | "
                f"{first_mine:.1f} | {first_theirs:.1f} | |"
            )
        if "biogeme_estimation" in case:
            mine, theirs = case["iclv_jax_estimation"], case["biogeme_estimation"]
            lines += [
                f"| estimation: wall s (incl. compile, SEs) | {mine['seconds']:.1f} | "
                f"{theirs['seconds']:.1f} | {theirs['seconds'] / mine['seconds']:.1f}x |",
                f"| iterations | {mine['iterations']} | {theirs['iterations']} | |",
                f"| final LL | {mine['loglike']:.4f} | {theirs['loglike']:.4f} | |",
                f"| relative gradient | {mine['relative_gradient']:.1e} | "
                f"{theirs['relative_gradient']:.1e} | |",
                f"| own stopping test met | {mine['converged']} | "
                f"{theirs['algorithm_converged']} | |",
                f"| verified optimum (rel. grad < 1e-6, Hessian neg. def.) | "
                f"{mine['converged']} | {theirs['converged']} | |",
                "",
                "| parameter | iclv_jax | Biogeme | SE iclv_jax | SE Biogeme "
                "| robust SE iclv_jax | robust SE Biogeme |",
                "|---|---:|---:|---:|---:|---:|---:|",
            ]
            for p, value in mine["estimates"].items():
                lines.append(
                    f"| {p} | {value:.5f} | {theirs['estimates'][p]:.5f} | "
                    f"{mine['std_errors'][p]:.5f} | {theirs['std_errors'][p]:.5f} | "
                    f"{mine['robust_std_errors'][p]:.5f} | {theirs['robust_std_errors'][p]:.5f} |"
                )
        lines.append("")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="R=10, LL agreement and LL+gradient timing only (smoke run)",
    )
    parser.add_argument("--timing-draws", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--cases", nargs="+", default=["drug_choice", "beverage"])
    args = parser.parse_args()
    python = biogeme_python()
    all_cases = cases(args.quick)
    report = {
        "settings": {
            "quick": args.quick,
            "timing_draws": args.timing_draws,
            "repeats": args.repeats,
        },
        "cases": {},
    }
    stem = "peer_biogeme-quick" if args.quick else "peer_biogeme"
    with tempfile.TemporaryDirectory() as folder:
        for name in args.cases:  # saved after each case
            report["cases"][name] = run_case(
                name,
                all_cases[name],
                python,
                Path(folder),
                args.quick,
                args.timing_draws,
                3 if args.quick else args.repeats,
            )
            report["biogeme_versions"] = report["cases"][name]["biogeme_versions"]
            path = save(stem, report)
            saved = json.loads(path.read_text())
            (RESULTS / f"{stem}.md").write_text(markdown(saved))
    print(markdown(saved))


if __name__ == "__main__":
    main()
