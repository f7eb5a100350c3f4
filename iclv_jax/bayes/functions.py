"""Posterior samples of functions of the parameters (WTP and others).

A function ``g`` of the parameters has the posterior samples ``g(theta_s)``, one per
posterior draw ``theta_s``: no delta method is needed, and the samples carry the
skewness of ratios such as WTP.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..delta import parse_expression
from .summary import summary_frame

__all__ = ["FunctionOfParameters", "evaluate_function", "wtp_functions"]


@dataclass(frozen=True)
class FunctionOfParameters:
    """Posterior samples of functions of the parameters.

    ``samples``: label -> array ``(chains, draws)``; ``table``: their summary (the
    columns of :data:`iclv_jax.bayes.summary.COLUMNS`, indexed by label).
    """

    samples: dict[str, np.ndarray]
    table: pd.DataFrame = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "table", summary_frame(self.samples, "function"))

    def draws_of(self, label: str) -> np.ndarray:
        """The samples of ``label``, all chains one after another (chain-major)."""
        if label not in self.samples:
            raise ValueError(f"unknown function {label!r} (known: {list(self.samples)})")
        return self.samples[label].reshape(-1)

    def __str__(self) -> str:
        return self.table.to_string(float_format=lambda v: f"{v:.4g}")


def evaluate_function(
    fn: Callable | str,
    parameters: Mapping[str, np.ndarray | float],
    shape: tuple[int, int],
    name: str,
) -> dict[str, np.ndarray]:
    """``fn`` at every posterior draw, as label -> array of ``shape`` (chains, draws).

    ``fn`` gets ``parameters`` (free ones as ``(chains, draws)`` arrays, fixed ones as
    scalars) and returns an array of ``shape`` (labelled ``name``) or a mapping label
    -> such arrays (a scalar is one value at every draw).  A string is an expression of
    parameter names (:func:`iclv_jax.delta.parse_expression`, never ``eval``-ed), on
    JAX arrays, labelled ``name``.
    """
    arguments: dict[str, Any] = dict(parameters)
    if isinstance(fn, str):
        fn = parse_expression(fn, list(parameters))
        arguments = {k: jnp.asarray(v, dtype=float) for k, v in parameters.items()}
    value = fn(arguments)
    values = value if isinstance(value, Mapping) else {name: value}
    out = {}
    for label, array in values.items():
        array = np.asarray(array, dtype=float)
        if array.ndim and array.shape != shape:
            raise ValueError(
                f"function {label!r} has shape {array.shape}, not (chains, draws) = {shape}"
            )
        out[str(label)] = np.broadcast_to(array, shape).copy()
    return out


def wtp_functions(
    numerators: Sequence[str], denominator: str, known: Sequence[str]
) -> Callable[[Mapping], dict]:
    """The function ``p -> {k: -p[k] / p[denominator]}`` for each numerator ``k``: the
    willingness to pay ``WTP_k = -beta_k / beta_cost`` in the economic sign convention
    of :func:`iclv_jax.wtp` (a liked attribute has a positive WTP when the cost
    coefficient is negative).  ``ValueError`` for a name not in ``known``."""
    for name in [*numerators, denominator]:
        if name not in known:
            raise ValueError(f"unknown parameter {name!r}")
    return lambda p: {k: -np.asarray(p[k]) / np.asarray(p[denominator]) for k in numerators}
