"""Plain values, floats and data frames as strict JSON, and back.

Strict JSON has no ``NaN`` or infinities: a non-finite float ``x`` is written as the
string ``"NaN"``, ``"Infinity"`` or ``"-Infinity"`` and read back as ``float(x)``.  A
finite float is written with ``repr`` precision, so ``decode(encode(x)) == x``
exactly.  A data frame is stored column by column with its dtypes, index and column
labels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

__all__ = [
    "NON_FINITE",
    "decode_field",
    "decode_float",
    "decode_frame",
    "encode_field",
    "encode_float",
    "encode_frame",
    "encode_value",
    "plain",
]

NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def plain(value):
    """numpy scalars as Python values (JSON cannot hold ``np.int64``)."""
    return value.item() if isinstance(value, np.generic) else value


def encode_float(value) -> float | str:
    """``float(value)`` when finite, else its name in :data:`NON_FINITE`."""
    value = float(value)
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def decode_float(value) -> float:
    """The inverse of :func:`encode_float`."""
    if isinstance(value, str):
        return NON_FINITE[value]
    return float(value)


def encode_value(value):
    """Any plain value, numpy scalars and non-finite floats included; mappings and
    sequences element by element (keys as strings, sequences as lists)."""
    value = plain(value)
    if isinstance(value, float):
        return encode_float(value)
    if isinstance(value, Mapping):
        return {str(k): encode_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode_value(v) for v in value]
    return value


def _encode_index(index: pd.Index) -> dict:
    """``{"range": [start, stop, step]}`` for a RangeIndex, else its values and dtype."""
    if isinstance(index, pd.RangeIndex):
        return {"range": [index.start, index.stop, index.step], "name": index.name}
    return {
        "values": [encode_value(v) for v in index],
        "dtype": str(index.dtype),
        "name": index.name,
    }


def _decode_index(data: Mapping) -> pd.Index:
    """The inverse of :func:`_encode_index`."""
    if "range" in data:
        return pd.RangeIndex(*data["range"], name=data["name"])
    return pd.Index(
        _decode_array(data["values"], data["dtype"]), dtype=data["dtype"], name=data["name"]
    )


def _decode_array(values: list, dtype: str) -> list:
    """Float columns back from JSON (``"NaN"`` etc. to floats); others as they are."""
    try:
        kind = np.dtype(dtype).kind
    except TypeError:  # pandas extension dtypes ("str", "category", ...)
        kind = None
    return [decode_float(v) for v in values] if kind == "f" else values


def encode_frame(frame: pd.DataFrame) -> dict:
    """``{"index", "columns", "dtypes", "data"}``, ``data`` a list of columns."""
    return {
        "index": _encode_index(frame.index),
        "columns": _encode_index(frame.columns),
        "dtypes": [str(t) for t in frame.dtypes],
        "data": [
            [encode_value(v) for v in frame.iloc[:, i].tolist()] for i in range(frame.shape[1])
        ],
    }


def decode_frame(data: Mapping) -> pd.DataFrame:
    """The inverse of :func:`encode_frame` (dtypes, index and labels included)."""
    index = _decode_index(data["index"])
    columns = [
        pd.Series(_decode_array(values, dtype), dtype=dtype, index=index)
        for values, dtype in zip(data["data"], data["dtypes"], strict=True)
    ]
    frame = pd.concat(columns, axis=1) if columns else pd.DataFrame(index=index)
    frame.columns = _decode_index(data["columns"])
    return frame


def encode_field(value):
    """A dataclass field: a data frame by :func:`encode_frame`, else :func:`encode_value`."""
    if isinstance(value, pd.DataFrame):
        return encode_frame(value)
    return encode_value(value)


def decode_field(kind: str, value):
    """Decode a dataclass field from the text of its type annotation (``kind``)."""
    if value is None:
        return None
    kind = kind.replace(" ", "")
    if kind in ("pd.DataFrame", "DataFrame"):
        return decode_frame(value)
    if kind.startswith("dict[str,float]"):
        return {k: decode_float(v) for k, v in value.items()}
    if kind.startswith("dict[str,int]"):
        return {k: int(v) for k, v in value.items()}
    if kind.startswith("float"):
        return decode_float(value)
    if kind.startswith("int"):
        return int(value)
    if kind.startswith("bool"):
        return bool(value)
    return value
