"""Checkpoints: the optimiser's state after every iteration, written atomically.

A checkpoint is a JSON file holding the free internal parameters, the scales, the
iteration count and history, and a fingerprint of the problem (parameter names, data
arrays, draws).  It is written to a temporary file in the same folder and renamed
over the old one, so a crash leaves either the old or the new checkpoint, never a
torn one.  Loading refuses a corrupt file or one written for another problem.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

FORMAT = "iclv_jax-checkpoint-1"


class CheckpointError(ValueError):
    """The checkpoint is unreadable or belongs to another problem."""


def fingerprint(names, panel, draws) -> str:
    """SHA-256 of the parameter names, every panel array and the draws settings
    (object arrays, such as string person ids, by their text: their bytes would be
    pointers, which differ between processes)."""
    digest = hashlib.sha256()
    digest.update("\n".join(names).encode())
    for name in ("person_ids", "design", "available", "chosen", "situation_mask",
                 "covariates", "ordered_levels", "continuous_values"):
        array = getattr(panel, name)
        array = np.ascontiguousarray(array.astype(str) if array.dtype == object else array)
        digest.update(name.encode() + str(array.shape).encode() + array.tobytes())
    digest.update(repr(draws).encode())
    return digest.hexdigest()


def write_atomic(path: str | os.PathLike, payload: dict) -> None:
    """Write JSON to ``path`` via a temporary file, fsync and rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as f:
            json.dump({"format": FORMAT, **payload}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read(path: str | os.PathLike, expected_fingerprint: str) -> dict:
    """Load a checkpoint, refusing corrupt files and foreign problems."""
    try:
        payload = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"checkpoint {str(path)!r} is corrupt: {error}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} is not an iclv_jax checkpoint ({FORMAT})")
    if payload.get("fingerprint") != expected_fingerprint:
        raise CheckpointError(
            f"checkpoint {str(path)!r} was written for another model, data set or draws; "
            "refusing to resume from it"
        )
    required = {"internal", "scales", "iteration", "history"}
    if not required <= set(payload):
        raise CheckpointError(
            f"checkpoint {str(path)!r} is corrupt: missing {sorted(required - set(payload))}"
        )
    return payload
