"""How a component declares its parameters, and where each one goes.

A component declares each parameter once, by name, with its transform (identity,
``log`` for a scale, ``threshold`` for ordered cut-points), the model block it belongs
to and a default start (:meth:`Declarations.add`; a coefficient, identity-transformed,
is the only kind that can be bounded).  The same name declared twice is one parameter
(shared thresholds, a coefficient named twice).  Every parameter field of the
component is then a gather from ``concat(theta_reported, EXTRAS)``: the names of the
field's entries, with ``None``, ``"-"``, ``"+"`` and ``"1"`` for the constant slots
``0``, ``-OUTER_CUT``, ``OUTER_CUT`` and ``1`` (:class:`ComponentLayout`).  The
parameter vector, the Hessian's seed groups, the analytic gradient's scatter and the
diagnostics' lookups are all read off these gathers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ..params import Parameter
from .links import OUTER_CUT

__all__ = [
    "EXTRAS",
    "SLOTS",
    "AbstractComponent",
    "ComponentLayout",
    "ComponentPlan",
    "Declarations",
    "scatter",
]

# Constant slots appended to the reported vector so that every field is a pure gather.
SLOTS = {None: 0, "-": 1, "+": 2, "1": 3}
EXTRAS = np.array([0.0, -OUTER_CUT, OUTER_CUT, 1.0])

Additivity = Literal["rows", "whole", "shared"]


class Declarations:
    """The model's parameters in order of declaration; the same name twice is one."""

    def __init__(self):
        self.parameters: dict[str, Parameter] = {}

    def add(
        self,
        name: str,
        block: str,
        default: float,
        transform="identity",
        group: str | None = None,
        lower: float | None = None,
    ) -> str:
        """Declare ``name`` (first declaration wins) and return it, for a gather;
        ``lower``: a coefficient's own lower bound (the model's ``bounds`` override it)."""
        self.parameters.setdefault(
            name, Parameter(name, transform, block, default, group, lower=lower)
        )
        return name

    def index(self, names, shape) -> Array:
        """The position of each name (nested lists of ``shape``) in
        ``concat(theta, EXTRAS)``; the keys of :data:`SLOTS` select the constant slots."""
        keys: dict[str | None, int] = {name: i for i, name in enumerate(self.parameters)}
        keys.update({slot: len(self.parameters) + k for slot, k in SLOTS.items()})
        flat = np.asarray(names, dtype=object).reshape(-1)
        # device_put, not jnp.asarray: that compiles a program per shape and dtype
        return jax.device_put(
            np.asarray([keys[name] for name in flat], dtype=np.int64).reshape(shape)
        )

    def resolve(self, plan: ComponentPlan) -> ComponentLayout:
        """``plan``'s names as positions: the component's layout."""
        gathers = {field: self.index(names, shape) for field, (names, shape) in plan.names.items()}
        return ComponentLayout(
            component=plan.component,
            gathers=gathers,
            signs={
                field: jax.device_put(np.asarray(sign, dtype=float))
                for field, sign in plan.signs.items()
            },
            data=dict(plan.data),
            static=plan.static,
            parameter_fields=tuple(
                field
                for field, index in gathers.items()
                if bool((np.asarray(index) < len(self.parameters)).any())  # on the host
            ),
        )


@dataclass(frozen=True)
class ComponentPlan:
    """What a component's ``declare`` returns: its class, for each parameter field the
    names of its entries (nested lists) and the field's shape, signs for some fields,
    data fields and static fields.  Names are resolved to positions by
    :meth:`Declarations.resolve` once every component has declared its parameters (a
    field may gather a parameter another component declares)."""

    component: type
    names: dict[str, tuple[Any, tuple[int, ...]]]
    signs: dict[str, Any]
    data: dict[str, Any]
    static: tuple[tuple[str, Any], ...] = ()


class AbstractComponent(eqx.Module):
    """A component class's contract with the layout: ``additive`` says how the terms of
    the draw log-likelihood use its parameters (for the Hessian's seed groups):
    ``"rows"``, each row of its fields (one item) is its own additive term;
    ``"whole"``, the component is one additive term; ``"shared"``, its parameters reach
    every term (the structural equations, through the LVs).  ``linear_fields``: the
    fields in which the component's term is a function of linear combinations, whose
    derivatives the component gives in closed form (a choice kernel's
    ``linear_derivatives``); the Hessian needs no seed for parameters found only there."""

    additive: ClassVar[Additivity]
    linear_fields: ClassVar[tuple[str, ...]] = ()


class ComponentLayout(eqx.Module):
    """One component of a model: its (final) class, the gathers of its parameter fields,
    the signs (constant factors) some gathered entries are multiplied by (mirrored
    symmetric thresholds, a reference loading),
    its data fields (arrays that are not parameters, e.g. which LV an item measures)
    and its static fields.  :meth:`build` makes the component from a reported vector."""

    component: type[AbstractComponent] = eqx.field(static=True)
    gathers: dict[str, Array]
    signs: dict[str, Array]
    data: dict[str, Array]
    static: tuple[tuple[str, Any], ...] = eqx.field(static=True)
    # the fields gathering at least one parameter (not only constant slots)
    parameter_fields: tuple[str, ...] = eqx.field(static=True)

    def build(self, extended: Array):
        """The component with field ``f = extended[gathers[f]] (* signs[f])``;
        ``extended`` is ``concat(theta_reported, EXTRAS)``."""
        values = {name: extended[index] for name, index in self.gathers.items()}
        for name, sign in self.signs.items():
            values[name] = values[name] * sign.astype(extended.dtype)
        return self.component(**values, **self.data, **dict(self.static))

    def field_positions(self, name: str, n_params: int) -> np.ndarray:
        """The distinct reported positions gathered into field ``name`` (constant slots
        dropped)."""
        index = np.asarray(self.gathers[name]).ravel()
        return np.unique(index[index < n_params])

    def entries(self, name: str, gradient: Array) -> tuple[Array, Array]:
        """``(positions, values)`` of field ``name``'s gradient in
        ``concat(theta_reported, EXTRAS)`` (signed like the gather): what the transpose
        of its gather adds up."""
        if name in self.signs:
            gradient = gradient * self.signs[name]
        return self.gathers[name].reshape(-1), gradient.reshape(-1)

    def all_entries(self, gradients: dict[str, Array | None]) -> list[tuple[Array, Array]]:
        """:meth:`entries` of every parameter field.  A field gathering a parameter with
        no gradient given is an error (a witness that forgot a field must not pass for
        one that found it zero), and so is a gradient for a field that is not a
        parameter field."""
        unknown = sorted(set(gradients) - set(self.gathers))
        missing = [name for name in self.parameter_fields if gradients.get(name) is None]
        if unknown or missing:
            raise ValueError(
                f"{self.component.__name__}: gradients for the fields "
                f"{unknown} that are not parameter fields, none for the "
                f"parameter fields {missing}"
            )
        return [self.entries(name, g) for name, g in gradients.items() if g is not None]


def scatter(entries: list[tuple[Array, Array]], n_params: int, dtype) -> Array:
    """``d / d theta_reported``: the ``(positions, values)`` pairs of gathered fields'
    gradients added up in one scatter, the constant slots dropped."""
    total = jnp.zeros(n_params + len(EXTRAS), dtype)
    if entries:
        positions = jnp.concatenate([p for p, _ in entries])
        values = jnp.concatenate([v for _, v in entries])
        total = total.at[positions].add(values.astype(dtype))
    return total[:n_params]
