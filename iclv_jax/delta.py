"""Functions of the estimated parameters: an expression parser and the delta method.

For ``g(theta)`` with ``theta`` the free reported parameters and ``V`` their
covariance, the delta method gives ``se(g) = sqrt(grad g' V grad g)``, the gradient by
JAX autodiff; :func:`wtp` is the ratio ``-beta_k / beta_cost`` in this frame.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy.stats import norm

from .expressions import Expression, parse
from .expressions.evaluate import evaluate, leaf_name
from .expressions.nodes import Beta, Text
from .expressions.resolve import leaves, mentions, resolve
from .results import Results

__all__ = ["delta_method", "parse_expression", "wtp"]


def parse_expression(text: str, names: Sequence[str]) -> Callable[[Mapping], jnp.ndarray]:
    """Compile an expression of parameter names into a function of a dict of values.

    The grammar is that of utility expressions (:func:`iclv_jax.expressions.parse`):
    numbers, names, ``+ - * / **``, unary ``-``, parentheses, comparisons and the
    functions ``exp, log, sqrt, abs, min, max, where, ...``; a name that is a Python
    keyword (``lambda``) is a name, and one that is no identifier may be quoted with
    backticks: ``-`beta x` / beta_price``.  Nothing is ``eval``-ed.  Every name must be
    a parameter in ``names``; text constants, attributes, subscripts or unknown calls
    raise ``ValueError``.
    """
    if not isinstance(text, str):
        raise TypeError(f"expression must be a string or a callable, not {type(text).__name__}")
    expression = resolve(parse(text), None, None, f"expression {text!r}")
    known = set(names)
    unknown = [name for name in mentions(expression, Beta) if name not in known]
    if unknown:
        raise ValueError(f"unknown parameter {unknown[0]!r} in {text!r}")
    if any(isinstance(leaf, Text) for leaf in leaves(expression)):
        raise ValueError(f"expression {text!r}: text constants have no value here")
    return partial(_value, expression)


def _value(expression: Expression, values: Mapping) -> jnp.ndarray:
    """The expression at parameter ``values`` (by name)."""
    return evaluate(expression, lambda leaf: values[leaf_name(leaf)], jnp)


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
