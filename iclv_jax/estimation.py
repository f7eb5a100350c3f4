"""Maximum simulated likelihood estimation: set-up, starting values, the run, results.

``estimate`` validates data, draws once, compiles the likelihood, finds starting values
(defaults, user values, or sequential: measurement and structure first, then the
choice model given them, then everything), runs an optimiser on automatically scaled
parameters (see :mod:`iclv_jax.optimize`), verifies the optimum with the exact
Hessian, and returns :class:`~iclv_jax.results.Results` with classical and robust
standard errors.
"""

from __future__ import annotations

import dataclasses
import sys
import time
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from . import checkpoint as checkpoints
from . import identification
from .data import prepare_data
from .draws import Draws
from .drawsdict import draws_to_dict
from .fitstats import report_fields
from .inference import covariances_held_at_bounds
from .layout import build_layout
from .optimize import (
    BOUNDED_OPTIMIZERS,
    OPTIMIZERS,
    Evaluator,
    Tracker,
    minimise,
    on_active_bound,
    relative_gradient,
    scales_from_curvature,
    verify,
)
from .params import ParameterSpace
from .problem import Problem, start_scales
from .quadrature import AdaptiveQuadrature, readapt
from .results import Results, parameter_table
from .simerror import information_share, on_independent_draws
from .spec import ICLVModel, NoChoice, SpecificationError
from .symmetry import mirror, mirrored_lvs, sign_anchors

__all__ = ["OPTIMIZERS", "Problem", "estimate", "mirror", "relative_gradient", "start_scales"]


def _warn_fixed_start(problem: Problem, start) -> None:
    if isinstance(start, Mapping):
        fixed = sorted(set(start) & set(problem.space.fixed))
        if fixed:
            warnings.warn(
                f"start values given for fixed parameters {fixed} are ignored", stacklevel=4
            )


def check_bounds_kept(space: ParameterSpace, optimizer: str) -> None:
    """Refuse an optimiser that cannot keep the bounds of free parameters."""
    bounded = [name for name in space.bounds if name in space.free_names]
    if bounded and optimizer not in BOUNDED_OPTIMIZERS:
        raise SpecificationError(
            f"optimizer {optimizer!r} cannot keep the bounds on {bounded}; use one of "
            f"{BOUNDED_OPTIMIZERS}"
        )


def _stage_fit(
    model: ICLVModel,
    data,
    draws,
    start,
    optimizer,
    gradient,
    max_iterations,
    chunk_size,
    tracker_args,
) -> tuple[dict, int, list]:
    """Estimate a sub-model without verification; returns reported estimates, iterations
    and the stage's history rows."""
    problem = Problem(model, data, draws, chunk_size=chunk_size)
    check_bounds_kept(problem.space, optimizer)
    evaluator = Evaluator(problem.likelihood, gradient)
    u0 = np.asarray(problem.free_internal(start))
    scales = scales_from_curvature(evaluator.hessian(u0), evaluator.scores(u0)[2])
    tracker = Tracker(blocks=problem.space.blocks(), scales=scales, **tracker_args)
    bounds = problem.space.internal_bounds()
    if isinstance(problem.draws, AdaptiveQuadrature):  # nodes re-adapted between iterations
        u, _, _ = readapt(
            problem,
            Evaluator(problem.adapt(u0), gradient),
            u0,
            lambda ev, v, n: minimise(ev, v, scales, optimizer, n, tracker, bounds=bounds),
            1e-6,
            max_iterations,
            scales,
        )
        return problem.reported(u), tracker.iteration, tracker.history
    u, iterations, _ = minimise(
        evaluator, u0, scales, optimizer, max_iterations, tracker, bounds=bounds
    )
    return problem.reported(u), iterations, tracker.history


def sequential_start(
    model: ICLVModel,
    data,
    draws,
    start=None,
    optimizer="hybrid",
    gradient="autodiff",
    max_iterations=2000,
    chunk_size=None,
    verbose=False,
) -> tuple[dict, dict, list]:
    """Starting values in two stages; returns ``(start values, iterations per stage,
    history rows of both stages)``.

    1. the measurement and structural parts alone (:class:`NoChoice`) on their own
       likelihood;
    2. the choice model with those parameters held fixed (the LVs integrated over the
       same draws);
    3. the caller then estimates everything simultaneously from the result.
    """
    if model.choice.empty:
        raise SpecificationError("sequential starts need a choice model")
    if not model.latent_variables:
        raise SpecificationError(
            "sequential starts need latent variables: a model without them has no "
            "measurement stage; leave start= at its default"
        )
    unfixed = dataclasses.replace(
        model, choice=NoChoice(), fixed={}, bounds={}, random_coefficients=()
    )
    names = build_layout(unfixed, prepare_data(unfixed, data))[0].names
    measurement_model = dataclasses.replace(
        unfixed,
        fixed={k: v for k, v in model.fixed.items() if k in names},
        bounds={k: v for k, v in model.bounds.items() if k in names},
    )
    tracker_args = {"verbose": verbose}
    stage1, n1, history1 = _stage_fit(
        measurement_model,
        data,
        draws,
        start,
        optimizer,
        gradient,
        max_iterations,
        chunk_size,
        {**tracker_args, "stage": "measurement"},
    )
    choice_model = dataclasses.replace(model, fixed={**stage1, **model.fixed})
    stage2, n2, history2 = _stage_fit(
        choice_model,
        data,
        draws,
        start,
        optimizer,
        gradient,
        max_iterations,
        chunk_size,
        {**tracker_args, "stage": "choice"},
    )
    return {**stage2, **stage1}, {"measurement": n1, "choice": n2}, history1 + history2


def estimate(
    model: ICLVModel,
    data: pd.DataFrame,
    draws: int | Draws = 500,
    start=None,
    optimizer: str = "hybrid",
    gradient: str = "autodiff",
    max_iterations: int = 2000,
    tolerance: float = 1e-6,
    chunk_size: int | None = None,
    verbose: bool | None = None,
    checkpoint: str | None = None,
    resume: str | None = None,
    dtype: str = "float64",
    devices=None,
) -> Results:
    """Estimate an ICLV model by maximum simulated likelihood.

    Args:
        model: the specification.
        data: one row per choice situation (see :func:`iclv_jax.prepare_data`).
        draws: a number of scrambled Halton draws per person, or a draws object.
        start: ``None``/``"default"`` (data-based defaults), ``"sequential"``
            (measurement and structure first, then the choice model, then all),
            a function ``start(model, data, draws)`` returning a dict (e.g.
            :func:`~iclv_jax.latent_class_start`: a latent-class model's one-class fit
            spread over the classes), a number for every coefficient, or a dict of
            values by name.
        optimizer: one of :data:`OPTIMIZERS`; ``"hybrid"`` (default) is line-search
            Newton on the BHHH matrix that switches to the exact Hessian where BHHH models
            the likelihood badly (:func:`iclv_jax.optimize.newton.line_search_newton`).
            All run on automatically scaled parameters and end with exact-Hessian Newton
            verification.  With bounds on free parameters only the
            :data:`BOUNDED_OPTIMIZERS` are accepted (a ``SpecificationError`` otherwise).
        gradient: ``"autodiff"`` (default) or ``"analytic"`` (the hand-written scores).
        max_iterations: iteration limit of the optimiser.
        tolerance: the relative-gradient test that defines convergence.
        chunk_size: people per chunk (default: from the problem size and memory).
        verbose: progress line per iteration on stderr; ``None``: only on a terminal.
        checkpoint: a path written atomically after every iteration; one run at a time
            writes it (``<checkpoint>.lock``, see :func:`iclv_jax.checkpoint.locked`).
        resume: a checkpoint to continue from: the same model (every field), data,
            draws, optimizer, gradient and dtype, else :class:`CheckpointError`.
        dtype: ``"float64"`` (default) or ``"float32"`` evaluation of the likelihood
            (the optimiser and the parameters stay float64; sequential starts use float64).
        devices: the devices the people are split over (default: every visible device).
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    with checkpoints.locked(checkpoint):
        verbose = sys.stderr.isatty() if verbose is None else verbose
        began = time.perf_counter()
        identification.check_specification(model)
        problem = Problem(model, data, draws, chunk_size=chunk_size, dtype=dtype, devices=devices)
        check_bounds_kept(problem.space, optimizer)
        identification.check_data(problem.bound, problem.panel)
        evaluator = Evaluator(problem.likelihood, gradient)
        fingerprint = checkpoints.fingerprint(
            problem.space.free_names,
            model,
            problem.panel,
            problem.draws,
            {"optimizer": optimizer, "gradient": gradient, "dtype": dtype},
        )
        saved = checkpoints.read(resume, fingerprint) if resume is not None else None
        stage_iterations: dict[str, int] = {}
        stage_history: list[dict] = []
        if isinstance(start, str) and start == "sequential" and saved is None:
            start, stage_iterations, stage_history = sequential_start(
                model,
                data,
                problem.draws,
                None,
                optimizer,
                gradient,
                max_iterations,
                chunk_size,
                verbose,
            )
        elif start == "sequential":  # resuming: the checkpoint holds the point
            start = None
        elif callable(start):  # e.g. ij.latent_class_start; resuming: the checkpoint's point
            start = None if saved is not None else start(model, data, problem.draws)
        elif isinstance(start, str) and start != "default":
            raise ValueError(
                "start must be 'default', 'sequential', a function, a number or a dict, "
                f"not {start!r}"
            )
        elif start == "default":
            start = None
        _warn_fixed_start(problem, start)
        u0 = np.asarray(problem.free_internal(start))
        if isinstance(problem.draws, AdaptiveQuadrature):  # nodes centred at the start values
            evaluator = Evaluator(problem.adapt(u0), gradient)
        ll_start, _, scores0 = evaluator.scores(u0)
        if not np.isfinite(ll_start):
            raise ValueError(f"the log-likelihood at the start values is {ll_start}")
        scales = (
            scales_from_curvature(evaluator.hessian(u0), scores0)
            if saved is None
            else np.asarray(saved["scales"], dtype=float)
        )
        tracker = Tracker(
            blocks=problem.space.blocks(),
            scales=scales,
            fingerprint=fingerprint,
            checkpoint=checkpoint,
            verbose=verbose,
            history=stage_history,
            began=began,
        )
        tracker.say(  # a resumed run's first LL is its checkpoint's (see _resume)
            f"iclv_jax: {problem.space.n_free} parameters, {problem.panel.n_people} people, "
            f"{problem.draws.n_draws} draws"
            + ("" if saved is not None else f"; LL at start {ll_start:.4f}")
        )
        if saved is not None:
            u0 = _resume(tracker, saved, evaluator, resume)
        bounds = problem.space.internal_bounds()

        def optimise(evaluator: Evaluator, u0) -> tuple[np.ndarray, Evaluator, str]:
            if isinstance(problem.draws, AdaptiveQuadrature):  # nodes re-adapted as it goes
                return readapt(
                    problem,
                    evaluator,
                    u0,
                    lambda ev, v, n: minimise(
                        ev, v, tracker.scales, optimizer, n, tracker, tolerance / 10, bounds
                    ),
                    tolerance,
                    max_iterations,
                    tracker.scales,
                )
            u, _, message = minimise(
                evaluator,
                u0,
                tracker.scales,
                optimizer,
                max_iterations,
                tracker,
                tolerance / 10,
                bounds,
            )
            return u, evaluator, message

        u, evaluator, message = optimise(evaluator, u0)
        final = verify(evaluator, u, tolerance, tracker, bounds=bounds)
        reported = problem.reported(final.internal)
        flipped = mirrored_lvs(model, reported)
        if flipped and final.relative_gradient < tolerance:
            # an optimum at the mirror image: negate its parameters, re-optimise from there
            u0 = np.asarray(problem.free_internal(mirror(model, reported, flipped)))
            if isinstance(problem.draws, AdaptiveQuadrature):
                evaluator = Evaluator(problem.adapt(u0), gradient)
            u, evaluator, message = optimise(evaluator, u0)
            message += (
                f"; {flipped} reached their mirror image, re-optimised from it with "
                "their sign anchors positive"
            )
            final = verify(evaluator, u, tolerance, tracker, bounds=bounds)
        converged = bool(final.relative_gradient < tolerance and final.negative_definite)
        message = f"{message}; {final.newton_steps} Newton verification steps"
        held = on_active_bound(final.internal, final.gradient, *bounds)
        scores = evaluator.scores(final.internal)[2]
        other = on_independent_draws(problem, final.internal)  # simulation error, noise
        share, noisy = information_share(
            problem, final, held, scores, None if other is None else other[1][0]
        )
        if not converged:
            message += (
                f"; NOT converged: relative gradient {final.relative_gradient:.2e}, "
                f"Hessian negative definite: {final.negative_definite}"
            )
        elif noisy.any():
            converged = False
            message += (
                f"; NOT converged: the curvature along some directions is "
                f"simulation noise (information share {share:.3g})"
            )
        if not converged:
            warnings.warn(f"estimation did not converge ({message})", stacklevel=2)
        return _results(
            problem,
            evaluator,
            final,
            tracker,
            converged,
            message,
            optimizer,
            ll_start,
            stage_iterations,
            time.perf_counter() - began,
            verbose,
            held,
            share,
            noisy,
            other,
        )


def _resume(tracker: Tracker, saved: dict, evaluator: Evaluator, path) -> np.ndarray:
    """Put a validated checkpoint's state (all but its scales, which built ``tracker``)
    into ``tracker``; returns its point ``u``, refusing one where the log-likelihood is
    not finite."""
    u = np.asarray(saved["internal"], dtype=float)
    loglike = evaluator.scores(u)[0]
    if not np.isfinite(loglike):
        raise checkpoints.CheckpointError(
            f"checkpoint {str(path)!r}: the log-likelihood at its parameters is {loglike}"
        )
    tracker.iteration, tracker.history = saved["iteration"], list(saved["history"])
    tracker.optimizer_state = dict(saved.get("optimizer_state", {}))
    if saved.get("scaled") is not None:
        tracker.optimizer_state["resume_scaled"] = saved["scaled"]
    tracker.resumed(path, u, loglike)
    return u


def _results(
    problem: Problem,
    evaluator: Evaluator,
    final,
    tracker: Tracker,
    converged: bool,
    message: str,
    optimizer: str,
    ll_start: float,
    stage_iterations: dict,
    seconds: float,
    verbose: bool,
    held: np.ndarray,
    share: float,
    noisy: np.ndarray,
    other: tuple[np.ndarray, np.ndarray] | None,
) -> Results:
    reported, jacobian = problem.likelihood.to_reported.on_host(final.internal)
    names = problem.space.free_names
    at_bound = problem.space.active_bounds(reported)
    active_bounds = {name: at_bound[name] for name, h in zip(names, held, strict=True) if h}
    scores = evaluator.scores(final.internal)[2]
    cov = covariances_held_at_bounds(final.hessian, scores, jacobian, names, held, noisy)
    estimates = dict(zip(problem.space.names, reported.tolist(), strict=True))
    values = np.array([estimates[name] for name in names])
    table = parameter_table(names, values, cov.classical, cov.robust, tuple(active_bounds))
    frame = lambda m: pd.DataFrame(m, index=list(names), columns=list(names))  # noqa: E731
    results = Results(
        table=table,
        estimates=estimates,
        fixed=dict(problem.space.fixed),
        covariance=frame(cov.classical),
        robust_covariance=frame(cov.robust),
        loglike=final.loglike,
        loglike_start=ll_start,
        loglike_null_choice=problem.null_choice_loglike(),
        n_people=problem.panel.n_people,
        n_observations=problem.panel.n_situations,
        converged=converged,
        message=message,
        iterations=sum(1 for h in tracker.history if h["stage"] in ("simultaneous", "newton")),
        gradient_norm=float(np.linalg.norm(final.gradient)),
        relative_gradient=final.relative_gradient,
        smallest_curvature=cov.smallest_curvature,
        optimizer=optimizer,
        draws=draws_to_dict(problem.draws),
        seconds=seconds,
        scales=dict(zip(names, np.asarray(tracker.scales).tolist(), strict=True)),
        history=pd.DataFrame(tracker.history),
        stage_iterations=stage_iterations,
        missing_answers=dict(problem.panel.missing_answers),
        active_bounds=active_bounds,
        sign_anchors=sign_anchors(problem.model),
        information_share=share,
        model=problem.model,
        **report_fields(
            problem, evaluator.likelihood, final, scores, held, other, jacobian, table["se"]
        ),
    )
    if active_bounds:
        warnings.warn(
            f"estimates at a bound: {active_bounds}; their standard errors are "
            "NaN (the others' treat them as fixed at the bound)",
            stacklevel=3,
        )
    if verbose:
        print(
            f"iclv_jax: done in {seconds:.1f} s, LL {final.loglike:.4f}, converged={converged}",
            file=sys.stderr,
        )
    return results
