"""Where a latent variable's mean (location) is identified: structural intercepts, a
constant covariate read as one, and the reference indicator's fixed loading.

With ``eta = mu + ... + zeta``, an item of the LV whose own parameters include a free
location absorbs ``mu``: ``F(tau_j - lambda (mu + e)) = F((tau_j - lambda mu) - lambda
e)`` with free thresholds ``tau_j`` (or ``alpha - lambda mu`` for a free intercept
``alpha``), the same likelihood for every ``mu``.  An item with *no* free location pins
``mu``: an ordered item with ``thresholds="symmetric"`` (cut-points symmetric around
0, so ``P(I <= j) = 1 - P(I > J - j)`` at ``lambda mu = 0`` and not elsewhere) and no
``location_scale`` intercept, an ordered item with fixed thresholds, or a continuous
item with a fixed ``alpha``.  This is Biogeme's convention in its optima examples: a
reference indicator with symmetric thresholds shared by every item, a free intercept
and scale on the others (``location_scale=True``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .components.measurement import intercept_name, loading_name
from .components.structural import lv_intercept_name
from .components.thresholds import threshold_name
from .errors import SpecificationError

if TYPE_CHECKING:
    from .spec import ICLVModel, Indicator, LatentVariable

__all__ = [
    "check_intercepts",
    "check_reference_loading",
    "constant_covariate_refusal",
    "location_item",
]


def check_reference_loading(lv: LatentVariable) -> None:
    """A reference loading is a finite non-zero number, given with a reference item."""
    value = lv.reference_loading
    if not math.isfinite(value) or value == 0.0:
        raise SpecificationError(
            f"latent variable {lv.name!r}: reference_loading must be a finite non-zero "
            f"number (it sets the LV's scale and sign), got {value}"
        )
    if lv.reference is None and value != 1.0:
        raise SpecificationError(
            f"latent variable {lv.name!r}: reference_loading={value} needs a reference "
            "indicator (reference='<item>') whose loading it fixes"
        )


def _fixed_location(model: ICLVModel, item: Indicator) -> bool:
    """Whether ``item``'s own parameters leave its location fixed (module docstring)."""
    if not item.ordered:
        return intercept_name(item.name) in model.fixed
    if item.location_scale and intercept_name(item.name) not in model.fixed:
        return False
    prefix = threshold_name(item.threshold_group, "")
    return item.thresholds == "symmetric" or any(name.startswith(prefix) for name in model.fixed)


def location_item(model: ICLVModel, lv: str) -> str | None:
    """The first item of ``lv`` with a loading not fixed to 0 and no free location (it
    identifies the LV's mean), or ``None``."""
    spec = model.lv(lv)
    for item in model.indicators:
        loaded = item.name == spec.reference or model.fixed.get(loading_name(item.name)) != 0.0
        if item.lv == lv and loaded and _fixed_location(model, item):
            return item.name
    return None


_HOW = (
    "give one of its ordered items thresholds='symmetric' without location_scale (e.g. "
    "a reference indicator with symmetric thresholds shared by its items, the others "
    "with location_scale=True, as in Biogeme's examples)"
)


def check_intercepts(model: ICLVModel) -> None:
    """Refuse ``intercept=True`` on an LV whose mean no item identifies."""
    for lv in model.latent_variables:
        name = lv_intercept_name(lv.name)
        if lv.intercept and name not in model.fixed and location_item(model, lv.name) is None:
            raise SpecificationError(
                f"latent variable {lv.name!r}: {name} is not identified: every item of it "
                "has a free location (its own thresholds, or an intercept alpha), which "
                f"absorbs any shift of the LV's mean. To estimate it, {_HOW}; or fix it, "
                f"e.g. fixed={{{name!r}: 0.0}}; or drop intercept=True"
            )


def constant_covariate_refusal(model: ICLVModel, column: str, constant: set[str]) -> str | None:
    """Why the covariate ``column``, constant in the data, cannot be read as an intercept
    of the LVs it enters (``None`` where it can).  ``constant`` holds every covariate
    constant in the data: two constants in one LV, or a constant beside
    ``intercept=True``, are the same intercept twice."""
    for lv in model.latent_variables:
        if column not in lv.covariates:
            continue
        others = sorted(constant & set(lv.covariates) - {column})
        if lv.intercept or others:
            twice = (
                lv_intercept_name(lv.name)
                if lv.intercept
                else f"the constant covariate {others[0]!r}"
            )
            return f"it is a second intercept of latent variable {lv.name!r}, beside {twice}"
        if location_item(model, lv.name) is None:
            return (
                f"it acts as an intercept of latent variable {lv.name!r}, whose mean is not "
                "identified (every item of it has a free location, its own thresholds or an "
                f"intercept alpha, which absorbs it); drop the column, or {_HOW}"
            )
    return None
