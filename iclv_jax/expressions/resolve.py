"""Names in an expression resolved against the data and the model: a data column (or
derived variable), else a latent variable, else a parameter."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Iterator

from ..errors import SpecificationError
from .nodes import (
    Beta,
    Binary,
    Call,
    Compare,
    Expression,
    Latent,
    Leaf,
    Logical,
    Name,
    Unary,
    Var,
)

__all__ = ["leaves", "map_children", "mentions", "position_of", "rebuild", "resolve"]


def map_children(expr: Expression, fn: Callable[[Expression], Expression]) -> Expression:
    """``expr`` with each child ``c`` replaced by ``fn(c)`` (a leaf stays)."""
    if isinstance(expr, Unary):
        return Unary(expr.op, fn(expr.operand))
    if isinstance(expr, Binary | Compare | Logical):
        return type(expr)(expr.op, fn(expr.left), fn(expr.right))
    if isinstance(expr, Call):
        return Call(expr.function, tuple(fn(a) for a in expr.args))
    return expr


def rebuild(expr: Expression, leaf: Callable[[Expression], Expression]) -> Expression:
    """``expr`` with every leaf (a node without children) replaced by ``leaf(node)``."""
    if not expr.children():
        return leaf(expr)
    return map_children(expr, lambda child: rebuild(child, leaf))


def leaves(expr: Expression) -> Iterator[Expression]:
    """Every leaf of ``expr``, left to right."""
    children = expr.children()
    if not children:
        yield expr
    for child in children:
        yield from leaves(child)


def mentions(expr: Expression, kind: type) -> list[str]:
    """The names of the leaves of type ``kind`` (:class:`Beta`, :class:`Var`,
    :class:`Latent`, :class:`Name`), in order of first appearance."""
    named = (leaf for leaf in leaves(expr) if isinstance(leaf, Leaf) and isinstance(leaf, kind))
    return list(dict.fromkeys(leaf.name for leaf in named))


def position_of(text: str, name: str) -> str:
    """``" (column k)"`` of the first whole-word ``name`` in ``text``, or ``""``."""
    found = re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", text)
    return f" (column {found.start() + 1})" if found else ""


def resolve(
    expr: Expression, columns: Collection[str] | None, lvs: Collection[str] | None, where: str
) -> Expression:
    """Every :class:`Name` made a :class:`Var` (a column), a :class:`Latent` (an LV) or
    a :class:`Beta` (anything else); explicit leaves are checked.  ``columns=None``: the
    data are not known yet (names that are no LV become parameters, explicit
    :class:`Var` s are taken on trust); ``lvs=None``: the LVs are not known (names
    are no LV, explicit :class:`Latent` s are taken on trust).  A name that is both a
    column and an LV, a :class:`Var` that is no column or a :class:`Latent` that is no
    LV raises :class:`SpecificationError` naming ``where`` (e.g. the utility)."""

    known = columns if columns is not None else ()
    latent = lvs if lvs is not None else ()

    def leaf(node: Expression) -> Expression:
        if isinstance(node, Name):
            if node.name in known and node.name in latent:
                raise SpecificationError(
                    f"{where}: {node.name!r} is both a data column and a latent variable; "
                    "rename one of them"
                )
            if node.name in known:
                return Var(node.name)
            return Latent(node.name) if node.name in latent else Beta(node.name)
        if isinstance(node, Var) and columns is not None and node.name not in columns:
            close = difflib.get_close_matches(node.name, list(columns), n=3)
            hint = f"; did you mean {close}?" if close else ""
            raise SpecificationError(f"{where}: column {node.name!r} is not in the data{hint}")
        if isinstance(node, Latent) and lvs is not None and node.name not in lvs:
            raise SpecificationError(
                f"{where}: {node.name!r} is not a latent variable of the model ({sorted(lvs)})"
            )
        return node

    return rebuild(expr, leaf)
