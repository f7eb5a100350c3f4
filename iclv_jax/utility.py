"""Utilities as choice modellers declare them: linear terms, LV terms, a custom JAX term
and random coefficients (:class:`Utility`, :class:`Custom`), and the choice scale."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

from .errors import SpecificationError
from .expressions import Expression, parse
from .expressions.evaluate import ExpressionTerm
from .expressions.linear import split
from .expressions.nodes import Beta, Latent
from .expressions.resolve import mentions, resolve

__all__ = [
    "Custom",
    "Utility",
    "as_utility",
    "declared_utilities",
    "frozen_mapping",
    "scale_parameter",
]


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
        terms: parameter name -> column (``None``: the constant 1), named as given
            (what a utility expression's linear terms become).
    """

    attributes: Mapping[str, str] = field(default_factory=dict)
    constants: Mapping[str, str | None] = field(default_factory=dict)
    lvs: Sequence[str] | Mapping[str, str] = ()
    specific: Sequence[str] = ()
    extra: Custom | None = None
    random: Mapping[str, str] = field(default_factory=dict)
    terms: Mapping[str, str | None] = field(default_factory=dict)

    def __post_init__(self):
        for what in ("attributes", "constants", "random"):
            value = getattr(self, what)
            if value is not None and not isinstance(value, Mapping):
                example = {str(c): str(c) for c in value} if isinstance(value, list | tuple) else {}
                raise SpecificationError(
                    f"Utility: {what} must be a mapping label -> column, e.g. "
                    f"{what}={example or {'price': 'price'}!r}, not {value!r}"
                )
        object.__setattr__(self, "terms", frozen_mapping(self.terms))
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
        terms.update(self.terms)
        return terms


def as_utility(value, where: str) -> Utility | Expression:
    """A declared utility: a :class:`Utility`, an expression, or the text of one
    (parsed here, so a bad expression fails where it is declared)."""
    if isinstance(value, Utility | Expression):
        return value
    if isinstance(value, str):
        return parse(value)
    raise SpecificationError(
        f"{where}: a utility is a Utility, an expression or its text, not {value!r}"
    )


def provisional_utility(expression: Expression, lvs: Collection[str] | None) -> Utility:
    """An expression's utility before the data are seen: its LVs are known, every other
    name counts as a parameter (so ``theta * lv`` is an LV term and a parameter alone a
    constant; everything else is a custom term).  Enough for the checks made when the
    model is declared; the data then decide (:func:`iclv_jax.binding.bind`)."""
    parts = split(resolve(expression, None, lvs, "utility"))
    extra = None
    if parts.rest is not None:
        extra = Custom(
            ExpressionTerm(parts.rest),
            parameters=mentions(parts.rest, Beta),
            lvs=mentions(parts.rest, Latent),
        )
    terms = {name: None if data is None else str(data) for name, data in parts.linear.items()}
    return Utility(terms=terms, lvs=parts.lvs, extra=extra)


def declared_utilities(choice, lvs: Collection[str] | None) -> dict[str, Utility]:
    """``label -> Utility`` of a choice model, expressions taken provisionally
    (:func:`provisional_utility`; a bound model holds none); ``lvs=None`` where the
    model's LVs are not known (a choice model checking itself)."""
    return {
        label: u if isinstance(u, Utility) else provisional_utility(u, lvs)
        for label, u in choice.utilities().items()
    }


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
