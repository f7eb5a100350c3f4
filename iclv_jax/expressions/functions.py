"""The functions a utility expression may call, each written once for numpy (data,
evaluated on the host) and JAX (draw by draw): ``xp`` is ``numpy`` or ``jax.numpy``."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

__all__ = ["FUNCTIONS", "Function"]


class Function(NamedTuple):
    """A callable of an expression: its arity bounds and ``apply(xp, *values)``."""

    min_args: int
    max_args: int | None  # None: any number from min_args
    apply: Callable
    doc: str


def _safe_log(xp, x):
    """``log x`` where ``x > 0``; ``nan`` elsewhere (the data check then names it)."""
    return xp.log(xp.where(x > 0, x, xp.nan))


def _boxcox(xp, x, lam):
    """Box-Cox ``(x^lam - 1) / lam``, ``log x`` at ``lam = 0``; near 0 the series
    ``log x + lam log(x)^2 / 2`` (both branches finite, so gradients are too)."""
    log_x = _safe_log(xp, x)
    small = xp.abs(lam) < 1e-6
    safe_lam = xp.where(small, 1.0, lam)
    exact = (xp.exp(safe_lam * log_x) - 1.0) / safe_lam
    return xp.where(small, log_x + lam * log_x**2 / 2.0, exact)


def _segment(xp, x, lower, upper):
    """The part of ``x`` within ``[lower, upper]``: ``min(max(x - lower, 0), upper -
    lower)``.  ``b1 segment(x, 0, a) + b2 segment(x, a, inf)`` is linear in ``x`` with
    slope ``b1`` below ``a`` and ``b2`` above (a piecewise-linear effect)."""
    return xp.minimum(xp.maximum(x - lower, 0.0), upper - lower)


def _fold(step):
    def apply(xp, first, *rest):
        out = first
        for value in rest:
            out = step(xp, out, value)
        return out

    return apply


FUNCTIONS: dict[str, Function] = {
    "exp": Function(1, 1, lambda xp, x: xp.exp(x), "exp(x)"),
    "log": Function(1, 1, _safe_log, "log(x), x > 0"),
    "sqrt": Function(1, 1, lambda xp, x: xp.sqrt(x), "sqrt(x)"),
    "abs": Function(1, 1, lambda xp, x: xp.abs(x), "abs(x)"),
    "where": Function(
        3, 3, lambda xp, c, a, b: xp.where(c != 0, a, b), "where(condition, if_true, if_false)"
    ),
    "min": Function(2, None, _fold(lambda xp, a, b: xp.minimum(a, b)), "min(a, b, ...)"),
    "max": Function(2, None, _fold(lambda xp, a, b: xp.maximum(a, b)), "max(a, b, ...)"),
    "boxcox": Function(2, 2, _boxcox, "boxcox(x, lambda) = (x^lambda - 1) / lambda"),
    "segment": Function(
        3, 3, _segment, "segment(x, lower, upper) = min(max(x - lower, 0), upper - lower)"
    ),
}
