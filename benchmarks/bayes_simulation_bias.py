"""Is the drug-choice gap between the two Bayesian formulations simulation bias?

(a) samples the posterior of the *simulated* likelihood at R draws, (b) has no
simulation error, so where they differ by more than MC error the difference should be
about the simulation bias of the likelihood at R: ``mean_a - mean_b ~ theta_hat(R) -
theta_hat(R_ref)``, the MLE at the benchmark's R minus the MLE at many draws.  Reads the
two posteriors ``bayes_drug_choice.py`` saved, estimates the MLE at both R, and reports
per parameter ``z_ab`` (the gap in MC errors), the gap, the MLE's simulation shift, and
``z_ab`` after removing that shift; their correlation over all parameters.

    PYTHONPATH=. .venv/bin/python benchmarks/bayes_simulation_bias.py [--draws 50]
        [--reference-draws 1000]

Writes ``benchmarks/results/bayes_simulation_bias.{json,md}``.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from _common import RESULTS, save

import iclv_jax as ij


def bias_table(a: pd.DataFrame, b: pd.DataFrame, mle: dict, reference: dict) -> pd.DataFrame:
    """Per parameter: ``z_ab``, ``gap = mean_a - mean_b``, ``shift = mle - reference``
    and ``z_ab`` of ``gap - shift``, sorted by ``|z_ab|``."""
    mcse = np.hypot(a["mcse"], b["mcse"])
    gap = a["mean"] - b["mean"]
    shift = pd.Series({k: mle[k] - reference[k] for k in a.index})
    table = pd.DataFrame(
        {"z_ab": gap / mcse, "gap": gap, "mle_shift": shift, "z_ab_debiased": (gap - shift) / mcse}
    )
    return table.reindex(table["z_ab"].abs().sort_values(ascending=False).index)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--draws", type=int, default=50)
    parser.add_argument("--reference-draws", type=int, default=1000)
    args = parser.parse_args()
    df, model, start = ij.datasets.drug_choice()
    fits = {
        r: ij.estimate(model, df, draws=ij.ApolloHalton(r), start=start, verbose=False)
        for r in (args.draws, args.reference_draws)
    }
    posteriors = {
        f: ij.load_posterior(RESULTS / f"bayes_drug_choice_{f}.npz").table
        for f in ("integrated", "augmented")
    }
    table = bias_table(
        posteriors["integrated"],
        posteriors["augmented"],
        fits[args.draws].estimates,
        fits[args.reference_draws].estimates,
    )
    summary = {
        "draws": args.draws,
        "reference_draws": args.reference_draws,
        "loglike": {str(r): fit.loglike for r, fit in fits.items()},
        "correlation_gap_shift": float(np.corrcoef(table["gap"], table["mle_shift"])[0, 1]),
        "max_abs_z_ab": float(table["z_ab"].abs().max()),
        "max_abs_z_ab_debiased": float(table["z_ab_debiased"].abs().max()),
        "share_abs_z_ab_over_2": float((table["z_ab"].abs() > 2).mean()),
        "share_abs_z_ab_debiased_over_2": float((table["z_ab_debiased"].abs() > 2).mean()),
    }
    save("bayes_simulation_bias", {**summary, "table": table.to_dict(orient="index")})
    lines = [
        "# Drug choice: the gap between the two formulations against simulation bias",
        "",
        f"MLE at R = {args.draws} minus MLE at R = {args.reference_draws} (`ApolloHalton`), "
        "beside the posterior means' gap (a) integrated at R minus (b) augmented "
        "(`bayes_drug_choice.py`'s saved posteriors).  "
        + ", ".join(f"{k}: {v:.3g}" for k, v in summary.items() if k != "loglike"),
        "",
        "| parameter | z_ab | gap | MLE shift | z_ab after the shift |",
        "|---|---|---|---|---|",
    ]
    for name, row in table.iterrows():
        lines.append(
            f"| {name} | {row['z_ab']:.2f} | {row['gap']:.4f} | {row['mle_shift']:.4f} | "
            f"{row['z_ab_debiased']:.2f} |"
        )
    (RESULTS / "bayes_simulation_bias.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:3]))


if __name__ == "__main__":
    main()
