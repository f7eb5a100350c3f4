"""Fixtures shared by several test modules, and the run-time type checks.

jaxtyping's import hook is installed here, before anything imports ``iclv_jax``: every
function and dataclass of the package (submodules imported later, lazily, too: the hook
stays on ``sys.meta_path`` for the whole session) is decorated with
``jaxtyped(typechecker=beartype)``, so array shapes and dtypes, and the other
annotations, are checked on every call the tests make. (pytest imports this file before
plugins' ``pytest_configure`` runs, so ``--jaxtyping-packages`` would come too late.)
"""

from jaxtyping import install_import_hook

# PEP 484's numeric tower, as mypy reads the annotations: an ``int`` is a ``float``
install_import_hook(
    "iclv_jax", "beartype.beartype(conf=beartype.BeartypeConf(is_pep484_tower=True))")

import pytest  # noqa: E402

import iclv_jax as ij  # noqa: E402
from iclv_jax import datasets  # noqa: E402


@pytest.fixture(scope="session")
def fitted_small():
    """A small ICLV estimated on the beverage logit data (one LV, three ``pi`` items), as
    ``(results, model, data)``; one estimation per session, shared by the persistence and
    post-estimation tests."""
    df, model, _ = datasets.beverage(n_people=150, n_situations=3, seed=3, choice="logit")
    small = ij.ICLVModel([ij.LatentVariable("purchase_intention")],
                         [i for i in model.indicators if i.name.startswith("pi")],
                         choice=model.choice)
    results = ij.estimate(small, df, draws=ij.Halton(10, seed=1), verbose=False)
    assert results.converged
    return results, small, df
