"""Cold-fit time: ``estimate()`` in a fresh process, compilation included, with JAX's
persistent compilation cache empty (first process) and filled (second process).

The two peer-benchmark cases (``peer_biogeme.py``: drug choice with ``ApolloHalton(R)``
and its start values; the beverage study with ``Halton(R, seed=0)`` and default
starts), each in fresh interpreters: per repeat a new empty ``ICLV_JAX_CACHE`` folder,
a first process that fills it, a second process that reads it.  Each child records the
import time, the wall and CPU (``time.process_time``, all threads) seconds of
``estimate()``, and every compilation JAX reports (``jax.monitoring``: tracing,
lowering to MLIR, XLA compilation, persistent-cache hits) by compiled function and by
where in iclv_jax it was called (the stage), so a count above 1 is a recompilation.

Variants (``--variant``): ``float64`` (``estimate()``'s defaults) and ``mixed``
(``estimate(dtype="float32", tolerance=1e-3)``, then ``estimate()`` in float64 from
its estimates: float32 iterations, float64 final Newton steps and SEs).  ``--baseline
FOLDER`` runs the same children on another ``iclv_jax`` (e.g. ``git archive``-ed),
alternately with the current one, so both see the same machine load.

    cd benchmarks && PYTHONPATH=.. ../.venv/bin/python cold_fit.py --repeats 3
    git archive f272924 iclv_jax | tar -x -C /tmp/base
    PYTHONPATH=.. ../.venv/bin/python cold_fit.py --baseline /tmp/base --variant float64

Medians over repeats; saves ``benchmarks/results/cold_fit.json`` and ``.md``; the
Biogeme seconds (its estimation, compile included) are read from
``results/peer_biogeme.json`` when present (same cases, R = 100).
"""

from __future__ import annotations

import time

BEGAN = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import traceback  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).parent
CASES = ("drug_choice", "beverage")
VARIANTS = ("float64", "mixed")
COMPILE_EVENTS = {
    "/jax/core/compile/jaxpr_trace_duration": "trace",
    "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower",
    "/jax/core/compile/backend_compile_duration": "xla",
}
CACHE_HIT = "/jax/compilation_cache/cache_hits"


def stage_of_caller() -> str:
    """``file:function`` of the innermost iclv_jax frame calling into JAX (the stage of
    the fit that asked for the compilation)."""
    for frame in reversed(traceback.extract_stack()[:-3]):
        if f"{os.sep}iclv_jax{os.sep}" in frame.filename and "site-packages" not in frame.filename:
            return f"{frame.filename.rsplit(os.sep + 'iclv_jax' + os.sep, 1)[1]}:{frame.name}"
    return "?"


class CompileLog:
    """Compile events by ``(function, stage)``: count of XLA compilations, persistent
    cache hits, and seconds of tracing, lowering and XLA compilation."""

    def __init__(self):
        self.entries = defaultdict(lambda: {"xla_count": 0, "trace": 0.0, "lower": 0.0, "xla": 0.0})
        self.cache_hits = 0

    def on_duration(self, event: str, seconds: float, **kwargs) -> None:
        part = COMPILE_EVENTS.get(event)
        if part is None:
            return
        name = kwargs.get("fun_name", "?").removeprefix("jit(").removesuffix(")")
        entry = self.entries[f"{name} @ {stage_of_caller()}"]
        entry[part] += seconds
        entry["xla_count"] += part == "xla"

    def on_event(self, event: str, **kwargs) -> None:
        self.cache_hits += event == CACHE_HIT


def fit(variant: str, name: str, n_draws: int):
    """One estimation of case ``name`` as ``variant`` does it; returns the results."""
    import iclv_jax as ij
    from iclv_jax import datasets

    if name == "drug_choice":
        data, model, start = datasets.drug_choice()
        draws = ij.ApolloHalton(n_draws)
    else:
        data, model, _ = datasets.beverage(n_people=326, seed=0)
        start, draws = None, ij.Halton(n_draws, seed=0)
    if variant == "mixed":
        rough = ij.estimate(
            model, data, draws, start=start, dtype="float32", tolerance=1e-3, verbose=False
        )
        start = {k: rough.estimates[k] for k in rough.table.index}
    return ij.estimate(model, data, draws, start=start, verbose=False)


def child(variant: str, name: str, n_draws: int) -> dict:
    """Import iclv_jax, estimate, and report times and compilations (one fresh process)."""
    import jax

    import iclv_jax  # noqa: F401  (its import time is counted)

    imported = time.perf_counter() - BEGAN
    log = CompileLog()
    jax.monitoring.register_event_duration_secs_listener(log.on_duration)
    jax.monitoring.register_event_listener(log.on_event)
    wall, cpu = time.perf_counter(), time.process_time()
    results = fit(variant, name, n_draws)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    entries = dict(log.entries)
    return {
        "import_s": imported,
        "estimate_s": wall,
        "estimate_cpu_s": cpu,
        "compile_s": sum(e["trace"] + e["lower"] + e["xla"] for e in entries.values()),
        "xla_compilations": sum(e["xla_count"] for e in entries.values()),
        "cache_hits": log.cache_hits,
        "compiles": entries,
        "loglike": results.loglike,
        "converged": results.converged,
        "iterations": results.iterations,
        "se": results.table["se"].tolist(),
        "robust_se": results.table["robust_se"].tolist(),
    }


def run_child(variant: str, name: str, n_draws: int, cache: str, path: str | None) -> dict:
    """:func:`child` in a fresh interpreter with ``ICLV_JAX_CACHE=cache``; ``path`` (a
    folder holding another ``iclv_jax``) replaces ``PYTHONPATH`` if given."""
    env = {**os.environ, "ICLV_JAX_CACHE": cache}
    env.pop("ICLV_JAX_NO_CACHE", None)
    if path is not None:
        env["PYTHONPATH"] = path
    out = subprocess.run(
        [sys.executable, __file__, "--child", variant, name, str(n_draws)],
        capture_output=True,
        text=True,
        env=env,
        cwd=HERE,
    )
    if out.returncode:
        raise RuntimeError(f"{variant} {name} ({path or 'current'}) failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def median_of(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def summarise(runs: list[dict]) -> dict:
    """Medians of the times; the compile table and results of the first run."""
    keys = ("import_s", "estimate_s", "estimate_cpu_s", "compile_s")
    return {
        **{key: median_of(runs, key) for key in keys},
        **{f"{key}_all": [run[key] for run in runs] for key in ("estimate_s", "estimate_cpu_s")},
        "xla_compilations": runs[0]["xla_compilations"],
        "cache_hits": runs[0]["cache_hits"],
        "compiles": runs[0]["compiles"],
        "loglike": runs[0]["loglike"],
        "converged": runs[0]["converged"],
        "iterations": runs[0]["iterations"],
        "se": runs[0]["se"],
        "robust_se": runs[0]["robust_se"],
    }


def biogeme_seconds() -> dict:
    """Biogeme's estimation seconds per case from the stored peer table, if any."""
    stored = HERE / "results" / "peer_biogeme.json"
    if not stored.exists():
        return {}
    cases = json.loads(stored.read_text())["cases"]
    seconds = {}
    for name, case in cases.items():
        cold = case.get("draws", {}).get("R=100", {}).get("cold_fit", {}).get("biogeme")
        if cold is not None:  # the peer table's R = 100 cold fit, compile included
            seconds[name] = cold["cold_s"]
    return seconds


def markdown(report: dict) -> str:
    """The table: per case, code and variant, first and second process."""
    lines = [
        f"# Cold fit, fresh process, R = {report['draws']} ({report['repeats']} repeats, medians)",
        "",
        "| case | code | variant | process | estimate() s | CPU s | compile s | XLA "
        "compiles | cache hits | import s | LL | x Biogeme |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes = [
        "",
        "CPU s: all threads of the process during `estimate()`; on a shared machine it "
        "moves less with the load than the wall time.  x Biogeme: Biogeme's stored "
        "estimation seconds (`peer_biogeme.json`, its own run) over this row's wall "
        "seconds, so it means something only when both ran on a quiet machine.",
    ]
    for row in report["rows"]:
        ratio = row.get("biogeme_ratio")
        lines.append(
            f"| {row['case']} | {row['code']} | {row['variant']} | {row['process']} | "
            f"{row['estimate_s']:.2f} | {row['estimate_cpu_s']:.2f} | {row['compile_s']:.2f} | "
            f"{row['xla_compilations']} | {row['cache_hits']} | {row['import_s']:.2f} | "
            f"{row['loglike']:.8f} | {'' if ratio is None else f'{ratio:.1f}'} |"
        )
    return "\n".join(lines + notes) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", choices=CASES, action="append")
    parser.add_argument("--variant", choices=VARIANTS, action="append")
    parser.add_argument("--draws", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", help="a folder holding the iclv_jax to compare with")
    parser.add_argument("--baseline-label", default="baseline")
    parser.add_argument("--output", default="cold_fit")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        variant, name, n_draws = args.child
        print(json.dumps(child(variant, name, int(n_draws))))
        return
    from _common import RESULTS, save

    codes = {"current": None} | ({args.baseline_label: args.baseline} if args.baseline else {})
    biogeme = biogeme_seconds()
    rows = []
    for name in args.case or CASES:
        for variant in args.variant or VARIANTS:
            runs = defaultdict(list)
            for _ in range(args.repeats):  # alternating, so every code sees the same load
                for code, path in codes.items():
                    cache = tempfile.mkdtemp(prefix="iclv_jax_cold_")
                    try:
                        for process in ("first", "second"):
                            run = run_child(variant, name, args.draws, cache, path)
                            runs[code, process].append(run)
                            print(
                                f"{name} {variant} {code} {process}: estimate "
                                f"{run['estimate_s']:.2f} s (CPU {run['estimate_cpu_s']:.2f}),"
                                f" compile {run['compile_s']:.2f} s, LL {run['loglike']:.8f}",
                                flush=True,
                            )
                    finally:
                        shutil.rmtree(cache, ignore_errors=True)
            for (code, process), found in runs.items():
                row = {"case": name, "variant": variant, "code": code, "process": process}
                row |= summarise(found)
                if name in biogeme and args.draws == 100:
                    row["biogeme_ratio"] = biogeme[name] / row["estimate_s"]
                rows.append(row)
    report = {"draws": args.draws, "repeats": args.repeats, "biogeme_s": biogeme, "rows": rows}
    report |= {"codes": {code: path or "current" for code, path in codes.items()}}
    save(args.output, report)
    text = markdown(report)
    (RESULTS / f"{args.output}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
