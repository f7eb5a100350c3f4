"""Coverage of the posterior's 90% credible intervals in a small simulation study.

``S`` data sets from the beverage study's one-LV variant
(:func:`iclv_jax.datasets.beverage_one_lv`: one LV on two covariates, three
ordered-probit items, ten binary-probit purchases per person; 22 free parameters, the
truth in the model's own parametrisation), seeds ``seed0 .. seed0 + S - 1``.  Each is
sampled by NUTS over the integrated likelihood (formulation (a), the LV integrated out by
Gauss-Hermite quadrature with ``--nodes`` nodes: no simulation error), started at its
MLE, with the default weak priors.  For every parameter and data set: does the central
90% interval ``[q5, q95]`` hold the truth?  Reported per parameter (over data sets) and
pooled, each with its binomial SE ``sqrt(p (1 - p) / n)`` at ``p = 0.90``; the study
passes when the pooled rate is within 2 binomial SEs of 0.90.  The intervals of one data
set are correlated (one posterior), so the pooled SE understates the spread a little:
the effective number of independent intervals lies between ``S`` and ``S x 22``.

With flat-ish priors the posterior is close to the likelihood's normal approximation, so
the nominal rate is the frequentist one up to the finite-sample effects of 300 people.

Sizes: on this 2-core machine one data set (MLE, 2 chains x (150 warm-up + 150 kept),
compilation included) took 118 s at 300 people and 20 nodes while another benchmark
shared the cores (R-hat 1.03, min bulk ESS 131).  The recorded run, ``S = 12`` (264
intervals, binomial SE 0.018), took 752 s (33-93 s per data set, the cores shared with
other work); ``S = 16`` (the default, 352 intervals, SE 0.016) fits 20 minutes.

    PYTHONPATH=. .venv/bin/python benchmarks/bayes_coverage.py [--datasets 16]
        [--people 300] [--nodes 20] [--warmup 150] [--samples 150] [--chains 2]

Writes ``benchmarks/results/bayes_coverage.{json,md}``;
``tests/test_bayes_coverage.py`` (slow) runs :func:`coverage_study` small.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

import iclv_jax as ij

NOMINAL = 0.90


def covered(table: pd.DataFrame, truth: dict[str, float]) -> pd.Series:
    """Whether ``q5 <= truth <= q95``, per parameter of a posterior summary table."""
    values = pd.Series(truth, dtype=float).loc[table.index]
    return (table["q5"] <= values) & (values <= table["q95"])


def binomial_se(n: int, p: float = NOMINAL) -> float:
    """``sqrt(p (1 - p) / n)``: the SE of a coverage rate over ``n`` independent
    intervals whose true coverage is ``p``."""
    return float(np.sqrt(p * (1.0 - p) / n))


def one_dataset(seed: int, people: int, nodes: int, warmup: int, samples: int, chains: int):
    """The posterior summary table of data set ``seed``, its truth and its seconds."""
    began = time.perf_counter()
    df, model, truth = ij.datasets.beverage_one_lv(n_people=people, seed=seed)
    draws = ij.Quadrature(nodes)
    mle = ij.estimate(model, df, draws=draws, start=truth, verbose=False)
    post = ij.sample(
        model,
        df,
        draws=draws,
        formulation="integrated",
        num_warmup=warmup,
        num_samples=samples,
        chains=chains,
        seed=seed,
        start=mle,
        progress=False,
    )
    if set(post.samples) != set(truth):
        raise ValueError(f"truth and samples name different parameters: {set(truth)}")
    return post.table, truth, time.perf_counter() - began


def coverage_study(
    datasets: int,
    people: int = 300,
    nodes: int = 20,
    warmup: int = 150,
    samples: int = 150,
    chains: int = 2,
    seed0: int = 0,
) -> dict:
    """Coverage of the 90% central intervals over ``datasets`` simulated data sets:
    ``hits`` (parameter x data set), the rate per parameter and pooled with their
    binomial SEs, ``passed`` (pooled within 2 SEs of 0.90), and per data set the max
    R-hat, min bulk ESS and seconds."""
    hits, runs = {}, []
    for seed in range(seed0, seed0 + datasets):
        table, truth, seconds = one_dataset(seed, people, nodes, warmup, samples, chains)
        hits[seed] = covered(table, truth)
        runs.append(
            {
                "seed": seed,
                "seconds": seconds,
                "max_r_hat": float(table["r_hat"].max()),
                "min_ess_bulk": float(table["ess_bulk"].min()),
                "covered": int(hits[seed].sum()),
            }
        )
        print(runs[-1], flush=True)
    frame = pd.DataFrame(hits)  # parameters x data sets
    pooled = float(frame.to_numpy().mean())
    pooled_se = binomial_se(frame.size)
    return {
        "settings": {
            "datasets": datasets,
            "people": people,
            "nodes": nodes,
            "warmup": warmup,
            "samples": samples,
            "chains": chains,
            "seed0": seed0,
        },
        "per_parameter": {
            name: {"coverage": float(row.mean()), "se": binomial_se(len(row))}
            for name, row in frame.iterrows()
        },
        "pooled": {"coverage": pooled, "se": pooled_se, "intervals": int(frame.size)},
        "passed": bool(abs(pooled - NOMINAL) <= 2 * pooled_se),
        "runs": runs,
    }


def markdown(report: dict) -> str:
    """The report as Markdown: settings, pooled verdict, per-parameter table."""
    s, pooled = report["settings"], report["pooled"]
    lines = [
        "# Coverage of 90% credible intervals (NUTS, integrated formulation)",
        "",
        f"{s['datasets']} data sets of `beverage_one_lv` ({s['people']} people, 10 binary "
        f"choices each), `Quadrature({s['nodes']})`, {s['chains']} chains x "
        f"({s['warmup']} + {s['samples']}), default weak priors, started at the MLE.",
        "",
        f"**Pooled: {pooled['coverage']:.3f} ± {pooled['se']:.3f}** (binomial SE over "
        f"{pooled['intervals']} intervals; those of one data set are correlated) -> "
        f"{'PASS' if report['passed'] else 'FAIL'} (0.90 ± 2 SE).  Wall time "
        f"{sum(r['seconds'] for r in report['runs']):.0f} s; max R-hat over all runs "
        f"{max(r['max_r_hat'] for r in report['runs']):.3f}.",
        "",
        "| parameter | coverage | binomial SE |",
        "|---|---|---|",
    ]
    for name, row in report["per_parameter"].items():
        lines.append(f"| {name} | {row['coverage']:.3f} | {row['se']:.3f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    from _common import RESULTS, machine, save

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", type=int, default=16)
    parser.add_argument("--people", type=int, default=300)
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=150)
    parser.add_argument("--samples", type=int, default=150)
    parser.add_argument("--chains", type=int, default=2)
    args = parser.parse_args()
    report = coverage_study(
        args.datasets, args.people, args.nodes, args.warmup, args.samples, args.chains
    )
    save("bayes_coverage", report)
    (RESULTS / "bayes_coverage.md").write_text(markdown({"machine": machine(), **report}))
    print(markdown(report))


if __name__ == "__main__":
    main()
