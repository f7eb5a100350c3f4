"""Model specifications as plain data: :func:`model_to_dict`, :func:`model_from_dict`.

The dict holds only lists, dicts, strings, numbers, booleans and null (NaN as
``"NaN"``), so it can be written as JSON, YAML or TOML; its keys and value types are
checked by :func:`iclv_jax.modelschema.check_model_dict` before a model is built.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping, Sequence

from .components import CHOICE_KINDS, ChoiceModel
from .expressions import Expression, parse
from .jsonvalues import decode_float, encode_value, plain
from .modelschema import check_model_dict
from .spec import (
    ICLVModel,
    Indicator,
    LatentVariable,
    NoChoice,
    RandomCoefficient,
    Utility,
)

__all__ = ["model_from_dict", "model_to_dict"]


def _utility_to_dict(utility: Utility) -> dict:
    if utility.extra is not None:
        raise TypeError(
            "a model with a custom utility term (ij.Custom, a Python function) "
            "cannot be written as data; save the results with model=None"
        )
    out = {
        "attributes": dict(utility.attributes),
        "constants": dict(utility.constants),
        "specific": list(utility.specific),
    }
    if utility.random:
        out["random"] = dict(utility.random)
    if utility.terms:
        out["terms"] = dict(utility.terms)
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
    return Utility(
        attributes=dict(data.get("attributes", {})),
        constants=dict(data.get("constants", {})),
        lvs=lvs,
        specific=tuple(data.get("specific", ())),
        random=dict(data.get("random", {})),
        terms=dict(data.get("terms", {})),
    )


def _value_to_dict(value):
    """A declared field's value as plain data: a utility, a record of fields (e.g. an
    MNL alternative), a list of them, or a plain scalar."""
    if isinstance(value, Utility):
        return _utility_to_dict(value)
    if isinstance(value, Expression):
        return str(value)
    if CHOICE_KINDS.get(str(getattr(value, "kind", ""))) is type(value):  # a nested choice
        return _choice_to_dict(value)
    if dataclasses.is_dataclass(value):
        return {f.name: _value_to_dict(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_value_to_dict(v) for v in value]
    if isinstance(value, Mapping):
        return {key: _value_to_dict(v) for key, v in value.items()}
    return plain(value)


def _choice_to_dict(choice) -> dict:
    """``{"kind": ..., field: value, ...}`` over the fields the choice kind declares
    (a field that is ``None`` by declaration, as ``NoChoice.choice``, is left out)."""
    hints = typing.get_type_hints(type(choice))
    return {
        "kind": choice.kind,
        **{
            f.name: _value_to_dict(getattr(choice, f.name))
            for f in dataclasses.fields(choice)
            if hints[f.name] is not type(None)
        },
    }


def _value_from_dict(hint, value):
    """The inverse of :func:`_value_to_dict` for a field declared as ``hint``."""
    if hint is Utility:
        return _utility_from_dict(value)
    if hint == Utility | Expression | str:
        return parse(value) if isinstance(value, str) else _utility_from_dict(value)
    if hint is ChoiceModel:
        return _record_from_dict(CHOICE_KINDS[value["kind"]], value)
    if hint == Mapping[str, ChoiceModel]:  # joint choice components: name -> model
        return {name: _value_from_dict(ChoiceModel, entry) for name, entry in value.items()}
    if typing.get_origin(hint) is Sequence:
        (item,) = typing.get_args(hint)
        if item is str:
            return [str(entry) for entry in value]
        return [_record_from_dict(item, entry) for entry in value]
    return plain(value)


def _record_from_dict(cls, data: Mapping):
    """An instance of the dataclass ``cls`` from the fields given (the others take
    their defaults)."""
    hints = typing.get_type_hints(cls)
    return cls(
        **{
            f.name: _value_from_dict(hints[f.name], data[f.name])
            for f in dataclasses.fields(cls)
            if f.name in data
        }
    )


def model_to_dict(model: ICLVModel) -> dict:
    """The specification as plain JSON-able data (lists, dicts, strings, numbers).

    ``{"latent_variables": [{"name", "covariates", "predictors"}], "indicators":
    [{"name", "lv", "kind", "levels"}], "choice": {"kind": "binary_probit" |
    "ordered_probit" | "multinomial_logit" | "none", "scale", ...}, "person_id", "fixed",
    "missing_indicators", "bounds", "panel", "random_coefficients"}`` (indicators also
    carry "missing_codes", NaN as ``"NaN"``, "thresholds", "threshold_set" and
    "location_scale"; latent variables "reference", "sign_anchor", "intercept" and
    "reference_loading");
    a utility is ``{"attributes", "constants", "specific", "lvs"}`` (and "random"), or
    the text of an expression; "variables" maps derived variables to their text.
    :func:`model_from_dict` inverts it: ``model_from_dict(model_to_dict(m)) == m``.
    """
    return {
        "latent_variables": [
            {
                "name": lv.name,
                "covariates": list(lv.covariates),
                "predictors": list(lv.predictors),
                "reference": lv.reference,
                "sign_anchor": lv.sign_anchor,
                "intercept": lv.intercept,
                "reference_loading": lv.reference_loading,
            }
            for lv in model.latent_variables
        ],
        "indicators": [
            {
                "name": ind.name,
                "lv": ind.lv,
                "kind": ind.kind,
                "levels": ind.levels,
                "missing_codes": [encode_value(c) for c in ind.missing_codes],
                "thresholds": ind.thresholds,
                "threshold_set": ind.threshold_set,
                "location_scale": ind.location_scale,
            }
            for ind in model.indicators
        ],
        "choice": _choice_to_dict(model.choice),
        "person_id": model.person_id,
        "fixed": {name: float(value) for name, value in model.fixed.items()},
        "missing_indicators": model.missing_indicators,
        "bounds": {name: list(pair) for name, pair in model.bounds.items()},
        "panel": model.panel,
        "random_coefficients": [
            {"name": rc.name, "distribution": rc.distribution}
            | ({"correlated_with": list(rc.correlated_with)} if rc.correlated_with else {})
            for rc in model.random_coefficients
        ],
        "variables": {name: str(expr) for name, expr in model.variables.items()},
    }


def model_from_dict(data: Mapping) -> ICLVModel:
    """Rebuild an :class:`ICLVModel` from :func:`model_to_dict` output (missing optional
    keys take the dataclass defaults).  Unknown or missing keys and values of the wrong
    type raise :class:`SpecificationError` naming where they are
    (:func:`~iclv_jax.modelschema.check_model_dict`); so does an inconsistent model
    (the spec's checks)."""
    check_model_dict(data)
    lvs = [
        LatentVariable(
            lv["name"],
            covariates=lv.get("covariates", ()),
            predictors=lv.get("predictors", ()),
            reference=lv.get("reference"),
            sign_anchor=lv.get("sign_anchor"),
            intercept=bool(lv.get("intercept", False)),
            reference_loading=float(lv.get("reference_loading", 1.0)),
        )
        for lv in data["latent_variables"]
    ]
    indicators = [
        Indicator(
            ind["name"],
            ind["lv"],
            kind=ind.get("kind", "ordered_probit"),
            levels=plain(ind.get("levels")),
            missing_codes=[decode_float(c) for c in ind.get("missing_codes", ())],
            thresholds=ind.get("thresholds", "free"),
            threshold_set=ind.get("threshold_set"),
            location_scale=bool(ind.get("location_scale", False)),
        )
        for ind in data["indicators"]
    ]
    choice = (
        _record_from_dict(CHOICE_KINDS[data["choice"]["kind"]], data["choice"])
        if "choice" in data
        else NoChoice()
    )
    return ICLVModel(
        latent_variables=lvs,
        indicators=indicators,
        choice=choice,
        person_id=data.get("person_id", "id"),
        fixed={k: float(v) for k, v in data.get("fixed", {}).items()},
        missing_indicators=data.get("missing_indicators", "error"),
        bounds={k: tuple(v) for k, v in data.get("bounds", {}).items()},
        panel=bool(data.get("panel", True)),
        random_coefficients=[RandomCoefficient(**rc) for rc in data.get("random_coefficients", ())],
        variables=dict(data.get("variables", {})),
    )
