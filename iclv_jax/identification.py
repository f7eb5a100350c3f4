"""Identification checks that need the data, run by :func:`iclv_jax.estimate` before it
optimises.

A parameter is identified only if the data can move the likelihood along it.  These
checks catch the data patterns that leave a parameter free to drift to infinity (or an
indicator variance to zero, where the likelihood is unbounded) and name the culprit:

- an ordered indicator (or an ordered choice) answered with a single level: its
  thresholds and loading are not identified (every ``P(I = j)`` can be driven to 1);
- a continuous indicator with the same value for everyone: ``sigma -> 0`` makes the
  likelihood unbounded;
- a covariate with the same value for everyone: ``b * x`` is a constant, confounded
  with the thresholds and intercepts (LVs have mean 0);
- a binary choice with the same outcome in every situation, a multinomial logit in
  which a single alternative is ever chosen, or an alternative available to nobody.

Each raises :class:`~iclv_jax.data.DataError` naming the column or alternative.  An
ordered level observed by nobody only warns (:class:`UnobservedLevelWarning`): the
likelihood stays finite, the two thresholds around the level are not separately
identified and their standard errors come out NaN (see :mod:`iclv_jax.inference`).
Single-person panels are fine for evaluating a likelihood; they fail here because
every person-level column is then constant.
"""

from __future__ import annotations

import warnings

import numpy as np

from .data import DataError, Panel
from .spec import BinaryProbit, ICLVModel, MultinomialLogit, OrderedProbitChoice


class UnobservedLevelWarning(UserWarning):
    """An ordered level that nobody chose: its neighbouring thresholds are not identified."""


def _check_ordered_levels(column: str, what: str, levels: np.ndarray, n_levels: int):
    """``levels`` are 0-based observed levels of an ordered ``what`` with ``n_levels``."""
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


def _check_constant(column: str, what: str, values: np.ndarray, why: str):
    if values.size and np.all(values == values.flat[0]):
        raise DataError(
            f"{what} {column!r} takes the same value {values.flat[0]:g} for everyone: {why}"
        )


def _check_choice(model: ICLVModel, panel: Panel):
    choice = model.choice
    chosen = panel.chosen[panel.situation_mask]
    if isinstance(choice, OrderedProbitChoice):
        _check_ordered_levels(choice.choice, "ordered choice", chosen, choice.levels)
    elif isinstance(choice, BinaryProbit):
        _check_constant(choice.choice, "binary choice", chosen,
                        "the choice coefficients are not identified")
    elif isinstance(choice, MultinomialLogit):
        available = panel.available[panel.situation_mask]
        for j, alt in enumerate(choice.alternatives):
            if not available[:, j].any():
                raise DataError(
                    f"multinomial logit {choice.choice!r}: alternative {alt.name!r} is "
                    f"available to nobody ({alt.available!r} is 0 everywhere): its "
                    "parameters are not identified; remove it"
                )
        if len(np.unique(chosen)) == 1:
            raise DataError(
                f"multinomial logit {choice.choice!r}: every situation chose alternative "
                f"{choice.alternatives[int(chosen[0])].name!r}: the choice parameters are "
                "not identified"
            )


def check_data(model: ICLVModel, panel: Panel) -> None:
    """Raise :class:`DataError` (or warn) where the data cannot identify the model."""
    ordered = [ind for ind in model.indicators if ind.ordered]
    continuous = [ind for ind in model.indicators if not ind.ordered]
    for k, ind in enumerate(ordered):
        _check_ordered_levels(ind.name, "indicator", panel.ordered_levels[:, k], ind.levels)
    for k, ind in enumerate(continuous):
        _check_constant(ind.name, "continuous indicator", panel.continuous_values[:, k],
                        f"sigma_{ind.name} -> 0 makes the likelihood unbounded")
    for c, column in enumerate(model.covariates):
        _check_constant(column, "covariate", panel.covariates[:, c],
                        "its coefficients are confounded with the thresholds and intercepts")
    _check_choice(model, panel)
