"""Model specifications as plain data: :func:`model_to_dict`, :func:`model_from_dict`.

The dict holds only lists, dicts, strings, numbers, booleans and null (NaN as
``"NaN"``), so it can be written as JSON, YAML or TOML; :func:`check_model_dict`
checks its keys and value types before a model is built from it.
"""

from __future__ import annotations

import reprlib
from collections.abc import Mapping

import numpy as np

from .jsonvalues import decode_float, encode_value, plain
from .spec import (
    Alternative,
    BinaryProbit,
    ICLVModel,
    Indicator,
    LatentVariable,
    MultinomialLogit,
    NoChoice,
    OrderedProbitChoice,
    RandomCoefficient,
    SpecificationError,
    Utility,
)

__all__ = ["check_model_dict", "model_from_dict", "model_to_dict"]

_CHOICE_KINDS = {BinaryProbit: "binary_probit", OrderedProbitChoice: "ordered_probit",
                 MultinomialLogit: "multinomial_logit", NoChoice: "none"}


# A schema of the model dict: each checker takes ``(value, where)`` and raises
# SpecificationError naming ``where`` (e.g. ``choice, alternative 0, utility``).

_SHORT = reprlib.Repr()  # reprs in errors: at most 6 items of a list, 100 characters
_SHORT.maxstring = _SHORT.maxother = 100


def _fail(where: str, expected: str, value) -> SpecificationError:
    """The error naming ``where``; long values are shortened (:data:`_SHORT`)."""
    return SpecificationError(f"{where}: expected {expected}, got {type(value).__name__} "
                              f"{_SHORT.repr(value)}")


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
_NUMBER = _scalar("a number", lambda v: (_is_int(v) or isinstance(v, float | np.floating)))


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
            raise SpecificationError(f"{where}: unknown keys {unknown}; allowed "
                                     f"{sorted(fields)}")
        missing = sorted(required - set(value))
        if missing:
            raise SpecificationError(f"{where}: missing keys {missing}")
        for key, entry in value.items():
            fields[key](entry, f"{where}, {key}")
    return check


_BOOL_OR_STR = _either(_BOOL, _STR, "true, false or a parameter name")
_NUMBER_OR_NULL = _scalar("a number or null", lambda v: v is None or _is_int(v)
                          or isinstance(v, float | np.floating))
_UTILITY = _record({
    "attributes": _map_of(_STR), "constants": _map_of(_OPTIONAL_STR),
    "specific": _list_of(_STR, "entry"), "lvs_tuple": _BOOL, "random": _map_of(_STR),
    "lvs": _either(_list_of(_STR, "entry"), _map_of(_STR),
                   "a list of LV names or a mapping LV -> parameter name")})
_ALTERNATIVE = _record({"name": _STR, "code": _INT, "asc": _BOOL,
                        "available": _OPTIONAL_STR, "utility": _UTILITY},
                       frozenset({"name", "code"}))
_CHOICES = {
    "none": _record({"kind": _STR}),
    "binary_probit": _record({"kind": _STR, "choice": _STR, "utility": _UTILITY,
                              "scale": _BOOL_OR_STR}, frozenset({"choice", "utility"})),
    "ordered_probit": _record({"kind": _STR, "choice": _STR, "utility": _UTILITY,
                               "levels": _INT, "scale": _BOOL_OR_STR},
                              frozenset({"choice", "utility", "levels"})),
    "multinomial_logit": _record({"kind": _STR, "choice": _STR, "scale": _BOOL_OR_STR,
                                  "alternatives": _list_of(_ALTERNATIVE, "alternative")},
                                 frozenset({"choice", "alternatives"})),
}


def _choice(value, where):
    if not isinstance(value, Mapping):
        raise _fail(where, "a mapping", value)
    kind = value.get("kind")
    if not isinstance(kind, str) or kind not in _CHOICES:
        raise SpecificationError(f"{where}: unknown kind {kind!r}; use one of "
                                 f"{sorted(_CHOICES)}")
    _CHOICES[kind](value, f"{where} ({kind})")


_MODEL = _record({
    "latent_variables": _list_of(_record({
        "name": _STR, "covariates": _list_of(_STR, "entry"),
        "predictors": _list_of(_STR, "entry"), "reference": _OPTIONAL_STR,
        "sign_anchor": _OPTIONAL_STR},
        frozenset({"name"})), "latent variable"),
    "indicators": _list_of(_record({
        "name": _STR, "lv": _STR, "kind": _STR, "levels": _OPTIONAL_INT,
        "missing_codes": _list_of(_either(_NUMBER, _scalar('"NaN"', lambda v: v == "NaN"),
                                           'a number or "NaN"'), "code"),
        "thresholds": _STR, "threshold_set": _OPTIONAL_STR, "location_scale": _BOOL},
        frozenset({"name", "lv"})), "indicator"),
    "choice": _choice, "person_id": _STR, "fixed": _map_of(_NUMBER),
    "missing_indicators": _STR, "bounds": _map_of(_list_of(_NUMBER_OR_NULL, "bound")),
    "panel": _BOOL,
    "random_coefficients": _list_of(_record({"name": _STR, "distribution": _STR},
                                            frozenset({"name", "distribution"})),
                                    "random coefficient")},
    frozenset({"latent_variables", "indicators"}))


def check_model_dict(data) -> None:
    """Check the keys and value types of a model dict (see :func:`model_to_dict`).

    Raises :class:`SpecificationError` naming where the problem is, as a path such as
    ``model, choice (multinomial_logit), alternatives, alternative 0, code: expected an
    integer, got str 'car'``.  What the dict means (unknown LVs, cycles, levels) is
    checked when the model is built.
    """
    _MODEL(data, "model")


def _utility_to_dict(utility: Utility) -> dict:
    if utility.extra is not None:
        raise TypeError("a model with a custom utility term (ij.Custom, a Python function) "
                        "cannot be written as data; save the results with model=None")
    out = {"attributes": dict(utility.attributes),
           "constants": dict(utility.constants),
           "specific": list(utility.specific)}
    if utility.random:
        out["random"] = dict(utility.random)
    if isinstance(utility.lvs, Mapping):
        out["lvs"] = dict(utility.lvs)
    elif len(utility.lvs) or not isinstance(utility.lvs, tuple):
        out["lvs"] = list(utility.lvs)
        if isinstance(utility.lvs, tuple):
            out["lvs_tuple"] = True  # keeps ``==`` with the original exact
    return out


def _utility_from_dict(data: Mapping) -> Utility:
    lvs = data.get("lvs", ())
    if not isinstance(lvs, Mapping):
        lvs = tuple(lvs) if data.get("lvs_tuple") or "lvs" not in data else list(lvs)
    return Utility(attributes=dict(data.get("attributes", {})),
                   constants=dict(data.get("constants", {})),
                   lvs=lvs, specific=tuple(data.get("specific", ())),
                   random=dict(data.get("random", {})))


def _choice_to_dict(choice) -> dict:
    kind = _CHOICE_KINDS.get(type(choice))
    if kind is None:
        raise TypeError(f"cannot serialise choice model {type(choice).__name__}")
    if kind == "none":
        return {"kind": kind}
    if kind == "multinomial_logit":
        return {"kind": kind, "choice": choice.choice, "scale": choice.scale, "alternatives": [
            {"name": alt.name, "code": plain(alt.code), "asc": alt.asc,
             "available": alt.available, "utility": _utility_to_dict(alt.utility)}
            for alt in choice.alternatives]}
    out = {"kind": kind, "choice": choice.choice, "scale": choice.scale,
           "utility": _utility_to_dict(choice.utility)}
    if kind == "ordered_probit":
        out["levels"] = choice.levels
    return out


def _choice_from_dict(data: Mapping):
    kind, scale = data["kind"], data.get("scale", False)
    if kind == "none":
        return NoChoice()
    if kind == "multinomial_logit":
        return MultinomialLogit(choice=data["choice"], scale=scale, alternatives=[
            Alternative(name=alt["name"], code=plain(alt["code"]),
                        asc=bool(alt.get("asc", False)), available=alt.get("available"),
                        utility=_utility_from_dict(alt.get("utility", {})))
            for alt in data["alternatives"]])
    utility = _utility_from_dict(data["utility"])
    if kind == "binary_probit":
        return BinaryProbit(choice=data["choice"], utility=utility, scale=scale)
    return OrderedProbitChoice(choice=data["choice"], levels=plain(data["levels"]),
                               utility=utility, scale=scale)


def model_to_dict(model: ICLVModel) -> dict:
    """The specification as plain JSON-able data (lists, dicts, strings, numbers).

    ``{"latent_variables": [{"name", "covariates", "predictors"}], "indicators":
    [{"name", "lv", "kind", "levels"}], "choice": {"kind": "binary_probit" |
    "ordered_probit" | "multinomial_logit" | "none", "scale", ...}, "person_id", "fixed",
    "missing_indicators", "bounds", "panel", "random_coefficients"}`` (indicators also
    carry "missing_codes", NaN as ``"NaN"``, "thresholds", "threshold_set" and
    "location_scale"; latent variables "reference" and "sign_anchor");
    a utility is ``{"attributes", "constants", "specific", "lvs"}`` (and "random").
    :func:`model_from_dict` inverts it: ``model_from_dict(model_to_dict(m)) == m``.
    """
    return {
        "latent_variables": [{"name": lv.name, "covariates": list(lv.covariates),
                              "predictors": list(lv.predictors), "reference": lv.reference,
                              "sign_anchor": lv.sign_anchor}
                             for lv in model.latent_variables],
        "indicators": [{"name": ind.name, "lv": ind.lv, "kind": ind.kind,
                        "levels": ind.levels,
                        "missing_codes": [encode_value(c) for c in ind.missing_codes],
                        "thresholds": ind.thresholds, "threshold_set": ind.threshold_set,
                        "location_scale": ind.location_scale}
                       for ind in model.indicators],
        "choice": _choice_to_dict(model.choice),
        "person_id": model.person_id,
        "fixed": {name: float(value) for name, value in model.fixed.items()},
        "missing_indicators": model.missing_indicators,
        "bounds": {name: list(pair) for name, pair in model.bounds.items()},
        "panel": model.panel,
        "random_coefficients": [{"name": rc.name, "distribution": rc.distribution}
                                for rc in model.random_coefficients],
    }


def model_from_dict(data: Mapping) -> ICLVModel:
    """Rebuild an :class:`ICLVModel` from :func:`model_to_dict` output (missing optional
    keys take the dataclass defaults).  Unknown or missing keys and values of the wrong
    type raise :class:`SpecificationError` naming where they are
    (:func:`check_model_dict`); so does an inconsistent model (the spec's checks)."""
    check_model_dict(data)
    lvs = [LatentVariable(lv["name"], covariates=lv.get("covariates", ()),
                          predictors=lv.get("predictors", ()), reference=lv.get("reference"),
                          sign_anchor=lv.get("sign_anchor"))
           for lv in data["latent_variables"]]
    indicators = [Indicator(
        ind["name"], ind["lv"], kind=ind.get("kind", "ordered_probit"),
        levels=plain(ind.get("levels")),
        missing_codes=[decode_float(c) for c in ind.get("missing_codes", ())],
        thresholds=ind.get("thresholds", "free"), threshold_set=ind.get("threshold_set"),
        location_scale=bool(ind.get("location_scale", False)))
        for ind in data["indicators"]]
    choice = _choice_from_dict(data["choice"]) if "choice" in data else NoChoice()
    return ICLVModel(latent_variables=lvs, indicators=indicators, choice=choice,
                     person_id=data.get("person_id", "id"),
                     fixed={k: float(v) for k, v in data.get("fixed", {}).items()},
                     missing_indicators=data.get("missing_indicators", "error"),
                     bounds={k: tuple(v) for k, v in data.get("bounds", {}).items()},
                     panel=bool(data.get("panel", True)),
                     random_coefficients=[RandomCoefficient(**rc) for rc
                                          in data.get("random_coefficients", ())])
