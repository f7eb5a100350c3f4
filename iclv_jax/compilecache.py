"""JAX's persistent compilation cache, on by default in a per-user folder.

A cold fit spends most of its time compiling (issue 18: 5.2 of 6.7 s for the
drug-choice ICLV); with the compiled programs kept on disk, a second process that
builds the same likelihood loads them instead (measured: a cold drug-choice fit at
R = 100 took 14.5 s without the cache and 7.8 s with it, in a fresh process each).

- Folder: ``$ICLV_JAX_CACHE`` if set, else ``$XDG_CACHE_HOME/iclv_jax/jax`` (default
  ``~/.cache/iclv_jax/jax``).
- Opt out: ``ICLV_JAX_NO_CACHE=1`` (any non-empty value but ``0``), or set JAX's own
  ``jax_compilation_cache_dir`` before importing iclv_jax (a folder the user chose
  is kept as it is).
- A folder that cannot be created or written leaves the cache off, silently: caching
  is an optimisation, never a reason to fail.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

__all__ = ["cache_folder", "enable_compilation_cache", "writable_folder"]

#: compile times (s) at or above which programs are kept: every program, since most of
#: a fit's programs compile in under JAX's default second and together take seconds
MIN_COMPILE_SECONDS = 0.0


def cache_folder() -> Path | None:
    """The folder the cache would use, or ``None`` when the user opted out."""
    if os.environ.get("ICLV_JAX_NO_CACHE", "") not in ("", "0"):
        return None
    chosen = os.environ.get("ICLV_JAX_CACHE")
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "iclv_jax" / "jax"


def writable_folder(folder: Path) -> bool:
    """Whether ``folder`` exists or can be made, and can be written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK)


def enable_compilation_cache() -> Path | None:
    """Point JAX's persistent compilation cache at :func:`cache_folder` unless the user
    opted out or already chose a folder; returns the folder in use (``None``: off)."""
    already = getattr(jax.config, "jax_compilation_cache_dir", None)
    if already:
        return Path(already)
    folder = cache_folder()
    if folder is None or not writable_folder(folder):
        return None
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    return folder
