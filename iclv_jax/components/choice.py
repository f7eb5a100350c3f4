"""Choice models: the abstract kernel on utilities ``V_tj = mu (x_tj . beta + theta_j . eta
+ custom terms + random terms)`` and the abstract choice model a user declares.

A choice kind is one file in this package holding a final :class:`ChoiceModel` (the
user's declaration: columns, utilities, levels; its parameters, data coding, outcomes,
null log-likelihood and identification checks) and a final :class:`AbstractChoice`
kernel (its probabilities, pure JAX).  Nothing outside the file branches on the kind.

``log_prob`` returns ``(T,)`` for ``eta`` ``(LK,)`` (one draw) and ``(T, R)`` for
``eta`` ``(LK, R)`` (all draws, draws last; see
:func:`~iclv_jax.components.links.along_draws`).
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple, cast

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from jaxtyping import Array, Bool, Float, Int

from ..expressions import Expression
from ..utility import Utility, declared_utilities, scale_parameter
from .declarations import AbstractComponent, ComponentPlan, Declarations
from .links import along_draws
from .structural import cholesky_name, random_coefficient_names

__all__ = ["CHOICE_KINDS", "AbstractChoice", "ChoiceModel", "CustomTerm"]


class CustomTerm(NamedTuple):
    """A custom utility term placed in the model: ``fn(p, x, lv)`` added to utility
    ``utility``; ``parameters`` pairs names with positions in ``custom_params``,
    ``attributes`` names with design columns, ``lvs`` names with LV positions."""

    fn: Callable
    utility: int
    parameters: tuple[tuple[str, int], ...]
    attributes: tuple[tuple[str, int], ...]
    lvs: tuple[tuple[str, int], ...]


class AbstractChoice(AbstractComponent):
    """``V_tj = mu (x_tj . beta + theta_j . eta + custom_j(x_t, eta) + sum_k c_k x_tjk)``;
    ``x . beta`` is draw-free and computed once; ``mu`` is the choice scale (1 unless the
    model frees it); ``c_k`` are random coefficients (``eta`` then holds the LVs followed
    by them).  With custom or random terms the draw-free part is ``(x . beta, x)``.

    A final kernel adds its own fields and defines :meth:`log_prob` and
    :meth:`probabilities`."""

    additive: ClassVar = "whole"
    # whether iclv_jax.analytic holds hand-written scores for the kernel (per situation)
    analytic_scores: ClassVar[bool] = True

    beta: Float[Array, " P"]
    theta: Float[Array, "J L"]
    scale: Float[Array, ""]
    custom_params: Float[Array, " Q"]
    custom_terms: tuple[CustomTerm, ...] = eqx.field(static=True)
    # (utility j, design column, position in eta) of every random-coefficient term
    random_terms: tuple[tuple[int, int, int], ...] = eqx.field(static=True)

    @abc.abstractmethod
    def log_prob(self, base, eta, chosen: Int[Array, " T"], available: Bool[Array, "T J"]):
        """``log P(y_t | eta)`` of the observed outcome of every situation ``t``."""

    @abc.abstractmethod
    def probabilities(self, base, eta: Float[Array, " LK"], available: Bool[Array, "T J"]):
        """``P(y_t = k | eta)`` ``(T, K)`` for every outcome ``k`` (for prediction)."""

    def person_log_prob(self, person, eta: Float[Array, "LK R"]):
        """``sum_t log P(y_t | eta_r)`` over the person's real situations, ``(R,)``: the
        choice part of the draw log-likelihood (``person`` a person's
        :class:`~iclv_jax.placement.PanelArrays`).  A kernel whose situations do not add
        up given ``eta`` (latent classes) overrides it."""
        choices = self.log_prob(
            self.base_utility(person.design), eta, person.chosen, person.available
        )
        return jnp.where(person.situation_mask[:, None], choices, 0.0).sum(axis=0)

    def person_probabilities(self, person, eta: Float[Array, " LK"]):
        """``P(y_t = k | eta)`` ``(T, K)`` of the person's situations at one draw (for
        prediction); default :meth:`probabilities`."""
        return self.probabilities(self.base_utility(person.design), eta, person.available)

    def utility_derivatives(
        self, base, eta, chosen: Int[Array, " T"], available: Bool[Array, "T J"]
    ):
        """``d log P(y_t | eta_r) / dV_t`` ``(T, J, R)`` and ``d^2 log P(y_t | eta_r) / dV_t
        dV_t'`` ``(T, J, J, R)`` for ``eta`` ``(LK, R)``, in closed form (kinds that declare
        ``linear_fields`` define it)."""
        raise NotImplementedError(f"{type(self).__name__} has no closed-form utility derivatives")

    def linear_derivatives(
        self, design: Float[Array, "T J PA"], eta, chosen, available, mask, weights
    ):
        """Per draw ``d c_r / d gamma`` ``(R, E)`` and ``d^2 sum_r w_r c_r / d gamma
        d gamma'`` ``(E, E)`` for ``gamma = (beta, vec theta)``, in which ``V_tjr = mu (x_tj
        . beta + theta_j . eta_r + ...)`` is linear.  With ``z_tjr = (x_tj, e_j (x) eta_r)``
        and ``(d_tr, C_tr)`` the slope and curvature in ``V_t``
        (:meth:`utility_derivatives`): ``mu sum_t z_tr' d_tr`` and ``mu^2 sum_tr w_r z_tr'
        C_tr z_tr``.  The draws are summed first, as moments ``M_t,ab = sum_r w_r e_ar e_br
        C_tr`` of ``e_r = (1, eta_r)``: ``x'M_00 x`` (beta, beta), ``x'M_0,1+l`` (beta,
        theta_kl), ``M_1+l,1+m`` (theta_jl, theta_km).  ``mask`` marks the real
        situations."""
        slope, curvature = self.utility_derivatives(
            self.base_utility(design), eta, chosen, available
        )
        slope = jnp.where(mask[:, None, None], slope, 0.0)
        curvature = jnp.where(mask[:, None, None, None], curvature, 0.0)
        x = design[..., : self.beta.shape[0]]
        n_beta, (n_alt, n_eta), n_draws = x.shape[2], self.theta.shape, eta.shape[1]
        slopes = jnp.concatenate(
            [
                jnp.einsum("tjp,tjr->rp", x, slope),
                jnp.einsum("tjr,lr->rjl", slope, eta).reshape(n_draws, n_alt * n_eta),
            ],
            axis=1,
        )
        e = jnp.concatenate([jnp.ones((1, n_draws), eta.dtype), eta])
        moments = jnp.einsum("tjkr,ar,br,r->tabjk", curvature, e, e, weights)
        beta_beta = jnp.einsum("tjp,tjk,tkq->pq", x, moments[:, 0, 0], x)
        beta_theta = jnp.einsum("tjp,tljk->pkl", x, moments[:, 0, 1:])
        beta_theta = beta_theta.reshape(n_beta, n_alt * n_eta)
        theta_theta = jnp.einsum("tlmjk->jlkm", moments[:, 1:, 1:])
        theta_theta = theta_theta.reshape(n_alt * n_eta, n_alt * n_eta)
        block = jnp.block([[beta_beta, beta_theta], [beta_theta.T, theta_theta]])
        return self.scale * slopes, self.scale**2 * block

    def base_utility(self, design: Float[Array, "T J PA"]):
        linear = design[..., : self.beta.shape[0]] @ self.beta
        return (linear, design) if self.custom_terms or self.random_terms else linear

    def random(self, design: Float[Array, "T J PA"], eta: Float[Array, " LK"]):
        """``sum_k c_k x_tjk`` (``c_k = eta[L + k]``, the person's random coefficients)."""
        total = jnp.zeros(design.shape[:2], design.dtype)
        for utility, column, position in self.random_terms:
            total = total.at[:, utility].add(eta[position] * design[:, utility, column])
        return total

    def custom(self, design: Float[Array, "T J PA"], eta: Float[Array, " L"]):
        """``custom_j(x_t, eta)`` of every term, ``(T, J)``."""
        total = jnp.zeros(design.shape[:2], design.dtype)
        for term in self.custom_terms:
            p = {name: self.custom_params[q] for name, q in term.parameters}
            x = {name: design[:, term.utility, column] for name, column in term.attributes}
            lv = {name: eta[l] for name, l in term.lvs}
            value = jnp.broadcast_to(term.fn(p, x, lv), design.shape[:1])
            total = total.at[:, term.utility].add(value)
        return total

    def utilities(self, base, eta: Float[Array, " LK *R"]):
        """``V`` ``(T, J)`` for ``eta`` ``(LK,)``, ``(T, J, R)`` for ``eta`` ``(LK, R)``
        (custom and random terms are evaluated draw by draw)."""
        if self.custom_terms or self.random_terms:
            linear, design = base

            def extra(eta_draw):
                return self.custom(design, eta_draw) + self.random(design, eta_draw)

            terms = extra(eta) if eta.ndim == 1 else jax.vmap(extra, 1, 2)(eta)
            return self.scale * (along_draws(linear, eta) + self.theta @ eta + terms)
        return self.scale * (along_draws(base, eta) + self.theta @ eta)


# kind name (as in model files) -> final ChoiceModel class, filled as kinds are defined
CHOICE_KINDS: dict[str, type[ChoiceModel]] = {}


class ChoiceModel(abc.ABC):
    """The choice part of a model as the user declares it (a frozen dataclass in each
    final kind).  Every final kind names its ``kind`` (as written in model files) and
    its ``kernel``, and says how its outcomes are coded, counted and checked; the
    utility parameters are declared here, once for all kinds."""

    kind: ClassVar[str]
    kernel: ClassVar[type[AbstractChoice]]
    choice: Any  # the column holding the outcomes (``None``: no choice part)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__:
            CHOICE_KINDS[cls.kind] = cls

    # -- the utilities ------------------------------------------------------------------
    @abc.abstractmethod
    def utilities(self) -> dict[str, Utility | Expression]:
        """``label -> utility`` as declared, in kernel order (``""`` for the one utility
        of a binary or ordered model); :func:`~iclv_jax.utility.declared_utilities`
        gives them all as :class:`Utility`."""

    def with_utilities(self, utilities: dict[str, Utility]) -> ChoiceModel:
        """The same choice model with these utilities (by label); this default serves a
        kind with one utility held in its field ``utility``."""
        (utility,) = utilities.values()
        return dataclasses.replace(cast(Any, self), utility=utility)

    def lv_suffix(self, alternative: str) -> str | None:
        """The suffix of default LV-coefficient names in utility ``alternative``."""
        return None

    def person_covariates(self) -> tuple[str, ...]:
        """Person-level columns the choice part reads beyond the utilities' (e.g. a
        class-membership model's covariates); they join ``ICLVModel.covariates``."""
        return ()

    def row_columns(self) -> dict[str, str]:
        """Row-level columns the choice part reads beyond its choice, availability and
        utility columns, with what each is used for (e.g. a joint model's experiment
        column and its other components' choice columns)."""
        return {}

    def lv_coefficient_names(self, lvs: tuple[str, ...]) -> dict[str, list[str]]:
        """``lv -> the names of the parameters multiplying it`` in the choice part (what
        changes sign with the LV): by default its coefficients in the utilities."""
        names: dict[str, list[str]] = {lv: [] for lv in lvs}
        for alt, utility in declared_utilities(self, lvs).items():
            for lv, name in utility.lv_parameters(self.lv_suffix(alt)).items():
                names[lv].append(name)
        return names

    @property
    def empty(self) -> bool:
        """Whether there is no choice part (measurement and structure alone)."""
        return False

    # -- outcomes and data --------------------------------------------------------------
    @abc.abstractmethod
    def outcome_labels(self) -> list:
        """The outcomes, labelled as prediction columns."""

    def outcome_codes(self) -> list:
        """The value in the choice column meaning each outcome."""
        return self.outcome_labels()

    def availability_columns(self) -> tuple[str, ...]:
        """Data columns saying which utilities are available."""
        return ()

    @abc.abstractmethod
    def encode(self, df: pd.DataFrame, person_id: str) -> tuple[np.ndarray, np.ndarray]:
        """``(chosen (n,) int, available (n, J) bool)`` per row; raises
        :class:`~iclv_jax.errors.DataError` naming the column and person."""

    def placeholder(self, data: pd.DataFrame) -> np.ndarray:
        """Outcomes to fill a choice column missing from ``data`` (for predictions that
        do not condition on choices): some valid outcome per row."""
        return np.full(len(data), self.outcome_codes()[0])

    def observed_labels(self, data: pd.DataFrame) -> np.ndarray:
        """Each row's observed outcome as its label (:meth:`outcome_labels`; a value
        that is no outcome code stays as it is)."""
        label_of = dict(zip(self.outcome_codes(), self.outcome_labels(), strict=True))
        values = data[self.choice].to_numpy()
        return np.array([label_of.get(v, v) for v in values.tolist()], dtype=object)

    def placeholders(self, data: pd.DataFrame) -> dict[str, Callable[[], np.ndarray]]:
        """``choice column -> what fills it`` when missing from ``data`` (called only
        then): :meth:`placeholder` for the one column (a joint model has several)."""
        return {} if self.choice is None else {self.choice: lambda: self.placeholder(data)}

    @abc.abstractmethod
    def check_identified(self, chosen: np.ndarray, available: np.ndarray) -> None:
        """Raise :class:`~iclv_jax.errors.DataError` where the observed outcomes (of the
        real situations) cannot identify the choice parameters."""

    def threshold_sets(self) -> tuple[str, ...]:
        """The names of threshold sets this choice model declares."""
        return ()

    def ordered_columns(self) -> list[tuple[str, str, int]]:
        """``(what, column, levels)`` of the ordered outcomes it reads."""
        return []

    # -- fit statistics -----------------------------------------------------------------
    @abc.abstractmethod
    def null_loglike(self, chosen: np.ndarray, available: np.ndarray) -> float | None:
        """The log-likelihood of equal shares."""

    def constants_loglike(self, chosen: np.ndarray, available: np.ndarray) -> float:
        """The log-likelihood of the observed shares, ``sum_k n_k log(n_k / n)``."""
        counts = np.bincount(chosen).astype(float)
        counts = counts[counts > 0]
        return float((counts * np.log(counts / counts.sum())).sum())

    # -- parameters ---------------------------------------------------------------------
    def declare_own(self, model, panel, declarations: Declarations) -> dict:
        """The kind's own parameter fields beyond the utilities' (e.g. thresholds):
        ``field -> (names, shape)``."""
        return {}

    def declare(self, model, panel, declarations: Declarations) -> ComponentPlan:
        """Declare the choice parameters, in this order: ``beta`` (the linear
        coefficients named by the data, ``panel.linear_names``), ``theta`` (LV
        coefficients, ``theta_<lv>[_<alt>]`` or as named), the kind's own
        (:meth:`declare_own`), the parameters of custom terms, the random
        coefficients' means ``mu``, spreads ``sigma`` (log) and Cholesky elements
        ``chol_<k>_<j>`` (start 0), and the scale (log)."""
        lvs = model.lv_names
        utilities = declared_utilities(self, lvs)
        n_draws = len(lvs) + len(model.random_coefficients)
        beta = [declarations.add(name, "choice", 0.0) for name in panel.linear_names]
        theta: list[list[str | None]] = [[None] * n_draws for _ in utilities]
        for j, (alt, utility) in enumerate(utilities.items()):
            for lv, name in utility.lv_parameters(self.lv_suffix(alt)).items():
                theta[j][lvs.index(lv)] = declarations.add(name, "choice_lv", 0.0)
        names = {"beta": (beta, (len(beta),)), "theta": (theta, (len(utilities), n_draws))}
        names.update(self.declare_own(model, panel, declarations))
        custom_params, custom_terms = _custom_terms(model, panel, utilities, declarations)
        pairs = [random_coefficient_names(rc.name) for rc in model.random_coefficients]
        for mean, _ in pairs:
            declarations.add(mean, "choice", 0.0)
        for _, sd in pairs:
            declarations.add(sd, "choice", 0.5, "log")
        for rc in model.random_coefficients:
            for other in rc.correlated_with:
                declarations.add(cholesky_name(rc.name, other), "choice", 0.0)
        scale = scale_parameter(self)
        names["scale"] = (
            "1" if scale is None else declarations.add(scale, "choice", 1.0, "log"),
            (),
        )
        names["custom_params"] = (custom_params, (len(custom_params),))
        return ComponentPlan(
            component=self.kernel,
            names=names,
            signs={},
            data={},
            static=(
                ("custom_terms", custom_terms),
                ("random_terms", _random_terms(model, panel, utilities)),
            ),
        )


def _custom_terms(
    model, panel, utilities: dict[str, Utility], declarations: Declarations
) -> tuple[list[str], tuple[CustomTerm, ...]]:
    """The parameter names gathered into ``custom_params`` and the placed custom terms
    (attribute columns after the ``P`` linear ones in the design)."""
    lvs = model.lv_names
    names: list[str] = []
    terms = []
    first_column = len(panel.linear_names)
    for j, utility in enumerate(utilities.values()):
        custom = utility.extra
        if custom is None:
            continue
        parameters = []
        for name in custom.parameters:
            declarations.add(name, "choice", 0.0)
            if name not in names:
                names.append(name)
            parameters.append((name, names.index(name)))
        terms.append(
            CustomTerm(
                fn=custom.fn,
                utility=j,
                parameters=tuple(parameters),
                attributes=tuple(
                    (c, first_column + panel.custom_columns.index(c)) for c in custom.attributes
                ),
                lvs=tuple((lv, lvs.index(lv)) for lv in custom.lvs),
            )
        )
    return names, tuple(terms)


def _random_terms(model, panel, utilities: dict[str, Utility]) -> tuple[tuple[int, int, int], ...]:
    """``(utility j, design column, position in eta)`` of every random-coefficient term."""
    position = {rc.name: len(model.lv_names) + k for k, rc in enumerate(model.random_coefficients)}
    first_column = len(panel.linear_names)
    return tuple(
        (j, first_column + panel.custom_columns.index(column), position[name])
        for j, utility in enumerate(utilities.values())
        for name, column in utility.random.items()
    )
