"""The estimation report's contents, shared by the summary, Markdown, LaTeX, CSV and HTML.

:func:`statistics` lists the fit statistics as ``(key, label, value, format)`` rows, in
the order they are shown; :func:`report_table` is the parameter table with the fixed
parameters as rows marked ``fixed`` and estimates held at a bound marked; the
:func:`notes` are the plain-language lines (warnings, the Hessian's conditioning, the
simulation error's verdict).  Goodness of fit is that of the choice part
(``LL_choice``: the choices alone, the LVs integrated over their structural
distribution; see :func:`iclv_jax.rho_squared`) against equal shares ``LL_0`` and
constants only ``LL_C``:

    rho^2 = 1 - LL_choice / LL_b,    adjusted rho^2 = 1 - (LL_choice - K_c) / LL_b,

``K_c`` the free parameters of the choice part; AIC ``2K - 2LL`` and BIC
``K log N - 2LL`` use the whole LL and all ``K`` free parameters.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .randomcoefficients import correlated_model
from .simerror import SIMULATION_SHARE, simulation_draws_needed
from .tables import table_to_latex, table_to_markdown

if TYPE_CHECKING:
    from .results import Results

__all__ = [
    "CONDITION_WARNING",
    "LOGLIKE_TARGET",
    "correlation",
    "latex_report",
    "markdown_report",
    "notes",
    "report_table",
    "simulation_verdict",
    "statistics",
    "statistics_frame",
]

#: a condition number of the scaled curvature above this gets a plain-language warning
CONDITION_WARNING = 1e6
#: the simulation SD of the LL that the verdict asks for: the LL to the unit, the
#: resolution likelihood-ratio tests read it at
LOGLIKE_TARGET = 0.5


def _ratio(numerator: float | None, denominator: float | None) -> float:
    """``numerator / denominator``, NaN where either is missing or the denominator 0."""
    if numerator is None or denominator is None or denominator == 0:
        return math.nan
    return numerator / denominator


def statistics(results: Results) -> list[tuple[str, str, object, str]]:
    """``(key, label, value, format)`` for every fit statistic, in display order;
    ``format`` is a ``format()`` spec for numbers, ``""`` for text."""
    r = results
    k_choice = r.n_choice_params
    null, constants, choice = r.loglike_null_choice, r.loglike_constants_choice, r.loglike_choice
    rows: list[tuple[str, str, object, str]] = [
        ("n_people", "people", r.n_people, "d"),
        ("n_observations", "choice observations", r.n_observations, "d"),
        ("draws", "draws", r.draws["repr"], ""),
        ("n_params", "free parameters", r.n_params, "d"),
        ("n_fixed", "fixed parameters", len(r.fixed), "d"),
        ("loglike_start", "LL at start", r.loglike_start, ".4f"),
        ("loglike", "final log-likelihood", r.loglike, ".4f"),
        ("loglike_measurement", "LL, indicators alone", r.loglike_measurement, ".4f"),
    ]
    if choice is not None:
        rows.append(("loglike_choice", "LL, choices alone", choice, ".4f"))
    if null is not None:
        rows.append(("loglike_null_choice", "choice LL(0), equal shares", null, ".4f"))
    if choice is not None:
        rows += [
            ("loglike_constants_choice", "choice LL(C), constants", constants, ".4f"),
            ("n_choice_params", "choice parameters", k_choice, "d"),
            ("rho_squared_null", "rho-squared vs LL(0)", 1 - _ratio(choice, null), ".4f"),
            (
                "adjusted_rho_squared_null",
                "adjusted rho-squared vs LL(0)",
                1 - _ratio(choice - k_choice, null),
                ".4f",
            ),
            (
                "rho_squared_constants",
                "rho-squared vs LL(C)",
                1 - _ratio(choice, constants),
                ".4f",
            ),
            (
                "adjusted_rho_squared_constants",
                "adjusted rho-squared vs LL(C)",
                1 - _ratio(choice - k_choice, constants),
                ".4f",
            ),
        ]
    rows += [
        ("aic", "AIC", r.aic, ".2f"),
        ("bic", "BIC", r.bic, ".2f"),
        ("relative_gradient", "relative gradient", r.relative_gradient, ".3g"),
        ("gradient_norm", "gradient norm", r.gradient_norm, ".3g"),
        ("smallest_curvature", "smallest scaled curvature", r.smallest_curvature, ".4g"),
        ("largest_curvature", "largest scaled curvature", r.largest_curvature, ".4g"),
        ("condition_number", "condition number", r.condition_number, ".4g"),
        ("information_share", "information share of curvature", r.information_share, ".3g"),
        ("simulation_sd_loglike", "simulation SD of the LL", r.simulation_sd_loglike, ".4g"),
        ("optimizer", "optimizer", r.optimizer, ""),
        ("iterations", "iterations", r.iterations, "d"),
        ("converged", "converged", r.converged, ""),
        ("seconds", "estimation time, s", r.seconds, ".1f"),
    ]
    return rows


def format_value(value: object, spec: str) -> str:
    """A statistic's text: ``format(value, spec)`` for numbers, empty for None/NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return format(value, spec) if spec else str(value)


def report_table(results: Results) -> pd.DataFrame:
    """``results.table`` plus ``simulation_sd`` (where estimated) and ``status``
    (``"at lower bound"`` / ``"at upper bound"`` for estimates held at a bound, ``""``
    otherwise), then one row per fixed parameter: its value, NaN SEs, ``"fixed"``."""
    table = results.table.copy()
    if results.simulation_sd:
        table["simulation_sd"] = [results.simulation_sd.get(n, math.nan) for n in table.index]
    table["status"] = [
        f"at {results.active_bounds[n]} bound" if n in results.active_bounds else ""
        for n in table.index
    ]
    fixed = pd.DataFrame(
        {c: (list(results.fixed.values()) if c == "estimate" else math.nan) for c in table.columns},
        index=pd.Index(list(results.fixed), name=table.index.name),
    )
    fixed["status"] = "fixed"
    return pd.concat([table, fixed]) if len(fixed) else table


def correlation(covariance: pd.DataFrame) -> pd.DataFrame:
    """``Cov_ij / sqrt(Cov_ii Cov_jj)``; NaN where a variance is not positive."""
    values = np.asarray(covariance, dtype=float)
    variance = np.diag(values)
    sd = np.sqrt(np.where(variance > 0, variance, np.nan))
    return pd.DataFrame(
        values / np.outer(sd, sd), index=covariance.index, columns=covariance.columns
    )


def simulation_verdict(results: Results) -> str | None:
    """Whether the draws are enough, in words: every estimate's simulation SD at most
    :data:`~iclv_jax.simerror.SIMULATION_SHARE` of its SE, and the LL's at most
    :data:`LOGLIKE_TARGET`; otherwise the draws that would be (and, with at most three
    LVs and random coefficients in all, the quadrature alternative).  ``None`` where
    there is no simulation error (quadrature) or it was not estimated."""
    sd_ll = results.simulation_sd_loglike
    if not results.simulation_sd or math.isnan(sd_ll):
        return None
    n_draws = int(results.draws["fields"].get("n_draws", 0)) or None
    ratios = {
        name: sd / results.table.loc[name, "se"]
        for name, sd in results.simulation_sd.items()
        if np.isfinite(sd) and results.table.loc[name, "se"] > 0
    }
    worst = max(ratios, key=lambda n: ratios[n]) if ratios else None
    worst_ratio = ratios[worst] if worst is not None else 0.0
    decimals = max(0, -math.floor(math.log10(2 * sd_ll))) if sd_ll > 0 else 4
    text = (
        f"the LL is known to +-{sd_ll:.2g} (simulation SD; {decimals} reliable decimals); "
        f"largest simulation SD / SE {worst_ratio:.2g} ({worst})"
    )
    enough_estimates = worst_ratio <= SIMULATION_SHARE
    if enough_estimates and sd_ll <= LOGLIKE_TARGET:
        return f"draws enough: {text}"
    if n_draws is None:
        return f"draws may be too few: {text}"
    advice = []
    if not enough_estimates:
        needed = simulation_draws_needed(n_draws, worst_ratio / SIMULATION_SHARE)
        advice.append(f"R = {needed} for simulation SD <= {SIMULATION_SHARE} SE")
    if sd_ll > LOGLIKE_TARGET:
        needed = simulation_draws_needed(n_draws, sd_ll / LOGLIKE_TARGET)
        advice.append(f"R = {needed} for the LL to +-{LOGLIKE_TARGET}")
    model = results.model
    if model is not None and model.n_draw_dims <= 3:
        advice.append(
            f"or exact integration, draws=ij.AdaptiveQuadrature(10) "
            f"({10**model.n_draw_dims} nodes per person, no simulation error)"
        )
    return (
        f"draws too few for the reported digits (R = {n_draws}): {text}; about "
        + "; ".join(advice)
        + " (R from the 1/sqrt(R) rate, safe for quasi-random draws)"
    )


def notes(results: Results) -> list[str]:
    """The report's plain-language lines: not converged, estimates at a bound or
    without SE, a near-singular Hessian, the simulation error's verdict."""
    lines = []
    if not results.converged:
        lines.append(f"WARNING: not converged ({results.message})")
    if results.active_bounds:
        lines.append(
            "WARNING: at a bound: "
            + ", ".join(f"{k} ({v})" for k, v in results.active_bounds.items())
        )
    undefined = [n for n in results.table.index[results.table["se"].isna()]]
    undefined = [n for n in undefined if n not in results.active_bounds]
    if undefined:
        lines.append(f"WARNING: no standard error (not identified) for {undefined}")
    if results.condition_number > CONDITION_WARNING:
        lines.append(
            f"WARNING: the Hessian is nearly singular (condition number "
            f"{results.condition_number:.3g}): some combination of parameters is barely "
            f"identified by the data; the weakest involves {results.weakest_parameters}"
        )
    verdict = simulation_verdict(results)
    if verdict is not None:
        lines.append(verdict)
    return lines


def statistics_frame(results: Results) -> pd.DataFrame:
    """The statistics as a frame: index ``key``, columns ``label``, ``value`` (text as
    shown) and ``number`` (the value, NaN for text)."""
    rows = statistics(results)
    return pd.DataFrame(
        {
            "label": [label for _, label, _, _ in rows],
            "value": [format_value(value, spec) for _, _, value, spec in rows],
            "number": [
                float(v) if isinstance(v, int | float) and not isinstance(v, bool) else math.nan
                for _, _, v, _ in rows
            ],
        },
        index=pd.Index([key for key, _, _, _ in rows], name="key"),
    )


def markdown_report(results: Results, float_format: str = ".5g") -> str:
    """The report as Markdown: the statistics, the notes as a list, the parameter
    table (:func:`report_table`)."""
    fit = statistics_frame(results)[["label", "value"]].set_index("label")
    notes_text = "".join(f"- {line}\n" for line in notes(results))
    return (
        "# iclv_jax estimation results\n\n"
        + table_to_markdown(fit.rename_axis("statistic"))
        + ("\n" + notes_text if notes_text else "")
        + "\n"
        + table_to_markdown(report_table(results), float_format)
        + _covariance_markdown(results, float_format)
    )


def _covariance_markdown(results: Results, float_format: str) -> str:
    """The random coefficients' covariance table (Markdown) of a model with correlated
    random coefficients, else nothing."""
    if results.model is None or not correlated_model(results.model):
        return ""
    table = results.random_coefficient_covariance()
    table.index = pd.Index([f"{a}, {b}" for a, b in table.index], name="pair")
    return "\n## Random coefficients' covariance\n\n" + table_to_markdown(table, float_format)


def latex_report(results: Results, float_format: str = ".5g") -> str:
    """The report as LaTeX: the statistics and the parameter table, two booktabs
    tabulars."""
    fit = statistics_frame(results)[["label", "value"]].set_index("label")
    return (
        table_to_latex(fit.rename_axis("statistic"), float_format, "Fit", "tab:fit")
        + "\n"
        + table_to_latex(report_table(results), float_format, "Estimates", "tab:estimates")
    )
