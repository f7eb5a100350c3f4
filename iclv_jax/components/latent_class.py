"""Latent classes: ``C`` copies of a choice kind's utilities mixed per person.

Class ``c`` has its own copy of every utility parameter of the base kind (``<name>_class<c>``)
except those the user declares shared.  The class-membership probabilities are an MNL on
person covariates ``z_n`` and LVs ``eta_nr``, class 1 the reference:

    pi_c(z, eta) = softmax_c(a_c + d_c . z + g_c . eta),   a_1 = d_1 = g_1 = 0,

and the choice part of a person's draw log-likelihood mixes the classes over the whole
panel (the situations' log-probabilities summed within each class first):

    c_nr = log sum_c exp(log pi_c(z_n, eta_nr) + sum_t log P_c(y_nt | eta_nr)).

Label switching: ``ordering="<name>"`` keeps that class-specific parameter increasing over
the classes (``b_1 = u_1``, ``b_c = b_{c-1} + exp(u_c)``, the thresholds' increments);
the default ``None`` leaves the labels to the starting values (which spread the classes,
so they do not start, and stay, as one).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from jax.nn import log_softmax, logsumexp
from jaxtyping import Array, Float

from ..errors import SpecificationError
from ..expressions import Expression
from ..utility import Utility
from .choice import AbstractChoice, ChoiceModel
from .declarations import ComponentPlan, Declarations

__all__ = ["LatentClass", "LatentClassChoice", "class_parameter", "membership_parameter"]

# the fields of every choice kernel; a base kind with fields of its own is refused
KERNEL_FIELDS = ("beta", "theta", "scale", "custom_params")
# the default starts of class-specific coefficients: default + SPREAD (c - (C + 1) / 2)
SPREAD = 0.1


def class_parameter(name: str, c: int) -> str:
    """The name of class ``c``'s (1-based) copy of the base parameter ``name``."""
    return f"{name}_class{c}"


def membership_parameter(what: str, c: int) -> str:
    """The membership coefficient of ``what`` (``"const"``, a covariate or an LV) in
    class ``c``'s logit: ``pi_<what>_class<c>``."""
    return f"pi_{what}_class{c}"


class LatentClassChoice(AbstractChoice):
    """``C`` base kernels (``inner``) with stacked fields ``beta (C, P)``, ``theta
    (C, J, LK)``, ``scale (C,)``, ``custom_params (C, Q)``, mixed per person by the
    membership logit ``membership (C, 1 + Z) . (1, z) + membership_lv (C, LK) . eta``."""

    analytic_scores: ClassVar = False

    beta: Float[Array, "C P"]
    theta: Float[Array, "C J LK"]
    scale: Float[Array, " C"]
    custom_params: Float[Array, "C Q"]
    membership: Float[Array, "C Z1"]
    membership_lv: Float[Array, "C LK"]
    inner: type[AbstractChoice] = eqx.field(static=True)
    # positions of the membership covariates in the model's covariates
    membership_columns: tuple[int, ...] = eqx.field(static=True)

    def _kernel(self, beta, theta, scale, custom_params) -> AbstractChoice:
        """One class's base kernel."""
        return self.inner(
            beta=beta,
            theta=theta,
            scale=scale,
            custom_params=custom_params,
            custom_terms=self.custom_terms,
            random_terms=self.random_terms,
        )

    def _per_class(self, fn, *stacked):
        """``fn(kernel_c, *stacked[c])`` for every class ``c``, stacked on a leading axis."""
        return jax.vmap(lambda b, th, s, q, *rest: fn(self._kernel(b, th, s, q), *rest))(
            self.beta, self.theta, self.scale, self.custom_params, *stacked
        )

    def base_utility(self, design):
        """Every class's draw-free utility part, stacked on a leading class axis."""
        return self._per_class(lambda kernel: kernel.base_utility(design))

    def log_membership(self, covariates: Float[Array, " C_all"], eta):
        """``log pi_c(z, eta)``: ``(C,)`` for ``eta`` ``(LK,)``, ``(C, R)`` for ``(LK, R)``."""
        z = jnp.concatenate(
            [
                jnp.ones(1, covariates.dtype),
                covariates[np.asarray(self.membership_columns, dtype=int)],
            ]
        )
        logits = (self.membership @ z).reshape((-1,) + (1,) * (eta.ndim - 1))
        return log_softmax(logits + self.membership_lv @ eta, axis=0)

    def class_log_terms(self, person, eta: Float[Array, "LK R"]) -> Float[Array, "C R"]:
        """``log pi_c(z_n, eta_r) + sum_t log P_c(y_t | eta_r)`` for every class and draw."""
        mask = person.situation_mask[:, None]

        def within(kernel, base):
            choices = kernel.log_prob(base, eta, person.chosen, person.available)
            return jnp.where(mask, choices, 0.0).sum(axis=0)

        base = self.base_utility(person.design)
        return self.log_membership(person.covariates, eta) + self._per_class(within, base)

    def person_log_prob(self, person, eta: Float[Array, "LK R"]):
        """``log sum_c exp(log pi_c + sum_t log P_c(y_t | eta_r))`` ``(R,)``."""
        return logsumexp(self.class_log_terms(person, eta), axis=0)

    def person_probabilities(self, person, eta: Float[Array, " LK"]):
        """``sum_c pi_c(z, eta) P_c(y_t = k | eta)`` ``(T, K)`` at one draw."""
        base = self.base_utility(person.design)
        probs = self._per_class(
            lambda kernel, b: kernel.probabilities(b, eta, person.available), base
        )
        pi = jnp.exp(self.log_membership(person.covariates, eta))
        return jnp.einsum("c,ctk->tk", pi, probs)

    def log_prob(self, base, eta, chosen, available):
        """Not defined per situation: the classes mix over a person's whole panel (see
        :meth:`person_log_prob`)."""
        raise NotImplementedError(
            "latent classes mix over a person's situations: use person_log_prob"
        )

    def probabilities(self, base, eta, available):
        """Not defined without the person's membership covariates (see
        :meth:`person_probabilities`)."""
        raise NotImplementedError(
            "latent-class probabilities need the person: use person_probabilities"
        )


def _renamed(names, rename):
    """``names`` (nested lists of names and constant slots) with every name in
    ``rename`` replaced."""
    if isinstance(names, list | tuple):
        return [_renamed(n, rename) for n in names]
    return rename.get(names, names)


def _gathered(names) -> set[str]:
    """Every parameter name in nested lists of names (constant slots dropped)."""
    if isinstance(names, list | tuple):
        return set().union(*(_gathered(n) for n in names)) if names else set()
    return {names} if isinstance(names, str) and names not in ("-", "+", "1") else set()


@dataclass(frozen=True)
class LatentClass(ChoiceModel):
    """Latent classes of a base choice model (see the module docstring).

    Attributes:
        base: the choice model each class copies (its utilities, outcomes, data).
        classes: ``C >= 2``.
        shared: base parameter names common to all classes (not copied per class).
        membership: person-level covariate columns of the membership logit.
        membership_lvs: LVs in the membership logit (``pi_<lv>_class<c>``).
        ordering: a class-specific base parameter kept increasing over the classes
            (against label switching); ``None`` (default): no constraint.
    """

    kind = "latent_class"
    kernel = LatentClassChoice

    base: ChoiceModel
    classes: int = 2
    shared: Sequence[str] = ()
    membership: Sequence[str] = ()
    membership_lvs: Sequence[str] = ()
    ordering: str | None = None

    def __post_init__(self):
        for what in ("shared", "membership", "membership_lvs"):
            object.__setattr__(self, what, tuple(getattr(self, what)))
        if not isinstance(self.classes, int) or self.classes < 1:
            raise SpecificationError(
                f"latent classes: classes must be a positive int, not {self.classes!r}"
            )
        if self.base.empty or self.base.kind == self.kind:
            raise SpecificationError(
                f"latent classes: the base must be a choice model, not {self.base.kind!r}"
            )
        if self.ordering is not None and self.ordering in self.shared:
            raise SpecificationError(
                f"latent classes: the ordering parameter {self.ordering!r} is shared by "
                "all classes; order a class-specific one"
            )

    @property
    def choice(self) -> Any:
        return self.base.choice

    def class_labels(self) -> list[str]:
        """``class1 .. classC``."""
        return [f"class{c}" for c in range(1, self.classes + 1)]

    def person_covariates(self) -> tuple[str, ...]:
        return tuple(self.membership)

    def utilities(self) -> dict[str, Utility | Expression]:
        return self.base.utilities()

    def with_utilities(self, utilities: dict[str, Utility]) -> LatentClass:
        return dataclasses.replace(self, base=self.base.with_utilities(utilities))

    def lv_suffix(self, alternative: str) -> str | None:
        return self.base.lv_suffix(alternative)

    def lv_coefficient_names(self, lvs: tuple[str, ...]) -> dict[str, list[str]]:
        """Every class's copy of the base's LV coefficients, and the LV's membership
        coefficients."""
        names = self.base.lv_coefficient_names(lvs)
        return {
            lv: [
                *(
                    name if name in self.shared else class_parameter(name, c)
                    for name in own
                    for c in range(1, self.classes + 1)
                ),
                *(
                    membership_parameter(lv, c)
                    for c in range(2, self.classes + 1)
                    if lv in self.membership_lvs
                ),
            ]
            for lv, own in names.items()
        }

    def outcome_labels(self) -> list:
        return self.base.outcome_labels()

    def outcome_codes(self) -> list:
        return self.base.outcome_codes()

    def availability_columns(self) -> tuple[str, ...]:
        return self.base.availability_columns()

    def encode(self, df: pd.DataFrame, person_id: str) -> tuple[np.ndarray, np.ndarray]:
        return self.base.encode(df, person_id)

    def placeholder(self, data: pd.DataFrame) -> np.ndarray:
        return self.base.placeholder(data)

    def check_identified(self, chosen: np.ndarray, available: np.ndarray) -> None:
        self.base.check_identified(chosen, available)

    def null_loglike(self, chosen: np.ndarray, available: np.ndarray) -> float | None:
        return self.base.null_loglike(chosen, available)

    def constants_loglike(self, chosen: np.ndarray, available: np.ndarray) -> float:
        return self.base.constants_loglike(chosen, available)

    def declare(self, model, panel, declarations: Declarations) -> ComponentPlan:
        """The base kind's declarations (made on a scratch list) copied per class: a
        parameter its fields gather becomes ``<name>_class<c>`` unless shared (one
        declared elsewhere, e.g. a random coefficient's mean, is kept as is), the
        ordering parameter a threshold-like increasing group; then the membership
        logit's ``pi_const_class<c>``, ``pi_<z>_class<c>``, ``pi_<lv>_class<c>``
        (``c >= 2``)."""
        scratch = Declarations()
        plan = self.base.declare(model, panel, scratch)
        if set(plan.names) != set(KERNEL_FIELDS) or plan.signs or plan.data:
            raise SpecificationError(
                f"latent classes of {self.base.kind!r}: a base kind with parameters of "
                f"its own ({sorted(set(plan.names) - set(KERNEL_FIELDS))}) is not supported"
            )
        gathered = set().union(*(_gathered(names) for names, _ in plan.names.values()))
        self._check_names(gathered, model.lv_names)
        classes = range(1, self.classes + 1)
        renames: list[dict[str, str]] = [{} for _ in classes]
        for p in scratch.parameters.values():
            if p.name not in gathered or p.name in self.shared:
                declarations.add(p.name, p.block, p.default, p.transform, p.group)
                continue
            for c in classes:
                renames[c - 1][p.name] = class_parameter(p.name, c)
                spread = SPREAD * (c - (self.classes + 1) / 2)
                if p.name == self.ordering:
                    declarations.add(
                        renames[c - 1][p.name],
                        p.block,
                        p.default + spread,
                        "threshold",
                        f"ordering {p.name}",
                    )
                else:
                    default = p.default + spread if p.transform == "identity" else p.default
                    declarations.add(renames[c - 1][p.name], p.block, default, p.transform)
        names = {
            field: ([_renamed(names, rename) for rename in renames], (self.classes, *shape))
            for field, (names, shape) in plan.names.items()
        }
        names.update(self._declare_membership(model, declarations))
        static = dict(plan.static)
        return ComponentPlan(
            component=self.kernel,
            names=names,
            signs={},
            data={},
            static=(
                ("custom_terms", static["custom_terms"]),
                ("random_terms", static["random_terms"]),
                ("inner", plan.component),
                ("membership_columns", tuple(model.covariates.index(z) for z in self.membership)),
            ),
        )

    def _declare_membership(self, model, declarations: Declarations) -> dict:
        """The membership logit's fields: ``membership`` (constant then covariates) and
        ``membership_lv`` (one column per draw dimension, the LVs' filled), class 1's
        rows the constant 0."""
        n_draws = model.n_draw_dims
        rows: list[list[str | None]] = [[None] * (1 + len(self.membership))]
        lv_rows: list[list[str | None]] = [[None] * n_draws]
        for c in range(2, self.classes + 1):
            rows.append(
                [
                    declarations.add(membership_parameter(what, c), "choice", 0.0)
                    for what in ("const", *self.membership)
                ]
            )
            lv_row: list[str | None] = [None] * n_draws
            for lv in self.membership_lvs:
                lv_row[model.lv_names.index(lv)] = declarations.add(
                    membership_parameter(lv, c), "choice_lv", 0.0
                )
            lv_rows.append(lv_row)
        return {
            "membership": (rows, (self.classes, 1 + len(self.membership))),
            "membership_lv": (lv_rows, (self.classes, n_draws)),
        }

    def _check_names(self, gathered: set[str], lvs: tuple[str, ...]) -> None:
        """Refuse shared or ordering names that are no base parameter, and membership
        LVs that are no LV, naming them."""
        unknown = sorted(set(self.shared) - gathered)
        if self.ordering is not None and self.ordering not in gathered:
            unknown.append(self.ordering)
        if unknown:
            raise SpecificationError(
                f"latent classes: {unknown} are not parameters of the base choice model "
                f"(its parameters: {sorted(gathered)})"
            )
        missing = sorted(set(self.membership_lvs) - set(lvs))
        if missing:
            raise SpecificationError(
                f"latent classes: membership_lvs {missing} are not latent variables {list(lvs)}"
            )
