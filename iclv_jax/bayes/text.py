"""The text summary of a posterior: header, table, priors and warnings."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

__all__ = ["RHAT_LIMIT", "header_lines", "prior_line", "summary_text", "warning_lines"]

#: R-hat above this is a warning (Vehtari et al. 2021)
RHAT_LIMIT = 1.01

_FORMULATIONS = {
    "integrated": "LVs integrated out, as in MSL",
    "augmented": "each person's LV errors sampled",
}


def _value(value) -> str:
    """A sampler entry as text: floats to 4 significant digits, lists element-wise."""
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, float | np.floating):
        return f"{value:.4g}"
    return str(value)


def header_lines(
    formulation: str,
    sampler: Mapping,
    shape: tuple[int, int],
    n_divergent: int,
    draws: Mapping | None,
) -> list[str]:
    """The lines above the table: the formulation, chains x draws, divergences, every
    entry of ``sampler`` and the draws' repr (``draws``, for "integrated")."""
    chains, n = shape
    lines = [
        f"Posterior ({formulation}: {_FORMULATIONS.get(formulation, formulation)})",
        f"{chains} chains x {n} draws, {n_divergent} divergent transitions",
    ]
    if sampler:
        lines.append("sampler: " + ", ".join(f"{k}={_value(v)}" for k, v in sampler.items()))
    if draws is not None:
        lines.append(f"draws: {draws.get('repr', draws)}")
    return lines


def prior_line(priors: Mapping[str, str]) -> str:
    """``"priors: Normal(0, 10): b_x, b_y; HalfNormal(1): sigma"``: the parameters
    grouped by identical prior, in order of first appearance."""
    groups: dict[str, list[str]] = {}
    for name, prior in priors.items():
        groups.setdefault(prior, []).append(name)
    return "priors: " + "; ".join(f"{p}: {', '.join(names)}" for p, names in groups.items())


def warning_lines(table: pd.DataFrame, n_divergent: int) -> list[str]:
    """A warning naming the parameters with ``r_hat`` above :data:`RHAT_LIMIT` (or not
    computable), and one for divergent transitions."""
    lines = []
    bad = [str(n) for n, r in table["r_hat"].items() if not r <= RHAT_LIMIT]
    if bad:
        lines.append(
            f"WARNING: r_hat > {RHAT_LIMIT} (or undefined) for {', '.join(bad)}: the chains "
            "disagree; run longer chains or reparameterise before using these numbers"
        )
    if n_divergent:
        lines.append(
            f"WARNING: {n_divergent} divergent transitions: the sampler missed part of "
            "the posterior; raise target_accept_prob or reparameterise"
        )
    return lines


def summary_text(
    header: list[str],
    table: pd.DataFrame,
    priors: Mapping[str, str],
    fixed: Mapping[str, float],
    warnings: list[str],
) -> str:
    """Header, the table (without its prior column; the MLE, when there, beside the
    mean), the priors, the fixed parameters and the warnings, one per line."""
    shown = table.drop(columns=["prior"])
    if "mle" in shown:
        shown.insert(1, "mle", shown.pop("mle"))
    body = shown.to_string(float_format=lambda v: f"{v:.4g}")
    lines = [*header, "", body, "", prior_line(priors)]
    if fixed:
        lines.append("fixed: " + ", ".join(f"{k} = {v:.4g}" for k, v in fixed.items()))
    return "\n".join([*lines, *warnings])
