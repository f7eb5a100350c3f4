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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

MeasurementKind = Literal["ordered_probit", "ordered_logit", "continuous"]
ORDERED_KINDS = ("ordered_probit", "ordered_logit")


class SpecificationError(ValueError):
    """The model specification is inconsistent or not identified."""


def _frozen_mapping(value) -> dict:
    return dict(value) if value is not None else {}


@dataclass(frozen=True)
class LatentVariable:
    """One latent variable.

    Attributes:
        name: the LV's name (used in parameter names).
        covariates: person-level columns ``x_c`` entering with ``b_<c>_to_<name>``.
        predictors: upstream LVs ``m`` entering with ``gamma_<m>_to_<name>``.
    """

    name: str
    covariates: Sequence[str] = ()
    predictors: Sequence[str] = ()

    def __post_init__(self):
        object.__setattr__(self, "covariates", tuple(self.covariates))
        object.__setattr__(self, "predictors", tuple(self.predictors))


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
    """

    name: str
    lv: str
    kind: MeasurementKind = "ordered_probit"
    levels: int | None = None

    def __post_init__(self):
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

    @property
    def ordered(self) -> bool:
        return self.kind in ORDERED_KINDS


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
    """

    attributes: Mapping[str, str] = field(default_factory=dict)
    constants: Mapping[str, str | None] = field(default_factory=dict)
    lvs: Sequence[str] | Mapping[str, str] = ()
    specific: Sequence[str] = ()

    def __post_init__(self):
        object.__setattr__(self, "attributes", _frozen_mapping(self.attributes))
        object.__setattr__(self, "constants", _frozen_mapping(self.constants))
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

    def linear_terms(self, suffix: str | None) -> dict[str, str | None]:
        """``parameter name -> column`` (``None`` for the constant 1)."""
        terms: dict[str, str | None] = {}
        for label, column in self.constants.items():
            terms[f"asc_{label}"] = column
        for label, column in self.attributes.items():
            specific = label in self.specific and suffix is not None
            terms[f"beta_{label}_{suffix}" if specific else f"beta_{label}"] = column
        return terms


@dataclass(frozen=True)
class BinaryProbit:
    """Binary probit: ``P(y = 1) = Phi(V)``, ``y`` in ``{0, 1}`` in column ``choice``."""

    choice: str
    utility: Utility

    def utilities(self) -> dict[str, Utility]:
        return {"": self.utility}

    def lv_suffix(self, alternative: str) -> str | None:
        return None


@dataclass(frozen=True)
class OrderedProbitChoice:
    """Ordered probit choice on ``V`` with thresholds ``tau_<choice>_<j>``.

    ``P(y = j) = Phi(tau_j - V) - Phi(tau_{j-1} - V)``, ``y`` coded ``1..levels``.
    The utility carries no constant (the thresholds absorb it).
    """

    choice: str
    utility: Utility
    levels: int

    def __post_init__(self):
        if not isinstance(self.levels, int) or self.levels < 2:
            raise SpecificationError(
                f"ordered choice {self.choice!r}: levels must be an int >= 2"
            )
        if any(column is None for column in self.utility.constants.values()):
            raise SpecificationError(
                f"ordered choice {self.choice!r}: a constant asc is not identified "
                "beside the thresholds; remove it"
            )

    def utilities(self) -> dict[str, Utility]:
        return {"": self.utility}

    def lv_suffix(self, alternative: str) -> str | None:
        return None


@dataclass(frozen=True)
class Alternative:
    """One MNL alternative.

    Attributes:
        name: used in parameter names (``asc_<name>``, ``theta_<lv>_<name>``).
        code: the value in the choice column meaning "this one was chosen".
        utility: its utility; ``asc=True`` adds ``asc_<name>`` (the constant 1).
        available: a 0/1 availability column (``None``: always available).
    """

    name: str
    code: int
    utility: Utility = field(default_factory=Utility)
    asc: bool = False
    available: str | None = None


@dataclass(frozen=True)
class MultinomialLogit:
    """MNL: ``P(y = j) = exp(V_j) / sum_{k available} exp(V_k)``."""

    choice: str
    alternatives: Sequence[Alternative]

    def __post_init__(self):
        object.__setattr__(self, "alternatives", tuple(self.alternatives))
        if len(self.alternatives) < 2:
            raise SpecificationError(
                f"multinomial logit {self.choice!r} needs at least two alternatives"
            )
        for what in ("name", "code"):
            values = [getattr(alt, what) for alt in self.alternatives]
            duplicated = sorted({str(v) for v in values if values.count(v) > 1})
            if duplicated:
                raise SpecificationError(
                    f"multinomial logit {self.choice!r}: duplicated alternative "
                    f"{what}s {duplicated}"
                )
        if all(any(column is None for column in utility.constants.values())
               for utility in self.utilities().values()):
            raise SpecificationError(
                f"multinomial logit {self.choice!r}: an asc for every alternative is "
                "not identified; fix one (leave asc=False on a reference alternative)"
            )

    def utilities(self) -> dict[str, Utility]:
        return {alt.name: _with_asc(alt) for alt in self.alternatives}

    def lv_suffix(self, alternative: str) -> str | None:
        return alternative


def _with_asc(alt: Alternative) -> Utility:
    if not alt.asc:
        return alt.utility
    constants = {alt.name: None, **alt.utility.constants}
    return Utility(
        attributes=alt.utility.attributes,
        constants=constants,
        lvs=alt.utility.lvs,
        specific=alt.utility.specific,
    )


@dataclass(frozen=True)
class NoChoice:
    """No choice model: the measurement and structural parts alone (e.g. for the first
    stage of sequential estimation, or a pure latent variable model)."""

    choice: None = None

    def utilities(self) -> dict[str, Utility]:
        return {}

    def lv_suffix(self, alternative: str) -> str | None:
        return None


ChoiceModel = BinaryProbit | OrderedProbitChoice | MultinomialLogit | NoChoice


@dataclass(frozen=True)
class ICLVModel:
    """An integrated choice and latent variable model.

    Attributes:
        latent_variables: the LVs (any order; evaluated in topological order).
        indicators: the measurement equations.
        choice: the choice model (:class:`NoChoice` for measurement and structure alone).
        person_id: the column identifying people (panel).
        fixed: parameter name -> value held fixed in estimation.
    """

    latent_variables: Sequence[LatentVariable]
    indicators: Sequence[Indicator]
    choice: ChoiceModel = field(default_factory=NoChoice)
    person_id: str = "id"
    fixed: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "latent_variables", tuple(self.latent_variables))
        object.__setattr__(self, "indicators", tuple(self.indicators))
        object.__setattr__(self, "fixed", _frozen_mapping(self.fixed))
        validate_structure(self)

    @property
    def lv_names(self) -> tuple[str, ...]:
        """LV names in topological order (predictors before the LVs they predict)."""
        return topological_order(self.latent_variables)

    def lv(self, name: str) -> LatentVariable:
        return {lv.name: lv for lv in self.latent_variables}[name]

    @property
    def covariates(self) -> tuple[str, ...]:
        """Person-level covariate columns, in order of first use."""
        seen: dict[str, None] = {}
        for name in self.lv_names:
            seen.update(dict.fromkeys(self.lv(name).covariates))
        return tuple(seen)


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
            cycle = list(reversed(stack[stack.index(name):]))  # causal direction
            raise SpecificationError(
                "the structural paths contain a cycle: " + " -> ".join(cycle)
            )
        state[name] = "active"
        for upstream in predictors[name]:
            visit(upstream, stack + [upstream])
        state[name] = "done"
        order.append(name)

    for lv in lvs:
        visit(lv.name, [lv.name])
    return tuple(order)


def validate_structure(model: ICLVModel) -> None:
    """Reject names that refer to nothing, duplicates, cycles and LVs with no information."""
    names = [lv.name for lv in model.latent_variables]
    if not names:
        raise SpecificationError("the model has no latent variables")
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
    for utility in model.choice.utilities().values():
        for lv in utility.lv_parameters(None):
            if lv not in known:
                raise SpecificationError(
                    f"choice utility uses unknown latent variable {lv!r}"
                )
    _check_lv_information(model)


def _lv_links(model: ICLVModel) -> dict[str, list[str]]:
    """``lv -> names of the parameters that carry it into the data``: the loadings
    ``lambda_<indicator>`` of its indicators and its ``theta`` in each utility."""
    links: dict[str, list[str]] = {lv.name: [] for lv in model.latent_variables}
    for ind in model.indicators:
        links[ind.lv].append(f"lambda_{ind.name}")
    for alt, utility in model.choice.utilities().items():
        for lv, name in utility.lv_parameters(model.choice.lv_suffix(alt)).items():
            links[lv].append(name)
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
