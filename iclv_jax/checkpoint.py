"""Checkpoints: the optimiser's state after every iteration, written atomically.

A checkpoint is a JSON file holding the free internal parameters, the scales, the
iteration count and history, the parameter names and a fingerprint of the problem:
SHA-256 digests of the whole specification (every field of the model, so item kinds,
bounds and fixed values included), of the data arrays, of the draws and of the
settings that shape the optimiser's path (optimiser, gradient, dtype).  It is written
to a temporary file in the same folder and renamed over the old one, so a crash leaves
either the old or the new checkpoint, never a torn one.  Loading refuses a corrupt
file, another format version, one written for another problem, and contents that
cannot be a state of this problem (wrong names or lengths, non-finite values).

One run writes a checkpoint at a time: :func:`locked` holds ``<checkpoint>.lock``
(created exclusively, holding ``pid host``) for the run, refuses while another live
process holds it and takes over a lock whose process on this host has died.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import signal
import socket
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

FORMAT = "iclv_jax-checkpoint-2"
#: the parts of a fingerprint, in the order a mismatch is reported
IDENTITY = ("model", "data", "draws", "settings")
#: what each optimiser may keep between iterations, with its type
OPTIMIZER_STATE = {"use_exact": bool, "bhhh_streak": int}


class CheckpointError(ValueError):
    """The checkpoint is unreadable, belongs to another problem, or is in use."""


def canonical(value):
    """``value`` as deterministic JSON-able data: a dataclass as ``{"class": name,
    field: ...}`` over all its fields, mappings with string keys, sequences as lists,
    floats by ``repr`` (so NaN and infinities compare), numpy arrays and scalars as Python values,
    functions (custom utility terms) by module, qualified name and their bytecode,
    constants and names (not the values they capture)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            "class": type(value).__name__,
            **{f.name: canonical(getattr(value, f.name)) for f in dataclasses.fields(value)},
        }
    if isinstance(value, Mapping):
        return {str(key): canonical(entry) for key, entry in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(entry) for entry in value]
    if isinstance(value, np.ndarray | np.generic):
        return canonical(value.tolist())
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str | int | bool) or value is None:
        return value
    if callable(value) and hasattr(value, "__code__"):
        code = value.__code__
        return {
            "function": f"{value.__module__}.{value.__qualname__}",
            "code": code.co_code.hex(),
            "constants": repr(code.co_consts),
            "names": list(code.co_names),
        }
    return repr(value)


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(canonical(value), sort_keys=True).encode()).hexdigest()


def _panel_digest(panel) -> str:
    """SHA-256 of every field of the panel (arrays by dtype, shape and bytes; object
    arrays, such as string person ids, by their text: their bytes would be pointers,
    which differ between processes)."""
    digest = hashlib.sha256()
    for f in dataclasses.fields(panel):
        value = getattr(panel, f.name)
        if isinstance(value, np.ndarray):
            array = np.ascontiguousarray(value.astype(str) if value.dtype == object else value)
            digest.update(f"{f.name} {array.dtype} {array.shape}".encode() + array.tobytes())
        else:
            digest.update(f"{f.name} {json.dumps(canonical(value), sort_keys=True)}".encode())
    return digest.hexdigest()


def fingerprint(names: Sequence[str], model, panel, draws, settings: Mapping) -> dict:
    """The identity a checkpoint must match: the free parameter names and digests of
    the model (:func:`canonical`), the panel arrays, the draws and ``settings``."""
    return {
        "parameters": list(names),
        "model": _digest(model),
        "data": _panel_digest(panel),
        "draws": _digest(draws),
        "settings": _digest(settings),
    }


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold back SIGINT (Ctrl-C) for the duration of the block, then deliver it.

    Python runs signal handlers in the main thread only, so in the main thread the
    SIGINT handler is swapped for one that notes the signal; on leaving, the previous
    handler is restored and a noted signal is raised again, reaching that handler
    (``KeyboardInterrupt`` by default).  Elsewhere (no handler can be set) nothing
    changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            signal.raise_signal(signal.SIGINT)


def write_atomic(path: str | os.PathLike, payload: dict) -> None:
    """Write JSON to ``path`` via a temporary file, fsync and rename; a Ctrl-C arriving
    meanwhile takes effect once the new file is in place (:func:`interrupts_deferred`),
    so an interrupted run keeps its last iterate."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with interrupts_deferred():
        handle, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(handle, "w") as f:
                json.dump({"format": FORMAT, **payload}, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


# --- reading and validating --------------------------------------------------------------


def _load(path: Path) -> dict:
    try:
        payload = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise CheckpointError(f"checkpoint {str(path)!r} is corrupt: {error}") from None
    if not isinstance(payload, dict) or not str(payload.get("format", "")).startswith(
        "iclv_jax-checkpoint"
    ):
        raise CheckpointError(f"{str(path)!r} is not an iclv_jax checkpoint ({FORMAT})")
    if payload["format"] != FORMAT:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has format {payload['format']!r}, "
            f"written by another version of iclv_jax; this one reads "
            f"{FORMAT!r}"
        )
    return payload


def _check_identity(saved, expected: Mapping, where: str) -> None:
    """Names first (the most telling difference), then the digests."""
    if not isinstance(saved, Mapping):
        raise CheckpointError(f"{where} is corrupt: 'fingerprint' is not a mapping")
    names = saved.get("parameters")
    if names != expected["parameters"]:
        names = names if isinstance(names, list) else []
        missing = [n for n in expected["parameters"] if n not in names]
        extra = [n for n in names if n not in expected["parameters"]]
        detail = (
            f"missing {missing}, unexpected {extra}"
            if missing or extra
            else "the same names in another order"
        )
        raise CheckpointError(
            f"{where} was written for another model, data set or draws: its "
            f"parameters differ ({detail}); refusing to resume from it"
        )
    differing = [part for part in IDENTITY if saved.get(part) != expected[part]]
    if differing:
        raise CheckpointError(
            f"{where} was written for another model, data set or draws (it differs in: "
            f"{', '.join(differing)}; settings are optimizer, gradient and dtype); refusing "
            "to resume from it"
        )


def _vector(payload: dict, key: str, names: Sequence[str], where: str) -> np.ndarray:
    """``payload[key]`` as a finite float vector, one value per parameter."""
    try:
        vector = np.asarray(payload[key], dtype=float)
    except (TypeError, ValueError):
        raise CheckpointError(f"{where}: {key!r} is not a list of numbers") from None
    if vector.shape != (len(names),):
        raise CheckpointError(
            f"{where}: {key!r} has shape {vector.shape}, expected "
            f"({len(names)},), one value per free parameter"
        )
    bad = [name for name, x in zip(names, vector, strict=True) if not math.isfinite(x)]
    if bad:
        raise CheckpointError(f"{where}: {key!r} holds non-finite values for {bad}")
    return vector


def _check_contents(payload: dict, names: Sequence[str], where: str) -> None:
    required = {"internal", "scales", "iteration", "history"}
    if not required <= set(payload):
        raise CheckpointError(f"{where} is corrupt: missing {sorted(required - set(payload))}")
    internal = _vector(payload, "internal", names, where)
    scales = _vector(payload, "scales", names, where)
    if np.any(scales <= 0):
        raise CheckpointError(f"{where}: 'scales' must be positive")
    if payload.get("scaled") is not None and not np.allclose(
        _vector(payload, "scaled", names, where) * scales, internal, rtol=1e-9, atol=1e-12
    ):
        raise CheckpointError(f"{where}: 'scaled' times 'scales' is not 'internal'")
    iteration = payload["iteration"]
    if not isinstance(iteration, int) or isinstance(iteration, bool) or iteration < 0:
        raise CheckpointError(
            f"{where}: 'iteration' must be a non-negative integer, got {iteration!r}"
        )
    if not isinstance(payload["history"], list) or not all(
        isinstance(row, dict) for row in payload["history"]
    ):
        raise CheckpointError(f"{where}: 'history' must be a list of mappings")
    state = payload.get("optimizer_state", {})
    if not isinstance(state, dict) or any(
        key not in OPTIMIZER_STATE or type(value) is not OPTIMIZER_STATE[key]
        for key, value in state.items()
    ):
        raise CheckpointError(
            f"{where}: 'optimizer_state' must map {sorted(OPTIMIZER_STATE)} "
            f"to {[t.__name__ for t in OPTIMIZER_STATE.values()]}"
        )


def read(path: str | os.PathLike, expected: Mapping) -> dict:
    """Load a checkpoint, refusing corrupt files, other format versions, foreign
    problems (``expected``: :func:`fingerprint` of this one) and contents that are no
    state of this problem; every refusal is a :class:`CheckpointError` naming the file
    and what is wrong."""
    path = Path(path)
    where = f"checkpoint {str(path)!r}"
    payload = _load(path)
    _check_identity(payload.get("fingerprint"), expected, where)
    _check_contents(payload, expected["parameters"], where)
    return payload


# --- one writer at a time ----------------------------------------------------------------


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (``kill(pid, 0)``)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _holder(lock: Path) -> tuple[int, str] | None:
    """``(pid, host)`` written in ``lock``; None when unreadable (being written)."""
    try:
        pid, host = lock.read_text().split()
        return int(pid), host
    except (OSError, ValueError):
        return None


def _create(lock: Path) -> bool:
    """Create ``lock`` exclusively with this process's ``pid host``; False if it exists."""
    try:
        handle = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(handle, "w") as f:
        f.write(f"{os.getpid()} {socket.gethostname()}\n")
    return True


@contextlib.contextmanager
def locked(path: str | os.PathLike | None) -> Iterator[None]:
    """Hold ``<path>.lock`` while a run writes checkpoint ``path`` (nothing for None).

    The lock file is created with ``O_EXCL`` and holds ``pid host``.  A lock whose
    process on this host no longer exists is stale and taken over; one held by a live
    process (this one included), by another host or being written is refused with a
    :class:`CheckpointError` naming the lock file and its holder.
    """
    if path is None:
        yield
        return
    lock = Path(f"{os.fspath(path)}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    if not _create(lock):
        holder = _holder(lock)
        if holder is None or holder[1] != socket.gethostname() or _alive(holder[0]):
            who = "an unreadable holder" if holder is None else f"pid {holder[0]} on {holder[1]}"
            raise CheckpointError(
                f"checkpoint {os.fspath(path)!r} is being written by another run ({who}, "
                f"lock file {str(lock)!r}); use another checkpoint path, or delete the "
                "lock file if no such run exists"
            )
        lock.unlink(missing_ok=True)  # stale: its process has died
        if not _create(lock):
            raise CheckpointError(
                f"checkpoint {os.fspath(path)!r}: another run took the lock {str(lock)!r} first"
            )
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)
