"""Several JAX processes joined by ``jax.distributed.initialize`` give the values of one.

Two local processes with one CPU device each (CPU collectives over gloo, coordinator on
localhost) run the same script; :class:`iclv_jax.Problem` splits the people over the
two global devices.  A third process evaluates the same problem alone.  Log-likelihood,
gradient, per-person values and scores, the Hessian, posterior LV means and a short
estimation must agree.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 300

WORKER = """
import json
import sys

import jax

process_id, n_processes, port = (int(a) for a in sys.argv[1:4])
if n_processes > 1:
    try:
        jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=n_processes,
                                   process_id=process_id, local_device_ids=[0])
    except Exception as error:  # the platform cannot run several processes
        print(f"DISTRIBUTED UNAVAILABLE: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(3)

import numpy as np
import iclv_jax as ij
from iclv_jax import datasets, posterior

# 48 people fill whole chunks of 8 on both devices: no padded rows to trim, so the
# per-person rows come straight out of the mesh (they must be gathered to be readable)
df, model, params = datasets.beverage_one_lv(n_people=48, seed=5)
draws = ij.Halton(8, seed=2)
problem = ij.Problem(model, df, draws=draws, chunk_size=8)
lik = problem.likelihood
u = problem.free_internal(params)
ll, grad = lik.loglike_and_grad(u)
values, scores = lik.per_person_and_scores(u)
means = posterior.posterior_moments(lik, u, "all")[0]
fit = ij.estimate(model, df, draws=draws, start=params, chunk_size=8, verbose=False)
out = {
    "process": jax.process_index(), "processes": jax.process_count(),
    "devices": jax.device_count(), "local_devices": jax.local_device_count(),
    "mesh_size": 1 if lik.mesh is None else lik.mesh.size,
    "ll": float(ll), "grad": np.asarray(grad).tolist(),
    "per_person": np.asarray(values).tolist(), "scores": np.asarray(scores).tolist(),
    "hessian": np.asarray(lik.hessian(u)).tolist(),
    "posterior_means": np.asarray(means).tolist(),
    "fit_loglike": fit.loglike, "fit_converged": bool(fit.converged),
    "fit_estimates": fit.table["estimate"].tolist(), "fit_se": fit.table["se"].tolist(),
    "fit_robust_se": fit.table["robust_se"].tolist(),
}
print(json.dumps(out))
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run_workers(n_processes_list) -> list[subprocess.CompletedProcess]:
    """Start every worker at once (one group of ``n`` processes per entry), wait for all;
    on a timeout kill them all (a process left alone waits forever in a collective)."""
    # one CPU device per process; unoptimised machine code: compiling is most of the time
    env = {**os.environ, "XLA_FLAGS": "--xla_backend_optimization_level=0", "JAX_PLATFORMS": "cpu"}
    launched = []
    for n_processes in n_processes_list:
        port = _free_port()
        for process_id in range(n_processes):
            command = [sys.executable, "-c", WORKER, str(process_id), str(n_processes), str(port)]
            launched.append(
                (
                    command,
                    subprocess.Popen(
                        command,
                        cwd=ROOT,
                        env=env,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        text=True,
                    ),
                )
            )
    finished = []
    try:
        for command, process in launched:
            stdout, stderr = process.communicate(timeout=TIMEOUT_S)
            finished.append(
                subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
            )
    finally:
        for _, process in launched:
            if process.poll() is None:
                process.kill()
                process.wait()
    return finished


def test_two_processes_equal_one_process():
    alone, first, second = _run_workers([1, 2])
    if 3 in (first.returncode, second.returncode):
        pytest.skip(
            "jax.distributed cannot start two CPU processes here: "
            + (first.stderr + second.stderr).strip().splitlines()[-1]
        )
    for run in (alone, first, second):
        assert run.returncode == 0, run.stderr[-3000:]
    one, *two = (json.loads(run.stdout.strip().splitlines()[-1]) for run in (alone, first, second))
    assert (one["processes"], one["mesh_size"]) == (1, 1)
    assert [r["process"] for r in two] == [0, 1]
    for result in two:
        assert (
            result["processes"],
            result["devices"],
            result["local_devices"],
            result["mesh_size"],
        ) == (2, 2, 1, 2)
    assert len(two[0]["per_person"]) == 48
    assert one["fit_converged"] and two[0]["fit_converged"]
    compared = set(one) - {
        "process",
        "processes",
        "devices",
        "local_devices",
        "mesh_size",
        "fit_converged",
    }
    for key in compared:
        # both processes read the same replicated values, bit for bit
        assert two[0][key] == two[1][key], key
        np.testing.assert_allclose(two[0][key], one[key], rtol=1e-10, atol=1e-10, err_msg=key)
