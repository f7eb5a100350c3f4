"""The simulated log-likelihood, its gradient, per-person scores and exact Hessian.

For person ``n`` with draws ``zeta_nr`` and integration weights ``w_r`` (``1/R`` for
simulation, Gauss-Hermite weights for quadrature) or per-person weights ``w_nr``
(adaptive quadrature, see :mod:`iclv_jax.quadrature`):

    log L_n = logsumexp_r( log w_nr + sum_k log P(I_nk | eta_nr) + sum_t log P(y_nt | eta_nr) ),

with ``eta_nr`` from the structural equations.  Everything is jit-compiled, vmapped
over draws and people, and evaluated in chunks of people (``lax.map``) so memory is
bounded whatever ``N * R``.  Derivatives are taken chunk by chunk and summed, so the
gradient and the Hessian are memory-bounded too.  The functions take the likelihood
module as an argument: a new data set of the same shapes reuses the compiled code.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.nn import logsumexp
from jaxtyping import Array, Bool, Float, Int

from .data import Panel
from .layout import Layout
from .params import ParameterSpace, ToReported

DEFAULT_MEMORY_BYTES = 1 << 30


class PanelArrays(eqx.Module):
    """Device copies of the panel, people padded to a multiple of the chunk size."""

    design: Float[Array, "N T J P"]
    available: Bool[Array, "N T J"]
    chosen: Int[Array, "N T"]
    situation_mask: Bool[Array, "N T"]
    covariates: Float[Array, "N C"]
    ordered_levels: Int[Array, "N Ko"]
    continuous_values: Float[Array, "N Kc"]
    weight: Float[Array, " N"]


def _pad_people(array: np.ndarray, n_padded: int, fill) -> np.ndarray:
    pad = np.full((n_padded - array.shape[0],) + array.shape[1:], fill, dtype=array.dtype)
    return np.concatenate([array, pad])


def panel_arrays(panel: Panel, n_padded: int) -> PanelArrays:
    """Pad with weight-0 people whose data give finite values (all alternatives available)."""
    fills = {"design": 0.0, "available": True, "chosen": 0, "situation_mask": False,
             "covariates": 0.0, "ordered_levels": 0, "continuous_values": 0.0}
    arrays = {name: jnp.asarray(_pad_people(getattr(panel, name), n_padded, fill))
              for name, fill in fills.items()}
    weight = _pad_people(np.ones(panel.n_people), n_padded, 0.0)
    return PanelArrays(**arrays, weight=jnp.asarray(weight))


def person_loglike(components, person: PanelArrays, zeta, log_weights):
    """``log L_n`` for one person: ``zeta`` is ``(R, L)``, ``log_weights`` ``(R,)`` (this
    person's log integration weights)."""
    structural, ordered, continuous, choice = components
    base = choice.base_utility(person.design)

    def draw_loglike(z):
        eta = structural(person.covariates, z)
        measurement = ordered.log_prob(eta, person.ordered_levels).sum()
        measurement += continuous.log_prob(eta, person.continuous_values).sum()
        choices = choice.log_prob(base, eta, person.chosen, person.available)
        return measurement + jnp.where(person.situation_mask, choices, 0.0).sum()

    return logsumexp(jax.vmap(draw_loglike)(zeta) + log_weights) * person.weight


def _chunked(tree, chunk: int):
    """Reshape every leaf's leading axis ``N`` into ``(N // chunk, chunk)``."""
    return jax.tree.map(lambda x: x.reshape((x.shape[0] // chunk, chunk) + x.shape[1:]), tree)


class SimulatedLikelihood(eqx.Module):
    """The simulated log-likelihood of one model on one data set and one set of draws.

    Functions of the free internal parameter vector ``u`` (see :mod:`iclv_jax.params`).
    ``log_weights`` is ``(R,)``, shared by everyone (simulation, quadrature), or
    ``(N, R)``, one row per (padded) person (adaptive quadrature).
    """

    to_reported: ToReported
    layout: Layout
    panel: PanelArrays
    zeta: Float[Array, "N R L"]
    log_weights: Float[Array, " R"] | Float[Array, "N R"]
    n_people: int = eqx.field(static=True)
    chunk_size: int = eqx.field(static=True)
    hessian_chunk_size: int = eqx.field(static=True)

    def components(self, free_internal):
        return self.layout.components(self.to_reported(free_internal))

    def _chunk_per_person(self, free_internal, panel, zeta, log_weights):
        components = self.components(free_internal)
        return jax.vmap(person_loglike, in_axes=(None, 0, 0, 0))(
            components, panel, zeta, log_weights
        )

    def _chunk_sum(self, free_internal, panel, zeta, log_weights):
        return self._chunk_per_person(free_internal, panel, zeta, log_weights).sum()

    def _map_chunks(self, fn, chunk: int):
        """``fn(panel_chunk, zeta_chunk)`` over chunks of ``chunk`` people (``lax.map``)."""
        return lax.map(lambda args: fn(*args), _chunked((self.panel, self.zeta), chunk))

    def _map_weighted(self, fn, chunk: int):
        """``fn(panel_chunk, zeta_chunk, log_weights_chunk)`` over chunks of ``chunk``
        people, the log-weights per person (``[chunk, R]``) whether shared or not."""
        if self.log_weights.ndim == 2:
            return lax.map(lambda args: fn(*args),
                           _chunked((self.panel, self.zeta, self.log_weights), chunk))
        return self._map_chunks(
            lambda p, z: fn(p, z, jnp.broadcast_to(self.log_weights, z.shape[:2])), chunk)

    @eqx.filter_jit
    def per_person(self, free_internal) -> Float[Array, " N"]:
        """``log L_n`` for every (real) person."""
        values = self._map_weighted(
            lambda p, z, w: self._chunk_per_person(free_internal, p, z, w), self.chunk_size
        )
        return values.reshape(-1)[: self.n_people]

    @eqx.filter_jit
    def loglike(self, free_internal) -> Float[Array, ""]:
        return self._map_weighted(
            lambda p, z, w: self._chunk_sum(free_internal, p, z, w), self.chunk_size
        ).sum()

    @eqx.filter_jit
    def loglike_and_grad(self, free_internal):
        """``(log L, d log L / du)``, the gradient accumulated chunk by chunk."""
        values, grads = self._map_weighted(
            lambda p, z, w: jax.value_and_grad(self._chunk_sum)(free_internal, p, z, w),
            self.chunk_size,
        )
        return values.sum(), grads.sum(axis=0)

    @eqx.filter_jit
    def per_person_and_scores(self, free_internal):
        """``(log L_n, d log L_n / du)`` for every (real) person."""
        def person(u, p, z, w):
            return person_loglike(self.components(u), p, z, w)

        def chunk(p, z, w):
            return jax.vmap(jax.value_and_grad(person), in_axes=(None, 0, 0, 0))(
                free_internal, p, z, w)

        values, scores = self._map_weighted(chunk, self.chunk_size)
        return (values.reshape(-1)[: self.n_people],
                scores.reshape((-1,) + scores.shape[2:])[: self.n_people])

    def scores(self, free_internal) -> Float[Array, "N F"]:
        """Per-person scores ``d log L_n / du`` (rows: real people)."""
        return self.per_person_and_scores(free_internal)[1]

    @eqx.filter_jit
    def hessian(self, free_internal) -> Float[Array, "F F"]:
        """Exact Hessian ``d^2 log L / du du'`` (forward-over-reverse), summed over chunks."""
        return self._map_weighted(
            lambda p, z, w: jax.hessian(self._chunk_sum)(free_internal, p, z, w),
            self.hessian_chunk_size,
        ).sum(axis=0)


def _bytes_per_person(panel: Panel, n_draws: int, n_lvs: int) -> int:
    """A generous estimate of the working memory of one person's LL and gradient."""
    n_t, n_j = panel.design.shape[1:3]
    per_draw = 8 * n_t * n_j + 6 * (panel.ordered_levels.shape[1]
                                     + panel.continuous_values.shape[1]) + 4 * n_lvs + 8
    return 8 * n_draws * per_draw + 8 * panel.design[0].size


def choose_chunk_size(panel: Panel, n_draws: int, n_lvs: int,
                      memory_bytes: int = DEFAULT_MEMORY_BYTES) -> int:
    """People per chunk so a chunk's LL and gradient stay within ``memory_bytes``.

    Chunks are equal and a multiple of 8 people (so smaller Hessian chunks divide them).
    """
    most = max(8, memory_bytes // _bytes_per_person(panel, n_draws, n_lvs))
    n_chunks = math.ceil(panel.n_people / most)
    return 8 * math.ceil(math.ceil(panel.n_people / n_chunks) / 8)


def _largest_divisor_at_most(n: int, limit: int) -> int:
    return max(d for d in range(1, max(1, min(n, limit)) + 1) if n % d == 0)


def build_likelihood(space: ParameterSpace, layout: Layout, panel: Panel, zeta: np.ndarray,
                     log_weights: np.ndarray, fixed_internal: np.ndarray,
                     chunk_size: int | None = None,
                     memory_bytes: int = DEFAULT_MEMORY_BYTES) -> SimulatedLikelihood:
    """Move data and draws to the device, padded to whole chunks.

    ``log_weights``: ``(R,)`` shared by everyone, or ``(N, R)`` per person (padded
    people get 0s; their likelihood weight is 0).
    """
    n_draws, n_lvs = zeta.shape[1:]
    log_weights = np.asarray(log_weights, dtype=np.float64)
    if log_weights.shape not in ((n_draws,), (panel.n_people, n_draws)):
        raise ValueError(f"log_weights must have shape ({n_draws},) or "
                         f"({panel.n_people}, {n_draws}), got {log_weights.shape}")
    if chunk_size is None:
        chunk_size = choose_chunk_size(panel, n_draws, n_lvs, memory_bytes)
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
    n_padded = chunk_size * math.ceil(panel.n_people / chunk_size)
    hessian_budget = max(1, memory_bytes // (_bytes_per_person(panel, n_draws, n_lvs)
                                             * max(1, space.n_free // 2)))
    return SimulatedLikelihood(
        to_reported=space.reported_map(fixed_internal),
        layout=layout,
        panel=panel_arrays(panel, n_padded),
        zeta=jnp.asarray(_pad_people(zeta, n_padded, 0.0)),
        log_weights=jnp.asarray(log_weights if log_weights.ndim == 1
                                else _pad_people(log_weights, n_padded, 0.0)),
        n_people=panel.n_people,
        chunk_size=chunk_size,
        hessian_chunk_size=_largest_divisor_at_most(chunk_size, hessian_budget),
    )
