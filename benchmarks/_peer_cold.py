"""Cold fits for ``peer_biogeme.py``: a fresh process per library, timed end to end.

Child (iclv_jax's Python, this file run as a script):

    python benchmarks/_peer_cold.py CASE DRAWS OUT.json

imports iclv_jax, builds the case (``_peer_cases.CASES[CASE]``: data read or simulated,
model), estimates it with ``ij.estimate`` (default optimiser, exact-Hessian verification)
and computes both kinds of standard errors; writes the results and ``fit_done_unix``,
``time.time()`` when the standard errors are ready.  The parent
(:func:`iclv_cold_fit`) takes ``time.time()`` just before starting the process, so the
difference counts interpreter start, imports, building, compilation, the fit and the
standard errors.  The persistent compilation cache is pointed at the folder given
(``ICLV_JAX_CACHE``): an empty folder for a first process, the same folder again for a
second.  Biogeme's cold fit is ``_biogeme_worker.py`` in ``cold_fit`` mode, timed the
same way (:func:`peer_export.run_worker` records the launch).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np

HERE = Path(__file__).resolve().parent


def iclv_cold_fit(name: str, draws: int, cache: Path, out: Path) -> dict:
    """Run this file in a fresh process on case ``name`` with ``draws`` draws per person
    and the compilation cache in ``cache``; its answer with ``cold_s``, the wall time
    from just before the process started to its standard errors."""
    env = {**os.environ, "ICLV_JAX_CACHE": str(cache)}
    env.pop("ICLV_JAX_NO_CACHE", None)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(HERE.parent), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    launched = time.time()
    subprocess.run(
        [sys.executable, str(Path(__file__)), name, str(draws), str(out)], check=True, env=env
    )
    answer = json.loads(out.read_text())
    answer["cold_s"] = answer["fit_done_unix"] - launched
    answer["start_and_imports_s"] = answer["imported_unix"] - launched
    answer["cache_files_after"] = sum(1 for p in cache.rglob("*") if p.is_file())
    return answer


def relative_gradient(problem, params: dict[str, float]) -> tuple[float, float]:
    """``(LL, max_i |g_i| max(|x_i|, 1) / |LL|)`` at ``params``: Biogeme's stopping
    quantity, ``g`` the gradient in the reported (free) parameters ``x``, obtained from
    the internal one as ``g = J^-T g_u`` with ``J = d x / d u``."""
    u = problem.free_internal(params)
    ll, grad_u = problem.likelihood.loglike_and_grad(u)
    free = problem.space.free_index
    jac = np.asarray(jax.jacobian(lambda v: problem.likelihood.to_reported(v)[free])(u))
    grad_x = np.linalg.solve(jac.T, np.asarray(grad_u))
    x = np.asarray(problem.likelihood.to_reported(u))[free]
    return float(ll), float(np.max(np.abs(grad_x) * np.maximum(np.abs(x), 1.0)) / abs(float(ll)))


def verify(problem, params: dict[str, float], tolerance: float) -> dict:
    """One optimality test for either library's estimates, with iclv_jax's LL, gradient
    and exact Hessian on the same draws (Biogeme's agree to rounding): a negative
    definite Hessian ``H`` and a Newton step predicting a gain ``g' (-H)^-1 g / 2`` below
    ``tolerance`` (LL units: the LL is within ``tolerance`` of the local maximum; unlike a
    relative gradient, blind to the units of the data).  Biogeme's relative gradient is
    reported too."""
    ll, rel = relative_gradient(problem, params)
    u = problem.free_internal(params)
    _, grad = problem.likelihood.loglike_and_grad(u)
    grad = np.asarray(grad)
    hessian = np.asarray(problem.likelihood.hessian(u))
    hessian = 0.5 * (hessian + hessian.T)
    largest = float(np.max(np.linalg.eigvalsh(hessian)))
    gain = float(0.5 * grad @ np.linalg.solve(-hessian, grad))
    return {
        "loglike": ll,
        "relative_gradient": rel,
        "hessian_largest_eigenvalue": largest,
        "newton_gain": gain,
        "verified": bool(largest < 0 and gain < tolerance),
    }


def main(name: str, draws: str, out_path: str) -> None:
    from _peer_cases import CASES

    import iclv_jax as ij

    imported = time.time()
    case = CASES[name]()
    results = ij.estimate(
        case.model, case.data, draws=case.draws(int(draws)), start=case.start, verbose=False
    )
    table = results.table
    done = time.time()
    answer = {
        "fit_done_unix": done,
        "imported_unix": imported,
        "compilation_cache": str(jax.config.jax_compilation_cache_dir),
        "loglike": results.loglike,
        "iterations": results.iterations,
        "converged": results.converged,
        "relative_gradient": results.relative_gradient,
        "optimizer": results.optimizer,
        "message": results.message,
        "estimates": {n: float(results.estimates[n]) for n in table.index},
        "std_errors": table["se"].to_dict(),
        "robust_std_errors": table["robust_se"].to_dict(),
    }
    Path(out_path).write_text(json.dumps(answer, indent=2))


if __name__ == "__main__":
    main(*sys.argv[1:4])
