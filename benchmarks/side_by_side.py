"""Timing of two source trees side by side: the benchmarks of each tree, alternated A, B, A, B.

    PYTHONPATH=. .venv/bin/python benchmarks/side_by_side.py TREE_A TREE_B [--rounds 3]
        [--no-peer] [--biogeme-venv PATH] [--name side_by_side_issue14]

Each round runs, for tree A and then tree B, in a fresh process with ``PYTHONPATH=<tree>``:
``profile_loglike.py`` (LL, LL+gradient per model part and layout, exact Hessian, on the
beverage study and drug choice at N = 1,000, R = 100) and, unless ``--no-peer``,
``peer_biogeme.py --quick --no-cold`` (iclv_jax and Biogeme LL+gradient at R = 10, their ratio).
Alternating puts the load of a shared machine on both trees alike.  Each tree runs its
*own* copies of the scripts (copied with its ``benchmarks/*.py`` into a scratch folder,
so the trees' committed results are not overwritten), as a benchmark that reaches into
internals changes with them.  Biogeme needs its venv (``--biogeme-venv``, default the
first ``benchmarks/.biogeme-venv`` of tree A, tree B or this tree); without one the peer
runs are skipped.

Every timing the scripts save (keys ending in ``_s``: medians or best-of times and
compile-inclusive first calls; not their ``first_s``/``min_s``) and every ratio
(``hessian_over_grad``, Biogeme / iclv_jax) is collected per round, with the wall time of
each script.  Per quantity the table shows the median over rounds for A and B, the ratio
``B/A`` of the medians, the spread of each side ``(max - min) / median`` over rounds, and
the range of the per-round ratios ``B_i/A_i``.  A ratio is "within noise" when
``|B/A - 1|`` is at most the larger of the two spreads.  Saves
``benchmarks/results/<name>.json`` and ``.md`` (this tree).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import RESULTS, machine

HERE = Path(__file__).resolve().parent
SKIPPED_LEAVES = ("first_s", "min_s")
RATIO_KEYS = ("hessian_over_grad",)


# --- running one script of one tree --------------------------------------------------


def scratch_copy(tree: Path, folder: Path, biogeme_venv: Path | None) -> Path:
    """``folder`` holding ``tree/benchmarks/*.py`` (and a link to the Biogeme venv)."""
    folder.mkdir(parents=True)
    for script in (tree / "benchmarks").glob("*.py"):
        shutil.copy2(script, folder / script.name)
    if biogeme_venv is not None:
        (folder / ".biogeme-venv").symlink_to(biogeme_venv)
    return folder


def run_script(tree: Path, scripts: Path, args: list[str], result_glob: str, python: str) -> dict:
    """Run ``scripts/args[0]`` against ``tree``; its saved JSON plus the run's wall time."""
    results = scripts / "results"
    for stale in results.glob(result_glob):
        stale.unlink()
    env = {**os.environ, "PYTHONPATH": str(tree)}
    load = os.getloadavg()[0]
    began = time.perf_counter()
    done = subprocess.run(
        [python, str(scripts / args[0]), *args[1:]],
        cwd=scripts,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"{args} on {tree} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    (saved,) = results.glob(result_glob)
    return {"payload": json.loads(saved.read_text()), "wall_s": wall, "load_before": load}


def timings(payload: dict, prefix: str = "") -> dict[str, float]:
    """The timings and ratios of a benchmark's JSON, flattened to ``a/b/c -> value``."""
    found = {}
    for key, value in payload.items():
        if key in ("machine", "settings"):
            continue
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            found.update(timings(value, f"{path}/"))
        elif (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and (
                (key.endswith("_s") and key not in SKIPPED_LEAVES)
                or key in RATIO_KEYS
                or "/ratios/" in f"/{path}"
            )
        ):
            found[path] = float(value)
    return found


# --- the table ------------------------------------------------------------------------


def spread(values: list[float]) -> float:
    """``(max - min) / median``: the relative range over rounds."""
    return (max(values) - min(values)) / statistics.median(values)


def summarise(a: list[dict[str, float]], b: list[dict[str, float]]) -> list[dict]:
    """Per quantity found in every round of both trees (all positive: times, ratios):
    medians, ``B/A``, spreads, per-round ratios."""
    common = set.intersection(*(set(r) for r in a + b))
    rows = []
    for key in sorted(common, key=list(a[0]).index):
        va, vb = [r[key] for r in a], [r[key] for r in b]
        ma, mb = statistics.median(va), statistics.median(vb)
        paired = [y / x for x, y in zip(va, vb, strict=True)]
        rows.append(
            {
                "quantity": key,
                "a_median": ma,
                "b_median": mb,
                "ratio": mb / ma,
                "a_spread": spread(va),
                "b_spread": spread(vb),
                "paired_min": min(paired),
                "paired_max": max(paired),
                "within_noise": abs(mb / ma - 1) <= max(spread(va), spread(vb)),
                "a": va,
                "b": vb,
            }
        )
    return rows


def markdown(report: dict) -> str:
    a, b = report["trees"]["A"], report["trees"]["B"]
    info = report["machine"]
    lines = [
        f"# Side by side: A = {a['path']} ({a['commit'][:10]}), "
        f"B = {b['path']} ({b['commit'][:10]})",
        "",
        f"{report['rounds']} rounds, alternating A, B in fresh processes; "
        f"{info['cpu_count']} CPUs ({info['cpu_model']}), {info['platform']}, "
        f"Python {info['python']}, jax {info['versions']['jax']}; "
        f"load average before the runs {min(report['load_before'])}"
        f"-{max(report['load_before'])} (shared machine).  Times in seconds; "
        "spread = (max - min) / median over rounds; within noise: "
        "|B/A - 1| <= the larger spread.",
        "",
    ]
    for script, rows in report["tables"].items():
        lines += [
            f"## {script}",
            "",
            "| quantity | A median | B median | B/A | spread A | spread B "
            "| B_i/A_i range | within noise |",
            "|---|---:|---:|---:|---:|---:|---:|:---:|",
        ]
        lines += [
            f"| {r['quantity']} | {r['a_median']:.4g} | {r['b_median']:.4g} | "
            f"{r['ratio']:.3f} | {r['a_spread']:.0%} | {r['b_spread']:.0%} | "
            f"{r['paired_min']:.2f}-{r['paired_max']:.2f} | "
            f"{'yes' if r['within_noise'] else '**no**'} |"
            for r in rows
        ]
        lines.append("")
    if report.get("skipped"):
        lines += [f"Skipped: {report['skipped']}", ""]
    return "\n".join(lines)


def commit(tree: Path) -> str:
    done = subprocess.run(
        ["git", "-C", str(tree), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    dirty = subprocess.run(
        ["git", "-C", str(tree), "status", "--porcelain", "--", "iclv_jax"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return done.stdout.strip() + (" (uncommitted changes in iclv_jax/)" if dirty else "")


def find_biogeme_venv(trees: list[Path]) -> Path | None:
    for tree in [*trees, HERE.parent]:
        venv = tree / "benchmarks" / ".biogeme-venv"
        if (venv / "bin" / "python").exists():
            return venv.resolve()
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tree_a", type=Path)
    parser.add_argument("tree_b", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-peer", action="store_true", help="skip peer_biogeme --quick")
    parser.add_argument("--biogeme-venv", type=Path)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--name", default="side_by_side_issue14")
    args = parser.parse_args()
    trees = {"A": args.tree_a.resolve(), "B": args.tree_b.resolve()}
    venv = (
        args.biogeme_venv.resolve()
        if args.biogeme_venv
        else find_biogeme_venv(list(trees.values()))
    )
    scripts = {"profile_loglike": (["profile_loglike.py"], "profile_loglike_*.json")}
    skipped = None
    if args.no_peer:
        skipped = "peer_biogeme (--no-peer)"
    elif venv is None:
        skipped = "peer_biogeme (no Biogeme venv: pass --biogeme-venv)"
    else:
        scripts["peer_biogeme --quick"] = (
            ["peer_biogeme.py", "--quick", "--no-cold"],
            "peer_biogeme-quick.json",
        )
    collected = {s: {"A": [], "B": []} for s in scripts}
    loads = []
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        copies = {
            label: scratch_copy(tree, Path(scratch) / label, venv) for label, tree in trees.items()
        }
        for round_ in range(args.rounds):
            for script, (argv, pattern) in scripts.items():
                for label, tree in trees.items():
                    run = run_script(tree, copies[label], argv, pattern, args.python)
                    found = {**timings(run["payload"]), "script wall_s": run["wall_s"]}
                    collected[script][label].append(found)
                    loads.append(round(run["load_before"], 2))
                    print(
                        f"round {round_ + 1} {script} {label}: {run['wall_s']:.0f} s "
                        f"(load {run['load_before']:.1f})",
                        flush=True,
                    )
    report = {
        "machine": machine(),
        "rounds": args.rounds,
        "load_before": loads,
        "seconds": time.perf_counter() - began,
        "skipped": skipped,
        "trees": {
            label: {"path": str(tree), "commit": commit(tree)} for label, tree in trees.items()
        },
        "tables": {s: summarise(v["A"], v["B"]) for s, v in collected.items()},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(report, indent=2))
    text = markdown(report)
    (RESULTS / f"{args.name}.md").write_text(text)
    print(text)
    print(f"saved {RESULTS / args.name}.json and .md ({report['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
