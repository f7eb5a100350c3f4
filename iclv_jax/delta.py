"""Functions of the estimated parameters: an expression parser and the delta method.

For ``g(theta)`` with ``theta`` the free reported parameters and ``V`` their
covariance, the delta method gives ``se(g) = sqrt(grad g' V grad g)``, the gradient by
JAX autodiff; :func:`wtp` is the ratio ``-beta_k / beta_cost`` in this frame.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy.stats import norm

from .results import Results

__all__ = ["delta_method", "parse_expression", "wtp"]


_FUNCTIONS: dict[str, Callable] = {"exp": jnp.exp, "log": jnp.log, "sqrt": jnp.sqrt, "abs": jnp.abs}
_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_IDENTIFIER = re.compile(r"(?<![\w.])[A-Za-z_]\w*")
_QUOTED = re.compile(r"`([^`]+)`")


def parse_expression(text: str, names: Sequence[str]) -> Callable[[Mapping], jnp.ndarray]:
    """Compile an arithmetic expression of parameter names into a function of a dict.

    The grammar is numbers, parameter names, ``+ - * / **``, unary ``+ -``,
    parentheses and the functions ``exp, log, sqrt, abs``.  A name that is not a
    Python identifier (or is a keyword, like ``lambda``) may be quoted with backticks:
    ``-`beta x` / beta_price``.  Nothing is ``eval``-ed: the text is parsed with
    :mod:`ast` and only the nodes above are interpreted, so any other name, attribute,
    subscript or call raises ``ValueError``.
    """
    if not isinstance(text, str):
        raise TypeError(f"expression must be a string or a callable, not {type(text).__name__}")
    known = set(names)
    placeholders: dict[str, str] = {}

    def placeholder(name: str) -> str:
        if name not in known:
            raise ValueError(f"unknown parameter {name!r} in {text!r}")
        key = f"_p{len(placeholders)}_"
        placeholders[key] = name
        return key

    body = _QUOTED.sub(lambda m: placeholder(m.group(1)), text)

    def identifier(match: re.Match) -> str:
        word = match.group(0)
        if word in placeholders or (word in _FUNCTIONS and word not in known):
            return word
        return placeholder(word)

    body = _IDENTIFIER.sub(identifier, body)
    try:
        tree = ast.parse(body.strip(), mode="eval")
    except SyntaxError as error:
        raise ValueError(f"cannot parse expression {text!r}: {error.msg}") from None

    def build(node) -> Callable:
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, int | float)
            and not isinstance(node.value, bool)
        ):
            value = float(node.value)
            return lambda p: value
        if isinstance(node, ast.Name) and node.id in placeholders:
            name = placeholders[node.id]
            return lambda p: p[name]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            op, left, right = _BINARY[type(node.op)], build(node.left), build(node.right)
            return lambda p: op(left(p), right(p))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            sign, operand = _UNARY[type(node.op)], build(node.operand)
            return lambda p: sign(operand(p))
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _FUNCTIONS
            and len(node.args) == 1
            and not node.keywords
        ):
            fn, argument = _FUNCTIONS[node.func.id], build(node.args[0])
            return lambda p: fn(argument(p))
        raise ValueError(
            f"expression {text!r}: {ast.dump(node)[:60]} is not allowed "
            "(use numbers, parameter names, + - * / **, exp, log, sqrt, abs)"
        )

    return build(tree.body)


def _as_function(expression, names) -> Callable:
    return expression if callable(expression) else parse_expression(expression, names)


def _label(expression) -> str:
    return (
        expression
        if isinstance(expression, str)
        else getattr(expression, "__name__", repr(expression))
    )


def delta_method(results: Results, expression, robust: bool = True) -> pd.DataFrame:
    """Value and delta-method standard error of functions of the estimated parameters.

    For ``g(theta)`` with ``theta`` the free reported parameters (fixed ones enter as
    constants) and ``V`` their covariance (robust sandwich by default, else classical),

        se(g) = sqrt( grad g(theta)' V grad g(theta) ),

    with the gradient by JAX autodiff.  ``t = g / se`` and ``p`` its two-sided normal
    p-value, as in the parameter table.

    Args:
        results: estimation results.
        expression: a callable taking a dict ``name -> jnp scalar`` (every parameter)
            and returning a scalar; or a string such as
            ``"beta_health_label / beta_price"`` (see :func:`parse_expression`; parsed,
            never ``eval``-ed); or a mapping ``label -> expression`` / a list of them
            for several rows.
        robust: use ``results.robust_covariance`` (default) or ``results.covariance``.

    Returns:
        DataFrame indexed by expression with columns ``estimate, se, t, p``;
        ``.attrs["covariance"]`` holds the covariance of the expressions
        (``J V J'``) and ``.attrs["robust"]`` the flag.
    """
    if isinstance(expression, Mapping):
        labels, expressions = list(expression), list(expression.values())
    elif isinstance(expression, str) or callable(expression):
        labels, expressions = [_label(expression)], [expression]
    else:
        expressions = list(expression)
        labels = [_label(e) for e in expressions]
    names = list(results.table.index)
    everything = list(results.estimates)
    functions = [_as_function(e, everything) for e in expressions]
    constants = {k: jnp.asarray(v, dtype=float) for k, v in results.estimates.items()}
    x0 = jnp.asarray(results.table["estimate"].to_numpy(dtype=float))

    @jax.jit
    def g(x):
        params = {**constants, **dict(zip(names, x, strict=True))}
        return jnp.stack([jnp.asarray(f(params), dtype=float).reshape(()) for f in functions])

    values = np.asarray(g(x0))
    jacobian = np.asarray(jax.jacobian(g)(x0))
    cov = results.robust_covariance if robust else results.covariance
    cov = cov.loc[names, names].to_numpy(dtype=float)
    covariance = jacobian @ cov @ jacobian.T
    se = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = values / se
    table = pd.DataFrame(
        {"estimate": values, "se": se, "t": t, "p": 2 * norm.sf(np.abs(t))},
        index=pd.Index(labels, name="expression"),
    )
    table.attrs["covariance"] = pd.DataFrame(covariance, index=labels, columns=labels)
    table.attrs["robust"] = robust
    return table


def wtp(
    results: Results, numerator, denominator: str = "beta_price", robust: bool = True
) -> pd.DataFrame:
    """Willingness to pay ``WTP_k = -beta_k / beta_cost`` with delta-method SEs.

    The sign convention is the economic one: with a negative cost coefficient a liked
    attribute has a positive WTP, in the cost column's units.  (For the plain ratio use
    :func:`delta_method` with ``"beta_k / beta_cost"``.)  With ``a = beta_k``,
    ``b = beta_cost``, the gradient is ``(-1/b, a/b^2)``, so
    ``var = v_aa / b^2 - 2 a v_ab / b^3 + a^2 v_bb / b^4``.

    Args:
        numerator: a parameter name or a list of them (one row each).
        denominator: the cost coefficient.
    """
    numerators = [numerator] if isinstance(numerator, str) else list(numerator)
    for name in [*numerators, denominator]:
        if name not in results.estimates:
            raise ValueError(f"unknown parameter {name!r}")
    return delta_method(
        results,
        {name: (lambda p, a=name: -p[a] / p[denominator]) for name in numerators},
        robust=robust,
    )
