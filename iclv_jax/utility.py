"""Utilities as choice modellers declare them: linear terms, LV terms, a custom JAX term
and random coefficients (:class:`Utility`, :class:`Custom`), and the choice scale."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from .errors import SpecificationError

__all__ = ["Custom", "Utility", "frozen_mapping", "scale_parameter"]


def frozen_mapping(value) -> dict:
    """``value`` as a dict (``None``: empty)."""
    return dict(value) if value is not None else {}


@dataclass(frozen=True)
class Custom:
    """A utility term written as a JAX function, differentiated by autodiff.

    ``fn(p, x, lv)`` gets dicts by name: ``p[name]`` the parameters (scalars),
    ``x[column]`` the attributes (one value per choice situation, shape ``(T,)``) and
    ``lv[name]`` the latent variables at one draw (scalars); it returns the term's value
    per situation (``(T,)`` or a scalar), added to the alternative's utility (before the
    choice scale).  E.g. ``Custom(lambda p, x, lv: -jnp.exp(p["b"] * lv["a"]) *
    x["price"], parameters=["b"], attributes=["price"], lvs=["a"])``.  A parameter
    named like another is the same parameter.  The hand-written analytic scores do not
    cover custom terms (``check_gradients`` then compares autodiff with finite
    differences), and a model holding one cannot be written by ``model_to_dict``.
    """

    fn: Callable
    parameters: Sequence[str]
    attributes: Sequence[str] = ()
    lvs: Sequence[str] = ()

    def __post_init__(self):
        for what in ("parameters", "attributes", "lvs"):
            object.__setattr__(self, what, tuple(getattr(self, what)))
        if not callable(self.fn):
            raise SpecificationError(f"Custom: fn must be callable, not {self.fn!r}")
        if not self.parameters:
            raise SpecificationError("Custom: name at least one parameter")


@dataclass(frozen=True)
class Utility:
    """A utility linear in parameters.

    ``V = sum_a beta_<a> x_a + sum_c asc_<c> d_c + sum_l theta_<l> eta_l``

    Attributes:
        attributes: label -> column; coefficient ``beta_<label>``.
        constants: label -> dummy column (``None``: the constant 1); coefficient
            ``asc_<label>``.
        lvs: LVs entering the utility.  A sequence uses default names
            (``theta_<lv>``, or ``theta_<lv>_<alt>`` in an MNL); a mapping
            ``lv -> parameter name`` names them (the same name twice is shared).
        specific: attribute labels whose coefficient is alternative-specific
            (``beta_<label>_<alt>``; MNL only).
        extra: a :class:`Custom` term added to the utility.
        random: random-coefficient name -> column: ``c_n x`` with ``c_n`` the
            :class:`RandomCoefficient` of that name declared on the model.
    """

    attributes: Mapping[str, str] = field(default_factory=dict)
    constants: Mapping[str, str | None] = field(default_factory=dict)
    lvs: Sequence[str] | Mapping[str, str] = ()
    specific: Sequence[str] = ()
    extra: Custom | None = None
    random: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        for what in ("attributes", "constants", "random"):
            value = getattr(self, what)
            if value is not None and not isinstance(value, Mapping):
                example = {str(c): str(c) for c in value} if isinstance(value, list | tuple) else {}
                raise SpecificationError(
                    f"Utility: {what} must be a mapping label -> column, e.g. "
                    f"{what}={example or {'price': 'price'}!r}, not {value!r}"
                )
        object.__setattr__(self, "attributes", frozen_mapping(self.attributes))
        object.__setattr__(self, "random", frozen_mapping(self.random))
        object.__setattr__(self, "constants", frozen_mapping(self.constants))
        object.__setattr__(self, "specific", tuple(self.specific))
        unknown = set(self.specific) - set(self.attributes)
        if unknown:
            raise SpecificationError(
                f"specific names attributes not in the utility: {sorted(unknown)}"
            )

    def lv_parameters(self, suffix: str | None) -> dict[str, str]:
        """``lv -> parameter name`` with the default naming applied."""
        if isinstance(self.lvs, Mapping):
            return dict(self.lvs)
        tail = "" if suffix is None else f"_{suffix}"
        return {lv: f"theta_{lv}{tail}" for lv in self.lvs}

    def coefficient_name(self, label: str, suffix: str | None) -> str:
        """``beta_<label>``, or ``beta_<label>_<suffix>`` for an alternative-specific
        attribute."""
        specific = label in self.specific and suffix is not None
        return f"beta_{label}_{suffix}" if specific else f"beta_{label}"

    def linear_terms(self, suffix: str | None) -> dict[str, str | None]:
        """``parameter name -> column`` (``None`` for the constant 1)."""
        terms: dict[str, str | None] = {}
        for label, column in self.constants.items():
            terms[f"asc_{label}"] = column
        for label, column in self.attributes.items():
            terms[self.coefficient_name(label, suffix)] = column
        return terms


def scale_parameter(choice) -> str | None:
    """The name of the choice model's scale ``mu`` (``V = mu * (linear utility)``):
    ``scale=True`` gives ``scale_<choice>``, a string names it, ``False``: none."""
    scale = getattr(choice, "scale", False)
    if scale is True:
        return f"scale_{choice.choice}"
    if scale is False:
        return None
    if isinstance(scale, str) and scale:
        return scale
    raise SpecificationError(
        f"choice {choice.choice!r}: scale must be True, False or a parameter name, not {scale!r}"
    )
