"""Named parameters: the reported space users see, the internal space optimisers see.

Every parameter has a name and a *reported* value (what tables show).  Estimation
works on an unconstrained *internal* vector ``u``:

- ordinary coefficients: ``theta = u``;
- scales (``sigma_*``): ``theta = exp(u)``;
- the thresholds of one ordered item: ``tau_1 = u_1``, ``tau_j = tau_{j-1} + exp(u_j)``,
  so they stay strictly ordered whatever ``u`` is.

``ParameterSpace.reported_map`` gives the jit-friendly map ``u -> theta``;
``to_internal`` is its inverse on the host.  Fixed parameters are given (and kept)
in reported space.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from .spec import SpecificationError

Transform = Literal["identity", "log", "threshold"]


class ToReported(eqx.Module):
    """Free internal vector ``u`` -> full reported vector ``theta``."""

    free_index: Int[Array, " F"]
    fixed_internal: Float[Array, " P"]
    is_log: Bool[Array, " P"]
    is_threshold: Bool[Array, " P"]
    is_first_threshold: Bool[Array, " P"]
    cumulate: Float[Array, "P P"]

    def __call__(self, free_internal):
        internal = self.fixed_internal.at[self.free_index].set(free_internal)
        increments = jnp.where(
            self.is_threshold & ~self.is_first_threshold, jnp.exp(internal), internal
        )
        return jnp.where(
            self.is_threshold,
            self.cumulate @ increments,
            jnp.where(self.is_log, jnp.exp(internal), internal),
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
    """

    name: str
    transform: Transform
    block: str
    default: float
    group: str | None = None


class ParameterSpace:
    """The ordered list of parameters, which are free, and the ``u <-> theta`` maps."""

    def __init__(self, parameters: Sequence[Parameter], fixed: Mapping[str, float]):
        self.parameters = tuple(parameters)
        self.names = tuple(p.name for p in self.parameters)
        self.index = {name: i for i, name in enumerate(self.names)}
        unknown = sorted(set(fixed) - set(self.index))
        if unknown:
            raise SpecificationError(
                f"fixed parameters not in the model: {unknown}; "
                f"the model's parameters are {list(self.names)}"
            )
        self.fixed = {name: float(value) for name, value in fixed.items()}
        self._check_fixed_thresholds()
        self.free = np.array([n not in self.fixed for n in self.names])
        self.free_names = tuple(n for n, f in zip(self.names, self.free, strict=True) if f)
        self.free_index = np.flatnonzero(self.free)
        transforms = np.array([p.transform for p in self.parameters])
        self._is_log = transforms == "log"
        self._is_threshold = transforms == "threshold"
        self._is_first_threshold = self._is_threshold & ~self._follows_same_group()
        self._cumulate = self._threshold_cumsum_matrix()

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
            cumulate=jnp.asarray(self._cumulate),
        )

    def to_internal(self, reported: np.ndarray) -> np.ndarray:
        """``theta -> u`` on the host; raises naming a parameter out of its domain."""
        reported = np.asarray(reported, dtype=float)
        internal = reported.copy()
        for i, p in enumerate(self.parameters):
            if p.transform == "log":
                if reported[i] <= 0:
                    raise ValueError(f"parameter {p.name!r} must be > 0, got {reported[i]}")
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

    def start_reported(self, start) -> np.ndarray:
        """Starting values (reported space) from ``None`` (defaults), a number
        (every free parameter except scales and thresholds), or a dict by name."""
        values = np.array([p.default for p in self.parameters], dtype=float)
        if start is None:
            pass
        elif isinstance(start, (int, float)) and not isinstance(start, bool):
            for i, p in enumerate(self.parameters):
                if p.transform == "identity":
                    values[i] = float(start)
        elif isinstance(start, Mapping):
            unknown = sorted(set(start) - set(self.index))
            if unknown:
                raise ValueError(f"start values for unknown parameters: {unknown}")
            for name, value in start.items():
                values[self.index[name]] = float(value)
        else:
            raise TypeError(
                "start must be None, a number or a dict of parameter name -> value, "
                f"not {type(start).__name__}"
            )
        for name, value in self.fixed.items():
            values[self.index[name]] = value
        return values
