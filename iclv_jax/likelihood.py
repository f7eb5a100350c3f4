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
:meth:`SimulatedLikelihood._chunk_hessian` and :func:`hessian_plan`).  The functions
take the likelihood module as an argument: a new data set of the same shapes reuses the
compiled code.

With several devices the (padded) people are split into one contiguous block per
device (:func:`jax.shard_map` over a one-axis :class:`jax.sharding.Mesh`); every device
maps over the chunks of its block; sums are ``psum``-ed and per-person rows gathered,
so every device holds the whole result.  A mesh may span several processes joined by
:func:`jax.distributed.initialize` (each builds the same likelihood from the same data;
see :func:`place`).  One device runs the same code without a mesh.
``dtype="float32"`` evaluates in single precision (data, draws and the reported
parameters are cast; derivatives come back in the parameters' float64).
"""

from __future__ import annotations

import dataclasses
import math
import os

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.experimental import multihost_utils
from jax.nn import logsumexp
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from jaxtyping import Array, Bool, Float, Int

from .data import LARGEST_VALUE, Panel
from .layout import Layout
from .params import ParameterSpace, ToReported

MEMORY_FRACTION = 0.25  # of the free device memory a chunk may use by default
CPU_CACHE_BYTES = 4 << 20  # default CPU chunks: larger working sets only lose cache locality
CPU_HESSIAN_PEOPLE = 4  # CPU Hessian chunks: measured fastest at 2-4 people (draws last)
PEOPLE = "people"  # the mesh axis the people are split over
DTYPES = tuple(LARGEST_VALUE)  # "float64", "float32"


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


def _as_dtype(array: np.ndarray, dtype: str) -> np.ndarray:
    """Floating arrays in ``dtype``; integer and boolean arrays unchanged."""
    return array.astype(dtype) if np.issubdtype(array.dtype, np.floating) else array


def panel_arrays(panel: Panel, n_padded: int, dtype: str = "float64",
                 sharding: NamedSharding | None = None) -> PanelArrays:
    """Pad with weight-0 people whose data give finite values (all alternatives available);
    floating arrays in ``dtype``, placed with ``sharding`` (people split over devices)."""
    fills = {"design": 0.0, "available": True, "chosen": 0, "situation_mask": False,
             "covariates": 0.0, "ordered_levels": 0, "continuous_values": 0.0}
    arrays = {name: _pad_people(getattr(panel, name), n_padded, fill)
              for name, fill in fills.items()}
    arrays["weight"] = _pad_people(np.ones(panel.n_people), n_padded, 0.0)
    return PanelArrays(**{name: place(_as_dtype(array, dtype), sharding)
                          for name, array in arrays.items()})


def place(array: np.ndarray, sharding: NamedSharding | None) -> jax.Array:
    """``array`` (the same full host array in every process) as one global array laid
    out by ``sharding`` (``None``: the default device).  Each process copies only the
    blocks its own devices hold (:func:`jax.make_array_from_callback`), so a mesh that
    spans several processes (:func:`jax.distributed.initialize`) needs no transfer
    between them."""
    if sharding is None:
        return jax.device_put(array)
    return jax.make_array_from_callback(array.shape, sharding, lambda index: array[index])


def draw_terms(components, person: PanelArrays, zeta):
    """``(eta_nr, m_nr, c_nr)`` for every draw (``zeta`` is ``(R, L)``): the LVs ``(L, R)``,
    ``m_nr = sum_k log P(I_nk | eta_nr)`` and ``c_nr = sum_t log P(y_nt | eta_nr)``
    ``(R,)``.  The components see all draws at once, draws last."""
    structural, ordered, continuous, choice = components
    eta = structural(person.covariates, zeta.T)
    measurement = (ordered.log_prob(eta, person.ordered_levels).sum(axis=0)
                   + continuous.log_prob(eta, person.continuous_values).sum(axis=0))
    choices = choice.log_prob(choice.base_utility(person.design), eta, person.chosen,
                              person.available)
    return eta, measurement, jnp.where(person.situation_mask[:, None], choices, 0.0).sum(axis=0)


def draw_loglikes(components, person: PanelArrays, zeta) -> Float[Array, " R"]:
    """``a_nr = m_nr + c_nr`` for every draw: measurement rows and the choice model add
    up (see :func:`draw_terms`)."""
    _, measurement, choices = draw_terms(components, person, zeta)
    return measurement + choices


def person_loglike(components, person: PanelArrays, zeta, log_weights):
    """``log L_n`` for one person: ``zeta`` is ``(R, L)``, ``log_weights`` ``(R,)`` (this
    person's log integration weights)."""
    return logsumexp(draw_loglikes(components, person, zeta) + log_weights) * person.weight


class HessianPlan(eqx.Module):
    """Compressed second derivatives of the draw log-likelihood ``a`` (see
    :func:`hessian_plan`): ``seeds`` ``[K, F]``; ``d^2 a / du_i du_j`` is entry
    ``[source_seed[i, j], source_index[i, j]]`` of the ``K`` Hessian-vector products,
    where ``nonzero[i, j]``, and 0 elsewhere.  ``measurement_seeds`` and
    ``choice_seeds``: the seeds whose products involve the measurement rows and the
    choice model (the others are 0 for that part, which is then not evaluated)."""

    seeds: Float[Array, "K F"]
    source_seed: Int[Array, "F F"]
    source_index: Int[Array, "F F"]
    nonzero: Bool[Array, "F F"]
    measurement_seeds: Int[Array, " Km"]
    choice_seeds: Int[Array, " Kc"]


# layout fields that hold LV positions, not parameter positions
_LV_POSITION_FIELDS = ("ordered_lv", "continuous_lv")


def _parameter_groups(layout: Layout, n_reported: int) -> list[set]:
    """For every reported parameter, the additive terms of ``a`` that use it: measurement
    row ``("ordered", k)`` or ``("continuous", k)``, ``"choice"``, or ``"shared"`` (the
    structural equations and any other field, which reach every term)."""
    rows = {"ordered_loadings": "ordered", "ordered_cuts": "ordered",
            "ordered_intercepts": "ordered", "ordered_scales": "ordered",
            "continuous_intercepts": "continuous", "continuous_loadings": "continuous",
            "continuous_sigmas": "continuous"}
    choice = ("beta", "theta", "choice_cuts", "choice_scale", "custom_params")
    groups = [set() for _ in range(n_reported)]
    for field in dataclasses.fields(layout):
        index = getattr(layout, field.name)
        if (field.name in _LV_POSITION_FIELDS or not isinstance(index, np.ndarray | jax.Array)
                or not jnp.issubdtype(index.dtype, jnp.integer)):
            continue  # LV positions, static fields, the cut-point signs
        index = np.asarray(index)
        for position, reported in np.ndenumerate(index):
            if reported < n_reported:  # beyond: the constant extra slots
                group = ((rows[field.name], position[0]) if field.name in rows
                         else "choice" if field.name in choice else "shared")
                groups[reported].add(group)
    return groups


def hessian_plan(layout: Layout, to_reported: ToReported) -> HessianPlan:
    """Seeds for the Hessian of the draw log-likelihood ``a`` from its additive structure.

    ``a`` is a sum of terms (one per measurement row, one for the choice model) that
    share only the LVs.  A free parameter used by one term alone ("private") has zero
    cross-derivatives with the private parameters of every other term, so the ``i``-th
    private parameters of all terms share one seed (Curtis-Powell-Reid compression);
    the other ("shared") parameters get a seed each.  Entries between a private and a
    shared parameter are read from the shared one's column (symmetry).  ``K`` = shared
    parameters + the largest number of private parameters in a term, instead of ``F``.
    """
    free_index = np.asarray(to_reported.free_index)
    cumulate = np.asarray(to_reported.cumulate) != 0
    is_threshold = np.asarray(to_reported.is_threshold)
    n_reported, n_free = cumulate.shape[0], free_index.shape[0]
    depends = np.where(is_threshold[:, None], cumulate, np.eye(n_reported, dtype=bool))
    reported_groups = _parameter_groups(layout, n_reported)
    group_of = []
    for f in range(n_free):
        groups = set().union(*(reported_groups[i] for i in np.flatnonzero(
            depends[:, free_index[f]])))
        group_of.append(next(iter(groups)) if len(groups) == 1 and "shared" not in groups
                        else None)
    shared = [f for f in range(n_free) if group_of[f] is None]
    rank = {}
    for f in range(n_free):
        if group_of[f] is not None:
            rank[f] = sum(1 for e in range(f) if group_of[e] == group_of[f])
    n_private_seeds = max(rank.values(), default=-1) + 1
    seed = {f: i for i, f in enumerate(shared)}
    seed.update({f: len(shared) + r for f, r in rank.items()})
    seeds = np.zeros((len(shared) + n_private_seeds, n_free))
    for f in range(n_free):
        seeds[seed[f], f] = 1.0
    source_seed = np.zeros((n_free, n_free), dtype=np.int64)
    source_index = np.zeros((n_free, n_free), dtype=np.int64)
    nonzero = np.ones((n_free, n_free), dtype=bool)
    for i in range(n_free):
        for j in range(n_free):
            if group_of[j] is None or group_of[i] is not None:  # column j holds it
                source_seed[i, j], source_index[i, j] = seed[j], i
                nonzero[i, j] = None in (group_of[i], group_of[j]) or group_of[i] == group_of[j]
            else:  # i shared, j private: from column i
                source_seed[i, j], source_index[i, j] = seed[i], j

    def seeds_touching(part):  # seeds with a shared parameter or one of ``part``'s
        return jnp.asarray([k for k in range(seeds.shape[0])
                            if any(group_of[f] is None or part(group_of[f])
                                   for f in np.flatnonzero(seeds[k]))], dtype=jnp.int32)

    return HessianPlan(jnp.asarray(seeds), jnp.asarray(source_seed),
                       jnp.asarray(source_index), jnp.asarray(nonzero),
                       measurement_seeds=seeds_touching(lambda group: group != "choice"),
                       choice_seeds=seeds_touching(lambda group: group == "choice"))


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
    plan: HessianPlan
    n_people: int = eqx.field(static=True)
    chunk_size: int = eqx.field(static=True)
    hessian_chunk_size: int = eqx.field(static=True)
    dtype: str = eqx.field(static=True, default="float64")
    mesh: Mesh | None = eqx.field(static=True, default=None)

    def with_draws(self, zeta: np.ndarray) -> SimulatedLikelihood:
        """The same likelihood on other standard normal draws ``zeta`` ``(N, R, L)`` of
        the same shape (padded and placed like these; the compiled functions apply)."""
        padded = _pad_people(np.asarray(zeta, dtype=np.float64), self.zeta.shape[0], 0.0)
        sharding = None if self.mesh is None else self.zeta.sharding
        return eqx.tree_at(lambda lik: lik.zeta, self,
                           place(padded.astype(self.dtype), sharding))

    def components(self, free_internal):
        """The component modules at ``free_internal``, in the evaluation dtype."""
        return self.layout.components(self.to_reported(free_internal).astype(self.dtype))

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
            local = eqx.tree_at(lambda lik: (lik.panel, lik.zeta, lik.log_weights), self,
                                (panel, zeta, log_weights))
            # u varies by device, so that derivatives taken inside are this block's alone
            out = fn(local, lax.pcast(u, PEOPLE, to="varying"))
            if stacked:
                return lax.all_gather(out, PEOPLE, tiled=True, to="invarying")
            return jax.tree.map(lambda x: lax.psum(x, PEOPLE), out)

        weights_spec = people if self.log_weights.ndim == 2 else P()
        return jax.shard_map(block, mesh=self.mesh,
                             in_specs=(people, people, weights_spec, P()),
                             out_specs=P())(
            self.panel, self.zeta, self.log_weights, free_internal)

    def _sum_over_chunks(self, chunk_fn, free_internal, chunk: int):
        """``sum_chunks chunk_fn(u, panel, zeta, log_weights)`` over all people and devices."""
        def block_sum(block, u):
            return jax.tree.map(lambda x: x.sum(axis=0), block._map_weighted(
                lambda p, z, w: chunk_fn(u, p, z, w), chunk))
        return self._on_devices(block_sum, free_internal, stacked=False)

    def _rows_over_chunks(self, chunk_fn, free_internal):
        """``chunk_fn(u, panel, zeta, log_weights)``'s per-person rows, real people only."""
        def block_rows(block, u):
            return jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), block._map_weighted(
                lambda p, z, w: chunk_fn(u, p, z, w), self.chunk_size))
        rows = self._on_devices(block_rows, free_internal, stacked=True)
        return jax.tree.map(lambda x: x[: self.n_people], rows)

    @eqx.filter_jit
    def per_person(self, free_internal) -> Float[Array, " N"]:
        """``log L_n`` for every (real) person."""
        return self._rows_over_chunks(self._chunk_per_person, free_internal)

    @eqx.filter_jit
    def loglike(self, free_internal) -> Float[Array, ""]:
        return self._sum_over_chunks(self._chunk_sum, free_internal, self.chunk_size)

    @eqx.filter_jit
    def loglike_and_grad(self, free_internal):
        """``(log L, d log L / du)``, the gradient accumulated chunk by chunk."""
        return self._sum_over_chunks(jax.value_and_grad(self._chunk_sum), free_internal,
                                     self.chunk_size)

    @eqx.filter_jit
    def per_person_and_scores(self, free_internal):
        """``(log L_n, d log L_n / du)`` for every (real) person."""
        def person(u, p, z, w):
            return person_loglike(self.components(u), p, z, w)

        def chunk(u, p, z, w):
            return jax.vmap(jax.value_and_grad(person), in_axes=(None, 0, 0, 0))(u, p, z, w)

        return self._rows_over_chunks(chunk, free_internal)

    def scores(self, free_internal) -> Float[Array, "N F"]:
        """Per-person scores ``d log L_n / du`` (rows: real people)."""
        return self.per_person_and_scores(free_internal)[1]

    def _chunk_hessian(self, free_internal, panel, zeta, log_weights):
        """``sum_n d^2 log L_n / du du'`` over a chunk, from ``log L_n = logsumexp_r(a_nr
        + log w_nr)`` with softmax weights ``p_nr`` and ``g_n = sum_r p_nr da_nr/du``:

            H_n = sum_r p_nr (d^2 a_nr + da_nr da_nr') - g_n g_n'.

        The per-draw values and gradients come from one batched reverse pass;
        ``sum p d^2 a`` (``p`` held fixed) from forward-over-reverse products with the
        plan's ``K`` seeds, the measurement and choice parts of ``a = m + c`` each with
        only the seeds that involve it."""
        def terms_at(u):  # (m, c), each [n, R]
            _, measurement, choices = jax.vmap(draw_terms, in_axes=(None, 0, 0))(
                self.components(u), panel, zeta)
            return measurement, choices

        def one_draw(u, person, z):
            return draw_loglikes(self.components(u), person, z[None])[0]

        draws, draw_grads = jax.vmap(jax.vmap(jax.value_and_grad(one_draw),
                                              in_axes=(None, None, 0)),
                                     in_axes=(None, 0, 0))(free_internal, panel, zeta)
        p = jax.nn.softmax(draws + log_weights, axis=1)
        weighted_p = p * panel.weight[:, None]
        person_grads = jnp.einsum("nr,nrf->nf", p, draw_grads)
        outer = (jnp.einsum("nr,nri,nrj->ij", weighted_p, draw_grads, draw_grads)
                 - jnp.einsum("n,ni,nj->ij", panel.weight, person_grads, person_grads))

        def part_products(part: int, seed_rows):
            """``d^2 (sum p a_part) / du du' . seed`` for the plan's seeds ``seed_rows``."""
            weighted_grad = jax.grad(lambda u: jnp.sum(weighted_p * terms_at(u)[part]))
            return jax.vmap(lambda seed: jax.jvp(weighted_grad, (free_internal,),
                                                 (seed.astype(free_internal.dtype),))[1])(
                self.plan.seeds[seed_rows])

        products = (jnp.zeros(self.plan.seeds.shape, free_internal.dtype)
                    .at[self.plan.measurement_seeds]
                    .add(part_products(0, self.plan.measurement_seeds))
                    .at[self.plan.choice_seeds].add(part_products(1, self.plan.choice_seeds)))
        second = jnp.where(self.plan.nonzero,
                           products[self.plan.source_seed, self.plan.source_index], 0.0)
        return second + outer

    @eqx.filter_jit
    def hessian(self, free_internal) -> Float[Array, "F F"]:
        """Exact Hessian ``d^2 log L / du du'`` on chunks of ``hessian_chunk_size``
        people (see :meth:`_chunk_hessian`), summed over chunks and devices."""
        return self._sum_over_chunks(self._chunk_hessian, free_internal,
                                     self.hessian_chunk_size)


def _bytes_per_person(panel: Panel, n_draws: int, n_lvs: int, itemsize: int = 8) -> int:
    """A generous estimate of the working memory of one person's LL and gradient."""
    n_t, n_j = panel.design.shape[1:3]
    per_draw = 8 * n_t * n_j + 6 * (panel.ordered_levels.shape[1]
                                     + panel.continuous_values.shape[1]) + 4 * n_lvs + 8
    return itemsize * (n_draws * per_draw + panel.design[0].size)


def available_memory_bytes(device: jax.Device | None = None) -> int:
    """Free memory of ``device`` (default: this process's first): the allocator's limit
    less what is in use on an accelerator, the host's available physical memory on CPU."""
    device = jax.local_devices()[0] if device is None else device
    stats = device.memory_stats() if device.platform != "cpu" else None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def default_memory_bytes(device: jax.Device | None = None) -> int:
    """The default memory budget: ``MEMORY_FRACTION`` of ``device``'s free memory."""
    return int(MEMORY_FRACTION * available_memory_bytes(device))


def choose_chunk_size(panel: Panel, n_draws: int, n_lvs: int,
                      memory_bytes: int | None = None, n_devices: int = 1,
                      itemsize: int = 8) -> int:
    """People per chunk so a chunk's LL and gradient stay within ``memory_bytes``
    (``None``: :func:`default_memory_bytes`), each of ``n_devices`` devices taking an
    equal share of the people.

    Chunks are equal and a multiple of 8 people (so smaller Hessian chunks divide them).
    """
    memory_bytes = default_memory_bytes() if memory_bytes is None else memory_bytes
    people = math.ceil(panel.n_people / n_devices)
    most = max(8, memory_bytes // _bytes_per_person(panel, n_draws, n_lvs, itemsize))
    n_chunks = math.ceil(people / most)
    return 8 * math.ceil(math.ceil(people / n_chunks) / 8)


def _largest_divisor_at_most(n: int, limit: int) -> int:
    return max(d for d in range(1, max(1, min(n, limit)) + 1) if n % d == 0)


def people_mesh(devices=None) -> Mesh | None:
    """A one-axis mesh (``"people"``) over ``devices`` (default: every visible device);
    ``None`` for a single device (nothing to split)."""
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.array(devices), (PEOPLE,)) if len(devices) > 1 else None


def _local_device(devices=None) -> jax.Device:
    """The first of ``devices`` (default: all) that belongs to this process."""
    devices = jax.devices() if devices is None else list(devices)
    local = [d for d in devices if d.process_index == jax.process_index()]
    if not local:
        raise ValueError(f"none of the devices {devices} belongs to this process "
                         f"(process {jax.process_index()} of {jax.process_count()})")
    return local[0]


def _smallest_over_processes(memory_bytes: int, mesh: Mesh | None) -> int:
    """The smallest ``memory_bytes`` of all processes when ``mesh`` spans several, so
    that every process picks the same chunk sizes (the shapes must agree)."""
    if mesh is None or not mesh.is_multi_process:
        return memory_bytes
    return int(np.min(multihost_utils.process_allgather(np.int64(memory_bytes))))


def build_likelihood(space: ParameterSpace, layout: Layout, panel: Panel, zeta: np.ndarray,
                     log_weights: np.ndarray, fixed_internal: np.ndarray,
                     chunk_size: int | None = None,
                     memory_bytes: int | None = None,
                     dtype: str = "float64", devices=None,
                     hessian_chunk_size: int | None = None) -> SimulatedLikelihood:
    """Move data and draws to the device(s), padded to whole chunks on every device.

    ``log_weights``: ``(R,)`` shared by everyone, or ``(N, R)`` per person (padded
    people get 0s; their likelihood weight is 0).  ``memory_bytes``: the working memory
    of one chunk (``None``: :func:`default_memory_bytes`, and on CPU at most
    ``CPU_CACHE_BYTES``); ignored when ``chunk_size`` is given.  ``dtype``:
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
        raise ValueError(f"log_weights must have shape ({n_draws},) or "
                         f"({panel.n_people}, {n_draws}), got {log_weights.shape}")
    mesh = people_mesh(devices)
    n_devices = 1 if mesh is None else mesh.size
    itemsize = np.dtype(dtype).itemsize
    device = _local_device(devices)
    on_cpu = device.platform == "cpu"
    budget = _smallest_over_processes(
        default_memory_bytes(device) if memory_bytes is None else memory_bytes, mesh)
    if chunk_size is None:
        chunk_size = choose_chunk_size(
            panel, n_draws, n_lvs,
            min(budget, CPU_CACHE_BYTES) if on_cpu and memory_bytes is None else budget,
            n_devices, itemsize)
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
    to_reported = space.reported_map(fixed_internal)
    plan = hessian_plan(layout, to_reported)
    if hessian_chunk_size is None:
        hessian_people = _hessian_people(panel, n_draws, n_lvs, plan.seeds.shape[0],
                                         space.n_free, budget, itemsize)
        hessian_chunk_size = _largest_divisor_at_most(
            chunk_size, min(hessian_people, CPU_HESSIAN_PEOPLE) if on_cpu else hessian_people)
    elif not isinstance(hessian_chunk_size, int) or chunk_size % hessian_chunk_size:
        raise ValueError(f"hessian_chunk_size must divide chunk_size {chunk_size}, "
                         f"got {hessian_chunk_size!r}")
    n_padded = chunk_size * n_devices * math.ceil(panel.n_people / (chunk_size * n_devices))
    people = None if mesh is None else NamedSharding(mesh, P(PEOPLE))
    shared = None if mesh is None else NamedSharding(mesh, P())
    if log_weights.ndim == 2:
        log_weights, weights_sharding = _pad_people(log_weights, n_padded, 0.0), people
    else:
        weights_sharding = shared
    return SimulatedLikelihood(
        to_reported=to_reported,
        layout=layout,
        plan=plan,
        panel=panel_arrays(panel, n_padded, dtype, people),
        zeta=place(_pad_people(zeta, n_padded, 0.0).astype(dtype), people),
        log_weights=place(log_weights.astype(dtype), weights_sharding),
        n_people=panel.n_people,
        chunk_size=chunk_size,
        hessian_chunk_size=hessian_chunk_size,
        dtype=dtype,
        mesh=mesh,
    )


def _hessian_people(panel: Panel, n_draws: int, n_lvs: int, n_seeds: int, n_free: int,
                    memory_bytes: int, itemsize: int) -> int:
    """People per Hessian chunk within ``memory_bytes``: a person carries ``K`` tangents
    through the gradient (about ``K + 2`` times its memory) and ``R x F`` per-draw
    gradients."""
    per_person = (_bytes_per_person(panel, n_draws, n_lvs, itemsize) * (n_seeds + 2)
                  + itemsize * n_draws * n_free)
    return max(1, memory_bytes // per_person)
