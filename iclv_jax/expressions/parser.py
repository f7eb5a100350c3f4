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
import re

from ..errors import SpecificationError
from .functions import FUNCTIONS
from .nodes import Binary, Call, Compare, Expression, Logical, Name, Number, Text, Unary

__all__ = ["MAX_DEPTH", "MAX_LENGTH", "parse"]

MAX_LENGTH = 20_000  # characters of one expression
MAX_DEPTH = 200  # nesting of operators (a sum of n terms nests n deep) and brackets

_BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_COMPARE = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_LOGICAL = {ast.And: "and", ast.Or: "or", ast.BitAnd: "and", ast.BitOr: "or"}


_TOKEN = re.compile(
    r"""(?P<text>'[^']*'|"[^"]*")|`(?P<quoted>[^`]+)`|(?<![\w.])(?P<name>[A-Za-z_]\w*)"""
)
_CALL = re.compile(r"\s*\(")  # what follows a function's name in a call
_OPERATOR_WORDS = {"and", "or", "not"}


class _Source:
    """The text with every name replaced by a placeholder ``_n<k>_`` before Python's
    parser sees it, so names that are Python keywords (``lambda``, ``in``) or quoted in
    backticks (`` `beta x` ``) are names; ``column(offset)`` maps a position in the
    replaced text back to the original."""

    def __init__(self, text: str):
        self.text = text
        self.names: dict[str, str] = {}
        # (start, end) in the body and (start, end) in the text of each replaced name
        self.spans: list[tuple[int, int, int, int]] = []
        pieces, position, length = [], 0, 0
        for match in _TOKEN.finditer(text):
            word = match.group("quoted") or match.group("name")
            follows_call = _CALL.match(text, match.end()) is not None
            if word is None or (match.group("name") and word in _OPERATOR_WORDS):
                continue
            if match.group("name") and word in FUNCTIONS and follows_call:
                continue
            key = f"_n{len(self.names)}_"
            self.names[key] = word
            piece = text[position : match.start()]
            start = length + len(piece)
            self.spans.append((start, start + len(key), match.start(), match.end()))
            pieces.append(piece + key)
            length = start + len(key)
            position = match.end()
        self.body = "".join(pieces) + text[position:]

    def column(self, offset: int) -> int:
        """The original position of position ``offset`` of the body."""
        column = offset
        for body_start, body_end, text_start, text_end in self.spans:
            if offset < body_start:
                break
            column = text_start if offset < body_end else offset - body_end + text_end
        return column

    def error(self, node: ast.AST | None, message: str) -> SpecificationError:
        """The error quoting the expression with a caret under ``node``."""
        offset = getattr(node, "col_offset", None)
        if offset is None:
            return SpecificationError(f"utility expression {self.text!r}: {message}")
        column = self.column(offset)
        return SpecificationError(
            f"utility expression, column {column + 1}: {message}\n  {self.text}\n  {' ' * column}^"
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
    (compared with text columns), names (any identifier, Python keywords included, or
    any text in backticks), ``+ - * / **``, unary ``-``, comparisons ``== != < <= > >=``
    (not chained), ``and``/``or``/``not`` (also ``&``/``|``) and calls of
    :data:`FUNCTIONS`."""
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
    source = _Source(text.strip())
    if not source.body:
        raise SpecificationError("a utility expression is empty")
    try:
        tree = ast.parse(source.body, mode="eval")
    except SyntaxError as error:
        column = source.column((error.offset or 1) - 1)
        raise SpecificationError(
            f"utility expression, column {column + 1}: {error.msg}\n  {source.text}\n"
            f"  {' ' * column}^"
        ) from None
    except (RecursionError, MemoryError, ValueError):
        raise SpecificationError(
            f"utility expression cannot be parsed (too deep or invalid): starts {text[:40]!r}"
        ) from None
    return _Converter(source).convert(tree.body, 0)


class _Converter:
    """Turns a whitelisted :mod:`ast` tree into expression nodes."""

    def __init__(self, source: _Source):
        self.source = source

    def convert(self, node: ast.AST, depth: int) -> Expression:
        if depth > MAX_DEPTH:
            raise self.source.error(node, f"nested deeper than {MAX_DEPTH}")
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
        raise self.source.error(node, f"{type(node).__name__.lower()} is not allowed here")

    def constant(self, node: ast.Constant) -> Expression:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise self.source.error(node, f"constant {value!r} is not a number or a string")
        if isinstance(value, str):
            return Text(value)
        if isinstance(value, int) and abs(value) > 2**53:
            raise self.source.error(node, "integer constant too large")
        if not math.isfinite(float(value)):
            raise self.source.error(node, f"constant {value!r} is not finite")
        return Number(float(value))

    def name(self, node: ast.Name) -> Expression:
        name = self.source.names.get(node.id, node.id)
        if name.startswith("__") or node.id not in self.source.names:
            raise self.source.error(node, f"name {name!r} is not allowed")
        return Name(name)

    def unary(self, node: ast.UnaryOp, down: int) -> Expression:
        operand = self.convert(node.operand, down)
        if isinstance(node.op, ast.USub):
            return Number(-operand.value) if isinstance(operand, Number) else Unary("-", operand)
        if isinstance(node.op, ast.UAdd):
            return operand
        if isinstance(node.op, ast.Not):
            return Unary("not", operand)
        raise self.source.error(node, f"operator {type(node.op).__name__} is not allowed")

    def compare(self, node: ast.Compare, down: int) -> Expression:
        if len(node.ops) != 1:
            raise self.source.error(node, "chained comparisons: write (a < b) and (b < c)")
        op = _COMPARE.get(type(node.ops[0]))
        if op is None:
            raise self.source.error(node, f"comparison {type(node.ops[0]).__name__} is not allowed")
        return Compare(op, self.convert(node.left, down), self.convert(node.comparators[0], down))

    def call(self, node: ast.Call, down: int) -> Expression:
        if not isinstance(node.func, ast.Name):
            raise self.source.error(node, "only named functions can be called")
        name = self.source.names.get(node.func.id, node.func.id)
        function = FUNCTIONS.get(name) if node.func.id not in self.source.names else None
        if function is None:
            raise self.source.error(
                node, f"unknown function {name!r}; known: {', '.join(sorted(FUNCTIONS))}"
            )
        if node.keywords:
            raise self.source.error(node, f"{name}() takes no keyword arguments")
        n = len(node.args)
        if n < function.min_args or (function.max_args is not None and n > function.max_args):
            raise self.source.error(node, f"{name}() takes {function.doc}, given {n} arguments")
        return Call(name, tuple(self.convert(arg, down) for arg in node.args))
