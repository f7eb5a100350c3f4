"""Binary probit: ``P(y = 1) = Phi(V)``."""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
import pandas as pd
from jax.scipy.special import ndtr
from jaxtyping import Array, Int

from ..columns import read_binary, refuse_constant
from ..expressions import Expression
from ..utility import Utility, as_utility, scale_parameter
from .choice import AbstractChoice, ChoiceModel
from .links import along_draws, log_normal_cdf

__all__ = ["BinaryProbit", "BinaryProbitChoice"]


class BinaryProbitChoice(AbstractChoice):
    """``log P(y_t) = log Phi((2 y_t - 1) V_t)``."""

    linear_fields = ("beta", "theta")

    def utility_derivatives(self, base, eta, chosen, available):
        """With ``s = 2 y - 1`` and the inverse Mills ratio ``m = phi(s V) / Phi(s V)``:
        ``d log Phi(s V) / dV = s m`` and ``d^2 / dV^2 = -m (s V + m)``."""
        v = self.utilities(base, eta)[:, 0]
        sign = jnp.where(along_draws(chosen == 1, eta), 1.0, -1.0).astype(v.dtype)
        mills = jnp.exp(-0.5 * v**2 - 0.5 * jnp.log(2 * jnp.pi) - log_normal_cdf(sign * v))
        return (sign * mills)[:, None], (-mills * (sign * v + mills))[:, None, None]

    def log_prob(self, base, eta, chosen: Int[Array, " T"], available):
        v = self.utilities(base, eta)[:, 0]
        return log_normal_cdf(jnp.where(along_draws(chosen == 1, eta), v, -v))

    def probabilities(self, base, eta, available):
        """``(Phi(-V_t), Phi(V_t))`` for ``y = 0, 1``."""
        v = self.utilities(base, eta)[:, 0]
        return jnp.stack([ndtr(-v), ndtr(v)], axis=1)


@dataclass(frozen=True)
class BinaryProbit(ChoiceModel):
    """Binary probit: ``P(y = 1) = Phi(V)``, ``y`` in ``{0, 1}`` in column ``choice``.

    ``scale=True`` multiplies the utility by a free positive ``scale_<choice>`` (only
    identified when a coefficient is fixed, e.g. ``fixed={"beta_cost": -1}``).
    """

    kind = "binary_probit"
    kernel = BinaryProbitChoice

    choice: str
    utility: Utility | Expression | str  # text is parsed on construction
    scale: bool | str = False

    def __post_init__(self):
        scale_parameter(self)
        object.__setattr__(self, "utility", as_utility(self.utility, f"choice {self.choice!r}"))

    def utilities(self) -> dict[str, Utility | Expression]:
        return {"": as_utility(self.utility, f"choice {self.choice!r}")}

    def outcome_labels(self) -> list:
        return [0, 1]

    def encode(self, df: pd.DataFrame, person_id: str) -> tuple[np.ndarray, np.ndarray]:
        chosen = read_binary(df, self.choice, person_id, "choice").astype(np.int64)
        return chosen, np.ones((len(df), 1), dtype=bool)

    def check_identified(self, chosen: np.ndarray, available: np.ndarray) -> None:
        refuse_constant(
            self.choice, "binary choice", chosen, "the choice coefficients are not identified"
        )

    def null_loglike(self, chosen: np.ndarray, available: np.ndarray) -> float:
        """Equal shares: ``n log 1/2`` over the ``n`` observed situations."""
        return float(len(chosen) * np.log(0.5))
