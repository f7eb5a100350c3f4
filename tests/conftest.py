"""Fixtures shared by several test modules."""

import pytest

import iclv_jax as ij
from iclv_jax import datasets


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
