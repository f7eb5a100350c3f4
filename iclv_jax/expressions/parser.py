"""A safe parser of utility expressions: Python's own tokenizer and grammar
(:func:`ast.parse` in ``eval`` mode), then a whitelist of node kinds turned into
:mod:`~iclv_jax.expressions.nodes`.  Nothing is ever evaluated or compiled: a name is
a name, calls only name :data:`~iclv_jax.expressions.functions.FUNCTIONS`, and
attribute access, subscripts, lambdas, comprehensions and dunder names are refused.
Text longer than :data:`MAX_LENGTH` or nested deeper than :data:`MAX_DEPTH` is refused
before or while parsing, so a crafted file cannot exhaust memory or the stack.
"""

from __future__ import annotations

import ast
import math

from ..errors import SpecificationError
from .functions import FUNCTIONS
from .nodes import Binary, Call, Compare, Expression, Logical, Name, Number, Text, Unary

__all__ = ["MAX_DEPTH", "MAX_LENGTH", "parse"]

MAX_LENGTH = 20_000  # characters of one expression
MAX_DEPTH = 200  # nesting of operators (a sum of n terms nests n deep) and brackets

_BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_COMPARE = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_LOGICAL = {ast.And: "and", ast.Or: "or", ast.BitAnd: "and", ast.BitOr: "or"}


def _error(text: str, node: ast.AST | None, message: str) -> SpecificationError:
    """The error quoting the expression with a caret under ``node``."""
    column = getattr(node, "col_offset", None)
    if column is None:
        return SpecificationError(f"utility expression {text!r}: {message}")
    return SpecificationError(
        f"utility expression, column {column + 1}: {message}\n  {text}\n  {' ' * column}^"
    )


def _bracket_depth(text: str) -> int:
    """The deepest nesting of brackets in ``text``."""
    depth = deepest = 0
    for char in text:
        depth += char in "([{"
        depth -= char in ")]}"
        deepest = max(deepest, depth)
    return deepest


def parse(text: str) -> Expression:
    """The expression written in ``text``; raises :class:`SpecificationError` with the
    position and the offending part for anything outside the grammar: numbers, strings
    (compared with text columns), names, ``+ - * / **``, unary ``-``, comparisons
    ``== != < <= > >=`` (not chained), ``and``/``or``/``not`` (also ``&``/``|``) and
    calls of :data:`FUNCTIONS`."""
    if not isinstance(text, str):
        raise SpecificationError(f"a utility expression must be a string, not {text!r}")
    if len(text) > MAX_LENGTH:
        raise SpecificationError(
            f"utility expression of {len(text):,} characters is longer than the "
            f"{MAX_LENGTH:,} allowed (starts {text[:40]!r})"
        )
    if _bracket_depth(text) > MAX_DEPTH:
        raise SpecificationError(
            f"utility expression nests brackets deeper than {MAX_DEPTH} (starts {text[:40]!r})"
        )
    source = text.strip()
    if not source:
        raise SpecificationError("a utility expression is empty")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as error:
        offset = (error.offset or 1) - 1
        raise SpecificationError(
            f"utility expression, column {offset + 1}: {error.msg}\n  {source}\n  {' ' * offset}^"
        ) from None
    except (RecursionError, MemoryError, ValueError):
        raise SpecificationError(
            f"utility expression cannot be parsed (too deep or invalid): starts {source[:40]!r}"
        ) from None
    return _Converter(source).convert(tree.body, 0)


class _Converter:
    """Turns a whitelisted :mod:`ast` tree into expression nodes."""

    def __init__(self, text: str):
        self.text = text

    def convert(self, node: ast.AST, depth: int) -> Expression:
        if depth > MAX_DEPTH:
            raise _error(self.text, node, f"nested deeper than {MAX_DEPTH}")
        down = depth + 1
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return Binary(
                _BINARY[type(node.op)],
                self.convert(node.left, down),
                self.convert(node.right, down),
            )
        if isinstance(node, ast.BinOp) and type(node.op) in _LOGICAL:
            return Logical(
                _LOGICAL[type(node.op)],
                self.convert(node.left, down),
                self.convert(node.right, down),
            )
        if isinstance(node, ast.UnaryOp):
            return self.unary(node, down)
        if isinstance(node, ast.BoolOp):
            values = [self.convert(v, down) for v in node.values]
            op = _LOGICAL[type(node.op)]
            out = values[0]
            for value in values[1:]:
                out = Logical(op, out, value)
            return out
        if isinstance(node, ast.Compare):
            return self.compare(node, down)
        if isinstance(node, ast.Call):
            return self.call(node, down)
        raise _error(self.text, node, f"{type(node).__name__.lower()} is not allowed here")

    def constant(self, node: ast.Constant) -> Expression:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise _error(self.text, node, f"constant {value!r} is not a number or a string")
        if isinstance(value, str):
            return Text(value)
        if isinstance(value, int) and abs(value) > 2**53:
            raise _error(self.text, node, "integer constant too large")
        if not math.isfinite(float(value)):
            raise _error(self.text, node, f"constant {value!r} is not finite")
        return Number(float(value))

    def name(self, node: ast.Name) -> Expression:
        if node.id.startswith("__"):
            raise _error(self.text, node, f"name {node.id!r} is not allowed")
        if node.id in FUNCTIONS:
            raise _error(self.text, node, f"{node.id!r} is a function: call it, {node.id}(...)")
        return Name(node.id)

    def unary(self, node: ast.UnaryOp, down: int) -> Expression:
        operand = self.convert(node.operand, down)
        if isinstance(node.op, ast.USub):
            return Number(-operand.value) if isinstance(operand, Number) else Unary("-", operand)
        if isinstance(node.op, ast.UAdd):
            return operand
        if isinstance(node.op, ast.Not):
            return Unary("not", operand)
        raise _error(self.text, node, f"operator {type(node.op).__name__} is not allowed")

    def compare(self, node: ast.Compare, down: int) -> Expression:
        if len(node.ops) != 1:
            raise _error(self.text, node, "chained comparisons: write (a < b) and (b < c)")
        op = _COMPARE.get(type(node.ops[0]))
        if op is None:
            raise _error(self.text, node, f"comparison {type(node.ops[0]).__name__} is not allowed")
        return Compare(op, self.convert(node.left, down), self.convert(node.comparators[0], down))

    def call(self, node: ast.Call, down: int) -> Expression:
        if not isinstance(node.func, ast.Name):
            raise _error(self.text, node, "only named functions can be called")
        name = node.func.id
        function = FUNCTIONS.get(name)
        if function is None:
            raise _error(
                self.text, node, f"unknown function {name!r}; known: {', '.join(sorted(FUNCTIONS))}"
            )
        if node.keywords:
            raise _error(self.text, node, f"{name}() takes no keyword arguments")
        n = len(node.args)
        if n < function.min_args or (function.max_args is not None and n > function.max_args):
            raise _error(self.text, node, f"{name}() takes {function.doc}, given {n} arguments")
        return Call(name, tuple(self.convert(arg, down) for arg in node.args))
