"""Reading and checking one data column: the checks a component runs on its own columns.

Each raises :class:`~iclv_jax.errors.DataError` naming the column and the first person
whose value is wrong, or warns (:class:`~iclv_jax.errors.UnobservedLevelWarning`).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .errors import DataError, UnobservedLevelWarning

__all__ = ["plain", "read_binary", "read_levels", "refuse_constant", "refuse_single_level"]


def plain(value):
    """A numpy scalar as the Python value it holds (so messages read ``7``, not
    ``np.int64(7)``)."""
    return value.item() if isinstance(value, np.generic) else value


def read_levels(
    df: pd.DataFrame, column: str, person_id: str, levels: int, what: str
) -> np.ndarray:
    """The ordered answers ``1..levels`` of ``column`` as 0-based integers."""
    values = df[column].to_numpy(dtype=float)
    bad = (values != np.round(values)) | (values < 1) | (values > levels)
    if bad.any():
        i = np.flatnonzero(bad)[0]
        raise DataError(
            f"{what} {column!r} must be an integer in 1..{levels}; person "
            f"{plain(df[person_id].iloc[i])!r} has {plain(values[i])!r}"
        )
    return values.astype(np.int64) - 1


def read_binary(df: pd.DataFrame, column: str, person_id: str, what: str) -> np.ndarray:
    """The 0/1 column as booleans; raises naming the first person with another value."""
    values = df[column].to_numpy(dtype=float)
    bad = ~np.isin(values, (0.0, 1.0))
    if bad.any():
        i = np.flatnonzero(bad)[0]
        raise DataError(
            f"{what} {column!r} must be 0 or 1; person "
            f"{plain(df[person_id].iloc[i])!r} has {plain(values[i])!r}"
        )
    return values == 1.0


def refuse_single_level(column: str, what: str, levels: np.ndarray, n_levels: int):
    """``levels`` are 0-based observed levels of an ordered ``what`` with ``n_levels``:
    a single level leaves the thresholds unidentified (error); a level nobody chose
    leaves its two neighbouring thresholds unidentified (warning)."""
    observed = np.unique(levels)
    if len(observed) == 1:
        raise DataError(
            f"{what} {column!r} has the single level {int(observed[0]) + 1} in the data: "
            "its thresholds and loading are not identified; drop it or collect more answers"
        )
    unobserved = sorted(set(range(1, n_levels + 1)) - {int(v) + 1 for v in observed})
    if unobserved:
        warnings.warn(
            f"{what} {column!r}: level(s) {unobserved} of 1..{n_levels} observed by nobody; "
            "the thresholds around them are not identified (their standard errors will be "
            "NaN); consider merging levels",
            UnobservedLevelWarning,
            stacklevel=4,
        )


def refuse_constant(column: str, what: str, values: np.ndarray, why: str):
    """Raise when ``values`` are the same for everyone (``why`` says what then fails)."""
    if values.size and np.all(values == values.flat[0]):
        raise DataError(
            f"{what} {column!r} takes the same value {values.flat[0]:g} for everyone: {why}"
        )
