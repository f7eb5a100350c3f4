"""Estimation results: the parameter table and the summary choice modellers expect."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm


def parameter_table(names, estimates, covariance, robust_covariance) -> pd.DataFrame:
    """Estimates with classical and robust SEs, t against 0 and two-sided p-values."""
    se = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    robust_se = np.sqrt(np.clip(np.diag(robust_covariance), 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
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
    draws: str
    seconds: float
    scales: dict[str, float] = field(default_factory=dict)
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    stage_iterations: dict[str, int] = field(default_factory=dict)

    @property
    def n_params(self) -> int:
        return len(self.table)

    @property
    def aic(self) -> float:
        return 2 * self.n_params - 2 * self.loglike

    @property
    def bic(self) -> float:
        return self.n_params * np.log(self.n_people) - 2 * self.loglike

    def summary(self) -> str:
        """A Biogeme/Apollo-style report."""
        lines = [
            "iclv_jax estimation results",
            f"  people / choice observations     {self.n_people} / {self.n_observations}",
            f"  draws                            {self.draws}",
            f"  free parameters                  {self.n_params}",
            f"  log-likelihood at start          {self.loglike_start:.4f}",
        ]
        if self.loglike_null_choice is not None:
            lines.append(
                f"  choice LL, all parameters zero   {self.loglike_null_choice:.4f}"
            )
        lines += [
            f"  final log-likelihood             {self.loglike:.4f}",
            f"  AIC / BIC                        {self.aic:.2f} / {self.bic:.2f}",
            f"  optimizer                        {self.optimizer}, {self.iterations} iterations",
            f"  converged                        {self.converged} ({self.message})",
            f"  final gradient norm / relative   {self.gradient_norm:.3g} / "
            f"{self.relative_gradient:.3g}",
            f"  smallest Hessian curvature       {self.smallest_curvature:.4g}",
            f"  estimation time                  {self.seconds:.1f} s",
            "",
            self.table.to_string(float_format=lambda x: f"{x:.5g}"),
        ]
        if self.fixed:
            lines += ["", "fixed: " + ", ".join(f"{k} = {v:g}" for k, v in self.fixed.items())]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()
