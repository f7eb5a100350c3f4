"""Utility expressions as values: a tree of frozen nodes over parameters, data columns
and latent variables, built by the parser (:func:`~iclv_jax.expressions.parse`) or by
operators on :class:`Beta`, :class:`Var` and :class:`Latent`.

``str(expression)`` writes it back in the parser's syntax (with the parentheses its
precedence needs), so ``parse(str(e)) == e``.  Nodes compare by value (``==`` is
equality of trees, not a comparison expression: write ``a.eq(b)`` or ``"a == b"``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..errors import SpecificationError

__all__ = [
    "Beta",
    "Binary",
    "Call",
    "Compare",
    "Expression",
    "Latent",
    "Leaf",
    "Logical",
    "Name",
    "Number",
    "Text",
    "Unary",
    "Var",
    "as_expression",
]

# binding power of each operator (higher binds tighter), as in Python
PRECEDENCE = {"or": 1, "and": 2, "not": 3, "compare": 4, "+": 5, "-": 5, "*": 6, "/": 6}
PRECEDENCE.update({"neg": 7, "**": 8, "atom": 9})


class Expression:
    """A node of a utility expression; arithmetic operators build larger ones."""

    @property
    def precedence(self) -> int:
        """How tightly the node binds when written (:data:`PRECEDENCE`)."""
        return PRECEDENCE["atom"]

    def __add__(self, other):
        return Binary("+", self, as_expression(other))

    def __radd__(self, other):
        return Binary("+", as_expression(other), self)

    def __sub__(self, other):
        return Binary("-", self, as_expression(other))

    def __rsub__(self, other):
        return Binary("-", as_expression(other), self)

    def __mul__(self, other):
        return Binary("*", self, as_expression(other))

    def __rmul__(self, other):
        return Binary("*", as_expression(other), self)

    def __truediv__(self, other):
        return Binary("/", self, as_expression(other))

    def __rtruediv__(self, other):
        return Binary("/", as_expression(other), self)

    def __pow__(self, other):
        return Binary("**", self, as_expression(other))

    def __rpow__(self, other):
        return Binary("**", as_expression(other), self)

    def __neg__(self):
        return Unary("-", self)

    def __lt__(self, other):
        return Compare("<", self, as_expression(other))

    def __le__(self, other):
        return Compare("<=", self, as_expression(other))

    def __gt__(self, other):
        return Compare(">", self, as_expression(other))

    def __ge__(self, other):
        return Compare(">=", self, as_expression(other))

    def eq(self, other) -> Compare:
        """``self == other`` as an expression (1 where equal, else 0)."""
        return Compare("==", self, as_expression(other))

    def ne(self, other) -> Compare:
        """``self != other`` as an expression."""
        return Compare("!=", self, as_expression(other))

    def children(self) -> tuple[Expression, ...]:
        return ()


def as_expression(value) -> Expression:
    """``value`` as a node: a node stays, a number becomes :class:`Number`, a string
    :class:`Text` (a text constant, compared with text columns)."""
    if isinstance(value, Expression):
        return value
    if isinstance(value, bool):
        return Number(float(value))
    if isinstance(value, int | float):
        return Number(float(value))
    if isinstance(value, str):
        return Text(value)
    raise SpecificationError(f"cannot use {value!r} ({type(value).__name__}) in a utility")


def _wrapped(node: Expression, above: int, right: bool = False) -> str:
    """``node`` written inside an operator of binding power ``above`` (right operands
    of non-associative operators need parentheses at equal power)."""
    text = str(node)
    if node.precedence < above or (right and node.precedence == above):
        return f"({text})"
    return text


@dataclass(frozen=True, eq=True)
class Number(Expression):
    """A numeric constant."""

    value: float

    def __post_init__(self):
        if not math.isfinite(self.value):
            raise SpecificationError(f"constants must be finite numbers, not {self.value}")

    @property
    def precedence(self) -> int:
        return PRECEDENCE["neg" if self.value < 0 else "atom"]

    def __str__(self) -> str:
        return repr(float(self.value)).removesuffix(".0")


@dataclass(frozen=True, eq=True)
class Text(Expression):
    """A text constant (only as an operand of ``==``/``!=`` with a text column)."""

    value: str

    def __str__(self) -> str:
        return repr(self.value)


_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")


@dataclass(frozen=True, eq=True)
class Leaf(Expression):
    """A named leaf; written as its name, in backticks unless an identifier."""

    name: str

    def __str__(self) -> str:
        return self.name if _IDENTIFIER.fullmatch(self.name) else f"`{self.name}`"


@dataclass(frozen=True, eq=True)
class Name(Leaf):
    """A name not yet resolved: a data column, else an LV, else a parameter
    (:func:`~iclv_jax.expressions.resolve.resolve`)."""


@dataclass(frozen=True, eq=True)
class Beta(Leaf):
    """A parameter, estimated (or fixed by name)."""


@dataclass(frozen=True, eq=True)
class Var(Leaf):
    """A data column (or a derived variable)."""


@dataclass(frozen=True, eq=True)
class Latent(Leaf):
    """A latent variable, at the person's draw."""


@dataclass(frozen=True, eq=True)
class Unary(Expression):
    """``-operand`` or ``not operand``."""

    op: str
    operand: Expression

    @property
    def precedence(self) -> int:
        return PRECEDENCE["neg" if self.op == "-" else "not"]

    def __str__(self) -> str:
        space = " " if self.op == "not" else ""
        return f"{self.op}{space}{_wrapped(self.operand, self.precedence)}"

    def children(self) -> tuple[Expression, ...]:
        return (self.operand,)


@dataclass(frozen=True, eq=True)
class Binary(Expression):
    """``left op right`` for ``op`` in ``+ - * / **``."""

    op: str
    left: Expression
    right: Expression

    @property
    def precedence(self) -> int:
        return PRECEDENCE[self.op]

    def __str__(self) -> str:
        power = self.op == "**"  # right-associative, binds tighter than unary minus
        left = _wrapped(self.left, self.precedence + power)
        right = _wrapped(self.right, self.precedence, right=not power)
        return f"{left} {self.op} {right}"

    def children(self) -> tuple[Expression, ...]:
        return (self.left, self.right)


@dataclass(frozen=True, eq=True)
class Compare(Expression):
    """``left op right`` for ``op`` in ``== != < <= > >=``: 1 where true, else 0."""

    op: str
    left: Expression
    right: Expression

    @property
    def precedence(self) -> int:
        return PRECEDENCE["compare"]

    def __str__(self) -> str:
        left = _wrapped(self.left, self.precedence + 1)
        right = _wrapped(self.right, self.precedence + 1)
        return f"{left} {self.op} {right}"

    def children(self) -> tuple[Expression, ...]:
        return (self.left, self.right)


@dataclass(frozen=True, eq=True)
class Logical(Expression):
    """``left and right``, ``left or right`` on 0/1 values."""

    op: str
    left: Expression
    right: Expression

    @property
    def precedence(self) -> int:
        return PRECEDENCE[self.op]

    def __str__(self) -> str:
        left = _wrapped(self.left, self.precedence)
        right = _wrapped(self.right, self.precedence, right=True)
        return f"{left} {self.op} {right}"

    def children(self) -> tuple[Expression, ...]:
        return (self.left, self.right)


@dataclass(frozen=True, eq=True)
class Call(Expression):
    """``function(args...)`` of a function in
    :data:`~iclv_jax.expressions.functions.FUNCTIONS`."""

    function: str
    args: tuple[Expression, ...]

    def __str__(self) -> str:
        return f"{self.function}({', '.join(str(a) for a in self.args)})"

    def children(self) -> tuple[Expression, ...]:
        return self.args
