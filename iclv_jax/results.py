"""Estimation results: the parameter table and the summary choice modellers expect."""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from . import report
from .draws import Draws
from .htmlreport import results_to_html
from .randomcoefficients import correlated_model
from .rccovariance import random_coefficient_covariance
from .resultsfile import save_results
from .spec import ICLVModel
from .tables import table_to_latex, table_to_markdown


class UndefinedStandardErrorWarning(UserWarning):
    """Some parameters have no standard error (reported as NaN)."""


def _standard_errors(covariance) -> np.ndarray:
    """``sqrt(diag(cov))`` where the variance is positive, NaN elsewhere."""
    variance = np.diag(np.asarray(covariance, dtype=float))
    return np.sqrt(np.where(variance > 0, variance, np.nan))


def parameter_table(names, estimates, covariance, robust_covariance, at_bound=()) -> pd.DataFrame:
    """Estimates with classical and robust SEs, t against 0 and two-sided p-values.

    A variance that is not positive (or NaN: an unidentified parameter, see
    :func:`iclv_jax.inference.covariances`) gives NaN for SE, t and p, never SE 0 and
    t = inf; a warning names those parameters, except the estimates ``at_bound``
    (whose NaN the caller reports).
    """
    se, robust_se = _standard_errors(covariance), _standard_errors(robust_covariance)
    undefined = [
        name
        for name, a, b in zip(names, se, robust_se, strict=True)
        if (np.isnan(a) or np.isnan(b)) and name not in at_bound
    ]
    if undefined:
        warnings.warn(
            f"no standard error for {undefined} (variance not positive: not "
            "identified); reported as NaN",
            UndefinedStandardErrorWarning,
            stacklevel=3,
        )
    t = estimates / se
    robust_t = estimates / robust_se
    table = pd.DataFrame(
        {
            "estimate": estimates,
            "se": se,
            "t": t,
            "p": 2 * norm.sf(np.abs(t)),
            "robust_se": robust_se,
            "robust_t": robust_t,
            "robust_p": 2 * norm.sf(np.abs(robust_t)),
        },
        index=pd.Index(list(names), name="parameter"),
    )
    return table


@dataclass(frozen=True)
class Results:
    """What an estimation returns.

    ``table`` is indexed by free parameter name with columns ``estimate, se, t, p,
    robust_se, robust_t, robust_p``; ``estimates`` holds every parameter (fixed too).
    ``model`` is the specification when the producer recorded it (``None`` otherwise).
    ``missing_answers``: indicator -> number of people whose answer was declared
    missing (integrated out); ``active_bounds``: parameter -> ``"lower"``/``"upper"``
    for estimates held at a bound (the gradient points out of the bounds; their SE, t
    and p are NaN, the others' are those of the model with them fixed at the bound).
    ``smallest_curvature`` is the smallest eigenvalue of ``-D H D`` (``D`` the
    parameter scales at the estimate, about ``N`` on the diagonal), so it does not
    depend on the data's units.  ``sign_anchors``: LV -> the parameter that is
    positive by convention (the LV's mirror image, all of its parameters negated, has
    the same likelihood); ``information_share``: over directions, the smallest share
    of the log-likelihood's curvature that is information rather than simulation noise
    (about 1 where the data identify every direction, about 0 along one they do not;
    NaN for quadrature; see :func:`iclv_jax.inference.noise_dominated`).  ``draws``:
    the estimation's draws as data, ``{"repr", "class", "fields"}``
    (:func:`iclv_jax.drawsdict.draws_to_dict`; :func:`iclv_jax.draws_from_dict`
    rebuilds the object).

    The report's fields (:mod:`iclv_jax.fitstats`; NaN/None/empty in files written
    before them): ``loglike_measurement`` and ``loglike_choice``, the LL of the
    indicators alone and of the choices alone (LVs integrated; None without a choice
    part); ``loglike_constants_choice``, the choice part's constants-only LL;
    ``n_choice_params``, its free parameters; ``largest_curvature``, the largest
    eigenvalue of ``-D H D`` (``condition_number`` is largest / smallest);
    ``weakest_parameters``, those carrying its weakest direction;
    ``simulation_sd_loglike`` and ``simulation_sd`` (by free parameter), the
    simulation SDs of the LL and of the estimates (:mod:`iclv_jax.simerror`; NaN and
    empty for quadrature).

    ``==`` compares every field exactly (data frames with their dtypes and index
    names, NaN equal to NaN), so a :meth:`save` / :func:`iclv_jax.load_results` round
    trip can be checked with ``==``.
    """

    table: pd.DataFrame
    estimates: dict[str, float]
    fixed: dict[str, float]
    covariance: pd.DataFrame
    robust_covariance: pd.DataFrame
    loglike: float
    loglike_start: float
    loglike_null_choice: float | None
    n_people: int
    n_observations: int
    converged: bool
    message: str
    iterations: int
    gradient_norm: float
    relative_gradient: float
    smallest_curvature: float
    optimizer: str
    draws: dict[str, Any]
    seconds: float
    scales: dict[str, float] = field(default_factory=dict)
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    stage_iterations: dict[str, int] = field(default_factory=dict)
    missing_answers: dict[str, int] = field(default_factory=dict)
    active_bounds: dict[str, str] = field(default_factory=dict)
    sign_anchors: dict[str, str] = field(default_factory=dict)
    information_share: float = math.nan
    loglike_measurement: float = math.nan
    loglike_choice: float | None = None
    loglike_constants_choice: float | None = None
    n_choice_params: int = 0
    largest_curvature: float = math.nan
    weakest_parameters: list[str] = field(default_factory=list)
    simulation_sd_loglike: float = math.nan
    simulation_sd: dict[str, float] = field(default_factory=dict)
    model: ICLVModel | None = None

    def __eq__(self, other) -> bool:
        if not isinstance(other, Results):
            return NotImplemented
        return all(_same(getattr(self, f.name), getattr(other, f.name)) for f in fields(self))

    @property
    def n_params(self) -> int:
        return len(self.table)

    @property
    def aic(self) -> float:
        return 2 * self.n_params - 2 * self.loglike

    @property
    def bic(self) -> float:
        return self.n_params * np.log(self.n_people) - 2 * self.loglike

    @property
    def condition_number(self) -> float:
        """Largest over smallest eigenvalue of the scaled curvature ``-D H D`` (inf
        where the smallest is not positive)."""
        if not self.smallest_curvature > 0:
            return math.inf
        return self.largest_curvature / self.smallest_curvature

    def correlation(self, robust: bool = False) -> pd.DataFrame:
        """The correlation matrix of the estimates (of the sandwich covariance with
        ``robust=True``); NaN for parameters without a variance."""
        return report.correlation(self.robust_covariance if robust else self.covariance)

    def random_coefficient_covariance(self, robust: bool = False) -> pd.DataFrame:
        """``Sigma = L L'`` of the random coefficients (and their covariance with the
        LVs' structural errors), correlations and delta-method SEs
        (:func:`iclv_jax.rccovariance.random_coefficient_covariance`)."""
        return random_coefficient_covariance(self, robust=robust)

    def report_table(self) -> pd.DataFrame:
        """The parameter table with simulation SDs, fixed parameters and bounds marked
        (:func:`iclv_jax.report.report_table`)."""
        return report.report_table(self)

    def statistics(self) -> pd.Series:
        """The fit statistics of the report by key (:func:`iclv_jax.report.statistics`)."""
        rows = report.statistics(self)
        return pd.Series({key: value for key, _, value, _ in rows}, name="statistics", dtype=object)

    def summary(self) -> str:
        """A Biogeme/Apollo-style report: statistics, notes, the parameter table."""
        lines = ["iclv_jax estimation results"] + [
            f"  {label:<32} {report.format_value(value, spec)}"
            for _, label, value, spec in report.statistics(self)
        ]
        lines += [f"  message                          {self.message}", ""]
        lines += report.notes(self)
        lines += ["", self.report_table().to_string(float_format=lambda x: f"{x:.5g}")]
        if self.model is not None and correlated_model(self.model):
            lines += [
                "",
                "random coefficients' covariance (of their normal parts) and correlations:",
            ]
            lines += [
                self.random_coefficient_covariance().to_string(float_format=lambda x: f"{x:.5g}")
            ]
        if self.missing_answers:
            lines += [
                "",
                "missing indicator answers (integrated out): "
                + ", ".join(f"{k} {v}" for k, v in self.missing_answers.items()),
            ]
        if self.sign_anchors:
            lines += [
                "",
                "sign anchors (each LV's mirror image has the same likelihood): "
                + ", ".join(f"{lv}: {name} > 0" for lv, name in self.sign_anchors.items()),
            ]
        return "\n".join(lines)

    def to_html(
        self,
        path: str | os.PathLike | None = None,
        figures: dict[str, bytes] | None = None,
        correlation: bool = True,
        figures_note: str | None = None,
    ) -> str:
        """The single-file HTML report (:mod:`iclv_jax.htmlreport`), written to ``path``
        if given: statistics, notes, the parameter table, the correlation matrix
        (``correlation``) and the ``figures`` (``name -> PNG``; else ``figures_note`` or a
        line saying how to add them).  The report with its
        figures (convergence; with data, LV posteriors and observed against predicted
        shares) is ``ij.html_report(results, path, data)``
        (:func:`iclv_jax.reportfigures.html_report`), which computes them and calls
        this."""
        if not figures and figures_note is None:
            figures_note = "no figures: ij.html_report(results, path, data) adds them"
        return _write(results_to_html(self, figures or {}, figures_note, correlation), path)

    def __str__(self) -> str:
        return self.summary()

    def save(
        self, path: str | os.PathLike, model: ICLVModel | None = None, draws: Draws | None = None
    ) -> Path:
        """Write these results to a JSON file: spec (``model``, default ``self.model``),
        estimates, table, covariance matrices, history, draws settings and library
        versions.  Read back with :func:`iclv_jax.load_results`.  See
        :func:`iclv_jax.resultsfile.save_results`."""
        return save_results(self, path, model=model, draws=draws)

    def to_csv(self, path: str | os.PathLike | None = None, **kwargs) -> str | None:
        """The parameter table as CSV (pandas ``DataFrame.to_csv``, full precision);
        returns the text when ``path`` is None."""
        return self.table.to_csv(path, **kwargs)

    def to_markdown(self, path: str | os.PathLike | None = None, float_format: str = ".5g") -> str:
        """The parameter table as a Markdown pipe table (written to ``path`` if given)."""
        return _write(table_to_markdown(self.table, float_format), path)

    def to_latex(
        self,
        path: str | os.PathLike | None = None,
        float_format: str = ".5g",
        caption: str | None = None,
        label: str | None = None,
    ) -> str:
        """The parameter table as a booktabs LaTeX tabular (written to ``path`` if given)."""
        return _write(table_to_latex(self.table, float_format, caption, label), path)


def _write(text: str, path) -> str:
    if path is not None:
        with open(path, "w") as f:
            f.write(text)
    return text


def _same(a, b) -> bool:
    """Exact equality that understands data frames and NaN."""
    if isinstance(a, pd.DataFrame) or isinstance(b, pd.DataFrame):
        return (
            isinstance(a, pd.DataFrame)
            and isinstance(b, pd.DataFrame)
            and a.equals(b)
            and a.index.equals(b.index)
            and a.columns.equals(b.columns)
            and list(a.index.names) == list(b.index.names)
            and list(a.columns.names) == list(b.columns.names)
            and list(a.dtypes) == list(b.dtypes)
        )
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float | np.floating) and isinstance(b, float | np.floating):
        return bool(a == b) or (math.isnan(a) and math.isnan(b))
    return bool(a == b)
