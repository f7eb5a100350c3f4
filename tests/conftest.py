"""Fixtures shared by several test modules, the run-time type checks, the run's
Hypothesis profile, and unoptimised XLA machine code for the test run.

jaxtyping's import hook is installed here, before anything imports ``iclv_jax``: every
function and dataclass of the package (submodules imported later, lazily, too: the hook
stays on ``sys.meta_path`` for the whole session) is decorated with
``jaxtyped(typechecker=beartype)``, so array shapes and dtypes, and the other
annotations, are checked on every call the tests make. (pytest imports this file before
plugins' ``pytest_configure`` runs, so ``--jaxtyping-packages`` would come too late.)
"""

import os

from jaxtyping import install_import_hook

# XLA's CPU backend at LLVM optimisation level 0, set before JAX starts its backend:
# the suite compiles hundreds of small programs, each run a few times, so compiling is
# most of the time of most tests.  Measured on this shared 2-core machine: level 0
# halves compile-bound tests (two Hessian tests 87 s -> 44 s) but slows long
# estimations (test_recovery's 326-person raw-price fit 76 s -> 127 s); the whole
# default run went 2318 s -> 1585 s together with --dist loadfile.  XLA's own graph
# passes still run; the whole suite passes under it.
# ICLV_TEST_OPTIMISED_XLA=1 runs the suite on the default, optimised code instead.
if os.environ.get("ICLV_TEST_OPTIMISED_XLA") != "1":
    os.environ["XLA_FLAGS"] = " ".join(
        [os.environ.get("XLA_FLAGS", ""), "--xla_backend_optimization_level=0"]
    ).strip()

# No persistent compilation cache in the test processes (subprocesses inherit this; the
# cache's own tests, tests/test_compilecache.py, set their own variables): in two
# fresh-clone runs of the suite (JAX 0.10.2, CPU, a new empty cache folder) an xdist
# worker died of a segmentation fault inside the cache's write of a freshly compiled
# executable (``executable.serialize()`` in ``put_executable_and_time``), which also
# stalled xdist.  The suite does not need the cache: programs are compiled once per
# process anyway.
os.environ.setdefault("ICLV_JAX_NO_CACHE", "1")

# PEP 484's numeric tower, as mypy reads the annotations: an ``int`` is a ``float``
install_import_hook(
    "iclv_jax", "beartype.beartype(conf=beartype.BeartypeConf(is_pep484_tower=True))"
)

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

import iclv_jax as ij  # noqa: E402
from iclv_jax import datasets  # noqa: E402

# Property tests are derandomised for the whole run (each test's examples come from a
# seed derived from the test itself, so a failure reproduces on every run); a test's own
# ``@settings`` may add to this profile but every ``@given`` test in this suite also says
# ``derandomize=True`` itself.
settings.register_profile("iclv_jax", derandomize=True, deadline=None)
settings.load_profile("iclv_jax")


@pytest.fixture(scope="session")
def fitted_small():
    """A small ICLV estimated on the beverage logit data (one LV, three ``pi`` items), as
    ``(results, model, data)``; one estimation per session, shared by the persistence and
    post-estimation tests."""
    df, model, _ = datasets.beverage(n_people=150, n_situations=3, seed=3, choice="logit")
    small = ij.ICLVModel(
        [ij.LatentVariable("purchase_intention")],
        [i for i in model.indicators if i.name.startswith("pi")],
        choice=model.choice,
    )
    results = ij.estimate(small, df, draws=ij.Halton(10, seed=1), verbose=False)
    assert results.converged
    return results, small, df
