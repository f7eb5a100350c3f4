"""Model files: an :class:`~iclv_jax.spec.ICLVModel` written to and read from YAML or TOML.

The file holds :func:`iclv_jax.modeldict.model_to_dict` of the model, e.g. in YAML::

    person_id: id
    latent_variables:
      - {name: health_concern, covariates: [age, female]}
      - {name: purchase_intention, predictors: [health_concern]}
    indicators:
      - {name: hc1, lv: health_concern, kind: ordered_probit, levels: 5}
      - {name: pi1, lv: purchase_intention, kind: continuous}
    choice:
      kind: binary_probit    # ordered_probit | multinomial_logit | nested_logit | none
      choice: buy
      utility:
        attributes: {price: price}
        constants: {sugar: sugar}
        lvs: [purchase_intention]
    fixed: {}

TOML has no null: there, an absent key stands for it, and a constant whose column is
``""`` is the constant 1 (``null`` in YAML; ``""`` is accepted there too).  The format
comes from the suffix: ``.yaml``/``.yml`` or ``.toml``.  Any problem with a file (its
syntax, an unknown or missing key, a value of the wrong type, an unknown indicator kind
or LV, a cycle of structural paths) raises :class:`ModelFileError` naming the file and
where in it.
"""

from __future__ import annotations

import importlib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

import yaml

from .modeldict import model_from_dict, model_to_dict
from .spec import ICLVModel, SpecificationError

__all__ = ["ModelFileError", "load_model", "save_model"]

FORMATS = {".yaml": "yaml", ".yml": "yaml", ".toml": "toml"}
CONSTANT_ONE = ""  # a constant's column in TOML meaning "the constant 1" (None)
#: the most values a model file may hold once YAML aliases are expanded, and the
#: deepest nesting of mappings and lists (a model file needs about 6 levels)
MAX_VALUES = 100_000
MAX_DEPTH = 32


class ModelFileError(SpecificationError):
    """A model file cannot be read as a model; the message names the file and the key."""


def _format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ModelFileError(
            f"{path}: unknown model file suffix {path.suffix!r}; use one of {sorted(FORMATS)}"
        )
    return fmt


def _module(name: str, package: str):
    """Import the optional ``name`` (pip package ``package``, extra ``files``: tomli-w,
    for writing TOML; PyYAML is a core dependency)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise ModelFileError(
            f"model files in this format need {package}: pip install "
            f"{package} (or 'iclv_jax[files]')"
        ) from None


def _without_nulls(value):
    """``value`` with null entries of mappings dropped (an absent key means the default,
    which is null) and null constant columns written as :data:`CONSTANT_ONE`."""
    if isinstance(value, Mapping):
        out = {}
        for key, entry in value.items():
            if key == "constants" and isinstance(entry, Mapping):
                out[key] = {k: CONSTANT_ONE if v is None else v for k, v in entry.items()}
            elif entry is not None:
                out[key] = _without_nulls(entry)
        return out
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _constants_as_none(value):
    """Inverse of the constant part of :func:`_without_nulls`: a constant column
    :data:`CONSTANT_ONE` becomes None."""
    if isinstance(value, Mapping):
        return {
            key: (
                {k: None if v == CONSTANT_ONE else v for k, v in entry.items()}
                if key == "constants" and isinstance(entry, Mapping)
                else _constants_as_none(entry)
            )
            for key, entry in value.items()
        }
    if isinstance(value, list):
        return [_constants_as_none(v) for v in value]
    return value


def _children(value) -> list:
    if isinstance(value, Mapping):
        return [*value.keys(), *value.values()]
    return list(value) if isinstance(value, list) else []


def _extent(data) -> tuple[int, int]:
    """``(values, depth)`` of parsed file data with every YAML alias expanded: values
    ``n(x) = 1 + sum n(child)`` and depth ``d(x) = 1 + max d(child)`` over mappings
    (keys and values) and lists, each shared object computed once (so a chain of
    aliases costs its distinct objects, not its expansion).  Raises ``RecursionError``
    for an object that contains itself (an alias inside its own anchor)."""
    values: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_: set[int] = set()
    stack = [(data, False)]
    while stack:
        value, expanded = stack.pop()
        key = id(value)
        if key in values:
            continue
        children = _children(value)
        if expanded:
            open_.discard(key)
            values[key] = 1 + sum(values[id(child)] for child in children)
            depth[key] = 1 + max((depth[id(child)] for child in children), default=0)
        elif key in open_:
            raise RecursionError("an alias inside its own anchor")
        else:
            open_.add(key)
            stack.append((value, True))
            stack.extend((child, False) for child in children if id(child) not in values)
    return values[id(data)], depth[id(data)]


def _check_extent(path: Path, data) -> None:
    """Refuse files larger than :data:`MAX_VALUES` values or deeper than
    :data:`MAX_DEPTH` levels before anything walks them (a few lines of nested YAML
    aliases expand to billions of values)."""
    try:
        values, depth = _extent(data)
    except RecursionError:
        raise ModelFileError(
            f"{path}: a YAML alias refers to a mapping or list that contains it"
        ) from None
    if values > MAX_VALUES:
        raise ModelFileError(
            f"{path}: the file holds {values} values once its YAML aliases "
            f"are expanded, more than the {MAX_VALUES} a model may have"
        )
    if depth > MAX_DEPTH:
        raise ModelFileError(
            f"{path}: mappings and lists nested {depth} levels deep, more "
            f"than the {MAX_DEPTH} a model may have"
        )


def save_model(model: ICLVModel, path: str | os.PathLike) -> Path:
    """Write ``model`` to a YAML (``.yaml``/``.yml``) or TOML (``.toml``) file; returns
    the path.  ``load_model(save_model(m, p)) == m``."""
    path = Path(path)
    data = model_to_dict(model)
    if _format(path) == "yaml":
        text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=88)
    else:
        text = _module("tomli_w", "tomli-w").dumps(_without_nulls(data))
    path.write_text(text)
    return path


def _parse(path: Path, text: str, fmt: str):
    """The file's data; syntax errors as :class:`ModelFileError` with line and column."""
    if fmt == "toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ModelFileError(f"{path}: invalid TOML: {error}") from None
        except RecursionError:
            raise ModelFileError(f"{path}: nested too deeply to parse") from None
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ModelFileError(f"{path}: invalid YAML: {where}{error.problem}") from None
    except yaml.YAMLError as error:
        raise ModelFileError(f"{path}: invalid YAML: {error}") from None
    except RecursionError:
        raise ModelFileError(f"{path}: nested too deeply to parse") from None


def load_model(path: str | os.PathLike) -> ICLVModel:
    """Read a model written by :func:`save_model` (or by hand, see the module docstring).

    Raises :class:`ModelFileError` (a :class:`SpecificationError`, so a ``ValueError``)
    naming the file and the offending key for a missing or unreadable file, bad syntax,
    unknown or missing keys, wrong value types and inconsistent models.
    """
    path = Path(path)
    fmt = _format(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise ModelFileError(f"{path}: cannot read the model file: {error}") from None
    data = _parse(path, text, fmt)
    _check_extent(path, data)
    if not isinstance(data, Mapping):
        raise ModelFileError(
            f"{path}: expected a mapping of model keys (latent_variables, "
            f"indicators, choice, ...) at the top, got {type(data).__name__}"
        )
    try:
        return model_from_dict(_constants_as_none(data))
    except SpecificationError as error:
        raise ModelFileError(f"{path}: {error}") from None
