"""Tests for iclv_jax.draws."""

import dataclasses
import warnings

import numpy as np
import pytest
from helpers import refused
from scipy.special import ndtri

from iclv_jax import draws as draws_mod
from iclv_jax.draws import (
    EPS,
    MLHS,
    ApolloHalton,
    Draws,
    Halton,
    PseudoRandom,
    Sobol,
    as_draws,
)

RANDOMIZED = [Halton, MLHS, Sobol, PseudoRandom]
ALL_TYPES = [Halton, ApolloHalton, MLHS, Sobol, PseudoRandom]


def radical_inverse(index: int, base: int) -> float:
    """Van der Corput radical inverse of ``index`` in ``base`` (independent reference)."""
    value, scale = 0.0, 1.0 / base
    while index:
        index, digit = divmod(index, base)
        value += digit * scale
        scale /= base
    return value


def plain_halton(indices, bases=(2, 3, 5)) -> np.ndarray:
    return np.array([[radical_inverse(i, b) for b in bases] for i in indices])


# --- deterministic Halton -------------------------------------------------------


def test_apollo_halton_matches_radical_inverse():
    u = ApolloHalton(4).uniforms(2, 3)
    expected = plain_halton(range(1, 9)).reshape(2, 4, 3)
    np.testing.assert_array_equal(u, expected)
    np.testing.assert_array_equal(u[0, :, 0], [0.5, 0.25, 0.75, 0.125])


def test_apollo_halton_person_by_person():
    n_draws, n_people = 5, 3
    u = ApolloHalton(n_draws).uniforms(n_people, 2)
    assert u[1, 0, 0] == radical_inverse(n_draws + 1, 2)
    assert u[1, 0, 1] == radical_inverse(n_draws + 1, 3)
    assert u[2, -1, 1] == radical_inverse(3 * n_draws, 3)
    expected = plain_halton(range(1, n_people * n_draws + 1), bases=(2, 3))
    np.testing.assert_array_equal(u.reshape(-1, 2), expected)


def test_apollo_halton_ignores_seed():
    np.testing.assert_array_equal(
        ApolloHalton(6, seed=3).uniforms(4, 2), ApolloHalton(6).uniforms(4, 2)
    )


def test_unscrambled_halton_default_burn_in():
    # d = 3: largest base 5, default burn-in 10 * 5 = 50 points.
    u = Halton(4, scramble=False).uniforms(2, 3)
    np.testing.assert_array_equal(u.reshape(-1, 3), plain_halton(range(50, 58)))


def test_unscrambled_halton_explicit_burn_in_and_clipping():
    u = Halton(3, scramble=False, burn_in=0).uniforms(2, 1)
    # Index 0 is the origin, clipped to EPS so that ndtri stays finite.
    assert u[0, 0, 0] == EPS
    np.testing.assert_array_equal(u.ravel()[1:], plain_halton(range(1, 6), bases=(2,)).ravel())
    z = Halton(3, scramble=False, burn_in=0).normals(2, 1)
    assert np.all(np.isfinite(z))
    assert z[0, 0, 0] == pytest.approx(-8.2, abs=0.1)


@pytest.mark.parametrize("cls", [Halton, Sobol, ApolloHalton])
def test_qmc_people_are_consecutive_blocks(cls):
    n_people, n_draws = 6, 5
    blocks = cls(n_draws).uniforms(n_people, 2).reshape(-1, 2)
    one_per_person = cls(1).uniforms(n_people * n_draws, 2).reshape(-1, 2)
    np.testing.assert_array_equal(blocks, one_per_person)


@pytest.mark.parametrize("cls", [Halton, Sobol, ApolloHalton])
def test_chunked_generation_is_exact(cls, monkeypatch):
    full = cls(7).uniforms(9, 3)
    monkeypatch.setattr(draws_mod, "_CHUNK", 8)
    np.testing.assert_array_equal(cls(7).uniforms(9, 3), full)


def test_unscrambled_sobol_skips_origin():
    u = Sobol(7, scramble=False).uniforms(1, 2)
    # First 8 Sobol' points are a (0, 3, 2)-net; without the origin each
    # coordinate runs through k / 8, k = 1..7.
    np.testing.assert_array_equal(np.sort(u[0, :, 0]), np.arange(1, 8) / 8)
    np.testing.assert_array_equal(np.sort(u[0, :, 1]), np.arange(1, 8) / 8)


def test_sobol_non_power_of_two_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Sobol(5).uniforms(3, 2)
        Sobol(5, scramble=False).uniforms(3, 2)


# --- distributional properties ---------------------------------------------------


@pytest.mark.parametrize("cls", ALL_TYPES)
def test_normals_moments(cls):
    z = cls(25).normals(400, 3)
    n = z.shape[0] * z.shape[1]
    for dim in range(3):
        x = z[:, :, dim].ravel()
        assert abs(x.mean()) < 4 * np.sqrt(1 / n)
        assert abs(x.var() - 1) < 4 * np.sqrt(2 / n)


@pytest.mark.parametrize("cls,n_dims", [(Halton, 6), (ApolloHalton, 3), (Sobol, 6), (MLHS, 6)])
def test_dimensions_uncorrelated(cls, n_dims):
    u = cls(100).uniforms(100, n_dims).reshape(-1, n_dims)
    corr = np.corrcoef(u, rowvar=False)
    off_diagonal = corr[~np.eye(n_dims, dtype=bool)]
    assert np.max(np.abs(off_diagonal)) < 4 / np.sqrt(u.shape[0])


def test_mlhs_one_point_per_stratum():
    n_draws = 13
    u = MLHS(n_draws, seed=5).uniforms(20, 3)
    strata = np.floor(np.sort(u, axis=1) * n_draws)
    expected = np.broadcast_to(np.arange(n_draws)[None, :, None], u.shape)
    np.testing.assert_array_equal(strata, expected)


def test_mlhs_equal_spacing_single_shift():
    n_draws = 8
    u = np.sort(MLHS(n_draws, seed=1).uniforms(5, 2), axis=1)
    np.testing.assert_allclose(np.diff(u, axis=1), 1 / n_draws, rtol=0, atol=1e-12)


def test_mlhs_shuffled_independently_per_dimension():
    u = MLHS(10).uniforms(50, 2)
    order = np.argsort(u, axis=1)
    same_order = np.all(order[:, :, 0] == order[:, :, 1], axis=1)
    assert same_order.sum() <= 1
    assert not np.all(np.diff(u, axis=1) > 0)


# --- interface ---------------------------------------------------------------------


@pytest.mark.parametrize("cls", ALL_TYPES)
def test_shapes_dtype_and_range(cls):
    d = cls(7)
    u = d.uniforms(5, 3)
    z = d.normals(5, 3)
    assert u.shape == z.shape == (5, 7, 3)
    assert u.dtype == z.dtype == np.float64
    assert np.all((u > 0) & (u < 1))
    np.testing.assert_array_equal(z, ndtri(u))
    assert np.all(np.isfinite(z))


@pytest.mark.parametrize("cls", RANDOMIZED)
def test_seed_reproducibility(cls):
    a = cls(9, seed=11).normals(4, 2)
    b = cls(9, seed=11).normals(4, 2)
    c = cls(9, seed=12).normals(4, 2)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("cls", ALL_TYPES)
def test_log_weights(cls):
    w = cls(6).log_weights()
    assert w.shape == (6,)
    np.testing.assert_allclose(w, -np.log(6))
    assert np.exp(w).sum() == pytest.approx(1.0, abs=1e-14)


def test_frozen_and_hashable():
    d = Halton(10, seed=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.n_draws = 20
    assert d == Halton(10, seed=2)
    assert hash(d) == hash(Halton(10, seed=2))
    assert d != Halton(10, seed=3)


def test_draws_is_abstract():
    with pytest.raises(TypeError):
        Draws(10)


def test_as_draws():
    assert as_draws(50) == Halton(50, seed=0)
    assert as_draws(np.int64(50)) == Halton(50)
    assert type(as_draws(np.int64(50)).n_draws) is int
    mlhs = MLHS(20, seed=4)
    assert as_draws(mlhs) is mlhs


@pytest.mark.parametrize("bad", [True, 2.0, "100", None, [10]])
def test_as_draws_type_errors(bad):
    with pytest.raises(TypeError, match="draws"):
        as_draws(bad)


@pytest.mark.parametrize("bad", [0, -5])
def test_as_draws_value_errors(bad):
    with pytest.raises(ValueError, match="n_draws"):
        as_draws(bad)


@pytest.mark.parametrize("cls", ALL_TYPES)
@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "10"])
def test_invalid_n_draws(cls, bad):
    with refused(ValueError, match="n_draws"):
        cls(bad)


def test_invalid_seed_and_burn_in():
    with pytest.raises(ValueError, match="seed"):
        MLHS(10, seed=-1)
    with refused(ValueError, match="seed"):
        Sobol(10, seed=1.5)
    with pytest.raises(ValueError, match="burn_in"):
        Halton(10, burn_in=-1)


@pytest.mark.parametrize(
    "n_people,n_dims,name", [(0, 1, "n_people"), (1, 0, "n_dims"), (2.0, 1, "n_people")]
)
def test_invalid_sizes(n_people, n_dims, name):
    with refused(ValueError, match=name):
        Halton(5).uniforms(n_people, n_dims)
    with refused(ValueError, match=name):
        MLHS(5).normals(n_people, n_dims)
