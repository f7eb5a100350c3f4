"""A model meets its data: derived variables computed, utility expressions resolved and
split into design columns, LV terms and draw-by-draw custom terms.

:func:`bind` returns an equivalent model that holds only :class:`~iclv_jax.Utility`
utilities and no derived variables, and the data with every derived column added, so
everything downstream (validation, the panel arrays, the layout, the analytic scores)
sees plain columns.  The linear part of an expression becomes exactly the design a
column-form :class:`~iclv_jax.Utility` gives.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from .errors import DataError, SpecificationError
from .expressions import Expression, parse
from .expressions.evaluate import ExpressionTerm, evaluate_data
from .expressions.linear import additive_terms, data_only, split
from .expressions.nodes import Beta, Latent, Number, Text, Var
from .expressions.resolve import map_children, mentions, position_of, resolve
from .spec import ICLVModel
from .utility import Custom, Utility

__all__ = ["bind", "has_expressions", "needs_binding"]


def has_expressions(model: ICLVModel) -> bool:
    """Whether a utility of the model is an expression (its parameters then depend on
    the data's columns)."""
    return any(isinstance(u, Expression) for u in model.choice.utilities().values())


def needs_binding(model: ICLVModel) -> bool:
    """Whether the model has derived variables or utility expressions."""
    return bool(model.variables) or has_expressions(model)


class _Columns:
    """The derived columns of a binding: expression -> column name, and their values."""

    def __init__(self, df: pd.DataFrame, person_id: str):
        self.df = df
        self.person_id = person_id
        self.names: dict[Expression, str] = {}
        self.values: dict[str, object] = {}

    def column(self, expr: Expression, where: str) -> str:
        """The column holding data expression ``expr`` (computed once)."""
        if isinstance(expr, Var):
            return expr.name
        if expr not in self.names:
            name = str(expr)
            while name in self.df.columns or name in self.values:
                name = f"{name} "
            # a data part reads the data's columns only, never another derived column
            self.values[name] = evaluate_data(expr, self.df, self.person_id, where)
            self.names[expr] = name
        return self.names[expr]

    def materialised(self, expr: Expression, where: str) -> Expression:
        """``expr`` with each maximal data-only part (not a bare constant) replaced by
        the column holding it."""
        if data_only(expr) and not isinstance(expr, Number | Text):
            return Var(self.column(expr, where))
        return map_children(expr, lambda child: self.materialised(child, where))


def _variables(model: ICLVModel, df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with the model's derived variables added, in order (each may use the
    columns and the variables before it)."""
    columns = set(df.columns)
    added: dict[str, object] = {}
    for name, declared in model.variables.items():
        expr = declared if isinstance(declared, Expression) else parse(declared)
        where = f"variable {name!r} = {expr}"
        if name in columns:
            raise SpecificationError(f"variable {name!r} is also a column of the data; rename it")
        if name in model.lv_names:
            raise SpecificationError(f"variable {name!r} is also a latent variable; rename it")
        resolved = resolve(expr, columns | set(added), (), where)
        unknown = mentions(resolved, Beta)
        if unknown:
            raise SpecificationError(
                f"{where}: {unknown[0]!r}{position_of(str(expr), unknown[0])} is neither a "
                "column of the data nor an earlier variable"
            )
        frame = df.assign(**added) if added else df
        added[name] = evaluate_data(resolved, frame, model.person_id, where)
    return df.assign(**added) if added else df


def _bound_utility(expr: Expression, model: ICLVModel, columns: _Columns, label: str) -> Utility:
    """An expression as a :class:`Utility`: linear terms on design columns, LV terms,
    random-coefficient terms (a declared random coefficient's name times data, or
    alone: a column of ones), and the rest as a custom term over materialised data
    columns."""
    where = f"utility {label!r}" if label else "the utility"
    random_names = {rc.name for rc in model.random_coefficients}
    resolved = resolve(expr, set(columns.df.columns), model.lv_names, where)
    parts = split(resolved)
    random = {
        name: columns.column(Number(1.0) if data is None else data, where)
        for name, data in parts.linear.items()
        if name in random_names
    }
    terms = {
        name: None if data is None else columns.column(data, where)
        for name, data in parts.linear.items()
        if name not in random_names
    }
    extra = None
    if parts.rest is not None:
        rest = columns.materialised(parts.rest, where)
        _refuse_parameters_alone(rest, where)
        _refuse_nonlinear_random(rest, random_names, where)
        extra = Custom(
            ExpressionTerm(rest),
            parameters=mentions(rest, Beta),
            attributes=mentions(rest, Var),
            lvs=mentions(rest, Latent),
        )
    return Utility(terms=terms, lvs=parts.lvs, extra=extra, random=random)


def _refuse_nonlinear_random(rest: Expression, random_names: set[str], where: str) -> None:
    """A random coefficient enters a utility as ``c_n x`` (times data, or alone); any
    other use (``exp(c) * x``, ``c * attitude``, ``c * b``) is refused naming it."""
    found = [name for name in mentions(rest, Beta) if name in random_names]
    if found:
        raise SpecificationError(
            f"{where}: random coefficient {found[0]!r} enters the term {rest} other than "
            "linearly; write it times data (e.g. 'price * cost') or alone"
        )


def _refuse_parameters_alone(rest: Expression, where: str) -> None:
    """A product of parameters with no data or LV (``b1 * b2``) is not identified: most
    often a misspelt column that became a parameter."""
    for _, term in additive_terms(rest):
        names = mentions(term, Beta)
        if len(names) > 1 and not mentions(term, Var) and not mentions(term, Latent):
            raise SpecificationError(
                f"{where}: the term {term} holds parameters {names} and no data or latent "
                "variable, so it is not identified; names that are neither a column nor "
                "an LV are parameters: is one a misspelt column?"
            )


def bind(model: ICLVModel, df: pd.DataFrame) -> tuple[ICLVModel, pd.DataFrame]:
    """``(bound model, data with derived columns)``: the model with its expressions
    resolved against ``df`` (a name is a column, else an LV, else a parameter) and its
    derived variables computed; a model without either comes back unchanged."""
    if not needs_binding(model):
        return model, df
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(df).__name__}")
    if model.person_id not in df.columns and model.panel:
        raise DataError(f"column {model.person_id!r} (person id) is not in the data")
    frame = _variables(model, df)
    if model.person_id not in frame.columns:  # cross-sectional: rows are people
        frame = frame.assign(**{model.person_id: range(len(frame))})
    columns = _Columns(frame, model.person_id)
    utilities = {
        label: u if isinstance(u, Utility) else _bound_utility(u, model, columns, label)
        for label, u in model.choice.utilities().items()
    }
    bound = dataclasses.replace(model, choice=model.choice.with_utilities(utilities), variables={})
    data = frame.assign(**columns.values) if columns.values else frame
    if model.person_id not in df.columns:
        data = data.drop(columns=model.person_id)
    return bound, data
