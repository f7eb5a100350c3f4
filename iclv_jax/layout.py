"""Where each named parameter goes in the components.

:func:`build_layout` asks each component of a model to declare its parameters (names,
transforms, blocks, data-based starts; see
:mod:`iclv_jax.components.declarations`) and records, for every parameter field of
every component, which entry of the reported parameter vector fills it.
:meth:`Layout.components` then turns a reported vector into the pure component modules
with one gather per field.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array

from .binding import has_expressions
from .components import (
    EXTRAS,
    ComponentLayout,
    ContinuousIndicators,
    Declarations,
    OrderedIndicators,
    Structural,
)
from .components.declarations import scatter
from .data import Panel
from .params import ParameterSpace
from .spec import ICLVModel

__all__ = ["EXTRAS", "Layout", "build_layout"]


class Layout(eqx.Module):
    """The layout of each component, in the order the likelihood uses them: the
    structural equations, the ordered and the continuous indicators, the choice
    model."""

    structural: ComponentLayout
    ordered: ComponentLayout
    continuous: ComponentLayout
    choice: ComponentLayout

    @property
    def parts(self) -> tuple[ComponentLayout, ...]:
        return (self.structural, self.ordered, self.continuous, self.choice)

    def components(self, reported):
        """The component modules for one reported parameter vector."""
        extended = jnp.concatenate([reported, jnp.asarray(EXTRAS, reported.dtype)])
        return tuple(part.build(extended) for part in self.parts)

    def scatter(self, fields: tuple[dict, ...], n_params: int, dtype) -> Array:
        """The transpose of every gather: ``d / d theta_reported`` from each component's
        field gradients (``fields``, one dict per component in layout order; see
        :meth:`~iclv_jax.components.ComponentLayout.all_entries`), in one scatter."""
        entries = [
            entry
            for part, grads in zip(self.parts, fields, strict=True)
            for entry in part.all_entries(grads)
        ]
        return scatter(entries, n_params, dtype)


def build_layout(model: ICLVModel, panel: Panel) -> tuple[ParameterSpace, Layout]:
    """Every component declares its parameters (in this order: structural, ordered and
    continuous indicators, choice), then the gathers are resolved.  ``model`` is bound
    to the data ``panel`` was built from (:func:`~iclv_jax.binding.bind`): its
    expressions' parameters depend on the data's columns."""
    if has_expressions(model):
        raise ValueError("build_layout needs the model bound to the data (iclv_jax.binding.bind)")
    declarations = Declarations()
    plans = (
        Structural.declare(model, panel, declarations),
        OrderedIndicators.declare(model, panel, declarations),
        ContinuousIndicators.declare(model, panel, declarations),
        model.choice.declare(model, panel, declarations),
    )
    layout = Layout(*(declarations.resolve(plan) for plan in plans))
    space = ParameterSpace(list(declarations.parameters.values()), model.fixed, model.bounds)
    return space, layout
