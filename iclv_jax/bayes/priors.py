"""Prior distributions of the parameters, by name, on the reported scale.

A prior is a small Equinox module with a log density ``log p(theta)`` (up to nothing:
every density here is normalised on its support) and a description for the summary.
The defaults are weak and depend only on how a parameter is transformed (see
:mod:`iclv_jax.params`):

- coefficients and thresholds: ``Normal(0, 100)``;
- scales (``sigma_*``, log-transformed): ``LogNormal(0, 10)``, i.e. ``Normal(0, 10)`` on
  ``log sigma``, which spans ``e^-20 .. e^20`` at two SDs whatever the data's units.

A bounded coefficient keeps its prior, truncated to the box (the normalising constant
does not depend on the parameters, so the posterior is unchanged).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import equinox as eqx
import jax.numpy as jnp
from jax.scipy.stats import norm

from ..errors import SpecificationError
from ..params import Parameter

__all__ = [
    "Flat",
    "HalfNormal",
    "LogNormal",
    "Normal",
    "Prior",
    "Uniform",
    "default_prior",
    "resolve_priors",
]


def _describe(kind: str, *values: float) -> str:
    return f"{kind}({', '.join(f'{v:g}' for v in values)})"


class Prior(eqx.Module):
    """A prior density on one reported parameter; ``positive`` says it needs ``theta > 0``."""

    positive: bool = eqx.field(static=True, default=False, kw_only=True)

    def log_density(self, theta):
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


class Normal(Prior):
    """``theta ~ N(mean, sd^2)``."""

    mean: float = 0.0
    sd: float = 1.0

    def log_density(self, theta):
        return norm.logpdf(theta, self.mean, self.sd)

    def describe(self) -> str:
        return _describe("Normal", self.mean, self.sd)


class HalfNormal(Prior):
    """``theta = |x|``, ``x ~ N(0, sd^2)``: ``log p = log 2 + log phi(theta / sd) - log sd``
    for ``theta > 0``."""

    sd: float = 1.0
    positive: bool = eqx.field(static=True, default=True, kw_only=True)

    def log_density(self, theta):
        return math.log(2.0) + norm.logpdf(theta, 0.0, self.sd)

    def describe(self) -> str:
        return _describe("HalfNormal", self.sd)


class LogNormal(Prior):
    """``log theta ~ N(mu, sigma^2)``: ``log p = log phi((log theta - mu)/sigma) - log sigma
    - log theta``."""

    mu: float = 0.0
    sigma: float = 1.0
    positive: bool = eqx.field(static=True, default=True, kw_only=True)

    def log_density(self, theta):
        log_theta = jnp.log(theta)
        return norm.logpdf(log_theta, self.mu, self.sigma) - log_theta

    def describe(self) -> str:
        return _describe("LogNormal", self.mu, self.sigma)


class Uniform(Prior):
    """``theta ~ U(low, high)``: ``-log(high - low)`` inside, ``-inf`` outside."""

    low: float = 0.0
    high: float = 1.0

    def log_density(self, theta):
        inside = (theta >= self.low) & (theta <= self.high)
        return jnp.where(inside, -math.log(self.high - self.low), -jnp.inf)

    def describe(self) -> str:
        return _describe("Uniform", self.low, self.high)


class Flat(Prior):
    """The improper flat prior ``p(theta) = 1``: the posterior is the likelihood (proper
    only where the likelihood is integrable; prefer a wide :class:`Normal`)."""

    def log_density(self, theta):
        return jnp.zeros_like(theta)

    def describe(self) -> str:
        return "Flat()"


def default_prior(parameter: Parameter) -> Prior:
    """The weak default for ``parameter``: ``LogNormal(0, 10)`` for a scale,
    ``Normal(0, 100)`` for every other parameter."""
    if parameter.transform == "log":
        return LogNormal(0.0, 10.0)
    return Normal(0.0, 100.0)


def _positive_only(parameter: Parameter) -> bool:
    """Whether ``parameter`` can only take positive values (a scale, or a coefficient
    bounded below at 0 or above)."""
    return parameter.transform == "log" or (parameter.lower is not None and parameter.lower >= 0.0)


def resolve_priors(
    parameters: tuple[Parameter, ...], priors: Mapping[str, Prior] | None
) -> tuple[Prior, ...]:
    """One prior per parameter of ``parameters`` (the free ones): the user's by name,
    else :func:`default_prior`.  Raises naming an unknown parameter, a value that is not
    a :class:`Prior`, or a prior for positive values on a parameter that can be negative."""
    priors = dict(priors or {})
    names = [p.name for p in parameters]
    unknown = sorted(set(priors) - set(names))
    if unknown:
        raise SpecificationError(
            f"priors given for parameters that are not free in the model: {unknown}; "
            f"the free parameters are {names}"
        )
    for parameter in parameters:
        prior = priors.get(parameter.name)
        if prior is None:
            continue
        if not isinstance(prior, Prior):
            raise TypeError(
                f"the prior of {parameter.name!r} must be an iclv_jax.bayes prior "
                f"(Normal, HalfNormal, LogNormal, Uniform, Flat), not {type(prior).__name__}"
            )
        if prior.positive and not _positive_only(parameter):
            raise SpecificationError(
                f"{prior.describe()} on {parameter.name!r} needs a positive parameter, but "
                f"{parameter.name!r} can be negative (bound it below at 0, or use Normal)"
            )
    return tuple(priors.get(p.name) or default_prior(p) for p in parameters)
