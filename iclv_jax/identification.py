"""Identification checks that need the data, run by :func:`iclv_jax.estimate` before it
optimises.

A parameter is identified only if the data can move the likelihood along it.  These
checks catch the data patterns that leave a parameter free to drift to infinity (or an
indicator variance to zero, where the likelihood is unbounded) and name the culprit:

- an ordered indicator (or an ordered choice) answered with a single level: its
  thresholds and loading are not identified (every ``P(I = j)`` can be driven to 1);
- a continuous indicator with the same value for everyone: ``sigma -> 0`` makes the
  likelihood unbounded;
- a covariate with the same value for everyone: ``b * x`` is a constant, an intercept
  of the LV, confounded with the thresholds and item intercepts unless an item of the
  LV pins its mean (then it is accepted as the intercept, see
  :func:`~iclv_jax.locations.constant_covariate_refusal`);
- a binary choice with the same outcome in every situation, a multinomial logit in
  which a single alternative is ever chosen, or an alternative available to nobody.

Each raises :class:`~iclv_jax.data.DataError` naming the column or alternative.  An
ordered level observed by nobody only warns (:class:`UnobservedLevelWarning`): the
likelihood stays finite, the two thresholds around the level are not separately
identified and their standard errors come out NaN (see :mod:`iclv_jax.inference`).
Single-person panels are fine for evaluating a likelihood; they fail here because
every person-level column is then constant.

Before the data, :func:`check_specification` refuses (:class:`SpecificationError`) an
LV whose scale the structure alone leaves unidentified: one measured by a single item
and reaching nothing else (see :func:`single_item_scale`).
"""

from __future__ import annotations

import numpy as np

from .columns import refuse_constant, refuse_single_level
from .components.measurement import loading_name, scale_name
from .components.structural import lv_scale_name
from .components.thresholds import threshold_name
from .data import Panel
from .errors import DataError, SpecificationError, UnobservedLevelWarning
from .locations import constant_covariate_refusal
from .spec import ICLVModel, Indicator
from .utility import declared_utilities

__all__ = [
    "DataError",
    "UnobservedLevelWarning",
    "check_data",
    "check_specification",
    "single_item_scale",
]


def check_data(model: ICLVModel, panel: Panel) -> None:
    """Raise :class:`DataError` (or warn) where the data cannot identify the model."""
    ordered = [ind for ind in model.indicators if ind.ordered]
    continuous = [ind for ind in model.indicators if not ind.ordered]
    for k, ind in enumerate(ordered):
        refuse_single_level(ind.name, "indicator", panel.ordered_levels[:, k], ind.n_levels)
    for k, ind in enumerate(continuous):
        refuse_constant(
            ind.name,
            "continuous indicator",
            panel.continuous_values[:, k],
            f"{scale_name(ind.name)} -> 0 makes the likelihood unbounded",
        )
    values = panel.covariates
    constant = {
        column
        for c, column in enumerate(model.covariates)
        if values.shape[0] and np.all(values[:, c] == values[0, c])
    }
    for c, column in enumerate(model.covariates):
        why = constant_covariate_refusal(model, column, constant)
        if why is not None:
            refuse_constant(column, "covariate", values[:, c], why)
    mask = panel.situation_mask
    model.choice.check_identified(panel.chosen[mask], panel.available[mask])


def _absorbs_scale(model: ICLVModel, item: Indicator) -> bool:
    """Whether ``item``'s own free parameters reproduce any marginal distribution of its
    answers whatever the LV's scale: free thresholds of its own (shared with no other
    item or the ordered choice, not fixed), or for a continuous item a free
    ``sigma``."""
    if not item.ordered:
        return scale_name(item.name) not in model.fixed
    group = item.threshold_group
    shared = [
        other.name
        for other in model.indicators
        if other.ordered and other is not item and other.threshold_group == group
    ]
    return (
        not shared
        and group not in model.choice.threshold_sets()
        and not any(name.startswith(threshold_name(group, "")) for name in model.fixed)
    )


def single_item_scale(model: ICLVModel, lv: str) -> str | None:
    """The parameter setting ``lv``'s scale (its item's loading, or ``sigma_<lv>`` with a
    reference item) when the structure alone shows it is not identified, else ``None``.

    With ``zeta ~ N(0, 1)`` and one item ``I`` of loading ``lambda`` (or loading 1 and
    ``eta``'s scale ``sigma``) as the LV's only link to the data (no other item with a
    loading not fixed to 0, no choice effect, no structural path to or from another
    LV), the likelihood depends on the LV only through the marginal distribution of
    ``I``: ``P(I <= j) = E F(tau_j - lambda eta)``, a strictly increasing function of
    ``tau_j`` whatever ``lambda``, so the item's own free thresholds reach every
    marginal at every ``lambda`` (a continuous item: ``N(alpha, lambda^2 + sigma^2)``).
    With covariates ``x`` and a normal error (ordered probit or a continuous item),
    ``P(I <= j | x) = Phi((tau_j - lambda b'x) / sqrt(1 + lambda^2))`` and
    ``N(alpha + lambda b'x, lambda^2 + sigma^2)``: only ``tau / sqrt(1 + lambda^2)`` and
    ``lambda b / sqrt(1 + lambda^2)`` are identified, still not ``lambda`` (a logistic
    error is not normal after mixing, so ordered logit items with covariates are left
    to the Hessian checks).  A second item, a choice effect, a structural path, fixed
    or shared thresholds, a fixed ``sigma`` or a fixed scale parameter can identify
    it and are not refused.
    """
    spec = model.lv(lv)
    items = [
        ind
        for ind in model.indicators
        if ind.lv == lv and model.fixed.get(loading_name(ind.name)) != 0.0
    ]
    coefficients = [
        name
        for alt, utility in declared_utilities(model.choice, model.lv_names).items()
        for other, name in utility.lv_parameters(model.choice.lv_suffix(alt)).items()
        if other == lv and model.fixed.get(name) != 0.0
    ]
    custom = any(
        utility.extra is not None and lv in utility.extra.lvs
        for utility in declared_utilities(model.choice, model.lv_names).values()
    )
    paths = spec.predictors or any(lv in other.predictors for other in model.latent_variables)
    if len(items) != 1 or coefficients or custom or paths:
        return None
    item = items[0]
    gaussian = not item.ordered or item.kind == "ordered_probit"
    scale = lv_scale_name(lv) if spec.reference == item.name else loading_name(item.name)
    if (
        (spec.covariates and not gaussian)
        or scale in model.fixed
        or not _absorbs_scale(model, item)
    ):
        return None
    return scale


def check_specification(model: ICLVModel) -> None:
    """Raise :class:`SpecificationError` for an LV whose scale is not identified by the
    structure alone (:func:`single_item_scale`), naming the LV, the item, the
    parameter and what would identify it."""
    for lv in model.lv_names:
        scale = single_item_scale(model, lv)
        if scale is None:
            continue
        item = next(
            ind.name
            for ind in model.indicators
            if ind.lv == lv and model.fixed.get(loading_name(ind.name)) != 0.0
        )
        raise SpecificationError(
            f"latent variable {lv!r} is measured by the single item {item!r} and reaches "
            f"nothing else: {scale} is not identified (the item's thresholds or variance "
            f"absorb it, so the likelihood is the same for every value). Identify it with "
            f"more items (three for an LV with no other link), a choice effect (theta), a "
            f"structural path to or from another LV, or fix it, e.g. fixed={{{scale!r}: 1.0}}"
        )
