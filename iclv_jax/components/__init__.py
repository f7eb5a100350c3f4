"""The components of an ICLV model: pure Equinox modules that declare their own
parameters.

- :mod:`.structural`: the structural equations (and random coefficients);
- :mod:`.measurement`: ordered and continuous indicators;
- :mod:`.choice`: the abstract choice model and kernel; one file per final kind
  (:mod:`.binary_probit`, :mod:`.ordered_probit`, :mod:`.multinomial_logit`,
  :mod:`.nested_logit`, :mod:`.no_choice`, :mod:`.latent_class`, :mod:`.joint`),
  registered in :data:`CHOICE_KINDS` by its ``kind``;
- :mod:`.declarations`: how a component declares parameters and gathers them;
  :mod:`.thresholds`: ordered cut-points; :mod:`.links`: tail-accurate log-probabilities.
"""

from .binary_probit import BinaryProbit, BinaryProbitChoice
from .choice import CHOICE_KINDS, AbstractChoice, ChoiceModel, CustomTerm
from .declarations import EXTRAS, AbstractComponent, ComponentLayout, ComponentPlan, Declarations
from .joint import JointChoice, JointChoiceKernel
from .latent_class import LatentClass, LatentClassChoice
from .links import log_interval_probability, log_normal_cdf
from .measurement import AbstractMeasurement, ContinuousIndicators, OrderedIndicators
from .multinomial_logit import Alternative, MultinomialLogit, MultinomialLogitChoice
from .nested_logit import NestedLogit, NestedLogitChoice
from .no_choice import NoChoice, NoChoiceModule
from .ordered_probit import OrderedProbitChoice, OrderedProbitChoiceModule
from .structural import Structural

__all__ = [
    "CHOICE_KINDS",
    "EXTRAS",
    "AbstractChoice",
    "AbstractComponent",
    "AbstractMeasurement",
    "Alternative",
    "BinaryProbit",
    "BinaryProbitChoice",
    "ChoiceModel",
    "ComponentLayout",
    "ComponentPlan",
    "ContinuousIndicators",
    "CustomTerm",
    "Declarations",
    "JointChoice",
    "JointChoiceKernel",
    "LatentClass",
    "LatentClassChoice",
    "MultinomialLogit",
    "MultinomialLogitChoice",
    "NestedLogit",
    "NestedLogitChoice",
    "NoChoice",
    "NoChoiceModule",
    "OrderedIndicators",
    "OrderedProbitChoice",
    "OrderedProbitChoiceModule",
    "Structural",
    "log_interval_probability",
    "log_normal_cdf",
]
