"""Ordered probit choice: ``P(y = j) = Phi(tau_j - V) - Phi(tau_{j-1} - V)``."""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
import pandas as pd
from jaxtyping import Array, Float, Int

from ..columns import read_levels, refuse_single_level
from ..errors import SpecificationError
from ..expressions import Expression
from ..utility import Utility, as_utility, declared_utilities, scale_parameter
from .choice import AbstractChoice, ChoiceModel
from .declarations import Declarations
from .links import along_draws, log_interval_probability
from .thresholds import declare_thresholds

__all__ = ["OrderedProbitChoice", "OrderedProbitChoiceModule"]


class OrderedProbitChoiceModule(AbstractChoice):
    """``log P(y_t = j) = log(Phi(c[j+1] - V_t) - Phi(c[j] - V_t))`` (0-based j)."""

    cuts: Float[Array, " Jp1"]

    def log_prob(self, base, eta, chosen: Int[Array, " T"], available):
        v = self.utilities(base, eta)[:, 0]
        return log_interval_probability(
            along_draws(self.cuts[chosen], eta) - v,
            along_draws(self.cuts[chosen + 1], eta) - v,
            "probit",
        )

    def probabilities(self, base, eta, available):
        """``Phi(tau_k - V_t) - Phi(tau_{k-1} - V_t)`` for levels ``k = 1..J``."""
        v = self.utilities(base, eta)[:, :1]
        return jnp.exp(
            log_interval_probability(self.cuts[None, :-1] - v, self.cuts[None, 1:] - v, "probit")
        )


@dataclass(frozen=True)
class OrderedProbitChoice(ChoiceModel):
    """Ordered probit choice on ``V`` with thresholds ``tau_<choice>_<j>``.

    ``P(y = j) = Phi(tau_j - V) - Phi(tau_{j-1} - V)``, ``y`` coded ``1..levels``.
    The utility carries no constant (the thresholds absorb it).
    """

    kind = "ordered_probit"
    kernel = OrderedProbitChoiceModule

    choice: str
    utility: Utility | Expression | str  # text is parsed on construction
    levels: int
    scale: bool | str = False

    def __post_init__(self):
        scale_parameter(self)
        object.__setattr__(self, "utility", as_utility(self.utility, f"choice {self.choice!r}"))
        if not isinstance(self.levels, int) or self.levels < 2:
            raise SpecificationError(f"ordered choice {self.choice!r}: levels must be an int >= 2")
        (utility,) = declared_utilities(self, None).values()
        if any(column is None for column in utility.linear_terms(None).values()):
            raise SpecificationError(
                f"ordered choice {self.choice!r}: a constant asc is not identified "
                "beside the thresholds; remove it"
            )

    def utilities(self) -> dict[str, Utility | Expression]:
        return {"": as_utility(self.utility, f"choice {self.choice!r}")}

    def outcome_labels(self) -> list:
        return list(range(1, self.levels + 1))

    def encode(self, df: pd.DataFrame, person_id: str) -> tuple[np.ndarray, np.ndarray]:
        chosen = read_levels(df, self.choice, person_id, self.levels, "choice")
        return chosen, np.ones((len(df), 1), dtype=bool)

    def placeholder(self, data: pd.DataFrame) -> np.ndarray:
        """Levels ``1..J`` in turn."""
        return 1 + np.arange(len(data)) % self.levels

    def check_identified(self, chosen: np.ndarray, available: np.ndarray) -> None:
        refuse_single_level(self.choice, "ordered choice", chosen, self.levels)

    def threshold_sets(self) -> tuple[str, ...]:
        return (self.choice,)

    def ordered_columns(self) -> list[tuple[str, str, int]]:
        return [("ordered choice", self.choice, self.levels)]

    def null_loglike(self, chosen: np.ndarray, available: np.ndarray) -> float:
        """Equal shares of the ``J`` levels: ``n log 1/J`` (not the LL at zero
        parameters, which the thresholds leave undefined)."""
        return float(len(chosen) * -np.log(self.levels))

    def declare_own(self, model, panel, declarations: Declarations) -> dict:
        """The thresholds ``tau_<choice>_<j>``, starting at the observed shares."""
        names, _ = declare_thresholds(
            declarations,
            self.choice,
            "choice",
            panel.chosen[panel.situation_mask],
            self.levels,
            "probit",
            "free",
            self.levels + 1,
        )
        return {"cuts": (names, (self.levels + 1,))}
