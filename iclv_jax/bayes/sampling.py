"""``sample``: posterior draws of an ICLV model's parameters by NUTS (NumPyro).

The sampler is NumPyro's NUTS on a potential function (``-log p(z | y)`` of
:mod:`iclv_jax.bayes.target`): NumPyro is maintained, its NUTS adapts the step size and
a mass matrix in windows (Stan's scheme), runs chains vectorised on one device or in
parallel over several, shows progress, and ships split R-hat and ESS; BlackJAX has the
same kernels but leaves warm-up, chains and diagnostics to the caller.

Every run starts from the maximum (simulated) likelihood estimate: the chains start at
``z ~ N(0, I)``, i.e. around the mode with the spread of the asymptotic covariance, which
also preconditions the sampler (see :mod:`iclv_jax.bayes.target`).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..draws import Draws, Halton
from ..drawsdict import draws_to_dict
from ..estimation import estimate
from ..problem import Problem
from ..results import Results
from ..spec import ICLVModel
from .augmented import conditional_errors, lv_summary
from .blocks import FIELDS, run_in_blocks
from .extra import import_numpyro
from .mode import floored_covariance, posterior_mode
from .posterior_samples import Posterior
from .priors import Prior, resolve_priors, warn_informative_defaults
from .target import AugmentedTarget, IntegratedTarget, box_from_bounds

__all__ = ["FORMULATIONS", "sample"]

FORMULATIONS = ("integrated", "augmented")


def _inside_box(u: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """``u`` moved 1% of ``max(1, |bound|)`` inside a bound it sits on (an estimate on a
    bound has no interior neighbourhood for the box map)."""
    margin_low = 0.01 * np.maximum(1.0, np.abs(np.where(np.isfinite(lower), lower, 0.0)))
    margin_up = 0.01 * np.maximum(1.0, np.abs(np.where(np.isfinite(upper), upper, 0.0)))
    return np.minimum(np.maximum(u, lower + margin_low), upper - margin_up)


def parameter_target(problem: Problem, u_hat: np.ndarray, priors) -> IntegratedTarget:
    """The integrated target preconditioned at the posterior mode found from the MLE
    ``u_hat`` (free internal; see :mod:`iclv_jax.bayes.mode`)."""
    space = problem.space
    lower, upper = space.internal_bounds()
    box = box_from_bounds(lower, upper)
    to_reported = problem.likelihood.to_reported
    free = np.asarray(to_reported.free_index)
    exponentiated = (np.asarray(to_reported.is_log) | np.asarray(to_reported.exp_increment))[free]
    target = IntegratedTarget(
        likelihood=problem.likelihood,
        priors=priors,
        box=box,
        centre=jnp.zeros(len(free)),
        cholesky=jnp.eye(len(free)),
        exponentiated=jax.device_put(exponentiated),
    )
    mode, negative_hessian = posterior_mode(target, box.inverse(_inside_box(u_hat, lower, upper)))
    cholesky = np.linalg.cholesky(floored_covariance(negative_hessian))
    return eqx.tree_at(
        lambda t: (t.centre, t.cholesky),
        target,
        (jax.device_put(mode), jax.device_put(cholesky)),
    )


def _target(model, data, formulation, problem, u_hat, priors, chains, rng, devices):
    """The target and the chains' starting vectors ``(chains, dim)``."""
    parameters = parameter_target(problem, u_hat, priors)
    z_theta = rng.standard_normal((chains, parameters.n_params))
    if formulation == "integrated":
        return parameters, z_theta
    augmented_problem = Problem(
        model,
        data,
        Halton(1),
        chunk_size=problem.likelihood.chunk_size,
        devices=devices,
    )
    errors = conditional_errors(problem, u_hat, chains, rng)
    target = AugmentedTarget(
        eqx.tree_at(lambda t: t.likelihood, parameters, augmented_problem.likelihood),
        n_people=errors.shape[1],
        n_dims=errors.shape[2],
    )
    return target, np.concatenate([z_theta, errors.reshape(chains, -1)], axis=1)


def _chain_method(chains: int, chain_method: str | None) -> str:
    """``parallel`` (one chain per device) where there are enough devices, else
    ``vectorized`` (chains ``vmap``-ed on one device)."""
    if chain_method is not None:
        return chain_method
    return "parallel" if jax.local_device_count() >= chains > 1 else "vectorized"


def _run_nuts(target, init, settings: dict, progress, options, checkpoint, resume, every):
    """NumPyro's NUTS on ``-target``: ``(z, extra fields, last state)``, all chains; with
    a ``checkpoint`` path in blocks of ``every`` kept iterations (see
    :mod:`iclv_jax.bayes.blocks`)."""
    infer = import_numpyro().infer
    kernel = infer.NUTS(potential_fn=lambda z: -target(z), **options)

    def make_mcmc(n: int):
        return infer.MCMC(
            kernel,
            num_warmup=settings["num_warmup"],
            num_samples=n,
            num_chains=settings["chains"],
            chain_method=settings["chain_method"],
            progress_bar=progress,
        )

    key, init = jax.random.PRNGKey(settings["seed"]), jnp.asarray(init)
    if checkpoint is not None:
        if resume:  # a fresh kernel: init builds its step function, for all chains at once
            vectorized = settings["chain_method"] == "vectorized"  # as NumPyro calls it
            keys, starts = (
                (jax.random.split(key, len(init)), init) if vectorized else (key, init[0])
            )
            kernel.init(keys, settings["num_warmup"], starts, model_args=(), model_kwargs={})
        return run_in_blocks(
            make_mcmc,
            init,
            settings["seed"],
            settings["num_samples"],
            every,
            Path(checkpoint),
            settings,
            resume,
        )
    mcmc = make_mcmc(settings["num_samples"])
    mcmc.run(key, init_params=init, extra_fields=FIELDS)
    z = np.asarray(mcmc.get_samples(group_by_chain=True))  # awaits the asynchronous run
    extra = mcmc.get_extra_fields(group_by_chain=True)
    return z, {k: np.asarray(extra[k]) for k in FIELDS}, mcmc.last_state


def _reported_samples(parameters: IntegratedTarget, z: np.ndarray):
    """``(chains, draws, F)`` reported free parameters and ``(chains * draws, F)`` free
    internal ones of the sampled ``z`` (its first ``F`` entries)."""
    z_theta = jnp.asarray(z[..., : parameters.n_params])
    reported = jax.jit(jax.vmap(jax.vmap(parameters.reported)))(z_theta)
    internal = jax.jit(jax.vmap(parameters.internal))(z_theta.reshape(-1, z_theta.shape[-1]))
    return np.asarray(reported), internal


def sample(
    model: ICLVModel,
    data: pd.DataFrame,
    draws: int | Draws = 500,
    priors: Mapping[str, Prior] | None = None,
    formulation: str = "integrated",
    num_warmup: int = 500,
    num_samples: int = 1000,
    chains: int = 4,
    seed: int = 0,
    start: Results | Mapping[str, float] | None = None,
    target_accept: float = 0.8,
    max_tree_depth: int = 10,
    chain_method: str | None = None,
    progress: bool | None = None,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    checkpoint_every: int = 100,
) -> Posterior:
    """Posterior draws of ``model``'s parameters given ``data``, by NUTS.

    Args:
        draws: the simulation draws or quadrature rule of the integrated likelihood
            (``formulation="integrated"``); with ``"augmented"`` they serve only the
            maximum-likelihood start and the starting LV errors.
        priors: prior by parameter name (:mod:`iclv_jax.bayes.priors`); the others take
            the weak defaults (``Normal(0, 100)``; ``LogNormal(0, 10)`` for scales).
        formulation: ``"integrated"`` (the LVs integrated out, as in MSL) or
            ``"augmented"`` (every person's LV and random-coefficient errors sampled
            too: no simulation error, ``N x D`` more dimensions).
        num_warmup, num_samples, chains, seed: NUTS warm-up and kept iterations per
            chain, the number of chains, the seed of the sampler and the starts.
        start: the maximum-likelihood :class:`~iclv_jax.Results` to start from (else
            :func:`~iclv_jax.estimate` runs first, from ``start`` values if a dict).
        target_accept, max_tree_depth: NUTS settings.
        chain_method: NumPyro's ``"parallel"`` / ``"vectorized"`` / ``"sequential"``
            (default: parallel where there is a device per chain, else vectorized).
        progress: NumPyro's progress bar (default: on a terminal only).
        checkpoint: a file for the chains' state after the warm-up and after every
            ``checkpoint_every`` kept iterations (:mod:`iclv_jax.bayes.blocks`);
            ``resume=True`` continues the run saved there (the same settings, else
            :class:`~iclv_jax.CheckpointError`) with the draws an uninterrupted run
            gives.
    """
    if formulation not in FORMULATIONS:
        raise ValueError(f"formulation must be one of {FORMULATIONS}, got {formulation!r}")
    numpyro = import_numpyro()
    progress = sys.stderr.isatty() if progress is None else progress
    method = _chain_method(chains, chain_method)
    # parallel chains: one chain per device, each with the whole likelihood on its device
    devices = jax.devices()[:1] if method == "parallel" else None
    problem = Problem(model, data, draws, devices=devices)
    space = problem.space
    free_parameters = tuple(space.parameters[i] for i in space.free_index)
    prior_list = resolve_priors(free_parameters, priors)
    mle = (
        start
        if isinstance(start, Results)
        else estimate(model, data, draws, start, verbose=progress)
    )
    u_hat = np.asarray(problem.free_internal({k: mle.estimates[k] for k in space.names}))
    warn_informative_defaults(
        free_parameters,
        prior_list,
        set(priors or {}),
        np.array([mle.estimates[name] for name in space.free_names]),
        mle.table["se"].reindex(list(space.free_names)).to_numpy(dtype=float),
    )
    problem.adapt(jnp.asarray(u_hat))  # adaptive quadrature: nodes at the mode, then held
    rng = np.random.default_rng(seed)
    target, init = _target(
        model, data, formulation, problem, u_hat, prior_list, chains, rng, devices
    )
    options = {"target_accept_prob": target_accept, "max_tree_depth": max_tree_depth}
    settings = {
        "formulation": formulation,
        "num_warmup": num_warmup,
        "num_samples": num_samples,
        "chains": chains,
        "chain_method": method,
        "seed": seed,
        "dimension": int(init.shape[1]),
        "draws": draws_to_dict(problem.draws),
        "parameters": list(space.free_names),
    }
    began = time.perf_counter()
    z, extra, last_state = _run_nuts(
        target, init, settings, progress, options, checkpoint, resume, checkpoint_every
    )
    seconds = time.perf_counter() - began
    reported, internal = _reported_samples(target.parameters, z)
    lvs = None
    if formulation == "augmented":
        errors = z[..., target.parameters.n_params :].reshape(-1, target.n_people, target.n_dims)
        lvs = lv_summary(problem, target.parameters.likelihood, internal, errors)
    return Posterior(
        samples={name: reported[..., i] for i, name in enumerate(space.free_names)},
        fixed=dict(space.fixed),
        priors={
            p.name: prior.describe() for p, prior in zip(free_parameters, prior_list, strict=True)
        },
        formulation=formulation,
        draws=draws_to_dict(problem.draws) if formulation == "integrated" else None,
        sampler={
            "library": f"numpyro {numpyro.__version__}",
            "algorithm": "NUTS",
            "num_warmup": num_warmup,
            "num_samples": num_samples,
            "chains": chains,
            "chain_method": method,
            "seed": seed,
            "seconds": seconds,
            "mean_accept_prob": float(np.mean(extra["accept_prob"])),
            "mean_num_steps": float(np.mean(extra["num_steps"])),
            "step_size": np.atleast_1d(np.asarray(last_state.adapt_state.step_size)).tolist(),
            "dimension": int(init.shape[1]),
        },
        diverging=np.asarray(extra["diverging"], dtype=bool),
        mle={name: float(mle.estimates[name]) for name in space.free_names},
        lv_summary=lvs,
        model=model,
    )
