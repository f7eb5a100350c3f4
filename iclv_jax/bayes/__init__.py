"""Bayesian estimation: posterior samples of the same models by NUTS (optional extra
``iclv_jax[bayes]``: NumPyro and ArviZ, imported only where used)."""

from .posterior_samples import Posterior, load_posterior
from .priors import Flat, HalfNormal, LogNormal, Normal, Prior, Uniform
from .sampling import FORMULATIONS, sample

__all__ = [
    "FORMULATIONS",
    "Flat",
    "HalfNormal",
    "LogNormal",
    "Normal",
    "Posterior",
    "Prior",
    "Uniform",
    "load_posterior",
    "sample",
]
