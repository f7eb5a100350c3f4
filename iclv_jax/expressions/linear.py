"""A resolved utility split into what the design matrix can hold and the rest.

``V = sum_p beta_p x_p + sum_l theta_l eta_l + rest(beta, x, eta)``: a term that is one
parameter times data (columns, constants and functions of them) is *linear*, ``x_p``
becomes a design column computed once; a term that is one parameter times one LV is an
*LV term* (``theta``); every other term is kept, summed, as the *rest*, evaluated draw
by draw.  The same parameter in several linear terms of one utility sums their data.
"""

from __future__ import annotations

from typing import NamedTuple

from .nodes import Beta, Binary, Expression, Latent, Name, Number, Unary
from .resolve import leaves

__all__ = ["Split", "additive_terms", "data_only", "split"]


class Split(NamedTuple):
    """``linear``: parameter -> its data (``None``: the constant 1); ``lvs``: LV ->
    parameter; ``rest``: the other terms (``None``: none)."""

    linear: dict[str, Expression | None]
    lvs: dict[str, str]
    rest: Expression | None


def data_only(expr: Expression) -> bool:
    """Whether ``expr`` involves no parameter, LV or unresolved name."""
    return not any(isinstance(leaf, Beta | Latent | Name) for leaf in leaves(expr))


def additive_terms(expr: Expression, sign: float = 1.0) -> list[tuple[float, Expression]]:
    """``expr = sum_k sign_k term_k``, flattening ``+``, ``-`` and unary minus."""
    if isinstance(expr, Binary) and expr.op in "+-":
        right_sign = sign if expr.op == "+" else -sign
        return additive_terms(expr.left, sign) + additive_terms(expr.right, right_sign)
    if isinstance(expr, Unary) and expr.op == "-":
        return additive_terms(expr.operand, -sign)
    return [(sign, expr)]


def _factors(expr: Expression, inverted: bool = False):
    """``expr = coefficient * prod(numerator) / prod(denominator)``, flattening ``*``,
    ``/`` and unary minus; numbers in the numerator join the coefficient."""
    if isinstance(expr, Binary) and expr.op in "*/":
        c1, n1, d1 = _factors(expr.left, inverted)
        c2, n2, d2 = _factors(expr.right, inverted != (expr.op == "/"))
        return c1 * c2, n1 + n2, d1 + d2
    if isinstance(expr, Unary) and expr.op == "-":
        c, n, d = _factors(expr.operand, inverted)
        return -c, n, d
    if isinstance(expr, Number) and not inverted:
        return expr.value, [], []
    return (1.0, [], [expr]) if inverted else (1.0, [expr], [])


def _product(coefficient: float, numerator: list[Expression], denominator: list[Expression]):
    """``coefficient * prod(numerator) / prod(denominator)`` (``None`` for exactly 1)."""
    out: Expression | None = None
    for factor in numerator:
        out = factor if out is None else out * factor
    if coefficient != 1.0:
        if out is None:
            out = Number(coefficient)
        elif coefficient == -1.0:
            out = Unary("-", out)
        else:
            out = Number(coefficient) * out
    for factor in denominator:
        out = (Number(1.0) if out is None else out) / factor
    return out


def _sum(a: Expression | None, b: Expression | None) -> Expression:
    return Binary("+", Number(1.0) if a is None else a, Number(1.0) if b is None else b)


def split(expr: Expression) -> Split:
    """Split a resolved utility into its linear, LV and remaining terms."""
    linear: dict[str, Expression | None] = {}
    lvs: dict[str, str] = {}
    rest: Expression | None = None
    for sign, term in additive_terms(expr):
        coefficient, numerator, denominator = _factors(term)
        coefficient *= sign
        betas = [f for f in numerator if isinstance(f, Beta)]
        latents = [f for f in numerator if isinstance(f, Latent)]
        others = [f for f in numerator if not isinstance(f, Beta | Latent)]
        data = all(data_only(f) for f in others + denominator)
        if len(betas) == 1 and not latents and data:
            name = betas[0].name
            column = _product(coefficient, others, denominator)
            linear[name] = _sum(linear[name], column) if name in linear else column
            continue
        plain_lv_term = not others and not denominator and coefficient == 1.0
        if len(betas) == 1 and len(latents) == 1 and plain_lv_term and latents[0].name not in lvs:
            lvs[latents[0].name] = betas[0].name
            continue
        signed = term if sign > 0 else Unary("-", term)
        rest = signed if rest is None else (rest + term if sign > 0 else rest - term)
    return Split(linear, lvs, rest)
