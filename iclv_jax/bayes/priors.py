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
import re
import warnings
from collections.abc import Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import norm

from ..errors import SpecificationError
from ..params import Parameter

__all__ = [
    "Flat",
    "HalfNormal",
    "InformativePriorWarning",
    "LogNormal",
    "Normal",
    "Prior",
    "Uniform",
    "PRIOR_KINDS",
    "default_prior",
    "parse_prior",
    "prior_pull",
    "resolve_priors",
    "warn_informative_defaults",
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


class InformativePriorWarning(UserWarning):
    """A default prior that is not weak at the maximum-likelihood estimate."""


def prior_pull(priors: tuple[Prior, ...], estimates: np.ndarray, se: np.ndarray) -> np.ndarray:
    """How far each prior moves the posterior from the likelihood, in SEs, by a Newton
    step from the MLE ``theta_hat`` with standard error ``s``: the mode moves by about
    ``s^2 g / (1 + s^2 h)`` with ``g``, ``-h`` the prior's log-density slope and
    curvature at ``theta_hat``; returned as ``|shift| / s + s^2 h`` (the second term: the
    prior's share of the posterior precision).  NaN where ``s`` is not finite."""
    pulls = []
    for prior, value, s in zip(priors, estimates, se, strict=True):
        slope = float(jax.grad(prior.log_density)(float(value)))
        curvature = -float(jax.grad(jax.grad(prior.log_density))(float(value)))
        shift = s**2 * slope / (1.0 + s**2 * max(curvature, 0.0))
        pulls.append(abs(shift) / s + s**2 * max(curvature, 0.0))
    return np.array(pulls)


def warn_informative_defaults(
    parameters: tuple[Parameter, ...],
    priors: tuple[Prior, ...],
    user_given,
    estimates: np.ndarray,
    se: np.ndarray,
    threshold: float = 0.05,
) -> None:
    """Warn naming every parameter whose default ``Normal(0, 100)`` pulls the posterior
    by more than ``threshold`` SEs (:func:`prior_pull`): a coefficient of a variable in
    raw units, an intercept of an indicator measured in thousands.  (The scales'
    ``LogNormal(0, 10)`` is left out: spread over ``e^-20 .. e^20`` it is weak in any
    units, and its pull of about ``1 / sqrt(2N)`` SE is the one every prior on a scale
    has.)"""
    pulls = prior_pull(priors, estimates, se)
    strong = [
        f"{p.name} ({q.describe()}, MLE {value:.4g}, pull {pull:.2f} SE)"
        for p, q, value, pull in zip(parameters, priors, estimates, pulls, strict=True)
        if p.name not in user_given
        and p.transform != "log"
        and np.isfinite(pull)
        and pull > threshold
    ]
    if strong:
        warnings.warn(
            "default priors not weak at the maximum-likelihood estimates: "
            + "; ".join(strong)
            + ". Give these parameters priors of their own (priors={name: ...}) or rescale "
            "their variables",
            InformativePriorWarning,
            stacklevel=3,
        )


PRIOR_KINDS: dict[str, type[Prior]] = {
    "normal": Normal,
    "halfnormal": HalfNormal,
    "lognormal": LogNormal,
    "uniform": Uniform,
    "flat": Flat,
}


def parse_prior(text: str) -> Prior:
    """A prior from text as the summary writes it: ``"Normal(0, 2)"``,
    ``"half-normal(1)"``, ``"lognormal(0, 1)"``, ``"Uniform(0, 5)"``, ``"flat"`` (case,
    ``-`` and ``_`` ignored); raises ``ValueError`` naming what is wrong."""
    match = re.fullmatch(r"\s*([A-Za-z_-]+)\s*(?:\((.*)\))?\s*", text)
    kind = None if match is None else match.group(1).lower().replace("-", "").replace("_", "")
    if kind not in PRIOR_KINDS:
        raise ValueError(
            f"prior {text!r}: expected one of {sorted(PRIOR_KINDS)} with its values in "
            "parentheses, e.g. 'normal(0, 2)'"
        )
    arguments = (match.group(2) or "").strip() if match else ""
    try:
        values = [float(v) for v in arguments.split(",")] if arguments else []
    except ValueError:
        raise ValueError(f"prior {text!r}: the values of {kind} must be numbers") from None
    try:
        return PRIOR_KINDS[kind](*values)
    except TypeError:
        raise ValueError(f"prior {text!r}: too many values for {kind}") from None
