"""No choice part: the measurement and structural equations alone."""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
import pandas as pd
from jaxtyping import Array, Int

from ..expressions import Expression
from ..utility import Utility
from .choice import AbstractChoice, ChoiceModel

__all__ = ["NoChoice", "NoChoiceModule"]

NOTHING_TO_PREDICT = "the model has no choice part (NoChoice): nothing to predict"


class NoChoiceModule(AbstractChoice):
    """No choice model: contributes ``log 1 = 0`` per situation."""

    def log_prob(self, base, eta, chosen: Int[Array, " T"], available):
        return jnp.zeros(chosen.shape + eta.shape[1:], eta.dtype)

    def probabilities(self, base, eta, available):
        raise ValueError(NOTHING_TO_PREDICT)


@dataclass(frozen=True)
class NoChoice(ChoiceModel):
    """No choice model: the measurement and structural parts alone (e.g. for the first
    stage of sequential estimation, or a pure latent variable model)."""

    kind = "none"
    kernel = NoChoiceModule

    choice: None = None

    def utilities(self) -> dict[str, Utility | Expression]:
        return {}

    def with_utilities(self, utilities: dict[str, Utility]) -> NoChoice:
        return self

    @property
    def empty(self) -> bool:
        return True

    def outcome_labels(self) -> list:
        raise ValueError(NOTHING_TO_PREDICT)

    def encode(self, df: pd.DataFrame, person_id: str) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(len(df), dtype=np.int64), np.ones((len(df), 0), dtype=bool)

    def check_identified(self, chosen: np.ndarray, available: np.ndarray) -> None:
        """Nothing to identify."""

    def null_loglike(self, chosen: np.ndarray, available: np.ndarray) -> None:
        """Not defined without a choice part."""
        return None

    def constants_loglike(self, chosen: np.ndarray, available: np.ndarray) -> float:
        raise ValueError("the model has no choice part")
