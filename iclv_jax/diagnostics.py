"""Gradient diagnostics: check, frozen-gradient detection, block scales.

The seed project failed twice without noticing (see the project notes): a hand-written
structural gradient that ignored the chain rule stayed frozen at the same value for
nine iterations, and raw prices made the choice gradient ~10,000 times larger than the
structural one.  This module makes both visible at once.

A *gradient* is any callable ``gradient_fn(likelihood, free_internal) -> (loglike,
grad)`` on a :class:`~iclv_jax.likelihood.SimulatedLikelihood`; the names
``"autodiff"`` (:meth:`SimulatedLikelihood.loglike_and_grad`, the truth) and
``"analytic"`` (:func:`iclv_jax.analytic.loglike_and_grad`, the hand-written witness)
resolve to one.  All gradients here are with respect to the free *internal*
parameters ``u`` (see :mod:`iclv_jax.params`) unless said otherwise.

- :func:`check_gradients`: autodiff, analytic and central finite differences per
  parameter, with relative differences ``|a - b| / max(|a|, |b|, floor)``.
- :func:`detect_frozen`: for each parameter ``i``, moves ``u_i`` both ways and checks
  that the implementation's gradient responds as autodiff's Hessian-vector product
  ``H e_i`` says it must (``jax.jvp`` of the autodiff gradient: no dense Hessian is
  formed by differentiation).  Verdicts: ``ok``, ``wrong gradient code`` or
  ``flat likelihood / unidentified``.
- :func:`detect_frozen_path`: along an optimiser's iterates, any parameter whose
  gradient stayed identical to 9 significant digits over 3 or more iterations while
  its value changed (the seed's symptom).
- :func:`gradient_scales`: mean ``|d log L / d theta|`` per block (structural,
  measurement, LV coefficients in the choice model, other choice parameters) and the
  ratios between blocks, raw and after the estimator's scaling.

Scales.  Finite-difference steps and the "typical curvature" against which a
curvature counts as zero are taken in the coordinates ``v = u / s`` with the BHHH
scales ``s_i = (mean_n s_ni^2)^{-1/2}`` the estimator uses (``s_ni`` the per-person
autodiff scores): in ``v`` every parameter's squared scores sum to ``N`` whatever the
units of the data (raw prices of 1,000-5,000 included), and near the optimum its
curvature is of order ``N`` too (the information equality).

Planted bugs (for demonstrations and tests): :class:`SeedStructuralScores` (the
seed's structural derivative), :class:`FlippedThresholdScores` (a sign error in one
ordered-indicator threshold derivative), :func:`analytic_gradient_with` and
:func:`seed_gradient`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from jax import lax
from jax.nn import softmax

from .analytic import CUSTOM_NOT_COVERED, AnalyticScores
from .analytic import loglike_and_grad as _analytic_loglike_and_grad
from .draws import Draws
from .estimation import Problem, start_scales
from .layout import EXTRAS
from .likelihood import SimulatedLikelihood
from .optimize import scales_from_curvature

__all__ = [
    "FlippedThresholdScores",
    "FrozenReport",
    "GradientCheck",
    "GradientScales",
    "PathReport",
    "SeedStructuralScores",
    "analytic_gradient",
    "analytic_gradient_with",
    "autodiff_gradient",
    "check_gradients",
    "detect_frozen",
    "detect_frozen_path",
    "finite_difference_gradient",
    "finite_steps",
    "gradient_scales",
    "hessian_vector_products",
    "natural_scales",
    "parameter_groups",
    "reported_gradient",
    "resolve_gradient",
    "seed_gamma_values",
    "seed_gradient",
]

GradientFn = Callable[[SimulatedLikelihood, jax.Array], tuple[jax.Array, jax.Array]]

EPS = float(np.finfo(np.float64).eps)
WRONG, FLAT, OK = "wrong gradient code", "flat likelihood / unidentified", "ok"
BLOCK_LABELS = {
    "structural": "structural",
    "measurement": "measurement",
    "choice_lv": "choice: LV coefficients",
    "choice_other": "choice: other",
}


# --- gradients, problems, scales ------------------------------------------------------

def autodiff_gradient(likelihood: SimulatedLikelihood, free_internal):
    """``(log L, d log L / du)`` by autodiff (the truth)."""
    return likelihood.loglike_and_grad(free_internal)


def analytic_gradient(likelihood: SimulatedLikelihood, free_internal):
    """``(log L, d log L / du)`` by the hand-written scores of :mod:`iclv_jax.analytic`."""
    return _analytic_loglike_and_grad(likelihood, free_internal)


def resolve_gradient(gradient: str | GradientFn) -> tuple[str, GradientFn]:
    """``(name, callable)`` for ``"autodiff"``, ``"analytic"`` or a callable."""
    if callable(gradient):
        return getattr(gradient, "__name__", type(gradient).__name__), gradient
    named = {"autodiff": autodiff_gradient, "analytic": analytic_gradient}
    if gradient not in named:
        raise ValueError(
            f"gradient must be 'autodiff', 'analytic' or a callable "
            f"(likelihood, free_internal) -> (loglike, grad), got {gradient!r}")
    return gradient, named[gradient]


def analytic_gradient_with(scores: AnalyticScores, name: str | None = None) -> GradientFn:
    """The analytic gradient with some per-component derivatives replaced by ``scores``."""

    def gradient(likelihood, free_internal):
        return _analytic_loglike_and_grad(likelihood, free_internal, scores)

    gradient.__name__ = name or f"analytic[{type(scores).__name__}]"
    return gradient


def _problem(model, data, draws, chunk_size) -> Problem:
    """``model`` may already be a :class:`~iclv_jax.Problem` (``data`` None)."""
    if isinstance(model, Problem):
        if data is not None:
            raise ValueError("pass data=None together with a Problem")
        return model
    if data is None:
        raise ValueError("data is required (or pass a Problem as the first argument)")
    return Problem(model, data, draws, chunk_size=chunk_size)


def _free_internal(problem: Problem, params) -> jax.Array:
    """``params``: reported values as :meth:`Problem.free_internal` accepts (dict by
    name, a number, ``None``), or an array of the ``F`` free internal values."""
    if isinstance(params, (np.ndarray, jax.Array)):
        u = jnp.asarray(params, dtype=float)
        if u.shape != (problem.space.n_free,):
            raise ValueError(f"an array of params must hold the {problem.space.n_free} "
                             f"free internal values, got shape {u.shape}")
        return u
    return problem.free_internal(params)


def natural_scales(likelihood: SimulatedLikelihood, free_internal) -> np.ndarray:
    """BHHH scales ``s_i = (mean_n s_ni^2)^{-1/2}`` at ``u`` from the per-person autodiff
    scores (1 where every score is 0; :func:`iclv_jax.optimize.scales_from_curvature`
    without a Hessian)."""
    return scales_from_curvature(None, np.asarray(likelihood.scores(jnp.asarray(free_internal))))


def finite_steps(free_internal, scales) -> np.ndarray:
    """``h_i = eps^(1/3) min(max(|u_i|, 1), s_i)``: the usual relative central-difference
    step, shrunk to the parameter's natural scale ``s_i`` where that is smaller (a price
    coefficient moves utilities by ``h x 5,000``)."""
    u = np.abs(np.asarray(free_internal, dtype=float))
    return EPS ** (1 / 3) * np.minimum(np.maximum(u, 1.0), np.asarray(scales, dtype=float))


def _exact_steps(u: np.ndarray, steps: np.ndarray):
    """``(u + h, u - h, (u + h) - (u - h))`` with the step as the floats actually differ."""
    up, down = u + steps, u - steps
    return up, down, up - down


def finite_difference_gradient(likelihood: SimulatedLikelihood, free_internal,
                               steps=None) -> np.ndarray:
    """Central differences ``(log L(u + h_i e_i) - log L(u - h_i e_i)) / (2 h_i)``
    (``2 F`` likelihood evaluations; ``steps`` default :func:`finite_steps`)."""
    u = np.asarray(free_internal, dtype=float)
    if steps is None:
        steps = finite_steps(u, natural_scales(likelihood, u))
    up, down, width = _exact_steps(u, np.asarray(steps, dtype=float))
    grad = np.empty_like(u)
    for i in range(len(u)):
        plus = float(likelihood.loglike(jnp.asarray(u).at[i].set(up[i])))
        minus = float(likelihood.loglike(jnp.asarray(u).at[i].set(down[i])))
        grad[i] = (plus - minus) / width[i]
    return grad


@eqx.filter_jit
def _hvp_map(likelihood: SimulatedLikelihood, free_internal, directions, batch_size: int):
    def hvp(direction):
        return jax.jvp(lambda x: likelihood.loglike_and_grad(x)[1],
                       (free_internal,), (direction,))[1]

    return lax.map(hvp, directions, batch_size=batch_size)


def hessian_vector_products(likelihood: SimulatedLikelihood, free_internal, directions,
                            batch_size: int = 4) -> np.ndarray:
    """``H v`` for each row ``v`` of ``directions`` (``[K, F]``): ``jax.jvp`` of the autodiff
    gradient (forward over reverse), ``batch_size`` directions at a time (memory: about
    ``batch_size`` times that of one chunked gradient; use 1 on a tight device)."""
    directions = jnp.atleast_2d(jnp.asarray(directions, dtype=float))
    batch_size = max(1, min(int(batch_size), directions.shape[0]))
    return np.asarray(_hvp_map(likelihood, jnp.asarray(free_internal), directions, batch_size))


def _autodiff(likelihood: SimulatedLikelihood, u):
    """Autodiff ``(log L, gradient)`` as numpy; raises if either is not finite."""
    ll, grad = (np.asarray(x) for x in likelihood.loglike_and_grad(u))
    if not np.isfinite(ll) or not np.all(np.isfinite(grad)):
        raise ValueError(f"the log-likelihood ({float(ll)}) or its autodiff gradient is not "
                         "finite at these parameters; diagnose at another point")
    return ll, grad


def _relative(a, b, floor) -> np.ndarray:
    """``|a - b| / max(|a|, |b|, floor)``."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), floor)


def _coarse_block(block: str) -> str:
    return "choice" if block.startswith("choice") else block


def _fmt_names(names: Sequence[str], limit: int = 8) -> str:
    names = list(names)
    shown = ", ".join(names[:limit])
    return shown + (f" (+{len(names) - limit} more)" if len(names) > limit else "")


def _table_text(table: pd.DataFrame, columns: Sequence[str], rows=None) -> str:
    view = table.loc[rows if rows is not None else table.index, list(columns)]
    with pd.option_context("display.max_rows", 200, "display.width", 160,
                           "display.float_format", "{:.4g}".format):
        return view.to_string()


# --- 1. gradient check ----------------------------------------------------------------

@dataclass
class GradientCheck:
    """Autodiff, analytic and finite-difference gradients, one row per free parameter.

    ``table`` columns: ``block``, ``value`` (internal ``u``), ``autodiff``, ``analytic``
    (the implementation checked, see ``implementation``), ``finite_difference``,
    ``fd_step``, ``fd_noise`` (the rounding noise ``eps |log L| / h`` of the central
    difference), ``rel_analytic`` (analytic vs autodiff), ``rel_fd`` (finite
    differences vs autodiff), ``ok``.  All gradients are ``d log L / du`` in the
    internal space.
    """

    table: pd.DataFrame
    loglike: float
    loglike_implementation: float
    implementation: str
    analytic_tolerance: float
    fd_tolerance: float
    floor: float

    @property
    def max_rel_error(self) -> float:
        """Largest relative difference analytic vs autodiff."""
        return float(self.table["rel_analytic"].max())

    @property
    def max_rel_error_fd(self) -> float:
        """Largest relative difference finite differences vs autodiff."""
        return float(self.table["rel_fd"].max())

    @property
    def loglike_ok(self) -> bool:
        """The implementation's log-likelihood equals autodiff's (to 1e-10 relative)."""
        return abs(self.loglike_implementation - self.loglike) <= 1e-10 * max(
            1.0, abs(self.loglike))

    @property
    def failed(self) -> list[str]:
        return [str(n) for n in self.table.index[~self.table["ok"]]]

    @property
    def ok(self) -> bool:
        return bool(self.table["ok"].all()) and self.loglike_ok

    def __str__(self) -> str:
        verdict = "OK" if self.ok else "FAILED" + (
            f" for {_fmt_names(self.failed)}" if self.failed else "")
        if not self.loglike_ok:
            verdict += (f"; its log-likelihood {self.loglike_implementation:.10g} is not "
                        f"autodiff's {self.loglike:.10g}")
        lines = [
            f"Gradient check of {self.implementation!r} against autodiff and central "
            "finite differences",
            f"  gradients d log L / du in the internal parameter space; log L = "
            f"{self.loglike:.6f}",
            f"  relative = |a - b| / max(|a|, |b|, floor); floor = {self.floor:g} / s_i "
            "(s_i the BHHH scale), for finite differences at least 10 fd_noise / tolerance",
            f"  max relative difference: analytic vs autodiff {self.max_rel_error:.2e} "
            f"(tolerance {self.analytic_tolerance:g}); finite differences vs autodiff "
            f"{self.max_rel_error_fd:.2e} (tolerance {self.fd_tolerance:g})",
            f"  {verdict}",
        ]
        columns = ["block", "autodiff", "analytic", "finite_difference", "rel_analytic",
                   "rel_fd", "ok"]
        return "\n".join(lines) + "\n" + _table_text(self.table, columns)

    __repr__ = __str__


def check_gradients(model, data=None, params=None, draws: int | Draws = 100,
                    gradient: str | GradientFn = "analytic", finite_differences: bool = True,
                    analytic_tolerance: float = 1e-6, fd_tolerance: float = 1e-5,
                    floor: float = 1e-6, chunk_size: int | None = None) -> GradientCheck:
    """Compare the ``gradient`` implementation and central finite differences with autodiff.

    Args:
        model: an :class:`~iclv_jax.spec.ICLVModel` (with ``data``), or a
            :class:`~iclv_jax.Problem` (``data=None``; ``draws`` unused).
        data: one row per choice situation.
        params: where to evaluate: reported values as ``Problem.free_internal``
            accepts (dict, number, ``None`` for the defaults) or the free internal
            array.
        draws: draws per person.
        gradient: the implementation checked: ``"analytic"``, ``"autodiff"`` or a
            callable ``(likelihood, free_internal) -> (loglike, grad)``.  For a model
            with custom utility terms (:class:`~iclv_jax.Custom`) or random
            coefficients the analytic scores
            do not exist: ``implementation`` says so, the ``analytic`` column is NaN
            and ``ok`` rests on autodiff against finite differences alone.
        finite_differences: also compute the ``2 F`` likelihood evaluations of the
            central differences, with steps ``h_i = eps^(1/3) min(max(|u_i|, 1), s_i)``.
        analytic_tolerance, fd_tolerance: largest relative differences accepted.
        floor: the absolute floor of the relative differences in the scaled
            coordinates ``v = u / s`` (``floor / s_i`` for parameter ``i``): a gradient
            entry that small is zero for the optimiser.  Finite differences get a
            floor of at least ``10 fd_noise / fd_tolerance``: a difference within ten
            times the rounding noise ``eps |log L| / h_i`` of the central difference
            is not an error (with ``|log L|`` of 1e7, as at raw-price starts, finite
            differences cannot resolve small gradient entries).
    """
    problem = _problem(model, data, draws, chunk_size)
    likelihood = problem.likelihood
    u = _free_internal(problem, params)
    name, gradient_fn = resolve_gradient(gradient)
    ll, auto = _autodiff(likelihood, u)
    uncovered = gradient == "analytic" and bool(problem.layout.custom_terms
                                                or problem.layout.random_terms)
    if uncovered:  # autodiff is checked against finite differences alone
        if not finite_differences:
            raise ValueError(f"{CUSTOM_NOT_COVERED}: check_gradients needs "
                             "finite_differences=True to check such a model")
        name = ("analytic not available for custom terms or random coefficients; "
                "autodiff vs finite differences")
        ll_impl, impl = np.asarray(ll), np.full_like(np.asarray(auto), np.nan)
    else:
        ll_impl, impl = (np.asarray(x) for x in gradient_fn(likelihood, u))
    scales = natural_scales(likelihood, u)
    floors = floor / scales
    steps = finite_steps(u, scales)
    noise = EPS * max(1.0, abs(float(ll))) / steps
    if finite_differences:
        fd = finite_difference_gradient(likelihood, u, steps)
        rel_fd = _relative(fd, auto, np.maximum(floors, 10 * noise / fd_tolerance))
    else:
        fd, rel_fd = np.full_like(auto, np.nan), np.zeros_like(auto)
    rel_analytic = _relative(impl, auto, floors)
    ok = ((rel_analytic <= analytic_tolerance) | uncovered) & (rel_fd <= fd_tolerance)
    table = pd.DataFrame(
        {
            "block": [_coarse_block(b) for b in problem.space.blocks()],
            "value": np.asarray(u),
            "autodiff": auto,
            "analytic": impl,
            "finite_difference": fd,
            "fd_step": steps,
            "fd_noise": noise,
            "rel_analytic": rel_analytic,
            "rel_fd": rel_fd,
            "ok": ok,
        },
        index=pd.Index(list(problem.space.free_names), name="parameter"),
    )
    return GradientCheck(table=table, loglike=float(ll), loglike_implementation=float(ll_impl),
                         implementation=name, analytic_tolerance=analytic_tolerance,
                         fd_tolerance=fd_tolerance, floor=floor)


# --- 2. frozen-gradient detector ------------------------------------------------------

@dataclass
class FrozenReport:
    """Does each parameter's gradient respond when the parameter moves, as autodiff's
    curvature says it must?

    ``table`` (one row per free parameter, internal space ``u``): ``block``,
    ``autodiff`` and ``implementation`` gradients and their ``rel_gradient``;
    ``curvature`` ``H_ii`` (autodiff, from ``H e_i`` by ``jax.jvp``) and ``response``
    ``(g_i(u + h e_i) - g_i(u - h e_i)) / 2h`` of the implementation;
    ``scaled_curvature`` ``s_i^2 H_ii / c`` and ``scaled_response`` likewise, with
    ``s`` the BHHH scales and ``c`` the typical curvature ``median_j s_j^2 |H_jj|``
    (so ~0 means: tiny beside the squared scores); ``response_error``
    ``max_j t_i t_j |dg_i/du_j (implementation, finite differences) - H_ij| / c_t`` with
    curvature scales ``t_i = (|H_ii| / N)^{-1/2}`` (each row against its own
    curvature) and ``worst_partner`` the ``j`` attaining it; ``step``; ``verdict`` and
    ``reason``.
    """

    table: pd.DataFrame
    implementation: str
    typical_curvature: float
    flat_directions: list[dict[str, float]]
    tolerances: dict[str, float]

    @property
    def wrong(self) -> list[str]:
        """Parameters whose gradient code is wrong."""
        return [str(n) for n in self.table.index[self.table["verdict"] == WRONG]]

    @property
    def flat(self) -> list[str]:
        """Parameters along which the likelihood itself is flat (autodiff agrees)."""
        return [str(n) for n in self.table.index[self.table["verdict"] == FLAT]]

    @property
    def ok(self) -> bool:
        """No wrong gradient code and no flat direction."""
        return not self.wrong and not self.flat

    @property
    def message(self) -> str:
        if self.ok:
            return (f"every parameter's {self.implementation!r} gradient responds to it as "
                    "autodiff's curvature says; no flat direction")
        parts = []
        if self.wrong:
            wrong = self.table.loc[self.wrong]
            reasons = "; ".join(f"{name}: {reason}" for name, reason
                                in zip(wrong.index, wrong["reason"], strict=True))
            parts.append(
                f"WRONG GRADIENT CODE in {self.implementation!r} for {len(self.wrong)} "
                f"parameter(s): {_fmt_names(self.wrong)}.  The implementation disagrees "
                f"with autodiff, which is the truth; fix the derivative code.  "
                f"Details: {reasons}")
        if self.flat:
            directions = "; ".join(
                " ".join(f"{w:+.2f} {n}" for n, w in d.items()) for d in self.flat_directions)
            parts.append(
                f"FLAT LIKELIHOOD / UNIDENTIFIED for {len(self.flat)} parameter(s): "
                f"{_fmt_names(self.flat)}.  Autodiff agrees: the curvature (relative "
                f"to the typical {self.typical_curvature:.3g} in BHHH-scaled units) and "
                f"every person's score are ~0 along: {directions}.  This is the model or the data "
                "(not identified), not the gradient code.")
        return "\n".join(parts)

    def __str__(self) -> str:
        head = (f"Frozen-gradient check of {self.implementation!r} against autodiff "
                f"Hessian-vector products (internal parameter space)\n{self.message}")
        columns = ["block", "autodiff", "implementation", "rel_gradient", "scaled_curvature",
                   "scaled_response", "response_error", "verdict"]
        return head + "\n" + _table_text(self.table, columns)

    __repr__ = __str__


def _typical(diagonal: np.ndarray) -> float:
    """The median of a non-negative diagonal (its largest entry if the median is 0)."""
    median = float(np.median(diagonal)) if diagonal.size else 0.0
    if median > 0:
        return median
    largest = float(np.max(diagonal)) if diagonal.size else 0.0
    return largest if largest > 0 else 1.0


def _flat_directions(scaled_hessian: np.ndarray, scaled_bhhh: np.ndarray, names,
                     typical: float, tolerance: float,
                     weight: float = 0.1) -> list[dict[str, float]]:
    """Unit directions ``d`` (scaled coordinates) along which the likelihood is flat:
    in the span of the eigenvectors of the symmetrised scaled Hessian with
    ``|eigenvalue| <= tolerance * typical``, and with ``d' B d <= tolerance`` for the
    scaled BHHH matrix ``B = S (sum_n s_n s_n') S / N`` (unit diagonal): every person's
    score is zero along ``d`` too.  (Far from the optimum a parameter can have tiny
    curvature beside huge scores, e.g. a saturated probit at raw prices: not flat.)
    Returned as ``{name: component}`` for components of at least ``weight``."""
    values, vectors = np.linalg.eigh(0.5 * (scaled_hessian + scaled_hessian.T))
    span = vectors[:, np.abs(values) <= tolerance * typical]
    if span.shape[1] == 0:
        return []
    restricted = span.T @ scaled_bhhh @ span
    b_values, b_vectors = np.linalg.eigh(0.5 * (restricted + restricted.T))
    directions = []
    for k in np.flatnonzero(b_values <= tolerance):
        vector = span @ b_vectors[:, k]
        vector = vector / np.linalg.norm(vector)
        vector = vector * np.sign(vector[np.argmax(np.abs(vector))])
        order = np.argsort(-np.abs(vector))
        directions.append({names[i]: float(vector[i]) for i in order
                           if abs(vector[i]) >= weight})
    return directions


def detect_frozen(model, data=None, params=None, draws: int | Draws = 100,
                  gradient: str | GradientFn = "analytic", gradient_tolerance: float = 1e-6,
                  response_tolerance: float = 1e-3, flat_tolerance: float = 1e-6,
                  floor: float = 1e-6, relative_step: float = 1e-4, batch_size: int = 4,
                  chunk_size: int | None = None) -> FrozenReport:
    """Flag parameters whose ``gradient`` does not respond when they move.

    For each free parameter ``i`` the implementation's gradient is evaluated at
    ``u +- h_i e_i`` (``h_i = relative_step min(max(|u_i|, 1), t_i)``, ``t_i`` the
    curvature scale below), giving its response column
    ``dg/du_i``; autodiff's exact column is ``H e_i``, a Hessian-vector product
    (``jax.jvp`` of the autodiff gradient, ``batch_size`` at a time).  In the scaled
    coordinates ``v = u / s`` (BHHH scales) with ``c = median_j s_j^2 |H_jj|``, and
    in curvature units ``t_i = (|H_ii| / N)^{-1/2}`` (``c_t = median_j t_j^2 |H_jj|``,
    i.e. ``N``; the estimator's :func:`~iclv_jax.optimize.scales_from_curvature`, each
    parameter judged against itself) for the responses:

    - ``wrong gradient code``: the implementation's gradient ``g_i`` differs from
      autodiff's (relative difference above ``gradient_tolerance``, floor
      ``floor / s_i``); or ``g_i`` does not respond to ``u_i`` (``t_i^2 |response| <=
      flat_tolerance c_t``) where autodiff's curvature is clearly non-zero
      (``t_i^2 |H_ii| > response_tolerance c_t``); or row ``i`` of the
      implementation's response differs from ``H`` by more than ``response_tolerance``
      in curvature units in some column ``j`` (``g_i`` responds wrongly to ``u_j``:
      cross-effects count, e.g. gamma's gradient must respond to gamma).  Errors are
      attributed to the gradient entry (row) whose code is wrong.
    - ``flat likelihood / unidentified``: the implementation agrees with autodiff, and
      the likelihood is flat along a direction ``d`` involving the parameter: ``d`` in
      the span of the scaled Hessian's eigenvectors with ``|lambda| <= flat_tolerance
      c``, and every person's score zero along it too (``d' B d <= flat_tolerance``,
      ``B`` the scaled BHHH matrix, unit diagonal).  A parameter that does not enter
      the likelihood, or two that enter only together (``flat_directions`` lists
      them).  Tiny curvature beside large scores (e.g. a saturated probit at raw
      prices and 0.1 starts) is not flatness.
    - ``ok`` otherwise.

    The step is larger than the ``eps^(1/3)`` of :func:`finite_steps` because a
    gradient carries more rounding noise than ``eps`` times its size: in a saturated
    probit tail (raw prices, 0.1 starts) about ``1e-12`` relative, which ``1e-4``
    steps keep below ``1e-6`` of the curvature while the truncation error stays
    ``~1e-8``.

    Cost: ``2 F`` gradient evaluations of the implementation, ``F`` Hessian-vector
    products and one pass of per-person scores.  Arguments as in
    :func:`check_gradients`.
    """
    problem = _problem(model, data, draws, chunk_size)
    likelihood = problem.likelihood
    names = list(problem.space.free_names)
    u = _free_internal(problem, params)
    impl_name, gradient_fn = resolve_gradient(gradient)
    _, auto = _autodiff(likelihood, u)
    impl = np.asarray(gradient_fn(likelihood, u)[1])
    n = len(names)
    scores = np.asarray(likelihood.scores(u))
    scales = scales_from_curvature(None, scores)
    hessian = hessian_vector_products(likelihood, u, np.eye(n), batch_size).T
    curvature_scales = scales_from_curvature(hessian, scores)
    steps = relative_step * np.minimum(np.maximum(np.abs(np.asarray(u)), 1.0),
                                       curvature_scales)
    u_np = np.asarray(u, dtype=float)
    up, down, width = _exact_steps(u_np, steps)
    response = np.empty((n, n))
    for i in range(n):
        plus = np.asarray(gradient_fn(likelihood, jnp.asarray(u_np).at[i].set(up[i]))[1])
        minus = np.asarray(gradient_fn(likelihood, jnp.asarray(u_np).at[i].set(down[i]))[1])
        response[:, i] = (plus - minus) / width[i]

    # BHHH-scaled units (flatness, displayed curvature): c = median_j s_j^2 |H_jj|
    outer = np.outer(scales, scales)
    scaled_h, scaled_r = hessian * outer, response * outer
    typical = _typical(np.abs(np.diag(scaled_h)))
    scaled_scores = scores * scales
    scaled_bhhh = scaled_scores.T @ scaled_scores / max(1, scores.shape[0])
    flat_dirs = _flat_directions(scaled_h, scaled_bhhh, names, typical, flat_tolerance)
    in_flat = {name for d in flat_dirs for name in d}
    # curvature-scaled units (responses): every row judged against its own curvature
    outer = np.outer(curvature_scales, curvature_scales)
    response_scale = _typical(np.abs(np.diag(hessian * outer)))
    unit_h, unit_r = hessian * outer / response_scale, response * outer / response_scale
    errors = np.abs(unit_r - unit_h)
    partner = np.argmax(errors, axis=1)  # a NaN wins, and then counts as wrong
    response_error = errors[np.arange(n), partner]
    rel_gradient = _relative(impl, auto, floor / scales)

    verdicts, reasons = [], []
    for i, name in enumerate(names):
        h_ii, r_ii = unit_h[i, i], unit_r[i, i]
        problems = []
        if not rel_gradient[i] <= gradient_tolerance:  # NaN counts as wrong
            problems.append(f"gradient {impl[i]:.9g} but autodiff {auto[i]:.9g} "
                            f"(relative difference {rel_gradient[i]:.2g})")
        if abs(r_ii) <= flat_tolerance and abs(h_ii) > response_tolerance:
            problems.append(f"gradient does not respond when it moves (d g/d u = "
                            f"{response[i, i]:.3g}, autodiff curvature {hessian[i, i]:.3g})")
        elif not response_error[i] <= response_tolerance:
            j = partner[i]
            problems.append(f"gradient responds wrongly to {names[j]} (d g/d u = "
                            f"{response[i, j]:.4g}, autodiff H = {hessian[i, j]:.4g})")
        if problems:
            verdicts.append(WRONG)
            reasons.append("; ".join(problems))
        elif name in in_flat:
            verdicts.append(FLAT)
            reasons.append("autodiff curvature and scores ~0 along a direction "
                           f"involving it (scaled H_ii = {scaled_h[i, i] / typical:.2g})")
        else:
            verdicts.append(OK)
            reasons.append("")

    table = pd.DataFrame(
        {
            "block": [_coarse_block(b) for b in problem.space.blocks()],
            "value": u_np,
            "autodiff": auto,
            "implementation": impl,
            "rel_gradient": rel_gradient,
            "curvature": np.diag(hessian),
            "response": np.diag(response),
            "scaled_curvature": np.diag(scaled_h) / typical,
            "scaled_response": np.diag(scaled_r) / typical,
            "response_error": response_error,
            "worst_partner": [names[j] for j in partner],
            "step": steps,
            "verdict": verdicts,
            "reason": reasons,
        },
        index=pd.Index(names, name="parameter"),
    )
    return FrozenReport(
        table=table, implementation=impl_name, typical_curvature=typical,
        flat_directions=flat_dirs,
        tolerances={"gradient": gradient_tolerance, "response": response_tolerance,
                    "flat": flat_tolerance, "floor": floor},
    )


@dataclass
class PathReport:
    """Parameters whose gradient stayed identical along an optimiser's path.

    ``table`` (one row per parameter): ``longest_run`` (iterations with the same
    gradient to ``digits`` significant digits while the value changed at every step),
    ``first_iteration``, ``last_iteration`` (0-based), ``gradient`` (the frozen value),
    ``value_change`` (how far the parameter moved over the run) and ``frozen``.
    """

    table: pd.DataFrame
    digits: int
    min_iterations: int

    @property
    def frozen(self) -> list[str]:
        return [str(n) for n in self.table.index[self.table["frozen"]]]

    @property
    def ok(self) -> bool:
        return not self.frozen

    @property
    def message(self) -> str:
        if self.ok:
            return (f"no gradient stayed identical to {self.digits} digits over "
                    f"{self.min_iterations} or more iterations while its parameter moved")
        rows = self.table.loc[self.frozen]
        details = "; ".join(
            f"{name}: {row['gradient']:.{self.digits}g} at iterations "
            f"{row['first_iteration']}-{row['last_iteration']} while the parameter moved "
            f"by {row['value_change']:.3g}"
            for name, row in rows.iterrows())
        return (f"FROZEN GRADIENT for {_fmt_names(self.frozen)}: identical to "
                f"{self.digits} significant digits over {self.min_iterations}+ iterations "
                f"while the parameter moved ({details}).  A gradient that does not respond "
                "to its parameter is wrong code (run detect_frozen to confirm), or exactly "
                "0 for a parameter that does not enter the likelihood.")

    def __str__(self) -> str:
        repeated = self.table.index[self.table["longest_run"] > 1]
        if len(repeated) == 0:
            return self.message
        return (self.message + "\nparameters with a repeated gradient while moving:\n"
                + _table_text(self.table, ["longest_run", "first_iteration",
                                           "last_iteration", "gradient", "value_change",
                                           "frozen"], rows=repeated))

    __repr__ = __str__


def detect_frozen_path(iterates, gradients, names: Sequence[str], digits: int = 9,
                       min_iterations: int = 3) -> PathReport:
    """Flag parameters whose gradient stayed identical to ``digits`` significant digits
    (``|g_k - g_{k-1}| <= 0.5 10^(1 - digits) max(|g_k|, |g_{k-1}|)``) over
    ``min_iterations`` or more consecutive iterations while the parameter's value
    changed at every one of those steps (the seed's symptom).

    Args:
        iterates: ``[K, F]`` parameter vectors along the path (any consistent space).
        gradients: ``[K, F]`` the gradients evaluated at them.
        names: the ``F`` parameter names.
    """
    x = np.asarray(iterates, dtype=float)
    g = np.asarray(gradients, dtype=float)
    if x.ndim != 2 or x.shape != g.shape or x.shape[1] != len(names):
        raise ValueError(f"iterates {x.shape} and gradients {g.shape} must both be "
                         f"[iterations, {len(names)}]")
    tolerance = 0.5 * 10.0 ** (1 - digits)
    same = np.abs(np.diff(g, axis=0)) <= tolerance * np.maximum(np.abs(g[1:]), np.abs(g[:-1]))
    moved = np.diff(x, axis=0) != 0
    steady = same & moved
    rows = []
    for j in range(len(names)):
        best, best_end, run = 0, 0, 0
        for k in range(steady.shape[0]):
            run = run + 1 if steady[k, j] else 0
            if run > best:
                best, best_end = run, k + 1
        first = best_end - best
        rows.append({
            "longest_run": best + 1 if best else 1,
            "first_iteration": first,
            "last_iteration": best_end,
            "gradient": g[best_end, j] if len(g) else np.nan,
            "value_change": abs(x[best_end, j] - x[first, j]) if len(x) else 0.0,
            "frozen": best + 1 >= min_iterations,
        })
    table = pd.DataFrame(rows, index=pd.Index(list(names), name="parameter"))
    return PathReport(table=table, digits=digits, min_iterations=min_iterations)


# --- 3. gradient scales per block -----------------------------------------------------

@dataclass
class GradientScales:
    """Mean ``|d log L / d theta|`` per block, in the reported space, and the ratios.

    ``table`` (index: ``structural``, ``measurement``, ``choice_lv`` (LV coefficients
    in utilities), ``choice_other``; empty blocks left out): ``label``, ``n``,
    ``mean_abs``, ``max_abs``, ``largest`` (its parameter), ``ratio_to_smallest``; with
    scales also ``scaled_mean_abs`` (mean ``|g_u,i s_i|``, the gradient in the
    optimiser's coordinates ``v = u / s``) and ``scaled_ratio_to_smallest``.
    ``gradient``: one row per free parameter with ``group``, ``reported`` (``d log L /
    d theta``), ``internal`` (``d log L / du``) and ``scaled``.
    """

    table: pd.DataFrame
    gradient: pd.DataFrame
    loglike: float

    @property
    def scaled(self) -> bool:
        return "scaled_mean_abs" in self.table

    def ratio(self, numerator: str, denominator: str, scaled: bool = False) -> float:
        """Mean |gradient| of block ``numerator`` over that of ``denominator``."""
        column = "scaled_mean_abs" if scaled else "mean_abs"
        return float(self.table.loc[numerator, column] / self.table.loc[denominator, column])

    @property
    def imbalance(self) -> float:
        """Largest over smallest block mean |gradient| (reported space)."""
        return float(self.table["mean_abs"].max() / self.table["mean_abs"].min())

    @property
    def scaled_imbalance(self) -> float:
        """The same after scaling (``nan`` without scales)."""
        if not self.scaled:
            return float("nan")
        return float(self.table["scaled_mean_abs"].max() / self.table["scaled_mean_abs"].min())

    def largest(self, k: int = 4) -> pd.Series:
        """The ``k`` largest reported-space gradient entries, signed."""
        reported = self.gradient["reported"]
        return reported.loc[reported.abs().sort_values(ascending=False).index[:k]]

    def __str__(self) -> str:
        columns = ["label", "n", "mean_abs", "max_abs", "largest", "ratio_to_smallest"]
        if self.scaled:
            columns += ["scaled_mean_abs", "scaled_ratio_to_smallest"]
        lines = [
            f"Gradient scales per block (mean |d log L / d theta|, reported space; "
            f"log L = {self.loglike:.6g})",
            f"  largest / smallest block: {self.imbalance:,.1f}"
            + (f"; after scaling (gradient in v = u / s): {self.scaled_imbalance:,.2f}"
               if self.scaled else ""),
            "  largest entries: " + ", ".join(
                f"{name} {value:+.5g}" for name, value in self.largest().items()),
        ]
        return "\n".join(lines) + "\n" + _table_text(self.table, columns)

    __repr__ = __str__


def parameter_groups(problem: Problem) -> list[str]:
    """``structural``, ``measurement``, ``choice_lv`` or ``choice_other`` per free parameter.

    LV coefficients in the choice model are found from the layout (the ``theta``
    gathers), whatever they are named."""
    n_params = len(problem.space.names)
    lv_coefficients = {int(k) for k in np.asarray(problem.likelihood.layout.theta).ravel()
                       if k < n_params}
    groups = []
    for index in problem.space.free_index:
        block = problem.space.parameters[index].block
        if block.startswith("choice"):
            groups.append("choice_lv" if int(index) in lv_coefficients else "choice_other")
        else:
            groups.append(block)
    return groups


def reported_gradient(likelihood: SimulatedLikelihood, free_internal, internal_gradient):
    """``d log L / d theta`` of the free reported parameters from ``d log L / du``:
    ``g_u = J' g_theta`` with ``J = d theta_free / du`` (diagonal for identity and log
    transforms, lower triangular within a threshold group), solved for ``g_theta``."""
    free = likelihood.to_reported.free_index
    jacobian = np.asarray(jax.jacobian(lambda x: likelihood.to_reported(x)[free])(
        jnp.asarray(free_internal)))
    return np.linalg.solve(jacobian.T, np.asarray(internal_gradient))


def _named_scales(name: str, likelihood: SimulatedLikelihood, u) -> np.ndarray:
    """``"bhhh"``: :func:`natural_scales`; ``"estimator"``: the scales
    :func:`iclv_jax.estimate` starts with (``estimation.start_scales``)."""
    if name == "bhhh":
        return natural_scales(likelihood, u)
    if name == "estimator":
        return np.asarray(start_scales(likelihood, u), dtype=float)
    raise ValueError(f"scales must be None, 'bhhh', 'estimator' or an array, got {name!r}")


def gradient_scales(model, data=None, params=None, draws: int | Draws = 100, scales=None,
                    chunk_size: int | None = None) -> GradientScales:
    """Mean absolute gradient per block and the ratios between blocks (the seed's
    failure 1: structural 0.026, LV coefficients 11.14, other choice 256.66).

    Args:
        model, data, params, draws, chunk_size: as in :func:`check_gradients`.
        scales: ``None``; ``"bhhh"`` (``s_i = (mean_n s_ni^2)^{-1/2}``, see
            :func:`natural_scales`); ``"estimator"`` (the scales the estimator starts
            with, ``iclv_jax.estimation.start_scales``); or an array of ``F``
            internal-space scales ``s``.  The gradient in ``v = u / s``, ``g_u s``, is
            then summarised beside the raw one.

    The raw gradient is autodiff's, mapped to the reported space (``d log L / d
    theta``, the units the user wrote the model in).
    """
    problem = _problem(model, data, draws, chunk_size)
    likelihood = problem.likelihood
    u = _free_internal(problem, params)
    ll, internal = _autodiff(likelihood, u)
    reported = reported_gradient(likelihood, u, internal)
    names = list(problem.space.free_names)
    groups = parameter_groups(problem)
    frame = pd.DataFrame({"group": groups, "reported": reported, "internal": internal},
                         index=pd.Index(names, name="parameter"))
    if isinstance(scales, str):
        scales = _named_scales(scales, likelihood, u)
    if scales is not None:
        scales = np.asarray(scales, dtype=float)
        if scales.shape != (len(names),):
            raise ValueError(f"scales must hold {len(names)} values, got {scales.shape}")
        frame["scaled"] = internal * scales
    rows = {}
    for group in BLOCK_LABELS:
        part = frame[frame["group"] == group]
        if part.empty:
            continue
        magnitude = part["reported"].abs()
        row = {"label": BLOCK_LABELS[group], "n": len(part), "mean_abs": magnitude.mean(),
               "max_abs": magnitude.max(), "largest": magnitude.idxmax()}
        if scales is not None:
            row["scaled_mean_abs"] = part["scaled"].abs().mean()
        rows[group] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "block"
    table["ratio_to_smallest"] = table["mean_abs"] / table["mean_abs"].min()
    if scales is not None:
        table["scaled_ratio_to_smallest"] = (table["scaled_mean_abs"]
                                             / table["scaled_mean_abs"].min())
    return GradientScales(table=table, gradient=frame, loglike=float(ll))


# --- planted bugs (demonstrations and tests) ------------------------------------------

class SeedStructuralScores(AnalyticScores):
    """The seed's structural derivative, every other derivative correct.

    Per draw, for every path ``m -> l``:
    ``d l / d gamma_{m->l} = (eta_l - gamma eta_m) / sigma^2 * eta_m`` with ``sigma = 1``
    and both LVs taken from the draws (the caller then forms ``sum_r w_nr ...`` with the
    importance weights).  When ``eta_l = gamma eta_m + zeta_l`` this is
    ``zeta_l eta_m``: the effect of gamma through ``eta_l`` on the indicators, the
    choices and the LVs downstream (the chain rule) is missing.  The ``b``
    derivatives keep the correct adjoint.
    """

    def structural(self, module, eta, zeta, covariates, d_eta, *args, **kwargs):
        _, d_b = super().structural(module, eta, zeta, covariates, d_eta, *args, **kwargs)
        d_gamma = (eta[:, None] - module.gamma * eta[None, :]) * eta[None, :]
        return d_gamma, d_b


class FlippedThresholdScores(AnalyticScores):
    """A sign error in the derivative with respect to one ordered-indicator cut-point
    (``item``: position among the ordered indicators; ``position``: column of the
    cut-points ``(-inf, tau_1, ..., tau_J-1, +inf)``, so ``tau_j`` is ``position = j``).

    Build it by name with :meth:`named`.  Through the threshold transform
    (``tau_j = tau_1 + sum exp(u_k)``) the error reaches the internal gradient of
    ``tau_1`` up to ``tau_j`` of the item.
    """

    item: int = eqx.field(static=True)
    position: int = eqx.field(static=True)

    @classmethod
    def named(cls, problem: Problem, name: str) -> FlippedThresholdScores:
        index = problem.space.index.get(name)
        cuts = np.asarray(problem.likelihood.layout.ordered_cuts)
        where = np.argwhere(cuts == index) if index is not None else np.empty((0, 2))
        if len(where) != 1:
            raise ValueError(f"{name!r} is not the threshold of one ordered indicator")
        return cls(item=int(where[0, 0]), position=int(where[0, 1]))

    def ordered(self, module, eta, levels, *args, **kwargs):
        out = super().ordered(module, eta, levels, *args, **kwargs)
        return eqx.tree_at(lambda o: o.cuts, out,
                           out.cuts.at[self.item, self.position].multiply(-1.0))


@eqx.filter_jit
def _seed_gamma_fields(likelihood: SimulatedLikelihood, free_internal, importance: bool):
    """``sum_n sum_r w_nr (eta_l - gamma_lm eta_m) eta_m`` for every ``(l, m)``, with
    ``w_nr`` the importance weights ``softmax_r(log w_r + l_nr)`` or the simulation
    weights ``w_r``; computed directly from the components (no AnalyticScores)."""
    from .likelihood import person_loglike

    components = likelihood.components(free_internal)
    structural = components[0]

    def person(p, zeta):
        etas = jax.vmap(lambda z: structural(p.covariates, z))(zeta)
        if importance:
            draw_ll = jax.vmap(lambda z: person_loglike(components, p, z[None],
                                                        jnp.zeros(1)))(zeta)
            weights = softmax(draw_ll + likelihood.log_weights)
        else:
            weights = jnp.exp(likelihood.log_weights)
        terms = (etas[:, :, None] - structural.gamma * etas[:, None, :]) * etas[:, None, :]
        return jnp.tensordot(weights, terms, axes=1) * p.weight

    fields = likelihood.map_chunks(lambda p, z: jax.vmap(person)(p, z).sum(axis=0))
    return fields.sum(axis=0)


def _gamma_positions(likelihood: SimulatedLikelihood):
    """Free positions of the structural path parameters and a map from the ``[L, L]``
    field to the free gradient."""
    n_params = likelihood.to_reported.fixed_internal.shape[0]
    gather = np.asarray(likelihood.layout.gamma)
    free_index = np.asarray(likelihood.to_reported.free_index)
    reported = sorted({int(k) for k in gather.ravel() if k < n_params})
    return [int(np.flatnonzero(free_index == k)[0]) for k in reported if k in free_index]


def seed_gradient(weights: str = "importance") -> GradientFn:
    """The seed's wrong structural gradient (see :class:`SeedStructuralScores`).

    ``weights="importance"``: ``sum_n sum_r w_nr zeta_l eta_m`` with the importance
    weights, built on the analytic scores (the formula as the seed wrote it).  Its
    value still moves with gamma, through ``w_nr``.

    ``weights="prior"``: the same per-draw formula averaged with the simulation weights
    ``w_r = 1/R`` (autodiff for every other entry).  ``sum_n mean_r zeta_l eta_m``
    involves no parameter but those of ``eta_m``'s own equation (for
    ``gamma_health_concern_to_perceived_benefit``: the ``b`` of health concern), so it
    stays identical to every digit while gamma and everything else move, and is near
    zero (products of independent draws), like the seed's -0.041543370.
    """
    if weights == "importance":
        return analytic_gradient_with(SeedStructuralScores(), "seed structural gradient")
    if weights != "prior":
        raise ValueError(f"weights must be 'importance' or 'prior', got {weights!r}")

    def gradient(likelihood, free_internal):
        ll, grad = likelihood.loglike_and_grad(free_internal)
        fields = _seed_gamma_fields(likelihood, free_internal, False)
        n_params = likelihood.to_reported.fixed_internal.shape[0]
        reported = jnp.zeros(n_params + len(EXTRAS)).at[likelihood.layout.gamma].add(
            fields)[:n_params]
        seeded = reported[likelihood.to_reported.free_index]
        positions = jnp.asarray(_gamma_positions(likelihood), dtype=int)
        return ll, grad.at[positions].set(seeded[positions])

    gradient.__name__ = "seed structural gradient (prior weights)"
    return gradient


def seed_gamma_values(likelihood: SimulatedLikelihood, free_internal,
                      weights: str = "importance") -> np.ndarray:
    """The ``[L, L]`` seed formula summed over people and draws, computed directly
    (independent of :class:`SeedStructuralScores`; entries off the paths are not
    parameters)."""
    return np.asarray(_seed_gamma_fields(likelihood, jnp.asarray(free_internal),
                                         weights == "importance"))
