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


def _check_keys(what: str, data: Mapping, allowed: set, required: set = frozenset()):
    if not isinstance(data, Mapping):
        raise SpecificationError(f"{what}: expected a mapping, got {type(data).__name__}")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise SpecificationError(f"{what}: unknown keys {unknown}; allowed {sorted(allowed)}")
    missing = sorted(required - set(data))
    if missing:
        raise SpecificationError(f"{what}: missing keys {missing}")


def _utility_from_dict(data: Mapping, what: str) -> Utility:
    _check_keys(what, data, {"attributes", "constants", "specific", "lvs", "lvs_tuple",
                             "random"})
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
    kinds = {v: k for k, v in _CHOICE_KINDS.items()}
    _check_keys("choice", data, {"kind", "choice", "utility", "levels", "alternatives",
                                 "scale"}, {"kind"})
    kind = data["kind"]
    if kind not in kinds:
        raise SpecificationError(f"choice: unknown kind {kind!r}; use one of {sorted(kinds)}")
    if kind == "none":
        _check_keys("choice (none)", data, {"kind"})
        return NoChoice()
    if kind == "multinomial_logit":
        _check_keys("choice (multinomial_logit)", data,
                    {"kind", "choice", "alternatives", "scale"}, {"choice", "alternatives"})
        alternatives = []
        for i, alt in enumerate(data["alternatives"]):
            what = f"alternative {i}"
            _check_keys(what, alt, {"name", "code", "asc", "available", "utility"},
                        {"name", "code"})
            alternatives.append(Alternative(
                name=alt["name"], code=alt["code"], asc=bool(alt.get("asc", False)),
                available=alt.get("available"),
                utility=_utility_from_dict(alt.get("utility", {}), f"{what} utility")))
        return MultinomialLogit(choice=data["choice"], alternatives=alternatives,
                                scale=data.get("scale", False))
    if kind == "binary_probit":
        _check_keys("choice (binary_probit)", data, {"kind", "choice", "utility", "scale"},
                    {"choice", "utility"})
        return BinaryProbit(choice=data["choice"], scale=data.get("scale", False),
                            utility=_utility_from_dict(data["utility"], "choice utility"))
    _check_keys("choice (ordered_probit)", data,
                {"kind", "choice", "utility", "levels", "scale"}, {"choice", "utility", "levels"})
    return OrderedProbitChoice(choice=data["choice"], levels=data["levels"],
                               scale=data.get("scale", False),
                               utility=_utility_from_dict(data["utility"], "choice utility"))


def model_to_dict(model: ICLVModel) -> dict:
    """The specification as plain JSON-able data (lists, dicts, strings, numbers).

    ``{"latent_variables": [{"name", "covariates", "predictors"}], "indicators":
    [{"name", "lv", "kind", "levels"}], "choice": {"kind": "binary_probit" |
    "ordered_probit" | "multinomial_logit" | "none", "scale", ...}, "person_id", "fixed",
    "missing_indicators", "bounds", "panel", "random_coefficients"}`` (indicators also
    carry "missing_codes", NaN as ``"NaN"``, "thresholds", "threshold_set" and
    "location_scale"; latent variables "reference");
    a utility is ``{"attributes", "constants", "specific", "lvs"}`` (and "random").
    :func:`model_from_dict` inverts it: ``model_from_dict(model_to_dict(m)) == m``.
    """
    return {
        "latent_variables": [{"name": lv.name, "covariates": list(lv.covariates),
                              "predictors": list(lv.predictors), "reference": lv.reference}
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
    keys take the dataclass defaults; unknown keys raise :class:`SpecificationError`)."""
    _check_keys("model", data, {"latent_variables", "indicators", "choice", "person_id",
                                "fixed", "missing_indicators", "bounds", "panel",
                                "random_coefficients"},
                {"latent_variables", "indicators"})
    lvs = []
    for i, lv in enumerate(data["latent_variables"]):
        _check_keys(f"latent variable {i}", lv, {"name", "covariates", "predictors",
                                                 "reference"}, {"name"})
        lvs.append(LatentVariable(lv["name"], covariates=lv.get("covariates", ()),
                                  predictors=lv.get("predictors", ()),
                                  reference=lv.get("reference")))
    indicators = []
    for i, ind in enumerate(data["indicators"]):
        _check_keys(f"indicator {i}", ind, {"name", "lv", "kind", "levels", "missing_codes",
                                            "thresholds", "threshold_set", "location_scale"},
                    {"name", "lv"})
        indicators.append(Indicator(
            ind["name"], ind["lv"], kind=ind.get("kind", "ordered_probit"),
            levels=ind.get("levels"),
            missing_codes=[_decode_float(c) for c in ind.get("missing_codes", ())],
            thresholds=ind.get("thresholds", "free"), threshold_set=ind.get("threshold_set"),
            location_scale=bool(ind.get("location_scale", False))))
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
    if data.get("class") not in classes:
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
