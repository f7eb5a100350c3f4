"""Gradient scales per block: mean ``|d log L / d theta|`` of the structural,
measurement, choice-LV-coefficient and other choice parameters, and the ratios between
blocks, raw and after the estimator's scaling."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..draws import Draws
from ..estimation import Problem, start_scales
from ..likelihood import SimulatedLikelihood
from .evaluation import as_problem, autodiff_at, free_internal_at
from .finite_differences import natural_scales
from .tables import table_text

__all__ = [
    "BLOCK_LABELS",
    "GradientScales",
    "gradient_scales",
    "parameter_groups",
    "reported_gradient",
]

BLOCK_LABELS = {
    "structural": "structural",
    "measurement": "measurement",
    "choice_lv": "choice: LV coefficients",
    "choice_other": "choice: other",
}


@dataclass
class GradientScales:
    """Mean ``|d log L / d theta|`` per block, in the reported space, and the ratios.

    ``table`` (index: ``structural``, ``measurement``, ``choice_lv`` (LV coefficients
    in utilities), ``choice_other``; empty blocks left out): ``label``, ``n``,
    ``mean_abs``, ``max_abs``, ``largest`` (its parameter), ``ratio_to_smallest``; with
    scales also ``scaled_mean_abs`` (mean ``|g_u,i s_i|``, the gradient in the
    optimiser's coordinates ``v = u / s``) and ``scaled_ratio_to_smallest``.
    ``gradient``: one row per free parameter with ``group``, ``reported`` (``d log L /
    d theta``), ``internal`` (``d log L / du``) and ``scaled``.
    """

    table: pd.DataFrame
    gradient: pd.DataFrame
    loglike: float

    @property
    def scaled(self) -> bool:
        return "scaled_mean_abs" in self.table

    def ratio(self, numerator: str, denominator: str, scaled: bool = False) -> float:
        """Mean |gradient| of block ``numerator`` over that of ``denominator``."""
        column = "scaled_mean_abs" if scaled else "mean_abs"
        return float(self.table.loc[numerator, column] / self.table.loc[denominator, column])

    @property
    def imbalance(self) -> float:
        """Largest over smallest block mean |gradient| (reported space)."""
        return float(self.table["mean_abs"].max() / self.table["mean_abs"].min())

    @property
    def scaled_imbalance(self) -> float:
        """The same after scaling (``nan`` without scales)."""
        if not self.scaled:
            return float("nan")
        return float(self.table["scaled_mean_abs"].max() / self.table["scaled_mean_abs"].min())

    def largest(self, k: int = 4) -> pd.Series:
        """The ``k`` largest reported-space gradient entries, signed."""
        reported = self.gradient["reported"]
        return reported.loc[reported.abs().sort_values(ascending=False).index[:k]]

    def __str__(self) -> str:
        columns = ["label", "n", "mean_abs", "max_abs", "largest", "ratio_to_smallest"]
        if self.scaled:
            columns += ["scaled_mean_abs", "scaled_ratio_to_smallest"]
        lines = [
            f"Gradient scales per block (mean |d log L / d theta|, reported space; "
            f"log L = {self.loglike:.6g})",
            f"  largest / smallest block: {self.imbalance:,.1f}"
            + (
                f"; after scaling (gradient in v = u / s): {self.scaled_imbalance:,.2f}"
                if self.scaled
                else ""
            ),
            "  largest entries: "
            + ", ".join(f"{name} {value:+.5g}" for name, value in self.largest().items()),
        ]
        return "\n".join(lines) + "\n" + table_text(self.table, columns)

    __repr__ = __str__


def parameter_groups(problem: Problem) -> list[str]:
    """``structural``, ``measurement``, ``choice_lv`` or ``choice_other`` per free parameter.

    LV coefficients in the choice model are found from the layout (the ``theta``
    gathers), whatever they are named."""
    n_params = len(problem.space.names)
    lv_coefficients = set(problem.likelihood.layout.choice.field_positions("theta", n_params))
    groups = []
    for index in problem.space.free_index:
        block = problem.space.parameters[index].block
        if block.startswith("choice"):
            groups.append("choice_lv" if int(index) in lv_coefficients else "choice_other")
        else:
            groups.append(block)
    return groups


def reported_gradient(likelihood: SimulatedLikelihood, free_internal, internal_gradient):
    """``d log L / d theta`` of the free reported parameters from ``d log L / du``:
    ``g_u = J' g_theta`` with ``J = d theta_free / du`` (diagonal for identity and log
    transforms, lower triangular within a threshold group), solved for ``g_theta``."""
    jacobian = likelihood.to_reported.on_host(free_internal)[1]
    return np.linalg.solve(jacobian.T, np.asarray(internal_gradient))


def _named_scales(name: str, likelihood: SimulatedLikelihood, u) -> np.ndarray:
    """``"bhhh"``: :func:`natural_scales`; ``"estimator"``: the scales
    :func:`iclv_jax.estimate` starts with (``estimation.start_scales``)."""
    if name == "bhhh":
        return natural_scales(likelihood, u)
    if name == "estimator":
        return np.asarray(start_scales(likelihood, u), dtype=float)
    raise ValueError(f"scales must be None, 'bhhh', 'estimator' or an array, got {name!r}")


def gradient_scales(
    model,
    data=None,
    params=None,
    draws: int | Draws = 100,
    scales=None,
    chunk_size: int | None = None,
) -> GradientScales:
    """Mean absolute gradient per block and the ratios between blocks (the seed's
    failure 1: structural 0.026, LV coefficients 11.14, other choice 256.66).

    Args:
        model, data, params, draws, chunk_size: as in :func:`check_gradients`.
        scales: ``None``; ``"bhhh"`` (``s_i = (mean_n s_ni^2)^{-1/2}``, see
            :func:`natural_scales`); ``"estimator"`` (the scales the estimator starts
            with, ``iclv_jax.estimation.start_scales``); or an array of ``F``
            internal-space scales ``s``.  The gradient in ``v = u / s``, ``g_u s``, is
            then summarised beside the raw one.

    The raw gradient is autodiff's, mapped to the reported space (``d log L / d
    theta``, the units the user wrote the model in).
    """
    problem = as_problem(model, data, draws, chunk_size)
    likelihood = problem.likelihood
    u = free_internal_at(problem, params)
    ll, internal = autodiff_at(likelihood, u)
    reported = reported_gradient(likelihood, u, internal)
    names = list(problem.space.free_names)
    groups = parameter_groups(problem)
    frame = pd.DataFrame(
        {"group": groups, "reported": reported, "internal": internal},
        index=pd.Index(names, name="parameter"),
    )
    if isinstance(scales, str):
        scales = _named_scales(scales, likelihood, u)
    if scales is not None:
        scales = np.asarray(scales, dtype=float)
        if scales.shape != (len(names),):
            raise ValueError(f"scales must hold {len(names)} values, got {scales.shape}")
        frame["scaled"] = internal * scales
    rows = {}
    for group in BLOCK_LABELS:
        part = frame[frame["group"] == group]
        if part.empty:
            continue
        magnitude = part["reported"].abs()
        row = {
            "label": BLOCK_LABELS[group],
            "n": len(part),
            "mean_abs": magnitude.mean(),
            "max_abs": magnitude.max(),
            "largest": magnitude.idxmax(),
        }
        if scales is not None:
            row["scaled_mean_abs"] = part["scaled"].abs().mean()
        rows[group] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "block"
    table["ratio_to_smallest"] = table["mean_abs"] / table["mean_abs"].min()
    if scales is not None:
        table["scaled_ratio_to_smallest"] = (
            table["scaled_mean_abs"] / table["scaled_mean_abs"].min()
        )
    return GradientScales(table=table, gradient=frame, loglike=float(ll))
