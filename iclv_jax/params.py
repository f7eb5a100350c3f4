"""Named parameters: the reported space users see, the internal space optimisers see.

Every parameter has a name and a *reported* value (what tables show).  Estimation
works on an unconstrained *internal* vector ``u``:

- ordinary coefficients: ``theta = u``;
- scales (``sigma_*``): ``theta = exp(u)``;
- the thresholds of one ordered item: ``tau_1 = u_1``, ``tau_j = tau_{j-1} + exp(u_j)``,
  so they stay strictly ordered whatever ``u`` is; the upper half of symmetric
  thresholds (``positive_threshold``) also has ``tau_1 = exp(u_1) > 0``;
- bounded coefficients: ``lower + exp(u)``, ``upper - exp(u)``, or
  ``lower + (upper - lower) sigmoid(u)`` with both bounds.

``ParameterSpace.reported_map`` gives the jit-friendly map ``u -> theta``;
``to_internal`` is its inverse on the host.  Fixed parameters are given (and kept)
in reported space.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int
from scipy.special import logit

from .spec import SpecificationError

Transform = Literal["identity", "log", "threshold", "positive_threshold", "lower", "upper",
                    "interval"]
THRESHOLD_TRANSFORMS = ("threshold", "positive_threshold")


class ToReported(eqx.Module):
    """Free internal vector ``u`` -> full reported vector ``theta``."""

    free_index: Int[Array, " F"]
    fixed_internal: Float[Array, " P"]
    is_log: Bool[Array, " P"]
    is_threshold: Bool[Array, " P"]
    is_first_threshold: Bool[Array, " P"]
    exp_increment: Bool[Array, " P"]
    cumulate: Float[Array, "P P"]
    is_lower: Bool[Array, " P"]
    is_upper: Bool[Array, " P"]
    is_interval: Bool[Array, " P"]
    lower: Float[Array, " P"]
    upper: Float[Array, " P"]

    def internal(self, free_internal):
        return self.fixed_internal.at[self.free_index].set(free_internal)

    def __call__(self, free_internal):
        internal = self.internal(free_internal)
        # exp only where a transform uses it (double where): an identity coefficient
        # of 1e3 or more (a column in tiny units) would otherwise give exp = inf and a
        # NaN gradient through the branch not taken
        uses_exp = self.exp_increment | self.is_lower | self.is_upper | self.is_log
        exp = jnp.exp(jnp.where(uses_exp, internal, 0.0))
        increments = jnp.where(self.exp_increment, exp, internal)
        bounded = jnp.where(
            self.is_lower, self.lower + exp,
            jnp.where(self.is_upper, self.upper - exp,
                      jnp.where(self.is_interval, self.lower + (self.upper - self.lower)
                                * jax.nn.sigmoid(internal), internal)))
        return jnp.where(
            self.is_threshold,
            self.cumulate @ increments,
            jnp.where(self.is_log, exp, bounded),
        )


@dataclass(frozen=True)
class Parameter:
    """One named parameter.

    Attributes:
        name: its name in tables.
        transform: how the internal value maps to the reported one.
        group: thresholds of the same item share a group (ordered by position).
        block: the model part it belongs to (``structural``, ``measurement``,
            ``choice_lv`` for LV coefficients in utilities, ``choice`` for the rest).
        default: the starting value used when the user gives none (reported space).
        lower, upper: bounds of a bounded coefficient (``None``: none on that side).
    """

    name: str
    transform: Transform
    block: str
    default: float
    group: str | None = None
    lower: float | None = None
    upper: float | None = None


def _bounded(parameter: Parameter, bounds: tuple[float | None, float | None]) -> Parameter:
    """``parameter`` with the transform that keeps it within ``(lower, upper)``."""
    if parameter.transform != "identity":
        raise SpecificationError(
            f"bounds on {parameter.name!r}: only coefficients can be bounded (scales and "
            "thresholds are kept positive and ordered by their own transforms)"
        )
    lower, upper = bounds
    kind = "interval" if lower is not None and upper is not None else (
        "lower" if lower is not None else "upper")
    return Parameter(parameter.name, kind, parameter.block, parameter.default,
                     parameter.group, lower, upper)


def _inside(value: float, p: Parameter) -> float:
    """A default start strictly inside ``p``'s bounds (the midpoint of an interval,
    else ``0.1 max(1, |bound|)`` inside the bound) when ``value`` is not."""
    lower = -np.inf if p.lower is None else p.lower
    upper = np.inf if p.upper is None else p.upper
    if lower < value < upper:
        return value
    if p.transform == "interval":
        return 0.5 * (lower + upper)
    if p.transform == "lower":
        return lower + 0.1 * max(1.0, abs(lower))
    return upper - 0.1 * max(1.0, abs(upper))


class ParameterSpace:
    """The ordered list of parameters, which are free, and the ``u <-> theta`` maps."""

    def __init__(self, parameters: Sequence[Parameter], fixed: Mapping[str, float],
                 bounds: Mapping[str, tuple[float | None, float | None]] | None = None):
        bounds = dict(bounds or {})
        names = [p.name for p in parameters]
        for what, given in (("fixed", fixed), ("bounded", bounds)):
            unknown = sorted(set(given) - set(names))
            if unknown:
                raise SpecificationError(
                    f"{what} parameters not in the model: {unknown}; "
                    f"the model's parameters are {names}"
                )
        self.parameters = tuple(_bounded(p, bounds[p.name]) if p.name in bounds else p
                                for p in parameters)
        self.names = tuple(p.name for p in self.parameters)
        self.index = {name: i for i, name in enumerate(self.names)}
        self.fixed = {name: float(value) for name, value in fixed.items()}
        self._check_fixed_thresholds()
        self.free = np.array([n not in self.fixed for n in self.names])
        self.free_names = tuple(n for n, f in zip(self.names, self.free, strict=True) if f)
        self.free_index = np.flatnonzero(self.free)
        transforms = np.array([p.transform for p in self.parameters])
        self._transforms = transforms
        self._is_log = transforms == "log"
        self._is_threshold = np.isin(transforms, THRESHOLD_TRANSFORMS)
        self._is_first_threshold = self._is_threshold & ~self._follows_same_group()
        self._exp_increment = self._is_threshold & (
            ~self._is_first_threshold | (transforms == "positive_threshold"))
        self._cumulate = self._threshold_cumsum_matrix()
        self._lower = np.array([0.0 if p.lower is None else p.lower for p in self.parameters])
        self._upper = np.array([0.0 if p.upper is None else p.upper for p in self.parameters])
        self.bounds = {p.name: (p.lower, p.upper) for p in self.parameters
                       if p.lower is not None or p.upper is not None}

    @property
    def n_free(self) -> int:
        return int(self.free.sum())

    def blocks(self) -> tuple[str, ...]:
        """The block of each free parameter."""
        return tuple(self.parameters[i].block for i in self.free_index)

    def _follows_same_group(self) -> np.ndarray:
        groups = [p.group for p in self.parameters]
        return np.array(
            [i > 0 and g is not None and groups[i - 1] == g for i, g in enumerate(groups)]
        )

    def _threshold_cumsum_matrix(self) -> np.ndarray:
        """``M`` with ``tau = M @ increments`` inside each threshold group."""
        n = len(self.parameters)
        matrix = np.eye(n)
        for i, p in enumerate(self.parameters):
            for j in range(i):
                if p.group is not None and self.parameters[j].group == p.group:
                    matrix[i, j] = 1.0
        return matrix

    def _check_fixed_thresholds(self):
        groups: dict[str, list[str]] = {}
        for p in self.parameters:
            if p.group is not None:
                groups.setdefault(p.group, []).append(p.name)
        for group, names in groups.items():
            n_fixed = sum(name in self.fixed for name in names)
            if 0 < n_fixed < len(names):
                raise SpecificationError(
                    f"thresholds of {group!r}: fix all of {names} or none of them"
                )

    def reported_map(self, fixed_internal: np.ndarray) -> ToReported:
        """The jit-friendly map from the free internal vector to all reported values,
        with ``fixed_internal`` filling the fixed entries."""
        return ToReported(
            free_index=jnp.asarray(self.free_index),
            fixed_internal=jnp.asarray(fixed_internal, dtype=float),
            is_log=jnp.asarray(self._is_log),
            is_threshold=jnp.asarray(self._is_threshold),
            is_first_threshold=jnp.asarray(self._is_first_threshold),
            exp_increment=jnp.asarray(self._exp_increment),
            cumulate=jnp.asarray(self._cumulate),
            is_lower=jnp.asarray(self._transforms == "lower"),
            is_upper=jnp.asarray(self._transforms == "upper"),
            is_interval=jnp.asarray(self._transforms == "interval"),
            lower=jnp.asarray(self._lower),
            upper=jnp.asarray(self._upper),
        )

    def to_internal(self, reported: np.ndarray) -> np.ndarray:
        """``theta -> u`` on the host; raises naming a parameter out of its domain."""
        reported = np.asarray(reported, dtype=float)
        internal = reported.copy()
        for i, p in enumerate(self.parameters):
            if p.transform in ("log", "lower", "upper", "interval"):
                internal[i] = self._unbound(p, reported[i])
            elif self._is_first_threshold[i] and p.transform == "positive_threshold":
                if reported[i] <= 0:
                    raise ValueError(f"the first upper symmetric threshold {p.name!r} must "
                                     f"be > 0, got {reported[i]}")
                internal[i] = np.log(reported[i])
            elif self._is_threshold[i] and not self._is_first_threshold[i]:
                step = reported[i] - reported[i - 1]
                if step <= 0:
                    raise ValueError(
                        f"thresholds must increase: {p.name!r} = {reported[i]} is not "
                        f"above {self.names[i - 1]!r} = {reported[i - 1]}"
                    )
                internal[i] = np.log(step)
        return internal

    @staticmethod
    def _unbound(p: Parameter, value: float) -> float:
        """The internal value of a scale or bounded coefficient; raises naming ``p``
        when ``value`` is outside its domain."""
        if p.transform == "log":
            if value <= 0:
                raise ValueError(f"parameter {p.name!r} must be > 0, got {value}")
            return float(np.log(value))
        lower = -np.inf if p.lower is None else p.lower
        upper = np.inf if p.upper is None else p.upper
        if not lower < value < upper:
            raise ValueError(f"parameter {p.name!r} = {value} is not strictly inside its "
                             f"bounds ({p.lower}, {p.upper})")
        if p.transform == "lower":
            return float(np.log(value - lower))
        if p.transform == "upper":
            return float(np.log(upper - value))
        return float(logit((value - lower) / (upper - lower)))

    def active_bounds(self, reported, tolerance: float = 1e-4) -> dict[str, str]:
        """``name -> "lower" | "upper"`` for the bounded parameters within
        ``tolerance * max(1, |bound|)`` of a bound at ``reported`` values."""
        active = {}
        for name, (lower, upper) in self.bounds.items():
            value = float(reported[self.index[name]])
            for side, bound in (("lower", lower), ("upper", upper)):
                if bound is not None and abs(value - bound) <= tolerance * max(1.0, abs(bound)):
                    active[name] = side
        return active

    def start_reported(self, start) -> np.ndarray:
        """Starting values (reported space) from ``None`` (defaults), a number
        (every free coefficient, not scales and thresholds), or a dict by name.
        Defaults and numbers outside a parameter's bounds are moved inside."""
        values = np.array([p.default for p in self.parameters], dtype=float)
        if isinstance(start, (int, float)) and not isinstance(start, bool):
            for i, p in enumerate(self.parameters):
                if p.transform in ("identity", "lower", "upper", "interval"):
                    values[i] = float(start)
        elif not (start is None or isinstance(start, Mapping)):
            raise TypeError(
                "start must be None, a number or a dict of parameter name -> value, "
                f"not {type(start).__name__}"
            )
        values = np.array([_inside(v, p) if p.name in self.bounds else v
                           for v, p in zip(values, self.parameters, strict=True)])
        if isinstance(start, Mapping):
            unknown = sorted(set(start) - set(self.index))
            if unknown:
                raise ValueError(f"start values for unknown parameters: {unknown}")
            for name, value in start.items():
                values[self.index[name]] = float(value)
        for name, value in self.fixed.items():
            values[self.index[name]] = value
        return values
