"""From one long DataFrame to padded panel arrays, with validation that names the culprit.

Input: one row per choice situation, a person-id column, person-level covariates and
indicators repeated on each of that person's rows.  Output: a :class:`Panel` of numpy
arrays padded to ``T_max`` situations per person, with a mask.  People are sorted by
id value (:func:`person_index`, the one person order every step uses); each person's
rows keep their order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .binding import bind
from .columns import plain, read_levels
from .errors import DataError
from .spec import ICLVModel
from .utility import declared_utilities

# The largest |value| a used column may hold, per evaluation precision: sqrt(largest
# float) / 1e4.  Scores, the BHHH matrix and the Hessian multiply two data values
# (x x' for a linear index, squared residuals of a continuous indicator); below this
# bound such products stay finite with a factor 1e8 to spare for coefficients and sums
# over rows (float64: 1.3e150, float32: 1.8e15; raw prices in the millions pass).
LARGEST_VALUE = {
    dtype: float(np.sqrt(np.finfo(dtype).max)) / 1e4 for dtype in ("float64", "float32")
}


@dataclass(frozen=True)
class Panel:
    """Padded panel arrays (host side).

    Shapes: ``N`` people, ``T`` situations (padded), ``J`` utilities (1 for binary and
    ordered choice), ``P`` linear choice coefficients, ``C`` covariates, ``K``
    ordered / continuous indicators.
    """

    person_ids: np.ndarray  # (N,)
    design: np.ndarray  # (N, T, J, P + A): linear coefficient p's x_ntjp, then the A
    # custom-term and random-coefficient attribute columns (the same in every utility j)
    available: np.ndarray  # (N, T, J) bool
    chosen: np.ndarray  # (N, T) int: alternative index, 0/1, or level - 1
    situation_mask: np.ndarray  # (N, T) bool
    covariates: np.ndarray  # (N, C)
    ordered_levels: np.ndarray  # (N, K_ord) int, level - 1
    continuous_values: np.ndarray  # (N, K_cont)
    linear_names: tuple[str, ...]  # names of the P linear coefficients
    # indicator -> number of people whose answer is missing (level -1 / NaN above)
    missing_answers: dict[str, int] = field(default_factory=dict)
    custom_columns: tuple[str, ...] = ()  # the last A columns of ``design``

    @property
    def n_people(self) -> int:
        return len(self.person_ids)

    @property
    def n_situations(self) -> int:
        return int(self.situation_mask.sum())


def linear_coefficients(model: ICLVModel) -> dict[str, list[str | None]]:
    """``parameter name -> column per utility`` (``""`` absent, ``None`` constant 1)."""
    utilities = declared_utilities(model.choice, model.lv_names)
    columns: dict[str, list[str | None]] = {}
    for j, (alt, utility) in enumerate(utilities.items()):
        for name, column in utility.linear_terms(model.choice.lv_suffix(alt)).items():
            columns.setdefault(name, [""] * len(utilities))[j] = column
    return columns


def custom_columns(model: ICLVModel) -> tuple[str, ...]:
    """The attribute columns read by custom utility terms and random coefficients, in
    order of first use."""
    seen: dict[str, None] = {}
    for utility in declared_utilities(model.choice, model.lv_names).values():
        if utility.extra is not None:
            seen.update(dict.fromkeys(utility.extra.attributes))
        seen.update(dict.fromkeys(utility.random.values()))
    return tuple(seen)


def used_columns(model: ICLVModel) -> dict[str, str]:
    """Every column the model reads, with what it is used for."""
    uses = {model.person_id: "person id"}
    if model.choice.choice is not None:
        uses[model.choice.choice] = "choice"
    for cov in model.covariates:
        uses[cov] = "covariate"
    for ind in model.indicators:
        uses[ind.name] = "indicator"
    for columns in linear_coefficients(model).values():
        for column in columns:
            if column:
                uses.setdefault(column, "attribute")
    for column in custom_columns(model):
        uses.setdefault(column, "attribute")
    for column in model.choice.availability_columns():
        uses.setdefault(column, "availability")
    for column, use in model.choice.row_columns().items():
        uses.setdefault(column, use)
    return uses


def _first_person(df: pd.DataFrame, id_column: str, bad: np.ndarray):
    return plain(df[id_column].to_numpy()[np.flatnonzero(bad)[0]])


def person_index(df: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """The one person order: ``(person_ids, person)``.

    ``person_ids`` holds the distinct values of ``df[column]`` sorted by value, and
    ``person[i]`` the position of row ``i``'s id in it (``person_ids[person]`` is the
    id column).  Ids are compared as values: a categorical's category order, a nullable
    or string dtype do not change the order.  Raises :class:`DataError` naming the
    column for a missing id, or ids that mix numbers and strings (``1`` and ``"1"``
    would be two people, and the two kinds have no common order).
    """
    ids = df[column]
    if ids.isna().any():
        raise DataError(
            f"column {column!r} (person id) has missing values, first in row "
            f"{np.flatnonzero(ids.isna().to_numpy())[0]}"
        )
    values = ids.to_numpy()
    if pd.api.types.infer_dtype(values, skipna=False) in ("mixed", "mixed-integer"):
        kinds = sorted({type(v).__name__ for v in values})
        raise DataError(
            f"column {column!r} (person id) mixes value types {kinds}; give every id the same type"
        )
    person, person_ids = pd.factorize(values, sort=True)
    return np.asarray(person_ids), person


def situation_slots(person: np.ndarray) -> np.ndarray:
    """Each row's position among the rows of its person, in row order (``0, 1, ...``)."""
    return pd.Series(person).groupby(person).cumcount().to_numpy()


def _check_present(df: pd.DataFrame, model: ICLVModel) -> None:
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(df).__name__}")
    if len(df) == 0:
        raise DataError("the data frame is empty")
    uses = used_columns(model)
    missing = [c for c in uses if c not in df.columns]
    if missing:
        raise DataError(
            f"column {missing[0]!r} ({uses[missing[0]]}) is not in the data"
            + (
                " (it is an index level: df.reset_index() makes it a column)"
                if missing[0] in df.index.names
                else ""
            )
            + (f"; also missing: {missing[1:]}" if len(missing) > 1 else "")
        )
    repeated = [c for c in uses if (df.columns == c).sum() > 1]
    if repeated:
        raise DataError(f"column {repeated[0]!r} appears more than once in the data")
    if model.person_id in df.index.names:
        raise DataError(
            f"{model.person_id!r} (person id) is both a column and an index level of the "
            "data, which is ambiguous; drop the index level (df.reset_index(drop=True)) "
            "or rename it"
        )


def _nan_allowed(model: ICLVModel) -> set[str]:
    """Indicator columns where NaN is a declared missing answer."""
    return {
        ind.name
        for ind in model.indicators
        if model.missing_indicators == "integrate" or ind.allows_nan
    }


def _check_values(df: pd.DataFrame, model: ICLVModel, dtype: str) -> None:
    """Every used column but the id: real numbers (booleans count as 0/1), finite
    (NaN only where declared a missing answer), and of magnitude at most
    ``LARGEST_VALUE[dtype]``."""
    uses = used_columns(model)
    del uses[model.person_id]  # ids may be strings
    nan_allowed = _nan_allowed(model)
    for column, use in uses.items():
        series = df[column]
        if pd.api.types.is_complex_dtype(series):
            raise DataError(
                f"column {column!r} ({use}) holds complex numbers; pass the "
                "real part (or recode it) explicitly"
            )
        if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
            raise DataError(
                f"column {column!r} ({use}) is not numeric (dtype {series.dtype}); "
                "recode it as numbers"
            )
        values = series.to_numpy(dtype=float)
        bad = np.isinf(values) | (np.isnan(values) & (column not in nan_allowed))
        if bad.any():
            person = _first_person(df, model.person_id, bad)
            hint = (
                (
                    "; to integrate missing answers out, declare them: "
                    f"Indicator({column!r}, ..., missing_codes=(math.nan,)) or "
                    "ICLVModel(..., missing_indicators='integrate')"
                )
                if use == "indicator"
                else ""
            )
            raise DataError(
                f"column {column!r} ({use}) has a missing or non-finite value, "
                f"first for person {person!r}{hint}"
            )
        huge = np.abs(values) > LARGEST_VALUE[dtype]
        if huge.any():
            raise DataError(
                f"column {column!r} ({use}) has the value "
                f"{plain(values[np.flatnonzero(huge)[0]])!r} for person "
                f"{_first_person(df, model.person_id, huge)!r}, beyond "
                f"{LARGEST_VALUE[dtype]:.3g} in magnitude: products of two such values "
                f"overflow {dtype} in the likelihood's derivatives; rescale the column"
            )


def _check_person_level(
    df: pd.DataFrame, model: ICLVModel, person_ids: np.ndarray, person: np.ndarray
) -> None:
    person_level = [*model.covariates, *(ind.name for ind in model.indicators)]
    groups = df.groupby(person, sort=True)
    for column in person_level:
        varies = (groups[column].nunique(dropna=False) > 1).to_numpy()
        if varies.any():
            raise DataError(
                f"column {column!r} is person-level but differs across the rows of "
                f"person {plain(person_ids[np.flatnonzero(varies)[0]])!r}"
            )


def _missing(values: np.ndarray, ind, nan_allowed: set[str]) -> np.ndarray:
    """Which answers of indicator ``ind`` are declared missing (codes or allowed NaN)."""
    return np.isin(values, ind.missing_codes) | (np.isnan(values) & (ind.name in nan_allowed))


def _indicator_arrays(person_df: pd.DataFrame, model: ICLVModel):
    """``(ordered levels - 1 [N, Ko], continuous values [N, Kc], missing counts)``:
    missing ordered answers are ``-1``, missing continuous answers NaN."""
    nan_allowed = _nan_allowed(model)
    n = len(person_df)
    ordered, continuous, counts = [], [], {}
    for ind in model.indicators:
        values = person_df[ind.name].to_numpy(dtype=float)
        missing = _missing(values, ind, nan_allowed)
        if ind.missing_codes or ind.name in nan_allowed:
            counts[ind.name] = int(missing.sum())
        if missing.all():
            raise DataError(f"indicator {ind.name!r}: every answer is missing")
        if ind.ordered:
            levels = np.full(n, -1, dtype=np.int64)
            levels[~missing] = read_levels(
                person_df[~missing], ind.name, model.person_id, ind.n_levels, "indicator"
            )
            ordered.append(levels)
        else:
            continuous.append(np.where(missing, np.nan, values))
    return (
        np.stack(ordered, axis=1) if ordered else np.zeros((n, 0), dtype=np.int64),
        np.stack(continuous, axis=1) if continuous else np.zeros((n, 0)),
        counts,
    )


def _design_rows(df: pd.DataFrame, model: ICLVModel) -> tuple[np.ndarray, tuple[str, ...]]:
    """``(rows, J, P + A)`` design of the linear coefficients (then the custom-term
    attribute columns), and the linear coefficients' names."""
    coefficients = linear_coefficients(model)
    extra = custom_columns(model)
    n_utilities = len(declared_utilities(model.choice, model.lv_names))
    design = np.zeros((len(df), n_utilities, len(coefficients) + len(extra)))
    for p, columns in enumerate(coefficients.values()):
        for j, column in enumerate(columns):
            if column is None:
                design[:, j, p] = 1.0
            elif column:
                design[:, j, p] = df[column].to_numpy(dtype=float)
    for a, column in enumerate(extra):
        design[:, :, len(coefficients) + a] = df[column].to_numpy(dtype=float)[:, None]
    return design, tuple(coefficients)


def _pad(rows: np.ndarray, person_row: np.ndarray, slot: np.ndarray, shape, fill):
    out = np.full(shape + rows.shape[1:], fill, dtype=rows.dtype)
    out[person_row, slot] = rows
    return out


def prepare_data(
    model: ICLVModel, df: pd.DataFrame, panel: bool | None = None, dtype: str = "float64"
) -> Panel:
    """Validate ``df`` against ``model`` and build the padded :class:`Panel`.

    A model with derived variables or utility expressions is bound to ``df`` first
    (:func:`~iclv_jax.binding.bind`).

    Raises :class:`DataError` naming the column and the first offending person for a
    missing or non-numeric (or complex) column, a NaN (except declared missing
    indicator answers), a value beyond ``LARGEST_VALUE[dtype]`` in magnitude, an
    indicator level outside ``1..J``, a person-level value that differs across a
    person's rows, a choice outside its codes, a situation with no available
    alternative, or a chosen alternative that is unavailable; and naming the id column
    for a missing id, ids mixing numbers and strings, or an index level named like it.

    People are ordered by :func:`person_index` (ids sorted by value); each person's
    rows keep their order.  ``dtype``: the precision the likelihood will be evaluated
    in (``"float64"`` or ``"float32"``), which sets the magnitude bound.

    ``panel=False`` (default: ``model.panel``) treats the data as cross-sectional:
    every row is its own person (numbered by row position; ``person_id`` is not read).
    """
    if dtype not in LARGEST_VALUE:
        raise ValueError(f"dtype must be one of {tuple(LARGEST_VALUE)}, got {dtype!r}")
    model, df = bind(model, df)
    if not (model.panel if panel is None else panel):
        if not isinstance(df, pd.DataFrame):
            raise DataError(f"data must be a pandas DataFrame, not {type(df).__name__}")
        df = df.reset_index(drop=True).assign(**{model.person_id: np.arange(len(df))})
    _check_present(df, model)
    person_ids, person = person_index(df, model.person_id)
    order = np.argsort(person, kind="stable")
    df, person_row = df.iloc[order].reset_index(drop=True), person[order]
    _check_values(df, model, dtype)
    _check_person_level(df, model, person_ids, person_row)
    chosen_rows, available_rows = model.choice.encode(df, model.person_id)
    design_rows, linear_names = _design_rows(df, model)

    slot = situation_slots(person_row)
    shape = (len(person_ids), int(slot.max()) + 1)
    person_df = df.iloc[np.flatnonzero(slot == 0)]

    ordered_levels, continuous_values, missing_answers = _indicator_arrays(person_df, model)
    return Panel(
        person_ids=person_ids,
        design=_pad(design_rows, person_row, slot, shape, 0.0),
        available=_pad(available_rows, person_row, slot, shape, True),
        chosen=_pad(chosen_rows, person_row, slot, shape, 0),
        situation_mask=_pad(np.ones(len(df), dtype=bool), person_row, slot, shape, False),
        covariates=person_df[list(model.covariates)].to_numpy(dtype=float).reshape(shape[0], -1),
        ordered_levels=ordered_levels,
        continuous_values=continuous_values,
        linear_names=linear_names,
        missing_answers=missing_answers,
        custom_columns=custom_columns(model),
    )
