"""Named parameters: the reported space users see, the internal space optimisers see.

Every parameter has a name and a *reported* value (what tables show).  Estimation
works on an unconstrained *internal* vector ``u``:

- ordinary coefficients: ``theta = u``;
- scales (``sigma_*``): ``theta = exp(u)``;
- the thresholds of one ordered item: ``tau_1 = u_1``, ``tau_j = tau_{j-1} + exp(u_j)``,
  so they stay strictly ordered whatever ``u`` is; the upper half of symmetric
  thresholds (``positive_threshold``) also has ``tau_1 = exp(u_1) > 0``;
- bounded coefficients: ``theta = u`` too, kept in the box ``lower <= u <= upper``
  (:meth:`ParameterSpace.internal_bounds`) by the optimiser itself (projected Newton,
  L-BFGS-B; see :mod:`iclv_jax.optimize`).  A transform such as ``upper - exp(u)``
  would put the bound at ``u = -inf``, where its gradient vanishes: an optimiser
  stalls on the way there, and never reaches a bound that binds.

``ParameterSpace.reported_map`` gives the jit-friendly map ``u -> theta``;
``to_internal`` is its inverse on the host.  Fixed parameters are given (and kept)
in reported space.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from .errors import SpecificationError

Transform = Literal["identity", "log", "threshold", "positive_threshold"]
THRESHOLD_TRANSFORMS = ("threshold", "positive_threshold")


def exp_where(mask, x):
    """``exp(x)`` where ``mask``, ``x`` elsewhere, with the derivative of the branch taken
    only: ``exp`` sees 0 where ``mask`` is false, so a large ``x`` there (a coefficient
    of 720) cannot overflow into the untaken branch and make its gradient NaN
    (``0 * inf``)."""
    return jnp.where(mask, jnp.exp(jnp.where(mask, x, 0.0)), x)


class ToReported(eqx.Module):
    """Free internal vector ``u`` -> full reported vector ``theta``: ``exp(u)`` for
    scales, cumulated (exponentiated) increments for thresholds, ``u`` for every
    coefficient (bounded ones included).  Each entry evaluates only its own transform,
    so the map and its Jacobian are finite wherever the reported values are."""

    free_index: Int[Array, " F"]
    fixed_internal: Float[Array, " P"]
    is_log: Bool[Array, " P"]
    is_threshold: Bool[Array, " P"]
    is_first_threshold: Bool[Array, " P"]
    exp_increment: Bool[Array, " P"]
    cumulate: Float[Array, "P P"]

    def internal(self, free_internal):
        return self.fixed_internal.at[self.free_index].set(free_internal)

    def __call__(self, free_internal):
        internal = self.internal(free_internal)
        thresholds = self.cumulate @ exp_where(self.exp_increment, internal)
        return jnp.where(self.is_threshold, thresholds, exp_where(self.is_log, internal))

    def on_host(self, free_internal) -> tuple[np.ndarray, np.ndarray]:
        """``(theta(u), J = d theta_free / d u)`` in numpy, in closed form (nothing to
        compile): with ``x`` the internal vector, ``e(x)`` and ``l(x)`` the entries
        exponentiated where ``exp_increment`` and ``is_log`` are set and ``C`` the
        cumulation matrix, ``theta = C e(x)`` on threshold rows and ``l(x)`` elsewhere,
        so ``d theta_i / d x_j = C_ij e'(x_j)`` on a threshold row and
        ``[i = j] l'(x_i)`` elsewhere (``exp`` or 1); ``J`` keeps the free rows and
        columns."""
        x = np.array(self.fixed_internal, dtype=float)
        free = np.asarray(self.free_index)
        x[free] = np.asarray(free_internal, dtype=float)
        exp_increment, is_log = np.asarray(self.exp_increment), np.asarray(self.is_log)
        cumulate, is_threshold = np.asarray(self.cumulate), np.asarray(self.is_threshold)
        with np.errstate(over="ignore"):  # out of range: inf, as the compiled map gives
            d_increment = np.where(exp_increment, np.exp(np.where(exp_increment, x, 0.0)), 1.0)
            d_log = np.where(is_log, np.exp(np.where(is_log, x, 0.0)), 1.0)
        increments = np.where(exp_increment, d_increment, x)
        theta = np.where(is_threshold, cumulate @ increments, np.where(is_log, d_log, x))
        jacobian = np.where(is_threshold[:, None], cumulate * d_increment, np.diag(d_log))
        return theta, jacobian[np.ix_(free, free)]


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
        lower, upper: bounds of a bounded coefficient (``None``: none on that side);
            the optimiser keeps ``lower <= theta <= upper``.
    """

    name: str
    transform: Transform
    block: str
    default: float
    group: str | None = None
    lower: float | None = None
    upper: float | None = None


def _bounded(parameter: Parameter, bounds: tuple[float | None, float | None]) -> Parameter:
    """``parameter`` with its bounds ``(lower, upper)`` (``None``: open side)."""
    if parameter.transform != "identity":
        raise SpecificationError(
            f"bounds on {parameter.name!r}: only coefficients can be bounded (scales and "
            "thresholds are kept positive and ordered by their own transforms)"
        )
    return replace(parameter, lower=bounds[0], upper=bounds[1])


def _box(p: Parameter) -> tuple[float, float]:
    """``p``'s bounds with ``-inf`` / ``inf`` for open sides."""
    return (-np.inf if p.lower is None else p.lower, np.inf if p.upper is None else p.upper)


def _inside(value: float, p: Parameter) -> float:
    """A default start strictly inside ``p``'s bounds (the midpoint of an interval,
    else ``0.1 max(1, |bound|)`` inside the bound) when ``value`` is not."""
    lower, upper = _box(p)
    if lower < value < upper:
        return value
    if p.lower is not None and p.upper is not None:
        return 0.5 * (lower + upper)
    if p.lower is not None:
        return lower + 0.1 * max(1.0, abs(lower))
    return upper - 0.1 * max(1.0, abs(upper))


class ParameterSpace:
    """The ordered list of parameters, which are free, and the ``u <-> theta`` maps."""

    def __init__(
        self,
        parameters: Sequence[Parameter],
        fixed: Mapping[str, float],
        bounds: Mapping[str, tuple[float | None, float | None]] | None = None,
    ):
        bounds = dict(bounds or {})
        names = [p.name for p in parameters]
        for what, given in (("fixed", fixed), ("bounded", bounds)):
            unknown = sorted(set(given) - set(names))
            if unknown:
                raise SpecificationError(
                    f"{what} parameters not in the model: {unknown}; "
                    f"the model's parameters are {names}"
                )
        self.parameters = tuple(
            _bounded(p, bounds[p.name]) if p.name in bounds else p for p in parameters
        )
        self.names = tuple(p.name for p in self.parameters)
        self.index = {name: i for i, name in enumerate(self.names)}
        self.fixed = {name: float(value) for name, value in fixed.items()}
        self._check_fixed_thresholds()
        self.free = np.array([n not in self.fixed for n in self.names])
        self.free_names = tuple(n for n, f in zip(self.names, self.free, strict=True) if f)
        self.free_index = np.flatnonzero(self.free)
        transforms = np.array([p.transform for p in self.parameters])
        self._is_log = transforms == "log"
        self._is_threshold = np.isin(transforms, THRESHOLD_TRANSFORMS)
        self._is_first_threshold = self._is_threshold & ~self._follows_same_group()
        self._exp_increment = self._is_threshold & (
            ~self._is_first_threshold | (transforms == "positive_threshold")
        )
        self._cumulate = self._threshold_cumsum_matrix()
        self.bounds = {
            p.name: (p.lower, p.upper)
            for p in self.parameters
            if p.lower is not None or p.upper is not None
        }

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
        put = lambda x: jax.device_put(np.asarray(x))  # noqa: E731 (jnp.asarray compiles)
        return ToReported(
            free_index=put(self.free_index),
            fixed_internal=put(np.asarray(fixed_internal, dtype=float)),
            is_log=put(self._is_log),
            is_threshold=put(self._is_threshold),
            is_first_threshold=put(self._is_first_threshold),
            exp_increment=put(self._exp_increment),
            cumulate=put(self._cumulate),
        )

    def internal_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """``(lower, upper)``: the box the free internal vector must stay in (``-inf`` /
        ``inf`` where a side is open; bounded coefficients are their own internal
        values)."""
        box = np.array([_box(self.parameters[i]) for i in self.free_index]).reshape(-1, 2)
        return box[:, 0], box[:, 1]

    def to_internal(self, reported: np.ndarray) -> np.ndarray:
        """``theta -> u`` on the host; raises naming a parameter out of its domain."""
        reported = np.asarray(reported, dtype=float)
        internal = reported.copy()
        for i, p in enumerate(self.parameters):
            if p.transform == "log" or p.name in self.bounds:
                internal[i] = self._unbound(p, reported[i])
            elif self._is_first_threshold[i] and p.transform == "positive_threshold":
                if reported[i] <= 0:
                    raise ValueError(
                        f"the first upper symmetric threshold {p.name!r} must "
                        f"be > 0, got {reported[i]}"
                    )
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
        when ``value`` is outside its domain (a value on a bound is inside)."""
        if p.transform == "log":
            if value <= 0:
                raise ValueError(f"parameter {p.name!r} must be > 0, got {value}")
            return float(np.log(value))
        lower, upper = _box(p)
        if not lower <= value <= upper:
            raise ValueError(
                f"parameter {p.name!r} = {value} is outside its bounds [{p.lower}, {p.upper}]"
            )
        return float(value)

    def active_bounds(self, reported, tolerance: float = 0.0) -> dict[str, str]:
        """``name -> "lower" | "upper"`` for the bounded parameters within
        ``tolerance * max(1, |bound|)`` of a bound at ``reported`` values (by default
        exactly on it: where the bound-aware optimisers put a bound that binds)."""
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
        values = np.array(
            [
                _inside(v, p) if p.name in self.bounds else v
                for v, p in zip(values, self.parameters, strict=True)
            ]
        )
        if isinstance(start, Mapping):
            unknown = sorted(set(start) - set(self.index))
            if unknown:
                raise ValueError(f"start values for unknown parameters: {unknown}")
            for name, value in start.items():
                values[self.index[name]] = float(value)
        for name, value in self.fixed.items():
            values[self.index[name]] = value
        return values
