"""The drug-choice ICLV estimated three ways: MLE, and the posterior by NUTS over (a) the
integrated likelihood and (b) the augmented one (each person's LV error sampled).

The model is :func:`iclv_jax.datasets.drug_choice` (1,000 people x 10 MNL choices, one LV,
four ordered-logit items, 37 free parameters; ``../shared/data/README.md``).  The MLE
(``ij.estimate`` with ``ApolloHalton(R)`` from the usual starts) is where both samplers
start (``ij.sample(..., start=mle)``), with the library's weak default priors (stated in
``Posterior.summary()``).  Per parameter: MLE, robust SE, posterior mean/SD of (a) and
(b), R-hat and bulk ESS, and the agreement columns ``z_ab = (mean_a - mean_b) /
sqrt(mcse_a^2 + mcse_b^2)`` (standard normal when both chains are long enough and the
two posteriors are the same) and ``sd_a / sd_b``.  (a) samples the posterior of the
*simulated* likelihood at R draws; (b) has no simulation error, so the two differ by the
simulation bias of (a), small against MC error here.  Timings: sampler seconds
(compilation included), seconds per 1,000 effective draws of the worst parameter
(min bulk ESS), mean leapfrog steps per iteration, divergences; the MLE's wall time.

Sizes chosen from a measured short run (full data, R = 50, 2 chains x (50 + 50), this
2-core machine shared with other work): (a) 162 s, 0.81 s per iteration of the 2 chains
(10.9 leapfrog steps, ~37 ms per LL+gradient of both chains); (b) 28 s, 0.28 s per
iteration (15 steps over 1,037 dimensions, ~19 ms per step).  Chains cost linearly
(vectorised), so 4 chains x 500 iterations were expected to take ~810 s for (a) and
~300 s for (b) at R = 50 (R = 100 would double (a)).  Defaults: R = 50, 4 chains x
(250 warm-up + 250 kept).  The recorded run took 28 minutes, not the ~20 planned: (a)
1,337 s (the cores were shared, load ~3, and warm-up trees are deeper than the
sampling ones), (b) 338 s, the MLE 7.5 s; on an idle machine it fits 25 minutes.
``--quick``: the first 200 people, R = 20, 2 chains x (40 + 40), a smoke run of every
step, saved as ``bayes_drug_choice-quick``.

    PYTHONPATH=. .venv/bin/python benchmarks/bayes_drug_choice.py [--draws 50]
        [--warmup 250] [--samples 250] [--chains 4] [--quick]

Writes ``benchmarks/results/bayes_drug_choice.{json,md}`` and the two posteriors as
``bayes_drug_choice_{integrated,augmented}.npz`` (``ij.load_posterior``).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import pandas as pd
from _common import RESULTS, machine, save

import iclv_jax as ij

FORMULATIONS = {"a": "integrated", "b": "augmented"}
#: a stored posterior above this many bytes is saved without its per-person LV summary
MAX_BYTES = 2_000_000


def agreement(table_a: pd.DataFrame, table_b: pd.DataFrame) -> pd.DataFrame:
    """``z_ab = (mean_a - mean_b) / sqrt(mcse_a^2 + mcse_b^2)`` and ``sd_a / sd_b`` per
    parameter (two posterior summary tables)."""
    z = (table_a["mean"] - table_b["mean"]) / np.sqrt(table_a["mcse"] ** 2 + table_b["mcse"] ** 2)
    return pd.DataFrame({"z_ab": z, "sd_ratio_ab": table_a["sd"] / table_b["sd"]})


def comparison(results: ij.Results, posteriors: dict[str, ij.Posterior]) -> pd.DataFrame:
    """The MLE and robust SE beside each formulation's mean, SD, R-hat and bulk ESS, and
    the agreement columns of (a) against (b)."""
    frame = results.table.loc[list(posteriors["a"].samples), ["estimate", "robust_se"]]
    frame = frame.rename(columns={"estimate": "mle"})
    for key, post in posteriors.items():
        table = post.table[["mean", "sd", "r_hat", "ess_bulk"]]
        frame = frame.join(table.add_suffix(f"_{key}"))
    return frame.join(agreement(posteriors["a"].table, posteriors["b"].table))


def timing(post: ij.Posterior, wall: float) -> dict:
    """Sampler seconds, wall seconds of the call, min bulk ESS, seconds per 1,000
    effective draws (of the worst parameter), mean leapfrog steps, divergences."""
    ess = post.table["ess_bulk"]
    min_ess = float(ess[ess > 0].min())  # NumPyro's estimate can be <= 0 on short chains
    seconds = float(post.sampler["seconds"])
    return {
        "seconds": seconds,
        "wall_s": wall,
        "min_ess_bulk": min_ess,
        "seconds_per_1000_ess": 1000.0 * seconds / min_ess,
        "mean_num_steps": float(post.sampler["mean_num_steps"]),
        "mean_accept_prob": float(post.sampler["mean_accept_prob"]),
        "divergences": post.n_divergent,
        "parameters_with_ess_bulk_not_positive": [str(n) for n in ess.index[~(ess > 0)]],
        "max_r_hat": float(post.table["r_hat"].max()),
        "dimension": int(post.sampler["dimension"]),
    }


def save_posterior(post: ij.Posterior, name: str) -> dict:
    """``post`` as ``<name>.npz`` in the results folder, without its LV summary if the
    file would exceed :data:`MAX_BYTES`; returns the path and size."""
    path = post.save(RESULTS / f"{name}.npz")
    if path.stat().st_size > MAX_BYTES and post.lv_summary is not None:
        path = dataclasses.replace(post, lv_summary=None).save(path)
    return {"path": str(path.relative_to(RESULTS.parent.parent)), "bytes": path.stat().st_size}


def markdown_table(frame: pd.DataFrame) -> str:
    """``frame`` as a Markdown table, numbers to 4 significant digits."""

    def cell(value) -> str:
        return f"{value:.4g}" if isinstance(value, float | np.floating) else str(value)

    lines = [
        "| | " + " | ".join(map(str, frame.columns)) + " |",
        "|---" * (len(frame.columns) + 1) + "|",
    ]
    for index, row in frame.iterrows():
        lines.append(f"| {index} | " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines)


def markdown(report: dict, table: pd.DataFrame) -> str:
    """The report as Markdown: settings, timings, the agreement table."""
    settings = report["settings"]
    times = pd.DataFrame(report["timings"]).T
    lines = [
        "# Drug-choice ICLV: MLE and two Bayesian formulations",
        "",
        f"{settings['people']} people, `ApolloHalton({settings['draws']})`, "
        f"{settings['chains']} chains x ({settings['warmup']} warm-up + "
        f"{settings['samples']} kept), default weak priors; "
        f"MLE {report['mle']['wall_s']:.1f} s (LL {report['mle']['loglike']:.2f}).",
        f"Machine: {report['machine']['cpu_model']}, {report['machine']['cpu_count']} cores.",
        "",
        "(a) integrated: the LV integrated out by simulation, as in MSL; (b) augmented: each "
        "person's LV error sampled (no simulation error).  `z_ab = (mean_a - mean_b) / "
        "sqrt(mcse_a^2 + mcse_b^2)`.",
        "",
        markdown_table(times),
        "",
        f"max |z_ab| {table['z_ab'].abs().max():.2f}, share > 2: "
        f"{(table['z_ab'].abs() > 2).mean():.2f}; sd_a / sd_b in "
        f"[{table['sd_ratio_ab'].min():.3f}, {table['sd_ratio_ab'].max():.3f}]; "
        f"sd_a / robust SE in [{(table['sd_a'] / table['robust_se']).min():.3f}, "
        f"{(table['sd_a'] / table['robust_se']).max():.3f}].",
        "",
        markdown_table(table),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--draws", type=int, default=50, help="R of ApolloHalton(R)")
    parser.add_argument("--warmup", type=int, default=250)
    parser.add_argument("--samples", type=int, default=250)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="200 people, R=20, 2 x (40+40)")
    args = parser.parse_args()
    df, model, start = ij.datasets.drug_choice()
    name = "bayes_drug_choice"
    if args.quick:
        df = df[df["ID"].isin(df["ID"].unique()[:200])]
        args.draws, args.warmup, args.samples, args.chains = 20, 40, 40, 2
        name += "-quick"
    draws = ij.ApolloHalton(args.draws)
    began = time.perf_counter()
    results = ij.estimate(model, df, draws=draws, start=start, verbose=False)
    mle_wall = time.perf_counter() - began
    print(f"MLE: LL {results.loglike:.3f} in {mle_wall:.1f} s", flush=True)
    posteriors, timings, files = {}, {}, {}
    for key, formulation in FORMULATIONS.items():
        began = time.perf_counter()
        post = ij.sample(
            model,
            df,
            draws=draws,
            formulation=formulation,
            num_warmup=args.warmup,
            num_samples=args.samples,
            chains=args.chains,
            seed=args.seed,
            start=results,
            progress=False,
        )
        posteriors[key] = post
        timings[f"({key}) {formulation}"] = timing(post, time.perf_counter() - began)
        files[formulation] = save_posterior(post, f"{name}_{formulation}")
        print(f"({key}) {formulation}: {timings[f'({key}) {formulation}']}", flush=True)
    table = comparison(results, posteriors)
    report = {
        "settings": {
            "people": int(df["ID"].nunique()),
            "draws": args.draws,
            "warmup": args.warmup,
            "samples": args.samples,
            "chains": args.chains,
            "seed": args.seed,
            "priors": posteriors["a"].priors,
        },
        "mle": {"wall_s": mle_wall, "loglike": float(results.loglike)},
        "timings": timings,
        "posterior_files": files,
        "parameters": table.to_dict(orient="index"),
    }
    save(name, report)
    (RESULTS / f"{name}.md").write_text(markdown({"machine": machine(), **report}, table))
    print(table.round(4).to_string())


if __name__ == "__main__":
    main()
