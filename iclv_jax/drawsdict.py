"""Draws objects as data and back: the record ``{"repr", "class", "fields"}``.

``Results.draws`` holds :func:`draws_to_dict` of the estimation's draws, e.g.
``{"repr": "Halton(n_draws=500, seed=0, scramble=True, burn_in=None)", "class":
"Halton", "fields": {"n_draws": 500, "seed": 0, "scramble": True, "burn_in": None}}``
(``fields``: the constructor arguments), and :func:`draws_from_dict` rebuilds the
object from it (a record whose ``"class"`` and ``"fields"`` are null names draws
that could not be rebuilt: only their repr is known).  ``Results.draws`` of older
versions held only the repr; :func:`draws_from_repr` rebuilds the object from that
without ``eval``.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Mapping
from typing import Any

from .draws import Draws
from .jsonvalues import plain

__all__ = ["check_draws_record", "draws_from_dict", "draws_from_repr", "draws_to_dict"]


def _draws_classes() -> dict[str, type[Draws]]:
    """Every concrete :class:`Draws` subclass imported so far, by class name."""
    found: dict[str, type[Draws]] = {}
    stack = Draws.__subclasses__()
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if not getattr(cls, "__abstractmethods__", None):
            found.setdefault(cls.__name__, cls)
    return found


def draws_to_dict(draws: Draws) -> dict[str, Any]:
    """``{"repr", "class", "fields"}`` of a draws object (``fields``: its constructor
    arguments, plain JSON values)."""
    return {
        "repr": repr(draws),
        "class": type(draws).__name__,
        "fields": {
            f.name: plain(getattr(draws, f.name)) for f in dataclasses.fields(draws) if f.init
        },
    }


def draws_from_dict(data: Mapping) -> Draws:
    """The draws object of :func:`draws_to_dict` (``ValueError`` for a record whose
    class is unknown or null: draws that cannot be rebuilt, to pass explicitly)."""
    classes = _draws_classes()
    if not isinstance(data.get("class"), str) or data["class"] not in classes:
        raise ValueError(
            f"cannot recreate draws {data.get('repr')!r}: unknown draws class "
            f"{data.get('class')!r} (known: {sorted(classes)}); pass draws= "
            "explicitly"
        )
    return classes[data["class"]](**data["fields"])


def check_draws_record(record: object) -> dict[str, Any]:
    """``record`` as a draws record, or ``ValueError`` naming what is wrong: a mapping
    with exactly ``repr`` (a string), ``class`` (a string or null) and ``fields`` (a
    mapping with string keys, or null with ``class``)."""
    if not isinstance(record, Mapping) or set(record) != {"repr", "class", "fields"}:
        raise ValueError(f"a draws record has the keys repr, class and fields, not {record!r}")
    if not isinstance(record["repr"], str):
        raise ValueError(f"draws record: repr must be a string, not {record['repr']!r}")
    if record["class"] is None and record["fields"] is None:
        return dict(record)
    if (
        not isinstance(record["class"], str)
        or not isinstance(record["fields"], Mapping)
        or not all(isinstance(k, str) for k in record["fields"])
    ):
        raise ValueError(
            f"draws record: class must be a string and fields a mapping by "
            f"name (or both null), not {record['class']!r}, "
            f"{record['fields']!r}"
        )
    return {"repr": record["repr"], "class": record["class"], "fields": dict(record["fields"])}


def draws_from_repr(text: str) -> Draws:
    """Recreate a draws object from its repr (as older ``Results.draws`` held it), e.g.
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
    if (
        not isinstance(node, ast.Call)
        or not isinstance(node.func, ast.Name)
        or node.func.id not in classes
        or node.args
    ):
        raise failure
    cls = classes[node.func.id]
    init = {f.name for f in dataclasses.fields(cls) if f.init}
    try:
        fields = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords if kw.arg in init}
        draws = cls(**fields)
    except (ValueError, TypeError):
        raise failure from None
    if repr(draws) != text.strip():
        raise failure
    return draws
