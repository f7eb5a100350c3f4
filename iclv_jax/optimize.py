"""Optimisers on the scaled problem, with progress, history, checkpoints and verification.

The optimiser works on ``v = u / s``: ``u`` the internal parameters (see params.py)
and ``s`` per-parameter scales from the BHHH diagonal at the start,
``s_i = (mean_n s_ni^2)^{-1/2}``, so every coordinate has unit curvature to first
order whatever the units of the data (raw prices of 1,000-5,000 included).  It
minimises ``f(v) = -log L(s v) / N``.

After the optimiser, exact-Hessian Newton steps run until the relative gradient
``max_i |g_i| max(|u_i|, s_i) / max(|log L|, 1)`` is below the tolerance and the
Hessian is negative definite: a verified optimum, not an assumed one.  Both tests use
the scales ``s`` at the final point (the Hessian as ``D H D``, ``D = diag(s)``), so
rescaling a data column changes neither.

Bounds are a box ``lower <= u <= upper`` on the internal parameters (bounded
coefficients are their own internal values), kept by the optimisers themselves:
projected Newton (Bertsekas 1982) in the line-search methods, SciPy's L-BFGS-B.  At
the end a coordinate on a bound with the gradient of ``log L`` pointing out of the box
is *held* there, and the tests above apply to the others (the Karush-Kuhn-Tucker
conditions of the bounded problem).  The other optimisers refuse bounds.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from dataclasses import dataclass, field

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import optax
import scipy.optimize
from tqdm.auto import tqdm

from . import checkpoint as checkpoints
from .likelihood import SimulatedLikelihood

OPTIMIZERS = ("hybrid", "newton", "bhhh", "trust-exact", "bfgs", "lbfgs", "lbfgsb")
_LINE_SEARCH_NEWTON = ("hybrid", "newton", "bhhh")
#: the optimisers that keep a box on the parameters
BOUNDED_OPTIMIZERS = (*_LINE_SEARCH_NEWTON, "lbfgsb")
#: the largest distance (in scaled units) from a bound at which projected Newton moves a
#: coordinate whose gradient pushes it onto that bound by a gradient step (Bertsekas's
#: epsilon; it shrinks with the projected gradient near a solution)
_BOUND_EPSILON = 1e-3
GRADIENTS = ("autodiff", "analytic")


def relative_gradient(gradient, internal, loglike, scales) -> float:
    """``max_i |g_i| max(|u_i|, s_i) / max(|log L|, 1)``: Biogeme's stopping quantity
    with each parameter's own scale ``s_i`` (:func:`scales_from_curvature`) in place of
    Biogeme's 1.  Rescaling a data column by ``c`` multiplies its coefficient's ``g_i``
    by ``c`` and divides ``u_i`` and ``s_i`` by ``c``, so the quantity does not change:
    the test is blind to the units of the data."""
    gradient, internal = np.asarray(gradient), np.asarray(internal)
    size = np.maximum(np.abs(internal), np.asarray(scales))
    return float(np.max(np.abs(gradient) * size) / max(abs(float(loglike)), 1.0))


def on_active_bound(x, ascent, lower, upper) -> np.ndarray:
    """The coordinates held at a bound: on it, with the ascent direction (the gradient
    of ``log L``) pointing out of the box ``lower <= x <= upper`` (or zero).  At a
    maximum of the bounded problem (Karush-Kuhn-Tucker) the gradient is zero on every
    other coordinate."""
    return ((x >= upper) & (ascent >= 0)) | ((x <= lower) & (ascent <= 0))


def unbounded(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The box of ``n`` parameters without bounds."""
    return np.full(n, -np.inf), np.full(n, np.inf)


class Evaluator:
    """Log-likelihood, gradient, per-person scores and exact Hessian at a point ``u``,
    from autodiff or the analytic code, each computed once per point.

    ``log L`` and its gradient are the sums of the per-person values and scores, so one
    compiled function serves the optimiser, the verification and the robust standard
    errors (on CPU it costs the same as the summed gradient alone).  The last
    ``cache_size`` points are kept: the start values (scales, then the first
    iteration) and the final point (the optimiser's last iterate, the verification and
    the standard errors) are each evaluated once.  ``computed`` counts the actual
    computations (``"scores"``, ``"hessian"``).
    """

    def __init__(self, likelihood: SimulatedLikelihood, gradient: str = "autodiff",
                 cache_size: int = 4):
        if gradient not in GRADIENTS:
            raise ValueError(f"gradient must be one of {GRADIENTS}, got {gradient!r}")
        self.likelihood, self.gradient, self.cache_size = likelihood, gradient, cache_size
        if gradient == "analytic":
            from . import analytic

            self._scores = lambda u: analytic.per_person_and_scores(likelihood, u)
        else:
            self._scores = likelihood.per_person_and_scores
        self._points: OrderedDict = OrderedDict()
        self.computed = {"scores": 0, "hessian": 0}

    def _at(self, u, what: str, compute):
        """The cached ``what`` at ``u`` (bit for bit), computed by ``compute(u)`` if new."""
        u = np.asarray(u, dtype=float)
        key = u.tobytes()
        entry = self._points.pop(key, {})
        self._points[key] = entry  # most recently used last
        while len(self._points) > self.cache_size:
            self._points.popitem(last=False)
        if what not in entry:
            entry[what] = compute(jnp.asarray(u))
            self.computed[what] += 1
        return entry[what]

    @staticmethod
    def _read_only(array) -> np.ndarray:
        """A host copy that callers cannot change (it is cached and shared)."""
        array = np.array(array)
        array.flags.writeable = False
        return array

    def _compute_scores(self, u) -> tuple[float, np.ndarray, np.ndarray]:
        """``(sum_n log L_n, g = sum_n s_n, scores s_n)`` at ``u``.

        Far from the optimum (a line-search trial in a probit tail, prices in raw units)
        every ``s_n`` can be finite while ``sum_n s_n`` exceeds the largest float64: that
        gradient is ``+-inf`` by IEEE rounding, said here on purpose rather than by a
        numpy overflow warning, and the point is then a rejected one
        (:meth:`ScaledObjective.value_and_grad` gives ``+inf`` for a non-finite gradient).
        """
        per_person, scores = self._scores(u)
        scores = self._read_only(scores)
        with np.errstate(over="ignore"):  # out of range: +-inf, a rejected point
            gradient = scores.sum(axis=0)
        return float(per_person.sum()), self._read_only(gradient), scores

    def _compute_hessian(self, u) -> np.ndarray:
        return self._read_only(self.likelihood.hessian(u))

    def value_and_grad(self, u) -> tuple[float, np.ndarray]:
        ll, grad, _ = self.scores(u)
        return ll, grad

    def scores(self, u) -> tuple[float, np.ndarray, np.ndarray]:
        """``(log L, gradient, per-person scores)``."""
        return self._at(u, "scores", self._compute_scores)

    def hessian(self, u) -> np.ndarray:
        return self._at(u, "hessian", self._compute_hessian)


def scales_from_curvature(hessian: np.ndarray | None, scores: np.ndarray) -> np.ndarray:
    """Per-parameter scales ``s_i = (|H_ii| / N)^{-1/2}`` from the exact Hessian's diagonal.

    Where the exact diagonal is ~0 next to the BHHH diagonal ``b_i = mean_n s_ni^2``
    (``|H_ii| / N <= 1e-8 b_i``, or no Hessian given) ``b_i`` stands in, and 1 where
    both are 0.  In ``v = u / s`` every coordinate then has unit curvature per person.
    (BHHH alone overstates the curvature far in a probit tail, by the squared utility,
    which is why the exact diagonal comes first.)  Each parameter is judged only
    against itself, so rescaling a data column by ``c`` divides its coefficient's
    scale by exactly ``c`` and leaves the others alone.
    """
    n = scores.shape[0]
    bhhh = np.mean(scores**2, axis=0)
    exact = np.zeros_like(bhhh) if hessian is None else np.abs(np.diag(hessian)) / n
    curvature = np.where(exact > 1e-8 * bhhh, exact, bhhh)
    usable = np.isfinite(curvature) & (curvature > 0)
    return np.where(usable, 1.0 / np.sqrt(np.where(usable, curvature, 1.0)), 1.0)


def scaled_curvature(hessian: np.ndarray, scales) -> np.ndarray:
    """``-D H D`` with ``D = diag(s)``: the curvature of ``-log L`` in ``v = u / s``
    (about ``N`` on the diagonal with :func:`scales_from_curvature`), whose
    eigenvalues do not depend on the units of the data."""
    scales = np.asarray(scales)
    return -np.asarray(hessian) * np.outer(scales, scales)


def flat_threshold(curvature: np.ndarray) -> float:
    """``1e-10 max(1, max_i |C_ii|)``: an eigenvalue of the scaled curvature ``C`` at or
    below it is a flat (or wrong-way) direction."""
    return 1e-10 * max(1.0, float(np.max(np.abs(np.diag(curvature)))))


@dataclass
class Tracker:
    """Per-iteration bookkeeping: progress line, history and atomic checkpoint.

    ``blocks`` labels each free parameter (``structural``, ``measurement``,
    ``choice_lv``, ``choice``); the history keeps the mean |gradient| per block.
    """

    blocks: tuple[str, ...]
    scales: np.ndarray
    fingerprint: dict = field(default_factory=dict)  # see iclv_jax.checkpoint.fingerprint
    checkpoint: str | None = None
    verbose: bool = False
    iteration: int = 0
    history: list = field(default_factory=list)
    optimizer_state: dict = field(default_factory=dict)
    stage: str = "simultaneous"
    _last_u: np.ndarray | None = None
    _bar: tqdm | None = None

    def start(self, stage: str, max_iterations: int):
        self.stage = stage
        self.close()
        self._bar = tqdm(total=max_iterations, desc=f"iclv_jax {stage}", file=sys.stderr,
                         disable=not self.verbose, leave=True, dynamic_ncols=True)

    def close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def record(self, u: np.ndarray, loglike: float, gradient: np.ndarray, scaled=None):
        """One iteration done at ``u`` (``scaled``: the optimiser's own ``v = u / s``,
        kept so a resumed run continues bit for bit)."""
        u = np.asarray(u)
        self.iteration += 1
        step = 0.0 if self._last_u is None else float(np.linalg.norm(u - self._last_u))
        self._last_u = u
        labels = np.array(self.blocks)
        entry = {"iteration": self.iteration, "stage": self.stage, "loglike": loglike,
                 "gradient_norm": float(np.linalg.norm(gradient)), "step_norm": step}
        for block in dict.fromkeys(self.blocks):
            entry[f"mean_abs_gradient_{block}"] = float(np.mean(np.abs(gradient[labels == block])))
        self.history.append(entry)
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(LL=f"{loglike:.4f}", grad=f"{entry['gradient_norm']:.2e}",
                                  step=f"{step:.2e}", refresh=False)
        if self.checkpoint is not None and self.stage == "simultaneous":
            checkpoints.write_atomic(self.checkpoint, {
                "fingerprint": self.fingerprint, "internal": u.tolist(),
                "scales": np.asarray(self.scales).tolist(), "iteration": self.iteration,
                "loglike": loglike, "history": self.history,
                "optimizer_state": self.optimizer_state,
                "scaled": None if scaled is None else np.asarray(scaled).tolist()})


class ScaledObjective:
    """``f(v) = -log L(s v) / N`` with gradient, BHHH matrix and exact Hessian.

    The evaluator caches by point, so SciPy's separate ``fun``/``jac``/``hess``/
    ``callback`` calls cost one likelihood pass.  ``v0`` maps to exactly ``u0`` (``v0 *
    s`` may differ from ``u0`` in the last bit), so the evaluations made at the start
    values before the optimiser are reused.  A non-finite log-likelihood returns
    ``+inf`` (a rejected step), never a NaN.  ``bounds``: the box of ``u`` (default
    none); ``self.lower``, ``self.upper`` are the box of ``v``.
    """

    def __init__(self, evaluator: Evaluator, scales: np.ndarray, tracker: Tracker,
                 v0=None, u0=None, bounds=None):
        self.evaluator, self.scales, self.tracker = evaluator, scales, tracker
        self.n = evaluator.likelihood.n_people
        self._start = None if v0 is None else (np.asarray(v0).tobytes(), np.asarray(u0))
        self.bounds = unbounded(len(scales)) if bounds is None else bounds
        self.lower, self.upper = (np.asarray(b) / scales for b in self.bounds)

    def internal(self, v) -> np.ndarray:
        """``u = s v`` (exactly ``u0`` at ``v0``, exactly the bound of ``u`` where ``v``
        is on a bound of ``v``)."""
        v = np.asarray(v)
        if self._start is not None and v.tobytes() == self._start[0]:
            return self._start[1]
        lower, upper = self.bounds
        return np.where(v <= self.lower, lower, np.where(v >= self.upper, upper,
                                                         np.clip(v * self.scales, lower, upper)))

    def project(self, v) -> np.ndarray:
        """The nearest point of the box to ``v``."""
        return np.clip(v, self.lower, self.upper)

    def _evaluate(self, v):
        return self.evaluator.scores(self.internal(v))

    def value_and_grad(self, v):
        ll, grad, _ = self._evaluate(v)
        if not np.isfinite(ll) or not np.all(np.isfinite(grad)):
            return np.inf, np.zeros_like(v)
        return -ll / self.n, -grad * self.scales / self.n

    @staticmethod
    def _finite(matrix):
        """A rejected (non-finite) point still needs a finite matrix for SciPy."""
        return matrix if np.all(np.isfinite(matrix)) else np.eye(len(matrix))

    def bhhh(self, v):
        _, _, scores = self._evaluate(v)
        scaled = scores * self.scales
        return self._finite(scaled.T @ scaled / self.n)

    def exact_hessian(self, v):
        h = self.evaluator.hessian(self.internal(v))
        return self._finite(-h * np.outer(self.scales, self.scales) / self.n)

    def relative_gradient(self, v) -> float:
        """iclv_jax's stopping quantity at ``v`` (in ``u`` and ``log L`` terms, with the
        optimiser's scales), with the coordinates held at a bound left out."""
        ll, grad, _ = self._evaluate(v)
        u = self.internal(v)
        return relative_gradient(np.where(on_active_bound(u, grad, *self.bounds), 0.0, grad),
                                 u, ll, self.scales)

    def callback(self, intermediate_result=None, *_):
        v = np.asarray(getattr(intermediate_result, "x", intermediate_result))
        ll, grad, _ = self._evaluate(v)
        self.tracker.record(self.internal(v), ll, grad, scaled=v)


_LBFGS = optax.lbfgs()


@eqx.filter_jit
def _lbfgs_step(likelihood: SimulatedLikelihood, scales, v, state):
    """One optax L-BFGS step (zoom line search) on ``-log L(s v) / N``, all in jax."""
    def objective(x):
        return -likelihood.loglike(x * scales) / likelihood.n_people

    value, grad = optax.value_and_grad_from_state(objective)(v, state=state)
    updates, state = _LBFGS.update(grad, state, v, value=value, grad=grad, value_fn=objective)
    return optax.apply_updates(v, updates), state


def _optax_lbfgs(objective: ScaledObjective, v0, max_iterations: int, gtol: float):
    """optax's L-BFGS driven from Python so every iteration reports and checkpoints.

    The line search differentiates the log-likelihood with autodiff."""
    likelihood, scales = objective.evaluator.likelihood, jnp.asarray(objective.scales)
    v = jnp.asarray(v0)
    state = _LBFGS.init(v)
    for iteration in range(1, max_iterations + 1):
        v, state = _lbfgs_step(likelihood, scales, v, state)
        objective.callback(np.asarray(v))
        _, grad = objective.value_and_grad(np.asarray(v))
        if np.max(np.abs(grad)) < gtol:
            return np.asarray(v), iteration, "gradient below tolerance"
    return np.asarray(v), max_iterations, "maximum number of iterations reached"


def _initial_radius(objective: ScaledObjective, v0) -> float:
    """The length of the first model step: Newton's if the scaled Hessian at the start
    is positive definite (the Cauchy step otherwise), at least 1."""
    _, grad = objective.value_and_grad(v0)
    hessian = objective.exact_hessian(v0)
    eigenvalues, vectors = np.linalg.eigh(hessian)
    if eigenvalues[0] > 0:
        return max(1.0, float(np.linalg.norm(vectors @ ((vectors.T @ grad) / eigenvalues))))
    curvature = float(grad @ hessian @ grad)
    cauchy = float(grad @ grad) / curvature if curvature > 0 else 1.0
    return max(1.0, cauchy * float(np.linalg.norm(grad)))


def _modified_newton_direction(gradient, matrix):
    """``d = -|B|^{-1} g`` with the eigenvalues of ``B`` replaced by their absolute values
    (floored at ``1e-8`` of the largest): a descent direction even where ``B`` is
    indefinite (saddle-free Newton).  Where ``B`` has clearly negative curvature a unit
    step along its most negative eigenvector (signed downhill) is added, so that a
    saddle point, where the gradient vanishes, is escaped rather than crept up to.
    "Clearly" is scale-free: ``lambda_min < -max(1e-6 median |lambda|, 1e-12 max |lambda|)``
    (the typical curvature, not the largest, sets the scale, so one stiff direction
    cannot hide a saddle; the second term stays above eigh's rounding).
    Returns ``(d, predicted decrease)``."""
    eigenvalues, vectors = np.linalg.eigh(matrix)
    largest = max(1.0, float(np.max(np.abs(eigenvalues))))
    modified = np.maximum(np.abs(eigenvalues), 1e-8 * largest)
    projected = vectors.T @ gradient
    direction = -vectors @ (projected / modified)
    predicted = 0.5 * float(np.sum(projected**2 / modified))
    magnitudes = np.abs(eigenvalues)
    clearly = max(1e-6 * float(np.median(magnitudes)), 1e-12 * float(magnitudes.max()))
    if eigenvalues[0] < -clearly:
        downhill = -1.0 if projected[0] > 0 else 1.0
        direction = direction + downhill * vectors[:, 0]
        predicted += -0.5 * float(eigenvalues[0]) + abs(float(projected[0]))
    return direction, predicted


def _projected_newton_direction(v, gradient, matrix, lower, upper):
    """Bertsekas's (1982) projected Newton direction in the box ``lower <= v <= upper``.

    A coordinate within ``epsilon = min(_BOUND_EPSILON, |v - P(v - g)|)`` of a bound
    with the gradient ``g`` of the minimised ``f`` pushing it onto the bound is
    *binding*: it takes the gradient step ``-g_i`` (the projection stops it on the
    bound).  The others take the modified Newton direction of
    :func:`_modified_newton_direction` on their own block of ``matrix``; one on a bound
    that this direction would push out of the box is *pinned* (direction 0) and the
    direction of the rest recomputed, so that a small enough step moves only inside the
    box and the projected arc ``P(v + t d)`` is a descent path.
    Returns ``(d, predicted decrease of the free block)``.
    """
    distance = float(np.linalg.norm(v - np.clip(v - gradient, lower, upper)))
    epsilon = min(_BOUND_EPSILON, distance)
    binding = (((v <= lower + epsilon) & (gradient > 0))
               | ((v >= upper - epsilon) & (gradient < 0)))
    pinned = np.zeros_like(binding)
    while True:
        free = ~(binding | pinned)
        direction = np.where(binding, -gradient, 0.0)
        predicted = 0.0
        if free.any():
            direction[free], predicted = _modified_newton_direction(
                gradient[free], matrix[np.ix_(free, free)])
        outward = free & (((v <= lower) & (direction < 0)) | ((v >= upper) & (direction > 0)))
        if not outward.any():
            return direction, predicted
        pinned |= outward


def _hybrid_next(used_exact: bool, step: float, rho: float, bhhh_streak: int,
                 max_streak: int = 10) -> tuple[bool, int]:
    """Which matrix the hybrid uses next: ``(use_exact, BHHH streak)``.

    BHHH costs about one gradient, the exact Hessian about ten; BHHH overstates
    curvature far from the optimum (e.g. in a probit tail) and converges only linearly
    near it.  So: after an exact step that behaved like Newton in its quadratic region
    (full step, actual/predicted decrease ``rho`` in ``[0.8, 1.2]``) stay exact to
    finish quadratically; otherwise try BHHH, and keep it while its model predicts
    usefully (full step, ``rho`` in ``[0.5, 2]``: an overstated curvature gains more
    than predicted), but for at most ``max_streak`` steps in a row before an exact step
    checks the curvature again.  (Against ``[0.5, 1.5]`` and 5 steps, measured with
    ``benchmarks/fit_profile.py``: exact Hessians per fit 7 -> 3 on drug choice and
    8 -> 6 on the beverage study, to the same optimum.)
    """
    full = step == 1.0
    if used_exact:
        return (full and 0.8 <= rho <= 1.2), 0
    if full and 0.5 <= rho <= 2.0 and bhhh_streak + 1 < max_streak:
        return False, bhhh_streak + 1
    return True, 0


def _line_search_newton(objective: ScaledObjective, v0, max_iterations: int, mode: str,
                        tolerance: float):
    """Newton-type steps with Armijo backtracking on ``f(v) = -log L(s v) / N``, projected
    onto the objective's box (:func:`_projected_newton_direction`; the Armijo test
    along the arc is ``f(P(v + t d)) <= f(v) + 1e-4 g'(P(v + t d) - v)``).

    ``mode``: ``"newton"`` uses the exact Hessian at every iteration, ``"bhhh"`` the
    BHHH matrix, ``"hybrid"`` switches between them (:func:`_hybrid_next`).  Stops
    when iclv_jax's relative gradient (held coordinates left out) is below ``tolerance``.
    """
    v = np.asarray(v0, dtype=float)
    state = objective.tracker.optimizer_state  # resumed runs continue the same path
    use_exact = state.get("use_exact", mode in ("newton", "hybrid"))
    bhhh_streak = state.get("bhhh_streak", 0)
    for iteration in range(1, max_iterations + 1):
        value, grad = objective.value_and_grad(v)
        if objective.relative_gradient(v) < tolerance:
            return v, iteration - 1, "relative gradient below tolerance"
        matrix = objective.exact_hessian(v) if use_exact else objective.bhhh(v)
        direction, predicted = _projected_newton_direction(v, grad, matrix, objective.lower,
                                                           objective.upper)
        step = 1.0
        while True:
            trial = objective.project(v + step * direction)
            trial_value, _ = objective.value_and_grad(trial)
            if trial_value <= value + 1e-4 * float(grad @ (trial - v)):
                break
            step /= 2
            if step < 1e-12:
                if not use_exact and mode == "hybrid":
                    break
                return v, iteration - 1, "line search failed to improve the log-likelihood"
        if step < 1e-12:  # BHHH direction useless here: retry with the exact Hessian
            use_exact = True
            continue
        rho = (value - trial_value) / predicted if predicted > 0 else 0.0
        v = trial
        if mode == "hybrid":
            use_exact, bhhh_streak = _hybrid_next(use_exact, step, rho, bhhh_streak)
        state.update(use_exact=bool(use_exact), bhhh_streak=int(bhhh_streak))
        objective.callback(v)
    return v, max_iterations, "maximum number of iterations reached"


def _scaled_start(u0, scales, tracker: Tracker) -> np.ndarray:
    """``v0 = u0 / s``, or the exact ``v`` a resumed checkpoint recorded."""
    resumed = tracker.optimizer_state.pop("resume_scaled", None)
    return np.asarray(resumed, dtype=float) if resumed is not None else np.asarray(u0) / scales


def minimise(evaluator: Evaluator, u0, scales, method: str, max_iterations: int,
             tracker: Tracker, tolerance: float = 1e-6, bounds=None):
    """Run one of :data:`OPTIMIZERS` in ``v = u / s``; returns ``(u, iterations, message)``.

    ``bounds``: ``(lower, upper)``, the box of ``u`` (``-inf`` / ``inf`` for open
    sides; default none), kept by the :data:`BOUNDED_OPTIMIZERS` (callers refuse the
    others for bounded problems: :func:`iclv_jax.estimation.check_bounds_kept`).

    ``hybrid`` (default), ``newton``, ``bhhh``: line-search Newton steps on the BHHH
    matrix ``sum_n s_n s_n' / N`` where it models the likelihood well and the exact
    Hessian where it does not, the exact Hessian always, or BHHH always (see
    :func:`_line_search_newton`); ``trust-exact``: SciPy's exact trust region with the
    exact Hessian; ``bfgs``, ``lbfgsb``: SciPy's
    quasi-Newton methods; ``lbfgs``: optax's L-BFGS.
    """
    if method not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {method!r}")
    v0 = _scaled_start(u0, scales, tracker)
    objective = ScaledObjective(evaluator, scales, tracker, v0, u0, bounds)
    tracker.start(tracker.stage, max_iterations)
    try:
        if method in _LINE_SEARCH_NEWTON:
            v, iterations, message = _line_search_newton(objective, v0, max_iterations, method,
                                                         tolerance)
        elif method == "lbfgs":
            v, iterations, message = _optax_lbfgs(objective, v0, max_iterations, 1e-9)
        elif method == "trust-exact":
            options = {"maxiter": max_iterations, "gtol": 1e-8, "max_trust_radius": 1e10,
                       "initial_trust_radius": _initial_radius(objective, v0)}
            result = scipy.optimize.minimize(
                objective.value_and_grad, v0, jac=True, hess=objective.exact_hessian,
                method="trust-exact", callback=objective.callback, options=options)
            v, iterations, message = result.x, int(result.nit), str(result.message)
        else:
            v, iterations, message = _restarted_quasi_newton(
                objective, v0, method, max_iterations, tolerance)
    finally:
        tracker.close()
    return objective.internal(v), iterations, message


def _restarted_quasi_newton(objective: ScaledObjective, v0, method: str, max_iterations: int,
                            tolerance: float, max_restarts: int = 10):
    """SciPy's BFGS or L-BFGS-B, restarted (fresh curvature memory, a short first step)
    from where a run stopped while iclv_jax's relative gradient is above ``tolerance``
    and the run moved.  A trial point with a non-finite log-likelihood is ``+inf`` to
    SciPy, and L-BFGS-B then stops with "converged" at a point that is not an optimum;
    the restart carries on from there."""
    v, iterations = np.asarray(v0, dtype=float), 0
    for _ in range(max_restarts + 1):
        options = {"maxiter": max_iterations - iterations, "gtol": 1e-9}
        box = None
        if method == "lbfgsb":
            options.update(ftol=1e-15, maxcor=20)
            box = scipy.optimize.Bounds(objective.lower, objective.upper)
        result = scipy.optimize.minimize(
            objective.value_and_grad, v, jac=True,
            method={"bfgs": "BFGS", "lbfgsb": "L-BFGS-B"}[method], bounds=box,
            callback=objective.callback, options=options)
        iterations += int(result.nit)
        moved = not np.array_equal(result.x, v)
        v = result.x
        if (objective.relative_gradient(v) < tolerance or not moved
                or iterations >= max_iterations):
            break
    return v, iterations, str(result.message)


def clearly_negative_definite(hessian: np.ndarray, scales) -> bool:
    """``min eig(C) > 1e-10 max(1, max |C_ii|)`` for the scaled curvature ``C = -D H D``
    (:func:`scaled_curvature`, :func:`flat_threshold`): the test
    :mod:`iclv_jax.inference` uses too, so a flat direction is never both "verified"
    and "not a maximum"; in scaled coordinates it does not depend on the data's units."""
    curvature = scaled_curvature(hessian, scales)
    return bool(np.linalg.eigvalsh(curvature)[0] > flat_threshold(curvature))


@dataclass(frozen=True)
class Verified:
    """The final point and what iclv_jax's own test says about it."""

    internal: np.ndarray
    loglike: float
    gradient: np.ndarray
    hessian: np.ndarray
    newton_steps: int
    relative_gradient: float
    negative_definite: bool


def verify(evaluator: Evaluator, u, tolerance: float, tracker: Tracker,
           max_steps: int = 8, reach: float = 1e-2, bounds=None) -> Verified:
    """Newton steps with the exact Hessian (and step halving) until the optimum is
    verified: relative gradient below ``tolerance`` and ``-H`` positive definite, both
    judged with the scales :func:`scales_from_curvature` gives at the point.

    No Newton step is tried from a point whose relative gradient exceeds ``reach``
    (far from an optimum the optimiser, not Newton, must do the work).  ``bounds``: the
    box of ``u`` (default none); the coordinates held at a bound
    (:func:`on_active_bound`) are left out of both tests and of the Newton steps, which
    are projected onto the box.  The step ``D (-D H D)^{-1} D g`` (over the free
    coordinates) is solved in scaled coordinates.
    """
    u = np.asarray(u)
    lower, upper = unbounded(len(u)) if bounds is None else bounds
    ll, grad, scores = evaluator.scores(u)
    step = 0
    while True:
        hessian = evaluator.hessian(u)
        scales = scales_from_curvature(hessian, scores)
        free = ~on_active_bound(u, grad, lower, upper)
        reduced = hessian[np.ix_(free, free)]
        finite = np.all(np.isfinite(hessian))
        negative_definite = bool(finite and (not free.any() or clearly_negative_definite(
            reduced, scales[free])))
        rel = relative_gradient(np.where(free, grad, 0.0), u, ll, scales)
        if (rel < tolerance and negative_definite) or step == max_steps or rel > reach \
                or not negative_definite:
            return Verified(u, ll, grad, hessian, step, rel, negative_definite)
        direction = np.zeros_like(u)
        direction[free] = scales[free] * np.linalg.solve(
            scaled_curvature(reduced, scales[free]), scales[free] * grad[free])
        for _ in range(30):
            candidate = np.clip(u + direction, lower, upper)
            ll_new, grad_new, scores_new = evaluator.scores(candidate)
            if np.isfinite(ll_new) and ll_new >= ll - 1e-12 * abs(ll):
                u, ll, grad, scores = candidate, ll_new, grad_new, scores_new
                break
            direction = direction / 2
        else:
            return Verified(u, ll, grad, hessian, step, rel, negative_definite)
        step += 1
        tracker.stage = "newton"
        tracker.record(u, ll, grad)
