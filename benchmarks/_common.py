"""Shared helpers for benchmark scripts: machine description, timing, JSON output."""

from __future__ import annotations

import importlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax

RESULTS = Path(__file__).parent / "results"


def cpu_model() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``), else the architecture."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    """Where and with what a benchmark ran."""
    import equinox
    import numpy
    import scipy

    import iclv_jax

    device = jax.devices()[0]
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "device": f"{device.platform}:{getattr(device, 'device_kind', '')}",
        "n_devices": jax.device_count(),
        "python": platform.python_version(),
        "versions": {
            "iclv_jax": iclv_jax.__version__,
            "jax": jax.__version__,
            "equinox": equinox.__version__,
            "numpy": numpy.__version__,
            "scipy": scipy.__version__,
        },
    }


def best_time(fn, *args, repeats: int = 5) -> float:
    """Best wall time of ``fn(*args)`` after one compile/warm-up call."""
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return min(times)


def median_time(fn, repeats: int = 5) -> dict:
    """Wall times of ``fn()``: the first (compiling) call, then the median and minimum of
    ``repeats`` further calls (``fn`` must block until its result is ready).  The median
    is what to report on a machine shared with other work."""
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {
        "first_s": first,
        "median_s": statistics.median(times),
        "min_s": min(times),
        "repeats": repeats,
    }


def peak_rss_gib() -> float:
    """Peak resident memory of this process so far (Linux ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def save(name: str, payload: dict, results: Path = RESULTS) -> Path:
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"{name}.json"
    payload = {"machine": machine(), **payload}
    path.write_text(json.dumps(payload, indent=2))
    print(f"saved {path}")
    return path


def baseline_package(ref: str):
    """The ``iclv_jax`` package as it was at git ``ref``, imported as ``iclv_ref`` (its
    imports are relative, so the copy is self-contained; an older package may not
    export every submodule as an attribute: import them by name)."""
    folder = Path(tempfile.mkdtemp(prefix="iclv_ref_"))
    archive = subprocess.run(
        ["git", "archive", ref, "iclv_jax"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    (folder / "iclv_jax").rename(folder / "iclv_ref")
    sys.path.insert(0, str(folder))
    return importlib.import_module("iclv_ref")
