"""Simulation draws for maximum simulated likelihood (MSL).

The simulated likelihood of person ``n`` replaces an integral over the
``L``-dimensional random terms ``xi`` (mixing distributions, latent-variable
disturbances) by a weighted sum over ``R`` draws,

.. math::

    P_n = \\int f_n(\\xi)\\, \\phi(\\xi)\\, d\\xi
        \\approx \\sum_{r=1}^{R} w_r\\, f_n(\\xi_{nr}),
    \\qquad \\log w_r = -\\log R,

with ``xi_nr = Phi^{-1}(u_nr)`` and ``u_nr`` a point of the unit cube
``(0, 1)^L``. Every class here produces the points ``u`` as a host-side numpy
``float64`` array of shape ``(n_people, n_draws, n_dims)``: person ``n``
gets its own ``R`` points, shared by all of that person's choice situations
(the caller repeats them across situations). The caller moves the arrays to
the device.

Quasi-random sequences come from :mod:`scipy.stats.qmc`; pseudo-random and
MLHS draws from :func:`numpy.random.default_rng`. The same ``seed`` gives
bit-identical arrays.
"""

from __future__ import annotations

import abc
import numbers
import warnings
from dataclasses import dataclass, field
from typing import TypeGuard

import numpy as np
from scipy.special import ndtri
from scipy.stats import qmc

__all__ = [
    "MLHS",
    "ApolloHalton",
    "Draws",
    "DrawsMemoryError",
    "Halton",
    "NoDraws",
    "PseudoRandom",
    "Sobol",
    "as_draws",
]

#: Uniforms are clipped to ``[EPS, 1 - EPS]`` so that ``ndtri`` stays finite.
#: ``EPS = 2**-53`` makes ``1 - EPS`` the largest double below one, so the
#: clip only touches points that are exactly 0 or 1 (a point of an
#: unscrambled sequence, or a measure-zero event for random draws) and maps
#: them to ``Phi^{-1}(EPS) = -Phi^{-1}(1 - EPS) ~ -8.2``.
EPS = 2.0**-53

#: Points generated per call to a qmc engine. Filling a preallocated output
#: chunk by chunk bounds the temporary memory at ``_CHUNK * n_dims`` doubles,
#: independently of ``n_people * n_draws`` (up to ~1e8 points). A power of
#: two keeps Sobol' chunks balanced.
_CHUNK = 2**20


class DrawsMemoryError(MemoryError, ValueError):
    """The draws asked for cannot fit in the memory available (a ``ValueError`` too)."""


def draws_memory_bytes(n_people: int, n_draws: int, n_dims: int) -> int:
    """Bytes the draws of a problem take: two float64 copies (the host array and its
    device copy) of ``N x R x D`` normals, ``2 * 8 * N * R * D``."""
    return 2 * 8 * n_people * n_draws * max(n_dims, 1)


def check_draws_memory(n_people: int, n_draws: int, n_dims: int, available: int) -> None:
    """Refuse, naming the numbers, draws needing more than ``available`` bytes."""
    need = draws_memory_bytes(n_people, n_draws, n_dims)
    if need > available:
        raise DrawsMemoryError(
            f"{n_draws} draws for {n_people} people and {max(n_dims, 1)} random term(s) need "
            f"about {need / 2**30:.3g} GiB (two float64 copies of people x draws x terms), "
            f"more than the {available / 2**30:.3g} GiB available; use fewer draws"
        )


def _is_int(value: object) -> TypeGuard[numbers.Integral]:
    """True for Python/numpy integers, False for ``bool`` (an ``int`` subtype)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)


def _check_count(name: str, value: object, minimum: int) -> int:
    """Return ``value`` as ``int`` if it is an integer ``>= minimum``, else raise ``ValueError``."""
    if not _is_int(value) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _nth_prime(d: int) -> int:
    """The ``d``-th prime (``d >= 1``): the largest Halton base in ``d`` dimensions."""
    primes: list[int] = []
    candidate = 2
    while len(primes) < d:
        if all(candidate % p for p in primes if p * p <= candidate):
            primes.append(candidate)
        candidate += 1
    return primes[-1]


def _fill_from_engine(
    engine: qmc.QMCEngine, n_people: int, n_draws: int, workers: int = 1
) -> np.ndarray:
    """The next ``n_people * n_draws`` points of ``engine``, person by person.

    Point ``k`` of the (already fast-forwarded) sequence goes to person
    ``k // n_draws``, draw ``k % n_draws``. Returns shape ``(N, R, d)``.
    ``workers`` is passed to ``engine.random`` (only Halton uses it; the
    points do not depend on it).
    """
    n_points = n_people * n_draws
    out = np.empty((n_points, engine.d), dtype=np.float64)
    for start in range(0, n_points, _CHUNK):
        stop = min(start + _CHUNK, n_points)
        out[start:stop] = engine.random(stop - start, workers=workers)
    return out.reshape(n_people, n_draws, engine.d)


@dataclass(frozen=True)
class Draws(abc.ABC):
    """A rule generating ``R`` draws per person on the unit cube.

    Attributes
    ----------
    n_draws:
        ``R``, the number of draws per person (a positive integer).
    seed:
        Seed of the randomisation (scrambling, shifts, pseudo-random
        numbers); a non-negative integer. Ignored by deterministic rules.
    """

    n_draws: int
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "n_draws", _check_count("n_draws", self.n_draws, 1))
        object.__setattr__(self, "seed", _check_count("seed", self.seed, 0))

    @abc.abstractmethod
    def _raw_uniforms(self, n_people: int, n_dims: int) -> np.ndarray:
        """Points in ``[0, 1]^L`` as a fresh float64 array of shape ``(N, R, L)``."""

    def uniforms(self, n_people: int, n_dims: int) -> np.ndarray:
        """Uniform draws ``u[n, r, l]`` strictly inside ``(0, 1)``.

        Returns a float64 array of shape ``(n_people, n_draws, n_dims)``;
        values are clipped to ``[EPS, 1 - EPS]`` (see :data:`EPS`).
        """
        n_people = _check_count("n_people", n_people, 1)
        n_dims = _check_count("n_dims", n_dims, 1)
        u = self._raw_uniforms(n_people, n_dims)
        return np.clip(u, EPS, 1.0 - EPS, out=u)

    def normals(self, n_people: int, n_dims: int) -> np.ndarray:
        """Standard normal draws ``xi = Phi^{-1}(u)``, shape ``(N, R, L)``, float64."""
        u = self.uniforms(n_people, n_dims)
        return ndtri(u, out=u)

    def log_weights(self) -> np.ndarray:
        """Log integration weights ``log w_r = -log R``, shape ``(R,)``."""
        return np.full(self.n_draws, -np.log(self.n_draws))

    def for_dims(self, n_dims: int) -> Draws:
        """This rule for ``n_dims`` random terms: ``self`` for simulation draws; a
        quadrature rule returns a copy whose ``n_draws`` is its node count in
        ``n_dims`` dimensions (see :mod:`iclv_jax.quadrature`); every rule becomes
        :class:`NoDraws` for ``n_dims = 0`` (nothing to integrate)."""
        return NoDraws() if n_dims == 0 else self


@dataclass(frozen=True)
class NoDraws(Draws):
    """No random terms to integrate (a model without LVs or random coefficients): the
    likelihood is exact, ``L_n = prod_t P(y_nt)``, evaluated at one point with zero
    dimensions and weight 1 (``zeta`` is ``(N, 1, 0)``, ``log w = (0,)``): the cost of
    one draw, never ``R``.  Every rule's ``for_dims(0)`` is this one, so the draws a
    user passes to such a model are not used."""

    n_draws: int = field(init=False, default=1, repr=False)
    seed: int = field(init=False, default=0, repr=False)

    def _raw_uniforms(self, n_people: int, n_dims: int) -> np.ndarray:
        return np.empty((n_people, 1, 0))

    def uniforms(self, n_people: int, n_dims: int) -> np.ndarray:
        """The empty point: shape ``(N, 1, 0)``."""
        self.for_dims(n_dims)
        return self._raw_uniforms(_check_count("n_people", n_people, 1), 0)

    def normals(self, n_people: int, n_dims: int) -> np.ndarray:
        """The empty point: shape ``(N, 1, 0)``."""
        return self.uniforms(n_people, n_dims)

    def log_weights(self) -> np.ndarray:
        """``log 1 = 0`` for the one point, shape ``(1,)``."""
        return np.zeros(1)

    def for_dims(self, n_dims: int) -> NoDraws:
        """``self`` for ``n_dims = 0``; raises for a model with random terms."""
        if n_dims != 0:
            raise ValueError(
                f"NoDraws integrates nothing, but the model has {n_dims} random term(s) "
                "(latent variables, random coefficients): pass simulation draws or quadrature"
            )
        return self


@dataclass(frozen=True)
class Halton(Draws):
    """Scrambled Halton draws, one prime base per dimension.

    Dimension ``l`` uses the radical inverse in the ``l``-th prime
    (2, 3, 5, ...), randomised by scipy's seeded digit permutation
    (``qmc.Halton(d, scramble=True, rng=seed)``). After skipping ``burn_in``
    points, the sequence is cut into consecutive blocks of ``R``: person
    ``n`` gets points ``burn_in + n R, ..., burn_in + n R + R - 1``.

    ``burn_in=None`` skips ``10 p_L`` points, with ``p_L`` the largest base:
    the start of each one-dimensional sequence runs through ``i / p`` in
    order, which makes the first points of high-base dimensions strongly
    correlated (Bhat 2003; Train 2009, sec. 9.3.3, advises discarding an
    initial segment). Ten full cycles of the largest base leave that segment
    behind at negligible cost.
    """

    scramble: bool = True
    burn_in: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.burn_in is not None:
            object.__setattr__(self, "burn_in", _check_count("burn_in", self.burn_in, 0))

    def _raw_uniforms(self, n_people: int, n_dims: int) -> np.ndarray:
        burn_in = 10 * _nth_prime(n_dims) if self.burn_in is None else self.burn_in
        engine = qmc.Halton(n_dims, scramble=self.scramble, rng=self.seed)
        engine.fast_forward(burn_in)
        return _fill_from_engine(engine, n_people, self.n_draws, workers=-1)


@dataclass(frozen=True)
class ApolloHalton(Draws):
    """Plain (unscrambled) Halton draws laid out as in Apollo.

    Bases 2, 3, 5, ... (one per dimension), no scrambling, no burn-in; the
    point with index 0 (the origin) is skipped, and points ``1, ..., N R``
    are assigned person by person: person ``n`` gets indices
    ``n R + 1, ..., n R + R``. Deterministic: ``seed`` is ignored and kept
    only for a uniform interface.
    """

    def _raw_uniforms(self, n_people: int, n_dims: int) -> np.ndarray:
        engine = qmc.Halton(n_dims, scramble=False)
        engine.fast_forward(1)
        return _fill_from_engine(engine, n_people, self.n_draws, workers=-1)


@dataclass(frozen=True)
class MLHS(Draws):
    """Modified Latin hypercube sampling (Hess, Train & Polak 2006).

    For every person ``n`` and dimension ``l`` independently, draw one shift
    ``v_nl ~ U[0, 1)`` and form the ``R`` stratified points

    .. math:: u_{n r l} = (r + v_{nl}) / R, \\qquad r = 0, \\dots, R - 1,

    i.e. ``r / R + U(0, 1/R)``, exactly one point in each stratum
    ``[r/R, (r+1)/R)``. The points are then randomly permuted along ``r``,
    independently for each ``(n, l)``, so that dimensions are not
    comonotone. Uses ``numpy.random.default_rng(seed)``.
    """

    def _raw_uniforms(self, n_people: int, n_dims: int) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        big_r = self.n_draws
        u = np.empty((n_people, big_r, n_dims), dtype=np.float64)
        u[...] = np.arange(big_r, dtype=np.float64)[None, :, None]
        u += rng.random((n_people, 1, n_dims))
        u /= big_r
        return rng.permuted(u, axis=1, out=u)


@dataclass(frozen=True)
class Sobol(Draws):
    """Sobol' draws (``qmc.Sobol(d, scramble=scramble, rng=seed)``).

    Points are taken consecutively and cut into blocks of ``R``, person by
    person, as for :class:`Halton`. Scrambling is scipy's linear matrix
    scramble plus digital shift. The first unscrambled point is the origin
    and is skipped. scipy warns that balance properties require a power-of-2
    sample size; the warning is silenced because person blocks of any ``R``
    are still consecutive segments of one sequence.
    """

    scramble: bool = True

    def _raw_uniforms(self, n_people: int, n_dims: int) -> np.ndarray:
        engine = qmc.Sobol(n_dims, scramble=self.scramble, rng=self.seed)
        if not self.scramble:
            engine.fast_forward(1)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The balance properties of Sobol")
            return _fill_from_engine(engine, n_people, self.n_draws)


@dataclass(frozen=True)
class PseudoRandom(Draws):
    """Independent pseudo-random uniforms from ``numpy.random.default_rng(seed)``."""

    def _raw_uniforms(self, n_people: int, n_dims: int) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        return rng.random((n_people, self.n_draws, n_dims))


def as_draws(draws: int | np.integer | Draws) -> Draws:
    """Normalise a draws specification.

    A positive integer ``R`` means ``Halton(R, seed=0)``; a :class:`Draws`
    instance is returned unchanged. Raises ``TypeError`` for any other type
    (including ``bool`` and ``float``) and ``ValueError`` for ``R <= 0``.
    """
    if isinstance(draws, Draws):
        return draws
    if not _is_int(draws):
        raise TypeError(
            f"draws must be a positive int (number of Halton draws) or a Draws instance, "
            f"got {type(draws).__name__}: {draws!r}"
        )
    return Halton(int(draws))
