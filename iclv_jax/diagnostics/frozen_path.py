"""Frozen gradients along an optimiser's path: a gradient identical to ``digits``
significant digits over several iterations while its parameter moved (the seed's
symptom)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .tables import format_names, table_text

__all__ = ["PathReport", "detect_frozen_path"]


@dataclass
class PathReport:
    """Parameters whose gradient stayed identical along an optimiser's path.

    ``table`` (one row per parameter): ``longest_run`` (iterations with the same
    gradient to ``digits`` significant digits while the value changed at every step),
    ``first_iteration``, ``last_iteration`` (0-based), ``gradient`` (the frozen value),
    ``value_change`` (how far the parameter moved over the run) and ``frozen``.
    """

    table: pd.DataFrame
    digits: int
    min_iterations: int

    @property
    def frozen(self) -> list[str]:
        return [str(n) for n in self.table.index[self.table["frozen"]]]

    @property
    def ok(self) -> bool:
        return not self.frozen

    @property
    def message(self) -> str:
        if self.ok:
            return (
                f"no gradient stayed identical to {self.digits} digits over "
                f"{self.min_iterations} or more iterations while its parameter moved"
            )
        rows = self.table.loc[self.frozen]
        details = "; ".join(
            f"{name}: {row['gradient']:.{self.digits}g} at iterations "
            f"{row['first_iteration']}-{row['last_iteration']} while the parameter moved "
            f"by {row['value_change']:.3g}"
            for name, row in rows.iterrows()
        )
        return (
            f"FROZEN GRADIENT for {format_names(self.frozen)}: identical to "
            f"{self.digits} significant digits over {self.min_iterations}+ iterations "
            f"while the parameter moved ({details}).  A gradient that does not respond "
            "to its parameter is wrong code (run detect_frozen to confirm), or exactly "
            "0 for a parameter that does not enter the likelihood."
        )

    def __str__(self) -> str:
        repeated = self.table.index[self.table["longest_run"] > 1]
        if len(repeated) == 0:
            return self.message
        return (
            self.message
            + "\nparameters with a repeated gradient while moving:\n"
            + table_text(
                self.table,
                [
                    "longest_run",
                    "first_iteration",
                    "last_iteration",
                    "gradient",
                    "value_change",
                    "frozen",
                ],
                rows=repeated,
            )
        )

    __repr__ = __str__


def detect_frozen_path(
    iterates, gradients, names: Sequence[str], digits: int = 9, min_iterations: int = 3
) -> PathReport:
    """Flag parameters whose gradient stayed identical to ``digits`` significant digits
    (``|g_k - g_{k-1}| <= 0.5 10^(1 - digits) max(|g_k|, |g_{k-1}|)``) over
    ``min_iterations`` or more consecutive iterations while the parameter's value
    changed at every one of those steps (the seed's symptom).

    Args:
        iterates: ``[K, F]`` parameter vectors along the path (any consistent space).
        gradients: ``[K, F]`` the gradients evaluated at them.
        names: the ``F`` parameter names.
    """
    x = np.asarray(iterates, dtype=float)
    g = np.asarray(gradients, dtype=float)
    if x.ndim != 2 or x.shape != g.shape or x.shape[1] != len(names):
        raise ValueError(
            f"iterates {x.shape} and gradients {g.shape} must both be [iterations, {len(names)}]"
        )
    tolerance = 0.5 * 10.0 ** (1 - digits)
    same = np.abs(np.diff(g, axis=0)) <= tolerance * np.maximum(np.abs(g[1:]), np.abs(g[:-1]))
    moved = np.diff(x, axis=0) != 0
    steady = same & moved
    rows = []
    for j in range(len(names)):
        best, best_end, run = 0, 0, 0
        for k in range(steady.shape[0]):
            run = run + 1 if steady[k, j] else 0
            if run > best:
                best, best_end = run, k + 1
        first = best_end - best
        rows.append(
            {
                "longest_run": best + 1 if best else 1,
                "first_iteration": first,
                "last_iteration": best_end,
                "gradient": g[best_end, j] if len(g) else np.nan,
                "value_change": abs(x[best_end, j] - x[first, j]) if len(x) else 0.0,
                "frozen": best + 1 >= min_iterations,
            }
        )
    table = pd.DataFrame(rows, index=pd.Index(list(names), name="parameter"))
    return PathReport(table=table, digits=digits, min_iterations=min_iterations)
