"""People split over several devices give the single-device values: the likelihood,
its autodiff and analytic derivatives, and a post-estimation output (predicted choice
probabilities with their derivatives along a scaling of the attributes, as
:func:`iclv_jax.elasticities` takes them).

Two CPU devices are simulated with ``--xla_force_host_platform_device_count=2``, which
must be set before JAX starts: the comparison runs in a subprocess.
"""

import numpy as np
from helpers import json_on_two_devices

SCRIPT = """
import json
import jax
import jax.numpy as jnp
import numpy as np
import iclv_jax as ij
from iclv_jax import analytic, datasets, elasticity

assert jax.device_count() == 2, jax.devices()
df, model, params = datasets.beverage_one_lv(n_people=61, seed=3)
out = {}
for name, draws in (("halton", ij.Halton(16, seed=1)), ("adaptive", ij.AdaptiveQuadrature(3))):
    one = ij.Problem(model, df, draws=draws, chunk_size=8, devices=jax.devices()[:1])
    two = ij.Problem(model, df, draws=draws, chunk_size=8)
    u = one.free_internal(params)
    out[name] = {
        "mesh_size": two.likelihood.mesh.size,
        "zeta_devices": len(two.likelihood.zeta.sharding.device_set),
        "one_mesh": one.likelihood.mesh is None,
    }
    for label, lik in (("one", one.likelihood), ("two", two.likelihood)):
        ll, grad = lik.loglike_and_grad(u)
        out[name][label] = {"ll": float(ll), "grad": np.asarray(grad).tolist()}
        if name == "halton":  # the other outputs on one case: enough, and fast
            values, scores = lik.per_person_and_scores(u)
            analytic_values, analytic_scores = analytic.per_person_and_scores(lik, u)
            scale = jnp.ones((1,) + lik.panel.design.shape[2:])  # every attribute
            probabilities, derivatives = elasticity.probabilities_and_tangents(
                lik, u, "all", scale, jnp.eye(1))
            out[name][label].update(
                ll_alone=float(lik.loglike(u)), per_person=np.asarray(values).tolist(),
                scores=np.asarray(scores).tolist(), hessian=np.asarray(lik.hessian(u)).tolist(),
                analytic_grad=np.asarray(analytic.loglike_and_grad(lik, u)[1]).tolist(),
                analytic_per_person=np.asarray(analytic_values).tolist(),
                analytic_scores=np.asarray(analytic_scores).tolist(),
                probabilities=np.asarray(probabilities).tolist(),
                elasticity_derivatives=np.asarray(derivatives).tolist())
print(json.dumps(out))
"""


def test_two_devices_equal_one_device():
    # unoptimised machine code: compiling is most of the time, and both sides share it
    results = json_on_two_devices(SCRIPT, "--xla_backend_optimization_level=0")
    assert len(results["halton"]["two"]["per_person"]) == 61
    assert {
        "grad",
        "hessian",
        "scores",
        "ll_alone",
        "analytic_grad",
        "analytic_scores",
        "probabilities",
        "elasticity_derivatives",
    } <= set(results["halton"]["two"])
    for name, result in results.items():
        assert result["mesh_size"] == 2 and result["zeta_devices"] == 2, name
        assert result["one_mesh"], name
        one, two = result["one"], result["two"]
        assert abs(one["ll"] - two["ll"]) < 1e-10, name
        for key in set(one) - {"ll"}:
            np.testing.assert_allclose(
                two[key], one[key], rtol=1e-10, atol=1e-10, err_msg=f"{name}: {key}"
            )
