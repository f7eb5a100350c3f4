"""Nested logit: alternatives grouped in nests, one nest parameter ``mu_m >= 1`` each.

Biogeme's convention (``lognested``: the upper level has scale 1, nest ``m`` scale
``mu_m``), with ``s_j = mu_m V_j`` for ``j`` in nest ``m``:

    P(j) = P(m) P(j | m),
    P(j | m) = exp(mu_m V_j) / sum_{i in m, available} exp(mu_m V_i),
    I_m = (1 / mu_m) log sum_{i in m, available} exp(mu_m V_i)     (the nest's log-sum),
    P(m) = exp(I_m) / sum_{m' with an available alternative} exp(I_m'),

all in log space: ``log P(j) = s_j - L_m + I_m - logsumexp_m' I_m'`` with
``L_m = logsumexp_{i in m} s_i``.  An alternative in no nest is a nest of its own
(``mu = 1``: it enters the upper level with its own ``V_j``); an unavailable alternative
drops from its nest, and a nest with nothing available drops from the upper level.
With every ``mu_m = 1`` this is the multinomial logit.

Why ``mu_m >= 1`` as a bounded coefficient (``mu_<nest>``, lower bound 1, start 1.1)
rather than a transform such as ``1 + exp(u)``: consistency with random utility needs
``mu_m >= 1`` (``1 / mu_m`` is the nest's dissimilarity, in ``(0, 1]``), and the MNL
(``mu_m = 1``) is a model users test against; with ``1 + exp(u)`` that point sits at
``u = -inf``, where the optimiser stalls, while a bound is reached, reported ("at lower
bound") and is where Biogeme's ``Beta('mu', 1, 1, ...)`` puts it too.

Cross-nested logit (an alternative in several nests with allocations ``alpha_jm``,
``sum_m alpha_jm = 1``) is not offered: the allocations need a simplex transform that
the parameter space does not have; an alternative named in two nests is refused.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
import pandas as pd
from jax.nn import logsumexp
from jaxtyping import Array, Bool, Float, Int

from ..errors import DataError, SpecificationError
from ..expressions import Expression
from ..utility import Utility
from .choice import AbstractChoice, ChoiceModel
from .declarations import ComponentPlan, Declarations
from .links import along_draws
from .multinomial_logit import Alternative, MultinomialLogit

__all__ = ["NestedLogit", "NestedLogitChoice", "nest_terms"]

NEST_LOWER_BOUND = 1.0
NEST_START = 1.1


def nest_terms(v, available, nest_mu: Float[Array, " M"], nest_of: Int[Array, " J"]):
    """``(log P_j, log P(j | m(j)), log P(m), L_m, nonempty_m)`` of every situation.

    ``v`` is ``(T, J, *R)`` (utilities, draws last), ``available`` ``(T, J, *1)``;
    ``nest_of[j]`` is the nest of alternative ``j``.  ``L_m = logsumexp_{i in m,
    available} mu_m V_i`` is set to 0 in a nest with nothing available (``nonempty``
    false), whose ``log P(m)`` is ``-inf``; unavailable alternatives get ``-inf``.
    """
    extra = (1,) * (v.ndim - 2)
    n_nests = nest_mu.shape[0]
    mu_alt = jnp.reshape(nest_mu[nest_of], (1, -1, *extra))
    mu_nest = jnp.reshape(nest_mu, (1, n_nests, *extra))
    s = mu_alt * v
    member = jnp.reshape(nest_of[None, :] == jnp.arange(n_nests)[:, None], (1, n_nests, -1, *extra))
    inside = member & available[:, None]
    nonempty = inside.any(axis=2)
    # an empty nest sums over all its members instead (finite, then discarded): no -inf
    # enters the arithmetic, so no NaN enters the gradient
    safe = jnp.where(nonempty[:, :, None], inside, member)
    log_sum = jnp.where(nonempty, logsumexp(s[:, None], axis=2, where=safe), 0.0)
    inclusive = log_sum / mu_nest
    log_nest = jnp.where(
        nonempty,
        inclusive - logsumexp(inclusive, axis=1, where=nonempty, keepdims=True),
        -jnp.inf,
    )
    log_conditional = s - log_sum[:, nest_of]
    log_p = jnp.where(available, log_conditional + log_nest[:, nest_of], -jnp.inf)
    return log_p, jnp.where(available, log_conditional, -jnp.inf), log_nest, log_sum, nonempty


class NestedLogitChoice(AbstractChoice):
    """``log P(y_t = i) = mu_m V_ti - L_tm + I_tm - log sum_m' exp(I_tm')`` for ``i`` in
    nest ``m`` (see the module docstring); ``nest_mu[m]`` is ``mu_m`` (1 for an
    alternative's own nest), ``nest_of[j]`` the nest of alternative ``j``."""

    nest_mu: Float[Array, " M"]
    nest_of: Int[Array, " J"]

    def log_prob(self, base, eta, chosen: Int[Array, " T"], available: Bool[Array, "T J"]):
        v = self.utilities(base, eta)
        log_p = nest_terms(v, along_draws(available, eta), self.nest_mu, self.nest_of)[0]
        return jnp.take_along_axis(log_p, along_draws(chosen[:, None], eta), axis=1)[:, 0]

    def probabilities(self, base, eta, available):
        """``P(m) P(k | m)`` of every alternative ``k`` (0 if unavailable)."""
        v = self.utilities(base, eta)
        return jnp.exp(nest_terms(v, along_draws(available, eta), self.nest_mu, self.nest_of)[0])


def _nests(nests, alternatives: Sequence[Alternative], choice: str) -> dict[str, tuple[str, ...]]:
    """``nests`` as ``{name: (alternative names, ...)}``, checked: every member an
    alternative, none in two nests, at least two per nest."""
    if not isinstance(nests, Mapping) or not nests:
        raise SpecificationError(
            f"nested logit {choice!r}: nests must be a non-empty mapping nest name -> "
            f"alternative names, got {nests!r}"
        )
    names = [alt.name for alt in alternatives]
    out: dict[str, tuple[str, ...]] = {}
    seen: dict[str, str] = {}
    for nest, members in nests.items():
        if not isinstance(nest, str) or not nest:
            raise SpecificationError(f"nested logit {choice!r}: nest name {nest!r} is not a name")
        if isinstance(members, str) or not isinstance(members, Sequence):
            raise SpecificationError(
                f"nested logit {choice!r}: nest {nest!r} must list alternative names, "
                f"got {members!r}"
            )
        members = tuple(members)
        unknown = [m for m in members if m not in names]
        if unknown:
            raise SpecificationError(
                f"nested logit {choice!r}: nest {nest!r} names {unknown}, which are not "
                f"alternatives {names}"
            )
        for member in members:
            if member in seen:
                raise SpecificationError(
                    f"nested logit {choice!r}: alternative {member!r} is in nests "
                    f"{seen[member]!r} and {nest!r}; each alternative belongs to one nest "
                    "(cross-nested logit is not supported)"
                )
            seen[member] = nest
        if len(members) < 2:
            raise SpecificationError(
                f"nested logit {choice!r}: nest {nest!r} holds {list(members)}: a nest of "
                "one alternative has no identified parameter; leave it out (an alternative "
                "in no nest is a nest of its own)"
            )
        out[nest] = members
    return out


@dataclass(frozen=True)
class NestedLogit(ChoiceModel):
    """Nested logit on MNL alternatives (:class:`Alternative`: utilities, codes,
    availability) with ``nests={"name": ["alt", ...]}``; each nest has a parameter
    ``mu_<name> >= 1`` (Biogeme's convention; see the module docstring), alternatives in
    no nest are nests of their own.  ``scale`` as in :class:`MultinomialLogit`."""

    kind = "nested_logit"
    kernel = NestedLogitChoice

    choice: str
    alternatives: Sequence[Alternative]
    nests: Mapping[str, Sequence[str]]
    scale: bool | str = False

    def __post_init__(self):
        object.__setattr__(self, "alternatives", tuple(self.alternatives))
        self.logit()  # checks the alternatives as an MNL does
        object.__setattr__(self, "nests", _nests(self.nests, self.alternatives, self.choice))

    def logit(self) -> MultinomialLogit:
        """The MNL on the same alternatives (every ``mu_m = 1``)."""
        return MultinomialLogit(self.choice, self.alternatives, self.scale)

    def nest_parameters(self) -> dict[str, str]:
        """``nest -> mu_<nest>``."""
        return {nest: f"mu_{nest}" for nest in self.nests}

    def nest_index(self) -> tuple[list[str | None], np.ndarray]:
        """``(the parameter of each nest, or "1" for an alternative's own nest; the nest
        of each alternative)``: the declared nests first, then one per alternative in
        none."""
        names: list[str | None] = list(self.nest_parameters().values())
        position = {alt: m for m, members in enumerate(self.nests.values()) for alt in members}
        nest_of = []
        for alt in self.alternatives:
            if alt.name not in position:
                position[alt.name] = len(names)
                names.append("1")
            nest_of.append(position[alt.name])
        return names, np.array(nest_of, dtype=np.int64)

    def utilities(self) -> dict[str, Utility | Expression]:
        return self.logit().utilities()

    def with_utilities(self, utilities: dict[str, Utility]) -> NestedLogit:
        """The same nests over the alternatives with these (full) utilities."""
        return dataclasses.replace(
            self, alternatives=self.logit().with_utilities(utilities).alternatives
        )

    def lv_suffix(self, alternative: str) -> str | None:
        return alternative

    def outcome_labels(self) -> list:
        return self.logit().outcome_labels()

    def outcome_codes(self) -> list:
        return self.logit().outcome_codes()

    def availability_columns(self) -> tuple[str, ...]:
        return self.logit().availability_columns()

    def encode(self, df: pd.DataFrame, person_id: str) -> tuple[np.ndarray, np.ndarray]:
        return self.logit().encode(df, person_id)

    def placeholder(self, data: pd.DataFrame) -> np.ndarray:
        return self.logit().placeholder(data)

    def check_identified(self, chosen: np.ndarray, available: np.ndarray) -> None:
        """As an MNL, and every nest needs a situation with two of its alternatives
        available (else its ``mu`` cancels from the likelihood)."""
        self.logit().check_identified(chosen, available)
        names = [alt.name for alt in self.alternatives]
        for nest, members in self.nests.items():
            columns = [names.index(m) for m in members]
            if not (available[:, columns].sum(axis=1) >= 2).any():
                raise DataError(
                    f"nested logit {self.choice!r}: no situation has two alternatives of "
                    f"nest {nest!r} ({list(members)}) available: mu_{nest} is not identified"
                )

    def null_loglike(self, chosen: np.ndarray, available: np.ndarray) -> float:
        """Equal shares of the available alternatives, as an MNL."""
        return self.logit().null_loglike(chosen, available)

    def constants_loglike(self, chosen: np.ndarray, available: np.ndarray) -> float:
        """Constants only, as an MNL (the nests add nothing to a constants-only fit:
        the MNL's constants already reproduce the observed shares)."""
        return self.logit().constants_loglike(chosen, available)

    def declare_own(self, model, panel, declarations: Declarations) -> dict:
        """``mu_<nest>`` (bounded below by 1, start 1.1) for every declared nest."""
        means = {f"mu_{rc.name}" for rc in model.random_coefficients}
        for nest, name in self.nest_parameters().items():
            if name in means:
                raise SpecificationError(
                    f"nested logit {self.choice!r}: the parameter of nest {nest!r}, "
                    f"{name!r}, is also the mean of a random coefficient; rename the nest"
                )
            declarations.add(name, "choice", NEST_START, lower=NEST_LOWER_BOUND)
        names, _ = self.nest_index()
        return {"nest_mu": (names, (len(names),))}

    def declare(self, model, panel, declarations: Declarations) -> ComponentPlan:
        """The choice parameters (:meth:`ChoiceModel.declare`) and the nest of each
        alternative as a data field."""
        plan = super().declare(model, panel, declarations)
        nest_of = jnp.asarray(self.nest_index()[1])
        return dataclasses.replace(plan, data={**plan.data, "nest_of": nest_of})
