"""The run-time type checks of the test run (tests/conftest.py) are on (issue 14): every
module of the package, those imported later too, is loaded through jaxtyping's import
hook, and an array of the wrong shape or dtype, or a value of the wrong type, is refused
with jaxtyping's ``TypeCheckError``."""

import importlib
import pkgutil
import sys

import jax.numpy as jnp
import pytest
from jaxtyping import TypeCheckError

import iclv_jax as ij
from iclv_jax.analytic.scores import _per_lv
from iclv_jax.placement import PanelArrays

# every module of the package (``__main__`` runs the command line when imported)
MODULES = ["iclv_jax"] + sorted(
    info.name
    for info in pkgutil.walk_packages(ij.__path__, "iclv_jax.")
    if info.name != "iclv_jax.__main__"
)


def _panel(n_design: int = 3, chosen_dtype=jnp.int32) -> PanelArrays:
    """A panel of 3 people (2 situations, 2 alternatives, 1 attribute, 1 covariate, 1
    ordered and 1 continuous item) whose design has ``n_design`` people."""
    n, t, j = 3, 2, 2
    return PanelArrays(
        design=jnp.zeros((n_design, t, j, 1)),
        available=jnp.ones((n, t, j), bool),
        chosen=jnp.zeros((n, t), chosen_dtype),
        situation_mask=jnp.ones((n, t), bool),
        covariates=jnp.zeros((n, 1)),
        ordered_levels=jnp.ones((n, 1), jnp.int32),
        continuous_values=jnp.zeros((n, 1)),
        weight=jnp.ones(n),
    )


@pytest.mark.parametrize("name", MODULES)
def test_every_module_is_loaded_through_the_jaxtyping_hook(name):
    module = importlib.import_module(name)
    assert type(module.__spec__.loader).__name__ == "_JaxtypingLoader"


def test_a_module_imported_after_the_package_is_checked_too():
    """The hook stays installed: a submodule first imported now is instrumented."""
    name = "iclv_jax.plots"
    sys.modules.pop(name, None)
    module = importlib.import_module(name)
    assert type(module.__spec__.loader).__name__ == "_JaxtypingLoader"
    assert all(
        hasattr(getattr(module, f), "__wrapped__")
        for f in module.__all__
        if callable(getattr(module, f))
    )


def test_a_shape_mismatch_between_arguments_is_refused():
    """``values: Float[Array, " K"]``, ``lv_index: Int[Array, " K"]``: one ``K``."""
    assert _per_lv(jnp.ones(3), jnp.array([0, 1, 1]), 2).shape == (2,)
    with pytest.raises(TypeCheckError, match="lv_index"):
        _per_lv(jnp.ones(3), jnp.array([0, 1, 1, 0]), 2)
    with pytest.raises(TypeCheckError, match="values"):
        _per_lv(jnp.ones((3, 1)), jnp.array([0, 1, 1]), 2)


def test_the_fields_of_a_module_are_checked_together():
    """``PanelArrays``: every field has the same number of people ``N``, and integer
    fields hold integers."""
    assert _panel().design.shape == (3, 2, 2, 1)
    with pytest.raises(TypeCheckError, match="N"):
        _panel(n_design=4)
    with pytest.raises(TypeCheckError, match="chosen"):
        _panel(chosen_dtype=jnp.float64)


def test_plain_annotations_are_checked():
    """``Quadrature.n_nodes: int``: a float is refused by the checks, before the
    library's own validation (which raises ``ValueError`` without them)."""
    with pytest.raises(TypeCheckError, match="n_nodes"):
        ij.Quadrature(2.0)
