"""Values of expressions: one evaluator for numpy (data, once, on the host) and JAX
(the draw-by-draw rest of a utility, differentiated by autodiff)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..columns import plain
from ..errors import DataError, SpecificationError
from .functions import FUNCTIONS
from .nodes import (
    Beta,
    Binary,
    Call,
    Compare,
    Expression,
    Latent,
    Leaf,
    Logical,
    Number,
    Text,
    Unary,
    Var,
)
from .resolve import leaves

__all__ = ["ExpressionTerm", "evaluate", "evaluate_data", "leaf_name"]

_ARITHMETIC: dict[str, Callable] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "**": lambda a, b: a**b,
}
_COMPARISONS: dict[str, Callable] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def evaluate(expr: Expression, leaf: Callable[[Expression], object], xp):
    """The value of ``expr`` with ``leaf(node)`` the value of each parameter, column and
    LV leaf; ``xp`` is ``numpy`` or ``jax.numpy``.  Comparisons and logical operators
    give 1.0 / 0.0."""
    if isinstance(expr, Number):
        return expr.value
    if isinstance(expr, Text):
        return expr.value
    if isinstance(expr, Unary):
        value = evaluate(expr.operand, leaf, xp)
        return -value if expr.op == "-" else xp.where(value != 0, 0.0, 1.0)
    if isinstance(expr, Binary):
        left, right = evaluate(expr.left, leaf, xp), evaluate(expr.right, leaf, xp)
        return _ARITHMETIC[expr.op](left, right)
    if isinstance(expr, Compare):
        left, right = evaluate(expr.left, leaf, xp), evaluate(expr.right, leaf, xp)
        return xp.where(_COMPARISONS[expr.op](left, right), 1.0, 0.0)
    if isinstance(expr, Logical):
        left = evaluate(expr.left, leaf, xp) != 0
        right = evaluate(expr.right, leaf, xp) != 0
        both = (left & right) if expr.op == "and" else (left | right)
        return xp.where(both, 1.0, 0.0)
    if isinstance(expr, Call):
        args = [evaluate(arg, leaf, xp) for arg in expr.args]
        return FUNCTIONS[expr.function].apply(xp, *args)
    return leaf(expr)


def leaf_name(leaf: Expression) -> str:
    if not isinstance(leaf, Leaf):
        raise SpecificationError(f"{leaf} is not a name")
    return leaf.name


def _is_text(series: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series))


def _check_text_use(expr: Expression, text_columns: set[str], where: str) -> None:
    """A text column or a string may only be compared (``==``, ``!=``) with each other."""
    if isinstance(expr, Compare):
        sides = (expr.left, expr.right)
        text_sides = [
            isinstance(s, Text) or (isinstance(s, Var) and s.name in text_columns) for s in sides
        ]
        if all(text_sides):
            if expr.op not in ("==", "!="):
                raise SpecificationError(
                    f"{where}: text can only be compared with == or !=: {expr}"
                )
            return
    if isinstance(expr, Text):
        raise SpecificationError(
            f"{where}: the string {expr.value!r} must be compared (==, !=) with a text column"
        )
    if isinstance(expr, Var) and expr.name in text_columns:
        raise SpecificationError(
            f"{where}: column {expr.name!r} holds text; compare it with a string, e.g. "
            f"{expr.name} == 'value'"
        )
    for child in expr.children():
        _check_text_use(child, text_columns, where)


def evaluate_data(expr: Expression, df: pd.DataFrame, person_id: str, where: str) -> np.ndarray:
    """``expr`` (columns and constants only) per row of ``df``, as float64.  Text and
    categorical columns may be compared with strings; a missing value in a column used
    raises :class:`DataError` naming it and the first person (nothing is dropped)."""
    columns = {leaf.name for leaf in leaves(expr) if isinstance(leaf, Var)}
    text_columns = {c for c in columns if _is_text(df[c])}
    _check_text_use(expr, text_columns, where)
    values = {}
    for column in columns:
        series = df[column]
        missing = series.isna().to_numpy()
        if missing.any():
            person = plain(df[person_id].iloc[int(np.flatnonzero(missing)[0])])
            raise DataError(
                f"{where}: column {column!r} is missing (NaN) for person {person!r}; "
                "recode or drop those rows explicitly"
            )
        values[column] = (
            series.astype(object).to_numpy()
            if column in text_columns
            else series.to_numpy(dtype=float)
        )
    with np.errstate(all="ignore"):
        result = evaluate(expr, lambda leaf: values[leaf_name(leaf)], np)
    return np.broadcast_to(np.asarray(result, dtype=float), (len(df),)).copy()


@dataclass(frozen=True)
class ExpressionTerm:
    """The rest of a utility as a custom term ``fn(p, x, lv)``: the expression with
    parameters from ``p``, columns from ``x`` and LVs from ``lv`` (JAX).  Compares by
    its expression, so equal models share compiled functions."""

    expression: Expression

    def __call__(self, p: Mapping, x: Mapping, lv: Mapping):
        def leaf(node: Expression):
            if isinstance(node, Beta):
                return p[node.name]
            if isinstance(node, Var):
                return x[node.name]
            if isinstance(node, Latent):
                return lv[node.name]
            raise SpecificationError(f"unresolved name {node} in a utility")

        return evaluate(self.expression, leaf, jnp)
