"""The simulated log-likelihood, its gradient, per-person scores and exact Hessian.

For person ``n`` with draws ``zeta_nr`` and integration weights ``w_r`` (``1/R`` for
simulation, Gauss-Hermite weights for quadrature) or per-person weights ``w_nr``
(adaptive quadrature, see :mod:`iclv_jax.quadrature`):

    log L_n = logsumexp_r( log w_nr + sum_k log P(I_nk | eta_nr) + sum_t log P(y_nt | eta_nr) ),

with ``eta_nr`` from the structural equations.  Everything is jit-compiled, vmapped
over draws and people, and evaluated in chunks of people (``lax.map``) so memory is
bounded whatever ``N * R``.  Derivatives are taken chunk by chunk and summed, so the
gradient and the Hessian are memory-bounded too.  The exact Hessian uses the
logsumexp structure and the additive terms of the draw log-likelihood (see
:mod:`iclv_jax.hessian`).  The functions take the likelihood module as an argument: a
new data set of the same shapes reuses the compiled code.

With several devices the (padded) people are split into one contiguous block per
device (:func:`jax.shard_map` over a one-axis :class:`jax.sharding.Mesh`, see
:mod:`iclv_jax.placement`); every device maps over the chunks of its block; sums are
``psum``-ed and per-person rows gathered, so every device holds the whole result.  A
mesh may span several processes joined by :func:`jax.distributed.initialize` (each
builds the same likelihood from the same data; see :func:`~iclv_jax.placement.place`).
One device runs the same code without a mesh.  ``dtype="float32"`` evaluates in single
precision (data, draws and the reported parameters are cast; derivatives come back in
the parameters' float64).

Other modules evaluate their own per-chunk functions through the public seam
:meth:`SimulatedLikelihood.map_people` (per-person rows),
:meth:`SimulatedLikelihood.sum_people` (sums) and :meth:`SimulatedLikelihood.map_chunks`
(every padded person, one device's view).
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.nn import logsumexp
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from jaxtyping import Array, Float

from .data import LARGEST_VALUE, Panel
from .drawterms import (
    draw_linear_derivatives,
    draw_lv_derivatives,
    draw_lvs,
    draw_rows,
    draw_terms,
    measurement_local_derivatives,
    measurement_locals,
    measurement_lvs,
    measurement_rows,
    person_loglike,
)
from .hessian import DrawFunctions, assemble_hessian, chunk_hessian
from .hessianplan import HessianPlan, hessian_plan
from .layout import Layout
from .params import ParameterSpace, ToReported
from .placement import (
    CPU_CACHE_BYTES,
    CPU_HESSIAN_PEOPLE,
    PEOPLE,
    PanelArrays,
    choose_chunk_size,
    default_memory_bytes,
    hessian_people,
    largest_divisor_at_most,
    local_device,
    pad_people,
    panel_arrays,
    people_mesh,
    place,
    smallest_over_processes,
)

DTYPES = tuple(LARGEST_VALUE)  # "float64", "float32"


def _chunked(tree, chunk: int):
    """Reshape every leaf's leading axis ``N`` into ``(N // chunk, chunk)``."""
    return jax.tree.map(lambda x: x.reshape((x.shape[0] // chunk, chunk) + x.shape[1:]), tree)


class SimulatedLikelihood(eqx.Module):
    """The simulated log-likelihood of one model on one data set and one set of draws.

    Functions of the free internal parameter vector ``u`` (see :mod:`iclv_jax.params`).
    ``log_weights`` is ``(R,)``, shared by everyone (simulation, quadrature), or
    ``(N, R)``, one row per (padded) person (adaptive quadrature).

    The public seam for other per-chunk functions ``chunk_fn(u, panel, zeta,
    log_weights)`` (a chunk of people, their draws ``[c, R, L]`` and log-weights
    ``[c, R]``): :meth:`map_people` gathers per-person rows, :meth:`sum_people` adds
    chunk sums, both over every device's block of people; :meth:`map_chunks` maps
    ``fn(panel, zeta)`` over the chunks of all padded people.
    """

    to_reported: ToReported
    layout: Layout
    panel: PanelArrays
    zeta: Float[Array, "N R L"]
    log_weights: Float[Array, " R"] | Float[Array, "N R"]
    plan: HessianPlan
    n_people: int = eqx.field(static=True)
    chunk_size: int = eqx.field(static=True)
    hessian_chunk_size: int = eqx.field(static=True)
    dtype: str = eqx.field(static=True, default="float64")
    mesh: Mesh | None = eqx.field(static=True, default=None)

    def with_draws(self, zeta: np.ndarray) -> SimulatedLikelihood:
        """The same likelihood on other standard normal draws ``zeta`` ``(N, R, L)`` of
        the same shape (padded and placed like these; the compiled functions apply)."""
        padded = pad_people(np.asarray(zeta, dtype=np.float64), self.zeta.shape[0], 0.0)
        sharding = None if self.mesh is None else self.zeta.sharding
        return eqx.tree_at(lambda lik: lik.zeta, self, place(padded.astype(self.dtype), sharding))

    def components(self, free_internal):
        """The component modules at ``free_internal``, in the evaluation dtype."""
        return self.layout.components(self.to_reported(free_internal).astype(self.dtype))

    def map_chunks(self, fn, chunk: int | None = None):
        """``fn(panel_chunk, zeta_chunk)`` over chunks of ``chunk`` people (default
        ``chunk_size``) by ``lax.map``: every padded person, results ``[N / chunk, chunk,
        ...]``, the arrays as placed (no per-device blocks)."""
        chunk = self.chunk_size if chunk is None else chunk
        return lax.map(lambda args: fn(*args), _chunked((self.panel, self.zeta), chunk))

    def map_people(self, chunk_fn, free_internal):
        """``chunk_fn(u, panel, zeta, log_weights)``'s per-person rows (leading axis the
        chunk's people), for the real people only: chunks of ``chunk_size`` on every
        device's block, rows gathered over devices."""

        def block_rows(block, u):
            return jax.tree.map(
                lambda x: x.reshape((-1,) + x.shape[2:]),
                block._map_weighted(lambda p, z, w: chunk_fn(u, p, z, w), self.chunk_size),
            )

        rows = self._on_devices(block_rows, free_internal, stacked=True)
        return jax.tree.map(lambda x: x[: self.n_people], rows)

    def sum_people(self, chunk_fn, free_internal, chunk: int | None = None):
        """``sum_chunks chunk_fn(u, panel, zeta, log_weights)`` over chunks of ``chunk``
        people (default ``chunk_size``) and over devices; padded people count as
        ``chunk_fn`` counts them (their ``panel.weight`` is 0)."""
        chunk = self.chunk_size if chunk is None else chunk

        def block_sum(block, u):
            return jax.tree.map(
                lambda x: x.sum(axis=0),
                block._map_weighted(lambda p, z, w: chunk_fn(u, p, z, w), chunk),
            )

        return self._on_devices(block_sum, free_internal, stacked=False)

    def _map_weighted(self, fn, chunk: int):
        """``fn(panel_chunk, zeta_chunk, log_weights_chunk)`` over chunks of ``chunk``
        people, the log-weights per person (``[chunk, R]``) whether shared or not."""
        if self.log_weights.ndim == 2:
            return lax.map(
                lambda args: fn(*args), _chunked((self.panel, self.zeta, self.log_weights), chunk)
            )
        return self.map_chunks(
            lambda p, z: fn(p, z, jnp.broadcast_to(self.log_weights, z.shape[:2])), chunk
        )

    def _on_devices(self, fn, free_internal, stacked: bool):
        """``fn(block, free_internal)`` on every device's block of people, ``block`` this
        likelihood restricted to the block.  ``stacked``: ``fn`` returns per-person rows,
        concatenated over devices (``all_gather``); else it returns a sum, added over
        devices (``psum``).  Either way every device ends with the whole result, so each
        process of a multi-process mesh can read it.
        """
        if self.mesh is None:
            return fn(self, free_internal)
        people = P(PEOPLE)

        def block(panel, zeta, log_weights, u):
            local = eqx.tree_at(
                lambda lik: (lik.panel, lik.zeta, lik.log_weights), self, (panel, zeta, log_weights)
            )
            # u varies by device, so that derivatives taken inside are this block's alone
            out = fn(local, lax.pcast(u, PEOPLE, to="varying"))
            if stacked:
                return lax.all_gather(out, PEOPLE, tiled=True, to="invarying")
            return jax.tree.map(lambda x: lax.psum(x, PEOPLE), out)

        weights_spec = people if self.log_weights.ndim == 2 else P()
        return jax.shard_map(
            block, mesh=self.mesh, in_specs=(people, people, weights_spec, P()), out_specs=P()
        )(self.panel, self.zeta, self.log_weights, free_internal)

    def _chunk_per_person(self, free_internal, panel, zeta, log_weights):
        components = self.components(free_internal)
        return jax.vmap(person_loglike, in_axes=(None, 0, 0, 0))(
            components, panel, zeta, log_weights
        )

    def _chunk_sum(self, free_internal, panel, zeta, log_weights):
        return self._chunk_per_person(free_internal, panel, zeta, log_weights).sum()

    def _draw_rows(self, free_internal, person, zeta):
        """``(rows_r, c_r)`` of one person at ``free_internal`` (see :func:`draw_rows`)."""
        return draw_rows(self.components(free_internal), person, zeta)[1:]

    def _linear_derivatives(self, free_internal, panel, zeta, weights):
        """The choice's closed-form derivatives over a chunk (see
        :func:`draw_linear_derivatives`), ``weights`` ``[c, R]``: per person and draw
        ``[c, R, E]``, and the block summed over the chunk."""
        components = self.components(free_internal)
        slopes, blocks = jax.vmap(draw_linear_derivatives, in_axes=(None, 0, 0, 0))(
            components, panel, zeta, weights
        )
        return slopes, blocks.sum(axis=0)

    def _draw_lvs(self, free_internal, person, zeta):
        return draw_lvs(self.components(free_internal), person, zeta)

    def _lv_derivatives(self, free_internal, person, eta, weights):
        return draw_lv_derivatives(self.components(free_internal), person, eta, weights)

    def _item_lvs(self, free_internal, eta):
        return measurement_lvs(self.components(free_internal), eta)

    def _rows_at(self, free_internal, person, item_eta):
        return measurement_rows(self.components(free_internal), person, item_eta)

    def _row_locals(self, free_internal, person):
        return measurement_locals(self.components(free_internal), person)

    def _local_derivatives(self, free_internal, person, locals_, item_eta, weights):
        return measurement_local_derivatives(
            self.components(free_internal), person, locals_, item_eta, weights
        )

    def _chunk_hessian(self, free_internal, panel, zeta, log_weights):
        draws = DrawFunctions(
            rows=self._draw_rows,
            linear_derivatives=self._linear_derivatives,
            lvs=self._draw_lvs,
            item_lvs=self._item_lvs,
            rows_at=self._rows_at,
            lv_derivatives=self._lv_derivatives,
            row_locals=self._row_locals,
            local_derivatives=self._local_derivatives,
        )
        return chunk_hessian(
            self.plan,
            draws,
            free_internal,
            panel,
            zeta,
            log_weights,
        )

    @eqx.filter_jit
    def per_person(self, free_internal) -> Float[Array, " N"]:
        """``log L_n`` for every (real) person."""
        return self.map_people(self._chunk_per_person, free_internal)

    @eqx.filter_jit
    def loglike(self, free_internal) -> Float[Array, ""]:
        """``log L = sum_n log L_n``."""
        return self.sum_people(self._chunk_sum, free_internal)

    @eqx.filter_jit
    def loglike_and_grad(self, free_internal):
        """``(log L, d log L / du)``, the gradient accumulated chunk by chunk."""
        return self.sum_people(jax.value_and_grad(self._chunk_sum), free_internal)

    @eqx.filter_jit
    def per_person_scores_and_parts(self, free_internal):
        """``(log L_n, d log L_n / du, (log L_n^m, log L_n^c))`` for every (real) person,
        with the parts ``log L_n^m = logsumexp_r(log w_nr + m_nr)`` (the indicators
        alone) and ``log L_n^c = logsumexp_r(log w_nr + c_nr)`` (the choices alone; see
        :func:`draw_terms`).  One compiled function serves the scores of every stage of
        a fit and the report's parts (the parts cost two ``logsumexp`` per person)."""

        def person(u, p, z, w):
            _, m, c = draw_terms(self.components(u), p, z)
            return logsumexp(m + c + w) * p.weight, (logsumexp(m + w), logsumexp(c + w))

        def chunk(u, p, z, w):
            return jax.vmap(jax.value_and_grad(person, has_aux=True), in_axes=(None, 0, 0, 0))(
                u, p, z, w
            )

        (values, parts), scores = self.map_people(chunk, free_internal)
        return values, scores, parts

    def per_person_and_scores(self, free_internal):
        """``(log L_n, d log L_n / du)`` for every (real) person (from the compiled
        :meth:`per_person_scores_and_parts`)."""
        values, scores, _ = self.per_person_scores_and_parts(free_internal)
        return values, scores

    def scores(self, free_internal) -> Float[Array, "N F"]:
        """Per-person scores ``d log L_n / du`` (rows: real people)."""
        return self.per_person_and_scores(free_internal)[1]

    @eqx.filter_jit
    def hessian(self, free_internal) -> Float[Array, "F F"]:
        """Exact Hessian ``d^2 log L / du du'`` on chunks of ``hessian_chunk_size``
        people (see :func:`~iclv_jax.hessian.chunk_hessian`), summed over chunks and
        devices, assembled once (:func:`~iclv_jax.hessian.assemble_hessian`)."""
        sums = self.sum_people(self._chunk_hessian, free_internal, self.hessian_chunk_size)
        return assemble_hessian(self.plan, sums)


def _hessian_chunk_size(
    panel: Panel,
    chunk_size: int,
    n_seeds: int,
    n_free: int,
    zeta_shape,
    budget: int,
    itemsize: int,
    on_cpu: bool,
) -> int:
    """The default people per Hessian chunk: the largest divisor of ``chunk_size``
    within ``budget`` (:func:`~iclv_jax.placement.hessian_people`), at most
    ``CPU_HESSIAN_PEOPLE`` on CPU."""
    n_draws, n_lvs = zeta_shape[1:]
    people = hessian_people(panel, n_draws, n_lvs, n_seeds, n_free, budget, itemsize)
    return largest_divisor_at_most(
        chunk_size, min(people, CPU_HESSIAN_PEOPLE) if on_cpu else people
    )


def build_likelihood(
    space: ParameterSpace,
    layout: Layout,
    panel: Panel,
    zeta: np.ndarray,
    log_weights: np.ndarray,
    fixed_internal: np.ndarray,
    chunk_size: int | None = None,
    memory_bytes: int | None = None,
    dtype: str = "float64",
    devices=None,
    hessian_chunk_size: int | None = None,
) -> SimulatedLikelihood:
    """Move data and draws to the device(s), padded to whole chunks on every device.

    ``log_weights``: ``(R,)`` shared by everyone, or ``(N, R)`` per person (padded
    people get 0s; their likelihood weight is 0).  ``memory_bytes``: the working memory
    of one chunk (``None``: :func:`~iclv_jax.placement.default_memory_bytes`, and on CPU
    at most ``CPU_CACHE_BYTES``); ignored when ``chunk_size`` is given.  ``dtype``:
    ``"float64"`` (default) or ``"float32"``.  ``devices``: the devices the people are
    split over (default: all).
    ``hessian_chunk_size``: people per Hessian chunk (a divisor of
    ``chunk_size``; default from the memory budget, at most ``CPU_HESSIAN_PEOPLE`` on
    CPU).
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    n_draws, n_lvs = zeta.shape[1:]
    log_weights = np.asarray(log_weights, dtype=np.float64)
    if log_weights.shape not in ((n_draws,), (panel.n_people, n_draws)):
        raise ValueError(
            f"log_weights must have shape ({n_draws},) or "
            f"({panel.n_people}, {n_draws}), got {log_weights.shape}"
        )
    mesh = people_mesh(devices)
    n_devices = 1 if mesh is None else mesh.size
    itemsize = np.dtype(dtype).itemsize
    device = local_device(devices)
    on_cpu = device.platform == "cpu"
    budget = smallest_over_processes(
        default_memory_bytes(device) if memory_bytes is None else memory_bytes, mesh
    )
    if chunk_size is None:
        chunk_size = choose_chunk_size(
            panel,
            n_draws,
            n_lvs,
            min(budget, CPU_CACHE_BYTES) if on_cpu and memory_bytes is None else budget,
            n_devices,
            itemsize,
        )
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
    to_reported = space.reported_map(fixed_internal)
    plan = hessian_plan(layout, to_reported)
    if hessian_chunk_size is None:
        hessian_chunk_size = _hessian_chunk_size(
            panel,
            chunk_size,
            plan.seeds.shape[0],
            space.n_free,
            zeta.shape,
            budget,
            itemsize,
            on_cpu,
        )
    elif not isinstance(hessian_chunk_size, int) or chunk_size % hessian_chunk_size:
        raise ValueError(
            f"hessian_chunk_size must divide chunk_size {chunk_size}, got {hessian_chunk_size!r}"
        )
    n_padded = chunk_size * n_devices * math.ceil(panel.n_people / (chunk_size * n_devices))
    people = None if mesh is None else NamedSharding(mesh, P(PEOPLE))
    shared = None if mesh is None else NamedSharding(mesh, P())
    if log_weights.ndim == 2:
        log_weights, weights_sharding = pad_people(log_weights, n_padded, 0.0), people
    else:
        weights_sharding = shared
    return SimulatedLikelihood(
        to_reported=to_reported,
        layout=layout,
        plan=plan,
        panel=panel_arrays(panel, n_padded, dtype, people),
        zeta=place(pad_people(zeta, n_padded, 0.0).astype(dtype), people),
        log_weights=place(log_weights.astype(dtype), weights_sharding),
        n_people=panel.n_people,
        chunk_size=chunk_size,
        hessian_chunk_size=hessian_chunk_size,
        dtype=dtype,
        mesh=mesh,
    )
