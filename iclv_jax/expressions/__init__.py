"""Utility expressions: parsed safely from text or built with operators, resolved
against the data and the model's LVs, split into the part linear in parameters (the
design-matrix path) and the rest (evaluated draw by draw)."""

from .functions import FUNCTIONS
from .nodes import Beta, Expression, Latent, Var
from .parser import parse

__all__ = ["FUNCTIONS", "Beta", "Expression", "Latent", "Var", "parse"]
