"""NUTS in blocks with a checkpoint after each: a long sampling run that can stop
(Ctrl-C, a killed job) and resume where it stopped.

After the warm-up and after every block of ``every`` kept iterations, the chains' state
(NumPyro's ``HMCState``: position, step size, mass matrix, random keys, all per chain)
and the draws kept so far are written to one pickle, via a temporary file and an atomic
rename.  A resumed run checks that the run it continues had the same settings, then
continues every chain from its saved state, with its own random key, so the draws are
those an uninterrupted run with the same seed gives.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ..checkpoint import CheckpointError

__all__ = ["run_in_blocks"]

FIELDS = ("diverging", "num_steps", "accept_prob")


def _save(path: Path, content: dict) -> None:
    """``content`` pickled to ``path`` atomically (a temporary file, then a rename)."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    arrays = {k: v for k, v in content.items() if k != "settings"}
    with os.fdopen(handle, "wb") as stream:
        pickle.dump({"settings": content["settings"], **jax.tree.map(np.asarray, arrays)}, stream)
    os.replace(temporary, path)


def _load(path: Path, settings: dict) -> dict:
    """The checkpoint at ``path``; raises :class:`CheckpointError` naming every setting
    that differs from ``settings``."""
    with open(path, "rb") as stream:
        content = pickle.load(stream)
    saved = content.get("settings", {})
    differing = sorted(k for k in settings if saved.get(k) != settings[k])
    if differing:
        raise CheckpointError(
            f"{path} was written by a different sampling run ({', '.join(differing)} "
            "differ): start afresh (resume=False) or give the same settings"
        )
    content["state"] = jax.tree.map(jnp.asarray, content["state"])  # device arrays again
    return content


def run_block(mcmc, rng_key):
    """One block of kept iterations from ``mcmc.post_warmup_state`` (the seam a test
    interrupts)."""
    mcmc.run(rng_key, extra_fields=FIELDS)
    jax.block_until_ready(mcmc.get_samples())


def run_in_blocks(make_mcmc, init, seed, num_samples, every, path: Path, settings, resume):
    """``(z, extra, last_state)`` of the whole run: ``z`` ``(chains, num_samples, dim)``,
    ``extra`` the per-iteration :data:`FIELDS`; ``make_mcmc(n)`` builds NumPyro's
    ``MCMC`` keeping ``n`` iterations."""
    if resume and path.exists():
        content = _load(path, settings)
    else:
        warm = make_mcmc(every)
        warm.warmup(jax.random.PRNGKey(seed), init_params=init, extra_fields=FIELDS)
        content = {"settings": settings, "state": warm.post_warmup_state, "z": [], "extra": []}
        _save(path, content)
    kept = sum(block.shape[1] for block in content["z"])
    while kept < num_samples:
        mcmc = make_mcmc(min(every, num_samples - kept))
        mcmc.post_warmup_state = content["state"]
        run_block(mcmc, content["state"].rng_key)
        content["z"].append(np.asarray(mcmc.get_samples(group_by_chain=True)))
        extra = mcmc.get_extra_fields(group_by_chain=True)
        content["extra"].append({k: np.asarray(extra[k]) for k in FIELDS})
        content["state"] = mcmc.last_state
        _save(path, content)
        kept += content["z"][-1].shape[1]
    z = np.concatenate(content["z"], axis=1)
    extra = {k: np.concatenate([e[k] for e in content["extra"]], axis=1) for k in FIELDS}
    return z, extra, content["state"]
