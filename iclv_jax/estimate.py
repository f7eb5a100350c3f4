"""Maximum simulated likelihood estimation.

The optimiser works on ``v = u / s``: ``u`` the internal parameters (see params.py)
and ``s`` per-parameter scales from the BHHH diagonal at the start,
``s_i = (mean_n s_ni^2)^{-1/2}``, so that every coordinate has unit curvature to
first order whatever the units of the data (raw prices of 1,000-5,000 included).
A trust-region (BHHH by default) or quasi-Newton run is followed by Newton steps with
the exact Hessian until the relative gradient
``max_i |g_i| max(|u_i|, 1) / max(|log L|, 1)`` is below the tolerance and the Hessian
is negative definite: a verified optimum, not an assumed one.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import scipy.optimize

from .data import Panel, prepare_data
from .draws import Draws, as_draws
from .inference import covariances, weakest_direction
from .layout import build_layout
from .likelihood import DEFAULT_MEMORY_BYTES, SimulatedLikelihood, build_likelihood
from .params import ParameterSpace
from .results import Results, parameter_table
from .spec import BinaryProbit, ICLVModel, MultinomialLogit

OPTIMIZERS = ("bhhh", "bfgs", "lbfgsb", "trust-exact")


class Problem:
    """A model, its validated data and draws, and the compiled likelihood.

    ``loglike(params)`` evaluates the simulated log-likelihood at reported parameter
    values (a dict by name; missing names take their defaults).
    """

    def __init__(self, model: ICLVModel, data: pd.DataFrame, draws: int | Draws = 500,
                 chunk_size: int | None = None, memory_bytes: int = DEFAULT_MEMORY_BYTES):
        self.model = model
        self.draws = as_draws(draws)
        self.panel: Panel = prepare_data(model, data)
        self.space: ParameterSpace
        self.space, self.layout = build_layout(model, self.panel)
        defaults = self.space.to_internal(self.space.start_reported(None))
        normals = self.draws.normals(self.panel.n_people, len(model.lv_names))
        self.likelihood: SimulatedLikelihood = build_likelihood(
            self.space, self.layout, self.panel, normals, self.draws.log_weights(), defaults,
            chunk_size=chunk_size, memory_bytes=memory_bytes,
        )

    def free_internal(self, params=None) -> jnp.ndarray:
        """Free internal vector ``u`` from reported values (dict, number or None)."""
        internal = self.space.to_internal(self.space.start_reported(params))
        return jnp.asarray(internal[self.space.free_index])

    def reported(self, free_internal) -> dict[str, float]:
        values = np.asarray(self.likelihood.to_reported(jnp.asarray(free_internal)))
        return dict(zip(self.space.names, values.tolist(), strict=True))

    def loglike(self, params=None) -> float:
        return float(self.likelihood.loglike(self.free_internal(params)))

    def null_choice_loglike(self) -> float | None:
        """Choice LL with every choice parameter zero (equal shares), where defined."""
        mask = self.panel.situation_mask
        if isinstance(self.model.choice, BinaryProbit):
            return float(mask.sum() * np.log(0.5))
        if isinstance(self.model.choice, MultinomialLogit):
            return float(-np.log(self.panel.available.sum(axis=2))[mask].sum())
        return None


def relative_gradient(gradient, internal, loglike) -> float:
    """``max_i |g_i| max(|u_i|, 1) / max(|log L|, 1)`` (Biogeme's stopping quantity)."""
    gradient, internal = np.asarray(gradient), np.asarray(internal)
    return float(np.max(np.abs(gradient) * np.maximum(np.abs(internal), 1.0))
                 / max(abs(float(loglike)), 1.0))


class _Progress:
    """Prints iteration, log-likelihood and gradient norm, at most every ``every`` s."""

    def __init__(self, verbose: bool, every: float = 2.0):
        self.verbose, self.every, self.last = verbose, every, -np.inf
        self.iteration = 0

    def __call__(self, stage: str, loglike: float, gradient_norm: float, force=False):
        self.iteration += stage != "newton"
        now = time.perf_counter()
        if self.verbose and (force or now - self.last >= self.every):
            self.last = now
            print(f"  [{stage}] iter {self.iteration:4d}  LL {loglike:.6f}  "
                  f"|grad| {gradient_norm:.3e}", file=sys.stderr, flush=True)


class _ScaledObjective:
    """``f(v) = -log L(s v) / N`` with its gradient and Hessian approximations.

    Evaluations are cached by point, so SciPy's separate ``fun``/``jac``/``hess`` calls
    cost one likelihood pass.  A non-finite log-likelihood returns ``+inf`` (a
    rejected step), never a NaN.
    """

    def __init__(self, likelihood: SimulatedLikelihood, scales: np.ndarray,
                 progress: _Progress, stage: str):
        self.likelihood, self.scales, self.progress, self.stage = (
            likelihood, scales, progress, stage)
        self.n = likelihood.n_people
        self._key, self._value = None, None

    def _evaluate(self, v, with_scores: bool):
        key = (v.tobytes(), with_scores)
        if self._key != key:
            u = jnp.asarray(v * self.scales)
            if with_scores:
                per_person, scores = self.likelihood.per_person_and_scores(u)
                ll, scores = float(per_person.sum()), np.asarray(scores)
                grad = scores.sum(axis=0)
            else:
                ll, grad = self.likelihood.loglike_and_grad(u)
                ll, grad, scores = float(ll), np.asarray(grad), None
            self._key, self._value = key, (ll, grad, scores)
        return self._value

    def value_and_grad(self, v, with_scores=False):
        ll, grad, _ = self._evaluate(v, with_scores)
        if not np.isfinite(ll) or not np.all(np.isfinite(grad)):
            return np.inf, np.zeros_like(v)
        return -ll / self.n, -grad * self.scales / self.n

    @staticmethod
    def _finite(matrix):
        """A rejected (non-finite) point still needs a finite matrix for SciPy."""
        return matrix if np.all(np.isfinite(matrix)) else np.eye(len(matrix))

    def bhhh(self, v):
        _, _, scores = self._evaluate(v, True)
        scaled = scores * self.scales
        return self._finite(scaled.T @ scaled / self.n)

    def exact_hessian(self, v):
        h = np.asarray(self.likelihood.hessian(jnp.asarray(v * self.scales)))
        return self._finite(-h * np.outer(self.scales, self.scales) / self.n)

    def report(self, v):
        ll, grad, _ = self._value
        self.progress(self.stage, ll, float(np.linalg.norm(grad)))


def bhhh_scales(likelihood: SimulatedLikelihood, u0) -> np.ndarray:
    """``s_i = (mean_n s_ni^2)^{-1/2}`` from the per-person scores at the start
    (1 where a score is zero for everyone)."""
    scores = np.asarray(likelihood.scores(u0))
    curvature = np.mean(scores**2, axis=0)
    safe = np.where(curvature > 1e-12, curvature, 1.0)
    return np.where(curvature > 1e-12, 1.0 / np.sqrt(safe), 1.0)


def _minimise(likelihood: SimulatedLikelihood, u0, scales, method: str, max_iterations: int,
              progress: _Progress):
    """Run one of :data:`OPTIMIZERS` in ``v = u / s``; returns ``(u, iterations, message)``.

    ``bhhh``: SciPy's trust region (``trust-exact``) with the BHHH matrix
    ``sum_n s_n s_n' / N`` as Hessian; ``trust-exact``: the same with the exact
    Hessian; ``bfgs``, ``lbfgsb``: SciPy's quasi-Newton methods.
    """
    with_scores = method == "bhhh"
    objective = _ScaledObjective(likelihood, scales, progress, method)
    fun = lambda v: objective.value_and_grad(v, with_scores)  # noqa: E731
    v0 = np.asarray(u0) / scales
    if method in ("bhhh", "trust-exact"):
        hess = objective.bhhh if method == "bhhh" else objective.exact_hessian
        result = scipy.optimize.minimize(
            fun, v0, jac=True, hess=hess, method="trust-exact", callback=objective.report,
            options={"maxiter": max_iterations, "gtol": 1e-8})
    else:
        options = {"maxiter": max_iterations, "gtol": 1e-9}
        if method == "lbfgsb":
            options.update(ftol=1e-15, maxcor=20)
        result = scipy.optimize.minimize(
            fun, v0, jac=True, method={"bfgs": "BFGS", "lbfgsb": "L-BFGS-B"}[method],
            callback=objective.report, options=options)
    return jnp.asarray(result.x * scales), int(result.nit), str(result.message)


def _newton_polish(likelihood: SimulatedLikelihood, u, tolerance: float, progress: _Progress,
                   max_steps: int = 8):
    """Exact-Hessian Newton steps with step halving until the optimum is verified.

    Returns ``(u, log L, gradient, Hessian, steps)`` at the final point.
    """
    ll, grad = likelihood.loglike_and_grad(u)
    for step in range(max_steps + 1):
        hessian = np.asarray(likelihood.hessian(u))
        negative_definite = np.all(np.linalg.eigvalsh(-hessian) > 0)
        if (relative_gradient(grad, u, ll) < tolerance and negative_definite) or step == max_steps:
            return u, float(ll), np.asarray(grad), hessian, step
        direction = (np.linalg.solve(-hessian, np.asarray(grad)) if negative_definite
                     else np.asarray(grad) / max(1.0, np.max(np.abs(np.diag(hessian)))))
        for _ in range(30):
            candidate = u + direction
            ll_new, grad_new = likelihood.loglike_and_grad(candidate)
            if np.isfinite(float(ll_new)) and float(ll_new) >= float(ll) - 1e-12 * abs(float(ll)):
                u, ll, grad = candidate, ll_new, grad_new
                break
            direction = direction / 2
        else:
            return u, float(ll), np.asarray(grad), hessian, step
        progress("newton", float(ll), float(np.linalg.norm(grad)), force=True)
    raise AssertionError("unreachable")


def _start_values(problem: Problem, start) -> jnp.ndarray:
    if isinstance(start, Mapping):
        fixed = sorted(set(start) & set(problem.space.fixed))
        if fixed:
            warnings.warn(f"start values given for fixed parameters {fixed} are ignored",
                          stacklevel=3)
    return problem.free_internal(start)


def estimate(model: ICLVModel, data: pd.DataFrame, draws: int | Draws = 500, start=None,
             optimizer: str = "bhhh", max_iterations: int = 2000, tolerance: float = 1e-6,
             chunk_size: int | None = None, verbose: bool = True) -> Results:
    """Estimate an ICLV model by maximum simulated likelihood.

    Args:
        model: the specification.
        data: one row per choice situation (see :func:`iclv_jax.prepare_data`).
        draws: a number of scrambled Halton draws per person, or a draws object.
        start: ``None`` (defaults), a number for every coefficient, or a dict by name.
        optimizer: ``"bhhh"`` (default: trust region on the BHHH matrix), ``"bfgs"``,
            ``"lbfgsb"`` or ``"trust-exact"`` (exact Hessian); each on BHHH-scaled
            parameters and followed by exact-Hessian Newton verification.
        max_iterations: iteration limit of the optimiser.
        tolerance: the relative-gradient test that defines convergence.
        chunk_size: people per chunk (default: from the problem size).
        verbose: print progress (iteration, log-likelihood, gradient norm) to stderr.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    began = time.perf_counter()
    problem = Problem(model, data, draws, chunk_size=chunk_size)
    likelihood = problem.likelihood
    u0 = _start_values(problem, start)
    ll_start = float(likelihood.loglike(u0))
    if not np.isfinite(ll_start):
        raise ValueError(f"the log-likelihood at the start values is {ll_start}")
    progress = _Progress(verbose)
    scales = bhhh_scales(likelihood, u0)
    if verbose:
        print(f"iclv_jax: {problem.space.n_free} parameters, {problem.panel.n_people} people, "
              f"{problem.draws.n_draws} draws; LL at start {ll_start:.4f}", file=sys.stderr)
    u, iterations, message = _minimise(likelihood, u0, scales, optimizer, max_iterations,
                                       progress)
    u, ll, grad, hessian, newton_steps = _newton_polish(likelihood, u, tolerance, progress)
    rel_grad = relative_gradient(grad, u, ll)
    curvature, _ = weakest_direction(hessian, problem.space.free_names)
    converged = bool(rel_grad < tolerance and curvature > 0)
    message = f"{message}; {newton_steps} Newton verification steps"
    if not converged:
        message += f"; NOT converged: relative gradient {rel_grad:.2e}"
        warnings.warn(f"estimation did not converge ({message})", stacklevel=2)

    free = problem.space.free_index
    jacobian = np.asarray(jax.jacobian(lambda v: likelihood.to_reported(v)[free])(u))
    cov = covariances(hessian, np.asarray(likelihood.scores(u)), jacobian,
                      problem.space.free_names)
    estimates = problem.reported(u)
    names = problem.space.free_names
    values = np.array([estimates[name] for name in names])
    frame = lambda m: pd.DataFrame(m, index=list(names), columns=list(names))  # noqa: E731
    results = Results(
        table=parameter_table(names, values, cov.classical, cov.robust),
        estimates=estimates,
        fixed=dict(problem.space.fixed),
        covariance=frame(cov.classical),
        robust_covariance=frame(cov.robust),
        loglike=ll,
        loglike_start=ll_start,
        loglike_null_choice=problem.null_choice_loglike(),
        n_people=problem.panel.n_people,
        n_observations=problem.panel.n_situations,
        converged=converged,
        message=message,
        iterations=iterations + newton_steps,
        gradient_norm=float(np.linalg.norm(grad)),
        relative_gradient=rel_grad,
        smallest_curvature=cov.smallest_curvature,
        optimizer=optimizer,
        draws=repr(problem.draws),
        seconds=time.perf_counter() - began,
        scales=dict(zip(names, scales.tolist(), strict=True)),
    )
    if verbose:
        print(f"iclv_jax: done in {results.seconds:.1f} s, LL {ll:.4f}, "
              f"converged={converged}", file=sys.stderr)
    return results
