"""The schema of a model dict: keys and value types, checked before a model is built.

Each checker takes ``(value, where)`` and raises :class:`SpecificationError` naming
``where``, a path such as ``model, choice (multinomial_logit), alternatives,
alternative 0, code``; :func:`check_model_dict` applies the whole schema.
"""

from __future__ import annotations

import dataclasses
import reprlib
import typing
from collections.abc import Mapping, Sequence

import numpy as np

from .components import CHOICE_KINDS, ChoiceModel
from .errors import SpecificationError
from .expressions import Expression
from .utility import Utility

__all__ = ["check_model_dict"]

_SHORT = reprlib.Repr()  # reprs in errors: at most 6 items of a list, 100 characters
_SHORT.maxstring = _SHORT.maxother = 100


def _fail(where: str, expected: str, value) -> SpecificationError:
    """The error naming ``where``; long values are shortened (:data:`_SHORT`)."""
    return SpecificationError(
        f"{where}: expected {expected}, got {type(value).__name__} {_SHORT.repr(value)}"
    )


def _scalar(expected: str, test):
    def check(value, where):
        if not test(value):
            raise _fail(where, expected, value)

    return check


def _is_int(value) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


_STR = _scalar("a string", lambda v: isinstance(v, str))
_OPTIONAL_STR = _scalar("a string or null", lambda v: v is None or isinstance(v, str))
_INT = _scalar("an integer", _is_int)
_OPTIONAL_INT = _scalar("an integer or null", lambda v: v is None or _is_int(v))
_BOOL = _scalar("true or false", lambda v: isinstance(v, bool | np.bool_))
_NUMBER = _scalar("a number", lambda v: _is_int(v) or isinstance(v, float | np.floating))


def _list_of(item, label: str):
    def check(value, where):
        if not isinstance(value, list | tuple):
            raise _fail(where, "a list", value)
        for i, entry in enumerate(value):
            item(entry, f"{where}, {label} {i}")

    return check


def _map_of(item):
    def check(value, where):
        if not isinstance(value, Mapping):
            raise _fail(where, "a mapping", value)
        for key, entry in value.items():
            if not isinstance(key, str):
                raise _fail(f"{where}, key {key!r}", "a string key", key)
            item(entry, f"{where}, {key}")

    return check


def _either(first, second, expected: str):
    def check(value, where):
        try:
            first(value, where)
        except SpecificationError:
            try:
                second(value, where)
            except SpecificationError:
                raise _fail(where, expected, value) from None

    return check


def _record(fields: dict, required: frozenset = frozenset()):
    """A mapping with the keys of ``fields`` (checked by their checkers), ``required``
    among them; another key is refused."""

    def check(value, where):
        if not isinstance(value, Mapping):
            raise _fail(where, "a mapping", value)
        unknown = sorted(str(k) for k in set(value) - set(fields))
        if unknown:
            raise SpecificationError(f"{where}: unknown keys {unknown}; allowed {sorted(fields)}")
        missing = sorted(required - set(value))
        if missing:
            raise SpecificationError(f"{where}: missing keys {missing}")
        for key, entry in value.items():
            fields[key](entry, f"{where}, {key}")

    return check


_BOOL_OR_STR = _either(_BOOL, _STR, "true, false or a parameter name")
_NUMBER_OR_NULL = _scalar(
    "a number or null", lambda v: v is None or _is_int(v) or isinstance(v, float | np.floating)
)
_UTILITY = _record(
    {
        "attributes": _map_of(_STR),
        "constants": _map_of(_OPTIONAL_STR),
        "specific": _list_of(_STR, "entry"),
        "lvs_tuple": _BOOL,
        "random": _map_of(_STR),
        "terms": _map_of(_OPTIONAL_STR),
        "lvs": _either(
            _list_of(_STR, "entry"),
            _map_of(_STR),
            "a list of LV names or a mapping LV -> parameter name",
        ),
    }
)


def _utility_or_expression(value, where):
    """A utility: the text of an expression (parsed when the model is built), or a
    mapping checked key by key."""
    if not isinstance(value, str):
        _UTILITY(value, where)


def _checker_of(hint):
    """The checker of a declared field type: a utility, a sequence of records, or one
    of the scalar types a choice model declares."""
    if hint is Utility:
        return _UTILITY
    if hint == Utility | Expression | str:
        return _utility_or_expression
    if hint is ChoiceModel:  # a choice model inside another (latent classes)
        return _choice
    if hint == Mapping[str, ChoiceModel]:  # joint choice components: name -> model
        return _map_of(_choice)
    if typing.get_origin(hint) is Sequence:
        (item,) = typing.get_args(hint)
        if item is str:
            return _list_of(_STR, "name")
        return _list_of(_record_of(item), item.__name__.lower())
    if hint == Mapping[str, Sequence[str]]:  # e.g. nested-logit nests: name -> members
        return _map_of(_list_of(_STR, "entry"))
    scalars = {
        str: _STR,
        int: _INT,
        bool: _BOOL,
        str | None: _OPTIONAL_STR,
        bool | str: _BOOL_OR_STR,
    }
    return scalars[hint]


def _record_of(cls, extra: dict | None = None):
    """The record of a dataclass's declared fields (those without a default are
    required; fields typed ``None`` hold nothing to write)."""
    hints = typing.get_type_hints(cls)
    fields = [f for f in dataclasses.fields(cls) if hints[f.name] is not type(None)]
    required = frozenset(
        f.name
        for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    )
    return _record(
        {**(extra or {}), **{f.name: _checker_of(hints[f.name]) for f in fields}}, required
    )


def _choice(value, where):
    """A choice model: ``kind`` (a key of :data:`~iclv_jax.components.CHOICE_KINDS`)
    and the fields that kind declares."""
    if not isinstance(value, Mapping):
        raise _fail(where, "a mapping", value)
    kind = value.get("kind")
    if not isinstance(kind, str) or kind not in CHOICE_KINDS:
        raise SpecificationError(
            f"{where}: unknown kind {kind!r}; use one of {sorted(CHOICE_KINDS)}"
        )
    _record_of(CHOICE_KINDS[kind], {"kind": _STR})(value, f"{where} ({kind})")


_MODEL = _record(
    {
        "latent_variables": _list_of(
            _record(
                {
                    "name": _STR,
                    "covariates": _list_of(_STR, "entry"),
                    "predictors": _list_of(_STR, "entry"),
                    "reference": _OPTIONAL_STR,
                    "sign_anchor": _OPTIONAL_STR,
                    "intercept": _BOOL,
                    "reference_loading": _NUMBER,
                },
                frozenset({"name"}),
            ),
            "latent variable",
        ),
        "indicators": _list_of(
            _record(
                {
                    "name": _STR,
                    "lv": _STR,
                    "kind": _STR,
                    "levels": _OPTIONAL_INT,
                    "missing_codes": _list_of(
                        _either(
                            _NUMBER, _scalar('"NaN"', lambda v: v == "NaN"), 'a number or "NaN"'
                        ),
                        "code",
                    ),
                    "thresholds": _STR,
                    "threshold_set": _OPTIONAL_STR,
                    "location_scale": _BOOL,
                },
                frozenset({"name", "lv"}),
            ),
            "indicator",
        ),
        "choice": _choice,
        "person_id": _STR,
        "fixed": _map_of(_NUMBER),
        "missing_indicators": _STR,
        "bounds": _map_of(_list_of(_NUMBER_OR_NULL, "bound")),
        "panel": _BOOL,
        "random_coefficients": _list_of(
            _record(
                {"name": _STR, "distribution": _STR, "correlated_with": _list_of(_STR, "entry")},
                frozenset({"name", "distribution"}),
            ),
            "random coefficient",
        ),
        "variables": _map_of(_STR),
    },
    frozenset({"latent_variables", "indicators"}),
)


def check_model_dict(data) -> None:
    """Check the keys and value types of a model dict (see
    :func:`iclv_jax.modeldict.model_to_dict`).

    Raises :class:`SpecificationError` naming where the problem is, as a path such as
    ``model, choice (multinomial_logit), alternatives, alternative 0, code: expected an
    integer, got str 'car'``.  What the dict means (unknown LVs, cycles, levels) is
    checked when the model is built.
    """
    _MODEL(data, "model")
