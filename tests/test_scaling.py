"""Speed and scale plumbing: compiled code reused across data sets, float32 evaluation,
chunk sizes from the memory budget."""

import jax.numpy as jnp
import numpy as np
import pytest

import iclv_jax as ij
from iclv_jax import datasets
from iclv_jax.likelihood import SimulatedLikelihood
from iclv_jax.placement import (
    available_memory_bytes,
    choose_chunk_size,
    default_memory_bytes,
)


def _compiled_loglikes() -> int:
    return SimulatedLikelihood.loglike._cached._cache_size()


def test_a_new_data_set_of_the_same_shapes_reuses_the_compiled_code():
    first_df, model, truth = datasets.beverage_one_lv(n_people=40, seed=1)
    second_df, _, _ = datasets.beverage_one_lv(n_people=40, seed=2)
    first = ij.Problem(model, first_df, draws=8, chunk_size=8)
    second = ij.Problem(model, second_df, draws=8, chunk_size=8)
    u = first.free_internal(truth)
    ll_first = float(first.likelihood.loglike(u))
    compiled = _compiled_loglikes()
    ll_second = float(second.likelihood.loglike(u))
    assert _compiled_loglikes() == compiled  # no new trace for new values
    assert ll_first != ll_second  # the second call did use the new data
    # a different shape does compile anew (the counter can move)
    ij.Problem(model, second_df, draws=9, chunk_size=8).likelihood.loglike(u)
    assert _compiled_loglikes() == compiled + 1


@pytest.fixture(scope="module")
def beverage_small():
    return datasets.beverage(n_people=200, seed=4)


def test_float32_loglike_is_within_1e3_relative_of_float64(beverage_small):
    df, model, truth = beverage_small
    double = ij.Problem(model, df, draws=50)
    single = ij.Problem(model, df, draws=50, dtype="float32")
    u = double.free_internal(truth)
    ll64 = double.likelihood.loglike(u)
    ll32, grad32 = single.likelihood.loglike_and_grad(u)
    assert single.likelihood.zeta.dtype == jnp.float32 and ll32.dtype == jnp.float32
    assert ll64.dtype == jnp.float64
    assert abs(float(ll32) - float(ll64)) < 1e-3 * abs(float(ll64))
    _, grad64 = double.likelihood.loglike_and_grad(u)
    np.testing.assert_allclose(grad32, grad64, rtol=1e-2, atol=1e-2 * np.abs(grad64).max())


def test_unknown_dtype_is_refused(beverage_small):
    df, model, _ = beverage_small
    with pytest.raises(ValueError, match="dtype"):
        ij.Problem(model, df, draws=5, dtype="float16")


def test_chunk_size_follows_the_memory_budget(beverage_small):
    df, model, _ = beverage_small
    panel = ij.Problem(model, df, draws=5).panel
    small = choose_chunk_size(panel, 100, 3, memory_bytes=1 << 20)
    large = choose_chunk_size(panel, 100, 3, memory_bytes=1 << 30)
    assert small % 8 == 0 and small < large
    assert large >= panel.n_people  # everyone fits in one chunk
    # split over 2 devices: each device's chunks hold half the people
    assert choose_chunk_size(panel, 100, 3, 1 << 30, n_devices=2) == 104  # 100, 8 | chunk
    # single precision halves the bytes, so chunks hold (about) twice the people
    assert choose_chunk_size(panel, 100, 3, 1 << 20, itemsize=4) >= 2 * small - 8
    assert 0 < default_memory_bytes() <= available_memory_bytes()
    problem = ij.Problem(model, df, draws=100, memory_bytes=1 << 20)
    assert problem.likelihood.chunk_size == small
    assert problem.likelihood.chunk_size % problem.likelihood.hessian_chunk_size == 0
