"""People on devices: padded panel arrays, the device mesh, and chunk sizes.

The people are padded to a whole number of chunks on every device with weight-0
people whose data give finite values.  With several devices the padded people are
split into one contiguous block per device over a one-axis :class:`jax.sharding.Mesh`
(axis ``"people"``); a mesh may span several processes joined by
:func:`jax.distributed.initialize` (see :func:`place`).

Chunk sizes bound memory: a chunk of ``c`` people takes about ``c * b`` bytes for the
log-likelihood and gradient, ``b`` from :func:`_bytes_per_person`, and about
``c * (b * (K + 2) + R * F * itemsize)`` for the Hessian with ``K`` seeds
(:func:`hessian_people`).
"""

from __future__ import annotations

import math
import os

import equinox as eqx
import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, Sharding
from jaxtyping import Array, Bool, Float, Int

from .data import Panel

MEMORY_FRACTION = 0.25  # of the free device memory a chunk may use by default
CPU_CACHE_BYTES = 4 << 20  # default CPU chunks: larger working sets only lose cache locality
CPU_HESSIAN_PEOPLE = (
    16  # CPU Hessian chunks: fastest at 16 people (R = 100; benchmarks/hessian_cost.py)
)
PEOPLE = "people"  # the mesh axis the people are split over


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


def pad_people(array: np.ndarray, n_padded: int, fill) -> np.ndarray:
    """``array`` with rows of ``fill`` appended up to ``n_padded`` people (axis 0)."""
    pad = np.full((n_padded - array.shape[0],) + array.shape[1:], fill, dtype=array.dtype)
    return np.concatenate([array, pad])


def _as_dtype(array: np.ndarray, dtype: str) -> np.ndarray:
    """Floating arrays in ``dtype``; integer and boolean arrays unchanged."""
    return array.astype(dtype) if np.issubdtype(array.dtype, np.floating) else array


def panel_arrays(
    panel: Panel, n_padded: int, dtype: str = "float64", sharding: NamedSharding | None = None
) -> PanelArrays:
    """Pad with weight-0 people whose data give finite values (all alternatives available);
    floating arrays in ``dtype``, placed with ``sharding`` (people split over devices)."""
    fills = {
        "design": 0.0,
        "available": True,
        "chosen": 0,
        "situation_mask": False,
        "covariates": 0.0,
        "ordered_levels": 0,
        "continuous_values": 0.0,
    }
    arrays = {
        name: pad_people(getattr(panel, name), n_padded, fill) for name, fill in fills.items()
    }
    arrays["weight"] = pad_people(np.ones(panel.n_people), n_padded, 0.0)
    return PanelArrays(
        **{name: place(_as_dtype(array, dtype), sharding) for name, array in arrays.items()}
    )


def place(array: np.ndarray, sharding: Sharding | None) -> jax.Array:
    """``array`` (the same full host array in every process) as one global array laid
    out by ``sharding`` (``None``: the default device).  Each process copies only the
    blocks its own devices hold (:func:`jax.make_array_from_callback`), so a mesh that
    spans several processes (:func:`jax.distributed.initialize`) needs no transfer
    between them."""
    if sharding is None:
        return jax.device_put(array)
    return jax.make_array_from_callback(array.shape, sharding, lambda index: array[index])


def people_mesh(devices=None) -> Mesh | None:
    """A one-axis mesh (``"people"``) over ``devices`` (default: every visible device);
    ``None`` for a single device (nothing to split)."""
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.array(devices), (PEOPLE,)) if len(devices) > 1 else None


def local_device(devices=None) -> jax.Device:
    """The first of ``devices`` (default: all) that belongs to this process."""
    devices = jax.devices() if devices is None else list(devices)
    local = [d for d in devices if d.process_index == jax.process_index()]
    if not local:
        raise ValueError(
            f"none of the devices {devices} belongs to this process "
            f"(process {jax.process_index()} of {jax.process_count()})"
        )
    return local[0]


def smallest_over_processes(memory_bytes: int, mesh: Mesh | None) -> int:
    """The smallest ``memory_bytes`` of all processes when ``mesh`` spans several, so
    that every process picks the same chunk sizes (the shapes must agree)."""
    if mesh is None or not mesh.is_multi_process:
        return memory_bytes
    return int(np.min(multihost_utils.process_allgather(np.int64(memory_bytes))))


def _bytes_per_person(panel: Panel, n_draws: int, n_lvs: int, itemsize: int = 8) -> int:
    """A generous estimate of the working memory of one person's LL and gradient:
    ``itemsize * (R * (8 T J + 6 (Ko + Kc) + 4 L + 8) + T J P)``."""
    n_t, n_j = panel.design.shape[1:3]
    per_draw = (
        8 * n_t * n_j
        + 6 * (panel.ordered_levels.shape[1] + panel.continuous_values.shape[1])
        + 4 * n_lvs
        + 8
    )
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


def choose_chunk_size(
    panel: Panel,
    n_draws: int,
    n_lvs: int,
    memory_bytes: int | None = None,
    n_devices: int = 1,
    itemsize: int = 8,
) -> int:
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


def hessian_people(
    panel: Panel,
    n_draws: int,
    n_lvs: int,
    n_seeds: int,
    n_free: int,
    memory_bytes: int,
    itemsize: int,
) -> int:
    """People per Hessian chunk within ``memory_bytes``: a person carries ``K`` tangents
    through the gradient (about ``K + 2`` times its memory) and ``R x F`` per-draw
    gradients."""
    per_person = (
        _bytes_per_person(panel, n_draws, n_lvs, itemsize) * (n_seeds + 2)
        + itemsize * n_draws * n_free
    )
    return max(1, memory_bytes // per_person)


def largest_divisor_at_most(n: int, limit: int) -> int:
    """The largest divisor of ``n`` not above ``limit`` (at least 1)."""
    return max(d for d in range(1, max(1, min(n, limit)) + 1) if n % d == 0)
