"""Declarative ICLV model specification: plain, frozen Python objects.

A model has latent variables (LVs) linked by a structural DAG,

    eta_l = sum_{m -> l} gamma_{m_to_l} eta_m + sum_c b_{c_to_l} x_c + zeta_l,   zeta ~ N(0, 1),

indicators measuring the LVs (ordered probit, ordered logit or continuous), and one
choice model (binary probit, ordered probit or multinomial logit) whose utilities
are linear in attributes, constants and ``theta * eta`` terms.

Parameter names follow the conventions choice modellers read in Biogeme/Apollo
output: ``gamma_<from>_to_<to>``, ``b_<covariate>_to_<lv>``, ``lambda_<indicator>``,
``tau_<indicator>_<j>``, ``alpha_<indicator>``, ``sigma_<indicator>``, ``asc_<alt>``,
``beta_<attribute>``, ``theta_<lv>`` (``theta_<lv>_<alt>`` for MNL).  The same name
used twice is one parameter.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from .components import (
    Alternative,
    BinaryProbit,
    ChoiceModel,
    MultinomialLogit,
    NoChoice,
    OrderedProbitChoice,
)
from .components.measurement import loading_name
from .errors import SpecificationError
from .expressions import Expression
from .expressions import parse as parse_expression
from .locations import check_intercepts, check_reference_loading
from .randomcoefficients import RandomCoefficient, check_random_coefficients
from .symmetry import lv_coefficients, mirror_parameters, sign_anchors
from .utility import Custom, Utility, declared_utilities, frozen_mapping, scale_parameter

__all__ = [
    "Alternative",
    "BinaryProbit",
    "ChoiceModel",
    "Custom",
    "ICLVModel",
    "Indicator",
    "LatentVariable",
    "MultinomialLogit",
    "NoChoice",
    "OrderedProbitChoice",
    "RandomCoefficient",
    "SpecificationError",
    "Utility",
    "lv_coefficients",
    "mirror_parameters",
    "scale_parameter",
    "sign_anchors",
    "topological_order",
    "validate_structure",
]

MeasurementKind = Literal["ordered_probit", "ordered_logit", "continuous"]
ORDERED_KINDS = ("ordered_probit", "ordered_logit")
ThresholdForm = Literal["free", "symmetric"]
THRESHOLD_FORMS = ("free", "symmetric")
MISSING_POLICIES = ("error", "integrate")


@dataclass(frozen=True)
class LatentVariable:
    """One latent variable.

    Attributes:
        name: the LV's name (used in parameter names).
        covariates: person-level columns ``x_c`` entering with ``b_<c>_to_<name>``.
        predictors: upstream LVs ``m`` entering with ``gamma_<m>_to_<name>``.
        reference: a reference indicator (Biogeme's normalisation): its loading is 1
            (no ``lambda_<indicator>``; intercept 0 and scale 1), and the LV's error
            gets a free scale ``sigma_<name>``: ``zeta ~ N(0, sigma^2)``.  ``None``
            (default): ``sigma = 1`` and every loading free.
        sign_anchor: the parameter kept positive to tell the LV from its mirror image
            (``-eta`` with every parameter of :func:`mirror_parameters` negated has the
            same likelihood): an indicator of this LV (its loading) or one of those
            parameters (e.g. ``theta_<name>``).  ``None`` (default): the loading of
            its first indicator with a free loading, else its first free choice
            coefficient (see :func:`sign_anchors`).
        intercept: a free structural intercept ``intercept_<name>``, ``eta = intercept +
            ...``; identified only where an item of the LV has no free location (see
            :func:`~iclv_jax.locations.location_item`), refused otherwise.
        reference_loading: the reference indicator's fixed loading (default 1; any
            non-zero value, e.g. Biogeme's -1).
    """

    name: str
    covariates: Sequence[str] = ()
    predictors: Sequence[str] = ()
    reference: str | None = None
    sign_anchor: str | None = None
    intercept: bool = False
    reference_loading: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "covariates", tuple(self.covariates))
        object.__setattr__(self, "predictors", tuple(self.predictors))
        object.__setattr__(self, "reference_loading", float(self.reference_loading))
        check_reference_loading(self)


# The user's declaration checks its own fields (kind, levels, thresholds) and names the
# indicator in its error; run-time type checkers (the test run's) leave that to it.
@typing.no_type_check
@dataclass(frozen=True)
class Indicator:
    """A person-level indicator (survey answer) of one LV.

    Ordered kinds: ``P(I = j) = F(tau_j - lambda eta) - F(tau_{j-1} - lambda eta)``,
    ``j = 1..levels``, ``F`` the normal (probit) or logistic (logit) CDF.
    Continuous: ``I = alpha + lambda eta + sigma eps``, ``eps ~ N(0, 1)``.

    Attributes:
        name: the data column holding the answers (coded ``1..levels`` if ordered).
        lv: the LV it measures.
        kind: ``"ordered_probit"``, ``"ordered_logit"`` or ``"continuous"``.
        levels: number of answer levels ``J`` (ordered kinds only).
        missing_codes: answers meaning "no answer" (e.g. ``(6, -1)`` for "no opinion"
            and "missing" on a 1..5 item; ``math.nan`` allows NaN).  A missing answer
            is integrated out: the item contributes ``log 1 = 0`` for that person.
        thresholds: ``"free"`` (default): ``J - 1`` ordered thresholds
            ``tau_<set>_<j>``; ``"symmetric"``: thresholds symmetric around 0, only the
            upper half ``tau_<set>_<j>`` (``j > J / 2``, positive and increasing) are
            parameters, ``tau_<J - j> = -tau_<j>`` (and ``0`` in the middle when
            ``J - 1`` is odd).
        threshold_set: the name of the thresholds (default: the indicator's name);
            items naming the same set share their thresholds.
        location_scale: ordered items only: a free intercept ``alpha_<name>`` and scale
            ``sigma_<name>``, ``P(I = j) = F((tau_j - alpha - lambda eta) / sigma) -
            F((tau_{j-1} - alpha - lambda eta) / sigma)`` (identified with thresholds
            shared with a reference indicator, Biogeme's convention).
    """

    name: str
    lv: str
    kind: MeasurementKind = "ordered_probit"
    levels: int | None = None
    missing_codes: Sequence[float] = ()
    thresholds: ThresholdForm = "free"
    threshold_set: str | None = None
    location_scale: bool = False

    def __post_init__(self):
        object.__setattr__(self, "missing_codes", tuple(float(code) for code in self.missing_codes))
        if self.thresholds not in THRESHOLD_FORMS:
            raise SpecificationError(
                f"indicator {self.name!r}: unknown thresholds {self.thresholds!r}; "
                f"use one of {THRESHOLD_FORMS}"
            )
        if self.kind not in (*ORDERED_KINDS, "continuous"):
            raise SpecificationError(
                f"indicator {self.name!r}: unknown kind {self.kind!r}; "
                f"use one of {(*ORDERED_KINDS, 'continuous')}"
            )
        if self.kind in ORDERED_KINDS:
            if not isinstance(self.levels, int) or self.levels < 2:
                raise SpecificationError(
                    f"indicator {self.name!r}: an ordered indicator needs levels >= 2 "
                    f"(got {self.levels!r})"
                )
        elif self.levels is not None:
            raise SpecificationError(
                f"indicator {self.name!r}: a continuous indicator takes no levels"
            )
        elif self.thresholds != "free" or self.threshold_set is not None or self.location_scale:
            raise SpecificationError(
                f"indicator {self.name!r}: a continuous indicator has no thresholds (and "
                "always has its own intercept and scale)"
            )

    @property
    def ordered(self) -> bool:
        return self.kind in ORDERED_KINDS

    @property
    def n_levels(self) -> int:
        """The number of levels of an ordered item (a continuous one has none)."""
        if self.levels is None:
            raise SpecificationError(f"indicator {self.name!r} is continuous: it has no levels")
        return self.levels

    @property
    def threshold_group(self) -> str:
        """The name of this item's threshold set (``tau_<group>_<j>``)."""
        return self.name if self.threshold_set is None else self.threshold_set

    @property
    def allows_nan(self) -> bool:
        return any(math.isnan(code) for code in self.missing_codes)


@dataclass(frozen=True)
class ICLVModel:
    """An integrated choice and latent variable model.

    Attributes:
        latent_variables: the LVs (any order; evaluated in topological order); none
            for a choice model alone (MNL, probit, mixed logit: no indicators then).
        indicators: the measurement equations.
        choice: the choice model (:class:`NoChoice` for measurement and structure alone).
        person_id: the column identifying people (panel).
        fixed: parameter name -> value held fixed in estimation.
        missing_indicators: ``"error"`` (default): a NaN indicator answer is a
            :class:`~iclv_jax.DataError`; ``"integrate"``: NaN answers of every
            indicator are missing and integrated out (see ``Indicator.missing_codes``).
        bounds: parameter name -> ``(lower, upper)`` (``None``: unbounded on that
            side), for coefficients (identity-transformed parameters); kept by the
            optimiser (projected Newton or L-BFGS-B), so an estimate can reach the
            bound and a bound that does not bind leaves the optimum unchanged.
        panel: ``True`` (default): rows sharing ``person_id`` are one person with one
            set of draws; ``False``: cross-sectional, every row is its own person
            (``person_id`` is not read).
        random_coefficients: the :class:`RandomCoefficient` s used by the utilities;
            each adds a draw dimension after the LVs'.
        variables: derived variables, name -> expression of columns and constants
            (text, e.g. ``"brand_1 == 'Novum'"``, ``"price_1 / 1000"``, or an
            expression), computed once on the data in this order (each may use the
            ones before it) and usable wherever a column is: utilities, covariates,
            availability.  Text and categorical columns may be compared with strings.
    """

    latent_variables: Sequence[LatentVariable]
    indicators: Sequence[Indicator]
    choice: ChoiceModel = field(default_factory=NoChoice)
    person_id: str = "id"
    fixed: Mapping[str, float] = field(default_factory=dict)
    missing_indicators: str = "error"
    bounds: Mapping[str, tuple[float | None, float | None]] = field(default_factory=dict)
    panel: bool = True
    random_coefficients: Sequence[RandomCoefficient] = ()
    variables: Mapping[str, Expression | str] = field(default_factory=dict)  # text parsed

    def __post_init__(self):
        object.__setattr__(self, "variables", _parsed_variables(self.variables))
        object.__setattr__(self, "random_coefficients", tuple(self.random_coefficients))
        object.__setattr__(self, "latent_variables", tuple(self.latent_variables))
        object.__setattr__(self, "indicators", tuple(self.indicators))
        object.__setattr__(self, "fixed", frozen_mapping(self.fixed))
        object.__setattr__(
            self,
            "bounds",
            {name: _bound_pair(name, pair) for name, pair in frozen_mapping(self.bounds).items()},
        )
        if self.missing_indicators not in MISSING_POLICIES:
            raise SpecificationError(
                f"missing_indicators must be one of {MISSING_POLICIES}, "
                f"not {self.missing_indicators!r}"
            )
        validate_structure(self)

    @property
    def lv_names(self) -> tuple[str, ...]:
        """LV names in topological order (predictors before the LVs they predict)."""
        return topological_order(self.latent_variables)

    def lv(self, name: str) -> LatentVariable:
        return {lv.name: lv for lv in self.latent_variables}[name]

    @property
    def n_draw_dims(self) -> int:
        """Draw dimensions per person: one per LV, then one per random coefficient."""
        return len(self.latent_variables) + len(self.random_coefficients)

    @property
    def covariates(self) -> tuple[str, ...]:
        """Person-level covariate columns, in order of first use."""
        seen: dict[str, None] = {}
        for name in self.lv_names:
            seen.update(dict.fromkeys(self.lv(name).covariates))
        seen.update(dict.fromkeys(self.choice.person_covariates()))
        return tuple(seen)


def _parsed_variables(variables) -> dict[str, Expression]:
    """``name -> expression``, text parsed; a name must be an identifier."""
    parsed = {}
    for name, value in frozen_mapping(variables).items():
        if not (isinstance(name, str) and name.isidentifier()):
            raise SpecificationError(
                f"variable name {name!r} must be an identifier (letters, digits, _)"
            )
        parsed[name] = value if isinstance(value, Expression) else parse_expression(value)
    return parsed


def _bound_pair(name: str, pair) -> tuple[float | None, float | None]:
    """``(lower, upper)`` as floats or ``None``; raises naming the parameter."""
    try:
        lower, upper = pair
    except (TypeError, ValueError):
        raise SpecificationError(
            f"bounds of {name!r} must be a pair (lower, upper), got {pair!r}"
        ) from None
    lower = None if lower is None or lower == -math.inf else float(lower)
    upper = None if upper is None or upper == math.inf else float(upper)
    if lower is None and upper is None:
        raise SpecificationError(f"bounds of {name!r}: give a lower or an upper bound")
    if lower is not None and upper is not None and not lower < upper:
        raise SpecificationError(f"bounds of {name!r}: lower {lower} is not below upper {upper}")
    return lower, upper


def topological_order(lvs: Sequence[LatentVariable]) -> tuple[str, ...]:
    """Order LVs so that every predictor comes before what it predicts.

    Raises SpecificationError naming the cycle when the paths are not a DAG.
    """
    predictors = {lv.name: lv.predictors for lv in lvs}
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str, stack: list[str]):
        if state.get(name) == "done":
            return
        if state.get(name) == "active":
            cycle = list(reversed(stack[stack.index(name) :]))  # causal direction
            raise SpecificationError("the structural paths contain a cycle: " + " -> ".join(cycle))
        state[name] = "active"
        for upstream in predictors[name]:
            visit(upstream, stack + [upstream])
        state[name] = "done"
        order.append(name)

    for lv in lvs:
        visit(lv.name, [lv.name])
    return tuple(order)


def _check_threshold_sets(indicators: Sequence[Indicator]) -> None:
    """Items sharing a threshold set must agree on their levels and threshold form."""
    first: dict[str, Indicator] = {}
    for ind in indicators:
        if not ind.ordered:
            continue
        other = first.setdefault(ind.threshold_group, ind)
        if (other.levels, other.thresholds) != (ind.levels, ind.thresholds):
            raise SpecificationError(
                f"indicators {other.name!r} and {ind.name!r} share the thresholds "
                f"{ind.threshold_group!r} but differ in levels or threshold form "
                f"({other.levels}, {other.thresholds!r}) vs ({ind.levels}, {ind.thresholds!r})"
            )


def _check_references(model: ICLVModel) -> None:
    """A reference indicator is an ordered item of its LV with no intercept and scale."""
    indicators = {ind.name: ind for ind in model.indicators}
    for lv in model.latent_variables:
        if lv.reference is None:
            continue
        ind = indicators.get(lv.reference)
        if ind is None or ind.lv != lv.name:
            raise SpecificationError(
                f"latent variable {lv.name!r}: reference indicator {lv.reference!r} is "
                "not one of its indicators"
            )
        if ind.location_scale or not ind.ordered:
            raise SpecificationError(
                f"reference indicator {ind.name!r} must be ordered, with intercept 0 and "
                "scale 1 (location_scale=False)"
            )


def validate_structure(model: ICLVModel) -> None:
    """Reject names that refer to nothing, duplicates, cycles and LVs with no information."""
    names = [lv.name for lv in model.latent_variables]
    if not names and model.choice.empty:
        raise SpecificationError(
            "the model has no latent variables and no choice model: nothing to estimate"
        )
    if not names and model.indicators:
        raise SpecificationError(
            f"indicators {[ind.name for ind in model.indicators]} but no latent variables: "
            "an indicator measures a latent variable; declare it in latent_variables"
        )
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise SpecificationError(f"latent variables defined twice: {duplicated}")
    known = set(names)
    for lv in model.latent_variables:
        for upstream in lv.predictors:
            if upstream not in known:
                raise SpecificationError(
                    f"latent variable {lv.name!r} has unknown predictor {upstream!r}"
                )
    topological_order(model.latent_variables)
    indicator_names = [ind.name for ind in model.indicators]
    duplicated = sorted({n for n in indicator_names if indicator_names.count(n) > 1})
    if duplicated:
        raise SpecificationError(f"indicators defined twice: {duplicated}")
    for ind in model.indicators:
        if ind.lv not in known:
            raise SpecificationError(
                f"indicator {ind.name!r} measures unknown latent variable {ind.lv!r}"
            )
    for utility in declared_utilities(model.choice, model.lv_names).values():
        for lv_name in utility.lv_parameters(None):
            if lv_name not in known:
                raise SpecificationError(f"choice utility uses unknown latent variable {lv_name!r}")
        if utility.extra is not None:
            unknown = sorted(set(utility.extra.lvs) - known)
            if unknown:
                raise SpecificationError(
                    f"custom utility term uses unknown latent variables {unknown}"
                )
    _check_threshold_sets(model.indicators)
    _check_references(model)
    check_random_coefficients(model)
    _check_lv_information(model)
    check_intercepts(model)
    sign_anchors(model)


def _lv_links(model: ICLVModel) -> dict[str, list[str]]:
    """``lv -> names of what carries it into the data``: the loadings
    ``lambda_<indicator>`` of its indicators, its ``theta`` in each utility, and
    ``"custom term"`` where a custom utility term uses it."""
    links: dict[str, list[str]] = {lv.name: [] for lv in model.latent_variables}
    for ind in model.indicators:
        links[ind.lv].append(loading_name(ind.name))
    for alt, utility in declared_utilities(model.choice, model.lv_names).items():
        for lv, name in utility.lv_parameters(model.choice.lv_suffix(alt)).items():
            links[lv].append(name)
        for lv in utility.extra.lvs if utility.extra is not None else ():
            links[lv].append("custom term")
    return links


def _check_lv_information(model: ICLVModel) -> None:
    """An LV whose every loading and choice effect is absent or fixed to 0 never reaches
    the likelihood: it, and the structural coefficients into it, are not identified."""
    for lv, links in _lv_links(model).items():
        if not links:
            raise SpecificationError(
                f"latent variable {lv!r} has no indicators and no effect on the "
                "choice: it is not identified"
            )
        if all(model.fixed.get(name) == 0 for name in links):
            raise SpecificationError(
                f"latent variable {lv!r} reaches the data only through {links}, all fixed "
                "to 0: it is not identified"
            )
