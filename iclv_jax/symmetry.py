"""The mirror-image symmetry of a latent variable and the parameter that anchors its sign.

With ``zeta ~ N(0, 1)`` symmetric, ``eta_lv -> -eta_lv`` together with a sign change of
every parameter that multiplies ``eta_lv`` leaves the likelihood unchanged: each LV has
two equally good optima.  :func:`sign_anchors` names, per LV, the parameter kept
positive to tell them apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from .components.measurement import loading_name
from .components.structural import cholesky_name, covariate_name, lv_intercept_name, path_name
from .errors import SpecificationError
from .utility import declared_utilities

if TYPE_CHECKING:
    from .spec import ICLVModel, LatentVariable

__all__ = [
    "lv_coefficients",
    "mirror",
    "mirror_parameters",
    "mirrored_lvs",
    "sign_anchors",
    "sign_parameters",
]


def lv_coefficients(model: ICLVModel) -> dict[str, list[str]]:
    """``lv -> names of its coefficients in the choice part`` (``theta``; see
    :meth:`~iclv_jax.components.ChoiceModel.lv_coefficient_names`)."""
    return model.choice.lv_coefficient_names(model.lv_names)


def sign_parameters(model: ICLVModel, lv: str) -> list[str]:
    """The parameters multiplying ``eta_lv`` (or added to it): the loadings of its items
    other than a reference item, its utility coefficients, ``b_<x>_to_<lv>``, its
    intercept, the paths into and out of it and the Cholesky elements ``chol_<c>_<lv>``
    of random coefficients correlated with it.  Negating them with ``eta_lv`` leaves
    every other LV and every term unchanged; with a reference item, that item's loading
    (``reference_loading``) must change sign too, which makes it another model."""
    spec = model.lv(lv)
    names = (
        [
            loading_name(ind.name)
            for ind in model.indicators
            if ind.lv == lv and ind.name != spec.reference
        ]
        + lv_coefficients(model)[lv]
        + [covariate_name(c, lv) for c in spec.covariates]
        + ([lv_intercept_name(lv)] if spec.intercept else [])
        + [path_name(m, lv) for m in spec.predictors]
        + [path_name(lv, k.name) for k in model.latent_variables if lv in k.predictors]
        + [
            cholesky_name(rc.name, lv)
            for rc in model.random_coefficients
            if lv in rc.correlated_with
        ]
    )
    return list(dict.fromkeys(names))


def mirror_parameters(model: ICLVModel, lv: str) -> tuple[str, ...] | None:
    """The parameters that change sign when ``lv`` does, or ``None`` where that mirror
    image is not a symmetry of the likelihood.

    With ``zeta ~ N(0, 1)`` symmetric, ``eta_lv -> -eta_lv`` leaves the likelihood
    unchanged when the loadings ``lambda_<item>`` of its items, its coefficients in the
    utilities, ``b_<x>_to_<lv>``, its intercept and the paths ``gamma_<m>_to_<lv>`` and
    ``gamma_<lv>_to_<k>`` all change sign.  It is not a symmetry (``None``) when the LV
    has a reference indicator (loading fixed to 1), a custom utility term uses it, one
    of those parameters is fixed to a value other than 0 or bounded, or one of them
    also plays another role (the same name used for another LV's coefficient or in a
    custom term).
    """
    spec = model.lv(lv)
    if spec.reference is not None:
        return None
    utilities = declared_utilities(model.choice, model.lv_names).values()
    if any(utility.extra is not None and lv in utility.extra.lvs for utility in utilities):
        return None
    coefficients = lv_coefficients(model)
    names = sign_parameters(model, lv)
    elsewhere = {name for other, own in coefficients.items() if other != lv for name in own}
    elsewhere.update(
        name
        for utility in utilities
        if utility.extra is not None
        for name in utility.extra.parameters
    )
    if any(
        model.fixed.get(name, 0.0) != 0.0 or name in model.bounds for name in names
    ) or elsewhere & set(names):
        return None
    return tuple(names)


def _anchor_of(model: ICLVModel, lv: LatentVariable, names: tuple[str, ...]) -> str | None:
    """The parameter anchoring ``lv``'s sign (see :func:`sign_anchors`)."""
    free = [name for name in names if name not in model.fixed]
    items = [ind.name for ind in model.indicators if ind.lv == lv.name]
    if lv.sign_anchor is None:
        preferred = [loading_name(item) for item in items] + lv_coefficients(model)[lv.name]
        return next((name for name in preferred if name in free), None)
    anchor = loading_name(lv.sign_anchor) if lv.sign_anchor in items else lv.sign_anchor
    if anchor not in free:
        raise SpecificationError(
            f"latent variable {lv.name!r}: sign_anchor {lv.sign_anchor!r} must be one of "
            f"its indicators {items} or a free parameter that changes sign with it {free}"
        )
    return anchor


def sign_anchors(model: ICLVModel) -> dict[str, str]:
    """``lv -> parameter kept positive`` for every LV whose mirror image is a symmetry
    (:func:`mirror_parameters`): ``LatentVariable.sign_anchor`` or by default the
    loading of its first item with a free loading, else its first free utility
    coefficient.  LVs whose sign something else fixes (a reference indicator, a fixed
    or bounded parameter, a custom term) have none; a ``sign_anchor`` given for one of
    them is refused, naming why."""
    anchors = {}
    for lv in model.latent_variables:
        names = mirror_parameters(model, lv.name)
        if names is None:
            if lv.sign_anchor is not None:
                raise SpecificationError(
                    f"latent variable {lv.name!r}: sign_anchor {lv.sign_anchor!r} is not "
                    "needed: its sign is already fixed (a reference indicator, a custom "
                    "term, or a fixed or bounded parameter that changes sign with it)"
                )
            continue
        anchor = _anchor_of(model, lv, names)
        if anchor is not None:
            anchors[lv.name] = anchor
    return anchors


def mirrored_lvs(model: ICLVModel, reported: Mapping[str, float]) -> list[str]:
    """The LVs whose sign anchor (:func:`~iclv_jax.spec.sign_anchors`) is negative."""
    return [lv for lv, anchor in sign_anchors(model).items() if reported[anchor] < 0]


def mirror(model: ICLVModel, reported: Mapping[str, float], lvs: Iterable[str]) -> dict[str, float]:
    """``reported`` at the mirror image of ``lvs``: every parameter of
    :func:`~iclv_jax.spec.mirror_parameters` negated (a path between two of them twice,
    so it keeps its sign).  The exact likelihood is the same there.  Raises
    ``ValueError`` for an LV whose mirror image is not a symmetry."""
    values = dict(reported)
    for lv in lvs:
        names = mirror_parameters(model, lv)
        if names is None:
            raise ValueError(f"latent variable {lv!r} has no mirror image to move to")
        for name in names:
            values[name] = -values[name]
    return values
