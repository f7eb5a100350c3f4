"""Bayesian estimation: posterior samples of the same models (optional extra
``iclv_jax[bayes]``: NumPyro and ArviZ, imported only where used)."""

from .posterior_samples import Posterior, load_posterior

__all__ = ["Posterior", "load_posterior"]
