"""Draws objects as data and back: ``{"repr", "class", "fields"}`` or their repr.

``Results.draws`` holds ``repr(draws)``, e.g. ``"Halton(n_draws=500, seed=0,
scramble=True, burn_in=None)"``; :func:`draws_from_repr` rebuilds the object from it
without ``eval``.  Results files also store :func:`draws_to_dict` of the draws.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Mapping

from .draws import Draws
from .jsonvalues import plain

__all__ = ["draws_from_dict", "draws_from_repr", "draws_to_dict"]


def _draws_classes() -> dict[str, type]:
    """Every concrete :class:`Draws` subclass imported so far, by class name."""
    found, stack = {}, [Draws]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            stack.append(sub)
            if not getattr(sub, "__abstractmethods__", None):
                found.setdefault(sub.__name__, sub)
    return found


def draws_to_dict(draws: Draws) -> dict:
    """``{"repr", "class", "fields"}`` of a draws object (``fields``: its constructor
    arguments)."""
    return {"repr": repr(draws), "class": type(draws).__name__,
            "fields": {f.name: plain(getattr(draws, f.name))
                       for f in dataclasses.fields(draws) if f.init}}


def draws_from_dict(data: Mapping) -> Draws:
    """The draws object of :func:`draws_to_dict`."""
    classes = _draws_classes()
    if not isinstance(data.get("class"), str) or data["class"] not in classes:
        raise ValueError(f"unknown draws class {data.get('class')!r}; known: {sorted(classes)}")
    return classes[data["class"]](**data["fields"])


def draws_from_repr(text: str) -> Draws:
    """Recreate a draws object from its repr (as stored in ``Results.draws``), e.g.
    ``"Halton(n_draws=500, seed=0, scramble=True, burn_in=None)"``.

    The text is parsed with :mod:`ast`: only a call of a :class:`Draws` subclass with
    literal keyword arguments is accepted (nothing is ``eval``-ed); derived fields
    (``init=False``) are dropped and the rebuilt object must have the same repr.
    """
    classes = _draws_classes()
    failure = ValueError(f"cannot recreate draws from {text!r}: pass draws= explicitly")
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        raise failure from None
    if (not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name)
            or node.func.id not in classes or node.args):
        raise failure
    cls = classes[node.func.id]
    init = {f.name for f in dataclasses.fields(cls) if f.init}
    try:
        fields = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords
                  if kw.arg in init}
        draws = cls(**fields)
    except (ValueError, TypeError):
        raise failure from None
    if repr(draws) != text.strip():
        raise failure
    return draws
