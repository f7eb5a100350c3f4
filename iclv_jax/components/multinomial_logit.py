"""Multinomial logit: ``P(y = j) = exp(V_j) / sum_{k available} exp(V_k)``."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from jax.nn import logsumexp
from jaxtyping import Array, Bool, Int
from scipy.special import logsumexp as logsumexp_np

from ..columns import plain, read_binary
from ..errors import DataError, SpecificationError
from ..expressions import Expression
from ..expressions.nodes import Beta
from ..utility import Utility, as_utility, declared_utilities, scale_parameter
from .choice import AbstractChoice, ChoiceModel
from .links import along_draws

__all__ = ["Alternative", "MultinomialLogit", "MultinomialLogitChoice"]


class MultinomialLogitChoice(AbstractChoice):
    """``log P(y_t = i) = V_ti - log sum_{j available} exp(V_tj)``."""

    linear_fields = ("beta", "theta")

    def utility_derivatives(self, base, eta, chosen, available):
        """``d log P_t / dV_t = e_(y_t) - P_t`` and ``d^2 log P_t / dV_t dV_t' =
        -(diag(P_t) - P_t P_t')`` (0 for unavailable alternatives, whose ``P`` is 0)."""
        p = jax.nn.softmax(self.utilities(base, eta), axis=1, where=along_draws(available, eta))
        chosen_one = jax.nn.one_hot(chosen, p.shape[1], axis=1, dtype=p.dtype)
        curvature = (
            p[:, :, None] * p[:, None, :]
            - jnp.eye(p.shape[1], dtype=p.dtype)[:, :, None] * p[:, None, :]
        )
        return along_draws(chosen_one, eta) - p, curvature

    def log_prob(self, base, eta, chosen: Int[Array, " T"], available: Bool[Array, "T J"]):
        v = self.utilities(base, eta)
        # V_ti by a one-hot sum, not a gather: the reverse pass then needs no scatter
        hot = along_draws(chosen[:, None] == jnp.arange(v.shape[1]), eta)
        chosen_v = jnp.where(hot, v, 0.0).sum(axis=1)
        return chosen_v - logsumexp(v, axis=1, where=along_draws(available, eta))

    def probabilities(self, base, eta, available):
        """``exp(V_tk) / sum_{j available} exp(V_tj)`` (0 if ``k`` is unavailable)."""
        return jax.nn.softmax(self.utilities(base, eta), axis=1, where=available)


@dataclass(frozen=True)
class Alternative:
    """One MNL alternative.

    Attributes:
        name: used in parameter names (``asc_<name>``, ``theta_<lv>_<name>``).
        code: the value in the choice column meaning "this one was chosen".
        utility: its utility: a :class:`Utility`, or an expression (its text, e.g.
            ``"asc_car + beta_time * TimeCar / 60 + theta_att * attitude"``, or one
            built from :class:`~iclv_jax.Beta`, :class:`~iclv_jax.Var`); ``asc=True``
            adds ``asc_<name>`` (the constant 1).
        available: a 0/1 availability column or derived variable (``None``: always
            available).
    """

    name: str
    code: int
    utility: Utility | Expression | str = field(default_factory=Utility)
    asc: bool = False
    available: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "utility", as_utility(self.utility, f"alternative {self.name!r}"))

    def full_utility(self) -> Utility | Expression:
        """Its utility with ``asc_<name>`` (the constant 1) when ``asc``."""
        utility = as_utility(self.utility, f"alternative {self.name!r}")
        if not self.asc:
            return utility
        if isinstance(utility, Expression):
            return Beta(f"asc_{self.name}") + utility
        return dataclasses.replace(utility, constants={self.name: None, **utility.constants})


def _constants_loglike(chosen: np.ndarray, available: np.ndarray) -> float:
    """Maximised LL of an MNL with alternative-specific constants only.

    The constants solve ``n_j = sum_t P_tj(a)``, found by the fixed point
    ``a_j <- a_j + log(n_j / sum_t P_tj)``; never-chosen alternatives get
    ``a_j = -inf`` (probability 0).
    """
    counts = np.bincount(chosen, minlength=available.shape[1]).astype(float)
    chosen_any = counts > 0
    avail = available & chosen_any[None, :]
    a = np.zeros(available.shape[1])
    for _ in range(10000):
        v = np.where(avail, a[None, :], -np.inf)
        p = np.exp(v - logsumexp_np(v, axis=1, keepdims=True))
        expected = p.sum(axis=0)
        gap = np.abs(expected - counts)[chosen_any].max()
        if gap < 1e-10 * len(chosen):
            break
        a[chosen_any] += np.log(counts[chosen_any] / expected[chosen_any])
        a -= a[chosen_any][0]
    v = np.where(avail, a[None, :], -np.inf)
    log_p = v - logsumexp_np(v, axis=1, keepdims=True)
    return float(log_p[np.arange(len(chosen)), chosen].sum())


@dataclass(frozen=True)
class MultinomialLogit(ChoiceModel):
    """MNL: ``P(y = j) = exp(V_j) / sum_{k available} exp(V_k)``.

    ``scale=True``: every utility is multiplied by a free positive ``scale_<choice>``
    (identified when a coefficient is fixed, e.g. a cost coefficient fixed to -1 for
    willingness-to-pay space).
    """

    kind = "multinomial_logit"
    kernel = MultinomialLogitChoice

    choice: str
    alternatives: Sequence[Alternative]
    scale: bool | str = False

    def __post_init__(self):
        scale_parameter(self)
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
        if all(
            any(column is None for column in utility.linear_terms(alt).values())
            for alt, utility in declared_utilities(self, None).items()
        ):
            raise SpecificationError(
                f"multinomial logit {self.choice!r}: an asc for every alternative is "
                "not identified; fix one (leave asc=False on a reference alternative)"
            )

    def utilities(self) -> dict[str, Utility | Expression]:
        return {alt.name: alt.full_utility() for alt in self.alternatives}

    def with_utilities(self, utilities: dict[str, Utility]) -> MultinomialLogit:
        """The same alternatives with these (full) utilities."""
        return dataclasses.replace(
            self,
            alternatives=[
                dataclasses.replace(alt, utility=utilities[alt.name], asc=False)
                for alt in self.alternatives
            ],
        )

    def lv_suffix(self, alternative: str) -> str | None:
        return alternative

    def outcome_labels(self) -> list:
        return [alt.name for alt in self.alternatives]

    def outcome_codes(self) -> list:
        return [alt.code for alt in self.alternatives]

    def availability_columns(self) -> tuple[str, ...]:
        return tuple(alt.available for alt in self.alternatives if alt.available is not None)

    def _available(self, df: pd.DataFrame, person_id: str) -> np.ndarray:
        """``(n, J)``: each alternative's availability column (all 1 without one)."""
        available = np.ones((len(df), len(self.alternatives)), dtype=bool)
        for j, alt in enumerate(self.alternatives):
            if alt.available is not None:
                available[:, j] = read_binary(df, alt.available, person_id, "availability")
        return available

    def encode(self, df: pd.DataFrame, person_id: str) -> tuple[np.ndarray, np.ndarray]:
        values = df[self.choice].to_numpy(dtype=float)
        codes = np.array(self.outcome_codes(), dtype=float)
        matches = values[:, None] == codes[None, :]
        bad = ~matches.any(axis=1)
        if bad.any():
            i = np.flatnonzero(bad)[0]
            raise DataError(
                f"choice {self.choice!r}: person {plain(df[person_id].iloc[i])!r} chose "
                f"{plain(values[i])!r}, which is not an alternative code {codes.tolist()}"
            )
        chosen = matches.argmax(axis=1)
        available = self._available(df, person_id)
        nothing_available = ~available.any(axis=1)
        if nothing_available.any():
            i = np.flatnonzero(nothing_available)[0]
            columns = [alt.available for alt in self.alternatives]
            raise DataError(
                f"person {plain(df[person_id].iloc[i])!r} has a situation with no available "
                f"alternative (availability columns {columns} all 0)"
            )
        chosen_unavailable = ~available[np.arange(len(df)), chosen]
        if chosen_unavailable.any():
            i = np.flatnonzero(chosen_unavailable)[0]
            alt = self.alternatives[chosen[i]]
            raise DataError(
                f"person {plain(df[person_id].iloc[i])!r} chose alternative {alt.name!r} "
                f"(code {alt.code!r}) in a situation where {alt.available!r} says it is "
                "unavailable"
            )
        return chosen, available

    def placeholder(self, data: pd.DataFrame) -> np.ndarray:
        """The code of each row's first available alternative (availability columns
        absent from ``data`` count as available)."""
        available = np.ones((len(data), len(self.alternatives)), dtype=bool)
        for j, alt in enumerate(self.alternatives):
            if alt.available is not None and alt.available in data.columns:
                available[:, j] = data[alt.available].to_numpy(dtype=float) == 1.0
        return np.array(self.outcome_codes())[available.argmax(axis=1)]

    def check_identified(self, chosen: np.ndarray, available: np.ndarray) -> None:
        for j, alt in enumerate(self.alternatives):
            if not available[:, j].any():
                raise DataError(
                    f"multinomial logit {self.choice!r}: alternative {alt.name!r} is "
                    f"available to nobody ({alt.available!r} is 0 everywhere): its "
                    "parameters are not identified; remove it"
                )
        if len(np.unique(chosen)) == 1:
            raise DataError(
                f"multinomial logit {self.choice!r}: every situation chose alternative "
                f"{self.alternatives[int(chosen[0])].name!r}: the choice parameters are "
                "not identified"
            )

    def null_loglike(self, chosen: np.ndarray, available: np.ndarray) -> float:
        """Equal shares of the available alternatives: ``-sum_t log #available_t``
        (the LL with every parameter zero)."""
        return float(-np.log(available.sum(axis=1)).sum())

    def constants_loglike(self, chosen: np.ndarray, available: np.ndarray) -> float:
        """Alternative-specific constants, maximised under each row's availability
        (equal to ``sum_k n_k log(n_k / n)`` when all are always available)."""
        return _constants_loglike(chosen, available)
