"""The parameter table before fitting: every parameter's name, block, default start,
bounds and whether it is fixed, read off the components' declarations."""

from __future__ import annotations

import math

import pandas as pd

from .binding import bind
from .data import prepare_data
from .layout import build_layout
from .params import Parameter
from .spec import ICLVModel

__all__ = ["parameters"]


def _bounds(parameter: Parameter, first_of_group: bool) -> tuple[float, float]:
    """``(lower, upper)`` of a parameter on the reported scale: a bounded coefficient's
    bounds, ``(0, inf)`` for a ``log``-transformed scale and for the first upper
    symmetric threshold (positive), ``(-inf, inf)`` otherwise (the other thresholds are
    only bounded by their neighbours: each is above the one before)."""
    if parameter.transform == "log" or (
        parameter.transform == "positive_threshold" and first_of_group
    ):
        return 0.0, math.inf
    lower = -math.inf if parameter.lower is None else parameter.lower
    upper = math.inf if parameter.upper is None else parameter.upper
    return lower, upper


def parameters(model: ICLVModel, data: pd.DataFrame) -> pd.DataFrame:
    """The model's parameters on ``data``, before any fit, in layout order: a DataFrame
    indexed by ``name`` (exactly the names ``estimate(start=..., fixed=...)`` accept)
    with columns ``block`` (``structural``, ``measurement``, ``choice_lv``, ``choice``),
    ``start`` (the default start :func:`~iclv_jax.estimate` uses, reported scale; a
    fixed parameter's value), ``lower`` and ``upper`` (``-inf`` / ``inf`` where open),
    ``fixed`` (bool) and ``value`` (the fixed value, NaN for free parameters).  The data
    are validated as by :func:`~iclv_jax.estimate` (data-based starts: thresholds at the
    observed shares, continuous items at their mean and spread)."""
    model, data = bind(model, data)
    space, _ = build_layout(model, prepare_data(model, data))
    starts = space.start_reported(None)
    rows, seen = [], set()
    for parameter, start in zip(space.parameters, starts, strict=True):
        lower, upper = _bounds(parameter, parameter.group not in seen)
        seen.add(parameter.group)
        fixed = parameter.name in space.fixed
        rows.append(
            {
                "name": parameter.name,
                "block": parameter.block,
                "start": float(start),
                "lower": lower,
                "upper": upper,
                "fixed": fixed,
                "value": space.fixed[parameter.name] if fixed else math.nan,
            }
        )
    return pd.DataFrame(rows).set_index("name")
