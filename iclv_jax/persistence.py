"""Saving results and specifications: JSON files, and tables as CSV, LaTeX and Markdown.

A results file is one JSON object::

    {"format": "iclv_jax-results-1",
     "versions": {"iclv_jax": ..., "jax": ..., "jaxlib": ..., "numpy": ..., ...},
     "model": <model_to_dict(model)> or null,
     "draws": {"repr": "Halton(n_draws=500, seed=0, ...)", "class": "Halton",
               "fields": {"n_draws": 500, "seed": 0, ...}},
     "results": {<every Results field>}}

Data frames (table, covariance matrices, history) are stored column by column with
their dtypes and index; floats are written with ``repr`` precision, so a save/load
round trip is exact.  Non-finite floats, which strict JSON lacks, are written as the
strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import math
import os
import platform
import reprlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from .draws import Draws
from .results import Results
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

__all__ = [
    "FORMAT",
    "check_model_dict",
    "draws_from_dict",
    "draws_from_repr",
    "draws_to_dict",
    "load_results",
    "model_from_dict",
    "model_to_dict",
    "save_results",
    "table_to_latex",
    "table_to_markdown",
]

FORMAT = "iclv_jax-results-1"
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}

# ------------------------------------------------------------------------------------
# the model specification
# ------------------------------------------------------------------------------------

_CHOICE_KINDS = {BinaryProbit: "binary_probit", OrderedProbitChoice: "ordered_probit",
                 MultinomialLogit: "multinomial_logit", NoChoice: "none"}


def _plain(value):
    """numpy scalars as Python values (JSON cannot hold ``np.int64``)."""
    return value.item() if isinstance(value, np.generic) else value


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
            {"name": alt.name, "code": _plain(alt.code), "asc": alt.asc,
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
            Alternative(name=alt["name"], code=_plain(alt["code"]),
                        asc=bool(alt.get("asc", False)), available=alt.get("available"),
                        utility=_utility_from_dict(alt.get("utility", {})))
            for alt in data["alternatives"]])
    utility = _utility_from_dict(data["utility"])
    if kind == "binary_probit":
        return BinaryProbit(choice=data["choice"], utility=utility, scale=scale)
    return OrderedProbitChoice(choice=data["choice"], levels=_plain(data["levels"]),
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
                        "missing_codes": [_encode_value(c) for c in ind.missing_codes],
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
        levels=_plain(ind.get("levels")),
        missing_codes=[_decode_float(c) for c in ind.get("missing_codes", ())],
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


# ------------------------------------------------------------------------------------
# draws
# ------------------------------------------------------------------------------------

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
            "fields": {f.name: _plain(getattr(draws, f.name))
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


def _draws_record(results: Results, draws: Draws | None) -> dict:
    if draws is not None:
        if repr(draws) != results.draws:
            raise ValueError(f"draws {draws!r} are not the draws of these results "
                             f"({results.draws})")
        return draws_to_dict(draws)
    try:
        return draws_to_dict(draws_from_repr(results.draws))
    except (ValueError, TypeError):
        return {"repr": results.draws, "class": None, "fields": None}


# ------------------------------------------------------------------------------------
# values: floats, dicts, data frames
# ------------------------------------------------------------------------------------

def _encode_float(value):
    value = float(value)
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def _decode_float(value):
    if isinstance(value, str):
        return _NON_FINITE[value]
    return float(value)


def _encode_value(value):
    """Any plain value, numpy scalars and non-finite floats included."""
    value = _plain(value)
    if isinstance(value, float):
        return _encode_float(value)
    if isinstance(value, Mapping):
        return {str(k): _encode_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode_value(v) for v in value]
    return value


def _encode_index(index: pd.Index) -> dict:
    if isinstance(index, pd.RangeIndex):
        return {"range": [index.start, index.stop, index.step], "name": index.name}
    return {"values": [_encode_value(v) for v in index], "dtype": str(index.dtype),
            "name": index.name}


def _decode_index(data: Mapping) -> pd.Index:
    if "range" in data:
        return pd.RangeIndex(*data["range"], name=data["name"])
    return pd.Index(_decode_array(data["values"], data["dtype"]), dtype=data["dtype"],
                    name=data["name"])


def _decode_array(values: list, dtype: str) -> list:
    """Float columns back from JSON (``"NaN"`` etc. to floats); others as they are."""
    try:
        kind = np.dtype(dtype).kind
    except TypeError:  # pandas extension dtypes ("str", "category", ...)
        kind = None
    return [_decode_float(v) for v in values] if kind == "f" else values


def _encode_frame(frame: pd.DataFrame) -> dict:
    return {"index": _encode_index(frame.index), "columns": _encode_index(frame.columns),
            "dtypes": [str(t) for t in frame.dtypes],
            "data": [[_encode_value(v) for v in frame.iloc[:, i].tolist()]
                     for i in range(frame.shape[1])]}


def _decode_frame(data: Mapping) -> pd.DataFrame:
    index = _decode_index(data["index"])
    columns = [pd.Series(_decode_array(values, dtype), dtype=dtype, index=index)
               for values, dtype in zip(data["data"], data["dtypes"], strict=True)]
    frame = (pd.concat(columns, axis=1) if columns else pd.DataFrame(index=index))
    frame.columns = _decode_index(data["columns"])
    return frame


def _decode_field(kind: str, value):
    """Decode a Results field from the type annotation's text."""
    if value is None:
        return None
    kind = kind.replace(" ", "")
    if kind in ("pd.DataFrame", "DataFrame"):
        return _decode_frame(value)
    if kind.startswith("dict[str,float]"):
        return {k: _decode_float(v) for k, v in value.items()}
    if kind.startswith("dict[str,int]"):
        return {k: int(v) for k, v in value.items()}
    if kind.startswith("float"):
        return _decode_float(value)
    if kind.startswith("int"):
        return int(value)
    if kind.startswith("bool"):
        return bool(value)
    return value


def _encode_field(value):
    if isinstance(value, pd.DataFrame):
        return _encode_frame(value)
    return _encode_value(value)


# ------------------------------------------------------------------------------------
# results files
# ------------------------------------------------------------------------------------

def versions() -> dict[str, str]:
    """Versions of iclv_jax and the libraries it runs on."""
    import jax
    import jaxlib
    import scipy

    from . import __version__

    return {"iclv_jax": __version__, "jax": jax.__version__, "jaxlib": jaxlib.__version__,
            "numpy": np.__version__, "pandas": pd.__version__, "scipy": scipy.__version__,
            "python": platform.python_version()}


def save_results(results: Results, path: str | os.PathLike, model: ICLVModel | None = None,
                 draws: Draws | None = None) -> Path:
    """Write ``results`` to a JSON file (see the module docstring); returns the path.

    ``model`` defaults to ``results.model``; without either the file has ``"model":
    null``.  ``draws`` (optional) must be the estimation draws; by default they are
    recreated from ``results.draws``.
    """
    model = model if model is not None else results.model
    payload = {
        "format": FORMAT,
        "versions": versions(),
        "model": model_to_dict(model) if model is not None else None,
        "draws": _draws_record(results, draws),
        "results": {f.name: _encode_field(getattr(results, f.name))
                    for f in dataclasses.fields(results) if f.name != "model"},
    }
    path = Path(path)
    text = json.dumps(payload, indent=1, allow_nan=False)
    path.write_text(text + "\n")
    return path


def load_results(path: str | os.PathLike) -> Results:
    """Read a file written by :meth:`Results.save` / :func:`save_results`.

    Returns a :class:`Results` equal to the saved one (``model`` set from the file's
    spec when it has one).  ``Results.draws`` is the repr of the draws; recreate the
    object with :func:`draws_from_repr`.  Raises ``ValueError`` for another format.
    """
    payload = json.loads(Path(path).read_text())
    if not isinstance(payload, Mapping) or payload.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not an iclv_jax results file (format {FORMAT})")
    values = payload["results"]
    kwargs = {}
    for f in dataclasses.fields(Results):
        if f.name == "model":
            continue
        if f.name not in values:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ValueError(f"{str(path)!r} has no {f.name!r}")
            continue
        kwargs[f.name] = _decode_field(str(f.type), values[f.name])
    if payload.get("model") is not None:
        kwargs["model"] = model_from_dict(payload["model"])
    return Results(**kwargs)


# ------------------------------------------------------------------------------------
# tables as text
# ------------------------------------------------------------------------------------

def _cells(table: pd.DataFrame, float_format: str) -> tuple[list[str], list[list[str]]]:
    header = [str(table.index.name or "")] + [str(c) for c in table.columns]
    rows = []
    for label, row in zip(table.index, table.itertuples(index=False), strict=True):
        cells = [str(label)]
        for value in row:
            if isinstance(value, float | np.floating):
                cells.append(format(float(value), float_format) if math.isfinite(value)
                             else ("" if math.isnan(value) else str(float(value))))
            else:
                cells.append(str(value))
        rows.append(cells)
    return header, rows


def table_to_markdown(table: pd.DataFrame, float_format: str = ".5g") -> str:
    """A GitHub-flavoured Markdown pipe table; numbers right-aligned, formatted with
    ``format(x, float_format)``, NaN as an empty cell (no ``tabulate`` needed)."""
    header, rows = _cells(table, float_format)
    escape = lambda s: s.replace("|", "\\|")  # noqa: E731
    widths = [max(len(escape(r[i])) for r in [header, *rows]) for i in range(len(header))]
    widths = [max(w, 3) for w in widths]

    def line(cells, align):
        return "| " + " | ".join(getattr(escape(c), align[i])(widths[i])
                                 for i, c in enumerate(cells)) + " |"

    align = ["ljust"] + ["rjust"] * (len(header) - 1)
    rule = "| " + " | ".join(("-" * widths[0]) if i == 0 else ("-" * (widths[i] - 1) + ":")
                             for i in range(len(header))) + " |"
    return "\n".join([line(header, ["ljust"] * len(header)), rule,
                      *(line(r, align) for r in rows)]) + "\n"


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$",
                  "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}"}


def _latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def table_to_latex(table: pd.DataFrame, float_format: str = ".5g", caption: str | None = None,
                   label: str | None = None) -> str:
    """A ``booktabs`` LaTeX ``tabular`` (wrapped in a ``table`` float when ``caption``
    or ``label`` is given); special characters escaped, NaN as an empty cell.  Written
    here because pandas' ``to_latex`` needs jinja2."""
    header, rows = _cells(table, float_format)
    body = [r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}", r"\toprule",
            " & ".join(_latex_escape(c) for c in header) + r" \\", r"\midrule"]
    body += [" & ".join(_latex_escape(c) for c in r) + r" \\" for r in rows]
    body += [r"\bottomrule", r"\end{tabular}"]
    if caption is None and label is None:
        return "\n".join(body) + "\n"
    wrapped = [r"\begin{table}[htbp]", r"\centering"]
    if caption is not None:
        wrapped.append(r"\caption{" + _latex_escape(caption) + "}")
    if label is not None:
        wrapped.append(r"\label{" + label + "}")
    return "\n".join([*wrapped, *body, r"\end{table}"]) + "\n"
