"""Pure Equinox modules for the three parts of an ICLV model."""

from .choice import (
    BinaryProbitChoice,
    CustomTerm,
    MultinomialLogitChoice,
    NoChoiceModule,
    OrderedProbitChoiceModule,
)
from .measurement import (
    ContinuousIndicators,
    OrderedIndicators,
    log_interval_probability,
    log_normal_cdf,
)
from .structural import Structural

__all__ = [
    "BinaryProbitChoice",
    "ContinuousIndicators",
    "CustomTerm",
    "MultinomialLogitChoice",
    "NoChoiceModule",
    "OrderedIndicators",
    "OrderedProbitChoiceModule",
    "Structural",
    "log_interval_probability",
    "log_normal_cdf",
]
