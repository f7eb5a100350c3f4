"""Where the wall time of ``estimate()`` goes: set-up, compilation, optimiser, verification,
standard errors.

The two peer-benchmark cases (``peer_biogeme.py``: drug choice with ``ApolloHalton(100)``
and the given start values; the beverage study with ``Halton(100, seed=0)`` and default
starts), each estimated with ``estimate()``'s default options in a fresh process (so
every compilation is counted), ``--repeats`` times; medians are reported because the
machine may be shared.

The profile wraps, for the duration of the run, the phases of :func:`iclv_jax.estimate`
(``Problem`` set-up, data checks, fingerprint, sequential starts, ``minimise``,
``verify``, ``_results`` and within it ``covariances``) and the likelihood's compiled
``loglike_and_grad`` / ``per_person_and_scores`` / ``hessian`` (every computation, however
the estimator caches them) with timers and counters; likelihood calls outside every phase
are the start-value evaluation (scales).  JAX's own compile events
(``jax.monitoring``: tracing, lowering, XLA compilation) are attributed to the innermost
wrapped call and summed by compiled function.  After the fit the same process times the
warm LL+gradient, scores and Hessian at the optimum (medians) and a second, fully
compiled ``estimate()``.

    PYTHONPATH=. .venv/bin/python benchmarks/fit_profile.py        # both cases, 3 repeats
    PYTHONPATH=. .venv/bin/python benchmarks/fit_profile.py --case drug_choice --repeats 1

    # before/after: the same runs, alternately, on another commit's iclv_jax
    git archive 2dccf46 iclv_jax | tar -x -C /tmp/base
    export ICLV_JAX_DATA=$PWD/../shared/data   # drug-choice data for the copy too
    PYTHONPATH=. .venv/bin/python benchmarks/fit_profile.py --baseline /tmp/base

(``PYTHONPATH`` picks the ``iclv_jax`` to profile.)

Prints a table per case and saves ``benchmarks/results/fit_profile.json``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import jax
import numpy as np
from _common import median_time, save

import iclv_jax as ij
from iclv_jax import datasets, estimation
from iclv_jax.likelihood import SimulatedLikelihood

COMPILE_EVENTS = {
    "/jax/core/compile/jaxpr_trace_duration": "trace",
    "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower",
    "/jax/core/compile/backend_compile_duration": "xla",
}
EVALUATOR_LABELS = ("loglike_and_grad", "scores", "hessian")
LIKELIHOOD_METHODS = ("loglike_and_grad", "per_person_and_scores", "hessian")
PHASES = {
    "Problem.__init__": "set-up (data, draws, device put)",
    "check_data": "data checks",
    "fingerprint": "fingerprint",
    "sequential_start": "sequential start stages",
    "start": "start evaluation (scales)",
    "minimise": "optimiser",
    "verify": "verification",
    "_results": "results + SEs",
}


def cases() -> dict:
    """The peer benchmark's estimation calls (``_peer_cases.CASES``, R=100)."""
    df, model, start = datasets.drug_choice()
    bev_df, bev_model, _ = datasets.beverage(n_people=326, seed=0)
    return {
        "drug_choice": (model, df, start, ij.ApolloHalton(100)),
        "beverage": (bev_model, bev_df, None, ij.Halton(100, seed=0)),
        "cross_sectional": cross_sectional,
    }


def cross_sectional():
    """The peer table's cross-sectional case (simulated; built on demand: it is the one
    case whose data take a while)."""
    from _peer_cases import cross_sectional as peer_case

    case = peer_case()
    return case.model, case.data, case.start, case.draws(100)


class Profile:
    """Timers on wrapped callables, nested: the outermost wrapped call is the phase; the
    stack holds the keys (``phase > label``) of the calls in progress."""

    def __init__(self):
        self.stack: list[str] = []
        self.calls = defaultdict(
            lambda: {"count": 0, "seconds": 0.0, "first_s": None, "compile_s": 0.0}
        )
        self.compiles = defaultdict(lambda: {"count": 0, "trace": 0.0, "lower": 0.0, "xla": 0.0})
        self._patched: list[tuple] = []

    def key(self, label: str) -> str:
        """``phase > label`` inside a phase; an evaluator call outside every phase is in
        the ``start`` phase."""
        if self.stack:
            return f"{self.stack[0].split(' > ')[0]} > {label}"
        return f"start > {label}" if label in EVALUATOR_LABELS else label

    def wrap(self, owner, attribute: str, label: str) -> None:
        original = getattr(owner, attribute)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            key = self.key(label)
            self.stack.append(key)
            began = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - began
                self.stack.pop()
                entry = self.calls[key]
                entry["count"] += 1
                entry["seconds"] += elapsed
                if entry["first_s"] is None:
                    entry["first_s"] = elapsed

        self._patched.append((owner, attribute, original))
        setattr(owner, attribute, timed)

    def wrap_method(self, cls, attribute: str, label: str) -> None:
        """Time a (jitted) method of ``cls``, blocking until its result is ready."""
        descriptor = cls.__dict__[attribute]

        def call(instance, *args, **kwargs):
            return jax.block_until_ready(descriptor.__get__(instance, cls)(*args, **kwargs))

        holder = type("Holder", (), {attribute: call})
        self.wrap(holder, attribute, label)
        timed = holder.__dict__[attribute]
        self._patched.append((cls, attribute, descriptor))
        setattr(cls, attribute, timed)

    def on_duration(self, event: str, duration: float, **kwargs) -> None:
        if event not in COMPILE_EVENTS:
            return
        if self.stack:
            self.calls[self.stack[-1]]["compile_s"] += duration
        fun_name = kwargs.get("fun_name", "?").removeprefix("jit(").removesuffix(")")
        entry = self.compiles[fun_name]
        entry[COMPILE_EVENTS[event]] += duration
        entry["count"] += COMPILE_EVENTS[event] == "xla"

    def __enter__(self):
        for attribute, label in zip(LIKELIHOOD_METHODS, EVALUATOR_LABELS, strict=True):
            self.wrap_method(SimulatedLikelihood, attribute, label)
        self.wrap(estimation.Problem, "__init__", "Problem.__init__")
        self.wrap(estimation.identification, "check_data", "check_data")
        self.wrap(estimation.checkpoints, "fingerprint", "fingerprint")
        for name in (
            "sequential_start",
            "minimise",
            "verify",
            "_results",
            "covariances_held_at_bounds",
        ):
            self.wrap(estimation, name, name)
        jax.monitoring.register_event_duration_secs_listener(self.on_duration)
        return self

    def __exit__(self, *exc):
        jax.monitoring.unregister_event_duration_listener(self.on_duration)
        for owner, attribute, original in reversed(self._patched):
            setattr(owner, attribute, original)


def phase_table(calls: dict, total: float) -> dict:
    """Seconds per phase (outermost calls, evaluator calls outside them as ``start``),
    the rest of ``estimate()`` as ``other``."""
    phases = defaultdict(float)
    for key, entry in calls.items():
        phase = key.split(" > ")[0]
        if phase == key or phase == "start":
            phases[PHASES.get(phase, phase)] += entry["seconds"]
    phases["other (estimate body)"] = total - sum(phases.values())
    return dict(phases)


def profile_once(name: str) -> dict:
    """One cold ``estimate()`` with the profile, then warm timings in the same process."""
    case = cases()[name]
    model, data, start, draws = case() if callable(case) else case
    with Profile() as profile:
        began = time.perf_counter()
        results = ij.estimate(model, data, draws=draws, start=start, verbose=False)
        total = time.perf_counter() - began
    problem = ij.Problem(model, data, draws=draws)
    u = problem.free_internal(results.estimates)
    lik = problem.likelihood
    warm = {
        "loglike_and_grad_s": median_time(
            lambda: jax.block_until_ready(lik.loglike_and_grad(u)), 5
        )["median_s"],
        "scores_s": median_time(lambda: jax.block_until_ready(lik.per_person_and_scores(u)), 5)[
            "median_s"
        ],
        "hessian_s": median_time(lambda: jax.block_until_ready(lik.hessian(u)), 3)["median_s"],
    }
    began = time.perf_counter()
    again = ij.estimate(model, data, draws=draws, start=start, verbose=False)
    warm["estimate_compiled_s"] = time.perf_counter() - began
    calls = {k: dict(v) for k, v in profile.calls.items()}
    return {
        "iclv_jax_path": str(Path(ij.__file__).parent),
        "total_s": total,
        "loglike": results.loglike,
        "iterations": results.iterations,
        "converged": results.converged,
        "relative_gradient": results.relative_gradient,
        "message": results.message,
        "estimates": results.table["estimate"].tolist(),
        "se": results.table["se"].tolist(),
        "robust_se": results.table["robust_se"].tolist(),
        "second_run_loglike": again.loglike,
        "phases": phase_table(calls, total),
        "calls": calls,
        "compiles": {k: dict(v) for k, v in profile.compiles.items()},
        "warm": warm,
    }


def run_child(name: str, pythonpath: str | None = None) -> dict:
    """``profile_once`` in a fresh interpreter (nothing compiled yet); ``pythonpath``
    (a folder holding another ``iclv_jax``) replaces ``PYTHONPATH`` if given."""
    env = dict(os.environ) if pythonpath is None else {**os.environ, "PYTHONPATH": pythonpath}
    out = subprocess.run(
        [sys.executable, __file__, "--child", name],
        capture_output=True,
        text=True,
        cwd=Path.cwd(),
        env=env,
    )
    if out.returncode:
        raise RuntimeError(
            f"profiling {name} with PYTHONPATH={env.get('PYTHONPATH')} "
            f"failed:\n{out.stderr[-3000:]}"
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(current: dict, baseline: dict) -> dict:
    """Speed-up (median total time, baseline / current) and the largest differences of
    the results: LL, estimates, both standard errors (relative)."""

    def relative(key):
        a, b = np.asarray(current[key]), np.asarray(baseline[key])
        return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))

    return {
        "speedup": baseline["total_s"] / current["total_s"],
        "loglike_abs_difference": abs(current["loglike"] - baseline["loglike"]),
        "estimates_max_abs_difference": float(
            np.max(np.abs(np.asarray(current["estimates"]) - np.asarray(baseline["estimates"])))
        ),
        "se_max_relative_difference": relative("se"),
        "robust_se_max_relative_difference": relative("robust_se"),
    }


def summary(runs: list[dict]) -> dict:
    """Medians over repeats of the total, each phase, each call and each compile."""
    med = lambda values: statistics.median(values)  # noqa: E731
    first = runs[0]
    calls = {
        key: {
            "count": first["calls"][key]["count"],
            "seconds": med([r["calls"].get(key, {"seconds": 0})["seconds"] for r in runs]),
            "compile_s": med([r["calls"].get(key, {"compile_s": 0})["compile_s"] for r in runs]),
        }
        for key in first["calls"]
    }
    compiles = {
        fun: {
            "count": first["compiles"][fun]["count"],
            "seconds": med(
                [
                    sum(
                        r["compiles"].get(fun, {}).get(part, 0.0)
                        for part in ("trace", "lower", "xla")
                    )
                    for r in runs
                ]
            ),
        }
        for fun in first["compiles"]
    }
    return {
        "iclv_jax_path": first["iclv_jax_path"],
        "total_s": med([r["total_s"] for r in runs]),
        "totals_s": [r["total_s"] for r in runs],
        "phases": {p: med([r["phases"].get(p, 0.0) for r in runs]) for p in first["phases"]},
        "calls": calls,
        "compiles": compiles,
        "compile_total_s": med(
            [
                sum(sum(v[p] for p in ("trace", "lower", "xla")) for v in r["compiles"].values())
                for r in runs
            ]
        ),
        "warm": {k: med([r["warm"][k] for r in runs]) for k in first["warm"]},
        "loglike": first["loglike"],
        "iterations": first["iterations"],
        "converged": first["converged"],
        "relative_gradient": first["relative_gradient"],
        "message": first["message"],
        "estimates": first["estimates"],
        "se": first["se"],
        "robust_se": first["robust_se"],
    }


def show(name: str, s: dict) -> None:
    print(
        f"\n== {name}: estimate() median {s['total_s']:.2f} s over "
        f"{len(s['totals_s'])} runs {[round(t, 2) for t in s['totals_s']]}; "
        f"LL {s['loglike']:.6f}, {s['iterations']} iterations, converged {s['converged']}"
    )
    print(f"   {s['message']}")
    print("   phase                                   seconds")
    for phase, seconds in s["phases"].items():
        print(f"   {phase:<40}{seconds:8.2f}")
    print("   call (phase > function)                  count  seconds  of which compile")
    for key, c in sorted(s["calls"].items()):
        print(f"   {key:<40}{c['count']:6d}{c['seconds']:9.2f}{c['compile_s']:10.2f}")
    print(f"   compilations (jax function)  total {s['compile_total_s']:.2f} s")
    for fun, c in sorted(s["compiles"].items(), key=lambda kv: -kv[1]["seconds"]):
        if c["seconds"] > 0.05:
            print(f"   {fun:<40}{c['count']:6d}{c['seconds']:9.2f}")
    w = s["warm"]
    print(
        f"   warm: LL+grad {1e3 * w['loglike_and_grad_s']:.0f} ms, scores "
        f"{1e3 * w['scores_s']:.0f} ms, Hessian {1e3 * w['hessian_s']:.0f} ms; second "
        f"estimate() in the same process {w['estimate_compiled_s']:.2f} s"
    )


def commit(folder: Path) -> str | None:
    """The git commit of ``folder`` (``+dirty`` with uncommitted changes), if it is in one."""
    try:
        head = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(folder), "status", "--porcelain", "."],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if dirty else "")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--case", choices=("drug_choice", "beverage", "cross_sectional"), action="append"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", default="fit_profile")
    parser.add_argument("--label", default="", help="what code ran (saved with the results)")
    parser.add_argument(
        "--baseline",
        help="a folder holding the iclv_jax to compare with, run alternately with the current one",
    )
    parser.add_argument("--baseline-label", default="")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(profile_once(args.child)))
        return
    report = {
        "label": args.label,
        "iclv_jax_path": str(Path(ij.__file__).parent),
        "commit": commit(Path(ij.__file__).parent),
        "repeats": args.repeats,
        "cases": {},
    }
    if args.baseline:
        report["baseline"] = {"label": args.baseline_label, "path": args.baseline}
    for name in args.case or ("drug_choice", "beverage"):
        runs, baseline_runs = [], []
        for _ in range(args.repeats):  # alternating, so both see the same machine load
            runs.append(run_child(name))
            if args.baseline:
                baseline_runs.append(run_child(name, args.baseline))
        report["cases"][name] = case = {"current": summary(runs)}
        show(f"{name} ({args.label or 'current'})", case["current"])
        if args.baseline:
            case["baseline"] = summary(baseline_runs)
            show(f"{name} ({args.baseline_label or 'baseline'})", case["baseline"])
            case["comparison"] = compare(case["current"], case["baseline"])
            print(f"   comparison: {case['comparison']}")
    save(args.output, report)


if __name__ == "__main__":
    main()
